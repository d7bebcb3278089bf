//! The worker and the publisher on both backends.

use std::time::Duration;

use stsd_store::{Domain, DomainState, Ownership, VERIFY_JOB_KIND};
use stsd_verifier::{publish_pending, record_dns_switches, run_worker, schedule_all};

use crate::world::World;

/// Waits (at most 20 s) until `d` is in state `want`.
async fn wait_for_state(w: &World, d: &Domain, want: DomainState) {
    for _ in 0..400 {
        if w.state(d).await == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{} never became {want}; it is {}", d.name, w.state(d).await);
}

async fn worker_verifies_and_degrades(w: World) {
    let pending = w.domain("example.com", Ownership::Cname).await;
    let active = w.domain("example.org", Ownership::Cname).await;
    w.publish_cnames(&pending);
    w.publish_cnames(&active);
    let active = w
        .force_state(&active, &[DomainState::Verified, DomainState::Active])
        .await;
    w.dns.remove("mta-sts.example.org");

    let worker = tokio::spawn(run_worker(w.store.clone(), w.cfg.clone()));
    wait_for_state(&w, &pending, DomainState::Verified).await;
    wait_for_state(&w, &active, DomainState::Degraded).await;
    worker.abort();

    let transitions = w
        .store
        .transitions(&active.tenant_id, &active.id)
        .await
        .unwrap();
    let last = transitions.last().unwrap();
    assert_eq!(
        (last.from, last.to),
        (DomainState::Active, DomainState::Degraded)
    );
    assert!(last.reason.contains("mta-sts.example.org"), "{last:?}");

    // Both jobs were rescheduled into the future, not deleted: nothing is missing a job.
    assert!(
        w.store
            .all_tenants()
            .domains_without_job(VERIFY_JOB_KIND, &DomainState::ALL)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        w.store
            .lease_job(VERIFY_JOB_KIND, "probe", Duration::from_secs(1))
            .await
            .unwrap()
            .is_none(),
        "no job should be due right after the checks"
    );
    w.close().await;
}

#[tokio::test]
async fn worker_verifies_and_degrades_on_sqlite() {
    worker_verifies_and_degrades(World::sqlite().await).await;
}

#[tokio::test]
async fn worker_verifies_and_degrades_on_postgres() {
    worker_verifies_and_degrades(World::postgres().await).await;
}

async fn degraded_domain_recovers_or_detaches(w: World) {
    let d = w.domain("example.com", Ownership::Cname).await;
    let d = w
        .force_state(
            &d,
            &[
                DomainState::Verified,
                DomainState::Active,
                DomainState::Degraded,
            ],
        )
        .await;
    // Broken within the grace period: stays degraded.
    w.check(&d).await;
    assert_eq!(w.state(&d).await, DomainState::Degraded);
    // Fixed, with a certificate: active again.
    w.publish_cnames(&d);
    w.add_certificate(&d).await;
    w.check(&d).await;
    assert_eq!(w.state(&d).await, DomainState::Active);
    // Broken again, past a (short) grace period: detached.
    w.dns.remove("_mta-sts.example.com");
    w.check(&d).await;
    assert_eq!(w.state(&d).await, DomainState::Degraded);
    let mut cfg = w.cfg.clone();
    cfg.grace_period = Duration::ZERO;
    stsd_verifier::check_now(&w.store, &cfg, &d.id)
        .await
        .unwrap();
    assert_eq!(w.state(&d).await, DomainState::Detached);
    w.close().await;
}

#[tokio::test]
async fn degraded_domain_recovers_or_detaches_on_sqlite() {
    degraded_domain_recovers_or_detaches(World::sqlite().await).await;
}

#[tokio::test]
async fn degraded_domain_recovers_or_detaches_on_postgres() {
    degraded_domain_recovers_or_detaches(World::postgres().await).await;
}

async fn scheduler_and_publisher(w: World) {
    let pending = w.domain("a.example", Ownership::Cname).await;
    let active = w.domain("b.example", Ownership::Cname).await;
    let offboarding = w.domain("c.example", Ownership::Cname).await;
    let active = w
        .force_state(&active, &[DomainState::Verified, DomainState::Active])
        .await;
    let offboarding = w
        .force_state(
            &offboarding,
            &[
                DomainState::Verified,
                DomainState::Active,
                DomainState::Offboarding,
            ],
        )
        .await;

    // Only the checked states get a job; a second pass adds nothing.
    assert_eq!(schedule_all(&w.store).await.unwrap(), 2);
    assert_eq!(schedule_all(&w.store).await.unwrap(), 0);
    let _ = (&pending, &offboarding);

    // A version without a certificate is not published.
    let v1 = w.save_policy(&active, &["mx.b.example"]).await;
    assert_eq!(publish_pending(&w.store).await.unwrap(), 0);
    let live = |d: &Domain| {
        let store = w.store.clone();
        let id = d.id.clone();
        async move {
            store
                .all_tenants()
                .domain_by_id(&id)
                .await
                .unwrap()
                .unwrap()
                .live_version_id
        }
    };
    assert_eq!(live(&active).await, None);

    // With one, it goes live; a second pass is a no-op.
    w.add_certificate(&active).await;
    assert_eq!(publish_pending(&w.store).await.unwrap(), 1);
    assert_eq!(live(&active).await, Some(v1.clone()));
    assert_eq!(publish_pending(&w.store).await.unwrap(), 0);

    // A new version replaces it; DNS is not touched (the serving crate moves it).
    let v2 = w
        .save_policy(&active, &["mx.b.example", "mx2.b.example"])
        .await;
    assert_ne!(v1, v2);
    assert_eq!(publish_pending(&w.store).await.unwrap(), 1);
    let after = w
        .store
        .all_tenants()
        .domain_by_id(&active.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after.live_version_id, Some(v2));
    assert_eq!(after.dns_version_id, None);

    // Offboarding domains are published too (their `mode: none` version must be served).
    let v3 = w.save_policy(&offboarding, &["mx.c.example"]).await;
    w.add_certificate(&offboarding).await;
    assert_eq!(publish_pending(&w.store).await.unwrap(), 1);
    assert_eq!(live(&offboarding).await, Some(v3));
    w.close().await;
}

#[tokio::test]
async fn scheduler_and_publisher_on_sqlite() {
    scheduler_and_publisher(World::sqlite().await).await;
}

#[tokio::test]
async fn scheduler_and_publisher_on_postgres() {
    scheduler_and_publisher(World::postgres().await).await;
}

/// Offboarding ends when its serving period is over, and that period is counted from the
/// moment the `mode: none` version is live on every edge and its id in DNS — never from the
/// request: with a lagging edge the domain stays, whatever its planned end said. At the end
/// the domain is removed, its certificates and keys are deleted, the removal is audited.
async fn offboarding_ends_in_removal(w: World) {
    use stsd_core::{MaxAge, Mode, MxPattern, Policy};
    use stsd_store::DomainState::{Active, Offboarding, Removed, Verified};
    const WEEK: i64 = 604_800;
    let started = time::OffsetDateTime::now_utc();
    let done = w.domain("done.example", Ownership::Cname).await;
    let waiting = w.domain("waiting.example", Ownership::Cname).await;
    let mx: Vec<MxPattern> = vec!["mx.example.net".parse().unwrap()];
    let week = Policy::new(Mode::Testing, mx.clone(), MaxAge::new(604_800).unwrap()).unwrap();
    let none = Policy::new(Mode::None, mx, MaxAge::new(86_400).unwrap()).unwrap();
    // Every edge acknowledges what is live now.
    let all_edges_current = |w: &World| {
        let store = w.store.clone();
        async move {
            let seq = store.latest_change_seq().await.unwrap();
            for edge in ["edge-a", "edge-b"] {
                store
                    .heartbeat(edge, "edge,dns", "t", seq, started)
                    .await
                    .unwrap();
            }
            seq
        }
    };
    for d in [&done, &waiting] {
        w.add_certificate(d).await;
        w.force_state(d, &[Verified, Active]).await;
        w.store
            .create_policy_version(&d.tenant_id, &d.id, &week, "test")
            .await
            .unwrap();
    }
    assert_eq!(publish_pending(&w.store).await.unwrap(), 2);
    all_edges_current(&w).await;
    assert_eq!(record_dns_switches(&w.store).await.unwrap(), 2);

    // `done` leaves, and its `mode: none` reaches every edge and DNS.
    let leave = |d: &Domain| {
        let (store, d, none) = (w.store.clone(), d.clone(), none.clone());
        async move {
            store
                .create_policy_version(&d.tenant_id, &d.id, &none, "test")
                .await
                .unwrap();
            // The API's first estimate; the real end is set when DNS switches.
            store
                .set_serve_until(
                    &d.tenant_id,
                    &d.id,
                    Some(time::OffsetDateTime::now_utc() - time::Duration::minutes(1)),
                )
                .await
                .unwrap();
            store
                .transition_domain(&d.tenant_id, &d.id, Active, Offboarding, "leaving")
                .await
                .unwrap();
        }
    };
    leave(&done).await;
    assert_eq!(publish_pending(&w.store).await.unwrap(), 1);
    let before_waiting = all_edges_current(&w).await;
    assert_eq!(record_dns_switches(&w.store).await.unwrap(), 1);
    let reload = |d: &Domain| {
        let (store, id) = (w.store.clone(), d.id.clone());
        async move {
            store
                .all_tenants()
                .domain_by_id(&id)
                .await
                .unwrap()
                .unwrap()
        }
    };
    let done_now = reload(&done).await;
    let versions = w
        .store
        .policy_versions(&done.tenant_id, &done.id)
        .await
        .unwrap();
    let none_version = versions
        .iter()
        .find(|v| v.policy.mode() == Mode::None)
        .unwrap();
    let dns_at = none_version.dns_at.expect("mode none is in DNS");
    let until = done_now
        .serve_until
        .expect("the end is counted from the DNS switch");
    // The largest max_age ever served (a week), plus the margin, from the live moment.
    assert_eq!(
        (until - dns_at).whole_seconds(),
        WEEK + 3600,
        "{until} {dns_at}"
    );

    // `waiting` leaves too, but edge-b lags behind its `mode: none`: DNS keeps the old id.
    leave(&waiting).await;
    assert_eq!(publish_pending(&w.store).await.unwrap(), 1);
    let seq = w.store.latest_change_seq().await.unwrap();
    w.store
        .heartbeat("edge-a", "edge,dns", "t", seq, started)
        .await
        .unwrap();
    w.store
        .heartbeat("edge-b", "edge,dns", "t", before_waiting, started)
        .await
        .unwrap();
    assert_eq!(record_dns_switches(&w.store).await.unwrap(), 0);

    // Its planned end is past, but its none version is not in DNS: nothing is removed now;
    // a week on, `done` is over and `waiting` is still held by the lagging edge.
    let now = time::OffsetDateTime::now_utc();
    assert_eq!(
        stsd_verifier::finish_offboarding(&w.store, now)
            .await
            .unwrap(),
        0
    );
    let later = dns_at + time::Duration::seconds(WEEK + 3601);
    assert_eq!(
        stsd_verifier::finish_offboarding(&w.store, later)
            .await
            .unwrap(),
        1
    );
    assert_eq!(w.state(&done).await, Removed);
    assert_eq!(w.state(&waiting).await, Offboarding);
    assert!(
        w.store
            .all_tenants()
            .current_certificate(&done.id)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        w.store
            .all_tenants()
            .current_certificate(&waiting.id)
            .await
            .unwrap()
            .is_some(),
        "certificates stay while the window runs"
    );
    let log = w.store.audit_log(&w.tenant, None, 50).await.unwrap();
    assert!(
        log.iter().any(|e| e.action == "domain.transition"
            && e.target == "done.example"
            && e.details.contains("\"to\":\"removed\"")),
        "{log:?}"
    );

    // The lagging edge catches up: the window starts now and runs its full length.
    all_edges_current(&w).await;
    assert_eq!(record_dns_switches(&w.store).await.unwrap(), 1);
    let waiting_until = reload(&waiting).await.serve_until.unwrap();
    assert!(
        waiting_until > now + time::Duration::seconds(WEEK),
        "{waiting_until}"
    );
    assert_eq!(
        stsd_verifier::finish_offboarding(&w.store, waiting_until - time::Duration::seconds(1))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        stsd_verifier::finish_offboarding(&w.store, waiting_until)
            .await
            .unwrap(),
        1
    );
    assert_eq!(w.state(&waiting).await, Removed);
    // Idempotent.
    assert_eq!(
        stsd_verifier::finish_offboarding(&w.store, waiting_until)
            .await
            .unwrap(),
        0
    );
    w.close().await;
}

#[tokio::test]
async fn offboarding_ends_in_removal_on_sqlite() {
    offboarding_ends_in_removal(World::sqlite().await).await;
}

#[tokio::test]
async fn offboarding_ends_in_removal_on_postgres() {
    offboarding_ends_in_removal(World::postgres().await).await;
}

/// "Policy before id", recorded: DNS counts as switched to a live version only once every
/// live edge's heartbeat reports a snapshot at or after the position where it went live; a
/// lagging edge holds the record back.
async fn dns_switch_waits_for_the_slowest_edge(w: World) {
    let d = w.domain("edge.example", Ownership::Cname).await;
    let d = w
        .force_state(&d, &[DomainState::Verified, DomainState::Active])
        .await;
    w.add_certificate(&d).await;
    let v1 = w.save_policy(&d, &["mx.edge.example"]).await;
    assert_eq!(publish_pending(&w.store).await.unwrap(), 1);
    let live_seq = w.store.latest_change_seq().await.unwrap();
    let started = time::OffsetDateTime::now_utc();
    // Two edges: one has applied the change, one lags behind.
    w.store
        .heartbeat("edge-a", "edge,dns", "t", live_seq, started)
        .await
        .unwrap();
    w.store
        .heartbeat("edge-b", "edge,dns", "t", live_seq - 1, started)
        .await
        .unwrap();
    assert_eq!(record_dns_switches(&w.store).await.unwrap(), 0);
    let dns = |w: &World| {
        let store = w.store.clone();
        let id = d.id.clone();
        async move {
            store
                .all_tenants()
                .domain_by_id(&id)
                .await
                .unwrap()
                .unwrap()
                .dns_version_id
        }
    };
    assert_eq!(dns(&w).await, None);
    // The lagging edge catches up: now DNS is recorded as switched, with its time.
    w.store
        .heartbeat("edge-b", "edge,dns", "t", live_seq, started)
        .await
        .unwrap();
    assert_eq!(record_dns_switches(&w.store).await.unwrap(), 1);
    assert_eq!(dns(&w).await, Some(v1.clone()));
    let versions = w.store.policy_versions(&d.tenant_id, &d.id).await.unwrap();
    let v = versions.iter().find(|v| v.id == v1).unwrap();
    assert!(v.published_at.is_some() && v.dns_at.is_some());
    assert!(v.dns_at >= v.published_at);
    assert_eq!(record_dns_switches(&w.store).await.unwrap(), 0);
    w.close().await;
}

#[tokio::test]
async fn dns_switch_waits_for_the_slowest_edge_on_sqlite() {
    dns_switch_waits_for_the_slowest_edge(World::sqlite().await).await;
}

#[tokio::test]
async fn dns_switch_waits_for_the_slowest_edge_on_postgres() {
    dns_switch_waits_for_the_slowest_edge(World::postgres().await).await;
}
