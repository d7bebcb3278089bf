use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::harness::{PASSWORD, TestServer};

async fn signup_login_refresh_logout(server: &TestServer) {
    let (mut alice, tenant) = server.signup("Alice@Example.com", "Acme").await;
    let (status, me) = alice.get("/api/v1/me").await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["user"]["email"], "alice@example.com");
    assert_eq!(me["memberships"][0]["tenant"]["id"], tenant.as_str());
    assert_eq!(me["memberships"][0]["role"], "owner");

    // Weak passwords and bad e-mails are named field by field.
    let mut anon = server.client();
    let (status, body) = anon
        .post(
            "/api/v1/auth/signup",
            json!({ "email": "not-an-email", "password": "password1234", "tenant_name": "X" }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let fields: Vec<&str> = body["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["email", "password"]);
    let (status, body) = anon
        .post(
            "/api/v1/auth/signup",
            json!({ "email": "alice@example.com", "password": PASSWORD, "tenant_name": "Again" }),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    // Unknown account and wrong password look the same.
    let (s1, unknown) = anon
        .post(
            "/api/v1/auth/login",
            json!({ "email": "nobody@example.com", "password": PASSWORD }),
        )
        .await;
    let (s2, wrong) = anon
        .post(
            "/api/v1/auth/login",
            json!({ "email": "alice@example.com", "password": "wrong wrong wrong" }),
        )
        .await;
    assert_eq!(
        (s1, s2),
        (StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED)
    );
    assert_eq!(unknown, wrong);

    let mut browser = server.client();
    let (status, body) = browser
        .post(
            "/api/v1/auth/login",
            json!({ "email": "ALICE@example.com", "password": PASSWORD }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert!(body["expires_in"].as_u64().unwrap() <= 900);
    let first_cookie = browser
        .cookie
        .clone()
        .expect("login sets the refresh cookie");
    browser.token = Some(body["access_token"].as_str().unwrap().to_owned());
    assert_eq!(browser.get("/api/v1/me").await.0, StatusCode::OK);

    // Refresh needs the CSRF header.
    let (status, _, _) = browser
        .raw(Method::POST, "/api/v1/auth/refresh", None, &[])
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, body) = browser
        .raw(
            Method::POST,
            "/api/v1/auth/refresh",
            None,
            &[("x-requested-with", "stsd")],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let second_cookie = browser.cookie.clone().unwrap();
    assert_ne!(first_cookie, second_cookie, "the refresh token rotates");
    browser.token = Some(body["access_token"].as_str().unwrap().to_owned());
    assert_eq!(browser.get("/api/v1/me").await.0, StatusCode::OK);

    // Replaying the first (used) cookie revokes the whole family: the newest dies too.
    let mut thief = server.client();
    thief.cookie = Some(first_cookie);
    let (status, _, _) = thief
        .raw(
            Method::POST,
            "/api/v1/auth/refresh",
            None,
            &[("x-requested-with", "stsd")],
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, _) = browser
        .raw(
            Method::POST,
            "/api/v1/auth/refresh",
            None,
            &[("x-requested-with", "stsd")],
        )
        .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the family was revoked after the reuse"
    );
    // ... and so is the session's access token, at once (it would live 15 more minutes).
    assert_eq!(
        browser.get("/api/v1/me").await.0,
        StatusCode::UNAUTHORIZED,
        "the revoked session's access token still worked"
    );

    // Logout ends a fresh session.
    let mut again = server.client();
    let (status, _) = again
        .post(
            "/api/v1/auth/login",
            json!({ "email": "alice@example.com", "password": PASSWORD }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let cookie = again.cookie.clone().unwrap();
    // Another device's session, which the logout below must leave alone.
    let mut other_device = server.client();
    let (_, body) = other_device
        .post(
            "/api/v1/auth/login",
            json!({ "email": "alice@example.com", "password": PASSWORD }),
        )
        .await;
    other_device.token = Some(body["access_token"].as_str().unwrap().to_owned());
    let (_, body) = again
        .post(
            "/api/v1/auth/login",
            json!({ "email": "alice@example.com", "password": PASSWORD }),
        )
        .await;
    again.token = Some(body["access_token"].as_str().unwrap().to_owned());
    let cookie = again.cookie.clone().unwrap_or(cookie);
    assert_eq!(again.get("/api/v1/me").await.0, StatusCode::OK);
    let (status, _, _) = again
        .raw(
            Method::POST,
            "/api/v1/auth/logout",
            None,
            &[("x-requested-with", "stsd")],
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(again.cookie.is_none(), "logout clears the cookie");
    // The access token of the session ended with it, on every node (the second node reads
    // the same store); the other device is still logged in.
    assert_eq!(again.get("/api/v1/me").await.0, StatusCode::UNAUTHORIZED);
    let mut on_second_node = server.second_node().await;
    on_second_node.token = again.token.clone();
    assert_eq!(
        on_second_node.get("/api/v1/me").await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(other_device.get("/api/v1/me").await.0, StatusCode::OK);
    again.cookie = Some(cookie);
    let (status, _, _) = again
        .raw(
            Method::POST,
            "/api/v1/auth/refresh",
            None,
            &[("x-requested-with", "stsd")],
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // The audit log recorded the sign-up.
    let (status, audit) = alice.get(&format!("/api/v1/tenants/{tenant}/audit")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(audit["items"][0]["action"], "account.signup");
}

async fn brute_force_hits_the_rate_limit(server: &TestServer) {
    server.signup("victim@example.com", "V").await;
    let mut attacker = server.client();
    let mut limited = None;
    for i in 0..15 {
        let (status, headers, _) = attacker
            .raw(
                Method::POST,
                "/api/v1/auth/login",
                Some((
                    "application/json",
                    serde_json::to_vec(
                        &json!({ "email": "victim@example.com", "password": format!("guess {i}") }),
                    )
                    .unwrap(),
                )),
                &[],
            )
            .await;
        if status == StatusCode::TOO_MANY_REQUESTS {
            limited = Some(headers);
            break;
        }
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let headers = limited.expect("no rate limit after 15 wrong passwords");
    let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry >= 1);
    // Even the right password is refused while limited.
    let (status, _) = attacker
        .post(
            "/api/v1/auth/login",
            json!({ "email": "victim@example.com", "password": PASSWORD }),
        )
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
}

/// Behind a load balancer the limits hold across API nodes: wrong passwords spread over two
/// nodes are refused after the account's burst (10), although each node saw only half of
/// them (its own limiter alone would allow 10 per node).
async fn rate_limits_hold_across_nodes(server: &TestServer) {
    server.signup("victim@example.com", "V").await;
    let mut nodes = [server.client(), server.second_node().await];
    let mut refused_at = None;
    for i in 0..16 {
        let (status, body) = nodes[i % 2]
            .post(
                "/api/v1/auth/login",
                json!({ "email": "victim@example.com", "password": format!("guess {i}") }),
            )
            .await;
        if status == StatusCode::TOO_MANY_REQUESTS {
            refused_at = Some(i);
            break;
        }
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    }
    // The 11th attempt; the 12th if a slow machine took over 30 s (one more allowed per 30 s).
    assert!(
        refused_at.is_some_and(|i| (10..=11).contains(&i)),
        "refused at attempt {refused_at:?}"
    );
    // Both nodes refuse now, the right password too.
    for node in &mut nodes {
        let (status, _) = node
            .post(
                "/api/v1/auth/login",
                json!({ "email": "Victim@Example.com", "password": PASSWORD }),
            )
            .await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    }
}

crate::both_backends!(
    signup_login_refresh_logout,
    brute_force_hits_the_rate_limit,
    rate_limits_hold_across_nodes,
);
