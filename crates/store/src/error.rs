//! The store's one error type. Driver errors become one of its variants at the backend
//! (`sqlite/mod.rs` classifies SQLite's) and go no further: callers branch on
//! [`StoreError::kind`], never on a driver's codes or messages.

/// What went wrong, as far as a caller needs to know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreErrorKind {
    /// A row asked for by key does not exist.
    NotFound,
    /// Stored data cannot be read: damaged, written by something else, or by a newer Tailor.
    Corrupt,
    /// The disk or the database is full; freeing space (or retention) fixes it.
    Full,
    /// The database server cannot be reached now (a lost connection, a restart, a
    /// failover): retrying later may succeed; a node in this state is not ready.
    Unavailable,
    /// Anything else (I/O, locking, a bug): ours, not the caller's.
    Internal,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be opened, read or written.
    #[error("storage failure: {0}")]
    Backend(String),
    /// A row could not be decoded: the data directory was written by something else.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The data directory was written by a newer Tailor.
    #[error(
        "the data directory has schema version {found}, newer than this Tailor understands ({supported})"
    )]
    TooNew { found: i64, supported: i64 },
    /// The disk or the database is full.
    #[error("storage is full: {0}")]
    Full(String),
    /// The database server cannot be reached (PostgreSQL down, restarting, or the
    /// connection lost).
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// A row the operation needs does not exist.
    #[error("not found: {0}")]
    NotFound(String),
}

impl StoreError {
    pub fn kind(&self) -> StoreErrorKind {
        match self {
            StoreError::Backend(_) => StoreErrorKind::Internal,
            StoreError::Corrupt(_) | StoreError::TooNew { .. } => StoreErrorKind::Corrupt,
            StoreError::Full(_) => StoreErrorKind::Full,
            StoreError::NotFound(_) => StoreErrorKind::NotFound,
            StoreError::Unavailable(_) => StoreErrorKind::Unavailable,
        }
    }
}

impl From<serde_json::Error> for StoreError {
    /// JSON only fails to decode what the store wrote itself, so the data is at fault.
    fn from(e: serde_json::Error) -> Self {
        StoreError::Corrupt(e.to_string())
    }
}
