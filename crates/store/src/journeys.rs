//! The rows journeys keep: runs (one person in one journey, with its timer), the outbox
//! (messages to send, keyed by an idempotency key), audience memberships with their
//! add/remove stream, and per-step counters. The engine owns what the JSON columns hold.
//!
//! Every row names its person by a raw userId or anonymousId, so `erase_person` reaches it.
//! Statuses are enums here and text in the database (`as_str`/`FromStr` convert); a value
//! this build does not know, read back from storage, is [`crate::StoreError::Corrupt`].

use std::fmt;
use std::str::FromStr;

use serde::Serialize;
use tailor_core::Millis;

use crate::{Result, Seq};

/// The [`crate::Metadata`] key holding [`JourneyStore::journey_cursor`]: backends keep the
/// cursor with the other metadata, so `get_meta` sees it too.
pub(crate) const CURSOR_META: &str = "journey_cursor";

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
    pub status: RunStatus,
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
    pub status: OutboxStatus,
    pub attempts: u32,
    pub next_at: Millis,
    pub last_error: Option<String>,
    pub created_at: Millis,
    pub sent_at: Option<Millis>,
}

/// An audience membership change; `seq` orders the stream (0 before it is stored) and is
/// never reused, so a sync reading from its last position misses nothing.
#[derive(Debug, Clone, PartialEq)]
pub struct AudienceChange {
    pub seq: i64,
    pub audience: String,
    /// Empty in the `remove` an erasure leaves (see [`crate::PrivacyStore::erase_person`]).
    pub person: String,
    pub op: AudienceOp,
    pub at: Millis,
    /// The hashed identifiers an ad platform matches the person by (JSON, the engine's).
    /// An `add` stores them with the membership; a `remove` without its own takes the
    /// membership's, so it names whom the platform must drop.
    pub match_keys: Option<String>,
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

/// Where a journey run is. Only `Active` runs have timers or wait for events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    Active,
    /// Ran off the end or reached an exit step.
    Completed,
    /// Reached the journey's goal event.
    Converted,
    /// The journey (or the run's version of it) was deleted.
    Stopped,
}

/// Where an outbox message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OutboxStatus {
    /// Waiting for `next_at`.
    Pending,
    Sent,
    /// A policy said no; `last_error` says which.
    Skipped,
    /// Failed for good (a permanent error, or out of attempts).
    Dead,
}

/// An audience membership change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AudienceOp {
    Add,
    Remove,
}

/// A status or op text that is none of the known values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} {value:?} is not one of {known}")]
pub struct ParseStatusError {
    what: &'static str,
    known: &'static str,
    value: String,
}

/// `as_str`, `FromStr` and `Display` over one fixed table of names, so the three cannot
/// disagree.
macro_rules! text_enum {
    ($ty:ident, $what:literal, $($variant:ident => $text:literal),+ $(,)?) => {
        impl $ty {
            /// Every value, in declaration order.
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];

            /// The text stored in the database and shown in the API.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $text),+
                }
            }
        }

        impl FromStr for $ty {
            type Err = ParseStatusError;

            fn from_str(s: &str) -> Result<Self, ParseStatusError> {
                match s {
                    $($text => Ok($ty::$variant),)+
                    _ => Err(ParseStatusError {
                        what: $what,
                        known: concat!($($text, ", "),+).trim_end_matches(", "),
                        value: s.to_string(),
                    }),
                }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

text_enum!(RunStatus, "journey run status",
    Active => "active", Completed => "completed", Converted => "converted", Stopped => "stopped");
text_enum!(OutboxStatus, "outbox status",
    Pending => "pending", Sent => "sent", Skipped => "skipped", Dead => "dead");
text_enum!(AudienceOp, "audience change op", Add => "add", Remove => "remove");

/// Journey state: runs, the outbox, audiences, counters, and the journeys' log cursor.
pub trait JourneyStore {
    /// Applies one scheduler decision atomically.
    fn journey_write(&self, write: &JourneyWrite) -> Result<()>;
    /// The log position events have been considered for journeys up to.
    fn journey_cursor(&self) -> Result<Option<Seq>>;
    /// Active runs whose timer is due, soonest first.
    fn journey_runs_due(&self, now: Millis, limit: usize) -> Result<Vec<JourneyRun>>;
    /// Every run (any status) of any of these person ids, oldest first. Any number of ids.
    fn journey_runs_of(&self, persons: &[String]) -> Result<Vec<JourneyRun>>;
    /// Every run (any status) of one journey, oldest first.
    fn journey_runs_in(&self, journey: &str) -> Result<Vec<JourneyRun>>;
    /// (step, metric, count) of one journey.
    fn journey_counts(&self, journey: &str) -> Result<Vec<(String, String, i64)>>;
    /// Pending messages due now, highest priority first.
    fn outbox_due(&self, now: Millis, limit: usize) -> Result<Vec<OutboxItem>>;
    /// Messages by status and/or person (any number of ids), oldest first.
    fn outbox_list(
        &self,
        status: Option<OutboxStatus>,
        persons: Option<&[String]>,
        limit: usize,
    ) -> Result<Vec<OutboxItem>>;
    /// Messages with this status of one journey and/or on one channel, oldest first.
    fn outbox_where(
        &self,
        status: OutboxStatus,
        journey: Option<&str>,
        channel: Option<&str>,
    ) -> Result<Vec<OutboxItem>>;
    fn outbox_item(&self, key: &str) -> Result<Option<OutboxItem>>;
    /// (channel, sent at) of messages sent to any of these ids (any number) since `since`.
    fn sends_since(&self, persons: &[String], since: Millis) -> Result<Vec<(String, Millis)>>;
    /// (person, added at) of an audience's members.
    fn audience_members(&self, audience: &str) -> Result<Vec<(String, Millis)>>;
    /// The audience's add/remove stream after position `after`.
    fn audience_changes(
        &self,
        audience: &str,
        after: i64,
        limit: usize,
    ) -> Result<Vec<AudienceChange>>;
    /// Every audience with members or changes, by name, with its member count.
    fn audience_names(&self) -> Result<Vec<(String, u64)>>;
}
