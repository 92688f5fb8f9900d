//! Retention: how long raw events and inactive people are kept.
//!
//! Three settings, all off by default (Tailor keeps everything until a person is erased):
//!
//! - **`events_days`**: raw events timestamped more than this many days ago are deleted from
//!   the event log and the person → events index. Profiles, the identity graph, product
//!   statistics and the session model's views stay: they are aggregates the events were
//!   already folded into. Only events at or below the log position the stored profile
//!   checkpoint covers are deleted (the run forces a checkpoint first), so a restart — which
//!   loads that checkpoint and replays the log after it — never needs a deleted event.
//!   `Segment Consent Preference Updated` events are kept: they are the consent ledger, the
//!   record of what each person agreed to, and go only with the person (erasure, expiry).
//!   What retention costs: profiles can no longer be rebuilt from the log alone, the export
//!   and `/events` list only the kept events, and experiment results count only events
//!   still in the log (keep events longer than experiments run).
//! - **`decisions_days`**: logged decisions older than this are deleted with their rewards,
//!   after being added to daily rollups per placement and item shown (decisions, decisions
//!   rewarded, reward value: `GET /v1/decisions/daily`). Promotion budgets keep counting them.
//!   The attribution window is a day, so a decision older than that earns nothing more; the
//!   decision export (off-policy evaluation) and a person's export see only the kept ones.
//! - **`expire_inactive_days`**: people whose latest event is older than this are erased
//!   through the same path as `DELETE /v1/profiles/{id}` (`ingest::erase`:
//!   profile, identities, events, decisions, exposures, journey rows, what product statistics
//!   and the session model learned, then the write-ahead logs truncated), but **without** a
//!   suppression record: if they come back, they start as a new visitor. Audit-logged as
//!   `expired`, with counts only.
//!
//! The job (`ingest::retention`) runs on its own thread every [`EVERY`] of engine time (the `Clock`, so tests
//! move it with the test clock), and on demand (`POST /v1/retention/run`). Its thread exists
//! only when a setting is on.

use serde::Serialize;
use tailor_core::Millis;
use tailor_store::Seq;

use crate::govern::privacy::ErasureReport;

/// How often the job runs, in engine time.
pub const EVERY: Millis = 3_600_000;
/// Events retention never deletes (they go with their person).
pub const KEPT_EVENTS: &[&str] = &[crate::govern::consent::CONSENT_EVENT];

/// The retention settings; `None`: keep forever.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RetentionSettings {
    pub events_days: Option<u32>,
    pub expire_inactive_days: Option<u32>,
    pub decisions_days: Option<u32>,
}

impl RetentionSettings {
    pub fn is_off(&self) -> bool {
        self.events_days.is_none()
            && self.expire_inactive_days.is_none()
            && self.decisions_days.is_none()
    }
}

/// What one run did.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RetentionReport {
    /// Raw events deleted by `events_days`.
    pub events_deleted: u64,
    /// The log position the checkpoint covered: no event after it was considered.
    pub checkpoint_seq: Seq,
    /// Decisions deleted (rolled up first) by `decisions_days`.
    pub decisions_retired: u64,
    /// People expired by `expire_inactive_days`.
    pub expired_people: u64,
    /// What their expiry removed.
    pub expired: ErasureReport,
}
