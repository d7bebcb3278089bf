//! `GET /api/docs`: an interactive API reference that needs nothing from the internet.
//!
//! The page (`assets/docs.html`) gets its stylesheet and script inlined once, at first use,
//! and is served with a Content-Security-Policy that allows exactly those two inline blocks
//! (by their SHA-256) and requests to this origin: no CDN, no `unsafe-inline`, no `eval`.

use std::sync::LazyLock;

use aws_lc_rs::digest;
use axum::http::{HeaderName, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;

const TEMPLATE: &str = include_str!("../assets/docs.html");
const STYLE: &str = include_str!("../assets/docs.css");
const SCRIPT: &str = include_str!("../assets/docs.js");

/// The finished page and its policy.
struct Page {
    html: String,
    csp: String,
}

fn sha256_source(text: &str) -> String {
    let hash = digest::digest(&digest::SHA256, text.as_bytes());
    format!("'sha256-{}'", STANDARD.encode(hash.as_ref()))
}

static PAGE: LazyLock<Page> = LazyLock::new(|| {
    let html = TEMPLATE
        .replace("/*STYLE*/", STYLE)
        .replace("/*SCRIPT*/", SCRIPT);
    let csp = format!(
        "default-src 'none'; script-src {script}; style-src {style}; connect-src 'self'; \
         img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        script = sha256_source(SCRIPT),
        style = sha256_source(STYLE),
    );
    Page { html, csp }
});

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(docs))
}

/// The interactive API reference (HTML), built from `/api/v1/openapi.json`.
#[utoipa::path(
    get,
    path = "/api/docs",
    operation_id = "getApiDocs",
    tag = "meta",
    responses((status = 200, description = "The reference page", content_type = "text/html", body = String))
)]
async fn docs() -> Response {
    let page = &*PAGE;
    let mut response = (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        page.html.clone(),
    )
        .into_response();
    let headers = response.headers_mut();
    if let Ok(csp) = HeaderValue::from_str(&page.csp) {
        headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        HeaderName::from_static("x-frame-options"),
        HeaderValue::from_static("DENY"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_inlines_exactly_the_hashed_blocks() {
        let page = &*PAGE;
        assert!(!page.html.contains("/*STYLE*/") && !page.html.contains("/*SCRIPT*/"));
        assert_eq!(page.html.matches("<script").count(), 1);
        assert_eq!(page.html.matches("<style").count(), 1);
        assert!(page.html.contains(&format!("<script>{SCRIPT}</script>")));
        assert!(page.html.contains(&format!("<style>{STYLE}</style>")));
        assert!(!page.html.contains("http://") && !page.html.contains("https://"));
        assert!(page.csp.contains(&sha256_source(SCRIPT)));
        assert!(!page.csp.contains("unsafe"));
    }
}
