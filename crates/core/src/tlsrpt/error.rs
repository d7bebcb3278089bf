//! The crate's error type.

/// Why a body is not a usable TLS report. Every variant is caused by the sender.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The body is neither gzip nor JSON.
    #[error("the body is neither gzip nor JSON")]
    NotAReport,
    /// The decompressed body is larger than the limit.
    #[error("the report is larger than {limit} bytes once decompressed")]
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The gzip stream is corrupt or truncated.
    #[error("the gzip stream is corrupt: {0}")]
    Gzip(String),
    /// The JSON nests deeper than [`super::MAX_DEPTH`].
    #[error("the JSON nests deeper than {0} levels")]
    TooDeep(usize),
    /// The JSON does not parse.
    #[error("the JSON does not parse: {0}")]
    Json(String),
    /// The JSON is not a TLS report: a required field is missing or has the wrong type.
    #[error("not a TLS report: {0}")]
    Invalid(String),
}
