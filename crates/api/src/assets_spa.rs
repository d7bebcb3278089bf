//! The dashboard: the built single-page app (`frontend/dist`) served from a directory on the
//! API listener.
//!
//! Rules: hashed files under `/assets/` are cached for a year (`immutable`); everything else,
//! `index.html` above all, is `no-cache`; any other path outside `/api/` that names no file
//! answers `index.html` so that client routes survive a reload; `/api/…` paths that match no
//! route keep the JSON 404. Every answer carries a strict Content-Security-Policy and
//! `nosniff`. Only plain path segments (letters, digits, `.`, `_`, `-`, not starting with a
//! dot) are looked up, and the resolved file must stay inside the directory, so no request
//! reads outside it.

use std::path::{Path, PathBuf};

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::AppState;
use crate::error::ApiError;

/// The dashboard's Content-Security-Policy: only its own scripts, styles and API.
pub(crate) const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
    style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; \
    base-uri 'none'; form-action 'self'";

/// `Cache-Control` of content-hashed files.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// `Cache-Control` of everything else (revalidate every time).
const NO_CACHE: &str = "no-cache";

/// The directory `frontend/dist` relative to the working directory, when it exists: the
/// default dashboard directory of a checkout.
pub(crate) fn default_dashboard_dir() -> Option<PathBuf> {
    let dir = PathBuf::from("frontend/dist");
    dir.join("index.html").is_file().then_some(dir)
}

/// The router's fallback: the dashboard for non-API paths, the JSON 404 otherwise.
pub(crate) async fn fallback(State(state): State<AppState>, req: Request) -> Response {
    let path = req.uri().path();
    match state.inner.config.dashboard_dir.as_deref() {
        Some(dir) if is_dashboard_request(req.method(), path) => serve(dir, path).await,
        None if path == "/" && is_dashboard_request(req.method(), path) => not_built(),
        _ => crate::error::not_found().await.into_response(),
    }
}

/// What `/` answers when no dashboard was found: a person opening the address learns why and
/// what to do, instead of a JSON 404.
const NOT_BUILT: &str = "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\">\
<title>stsd: dashboard not built</title><body><h1>The dashboard is not built</h1>\
<p>stsd's API is running at <code>/api/v1</code> (its description: \
<a href=\"/api/v1/openapi.json\">/api/v1/openapi.json</a>), but no built dashboard was found: \
<code>frontend/dist</code> is missing where stsd was started, and <code>STSD_DASHBOARD_DIR</code> \
is not set.</p><p>Build it from the repository with \
<code>(cd frontend &amp;&amp; npm ci &amp;&amp; npm run build)</code> and start stsd from the \
repository's top directory, or point <code>STSD_DASHBOARD_DIR</code> at a built copy.</p>\
</body></html>\n";

fn not_built() -> Response {
    file_response(
        StatusCode::NOT_FOUND,
        "text/html; charset=utf-8",
        NO_CACHE,
        NOT_BUILT.as_bytes().to_vec(),
    )
}

/// A read of a path outside `/api`: the dashboard's to answer.
fn is_dashboard_request(method: &Method, path: &str) -> bool {
    let is_api = path == "/api" || path.starts_with("/api/");
    !is_api && (method == Method::GET || method == Method::HEAD)
}

/// Answers `path` from `dir`.
async fn serve(dir: &Path, path: &str) -> Response {
    let segments: Option<Vec<&str>> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| plain_segment(s).then_some(s))
        .collect();
    let is_asset = path.starts_with("/assets/");
    if let Some(segments) = segments.filter(|s| !s.is_empty()) {
        let candidate = segments.iter().fold(dir.to_path_buf(), |p, s| p.join(s));
        if let Some(body) = read_inside(dir, &candidate).await {
            let cache = if is_asset { IMMUTABLE } else { NO_CACHE };
            return file_response(StatusCode::OK, content_type(&candidate), cache, body);
        }
    }
    if is_asset {
        // A missing hashed file is a stale page asking for an old build: never answer HTML
        // where a script is expected.
        return file_response(
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            NO_CACHE,
            b"not found\n".to_vec(),
        );
    }
    match read_inside(dir, &dir.join("index.html")).await {
        Some(body) => file_response(StatusCode::OK, "text/html; charset=utf-8", NO_CACHE, body),
        None => ApiError::not_found("dashboard").into_response(),
    }
}

/// A segment that names a file or directory and nothing else: no `..`, no hidden files, no
/// separators or escapes.
fn plain_segment(s: &str) -> bool {
    !s.starts_with('.')
        && s.len() <= 255
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// The contents of `file` if it is a regular file that, with symlinks resolved, lies
/// inside `dir`.
async fn read_inside(dir: &Path, file: &Path) -> Option<Vec<u8>> {
    let root = tokio::fs::canonicalize(dir).await.ok()?;
    let real = tokio::fs::canonicalize(file).await.ok()?;
    if !real.starts_with(&root) || !tokio::fs::metadata(&real).await.ok()?.is_file() {
        return None;
    }
    tokio::fs::read(&real).await.ok()
}

fn content_type(path: &Path) -> &'static str {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
    {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "webp" => "image/webp",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn file_response(
    status: StatusCode,
    content_type: &'static str,
    cache: &'static str,
    body: Vec<u8>,
) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_segments_only() {
        for ok in ["index.html", "app-1a2B.js", "favicon.ico", "domains", "a_b"] {
            assert!(plain_segment(ok), "{ok}");
        }
        for bad in [
            "..", ".", ".env", "%2e%2e", "a\\b", "a%2fb", "a b", "é", "a:b",
        ] {
            assert!(!plain_segment(bad), "{bad}");
        }
    }

    #[test]
    fn content_types() {
        assert_eq!(
            content_type(Path::new("x/app.js")),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(
            content_type(Path::new("x/app.css")),
            "text/css; charset=utf-8"
        );
        assert_eq!(
            content_type(Path::new("x/blob")),
            "application/octet-stream"
        );
    }

    #[test]
    fn api_paths_and_writes_are_not_the_dashboard() {
        assert!(is_dashboard_request(&Method::GET, "/"));
        assert!(is_dashboard_request(&Method::HEAD, "/domains/example.com"));
        assert!(is_dashboard_request(&Method::GET, "/apiary"));
        assert!(!is_dashboard_request(&Method::GET, "/api"));
        assert!(!is_dashboard_request(&Method::GET, "/api/v1/nope"));
        assert!(!is_dashboard_request(&Method::POST, "/domains"));
    }

    /// A built dashboard next to a secret file it must never serve.
    fn site() -> (tempfile::TempDir, PathBuf) {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("secret.txt"), "top secret").unwrap();
        let dist = root.path().join("dist");
        std::fs::create_dir_all(dist.join("assets")).unwrap();
        std::fs::write(
            dist.join("index.html"),
            "<!doctype html><title>stsd</title>",
        )
        .unwrap();
        std::fs::write(dist.join("assets/app-abc123.js"), "console.log(1)").unwrap();
        std::fs::write(dist.join("favicon.svg"), "<svg/>").unwrap();
        std::fs::write(dist.join(".env"), "hidden").unwrap();
        (root, dist)
    }

    async fn get(dir: &Path, path: &str) -> (StatusCode, axum::http::HeaderMap, String) {
        let response = serve(dir, path).await;
        let status = response.status();
        let headers = response.headers().clone();
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, headers, String::from_utf8(body.to_vec()).unwrap())
    }

    fn header(headers: &axum::http::HeaderMap, name: header::HeaderName) -> &str {
        headers.get(name).unwrap().to_str().unwrap()
    }

    #[tokio::test]
    async fn hashed_assets_are_immutable_and_index_is_revalidated() {
        let (_root, dist) = site();
        let (status, headers, body) = get(&dist, "/assets/app-abc123.js").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, "console.log(1)");
        assert_eq!(header(&headers, header::CACHE_CONTROL), IMMUTABLE);
        assert_eq!(
            header(&headers, header::CONTENT_TYPE),
            "text/javascript; charset=utf-8"
        );
        for path in ["/", "/index.html"] {
            let (status, headers, body) = get(&dist, path).await;
            assert_eq!(status, StatusCode::OK, "{path}");
            assert!(body.contains("<title>stsd</title>"), "{path}");
            assert_eq!(
                header(&headers, header::CACHE_CONTROL),
                "no-cache",
                "{path}"
            );
        }
        let (_, headers, _) = get(&dist, "/favicon.svg").await;
        assert_eq!(header(&headers, header::CONTENT_TYPE), "image/svg+xml");
        assert_eq!(header(&headers, header::CACHE_CONTROL), "no-cache");
    }

    #[tokio::test]
    async fn every_answer_has_the_security_headers() {
        let (_root, dist) = site();
        for path in [
            "/",
            "/assets/app-abc123.js",
            "/domains/x",
            "/assets/gone.js",
        ] {
            let (_, headers, _) = get(&dist, path).await;
            assert_eq!(
                header(&headers, header::CONTENT_SECURITY_POLICY),
                CONTENT_SECURITY_POLICY,
                "{path}"
            );
            assert_eq!(header(&headers, header::X_CONTENT_TYPE_OPTIONS), "nosniff");
        }
        assert!(CONTENT_SECURITY_POLICY.contains("script-src 'self';"));
        assert!(CONTENT_SECURITY_POLICY.contains("frame-ancestors 'none'"));
    }

    #[tokio::test]
    async fn client_routes_fall_back_to_index_but_missing_assets_do_not() {
        let (_root, dist) = site();
        for path in [
            "/domains",
            "/domains/example.com",
            "/login",
            "/t/abc/domains/new",
        ] {
            let (status, headers, body) = get(&dist, path).await;
            assert_eq!(status, StatusCode::OK, "{path}");
            assert!(body.contains("<title>stsd</title>"), "{path}");
            assert_eq!(header(&headers, header::CACHE_CONTROL), "no-cache");
        }
        let (status, headers, body) = get(&dist, "/assets/app-old999.js").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(!body.contains("<title>"));
        assert_eq!(
            header(&headers, header::CONTENT_TYPE),
            "text/plain; charset=utf-8"
        );
    }

    #[tokio::test]
    async fn no_path_reads_outside_the_directory() {
        let (root, dist) = site();
        std::os::unix::fs::symlink(root.path().join("secret.txt"), dist.join("link.txt")).unwrap();
        for path in [
            "/../secret.txt",
            "/assets/../../secret.txt",
            "/%2e%2e/secret.txt",
            "/..%2fsecret.txt",
            "/assets/..%2f..%2fsecret.txt",
            "/..\\secret.txt",
            "/link.txt",
            "/.env",
            "//etc/passwd",
            "/assets",
        ] {
            let (_, _, body) = get(&dist, path).await;
            assert!(!body.contains("top secret"), "{path}");
            assert!(!body.contains("hidden"), "{path}");
            assert!(!body.contains("root:"), "{path}");
        }
        // The directory itself is not a file: `/assets` falls back to the page.
        let (status, _, body) = get(&dist, "/assets").await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("<title>stsd</title>"));
    }

    #[tokio::test]
    async fn without_an_index_the_fallback_is_a_json_404() {
        let dir = tempfile::tempdir().unwrap();
        let (status, headers, body) = get(dir.path(), "/domains").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(header(&headers, header::CONTENT_TYPE).starts_with("application/json"));
        assert!(body.contains("\"not_found\""));
    }

    /// Writes the OpenAPI document to `frontend/openapi.json`, from which the dashboard's
    /// types are generated (`npm run gen:api` runs this).
    #[test]
    #[ignore = "writes frontend/openapi.json; run by `npm run gen:api`"]
    fn write_dashboard_openapi() {
        let json = crate::openapi().to_pretty_json().unwrap();
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../frontend/openapi.json");
        std::fs::write(path, format!("{json}\n")).unwrap();
    }
}
