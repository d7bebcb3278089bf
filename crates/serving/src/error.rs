//! The serving crate's error type.

use std::path::PathBuf;

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
    /// The snapshot's local copy could not be written or read.
    #[error("snapshot copy {}: {problem}", .path.display())]
    Copy {
        /// The copy's path.
        path: PathBuf,
        /// What is wrong.
        problem: CopyProblem,
    },
}

/// Why the snapshot's local copy could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum CopyProblem {
    /// Opening, reading, writing, syncing or renaming failed (a missing or read-only
    /// directory, a full disk, …).
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The path names no file (it is empty or ends in `..`).
    #[error("the path names no file")]
    NotAFile,
    /// The file is not a snapshot copy at all.
    #[error("not a snapshot copy (it does not start with `stsd-snapshot-copy`)")]
    NotACopy,
    /// The file was written by a stsd with another format version.
    #[error("format version {found}, but this stsd reads version {supported}")]
    Version {
        /// The version the file names.
        found: String,
        /// The version this build reads.
        supported: u32,
    },
    /// The file ends early: a write was cut short or the disk lost its tail.
    #[error("truncated: {0}")]
    Truncated(String),
    /// The content does not match its checksum, or cannot be read although it does.
    #[error("corrupt: {0}")]
    Corrupt(String),
    /// The private keys in the copy are sealed under a master key that is not configured.
    #[error(
        "its private keys are sealed under master key {copy}, but the configured master key is {configured}"
    )]
    WrongMasterKey {
        /// The id the copy names.
        copy: String,
        /// The configured keys' ids (current first), comma-separated.
        configured: String,
    },
    /// A private key could not be sealed for writing.
    #[error("sealing a private key: {0}")]
    Seal(String),
}
