//! The retention run (settings and what they mean: `govern::retention`): expiry goes through
//! the writer like an erasure, event deletion follows a forced checkpoint. Its thread exists
//! only when a setting is on.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tailor_core::time::DAY;
use tailor_core::{Clock, Millis};
use tailor_store::Store;

use super::{Ingest, Job};
use crate::error::EngineError;
use crate::govern::retention::{EVERY, KEPT_EVENTS, RetentionReport, RetentionSettings};
use crate::measure::unit_digests::EventsDeleted;

/// How often its thread looks at the clock (real time).
const TICK: Duration = Duration::from_secs(1);
/// Events deleted per store transaction.
const DELETE_CHUNK: usize = 5_000;
/// People expired per writer job (the writer takes no other job meanwhile).
const EXPIRE_BATCH: usize = 1_000;

/// Runs retention with these settings.
pub(crate) struct Retention {
    settings: RetentionSettings,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    ingest: Ingest,
    /// Tells experiment results which of what they keep may be gone.
    events_deleted: Arc<EventsDeleted>,
}

impl Retention {
    /// The retention settings this engine runs with.
    pub fn new(
        settings: RetentionSettings,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        ingest: Ingest,
        events_deleted: Arc<EventsDeleted>,
    ) -> Arc<Self> {
        Arc::new(Retention {
            settings,
            store,
            clock,
            ingest,
            events_deleted,
        })
    }

    pub fn settings(&self) -> RetentionSettings {
        self.settings
    }

    /// Runs retention now (see the module). Blocks on disk and on the writer thread: call it
    /// off the async executor.
    pub fn run(&self) -> Result<RetentionReport, EngineError> {
        let settings = self.settings;
        let store = &self.store;
        let now = self.clock.now();
        let mut report = RetentionReport::default();
        if let Some(days) = settings.expire_inactive_days {
            let cutoff = now - Millis::from(days) * DAY;
            loop {
                let (people, erased) = self.ingest.call_blocking(|done| Job::Expire {
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
            report.checkpoint_seq = self.ingest.call_blocking(|done| Job::Checkpoint { done })?;
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
                self.events_deleted.before(before);
                super::purge(&**store)?;
                store.audit(&tailor_store::AuditEntry {
                    at: now,
                    action: "retention".into(),
                    detail: serde_json::json!({"events": report.events_deleted}).to_string(),
                })?;
            }
        }
        if let Some(days) = settings.decisions_days {
            let before = now - Millis::from(days) * DAY;
            loop {
                let n = store.retire_decisions(before, DELETE_CHUNK)?;
                report.decisions_retired += n;
                if n < DELETE_CHUNK as u64 {
                    break;
                }
            }
        }
        if report != RetentionReport::default() {
            tracing::info!(?report, "retention");
        }
        Ok(report)
    }
}

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
pub(crate) fn start(retention: &Arc<Retention>) -> Result<Option<Thread>, EngineError> {
    if retention.settings.is_off() {
        return Ok(None);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let (flag, engine) = (stop.clone(), retention.clone());
    let handle = std::thread::Builder::new()
        .name("tailor-retention".into())
        .spawn(move || {
            // The first run comes one tick after start, then every `EVERY` of engine time.
            let mut next = engine.clock.now();
            let mut retry_at = std::time::Instant::now();
            while !flag.load(Ordering::Relaxed) {
                std::thread::sleep(TICK);
                if flag.load(Ordering::Relaxed)
                    || engine.clock.now() < next
                    || std::time::Instant::now() < retry_at
                {
                    continue;
                }
                let ran = engine.run();
                // A run reads and deletes in batches, then this thread sleeps till the next.
                tailor_core::heap::release();
                match ran {
                    Ok(_) => next = engine.clock.now() + EVERY,
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
