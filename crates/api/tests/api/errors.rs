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

/// The one field error of a 422 answer: (field, message).
fn field_error(err: &serde_json::Value) -> (String, String) {
    let details = err["error"]["details"].as_array().expect("details");
    assert_eq!(details.len(), 1, "{err}");
    (
        details[0]["field"].as_str().unwrap().to_owned(),
        details[0]["message"].as_str().unwrap().to_owned(),
    )
}

/// The finding: a JSON body of the wrong shape was answered with serde's text ("invalid
/// type: integer `5`, expected a string at line 1 column 11"), naming no field in `details`.
async fn json_body_errors_name_the_field_in_plain_words(server: &TestServer) {
    let (mut c, tenant) = server.signup("ops@example.com", "T").await;
    let domains = format!("/api/v1/tenants/{tenant}/domains");
    let cases = [
        (
            json!({ "name": 5 }),
            "name",
            "must be a string, not the number 5",
        ),
        (json!({}), "name", "is required"),
        (
            json!({ "name": "a.example", "extra": 1 }),
            "extra",
            "is not a field of this request; the fields are name, ownership, policy, keep_existing_rua",
        ),
        (
            json!({ "name": "a.example", "policy": { "mode": "testing", "mx": ["mx.a.example", 7], "max_age": 86400 } }),
            "policy.mx[1]",
            "must be a string, not the number 7",
        ),
        (
            json!({ "name": "a.example", "policy": { "mode": "testing", "mx": [], "max_age": -1 } }),
            "policy.max_age",
            "must be a whole number, 0 or more, not the number -1",
        ),
        (
            json!({ "name": "a.example", "policy": { "mode": "testing", "mx": [] } }),
            "policy.max_age",
            "is required",
        ),
        (json!(["a.example"]), "body", "must be a JSON object"),
    ];
    for (body, field, message) in cases {
        let (status, err) = c.post(&domains, body.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {err}");
        assert_eq!(err["error"]["code"], "validation_failed", "{err}");
        assert_eq!(
            field_error(&err),
            (field.to_owned(), message.to_owned()),
            "{body}"
        );
        let text = err["error"]["message"].as_str().unwrap();
        assert_eq!(text, format!("{field}: {message}"));
        for serde_words in ["line ", "column", "invalid type", "`", "deserialize"] {
            assert!(!text.contains(serde_words), "{text}");
        }
    }
    // The same on another endpoint, with a boolean.
    let (status, err) = c
        .post(
            &format!("{domains}/a.example/mode"),
            json!({ "mode": "enforce", "override": "yes" }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    assert_eq!(
        field_error(&err),
        (
            "override".to_owned(),
            "must be true or false, not a string".to_owned()
        )
    );
}

/// The finding: a 405 had an empty body. Every error answers in the envelope.
async fn every_error_uses_the_envelope(server: &TestServer) {
    let (mut c, tenant) = server.signup("ops@example.com", "T").await;
    let cases = [
        (Method::DELETE, "/api/v1/auth/signup".to_owned(), "POST"),
        (
            Method::PUT,
            format!("/api/v1/tenants/{tenant}/domains"),
            "GET",
        ),
        (
            Method::GET,
            format!("/api/v1/tenants/{tenant}/domains/a.example/mode"),
            "POST",
        ),
    ];
    for (method, path, allowed) in cases {
        let (status, headers, err) = c.raw(method.clone(), &path, None, &[]).await;
        assert_eq!(
            status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}: {err}"
        );
        assert_eq!(err["error"]["code"], "method_not_allowed", "{err}");
        assert!(
            err["error"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with(&format!("{method} is not allowed"))),
            "{err}"
        );
        assert!(err["error"]["details"].as_array().is_some(), "{err}");
        let allow = headers["allow"].to_str().unwrap();
        assert!(allow.contains(allowed), "{method} {path}: Allow: {allow}");
    }
    // Bad path, query and body: the envelope too.
    let (status, err) = c
        .get(&format!("/api/v1/tenants/{tenant}/domains?limit=many"))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(err["error"]["code"], "validation_failed", "{err}");
    let (status, _, err) = c
        .raw(
            Method::POST,
            &format!("/api/v1/tenants/{tenant}/domains"),
            Some(("application/json", b"{\"name\": ".to_vec())),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        err["error"]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("the body is not valid JSON")),
        "{err}"
    );
}

crate::both_backends!(
    bad_input_gets_clear_errors,
    json_body_errors_name_the_field_in_plain_words,
    every_error_uses_the_envelope,
);
