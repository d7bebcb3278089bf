//! The store's error type.

/// What went wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed or could not be reached; usually worth retrying.
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    /// Applying the embedded migrations failed.
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A row with the same unique key already exists.
    #[error("{0} already exists")]
    Conflict(&'static str),
    /// The row does not exist (or is not visible to the caller).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The row changed under us: its state was not the one the caller expected.
    #[error("{what} is {actual}, expected {expected}")]
    StateMismatch {
        /// What was being changed.
        what: &'static str,
        /// The state the caller expected.
        expected: String,
        /// The state found.
        actual: String,
    },
    /// A stored value does not parse: the database holds something stsd did not write.
    #[error("corrupt {what} in the database: {detail}")]
    Corrupt {
        /// Which value.
        what: &'static str,
        /// Why it does not parse.
        detail: String,
    },
    /// The database URL names no supported backend.
    #[error("unsupported database URL (expected sqlite:// or postgres://): {0}")]
    UnsupportedUrl(String),
    /// The SQLite file's directory could not be created.
    #[error("cannot create the database directory {path}: {source}")]
    CreateDir {
        /// The directory.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The operating system's random number generator failed.
    #[error("the system random number generator failed: {0}")]
    Random(String),
}

impl StoreError {
    /// Whether the error means "the database is unavailable" rather than "the request is wrong".
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            StoreError::Database(
                sqlx::Error::Io(_)
                    | sqlx::Error::PoolTimedOut
                    | sqlx::Error::PoolClosed
                    | sqlx::Error::Tls(_)
            )
        )
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        StoreError::Database(e)
    }
}

/// Maps a unique-constraint violation to [`StoreError::Conflict`], anything else unchanged.
pub(crate) fn conflict(what: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |e| match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(what),
        _ => StoreError::Database(e),
    }
}

/// Builds a [`StoreError::Corrupt`] from any displayable parse error.
pub(crate) fn corrupt(what: &'static str) -> impl FnOnce(&dyn std::fmt::Display) -> StoreError {
    move |e| StoreError::Corrupt {
        what,
        detail: e.to_string(),
    }
}
