//! The edge's answers. Only `GET`/`HEAD /.well-known/mta-sts.txt` for a served host whose
//! `Host` matches the SNI gets the policy; everything is a complete 200 or a small error, with
//! no redirects, ranges, validators or server banner.

use std::net::SocketAddr;

use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, HOST, LOCATION};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::Full;

use crate::follower::SnapshotHandle;

const POLICY_PATH: &str = "/.well-known/mta-sts.txt";
const CHALLENGE_PREFIX: &str = "/.well-known/acme-challenge/";

/// The host a request names: `:authority` (HTTP/2) or `Host`, lower-cased, without port or
/// trailing dot.
fn request_host<B>(req: &Request<B>) -> Option<String> {
    let raw = match req.uri().authority() {
        Some(a) => a.host().to_owned(),
        None => {
            let h = req.headers().get(HOST)?.to_str().ok()?;
            // Strip a port; IPv6 literals are never served names anyway.
            match h.rsplit_once(':') {
                Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host.to_owned(),
                _ => h.to_owned(),
            }
        }
    };
    let host = raw.trim_end_matches('.').to_ascii_lowercase();
    (!host.is_empty()).then_some(host)
}

fn small(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// The refusal for a request whose `Host` is missing or differs from the SNI, if it is one.
pub(super) fn misdirected<B>(req: &Request<B>, sni: Option<&str>) -> Option<Response<Full<Bytes>>> {
    let Some(host) = request_host(req) else {
        return Some(small(StatusCode::BAD_REQUEST, "missing host\n"));
    };
    (sni != Some(host.as_str())).then(|| {
        small(
            StatusCode::MISDIRECTED_REQUEST,
            "host does not match the TLS server name\n",
        )
    })
}

/// Answers an HTTPS request on the connection whose SNI was `sni`.
pub(crate) fn https<B>(
    req: &Request<B>,
    sni: Option<&str>,
    snapshots: &SnapshotHandle,
    peer: SocketAddr,
) -> Response<Full<Bytes>> {
    if let Some(refusal) = misdirected(req, sni) {
        return refusal;
    }
    let Some(host) = request_host(req) else {
        return small(StatusCode::BAD_REQUEST, "missing host\n");
    };
    let head = req.method() == Method::HEAD;
    if !(req.method() == Method::GET || head) || req.uri().path() != POLICY_PATH {
        return small(StatusCode::NOT_FOUND, "not found\n");
    }
    let snapshot = snapshots.guard();
    let Some(entry) = snapshot.host(&host) else {
        return small(StatusCode::NOT_FOUND, "not found\n");
    };
    let len = entry.body.len();
    let body = if head {
        Bytes::new()
    } else {
        snapshots.record_fetch(&entry.domain_id, peer.ip());
        entry.body.clone()
    };
    let mut r = Response::new(Full::new(body));
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(CONTENT_LENGTH, HeaderValue::from(len));
    r
}

/// Answers a plain-HTTP request: ACME HTTP-01 challenges, else a redirect to HTTPS.
pub(crate) fn http<B>(req: &Request<B>, snapshots: &SnapshotHandle) -> Response<Full<Bytes>> {
    let path = req.uri().path();
    if let Some(token) = path.strip_prefix(CHALLENGE_PREFIX) {
        if req.method() != Method::GET && req.method() != Method::HEAD {
            return small(StatusCode::NOT_FOUND, "not found\n");
        }
        let snapshot = snapshots.guard();
        return match snapshot.challenge(token) {
            Some(key_auth) => {
                let mut r = Response::new(Full::new(key_auth.clone()));
                r.headers_mut().insert(
                    CONTENT_TYPE,
                    HeaderValue::from_static("application/octet-stream"),
                );
                r
            }
            None => small(StatusCode::NOT_FOUND, "not found\n"),
        };
    }
    let Some(host) = request_host(req) else {
        return small(StatusCode::BAD_REQUEST, "missing host\n");
    };
    // Only names that can be hosts: nothing that would let a header inject a redirect target.
    if !host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
    {
        return small(StatusCode::BAD_REQUEST, "bad host\n");
    }
    let target = format!("https://{host}{}", ascii_path(req.uri().path()));
    match HeaderValue::from_str(&target) {
        Ok(location) => {
            let mut r = small(StatusCode::MOVED_PERMANENTLY, "see https\n");
            r.headers_mut().insert(LOCATION, location);
            r
        }
        Err(_) => small(StatusCode::BAD_REQUEST, "bad request\n"),
    }
}

/// `path` with every byte outside visible ASCII percent-encoded (RFC 3986 §2.1). hyper passes
/// request targets with raw UTF-8 through, and a `Location` must be a URI, which has none.
fn ascii_path(path: &str) -> std::borrow::Cow<'_, str> {
    use std::fmt::Write as _;
    if path.bytes().all(|b| b.is_ascii_graphic()) {
        return std::borrow::Cow::Borrowed(path);
    }
    let mut out = String::with_capacity(path.len() * 3);
    for b in path.bytes() {
        if b.is_ascii_graphic() {
            out.push(char::from(b));
        } else {
            // Writing to a String cannot fail.
            let _ = write!(out, "%{b:02X}");
        }
    }
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_forms() {
        let r = Request::builder()
            .uri("/x")
            .header(HOST, "MTA-STS.Example.com.:443")
            .body(())
            .unwrap();
        assert_eq!(request_host(&r).as_deref(), Some("mta-sts.example.com"));
        let r = Request::builder()
            .uri("https://mta-sts.example.com/x")
            .body(())
            .unwrap();
        assert_eq!(request_host(&r).as_deref(), Some("mta-sts.example.com"));
        let r = Request::builder().uri("/x").body(()).unwrap();
        assert_eq!(request_host(&r), None);
    }

    /// Found by the `edge_http` fuzz target: a request target with raw UTF-8 (which hyper
    /// accepts) was copied into the redirect's `Location` as is, which is no URI.
    #[test]
    fn redirect_location_is_ascii() {
        let uri = http::Uri::try_from(b"/mta\xd6\x8cts.txt".as_slice()).unwrap();
        let r = Request::builder()
            .uri(uri)
            .header(HOST, "mta-sts.example.com")
            .body(())
            .unwrap();
        let handle = crate::fuzzing::Fixture::new();
        let response = handle.http(&r);
        assert_eq!(response.status(), StatusCode::MOVED_PERMANENTLY);
        assert_eq!(
            response.headers()[LOCATION].to_str().unwrap(),
            "https://mta-sts.example.com/mta%D6%8Cts.txt"
        );
        assert_eq!(ascii_path("/a b%"), "/a%20b%");
    }
}
