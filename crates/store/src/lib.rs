//! Tailor's storage boundary: everything the engine keeps durably, split by what the
//! data is.
//!
//! | sub-trait | owns |
//! | --- | --- |
//! | [`EventLog`] | the append-only event log (the truth) and its per-person lookup |
//! | [`Checkpoints`] | profile checkpoints and the identity index, to start from |
//! | [`Metadata`] | small named settings (keys, definitions, model state) |
//! | [`CatalogStore`] | products and content |
//! | [`DecisionLog`] | decisions, the rewards joined to them, experiment exposures |
//! | [`PrivacyStore`] | erasure across every table, purging, suppression, the audit log |
//! | [`JourneyStore`] | journey runs and timers, the outbox, audiences, step counters |
//!
//! [`Store`] is their sum, and what the engine holds (`Arc<dyn Store>`). Backends:
//! [`SqliteStore`] (the embedded default), [`PgStore`] (PostgreSQL, for several nodes) and
//! [`MemoryStore`] (tests and the testkit). All pass the same [`conformance`] suite.
//!
//! **Architecture invariant:** SQL and driver errors never leave this crate; they become a
//! [`StoreError`], whose [`StoreError::kind`] is all a caller needs to branch on.
//!
//! **Architecture invariant:** every table that can hold personal data is reached by
//! [`PrivacyStore::erase_person`], and every query taking a list of ids answers for any
//! number of them (a profile can gather thousands of anonymous ids).
//!
//! The traits are synchronous: the engine calls them from its own threads or blocking
//! tasks, never from an async executor's hot path.

mod catalog;
mod checkpoints;
pub mod conformance;
mod decisions;
mod error;
mod events;
pub mod journeys;
mod memory;
mod metadata;
mod postgres;
mod privacy;
mod sqlite;

pub use catalog::CatalogStore;
pub use checkpoints::{Checkpoint, Checkpoints, ProfileRow, Snapshot};
pub use decisions::{DecisionDay, DecisionLog, DecisionRecord, Exposure, LoggedPlacement, Reward};
pub use error::{StoreError, StoreErrorKind};
pub use events::{EventLog, StoredEvent};
pub use journeys::{
    AudienceChange, AudienceOp, JourneyRun, JourneyStore, JourneyWrite, OutboxItem, OutboxStatus,
    ParseStatusError, RunStatus, StepCount,
};
pub use memory::MemoryStore;
pub use metadata::{DiskUsage, Metadata};
pub use postgres::{PERSONAL_TABLES, PgStore};
pub use privacy::{AuditEntry, Erased, PersonKeys, PrivacyStore};
pub use sqlite::{
    DEFAULT_MIN_FREE_DISK, SqliteStore, WAL_BOUND, backup, memory_used as sqlite_memory_used,
    secure_directory,
};

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Position of an event in the log; increases with every appended event.
pub type Seq = i64;

/// Internal profile id. Stable for the life of a profile; a merged-away profile's id
/// lives on as an alias of the survivor.
pub type ProfileId = u64;

/// Durable storage: the sum of the sub-traits. Implement the sub-traits; every type that
/// does is a `Store` (the blanket impl below).
///
/// Callers hold `Arc<dyn Store>` and call any sub-trait's method on it without importing
/// that sub-trait. Code holding a concrete backend imports the sub-traits it uses.
pub trait Store:
    EventLog
    + Checkpoints
    + Metadata
    + CatalogStore
    + DecisionLog
    + PrivacyStore
    + JourneyStore
    + Send
    + Sync
    + 'static
{
}

impl<T> Store for T where
    T: EventLog
        + Checkpoints
        + Metadata
        + CatalogStore
        + DecisionLog
        + PrivacyStore
        + JourneyStore
        + Send
        + Sync
        + 'static
{
}

/// Every sub-trait, unnamed, for code that calls a concrete backend
/// (`use tailor_store::prelude::*;`); `dyn Store` needs no import.
pub mod prelude {
    pub use crate::{
        CatalogStore as _, Checkpoints as _, DecisionLog as _, EventLog as _, JourneyStore as _,
        Metadata as _, PrivacyStore as _,
    };
}
