use time::{Duration, OffsetDateTime};

use crate::harness::TestDb;

async fn heartbeats(db: &TestDb) {
    let s = &db.store;
    let started = OffsetDateTime::now_utc();
    s.heartbeat("edge-1", "edge,dns", "0.1.0", 5, started)
        .await
        .unwrap();
    s.heartbeat("edge-2", "edge", "0.1.0", 3, started)
        .await
        .unwrap();
    s.heartbeat("edge-1", "edge,dns", "0.1.0", 9, started)
        .await
        .unwrap();
    let nodes = s.live_nodes(started - Duration::seconds(30)).await.unwrap();
    let seqs: Vec<_> = nodes
        .iter()
        .map(|n| (n.id.as_str(), n.snapshot_seq))
        .collect();
    assert_eq!(seqs, [("edge-1", 9), ("edge-2", 3)]);
    assert!(
        s.live_nodes(OffsetDateTime::now_utc() + Duration::minutes(1))
            .await
            .unwrap()
            .is_empty()
    );
}

crate::both_backends!(heartbeats);
