use std::str::FromStr;
use std::time::Duration;

use stsd_core::{DomainName, MaxAge, Mode, MxPattern, Policy};
use stsd_store::{ChangeKind, DomainState, NewCertificate, Ownership, Store};
use time::OffsetDateTime;

use crate::harness::TestDb;

async fn writes_append_to_the_feed(db: &TestDb) {
    let s = &db.store;
    assert_eq!(s.latest_change_seq().await.unwrap(), 0);
    let t = s.create_tenant("T").await.unwrap();
    // Writes that change nothing served leave the feed alone.
    assert_eq!(s.latest_change_seq().await.unwrap(), 0);
    let d = s
        .create_domain(
            &t.id,
            &DomainName::from_str("feed.example").unwrap(),
            Ownership::Cname,
        )
        .await
        .unwrap();
    s.transition_domain(
        &d.tenant_id,
        &d.id,
        DomainState::Pending,
        DomainState::Verified,
        "ok",
    )
    .await
    .unwrap();
    let p = Policy::new(
        Mode::Testing,
        vec![MxPattern::from_str("mx.feed.example").unwrap()],
        MaxAge::new(86400).unwrap(),
    )
    .unwrap();
    let v = s
        .create_policy_version(&d.tenant_id, &d.id, &p, "t")
        .await
        .unwrap()
        .version;
    s.all_tenants()
        .set_live_version(&d.id, &v.id)
        .await
        .unwrap();
    s.all_tenants().set_dns_version(&d.id, &v.id).await.unwrap();
    let now = OffsetDateTime::now_utc();
    s.all_tenants()
        .put_certificate(&NewCertificate {
            domain_id: d.id.clone(),
            chain_pem: "-----BEGIN CERTIFICATE-----\n".into(),
            key_ciphertext: vec![1, 2, 3],
            key_id: "k1".into(),
            not_before: now,
            not_after: now + time::Duration::days(90),
        })
        .await
        .unwrap();

    let changes = s.changes_since(0, 100).await.unwrap();
    let kinds: Vec<_> = changes.iter().map(|c| c.kind).collect();
    assert_eq!(
        kinds,
        [
            ChangeKind::Domain,
            ChangeKind::Domain,
            ChangeKind::Policy,
            ChangeKind::Dns,
            ChangeKind::Certificate
        ]
    );
    assert!(changes.iter().all(|c| c.domain_id.as_ref() == Some(&d.id)));
    assert!(changes.windows(2).all(|w| w[0].seq < w[1].seq));
    let tail = s.changes_since(changes[2].seq, 100).await.unwrap();
    assert_eq!(tail, changes[3..].to_vec());
    assert_eq!(s.changes_since(changes[1].seq, 1).await.unwrap().len(), 1);
    assert_eq!(s.latest_change_seq().await.unwrap(), changes[4].seq);
}

async fn local_subscription_wakes(db: &TestDb) {
    let s = &db.store;
    // A long poll interval: only a real signal can wake the subscriber in time.
    let mut sub = s.subscribe(Duration::from_secs(3600));
    let writer = s.clone();
    let t = s.create_tenant("T").await.unwrap();
    let wait =
        tokio::spawn(
            async move { tokio::time::timeout(Duration::from_secs(10), sub.changed()).await },
        );
    tokio::time::sleep(Duration::from_millis(50)).await;
    writer
        .create_domain(
            &t.id,
            &DomainName::from_str("wake.example").unwrap(),
            Ownership::Cname,
        )
        .await
        .unwrap();
    wait.await
        .unwrap()
        .expect("subscriber was not woken by a local commit");
}

crate::both_backends!(writes_append_to_the_feed, local_subscription_wakes);

/// A second node (another pool, as another process would have) is woken by NOTIFY.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_notify_wakes_other_nodes() {
    let db = TestDb::postgres().await;
    let other_node = Store::connect(&db.url).await.unwrap();
    let mut sub = other_node.subscribe(Duration::from_secs(3600));
    // The listener connects in the background; the first wake-up may be its "connected" nudge
    // or the real change, so wait until the change is visible rather than counting wake-ups.
    let t = db.store.create_tenant("T").await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    db.store
        .create_domain(
            &t.id,
            &DomainName::from_str("notify.example").unwrap(),
            Ownership::Cname,
        )
        .await
        .unwrap();
    let seen = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            sub.changed().await;
            if !other_node.changes_since(0, 10).await.unwrap().is_empty() {
                break;
            }
        }
    })
    .await;
    assert!(seen.is_ok(), "the other node was not woken by NOTIFY");
    other_node.close().await;
    db.finish().await;
}
