//! The rows journeys keep: runs (one person in one journey, with its timer), the outbox
//! (messages to send, keyed by an idempotency key), audience memberships with their
//! add/remove stream, and per-step counters. The engine owns what the JSON columns hold.
//!
//! Every row names its person by a raw userId or anonymousId, so `erase_person` reaches it.

use tailor_core::Millis;

use crate::Seq;

/// One person's way through one journey.
#[derive(Debug, Clone, PartialEq)]
pub struct JourneyRun {
    /// Deterministic: the journey id and the log position of the entering event, so a
    /// replayed event cannot enter anyone twice.
    pub id: String,
    pub journey: String,
    pub version: u32,
    pub person: String,
    /// Index of the current step.
    pub step: u32,
    /// `active`, `completed` (ran off the end or an exit step), `converted` (goal event),
    /// `stopped` (the journey was deleted).
    pub status: String,
    /// When the scheduler should look at it next; `None`: only an event can wake it.
    pub due_at: Option<Millis>,
    /// The event a `waitForEvent` step waits for.
    pub wait_event: Option<String>,
    pub entered_at: Millis,
    pub updated_at: Millis,
    /// The engine's per-run state (JSON).
    pub state: String,
}

/// One message to send, exactly once per key as far as Tailor's side goes.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxItem {
    /// The idempotency key: `{run id}:{step}`; passed to the channel.
    pub key: String,
    pub run_id: String,
    pub journey: String,
    pub step: u32,
    pub person: String,
    pub channel: String,
    /// What the step asked for (JSON, the engine's).
    pub payload: String,
    pub priority: i64,
    /// `pending`, `sent`, `skipped` (a policy said no; `last_error` says which), `dead`.
    pub status: String,
    pub attempts: u32,
    pub next_at: Millis,
    pub last_error: Option<String>,
    pub created_at: Millis,
    pub sent_at: Option<Millis>,
}

/// An audience membership change; `seq` orders the stream (0 before it is stored).
#[derive(Debug, Clone, PartialEq)]
pub struct AudienceChange {
    pub seq: i64,
    pub audience: String,
    pub person: String,
    /// `add` or `remove`.
    pub op: String,
    pub at: Millis,
}

/// An increment of a per-step counter (`entered`, `sent`, `skipped:no_consent`, …).
#[derive(Debug, Clone, PartialEq)]
pub struct StepCount {
    pub journey: String,
    pub step: String,
    pub metric: String,
    pub n: i64,
}

/// Everything one scheduler decision changes, written in one transaction.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JourneyWrite {
    /// Inserted or replaced by id.
    pub runs: Vec<JourneyRun>,
    /// New messages; a key already present is left as it is.
    pub new_outbox: Vec<OutboxItem>,
    /// Status changes of existing messages (by key).
    pub outbox_updates: Vec<OutboxItem>,
    /// Membership changes; an `add` of a member or a `remove` of a non-member is a no-op
    /// and does not appear in the stream.
    pub audience: Vec<AudienceChange>,
    pub counts: Vec<StepCount>,
    /// The log position up to which events have been considered for journeys.
    pub cursor: Option<Seq>,
}

impl JourneyWrite {
    pub fn is_empty(&self) -> bool {
        self == &JourneyWrite::default()
    }
    pub fn count(&mut self, journey: &str, step: impl Into<String>, metric: impl Into<String>) {
        self.counts.push(StepCount {
            journey: journey.to_string(),
            step: step.into(),
            metric: metric.into(),
            n: 1,
        });
    }
}
