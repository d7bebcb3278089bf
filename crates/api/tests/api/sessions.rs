//! Session security properties: the refresh cookie's attributes, and login timing that does
//! not tell unknown accounts from wrong passwords.

use std::time::{Duration, Instant};

use reqwest::header::SET_COOKIE;
use reqwest::{Method, StatusCode};
use serde_json::json;
use stsd_api::ApiConfig;

use crate::harness::{PASSWORD, TestServer};

/// Secure cookies as in production, and rate limits no test reaches (the timing test logs
/// in many times from one address).
fn production_cookies(config: &mut ApiConfig) {
    crate::harness::generous_limits(config);
    config.secure_cookies = true;
}

/// The attributes of the `stsd_refresh` cookie a response sets, lower-cased, without values
/// except Path and SameSite.
fn refresh_cookie_attributes(headers: &reqwest::header::HeaderMap) -> Vec<String> {
    let cookie = headers
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap())
        .find(|v| v.starts_with("stsd_refresh="))
        .expect("no refresh cookie set");
    cookie
        .split(';')
        .skip(1)
        .map(|a| a.trim().to_ascii_lowercase())
        .filter(|a| !a.starts_with("max-age=") && !a.starts_with("expires="))
        .collect()
}

async fn refresh_cookie_attributes_are_strict(server: &TestServer) {
    let mut anon = server.client();
    let body = serde_json::to_vec(
        &json!({ "email": "alice@example.com", "password": PASSWORD, "tenant_name": "A" }),
    )
    .unwrap();
    let (status, headers, _) = anon
        .raw(
            Method::POST,
            "/api/v1/auth/signup",
            Some(("application/json", body)),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let mut attributes = refresh_cookie_attributes(&headers);
    attributes.sort();
    assert_eq!(
        attributes,
        ["httponly", "path=/api/v1/auth", "samesite=strict", "secure"]
    );

    let mut browser = server.client();
    let login =
        serde_json::to_vec(&json!({ "email": "alice@example.com", "password": PASSWORD })).unwrap();
    let (status, headers, _) = browser
        .raw(
            Method::POST,
            "/api/v1/auth/login",
            Some(("application/json", login)),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let mut attributes = refresh_cookie_attributes(&headers);
    attributes.sort();
    assert_eq!(
        attributes,
        ["httponly", "path=/api/v1/auth", "samesite=strict", "secure"]
    );
    // The rotated cookie keeps them.
    let (status, headers, _) = browser
        .raw(
            Method::POST,
            "/api/v1/auth/refresh",
            None,
            &[("x-requested-with", "fetch")],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let mut attributes = refresh_cookie_attributes(&headers);
    attributes.sort();
    assert_eq!(
        attributes,
        ["httponly", "path=/api/v1/auth", "samesite=strict", "secure"]
    );
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Unknown accounts and wrong passwords cost the same argon2 work. Not a performance test:
/// the bound is a generous factor of two between medians of interleaved tries, which a
/// skipped hash (a factor of ten or more) breaks and machine load does not.
async fn login_timing_does_not_reveal_accounts(server: &TestServer) {
    server.signup("known@example.com", "K").await;
    let mut anon = server.client();
    let mut unknown = Vec::new();
    let mut wrong = Vec::new();
    for i in 0..9 {
        // Interleaved, so that a burst of load elsewhere slows both kinds alike.
        for (email, into) in [
            (format!("nobody{i}@example.com"), &mut unknown),
            ("known@example.com".to_owned(), &mut wrong),
        ] {
            let started = Instant::now();
            let (status, body) = anon
                .post(
                    "/api/v1/auth/login",
                    json!({ "email": email, "password": "not the password at all" }),
                )
                .await;
            into.push(started.elapsed());
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        }
    }
    let (unknown, wrong) = (median(unknown), median(wrong));
    let ratio = unknown.as_secs_f64() / wrong.as_secs_f64();
    assert!(
        (0.5..=2.0).contains(&ratio),
        "median unknown-account login {unknown:?}, wrong password {wrong:?}: the difference tells accounts apart"
    );
}

crate::both_backends!(
    configure = crate::sessions::production_cookies;
    refresh_cookie_attributes_are_strict,
    login_timing_does_not_reveal_accounts
);
