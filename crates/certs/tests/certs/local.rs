//! The local CA issuer through the worker, on SQLite and PostgreSQL.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use stsd_certs::{
    CertsError, Issued, Issuer, LocalCa, Outcome, WorkerConfig, issuer_for_directory,
    renewal_point, run_next, run_worker, schedule_due,
};
use stsd_store::{CERT_JOB_KIND, DomainId, DomainState, MasterKey, NewCertificate};
use stsd_testkit::TestDatabase;
use time::OffsetDateTime;

use crate::both_backends;
use crate::world::{World, chain_der};

fn config() -> WorkerConfig {
    WorkerConfig {
        backoff_base: Duration::from_millis(300),
        ..WorkerConfig::new("worker-a")
    }
}

/// A verified domain gets a certificate, becomes active, and the edge serves a chain that
/// verifies against the local CA's root; the job then waits for the renewal point.
async fn verified_domain_gets_served_certificate(db: TestDatabase) {
    let w = World::start(db).await;
    let ca = Arc::new(LocalCa::load_or_create(&w.store, &w.master).await.unwrap());
    let d = w.verified_domain("example.com").await;

    assert_eq!(schedule_due(&w.store).await.unwrap(), 1);
    // A second sweep finds the job already there.
    assert_eq!(schedule_due(&w.store).await.unwrap(), 0);
    let outcome = run_next(&w.store, &w.master, ca.as_ref(), &config())
        .await
        .unwrap()
        .unwrap();
    let Outcome::Issued {
        domain,
        not_after,
        renew_at,
    } = outcome
    else {
        panic!("expected an issued certificate, got {outcome:?}");
    };
    assert_eq!(domain, d.id);
    let lifetime = not_after - OffsetDateTime::now_utc();
    assert!(lifetime > time::Duration::days(89), "{lifetime}");

    let stored = w
        .store
        .all_tenants()
        .current_certificate(&d.id)
        .await
        .unwrap()
        .unwrap();
    let point = renewal_point(stored.not_before, stored.not_after);
    assert!(
        renew_at <= point && renew_at >= point - (stored.not_after - stored.not_before) / 20,
        "renewal at {renew_at}, inside the window before {point}"
    );
    assert_eq!(stored.not_after, not_after);
    let state = w
        .store
        .all_tenants()
        .domain_by_id(&d.id)
        .await
        .unwrap()
        .unwrap()
        .state;
    assert_eq!(state, DomainState::Active);

    // Nothing is due any more: the job sleeps until the renewal point.
    assert!(
        run_next(&w.store, &w.master, ca.as_ref(), &config())
            .await
            .unwrap()
            .is_none()
    );
    let job = w
        .store
        .all_tenants()
        .job_status(CERT_JOB_KIND, d.id.as_str())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(job.run_at, renew_at);
    assert_eq!((job.attempts, job.last_error), (0, None));
    assert_eq!(schedule_due(&w.store).await.unwrap(), 0);

    let served = w
        .served_chain("mta-sts.example.com", ca.root_pem(), Duration::from_secs(5))
        .await;
    assert_eq!(served, chain_der(&stored.chain_pem));
    // An unrelated name gets no certificate.
    assert!(
        w.handshake("mta-sts.other.com", ca.root_pem())
            .await
            .is_err()
    );
    w.finish().await;
}

/// The leaf's key and the CA's key are sealed: the database holds neither in the clear, and
/// another master key cannot open them. The CA survives a restart.
async fn keys_are_sealed(db: TestDatabase) {
    let w = World::start(db).await;
    let ca = LocalCa::load_or_create(&w.store, &w.master).await.unwrap();
    let d = w.verified_domain("example.net").await;
    let issued = ca.issue(&d).await.unwrap();
    let stored = issued.store(&w.store, &w.master, &d).await.unwrap();

    let der = w.master.open(&stored.key_ciphertext).unwrap();
    assert_eq!(der, issued.key_pkcs8);
    assert!(der.len() > 100, "a PKCS#8 P-256 key");
    assert!(
        !stored.key_ciphertext.windows(der.len()).any(|w| w == der),
        "the key is stored in the clear"
    );
    // Not even the 32-byte private scalar's neighbourhood: no 16-byte window of the DER.
    assert!(
        !der.windows(16)
            .any(|part| stored.key_ciphertext.windows(16).any(|c| c == part))
    );
    assert_eq!(stored.key_id, w.master.id());
    let other = MasterKey::from_bytes([8; 32]);
    assert!(other.open(&stored.key_ciphertext).is_err());

    let record = w.store.local_ca().await.unwrap().unwrap();
    assert!(other.open(&record.key_ciphertext).is_err());
    assert!(w.master.open(&record.key_ciphertext).is_ok());
    assert!(matches!(
        LocalCa::load_or_create(&w.store, &other).await,
        Err(CertsError::Seal(_))
    ));
    // Loading again yields the same CA, whose leaves still verify against the first root.
    let again = LocalCa::load_or_create(&w.store, &w.master).await.unwrap();
    assert_eq!(again.root_pem(), ca.root_pem());
    let d2 = w.verified_domain("example.org").await;
    again
        .issue(&d2)
        .await
        .unwrap()
        .store(&w.store, &w.master, &d2)
        .await
        .unwrap();
    w.store
        .all_tenants()
        .transition_domain(&d2.id, DomainState::Verified, DomainState::Active, "test")
        .await
        .unwrap();
    w.served_chain("mta-sts.example.org", ca.root_pem(), Duration::from_secs(5))
        .await;
    w.finish().await;
}

/// An issuer that always fails, like a CA that cannot reach the challenge.
struct Failing;

#[async_trait]
impl Issuer for Failing {
    fn name(&self) -> &str {
        "failing"
    }

    async fn issue_host(
        &self,
        host: &str,
        _owner: Option<&DomainId>,
    ) -> Result<Issued, CertsError> {
        Err(CertsError::Order {
            host: host.to_owned(),
            detail: "connection refused".to_owned(),
        })
    }
}

/// A renewal that fails backs off exponentially with a visible error while the old
/// certificate stays served; the next success resets the attempts.
async fn failed_renewal_backs_off_and_keeps_certificate(db: TestDatabase) {
    let w = World::start(db).await;
    let ca = LocalCa::load_or_create(&w.store, &w.master).await.unwrap();
    let d = w.verified_domain("example.com").await;
    // A certificate past its renewal point but still valid for ten days.
    let mut old = ca.issue(&d).await.unwrap();
    let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
    old.not_before = now - time::Duration::days(80);
    old.not_after = now + time::Duration::days(10);
    let old = w
        .store
        .all_tenants()
        .put_certificate(&NewCertificate {
            domain_id: d.id.clone(),
            chain_pem: old.chain_pem.clone(),
            key_ciphertext: w.master.seal(&old.key_pkcs8).unwrap(),
            key_id: w.master.id().to_owned(),
            not_before: old.not_before,
            not_after: old.not_after,
        })
        .await
        .unwrap();
    w.store
        .all_tenants()
        .transition_domain(&d.id, DomainState::Verified, DomainState::Active, "test")
        .await
        .unwrap();
    assert_eq!(schedule_due(&w.store).await.unwrap(), 1);

    let mut delays = Vec::new();
    for attempt in 1..=3 {
        let before = OffsetDateTime::now_utc();
        let outcome = run_next(&w.store, &w.master, &Failing, &config())
            .await
            .unwrap()
            .unwrap();
        let Outcome::Failed {
            error, retry_at, ..
        } = outcome
        else {
            panic!("expected a failure, got {outcome:?}");
        };
        assert!(error.contains("connection refused"), "{error}");
        delays.push(retry_at - before);
        let job = w
            .store
            .all_tenants()
            .job_status(CERT_JOB_KIND, d.id.as_str())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(job.attempts, attempt);
        assert_eq!(job.last_error.as_deref(), Some(error.as_str()));
        // Not due before the backoff has passed.
        assert!(
            run_next(&w.store, &w.master, &Failing, &config())
                .await
                .unwrap()
                .is_none()
        );
        // A sweep does not pull the retry forward.
        assert_eq!(schedule_due(&w.store).await.unwrap(), 0);
        assert_eq!(
            w.store
                .all_tenants()
                .current_certificate(&d.id)
                .await
                .unwrap()
                .as_ref(),
            Some(&old)
        );
        tokio::time::sleep((retry_at - OffsetDateTime::now_utc()).unsigned_abs()).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let ms: Vec<i64> = delays
        .iter()
        .map(|d| i64::try_from(d.whole_milliseconds()).unwrap())
        .collect();
    // base 300 ms, doubling; the slack covers the worker's own database round trips.
    for (got, want) in ms.iter().zip([300, 600, 1200]) {
        assert!((want..want + 500).contains(got), "{ms:?}");
    }
    let state = w
        .store
        .all_tenants()
        .domain_by_id(&d.id)
        .await
        .unwrap()
        .unwrap()
        .state;
    assert_eq!(state, DomainState::Active);
    w.served_chain("mta-sts.example.com", ca.root_pem(), Duration::from_secs(5))
        .await;

    // The CA is back: the renewal succeeds and the attempts reset.
    let outcome = run_next(&w.store, &w.master, &ca, &config())
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(outcome, Outcome::Issued { .. }), "{outcome:?}");
    let current = w
        .store
        .all_tenants()
        .current_certificate(&d.id)
        .await
        .unwrap()
        .unwrap();
    assert_ne!(current.id, old.id);
    let job = w
        .store
        .all_tenants()
        .job_status(CERT_JOB_KIND, d.id.as_str())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((job.attempts, job.last_error), (0, None));
    w.finish().await;
}

/// Jobs for registrations that are not (or no longer) served are dropped without issuing.
async fn unserved_registrations_are_dropped(db: TestDatabase) {
    let w = World::start(db).await;
    let ca = LocalCa::load_or_create(&w.store, &w.master).await.unwrap();
    let d = w.verified_domain("example.com").await;
    w.store
        .all_tenants()
        .transition_domain(&d.id, DomainState::Verified, DomainState::Detached, "test")
        .await
        .unwrap();
    assert_eq!(schedule_due(&w.store).await.unwrap(), 0);
    w.store
        .schedule_job(CERT_JOB_KIND, d.id.as_str(), OffsetDateTime::now_utc())
        .await
        .unwrap();
    let outcome = run_next(&w.store, &w.master, &ca, &config())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        outcome,
        Outcome::Dropped {
            domain: d.id.clone()
        }
    );
    assert!(
        w.store
            .all_tenants()
            .current_certificate(&d.id)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        w.store
            .all_tenants()
            .job_status(CERT_JOB_KIND, d.id.as_str())
            .await
            .unwrap()
            .is_none()
    );
    w.finish().await;
}

/// A worker that dies holding a job loses it when its lease ends; another worker finishes it,
/// and the dead worker's late report is refused.
async fn dead_workers_job_is_taken_over(db: TestDatabase) {
    let w = World::start(db).await;
    let ca = LocalCa::load_or_create(&w.store, &w.master).await.unwrap();
    let d = w.verified_domain("example.com").await;
    assert_eq!(schedule_due(&w.store).await.unwrap(), 1);
    let lease = Duration::from_millis(400);
    let dead = w
        .store
        .lease_job(CERT_JOB_KIND, "worker-dead", lease)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(dead.subject, d.id.as_str());
    let other = WorkerConfig::new("worker-b");
    // Leased: the other worker finds nothing to do.
    assert!(
        run_next(&w.store, &w.master, &ca, &other)
            .await
            .unwrap()
            .is_none()
    );
    tokio::time::sleep(lease + Duration::from_millis(100)).await;
    let outcome = run_next(&w.store, &w.master, &ca, &other)
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(outcome, Outcome::Issued { .. }), "{outcome:?}");
    assert!(w.store.finish_job(&dead, None).await.is_err());
    assert!(
        w.store
            .all_tenants()
            .job_status(CERT_JOB_KIND, d.id.as_str())
            .await
            .unwrap()
            .is_some(),
        "the renewal stays scheduled"
    );
    w.finish().await;
}

/// The worker loop on its own: sweeps, issues, and the edge serves the result.
async fn worker_loop_certifies_verified_domains(db: TestDatabase) {
    let w = World::start(db).await;
    let issuer = issuer_for_directory(
        &w.store,
        w.master.clone(),
        "local",
        None,
        None,
        None,
        stsd_certs::AcmeChallenge::Http01,
    )
    .await
    .unwrap();
    assert_eq!(issuer.name(), "local");
    let root = LocalCa::load_or_create(&w.store, &w.master)
        .await
        .unwrap()
        .root_pem()
        .to_owned();
    let config = WorkerConfig {
        idle_poll: Duration::from_millis(50),
        sweep_interval: Duration::from_millis(100),
        ..WorkerConfig::new("worker-loop")
    };
    let task = tokio::spawn(run_worker(
        w.store.clone(),
        w.master.clone(),
        issuer,
        config,
    ));
    // Registered after the worker started: found by a later sweep.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let d = w.verified_domain("example.com").await;
    w.served_chain("mta-sts.example.com", &root, Duration::from_secs(10))
        .await;
    let state = w
        .store
        .all_tenants()
        .domain_by_id(&d.id)
        .await
        .unwrap()
        .unwrap()
        .state;
    assert_eq!(state, DomainState::Active);
    // A burst of new domains is certified by several orders at once.
    let mut burst = Vec::new();
    for i in 0..12 {
        burst.push(w.verified_domain(&format!("d{i}.example.com")).await);
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    for d in &burst {
        loop {
            let state = w
                .store
                .all_tenants()
                .domain_by_id(&d.id)
                .await
                .unwrap()
                .unwrap()
                .state;
            if state == DomainState::Active {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{} stayed {state}",
                d.name
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // The domain turns active just before its job is finished (rescheduled for the
        // renewal, weeks ahead); a running attempt counts until then, so wait for that.
        let job = loop {
            let job = w
                .store
                .all_tenants()
                .job_status(stsd_store::CERT_JOB_KIND, d.id.as_str())
                .await
                .unwrap()
                .unwrap();
            if job.run_at > time::OffsetDateTime::now_utc() + time::Duration::days(1) {
                break job;
            }
            assert!(std::time::Instant::now() < deadline, "{}: {job:?}", d.name);
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!(job.attempts, 0, "{}: no failed or repeated attempt", d.name);
        assert_eq!(job.last_error, None, "{}", d.name);
    }
    task.abort();
    w.finish().await;
}

both_backends!(
    dead_workers_job_is_taken_over,
    worker_loop_certifies_verified_domains,
    verified_domain_gets_served_certificate,
    keys_are_sealed,
    failed_renewal_backs_off_and_keeps_certificate,
    unserved_registrations_are_dropped,
);
