//! Predictions served from trained models: lifetime value, churn risk, the next order,
//! purchase intent (this session, 7 days), the next categories and the best send hour; and,
//! store-wide, the per-category forecast of orders and revenue for the next 4 weeks
//! (`forecast`).
//!
//! Models are trained from the event log (`training`) in the background on a schedule, after
//! an erasure, on `POST /v1/models/train` and with `tailor train`; each training is a version,
//! recorded with its window and evaluation in the store's metadata, and swapped in whole.
//! The fitted models live in memory only: they are derived state, rebuilt from the log after
//! a restart, so an erasure's retraining leaves no old copy behind.
//! Predictions are computed when asked, from the live profile (`features`): a session's
//! intent moves with each page the visitor opens.

pub mod features;
pub mod forecast;
pub mod lifetime;
pub mod training;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};
use tailor_core::Millis;
use tailor_core::time::{DAY, format_timestamp};
use tailor_ml::clv::value::{ClvSettings, discounted_purchases};
use tailor_ml::clv::{GammaGamma, PurchaseModel};
use tailor_ml::intent::propensity::CalibratedModel;
use tailor_ml::intent::send_time::{CustomerOpens, SendTime, best_hour, hour_of_week};

use crate::error::EngineError;
use crate::profile::Profile;
use crate::profile::catalog::CatalogReader;
use lifetime::{WEEK, first_order_value, purchase_summary};
use training::{Evaluation, Progress, SEND_TIME_RADIUS, segment_of};

/// Where the model versions are recorded.
pub(crate) const VERSIONS_META: &str = "model_versions";
/// Versions kept in the record.
const KEEP_VERSIONS: usize = 20;

/// When models train.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    /// Train once shortly after start (models are not kept across restarts).
    pub at_start: bool,
    /// Then again this often; `None`: only when asked.
    pub every: Option<Duration>,
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule {
            at_start: true,
            every: Some(Duration::from_secs(6 * 3600)),
        }
    }
}

/// One feature's part in a prediction: its value for the person and its term in the
/// model's log-odds against the average person (positive: raises the prediction).
#[derive(Debug, Clone, Serialize)]
pub struct Driver {
    pub feature: &'static str,
    pub value: f64,
    pub effect: f64,
}

/// The fitted models of one version.
pub struct Models {
    pub version: u32,
    session: Option<CalibratedModel>,
    week: Option<CalibratedModel>,
    /// BG/NBD or MBG/NBD, whichever scored better on the store's hold-out.
    purchases: Option<lifetime::LifetimeModel>,
    spend: Option<GammaGamma>,
    next_category: Option<training::NextCategoryFit>,
    categories: Vec<String>,
    category_index: HashMap<String, usize>,
    send_time: Option<SendTime>,
    /// Mean value of an order, over every order at training time.
    mean_order_value: f64,
    /// The per-category forecast built at training time.
    pub forecast: Option<forecast::Forecast>,
}

pub use crate::profile::Predictions;

fn rounded(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

impl Models {
    fn empty(version: u32) -> Self {
        Models {
            version,
            session: None,
            week: None,
            purchases: None,
            spend: None,
            next_category: None,
            categories: Vec::new(),
            category_index: HashMap::new(),
            send_time: None,
            mean_order_value: 0.0,
            forecast: None,
        }
    }

    /// What drives the 7-day purchase intent of `p` (the session model's when there is no
    /// 7-day one): each feature's value and its term in the model's log-odds, largest
    /// effect first.
    pub fn intent_drivers(&self, p: &Profile, now: Millis) -> Vec<Driver> {
        let features = features::intent_features(p, now);
        let Some(model) = self.week.as_ref().or(self.session.as_ref()) else {
            return Vec::new();
        };
        let mut drivers: Vec<Driver> = model
            .contributions(&features)
            .into_iter()
            .zip(features::INTENT_FEATURES)
            .zip(features)
            .map(|((effect, feature), value)| Driver {
                feature,
                value: rounded(value),
                effect: rounded(effect),
            })
            .collect();
        drivers.sort_by(|a, b| b.effect.abs().total_cmp(&a.effect.abs()));
        drivers
    }

    /// Predictions for `p` at `now`; `opens` are the times of their email opens when the
    /// caller has read them (the send hour needs them; `decide` does not ask).
    pub fn predict(&self, p: &Profile, now: Millis, opens: Option<&[Millis]>) -> Predictions {
        self.predict_scoped(p, now, opens, Scope::All)
    }

    /// [`Models::predict`], limited to what `scope` needs.
    pub fn predict_scoped(
        &self,
        p: &Profile,
        now: Millis,
        opens: Option<&[Millis]>,
        scope: Scope,
    ) -> Predictions {
        if scope == Scope::NextCategories {
            return Predictions {
                model_version: self.version,
                next_categories: self.next_categories(p, now),
                ..Default::default()
            };
        }
        let features = features::intent_features(p, now);
        let mut out = Predictions {
            model_version: self.version,
            purchase_intent_session: self
                .session
                .as_ref()
                .map(|m| rounded(m.probability(&features))),
            purchase_intent_7d: self
                .week
                .as_ref()
                .map(|m| rounded(m.probability(&features))),
            ..Default::default()
        };
        if let (Some(model), Some(s)) = (&self.purchases, purchase_summary(p, now))
            && let orders_90d = model.expected_purchases(&s, 90.0 * DAY as f64 / WEEK as f64)
            // A degenerate fit (see training) has no finite expectation: no lifetime fields.
            && orders_90d.is_finite()
        {
            let alive = model.probability_alive(&s);
            out.p_alive = Some(rounded(alive));
            out.churn_risk = Some(rounded(1.0 - alive));
            out.expected_orders_90d = Some(rounded(orders_90d));
            out.next_order_date = model
                .expected_next_order(&s, 52.0)
                .map(|weeks| format_timestamp(now + (weeks * WEEK as f64) as Millis));
            // Gamma-Gamma's expected spend when it fitted (q > 1), else their own mean order.
            // A one-time buyer's comes from their first order, shrunk towards the population
            // (`GammaGamma::expected_spend_from_first_order`), not the population mean alone.
            let own_mean = p.orders.revenue / p.orders.count.max(1) as f64;
            let spend = self
                .spend
                .as_ref()
                .and_then(|g| match (s.frequency, first_order_value(p)) {
                    (0, Some(first)) => g.expected_spend_from_first_order(first).ok(),
                    _ => g.expected_average_spend(&s).ok(),
                })
                .unwrap_or(own_mean);
            let per_unit = discounted_purchases(model, &s, ClvSettings::default());
            out.clv = Some((spend * per_unit * 100.0).round() / 100.0).filter(|v| v.is_finite());
        }
        out.predicted_value = if p.orders.count > 0 {
            out.clv
        } else {
            out.purchase_intent_7d
                .map(|p| (p * self.mean_order_value * 100.0).round() / 100.0)
        };
        out.next_categories = self.next_categories(p, now);
        if let (Some(model), Some(opens)) = (&self.send_time, opens) {
            let customer = CustomerOpens {
                segment: segment_of(p, now),
                hours: opens
                    .iter()
                    .map(|&t| hour_of_week(t as f64 / 1000.0))
                    .collect(),
            };
            let how = best_hour(&model.distribution(&customer), SEND_TIME_RADIUS) as u32;
            out.best_send_hour_of_week = Some(how);
            out.best_send_hour = Some(how % 24);
        }
        out
    }

    /// The categories `p` is likely to take up next, strongest first (at most three; empty
    /// without the model or any engagement).
    fn next_categories(&self, p: &Profile, now: Millis) -> Vec<String> {
        let Some(fit) = &self.next_category else {
            return Vec::new();
        };
        let mut engagement = vec![0.0; self.categories.len()];
        for (name, value) in p.categories.ranked(now) {
            if let Some(&i) = self.category_index.get(name) {
                engagement[i] = value;
            }
        }
        if !engagement.iter().any(|&x| x > 0.0) {
            return Vec::new();
        }
        fit.model
            .rank_top(&engagement, 3)
            .into_iter()
            .map(|c| self.categories[c as usize].clone())
            .collect()
    }
}

/// Which predictions a caller needs. Navigation and ranking read only the next categories;
/// the lifetime fields cost the most (a heavy buyer's CLV and next-order date evaluate
/// ₂F₁ series dozens of times: hundreds of µs a decision on `tailor bench --shape skewed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    All,
    NextCategories,
}

/// One training run as recorded.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelVersion {
    pub version: u32,
    pub status: String,
    pub trained_at: String,
    /// The events trained on: first and newest event times.
    pub window: Window,
    pub events: u64,
    pub people: usize,
    pub seconds: f64,
    pub evaluation: Evaluation,
    /// Models this version lacks, with why.
    pub skipped: Vec<Skipped>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Window {
    pub from: String,
    pub to: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Skipped {
    pub model: String,
    pub reason: String,
}

/// What the trainer is doing.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TrainingState {
    pub running: bool,
    pub phase: Option<&'static str>,
    pub progress: f64,
    /// Why the last run failed, if it did.
    pub last_error: Option<String>,
}

/// `models` if `condition` reads a prediction: computing predictions costs ~15 µs, so
/// attribute documents carry them only for conditions that look at them.
pub fn for_condition<'a>(
    models: Option<&'a Models>,
    condition: &serde_json::Value,
) -> Option<&'a Models> {
    models.filter(|_| tailor_core::condition::reads_predictions(condition))
}

/// The models in service, shared with whoever evaluates conditions outside `decide`
/// (journeys), so a new version reaches them at once.
pub(crate) type ModelSlot = Arc<RwLock<Option<Arc<Models>>>>;

/// The models in service, their versions, and the trainer's state. It trains from the
/// store's log and the live catalog, and is the only writer of what it holds.
pub struct PredictionService {
    store: Arc<dyn tailor_store::Store>,
    clock: Arc<dyn tailor_core::Clock>,
    catalog: Arc<dyn CatalogReader>,
    current: ModelSlot,
    versions: Mutex<Vec<ModelVersion>>,
    state: Mutex<TrainingState>,
    /// Set by an erasure: the models learned from someone who is gone.
    stale: AtomicBool,
    stop: AtomicBool,
}

impl Progress for PredictionService {
    fn report(&self, phase: &'static str, fraction: f64) {
        let mut s = self.state.lock();
        s.phase = Some(phase);
        s.progress = fraction.clamp(0.0, 1.0);
    }
}

impl PredictionService {
    pub(crate) fn load(
        store: Arc<dyn tailor_store::Store>,
        clock: Arc<dyn tailor_core::Clock>,
        catalog: Arc<dyn CatalogReader>,
    ) -> Result<Self, EngineError> {
        let mut versions: Vec<ModelVersion> =
            crate::meta::load(store.as_ref(), VERSIONS_META, "model versions")?.unwrap_or_default();
        // Models are not kept across restarts: what was active is retrained.
        for v in &mut versions {
            if v.status == "active" {
                v.status = "retired".into();
            }
        }
        Ok(PredictionService {
            store,
            clock,
            catalog,
            current: Arc::new(RwLock::new(None)),
            versions: Mutex::new(versions),
            state: Mutex::new(TrainingState::default()),
            stale: AtomicBool::new(false),
            stop: AtomicBool::new(false),
        })
    }

    /// The models in service, if any version trained since start.
    pub fn current(&self) -> Option<Arc<Models>> {
        self.current.read().clone()
    }

    pub(crate) fn slot(&self) -> ModelSlot {
        self.current.clone()
    }

    /// Recorded model versions (newest last) and what the trainer is doing.
    pub fn models(&self) -> (Vec<ModelVersion>, TrainingState) {
        // One lock at a time: a finishing run holds `state` while it takes `versions`, so
        // holding `versions` while waiting for `state` deadlocks with it (`tailor train`'s
        // progress bar polls this every 100 ms).
        let versions = self.versions.lock().clone();
        (versions, self.state.lock().clone())
    }

    /// The per-category forecast of the models in service; a conflict before any version
    /// has trained (or when the newest one could not build it).
    pub fn forecast(&self) -> Result<forecast::Forecast, EngineError> {
        let Some(models) = self.current() else {
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

    /// The models learned from someone who is gone (an erasure): the schedule retrains
    /// them within a minute.
    pub(crate) fn mark_stale(&self) {
        self.stale.store(true, Ordering::Relaxed);
    }

    /// Claims the trainer; `false` if a run is already going.
    fn begin(&self) -> bool {
        let mut s = self.state.lock();
        if s.running {
            return false;
        }
        *s = TrainingState {
            running: true,
            phase: Some("starting"),
            ..Default::default()
        };
        true
    }

    pub(crate) fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// Trains a new version and puts it in service. Runs on the caller's thread; fails
    /// with a conflict if another run is going.
    pub fn train_now(&self) -> Result<ModelVersion, EngineError> {
        if !self.begin() {
            return Err(EngineError::Conflict(
                "models are already training; see GET /v1/models".into(),
            ));
        }
        self.run()
    }

    /// One training run, the trainer already claimed.
    fn run(&self) -> Result<ModelVersion, EngineError> {
        let service = self;
        service.stale.store(false, Ordering::Relaxed);
        let version = service
            .versions
            .lock()
            .iter()
            .map(|v| v.version)
            .max()
            .unwrap_or(0)
            + 1;
        let result = training::train(self.store.as_ref(), self.catalog.as_ref(), version, service);
        // Its registry of every person and its pages of the log are freed by now; the thread
        // that trained may sleep for hours (the schedule's) before it allocates again.
        tailor_core::heap::release();
        let mut state = service.state.lock();
        state.running = false;
        let trained = match result {
            Ok(t) => t,
            Err(e) => {
                state.last_error = Some(e.to_string());
                return Err(e);
            }
        };
        let record = ModelVersion {
            version,
            status: "active".into(),
            trained_at: format_timestamp(self.clock.now()),
            window: Window {
                from: format_timestamp(trained.first),
                to: format_timestamp(trained.end),
            },
            events: trained.events,
            people: trained.people,
            seconds: (trained.seconds * 1000.0).round() / 1000.0,
            evaluation: trained.evaluation,
            skipped: trained
                .skipped
                .into_iter()
                .map(|(model, reason)| Skipped { model, reason })
                .collect(),
        };
        let mut models = trained.models;
        if let Some(f) = &mut models.forecast {
            f.generated_at = record.trained_at.clone();
        }
        models.category_index = models
            .categories
            .iter()
            .enumerate()
            .map(|(i, c)| (c.clone(), i))
            .collect();
        {
            let mut versions = service.versions.lock();
            for v in versions.iter_mut() {
                if v.status == "active" {
                    v.status = "retired".into();
                }
            }
            versions.push(record.clone());
            let excess = versions.len().saturating_sub(KEEP_VERSIONS);
            versions.drain(..excess);
            crate::meta::save(self.store.as_ref(), VERSIONS_META, &*versions)?;
        }
        *service.current.write() = Some(Arc::new(models));
        state.last_error = None;
        state.phase = Some("done");
        state.progress = 1.0;
        tracing::info!(version, seconds = record.seconds, "models trained");
        Ok(record)
    }

    /// Starts a training run on its own thread unless one is going.
    pub fn train_in_background(self: &Arc<Self>) -> bool {
        if !self.begin() {
            return false;
        }
        let worker = self.clone();
        let spawned = std::thread::Builder::new()
            .name("tailor-train".into())
            .spawn(move || {
                if let Err(e) = worker.run() {
                    tracing::warn!(error = %e, "model training failed");
                }
            });
        if let Err(e) = spawned {
            let mut state = self.state.lock();
            state.running = false;
            state.last_error = Some(format!("cannot start the trainer: {e}"));
            return false;
        }
        true
    }

    /// The schedule: once at start (if the log has events), then every `schedule.every`, and within a minute after an
    /// erasure. Holds only a weak reference, so it ends with the engine.
    pub(crate) fn start_schedule(self: &Arc<Self>, schedule: Schedule) {
        let weak = Arc::downgrade(self);
        let tick = Duration::from_secs(1);
        // A store that starts empty trains when asked or on the interval, not on its first
        // few events.
        let mut pending_start = schedule.at_start && self.store.event_count().unwrap_or(0) > 0;
        let _ = std::thread::Builder::new()
            .name("tailor-train-schedule".into())
            .spawn(move || {
                let mut since_last = Duration::ZERO;
                let mut stale_for = Duration::ZERO;
                loop {
                    std::thread::sleep(tick);
                    let Some(service) = weak.upgrade() else {
                        return;
                    };
                    if service.stop.load(Ordering::Relaxed) {
                        return;
                    }
                    since_last += tick;
                    if service.stale.load(Ordering::Relaxed) {
                        stale_for += tick;
                    } else {
                        stale_for = Duration::ZERO;
                    }
                    let due = pending_start
                        || schedule.every.is_some_and(|every| since_last >= every)
                        || stale_for >= Duration::from_secs(30);
                    if due && service.store.event_count().unwrap_or(0) > 0 {
                        pending_start = false;
                        since_last = Duration::ZERO;
                        stale_for = Duration::ZERO;
                        if let Err(e) = service.train_now() {
                            tracing::warn!(error = %e, "scheduled model training failed");
                        }
                    }
                }
            });
    }
}
