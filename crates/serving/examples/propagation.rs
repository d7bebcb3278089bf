//! Measures how long an edit takes to become visible on one node: from the store write that
//! makes a new policy version live to (a) the HTTPS edge serving its bytes and (b) DNS
//! announcing its id. Prints p50/p99 over many edits.
//!
//! `cargo run --release -p stsd-serving --example propagation -- [edits] [sqlite|postgres]`

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    reason = "a measuring program: it reports on stdout and stops at the first surprise"
)]

#[allow(
    dead_code,
    reason = "the test harness has helpers this program does not use"
)]
#[path = "../tests/serving/world.rs"]
mod world;

use std::time::{Duration, Instant};

use hickory_proto::rr::{RData, RecordType};
use stsd_core::Mode;
use stsd_testkit::TestDatabase;

use world::{World, ZONE, dns_query, policy, policy_request};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut args = std::env::args().skip(1);
    let edits: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(200);
    let backend = args.next().unwrap_or_else(|| "sqlite".to_owned());
    let db = match backend.as_str() {
        "postgres" => TestDatabase::postgres().await,
        _ => TestDatabase::sqlite().await,
    };
    let w = World::start(db, &["alpha.example"]).await;
    let store = w.fx.store.clone();
    let served = store.all_tenants().served_domains().await.unwrap();
    let (id, label) = (
        served[0].domain_id.clone(),
        served[0].label.as_str().to_owned(),
    );
    let host = "mta-sts.alpha.example";
    let txt_name = format!("{label}.policy.{ZONE}.");
    let (mut https, mut dns) = (Vec::new(), Vec::new());
    for i in 0..edits {
        let p = policy(
            if i % 2 == 0 {
                Mode::Enforce
            } else {
                Mode::Testing
            },
            &["mx.alpha.example"],
        );
        let v = store
            .create_policy_version(&w.fx.tenant, &id, &p, "bench")
            .await
            .unwrap()
            .version;
        let body = p.render();
        let want = format!("v=STSv1; id={};", v.policy_id);
        let start = Instant::now();
        store
            .all_tenants()
            .set_live_version(&id, &v.id)
            .await
            .unwrap();
        let (mut seen_https, mut seen_dns) = (None, None);
        while seen_https.is_none() || seen_dns.is_none() {
            if seen_https.is_none() {
                let (_, _, got) = w
                    .fetch(host, false, policy_request("GET", host, false))
                    .await
                    .unwrap();
                if got == body {
                    seen_https = Some(start.elapsed());
                }
            }
            if seen_dns.is_none() {
                let m = dns_query(w.dns, &txt_name, RecordType::TXT, false).await;
                let announced = m.answers.iter().any(|r| match &r.data {
                    RData::TXT(t) => {
                        t.txt_data
                            .iter()
                            .map(|b| String::from_utf8_lossy(b))
                            .collect::<String>()
                            == want
                    }
                    _ => false,
                });
                if announced {
                    seen_dns = Some(start.elapsed());
                }
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "edit {i} never became visible"
            );
        }
        https.extend(seen_https);
        dns.extend(seen_dns);
    }
    https.sort();
    dns.sort();
    println!(
        "edits: {edits} on {backend} (one node; a poll costs one TLS handshake or one DNS query)"
    );
    println!(
        "edge (HTTPS body):  p50 {:>8.2?}  p99 {:>8.2?}  max {:>8.2?}",
        percentile(&https, 0.5),
        percentile(&https, 0.99),
        percentile(&https, 1.0)
    );
    println!(
        "DNS (TXT id):       p50 {:>8.2?}  p99 {:>8.2?}  max {:>8.2?}",
        percentile(&dns, 0.5),
        percentile(&dns, 0.99),
        percentile(&dns, 1.0)
    );
    w.finish().await;
}
