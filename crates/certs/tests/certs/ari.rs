//! Renewal with ACME Renewal Information (RFC 9773) against a real CA: Debian trixie's
//! Pebble 2.6 (`scripts/pebble-trixie.sh`), which has `renewalInfo` and takes `replaces`.
//! Its suggested window is a day either side of two thirds of the lifetime, so with a
//! short `certificateValidityPeriod` the window covers "now" from issuance on; after a
//! revocation it answers a window in the past.
//!
//! A missing Pebble 2.6 fails these tests: nothing here is skipped.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use instant_acme::{
    Account, AccountCredentials, CertificateIdentifier, Identifier, NewOrder, RevocationRequest,
};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use stsd_certs::{
    Acme, AcmeConfig, AriPolling, Outcome, WorkerConfig, run_next, run_worker, schedule_due,
};
use stsd_store::{CERT_JOB_KIND, Certificate, RenewalSource};
use stsd_testkit::{FakeDns, PebbleOptions, PebbleServer, TestDatabase};
use time::OffsetDateTime;

use crate::both_backends;
use crate::world::{World, chain_der};

const HOST: &str = "mta-sts.example.com";

/// Pebble 2.6 validating HTTP-01 on `http_port` at what `dns` answers, issuing certificates
/// valid for `validity` (Pebble's five years when `None`). Checks that its directory offers
/// renewal information: without it these tests would prove nothing.
async fn pebble_ari(dns: SocketAddr, http_port: u16, validity: Option<Duration>) -> PebbleServer {
    let pebble = PebbleServer::start(PebbleOptions {
        certificate_validity: validity,
        ..PebbleOptions::ari(dns, http_port)
    })
    .await
    .expect("trixie's Pebble 2.6 (scripts/pebble-trixie.sh)");
    let dir = pebble.directory_document().await.unwrap();
    assert!(
        dir["renewalInfo"]
            .as_str()
            .is_some_and(|u| u.starts_with("https://")),
        "Pebble's directory has no renewalInfo: {dir}"
    );
    pebble
}

fn acme_config(pebble: &PebbleServer) -> AcmeConfig {
    AcmeConfig {
        extra_roots_pem: Some(pebble.listener_root_pem().to_owned()),
        propagation_delay: Duration::from_millis(300),
        order_timeout: Duration::from_secs(30),
        ..AcmeConfig::new(pebble.directory().to_owned())
    }
}

fn worker_config() -> WorkerConfig {
    WorkerConfig {
        idle_poll: Duration::from_millis(100),
        sweep_interval: Duration::from_millis(500),
        backoff_base: Duration::from_secs(30),
        ..WorkerConfig::new("worker-a")
    }
}

/// The worker's own account, restored from the store: what the tests revoke with and
/// place their own orders on.
async fn account(w: &World, pebble: &PebbleServer) -> Account {
    let stored = w
        .store
        .acme_account(pebble.directory())
        .await
        .unwrap()
        .unwrap();
    let json = w.master.open(&stored.credentials_ciphertext).unwrap();
    let credentials: AccountCredentials = serde_json::from_slice(&json).unwrap();
    Account::builder_with_root(pebble.listener_root_path())
        .unwrap()
        .from_credentials(credentials)
        .await
        .unwrap()
}

fn leaf(chain_pem: &str) -> CertificateDer<'static> {
    CertificateDer::pem_slice_iter(chain_pem.as_bytes())
        .next()
        .unwrap()
        .unwrap()
}

/// Places an order for `HOST` that says it replaces `cert`; the CA's answer.
async fn order_replacing(account: &Account, cert: &Certificate) -> Result<(), instant_acme::Error> {
    let der = leaf(&cert.chain_pem);
    let id = CertificateIdentifier::try_from(&der).unwrap();
    let identifiers = [Identifier::Dns(HOST.to_owned())];
    let mut order = account
        .new_order(&NewOrder::new(&identifiers).replaces(id.clone()))
        .await?;
    assert_eq!(order.state().replaces.as_ref(), Some(&id));
    Ok(())
}

/// [`order_replacing`], once Pebble knows the certificate: it files an issued certificate's
/// serial only after the order is valid, and until then answers 500 to an order naming it.
async fn order_replacing_known(
    account: &Account,
    cert: &Certificate,
) -> Result<(), instant_acme::Error> {
    let start = Instant::now();
    loop {
        match order_replacing(account, cert).await {
            Err(instant_acme::Error::Api(p))
                if p.status == Some(500) && start.elapsed() < Duration::from_secs(5) =>
            {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            other => return other,
        }
    }
}

/// Runs due jobs until one has an outcome. Pebble's window around a short lifetime covers
/// now, so the moment picked in it is nearly always past and the renewal runs at once; in
/// the rare draw of a moment still ahead (at most 90 % into the lifetime), this waits for it.
async fn next_outcome(
    w: &World,
    acme: &Acme,
    config: &WorkerConfig,
    patience: Duration,
) -> Outcome {
    let start = Instant::now();
    loop {
        if let Some(outcome) = run_next(&w.store, &w.master, acme, config).await.unwrap() {
            return outcome;
        }
        assert!(start.elapsed() < patience, "no job came due");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The leaf's notAfter, as a time.
fn not_after(der: &CertificateDer<'_>) -> OffsetDateTime {
    let (_, cert) = x509_parser::parse_x509_certificate(der).unwrap();
    OffsetDateTime::from_unix_timestamp(cert.validity().not_after.timestamp()).unwrap()
}

/// (a) A certificate valid for 12 s is renewed, again and again, inside the window Pebble
/// suggests (bounded by the expiry), never before the moment picked in it, and always
/// before it expires. The edge is polled throughout, across several expiries: every
/// handshake verifies against Pebble's root and presents an unexpired leaf, and the leaf
/// it presents changes.
async fn short_lived_certificates_are_renewed_inside_their_ari_window(db: TestDatabase) {
    let w = World::start(db).await;
    let dns = FakeDns::start().await.unwrap();
    dns.set_a(HOST, &[Ipv4Addr::LOCALHOST]);
    let validity = Duration::from_secs(12);
    let pebble = pebble_ari(dns.addr(), w.http.port(), Some(validity)).await;
    let acme = Arc::new(
        Acme::connect(w.store.clone(), w.master.clone(), acme_config(&pebble))
            .await
            .unwrap(),
    );
    let d = w.verified_domain("example.com").await;
    assert_eq!(schedule_due(&w.store).await.unwrap(), 1);
    let worker = tokio::spawn(run_worker(
        w.store.clone(),
        w.master.clone(),
        acme.clone(),
        worker_config(),
    ));
    let root = pebble.issuing_root().await.unwrap();
    let first = w.served_chain(HOST, &root, Duration::from_secs(20)).await;
    let first_not_after = not_after(&first[0]);

    let mut served = vec![first[0].clone()];
    let mut handshakes = 0;
    // (certificate, its plan) as last seen in the store.
    let mut seen: Option<(Certificate, stsd_store::RenewalPlan)> = None;
    let mut renewals = 0;
    // Until well past the second expiry after the first one.
    let end = Instant::now() + validity * 5 / 2;
    while Instant::now() < end {
        let chain = w
            .handshake(HOST, &root)
            .await
            .unwrap_or_else(|e| panic!("handshake {handshakes} failed (an expired leaf?): {e}"));
        let now = OffsetDateTime::now_utc();
        if not_after(&chain[0]) <= now {
            let job = w
                .store
                .all_tenants()
                .job_status(CERT_JOB_KIND, d.id.as_str())
                .await;
            panic!(
                "the edge served a leaf that expired at {} (now {now}); the job: {job:?}",
                not_after(&chain[0])
            );
        }
        handshakes += 1;
        if served.last() != Some(&chain[0]) {
            served.push(chain[0].clone());
        }

        let current = w
            .store
            .all_tenants()
            .current_certificate(&d.id)
            .await
            .unwrap()
            .unwrap();
        if let Some(plan) = w
            .store
            .all_tenants()
            .renewal_plan(&current.id)
            .await
            .unwrap()
        {
            assert_eq!(plan.source, RenewalSource::Ari);
            let latest = current.not_after - (current.not_after - current.not_before) / 10;
            assert!(
                plan.window_start <= plan.renew_at && plan.renew_at <= plan.window_end.min(latest),
                "{plan:?}"
            );
            // Pebble's Retry-After is six hours: the next ask waits for it.
            let wait = plan.next_poll.unwrap() - plan.updated_at;
            assert!(
                (time::Duration::minutes(359)..=time::Duration::minutes(361)).contains(&wait),
                "{wait}"
            );
            match &seen {
                Some((old, old_plan)) if old.id != current.id => {
                    renewals += 1;
                    assert!(
                        current.created_at >= old_plan.renew_at,
                        "renewed at {} before the moment picked, {}",
                        current.created_at,
                        old_plan.renew_at
                    );
                    assert!(
                        current.created_at <= old_plan.window_end
                            && current.created_at < old.not_after,
                        "renewed at {}, after the window or the expiry: {old_plan:?}",
                        current.created_at
                    );
                    seen = Some((current, plan));
                }
                Some(_) => {}
                None => seen = Some((current, plan)),
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    worker.abort();
    assert!(
        OffsetDateTime::now_utc() > first_not_after + validity * 3 / 2,
        "the poll outlasted two lifetimes"
    );
    assert!(served.len() >= 3, "the edge served {} leaves", served.len());
    assert!(renewals >= 2, "{renewals} renewals seen in the store");
    drop(pebble);
    w.finish().await;
}

/// (b) A certificate valid for years is not due: its plan is Pebble's window, far ahead,
/// and the moment picked in it stays the same when the CA is asked again. Once revoked,
/// the CA's next answer is a window in the past and the worker replaces it at once; the
/// edge serves the replacement.
async fn a_revoked_certificate_is_replaced_at_once(db: TestDatabase) {
    let w = World::start(db).await;
    let dns = FakeDns::start().await.unwrap();
    dns.set_a(HOST, &[Ipv4Addr::LOCALHOST]);
    let pebble = pebble_ari(dns.addr(), w.http.port(), None).await;
    let acme = Acme::connect(w.store.clone(), w.master.clone(), acme_config(&pebble))
        .await
        .unwrap();
    // Pebble asks for six hours between two asks; the test cannot wait that long, so the
    // worker is told to ask again after a second.
    let config = WorkerConfig {
        ari_polling: AriPolling {
            min: Duration::from_secs(1),
            max: Duration::from_secs(1),
        },
        ..worker_config()
    };
    let d = w.verified_domain("example.com").await;
    schedule_due(&w.store).await.unwrap();
    let outcome = run_next(&w.store, &w.master, &acme, &config).await.unwrap();
    let Some(Outcome::Issued { renew_at, .. }) = outcome else {
        panic!("{outcome:?}");
    };
    let old = w
        .store
        .all_tenants()
        .current_certificate(&d.id)
        .await
        .unwrap()
        .unwrap();
    let plan = w
        .store
        .all_tenants()
        .renewal_plan(&old.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(plan.source, RenewalSource::Ari);
    assert_eq!(plan.renew_at, renew_at);
    assert!(plan.window_start > OffsetDateTime::now_utc() + time::Duration::days(365));
    assert!(plan.window_start <= renew_at && renew_at <= plan.window_end);

    // Asked again after the bounded Retry-After: same window, same moment.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let outcome = run_next(&w.store, &w.master, &acme, &config).await.unwrap();
    assert_eq!(
        outcome,
        Some(Outcome::NotDue {
            domain: d.id.clone(),
            renew_at
        })
    );
    let again = w
        .store
        .all_tenants()
        .renewal_plan(&old.id)
        .await
        .unwrap()
        .unwrap();
    assert!(again.updated_at > plan.updated_at, "the CA was asked again");
    assert_eq!(
        (again.window_start, again.window_end, again.renew_at),
        (plan.window_start, plan.window_end, plan.renew_at)
    );

    let account = account(&w, &pebble).await;
    account
        .revoke(&RevocationRequest {
            certificate: &leaf(&old.chain_pem),
            reason: None,
        })
        .await
        .unwrap();
    let revoked_at = OffsetDateTime::now_utc();
    // The job runs when the CA may be asked again; then the renewal happens at once.
    let start = Instant::now();
    let renewed = loop {
        match run_next(&w.store, &w.master, &acme, &config).await.unwrap() {
            Some(Outcome::Issued { .. }) => break true,
            Some(other) => panic!("{other:?}"),
            None if start.elapsed() > Duration::from_secs(5) => break false,
            None => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    };
    assert!(renewed, "the revoked certificate was not replaced");
    let past = w
        .store
        .all_tenants()
        .renewal_plan(&old.id)
        .await
        .unwrap()
        .unwrap();
    assert!(
        past.window_end < revoked_at,
        "a window in the past: {past:?}"
    );
    assert!(past.renew_at < revoked_at);
    let new = w
        .store
        .all_tenants()
        .current_certificate(&d.id)
        .await
        .unwrap()
        .unwrap();
    assert_ne!(new.id, old.id);
    let root = pebble.issuing_root().await.unwrap();
    let start = Instant::now();
    while w.served_chain(HOST, &root, Duration::from_secs(5)).await != chain_der(&new.chain_pem) {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the edge kept the revoked one"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(pebble);
    w.finish().await;
}

/// (c) The renewal order names the certificate it replaces: Pebble takes an order replacing
/// a certificate until a replacement was issued, and answers 409 Conflict after — which it
/// does for the certificate the worker renewed, and not for the renewal itself.
async fn the_renewal_order_carries_replaces(db: TestDatabase) {
    let w = World::start(db).await;
    let dns = FakeDns::start().await.unwrap();
    dns.set_a(HOST, &[Ipv4Addr::LOCALHOST]);
    let validity = Duration::from_secs(120);
    let pebble = pebble_ari(dns.addr(), w.http.port(), Some(validity)).await;
    let acme = Acme::connect(w.store.clone(), w.master.clone(), acme_config(&pebble))
        .await
        .unwrap();
    let config = worker_config();
    let d = w.verified_domain("example.com").await;
    schedule_due(&w.store).await.unwrap();
    let issued = run_next(&w.store, &w.master, &acme, &config).await.unwrap();
    assert!(matches!(issued, Some(Outcome::Issued { .. })), "{issued:?}");
    let old = w
        .store
        .all_tenants()
        .current_certificate(&d.id)
        .await
        .unwrap()
        .unwrap();
    let account = account(&w, &pebble).await;
    // Not replaced yet: an order replacing it is taken (and left unfinished).
    order_replacing_known(&account, &old).await.unwrap();

    // Two minutes' lifetime: Pebble's window (a day either side of 80 s) covers now.
    let renewed = next_outcome(&w, &acme, &config, validity).await;
    assert!(matches!(renewed, Outcome::Issued { .. }), "{renewed:?}");
    let new = w
        .store
        .all_tenants()
        .current_certificate(&d.id)
        .await
        .unwrap()
        .unwrap();
    assert_ne!(new.id, old.id);
    // Pebble marks the replaced certificate once it has issued the replacement.
    let start = Instant::now();
    let refused = loop {
        match order_replacing(&account, &old).await {
            Err(instant_acme::Error::Api(problem)) => break problem,
            Ok(()) if start.elapsed() < Duration::from_secs(5) => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            other => panic!("a second replacement of the renewed certificate: {other:?}"),
        }
    };
    assert_eq!(refused.status, Some(409), "{refused:?}");
    order_replacing_known(&account, &new).await.unwrap();
    drop(pebble);
    w.finish().await;
}

/// (d) A renewal whose challenge cannot be answered (the name now points where no edge
/// listens) fails with the CA's error and backs off; the valid certificate stays current,
/// keeps its plan and is still what the edge serves.
async fn a_failed_renewal_keeps_the_old_certificate_served(db: TestDatabase) {
    let w = World::start(db).await;
    let dns = FakeDns::start().await.unwrap();
    dns.set_a(HOST, &[Ipv4Addr::LOCALHOST]);
    let validity = Duration::from_secs(120);
    let pebble = pebble_ari(dns.addr(), w.http.port(), Some(validity)).await;
    let acme = Acme::connect(w.store.clone(), w.master.clone(), acme_config(&pebble))
        .await
        .unwrap();
    let config = worker_config();
    let d = w.verified_domain("example.com").await;
    schedule_due(&w.store).await.unwrap();
    let issued = run_next(&w.store, &w.master, &acme, &config).await.unwrap();
    assert!(matches!(issued, Some(Outcome::Issued { .. })), "{issued:?}");
    let old = w
        .store
        .all_tenants()
        .current_certificate(&d.id)
        .await
        .unwrap()
        .unwrap();
    let root = pebble.issuing_root().await.unwrap();
    assert_eq!(
        w.served_chain(HOST, &root, Duration::from_secs(5)).await,
        chain_der(&old.chain_pem)
    );

    // Nothing listens on 127.0.0.2: Pebble's HTTP-01 validation is refused.
    dns.set_a(HOST, &[Ipv4Addr::new(127, 0, 0, 2)]);
    let failed = next_outcome(&w, &acme, &config, validity).await;
    let Outcome::Failed {
        error, retry_at, ..
    } = failed
    else {
        panic!("{failed:?}");
    };
    let before = OffsetDateTime::now_utc();
    assert!(error.contains(HOST), "{error}");
    assert!(
        retry_at >= before + time::Duration::seconds(20),
        "backs off: {retry_at}"
    );
    let job = w
        .store
        .all_tenants()
        .job_status(CERT_JOB_KIND, d.id.as_str())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(job.attempts, 1);
    assert_eq!(job.last_error.as_deref(), Some(error.as_str()));
    assert_eq!(job.run_at.unix_timestamp(), retry_at.unix_timestamp());

    let current = w
        .store
        .all_tenants()
        .current_certificate(&d.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(current.id, old.id, "the valid certificate stays");
    let plan = w
        .store
        .all_tenants()
        .renewal_plan(&old.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(plan.source, RenewalSource::Ari);
    assert!(
        plan.renew_at <= OffsetDateTime::now_utc(),
        "it is still due"
    );
    assert_eq!(
        w.handshake(HOST, &root).await.unwrap(),
        chain_der(&old.chain_pem),
        "the edge still serves it"
    );
    assert!(w.store.live_challenges().await.unwrap().is_empty());
    drop(pebble);
    w.finish().await;
}

both_backends!(
    short_lived_certificates_are_renewed_inside_their_ari_window,
    a_revoked_certificate_is_replaced_at_once,
    the_renewal_order_carries_replaces,
    a_failed_renewal_keeps_the_old_certificate_served,
);
