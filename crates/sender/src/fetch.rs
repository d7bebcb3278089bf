//! Fetching a policy over HTTPS as senders do (RFC 8461 §3.3): from `mta-sts.<domain>` on
//! port 443, the certificate validated for that name, `GET /.well-known/mta-sts.txt`, a `200`
//! with media type `text/plain`, no redirects followed, at most 64 KB.

use std::net::{IpAddr, SocketAddr};

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HOST, USER_AGENT};
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use stsd_core::{DomainName, Policy, is_public_address};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::SenderView;
use crate::reading::{Fetched, Lookup};

/// The policy's path on the `mta-sts` host.
const PATH: &str = "/.well-known/mta-sts.txt";
/// The largest body read: what senders must accept (RFC 8461 §3.3).
const MAX_BODY: usize = 65_536;

/// Fetches and parses the policy of `domain`, bounded by the view's fetch timeout.
pub(crate) async fn policy(view: &SenderView, domain: &DomainName) -> Lookup<Fetched> {
    let host = format!("mta-sts.{}", domain.as_str());
    match tokio::time::timeout(view.fetch_timeout, fetch(view, &host)).await {
        Ok(result) => result,
        Err(_) => Lookup::Failed(format!(
            "https://{host}{PATH} did not answer within {} seconds",
            view.fetch_timeout.as_secs()
        )),
    }
}

async fn fetch(view: &SenderView, host: &str) -> Lookup<Fetched> {
    let url = format!("https://{host}{PATH}");
    let addresses = match view.dns.addresses(host).await {
        Ok(addresses) => addresses,
        Err(failure) => return Lookup::Failed(failure.detail),
    };
    if addresses.is_empty() {
        return Lookup::Invalid(format!(
            "{host} has no address record, so senders cannot fetch the policy"
        ));
    }
    let reachable: Vec<IpAddr> = addresses
        .iter()
        .copied()
        .filter(|ip| view.allow_private || is_public_address(*ip))
        .collect();
    if reachable.is_empty() {
        return Lookup::Invalid(format!(
            "{host} resolves only to addresses that are not on the public Internet ({}), so \
             senders cannot fetch the policy",
            list(&addresses)
        ));
    }
    let (tcp, address) = match connect(&reachable, view.port).await {
        Ok(connected) => connected,
        Err(why) => {
            return Lookup::Invalid(format!(
                "cannot connect to {host} on port {}: {why}",
                view.port
            ));
        }
    };
    let Ok(server_name) = ServerName::try_from(host.to_owned()) else {
        return Lookup::Invalid(format!(
            "{host} is not a name a certificate can be checked for"
        ));
    };
    let tls = match TlsConnector::from(view.tls.clone())
        .connect(server_name, tcp)
        .await
    {
        Ok(tls) => tls,
        Err(e) => {
            return Lookup::Invalid(format!(
                "the TLS handshake with {host} ({address}) failed, so senders cannot trust the \
                 policy: {e}"
            ));
        }
    };
    let (mut sender, connection) =
        match hyper::client::conn::http1::handshake(TokioIo::new(tls)).await {
            Ok(pair) => pair,
            Err(e) => return Lookup::Invalid(format!("{url}: HTTP failed: {e}")),
        };
    // Ends with the request, or when the outer timeout drops this future.
    let connection = tokio::spawn(connection);
    let request = Request::get(PATH)
        .header(HOST, host)
        .header(USER_AGENT, concat!("stsd/", env!("CARGO_PKG_VERSION")))
        .body(Empty::<Bytes>::new());
    let Ok(request) = request else {
        connection.abort();
        return Lookup::Invalid(format!("{url} cannot be requested"));
    };
    let result = read(&url, sender.send_request(request).await).await;
    connection.abort();
    result
}

/// Judges the answer as senders do and parses the body.
async fn read(
    url: &str,
    response: Result<http::Response<hyper::body::Incoming>, hyper::Error>,
) -> Lookup<Fetched> {
    let response = match response {
        Ok(response) => response,
        Err(e) => return Lookup::Invalid(format!("{url}: HTTP failed: {e}")),
    };
    let status = response.status();
    if status.is_redirection() {
        return Lookup::Invalid(format!(
            "{url} answered {status}, a redirect; senders do not follow redirects for policies"
        ));
    }
    if status != StatusCode::OK {
        return Lookup::Invalid(format!("{url} answered {status}, not 200 OK"));
    }
    let media_type = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        });
    if media_type.as_deref() != Some("text/plain") {
        return Lookup::Invalid(format!(
            "{url} is served as {}, not text/plain; senders reject it",
            media_type.unwrap_or_else(|| "no media type".to_owned())
        ));
    }
    let body = match Limited::new(response.into_body(), MAX_BODY).collect().await {
        Ok(body) => body.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            return Lookup::Invalid(format!(
                "{url} is larger than {MAX_BODY} bytes, more than senders read"
            ));
        }
        Err(e) => return Lookup::Invalid(format!("{url}: reading the body failed: {e}")),
    };
    let Ok(text) = std::str::from_utf8(&body) else {
        return Lookup::Invalid(format!("{url} is not UTF-8 text"));
    };
    match Policy::parse(text) {
        Ok(parsed) => Lookup::Found(Fetched {
            policy: parsed.policy,
            warnings: parsed.warnings,
        }),
        Err(e) => Lookup::Invalid(format!("the policy at {url} is not valid: {e}")),
    }
}

/// Connects to the first address that accepts, in order.
async fn connect(addresses: &[IpAddr], port: u16) -> Result<(TcpStream, SocketAddr), String> {
    let mut errors = Vec::new();
    for ip in addresses {
        let address = SocketAddr::new(*ip, port);
        match TcpStream::connect(address).await {
            Ok(tcp) => return Ok((tcp, address)),
            Err(e) => errors.push(format!("{address}: {e}")),
        }
    }
    Err(errors.join("; "))
}

fn list(addresses: &[IpAddr]) -> String {
    addresses
        .iter()
        .map(IpAddr::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
