//! The certs crate's error type.

use stsd_store::{SealError, StoreError};

/// Why a certificate could not be issued or stored.
#[derive(Debug, thiserror::Error)]
pub enum CertsError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A secret could not be sealed or opened with the master key.
    #[error("sealing: {0}")]
    Seal(#[from] SealError),
    /// Generating a key or signing a certificate failed.
    #[error("certificate generation failed: {0}")]
    Generate(#[from] rcgen::Error),
    /// The ACME server refused or failed a request (the problem document, if any, is included).
    #[error("ACME: {0}")]
    Acme(#[from] instant_acme::Error),
    /// The CA refused with `urn:ietf:params:acme:error:rateLimited`. The worker waits until
    /// `retry_after` (the CA's `Retry-After`, bounded) instead of its normal backoff.
    #[error("the CA rate-limits this account: {detail}{}", until(.retry_after.as_ref()))]
    RateLimited {
        /// The CA's problem document, as text.
        detail: String,
        /// When the CA said to try again, if it did.
        retry_after: Option<time::OffsetDateTime>,
    },
    /// The order could not be completed: a challenge failed or the order went invalid.
    #[error("ACME order for {host} failed: {detail}")]
    Order {
        /// The host being certified.
        host: String,
        /// What the CA reported.
        detail: String,
    },
    /// The issuers are configured wrongly (none at all).
    #[error("certificate issuer configuration: {0}")]
    Config(String),
    /// The extra trust roots (`STSD_ACME_CA_ROOTS`) are unusable.
    #[error("ACME trust roots: {0}")]
    TrustRoots(String),
    /// A certificate (ours or the CA's) does not parse.
    #[error("unparsable certificate: {0}")]
    Certificate(String),
    /// The operating system's random number generator failed.
    #[error("random number generator: {0}")]
    Random(String),
    /// The stored ACME account credentials do not decode.
    #[error("stored ACME account credentials are corrupt: {0}")]
    Credentials(#[from] serde_json::Error),
}

/// " (retry after <RFC 3339 time>)" when the CA named a time.
fn until(at: Option<&time::OffsetDateTime>) -> String {
    at.and_then(|t| {
        t.format(&time::format_description::well_known::Rfc3339)
            .ok()
    })
    .map(|t| format!(" (retry after {t})"))
    .unwrap_or_default()
}
