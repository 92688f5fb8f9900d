//! The store's one error type. Driver errors are turned into text here and go no further.

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
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Backend(e.to_string())
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::Corrupt(e.to_string())
    }
}
