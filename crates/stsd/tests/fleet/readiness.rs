//! Each role as its own process: `/readyz` on the metrics listener while PostgreSQL is up and
//! while it is stopped (always within a second; serving roles stay ready, the API and the
//! worker do not), recovery without a restart, and SIGTERM ending each role with status 0.

use std::time::{Duration, Instant};

use stsd_testkit::PostgresServer;

use crate::process::{Role, http_get, run};

#[test]
fn every_role_reports_readiness_within_a_second_through_an_outage() {
    let pg = PostgresServer::start().unwrap();
    let url = pg.url();
    let root = tempfile::tempdir().unwrap();
    run(&root.path().join("migrate"), &url, &["migrate"]);
    let mut roles: Vec<Role> = ["api", "worker", "edge", "dns", "smtp"]
        .iter()
        .map(|r| Role::start(root.path(), r, &url, &[r]))
        .collect();
    for role in &mut roles {
        let body = role.wait_ready(200, Duration::from_secs(30));
        assert!(
            body.contains(&format!("\"{}\":\"ready\"", role.name)),
            "{}: {body}",
            role.name
        );
        // Only its own role: `stsd edge` runs no DNS since roles are separate.
        assert!(
            !["api", "worker", "edge", "dns", "smtp"]
                .iter()
                .filter(|r| **r != role.name)
                .any(|r| body.contains(&format!("\"{r}\":"))),
            "{}: {body}",
            role.name
        );
        let (status, metrics) = role.ops("/metrics").unwrap();
        assert_eq!(status, 200);
        assert!(metrics.contains("stsd_store_up 1"), "{metrics}");
    }
    // The public API port answers too, and serves no metrics.
    let api_port = roles[0].ports.api;
    let (status, _) = http_get(api_port, "/readyz", Duration::from_secs(3)).unwrap();
    assert_eq!(status, 200);

    pg.stop().unwrap();
    // Every probe answers within a second; serving roles stay ready, the others are not,
    // once the store's health ping has seen the outage (every 2 s).
    std::thread::sleep(Duration::from_secs(3));
    for role in &roles {
        let start = Instant::now();
        let (status, body) = role.ops("/readyz").expect("an answer");
        let took = start.elapsed();
        assert!(took < Duration::from_secs(1), "{} took {took:?}", role.name);
        let serving = matches!(role.name.as_str(), "edge" | "dns" | "smtp");
        assert_eq!(
            status,
            if serving { 200 } else { 503 },
            "{}: {body}",
            role.name
        );
        assert!(body.contains("\"store\":\"down\""), "{}: {body}", role.name);
    }
    let start = Instant::now();
    let (status, _) = http_get(api_port, "/readyz", Duration::from_secs(3)).unwrap();
    assert_eq!(status, 503);
    assert!(start.elapsed() < Duration::from_secs(1));

    // An edge restarted during the outage serves from its local copy within seconds.
    let edge = roles.iter().position(|r| r.name == "edge").unwrap();
    let ports = roles[edge].ports;
    assert!(roles[edge].terminate(Duration::from_secs(20)).success());
    let restarted = Instant::now();
    roles[edge] = Role::start_with(root.path(), "edge", &url, &["edge"], ports);
    let body = roles[edge].wait_ready(200, Duration::from_secs(5));
    assert!(restarted.elapsed() < Duration::from_secs(5));
    assert!(body.contains("\"from_copy\":true"), "{body}");
    assert!(body.contains("\"stale\":true"), "{body}");
    // A new edge with no copy and no store says so and exits.
    let mut fresh = Role::start(root.path(), "fresh-edge", &url, &["edge"]);
    let status = fresh.wait_exit(Duration::from_secs(20));
    assert!(!status.success());
    assert!(fresh.log().contains("no local copy"), "{}", fresh.log());

    // Back without restarting anything.
    pg.resume().unwrap();
    for role in &mut roles {
        role.wait_ready(200, Duration::from_secs(15));
        let start = Instant::now();
        loop {
            let (_, body) = role.ops("/readyz").unwrap();
            // Store up, and a snapshot in step with it again (the restarted edge's too).
            if body.contains("\"store\":\"up\"") && !body.contains("\"stale\":true") {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(15),
                "{}: {body}",
                role.name
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    // SIGTERM: each stops in order and exits 0.
    for role in &mut roles {
        let status = role.terminate(Duration::from_secs(20));
        assert!(
            status.success(),
            "{} exited with {status}:\n{}",
            role.name,
            role.log()
        );
        assert!(role.log().contains("stopped"), "{}", role.log());
    }
}
