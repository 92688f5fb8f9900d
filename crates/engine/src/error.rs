//! The engine's error type: the caller's fault (`Invalid`, `NotFound`) is told apart from
//! ours (`Store`, `Internal`) so the edge can answer 4xx or 5xx without reading strings.

use tailor_core::ValidationError;
use tailor_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{0}")]
    Invalid(#[from] ValidationError),
    #[error("{0} not found")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("stored state is corrupt: {0}")]
    Corrupt(String),
    #[error("the engine is shutting down")]
    ShuttingDown,
    #[error("internal error: {0}")]
    Internal(String),
    /// The request is valid but the state does not allow it yet (e.g. training on an empty log).
    #[error("{0}")]
    Conflict(String),
    /// The caller may not act for the person it names (a browser without proof): `code`
    /// tells which rule said no.
    #[error("{message}")]
    Forbidden { code: &'static str, message: String },
    /// The request asks for more work than one request may (a list past its limit): `code`
    /// names the limit. (A boxed message keeps the error as small as before.)
    #[error("{message}")]
    TooMany {
        code: &'static str,
        message: Box<str>,
    },
}

impl EngineError {
    /// The store's server cannot be reached now (PostgreSQL lost or restarting): the
    /// request may succeed if retried.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, EngineError::Store(e) if e.kind() == tailor_store::StoreErrorKind::Unavailable)
    }

    /// The store refused for lack of disk space: nothing was written.
    pub fn is_storage_full(&self) -> bool {
        matches!(self, EngineError::Store(e) if e.kind() == tailor_store::StoreErrorKind::Full)
    }
}
