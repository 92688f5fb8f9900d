//! The event log: the append-only truth every profile, segment and model is derived from,
//! with a lookup of one person's events (export, erasure, experiment results) and
//! retention.

use tailor_core::{Message, Millis};

use crate::{Result, Seq};

/// An event as read back from the log.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    pub seq: Seq,
    pub message: Message,
}

/// The append-only event log.
pub trait EventLog {
    /// Appends messages in one transaction that is durable when this returns. A message
    /// whose `messageId` is already in the log is skipped: its slot in the result is `None`.
    fn append(&self, messages: &[Message]) -> Result<Vec<Option<Seq>>>;
    /// Events after `seq`, in log order, at most `limit`.
    fn events_after(&self, seq: Seq, limit: usize) -> Result<Vec<StoredEvent>>;
    /// The newest events naming any of `ids` as userId, anonymousId or previousId, newest
    /// first, at most `limit`. Any number of ids.
    fn events_of(&self, ids: &[String], limit: usize) -> Result<Vec<StoredEvent>>;
    fn event_count(&self) -> Result<u64>;
    /// The newest sequence number in the log (0 when empty).
    fn last_seq(&self) -> Result<Seq>;
    /// Retention: deletes at most `limit` events timestamped before `before` and at or below
    /// `up_to`, except track events named in `keep`, together with their entries in the
    /// person → events index. Returns how many it deleted; call again until that is less
    /// than `limit` (each call is one short transaction, so ingest is never held up long).
    fn delete_events_before(
        &self,
        before: Millis,
        up_to: Seq,
        keep: &[&str],
        limit: usize,
    ) -> Result<u64>;
}
