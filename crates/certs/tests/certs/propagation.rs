//! Waiting for every live edge to serve a challenge before the CA is asked.

use std::time::{Duration, Instant};

use stsd_certs::{Propagation, wait_for_edges};
use stsd_store::{Challenge, ChallengeKind, Store};
use stsd_testkit::TestDatabase;
use time::OffsetDateTime;

use crate::both_backends;

/// Without heartbeats the fixed delay is waited; a lagging live edge holds the wait until
/// the timeout; once every live edge reports the challenge's position it ends at once; a
/// lagging node without the edge role does not count.
async fn waits_for_every_live_edge(db: TestDatabase) {
    let store = Store::connect(db.url()).await.unwrap();
    store.migrate().await.unwrap();
    let seq = store
        .put_challenge(&Challenge {
            token: "tok".into(),
            domain_id: None,
            key_authorization: "tok.thumb".into(),
            expires_at: OffsetDateTime::now_utc() + time::Duration::hours(1),
            kind: ChallengeKind::Http01,
        })
        .await
        .unwrap();
    let (fallback, timeout) = (Duration::from_millis(200), Duration::from_millis(400));
    let wait = || wait_for_edges(&store, seq, fallback, timeout);

    let start = Instant::now();
    assert_eq!(wait().await.unwrap(), Propagation::NoHeartbeats);
    assert!(start.elapsed() >= fallback);

    let started = OffsetDateTime::now_utc();
    let beat = |id: &'static str, roles: &'static str, at: i64| {
        let store = store.clone();
        async move {
            store
                .heartbeat(id, roles, "test", at, started)
                .await
                .unwrap()
        }
    };
    beat("edge-a", "edge,dns", seq).await;
    beat("edge-b", "edge,dns", seq - 1).await;
    beat("api-1", "api", 0).await;
    let start = Instant::now();
    assert_eq!(wait().await.unwrap(), Propagation::TimedOut);
    assert!(start.elapsed() >= timeout);

    beat("edge-b", "edge,dns", seq + 3).await;
    let start = Instant::now();
    assert_eq!(wait().await.unwrap(), Propagation::Acknowledged);
    assert!(
        start.elapsed() < fallback,
        "no fixed delay once acknowledged"
    );
    store.close().await;
    db.drop_database().await;
}

both_backends!(waits_for_every_live_edge);
