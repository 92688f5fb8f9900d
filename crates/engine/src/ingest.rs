//! The writer thread: group commit and profile folding, off the request path.
//!
//! Handlers hand validated messages to one thread through a bounded queue. The thread
//! takes everything waiting (up to [`MAX_GROUP`] messages), appends it to the log in one
//! transaction, folds the new events into profiles, and only then acknowledges: an
//! acknowledged event is durable and already visible in its profile. Profile state is
//! checkpointed every [`CHECKPOINT_EVERY`] and at shutdown; on start, the engine replays
//! the log after the last checkpoint.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tailor_core::Message;
use tailor_store::{Checkpoint, ProfileRow, Seq};
use tokio::sync::{mpsc, oneshot};

use crate::Shared;
use crate::error::EngineError;
use crate::privacy::ErasureReport;
use crate::recs::Recs;
use crate::registry::Changes;
use crate::session_model::{self, SessionClick, SessionModel};

/// Most messages committed in one transaction.
pub const MAX_GROUP: usize = 20_000;
/// How often store-wide product rankings are recomputed while events arrive (ms).
const RANK_EVERY: tailor_core::Millis = 1_000;

/// How often changed profiles are written back. Under full load nearly every profile
/// changes between checkpoints, so their cost is per interval, not per event; a crash
/// replays at most this much of the log on start (about 180k events/s).
pub const CHECKPOINT_EVERY: Duration = Duration::from_secs(20);

/// The outcome of one ingest call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Receipt {
    /// Newly stored events.
    pub accepted: usize,
    /// Events whose `messageId` was already in the log (acknowledged, not stored again).
    pub duplicates: usize,
    /// Events refused because they name an erased person (see `privacy`).
    pub suppressed: usize,
    /// Events not stored for lack of analytics consent (see `consent::AnalyticsGate`).
    pub withheld: usize,
}

/// Where the writer answers one append.
type Ack = oneshot::Sender<Result<Receipt, EngineError>>;

pub(crate) enum Job {
    Append {
        messages: Vec<Message>,
        done: Ack,
    },
    /// Erase one person (see `privacy`).
    Erase {
        id: String,
        done: oneshot::Sender<Result<ErasureReport, EngineError>>,
    },
    /// Retention: erase, without suppressing them, at most `limit` people whose latest event
    /// is older than `cutoff` (see `retention`). Answers how many people, and what went.
    Expire {
        cutoff: tailor_core::Millis,
        limit: usize,
        done: oneshot::Sender<Result<(u64, ErasureReport), EngineError>>,
    },
    /// Checkpoint now; answers the log position the stored checkpoint covers.
    Checkpoint {
        done: oneshot::Sender<Result<Seq, EngineError>>,
    },
    /// Checkpoint now, then stop taking jobs.
    Shutdown {
        done: oneshot::Sender<Result<(), EngineError>>,
    },
}

pub(crate) fn spawn(
    shared: Arc<Shared>,
    rx: mpsc::Receiver<Job>,
    applied: Seq,
) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new()
        .name("tailor-writer".into())
        .spawn(move || {
            Writer {
                shared,
                rx,
                applied,
                last_checkpoint: Instant::now(),
                saving: None,
                last_retrain: Instant::now(),
            }
            .run()
        })
        .expect("spawning the writer thread")
}

struct Writer {
    shared: Arc<Shared>,
    rx: mpsc::Receiver<Job>,
    /// The newest log position folded into profiles.
    applied: Seq,
    last_checkpoint: Instant,
    /// The checkpoint being written in the background, if any.
    saving: Option<Saving>,
    /// When the session model was last retrained in the background.
    last_retrain: Instant,
}

impl Writer {
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
                    let shared = self.shared.clone();
                    let due = session_views_due(
                        &shared,
                        &mut self.last_retrain,
                        &mut shared.recs.write(),
                        true,
                    );
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
                self.shared.queued.fetch_sub(1, Ordering::Relaxed);
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
                        .and_then(|()| Ok(self.shared.store.checkpointed_seq()?));
                    let _ = done.send(covered);
                }
                _ => {}
            }
            if let Some(done) = shutdown {
                // Everything queued behind the shutdown request is still acknowledged work.
                let mut rest = Vec::new();
                let mut n = 0;
                while let Ok(job) = self.rx.try_recv() {
                    self.shared.queued.fetch_sub(1, Ordering::Relaxed);
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

    fn commit(&mut self, appends: Vec<(Vec<Message>, Ack)>, count: usize) {
        let started = Instant::now();
        let mut all = Vec::with_capacity(count);
        let mut waiting = Vec::with_capacity(appends.len());
        {
            let policy = self.shared.consent_policy.read().clone();
            let registry = self.shared.registry.read();
            let mut gate = crate::consent::AnalyticsGate::new(&policy, &registry);
            for (messages, done) in appends {
                let sent = messages.len();
                let mut kept = Vec::with_capacity(sent);
                let mut suppressed = 0;
                for m in messages {
                    if self.shared.suppression.blocks(&m) {
                        suppressed += 1;
                    } else if let Some(m) = gate.admit(m) {
                        kept.push(m);
                    }
                }
                let withheld = sent - suppressed - kept.len();
                waiting.push((kept.len(), suppressed, withheld, done));
                all.extend(kept);
            }
        }
        let seqs = match self.shared.store.append(&all) {
            Ok(seqs) => seqs,
            Err(e) => {
                tracing::error!(error = %e, events = all.len(), "append failed; nothing acknowledged");
                for (_, _, _, done) in waiting {
                    let _ = done.send(Err(EngineError::Internal(format!(
                        "could not store events: {e}"
                    ))));
                }
                return;
            }
        };
        let mut rewards = Vec::new();
        let retrain = {
            let catalog = self.shared.catalog.read();
            let mut registry = self.shared.registry.write();
            let mut recs = self.shared.recs.write();
            // Journeys see each committed event with its profile as the event left it.
            let journey_names = self.shared.journeys.names();
            let watch = !journey_names.is_empty() || self.shared.journeys.has_segments();
            let mut seen = Vec::new();
            let now = self.shared.clock.now();
            for (m, seq) in all.iter().zip(&seqs) {
                if let Some(seq) = seq {
                    let person = crate::fold(&mut registry, &mut recs, &catalog, m);
                    if watch {
                        let profile = registry.get(person);
                        self.shared.journeys.observe(
                            &journey_names,
                            m,
                            *seq,
                            profile,
                            now,
                            &mut seen,
                        );
                    }
                    let earned = self.shared.decisions.rewards_for(m, *seq, person);
                    if !earned.is_empty() {
                        let learning = crate::learning_placements(&self.shared);
                        if !learning.is_empty() {
                            for r in &earned {
                                self.shared.policies.rewarded(&r.decision_id, m, &learning);
                            }
                        }
                    }
                    rewards.extend(earned);
                    self.applied = self.applied.max(*seq);
                }
            }
            self.shared.journeys.hand_over(seen);
            metrics::gauge!("tailor_profiles").set(registry.len() as f64);
            let now = self.shared.clock.now();
            // Re-rank at least once a second under load, and whenever the queue runs dry,
            // so a quiet store's rankings are never stale.
            let idle = self.shared.queued.load(Ordering::Relaxed) == 0;
            if idle || now - recs.ranked.at >= RANK_EVERY {
                recs.refresh(&catalog, now);
            }
            session_views_due(&self.shared, &mut self.last_retrain, &mut recs, idle)
        };
        // Before the acknowledgement: a small store's next decision already uses these views.
        self.retrain(retrain);
        if !rewards.is_empty()
            && let Err(e) = self.shared.store.log_rewards(&rewards)
        {
            tracing::error!(error = %e, rewards = rewards.len(), "could not record rewards");
        }
        // Metrics first: whoever reads them after an acknowledgement sees the event counted.
        let accepted = seqs.iter().filter(|s| s.is_some()).count() as u64;
        metrics::counter!("tailor_events_ingested_total").increment(accepted);
        metrics::counter!("tailor_events_duplicate_total").increment(all.len() as u64 - accepted);
        metrics::histogram!("tailor_ingest_commit_seconds").record(started.elapsed().as_secs_f64());
        metrics::histogram!("tailor_ingest_group_size").record(all.len() as f64);
        let mut offset = 0;
        for (n, suppressed, withheld, done) in waiting {
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
            }));
        }
    }

    /// Erases one person everywhere and suppresses their ids (see `privacy`).
    fn erase(&mut self, id: &str) -> Result<ErasureReport, EngineError> {
        let person = self
            .shared
            .registry
            .read()
            .person(id)
            .ok_or_else(|| EngineError::NotFound(format!("profile {id:?}")))?;
        let report = self.forget_people(vec![person], true)?;
        self.shared.store.audit(&tailor_store::AuditEntry {
            at: self.shared.clock.now(),
            action: "erase".into(),
            detail: serde_json::to_string(&report).unwrap_or_default(),
        })?;
        tracing::info!(?report, "erased a person");
        Ok(report)
    }

    /// Retention: erases, through the same steps as [`Writer::erase`] but without
    /// suppression, at most `limit` people inactive since before `cutoff`.
    fn expire(
        &mut self,
        cutoff: tailor_core::Millis,
        limit: usize,
    ) -> Result<(u64, ErasureReport), EngineError> {
        let people = self.shared.registry.read().inactive_before(cutoff, limit);
        if people.is_empty() {
            return Ok((0, ErasureReport::default()));
        }
        let n = people.len() as u64;
        let report = self.forget_people(people, false)?;
        tracing::info!(people = n, ?report, "expired inactive people");
        Ok((n, report))
    }

    /// **The** erasure path (the steps and their order: see `privacy`): everything about
    /// `people` (each: their profile ids and raw ids) leaves the store, memory and what was
    /// learned from them; with `suppress`, their ids are refused from now on.
    fn forget_people(
        &mut self,
        people: Vec<(Vec<tailor_store::ProfileId>, Vec<String>)>,
        suppress: bool,
    ) -> Result<ErasureReport, EngineError> {
        /// People per store call, so each statement's id list stays short.
        const GROUP: usize = 64;
        let shared = self.shared.clone();
        // No checkpoint may be writing their profile, and no decision of theirs may still
        // be queued, while their rows are deleted.
        self.maybe_checkpoint(true)?;
        shared.decisions.flush();
        let profile_ids: Vec<_> = people.iter().flat_map(|(p, _)| p.iter().copied()).collect();
        let ids: Vec<String> = people.iter().flat_map(|(_, i)| i.iter().cloned()).collect();
        // From here on, late events and decisions naming them are refused or anonymized.
        if suppress {
            shared.suppression.add(&*shared.store, &ids)?;
            // Journey writes checked before the suppression finish before their rows are
            // deleted; later ones drop every row naming them.
            drop(shared.journey_gate.write());
        }
        shared.journeys.inbox.forget(&ids);
        let mut report = ErasureReport {
            suppressed_ids: if suppress { ids.len() as u64 } else { 0 },
            ..Default::default()
        };
        let mut messages: Vec<Message> = Vec::new();
        for group in people.chunks(GROUP) {
            let keys = tailor_store::PersonKeys {
                profile_ids: group.iter().flat_map(|(p, _)| p.iter().copied()).collect(),
                ids: group.iter().flat_map(|(_, i)| i.iter().cloned()).collect(),
            };
            let mut events = shared.store.events_of(&keys.ids, usize::MAX)?;
            events.sort_by_key(|e| e.seq);
            messages.extend(events.into_iter().map(|e| e.message));
            let erased = shared.store.erase_person(&keys)?;
            report.profiles += erased.profiles;
            report.identities += erased.identities;
            report.events += erased.events;
            report.decisions += erased.decisions;
        }
        shared.registry.write().remove(&profile_ids);
        let views = {
            let catalog = shared.catalog.read();
            let mut recs = shared.recs.write();
            recs.forget(&messages, &profile_ids, &catalog);
            recs.refresh(&catalog, shared.clock.now());
            recs.clicks.take_training_copy()
        };
        // The session model learned from their sessions: retrain without them, now.
        let model = SessionModel::train(views).map(Arc::new);
        shared.recs.write().session_model = model;
        shared.decisions.forget(&profile_ids);
        shared.experiments.forget(&ids);
        // The prediction models learned from them too: the schedule retrains them without
        // them within a minute (a run already reading the log is followed by another).
        shared
            .predictions
            .stale
            .store(true, std::sync::atomic::Ordering::Relaxed);
        self.maybe_checkpoint(true)?;
        purge(&*shared.store)?;
        Ok(report)
    }

    fn retrain(&self, due: Option<Retrain>) {
        match due {
            None => {}
            Some(Retrain::Inline(views)) => {
                let model = SessionModel::train(views).map(Arc::new);
                self.shared.recs.write().session_model = model;
            }
            Some(Retrain::Background(views)) => train_in_background(&self.shared, views),
        }
    }

    /// Starts a background checkpoint when one is due and none is running. With `force`,
    /// waits for any running one and then writes everything synchronously.
    fn maybe_checkpoint(&mut self, force: bool) -> Result<(), EngineError> {
        if let Some(running) = self.saving.take() {
            if force || running.is_finished() {
                finish(&self.shared, running)?;
            } else {
                self.saving = Some(running);
                return Ok(());
            }
        }
        if force {
            let changes = self.shared.registry.write().take_changes();
            let recs = self.shared.recs.read().clone();
            return save(&self.shared, changes, &recs, self.applied).map_err(|(e, changes)| {
                self.shared.registry.write().requeue(changes);
                e
            });
        }
        if self.last_checkpoint.elapsed() < CHECKPOINT_EVERY {
            return Ok(());
        }
        self.last_checkpoint = Instant::now();
        let changes = {
            let mut registry = self.shared.registry.write();
            if !registry.has_changes() {
                return Ok(());
            }
            (registry.take_changes(), self.shared.recs.read().clone())
        };
        let (changes, recs) = changes;
        let (shared, applied) = (self.shared.clone(), self.applied);
        let spawned = std::thread::Builder::new()
            .name("tailor-checkpoint".into())
            .spawn(move || save(&shared, changes, &recs, applied));
        match spawned {
            Ok(handle) => self.saving = Some(handle),
            Err(e) => tracing::error!(error = %e, "cannot start a checkpoint thread; will retry"),
        }
        Ok(())
    }
}

/// Truncates the write-ahead logs so no old page image keeps deleted rows (`Store::purge`).
/// Readers finishing a query can keep the log busy for a moment: retries briefly.
pub(crate) fn purge(store: &dyn tailor_store::Store) -> Result<(), EngineError> {
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

type Saving = std::thread::JoinHandle<Result<(), (EngineError, Changes)>>;

/// Collects a finished background checkpoint; a failed one's changes go back to the registry.
fn finish(shared: &Shared, running: Saving) -> Result<(), EngineError> {
    match running.join() {
        Ok(Ok(())) => Ok(()),
        Ok(Err((e, changes))) => {
            shared.registry.write().requeue(changes);
            Err(e)
        }
        Err(_) => Err(EngineError::Internal(
            "the checkpoint thread panicked".into(),
        )),
    }
}

/// The views to retrain the session model on, if that is due: whenever new views arrived
/// and the queue is idle while the window is small (trained inline, milliseconds); at most
/// every [`session_model::RETRAIN_EVERY`], in the background, once it is larger.
fn session_views_due(
    shared: &Shared,
    last_retrain: &mut Instant,
    recs: &mut Recs,
    idle: bool,
) -> Option<Retrain> {
    if recs.clicks.untrained() == 0 {
        return None;
    }
    if recs.clicks.len() <= session_model::RETRAIN_INLINE_UP_TO {
        return idle.then(|| Retrain::Inline(recs.clicks.take_training_copy()));
    }
    if shared.session_training.load(Ordering::Acquire)
        || last_retrain.elapsed() < session_model::RETRAIN_EVERY
    {
        return None;
    }
    *last_retrain = Instant::now();
    Some(Retrain::Background(recs.clicks.take_training_copy()))
}

enum Retrain {
    Inline(Vec<SessionClick>),
    Background(Vec<SessionClick>),
}

/// Trains the session model on `views` on its own thread and swaps it in, unless a training
/// is already running (its result is at most [`session_model::RETRAIN_EVERY`] older).
pub(crate) fn train_in_background(shared: &Arc<Shared>, views: Vec<SessionClick>) {
    if shared.session_training.swap(true, Ordering::AcqRel) {
        return;
    }
    let worker = shared.clone();
    let spawned = std::thread::Builder::new()
        .name("tailor-session-model".into())
        .spawn(move || {
            let started = Instant::now();
            let model = SessionModel::train(views).map(Arc::new);
            if let Some(m) = &model {
                tracing::debug!(
                    views = m.clicks,
                    sessions = m.sessions,
                    ms = started.elapsed().as_millis() as u64,
                    "session model trained"
                );
            }
            worker.recs.write().session_model = model;
            worker.session_training.store(false, Ordering::Release);
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start the session model's training thread");
        shared.session_training.store(false, Ordering::Release);
    }
}

/// Writes profile changes covering the log up to `applied`, in one transaction.
/// Serialization happens here, outside every lock.
pub(crate) fn save(
    shared: &Shared,
    changes: Changes,
    recs: &crate::Recs,
    applied: Seq,
) -> Result<(), (EngineError, Changes)> {
    let policies = shared.policies.take_snapshot();
    if changes.upsert.is_empty()
        && changes.delete.is_empty()
        && changes.identities.is_empty()
        && policies.is_none()
    {
        return Ok(());
    }
    let policies = policies.unwrap_or_else(|| shared.policies.snapshot());
    let started = Instant::now();
    let mut rows = Vec::with_capacity(changes.upsert.len());
    for p in &changes.upsert {
        match crate::profile::codec::encode(p.as_ref()) {
            Ok(state) => rows.push(ProfileRow { id: p.id, state }),
            Err(e) => {
                return Err((
                    EngineError::Internal(format!("cannot serialize profile {}: {e}", p.id)),
                    changes,
                ));
            }
        }
    }
    let recs_json = match serde_json::to_string(recs) {
        Ok(json) => json,
        Err(e) => {
            return Err((
                EngineError::Internal(format!("cannot serialize recommendation state: {e}")),
                changes,
            ));
        }
    };
    let clicks = match recs.clicks.encode() {
        Ok(bytes) => {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD.encode(bytes)
        }
        Err(e) => {
            return Err((
                EngineError::Internal(format!("cannot serialize the session model's views: {e}")),
                changes,
            ));
        }
    };
    let cp = Checkpoint {
        seq: applied,
        upsert_profiles: rows,
        delete_profiles: changes.delete.clone(),
        upsert_identities: changes.identities.clone(),
        meta: vec![
            ("next_profile_id".into(), changes.next_id.to_string()),
            (crate::RECS_META.into(), recs_json),
            (crate::SESSION_CLICKS_META.into(), clicks),
            (crate::POLICIES_META.into(), policies),
        ],
    };
    match shared.store.checkpoint(&cp) {
        Ok(()) => {
            tracing::debug!(
                profiles = cp.upsert_profiles.len(),
                seq = applied,
                ms = started.elapsed().as_millis() as u64,
                "checkpoint"
            );
            metrics::histogram!("tailor_checkpoint_seconds")
                .record(started.elapsed().as_secs_f64());
            Ok(())
        }
        Err(e) => {
            tracing::error!(error = %e, "checkpoint failed; will retry");
            Err((e.into(), changes))
        }
    }
}
