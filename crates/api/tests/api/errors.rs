use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::harness::TestServer;

async fn bad_input_gets_clear_errors(server: &TestServer) {
    let (mut c, tenant) = server.signup("ops@example.com", "T").await;
    let url = format!("/api/v1/tenants/{tenant}/domains");
    type Case = (Option<(&'static str, Vec<u8>)>, StatusCode, &'static str);
    let cases: Vec<Case> = vec![
        (
            Some(("application/json", b"{\"name\": ".to_vec())),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            Some(("text/plain", b"{\"name\": \"example.com\"}".to_vec())),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            Some(("application/json", b"{\"name\": 5}".to_vec())),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            Some((
                "application/json",
                b"{\"name\": \"a.example\", \"extra\": 1}".to_vec(),
            )),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            Some(("application/json", vec![b' '; 100 * 1024])),
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        ),
        (
            Some(("application/json", vec![0xff, 0xfe, 0x00])),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
    ];
    for (body, status, code) in cases {
        let (got, _, err) = c.raw(Method::POST, &url, body, &[]).await;
        assert_eq!(got, status, "{err}");
        assert_eq!(err["error"]["code"], code, "{err}");
        assert!(
            err["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{err}"
        );
    }
    let (status, err) = c.get("/api/v1/nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(err["error"]["code"], "not_found");
    let (status, _) = c.get(&format!("{url}/not..a..name")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = c
        .put(
            &format!("{url}/missing.example/policy"),
            json!({ "mode": "testing", "mx": ["a.b"], "max_age": 1 }),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Nothing was created by all that.
    let (_, list) = c.get(&url).await;
    assert!(list["items"].as_array().unwrap().is_empty());
}

crate::both_backends!(bad_input_gets_clear_errors);
