//! A certificate worker SIGKILLed in the middle of an order against a real ACME server
//! (Pebble): worker A places the order and publishes the HTTP-01 challenge, and is killed
//! while it waits for the edges to serve it (no edge runs yet, so it waits the fixed delay);
//! then the edge and worker B start, B takes the job over when A's lease runs out, and the
//! domain gets its certificate from Pebble — one certificate, issued by B — and B's
//! certificate gauges show its expiry with nothing failing.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use stsd_testkit::{FakeDns, PebbleOptions, PebbleServer, TestDatabase};

use crate::customer::Customer;
use crate::process::{Ports, Role, ZONE, run};

/// A's lease: B may take the job over this long after A last renewed it.
const LEASE_SECONDS: &str = "5";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_order_is_taken_over() {
    let db = TestDatabase::postgres().await;
    let url = db.url().to_owned();
    let dns = FakeDns::start().await.unwrap();
    let root = tempfile::tempdir().unwrap();
    let edge_ports = Ports::free();
    let pebble = PebbleServer::start(PebbleOptions::new(dns.addr(), edge_ports.http))
        .await
        .unwrap();
    let env: Vec<(String, String)> = vec![
        ("STSD_RESOLVERS".into(), dns.addr().to_string()),
        ("STSD_ACME_DIRECTORY".into(), pebble.directory().to_owned()),
        (
            "STSD_ACME_CA_ROOTS".into(),
            pebble.listener_root_path().display().to_string(),
        ),
        ("STSD_ACME_CONTACT".into(), "ops@kill.test".into()),
        ("STSD_WORKER_LEASE_SECONDS".into(), LEASE_SECONDS.into()),
    ];
    let start = |name: &str, args: &[&str], ports: Option<Ports>| {
        let (root, url, env) = (root.path().to_owned(), url.clone(), env.clone());
        let name = name.to_owned();
        let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let env: Vec<(&str, &str)> =
                env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let ports = ports.unwrap_or_else(Ports::free);
            Role::start_with_env(&root, &name, &url, &args, ports, &env)
        })
    };
    {
        let (root, url) = (root.path().join("migrate"), url.clone());
        tokio::task::spawn_blocking(move || run(&root, &url, &["migrate"]))
            .await
            .unwrap();
    }
    let mut api = start("api", &["api"], None).await.unwrap();
    let mut worker_a = start("worker-a", &["worker"], None).await.unwrap();
    api.wait_ready(200, Duration::from_secs(30));
    worker_a.wait_ready(200, Duration::from_secs(30));

    // A customer whose records point at stsd; the edge name resolves to loopback for Pebble.
    let customer = Customer::sign_up(api.ports.api, "ops@kill.test", "Kill").await;
    let label = customer
        .add_domain(&dns, "kill.example", "mx.kill.example")
        .await;
    dns.set_a(&format!("{label}.edge.{ZONE}"), &[Ipv4Addr::LOCALHOST]);
    customer.check_now("kill.example").await;

    // A verifies the domain and orders; its challenge in the store means the order is placed
    // and A now waits for edges to serve it. Kill A there.
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let start_wait = Instant::now();
    loop {
        let challenges: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM acme_challenges")
            .fetch_one(&pool)
            .await
            .unwrap();
        if challenges > 0 {
            break;
        }
        assert!(
            start_wait.elapsed() < Duration::from_secs(60),
            "worker A never published a challenge:\n{}",
            worker_a.log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    worker_a.kill();
    let killed_at = Instant::now();
    let certificates = || async {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM certificates")
            .fetch_one(&pool)
            .await
            .unwrap()
    };
    assert_eq!(certificates().await, 0, "A finished before it was killed");
    assert!(
        !worker_a.log().contains("certificate issued"),
        "{}",
        worker_a.log()
    );

    // The edge (on the port Pebble validates against) and worker B.
    let mut edge = start("edge", &["edge"], Some(edge_ports)).await.unwrap();
    edge.wait_ready(200, Duration::from_secs(30));
    let mut worker_b = start("worker-b", &["worker"], None).await.unwrap();
    worker_b.wait_ready(200, Duration::from_secs(30));
    loop {
        let active: Option<String> =
            sqlx::query_scalar("SELECT state FROM domains WHERE name = 'kill.example'")
                .fetch_optional(&pool)
                .await
                .unwrap();
        if active.as_deref() == Some("active") {
            break;
        }
        assert!(
            killed_at.elapsed() < Duration::from_secs(120),
            "kill.example is {active:?}\nworker B:\n{}\nedge:\n{}",
            worker_b.log(),
            edge.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(certificates().await, 1, "one certificate");
    assert!(
        worker_b.log().contains("certificate issued"),
        "{}",
        worker_b.log()
    );
    // Pebble issued it.
    let cert = customer.get("kill.example/certificate").await;
    let issuer = cert["current"]["issuer"].as_str().unwrap_or_default();
    assert!(issuer.contains("Pebble"), "{cert}");
    let (_, metrics) = worker_b.ops("/metrics").unwrap();
    assert!(
        metrics.contains("stsd_worker_jobs_total{kind=\"cert\",outcome=\"finished\"} 1"),
        "{metrics}"
    );
    // The worker's certificate gauges follow within their 15 s period: the soonest expiry is
    // the new certificate's, nothing failing.
    let gauge = |metrics: &str, name: &str| -> Option<i64> {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .and_then(|v| v.trim().parse().ok())
    };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let watched = Instant::now();
    loop {
        let (_, metrics) = worker_b.ops("/metrics").unwrap();
        let expiry = gauge(
            &metrics,
            "stsd_certificate_earliest_expiry_timestamp_seconds",
        );
        if expiry.is_some_and(|t| t > now) {
            assert_eq!(
                gauge(&metrics, "stsd_certificate_renewals_failing"),
                Some(0)
            );
            assert_eq!(gauge(&metrics, "stsd_certificate_orders_failing"), Some(0));
            break;
        }
        assert!(
            watched.elapsed() < Duration::from_secs(40),
            "no expiry gauge: {metrics}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    pool.close().await;
    for role in [&mut worker_b, &mut edge, &mut api] {
        assert!(role.terminate(Duration::from_secs(20)).success());
    }
    db.drop_database().await;
}
