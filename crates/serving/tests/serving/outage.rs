//! Serving survives the store: PostgreSQL is stopped mid-run, the edge and DNS keep answering
//! from the last snapshot and report that it is stale, and catch up when it returns.

use std::time::{Duration, Instant};

use hickory_proto::rr::RecordType;
use http::StatusCode;
use stsd_core::Mode;
use stsd_testkit::PostgresServer;

use crate::world::{World, ZONE, dns_query, policy, policy_request};

const HOST: &str = "mta-sts.alpha.example";

async fn wait_for(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outage_keeps_serving() {
    let pg = tokio::task::spawn_blocking(PostgresServer::start)
        .await
        .unwrap()
        .unwrap();
    let w = World::start_at(&pg.url(), None, &["alpha.example"]).await;
    let label = w.fx.store.all_tenants().served_domains().await.unwrap()[0]
        .label
        .as_str()
        .to_owned();
    let before = w.fx.store.all_tenants().served_domains().await.unwrap()[0].live_ids[0]
        .id
        .clone();
    assert_eq!(
        w.fetch(HOST, false, policy_request("GET", HOST, false))
            .await
            .unwrap()
            .0,
        StatusCode::OK
    );

    let pg = tokio::task::spawn_blocking(move || {
        pg.stop().unwrap();
        pg
    })
    .await
    .unwrap();

    let snapshots = w.snapshots.clone();
    wait_for(
        "the node to notice the outage",
        Duration::from_secs(15),
        || snapshots.status().stale,
    )
    .await;
    for _ in 0..5 {
        let (status, _, body) = w
            .fetch(HOST, true, policy_request("GET", HOST, true))
            .await
            .unwrap();
        assert_eq!(
            status,
            StatusCode::OK,
            "edge stopped serving during the outage"
        );
        assert_eq!(body, policy(Mode::Testing, &["mx.alpha.example"]).render());
        let m = dns_query(
            w.dns,
            &format!("{label}.policy.{ZONE}."),
            RecordType::TXT,
            false,
        )
        .await;
        assert_eq!(
            m.answers.len(),
            1,
            "DNS stopped answering during the outage"
        );
    }

    let pg = tokio::task::spawn_blocking(move || {
        pg.resume().unwrap();
        pg
    })
    .await
    .unwrap();
    let snapshots = w.snapshots.clone();
    wait_for("the node to catch up", Duration::from_secs(30), || {
        !snapshots.status().stale
    })
    .await;

    // Changes made after the outage arrive.
    let id = w.fx.store.all_tenants().served_domains().await.unwrap()[0]
        .domain_id
        .clone();
    let enforce = policy(Mode::Enforce, &["mx.alpha.example"]);
    let v =
        w.fx.store
            .create_policy_version(&w.fx.tenant, &id, &enforce, "t")
            .await
            .unwrap()
            .version;
    w.fx.store
        .all_tenants()
        .set_live_version(&id, &v.id)
        .await
        .unwrap();
    w.fx.store
        .all_tenants()
        .set_dns_version(&id, &v.id)
        .await
        .unwrap();
    assert!(v.policy_id > before);
    let start = Instant::now();
    loop {
        let (_, _, body) = w
            .fetch(HOST, false, policy_request("GET", HOST, false))
            .await
            .unwrap();
        if body == enforce.render() {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "edit after the outage never arrived"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    w.finish().await;
    drop(pg);
}
