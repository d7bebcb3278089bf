//! The OpenAPI document matches the router, the reference page is self-contained, and the
//! metrics count requests by route template.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::harness::TestServer;

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    let mut ops = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for m in METHODS {
            if item.get(m).is_some() {
                ops.insert((m.to_owned(), path.clone()));
            }
        }
    }
    ops
}

/// A concrete URL for a path template: every parameter gets a harmless value.
fn concrete(path: &str) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').unwrap() + start;
        out.push_str("probe");
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

fn is_unrouted(status: StatusCode, body: &Value) -> bool {
    status == StatusCode::METHOD_NOT_ALLOWED
        || (status == StatusCode::NOT_FOUND && body["error"]["message"] == "endpoint not found")
}

async fn document_matches_the_router(server: &TestServer) {
    let mut c = server.client();
    let (status, headers, doc) = c.raw(Method::GET, "/api/v1/openapi.json", None, &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1."),
        "{}",
        doc["openapi"]
    );
    assert_eq!(doc["info"]["title"], "stsd");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));

    // The served document is the one the crate builds.
    let built = serde_json::to_value(stsd_api::openapi()).unwrap();
    assert_eq!(built, doc);

    let ops = operations(&doc);
    // The routes of the issue, and the operational ones: documenting them is the contract.
    for (m, p) in [
        ("post", "/api/v1/auth/signup"),
        ("post", "/api/v1/auth/login"),
        ("post", "/api/v1/auth/refresh"),
        ("post", "/api/v1/auth/logout"),
        ("get", "/api/v1/me"),
        ("get", "/api/v1/tenants"),
        ("post", "/api/v1/tenants"),
        ("patch", "/api/v1/tenants/{tenant}/members/{user}"),
        ("delete", "/api/v1/tenants/{tenant}/tokens/{id}"),
        ("post", "/api/v1/tenants/{tenant}/domains"),
        ("delete", "/api/v1/tenants/{tenant}/domains/{name}"),
        ("put", "/api/v1/tenants/{tenant}/domains/{name}/policy"),
        ("post", "/api/v1/tenants/{tenant}/domains/{name}/mode"),
        ("get", "/api/v1/tenants/{tenant}/audit"),
        ("get", "/api/v1/openapi.json"),
        ("get", "/api/docs"),
        ("get", "/healthz"),
        ("get", "/readyz"),
    ] {
        assert!(
            ops.contains(&(m.to_owned(), p.to_owned())),
            "{m} {p} is not documented"
        );
    }

    // Every documented operation is served, and on a documented path every undocumented
    // method is refused with 405: an operation added to the router without docs fails here.
    for path in doc["paths"].as_object().unwrap().keys() {
        let url = concrete(path);
        for m in METHODS {
            let method = Method::from_bytes(m.to_uppercase().as_bytes()).unwrap();
            let (status, _, body) = c.raw(method, &url, None, &[]).await;
            let documented = ops.contains(&(m.to_owned(), path.clone()));
            assert_eq!(
                !is_unrouted(status, &body),
                documented,
                "{m} {url}: {status} {body}; documented: {documented}"
            );
        }
    }

    // Every operation has a summary, a tag, a unique operationId (OpenAPI requires it, and
    // generated clients name their functions and types after it), and documents its errors
    // with the envelope.
    let mut operation_ids = BTreeSet::new();
    for (m, p) in &ops {
        let op = &doc["paths"][p][m];
        let id = op["operationId"].as_str().unwrap_or_default();
        assert!(!id.is_empty(), "{m} {p}: operationId");
        assert!(
            operation_ids.insert(id.to_owned()),
            "{m} {p}: operationId `{id}` is used twice; give the handler its own `operation_id`"
        );
        assert!(
            op["summary"].as_str().is_some_and(|s| !s.is_empty()),
            "{m} {p}: summary"
        );
        assert!(op["tags"][0].is_string(), "{m} {p}: tag");
        let responses = op["responses"].as_object().unwrap();
        for (code, response) in responses {
            if code.starts_with('4') || code.starts_with('5') {
                let reference = response["$ref"].as_str();
                let schema = &response["content"]["application/json"]["schema"]["$ref"];
                assert!(
                    reference.is_some_and(|r| r.starts_with("#/components/responses/"))
                        || schema
                            .as_str()
                            .is_some_and(|s| s.ends_with("/ErrorEnvelope"))
                        || p == "/readyz",
                    "{m} {p} {code}: {response}"
                );
            }
        }
        let secured = op["security"].as_array().is_some_and(|s| {
            s.iter()
                .all(|r| r.as_object().is_some_and(|o| !o.is_empty()))
        });
        if secured {
            assert!(responses.contains_key("401"), "{m} {p}: 401");
        }
        if op.get("requestBody").is_some() {
            for code in ["400", "413", "415", "422"] {
                assert!(responses.contains_key(code), "{m} {p}: {code}");
            }
        }
        if p.contains("{tenant}") {
            assert!(
                responses.contains_key("403") && responses.contains_key("404"),
                "{m} {p}"
            );
        }
    }
    for p in ["/api/v1/auth/signup", "/api/v1/auth/login"] {
        let r = &doc["paths"][p]["post"]["responses"]["429"];
        assert!(r["headers"]["Retry-After"].is_object(), "{p}: {r}");
    }
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["refresh_cookie"]["in"], "cookie");
    assert_eq!(schemes["refresh_cookie"]["name"], "stsd_refresh");
    let envelope = &doc["components"]["schemas"]["ErrorEnvelope"];
    assert_eq!(envelope["required"][0], "error");
}

/// Routes are added only through `utoipa_axum::routes!`, which documents them; a plain axum
/// `.route(...)` would serve an undocumented endpoint that no probe above could find.
#[test]
fn routes_are_only_added_with_documentation() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut stack = vec![src];
    let mut offenders = Vec::new();
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                for needle in [".route(", ".route_service(", ".nest(", ".nest_service("] {
                    if text.contains(needle) {
                        offenders.push(format!("{}: {needle}", path.display()));
                    }
                }
            }
        }
    }
    assert!(offenders.is_empty(), "undocumented routes: {offenders:?}");
}

async fn docs_page_is_self_contained(server: &TestServer) {
    let mut c = server.client();
    let (status, headers, body) = c.raw(Method::GET, "/api/docs", None, &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(csp.contains("script-src 'sha256-"), "{csp}");
    assert!(csp.contains("style-src 'sha256-"), "{csp}");
    assert!(csp.contains("connect-src 'self'"), "{csp}");
    assert!(!csp.contains("unsafe"), "{csp}");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    let html = body.as_str().unwrap();
    assert!(html.contains("/api/v1/openapi.json"));
    assert!(!html.contains("src=\"http") && !html.contains("href=\"http"));
}

/// The API's metrics as the binary's metrics listener serves them.
fn scrape(server: &TestServer) -> String {
    server.state.metrics_text().unwrap()
}

fn counter(metrics: &str, labels: &str) -> u64 {
    let prefix = format!("stsd_http_requests_total{{{labels}}} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map_or(0, |v| v.trim().parse().unwrap())
}

async fn metrics_count_requests_by_route_template(server: &TestServer) {
    // Not on the API's public port: metrics are served on the metrics listener only.
    let (status, headers, _) = server
        .client()
        .raw(Method::GET, "/metrics", None, &[])
        .await;
    assert!(
        status != StatusCode::OK
            || !headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/plain; version=0.0.4"),
        "/metrics answered on the API port"
    );
    let (mut c, tenant) = server.signup("metrics@example.com", "M").await;
    let labels = r#"method="GET",route="/api/v1/tenants/{tenant}/domains",status="200""#;
    let before = counter(&scrape(server), labels);
    let (status, _) = c.get(&format!("/api/v1/tenants/{tenant}/domains")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = c
        .get(&format!("/api/v1/tenants/{tenant}/domains?limit=5"))
        .await;
    assert_eq!(status, StatusCode::OK);
    let text = scrape(server);
    assert_eq!(counter(&text, labels), before + 2, "{text}");
    // The template, never the raw path: tenant ids do not become label values.
    assert!(!text.contains(&tenant), "{text}");
    assert!(
        text.contains(r#"stsd_http_request_duration_seconds_bucket{le="+Inf",route="/api/v1/tenants/{tenant}/domains"}"#)
            || text.contains(r#"stsd_http_request_duration_seconds_bucket{route="/api/v1/tenants/{tenant}/domains",le="+Inf"}"#),
        "{text}"
    );
    // Unknown paths share one label.
    c.get("/no/such/path/12345").await;
    let text = scrape(server);
    assert!(!text.contains("12345"), "{text}");
    assert!(
        counter(&text, r#"method="GET",route="unmatched",status="404""#) >= 1,
        "{text}"
    );
}

/// PostgreSQL refuses NUL in text: such input must stay a client error there too.
async fn nul_bytes_are_client_errors(server: &TestServer) {
    let (mut c, tenant) = server.signup("nul@example.com", "N").await;
    let (status, _) = c
        .post("/api/v1/tenants", serde_json::json!({ "name": "a\u{0}b" }))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = c.get("/api/v1/tenants/a%00b/domains").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = c
        .get(&format!("/api/v1/tenants/{tenant}/domains?q=%00"))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = c
        .delete(&format!("/api/v1/tenants/{tenant}/members/a%00b"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = c
        .delete(&format!("/api/v1/tenants/{tenant}/tokens/a%00b"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = c
        .post(
            &format!("/api/v1/tenants/{tenant}/members"),
            serde_json::json!({ "email": "a\u{0}@example.com", "role": "viewer" }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = c
        .post(
            "/api/v1/auth/login",
            serde_json::json!({ "email": "a\u{0}@example.com", "password": "x" }),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = c
        .get(&format!("/api/v1/tenants/{tenant}/domains?limit=abc"))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

crate::both_backends!(
    nul_bytes_are_client_errors,
    document_matches_the_router,
    docs_page_is_self_contained,
    metrics_count_requests_by_route_template
);
