//! The verifier's error type.

use stsd_store::StoreError;

/// What went wrong in the verifier.
///
/// A DNS failure while checking a customer's records is not an error of the verifier: it
/// becomes a check with result `error`. These are failures of the verifier itself.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The resolver configuration is unusable (zero timeout, unreadable system configuration).
    #[error("bad verifier configuration: {0}")]
    Config(String),
    /// The store failed; usually worth retrying.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The domain registration does not exist.
    #[error("domain registration {0} not found")]
    DomainNotFound(String),
    /// The check results could not be serialized for storage.
    #[error("cannot serialize the check results: {0}")]
    Serialize(#[from] serde_json::Error),
}
