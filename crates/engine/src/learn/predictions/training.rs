//! Training: one pass over the event log through the engine's own identity resolution and
//! profile fold, collecting examples at moments in the past, then the fits and their
//! evaluation on the most recent period (a time split: every model is scored on data later
//! than what it was fitted on).
//!
//! - **Purchase intent, session**: at the 1st, 2nd, 4th, 8th… event of each on-site session,
//!   the profile's features; label: an order before the session ends (30 minutes idle).
//! - **Purchase intent, 7 days**: at weekly cutoffs before the end of the log, every profile
//!   active in the previous 90 days; label: an order within 7 days.
//! - **Lifetime value**: BG/NBD and Gamma-Gamma on every buyer's history in weeks; scored by
//!   refitting at the cutoff [`LIFETIME_HOLDOUT_WEEKS`] back and predicting the weeks since.
//! - **Next categories**: category transitions between snapshots two weeks apart.
//! - **Send time**: email opens by hour of week, shrunk toward the lifecycle stage's and the
//!   population's pattern; scored on the last 14 days' opens.
//! - **Forecast** per category, 4 weeks (`forecast`): orders by category and the customers'
//!   state 4 weeks before the end; scored as of then on the weeks since, next to the naive
//!   mean of the 4 weeks before; served as of the end.
//!
//! "The end" is the time of the newest event in the log, so an idle store still trains on
//! complete windows.

use std::collections::HashMap;
use std::time::Instant;

use serde::Serialize;
use tailor_core::time::DAY;
use tailor_core::{Message, MessageType, Millis};
use tailor_ml::clv::{BgNbd, CustomerSummary, GammaGamma, ModifiedBgNbd, PurchaseModel};
use tailor_ml::intent::metrics::{auc, calibration, expected_calibration_error, log_loss};
use tailor_ml::intent::next_category::{ServedModel, Window, fit_and_validate};
use tailor_ml::intent::propensity::CalibratedModel;
use tailor_ml::intent::send_time::{self, CustomerOpens, SendTime, SendTimeParams, hour_of_week};

use super::Models;
use super::features::{baseline_features, intent_features};
use super::forecast::{self, EVALUATION_WEEKS, ForecastLog};
use super::lifetime::{LifetimeModel, WEEK, purchase_summary};
use crate::error::EngineError;
use crate::profile::catalog::CatalogReader;
use crate::profile::registry::Registry;
use crate::profile::{LifecycleStage, Profile, ProfileId, SESSION_GAP};

/// Events read per page of the log. Decoded messages take ~1.5 KB each: 20,000 a page was
/// ~40 MB on the heap for every training (`heaptrack` on the soak), 2,000 is ~4 MB.
const PAGE: usize = 2_000;
/// The end of training is the newest time among this many of the log's last messages.
const END_SAMPLE: usize = 20_000;
/// Examples are taken from this period before the end.
const EXAMPLE_WINDOW: Millis = 120 * DAY;
/// Weekly cutoffs for the 7-day model (the newest is the test week, the next the validation).
const WEEKLY_CUTOFFS: i64 = 8;
/// Profiles count at a cutoff if they were active this long before it.
const ACTIVE_BEFORE_CUTOFF: Millis = 90 * DAY;
/// Held-out period of the session and send-time models.
const TEST_PERIOD: Millis = 7 * DAY;
const SEND_TIME_TEST: Millis = 14 * DAY;
/// The lifetime models are scored on this many final weeks.
const LIFETIME_HOLDOUT_WEEKS: i64 = 4;
/// Send time: hours either side that count as "on time".
pub const SEND_TIME_RADIUS: usize = 1;

/// Lifecycle stages, the send-time model's segments.
pub const SEGMENTS: [LifecycleStage; 6] = [
    LifecycleStage::Discovery,
    LifecycleStage::Evaluation,
    LifecycleStage::Purchase,
    LifecycleStage::Repeat,
    LifecycleStage::AtRisk,
    LifecycleStage::Lapsed,
];

pub fn segment_of(p: &Profile, now: Millis) -> usize {
    let stage = p.lifecycle_stage(now);
    SEGMENTS.iter().position(|&s| s == stage).unwrap_or(0)
}

/// How far a training run is, for progress bars.
pub trait Progress: Sync {
    fn report(&self, phase: &'static str, fraction: f64);
}

/// What a training run measured, per model; stored with the version.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub struct Evaluation {
    pub purchase_intent_session: Option<serde_json::Value>,
    pub purchase_intent_7d: Option<serde_json::Value>,
    pub lifetime_value: Option<serde_json::Value>,
    pub next_categories: Option<serde_json::Value>,
    pub send_time: Option<serde_json::Value>,
    /// The per-category forecast as of 4 weeks before the end against those weeks.
    #[serde(default)]
    pub forecast: Option<serde_json::Value>,
}

pub struct Trained {
    pub models: Models,
    pub evaluation: Evaluation,
    /// Models that could not be trained, with why.
    pub skipped: Vec<(String, String)>,
    pub events: u64,
    pub people: usize,
    pub first: Millis,
    pub end: Millis,
    pub seconds: f64,
}

struct Example {
    at: Millis,
    features: Vec<f64>,
    label: bool,
}

/// An example waiting for its label, kept with the person's first identity key so the
/// label can be read from their final profile after merges.
struct Snapshot {
    key: String,
    features: Vec<f64>,
}

#[derive(Default)]
struct SessionWatch {
    last: Millis,
    pending: Vec<usize>,
}

/// A person's category engagement at a snapshot: (first identity key, (category, score)).
type Engaged = (String, Vec<(u32, f64)>);

#[derive(Default)]
struct Collected {
    session: Vec<Example>,
    /// Session examples by index awaiting the end of their session.
    watching: HashMap<ProfileId, SessionWatch>,
    weekly: Vec<(Millis, Vec<Snapshot>)>,
    /// Buyers' histories [`LIFETIME_HOLDOUT_WEEKS`] before the end, for the lifetime value's hold-out.
    clv_calibration: Vec<(String, CustomerSummary)>,
    /// Category engagement six, four and two weeks before the end.
    engagement: Vec<(Millis, Vec<Engaged>)>,
    categories: Vec<String>,
    category_index: HashMap<String, u32>,
    /// Email opens: (first identity key, time).
    opens: Vec<(String, Millis)>,
}

fn first_key(p: &Profile) -> Option<String> {
    p.identity_keys().next()
}

/// Counted at a cutoff: seen before it and active in the [`ACTIVE_BEFORE_CUTOFF`] before it.
fn active_at(p: &Profile, at: Millis) -> bool {
    p.events > 0 && p.first_seen < at && p.last_seen >= at - ACTIVE_BEFORE_CUTOFF
}

fn is_order(m: &Message) -> bool {
    m.kind == MessageType::Track && m.event.as_deref() == Some("Order Completed")
}

fn on_site(m: &Message) -> bool {
    match m.kind {
        MessageType::Page | MessageType::Screen => true,
        MessageType::Track => {
            // The profile's own rule for what is browsing (sessions count only those).
            crate::profile::is_browsing(m.event.as_deref().unwrap_or("")) && !is_order(m)
        }
        _ => false,
    }
}

impl Collected {
    fn engagement_of(&mut self, p: &Profile, now: Millis) -> Vec<(u32, f64)> {
        let mut out = Vec::new();
        for (name, value) in p.categories.ranked(now) {
            let next = self.categories.len() as u32;
            let id = *self
                .category_index
                .entry(name.to_string())
                .or_insert_with(|| next);
            if id == next {
                self.categories.push(name.to_string());
            }
            out.push((id, value));
        }
        out
    }

    fn cutoff(&mut self, registry: &Registry, at: Millis, end: Millis) {
        let active = |p: &Profile| active_at(p, at);
        let mut week = Vec::new();
        for p in registry.profiles_in_order() {
            if !active(p) {
                continue;
            }
            let Some(key) = first_key(p) else { continue };
            week.push(Snapshot {
                key,
                features: intent_features(p, at).to_vec(),
            });
        }
        self.weekly.push((at, week));
        if [6, 4, 2].iter().any(|weeks| at == end - weeks * 7 * DAY) {
            let mut rows = Vec::new();
            for p in registry.profiles_in_order() {
                if !active(p) {
                    continue;
                }
                let Some(key) = first_key(p) else { continue };
                let engagement = self.engagement_of(p, at);
                rows.push((key, engagement));
            }
            self.engagement.push((at, rows));
        }
        if at == end - LIFETIME_HOLDOUT_WEEKS * 7 * DAY {
            for p in registry.profiles_in_order() {
                if let (Some(key), Some(s)) = (first_key(p), purchase_summary(p, at)) {
                    self.clv_calibration.push((key, s));
                }
            }
        }
    }

    /// Labels the session examples of a person whose session ended (or who just ordered).
    fn settle(&mut self, person: ProfileId, label: bool) {
        if let Some(w) = self.watching.remove(&person) {
            for i in w.pending {
                self.session[i].label = label;
            }
        }
    }

    fn observe(&mut self, registry: &Registry, person: ProfileId, m: &Message, end: Millis) {
        let t = m.timestamp;
        match self.watching.get_mut(&person) {
            Some(w) if t > w.last + SESSION_GAP => self.settle(person, false),
            Some(w) if on_site(m) => w.last = w.last.max(t),
            Some(_) | None => {}
        }
        if is_order(m) {
            self.settle(person, true);
            return;
        }
        if m.kind == MessageType::Track && m.event.as_deref() == Some("Email Opened") {
            if let Some(key) = registry.get(person).and_then(first_key) {
                self.opens.push((key, t));
            }
            return;
        }
        if !on_site(m) || t < end - EXAMPLE_WINDOW {
            return;
        }
        let Some(p) = registry.get(person) else {
            return;
        };
        let Some(session) = p.sessions.last() else {
            return;
        };
        if session.end != t || !session.events.is_power_of_two() || session.events > 64 {
            return;
        }
        let index = self.session.len();
        self.session.push(Example {
            at: t,
            features: intent_features(p, t).to_vec(),
            label: false,
        });
        let w = self.watching.entry(person).or_default();
        w.last = w.last.max(t);
        w.pending.push(index);
    }
}

/// The time of the newest message training reads: the latest timestamp among the log's last
/// [`END_SAMPLE`] messages that training reads (`Message::for_training` leaves some out, such as
/// a demo's live phase at the end). Not the last message's own time: senders deliver batches
/// concurrently, so the log's order is only roughly time order at its end, and the cutoffs
/// would move with the order batches happened to arrive in.
fn end_of_training(
    store: &dyn tailor_store::Store,
    last_seq: tailor_store::Seq,
) -> Result<Option<Millis>, EngineError> {
    let mut before = last_seq;
    let mut newest: Option<Millis> = None;
    let mut read = 0;
    while before > 0 && read < END_SAMPLE {
        let from = before
            .saturating_sub(END_SAMPLE as tailor_store::Seq)
            .max(0);
        // The positions (from, before], a page at a time.
        let mut after = from;
        while after < before {
            let page = store.events_after(after, PAGE)?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            for e in page.iter().filter(|e| e.seq <= before) {
                if e.message.for_training() {
                    read += 1;
                    newest =
                        Some(newest.map_or(e.message.timestamp, |t| t.max(e.message.timestamp)));
                }
            }
        }
        before = from;
    }
    Ok(newest)
}

/// A person's segment, and the hours of week of their opens before validation, in it and in
/// the test fortnight.
type SegmentOpens = (usize, [Vec<usize>; 3]);

/// Reads the log and trains every model. `catalog` resolves product categories as the
/// writer does.
pub fn train(
    store: &dyn tailor_store::Store,
    catalog: &dyn CatalogReader,
    version: u32,
    progress: &dyn Progress,
) -> Result<Trained, EngineError> {
    let started = Instant::now();
    let last_seq = store.last_seq()?;
    let Some(end) = end_of_training(store, last_seq)? else {
        return Err(EngineError::Conflict(
            "the event log is empty, or holds only messages kept out of training: nothing to train on".into(),
        ));
    };
    let cutoffs: Vec<Millis> = (1..=WEEKLY_CUTOFFS)
        .rev()
        .map(|k| end - k * 7 * DAY)
        .collect();
    let mut next_cutoff = 0;
    let mut registry = Registry::new();
    let mut collected = Collected::default();
    let mut forecast_log = ForecastLog::new(&catalog.read_catalog());
    let forecast_cut = end - EVALUATION_WEEKS * 7 * DAY;
    let (mut seq, mut events, mut first) = (0, 0u64, Millis::MAX);
    loop {
        let page = store.events_after(seq, PAGE)?;
        let Some(newest) = page.last() else { break };
        seq = newest.seq;
        let catalog = catalog.read_catalog();
        for stored in page.iter().filter(|e| e.message.for_training()) {
            let m = &stored.message;
            events += 1;
            first = first.min(m.timestamp);
            while next_cutoff < cutoffs.len() && cutoffs[next_cutoff] <= m.timestamp {
                let at = cutoffs[next_cutoff];
                collected.cutoff(&registry, at, end);
                if at == forecast_cut {
                    let active = registry.profiles_in_order().filter(|p| active_at(p, at));
                    forecast_log.cut(active.map(|p| p.as_ref()), at);
                }
                next_cutoff += 1;
            }
            let person = registry.apply(m, &catalog);
            if is_order(m) {
                forecast_log.order(registry.get(person), m, &catalog);
            }
            collected.observe(&registry, person, m, end);
        }
        drop(catalog);
        // The trainer's registry is never checkpointed.
        registry.take_changes();
        progress.report("reading the event log", seq as f64 / last_seq.max(1) as f64);
    }
    // Sessions still open at the end have no label yet.
    let mut open: Vec<ProfileId> = collected.watching.keys().copied().collect();
    // In id order, not the hash map's: the examples' order must be the same on every run.
    open.sort_unstable();
    for person in open {
        if collected.watching[&person].last + SESSION_GAP < end {
            collected.settle(person, false);
        } else if let Some(w) = collected.watching.remove(&person) {
            for i in w.pending {
                collected.session[i].at = Millis::MAX; // dropped below
            }
        }
    }
    collected.session.retain(|e| e.at != Millis::MAX);

    let mut models = Models::empty(version);
    let (orders, revenue) = registry.profiles_in_order().fold((0u64, 0.0), |(n, r), p| {
        (n + p.orders.count, r + p.orders.revenue)
    });
    models.mean_order_value = if orders == 0 {
        0.0
    } else {
        revenue / orders as f64
    };
    let mut evaluation = Evaluation::default();
    let mut skipped = Vec::new();
    let mut skip = |model: &str, why: String| skipped.push((model.to_string(), why));

    progress.report("purchase intent", 0.0);
    match fit_session(&collected.session, end) {
        Ok((model, report)) => {
            models.session = Some(model);
            evaluation.purchase_intent_session = Some(report);
        }
        Err(why) => skip("purchase_intent_session", why),
    }
    match fit_weekly(&collected.weekly, &registry) {
        Ok((model, report)) => {
            models.week = Some(model);
            evaluation.purchase_intent_7d = Some(report);
        }
        Err(why) => skip("purchase_intent_7d", why),
    }
    progress.report("lifetime value", 0.0);
    match fit_lifetime(&registry, &collected.clv_calibration, end) {
        Ok((purchases, spend, report)) => {
            models.purchases = Some(purchases);
            models.spend = spend;
            evaluation.lifetime_value = Some(report);
        }
        Err(why) => skip("lifetime_value", why),
    }
    progress.report("next categories", 0.0);
    match fit_next_category(&collected, &registry) {
        Ok((fit, report)) => {
            models.categories = fit.categories.clone();
            models.next_category = Some(fit);
            evaluation.next_categories = Some(report);
        }
        Err(why) => skip("next_categories", why),
    }
    progress.report("send time", 0.0);
    match fit_send_time(&collected.opens, &registry, end) {
        Ok((model, report)) => {
            models.send_time = Some(model);
            evaluation.send_time = Some(report);
        }
        Err(why) => skip("best_send_hour", why),
    }
    progress.report("forecast", 0.0);
    match &models.week {
        None => skip(
            "forecast",
            "needs the 7-day purchase intent model".to_string(),
        ),
        Some(week) => {
            // Scored with the 7-day model refitted as of the cut: on the weekly cutoffs whose
            // week ended before it.
            let before = collected
                .weekly
                .iter()
                .take_while(|(at, _)| at + 7 * DAY <= forecast_cut)
                .count();
            let scored = fit_weekly(&collected.weekly[..before], &registry)
                .and_then(|(m, _)| forecast::evaluate(&forecast_log, &registry, &m, first, end));
            evaluation.forecast = Some(scored.unwrap_or_else(|why| {
                serde_json::json!({"skipped": format!("not scored as of {EVALUATION_WEEKS} weeks back: {why}")})
            }));
            let active = registry
                .profiles_in_order()
                .filter(|p| p.events > 0 && p.last_seen >= end - ACTIVE_BEFORE_CUTOFF);
            match forecast::serve(
                &forecast_log,
                &registry,
                active.map(|p| p.as_ref()),
                week,
                version,
                first,
                end,
            ) {
                Ok(f) => models.forecast = Some(f),
                Err(why) => skip("forecast", why),
            }
        }
    }
    progress.report("done", 1.0);
    Ok(Trained {
        models,
        evaluation,
        skipped,
        events,
        people: registry.len(),
        first,
        end,
        seconds: started.elapsed().as_secs_f64(),
    })
}

fn split(examples: &[Example], from: Millis, to: Millis) -> (Vec<Vec<f64>>, Vec<bool>) {
    examples
        .iter()
        .filter(|e| e.at >= from && e.at < to)
        .map(|e| (e.features.clone(), e.label))
        .unzip()
}

/// Scores a calibrated model and the recency/frequency baseline on the test rows.
fn binary_report(
    (train, train_y): (&[Vec<f64>], &[bool]),
    (validation, validation_y): (&[Vec<f64>], &[bool]),
    (test, test_y): (&[Vec<f64>], &[bool]),
) -> Result<serde_json::Value, String> {
    let model = CalibratedModel::fit(train, train_y, validation, validation_y)
        .map_err(|e| e.to_string())?;
    let p: Vec<f64> = test.iter().map(|r| model.probability(r)).collect();
    let baseline_rows = |rows: &[Vec<f64>]| {
        rows.iter()
            .map(|r| baseline_features(r))
            .collect::<Vec<_>>()
    };
    let baseline = CalibratedModel::fit(
        &baseline_rows(train),
        train_y,
        &baseline_rows(validation),
        validation_y,
    )
    .map_err(|e| e.to_string())?;
    let b: Vec<f64> = baseline_rows(test)
        .iter()
        .map(|r| baseline.probability(r))
        .collect();
    let table = calibration(&p, test_y, 10);
    Ok(serde_json::json!({
        "train": train.len(), "validation": validation.len(), "test": test.len(),
        "test_positives": test_y.iter().filter(|&&y| y).count(),
        "auc": auc(&p, test_y), "log_loss": log_loss(&p, test_y),
        "calibration_error": expected_calibration_error(&table),
        "calibration": table.iter().map(|b| serde_json::json!({
            "count": b.count, "mean_predicted": b.mean_predicted, "observed_rate": b.observed_rate,
        })).collect::<Vec<_>>(),
        "baseline": {"name": "recency/frequency", "auc": auc(&b, test_y), "log_loss": log_loss(&b, test_y)},
    }))
}

fn both_classes(y: &[bool]) -> bool {
    y.iter().any(|&v| v) && y.iter().any(|&v| !v)
}

fn fit_session(
    examples: &[Example],
    end: Millis,
) -> Result<(CalibratedModel, serde_json::Value), String> {
    let test_from = end - TEST_PERIOD;
    let validation_from = test_from - TEST_PERIOD;
    let train = split(examples, Millis::MIN, validation_from);
    let validation = split(examples, validation_from, test_from);
    let test = split(examples, test_from, Millis::MAX);
    for (name, part) in [
        ("training", &train),
        ("validation", &validation),
        ("test", &test),
    ] {
        if !both_classes(&part.1) {
            return Err(format!(
                "the {name} period has no {} session yet ({} examples; needs orders and sessions without one in each of the last three weeks)",
                if part.1.iter().any(|&y| y) {
                    "session without an order"
                } else {
                    "session with an order"
                },
                part.0.len()
            ));
        }
    }
    let report = binary_report(
        (&train.0, &train.1),
        (&validation.0, &validation.1),
        (&test.0, &test.1),
    )?;
    // Served: fitted on everything before the test week, calibrated on the newest week.
    let (mut all, mut all_y) = train;
    all.extend(validation.0);
    all_y.extend(validation.1);
    let model = CalibratedModel::fit(&all, &all_y, &test.0, &test.1).map_err(|e| e.to_string())?;
    Ok((model, report))
}

fn orders_between(p: &Profile, from: Millis, to: Millis) -> bool {
    p.orders.recent.iter().any(|&(t, _)| t >= from && t < to)
}

fn fit_weekly(
    weekly: &[(Millis, Vec<Snapshot>)],
    registry: &Registry,
) -> Result<(CalibratedModel, serde_json::Value), String> {
    // Newest cutoff first; its week ends at the end of the log.
    let labelled: Vec<(Vec<Vec<f64>>, Vec<bool>)> = weekly
        .iter()
        .rev()
        .map(|(at, rows)| {
            rows.iter()
                .map(|s| {
                    let ordered = registry
                        .find_key(&s.key)
                        .is_some_and(|p| orders_between(p, *at, at + 7 * DAY));
                    (s.features.clone(), ordered)
                })
                .unzip()
        })
        .collect();
    if labelled.len() < 3 {
        return Err(format!(
            "needs three weeks of events before the newest (has {} weekly cutoffs with activity)",
            labelled.len()
        ));
    }
    let (test, validation) = (&labelled[0], &labelled[1]);
    let (mut train, mut train_y) = (Vec::new(), Vec::new());
    for (rows, y) in &labelled[2..] {
        train.extend(rows.iter().cloned());
        train_y.extend(y.iter().copied());
    }
    for (name, y) in [
        ("training", &train_y),
        ("validation", &validation.1),
        ("test", &test.1),
    ] {
        if !both_classes(y) {
            return Err(format!(
                "the {name} weeks have no orders or no one without an order"
            ));
        }
    }
    let report = binary_report(
        (&train, &train_y),
        (&validation.0, &validation.1),
        (&test.0, &test.1),
    )?;
    train.extend(validation.0.iter().cloned());
    train_y.extend(validation.1.iter().copied());
    let model =
        CalibratedModel::fit(&train, &train_y, &test.0, &test.1).map_err(|e| e.to_string())?;
    Ok((model, report))
}

fn fit_lifetime(
    registry: &Registry,
    calibration: &[(String, CustomerSummary)],
    end: Millis,
) -> Result<(LifetimeModel, Option<GammaGamma>, serde_json::Value), String> {
    // A first order at the very end has no age yet: the models need T > 0.
    let buyers: Vec<CustomerSummary> = registry
        .profiles_in_order()
        .filter_map(|p| purchase_summary(p, end))
        .filter(|s| s.age > 0.0)
        .collect();
    if buyers.iter().all(|b| b.frequency == 0) {
        return Err(format!(
            "needs customers with repeat orders ({} buyers, none ordered twice)",
            buyers.len()
        ));
    }
    let bgnbd = BgNbd::fit(&buyers).map_err(|e| e.to_string())?;
    // MBG/NBD may fail where BG/NBD fits (e.g. a degenerate optimum): BG/NBD then serves.
    let mbgnbd = ModifiedBgNbd::fit(&buyers).ok();
    let spend = GammaGamma::fit(&buyers).ok().filter(|g| g.q > 1.0);
    let parameters = |r: f64, alpha: f64, a: f64, b: f64, loglik: f64| serde_json::json!({"r": r, "alpha": alpha, "a": a, "b": b, "loglik": loglik});
    let mut report = serde_json::json!({
        "buyers": buyers.len(),
        "repeat_buyers": buyers.iter().filter(|b| b.frequency > 0).count(),
        "bgnbd": parameters(bgnbd.r, bgnbd.alpha, bgnbd.a, bgnbd.b, bgnbd.log_likelihood),
        "mbgnbd": mbgnbd.map(|m| parameters(m.r, m.alpha, m.a, m.b, m.log_likelihood)),
        "gamma_gamma": spend.map(|g| serde_json::json!({"p": g.p, "q": g.q, "gamma": g.gamma})),
    });
    let holdout = lifetime_holdout(registry, calibration, end);
    let chosen = match (&holdout, mbgnbd) {
        (_, None) => LifetimeModel::BgNbd(bgnbd),
        // The lower hold-out error serves; ties go to BG/NBD, the published default.
        (Ok(h), Some(m)) => match h.mbgnbd_mae {
            Some(mae) if mae < h.bgnbd_mae => LifetimeModel::Modified(m),
            _ => LifetimeModel::BgNbd(bgnbd),
        },
        // No hold-out to judge by: the higher likelihood (both have four parameters).
        (Err(_), Some(m)) if m.log_likelihood > bgnbd.log_likelihood => LifetimeModel::Modified(m),
        (Err(_), Some(_)) => LifetimeModel::BgNbd(bgnbd),
    };
    report["model"] = serde_json::json!(chosen.name());
    report["holdout"] = match holdout {
        Ok(h) => h.report,
        Err(why) => serde_json::json!({"skipped": why}),
    };
    Ok((chosen, spend, report))
}

/// Both purchase models refitted on the histories as they were [`LIFETIME_HOLDOUT_WEEKS`]
/// back, scored on the weeks since.
struct LifetimeHoldout {
    bgnbd_mae: f64,
    /// None when MBG/NBD did not fit or predicted no finite count.
    mbgnbd_mae: Option<f64>,
    report: serde_json::Value,
}

fn lifetime_holdout(
    registry: &Registry,
    calibration: &[(String, CustomerSummary)],
    end: Millis,
) -> Result<LifetimeHoldout, String> {
    let calibration: Vec<&(String, CustomerSummary)> =
        calibration.iter().filter(|(_, s)| s.age > 0.0).collect();
    let past: Vec<CustomerSummary> = calibration.iter().map(|(_, s)| *s).collect();
    if !past.iter().any(|b| b.frequency > 0) {
        return Err(format!(
            "no repeat buyer {LIFETIME_HOLDOUT_WEEKS} weeks before the end"
        ));
    }
    let model = BgNbd::fit(&past).map_err(|e| e.to_string())?;
    let modified = ModifiedBgNbd::fit(&past).ok();
    let cut = end - LIFETIME_HOLDOUT_WEEKS * 7 * DAY;
    let horizon = (LIFETIME_HOLDOUT_WEEKS * 7 * DAY) as f64 / WEEK as f64;
    let (mut predicted, mut predicted_modified, mut actual, mut naive, mut one_time) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (key, s) in calibration.iter().copied() {
        let Some(p) = registry.find_key(key) else {
            continue;
        };
        let mut days: Vec<i64> = p
            .orders
            .recent
            .iter()
            .filter(|&&(t, _)| t > cut && t <= end)
            .map(|&(t, _)| t.div_euclid(DAY))
            .collect();
        days.dedup();
        predicted.push(model.expected_purchases(s, horizon));
        predicted_modified.push(modified.map_or(f64::NAN, |m| m.expected_purchases(s, horizon)));
        actual.push(days.len() as f64);
        one_time.push(s.frequency == 0);
        // Naive: their past rate of repeat orders carried forward.
        naive.push(if s.age > 0.0 {
            f64::from(s.frequency) / s.age * horizon
        } else {
            0.0
        });
    }
    if predicted.iter().any(|p| !p.is_finite()) {
        // The likelihood can peak at the edge of the parameter space on a short history
        // (r, α → ∞ and a, b → 0: Poisson buyers who never drop out), where the
        // closed-form expectation has no finite value.
        return Err(format!(
            "the refit on the history {LIFETIME_HOLDOUT_WEEKS} weeks back is degenerate (r {:.3e}, α {:.3e}, a {:.3e}, b {:.3e}): its predictions are not finite",
            model.r, model.alpha, model.a, model.b
        ));
    }
    // Mean absolute error over the customers `keep` selects.
    let mae = |f: &[f64], keep: &dyn Fn(usize) -> bool| {
        let (mut sum, mut n) = (0.0, 0usize);
        for i in (0..actual.len()).filter(|&i| keep(i)) {
            sum += (f[i] - actual[i]).abs();
            n += 1;
        }
        sum / n.max(1) as f64
    };
    let everyone = |_: usize| true;
    let one_time_only = |i: usize| one_time[i];
    let repeat_only = |i: usize| !one_time[i];
    let scores = |f: &[f64]| {
        serde_json::json!({
            "predicted_total": f.iter().sum::<f64>(), "mae": mae(f, &everyone),
            "one_time_mae": mae(f, &one_time_only), "repeat_mae": mae(f, &repeat_only),
        })
    };
    let modified_finite = modified.is_some() && predicted_modified.iter().all(|p| p.is_finite());
    let bgnbd_mae = mae(&predicted, &everyone);
    let mbgnbd_mae = modified_finite.then(|| mae(&predicted_modified, &everyone));
    let report = serde_json::json!({
        "weeks": LIFETIME_HOLDOUT_WEEKS, "customers": actual.len(),
        "one_time_customers": one_time.iter().filter(|o| **o).count(),
        "actual_total": actual.iter().sum::<f64>(),
        "predicted_total": predicted.iter().sum::<f64>(), "mae": bgnbd_mae,
        "bgnbd": scores(&predicted),
        "mbgnbd": modified_finite.then(|| scores(&predicted_modified)),
        "baseline": {"name": "past repeat rate", "predicted_total": naive.iter().sum::<f64>(), "mae": mae(&naive, &everyone)},
    });
    Ok(LifetimeHoldout {
        bgnbd_mae,
        mbgnbd_mae,
        report,
    })
}

fn dense(engagement: &[(u32, f64)], categories: usize) -> Vec<f64> {
    let mut v = vec![0.0; categories];
    for &(c, x) in engagement {
        v[c as usize] = x;
    }
    v
}

/// The next-category model: transitions blended with popularity
/// (`tailor_ml::intent::next_category::ServedModel`, the model `tailor eval intent` scores).
pub struct NextCategoryFit {
    /// The (leaf) categories, in the models' order.
    pub categories: Vec<String>,
    pub model: ServedModel,
}

/// Pseudo-count pulling a transition toward its base rate (set once, not tuned; the same in
/// `tailor eval intent`, `NextCategoryParams::default`).
const TRANSITION_SMOOTHING: f64 = 20.0;

fn fit_next_category(
    collected: &Collected,
    registry: &Registry,
) -> Result<(NextCategoryFit, serde_json::Value), String> {
    // Leaf categories only: a department is engaged whenever one of its categories is, so
    // predicting it would be predicting the leaf twice.
    let all = &collected.categories;
    let leaves: Vec<String> = all
        .iter()
        .filter(|c| {
            !all.iter().any(|d| {
                d.len() > c.len() && d.starts_with(c.as_str()) && d[c.len()..].starts_with('/')
            })
        })
        .cloned()
        .collect();
    let c = leaves.len();
    let snapshots = &collected.engagement;
    if snapshots.len() < 2 || c < 2 {
        return Err("needs four weeks of events with categories".into());
    }
    let leaf_of: HashMap<u32, u32> = all
        .iter()
        .enumerate()
        .filter_map(|(old, name)| Some((old as u32, leaves.iter().position(|l| l == name)? as u32)))
        .collect();
    let leaf_engagement = |rows: &[(u32, f64)]| -> Vec<(u32, f64)> {
        rows.iter()
            .filter_map(|&(id, x)| Some((*leaf_of.get(&id)?, x)))
            .collect()
    };
    // Engagement at each snapshot by person, and at the end from their final profile: what
    // is engaged at the next snapshot and was not at this one is new in between.
    let at_snapshot: Vec<HashMap<&str, Vec<(u32, f64)>>> = snapshots
        .iter()
        .map(|(_, rows)| {
            rows.iter()
                .map(|(k, e)| (k.as_str(), leaf_engagement(e)))
                .collect()
        })
        .collect();
    let names: HashMap<&str, u32> = leaves
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i as u32))
        .collect();
    let windows: Vec<Window> = snapshots
        .iter()
        .enumerate()
        .map(|(i, (_, rows))| {
            rows.iter()
                .filter_map(|(key, _)| {
                    let before = &at_snapshot[i][key.as_str()];
                    let after: Vec<u32> = match at_snapshot.get(i + 1) {
                        Some(next) => next.get(key.as_str())?.iter().map(|&(id, _)| id).collect(),
                        None => {
                            let p = registry.find_key(key)?;
                            p.categories
                                .0
                                .iter()
                                .filter_map(|(n, _)| names.get(&**n).copied())
                                .collect()
                        }
                    };
                    let new: Vec<u32> = after
                        .into_iter()
                        .filter(|id| !before.iter().any(|(b, _)| b == id))
                        .collect();
                    Some((dense(before, c), new))
                })
                .collect()
        })
        .collect();
    // The served model's protocol, shared with `tailor eval intent`.
    let Some(v) = fit_and_validate(&windows, c, TRANSITION_SMOOTHING) else {
        return Err("no customer engaged with a new category in the last two weeks".into());
    };
    let report = serde_json::json!({
        "categories": c, "customers_scored": v.scored, "popularity_weight": v.model.blend,
        "recall_at_3": v.test_recall,
        "baseline": {"name": "popularity", "recall_at_3": v.popularity_recall},
    });
    Ok((
        NextCategoryFit {
            categories: leaves,
            model: v.model,
        },
        report,
    ))
}

fn fit_send_time(
    opens: &[(String, Millis)],
    registry: &Registry,
    end: Millis,
) -> Result<(SendTime, serde_json::Value), String> {
    if opens.is_empty() {
        return Err("no email opens in the log".into());
    }
    let test_from = end - SEND_TIME_TEST;
    let validation_from = test_from - SEND_TIME_TEST;
    // Per person: segment, then opens before validation, in validation, in test.
    let mut people: HashMap<ProfileId, SegmentOpens> = HashMap::new();
    for (key, t) in opens {
        let Some(p) = registry.find_key(key) else {
            continue;
        };
        let slot = people
            .entry(p.id)
            .or_insert_with(|| (segment_of(p, validation_from), Default::default()));
        let period = usize::from(*t >= validation_from) + usize::from(*t >= test_from);
        slot.1[period].push(hour_of_week(*t as f64 / 1000.0));
    }
    // In id order, not the hash map's: sums over people must add up the same on every run.
    let mut people: Vec<(ProfileId, SegmentOpens)> = people.into_iter().collect();
    people.sort_unstable_by_key(|(id, _)| *id);
    let people: Vec<SegmentOpens> = people.into_iter().map(|(_, p)| p).collect();
    let upto = |periods: usize| -> Vec<CustomerOpens> {
        people
            .iter()
            .map(|(segment, hours)| CustomerOpens {
                segment: *segment,
                hours: hours[..periods].concat(),
            })
            .collect()
    };
    let held = |period: usize| -> Vec<Vec<usize>> {
        people.iter().map(|(_, h)| h[period].clone()).collect()
    };
    // Priors chosen on the validation fortnight, scored on the test fortnight.
    let params = if people.iter().any(|(_, h)| !h[1].is_empty()) {
        send_time::choose_params(&upto(1), &held(1), SEGMENTS.len())
    } else {
        SendTimeParams {
            individual_prior: 5.0,
            segment_prior: 100.0,
        }
    };
    let before_test = upto(2);
    let model = SendTime::fit(&before_test, SEGMENTS.len(), params);
    let test = held(2);
    let mut report = serde_json::json!({
        "people": people.len(), "opens": opens.len(), "radius_hours": SEND_TIME_RADIUS,
        "individual_prior": params.individual_prior, "segment_prior": params.segment_prior,
    });
    if test.iter().any(|h| !h.is_empty()) {
        let distributions: Vec<Vec<f64>> =
            before_test.iter().map(|c| model.distribution(c)).collect();
        let ours = send_time::score(&distributions, &test, SEND_TIME_RADIUS);
        let fixed = vec![model.population().to_vec(); test.len()];
        let baseline = send_time::score(&fixed, &test, SEND_TIME_RADIUS);
        report["test_opens"] = ours.opens.into();
        report["hit_rate"] = ours.hit_rate.into();
        report["baseline"] = serde_json::json!({"name": "one fixed hour for everyone", "hit_rate": baseline.hit_rate});
    }
    Ok((SendTime::fit(&upto(3), SEGMENTS.len(), params), report))
}
