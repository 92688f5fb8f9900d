//! Start-up and shut-down: settings and the last checkpoint are loaded, the log after it
//! is replayed, each subsystem is built with the handles it needs, and the threads start
//! (writer, decision log, journeys' scheduler and outbox, retention, model training). They
//! stop in the reverse order of their dependence on the writer.

use std::sync::Arc;
use std::time::Instant;

use parking_lot::{Mutex, RwLock};
use tailor_core::Clock;
use tailor_store::Store;

use crate::catalog_admin::CatalogAdmin;
use crate::decide::onsite::Inbox;
use crate::decide::{Decider, DecisionIds, Placements};
use crate::error::EngineError;
use crate::govern::consent::Consent;
use crate::govern::keys::{self, ConfiguredKeys, GeneratedKeys, Keys};
use crate::govern::privacy::Suppression;
use crate::govern::retention::RetentionSettings;
use crate::govern::tokens::ProfileTokens;
use crate::ingest::retention::{self, Retention};
use crate::ingest::session::SessionTrainer;
use crate::ingest::{Ingest, Writer, WriterParts};
use crate::journeys::{self, ChannelConfig, JourneyParts, Journeys};
use crate::learn::predictions::{PredictionService, Schedule};
use crate::learn::session_model::{self, SessionModel};
use crate::live::Live;
use crate::measure::Measure;
use crate::measure::decision_log::DecisionLog;
use crate::measure::experiments::Experiments;
use crate::people::People;
use crate::profile::catalog::Catalog;
use crate::settings::{self, Settings};

/// Events replayed per read when catching up with the log on start.
const REPLAY_CHUNK: usize = 10_000;

/// How to start an engine.
#[derive(Default)]
pub struct Options {
    /// Keys set for this start; the rest are kept from earlier starts or generated.
    pub keys: ConfiguredKeys,
    /// The secret user hashes are made with (`TAILOR_IDENTITY_SECRET`); generated if unset.
    pub identity_secret: Option<String>,
    /// Where journeys send email, push and webhooks.
    pub channels: ChannelConfig,
    /// When prediction models train.
    pub models: Schedule,
    /// How long raw events and inactive people are kept (see `retention`).
    pub retention: RetentionSettings,
}

/// The subsystems behind the facade, each holding the handles it needs.
pub(crate) struct Parts {
    pub clock: Arc<dyn Clock>,
    pub store: Arc<dyn Store>,
    pub keys: Keys,
    pub tokens: Arc<ProfileTokens>,
    pub live: Arc<Live>,
    pub ingest: Ingest,
    pub decider: Arc<Decider>,
    pub settings: Settings,
    pub catalog: CatalogAdmin,
    pub people: People,
    pub measure: Measure,
    pub journeys: Arc<JourneyParts>,
    pub predictions: Arc<PredictionService>,
    pub retention: Arc<Retention>,
    pub activity: Arc<crate::measure::activity::Activity>,
    pub segments: crate::segments::Segments,
    pub threads: Threads,
}

/// Loads the catalog, the settings and the last checkpoint, replays the log after it, and
/// starts every thread. Returns the keys generated on this start, if any.
pub(crate) fn open(
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    options: Options,
) -> Result<(Parts, GeneratedKeys), EngineError> {
    let (keys, mut generated) = Keys::load_or_create(store.as_ref(), &options.keys)?;
    let catalog = Catalog::new(store.products()?, store.content()?);
    let loaded = settings::load(store.as_ref())?;
    let suppression = Arc::new(Suppression::load(store.as_ref())?);
    let (tokens, identity_secret) =
        ProfileTokens::load(store.as_ref(), options.identity_secret.as_deref())?;
    generated.identity_secret = identity_secret;
    let tokens = Arc::new(tokens);
    let experiments = Arc::new(Experiments::new(loaded.experiments, store.exposures()?));
    let consent = Arc::new(Consent::new(loaded.consent_policy));

    let started = Instant::now();
    let restored = crate::ingest::restore(store.snapshot()?)?;
    tracing::debug!(ms = started.elapsed().as_millis() as u64, "snapshot loaded");
    let mut applied = restored.applied;
    let policies = Arc::new(restored.policies);
    let live = Arc::new(Live::new(catalog, restored.registry, restored.recs));
    let replayed = replay(store.as_ref(), &live, &mut applied)?;
    // Start-up waits for the session model only while it is quick to train (small stores,
    // tests); larger ones start serving with the other sources and get it within seconds.
    let (views, train_now) = {
        let mut state = live.fold();
        let catalog = &state.catalog;
        state.recs.refresh(catalog, clock.now());
        let small = state.recs.clicks.len() <= session_model::RETRAIN_INLINE_UP_TO;
        (state.recs.clicks.take_training_copy(), small)
    };
    let views = if train_now {
        live.set_session_model(SessionModel::train(views).map(Arc::new));
        Vec::new()
    } else {
        views
    };
    tracing::info!(
        profiles = live.with_registry(|r| r.len()),
        replayed,
        ms = started.elapsed().as_millis() as u64,
        "profiles loaded"
    );

    let predictions = Arc::new(PredictionService::load(
        store.clone(),
        clock.clone(),
        live.clone(),
    )?);
    let inbox = Arc::new(Inbox::default());
    let (journey_book, inlets) = Journeys::load(
        store.as_ref(),
        predictions.slot(),
        inbox.clone(),
        consent.clone(),
    )?;
    let journey_book = Arc::new(journey_book);
    let decisions = Arc::new(DecisionLog::start(store.clone())?);
    let placements = Arc::new(Placements::new(loaded.placements));
    policies.set_placements(placements.learning());
    predictions.start_schedule(options.models);
    if replayed > 0 {
        crate::ingest::save_now(&store, &live, &policies, applied)?;
    }

    let activity = Arc::new(crate::measure::activity::Activity::new());
    let (ingest, jobs) = Ingest::channel(tokens.clone(), clock.clone());
    let sessions = SessionTrainer::new(live.clone());
    if !train_now {
        sessions.train_in_background(views);
    }
    let writer = Writer::spawn(
        WriterParts {
            store: store.clone(),
            clock: clock.clone(),
            live: live.clone(),
            consent: consent.clone(),
            suppression: suppression.clone(),
            decisions: decisions.clone(),
            policies: policies.clone(),
            experiments: experiments.clone(),
            predictions: predictions.clone(),
            sessions,
            observer: journey_book.clone(),
            activity: activity.clone(),
        },
        &ingest,
        jobs,
        applied,
    )?;
    let decider = Arc::new(Decider {
        clock: clock.clone(),
        live: live.clone(),
        placements: placements.clone(),
        consent: consent.clone(),
        experiments: experiments.clone(),
        policies: policies.clone(),
        predictions: predictions.clone(),
        decisions: decisions.clone(),
        suppression: suppression.clone(),
        inbox: inbox.clone(),
        tokens: tokens.clone(),
        ids: DecisionIds::new(keys::random_key("d_", 6)?),
        activity: activity.clone(),
    });
    let journeys = Arc::new(JourneyParts {
        store: store.clone(),
        clock: clock.clone(),
        live: live.clone(),
        journeys: journey_book,
        predictions: predictions.clone(),
        consent: consent.clone(),
        experiments: experiments.clone(),
        suppression: suppression.clone(),
        inbox,
        decider: decider.clone(),
        ingest: ingest.clone(),
        channels: Arc::new(options.channels),
        links: journeys::unsubscribe::Links::load(store.as_ref())?,
    });
    let journey_threads = journeys::start(&journeys, inlets)?;
    let events_deleted = Arc::new(crate::measure::unit_digests::EventsDeleted::default());
    let retention = Retention::new(
        options.retention,
        store.clone(),
        clock.clone(),
        ingest.clone(),
        events_deleted.clone(),
    );
    let retention_thread = retention::start(&retention)?;

    let parts = Parts {
        settings: Settings {
            store: store.clone(),
            live: live.clone(),
            placements,
            policies,
            experiments: experiments.clone(),
            consent: consent.clone(),
            quizzes: RwLock::new(loaded.quizzes),
        },
        catalog: CatalogAdmin {
            store: store.clone(),
            live: live.clone(),
        },
        people: People {
            store: store.clone(),
            clock: clock.clone(),
            live: live.clone(),
            predictions: predictions.clone(),
            consent,
            suppression,
            decisions: decisions.clone(),
            journeys: journeys.clone(),
            tokens: tokens.clone(),
        },
        measure: Measure {
            store: store.clone(),
            clock: clock.clone(),
            live: live.clone(),
            decisions: decisions.clone(),
            experiments,
            digests: Default::default(),
            events_deleted: events_deleted.clone(),
        },
        activity,
        segments: crate::segments::Segments::load(store.clone())?,
        threads: Threads {
            writer: Mutex::new(Some(writer)),
            journeys: Mutex::new(Some(journey_threads)),
            retention: Mutex::new(retention_thread),
            decisions,
        },
        clock,
        store,
        keys,
        tokens,
        live,
        ingest,
        decider,
        journeys,
        predictions,
        retention,
    };
    Ok((parts, generated))
}

/// Folds the log after the checkpoint into the live state; how many events it replayed.
fn replay(
    store: &dyn Store,
    live: &Live,
    applied: &mut tailor_store::Seq,
) -> Result<usize, EngineError> {
    let mut replayed = 0;
    loop {
        let events = store.events_after(*applied, REPLAY_CHUNK)?;
        let Some(last) = events.last() else { break };
        *applied = last.seq;
        replayed += events.len();
        let mut state = live.fold();
        for e in &events {
            state.fold(&e.message);
        }
    }
    Ok(replayed)
}

/// The engine's threads, stopped by [`Threads::shutdown`].
pub(crate) struct Threads {
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
    journeys: Mutex<Option<journeys::Threads>>,
    retention: Mutex<Option<retention::Thread>>,
    decisions: Arc<DecisionLog>,
}

impl Parts {
    /// Waits until the work behind acknowledged calls is done: journey events, runs and
    /// outbox messages due now (see `JourneyParts::settle`), then queued decisions written.
    pub async fn settle(&self) -> Result<(), EngineError> {
        self.journeys.settle().await?;
        let decisions = self.threads.decisions.clone();
        tokio::task::spawn_blocking(move || decisions.flush())
            .await
            .map_err(|e| EngineError::Internal(e.to_string()))
    }

    /// Finishes queued work, writes a final checkpoint and stops every thread.
    pub async fn shutdown(&self) -> Result<(), EngineError> {
        self.predictions.stop();
        let threads = &self.threads;
        // Retention first: it waits on the writer.
        let retention = threads.retention.lock().take();
        if let Some(thread) = retention {
            let _ = tokio::task::spawn_blocking(move || thread.stop()).await;
        }
        // Journeys next: they ingest (profile updates) and must not outlive the writer.
        let journeys = threads.journeys.lock().take();
        if let Some(journeys) = journeys {
            let _ = tokio::task::spawn_blocking(move || journeys.stop()).await;
        }
        let result = self.ingest.shutdown().await;
        threads.decisions.flush_and_stop();
        let writer = threads.writer.lock().take();
        if let Some(writer) = writer {
            let _ = tokio::task::spawn_blocking(move || writer.join()).await;
        }
        result
    }
}
