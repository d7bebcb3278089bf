//! The CA's rate limits: noticing `rateLimited` problems, remembering the `Retry-After` that
//! came with them, and deciding when to try again.
//!
//! instant-acme turns an error response into its problem document and drops the headers, so
//! the `Retry-After` is caught one layer down: [`CapturingClient`] wraps the HTTP client and
//! notes the header of every error response in a task-local slot that
//! [`with_retry_after`] opens around one order. Task-local, because orders run concurrently
//! on one shared account and must not see each other's answers.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;
use instant_acme::{BodyWrapper, BytesResponse, HttpClient};
use time::OffsetDateTime;

use crate::error::CertsError;

/// RFC 8555 §6.7: the problem type of a rate-limit refusal.
pub(crate) const RATE_LIMITED: &str = "urn:ietf:params:acme:error:rateLimited";

tokio::task_local! {
    /// The `Retry-After` of the last error response within the current order.
    static CAUGHT: Cell<Option<OffsetDateTime>>;
}

/// An [`HttpClient`] that records the `Retry-After` of error responses for
/// [`with_retry_after`].
pub(crate) struct CapturingClient {
    inner: Box<dyn HttpClient>,
}

impl CapturingClient {
    /// Wraps `inner`.
    pub(crate) fn new(inner: Box<dyn HttpClient>) -> CapturingClient {
        CapturingClient { inner }
    }
}

impl HttpClient for CapturingClient {
    fn request(
        &self,
        req: http::Request<BodyWrapper<Bytes>>,
    ) -> Pin<Box<dyn Future<Output = Result<BytesResponse, instant_acme::Error>> + Send>> {
        let response = self.inner.request(req);
        Box::pin(async move {
            let response = response.await?;
            let status = response.parts.status;
            if (status.is_client_error() || status.is_server_error())
                && let Some(at) = response
                    .parts
                    .headers
                    .get(http::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| parse_retry_after(v, OffsetDateTime::now_utc()))
            {
                // Outside an order's scope (account creation at start) there is no slot.
                let _ = CAUGHT.try_with(|slot| slot.set(Some(at)));
            }
            Ok(response)
        })
    }
}

/// Runs `order` with a fresh `Retry-After` slot; a `rateLimited` failure becomes
/// [`CertsError::RateLimited`] carrying the time the CA named.
pub(crate) async fn with_retry_after<T>(
    order: impl Future<Output = Result<T, CertsError>>,
) -> Result<T, CertsError> {
    CAUGHT
        .scope(Cell::new(None), async {
            let result = order.await;
            let retry_after = CAUGHT.with(Cell::get);
            result.map_err(|e| classify(e, retry_after))
        })
        .await
}

/// A `rateLimited` problem from the CA becomes [`CertsError::RateLimited`]; anything else
/// is returned as it is.
pub(crate) fn classify(error: CertsError, retry_after: Option<OffsetDateTime>) -> CertsError {
    match error {
        CertsError::Acme(instant_acme::Error::Api(problem))
            if problem.r#type.as_deref() == Some(RATE_LIMITED) =>
        {
            CertsError::RateLimited {
                detail: problem.to_string(),
                retry_after,
            }
        }
        other => other,
    }
}

/// `Retry-After` (RFC 9110 §10.2.3): delay seconds or an IMF-fixdate.
fn parse_retry_after(value: &str, now: OffsetDateTime) -> Option<OffsetDateTime> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u32>() {
        return Some(now + time::Duration::seconds(i64::from(seconds)));
    }
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    time::PrimitiveDateTime::parse(value, format)
        .ok()
        .map(time::PrimitiveDateTime::assume_utc)
}

/// When to try again after a failure: the normal backoff, or for a rate limit the time the
/// CA named — but never sooner than the normal backoff (a CA saying "now" must not make
/// stsd hammer it) and never later than `cap` (a wrong far-future date must not park a
/// domain for weeks).
pub fn next_attempt(
    now: OffsetDateTime,
    normal_backoff: time::Duration,
    cap: time::Duration,
    error: &CertsError,
) -> OffsetDateTime {
    let normal = now + normal_backoff;
    match error {
        CertsError::RateLimited {
            retry_after: Some(at),
            ..
        } => (*at).max(normal).min(now + cap.max(normal_backoff)),
        _ => normal,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU16, Ordering};

    use instant_acme::Problem;

    use super::*;

    fn problem(kind: &str) -> CertsError {
        CertsError::Acme(instant_acme::Error::Api(Problem {
            r#type: Some(kind.to_owned()),
            detail: Some("too many new orders recently".to_owned()),
            status: Some(429),
            subproblems: Vec::new(),
        }))
    }

    #[test]
    fn rate_limits_wait_for_the_ca_within_bounds() {
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let minute = time::Duration::minutes(1);
        let day = time::Duration::hours(24);
        let limited = |at: Option<OffsetDateTime>| CertsError::RateLimited {
            detail: "x".into(),
            retry_after: at,
        };
        // The CA's time when it lies between the backoff and the cap.
        let in_3h = now + time::Duration::hours(3);
        assert_eq!(next_attempt(now, minute, day, &limited(Some(in_3h))), in_3h);
        // Never sooner than the normal backoff.
        let soon = now + time::Duration::seconds(1);
        assert_eq!(
            next_attempt(now, minute, day, &limited(Some(soon))),
            now + minute
        );
        // Never later than the cap.
        let far = now + time::Duration::days(30);
        assert_eq!(
            next_attempt(now, minute, day, &limited(Some(far))),
            now + day
        );
        // No time named, or another failure: the normal backoff.
        assert_eq!(next_attempt(now, minute, day, &limited(None)), now + minute);
        let other = problem("urn:ietf:params:acme:error:connection");
        assert_eq!(next_attempt(now, minute, day, &other), now + minute);
    }

    #[test]
    fn only_rate_limited_problems_are_classified() {
        let at = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let e = classify(problem(RATE_LIMITED), Some(at));
        assert!(
            matches!(&e, CertsError::RateLimited { retry_after: Some(t), .. } if *t == at),
            "{e:?}"
        );
        let text = e.to_string();
        assert!(
            text.contains("too many new orders")
                && text.contains("retry after 2027-01-15T08:00:00Z"),
            "{text}"
        );
        let e = classify(problem("urn:ietf:params:acme:error:badCSR"), Some(at));
        assert!(matches!(e, CertsError::Acme(_)), "{e:?}");
    }

    #[test]
    fn retry_after_in_both_forms() {
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        assert_eq!(
            parse_retry_after(" 120 ", now),
            Some(now + time::Duration::seconds(120))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now),
            Some(OffsetDateTime::from_unix_timestamp(1_445_412_480).unwrap())
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
    }

    /// A stand-in transport (not a CA): answers every request with `status` and a
    /// `Retry-After: 3600`.
    struct Canned(Arc<AtomicU16>);

    impl HttpClient for Canned {
        fn request(
            &self,
            _req: http::Request<BodyWrapper<Bytes>>,
        ) -> Pin<Box<dyn Future<Output = Result<BytesResponse, instant_acme::Error>> + Send>>
        {
            let status = self.0.load(Ordering::SeqCst);
            Box::pin(async move {
                let response = http::Response::builder()
                    .status(status)
                    .header(http::header::RETRY_AFTER, "3600")
                    .body(http_body_util::Full::new(Bytes::new()))
                    .unwrap();
                Ok(BytesResponse::from(response))
            })
        }
    }

    #[tokio::test]
    async fn the_header_of_an_error_response_is_kept_per_order() {
        let status = Arc::new(AtomicU16::new(429));
        let client = Arc::new(CapturingClient::new(Box::new(Canned(status.clone()))));
        let request = || http::Request::new(BodyWrapper::default());
        let before = OffsetDateTime::now_utc();
        let c = client.clone();
        let result: Result<(), CertsError> = with_retry_after(async move {
            c.request(request()).await?;
            Err(problem(RATE_LIMITED))
        })
        .await;
        match result {
            Err(CertsError::RateLimited {
                retry_after: Some(at),
                ..
            }) => {
                assert!(at >= before + time::Duration::seconds(3599), "{at}");
            }
            other => panic!("{other:?}"),
        }
        // A success response's header is not a rate limit; a fresh order starts empty.
        status.store(200, Ordering::SeqCst);
        let c = client.clone();
        let result: Result<(), CertsError> = with_retry_after(async move {
            c.request(request()).await?;
            Err(problem(RATE_LIMITED))
        })
        .await;
        assert!(
            matches!(
                result,
                Err(CertsError::RateLimited {
                    retry_after: None,
                    ..
                })
            ),
            "{result:?}"
        );
        // Outside an order the header is ignored without a panic.
        status.store(503, Ordering::SeqCst);
        assert!(client.request(request()).await.is_ok());
    }
}
