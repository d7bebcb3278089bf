//! Two `stsd worker` processes share the work: 200 domains registered at once are verified
//! and certified (local CA) with both workers taking part, each job done by one of them, as
//! their `/metrics` show.

use std::time::{Duration, Instant};

use stsd_testkit::{FakeDns, TestDatabase};

use crate::customer::Customer;
use crate::process::{Role, run};

const DOMAINS: usize = 200;

/// `stsd_worker_jobs_total{kind="<kind>",outcome="finished"}` in a metrics text.
fn finished(metrics: &str, kind: &str) -> u64 {
    let prefix = format!("stsd_worker_jobs_total{{kind=\"{kind}\",outcome=\"finished\"}} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map_or(0, |v| v.trim().parse().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_share_200_domains() {
    let db = TestDatabase::postgres().await;
    let url = db.url().to_owned();
    let customer = FakeDns::start().await.unwrap();
    let root = tempfile::tempdir().unwrap();
    let resolvers = customer.addr().to_string();
    let with_dns = |role: &str, args: &[&str]| {
        let (root, url, resolvers) = (root.path().to_owned(), url.clone(), resolvers.clone());
        let (role, args): (String, Vec<String>) = (
            role.to_owned(),
            args.iter().map(|a| (*a).to_owned()).collect(),
        );
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            Role::start_env(&root, &role, &url, &args, &[("STSD_RESOLVERS", &resolvers)])
        })
    };
    {
        let (root, url) = (root.path().join("migrate"), url.clone());
        tokio::task::spawn_blocking(move || run(&root, &url, &["migrate"]))
            .await
            .unwrap();
    }
    let mut api = with_dns("api", &["api"]).await.unwrap();
    let mut workers = vec![
        with_dns("worker-a", &["worker"]).await.unwrap(),
        with_dns("worker-b", &["worker"]).await.unwrap(),
    ];
    for role in workers.iter_mut().chain(std::iter::once(&mut api)) {
        role.wait_ready(200, Duration::from_secs(30));
    }

    let customer_api = Customer::sign_up(api.ports.api, "ops@example.net", "Spread").await;
    for i in 0..DOMAINS {
        customer_api
            .add_domain(&customer, &format!("s{i:03}.example.net"), "mx.example.net")
            .await;
    }
    // Ask for every domain's checks at once: 200 verify jobs due now.
    let asks = (0..DOMAINS).map(|i| {
        customer_api
            .http
            .post(format!(
                "{}/s{i:03}.example.net/checks",
                customer_api.domains
            ))
            .bearer_auth(&customer_api.token)
            .send()
    });
    for resp in futures_join(asks).await {
        let status = resp.unwrap().status().as_u16();
        assert!(status == 200 || status == 202, "{status}");
    }
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let start = Instant::now();
    loop {
        let active: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM domains WHERE state = 'active'")
            .fetch_one(&pool)
            .await
            .unwrap();
        if active == i64::try_from(DOMAINS).unwrap() {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(180),
            "{active} of {DOMAINS} active\n{}\n{}",
            workers[0].log(),
            workers[1].log()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let certificates: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM certificates")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(
        certificates,
        i64::try_from(DOMAINS).unwrap(),
        "one certificate each"
    );
    let mut split = Vec::new();
    for w in &workers {
        let (_, metrics) = w.ops("/metrics").unwrap();
        let (verify, cert) = (finished(&metrics, "verify"), finished(&metrics, "cert"));
        assert!(verify > 0 && cert > 0, "{}: {metrics}", w.name);
        split.push((verify, cert));
    }
    eprintln!(
        "work split between two workers: verify {} / {}, certificates {} / {}",
        split[0].0, split[1].0, split[0].1, split[1].1
    );
    assert_eq!(
        split[0].1 + split[1].1,
        DOMAINS as u64,
        "each certificate ordered once"
    );
    pool.close().await;
    for w in &mut workers {
        assert!(w.terminate(Duration::from_secs(20)).success());
    }
    assert!(api.terminate(Duration::from_secs(20)).success());
    db.drop_database().await;
}

/// Runs the futures concurrently and returns their outputs in order.
async fn futures_join<F>(futures: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}
