//! The real `stsd serve` binary as a child process, and a small client for its REST API.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::process::{Proc, free_local_port, free_port};

/// The service zone of the world's stsd.
pub(crate) const ZONE: &str = "sts.world.test";
pub(crate) const MASTER_KEY: &str = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=";
const PASSWORD: &str = "violet quarry lantern 42 drift";

/// The `stsd` binary: `STSD_BIN` when set, else built now (once per test run) into the
/// target directory this test runs from, so that the walk never drives a stale binary.
/// (Under `cargo test --workspace` it is already fresh and the build is a no-op check.)
pub(crate) fn binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(bin) = std::env::var_os("STSD_BIN") {
            return PathBuf::from(bin);
        }
        // <target>/debug/deps/world-<hash> → <target>/debug/stsd
        let exe = std::env::current_exe().unwrap();
        let profile_dir = exe.parent().and_then(Path::parent).unwrap().to_owned();
        let target_dir = profile_dir.parent().unwrap();
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut build = Command::new(cargo);
        build
            .current_dir(&workspace)
            .env("CARGO_TARGET_DIR", target_dir)
            .args(["build", "--quiet", "--locked", "-p", "stsd"]);
        if profile_dir.ends_with("release") {
            build.arg("--release");
        }
        let status = build.status().expect("cannot run cargo to build stsd");
        assert!(status.success(), "building stsd failed");
        profile_dir.join("stsd")
    })
}

/// Where the world's stsd listens, and what it is told about the rest of the world.
pub(crate) struct StsdSetup<'a> {
    pub(crate) database_url: &'a str,
    /// The world's own loopback address: edge HTTPS on 443 and HTTP (HTTP-01) on `http_port`.
    pub(crate) edge_ip: Ipv4Addr,
    pub(crate) http_port: u16,
    /// stsd's authoritative DNS for the service zone.
    pub(crate) dns: SocketAddr,
    /// What the verifier and MX discovery resolve through.
    pub(crate) resolvers: SocketAddr,
    pub(crate) acme_directory: &'a str,
    pub(crate) acme_ca_roots: &'a Path,
    pub(crate) mx_ca_roots: &'a Path,
    pub(crate) mx_smtp_port: u16,
}

/// A running `stsd serve`; stopped on drop.
pub(crate) struct Stsd {
    pub(crate) api: SocketAddr,
    proc: Proc,
}

impl Stsd {
    /// Starts `stsd serve` (every role in one process) and waits until it is ready.
    pub(crate) async fn start(setup: &StsdSetup<'_>, dir: &Path) -> Stsd {
        let api = SocketAddr::from((Ipv4Addr::LOCALHOST, free_local_port()));
        let mut cmd = Command::new(binary());
        cmd.arg("serve").current_dir(dir);
        for (k, _) in std::env::vars() {
            if k.starts_with("STSD_") {
                cmd.env_remove(k);
            }
        }
        cmd.env("STSD_DATABASE_URL", setup.database_url)
            .env("STSD_DATABASE_MAX_CONNECTIONS", "6")
            .env("STSD_DATA_DIR", dir.join("data"))
            .env("STSD_SERVICE_ZONE", ZONE)
            .env("STSD_MASTER_KEY", MASTER_KEY)
            .env("STSD_API_LISTEN", api.to_string())
            .env("STSD_EDGE_HTTPS_LISTEN", format!("{}:443", setup.edge_ip))
            .env(
                "STSD_EDGE_HTTP_LISTEN",
                format!("{}:{}", setup.edge_ip, setup.http_port),
            )
            .env("STSD_EDGE_ADDRESSES", setup.edge_ip.to_string())
            .env("STSD_DNS_LISTEN", setup.dns.to_string())
            .env(
                "STSD_SMTP_LISTEN",
                format!("127.0.0.1:{}", free_port(Ipv4Addr::LOCALHOST)),
            )
            .env(
                "STSD_METRICS_LISTEN",
                format!("127.0.0.1:{}", free_port(Ipv4Addr::LOCALHOST)),
            )
            .env("STSD_RESOLVERS", setup.resolvers.to_string())
            .env("STSD_ACME_DIRECTORY", setup.acme_directory)
            .env("STSD_ACME_CA_ROOTS", setup.acme_ca_roots)
            .env("STSD_ACME_CONTACT", "ops@example.test")
            .env("STSD_MX_CA_ROOTS", setup.mx_ca_roots)
            .env("STSD_MX_SMTP_PORT", setup.mx_smtp_port.to_string())
            // The customer's MX is on loopback in this world.
            .env("STSD_MX_PROBE_ALLOW_PRIVATE", "true")
            .env("STSD_WEBHOOKS_ALLOW_PRIVATE", "true")
            .env("NO_COLOR", "1")
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "info".to_owned()),
            );
        let mut proc = Proc::spawn(
            "stsd serve",
            cmd,
            &dir.join("stsd.log"),
            "cargo build -p stsd",
        );
        let client = reqwest::Client::new();
        let start = Instant::now();
        loop {
            proc.assert_running();
            let ready = client
                .get(format!("http://{api}/readyz"))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200);
            if ready {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "stsd did not become ready"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Stsd { api, proc }
    }

    /// Fails the test if stsd has exited.
    pub(crate) fn assert_running(&mut self) {
        self.proc.assert_running();
    }

    /// Signs up a new user with a new tenant; the API client of that user.
    pub(crate) async fn signup(&self, email: &str) -> Api {
        signup(self.api, email).await
    }
}

/// Signs up a new user with a new tenant at the API on `api`; the API client of that user.
pub(crate) async fn signup(api: SocketAddr, email: &str) -> Api {
    let http = reqwest::Client::new();
    let base = format!("http://{api}/api/v1");
    let signup: Value = http
        .post(format!("{base}/auth/signup"))
        .json(&json!({ "email": email, "password": PASSWORD, "tenant_name": "World" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = signup["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("signup: {signup}"))
        .to_owned();
    let tenant = signup["tenant"]["id"].as_str().unwrap().to_owned();
    Api {
        http,
        base: format!("{base}/tenants/{tenant}"),
        token,
    }
}

/// The REST API as one signed-up user, under their tenant.
pub(crate) struct Api {
    http: reqwest::Client,
    /// `…/api/v1/tenants/<tenant>`.
    base: String,
    token: String,
}

impl Api {
    /// `method <tenant base><path>` with an optional JSON body: the status and JSON answer.
    pub(crate) async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .timeout(Duration::from_secs(30));
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{method} {path}: {e}: {text}"))
        };
        (status, value)
    }

    /// Like [`Api::call`], asserting the status.
    pub(crate) async fn expect(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        status: u16,
    ) -> Value {
        let (got, value) = self.call(method.clone(), path, body).await;
        assert_eq!(got, status, "{method} {path}: {value}");
        value
    }

    /// The domain's state.
    pub(crate) async fn state(&self, domain: &str) -> String {
        let v = self
            .expect(Method::GET, &format!("/domains/{domain}"), None, 200)
            .await;
        v["state"].as_str().unwrap_or_default().to_owned()
    }
}
