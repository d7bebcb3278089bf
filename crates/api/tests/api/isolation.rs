//! Tenants are walls: every tenant-scoped operation of the OpenAPI document, called with
//! another tenant's credentials (a user session and an API token), answers 404 and changes
//! nothing. The operations come from `stsd_api::openapi()`, so a new route without a sample
//! request here fails this test instead of going unchecked.

use std::collections::BTreeMap;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{Client, TestServer};

/// Everything tenant B has, as B sees it.
async fn snapshot(b: &mut Client, tenant: &str, hook: &str, report: &str) -> Vec<Value> {
    let base = format!("/api/v1/tenants/{tenant}");
    let mut out = Vec::new();
    for path in [
        format!("{base}/domains"),
        format!("{base}/domains/victim.example"),
        format!("{base}/domains/victim.example/policy"),
        format!("{base}/domains/victim.example/policy/versions"),
        format!("{base}/domains/victim.example/reports"),
        format!("{base}/domains/victim.example/reports/{report}"),
        format!("{base}/members"),
        format!("{base}/members/invitations"),
        format!("{base}/tokens"),
        format!("{base}/webhooks"),
        format!("{base}/webhooks/{hook}/deliveries"),
        format!("{base}/reports/settings"),
        format!("{base}/audit?limit=200"),
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

/// The tenant-scoped operations of the OpenAPI document, as (METHOD, path template).
fn tenant_operations() -> Vec<(String, String)> {
    let doc = serde_json::to_value(stsd_api::openapi()).unwrap();
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        if !path.contains("{tenant}") {
            continue;
        }
        for method in [
            "get", "put", "post", "delete", "patch", "head", "options", "trace",
        ] {
            if item.get(method).is_some() {
                ops.push((method.to_uppercase(), path.clone()));
            }
        }
    }
    ops
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
    let (status, invited) = b
        .post(
            &format!("{bb}/members/invitations"),
            json!({ "email": "colleague@victim.example", "role": "editor" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{invited}");
    let b_invitation = invited["invitation"]["id"].as_str().unwrap().to_owned();
    let (_, me_b) = b.get("/api/v1/me").await;
    let b_user = me_b["user"]["id"].as_str().unwrap().to_owned();
    let before = snapshot(&mut b, &tenant_b, &b_hook, &b_report).await;

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
    // A sample request per operation: (METHOD, template) -> body. The attacker's bodies are
    // valid where possible, so that a missing wall would show as a change, not a 422.
    let samples: BTreeMap<(&str, &str), Option<Value>> = BTreeMap::from([
        (("GET", "/api/v1/tenants/{tenant}/domains"), None),
        (
            ("POST", "/api/v1/tenants/{tenant}/domains"),
            Some(json!({ "name": "planted.example" })),
        ),
        (("GET", "/api/v1/tenants/{tenant}/domains/{name}"), None),
        (("DELETE", "/api/v1/tenants/{tenant}/domains/{name}"), None),
        (
            ("GET", "/api/v1/tenants/{tenant}/domains/{name}/records"),
            None,
        ),
        (
            ("GET", "/api/v1/tenants/{tenant}/domains/{name}/policy"),
            None,
        ),
        (
            ("PUT", "/api/v1/tenants/{tenant}/domains/{name}/policy"),
            Some(policy.clone()),
        ),
        (
            (
                "GET",
                "/api/v1/tenants/{tenant}/domains/{name}/policy/versions",
            ),
            None,
        ),
        (
            ("GET", "/api/v1/tenants/{tenant}/domains/{name}/fetches"),
            None,
        ),
        (
            ("GET", "/api/v1/tenants/{tenant}/domains/{name}/checks"),
            None,
        ),
        (
            ("POST", "/api/v1/tenants/{tenant}/domains/{name}/checks"),
            Some(json!({})),
        ),
        (
            ("GET", "/api/v1/tenants/{tenant}/domains/{name}/reports"),
            None,
        ),
        (
            ("POST", "/api/v1/tenants/{tenant}/domains/{name}/reports"),
            Some(report.clone()),
        ),
        (
            (
                "GET",
                "/api/v1/tenants/{tenant}/domains/{name}/reports/summary",
            ),
            None,
        ),
        (
            (
                "GET",
                "/api/v1/tenants/{tenant}/domains/{name}/reports/{id}",
            ),
            None,
        ),
        (
            (
                "GET",
                "/api/v1/tenants/{tenant}/domains/{name}/reports/{id}/raw",
            ),
            None,
        ),
        (
            ("POST", "/api/v1/tenants/{tenant}/domains/{name}/mode"),
            Some(json!({ "mode": "none" })),
        ),
        (
            ("GET", "/api/v1/tenants/{tenant}/domains/{name}/certificate"),
            None,
        ),
        (("GET", "/api/v1/tenants/{tenant}/domains/{name}/mx"), None),
        (("GET", "/api/v1/tenants/{tenant}/members"), None),
        (
            ("POST", "/api/v1/tenants/{tenant}/members"),
            Some(json!({ "email": "attacker@example.com", "role": "owner" })),
        ),
        (
            ("PATCH", "/api/v1/tenants/{tenant}/members/{user}"),
            Some(json!({ "role": "viewer" })),
        ),
        (("DELETE", "/api/v1/tenants/{tenant}/members/{user}"), None),
        (
            ("GET", "/api/v1/tenants/{tenant}/members/invitations"),
            None,
        ),
        (
            ("POST", "/api/v1/tenants/{tenant}/members/invitations"),
            Some(json!({ "email": "attacker@example.com", "role": "owner" })),
        ),
        (
            (
                "DELETE",
                "/api/v1/tenants/{tenant}/members/invitations/{id}",
            ),
            None,
        ),
        (("GET", "/api/v1/tenants/{tenant}/tokens"), None),
        (
            ("POST", "/api/v1/tenants/{tenant}/tokens"),
            Some(json!({ "name": "x", "scope": "write" })),
        ),
        (("DELETE", "/api/v1/tenants/{tenant}/tokens/{id}"), None),
        (("GET", "/api/v1/tenants/{tenant}/audit"), None),
        (("GET", "/api/v1/tenants/{tenant}/reports/summary"), None),
        (("GET", "/api/v1/tenants/{tenant}/reports/settings"), None),
        (
            ("PUT", "/api/v1/tenants/{tenant}/reports/settings"),
            Some(json!({ "retention_days": 7 })),
        ),
        (("GET", "/api/v1/tenants/{tenant}/webhooks"), None),
        (
            ("POST", "/api/v1/tenants/{tenant}/webhooks"),
            Some(json!({ "url": "https://attacker.example/hook" })),
        ),
        (("DELETE", "/api/v1/tenants/{tenant}/webhooks/{id}"), None),
        (
            ("GET", "/api/v1/tenants/{tenant}/webhooks/{id}/deliveries"),
            None,
        ),
        (
            ("POST", "/api/v1/tenants/{tenant}/webhooks/{id}/ping"),
            Some(json!({})),
        ),
    ]);
    let operations = tenant_operations();
    let missing: Vec<String> = operations
        .iter()
        .filter(|(m, p)| !samples.contains_key(&(m.as_str(), p.as_str())))
        .map(|(m, p)| format!("{m} {p}"))
        .collect();
    assert!(
        missing.is_empty(),
        "tenant-scoped operations without a sample request in the isolation walk: {missing:?}"
    );
    let stale: Vec<String> = samples
        .keys()
        .filter(|(m, p)| !operations.iter().any(|(om, op)| om == m && op == p))
        .map(|(m, p)| format!("{m} {p}"))
        .collect();
    assert!(
        stale.is_empty(),
        "samples for operations that no longer exist: {stale:?}"
    );
    // Real ids of B's resources, so that a missing wall would find something.
    let id_for = |path: &str| -> &str {
        if path.contains("/members/invitations/") {
            &b_invitation
        } else if path.contains("/tokens/") {
            &b_token_id
        } else if path.contains("/webhooks/") {
            &b_hook
        } else {
            &b_report
        }
    };
    let routes: Vec<(Method, String, Option<Value>)> = samples
        .iter()
        .map(|((method, template), body)| {
            let path = template
                .replace("{tenant}", &tenant_b)
                .replace("{name}", "victim.example")
                .replace("{user}", &b_user)
                .replace("{id}", id_for(template));
            assert!(!path.contains('{'), "unfilled parameter in {template}");
            (
                Method::from_bytes(method.as_bytes()).unwrap(),
                path,
                body.clone(),
            )
        })
        .collect();
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
        snapshot(&mut b, &tenant_b, &b_hook, &b_report).await,
        before,
        "tenant B's data changed"
    );
    // A's invitation to B cannot be accepted by B's invitee, and B's by nobody else.
    let invite_token = invited["token"].as_str().unwrap();
    let (status, _) = a
        .post(
            "/api/v1/invitations/accept",
            json!({ "token": invite_token }),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "another e-mail's invitation");
    // A's own tenant list does not show B.
    let (_, tenants) = a.get("/api/v1/tenants").await;
    assert_eq!(tenants["items"].as_array().unwrap().len(), 1);
}

crate::both_backends!(foreign_credentials_see_nothing);
