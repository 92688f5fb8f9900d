//! The writer thread: group commit and profile folding, off the request path.
//!
//! Handlers hand validated messages to one thread through a bounded queue. The thread
//! takes everything waiting (up to [`MAX_GROUP`] messages), appends it to the log in one
//! transaction, folds the new events into profiles, and only then acknowledges: an
//! acknowledged event is durable and already visible in its profile. Profile state is
//! checkpointed every [`CHECKPOINT_EVERY`] and at shutdown; on start, the engine replays
//! the log after the last checkpoint.
//!
//! It is only within this thread that profiles, product statistics and the identity graph
//! change.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tailor_core::{Clock, Message};
use tailor_store::{Seq, Store};
use tokio::sync::mpsc;

use super::checkpoint::{self, Saving};
use super::session::{self, SessionTrainer};
use super::{Answer, Job, Observer, Receipt};
use crate::error::EngineError;
use crate::govern::consent::{AnalyticsGate, Consent};
use crate::govern::privacy::Suppression;
use crate::learn::policies::Policies;
use crate::learn::predictions::PredictionService;
use crate::live::Live;
use crate::measure::decision_log::DecisionLog;
use crate::measure::experiments::Experiments;

/// Most messages committed in one transaction.
pub const MAX_GROUP: usize = 20_000;
/// How often store-wide product rankings are recomputed while events arrive (ms).
const RANK_EVERY: tailor_core::Millis = 1_000;

/// How often changed profiles are written back. Under full load nearly every profile
/// changes between checkpoints, so their cost is per interval, not per event; a crash
/// replays at most this much of the log on start (about 180k events/s).
pub const CHECKPOINT_EVERY: Duration = Duration::from_secs(20);

/// What the writer works with: the state it changes and the subsystems it tells.
pub(crate) struct WriterParts {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub live: Arc<Live>,
    pub consent: Arc<Consent>,
    pub suppression: Arc<Suppression>,
    pub decisions: Arc<DecisionLog>,
    pub policies: Arc<Policies>,
    pub experiments: Arc<Experiments>,
    pub predictions: Arc<PredictionService>,
    pub sessions: Arc<SessionTrainer>,
    pub observer: Arc<dyn Observer>,
    /// Events accepted per minute, for the console's overview.
    pub activity: Arc<crate::measure::activity::Activity>,
}

pub(crate) struct Writer {
    pub(super) parts: WriterParts,
    rx: mpsc::Receiver<Job>,
    queued: Arc<AtomicUsize>,
    /// The newest log position folded into profiles.
    applied: Seq,
    last_checkpoint: Instant,
    /// The checkpoint being written in the background, if any.
    saving: Option<Saving>,
    /// When the session model was last retrained in the background.
    pub(super) last_retrain: Instant,
}

impl Writer {
    /// Starts the thread, folding from log position `applied` on.
    pub fn spawn(
        parts: WriterParts,
        ingest: &super::Ingest,
        rx: mpsc::Receiver<Job>,
        applied: Seq,
    ) -> Result<std::thread::JoinHandle<()>, EngineError> {
        let writer = Writer {
            parts,
            rx,
            queued: ingest.queued.clone(),
            applied,
            last_checkpoint: Instant::now(),
            saving: None,
            last_retrain: Instant::now(),
        };
        std::thread::Builder::new()
            .name("tailor-writer".into())
            .spawn(move || writer.run())
            .map_err(|e| EngineError::Internal(format!("cannot start the writer thread: {e}")))
    }

    fn run(mut self) {
        let rt = match tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
        {
            Ok(rt) => rt,
            Err(e) => {
                tracing::error!(error = %e, "writer thread cannot start its timer");
                return;
            }
        };
        loop {
            let first =
                rt.block_on(async { tokio::time::timeout(CHECKPOINT_EVERY, self.rx.recv()).await });
            let first = match first {
                Ok(Some(job)) => job,
                Ok(None) => break,
                Err(_) => {
                    let sessions = &self.parts.sessions;
                    let due = self.parts.live.with_recs_mut(|recs| {
                        sessions.views_due(&mut self.last_retrain, recs, true)
                    });
                    self.retrain(due);
                    let _ = self.maybe_checkpoint(false);
                    continue;
                }
            };
            let mut appends = Vec::new();
            let mut shutdown = None;
            let mut control = None;
            let mut count = 0;
            let mut next = Some(first);
            while let Some(job) = next.take() {
                self.queued.fetch_sub(1, Ordering::Relaxed);
                match job {
                    Job::Append { messages, done } => {
                        count += messages.len();
                        appends.push((messages, done));
                    }
                    Job::Shutdown { done } => {
                        shutdown = Some(done);
                        break;
                    }
                    // Everything queued before it is committed first; everything after waits.
                    job @ (Job::Erase { .. } | Job::Expire { .. } | Job::Checkpoint { .. }) => {
                        control = Some(job);
                        break;
                    }
                }
                if count < MAX_GROUP {
                    next = self.rx.try_recv().ok();
                }
            }
            if !appends.is_empty() {
                self.commit(appends, count);
            }
            match control {
                Some(Job::Erase { id, done }) => {
                    let _ = done.send(self.erase(&id));
                }
                Some(Job::Expire {
                    cutoff,
                    limit,
                    done,
                }) => {
                    let _ = done.send(self.expire(cutoff, limit));
                }
                Some(Job::Checkpoint { done }) => {
                    let covered = self
                        .maybe_checkpoint(true)
                        .and_then(|()| Ok(self.parts.store.checkpointed_seq()?));
                    let _ = done.send(covered);
                }
                _ => {}
            }
            if let Some(done) = shutdown {
                // Everything queued behind the shutdown request is still acknowledged work.
                let mut rest = Vec::new();
                let mut n = 0;
                while let Ok(job) = self.rx.try_recv() {
                    self.queued.fetch_sub(1, Ordering::Relaxed);
                    if let Job::Append { messages, done } = job {
                        n += messages.len();
                        rest.push((messages, done));
                    }
                }
                if !rest.is_empty() {
                    self.commit(rest, n);
                }
                self.rx.close();
                let _ = done.send(self.maybe_checkpoint(true));
                return;
            }
            let _ = self.maybe_checkpoint(false);
        }
        let _ = self.maybe_checkpoint(true);
    }

    fn commit(&mut self, appends: Vec<(Vec<Message>, Answer<Receipt>)>, count: usize) {
        let started = Instant::now();
        let mut all = Vec::with_capacity(count);
        let mut waiting = Vec::with_capacity(appends.len());
        let policy = self.parts.consent.policy();
        self.parts.live.with_registry(|registry| {
            let mut gate = AnalyticsGate::new(&policy, registry);
            let mut identified = std::collections::HashSet::new();
            for (messages, done) in appends {
                let sent = messages.len();
                let mut kept = Vec::with_capacity(sent);
                let mut suppressed = 0;
                let mut ignored = 0;
                for mut m in messages {
                    if super::trust::guard_identified(&mut m, registry, &mut identified) {
                        ignored += 1;
                    }
                    if self.parts.suppression.blocks(&m) {
                        suppressed += 1;
                    } else if let Some(m) = gate.admit(m) {
                        kept.push(m);
                    }
                }
                let withheld = sent - suppressed - kept.len();
                waiting.push((kept.len(), suppressed, withheld, ignored, done));
                all.extend(kept);
            }
        });
        let seqs = match self.parts.store.append(&all) {
            Ok(seqs) => seqs,
            Err(e) => {
                tracing::error!(error = %e, events = all.len(), "append failed; nothing acknowledged");
                // A lost database is worth a retry (503) and a full disk is the operator's to
                // fix (507); anything else is ours (500). Typed, so the edge answers each.
                for (_, _, _, _, done) in waiting {
                    let _ = done.send(Err(match &e {
                        tailor_store::StoreError::Unavailable(why) => {
                            EngineError::Store(tailor_store::StoreError::Unavailable(why.clone()))
                        }
                        e if e.kind() == tailor_store::StoreErrorKind::Full => {
                            EngineError::Store(tailor_store::StoreError::Full(e.to_string()))
                        }
                        _ => EngineError::Internal(format!("could not store events: {e}")),
                    }));
                }
                return;
            }
        };
        let mut rewards = Vec::new();
        let retrain = {
            let parts = &self.parts;
            let mut live = parts.live.fold();
            // Subsystems above (journeys) see each committed event with its profile as the
            // event left it.
            let mut watch = parts.observer.watch();
            let now = parts.clock.now();
            for (m, seq) in all.iter().zip(&seqs) {
                if let Some(seq) = seq {
                    let person = live.fold(m);
                    if let Some(watch) = watch.as_mut() {
                        watch.event(m, *seq, live.registry.get(person), now);
                    }
                    let earned = parts.decisions.rewards_for(m, *seq, person);
                    for r in &earned {
                        parts.policies.rewarded(&r.decision_id, m);
                    }
                    rewards.extend(earned);
                    self.applied = self.applied.max(*seq);
                }
            }
            if let Some(watch) = watch {
                watch.finish();
            }
            metrics::gauge!("tailor_profiles").set(live.registry.len() as f64);
            let now = parts.clock.now();
            // Re-rank at least once a second under load, and whenever the queue runs dry,
            // so a quiet store's rankings are never stale.
            let idle = self.queued.load(Ordering::Relaxed) == 0;
            if idle || now - live.recs.ranked.at >= RANK_EVERY {
                let catalog = &live.catalog;
                live.recs.refresh(catalog, now);
            }
            parts
                .sessions
                .views_due(&mut self.last_retrain, &mut live.recs, idle)
        };
        // Before the acknowledgement: a small store's next decision already uses these views.
        self.retrain(retrain);
        if !rewards.is_empty()
            && let Err(e) = self.parts.store.log_rewards(&rewards)
        {
            tracing::error!(error = %e, rewards = rewards.len(), "could not record rewards");
        }
        // Metrics first: whoever reads them after an acknowledgement sees the event counted.
        let accepted = seqs.iter().filter(|s| s.is_some()).count() as u64;
        metrics::counter!("tailor_events_ingested_total").increment(accepted);
        self.parts.activity.events(accepted, self.parts.clock.now());
        metrics::counter!("tailor_events_duplicate_total").increment(all.len() as u64 - accepted);
        metrics::histogram!("tailor_ingest_commit_seconds").record(started.elapsed().as_secs_f64());
        metrics::histogram!("tailor_ingest_group_size").record(all.len() as f64);
        let mut offset = 0;
        for (n, suppressed, withheld, ignored, done) in waiting {
            let accepted = seqs[offset..offset + n]
                .iter()
                .filter(|s| s.is_some())
                .count();
            offset += n;
            let _ = done.send(Ok(Receipt {
                accepted,
                duplicates: n - accepted,
                suppressed,
                withheld,
                ignored,
                rejected: Vec::new(),
            }));
        }
    }

    fn retrain(&self, due: Option<session::Retrain>) {
        self.parts.sessions.retrain(due);
    }

    /// Starts a background checkpoint when one is due and none is running. With `force`,
    /// waits for any running one and then writes everything synchronously.
    /// Waits for a checkpoint running in the background, if any, and applies its outcome.
    pub(super) fn finish_checkpoint(&mut self) -> Result<(), EngineError> {
        match self.saving.take() {
            Some(running) => checkpoint::finish(&self.parts.live, running),
            None => Ok(()),
        }
    }

    pub(super) fn maybe_checkpoint(&mut self, force: bool) -> Result<(), EngineError> {
        let parts = &self.parts;
        if let Some(running) = self.saving.take() {
            if force || running.is_finished() {
                checkpoint::finish(&parts.live, running)?;
            } else {
                self.saving = Some(running);
                return Ok(());
            }
        }
        if force {
            return checkpoint::save_now(&parts.store, &parts.live, &parts.policies, self.applied);
        }
        if self.last_checkpoint.elapsed() < CHECKPOINT_EVERY {
            return Ok(());
        }
        self.last_checkpoint = Instant::now();
        let Some((changes, recs)) = checkpoint::take_changes(&parts.live) else {
            return Ok(());
        };
        let (store, policies, applied) =
            (parts.store.clone(), parts.policies.clone(), self.applied);
        let spawned = std::thread::Builder::new()
            .name("tailor-checkpoint".into())
            .spawn(move || {
                let saved = checkpoint::save(&*store, &policies, changes, recs, applied);
                // The serialized profiles and rankings are freed as this thread ends.
                tailor_core::heap::release();
                saved
            });
        match spawned {
            Ok(handle) => self.saving = Some(handle),
            Err(e) => tracing::error!(error = %e, "cannot start a checkpoint thread; will retry"),
        }
        Ok(())
    }
}

/// Truncates the write-ahead logs so no old page image keeps deleted rows (`Store::purge`).
/// Readers finishing a query can keep the log busy for a moment: retries briefly.
pub(crate) fn purge(store: &dyn Store) -> Result<(), EngineError> {
    let mut attempt = 0;
    loop {
        match store.purge() {
            Ok(()) => return Ok(()),
            Err(e) if attempt >= 40 => return Err(e.into()),
            Err(_) => {
                attempt += 1;
                std::thread::sleep(Duration::from_millis(25));
            }
        }
    }
}
