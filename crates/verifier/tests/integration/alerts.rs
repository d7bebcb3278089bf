//! Alerts end to end on loopback: a domain's state change is written to the outbox with the
//! transition, the sender POSTs it signed, a receiver that fails first gets it again after
//! the backoff, and the signature verifies with the secret the tenant was given.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use stsd_store::{DomainState, MasterKey, Ownership};
use stsd_verifier::{AlertConfig, run_alerts, signature};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use crate::world::World;

#[derive(Debug, Clone)]
struct Received {
    headers: Vec<(String, String)>,
    body: String,
}

/// An HTTP receiver that answers 500 to the first `fail_first` requests, then 204.
async fn receiver(fail_first: usize) -> (String, Arc<Mutex<Vec<Received>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks/stsd", listener.local_addr().unwrap());
    let got: Arc<Mutex<Vec<Received>>> = Arc::default();
    let seen = got.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut io = BufReader::new(tcp);
                let mut headers = Vec::new();
                let mut line = String::new();
                io.read_line(&mut line).await.unwrap();
                loop {
                    line.clear();
                    io.read_line(&mut line).await.unwrap();
                    let l = line.trim_end();
                    if l.is_empty() {
                        break;
                    }
                    if let Some((k, v)) = l.split_once(':') {
                        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
                    }
                }
                let len: usize = headers
                    .iter()
                    .find(|(k, _)| k == "content-length")
                    .map(|(_, v)| v.parse().unwrap())
                    .unwrap_or(0);
                let mut body = vec![0u8; len];
                io.read_exact(&mut body).await.unwrap();
                let n = {
                    let mut all = seen.lock().unwrap();
                    all.push(Received {
                        headers,
                        body: String::from_utf8(body).unwrap(),
                    });
                    all.len()
                };
                let status = if n <= fail_first {
                    "500 Internal Server Error"
                } else {
                    "204 No Content"
                };
                let reply =
                    format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
                io.get_mut().write_all(reply.as_bytes()).await.unwrap();
            });
        }
    });
    (url, got)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transition_reaches_the_receiver_signed_after_a_retry() {
    let w = World::sqlite().await;
    let master = Arc::new(MasterKey::from_bytes([7; 32]));
    let (url, got) = receiver(1).await;
    let secret = "whsec_test-secret";
    let hook = w
        .store
        .create_webhook(
            &w.tenant,
            &url,
            &["domain.state_changed".to_owned()],
            &master.seal(secret.as_bytes()).unwrap(),
            master.id(),
        )
        .await
        .unwrap();
    let d = w.domain("alerts.example", Ownership::Cname).await;
    w.store
        .all_tenants()
        .transition_domain(
            &d.id,
            DomainState::Pending,
            DomainState::Verified,
            "records found",
        )
        .await
        .unwrap();
    // An event the webhook did not subscribe to is not delivered.
    w.store
        .enqueue_event(&w.tenant, "certificate.failed", "{}")
        .await
        .unwrap();

    let config = AlertConfig {
        allow_private: true,
        backoff_base: Duration::from_millis(200),
        poll: Duration::from_millis(50),
        ..AlertConfig::default()
    };
    let sender = tokio::spawn(run_alerts(w.store.clone(), master.clone(), config));
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let deliveries = w
            .store
            .webhook_deliveries(&hook.tenant_id, &hook.id, 10)
            .await
            .unwrap();
        if deliveries.iter().any(|d| d.delivered_at.is_some()) {
            assert_eq!(deliveries.len(), 1, "{deliveries:?}");
            assert_eq!(deliveries[0].attempts, 2, "one failure, then delivered");
            assert_eq!(deliveries[0].last_status, Some(204));
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not delivered: {deliveries:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    sender.abort();

    let all = got.lock().unwrap().clone();
    assert_eq!(all.len(), 2, "the failed attempt and the retry");
    for r in &all {
        let header = |name: &str| {
            r.headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .unwrap()
        };
        assert_eq!(header("stsd-event"), "domain.state_changed");
        let sig = header("stsd-signature");
        let t: i64 = sig
            .strip_prefix("t=")
            .and_then(|s| s.split(',').next())
            .unwrap()
            .parse()
            .unwrap();
        // What a receiver does: recompute with its secret and compare.
        assert_eq!(sig, signature(secret.as_bytes(), t, &r.body));
        assert_ne!(sig, signature(b"another secret", t, &r.body));
        let body: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(body["domain"], "alerts.example");
        assert_eq!(
            (body["from"].as_str(), body["to"].as_str()),
            (Some("pending"), Some("verified"))
        );
    }
    // The transition is in the audit log too.
    let log = w.store.audit_log(&w.tenant, None, 10).await.unwrap();
    assert!(
        log.iter()
            .any(|e| e.action == "domain.transition" && e.target == "alerts.example"),
        "{log:?}"
    );
    w.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_receivers_are_refused_unless_allowed() {
    let w = World::sqlite().await;
    let master = Arc::new(MasterKey::from_bytes([7; 32]));
    let (url, got) = receiver(0).await;
    let hook = w
        .store
        .create_webhook(
            &w.tenant,
            &url,
            &["*".to_owned()],
            &master.seal(b"s").unwrap(),
            master.id(),
        )
        .await
        .unwrap();
    w.store
        .enqueue_ping(&hook.tenant_id, &hook.id, "{}")
        .await
        .unwrap();
    let config = AlertConfig {
        allow_private: false,
        max_attempts: 1,
        poll: Duration::from_millis(50),
        ..AlertConfig::default()
    };
    let sender = tokio::spawn(run_alerts(w.store.clone(), master, config));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let d = w
            .store
            .webhook_deliveries(&hook.tenant_id, &hook.id, 10)
            .await
            .unwrap();
        if d[0].failed_at.is_some() {
            assert!(
                d[0].last_error
                    .as_deref()
                    .unwrap()
                    .contains("not a public address"),
                "{d:?}"
            );
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{d:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    sender.abort();
    assert!(
        got.lock().unwrap().is_empty(),
        "nothing reached the private receiver"
    );
    w.close().await;
}

/// MX drift: in `enforce`, an MX host added in the customer's DNS that the policy does not
/// cover is announced at once (`domain.mx_uncovered`, naming the host), delivered to the
/// webhook, once per new set of hosts; a domain in `testing` gets no such alert.
async fn mx_drift_in_enforce_is_announced(w: World) {
    use stsd_core::{MaxAge, Mode, MxPattern, Policy};
    let master = Arc::new(MasterKey::from_bytes([7; 32]));
    let (url, got) = receiver(0).await;
    let hook = w
        .store
        .create_webhook(
            &w.tenant,
            &url,
            &["domain.mx_uncovered".to_owned()],
            &master.seal(b"whsec_drift").unwrap(),
            master.id(),
        )
        .await
        .unwrap();
    let policy = |mode| {
        let mx: Vec<MxPattern> = vec!["mx1.drift.example".parse().unwrap()];
        Policy::new(mode, mx, MaxAge::new(604_800).unwrap()).unwrap()
    };
    let enforced = w.domain("drift.example", Ownership::Cname).await;
    let testing = w.domain("calm.example", Ownership::Cname).await;
    for (d, mode) in [(&enforced, Mode::Enforce), (&testing, Mode::Testing)] {
        w.store
            .create_policy_version(&d.tenant_id, &d.id, &policy(mode), "test")
            .await
            .unwrap();
    }
    w.dns.set_mx("drift.example", &[(10, "mx1.drift.example")]);
    w.dns.set_mx("calm.example", &[(10, "mx1.drift.example")]);
    w.check(&enforced).await;
    w.check(&testing).await;
    let events = |w: &World| {
        let (store, hook) = (w.store.clone(), hook.clone());
        async move {
            store
                .webhook_deliveries(&hook.tenant_id, &hook.id, 10)
                .await
                .unwrap()
        }
    };
    assert!(events(&w).await.is_empty(), "all covered: no alert");

    // The customer adds an MX host and forgets the policy.
    for name in ["drift.example", "calm.example"] {
        w.dns.set_mx(
            name,
            &[(10, "mx1.drift.example"), (20, "mx2.new-provider.example")],
        );
    }
    let checks = w.check(&enforced).await;
    let coverage = checks
        .iter()
        .find(|c| c.name == stsd_core::CheckName::MxCoverage)
        .unwrap();
    assert_eq!(coverage.uncovered, ["mx2.new-provider.example"]);
    w.check(&testing).await;
    // Checked again: the same gap is not announced twice.
    w.check(&enforced).await;
    let sent = events(&w).await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].event, "domain.mx_uncovered");

    let config = AlertConfig {
        allow_private: true,
        poll: Duration::from_millis(50),
        ..AlertConfig::default()
    };
    let sender = tokio::spawn(run_alerts(w.store.clone(), master.clone(), config));
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while got.lock().unwrap().is_empty() {
        assert!(std::time::Instant::now() < deadline, "not delivered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    sender.abort();
    let received = got.lock().unwrap()[0].clone();
    let body: serde_json::Value = serde_json::from_str(&received.body).unwrap();
    assert_eq!(body["event"], "domain.mx_uncovered");
    assert_eq!(body["domain"], "drift.example");
    assert_eq!(
        body["uncovered"],
        serde_json::json!(["mx2.new-provider.example"])
    );
    w.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mx_drift_in_enforce_is_announced_on_sqlite() {
    mx_drift_in_enforce_is_announced(World::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mx_drift_in_enforce_is_announced_on_postgres() {
    mx_drift_in_enforce_is_announced(World::postgres().await).await;
}
