//! Webhooks over HTTP on both backends: validation (public https only), the secret shown
//! once, pings in the delivery log, roles.

use reqwest::StatusCode;
use serde_json::json;

use crate::harness::TestServer;

async fn webhooks_are_managed_by_admins(server: &TestServer) {
    let (mut owner, tenant) = server.signup("owner@hooks.example", "T").await;
    let base = format!("/api/v1/tenants/{tenant}/webhooks");
    for (url, why) in [
        ("http://hooks.example.com/x", "plain http"),
        ("https://127.0.0.1/x", "loopback"),
        ("https://[::1]/x", "loopback v6"),
        ("https://10.0.0.8/x", "private"),
        ("https://169.254.169.254/latest", "link-local metadata"),
        ("https://localhost/x", "localhost"),
        ("https://user:pw@hooks.example.com/x", "credentials"),
        ("not a url", "garbage"),
    ] {
        let (status, body) = owner.post(&base, json!({ "url": url })).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{why}: {body}");
        assert_eq!(body["error"]["details"][0]["field"], "url", "{why}: {body}");
    }
    let (status, body) = owner
        .post(
            &base,
            json!({ "url": "https://hooks.example.com/x", "events": ["domain.exploded"] }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");

    let (status, created) = owner
        .post(
            &base,
            json!({ "url": "https://hooks.example.com/stsd", "events": ["domain.state_changed", "certificate.failed"] }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let secret = created["secret"].as_str().unwrap();
    assert!(
        secret.starts_with("whsec_") && secret.len() > 40,
        "{secret}"
    );
    let id = created["webhook"]["id"].as_str().unwrap().to_owned();
    let (_, list) = owner.get(&base).await;
    assert_eq!(list["items"][0]["id"], id.as_str());
    assert_eq!(
        list["items"][0]["events"],
        json!(["certificate.failed", "domain.state_changed"])
    );
    assert!(
        !list.to_string().contains(secret),
        "the secret is never shown again"
    );

    let (status, _) = owner.post(&format!("{base}/{id}/ping"), json!({})).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (_, deliveries) = owner.get(&format!("{base}/{id}/deliveries")).await;
    assert_eq!(deliveries["items"][0]["event"], "ping");
    assert_eq!(deliveries["items"][0]["status"], "pending");

    // Editors manage domains, not where alerts go.
    let (mut editor, _) = server.signup("editor@hooks.example", "E").await;
    let (status, _) = owner
        .post(
            &format!("/api/v1/tenants/{tenant}/members"),
            json!({ "email": "editor@hooks.example", "role": "editor" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(editor.get(&base).await.0, StatusCode::FORBIDDEN);
    assert_eq!(
        editor
            .post(&base, json!({ "url": "https://evil.example/x" }))
            .await
            .0,
        StatusCode::FORBIDDEN
    );

    assert_eq!(
        owner.delete(&format!("{base}/{id}")).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        owner.get(&format!("{base}/{id}/deliveries")).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        owner.delete(&format!("{base}/{id}")).await.0,
        StatusCode::NOT_FOUND
    );
}

crate::both_backends!(webhooks_are_managed_by_admins);
