//! The whole product in one `stsd serve` process, on SQLite and PostgreSQL: sign up, add a
//! domain (MX discovered in the customer's DNS), publish the three CNAMEs in that DNS, run the
//! checks → verified → certificate from the local CA → active → the policy is served over
//! HTTPS (chain verified against `stsd admin local-ca-root`) and its id is in stsd's DNS; an
//! edit rotates the id and the edge serves the new policy.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is a failed test with its location"
)]

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hickory_proto::op::{Message, Query};
use hickory_proto::rr::{Name, RData, RecordType};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use rustls::pki_types::pem::PemObject;
use serde_json::{Value, json};
use stsd_testkit::{FakeDns, TestDatabase};
use tokio::net::{TcpStream, UdpSocket};
use tokio_rustls::TlsConnector;

mod reports;
mod starvation;

const ZONE: &str = "sts.flow.test";
const PASSWORD: &str = "violet quarry lantern 42 drift";

use stsd_testkit::free_port;

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn stsd(dir: &Path, db_url: &str, dns: SocketAddr) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_stsd"));
    cmd.current_dir(dir);
    for (k, _) in std::env::vars() {
        if k.starts_with("STSD_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("STSD_DATABASE_URL", db_url)
        // Many servers of these tests share one PostgreSQL (100 connections in all).
        .env("STSD_DATABASE_MAX_CONNECTIONS", "4")
        .env("STSD_SERVICE_ZONE", ZONE)
        .env("STSD_RESOLVERS", dns.to_string())
        .env(
            "STSD_MASTER_KEY",
            "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=",
        );
    cmd
}

async fn wait_until<F, Fut>(what: &str, limit: Duration, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !f().await {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn fetch_policy(https: SocketAddr, host: &str, root_pem: &str) -> Option<String> {
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls::pki_types::CertificateDer::pem_slice_iter(root_pem.as_bytes()) {
        roots.add(c.ok()?).ok()?;
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .ok()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = TcpStream::connect(https).await.ok()?;
    let tls = TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from(host.to_owned()).ok()?, tcp)
        .await
        .ok()?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .ok()?;
    tokio::spawn(conn);
    let req = http::Request::get("/.well-known/mta-sts.txt")
        .header("host", host)
        .body(Empty::<Bytes>::new())
        .ok()?;
    let resp = sender.send_request(req).await.ok()?;
    if resp.status() != 200 {
        return None;
    }
    let body = resp.into_body().collect().await.ok()?.to_bytes();
    String::from_utf8(body.to_vec()).ok()
}

async fn txt(server: SocketAddr, name: &str) -> Vec<String> {
    let mut msg = Message::query();
    msg.metadata.id = 7;
    msg.add_query(Query::query(
        Name::from_ascii(name).unwrap(),
        RecordType::TXT,
    ));
    let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    s.send_to(&msg.to_vec().unwrap(), server).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let Ok(Ok((n, _))) = tokio::time::timeout(Duration::from_secs(2), s.recv_from(&mut buf)).await
    else {
        return Vec::new();
    };
    let m = Message::from_vec(&buf[..n]).unwrap();
    m.answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::TXT(t) => Some(
                t.txt_data
                    .iter()
                    .map(|b| String::from_utf8_lossy(b))
                    .collect(),
            ),
            _ => None,
        })
        .collect()
}

async fn whole_flow(db: TestDatabase) {
    rustls::crypto::aws_lc_rs::default_provider()
        .install_default()
        .ok();
    let customer = FakeDns::start().await.unwrap();
    customer.set_mx("example.com", &[(10, "mx1.example.com")]);
    let dir = tempfile::tempdir().unwrap();
    let (api, https, http, dns) = (free_port(), free_port(), free_port(), free_port());
    let child = stsd(dir.path(), db.url(), customer.addr())
        .arg("serve")
        .env("STSD_API_LISTEN", format!("127.0.0.1:{api}"))
        .env("STSD_EDGE_HTTPS_LISTEN", format!("127.0.0.1:{https}"))
        .env("STSD_EDGE_HTTP_LISTEN", format!("127.0.0.1:{http}"))
        .env("STSD_DNS_LISTEN", format!("127.0.0.1:{dns}"))
        .env("STSD_SMTP_LISTEN", format!("127.0.0.1:{}", free_port()))
        .env("STSD_METRICS_LISTEN", format!("127.0.0.1:{}", free_port()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _server = Server(child);
    let base = format!("http://127.0.0.1:{api}/api/v1");
    let http_client = reqwest::Client::new();
    wait_until("the API", Duration::from_secs(30), || {
        let c = http_client.clone();
        let url = format!("http://127.0.0.1:{api}/readyz");
        async move { c.get(url).send().await.is_ok_and(|r| r.status() == 200) }
    })
    .await;

    let (token, tenant) = signup(&http_client, &base).await;
    let domains = format!("{base}/tenants/{tenant}/domains");
    let added: Value = http_client
        .post(&domains)
        .bearer_auth(&token)
        .json(&json!({ "name": "example.com" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(added["policy"]["mx"], json!(["mx1.example.com"]), "{added}");
    let label = added["label"].as_str().unwrap().to_owned();

    // The customer publishes the three CNAMEs exactly as shown.
    for r in added["records"].as_array().unwrap() {
        customer.set_cname(r["name"].as_str().unwrap(), r["value"].as_str().unwrap());
    }
    let checks: Value = http_client
        .post(format!("{domains}/example.com/checks"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // Verified by the checks; the certificate worker may already have made it active in
    // between (the local CA issues at once).
    assert!(
        checks["state"] == "verified" || checks["state"] == "active",
        "{checks}"
    );

    let state = || {
        let (c, url, token) = (
            http_client.clone(),
            format!("{domains}/example.com"),
            token.clone(),
        );
        async move {
            let v: Value = c
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            v["state"].as_str().unwrap_or_default().to_owned()
        }
    };
    wait_until(
        "a certificate and the active state",
        Duration::from_secs(30),
        || {
            let s = state();
            async move { s.await == "active" }
        },
    )
    .await;

    // The certificate, its issuer and the renewal plan are visible through the API.
    let cert: Value = http_client
        .get(format!("{domains}/example.com/certificate"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(cert["host"], "mta-sts.example.com", "{cert}");
    assert!(
        cert["current"]["issuer"]
            .as_str()
            .unwrap()
            .contains("stsd local development CA"),
        "{cert}"
    );
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let not_after = cert["current"]["not_after"].as_i64().unwrap();
    assert!(not_after > now + 80 * 86_400, "{cert}");
    let next = cert["renewal"]["next_attempt_at"].as_i64().unwrap();
    assert!(
        next > now + 50 * 86_400 && next < not_after,
        "renewal planned: {cert}"
    );
    assert_eq!(cert["renewal"]["attempts"], 0);

    let root = Command::new(env!("CARGO_BIN_EXE_stsd"))
        .current_dir(dir.path())
        .env("STSD_DATABASE_URL", db.url())
        .env(
            "STSD_MASTER_KEY",
            "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=",
        )
        .args(["admin", "local-ca-root"])
        .output()
        .unwrap();
    assert!(
        root.status.success(),
        "{}",
        String::from_utf8_lossy(&root.stderr)
    );
    let root_pem = String::from_utf8(root.stdout).unwrap();
    assert!(
        root_pem.starts_with("-----BEGIN CERTIFICATE-----"),
        "{root_pem}"
    );

    let https_addr: SocketAddr = format!("127.0.0.1:{https}").parse().unwrap();
    let dns_addr: SocketAddr = format!("127.0.0.1:{dns}").parse().unwrap();
    let want = added["policy"]["body"].as_str().unwrap().to_owned();
    wait_until("the policy on the edge", Duration::from_secs(20), || {
        let (root_pem, want) = (root_pem.clone(), want.clone());
        async move { fetch_policy(https_addr, "mta-sts.example.com", &root_pem).await == Some(want) }
    })
    .await;
    let first_id = added["policy"]["id"].as_str().unwrap().to_owned();
    let policy_name = format!("{label}.policy.{ZONE}.");
    wait_until("the id in DNS", Duration::from_secs(20), || {
        let (n, id) = (policy_name.clone(), first_id.clone());
        async move { txt(dns_addr, &n).await == [format!("v=STSv1; id={id};")] }
    })
    .await;

    // An edit: a new id, served on the edge, then in DNS.
    let edited: Value = http_client
        .put(format!("{domains}/example.com/policy"))
        .bearer_auth(&token)
        .json(&json!({ "mode": "testing", "mx": ["mx1.example.com", "*.backup.example.com"], "max_age": 604800 }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let second_id = edited["version"]["id"].as_str().unwrap().to_owned();
    assert!(second_id > first_id);
    let second_body = edited["version"]["body"].as_str().unwrap().to_owned();
    wait_until("the edited policy on the edge", Duration::from_secs(20), || {
        let (root_pem, want) = (root_pem.clone(), second_body.clone());
        async move { fetch_policy(https_addr, "mta-sts.example.com", &root_pem).await == Some(want) }
    })
    .await;
    wait_until("the new id in DNS", Duration::from_secs(20), || {
        let (n, id) = (policy_name.clone(), second_id.clone());
        async move { txt(dns_addr, &n).await == [format!("v=STSv1; id={id};")] }
    })
    .await;

    // The customer's own report destination, kept next to stsd's in the hosted record.
    let report_name = format!("{label}.report.{ZONE}.");
    let stsd_only = format!(
        "v=TLSRPTv1; rua=mailto:{label}@reports.{ZONE},https://reports.{ZONE}/v1/tlsrpt/{label}"
    );
    assert_eq!(
        txt(dns_addr, &report_name).await,
        std::slice::from_ref(&stsd_only)
    );
    let response = http_client
        .put(format!("{domains}/example.com/extra-rua"))
        .bearer_auth(&token)
        .json(&json!({ "extra_rua": ["mailto:tls@example.com"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let kept = format!("{stsd_only},mailto:tls@example.com");
    wait_until(
        "the kept destination in DNS",
        Duration::from_secs(20),
        || {
            let (n, kept) = (report_name.clone(), kept.clone());
            async move { txt(dns_addr, &n).await == [kept] }
        },
    )
    .await;
    drop(_server);
    db.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whole_flow_on_sqlite() {
    whole_flow(TestDatabase::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whole_flow_on_postgres() {
    whole_flow(TestDatabase::postgres().await).await;
}

/// Signs up ops@example.com with tenant "Example" and returns its access token and tenant id;
/// a refused sign-up fails the test with the server's answer.
async fn signup(client: &reqwest::Client, base: &str) -> (String, String) {
    let response = client
        .post(format!("{base}/auth/signup"))
        .json(
            &json!({ "email": "ops@example.com", "password": PASSWORD, "tenant_name": "Example" }),
        )
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body = response.text().await.unwrap();
    assert!(status.is_success(), "sign-up answered {status}: {body}");
    let signup: Value = serde_json::from_str(&body).unwrap();
    let token = signup["access_token"].as_str().unwrap().to_owned();
    let tenant = signup["tenant"]["id"].as_str().unwrap().to_owned();
    (token, tenant)
}
