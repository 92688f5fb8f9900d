//! Tailor's storage boundary.
//!
//! [`Store`] is everything the engine asks of durable storage: the append-only event
//! log, profile checkpoints and the identity index, the catalog, and small metadata.
//! [`SqliteStore`] is the embedded default. A PostgreSQL implementation plugs in behind
//! the same trait and must pass the same [`conformance`] suite.
//!
//! Every table that can hold personal data is reachable by [`Store::erase_person`].

pub mod conformance;
mod error;
pub mod journeys;
mod sqlite;

pub use error::StoreError;
pub use journeys::{AudienceChange, JourneyRun, JourneyWrite, OutboxItem, StepCount};
pub use sqlite::SqliteStore;

use tailor_core::{ContentItem, Message, Product};

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Position of an event in the log; increases with every appended event.
pub type Seq = i64;

/// Internal profile id. Stable for the life of a profile; a merged-away profile's id
/// lives on as an alias of the survivor.
pub type ProfileId = u64;

/// An event as read back from the log.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    pub seq: Seq,
    pub message: Message,
}

/// A profile's serialized state, opaque to the store.
#[derive(Debug, Clone, PartialEq)]
pub struct ProfileRow {
    pub id: ProfileId,
    pub state: Vec<u8>,
}

/// Everything written by one profile checkpoint, atomically.
#[derive(Debug, Clone, Default)]
pub struct Checkpoint {
    /// The log position the checkpoint covers: replay resumes after it.
    pub seq: Seq,
    pub upsert_profiles: Vec<ProfileRow>,
    pub delete_profiles: Vec<ProfileId>,
    /// `(identity, profile)`; an identity is `user:<userId>`, `anon:<anonymousId>` or
    /// `merged:<old internal id>`.
    pub upsert_identities: Vec<(String, ProfileId)>,
    /// Free-form engine state (id counters and the like), stored with the checkpoint and
    /// returned in [`Snapshot::meta`].
    pub meta: Vec<(String, String)>,
}

/// What a checkpoint left behind, to start from.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub seq: Seq,
    pub profiles: Vec<ProfileRow>,
    pub identities: Vec<(String, ProfileId)>,
    /// The `meta` entries of the checkpoint.
    pub meta: Vec<(String, String)>,
}

/// The ids one person is known by, for erasure.
#[derive(Debug, Clone, Default)]
pub struct PersonKeys {
    pub profile_ids: Vec<ProfileId>,
    /// Raw userIds and anonymousIds (not prefixed).
    pub ids: Vec<String>,
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
}

/// One logged decision: who was shown what, and why (the JSON `body` is the engine's).
#[derive(Debug, Clone, PartialEq)]
pub struct DecisionRecord {
    pub id: String,
    pub at: tailor_core::Millis,
    pub user_id: Option<String>,
    pub anonymous_id: Option<String>,
    pub personalized: bool,
    /// Content or product ids shown.
    pub shown: Vec<String>,
    /// The content items among them that count against budgets (`shown_counts`).
    pub counted: Vec<String>,
    pub body: String,
}

/// An event joined to the decision it followed (a click or an order carrying its id).
#[derive(Debug, Clone, PartialEq)]
pub struct Reward {
    pub decision_id: String,
    pub seq: Seq,
    pub event: String,
    pub value: f64,
    pub at: tailor_core::Millis,
}

/// Durable storage. Implementations are synchronous; the engine calls them from its own
/// writer thread or from blocking tasks, never from an async executor's hot path.
pub trait Store: Send + Sync + 'static {
    /// Appends messages in one transaction that is durable when this returns. A message
    /// whose `messageId` is already in the log is skipped: its slot in the result is `None`.
    fn append(&self, messages: &[Message]) -> Result<Vec<Option<Seq>>>;
    /// Events after `seq`, in log order, at most `limit`.
    fn events_after(&self, seq: Seq, limit: usize) -> Result<Vec<StoredEvent>>;
    /// The newest events naming any of `ids` as userId, anonymousId or previousId.
    fn events_of(&self, ids: &[String], limit: usize) -> Result<Vec<StoredEvent>>;
    fn event_count(&self) -> Result<u64>;
    /// The newest sequence number in the log (0 when empty).
    fn last_seq(&self) -> Result<Seq>;

    /// Writes a profile checkpoint atomically.
    fn checkpoint(&self, checkpoint: &Checkpoint) -> Result<()>;
    /// Reads the latest checkpoint.
    fn snapshot(&self) -> Result<Snapshot>;
    /// The log position the latest checkpoint covers (0 before the first), without reading
    /// the profiles.
    fn checkpointed_seq(&self) -> Result<Seq>;
    /// Retention: deletes at most `limit` events timestamped before `before` and at or below
    /// `up_to`, except track events named in `keep`, together with their entries in the
    /// person → events index. Returns how many it deleted; call again until that is less
    /// than `limit` (each call is one short transaction, so ingest is never held up long).
    fn delete_events_before(
        &self,
        before: tailor_core::Millis,
        up_to: Seq,
        keep: &[&str],
        limit: usize,
    ) -> Result<u64>;

    fn put_products(&self, products: &[Product]) -> Result<()>;
    fn delete_product(&self, id: &str) -> Result<bool>;
    fn products(&self) -> Result<Vec<Product>>;
    fn put_content(&self, items: &[ContentItem]) -> Result<()>;
    fn delete_content(&self, id: &str) -> Result<bool>;
    fn content(&self) -> Result<Vec<ContentItem>>;

    fn get_meta(&self, key: &str) -> Result<Option<String>>;
    fn set_meta(&self, key: &str, value: &str) -> Result<()>;

    /// Appends decisions to the decision log.
    fn log_decisions(&self, decisions: &[DecisionRecord]) -> Result<()>;
    /// Records rewards; a reward for an unknown decision is kept all the same.
    fn log_rewards(&self, rewards: &[Reward]) -> Result<()>;
    /// A decision and the rewards joined to it.
    fn decision(&self, id: &str) -> Result<Option<(DecisionRecord, Vec<Reward>)>>;
    /// How many times each item was shown, over the whole decision log.
    fn shown_counts(&self) -> Result<Vec<(String, u64)>>;

    /// Removes every row about one person from every table, in one transaction.
    fn erase_person(&self, person: &PersonKeys) -> Result<Erased>;
    /// Makes deleted data unrecoverable from the files: with SQLite, old page images in the
    /// write-ahead logs are checkpointed and the logs truncated (deleted cells are already
    /// zeroed by `secure_delete`).
    fn purge(&self) -> Result<()>;
    /// The newest `limit` decisions with the rewards joined to them, oldest first (for
    /// off-policy evaluation of the live policy).
    fn recent_decisions(&self, limit: usize) -> Result<Vec<(DecisionRecord, Vec<Reward>)>>;
    /// The decisions shown to any of `ids` (userIds or anonymousIds), oldest first.
    fn decisions_of(&self, ids: &[String], limit: usize) -> Result<Vec<DecisionRecord>>;

    /// Records first exposures to experiments; an (experiment, id) already recorded keeps
    /// its first variant and time.
    fn log_exposures(&self, exposures: &[Exposure]) -> Result<()>;
    /// Every recorded exposure.
    fn exposures(&self) -> Result<Vec<Exposure>>;
    /// The exposures recorded under any of `ids` (for a person's export), oldest first.
    fn exposures_of(&self, ids: &[String]) -> Result<Vec<Exposure>>;

    /// Adds suppression records (opaque strings: the engine stores salted hashes).
    fn suppress(&self, hashes: &[String]) -> Result<()>;
    /// Removes suppression records; returns how many existed.
    fn unsuppress(&self, hashes: &[String]) -> Result<u64>;
    fn suppressed(&self) -> Result<Vec<String>>;

    /// Appends to the audit log (which must never hold personal data).
    fn audit(&self, entry: &AuditEntry) -> Result<()>;
    /// The newest audit entries, newest first.
    fn audit_log(&self, limit: usize) -> Result<Vec<AuditEntry>>;

    // Journeys (see `journeys`).
    /// Applies one scheduler decision atomically.
    fn journey_write(&self, write: &JourneyWrite) -> Result<()>;
    /// The log position events have been considered for journeys up to.
    fn journey_cursor(&self) -> Result<Option<Seq>>;
    /// Active runs whose timer is due, soonest first.
    fn journey_runs_due(&self, now: tailor_core::Millis, limit: usize) -> Result<Vec<JourneyRun>>;
    /// Every run (any status) of any of these person ids, oldest first.
    fn journey_runs_of(&self, persons: &[String]) -> Result<Vec<JourneyRun>>;
    /// Every run (any status) of one journey, oldest first.
    fn journey_runs_in(&self, journey: &str) -> Result<Vec<JourneyRun>>;
    /// (step, metric, count) of one journey.
    fn journey_counts(&self, journey: &str) -> Result<Vec<(String, String, i64)>>;
    /// Pending messages due now, highest priority first.
    fn outbox_due(&self, now: tailor_core::Millis, limit: usize) -> Result<Vec<OutboxItem>>;
    /// Messages by status and/or person, oldest first.
    fn outbox_list(
        &self,
        status: Option<&str>,
        persons: Option<&[String]>,
        limit: usize,
    ) -> Result<Vec<OutboxItem>>;
    /// Messages with this status of one journey and/or on one channel, oldest first.
    fn outbox_where(
        &self,
        status: &str,
        journey: Option<&str>,
        channel: Option<&str>,
    ) -> Result<Vec<OutboxItem>>;
    fn outbox_item(&self, key: &str) -> Result<Option<OutboxItem>>;
    /// (channel, sent at) of messages sent to any of these ids since `since`.
    fn sends_since(
        &self,
        persons: &[String],
        since: tailor_core::Millis,
    ) -> Result<Vec<(String, tailor_core::Millis)>>;
    /// (person, added at) of an audience's members.
    fn audience_members(&self, audience: &str) -> Result<Vec<(String, tailor_core::Millis)>>;
    /// The audience's add/remove stream after position `after`.
    fn audience_changes(
        &self,
        audience: &str,
        after: i64,
        limit: usize,
    ) -> Result<Vec<AudienceChange>>;
}

/// A person's first exposure to an experiment, under one of their ids (userId or
/// anonymousId): the variation they were put in. It makes assignment sticky across identity
/// merges and restarts, and it is the unit list of the experiment's results.
#[derive(Debug, Clone, PartialEq)]
pub struct Exposure {
    pub experiment: String,
    pub id: String,
    pub variation: u32,
    pub at: tailor_core::Millis,
}

/// One audit log entry: what was done, when, and counts or other non-personal details.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    pub at: tailor_core::Millis,
    pub action: String,
    /// JSON.
    pub detail: String,
}
