//! The snapshot's local copy against a real store: what a node loads from it serves what the
//! store-built snapshot served, it catches up from the copy's position, and the follower keeps
//! the copy current.

use std::path::Path;
use std::time::{Duration, Instant};

use http::StatusCode;
use stsd_core::Mode;
use stsd_serving::edge::{EdgeLimits, serve_https};
use stsd_serving::{NodeInfo, Snapshot, SnapshotHandle};
use stsd_store::{Challenge, ChallengeKind, ServiceCertificate};
use stsd_testkit::{PostgresServer, TestDatabase};
use time::OffsetDateTime;
use tokio::net::TcpListener;

use crate::world::{World, policy, policy_request};

const A: &str = "mta-sts.alpha.example";
const B: &str = "mta-sts.beta.example";
const C: &str = "mta-sts.gamma.example";
const REPORTS: &str = "reports.sts.test.example";

/// A challenge and a service certificate in the store, applied to the world's snapshot.
async fn add_challenge_and_service_host(w: &World) {
    let store = &w.fx.store;
    store
        .put_challenge(&Challenge {
            token: "tok_copy".into(),
            domain_id: None,
            key_authorization: "tok_copy.thumbprint".into(),
            expires_at: OffsetDateTime::now_utc() + time::Duration::hours(1),
            kind: ChallengeKind::Http01,
        })
        .await
        .unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec![REPORTS.to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let now = OffsetDateTime::now_utc();
    store
        .put_service_certificate(&ServiceCertificate {
            host: REPORTS.to_owned(),
            chain_pem: cert.pem(),
            key_ciphertext: w.fx.master.seal(&key.serialize_der()).unwrap(),
            key_id: w.fx.master.id().to_owned(),
            not_before: now - time::Duration::hours(1),
            not_after: now + time::Duration::days(90),
        })
        .await
        .unwrap();
    w.snapshots.catch_up(store).await.unwrap();
    let s = w.snapshots.current();
    assert!(s.challenge("tok_copy").is_some() && s.service_host(REPORTS).is_some());
}

/// What a snapshot serves on the edge and in DNS for `hosts`, comparable.
fn view(s: &Snapshot, hosts: &[&str], labels: &[String]) -> Vec<String> {
    let mut out: Vec<String> = hosts
        .iter()
        .map(|h| {
            let host = s.host(h);
            format!(
                "{h} body={:?} key={}",
                host.map(|e| e.body.clone()),
                host.and_then(|e| e.key()).is_some()
            )
        })
        .collect();
    out.extend(labels.iter().map(|l| format!("{l} {:?}", s.label(l))));
    out
}

async fn labels(w: &World) -> Vec<String> {
    let mut labels: Vec<String> =
        w.fx.store
            .all_tenants()
            .served_domains()
            .await
            .unwrap()
            .into_iter()
            .map(|d| d.label.as_str().to_owned())
            .collect();
    labels.sort();
    labels
}

async fn a_copy_serves_what_the_store_served(db: TestDatabase) {
    let w = World::start(db, &["alpha.example", "beta.example"]).await;
    add_challenge_and_service_host(&w).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("snapshot.copy");
    let written_at = w.snapshots.write_copy(&path).unwrap();

    let copy = SnapshotHandle::from_copy(&path, w.fx.master.clone()).unwrap();
    let (from_store, from_copy) = (w.snapshots.current(), copy.current());
    let labels = labels(&w).await;
    assert_eq!(
        view(&from_copy, &[A, B], &labels),
        view(&from_store, &[A, B], &labels)
    );
    assert_eq!(from_copy.host_count(), 2);
    assert!(from_copy.host(A).unwrap().key().is_some());
    assert_eq!(
        from_copy.challenge("tok_copy").unwrap().as_ref(),
        b"tok_copy.thumbprint"
    );
    assert!(from_copy.service_host(REPORTS).is_some());
    let status = copy.status();
    assert_eq!(status.seq, from_store.seq());
    assert!(status.stale && status.from_copy);
    assert_eq!(status.copy_written_at, Some(written_at));
    assert_eq!(status.last_sync, written_at);

    // An edge serving from the copy answers TLS handshakes and policy fetches.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let edge = tokio::spawn(serve_https(listener, copy.clone(), EdgeLimits::default()));
    for (host, domain) in [(A, "alpha.example"), (B, "beta.example")] {
        for h2 in [false, true] {
            let (status, _, body) = w
                .fetch_at(addr, host, h2, policy_request("GET", host, h2))
                .await
                .unwrap();
            assert_eq!(status, StatusCode::OK, "{host} h2={h2}");
            assert_eq!(
                body,
                policy(Mode::Testing, &[&format!("mx.{domain}")]).render()
            );
        }
    }
    assert!(w.tls_at(addr, C, &[b"http/1.1"]).await.is_err());
    edge.abort();
    w.finish().await;
}

async fn a_node_from_the_copy_catches_up(db: TestDatabase) {
    let w = World::start(db, &["alpha.example"]).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("snapshot.copy");
    w.snapshots.write_copy(&path).unwrap();
    let copied_at = w.snapshots.current().seq();
    // A change after the copy was written.
    w.fx.activate("beta.example", &policy(Mode::Testing, &["mx.beta.example"]))
        .await;

    let copy = SnapshotHandle::from_copy(&path, w.fx.master.clone()).unwrap();
    assert_eq!(copy.status().seq, copied_at);
    assert!(copy.current().host(B).is_none());
    copy.catch_up(&w.fx.store).await.unwrap();
    let status = copy.status();
    assert!(!status.stale && !status.from_copy, "{status:?}");
    assert!(status.seq > copied_at);
    assert!(copy.current().host(B).unwrap().key().is_some());
    assert!(copy.current().host(A).is_some());
    w.finish().await;
}

/// The copy at `path` once it serves `host`, or a timeout.
async fn wait_for_copy_with(
    path: &Path,
    master: &std::sync::Arc<stsd_store::MasterKey>,
    host: &str,
    limit: Duration,
) -> Instant {
    let start = Instant::now();
    loop {
        if let Ok(copy) = SnapshotHandle::from_copy(path, master.clone())
            && copy.current().host(host).is_some()
        {
            return Instant::now();
        }
        assert!(
            start.elapsed() < limit,
            "the copy did not get {host} within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn the_follower_keeps_the_copy_current(db: TestDatabase) {
    let w = World::start(db, &["alpha.example"]).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("snapshot.copy");
    let interval = Duration::from_millis(400);
    let handle = SnapshotHandle::load(&w.fx.store, w.fx.master.clone())
        .await
        .unwrap()
        .with_copy_every(&path, interval);
    assert_eq!(handle.copy_written_at(), None);
    let follower = handle.spawn_follower(
        w.fx.store.clone(),
        node("copy-node"),
        Duration::from_millis(100),
        Duration::from_millis(200),
    );
    // The first sync writes the copy, although nothing changed.
    wait_for_copy_with(&path, &w.fx.master, A, Duration::from_secs(5)).await;
    assert!(handle.copy_written_at().is_some());

    // Several edits in a row: each reaches the copy within the interval and a margin.
    for domain in ["beta.example", "gamma.example"] {
        let host = format!("mta-sts.{domain}");
        w.fx.activate(domain, &policy(Mode::Testing, &[&format!("mx.{domain}")]))
            .await;
        let applied = loop {
            if handle.current().host(&host).is_some() {
                break Instant::now();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        let limit = interval + Duration::from_secs(2);
        let on_disk = wait_for_copy_with(&path, &w.fx.master, &host, limit).await;
        assert!(on_disk - applied <= limit, "{:?}", on_disk - applied);
    }
    // Once the writer is stopped (a write under way still finishes), nothing but the copy is
    // left in its directory.
    follower.abort();
    tokio::time::sleep(interval + Duration::from_millis(500)).await;
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    w.finish().await;
}

async fn a_failed_write_is_retried_at_the_next_change(db: TestDatabase) {
    let w = World::start(db, &["alpha.example"]).await;
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("later");
    let path = sub.join("snapshot.copy");
    let handle = SnapshotHandle::load(&w.fx.store, w.fx.master.clone())
        .await
        .unwrap()
        .with_copy_every(&path, Duration::from_millis(100));
    let follower = handle.spawn_follower(
        w.fx.store.clone(),
        node("retry-node"),
        Duration::from_millis(100),
        Duration::from_millis(200),
    );
    // The first write fails (no directory); serving goes on.
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(handle.copy_written_at(), None);
    assert!(!path.exists());
    assert!(handle.current().host(A).is_some() && !handle.status().stale);
    // The next change writes it.
    std::fs::create_dir(&sub).unwrap();
    w.fx.activate("beta.example", &policy(Mode::Testing, &["mx.beta.example"]))
        .await;
    wait_for_copy_with(&path, &w.fx.master, B, Duration::from_secs(5)).await;
    assert!(handle.copy_written_at().is_some());
    follower.abort();
    w.finish().await;
}

/// A node restarted while PostgreSQL is down starts from its copy, serves, and catches up
/// (and refreshes the copy) when the database returns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_restarted_during_an_outage_serves_from_its_copy() {
    let pg = tokio::task::spawn_blocking(PostgresServer::start)
        .await
        .unwrap()
        .unwrap();
    let w = World::start_at(&pg.url(), None, &["alpha.example"]).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("snapshot.copy");
    let interval = Duration::from_millis(200);
    let before = SnapshotHandle::load(&w.fx.store, w.fx.master.clone())
        .await
        .unwrap()
        .with_copy_every(&path, interval);
    let follower = before.spawn_follower(
        w.fx.store.clone(),
        node("before-restart"),
        Duration::from_millis(100),
        Duration::from_millis(200),
    );
    wait_for_copy_with(&path, &w.fx.master, A, Duration::from_secs(5)).await;
    follower.abort();

    let pg = tokio::task::spawn_blocking(move || {
        pg.stop().unwrap();
        pg
    })
    .await
    .unwrap();

    // The restarted node: nothing from the store, everything from the copy.
    let after = SnapshotHandle::from_copy(&path, w.fx.master.clone())
        .unwrap()
        .with_copy_every(&path, interval);
    let loaded_at = after.copy_written_at();
    let follower = after.spawn_follower(
        w.fx.store.clone(),
        node("after-restart"),
        Duration::from_millis(100),
        Duration::from_millis(200),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let edge = tokio::spawn(serve_https(listener, after.clone(), EdgeLimits::default()));
    for _ in 0..3 {
        let (status, _, body) = w
            .fetch_at(addr, A, true, policy_request("GET", A, true))
            .await
            .unwrap();
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, policy(Mode::Testing, &["mx.alpha.example"]).render());
        let status = after.status();
        assert!(status.stale && status.from_copy, "{status:?}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    let pg = tokio::task::spawn_blocking(move || {
        pg.resume().unwrap();
        pg
    })
    .await
    .unwrap();
    let start = Instant::now();
    while after.status().stale || after.status().from_copy {
        assert!(start.elapsed() < Duration::from_secs(30), "never caught up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Changes made after the outage arrive, and reach the copy.
    w.fx.activate("beta.example", &policy(Mode::Testing, &["mx.beta.example"]))
        .await;
    wait_for_copy_with(&path, &w.fx.master, B, Duration::from_secs(10)).await;
    assert!(after.current().host(B).is_some());
    assert!(after.copy_written_at() >= loaded_at);
    edge.abort();
    follower.abort();
    w.finish().await;
    drop(pg);
}

fn node(id: &str) -> NodeInfo {
    NodeInfo {
        id: id.into(),
        roles: "edge".into(),
        version: "test".into(),
        started_at: OffsetDateTime::now_utc(),
    }
}

crate::both_backends!(
    a_copy_serves_what_the_store_served,
    a_node_from_the_copy_catches_up,
    the_follower_keeps_the_copy_current,
    a_failed_write_is_retried_at_the_next_change,
);
