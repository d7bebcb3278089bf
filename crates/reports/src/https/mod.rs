//! The HTTPS receiver: `POST /v1/tlsrpt/{label}` on `reports.<zone>`, the `rua=https:` URI of
//! every customer's TLS-RPT record (RFC 8460 §3).
//!
//! A report is acknowledged with a 2xx only once it is stored. The body is read under a size
//! limit and a deadline; a body that is gzip or JSON but declared with another media type is
//! accepted and flagged (a 415 would make the reporter drop it); 415 only for a body that is
//! neither. When the store fails the answer is 503 with `Retry-After`, so the reporter retries.
//!
//! Anyone can POST here, so requests are metered per source and per label ([`limits`]):
//! over a limit the answer is 429 with `Retry-After` and nothing is stored. Each report's
//! origin is checked by the client's forward-confirmed reverse DNS ([`origin`]) and stored
//! with it; an unverified report is counted only for tenants that chose so.

mod limits;
mod origin;

use std::fmt::Display;
use std::net::SocketAddr;

use bytes::Bytes;
use http::header::{ALLOW, CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body::Body;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use stsd_core::Label;
use stsd_core::tlsrpt::ReportError;
use stsd_store::{DomainState, PreparedReport, ReportOrigin, Store, Submission, Transport};

pub use limits::ReceiverLimits;
use limits::{Limiter, Refusal, Whose};
pub use origin::{OriginCheck, OriginVerifier};

/// The path prefix of the receiver; the label follows.
const PATH_PREFIX: &str = "/v1/tlsrpt/";

/// Receives reports over HTTPS for every registration, by label.
#[derive(Debug, Clone)]
pub struct HttpsReceiver {
    store: Store,
    limits: ReceiverLimits,
    limiter: std::sync::Arc<Limiter>,
    origin: OriginVerifier,
}

fn reply(status: StatusCode, json: serde_json::Value) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(json.to_string())));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

fn error(status: StatusCode, code: &str, message: impl Display) -> Response<Full<Bytes>> {
    reply(
        status,
        serde_json::json!({ "error": { "code": code, "message": message.to_string() } }),
    )
}

impl HttpsReceiver {
    /// A receiver storing into `store`, within `limits`, checking origins with `origin`.
    pub fn new(store: Store, limits: ReceiverLimits, origin: OriginVerifier) -> HttpsReceiver {
        HttpsReceiver {
            store,
            limiter: std::sync::Arc::new(Limiter::new(&limits)),
            limits,
            origin,
        }
    }

    /// Answers one request for `reports.<zone>` from `client` (the address the connection
    /// came from).
    pub async fn handle<B>(&self, req: Request<B>, client: SocketAddr) -> Response<Full<Bytes>>
    where
        B: Body<Data = Bytes>,
        B::Error: std::error::Error + Send + Sync + 'static,
    {
        // Every request counts against its source, whatever it asks for.
        if let Err(refusal) = self.limiter.source_request(client.ip()) {
            return refused(refusal, client);
        }
        let Some(raw_label) = req.uri().path().strip_prefix(PATH_PREFIX) else {
            return error(StatusCode::NOT_FOUND, "not_found", "not found");
        };
        if req.method() != Method::POST {
            let mut r = error(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "reports are delivered with POST",
            );
            r.headers_mut()
                .insert(ALLOW, HeaderValue::from_static("POST"));
            return r;
        }
        let Ok(label) = raw_label.parse::<Label>() else {
            return error(
                StatusCode::NOT_FOUND,
                "unknown_label",
                "no such report address",
            );
        };
        let declared_len = req
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared_len.is_some_and(|n| n > self.limits.max_body as u64) {
            return too_large(self.limits.max_body);
        }
        let domain = match self.store.all_tenants().domain_by_label(&label).await {
            Ok(Some(d)) if d.state != DomainState::Removed => d,
            Ok(_) => {
                return error(
                    StatusCode::NOT_FOUND,
                    "unknown_label",
                    "no such report address",
                );
            }
            Err(e) => return unavailable(&e),
        };
        // Labels are metered once known to exist, so that their count stays that of the
        // registrations.
        if let Err(refusal) = self.limiter.label_request(label.as_str()) {
            return refused(refusal, client);
        }
        // A declared length is charged before the body is read, so that a source or label
        // over its volume is not made to receive it first.
        if let Some(n) = declared_len
            && let Err(refusal) = self.limiter.bytes(client.ip(), label.as_str(), n)
        {
            return refused(refusal, client);
        }
        let declared = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let limited = Limited::new(req.into_body(), self.limits.max_body);
        let body = match tokio::time::timeout(self.limits.body_timeout, limited.collect()).await {
            Ok(Ok(collected)) => collected.to_bytes(),
            Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => {
                return too_large(self.limits.max_body);
            }
            Ok(Err(e)) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "bad_body",
                    format!("reading the body: {e}"),
                );
            }
            Err(_) => {
                return error(
                    StatusCode::REQUEST_TIMEOUT,
                    "body_timeout",
                    "the body did not arrive in time",
                );
            }
        };
        if declared_len.is_none()
            && let Err(refusal) = self
                .limiter
                .bytes(client.ip(), label.as_str(), body.len() as u64)
        {
            return refused(refusal, client);
        }
        let submission = Submission {
            domain: &domain,
            body: &body,
            declared_media_type: declared.as_deref(),
            transport: Transport::Https,
            // Until the client's address is checked against the report below.
            origin: ReportOrigin::UnverifiedHttps,
            dkim: None,
            flags: &[],
            max_decompressed: self.limits.max_decompressed,
        };
        let prepared = match PreparedReport::new(&submission) {
            Ok(p) => p,
            Err(e) => {
                self.store.count_rejected_report(Transport::Https);
                return report_refused(&e);
            }
        };
        let check = self
            .origin
            .check(
                client.ip(),
                prepared.reporter_domain(),
                self.limits.origin_timeout,
            )
            .await;
        let prepared = match &check {
            OriginCheck::Verified { .. } => prepared.with_origin(ReportOrigin::VerifiedHttps),
            OriginCheck::Unverified(_) => prepared,
        };
        match self.store.all_tenants().ingest_prepared(prepared).await {
            Ok(ingested) => {
                tracing::info!(domain = %domain.name, organization = %ingested.organization,
                    report_id = %ingested.report_id, duplicate = ingested.duplicate,
                    client = %client.ip(), origin = %ingested.origin, check = ?check,
                    "TLS report received over HTTPS");
                reply(
                    if ingested.duplicate {
                        StatusCode::OK
                    } else {
                        StatusCode::CREATED
                    },
                    serde_json::json!({
                        "id": ingested.id,
                        "duplicate": ingested.duplicate,
                        "media_type_flagged": ingested.media_type_flagged,
                        "domain_mismatch": ingested.domain_mismatch,
                    }),
                )
            }
            Err(e) => unavailable(&e),
        }
    }
}

/// The answer to a request over a limit: nothing was stored.
fn refused(refusal: Refusal, client: SocketAddr) -> Response<Full<Bytes>> {
    // Debug: a client causes these at will, and the log must not follow its pace.
    tracing::debug!(client = %client.ip(), ?refusal, "TLS report request refused by a limit");
    let whose = |w: Whose| match w {
        Whose::Source => "from this address",
        Whose::Label => "for this report address",
    };
    let (status, code, message, retry) = match refusal {
        Refusal::Later {
            whose: w,
            retry_after,
        } => (
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!("too many reports {}; retry later", whose(w)),
            retry_after.as_secs(),
        ),
        Refusal::TooLarge(w) => {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("the report is over a day's volume {}", whose(w)),
            );
        }
        Refusal::Busy => (
            StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            "too many clients at once; retry later".to_owned(),
            60,
        ),
    };
    let mut r = error(status, code, message);
    r.headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from(retry));
    r
}

fn too_large(limit: usize) -> Response<Full<Bytes>> {
    error(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!("the report is over {limit} bytes"),
    )
}

fn report_refused(e: &ReportError) -> Response<Full<Bytes>> {
    match e {
        ReportError::NotAReport | ReportError::Gzip(_) => error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!("{e}: send application/tlsrpt+gzip or application/tlsrpt+json"),
        ),
        ReportError::TooLarge { .. } => {
            error(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", e)
        }
        ReportError::TooDeep(_) | ReportError::Json(_) | ReportError::Invalid(_) => {
            error(StatusCode::BAD_REQUEST, "invalid_report", e)
        }
    }
}

fn unavailable(e: &dyn Display) -> Response<Full<Bytes>> {
    tracing::warn!(error = %e, "cannot store a TLS report now; the reporter will retry");
    let mut r = error(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        "the report could not be stored; retry later",
    );
    r.headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from_static("60"));
    r
}
