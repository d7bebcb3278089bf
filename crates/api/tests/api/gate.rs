//! The enforce gate against a fake customer world: MX hosts on loopback that speak SMTP (and
//! STARTTLS with a test CA's certificate, or not), probed by the real verifier worker the gate
//! asks for a run then and there. An unreachable MX, a certificate for another name and a probe
//! that times out each refuse `enforce`, naming the check and the host; all passing allows it;
//! an override needs an owner or admin and a written reason, which the version and the audit
//! log keep; an edit adding an uncovered MX while in enforce is gated too; with no worker to
//! run the probe, enforce is refused rather than allowed.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use stsd_testkit::{FakeMx, TestCa};
use stsd_verifier::{MxProbe, VerifierConfig};

use crate::harness::TestServer;

/// The verifier worker on the server's store, probing MX hosts on `port` of loopback with
/// `ca`'s roots; stops when dropped.
pub(crate) struct Worker(tokio::task::JoinHandle<()>);

impl Drop for Worker {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Worker {
    pub(crate) fn start(server: &TestServer, ca: &TestCa, port: u16, timeout: Duration) -> Worker {
        let mut cfg = VerifierConfig::new(
            stsd_core::DomainName::parse_host("sts.test.example").unwrap(),
            vec!["127.0.0.1".parse().unwrap()],
            &[server.dns.addr()],
            Duration::from_secs(2),
        )
        .unwrap();
        let mut probe = MxProbe::new("verifier.test", Some(ca.pem())).unwrap();
        probe.port = port;
        probe.timeout = timeout;
        // The fake MX hosts listen on 127.0.0.1.
        probe.allow_private = true;
        cfg = cfg.with_mx_probe(probe);
        cfg.poll_interval = Duration::from_millis(100);
        Worker(tokio::spawn(stsd_verifier::run_worker(
            server.store.clone(),
            cfg,
        )))
    }
}

/// MX hosts `hosts` of `domain` on 127.0.0.1, answered by one fake MX with a certificate
/// for all of them, and a worker probing it. Keep both alive for the test.
pub(crate) async fn secure_mx(
    server: &TestServer,
    domain: &str,
    hosts: &[&str],
) -> (FakeMx, Worker) {
    let ca = TestCa::new("gate test CA");
    let mx = FakeMx::start(Some(ca.server(hosts))).await.unwrap();
    let records: Vec<(u16, &str)> = hosts
        .iter()
        .enumerate()
        .map(|(i, h)| (u16::try_from(10 * (i + 1)).unwrap(), *h))
        .collect();
    server.dns.set_mx(domain, &records);
    for h in hosts {
        server.dns.set_a(h, &["127.0.0.1".parse().unwrap()]);
    }
    let worker = Worker::start(server, &ca, mx.addr().port(), Duration::from_secs(5));
    (mx, worker)
}

/// Adds `domain` (MX discovered) to a new tenant; returns its owner and the domains path.
async fn tenant_with(
    server: &TestServer,
    email: &str,
    domain: &str,
) -> (crate::harness::Client, String) {
    let (mut owner, tenant) = server.signup(email, "Gate").await;
    let base = format!("/api/v1/tenants/{tenant}/domains");
    let (status, added) = owner.post(&base, json!({ "name": domain })).await;
    assert_eq!(status, StatusCode::CREATED, "{added}");
    (owner, base)
}

/// The failing `mx_starttls` detail of a 409, with its hosts.
fn starttls_refusal(body: &Value) -> &Value {
    assert_eq!(body["error"]["code"], "not_ready", "{body}");
    let check = body["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "mx_starttls")
        .unwrap_or_else(|| panic!("no mx_starttls in {body}"));
    assert_ne!(check["result"], "pass", "{body}");
    let text = check["explanation"].as_str().unwrap();
    assert!(
        !text.contains("/api") && !text.contains("POST"),
        "no API paths in the text: {text}"
    );
    check
}

async fn unreachable_mx_refuses_enforce(server: &TestServer) {
    let (mut owner, base) = tenant_with(server, "a@down.example", "down.example").await;
    server
        .dns
        .set_mx("down.example", &[(10, "mx.down.example")]);
    server
        .dns
        .set_a("mx.down.example", &["127.0.0.1".parse().unwrap()]);
    // Nothing listens on this port.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let _worker = Worker::start(
        server,
        &TestCa::new("gate test CA"),
        port,
        Duration::from_secs(5),
    );
    let (status, body) = owner
        .put(
            &format!("{base}/down.example/policy"),
            json!({ "mode": "enforce", "mx": ["mx.down.example"], "max_age": 604800 }),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let check = starttls_refusal(&body);
    assert_eq!(check["result"], "error", "{body}");
    assert_eq!(check["hosts"][0]["host"], "mx.down.example", "{body}");
    assert_eq!(check["hosts"][0]["status"], "unreachable", "{body}");
}

async fn certificate_for_another_name_refuses_enforce(server: &TestServer) {
    let (mut owner, base) = tenant_with(server, "a@other.example", "other.example").await;
    let ca = TestCa::new("gate test CA");
    let mx = FakeMx::start(Some(ca.server(&["mail.somewhere-else.example"])))
        .await
        .unwrap();
    server
        .dns
        .set_mx("other.example", &[(10, "mx.other.example")]);
    server
        .dns
        .set_a("mx.other.example", &["127.0.0.1".parse().unwrap()]);
    let _worker = Worker::start(server, &ca, mx.addr().port(), Duration::from_secs(5));
    let (status, body) = owner
        .put(
            &format!("{base}/other.example/policy"),
            json!({ "mode": "enforce", "mx": ["mx.other.example"], "max_age": 604800 }),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let check = starttls_refusal(&body);
    assert_eq!(check["result"], "fail", "{body}");
    assert_eq!(check["hosts"][0]["host"], "mx.other.example");
    assert_eq!(check["hosts"][0]["status"], "tls_failed", "{body}");
}

async fn a_probe_that_times_out_refuses_enforce(server: &TestServer) {
    let (mut owner, base) = tenant_with(server, "a@slow.example", "slow.example").await;
    // Accepts and never says a word: the probe's bound runs out.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = silent.local_addr().unwrap().port();
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = silent.accept().await {
            held.push(s);
        }
    });
    server
        .dns
        .set_mx("slow.example", &[(10, "mx.slow.example")]);
    server
        .dns
        .set_a("mx.slow.example", &["127.0.0.1".parse().unwrap()]);
    let _worker = Worker::start(
        server,
        &TestCa::new("gate test CA"),
        port,
        Duration::from_secs(1),
    );
    let (status, body) = owner
        .put(
            &format!("{base}/slow.example/policy"),
            json!({ "mode": "enforce", "mx": ["mx.slow.example"], "max_age": 604800 }),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let check = starttls_refusal(&body);
    assert_eq!(check["result"], "error", "{body}");
    assert_eq!(check["hosts"][0]["status"], "unreachable", "{body}");
    holder.abort();
}

async fn all_passing_allows_enforce_and_overrides_need_a_reason(server: &TestServer) {
    let (mut owner, base) = tenant_with(server, "a@good.example", "good.example").await;
    let (_mx, _worker) = secure_mx(server, "good.example", &["mx1.good.example"]).await;
    let mode = format!("{base}/good.example/mode");
    let policy = format!("{base}/good.example/policy");
    let (status, body) = owner
        .put(
            &policy,
            json!({ "mode": "enforce", "mx": ["mx1.good.example"], "max_age": 604800 }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let results: Vec<(&str, &str)> = body["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap(), c["result"].as_str().unwrap()))
        .collect();
    assert_eq!(
        results,
        [
            ("mx_coverage", "pass"),
            ("mx_starttls", "pass"),
            ("tlsrpt_failures", "warn")
        ],
        "{body}"
    );
    assert!(body["version"]["override_reason"].is_null());

    // In enforce, an edit that drops coverage of an MX host is gated like the switch.
    server.dns.set_mx(
        "good.example",
        &[(10, "mx1.good.example"), (20, "mx2.good.example")],
    );
    let (status, body) = owner
        .put(
            &policy,
            json!({ "mode": "enforce", "mx": ["mx1.good.example"], "max_age": 1209600 }),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let details = body["error"]["details"].as_array().unwrap();
    assert!(
        details
            .iter()
            .any(|c| c["name"] == "mx_coverage" && c["uncovered"] == json!(["mx2.good.example"])),
        "{body}"
    );

    // An override: an editor may not; an owner must say why; the reason is kept.
    let tenant = base.split('/').nth(4).unwrap().to_owned();
    let (mut editor, _) = server.signup("e@good.example", "Elsewhere").await;
    let (_, invite) = owner
        .post(
            &format!("/api/v1/tenants/{tenant}/members/invitations"),
            json!({ "email": "e@good.example", "role": "editor" }),
        )
        .await;
    let (status, _) = editor
        .post(
            "/api/v1/invitations/accept",
            json!({ "token": invite["token"] }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let forced = json!({
        "mode": "enforce", "mx": ["mx1.good.example"], "max_age": 1209600,
        "override": true, "override_reason": "mx2 is being retired this week, no mail goes there"
    });
    assert_eq!(
        editor.put(&policy, forced.clone()).await.0,
        StatusCode::FORBIDDEN
    );
    let (status, body) = owner
        .put(
            &policy,
            json!({ "mode": "enforce", "mx": ["mx1.good.example"], "max_age": 1209600, "override": true }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(
        body["error"]["details"][0]["field"], "override_reason",
        "{body}"
    );
    let (status, body) = owner.put(&policy, forced).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let reason = "mx2 is being retired this week, no mail goes there";
    assert_eq!(body["version"]["override_reason"], reason);
    let (_, versions) = owner.get(&format!("{policy}/versions")).await;
    assert_eq!(
        versions["items"][0]["override_reason"], reason,
        "{versions}"
    );
    assert!(
        versions["items"][1]["override_reason"].is_null(),
        "{versions}"
    );
    let (_, audit) = owner.get(&format!("/api/v1/tenants/{tenant}/audit")).await;
    let entry = &audit["items"][0];
    assert_eq!(entry["action"], "policy.update", "{audit}");
    assert_eq!(entry["details"]["override"], true);
    assert_eq!(entry["details"]["override_reason"], reason);
    // Back to testing needs no gate, and no reason.
    let (status, _) = owner.post(&mode, json!({ "mode": "testing" })).await;
    assert_eq!(status, StatusCode::CREATED);
}

async fn no_worker_no_enforce(server: &TestServer) {
    let (mut owner, base) = tenant_with(server, "a@alone.example", "alone.example").await;
    server
        .dns
        .set_mx("alone.example", &[(10, "mx.alone.example")]);
    let (status, body) = owner
        .put(
            &format!("{base}/alone.example/policy"),
            json!({ "mode": "enforce", "mx": ["mx.alone.example"], "max_age": 604800 }),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let check = starttls_refusal(&body);
    assert_eq!(check["result"], "error", "{body}");
    assert!(
        check["explanation"]
            .as_str()
            .unwrap()
            .contains("did not finish"),
        "{body}"
    );
}

/// The gate waits briefly in tests: every probe here finishes within a few seconds.
fn short_gate(config: &mut stsd_api::ApiConfig) {
    config.enforce_gate_wait = Duration::from_secs(8);
}

crate::both_backends!(
    configure = super::short_gate;
    unreachable_mx_refuses_enforce,
    certificate_for_another_name_refuses_enforce,
    a_probe_that_times_out_refuses_enforce,
    all_passing_allows_enforce_and_overrides_need_a_reason,
    no_worker_no_enforce,
);
