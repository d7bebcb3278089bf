//! The service zone as a delegation checker and a real secondary see it: Zonemaster against
//! two `stsd dns` processes on 127.0.0.1 and 127.0.0.2 port 53, and Knot transferring the
//! zone from `stsd serve` with TSIG, following a policy edit through NOTIFY. Queries and
//! transfers are made with Knot's `kdig`, a client stsd shares no code with.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use stsd_testkit::{FakeDns, TestDatabase};

use crate::customer::Customer;
use crate::process::{Ports, Role, ZONE, free_port, run};

const SECRET: &str = "q8tJ0Qe5m3b0z6cXn1Q2ZfUuV7yWkPq4r9sT2vXy8aE=";

/// Runs `kdig` with `args`; its success and what it printed.
fn kdig(args: &[&str]) -> (bool, String) {
    let out = Command::new("kdig")
        .args(args)
        .args(["+time=2", "+retry=1"])
        .stdin(Stdio::null())
        .output()
        .expect("kdig (Debian knot-dnsutils, installed by scripts/deps.sh)");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success() && !text.contains(";; ERROR"), text)
}

/// The short answer for `name` `rtype` from the server at `port` on 127.0.0.1, sorted.
fn short(port: u16, name: &str, rtype: &str) -> Vec<String> {
    let (_, text) = kdig(&["@127.0.0.1", "-p", &port.to_string(), rtype, name, "+short"]);
    let mut lines: Vec<String> = text
        .lines()
        .filter(|l| !l.starts_with(";;") && !l.trim().is_empty())
        .map(str::to_owned)
        .collect();
    lines.sort();
    lines
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zonemaster_accepts_two_name_servers() {
    assert!(
        is_root(),
        "this test serves DNS on port 53 of 127.0.0.1 and 127.0.0.2: run it as root (CI does)"
    );
    let db = TestDatabase::postgres().await;
    let url = db.url().to_owned();
    let root = tempfile::tempdir().unwrap();
    {
        let (root, url) = (root.path().join("migrate"), url.clone());
        tokio::task::spawn_blocking(move || run(&root, &url, &["migrate"]))
            .await
            .unwrap();
    }
    let nameservers = format!("ns1.{ZONE}@127.0.0.1,ns2.{ZONE}@127.0.0.2");
    let mut nodes = Vec::new();
    for (name, ip) in [("dns-1", "127.0.0.1"), ("dns-2", "127.0.0.2")] {
        let (root, url, nameservers) = (root.path().to_owned(), url.clone(), nameservers.clone());
        let listen = format!("{ip}:53");
        nodes.push(
            tokio::task::spawn_blocking(move || {
                Role::start_env(
                    &root,
                    name,
                    &url,
                    &["dns"],
                    &[
                        ("STSD_DNS_LISTEN", &listen),
                        ("STSD_DNS_NAMESERVERS", &nameservers),
                    ],
                )
            })
            .await
            .unwrap(),
        );
    }
    for node in &mut nodes {
        node.wait_ready(200, Duration::from_secs(30));
    }
    let out = tokio::task::spawn_blocking(|| {
        Command::new("zonemaster-cli")
            .args([
                "--ns",
                &format!("ns1.{ZONE}/127.0.0.1"),
                "--ns",
                &format!("ns2.{ZONE}/127.0.0.2"),
                "--no-ipv6",
                "--level",
                "WARNING",
                "--show-testcase",
                "--no-progress",
                ZONE,
            ])
            .stdin(Stdio::null())
            .output()
            .expect("zonemaster-cli (Debian zonemaster-cli, installed by scripts/deps.sh)")
    })
    .await
    .unwrap();
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    eprintln!("{report}");
    assert!(
        out.status.success(),
        "{report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Loopback addresses (ADDRESS01, ZONE01 "resolves to a localhost IP address") and the
    // PTRs nobody can give 127.0.0.x (ADDRESS02) are what a test on one machine must have.
    let findings: Vec<&str> = report
        .lines()
        .filter(|l| l.contains("WARNING") || l.contains("ERROR") || l.contains("CRITICAL"))
        .filter(|l| !l.contains("Loopback") && !l.contains("localhost IP address"))
        .filter(|l| !l.contains("without PTR"))
        .collect();
    assert!(
        findings.is_empty(),
        "Zonemaster found problems:\n{}",
        findings.join("\n")
    );
    assert!(
        report.contains("ADDRESS01"),
        "the report lists its test cases (the loopback finding is expected): {report}"
    );
    for node in &mut nodes {
        assert!(node.terminate(Duration::from_secs(20)).success());
    }
    db.drop_database().await;
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Knot as a secondary: started with a key and stsd as its primary.
struct Knot {
    child: std::process::Child,
    port: u16,
    log: std::path::PathBuf,
}

impl Knot {
    fn start(dir: &std::path::Path, primary_port: u16) -> Knot {
        let port = free_port();
        std::fs::create_dir_all(dir).unwrap();
        let conf = dir.join("knot.conf");
        let d = dir.display();
        std::fs::write(
            &conf,
            format!(
                "server:\n    rundir: \"{d}\"\n    listen: 127.0.0.1@{port}\n\
                 key:\n  - id: xfr\n    algorithm: hmac-sha256\n    secret: {SECRET}\n\
                 remote:\n  - id: stsd\n    address: 127.0.0.1@{primary_port}\n    key: xfr\n\
                 acl:\n  - id: from_stsd\n    address: 127.0.0.1\n    key: xfr\n    action: notify\n\
                 template:\n  - id: default\n    storage: \"{d}\"\n    zonefile-sync: -1\n    zonefile-load: none\n    journal-content: none\n\
                 zone:\n  - domain: {ZONE}\n    master: stsd\n    acl: from_stsd\n\
                 log:\n  - target: stderr\n    any: info\n"
            ),
        )
        .unwrap();
        let log = dir.join("knot.log");
        let child = Command::new("knotd")
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("knotd (Debian knot, installed by scripts/deps.sh)");
        Knot { child, port, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Knot {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `f` every 50 ms until it is true; panics with `what` after `limit`.
async fn until(
    what: &str,
    limit: Duration,
    mut f: impl FnMut() -> bool,
    context: impl Fn() -> String,
) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < limit,
            "{what} within {limit:?}\n{}",
            context()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn knot_follows_the_zone_as_a_secondary() {
    let db = TestDatabase::postgres().await;
    let url = db.url().to_owned();
    let customer = FakeDns::start().await.unwrap();
    let root = tempfile::tempdir().unwrap();
    {
        let (root, url) = (root.path().join("migrate"), url.clone());
        tokio::task::spawn_blocking(move || run(&root, &url, &["migrate"]))
            .await
            .unwrap();
    }
    let dns_port = free_port();
    let knot = Knot::start(&root.path().join("knot"), dns_port);
    let env = vec![
        ("STSD_RESOLVERS".to_owned(), customer.addr().to_string()),
        (
            "STSD_DNS_TSIG_KEYS".to_owned(),
            format!("hmac-sha256:xfr:{SECRET}"),
        ),
        (
            "STSD_DNS_SECONDARIES".to_owned(),
            format!("xfr@127.0.0.1:{}", knot.port),
        ),
    ];
    let ports = Ports {
        dns: dns_port,
        ..Ports::free()
    };
    let start = |ports: Ports| {
        let (root, url, env) = (root.path().to_owned(), url.clone(), env.clone());
        tokio::task::spawn_blocking(move || {
            let env: Vec<(&str, &str)> =
                env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let mut role = Role::start_with_env(&root, "serve", &url, &["serve"], ports, &env);
            role.wait_ready(200, Duration::from_secs(30));
            role
        })
    };
    let mut stsd = start(ports).await.unwrap();
    let knot_port = knot.port;
    let knot_log = || format!("--- knot ---\n{}", knot.log());
    let context = || format!("{}\n{}", stsd_log_tail(&stsd), knot_log());

    // The empty zone arrives by NOTIFY and transfer: Knot answers the apex.
    until(
        "Knot serving the zone",
        Duration::from_secs(15),
        || {
            short(knot_port, ZONE, "SOA") == short(dns_port, ZONE, "SOA")
                && !short(knot_port, ZONE, "SOA").is_empty()
        },
        &context,
    )
    .await;

    // A customer domain, verified and certified (local CA), with its id in the zone.
    let api = Customer::sign_up(stsd.ports.api, "ops@example.net", "Zone").await;
    let label = api
        .add_domain(&customer, "example.net", "mx.example.net")
        .await;
    api.check_now("example.net").await;

    let policy = format!("{label}.policy.{ZONE}");
    until(
        "the policy id in stsd's DNS",
        Duration::from_secs(60),
        || !short(dns_port, &policy, "TXT").is_empty(),
        &context,
    )
    .await;
    until(
        "the policy id on Knot",
        Duration::from_secs(10),
        || short(knot_port, &policy, "TXT") == short(dns_port, &policy, "TXT"),
        &context,
    )
    .await;
    // Every kind of record answers the same from both.
    for (name, rtype) in [
        (format!("{label}.edge.{ZONE}"), "A"),
        (format!("{label}.report.{ZONE}"), "TXT"),
        (format!("reports.{ZONE}"), "MX"),
        (ZONE.to_owned(), "NS"),
        (format!("ns1.{ZONE}"), "A"),
    ] {
        let (ours, theirs) = (
            short(dns_port, &name, rtype),
            short(knot_port, &name, rtype),
        );
        assert!(!ours.is_empty(), "{name} {rtype}");
        assert_eq!(ours, theirs, "{name} {rtype}");
    }

    // An edit: the new id reaches Knot within 5 s of stsd serving it.
    let first = short(dns_port, &policy, "TXT");
    let body = json!({ "mode": "testing", "mx": ["mx.example.net", "*.backup.example.net"], "max_age": 604800 });
    assert_eq!(api.put("example.net/policy", &body).await, 201);
    until(
        "the new id in stsd's DNS",
        Duration::from_secs(30),
        || short(dns_port, &policy, "TXT") != first,
        &context,
    )
    .await;
    let served = Instant::now();
    let second = short(dns_port, &policy, "TXT");
    until(
        "the new id on Knot within 5 s",
        Duration::from_secs(5),
        || short(knot_port, &policy, "TXT") == second,
        &context,
    )
    .await;
    eprintln!("Knot served the new id {:?} after stsd", served.elapsed());

    // Transfers: with the key from the secondary's address, yes; without the key, or from
    // an address that is no secondary, REFUSED.
    let port = dns_port.to_string();
    let key = format!("hmac-sha256:xfr:{SECRET}");
    let (ok, text) = kdig(&["@127.0.0.1", "-p", &port, "AXFR", ZONE, "-y", &key]);
    assert!(ok, "{text}");
    assert!(text.contains(&format!("{label}.policy.{ZONE}.")), "{text}");
    let (ok, text) = kdig(&["@127.0.0.1", "-p", &port, "AXFR", ZONE]);
    assert!(!ok && text.contains("REFUSED"), "{text}");
    let (ok, text) = kdig(&[
        "@127.0.0.1",
        "-p",
        &port,
        "-b",
        "127.0.0.2",
        "AXFR",
        ZONE,
        "-y",
        &key,
    ]);
    assert!(!ok && text.contains("REFUSED"), "{text}");
    let wrong = "hmac-sha256:xfr:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    let (ok, text) = kdig(&["@127.0.0.1", "-p", &port, "AXFR", ZONE, "-y", wrong]);
    assert!(!ok && text.contains("BADSIG"), "{text}");
    let log = stsd.log();
    assert!(log.contains("zone transferred"), "{log}");
    assert!(!log.contains(SECRET), "the key's secret is never logged");

    // A restart never takes the serial back (both its parts come from the store's change
    // feed; a restarted node may add changes of its own, such as a service certificate), and
    // the next edit moves it forward; Knot follows.
    let before = serial(dns_port);
    assert!(before > 0);
    assert!(stsd.terminate(Duration::from_secs(20)).success());
    let mut stsd = start(stsd.ports).await.unwrap();
    until(
        "the serial at least where it was",
        Duration::from_secs(10),
        || serial(dns_port) >= before,
        || format!("{}\n{}", stsd_log_tail(&stsd), knot_log()),
    )
    .await;
    let body = json!({ "mode": "testing", "mx": ["mx.example.net"], "max_age": 1209600 });
    assert_eq!(api.put("example.net/policy", &body).await, 201);
    until(
        "a newer serial on Knot",
        Duration::from_secs(30),
        || {
            let (ours, theirs) = (serial(dns_port), serial(knot_port));
            ours > before && theirs == ours
        },
        || format!("{}\n{}", stsd_log_tail(&stsd), knot_log()),
    )
    .await;
    assert_eq!(
        short(knot_port, &policy, "TXT"),
        short(dns_port, &policy, "TXT")
    );

    drop(knot);
    assert!(stsd.terminate(Duration::from_secs(20)).success());
    db.drop_database().await;
}

/// The SOA serial the server at `port` answers (0 when it answers none).
fn serial(port: u16) -> u64 {
    short(port, ZONE, "SOA")
        .first()
        .and_then(|soa| soa.split_whitespace().nth(2).map(str::to_owned))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn stsd_log_tail(role: &Role) -> String {
    let log = role.log();
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}
