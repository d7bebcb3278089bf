//! Behind a trusted proxy, the client address comes from `X-Forwarded-For`: each client
//! gets its own rate-limit bucket and the audit log names it.

use reqwest::{Method, StatusCode};
use serde_json::json;
use stsd_api::ApiConfig;

use crate::harness::{PASSWORD, TestServer};

/// The test client connects from loopback: make loopback the trusted proxy.
fn behind_loopback_proxy(config: &mut ApiConfig) {
    config.trusted_proxies = stsd_api::auth::TrustedProxies::new(vec![
        "127.0.0.0/8".parse().unwrap(),
        "::1".parse().unwrap(),
    ]);
}

async fn forwarded_clients_have_their_own_limits(server: &TestServer) {
    let mut anon = server.client();
    let signup = |i: usize| {
        serde_json::to_vec(&json!({
            "email": format!("proxied{i}@example.com"),
            "password": PASSWORD,
            "tenant_name": "T",
        }))
        .unwrap()
    };
    // The client forged the leftmost entry; the proxy appended the address it saw.
    let first = [("x-forwarded-for", "10.9.9.9, 198.51.100.1")];
    let (status, _, body) = anon
        .raw(
            Method::POST,
            "/api/v1/auth/signup",
            Some(("application/json", signup(0))),
            &first,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let tenant = body["tenant"]["id"].as_str().unwrap().to_owned();
    anon.token = Some(body["access_token"].as_str().unwrap().to_owned());
    let (_, audit) = anon.get(&format!("/api/v1/tenants/{tenant}/audit")).await;
    assert_eq!(audit["items"][0]["client_ip"], "198.51.100.1", "{audit}");
    anon.token = None;
    for i in 1..5 {
        let (status, _, body) = anon
            .raw(
                Method::POST,
                "/api/v1/auth/signup",
                Some(("application/json", signup(i))),
                &first,
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (status, _, _) = anon
        .raw(
            Method::POST,
            "/api/v1/auth/signup",
            Some(("application/json", signup(5))),
            &first,
        )
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    // Another client behind the same proxy is not limited by the first one's sign-ups.
    let (status, _, body) = anon
        .raw(
            Method::POST,
            "/api/v1/auth/signup",
            Some(("application/json", signup(6))),
            &[("x-forwarded-for", "198.51.100.2")],
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

crate::both_backends!(
    configure = crate::proxies::behind_loopback_proxy;
    forwarded_clients_have_their_own_limits
);
