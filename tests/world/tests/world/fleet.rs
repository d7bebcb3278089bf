//! The fleet walk (issue 13): stsd as separate role processes on one PostgreSQL cluster that
//! the test owns — `stsd api`, two `stsd worker`, two `stsd edge` (each on a loopback address
//! of its own, ports 443 and the HTTP-01 port), one `stsd dns`, one `stsd smtp` — with Pebble
//! as the CA, Unbound as the resolver and a fake customer DNS.
//!
//! The walk: sign-up and 20 domains registered through the API; a worker SIGKILLed while it
//! holds a certificate order, the other finishing it after the lease; all 20 `active` with
//! Pebble certificates that both edges serve with identical policy bytes; an edit visible on
//! both edges within 1 s and its id in DNS only once both serve it; PostgreSQL stopped for
//! 30 s while both edges and the DNS answer every request (one edge restarted meanwhile serves
//! from its local copy within 5 s) and each role's `/readyz` answers within 1 s; PostgreSQL
//! back and an edit on both edges within 10 s, no process restarted; SIGTERM stops each role
//! with status 0.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use stsd_testkit::{FakeDns, PebbleOptions, PebbleServer, PostgresServer};

use crate::dns;
use crate::process::{free_local_port, free_port, tail, world_address};
use crate::stsd::{Api, MASTER_KEY, ZONE, binary, signup};
use crate::tls::fetch_policy;
use crate::unbound::Unbound;

/// The customer's zone (a stub zone of the resolver, held by the fake customer DNS).
const CUSTOMER: &str = "example.test";
const DOMAINS: usize = 20;
/// The whole walk.
const WALK: Duration = Duration::from_secs(480);

/// One role process; killed when dropped (its log tail printed when the test fails).
struct Node {
    name: String,
    env: Vec<(String, String)>,
    args: Vec<String>,
    dir: PathBuf,
    metrics: u16,
    child: Option<Child>,
    /// Process ids this node has had: a restart adds one.
    pids: Vec<u32>,
}

impl Node {
    fn start(name: &str, args: &[&str], env: Vec<(String, String)>, root: &Path) -> Node {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let mut node = Node {
            name: name.to_owned(),
            env,
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            dir,
            metrics: free_local_port(),
            child: None,
            pids: Vec::new(),
        };
        node.spawn();
        node
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join("stsd.log")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .unwrap();
        let mut cmd = Command::new(binary());
        for (k, _) in std::env::vars() {
            if k.starts_with("STSD_") {
                cmd.env_remove(k);
            }
        }
        cmd.args(&self.args)
            .current_dir(&self.dir)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("STSD_DATA_DIR", self.dir.join("data"))
            .env("STSD_METRICS_LISTEN", format!("127.0.0.1:{}", self.metrics))
            .env("NO_COLOR", "1")
            .env("RUST_LOG", "info,sqlx=warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        let child = cmd.spawn().unwrap();
        self.pids.push(child.id());
        self.child = Some(child);
    }

    fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    fn assert_running(&mut self) {
        assert!(
            self.running(),
            "{} exited; its log:\n{}",
            self.name,
            tail(&self.log_path(), 60)
        );
    }

    /// `/readyz` on the metrics listener: status, body and how long the answer took.
    fn readyz(&self) -> Option<(u16, String, Duration)> {
        let start = Instant::now();
        let (status, body) = http_get(self.metrics, "/readyz")?;
        Some((status, body, start.elapsed()))
    }

    async fn wait_ready(&mut self) {
        let start = Instant::now();
        loop {
            self.assert_running();
            if matches!(self.readyz(), Some((200, _, _))) {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "{} never became ready:\n{}",
                self.name,
                tail(&self.log_path(), 40)
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().unwrap().id();
        let ok = Command::new("kill")
            .args([signal, &pid.to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
    }

    async fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                self.child = None;
                return status;
            }
            assert!(start.elapsed() < limit, "{} did not stop", self.name);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn terminate(&mut self) -> ExitStatus {
        self.signal("-TERM");
        self.wait_exit(Duration::from_secs(30)).await
    }

    async fn sigkill(&mut self) {
        self.signal("-KILL");
        self.wait_exit(Duration::from_secs(10)).await;
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!(
                "----- last lines of {} -----\n{}",
                self.name,
                tail(&self.log_path(), 30)
            );
        }
    }
}

/// A minimal HTTP/1.1 GET on 127.0.0.1 with a 3 s bound: status and body.
fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let limit = Duration::from_secs(3);
    let mut s = std::net::TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), limit).ok()?;
    s.set_read_timeout(Some(limit)).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n"
    )
    .ok()?;
    let mut raw = String::new();
    s.read_to_string(&mut raw).ok()?;
    let status = raw.get(9..12)?.parse().ok()?;
    Some((status, raw.split_once("\r\n\r\n")?.1.to_owned()))
}

/// A port free on every address in `ips` (the edges' HTTP-01 port: Pebble connects to the
/// same port at whichever edge address DNS gives).
fn port_free_on(ips: &[Ipv4Addr]) -> u16 {
    loop {
        let port = free_port(ips[0]);
        if ips[1..]
            .iter()
            .all(|ip| TcpListener::bind((*ip, port)).is_ok())
        {
            return port;
        }
    }
}

struct Domain {
    name: String,
    label: String,
}

impl Domain {
    fn host(&self) -> String {
        format!("mta-sts.{}", self.name)
    }
}

/// Polls `f` every 100 ms until it is true; fails after `limit`.
async fn wait_until<F, Fut>(what: &str, limit: Duration, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !f().await {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The `v=STSv1` record stsd's DNS serves for a label, if any.
async fn policy_txt(server: SocketAddr, label: &str) -> Option<Vec<String>> {
    dns::txt(server, &format!("{label}.policy.{ZONE}.")).await
}

async fn edit(api: &Api, domain: &Domain, mx: &str) -> Value {
    api.expect(
        Method::PUT,
        &format!("/domains/{}/policy", domain.name),
        Some(json!({ "mode": "testing", "mx": [mx], "max_age": 604800 })),
        201,
    )
    .await["version"]
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fleet_walk() {
    rustls::crypto::aws_lc_rs::default_provider()
        .install_default()
        .ok();
    tokio::task::spawn_blocking(binary).await.unwrap();
    let started = Instant::now();
    let outcome = tokio::time::timeout(WALK, walk()).await;
    assert!(outcome.is_ok(), "the fleet walk took longer than {WALK:?}");
    eprintln!("the fleet walk took {:?}", started.elapsed());
}

#[allow(
    clippy::too_many_lines,
    reason = "one walk, step by step, as the issue tells it"
)]
async fn walk() {
    let pg = tokio::task::spawn_blocking(PostgresServer::start)
        .await
        .unwrap()
        .unwrap();
    let url = pg.url();
    let root = tempfile::tempdir().unwrap();
    let customer = FakeDns::start().await.unwrap();
    customer.set_a(&format!("mx.{CUSTOMER}"), &[Ipv4Addr::LOCALHOST]);
    let edge_ips = [world_address(), world_address()];
    assert_ne!(edge_ips[0], edge_ips[1]);
    let http_port = port_free_on(&edge_ips);
    let dns_addr = SocketAddr::from((Ipv4Addr::LOCALHOST, free_local_port()));
    let unbound = Unbound::start(
        edge_ips[0],
        &[(CUSTOMER, customer.addr()), (ZONE, dns_addr)],
        root.path(),
    )
    .await;
    let pebble = PebbleServer::start(PebbleOptions::new(unbound.addr, http_port))
        .await
        .unwrap();
    let root_pem = pebble.issuing_root().await.unwrap();

    let common: Vec<(String, String)> = [
        ("STSD_DATABASE_URL", url.clone()),
        ("STSD_SERVICE_ZONE", ZONE.to_owned()),
        ("STSD_MASTER_KEY", MASTER_KEY.to_owned()),
        (
            "STSD_EDGE_ADDRESSES",
            format!("{},{}", edge_ips[0], edge_ips[1]),
        ),
        ("STSD_RESOLVERS", unbound.addr.to_string()),
        ("STSD_ACME_DIRECTORY", pebble.directory().to_owned()),
        (
            "STSD_ACME_CA_ROOTS",
            pebble.listener_root_path().display().to_string(),
        ),
        ("STSD_ACME_CONTACT", "ops@example.test".to_owned()),
        // A dead worker's order is taken over after this.
        ("STSD_WORKER_LEASE_SECONDS", "10".to_owned()),
        ("STSD_WEBHOOKS_ALLOW_PRIVATE", "true".to_owned()),
        ("STSD_MX_PROBE_ALLOW_PRIVATE", "true".to_owned()),
        // The walk polls one name every 20 ms from one address: more than RRL lets through.
        ("STSD_DNS_RRL_RATE", "100000".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let with = |extra: &[(&str, String)]| {
        let mut env = common.clone();
        env.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
        env
    };
    let migrate = Command::new(binary())
        .arg("migrate")
        .env_clear()
        .envs(common.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("STSD_DATA_DIR", root.path().join("migrate"))
        .output()
        .unwrap();
    assert!(
        migrate.status.success(),
        "{}",
        String::from_utf8_lossy(&migrate.stderr)
    );

    let api_addr = SocketAddr::from((Ipv4Addr::LOCALHOST, free_local_port()));
    let smtp_port = free_local_port();
    let mut api = Node::start(
        "api",
        &["api"],
        with(&[("STSD_API_LISTEN", api_addr.to_string())]),
        root.path(),
    );
    let mut workers = [
        Node::start("worker-a", &["worker"], with(&[]), root.path()),
        Node::start("worker-b", &["worker"], with(&[]), root.path()),
    ];
    let edge_env = |ip: Ipv4Addr| {
        with(&[
            ("STSD_EDGE_HTTPS_LISTEN", format!("{ip}:443")),
            ("STSD_EDGE_HTTP_LISTEN", format!("{ip}:{http_port}")),
        ])
    };
    let mut edges = [
        Node::start("edge-a", &["edge"], edge_env(edge_ips[0]), root.path()),
        Node::start("edge-b", &["edge"], edge_env(edge_ips[1]), root.path()),
    ];
    let mut dns_node = Node::start(
        "dns",
        &["dns"],
        with(&[("STSD_DNS_LISTEN", dns_addr.to_string())]),
        root.path(),
    );
    let mut smtp = Node::start(
        "smtp",
        &["smtp"],
        with(&[("STSD_SMTP_LISTEN", format!("127.0.0.1:{smtp_port}"))]),
        root.path(),
    );
    for node in [&mut api, &mut dns_node, &mut smtp]
        .into_iter()
        .chain(workers.iter_mut())
        .chain(edges.iter_mut())
    {
        node.wait_ready().await;
    }
    let edge_https = [
        SocketAddr::from((edge_ips[0], 443)),
        SocketAddr::from((edge_ips[1], 443)),
    ];

    // Sign up and register 20 domains through the API; the customer publishes their records.
    let client = signup(api_addr, "ops@example.test").await;
    let mut domains = Vec::new();
    for i in 0..DOMAINS {
        let name = format!("d{i:02}.{CUSTOMER}");
        customer.set_mx(&name, &[(10, &format!("mx.{CUSTOMER}"))]);
        let added = client
            .expect(Method::POST, "/domains", Some(json!({ "name": name })), 201)
            .await;
        let shown = client
            .expect(Method::GET, &format!("/domains/{name}/records"), None, 200)
            .await;
        for r in shown["records"].as_array().unwrap() {
            customer.set_cname(r["name"].as_str().unwrap(), r["value"].as_str().unwrap());
        }
        domains.push(Domain {
            name,
            label: added["label"].as_str().unwrap().to_owned(),
        });
    }
    let db = sqlx::PgPool::connect(&url).await.unwrap();
    for d in &domains {
        // The checks verify it now instead of at the verifier's next round.
        client
            .expect(
                Method::POST,
                &format!("/domains/{}/checks", d.name),
                None,
                200,
            )
            .await;
    }

    // A worker dies holding a certificate order: SIGKILL the owner of the first leased one.
    let (owner, subject): (String, String) = {
        let start = Instant::now();
        loop {
            let row: Option<(String, String)> = sqlx::query_as(
                "SELECT lease_owner, subject FROM jobs
                 WHERE kind = 'cert' AND lease_owner IS NOT NULL LIMIT 1",
            )
            .fetch_optional(&db)
            .await
            .unwrap();
            if let Some(row) = row {
                break row;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "no certificate order was ever leased"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let victim = workers
        .iter()
        .position(|w| w.log().contains(&format!("owner={owner}")))
        .unwrap_or_else(|| panic!("no worker logged owner={owner}"));
    workers[victim].sigkill().await;
    eprintln!(
        "SIGKILLed {} while it held the certificate order of {subject}",
        workers[victim].name
    );

    // Every domain becomes active, the killed worker's included (after its lease).
    wait_until("all 20 domains active", Duration::from_secs(180), || {
        let client = &client;
        let domains = &domains;
        async move {
            for d in domains {
                if client.state(&d.name).await != "active" {
                    return false;
                }
            }
            true
        }
    })
    .await;
    let certificates: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM certificates WHERE domain_id = $1")
            .bind(&subject)
            .fetch_one(&db)
            .await
            .unwrap();
    assert_eq!(certificates, 1, "one certificate for the interrupted order");
    let survivor = 1 - victim;
    let name: String = sqlx::query_scalar("SELECT name FROM domains WHERE id = $1")
        .bind(&subject)
        .fetch_one(&db)
        .await
        .unwrap();
    assert!(
        workers[survivor]
            .log()
            .lines()
            .any(|l| l.contains("certificate issued") && l.contains(&format!("domain={name}"))),
        "the other worker finished {name}:\n{}",
        tail(&workers[survivor].log_path(), 40)
    );

    // Both edges serve every domain with identical bytes, chains verified against Pebble.
    for d in &domains {
        let mut bodies = Vec::new();
        for edge in edge_https {
            let mut body = None;
            for _ in 0..100 {
                body = fetch_policy(edge, &d.host(), &root_pem).await;
                if body.is_some() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            bodies.push(body.unwrap_or_else(|| panic!("{edge} does not serve {}", d.host())));
        }
        assert_eq!(bodies[0], bodies[1], "{}", d.name);
        assert!(bodies[0].starts_with("version: STSv1\r\n"));
    }

    // An edit reaches both edges within a second, and DNS announces its id only once both
    // serve it.
    let d = &domains[0];
    let old_id = policy_txt(dns_addr, &d.label).await.unwrap();
    let version = edit(&client, d, &format!("*.{}", d.name)).await;
    let edited = Instant::now();
    let new_body = version["body"].as_str().unwrap().to_owned();
    let new_txt = vec![format!("v=STSv1; id={};", version["id"].as_str().unwrap())];
    let mut both_at = None;
    loop {
        let in_dns = policy_txt(dns_addr, &d.label).await.unwrap_or_default();
        let a = fetch_policy(edge_https[0], &d.host(), &root_pem).await;
        let b = fetch_policy(edge_https[1], &d.host(), &root_pem).await;
        let both = a.as_deref() == Some(new_body.as_str()) && b.as_deref() == Some(&new_body);
        if in_dns == new_txt {
            assert!(both, "DNS announced the new id before both edges served it");
            break;
        }
        assert_eq!(in_dns, old_id, "exactly the old record until the switch");
        if both && both_at.is_none() {
            both_at = Some(edited.elapsed());
        }
        assert!(
            edited.elapsed() < Duration::from_secs(30),
            "the id never switched"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let both_at = both_at.unwrap_or_else(|| edited.elapsed());
    eprintln!(
        "edit on both edges after {both_at:?}; its id in DNS after {:?}",
        edited.elapsed()
    );
    assert!(
        both_at < Duration::from_secs(1),
        "edit on both edges took {both_at:?}"
    );

    // PostgreSQL goes away for 30 s.
    let pids: Vec<Vec<u32>> = [&api, &dns_node, &smtp]
        .into_iter()
        .chain(edges.iter())
        .map(|n| n.pids.clone())
        .collect();
    pg.stop().unwrap();
    let outage = Instant::now();
    tokio::time::sleep(Duration::from_secs(3)).await;
    // Readiness: within a second each; serving roles ready, API and worker not.
    for (node, want) in [
        (&api, 503),
        (&workers[survivor], 503),
        (&dns_node, 200),
        (&smtp, 200),
    ]
    .into_iter()
    .chain(edges.iter().map(|e| (e, 200)))
    {
        let (status, body, took) = node.readyz().expect("an answer");
        assert!(took < Duration::from_secs(1), "{} took {took:?}", node.name);
        assert_eq!(status, want, "{}: {body}", node.name);
    }
    let (status, _) = http_get(api_addr.port(), "/readyz").unwrap();
    assert_eq!(status, 503);
    let mut answered = [0u32; 3];
    let mut asked = [0u32; 3];
    let mut restarted_in = None;
    let mut restart_window: Option<(Instant, Instant)> = None;
    let mut i = 0;
    while outage.elapsed() < Duration::from_secs(30) {
        let d = &domains[i % DOMAINS];
        i += 1;
        // At 8 s, edge-b is restarted: it must serve from its local copy within 5 s.
        if restarted_in.is_none()
            && restart_window.is_none()
            && outage.elapsed() > Duration::from_secs(8)
        {
            let status = edges[1].terminate().await;
            assert!(status.success(), "{}", edges[1].log());
            edges[1].spawn();
            restart_window = Some((Instant::now(), Instant::now()));
        }
        for (k, edge) in edge_https.iter().enumerate() {
            if k == 1
                && let Some((since, _)) = restart_window
                && restarted_in.is_none()
            {
                if fetch_policy(*edge, &d.host(), &root_pem).await.is_some() {
                    let took = since.elapsed();
                    restarted_in = Some(took);
                    restart_window = Some((since, Instant::now()));
                } else {
                    assert!(
                        since.elapsed() < Duration::from_secs(5),
                        "the restarted edge did not serve from its copy within 5 s:\n{}",
                        tail(&edges[1].log_path(), 30)
                    );
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                continue;
            }
            asked[k] += 1;
            if fetch_policy(*edge, &d.host(), &root_pem).await.is_some() {
                answered[k] += 1;
            }
        }
        asked[2] += 1;
        if policy_txt(dns_addr, &d.label)
            .await
            .is_some_and(|t| t.len() == 1)
        {
            answered[2] += 1;
        }
    }
    eprintln!(
        "during 30 s without PostgreSQL: edge-a {}/{}, edge-b {}/{} (restarted, serving again \
         after {restarted_in:?}), DNS {}/{}",
        answered[0], asked[0], answered[1], asked[1], answered[2], asked[2]
    );
    assert_eq!(answered, asked, "every request answered during the outage");
    assert!(asked.iter().all(|n| *n > 50), "{asked:?}");
    assert!(restarted_in.is_some(), "edge-b was never restarted");
    let (_, body, _) = edges[1].readyz().unwrap();
    assert!(body.contains("\"from_copy\":true"), "{body}");

    // PostgreSQL is back: an edit reaches both edges within 10 s, nothing restarted.
    pg.resume().unwrap();
    let back = Instant::now();
    let d = &domains[1];
    let version = loop {
        let (status, v) = client
            .call(
                Method::PUT,
                &format!("/domains/{}/policy", d.name),
                Some(json!({ "mode": "testing", "mx": [format!("*.{}", d.name)], "max_age": 604800 })),
            )
            .await;
        if status == 201 {
            break v["version"].clone();
        }
        assert!(
            back.elapsed() < Duration::from_secs(20),
            "the API never came back: {v}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let accepted = Instant::now();
    let new_body = version["body"].as_str().unwrap().to_owned();
    wait_until(
        "the edit after the outage on both edges",
        Duration::from_secs(10),
        || {
            let (host, root_pem, new_body) = (d.host(), &root_pem, &new_body);
            async move {
                let mut ok = true;
                for edge in edge_https {
                    ok &= fetch_policy(edge, &host, root_pem).await.as_deref() == Some(new_body);
                }
                ok
            }
        },
    )
    .await;
    eprintln!(
        "after the outage: API answering {:?} after PostgreSQL started, the edit on both edges {:?} later",
        accepted - back,
        accepted.elapsed()
    );
    let now_pids: Vec<Vec<u32>> = [&api, &dns_node, &smtp]
        .into_iter()
        .chain(edges.iter())
        .map(|n| n.pids.clone())
        .collect();
    // Only edge-b's deliberate restart added a process.
    assert_eq!(now_pids[..4], pids[..4]);
    assert_eq!(now_pids[4].len(), pids[4].len() + 1);

    // SIGTERM: every role stops with status 0.
    for node in [&mut api, &mut dns_node, &mut smtp, &mut workers[survivor]]
        .into_iter()
        .chain(edges.iter_mut())
    {
        node.assert_running();
        let status = node.terminate().await;
        assert!(
            status.success(),
            "{} exited with {status}:\n{}",
            node.name,
            node.log()
        );
    }
    drop(pebble);
    drop(unbound);
}
