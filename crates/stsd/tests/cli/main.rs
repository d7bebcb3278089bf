//! The binary as an operator runs it: no configuration at all, then PostgreSQL.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers: a panic is a failed test with its location"
)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use sqlx::{Connection, Executor};

fn stsd(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_stsd"));
    cmd.current_dir(dir);
    // The test must see what a fresh machine sees: no STSD_* from the developer's shell.
    for (k, _) in std::env::vars() {
        if k.starts_with("STSD_") {
            cmd.env_remove(k);
        }
    }
    cmd
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

use stsd_testkit::free_port;

fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    let status = buf.split(' ').nth(1)?.parse().ok()?;
    let body = buf.split_once("\r\n\r\n")?.1.to_owned();
    Some((status, body))
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `stsd serve` and waits until `/readyz` answers 200.
fn serve(cmd: Command, port: u16) -> Server {
    serve_with_metrics(cmd, port, free_port())
}

/// Like [`serve`] with the metrics listener on `metrics`.
fn serve_with_metrics(mut cmd: Command, port: u16, metrics: u16) -> Server {
    let child = cmd
        .arg("serve")
        .env("STSD_API_LISTEN", format!("127.0.0.1:{port}"))
        // Every listener on a free port: tests run in parallel, and the defaults would clash.
        .env(
            "STSD_EDGE_HTTPS_LISTEN",
            format!("127.0.0.1:{}", free_port()),
        )
        .env(
            "STSD_EDGE_HTTP_LISTEN",
            format!("127.0.0.1:{}", free_port()),
        )
        .env("STSD_DNS_LISTEN", format!("127.0.0.1:{}", free_port()))
        .env("STSD_SMTP_LISTEN", format!("127.0.0.1:{}", free_port()))
        .env("STSD_METRICS_LISTEN", format!("127.0.0.1:{metrics}"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut server = Server(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some((200, body)) = get(port, "/readyz") {
            assert!(body.contains("\"ready\""), "{body}");
            return server;
        }
        if let Some(status) = server.0.try_wait().unwrap() {
            let mut err = String::new();
            server
                .0
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            panic!("stsd serve exited with {status}: {err}");
        }
        assert!(Instant::now() < deadline, "stsd serve did not become ready");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn runs_with_no_configuration() {
    let dir = tempfile::tempdir().unwrap();
    run(stsd(dir.path()).arg("migrate"));
    assert!(
        dir.path().join("data/stsd.db").is_file(),
        "SQLite file created in ./data"
    );

    let (port, metrics) = (free_port(), free_port());
    let server = serve_with_metrics(stsd(dir.path()), port, metrics);
    assert!(
        dir.path().join("data/master.key").is_file(),
        "master key generated"
    );
    let (status, body) = get(port, "/healthz").unwrap();
    assert_eq!(status, 200, "{body}");
    // The serving roles run in the same process and report their snapshot.
    let (_, body) = get(port, "/readyz").unwrap();
    assert!(body.contains("\"snapshot\":\"current\""), "{body}");
    // The metrics listener: every role's readiness, the snapshot and the API's requests;
    // the API's public port serves no metrics.
    let (status, body) = get(metrics, "/readyz").unwrap();
    assert_eq!(status, 200, "{body}");
    for role in ["api", "worker", "edge", "dns", "smtp"] {
        assert!(body.contains(&format!("\"{role}\":\"ready\"")), "{body}");
    }
    assert!(body.contains("\"stale\":false"), "{body}");
    let (status, _) = get(metrics, "/readyz?role=api").unwrap();
    assert_eq!(status, 200);
    let (status, body) = get(metrics, "/metrics").unwrap();
    assert_eq!(status, 200);
    assert!(body.contains("stsd_snapshot_stale 0"), "{body}");
    assert!(body.contains("stsd_store_up 1"), "{body}");
    assert!(body.contains("stsd_http_requests_total"), "{body}");
    assert!(
        body.contains(&format!(
            "stsd_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        )),
        "{body}"
    );
    let (_, body) = get(port, "/metrics").unwrap();
    assert!(!body.contains("stsd_http_requests_total"), "{body}");
    // Started where no dashboard is built: `/` says so and how to build it, and the log too.
    let (status, body) = get(port, "/").unwrap();
    assert_eq!(status, 404);
    assert!(body.contains("The dashboard is not built"), "{body}");
    assert!(body.contains("npm run build"), "{body}");
    let (status, body) = get(port, "/no/such/path").unwrap();
    assert_eq!(status, 404);
    assert!(body.contains("\"code\":\"not_found\""), "{body}");
    drop(server);

    // The bootstrap commands work on the same data.
    let mut create = stsd(dir.path())
        .args(["admin", "create-user", "--email", "Ops@Example.com"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    create
        .stdin
        .take()
        .unwrap()
        .write_all(b"a long enough passphrase\n")
        .unwrap();
    let out = create.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    run(stsd(dir.path()).args([
        "admin",
        "create-tenant",
        "--name",
        "Example",
        "--owner",
        "ops@example.com",
    ]));
    // Running the bootstrap again does not make a second "Example".
    let again = |extra: &[&str]| {
        stsd(dir.path())
            .args([
                "admin",
                "create-tenant",
                "--name",
                "example ",
                "--owner",
                "ops@example.com",
            ])
            .args(extra)
            .output()
            .unwrap()
    };
    let out = again(&[]);
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("already has a tenant named `Example`"),
        "{said}"
    );
    let out = again(&["--allow-duplicate"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = stsd(dir.path())
        .args([
            "admin",
            "create-tenant",
            "--name",
            "X",
            "--owner",
            "nobody@example.com",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no user with e-mail"));
}

#[test]
fn config_prints_masked_effective_values() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("stsd.toml"),
        "service_zone = \"sts.example.net\"\n",
    )
    .unwrap();
    let out = run(stsd(dir.path())
        .arg("config")
        .env(
            "STSD_DATABASE_URL",
            "postgres://stsd:topsecret@db.internal/stsd",
        )
        .env(
            "STSD_MASTER_KEY",
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        ));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("service_zone = \"sts.example.net\""),
        "{text}"
    );
    assert!(
        text.contains("postgres://stsd:***@db.internal/stsd"),
        "{text}"
    );
    assert!(
        !text.contains("topsecret") && !text.contains("AAAAAAAA"),
        "{text}"
    );
}

#[test]
fn bad_configuration_names_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let out = stsd(dir.path())
        .arg("config")
        .env("STSD_API_LISTEN", "everywhere")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("STSD_API_LISTEN"), "{err}");
    let out = stsd(dir.path())
        .arg("serve")
        .env("STSD_MASTER_KEY", "c2hvcnQ=")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("STSD_MASTER_KEY") && err.contains("32 bytes"),
        "{err}"
    );
    assert!(!err.contains("c2hvcnQ"), "the secret is not echoed: {err}");
}

#[test]
fn runs_on_postgres() {
    let admin_url = std::env::var("STSD_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let name = format!("stsd_cli_{}", std::process::id());
    rt.block_on(async {
        let mut c = sqlx::PgConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL is required at {admin_url}: {e}"));
        c.execute(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name}"
        )))
        .await
        .unwrap();
        c.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .await
            .unwrap();
    });
    let url = format!("{}/{name}", admin_url.rsplit_once('/').unwrap().0);
    let dir = tempfile::tempdir().unwrap();
    run(stsd(dir.path())
        .arg("migrate")
        .env("STSD_DATABASE_URL", &url));
    let port = free_port();
    let mut cmd = stsd(dir.path());
    cmd.env("STSD_DATABASE_URL", &url);
    let server = serve(cmd, port);
    assert!(
        !dir.path().join("data/stsd.db").exists(),
        "no SQLite file when PostgreSQL is configured"
    );
    drop(server);
    rt.block_on(async {
        let mut c = sqlx::PgConnection::connect(&admin_url).await.unwrap();
        let tables: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) FROM pg_database WHERE datname = '{name}'"
        )))
        .fetch_one(&mut c)
        .await
        .unwrap();
        assert_eq!(tables, 1);
        c.execute(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE {name} WITH (FORCE)"
        )))
        .await
        .unwrap();
    });
}

/// `stsd admin rotate-master-key` as an operator runs it on SQLite: the local CA's key, sealed
/// under the old key, is re-sealed under the new one; a second run changes nothing; afterwards
/// the new key alone reads it and the old key alone does not. Without the old key listed as
/// previous the command fails and says which setting is missing; no key is ever printed.
#[test]
fn rotate_master_key_reseals_and_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let old = "MTExMTExMTExMTExMTExMTExMTExMTExMTExMTExMTE=";
    let new = "MjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjI=";
    let root = |key: &str| {
        stsd(dir.path())
            .args(["admin", "local-ca-root"])
            .env("STSD_MASTER_KEY", key)
            .output()
            .unwrap()
    };
    let first = root(old);
    assert!(first.status.success());

    let refused = stsd(dir.path())
        .args(["admin", "rotate-master-key"])
        .env("STSD_MASTER_KEY", new)
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("STSD_MASTER_KEY_PREVIOUS"), "{err}");

    let rotate = || {
        run(stsd(dir.path())
            .args(["admin", "rotate-master-key", "--batch-size", "1"])
            .env("STSD_MASTER_KEY", new)
            .env("STSD_MASTER_KEY_PREVIOUS", old))
    };
    let out = rotate();
    let text = String::from_utf8(out.stdout).unwrap();
    let ca_line = |text: &str| {
        text.lines()
            .find(|l| l.starts_with("local_ca "))
            .unwrap()
            .split_whitespace()
            .skip(1)
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(
        ca_line(&text),
        "1 0 0 0",
        "resealed current unreadable skipped: {text}"
    );
    let everything = format!("{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        !everything.contains("MTEx") && !everything.contains("MjIy"),
        "{everything}"
    );
    let again = String::from_utf8(rotate().stdout).unwrap();
    assert_eq!(ca_line(&again), "0 1 0 0", "{again}");

    let with_new = root(new);
    assert!(with_new.status.success());
    assert_eq!(
        with_new.stdout, first.stdout,
        "the same CA, read with the new key"
    );
    let with_old = root(old);
    assert!(
        !with_old.status.success(),
        "the old key alone cannot read it"
    );
}
