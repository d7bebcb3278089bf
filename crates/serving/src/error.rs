//! The serving crate's error type.

/// What can go wrong while serving.
#[derive(Debug, thiserror::Error)]
pub enum ServingError {
    /// The store could not be read; the previous snapshot stays in service.
    #[error("store unavailable: {0}")]
    Store(#[from] stsd_store::StoreError),
    /// A listener could not be bound or accepted from.
    #[error("listener {addr}: {source}")]
    Listen {
        /// The address.
        addr: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The TLS configuration could not be built.
    #[error("TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
}
