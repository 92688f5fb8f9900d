//! Journeys: definitions that move one person through waits, branches and messages on
//! several channels, driven by committed events and durable timers.
//!
//! - `definition` — the JSON shape and its validation; `templates` — what ships.
//! - `runner` — the scheduler thread: events in (from the writer's hook, or read back from
//!   the log after a restart), runs stepped, timers fired; every decision is one store
//!   transaction together with the log position it covers.
//! - `delivery` — the outbox thread: policies at send time, render, send, mark.
//! - `templates` — message templates (the marketer's, over the built-in defaults), in the
//!   language of `language`, filled for one person by `render`.
//! - `unsubscribe` — signed one-click links; `inbound` — what providers report back
//!   (bounces, complaints, SMS replies).
//! - `report` — sent vs control: conversions, revenue, unsubscribes.
//! - `audience_book` — ad audiences: the ones a segment defines and the ones steps fill,
//!   their members, change streams and upload files (`audiences`: the match keys).
//! - `policy`, `channels` — what those use.
//!
//! **Exactness.** Runs are keyed by the journey and the log position of the entering event,
//! outbox messages by `{run}:{step}`, and each scheduler decision is written atomically with
//! its cursor, so a crash never enters a person twice nor queues a message twice or not at all.
//! Sending is *send, then mark*: a crash between the provider's acceptance and the mark
//! sends that one message again after restart, with the same idempotency key (`Message-ID`,
//! `webhook-id`) so the provider or receiver can drop the duplicate. Tailor's side is
//! exactly-once; the wire is at-least-once with a stable key.

mod admin;
pub mod audience_book;
pub mod audiences;
pub mod channels;
pub mod definition;
mod delivery;
pub mod inbound;
pub mod language;
pub mod policy;
pub mod render;
pub mod report;
mod runner;
mod scan;
pub mod templates;
pub mod unsubscribe;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::mpsc;

use parking_lot::{Mutex, RwLock};
use serde_json::Value;
use tailor_core::{Message, Millis};
use tailor_store::{OutboxItem, OutboxStatus, Seq, Store};

use crate::decide::Decider;
use crate::decide::onsite::{self, Inbox};
use crate::error::EngineError;
use crate::govern::consent::Consent;
use crate::govern::privacy::Suppression;
use crate::ingest::{Ingest, Observer, Watch};
use crate::learn::predictions::{ModelSlot, Models, PredictionService};
use crate::live::Live;
use crate::measure::experiments::Experiments;
use crate::profile::Profile;
pub use channels::ChannelConfig;
use definition::{Journey, JourneyBook, StoredJourney};
use policy::SendPolicy;

/// Where the journey definitions are kept.
const JOURNEYS_META: &str = "journeys";
/// Where the send policy is kept.
const POLICY_META: &str = "journey_policy";
/// Where the saved message templates are kept.
const TEMPLATES_META: &str = "message_templates";

/// An event the writer hands the scheduler.
pub(crate) struct Seen {
    pub seq: Seq,
    pub message: Message,
    /// The journeys whose trigger (name and condition) held over the profile exactly as
    /// this event left it; `None` when read back from the log, where the scheduler
    /// evaluates conditions over the profile as it is then.
    pub eligible: Option<Vec<String>>,
    /// Who this profile change moved into or out of a segment audience.
    pub audience: Vec<tailor_store::AudienceChange>,
    /// The event stated consent choices that leave advertising refused: the person leaves
    /// every audience.
    pub refuses_ads: bool,
}

pub(crate) type Observed = Vec<Seen>;

/// What the scheduler's inlet carries: committed events from the writer, in log order, or a
/// request to settle.
pub(crate) enum ToScheduler {
    Events(Observed),
    /// Answer once everything sent before it and every run due now is handled.
    Settle(Ack),
}

/// The answer to a settle request: how much work the thread did since it last answered one
/// (events, runs or messages handled), so [`JourneyParts::settle`] knows when all is quiet.
pub(crate) type Ack = tokio::sync::oneshot::Sender<usize>;

/// The receiving ends of the journey threads' inlets, handed to [`start`].
pub(crate) struct Inlets {
    observed: mpsc::Receiver<ToScheduler>,
    outbox: mpsc::Receiver<Ack>,
}

/// Most scheduler-then-outbox rounds [`JourneyParts::settle`] waits for before giving up.
const SETTLE_ROUNDS: usize = 16;

/// A journey entered by a segment: its id, condition and whether it is paused.
pub(crate) struct SegmentTrigger {
    id: String,
    condition: Value,
    paused: bool,
}

/// Journey definitions and the writer's hook, shared by the engine's threads.
pub(crate) struct Journeys {
    book: RwLock<Arc<JourneyBook>>,
    /// Every event name some journey reacts to: the hot ingest path checks only this.
    names: RwLock<Arc<HashSet<String>>>,
    /// The journeys entered by a segment (the writer evaluates them on every profile change).
    segments: RwLock<Arc<Vec<SegmentTrigger>>>,
    /// Who is in each segment trigger now (profiles), with the condition it was computed
    /// for; kept by the writer, built from all profiles when a journey or the engine starts.
    members: Mutex<HashMap<String, (Value, HashSet<crate::profile::ProfileId>)>>,
    policy: RwLock<Arc<SendPolicy>>,
    /// The message templates in service (built-ins under the saved ones), compiled.
    templates: RwLock<Arc<templates::TemplateBook>>,
    hook: mpsc::Sender<ToScheduler>,
    /// Settle requests for the outbox thread.
    outbox: mpsc::Sender<Ack>,
    /// Delivered on-site messages, forgotten with the person.
    inbox: Arc<Inbox>,
    /// The prediction models in service, for conditions on `predictions.*`.
    models: ModelSlot,
    /// The segment audiences (see `audience_book`).
    audiences: RwLock<Arc<audience_book::AudienceBook>>,
    /// Who is in each segment audience now (profiles), kept by the writer and the scan.
    audience_members: Mutex<HashMap<String, HashSet<crate::profile::ProfileId>>>,
    /// Segment audiences take only people who allow advertising.
    consent: Arc<Consent>,
    /// A segment audience changed: the scheduler scans all profiles on its next pass.
    scan_now: std::sync::atomic::AtomicBool,
}

/// What journeys use of the rest of the engine (the scheduler, the outbox thread, the
/// admin API and reports).
pub(crate) struct JourneyParts {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn tailor_core::Clock>,
    pub live: Arc<Live>,
    pub journeys: Arc<Journeys>,
    pub predictions: Arc<PredictionService>,
    pub consent: Arc<Consent>,
    pub experiments: Arc<Experiments>,
    pub suppression: Arc<Suppression>,
    pub inbox: Arc<Inbox>,
    /// Messages show what the website would (`{{recs}}`, `{{promo}}`), logged as decisions.
    pub decider: Arc<Decider>,
    /// `updateProfile` steps change traits through the ordinary ingest path.
    pub ingest: Ingest,
    /// The providers and what messages say about the store (name, currency, public URL).
    pub channels: Arc<ChannelConfig>,
    /// Signs and checks one-click unsubscribe links.
    pub links: unsubscribe::Links,
}

impl JourneyParts {
    /// Waits until the scheduler has handled every event committed before the call and every
    /// run due now, and the outbox every message due now. Repeats while either found work,
    /// so what one hands the other (a queued message, a profile update's event) is handled
    /// too. Tests use it instead of sleeping; nothing on the serving path needs it.
    pub(crate) async fn settle(&self) -> Result<(), EngineError> {
        for _ in 0..SETTLE_ROUNDS {
            let journeys = &self.journeys;
            let scheduled = ask(|ack| journeys.hook.send(ToScheduler::Settle(ack)).is_ok()).await?;
            let delivered = ask(|ack| journeys.outbox.send(ack).is_ok()).await?;
            if scheduled + delivered == 0 {
                return Ok(());
            }
        }
        Err(EngineError::Internal(format!(
            "journeys still had work after {SETTLE_ROUNDS} rounds"
        )))
    }
}

impl Journeys {
    pub(crate) fn load(
        store: &dyn Store,
        models: ModelSlot,
        inbox: Arc<Inbox>,
        consent: Arc<Consent>,
    ) -> Result<(Journeys, Inlets), EngineError> {
        let audiences: audience_book::AudienceBook =
            crate::meta::load(store, audience_book::AUDIENCES_META, "audiences")?
                .unwrap_or_default();
        let book: JourneyBook = match store.get_meta(JOURNEYS_META)? {
            Some(json) => serde_json::from_str(&json)
                .map_err(|e| EngineError::Corrupt(format!("journeys: {e}")))?,
            None => BTreeMap::new(),
        };
        let policy: SendPolicy = match store.get_meta(POLICY_META)? {
            Some(json) => serde_json::from_str(&json)
                .map_err(|e| EngineError::Corrupt(format!("journey policy: {e}")))?,
            None => SendPolicy::default(),
        };
        let saved: templates::StoredTemplates = match store.get_meta(TEMPLATES_META)? {
            Some(json) => serde_json::from_str(&json)
                .map_err(|e| EngineError::Corrupt(format!("message templates: {e}")))?,
            None => BTreeMap::new(),
        };
        let (hook, observed) = mpsc::channel();
        let (outbox, outbox_rx) = mpsc::channel();
        let journeys = Journeys {
            names: RwLock::new(Arc::new(names_of(&book))),
            segments: RwLock::new(Arc::new(segments_of(&book))),
            members: Mutex::new(HashMap::new()),
            book: RwLock::new(Arc::new(book)),
            policy: RwLock::new(Arc::new(policy)),
            templates: RwLock::new(Arc::new(templates::TemplateBook::new(&saved))),
            hook,
            outbox,
            inbox,
            models,
            audiences: RwLock::new(Arc::new(audiences)),
            audience_members: Mutex::new(HashMap::new()),
            consent,
            scan_now: std::sync::atomic::AtomicBool::new(true),
        };
        let inlets = Inlets {
            observed,
            outbox: outbox_rx,
        };
        Ok((journeys, inlets))
    }

    /// Whether the writer must call [`Journeys::observe`] for events whatever their name:
    /// a journey is entered by a segment, or an audience is defined by one or filled by
    /// steps (a consent withdrawal ends those memberships).
    pub(crate) fn has_segments(&self) -> bool {
        !self.segments.read().is_empty()
            || !self.audiences.read().is_empty()
            || self.book.read().values().any(|j| {
                j.versions
                    .iter()
                    .flat_map(|v| v.steps.iter())
                    .any(|s| matches!(s.action, definition::Action::Audience { .. }))
            })
    }

    /// Called by the writer right after it folded one committed event: if some journey
    /// reacts to its name (one set lookup), evaluates the trigger conditions over the profile
    /// as this event left it; if some journey is entered by a segment, notes who just
    /// entered it. Keeps the event for the scheduler when either matters.
    pub(crate) fn observe(
        &self,
        names: &HashSet<String>,
        m: &Message,
        seq: Seq,
        profile: Option<&Profile>,
        now: Millis,
        out: &mut Observed,
    ) {
        let name = m.event.as_deref().filter(|n| names.contains(*n));
        let mut eligible: Vec<String> = Vec::new();
        if let Some(name) = name {
            let book = self.book.read().clone();
            let models = self.models.read().clone();
            eligible.extend(
                book.iter()
                    .filter(|(_, j)| !j.paused && j.current().trigger.event == name)
                    .filter(|(_, j)| trigger_holds(j.current(), m, profile, now, models.as_deref()))
                    .map(|(id, _)| id.clone()),
            );
        }
        let segments = self.segments.read().clone();
        let mut audience = Vec::new();
        let mut refuses_ads = false;
        if let Some(p) = profile
            && (!segments.is_empty() || !self.audiences.read().is_empty())
        {
            // On the writer's path: predictions only if a condition reads them.
            let models = self.segment_models(&segments).or_else(|| {
                self.audiences_read_predictions()
                    .then(|| self.models.read().clone())
                    .flatten()
            });
            let doc = crate::decide::visitor::attributes(
                Some(p),
                &serde_json::Map::new(),
                now,
                models.as_deref(),
            );
            let mut members = self.members.lock();
            for s in segments.iter() {
                let holds = tailor_core::condition::eval_condition(&doc, &s.condition);
                let (_, set) = members
                    .entry(s.id.clone())
                    .or_insert_with(|| (s.condition.clone(), HashSet::new()));
                let entered = if holds {
                    set.insert(p.id)
                } else {
                    set.remove(&p.id);
                    false
                };
                if entered && !s.paused {
                    eligible.push(s.id.clone());
                }
            }
            drop(members);
            audience = self.audience_transitions(p, &doc, now);
        }
        if let Some(p) = profile
            && audience_book::states_consent(m)
            && !self.may_advertise(p)
        {
            refuses_ads = true;
        }
        if name.is_some() || !eligible.is_empty() || !audience.is_empty() || refuses_ads {
            out.push(Seen {
                seq,
                message: m.clone(),
                eligible: Some(eligible),
                audience,
                refuses_ads,
            });
        }
    }

    /// Computes who is in each segment trigger whose condition is new, from all profiles:
    /// they are the segment as it stands, not people entering it.
    /// The models in service if some segment trigger's condition reads predictions.
    fn segment_models(&self, segments: &[SegmentTrigger]) -> Option<Arc<Models>> {
        segments
            .iter()
            .any(|s| tailor_core::condition::reads_predictions(&s.condition))
            .then(|| self.models.read().clone())
            .flatten()
    }

    pub(crate) fn baseline_segments(
        &self,
        registry: &crate::profile::registry::Registry,
        now: Millis,
    ) {
        let segments = self.segments.read().clone();
        let models = self.segment_models(&segments);
        let mut members = self.members.lock();
        members.retain(|id, _| segments.iter().any(|s| &s.id == id));
        for s in segments.iter() {
            if members.get(&s.id).is_some_and(|(c, _)| c == &s.condition) {
                continue;
            }
            let set: HashSet<crate::profile::ProfileId> = registry
                .profiles()
                .filter(|p| {
                    let doc = crate::decide::visitor::attributes(
                        Some(p),
                        &serde_json::Map::new(),
                        now,
                        models.as_deref(),
                    );
                    tailor_core::condition::eval_condition(&doc, &s.condition)
                })
                .map(|p| p.id)
                .collect();
            members.insert(s.id.clone(), (s.condition.clone(), set));
        }
    }

    /// Hands what the writer kept to the scheduler.
    pub(crate) fn hand_over(&self, seen: Observed) {
        if !seen.is_empty() {
            // The scheduler may be gone during shutdown; it catches up from the log on start.
            let _ = self.hook.send(ToScheduler::Events(seen));
        }
    }

    pub(crate) fn book(&self) -> Arc<JourneyBook> {
        self.book.read().clone()
    }

    pub(crate) fn names(&self) -> Arc<HashSet<String>> {
        self.names.read().clone()
    }

    pub(crate) fn policy(&self) -> Arc<SendPolicy> {
        self.policy.read().clone()
    }

    pub(crate) fn templates(&self) -> Arc<templates::TemplateBook> {
        self.templates.read().clone()
    }

    fn save(&self, store: &dyn Store, book: JourneyBook) -> Result<(), EngineError> {
        let json =
            serde_json::to_string(&book).map_err(|e| EngineError::Internal(e.to_string()))?;
        store.set_meta(JOURNEYS_META, &json)?;
        *self.names.write() = Arc::new(names_of(&book));
        *self.segments.write() = Arc::new(segments_of(&book));
        *self.book.write() = Arc::new(book);
        Ok(())
    }
}

/// The writer's hook: journeys see each committed event with its profile as the event left
/// it, and forget an erased person's on-site messages.
impl Observer for Journeys {
    fn watch(&self) -> Option<Box<dyn Watch + '_>> {
        let names = self.names();
        (!names.is_empty() || self.has_segments()).then(|| {
            Box::new(JourneyWatch {
                journeys: self,
                names,
                seen: Vec::new(),
            }) as Box<dyn Watch + '_>
        })
    }

    fn forget(&self, ids: &[String]) {
        self.inbox.forget(ids);
    }
}

/// One group commit as journeys see it.
struct JourneyWatch<'a> {
    journeys: &'a Journeys,
    names: Arc<HashSet<String>>,
    seen: Observed,
}

impl Watch for JourneyWatch<'_> {
    fn event(&mut self, m: &Message, seq: Seq, profile: Option<&Profile>, now: Millis) {
        self.journeys
            .observe(&self.names, m, seq, profile, now, &mut self.seen);
    }

    fn finish(self: Box<Self>) {
        self.journeys.hand_over(self.seen);
    }
}

/// Whether a journey's trigger condition holds for this event and profile.
pub(crate) fn trigger_holds(
    journey: &Journey,
    m: &Message,
    profile: Option<&Profile>,
    now: Millis,
    models: Option<&Models>,
) -> bool {
    match &journey.trigger.condition {
        None => true,
        Some(c) => {
            let mut doc = crate::decide::visitor::attributes(
                profile,
                &serde_json::Map::new(),
                now,
                crate::learn::predictions::for_condition(models, c),
            );
            doc["event"] = Value::Object(m.properties.clone());
            tailor_core::condition::eval_condition(&doc, c)
        }
    }
}

fn names_of(book: &JourneyBook) -> HashSet<String> {
    let mut names: HashSet<String> = book
        .values()
        .flat_map(|j| {
            // Runs of older versions still wait for their events.
            j.versions.iter().flat_map(Journey::event_names)
        })
        .collect();
    let onsite = book.values().any(|j| {
        j.versions.iter().any(|v| {
            v.steps.iter().any(|s| {
                matches!(
                    s.action,
                    definition::Action::Send {
                        channel: definition::Channel::Onsite,
                        ..
                    }
                )
            })
        })
    });
    if onsite {
        names.insert(onsite::DISMISSED.to_string());
    }
    names
}

fn segments_of(book: &JourneyBook) -> Vec<SegmentTrigger> {
    book.iter()
        .filter_map(|(id, j)| {
            Some(SegmentTrigger {
                id: id.clone(),
                condition: j.current().trigger.segment.clone()?,
                paused: j.paused,
            })
        })
        .collect()
}

/// What an admin sees of one journey.
#[derive(Debug, Clone, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct JourneySummary {
    pub id: String,
    pub name: String,
    /// The version shown (the current one unless asked for another).
    pub version: usize,
    /// `active` or `paused`.
    pub status: &'static str,
    pub updated_at: Millis,
    /// The definition of that version.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub definition: Journey,
}

fn summary(stored: &StoredJourney) -> JourneySummary {
    let j = stored.current();
    JourneySummary {
        id: j.id.clone(),
        name: j.name.clone(),
        version: stored.versions.len(),
        status: if stored.paused { "paused" } else { "active" },
        updated_at: stored.updated_at,
        definition: j.clone(),
    }
}

/// An outbox message as an admin sees it.
#[derive(Debug, Clone, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct OutboxMessage {
    pub key: String,
    pub journey: String,
    pub run_id: String,
    pub step: u32,
    pub person: String,
    pub channel: String,
    /// `pending`, `sent`, `skipped` or `dead`.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub status: OutboxStatus,
    pub attempts: u32,
    pub next_at: Millis,
    pub last_error: Option<String>,
    pub created_at: Millis,
    pub sent_at: Option<Millis>,
    /// The rendered message.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub payload: Value,
}

pub(crate) fn outbox_json(o: &OutboxItem) -> OutboxMessage {
    OutboxMessage {
        key: o.key.clone(),
        journey: o.journey.clone(),
        run_id: o.run_id.clone(),
        step: o.step,
        person: o.person.clone(),
        channel: o.channel.clone(),
        status: o.status,
        attempts: o.attempts,
        next_at: o.next_at,
        last_error: o.last_error.clone(),
        created_at: o.created_at,
        sent_at: o.sent_at,
        payload: serde_json::from_str::<Value>(&o.payload).unwrap_or(Value::Null),
    }
}

/// Counts of one journey (see [`Engine::journey_stats`]).
#[derive(Debug, Clone, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JourneyStats {
    pub id: String,
    /// Metric → count for the journey (`entered`, `converted`, `completed`, …).
    pub journey: BTreeMap<String, i64>,
    /// Per step, in definition order.
    pub steps: Vec<StepStats>,
}

#[derive(Debug, Clone, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StepStats {
    pub id: String,
    /// Metric → count (`reached`, `sent`, `skipped:…`, `dead`, …).
    pub counts: BTreeMap<String, i64>,
}

/// What ships: journey and message templates.
#[derive(Debug, Clone, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JourneyTemplates {
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>))]
    pub journeys: Vec<Value>,
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>))]
    pub messages: Vec<Value>,
}

/// Where a person is in one journey.
#[derive(Debug, Clone, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RunView {
    pub id: String,
    pub journey: String,
    pub version: u32,
    pub person: String,
    /// The step's id, if the version still exists.
    pub step: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub status: tailor_store::RunStatus,
    pub due_at: Option<Millis>,
    pub waiting_for: Option<String>,
    pub entered_at: Millis,
    pub updated_at: Millis,
}

/// An audience's members who may be used for advertising now.
#[derive(Debug, Clone, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Audience {
    pub audience: String,
    /// The segment that defines it; absent for an audience journey steps fill.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub definition: Option<audience_book::AudienceDefinition>,
    pub members: Vec<AudienceMember>,
    /// Members left out for lack of advertising consent.
    pub without_consent: usize,
}

#[derive(Debug, Clone, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct AudienceMember {
    pub person: String,
    pub added_at: Millis,
    /// `predictions.predicted_value`; `null` before a model is trained.
    pub predicted_value: Option<f64>,
}

/// An audience's add/remove stream from one position.
#[derive(Debug, Clone, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AudienceChanges {
    pub audience: String,
    pub changes: Vec<AudienceChangeView>,
    /// The position to ask from next time.
    pub next: i64,
}

#[derive(Debug, Clone, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct AudienceChangeView {
    pub seq: i64,
    /// `null` in the `remove` an erasure or expiry leaves: it names no one.
    pub person: Option<String>,
    /// `add` or `remove`.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub op: tailor_store::AudienceOp,
    pub at: Millis,
    /// The hashed email and phone each platform matches them by, as given with the `add`.
    pub match_keys: Option<audiences::MatchKeys>,
}

/// The scheduler and delivery threads.
pub(crate) struct Threads {
    stop: Arc<std::sync::atomic::AtomicBool>,
    handles: Vec<std::thread::JoinHandle<()>>,
}

impl Threads {
    pub(crate) fn stop(self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        for h in self.handles {
            let _ = h.join();
        }
    }
}

/// Sends a settle request with `send` and waits for its answer.
async fn ask(send: impl FnOnce(Ack) -> bool) -> Result<usize, EngineError> {
    let (ack, answer) = tokio::sync::oneshot::channel();
    if !send(ack) {
        return Err(EngineError::ShuttingDown);
    }
    answer.await.map_err(|_| EngineError::ShuttingDown)
}

/// Starts the scheduler and the delivery thread.
pub(crate) fn start(parts: &Arc<JourneyParts>, inlets: Inlets) -> Result<Threads, EngineError> {
    prepare(parts)?;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let spawn = |name: &str, f: Box<dyn FnOnce() + Send>| {
        std::thread::Builder::new()
            .name(name.into())
            .spawn(f)
            .map_err(|e| EngineError::Internal(format!("cannot start {name}: {e}")))
    };
    let scheduler = {
        let (parts, stop) = (parts.clone(), stop.clone());
        spawn(
            "tailor-journeys",
            Box::new(move || runner::Runner::new(parts, inlets.observed, stop).run()),
        )?
    };
    let delivery = {
        let (parts, stop) = (parts.clone(), stop.clone());
        spawn(
            "tailor-outbox",
            Box::new(move || delivery::Delivery::new(parts, inlets.outbox, stop).run()),
        )?
    };
    Ok(Threads {
        stop,
        handles: vec![scheduler, delivery],
    })
}

/// What must be in memory before the journey threads start: segment members and the live
/// on-site messages.
fn prepare(parts: &JourneyParts) -> Result<(), EngineError> {
    // Journeys start with the events after their first start. That point is fixed here,
    // before the engine takes any event, not when the scheduler thread first runs: events
    // acknowledged in between would otherwise be skipped.
    if parts.store.journey_cursor()?.is_none() {
        let last = parts.store.last_seq()?;
        parts.store.journey_write(&tailor_store::JourneyWrite {
            cursor: Some(last),
            ..Default::default()
        })?;
    }
    let journeys = &parts.journeys;
    let now = parts.clock.now();
    parts
        .live
        .with_registry(|r| journeys.baseline_segments(r, now));
    // Segment audiences start from what the store holds; the scheduler's first scan
    // brings them up to date with the profiles.
    for name in journeys.audience_book().keys() {
        let stored = parts.store.audience_members(name)?;
        let set: HashSet<crate::profile::ProfileId> = parts.live.with_registry(|r| {
            stored
                .iter()
                .filter_map(|(person, _)| r.find(person).map(|p| p.id))
                .collect()
        });
        journeys.audience_members.lock().insert(name.clone(), set);
    }
    for item in parts
        .store
        .outbox_where(OutboxStatus::Sent, None, Some("onsite"))?
    {
        let delivered = serde_json::from_str::<Value>(&item.payload)
            .ok()
            .and_then(|p| {
                serde_json::from_value::<onsite::OnsiteMessage>(p["delivered"].clone()).ok()
            });
        if let Some(m) = delivered
            && m.expires_at > now
        {
            parts.inbox.put(&item.person, m);
        }
    }
    Ok(())
}

/// Waits up to `total` in short slices, returning early when `stop` is set.
pub(crate) fn nap(stop: &std::sync::atomic::AtomicBool, total: std::time::Duration) {
    let slice = std::time::Duration::from_millis(20);
    let started = std::time::Instant::now();
    while started.elapsed() < total && !stop.load(std::sync::atomic::Ordering::Relaxed) {
        std::thread::sleep(slice.min(total));
    }
}
