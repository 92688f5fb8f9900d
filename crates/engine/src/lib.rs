//! Tailor's domain logic over a [`Store`]: the ingestion pipeline, the identity graph,
//! unified profiles with their behavioral features, and the catalog.
//!
//! The engine knows nothing of HTTP. It is cheap to clone and shared by every handler.

pub mod catalog;
pub mod consent;
pub mod decide;
mod decision_export;
mod decisions;
pub mod error;
pub mod experiment_results;
pub mod experiments;
mod ingest;
pub mod journeys;
pub mod keys;
pub mod policies;
pub mod predictions;
pub mod privacy;
pub mod profile;
pub mod recs;
mod registry;
pub mod retention;
pub mod session_model;
pub mod tokens;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::{Mutex, RwLock};
use tailor_core::{Clock, ContentItem, Message, Product};
use tailor_store::{Seq, Store, StoredEvent};
use tokio::sync::{mpsc, oneshot};

pub use catalog::{Catalog, CategoryNode};
pub use error::EngineError;
pub use ingest::Receipt;
pub use keys::{GeneratedKeys, Keys, Scope};
pub use profile::{Profile, ProfileView};
pub use recs::Recs;
pub use registry::Registry;

/// Jobs the writer queue holds before senders wait.
const QUEUE_DEPTH: usize = 1_024;
/// Events replayed per read when catching up with the log on start.
const REPLAY_CHUNK: usize = 10_000;

/// State shared by the handlers and the writer thread.
pub(crate) struct Shared {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub registry: RwLock<Registry>,
    pub recs: RwLock<Recs>,
    pub catalog: RwLock<Catalog>,
    pub queued: AtomicUsize,
    pub suppression: privacy::Suppression,
    pub experiments: experiments::Experiments,
    pub policies: policies::Policies,
    pub tokens: tokens::ProfileTokens,
    pub quizzes: RwLock<Vec<tailor_core::preferences::Quiz>>,
    /// Swapped whole by `PUT /v1/consent/policy`.
    pub consent_policy: RwLock<Arc<consent::ConsentPolicy>>,
    /// Whether the session model is being retrained in the background.
    pub session_training: std::sync::atomic::AtomicBool,
    pub decisions: decisions::DecisionLog,
    pub placements: RwLock<Vec<decide::Placement>>,
    pub journeys: journeys::Journeys,
    pub predictions: predictions::PredictionService,
    pub retention: retention::RetentionSettings,
    /// Held (read) by the journey scheduler from its suppression check to its store write;
    /// erasure takes it (write) once the ids are suppressed, so no run or message checked
    /// before the suppression lands after the erasure deleted their rows.
    pub journey_gate: RwLock<()>,
}

/// The checkpoint entry holding the recommendation state.
pub(crate) const RECS_META: &str = "recs";
/// The checkpoint entry holding the learning policies' state.
pub(crate) const POLICIES_META: &str = "policies";
/// The checkpoint entry holding the session model's views (base64 postcard).
pub(crate) const SESSION_CLICKS_META: &str = "session_clicks";

/// The placements that learn, with their policies.
pub(crate) fn learning_placements(shared: &Shared) -> Vec<(String, policies::LearningPolicy)> {
    shared
        .placements
        .read()
        .iter()
        .filter_map(|p| p.policy.map(|policy| (p.id.clone(), policy)))
        .collect()
}

/// Folds one committed event into the derived state: its person's profile, then what
/// the store learns about its products.
pub(crate) fn fold(
    registry: &mut Registry,
    recs: &mut Recs,
    catalog: &Catalog,
    m: &Message,
) -> profile::ProfileId {
    let id = registry.apply(m, catalog);
    if let Some(profile) = registry.get(id) {
        recs.observe(m, profile);
    }
    id
}

/// A setting kept as JSON in the store's metadata (placements, experiments, quizzes, the
/// consent policy); `None` when never saved.
fn load_setting<T: serde::de::DeserializeOwned>(
    store: &dyn Store,
    key: &str,
    what: &str,
) -> Result<Option<T>, EngineError> {
    store
        .get_meta(key)?
        .map(|json| {
            serde_json::from_str(&json).map_err(|e| EngineError::Corrupt(format!("{what}: {e}")))
        })
        .transpose()
}

fn save_setting<T: serde::Serialize>(
    store: &dyn Store,
    key: &str,
    value: &T,
) -> Result<(), EngineError> {
    let json = serde_json::to_string(value).map_err(|e| EngineError::Internal(e.to_string()))?;
    Ok(store.set_meta(key, &json)?)
}

/// Where the experiment definitions are kept.
const EXPERIMENTS_META: &str = "experiments";

/// Where the quizzes are kept.
const QUIZZES_META: &str = "quizzes";

/// Where the consent policy is kept.
const CONSENT_POLICY_META: &str = "consent_policy";

/// Where the placement configuration is kept.
const PLACEMENTS_META: &str = "placements";

/// A decide request: who, which placements, and the page's context (`productId`,
/// `cart`: product ids, anything else for conditions under `context.*`).
#[derive(Debug, Clone, Default)]
pub struct DecideInput {
    pub user_id: Option<String>,
    pub anonymous_id: Option<String>,
    pub placements: Vec<String>,
    pub context: serde_json::Map<String, serde_json::Value>,
}

/// The answers to a decide request.
#[derive(Debug, Clone)]
pub struct DecideOutput {
    pub decision_id: String,
    pub personalized: bool,
    pub reason: Option<&'static str>,
    pub answers: Vec<(String, decide::Answer)>,
}

/// How to start an engine.
#[derive(Default)]
pub struct Options {
    pub write_key: Option<String>,
    pub admin_key: Option<String>,
    /// Reads aggregates and reports only; none unless configured.
    pub analyst_key: Option<String>,
    /// Where journeys send email, push and webhooks.
    pub channels: journeys::ChannelConfig,
    /// When prediction models train.
    pub models: predictions::Schedule,
    /// How long raw events and inactive people are kept (see `retention`).
    pub retention: retention::RetentionSettings,
}

#[derive(Clone)]
pub struct Engine {
    shared: Arc<Shared>,
    jobs: mpsc::Sender<ingest::Job>,
    keys: Arc<Keys>,
    writer: Arc<Mutex<Option<std::thread::JoinHandle<()>>>>,
    /// Decision ids are this random prefix plus a counter.
    decision_prefix: Arc<str>,
    decision_counter: Arc<std::sync::atomic::AtomicU64>,
    /// The journey scheduler and outbox threads.
    journey_threads: journeys::ThreadSlot,
    /// The retention thread, when retention is on.
    retention_thread: Arc<Mutex<Option<retention::Thread>>>,
}

/// Counts for operations.
#[derive(Debug, Clone, Copy)]
pub struct Stats {
    pub profiles: usize,
    pub products: usize,
    pub queued_jobs: usize,
}

impl Engine {
    /// Loads the catalog and the last profile checkpoint, replays the log after it, and
    /// starts the writer thread. Returns the keys generated on this start, if any.
    pub fn open(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        options: Options,
    ) -> Result<(Engine, GeneratedKeys), EngineError> {
        let (keys, generated) = Keys::load_or_create(
            store.as_ref(),
            options.write_key.as_deref(),
            options.admin_key.as_deref(),
            options.analyst_key.as_deref(),
        )?;
        let catalog = Catalog::new(store.products()?, store.content()?);
        let placements = load_setting(store.as_ref(), PLACEMENTS_META, "placements")?
            .unwrap_or_else(decide::placement::standard);
        let store_for_log = store.clone();
        let suppression = privacy::Suppression::load(store.as_ref())?;
        let profile_tokens = tokens::ProfileTokens::load(store.as_ref())?;
        let experiment_defs =
            load_setting(store.as_ref(), EXPERIMENTS_META, "experiments")?.unwrap_or_default();
        let experiments = experiments::Experiments::new(experiment_defs, store.exposures()?);
        let quizzes = load_setting(store.as_ref(), QUIZZES_META, "quizzes")?.unwrap_or_default();
        let consent_policy = load_setting(store.as_ref(), CONSENT_POLICY_META, "consent policy")?
            .unwrap_or_default();
        let prediction_service = predictions::PredictionService::load(store.as_ref())?;
        let (journey_defs, observed) =
            journeys::Journeys::load(store.as_ref(), prediction_service.slot())?;
        let started = std::time::Instant::now();
        let snapshot = store.snapshot()?;
        let meta = |key: &str| {
            snapshot
                .meta
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
        };
        let next_id = meta("next_profile_id")
            .and_then(|s| s.parse().ok())
            .unwrap_or(1);
        let mut recs: Recs = match meta(RECS_META) {
            Some(json) => serde_json::from_str(&json)
                .map_err(|e| EngineError::Corrupt(format!("recommendation state: {e}")))?,
            None => Recs::default(),
        };
        if let Some(encoded) = meta(SESSION_CLICKS_META) {
            use base64::Engine as _;
            recs.clicks = base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .map_err(|e| e.to_string())
                .and_then(|bytes| {
                    session_model::SessionClicks::decode(&bytes).map_err(|e| e.to_string())
                })
                .map_err(|e| EngineError::Corrupt(format!("session model views: {e}")))?;
        }
        let learning_state = policies::Policies::restore(meta(POLICIES_META).as_deref())
            .map_err(|e| EngineError::Corrupt(format!("learning policies: {e}")))?;
        let mut applied: Seq = snapshot.seq;
        let read_ms = started.elapsed().as_millis() as u64;
        let mut registry = Registry::restore(snapshot, next_id)?;
        tracing::debug!(
            read_ms,
            restore_ms = started.elapsed().as_millis() as u64 - read_ms,
            "snapshot loaded"
        );
        let mut replayed = 0usize;
        loop {
            let events = store.events_after(applied, REPLAY_CHUNK)?;
            let Some(last) = events.last() else { break };
            applied = last.seq;
            replayed += events.len();
            for e in &events {
                fold(&mut registry, &mut recs, &catalog, &e.message);
            }
        }
        recs.refresh(&catalog, clock.now());
        // Start-up waits for the model only while it is quick to train (small stores, tests);
        // larger ones start serving with the other sources and get it within seconds.
        let train_now = recs.clicks.len() <= session_model::RETRAIN_INLINE_UP_TO;
        if train_now {
            recs.session_model =
                session_model::SessionModel::train(recs.clicks.take_training_copy()).map(Arc::new);
        }
        tracing::info!(
            profiles = registry.len(),
            replayed,
            ms = started.elapsed().as_millis() as u64,
            "profiles loaded"
        );
        let shared = Arc::new(Shared {
            store,
            clock,
            registry: RwLock::new(registry),
            recs: RwLock::new(recs),
            catalog: RwLock::new(catalog),
            queued: AtomicUsize::new(0),
            session_training: std::sync::atomic::AtomicBool::new(false),
            suppression,
            experiments,
            policies: learning_state,
            tokens: profile_tokens,
            consent_policy: RwLock::new(Arc::new(consent_policy)),
            quizzes: RwLock::new(quizzes),
            decisions: decisions::DecisionLog::start(store_for_log)?,
            placements: RwLock::new(placements),
            journeys: journey_defs,
            predictions: prediction_service,
            retention: options.retention,
            journey_gate: RwLock::new(()),
        });
        predictions::start_schedule(&shared, options.models);
        if replayed > 0 {
            let changes = shared.registry.write().take_changes();
            let recs = shared.recs.read().clone();
            ingest::save(&shared, changes, &recs, applied).map_err(|(e, _)| e)?;
        }
        let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
        if !train_now {
            let views = shared.recs.write().clicks.take_training_copy();
            ingest::train_in_background(&shared, views);
        }
        let writer = ingest::spawn(shared.clone(), rx, applied);
        let decision_prefix: Arc<str> = keys::random_key("d_", 6)?.into();
        let engine = Engine {
            decision_prefix,
            decision_counter: Arc::new(std::sync::atomic::AtomicU64::new(0)),
            shared,
            jobs: tx,
            keys: Arc::new(keys),
            writer: Arc::new(Mutex::new(Some(writer))),
            journey_threads: Arc::new(Mutex::new(None)),
            retention_thread: Arc::new(Mutex::new(None)),
        };
        let threads = journeys::start(&engine, observed, options.channels)?;
        *engine.journey_threads.lock() = Some(threads);
        *engine.retention_thread.lock() = retention::start(&engine)?;
        Ok((engine, generated))
    }

    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    pub fn now(&self) -> tailor_core::Millis {
        self.shared.clock.now()
    }

    /// Stores messages durably and folds them into profiles. Returns once both are done.
    pub async fn ingest(&self, messages: Vec<Message>) -> Result<Receipt, EngineError> {
        if messages.is_empty() {
            return Ok(Receipt::default());
        }
        let (done, wait) = oneshot::channel();
        self.shared.queued.fetch_add(1, Ordering::Relaxed);
        if self
            .jobs
            .send(ingest::Job::Append { messages, done })
            .await
            .is_err()
        {
            self.shared.queued.fetch_sub(1, Ordering::Relaxed);
            return Err(EngineError::ShuttingDown);
        }
        wait.await.map_err(|_| EngineError::ShuttingDown)?
    }

    /// Finishes queued work, writes a final checkpoint and stops the writer.
    pub async fn shutdown(&self) -> Result<(), EngineError> {
        self.shared.predictions.stop();
        // Retention first: it waits on the writer.
        let retention = self.retention_thread.lock().take();
        if let Some(thread) = retention {
            let _ = tokio::task::spawn_blocking(move || thread.stop()).await;
        }
        // Journeys next: they ingest (profile updates) and must not outlive the writer.
        let threads = self.journey_threads.lock().take();
        if let Some(threads) = threads {
            let _ = tokio::task::spawn_blocking(move || threads.stop()).await;
        }
        let (done, wait) = oneshot::channel();
        self.shared.queued.fetch_add(1, Ordering::Relaxed);
        if self
            .jobs
            .send(ingest::Job::Shutdown { done })
            .await
            .is_err()
        {
            return Ok(());
        }
        let result = wait.await.map_err(|_| EngineError::ShuttingDown)?;
        self.shared.decisions.flush_and_stop();
        let handle = self.writer.lock().take();
        if let Some(handle) = handle {
            let _ = tokio::task::spawn_blocking(move || handle.join()).await;
        }
        result
    }

    /// Erases the person `id` names from everything Tailor keeps (see `privacy`), waiting
    /// until it is done and unrecoverable from the files.
    pub async fn erase(&self, id: &str) -> Result<privacy::ErasureReport, EngineError> {
        let (done, wait) = oneshot::channel();
        self.shared.queued.fetch_add(1, Ordering::Relaxed);
        let job = ingest::Job::Erase {
            id: id.to_string(),
            done,
        };
        if self.jobs.send(job).await.is_err() {
            self.shared.queued.fetch_sub(1, Ordering::Relaxed);
            return Err(EngineError::ShuttingDown);
        }
        wait.await.map_err(|_| EngineError::ShuttingDown)?
    }

    /// A profile token for `user_id` (see `tokens`); its expiry.
    pub fn issue_token(
        &self,
        user_id: &str,
        ttl: Option<tailor_core::Millis>,
    ) -> (String, tailor_core::Millis) {
        self.shared
            .tokens
            .issue(user_id, self.now(), ttl.unwrap_or(tokens::DEFAULT_TTL))
    }

    /// The userId a profile token proves.
    pub fn verify_token(&self, token: &str) -> Result<String, tokens::TokenError> {
        self.shared.tokens.verify(token, self.now())
    }

    /// Whether the catalog has this category path (at any depth).
    pub fn has_category(&self, path: &str) -> bool {
        !self.shared.catalog.read().products_in(path).is_empty()
    }

    /// The experiments.
    pub fn experiments(&self) -> Vec<experiments::PlacementExperiment> {
        self.shared.experiments.list()
    }

    /// Adds or replaces an experiment, validated against the placements, the content and
    /// the other experiments' namespaces. Takes effect on the next decision. Blocks on disk.
    pub fn put_experiment(&self, exp: experiments::PlacementExperiment) -> Result<(), EngineError> {
        let placements = self.shared.placements.read().clone();
        exp.validate(
            |p| placements.iter().any(|x| x.id == p),
            |c| self.content_item(c).is_some(),
        )?;
        let mut all = self.shared.experiments.list();
        all.retain(|e| e.id != exp.id);
        all.push(exp);
        all.sort_by(|a, b| a.id.cmp(&b.id));
        let growthbook: Vec<_> = all.iter().map(|e| e.growthbook()).collect();
        tailor_core::experiment::validate_namespaces(&growthbook)?;
        self.save_experiments(all)
    }

    pub fn delete_experiment(&self, id: &str) -> Result<(), EngineError> {
        let mut all = self.shared.experiments.list();
        let before = all.len();
        all.retain(|e| e.id != id);
        if all.len() == before {
            return Err(EngineError::NotFound(format!("experiment {id:?}")));
        }
        self.save_experiments(all)
    }

    fn save_experiments(
        &self,
        all: Vec<experiments::PlacementExperiment>,
    ) -> Result<(), EngineError> {
        save_setting(&*self.shared.store, EXPERIMENTS_META, &all)?;
        self.shared.experiments.replace(all);
        Ok(())
    }

    /// The quizzes, in id order.
    pub fn quizzes(&self) -> Vec<tailor_core::preferences::Quiz> {
        self.shared.quizzes.read().clone()
    }

    /// Adds or replaces a quiz (validated by the caller with `Quiz::parse`). Blocks on disk.
    pub fn put_quiz(&self, quiz: tailor_core::preferences::Quiz) -> Result<(), EngineError> {
        let mut all = self.shared.quizzes.read().clone();
        all.retain(|q| q.id != quiz.id);
        all.push(quiz);
        all.sort_by(|a, b| a.id.cmp(&b.id));
        self.save_quizzes(all)
    }

    pub fn delete_quiz(&self, id: &str) -> Result<(), EngineError> {
        let mut all = self.shared.quizzes.read().clone();
        let before = all.len();
        all.retain(|q| q.id != id);
        if all.len() == before {
            return Err(EngineError::NotFound(format!("quiz {id:?}")));
        }
        self.save_quizzes(all)
    }

    fn save_quizzes(&self, all: Vec<tailor_core::preferences::Quiz>) -> Result<(), EngineError> {
        save_setting(&*self.shared.store, QUIZZES_META, &all)?;
        *self.shared.quizzes.write() = all;
        Ok(())
    }

    /// What the person `id` names declared (zero-party data); `None` if unknown.
    pub fn declared_preferences(&self, id: &str) -> Option<tailor_core::preferences::Preferences> {
        self.with_profile(id, |p| {
            p.traits
                .get(tailor_core::preferences::TRAIT)
                .map(|t| tailor_core::preferences::Preferences::from_trait(&t.value))
                .unwrap_or_default()
        })
    }

    /// The placements that learn, with their policies.
    pub(crate) fn learning_placements(&self) -> Vec<(String, policies::LearningPolicy)> {
        learning_placements(&self.shared)
    }

    /// What a learning placement has learned so far.
    pub fn policy_summary(&self, placement: &str) -> Option<policies::PolicySummary> {
        let p = self
            .shared
            .placements
            .read()
            .iter()
            .find(|p| p.id == placement)?
            .clone();
        Some(policies::PolicySummary {
            policy: p.policy,
            candidates: self.shared.policies.summary(placement),
        })
    }

    /// The consent policy in force.
    pub fn consent_policy(&self) -> Arc<consent::ConsentPolicy> {
        self.shared.consent_policy.read().clone()
    }

    /// Replaces the consent policy (validated; takes effect on the next call). Blocks on disk.
    pub fn put_consent_policy(&self, policy: consent::ConsentPolicy) -> Result<(), EngineError> {
        policy.validate()?;
        save_setting(&*self.shared.store, CONSENT_POLICY_META, &policy)?;
        *self.shared.consent_policy.write() = Arc::new(policy);
        Ok(())
    }

    /// What each purpose may do with the person `id` names, and why; `None` if unknown.
    pub fn consent_state(
        &self,
        id: &str,
    ) -> Option<std::collections::BTreeMap<tailor_core::Purpose, consent::Permission>> {
        let policy = self.consent_policy();
        self.with_profile(id, |p| {
            tailor_core::Purpose::ALL
                .into_iter()
                .map(|purpose| (purpose, policy.may(Some(p), purpose)))
                .collect()
        })
    }

    /// The consent ledger of the person `id` names (oldest first). Blocks on disk.
    pub fn consent_ledger(
        &self,
        id: &str,
    ) -> Result<Option<Vec<consent::LedgerEntry>>, EngineError> {
        let Some(ids) = self.with_profile(id, |p| p.id_list()) else {
            return Ok(None);
        };
        let mut events = self.shared.store.events_of(&ids, usize::MAX)?;
        events.sort_by_key(|e| e.seq);
        Ok(Some(consent::ledger(&events)))
    }

    /// Lifts the suppression of an erased id, so its events are accepted again. Blocks on
    /// disk. Whether it was suppressed.
    pub fn lift_suppression(&self, id: &str) -> Result<bool, EngineError> {
        let lifted = self.shared.suppression.lift(&*self.shared.store, id)?;
        if lifted {
            self.shared.store.audit(&tailor_store::AuditEntry {
                at: self.now(),
                action: "lift_suppression".into(),
                detail: "{}".into(),
            })?;
        }
        Ok(lifted)
    }

    /// Records that the admin read the personal data of the person `id` names (`what`: the
    /// kind of read). The entry names their internal profile number, never an id, e-mail or
    /// trait. Blocks on disk. Nothing is recorded for an unknown id.
    pub fn audit_read(&self, what: &str, id: &str) -> Result<(), EngineError> {
        let Some(profile) = self.with_profile(id, |p| p.id) else {
            return Ok(());
        };
        self.shared.store.audit(&tailor_store::AuditEntry {
            at: self.now(),
            action: what.to_string(),
            detail: serde_json::json!({"profile": format!("p_{profile}")}).to_string(),
        })?;
        Ok(())
    }

    /// The newest audit entries, newest first. Blocks on disk.
    pub fn audit_log(&self, limit: usize) -> Result<Vec<tailor_store::AuditEntry>, EngineError> {
        Ok(self.shared.store.audit_log(limit)?)
    }

    /// Everything Tailor keeps about the person `id` names, in one document (format in the
    /// README, "Export"). Blocks on disk. `None` if nobody is known by `id`.
    pub fn export(&self, id: &str) -> Result<Option<privacy::ExportDocument>, EngineError> {
        let now = self.now();
        let Some(view) = self.profile_in_full(id)? else {
            return Ok(None);
        };
        let ids: Vec<String> = view
            .user_ids
            .iter()
            .chain(&view.anonymous_ids)
            .cloned()
            .collect();
        let mut events = self.shared.store.events_of(&ids, usize::MAX)?;
        events.sort_by_key(|e| e.seq);
        // Decisions still queued for the log belong in the export too.
        self.shared.decisions.flush();
        let decisions = self.shared.store.decisions_of(&ids, usize::MAX)?;
        // So are exposures still queued with the decision log (flushed above).
        let exposures = self.shared.store.exposures_of(&ids)?;
        let messages = self
            .shared
            .store
            .outbox_list(None, Some(&ids), usize::MAX)?;
        let journeys = self.journey_runs(id)?;
        Ok(Some(privacy::export_document(
            view,
            privacy::ExportParts {
                events: &events,
                decisions: &decisions,
                exposures: &exposures,
                journeys,
                messages: &messages,
            },
            now,
        )))
    }

    /// A profile by internal id (`p_12`), userId or anonymousId, as seen now, without
    /// predictions (see [`Engine::profile_in_full`]).
    pub fn profile(&self, id: &str) -> Option<ProfileView> {
        let now = self.now();
        self.shared.registry.read().find(id).map(|p| p.view(now))
    }

    /// [`Engine::profile`] with every prediction, the best send hour included, which reads
    /// the person's email opens from the log. Blocks on disk.
    pub fn profile_in_full(&self, id: &str) -> Result<Option<ProfileView>, EngineError> {
        let now = self.now();
        let Some(ids) = self.with_profile(id, |p| p.id_list()) else {
            return Ok(None);
        };
        let opens = self.email_opens(&ids)?;
        let models = self.shared.predictions.current();
        Ok(self.with_profile(id, |p| {
            let mut view = p.view(now);
            view.predictions = models.map(|m| m.predict(p, now, Some(&opens)));
            view
        }))
    }

    /// Every prediction for the person `id` names; `None` if nobody is known by `id` or no
    /// model is trained yet. Blocks on disk (email opens for the send hour).
    pub fn predictions(&self, id: &str) -> Result<Option<predictions::Predictions>, EngineError> {
        Ok(self.profile_in_full(id)?.and_then(|v| v.predictions))
    }

    /// Times of the person's email opens, newest 2,000 events considered.
    fn email_opens(&self, ids: &[String]) -> Result<Vec<tailor_core::Millis>, EngineError> {
        Ok(self
            .shared
            .store
            .events_of(ids, 2_000)?
            .iter()
            .filter(|e| e.message.event.as_deref() == Some("Email Opened"))
            .map(|e| e.message.timestamp)
            .collect())
    }

    /// Trains a new model version now, on this thread, and puts it in service.
    pub fn train_models(&self) -> Result<predictions::ModelVersion, EngineError> {
        predictions::train_now(&self.shared)
    }

    /// Starts training in the background; `false` if a run is already going.
    pub fn start_training(&self) -> bool {
        predictions::train_in_background(&self.shared)
    }

    /// The per-category forecast of orders and revenue for the next 4 weeks, built by the
    /// models in service; a conflict before any version has trained (or when the newest one
    /// could not build it).
    pub fn forecast(&self) -> Result<predictions::forecast::Forecast, EngineError> {
        let Some(models) = self.shared.predictions.current() else {
            return Err(EngineError::Conflict(
                "no model is trained yet: train one (POST /v1/models/train) and follow GET /v1/models".into(),
            ));
        };
        models.forecast.clone().ok_or_else(|| {
            EngineError::Conflict(format!(
                "model version {} has no forecast; GET /v1/models says why",
                models.version
            ))
        })
    }

    /// Recorded model versions (newest last) and what the trainer is doing.
    pub fn models(&self) -> (Vec<predictions::ModelVersion>, predictions::TrainingState) {
        (
            self.shared.predictions.versions(),
            self.shared.predictions.state(),
        )
    }

    /// Runs `f` on a profile without copying it.
    pub fn with_profile<T>(&self, id: &str, f: impl FnOnce(&Profile) -> T) -> Option<T> {
        self.shared.registry.read().find(id).map(|p| f(p))
    }

    /// The newest events of the person `id` names, newest first.
    pub fn events_of(
        &self,
        id: &str,
        limit: usize,
    ) -> Result<Option<Vec<StoredEvent>>, EngineError> {
        let Some(ids) = self.with_profile(id, |p| p.id_list()) else {
            return Ok(None);
        };
        Ok(Some(self.shared.store.events_of(&ids, limit)?))
    }

    pub fn stats(&self) -> Stats {
        Stats {
            profiles: self.shared.registry.read().len(),
            products: self.shared.catalog.read().product_count(),
            queued_jobs: self.shared.queued.load(Ordering::Relaxed),
        }
    }

    pub fn event_count(&self) -> Result<u64, EngineError> {
        Ok(self.shared.store.event_count()?)
    }

    // Catalog. Writes go to the store first, then to memory, so memory never shows
    // what the store does not hold. They block on disk: call them off the async executor.

    pub fn put_products(&self, products: Vec<Product>) -> Result<usize, EngineError> {
        self.shared.store.put_products(&products)?;
        let n = products.len();
        self.shared.catalog.write().put_products(products);
        Ok(n)
    }

    pub fn delete_product(&self, id: &str) -> Result<(), EngineError> {
        if !self.shared.store.delete_product(id)? {
            return Err(EngineError::NotFound(format!("product {id:?}")));
        }
        self.shared.catalog.write().delete_product(id);
        Ok(())
    }

    pub fn product(&self, id: &str) -> Option<Arc<Product>> {
        self.shared.catalog.read().product_arc(id)
    }

    pub fn products(&self, category: Option<&str>) -> Vec<Arc<Product>> {
        self.shared.catalog.read().products(category)
    }

    pub fn category_tree(&self) -> Vec<CategoryNode> {
        self.shared.catalog.read().category_tree().to_vec()
    }

    pub fn put_content(&self, items: Vec<ContentItem>) -> Result<usize, EngineError> {
        self.shared.store.put_content(&items)?;
        let n = items.len();
        self.shared.catalog.write().put_content(items);
        Ok(n)
    }

    pub fn delete_content(&self, id: &str) -> Result<(), EngineError> {
        if !self.shared.store.delete_content(id)? {
            return Err(EngineError::NotFound(format!("content item {id:?}")));
        }
        self.shared.catalog.write().delete_content(id);
        Ok(())
    }

    pub fn content_item(&self, id: &str) -> Option<Arc<ContentItem>> {
        self.shared.catalog.read().content_item(id)
    }

    pub fn content(&self, placement: Option<&str>) -> Vec<Arc<ContentItem>> {
        self.shared.catalog.read().content(placement)
    }

    // Decisions.

    /// The placements `decide` answers, standard ones included.
    pub fn placements(&self) -> Vec<decide::Placement> {
        self.shared.placements.read().clone()
    }

    /// Adds or replaces placements by id. Blocks on disk.
    pub fn put_placements(&self, new: Vec<decide::Placement>) -> Result<usize, EngineError> {
        let mut all = self.shared.placements.read().clone();
        let n = new.len();
        for p in new {
            match all.iter_mut().find(|x| x.id == p.id) {
                Some(slot) => *slot = p,
                None => all.push(p),
            }
        }
        self.save_placements(all)?;
        Ok(n)
    }

    pub fn delete_placement(&self, id: &str) -> Result<(), EngineError> {
        let mut all = self.shared.placements.read().clone();
        let before = all.len();
        all.retain(|p| p.id != id);
        if all.len() == before {
            return Err(EngineError::NotFound(format!("placement {id:?}")));
        }
        self.save_placements(all)
    }

    fn save_placements(&self, all: Vec<decide::Placement>) -> Result<(), EngineError> {
        save_setting(&*self.shared.store, PLACEMENTS_META, &all)?;
        *self.shared.placements.write() = all;
        Ok(())
    }

    /// Answers each requested placement for the visitor, from memory, and queues the
    /// decision for the log.
    pub fn decide(&self, input: DecideInput) -> Result<DecideOutput, EngineError> {
        use tailor_core::ValidationError;
        if input.placements.is_empty() {
            return Err(ValidationError::one(
                "`placements` must name at least one placement, e.g. [\"home.hero\"]",
            )
            .into());
        }
        let placements: Vec<decide::Placement> = {
            let known = self.shared.placements.read();
            let mut picked = Vec::with_capacity(input.placements.len());
            let mut unknown = Vec::new();
            for name in &input.placements {
                match known.iter().find(|p| &p.id == name) {
                    Some(p) => picked.push(p.clone()),
                    None => unknown.push(name.as_str()),
                }
            }
            if !unknown.is_empty() {
                let ids: Vec<&str> = known.iter().map(|p| p.id.as_str()).collect();
                return Err(ValidationError::one(format!(
                    "unknown placement(s) {unknown:?}; this store has: {}",
                    ids.join(", ")
                ))
                .into());
            }
            picked
        };
        let product = input
            .context
            .get("productId")
            .and_then(serde_json::Value::as_str);
        let cart: Vec<String> = match input.context.get("cart") {
            Some(serde_json::Value::Array(items)) => items
                .iter()
                .filter_map(|i| {
                    i.as_str()
                        .or_else(|| i.get("product_id").and_then(serde_json::Value::as_str))
                })
                .map(str::to_string)
                .collect(),
            _ => Vec::new(),
        };
        // Predictions cost ~15 µs per decision: computed only when a condition of these
        // placements, their content or an experiment on them reads them.
        let now = self.now();
        let models = {
            let catalog = self.shared.catalog.read();
            let reads = |c: &Option<serde_json::Value>| {
                c.as_ref().is_some_and(predictions::reads_predictions)
            };
            let reads = placements.iter().any(|p| {
                catalog.reads_predictions(&p.id)
                    || reads(&p.condition)
                    || p.variants.iter().any(|v| reads(&v.condition))
                    || self.shared.experiments.reads_predictions(&p.id, now)
            });
            if reads {
                self.shared.predictions.current()
            } else {
                None
            }
        };
        let request = decide::Request {
            placements: &placements,
            context: &input.context,
            product,
            cart,
            now,
            learning: &self.shared.policies,
            models: models.as_deref(),
            onsite: Some(&self.shared.journeys.inbox),
        };
        let mut exposures = Vec::new();
        let (decided, profile_id) = {
            let registry = self.shared.registry.read();
            let profile = input
                .user_id
                .as_deref()
                .and_then(|u| registry.find(u))
                .or_else(|| input.anonymous_id.as_deref().and_then(|a| registry.find(a)));
            let catalog = self.shared.catalog.read();
            let recs = self.shared.recs.read();
            let policy = self.shared.consent_policy.read().clone();
            // Experiments see every id of the person, so assignment is sticky across logins.
            let experiments = &self.shared.experiments;
            let live = experiments.any_live(now);
            let mut ids: Vec<&str> = Vec::new();
            if live {
                ids.extend(input.user_id.as_deref());
                ids.extend(input.anonymous_id.as_deref());
                if let Some(p) = profile {
                    ids.extend(p.ids().map(String::as_str));
                }
                ids.sort_unstable();
                ids.dedup();
                ids.retain(|id| !self.shared.suppression.blocks_id(id));
            }
            let hash_id = input
                .anonymous_id
                .as_deref()
                .or(input.user_id.as_deref())
                .unwrap_or_default();
            let mut assign = |placement: &decide::Placement, attributes: &serde_json::Value| {
                if !live || ids.is_empty() {
                    return None;
                }
                experiments.assign(
                    &placement.id,
                    &ids,
                    hash_id,
                    attributes,
                    now,
                    &mut exposures,
                )
            };
            let decided = self.shared.decisions.with_shown(|shown| {
                decide::decide(
                    &catalog,
                    &recs,
                    profile.map(|p| p.as_ref()),
                    &policy,
                    shown,
                    &request,
                    &mut assign,
                )
            });
            (decided, profile.map(|p| p.id))
        };
        if !exposures.is_empty() {
            self.shared.decisions.log_exposures(exposures);
        }
        let decision_id = format!(
            "{}{}",
            self.decision_prefix,
            self.decision_counter.fetch_add(1, Ordering::Relaxed)
        );
        let answers: Vec<(String, decide::Answer)> = placements
            .iter()
            .map(|p| p.id.clone())
            .zip(decided.answers)
            .collect();
        let counted: Vec<String> = answers
            .iter()
            .filter(|(_, a)| {
                matches!(
                    a.kind,
                    decide::PlacementKind::Hero | decide::PlacementKind::Promotion
                )
            })
            .filter_map(|(_, a)| a.chosen.clone())
            .collect();
        let record = tailor_store::DecisionRecord {
            id: decision_id.clone(),
            at: now,
            // An erased person's ids are not written back into the log (see `privacy`).
            user_id: input
                .user_id
                .clone()
                .filter(|id| !self.shared.suppression.blocks_id(id)),
            anonymous_id: input
                .anonymous_id
                .clone()
                .filter(|id| !self.shared.suppression.blocks_id(id)),
            personalized: decided.personalized,
            shown: answers
                .iter()
                .flat_map(|(_, a)| a.shown.iter().cloned())
                .collect(),
            counted,
            body: decide::log_body(&answers, profile_id, &input.context, decided.reason),
        };
        let learned: Vec<policies::Learned> = answers
            .iter()
            .filter_map(|(_, a)| a.learned.clone())
            .collect();
        if !learned.is_empty() {
            let placements = self.learning_placements();
            self.shared
                .policies
                .shown(&decision_id, learned, &placements);
        }
        self.shared.decisions.record(record, profile_id);
        metrics::counter!("tailor_decisions_total").increment(1);
        Ok(DecideOutput {
            decision_id,
            personalized: decided.personalized,
            reason: decided.reason,
            answers,
        })
    }

    /// A logged decision with the rewards joined to it. Blocks on disk (and on the decision
    /// log, so a decision just made is found).
    pub fn decision(
        &self,
        id: &str,
    ) -> Result<Option<(tailor_store::DecisionRecord, Vec<tailor_store::Reward>)>, EngineError>
    {
        self.shared.decisions.flush();
        Ok(self.shared.store.decision(id)?)
    }
}
