//! Alert delivery: the webhook outbox sent to customers' receivers, signed, with retries.
//!
//! Each request carries `Stsd-Event`, `Stsd-Delivery` (the delivery id, for receivers to
//! deduplicate) and `Stsd-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`
//! under the webhook's secret, so a receiver can check origin and freshness. Receivers on
//! private, loopback or link-local addresses are refused unless allowed (no server-side
//! request forgery into the operator's network), including names that resolve there.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use aws_lc_rs::hmac;
use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::rt::TokioExecutor;
use stsd_store::{DueDelivery, MasterKey, Store};
use time::OffsetDateTime;

/// How alerts are delivered.
#[derive(Debug, Clone)]
pub struct AlertConfig {
    /// Allow receivers on private, loopback and link-local addresses (tests, on-premises).
    pub allow_private: bool,
    /// Bound on one delivery attempt.
    pub timeout: Duration,
    /// Attempts before a delivery is given up.
    pub max_attempts: i64,
    /// Delay after the first failure; doubled per further failure.
    pub backoff_base: Duration,
    /// The longest delay between attempts.
    pub backoff_cap: Duration,
    /// Sleep when nothing is due.
    pub poll: Duration,
}

impl Default for AlertConfig {
    /// Public receivers only, 10 s per attempt, 12 attempts backing off from 30 s to 6 h
    /// (about a day and a half in all), polled every second.
    fn default() -> AlertConfig {
        AlertConfig {
            allow_private: false,
            timeout: Duration::from_secs(10),
            max_attempts: 12,
            backoff_base: Duration::from_secs(30),
            backoff_cap: Duration::from_secs(6 * 3600),
            poll: Duration::from_secs(1),
        }
    }
}

/// The `Stsd-Signature` header value for `body` sent at `timestamp` under `secret`.
pub fn signature(secret: &[u8], timestamp: i64, body: &str) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let tag = hmac::sign(&key, format!("{timestamp}.{body}").as_bytes());
    let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("t={timestamp},v1={hex}")
}

/// Resolves receiver names, keeping only addresses alerts may go to.
#[derive(Clone)]
struct GuardedResolver {
    allow_private: bool,
}

type Resolving =
    Pin<Box<dyn Future<Output = std::io::Result<std::vec::IntoIter<SocketAddr>>> + Send>>;

impl tower::Service<Name> for GuardedResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = std::io::Error;
    type Future = Resolving;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), 0))
                .await?
                .filter(|a| allow_private || stsd_core::is_public_address(a.ip()))
                .collect();
            if found.is_empty() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::PermissionDenied,
                    format!("{} resolves to no public address", name.as_str()),
                ));
            }
            Ok(found.into_iter())
        })
    }
}

type HttpsClient =
    Client<hyper_rustls::HttpsConnector<HttpConnector<GuardedResolver>>, Full<Bytes>>;

fn client(config: &AlertConfig) -> Result<HttpsClient, String> {
    let mut http = HttpConnector::new_with_resolver(GuardedResolver {
        allow_private: config.allow_private,
    });
    http.enforce_http(false);
    http.set_connect_timeout(Some(config.timeout));
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_root_certificates(rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    })
    .with_no_client_auth();
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new()).build(https))
}

/// Sends due deliveries until the task is aborted.
pub async fn run_alerts(store: Store, master: Arc<MasterKey>, config: AlertConfig) {
    let client = match client(&config) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot set up the webhook client; alerts are not sent");
            return;
        }
    };
    loop {
        match deliver_due(&store, &master, &client, &config).await {
            Ok(0) => tokio::time::sleep(config.poll).await,
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "webhook delivery round failed");
                tokio::time::sleep(config.poll).await;
            }
        }
    }
}

async fn deliver_due(
    store: &Store,
    master: &MasterKey,
    client: &HttpsClient,
    config: &AlertConfig,
) -> Result<usize, stsd_store::StoreError> {
    // The claim outlasts an attempt, so that a slow receiver is not sent a second copy.
    let due = store
        .all_tenants()
        .claim_due_deliveries(20, config.timeout * 3 + Duration::from_secs(30))
        .await?;
    let n = due.len();
    for d in due {
        let outcome = attempt(master, client, config, &d).await;
        let attempts = d.attempts + 1;
        match outcome {
            Ok(status) => {
                store
                    .all_tenants()
                    .record_delivery(&d.id, true, Some(status), None, None)
                    .await?;
            }
            Err((status, error)) => {
                let retry_at = (attempts < config.max_attempts)
                    .then(|| OffsetDateTime::now_utc() + backoff(attempts, config));
                tracing::info!(delivery = %d.id, event = %d.event, attempts, %error,
                    gave_up = retry_at.is_none(), "webhook delivery failed");
                store
                    .all_tenants()
                    .record_delivery(&d.id, false, status, Some(&error), retry_at)
                    .await?;
            }
        }
    }
    Ok(n)
}

/// One attempt: the receiver's 2xx status, or the status (if any) and what went wrong.
async fn attempt(
    master: &MasterKey,
    client: &HttpsClient,
    config: &AlertConfig,
    d: &DueDelivery,
) -> Result<u16, (Option<u16>, String)> {
    let secret = master
        .open(&d.secret_ciphertext)
        .map_err(|e| (None, format!("the webhook secret cannot be opened: {e}")))?;
    let uri: http::Uri = d.url.parse().map_err(|e| (None, format!("bad URL: {e}")))?;
    // A literal address never reaches the resolver: check it here.
    if let Some(ip) = uri
        .host()
        .map(|h| h.trim_start_matches('[').trim_end_matches(']'))
        .and_then(|h| h.parse::<IpAddr>().ok())
        && !config.allow_private
        && !stsd_core::is_public_address(ip)
    {
        return Err((None, format!("{ip} is not a public address")));
    }
    let timestamp = OffsetDateTime::now_utc().unix_timestamp();
    let request = http::Request::post(uri)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::USER_AGENT, "stsd-webhooks/1")
        .header("stsd-event", &d.event)
        .header("stsd-delivery", &d.id)
        .header("stsd-signature", signature(&secret, timestamp, &d.body))
        .body(Full::new(Bytes::from(d.body.clone())))
        .map_err(|e| (None, e.to_string()))?;
    match tokio::time::timeout(config.timeout, client.request(request)).await {
        Err(_) => Err((
            None,
            format!("no answer within {} s", config.timeout.as_secs()),
        )),
        Ok(Err(e)) => Err((None, connect_error(&e))),
        Ok(Ok(response)) => {
            let status = response.status().as_u16();
            if response.status().is_success() {
                Ok(status)
            } else {
                Err((Some(status), format!("the receiver answered {status}")))
            }
        }
    }
}

/// The most telling part of a client error (the innermost cause).
fn connect_error(e: &hyper_util::client::legacy::Error) -> String {
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

fn backoff(attempts: i64, config: &AlertConfig) -> time::Duration {
    stsd_core::backoff(attempts, config.backoff_base, config.backoff_cap)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hmac_sha256_over_timestamp_and_body() {
        // RFC 4231 test case 2 shape: key "Jefe", data "what do ya want for nothing?".
        let s = signature(b"Jefe", 1, "what do ya want for nothing?");
        assert!(s.starts_with("t=1,v1="));
        let key = hmac::Key::new(hmac::HMAC_SHA256, b"Jefe");
        let tag = hmac::sign(&key, b"1.what do ya want for nothing?");
        let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(s, format!("t=1,v1={hex}"));
        assert_eq!(hex.len(), 64);
    }

    #[test]
    fn backoff_doubles_to_the_cap() {
        let c = AlertConfig::default();
        assert_eq!(backoff(1, &c).whole_seconds(), 30);
        assert_eq!(backoff(2, &c).whole_seconds(), 60);
        assert_eq!(backoff(20, &c).whole_seconds(), 6 * 3600);
    }
}
