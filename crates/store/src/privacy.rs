//! What privacy needs from storage: erasing a person from every table at once, making
//! deleted data unrecoverable from the files, suppression records (so an erased person's
//! events are not taken in again) and the audit log.

use tailor_core::Millis;

use crate::{ProfileId, Result};

/// The ids one person is known by, for erasure.
#[derive(Debug, Clone, Default)]
pub struct PersonKeys {
    pub profile_ids: Vec<ProfileId>,
    /// Raw userIds and anonymousIds (not prefixed).
    pub ids: Vec<String>,
    /// When the erasure happens: the time of the audience removals it leaves.
    pub at: Millis,
}

/// Rows removed by one erasure, per table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Erased {
    pub events: u64,
    pub decisions: u64,
    pub profiles: u64,
    pub identities: u64,
    /// Journey runs, outbox messages and audience rows.
    pub journeys: u64,
    /// Audience memberships ended by a `remove` in the change stream that names no one and
    /// keeps only the membership's hashed match keys, so an ad platform sync drops them.
    pub audience_removals: u64,
}

/// One audit log entry: what was done, when, and counts or other non-personal details.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    pub at: Millis,
    pub action: String,
    /// JSON.
    pub detail: String,
}

/// Erasure, suppression and the audit log.
pub trait PrivacyStore {
    /// Removes every row about one person from every table: profile state and identities
    /// by profile id; events (and their index entries), decisions with their rewards,
    /// exposures, journey runs, outbox messages and audience rows by raw id. Each audience
    /// membership ends with a `remove` in that audience's stream (after every position
    /// already given out) that has no person and only the membership's match keys. Any
    /// number of ids; the rows named by `ids` go in one transaction.
    fn erase_person(&self, person: &PersonKeys) -> Result<Erased>;
    /// Makes deleted data unrecoverable from the files: with SQLite, old page images in the
    /// write-ahead logs are checkpointed and the logs truncated (deleted cells are already
    /// zeroed by `secure_delete`).
    fn purge(&self) -> Result<()>;

    /// Adds suppression records (opaque strings: the engine stores salted hashes).
    fn suppress(&self, hashes: &[String]) -> Result<()>;
    /// Removes suppression records; returns how many existed.
    fn unsuppress(&self, hashes: &[String]) -> Result<u64>;
    fn suppressed(&self) -> Result<Vec<String>>;

    /// Appends to the audit log (which must never hold personal data).
    fn audit(&self, entry: &AuditEntry) -> Result<()>;
    /// The newest audit entries, newest first.
    fn audit_log(&self, limit: usize) -> Result<Vec<AuditEntry>>;
}
