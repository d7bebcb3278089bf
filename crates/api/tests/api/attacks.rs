use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::{Method, StatusCode};
use serde_json::json;
use stsd_api::auth::JwtKeys;
use stsd_store::UserId;

use crate::harness::TestServer;

fn b64(v: &serde_json::Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
}

async fn forged_tokens_are_refused(server: &TestServer) {
    let (mut alice, _tenant) = server.signup("alice@example.com", "A").await;
    let (_, me) = alice.get("/api/v1/me").await;
    let user_id = me["user"]["id"].as_str().unwrap().to_owned();
    let good = alice.token.clone().unwrap();
    let parts: Vec<&str> = good.split('.').collect();
    let header: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
    let kid = header["kid"].as_str().unwrap().to_owned();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let claims =
        json!({ "sub": user_id, "iss": "stsd", "aud": "stsd-api", "iat": now, "exp": now + 600 });

    let mut forged = Vec::new();
    // alg: none, no signature.
    forged.push(format!(
        "{}.{}.",
        b64(&json!({ "alg": "none", "typ": "JWT", "kid": kid })),
        b64(&claims)
    ));
    // HS/RS confusion: an RS256 header over the real HS256 signature, and an HS256 token
    // signed with a "public key" an attacker knows.
    forged.push(format!(
        "{}.{}.{}",
        b64(&json!({ "alg": "RS256", "typ": "JWT", "kid": kid })),
        parts[1],
        parts[2]
    ));
    let mut h = Header::new(Algorithm::HS256);
    h.kid = Some(kid.clone());
    forged.push(
        jsonwebtoken::encode(
            &h,
            &claims,
            &EncodingKey::from_secret(b"-----BEGIN PUBLIC KEY-----"),
        )
        .unwrap(),
    );
    // Tampered payload (another user) with the original signature.
    forged.push(format!("{}.{}.{}", parts[0], b64(&json!({ "sub": "someone-else", "iss": "stsd", "aud": "stsd-api", "iat": now, "exp": now + 600 })), parts[2]));
    // Expired, correctly signed.
    forged.push(expired_token(&user_id));
    // Right key, wrong issuer.
    forged.push(sign(
        &json!({ "sub": user_id, "iss": "evil", "aud": "stsd-api", "iat": now, "exp": now + 600 }),
    ));
    // Right key, but another `kid`, or none at all.
    forged.push(sign_with_kid(Some("hs1-0000000000000000"), &claims));
    forged.push(sign_with_kid(None, &claims));
    // Right key, issued an hour in the future (a minute of clock skew is allowed).
    forged.push(sign(
        &json!({ "sub": user_id, "iss": "stsd", "aud": "stsd-api", "iat": now + 3600, "exp": now + 7200 }),
    ));
    // Garbage and an unknown API token.
    forged.push("not-a-jwt".to_owned());
    forged.push("stsd_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".to_owned());

    // The forger's signing path is faithful: the same claims, unexpired, are accepted. So the
    // expired token below fails for its expiry, not for its signature.
    let mut check = server.client();
    check.token = Some(sign(&claims));
    assert_eq!(check.get("/api/v1/me").await.0, StatusCode::OK);
    check.token = Some(sign(
        &json!({ "sub": user_id, "iss": "stsd", "aud": "stsd-api", "iat": now + 30, "exp": now + 600 }),
    ));
    assert_eq!(
        check.get("/api/v1/me").await.0,
        StatusCode::OK,
        "30 s of clock skew is tolerated"
    );

    for token in forged {
        let mut c = server.client();
        c.token = Some(token.clone());
        let (status, body) = c.get("/api/v1/me").await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "accepted a forged token {token}: {body}"
        );
        assert_eq!(body["error"]["code"], "unauthorized");
    }
    assert_eq!(
        alice.get("/api/v1/me").await.0,
        StatusCode::OK,
        "the genuine token still works"
    );
    let mut anon = server.client();
    assert_eq!(anon.get("/api/v1/me").await.0, StatusCode::UNAUTHORIZED);
}

/// A token signed with the server's own key whose `exp` has passed.
fn expired_token(user_id: &str) -> String {
    sign(&json!({ "sub": user_id, "iss": "stsd", "aud": "stsd-api", "iat": 1_000, "exp": 2_000 }))
}

/// Signs claims exactly as the server would (same derived key and `kid`).
fn sign(claims: &serde_json::Value) -> String {
    sign_with_kid(Some(&server_kid()), claims)
}

/// Signs claims with the server's key under the given `kid` header (or none).
fn sign_with_kid(kid: Option<&str>, claims: &serde_json::Value) -> String {
    let mut h = Header::new(Algorithm::HS256);
    h.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&h, claims, &EncodingKey::from_secret(&derive_key())).unwrap()
}

/// The `kid` the test servers put into their tokens.
fn server_kid() -> String {
    let keys = JwtKeys::from_master_key(&crate::harness::MASTER_KEY);
    let probe = keys
        .issue(
            &UserId::from_raw("probe"),
            std::time::Duration::from_secs(60),
        )
        .unwrap();
    let header: serde_json::Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(probe.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    header["kid"].as_str().unwrap().to_owned()
}

/// The same HKDF derivation the server uses, so the expired token's signature is genuine.
fn derive_key() -> [u8; 32] {
    use aws_lc_rs::hkdf;
    struct Len;
    impl hkdf::KeyType for Len {
        fn len(&self) -> usize {
            32
        }
    }
    let mut key = [0u8; 32];
    hkdf::Salt::new(hkdf::HKDF_SHA256, b"stsd")
        .extract(&crate::harness::MASTER_KEY)
        .expand(&[b"stsd access-token hs256 v1"], Len)
        .unwrap()
        .fill(&mut key)
        .unwrap();
    key
}

/// Sign-ups are limited per address: the sixth in a burst answers 429, saying when to try
/// again in `Retry-After` and in the message. The finding: invalid attempts (a mistyped
/// e-mail, a weak password) spent the limit, so a person fixing their typos was locked out.
/// They no longer count; an attempt that reaches the store (an invitation, an account)
/// does.
async fn signup_is_rate_limited(server: &TestServer) {
    let mut anon = server.client();
    let invalid = [
        json!({ "email": "nope", "password": crate::harness::PASSWORD, "tenant_name": "T" }),
        json!({ "email": "weak@example.com", "password": "x", "tenant_name": "T" }),
        json!({ "email": "weak@example.com", "password": "password1234", "tenant_name": "T" }),
        json!({ "email": "weak@example.com", "password": crate::harness::PASSWORD }),
    ];
    for round in 0..3 {
        for body in &invalid {
            let (status, err) = anon.post("/api/v1/auth/signup", body.clone()).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{round}: {err}");
        }
    }
    let attempt = |i: usize| json!({ "email": format!("user{i}@example.com"), "password": crate::harness::PASSWORD, "tenant_name": "T" });
    for i in 0..4 {
        let (status, body) = anon.post("/api/v1/auth/signup", attempt(i)).await;
        assert_eq!(status, StatusCode::CREATED, "{i}: {body}");
    }
    // An e-mail taken is a store answer: it counts (the fifth).
    let (status, body) = anon.post("/api/v1/auth/signup", attempt(0)).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, headers, body) = anon
        .raw(
            Method::POST,
            "/api/v1/auth/signup",
            Some(("application/json", serde_json::to_vec(&attempt(5)).unwrap())),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["error"]["code"], "rate_limited");
    let wait: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=61).contains(&wait), "Retry-After: {wait}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.ends_with(&format!("try again in {wait} seconds"))
            || (wait == 1 && message.ends_with("try again in 1 second")),
        "{message} (Retry-After: {wait})"
    );
    // Over the limit, an invalid attempt is still told what is wrong with it.
    let (status, _) = anon.post("/api/v1/auth/signup", invalid[1].clone()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

crate::both_backends!(forged_tokens_are_refused, signup_is_rate_limited);
