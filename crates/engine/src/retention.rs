//! Retention: how long raw events and inactive people are kept.
//!
//! Two settings, both off by default (Tailor keeps everything until a person is erased):
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
//! - **`expire_inactive_days`**: people whose latest event is older than this are erased
//!   through the same path as `DELETE /v1/profiles/{id}` (`ingest::Writer::forget_people`:
//!   profile, identities, events, decisions, exposures, journey rows, what product statistics
//!   and the session model learned, then the write-ahead logs truncated), but **without** a
//!   suppression record: if they come back, they start as a new visitor. Audit-logged as
//!   `expired`, with counts only.
//!
//! The job runs on its own thread every [`EVERY`] of engine time (the `Clock`, so tests
//! move it with the test clock), and on demand (`POST /v1/retention/run`). Its thread exists
//! only when a setting is on.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde::Serialize;
use tailor_core::Millis;
use tailor_store::Seq;
use tokio::sync::oneshot;

use crate::error::EngineError;
use crate::ingest::Job;
use crate::privacy::ErasureReport;
use crate::{Engine, ingest};

use tailor_core::time::DAY;
/// How often the job runs, in engine time.
pub const EVERY: Millis = 3_600_000;
/// How often its thread looks at the clock (real time).
const TICK: Duration = Duration::from_secs(1);
/// Events deleted per store transaction.
const DELETE_CHUNK: usize = 5_000;
/// People expired per writer job (the writer takes no other job meanwhile).
const EXPIRE_BATCH: usize = 1_000;
/// Events retention never deletes (they go with their person).
pub const KEPT_EVENTS: &[&str] = &[crate::consent::CONSENT_EVENT];

/// The retention settings; `None`: keep forever.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RetentionSettings {
    pub events_days: Option<u32>,
    pub expire_inactive_days: Option<u32>,
}

impl RetentionSettings {
    pub fn is_off(&self) -> bool {
        self.events_days.is_none() && self.expire_inactive_days.is_none()
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
    /// People expired by `expire_inactive_days`.
    pub expired_people: u64,
    /// What their expiry removed.
    pub expired: ErasureReport,
}

impl Engine {
    /// The retention settings this engine runs with.
    pub fn retention_settings(&self) -> RetentionSettings {
        self.shared.retention
    }

    /// Runs retention now (see the module). Blocks on disk and on the writer thread: call it
    /// off the async executor.
    pub fn run_retention(&self) -> Result<RetentionReport, EngineError> {
        let settings = self.shared.retention;
        let store = self.shared.store.clone();
        let now = self.now();
        let mut report = RetentionReport::default();
        if let Some(days) = settings.expire_inactive_days {
            let cutoff = now - Millis::from(days) * DAY;
            loop {
                let (people, erased) = self.writer_call(|done| Job::Expire {
                    cutoff,
                    limit: EXPIRE_BATCH,
                    done,
                })?;
                report.expired_people += people;
                let e = &mut report.expired;
                e.profiles += erased.profiles;
                e.identities += erased.identities;
                e.events += erased.events;
                e.decisions += erased.decisions;
                if people < EXPIRE_BATCH as u64 {
                    break;
                }
            }
            if report.expired_people > 0 {
                let mut detail = serde_json::json!(report.expired);
                detail["people"] = report.expired_people.into();
                store.audit(&tailor_store::AuditEntry {
                    at: now,
                    action: "expired".into(),
                    detail: detail.to_string(),
                })?;
            }
        }
        if let Some(days) = settings.events_days {
            let before = now - Millis::from(days) * DAY;
            report.checkpoint_seq = self.writer_call(|done| Job::Checkpoint { done })?;
            loop {
                let n = store.delete_events_before(
                    before,
                    report.checkpoint_seq,
                    KEPT_EVENTS,
                    DELETE_CHUNK,
                )?;
                report.events_deleted += n;
                if n < DELETE_CHUNK as u64 {
                    break;
                }
            }
            if report.events_deleted > 0 {
                ingest::purge(&*store)?;
                store.audit(&tailor_store::AuditEntry {
                    at: now,
                    action: "retention".into(),
                    detail: serde_json::json!({"events": report.events_deleted}).to_string(),
                })?;
            }
        }
        if report != RetentionReport::default() {
            tracing::info!(?report, "retention");
        }
        Ok(report)
    }

    /// Sends a job to the writer thread and waits for its answer, from a blocking context.
    fn writer_call<T>(
        &self,
        job: impl FnOnce(oneshot::Sender<Result<T, EngineError>>) -> Job,
    ) -> Result<T, EngineError> {
        let (done, wait) = oneshot::channel();
        self.shared
            .queued
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if self.jobs.blocking_send(job(done)).is_err() {
            self.shared
                .queued
                .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
            return Err(EngineError::ShuttingDown);
        }
        wait.blocking_recv()
            .map_err(|_| EngineError::ShuttingDown)?
    }
}

/// The retention thread; stopped by [`Thread::stop`].
pub(crate) struct Thread {
    stop: Arc<AtomicBool>,
    handle: std::thread::JoinHandle<()>,
}

impl Thread {
    pub(crate) fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.handle.join();
    }
}

/// Starts the retention thread, unless retention is off.
pub(crate) fn start(engine: &Engine) -> Result<Option<Thread>, EngineError> {
    if engine.shared.retention.is_off() {
        return Ok(None);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let (flag, engine) = (stop.clone(), engine.clone());
    let handle = std::thread::Builder::new()
        .name("tailor-retention".into())
        .spawn(move || {
            // The first run comes one tick after start, then every `EVERY` of engine time.
            let mut next = engine.now();
            let mut retry_at = std::time::Instant::now();
            while !flag.load(Ordering::Relaxed) {
                std::thread::sleep(TICK);
                if flag.load(Ordering::Relaxed)
                    || engine.now() < next
                    || std::time::Instant::now() < retry_at
                {
                    continue;
                }
                match engine.run_retention() {
                    Ok(_) => next = engine.now() + EVERY,
                    Err(EngineError::ShuttingDown) => break,
                    Err(e) => {
                        tracing::error!(error = %e, "retention failed; retrying in a minute");
                        retry_at = std::time::Instant::now() + Duration::from_secs(60);
                    }
                }
            }
        })
        .map_err(|e| EngineError::Internal(format!("cannot start the retention thread: {e}")))?;
    Ok(Some(Thread { stop, handle }))
}
