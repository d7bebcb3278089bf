//! Tenants are walls: every tenant-scoped route, called with another tenant's credentials
//! (a user session and an API token), answers 404 and changes nothing.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{Client, TestServer};

/// Everything tenant B has, as B sees it.
async fn snapshot(b: &mut Client, tenant: &str) -> Vec<Value> {
    let base = format!("/api/v1/tenants/{tenant}");
    let mut out = Vec::new();
    for path in [
        format!("{base}/domains"),
        format!("{base}/domains/victim.example"),
        format!("{base}/domains/victim.example/policy"),
        format!("{base}/domains/victim.example/policy/versions"),
        format!("{base}/members"),
        format!("{base}/tokens"),
    ] {
        let (status, mut body) = b.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        // last_used_at moves when B's own token is used; everything else must not.
        if let Some(items) = body.get_mut("items").and_then(Value::as_array_mut) {
            for item in items {
                if let Some(o) = item.as_object_mut() {
                    o.remove("last_used_at");
                }
            }
        }
        out.push(body);
    }
    out
}

async fn foreign_credentials_see_nothing(server: &TestServer) {
    server
        .dns
        .set_mx("victim.example", &[(10, "mx.victim.example")]);
    let (mut a, tenant_a) = server.signup("attacker@example.com", "A").await;
    let (mut b, tenant_b) = server.signup("victim@example.com", "B").await;
    let bb = format!("/api/v1/tenants/{tenant_b}");
    assert_eq!(
        b.post(
            &format!("{bb}/domains"),
            json!({ "name": "victim.example" })
        )
        .await
        .0,
        StatusCode::CREATED
    );
    let (_, b_token) = b
        .post(
            &format!("{bb}/tokens"),
            json!({ "name": "b", "scope": "read" }),
        )
        .await;
    let b_token_id = b_token["id"].as_str().unwrap().to_owned();
    // One stored report of B's, so that its id is a real one.
    let report = json!({
        "organization-name": "Reporter", "report-id": "iso-1",
        "date-range": {"start-datetime": "2026-11-20T00:00:00Z", "end-datetime": "2026-11-20T23:59:59Z"},
        "policies": [{"policy": {"policy-type": "sts", "policy-domain": "victim.example"},
                      "summary": {"total-successful-session-count": 1, "total-failure-session-count": 0}}]
    });
    let (status, _, uploaded) = b
        .raw(
            Method::POST,
            &format!("{bb}/domains/victim.example/reports"),
            Some((
                "application/tlsrpt+json",
                serde_json::to_vec(&report).unwrap(),
            )),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{uploaded}");
    let b_report = uploaded["id"].as_str().unwrap().to_owned();
    let (status, hook) = b
        .post(
            &format!("{bb}/webhooks"),
            json!({ "url": "https://hooks.victim.example/stsd" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{hook}");
    let b_hook = hook["webhook"]["id"].as_str().unwrap().to_owned();
    let (_, me_b) = b.get("/api/v1/me").await;
    let b_user = me_b["user"]["id"].as_str().unwrap().to_owned();
    let before = snapshot(&mut b, &tenant_b).await;

    // A's credentials: its session, and a write token of its own tenant.
    let (_, a_token) = a
        .post(
            &format!("/api/v1/tenants/{tenant_a}/tokens"),
            json!({ "name": "a", "scope": "write" }),
        )
        .await;
    let mut a_bot = server.client();
    a_bot.token = Some(a_token["token"].as_str().unwrap().to_owned());

    let policy = json!({ "mode": "enforce", "mx": ["*.attacker.example"], "max_age": 1 });
    let routes: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, format!("{bb}/domains"), None),
        (
            Method::POST,
            format!("{bb}/domains"),
            Some(json!({ "name": "planted.example" })),
        ),
        (Method::GET, format!("{bb}/domains/victim.example"), None),
        (Method::DELETE, format!("{bb}/domains/victim.example"), None),
        (
            Method::GET,
            format!("{bb}/domains/victim.example/records"),
            None,
        ),
        (
            Method::GET,
            format!("{bb}/domains/victim.example/policy"),
            None,
        ),
        (
            Method::PUT,
            format!("{bb}/domains/victim.example/policy"),
            Some(policy.clone()),
        ),
        (
            Method::GET,
            format!("{bb}/domains/victim.example/policy/versions"),
            None,
        ),
        (
            Method::GET,
            format!("{bb}/domains/victim.example/fetches"),
            None,
        ),
        (
            Method::GET,
            format!("{bb}/domains/victim.example/checks"),
            None,
        ),
        (
            Method::GET,
            format!("{bb}/domains/victim.example/reports"),
            None,
        ),
        (
            Method::POST,
            format!("{bb}/domains/victim.example/reports"),
            Some(json!({})),
        ),
        (
            Method::GET,
            format!("{bb}/domains/victim.example/reports/summary"),
            None,
        ),
        (
            Method::POST,
            format!("{bb}/domains/victim.example/checks"),
            Some(json!({})),
        ),
        (
            Method::POST,
            format!("{bb}/domains/victim.example/mode"),
            Some(json!({ "mode": "none" })),
        ),
        (Method::GET, format!("{bb}/members"), None),
        (
            Method::POST,
            format!("{bb}/members"),
            Some(json!({ "email": "attacker@example.com", "role": "owner" })),
        ),
        (
            Method::PATCH,
            format!("{bb}/members/{b_user}"),
            Some(json!({ "role": "viewer" })),
        ),
        (Method::DELETE, format!("{bb}/members/{b_user}"), None),
        (Method::GET, format!("{bb}/tokens"), None),
        (
            Method::POST,
            format!("{bb}/tokens"),
            Some(json!({ "name": "x", "scope": "write" })),
        ),
        (Method::DELETE, format!("{bb}/tokens/{b_token_id}"), None),
        (Method::GET, format!("{bb}/audit"), None),
        (
            Method::GET,
            format!("{bb}/domains/victim.example/certificate"),
            None,
        ),
        (Method::GET, format!("{bb}/domains/victim.example/mx"), None),
        (
            Method::GET,
            format!("{bb}/domains/victim.example/reports/{b_report}"),
            None,
        ),
        (
            Method::GET,
            format!("{bb}/domains/victim.example/reports/{b_report}/raw"),
            None,
        ),
        (Method::GET, format!("{bb}/reports/summary"), None),
        (Method::GET, format!("{bb}/reports/settings"), None),
        (
            Method::PUT,
            format!("{bb}/reports/settings"),
            Some(json!({ "retention_days": 7 })),
        ),
        (Method::GET, format!("{bb}/webhooks"), None),
        (
            Method::POST,
            format!("{bb}/webhooks"),
            Some(json!({ "url": "https://attacker.example/hook" })),
        ),
        (Method::DELETE, format!("{bb}/webhooks/{b_hook}"), None),
        (
            Method::GET,
            format!("{bb}/webhooks/{b_hook}/deliveries"),
            None,
        ),
        (
            Method::POST,
            format!("{bb}/webhooks/{b_hook}/ping"),
            Some(json!({})),
        ),
    ];
    for client in [&mut a, &mut a_bot] {
        for (method, path, body) in &routes {
            let (status, resp) = client.send(method.clone(), path, body.clone()).await;
            assert_eq!(
                status,
                StatusCode::NOT_FOUND,
                "{method} {path} answered {status}: {resp}"
            );
            assert!(
                !resp.to_string().contains("victim.example"),
                "{method} {path} leaked: {resp}"
            );
        }
    }
    // Made-up tenant ids answer the same as foreign ones.
    assert_eq!(
        a.get("/api/v1/tenants/00000000-0000-0000-0000-000000000000/domains")
            .await
            .0,
        StatusCode::NOT_FOUND
    );

    assert_eq!(
        snapshot(&mut b, &tenant_b).await,
        before,
        "tenant B's data changed"
    );
    // A's own tenant list does not show B.
    let (_, tenants) = a.get("/api/v1/tenants").await;
    assert_eq!(tenants["items"].as_array().unwrap().len(), 1);
}

crate::both_backends!(foreign_credentials_see_nothing);
