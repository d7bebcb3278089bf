//! A request as the edge's responders see it once hyper has read it: method, request target,
//! `Host` header and the connection's SNI, given as four lines. Runs the HTTPS responder
//! (policy file, Host/SNI check) and the plain-HTTP one (ACME HTTP-01, redirect to HTTPS, whose
//! `Location` must be an ASCII `https://` URI).
//! Parts that hyper itself would refuse (a malformed method or target) are skipped, as
//! hyper never passes them on.
#![no_main]

use std::sync::LazyLock;

use http::header::{HOST, LOCATION};
use http::{HeaderValue, Method, Request, Uri};
use libfuzzer_sys::fuzz_target;
use stsd_serving::fuzzing::Fixture;

static FIXTURE: LazyLock<Fixture> = LazyLock::new(Fixture::new);

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(4, |&b| b == b'\n');
    let method = parts.next().unwrap_or_default();
    let target = parts.next().unwrap_or_default();
    let host = parts.next();
    let sni = parts.next().and_then(|s| std::str::from_utf8(s).ok());
    let (Ok(method), Ok(uri)) = (Method::from_bytes(method), Uri::try_from(target)) else {
        return;
    };
    let mut req = Request::new(());
    *req.method_mut() = method;
    *req.uri_mut() = uri;
    if let Some(h) = host.and_then(|h| HeaderValue::from_bytes(h).ok()) {
        req.headers_mut().insert(HOST, h);
    }
    let _ = FIXTURE.https(&req, sni);
    let plain = FIXTURE.http(&req);
    if let Some(location) = plain.headers().get(LOCATION) {
        // Visible ASCII only (a URI), and to HTTPS.
        let Ok(location) = location.to_str() else {
            panic!("redirect to a non-ASCII location {location:?}");
        };
        assert!(location.starts_with("https://"), "redirect to {location:?}");
    }
});
