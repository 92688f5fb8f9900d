//! Journeys: definitions that move one person through waits, branches and messages on
//! several channels, driven by committed events and durable timers.
//!
//! - `definition` — the JSON shape and its validation; `templates` — what ships.
//! - `runner` — the scheduler thread: events in (from the writer's hook, or read back from
//!   the log after a restart), runs stepped, timers fired; every decision is one store
//!   transaction together with the log position it covers.
//! - `delivery` — the outbox thread: policies at send time, render, send, mark.
//! - `onsite` — delivered on-site messages, shown by the `onsite.message` placement.
//! - `report` — sent vs control: conversions, revenue, unsubscribes.
//! - `policy`, `channels`, `render`, `audiences` — what those use.
//!
//! **Exactness.** Runs are keyed by the journey and the log position of the entering event,
//! outbox messages by `{run}:{step}`, and each scheduler decision is written atomically with
//! its cursor, so a crash never enters a person twice nor queues a message twice or not at all.
//! Sending is *send, then mark*: a crash between the provider's acceptance and the mark
//! sends that one message again after restart, with the same idempotency key (`Message-ID`,
//! `webhook-id`) so the provider or receiver can drop the duplicate. Tailor's side is
//! exactly-once; the wire is at-least-once with a stable key.

mod audiences;
pub mod channels;
pub mod definition;
mod delivery;
pub mod onsite;
pub mod policy;
mod render;
pub mod report;
mod runner;
pub mod templates;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::mpsc;

use parking_lot::{Mutex, RwLock};
use serde_json::Value;
use tailor_core::{Message, Millis, Purpose, ValidationError};
use tailor_store::{OutboxItem, Seq, Store};

use crate::{Engine, EngineError};
pub use channels::ChannelConfig;
use definition::{Journey, JourneyBook, StoredJourney};
use policy::SendPolicy;

/// Where the journey definitions are kept.
const JOURNEYS_META: &str = "journeys";
/// Where the send policy is kept.
const POLICY_META: &str = "journey_policy";

/// An event the writer hands the scheduler.
pub(crate) struct Seen {
    pub seq: Seq,
    pub message: Message,
    /// The journeys whose trigger (name and condition) held over the profile exactly as
    /// this event left it; `None` when read back from the log, where the scheduler
    /// evaluates conditions over the profile as it is then.
    pub eligible: Option<Vec<String>>,
}

pub(crate) type Observed = Vec<Seen>;

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
    hook: mpsc::Sender<Observed>,
    /// Delivered on-site messages.
    pub(crate) inbox: onsite::Inbox,
    /// The prediction models in service, for conditions on `predictions.*`.
    models: crate::predictions::ModelSlot,
}

impl Journeys {
    pub(crate) fn load(
        store: &dyn Store,
        models: crate::predictions::ModelSlot,
    ) -> Result<(Journeys, mpsc::Receiver<Observed>), EngineError> {
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
        let (hook, rx) = mpsc::channel();
        let journeys = Journeys {
            names: RwLock::new(Arc::new(names_of(&book))),
            segments: RwLock::new(Arc::new(segments_of(&book))),
            members: Mutex::new(HashMap::new()),
            book: RwLock::new(Arc::new(book)),
            policy: RwLock::new(Arc::new(policy)),
            hook,
            inbox: onsite::Inbox::default(),
            models,
        };
        Ok((journeys, rx))
    }

    /// Whether the writer must call [`Journeys::observe`] for events whatever their name.
    pub(crate) fn has_segments(&self) -> bool {
        !self.segments.read().is_empty()
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
        profile: Option<&crate::Profile>,
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
        if let Some(p) = profile
            && !segments.is_empty()
        {
            // On the writer's path: predictions only if a segment reads them.
            let models = self.segment_models(&segments);
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
        }
        if name.is_some() || !eligible.is_empty() {
            out.push(Seen {
                seq,
                message: m.clone(),
                eligible: Some(eligible),
            });
        }
    }

    /// Computes who is in each segment trigger whose condition is new, from all profiles:
    /// they are the segment as it stands, not people entering it.
    /// The models in service if some segment trigger's condition reads predictions.
    fn segment_models(
        &self,
        segments: &[SegmentTrigger],
    ) -> Option<Arc<crate::predictions::Models>> {
        segments
            .iter()
            .any(|s| crate::predictions::reads_predictions(&s.condition))
            .then(|| self.models.read().clone())
            .flatten()
    }

    pub(crate) fn baseline_segments(&self, registry: &crate::registry::Registry, now: Millis) {
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
            let _ = self.hook.send(seen);
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

/// Whether a journey's trigger condition holds for this event and profile.
pub(crate) fn trigger_holds(
    journey: &Journey,
    m: &Message,
    profile: Option<&crate::Profile>,
    now: Millis,
    models: Option<&crate::predictions::Models>,
) -> bool {
    match &journey.trigger.condition {
        None => true,
        Some(c) => {
            let mut doc = crate::decide::visitor::attributes(
                profile,
                &serde_json::Map::new(),
                now,
                crate::predictions::for_condition(models, c),
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
    pub status: String,
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
        status: o.status.clone(),
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
    pub status: String,
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
pub struct AudienceChangeView {
    pub seq: i64,
    pub person: String,
    /// `add` or `remove`.
    pub op: String,
    pub at: Millis,
}

/// The admin API of journeys.
impl Engine {
    pub fn journeys(&self) -> Vec<JourneySummary> {
        self.shared.journeys.book().values().map(summary).collect()
    }

    /// One journey, its current version or `version`.
    pub fn journey(&self, id: &str, version: Option<u32>) -> Option<JourneySummary> {
        let book = self.shared.journeys.book();
        let stored = book.get(id)?;
        let mut v = summary(stored);
        if let Some(n) = version {
            v.definition = stored.version(n)?.clone();
            v.version = n as usize;
        }
        Some(v)
    }

    /// Validates and stores a definition; a changed definition becomes a new version
    /// (running people keep theirs).
    pub fn put_journey(&self, definition: Value) -> Result<JourneySummary, EngineError> {
        let journey = Journey::from_json(definition)?;
        let journeys = &self.shared.journeys;
        let mut book = (*journeys.book()).clone();
        let now = self.now();
        let entry = book
            .entry(journey.id.clone())
            .or_insert_with(|| StoredJourney {
                versions: Vec::new(),
                paused: false,
                updated_at: now,
            });
        if entry.versions.last() != Some(&journey) {
            entry.versions.push(journey.clone());
            entry.updated_at = now;
        }
        let out = summary(entry);
        journeys.save(&*self.shared.store, book)?;
        journeys.baseline_segments(&self.shared.registry.read(), now);
        Ok(out)
    }

    /// Deletes a journey; its running people stop at their next step.
    pub fn delete_journey(&self, id: &str) -> Result<(), EngineError> {
        let journeys = &self.shared.journeys;
        let mut book = (*journeys.book()).clone();
        if book.remove(id).is_none() {
            return Err(EngineError::NotFound(format!("journey {id:?}")));
        }
        journeys.save(&*self.shared.store, book)
    }

    /// Pauses (no one enters, timers hold) or resumes a journey.
    pub fn set_journey_paused(
        &self,
        id: &str,
        paused: bool,
    ) -> Result<JourneySummary, EngineError> {
        let journeys = &self.shared.journeys;
        let mut book = (*journeys.book()).clone();
        let entry = book
            .get_mut(id)
            .ok_or_else(|| EngineError::NotFound(format!("journey {id:?}")))?;
        entry.paused = paused;
        entry.updated_at = self.now();
        let out = summary(entry);
        journeys.save(&*self.shared.store, book)?;
        if !paused {
            self.release_held(id)?;
        }
        Ok(out)
    }

    /// Puts the messages the outbox held while journey `id` was paused back in the queue,
    /// due now.
    fn release_held(&self, id: &str) -> Result<(), EngineError> {
        let now = self.now();
        let mut write = tailor_store::JourneyWrite::default();
        for mut item in self.shared.store.outbox_where("pending", Some(id), None)? {
            if item.last_error.as_deref() == Some(delivery::HELD_PAUSED) {
                item.next_at = now;
                item.last_error = None;
                write.outbox_updates.push(item);
            }
        }
        if !write.outbox_updates.is_empty() {
            self.shared.store.journey_write(&write)?;
        }
        Ok(())
    }

    /// Sent vs control of journey `id` (see `report`).
    pub fn journey_report(&self, id: &str) -> Result<report::JourneyReport, EngineError> {
        report::report(self, id)
    }

    /// Counts per step (`reached`, `sent`, `skipped:…`, `dead`, …) and for the journey
    /// (`entered`, `converted`, `completed`, …).
    pub fn journey_stats(&self, id: &str) -> Result<JourneyStats, EngineError> {
        let book = self.shared.journeys.book();
        let stored = book
            .get(id)
            .ok_or_else(|| EngineError::NotFound(format!("journey {id:?}")))?;
        let counts = self.shared.store.journey_counts(id)?;
        let mut journey = BTreeMap::new();
        let mut steps: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
        for (step, metric, n) in counts {
            if step == runner::JOURNEY_STEP {
                journey.insert(metric, n);
            } else {
                steps.entry(step).or_default().insert(metric, n);
            }
        }
        // Steps in definition order (all versions' steps, current first).
        let mut ordered = Vec::new();
        let mut seen = HashSet::new();
        for j in stored.versions.iter().rev() {
            for s in &j.steps {
                if seen.insert(s.id.clone()) {
                    let counts = steps.remove(&s.id).unwrap_or_default();
                    ordered.push(StepStats {
                        id: s.id.clone(),
                        counts,
                    });
                }
            }
        }
        Ok(JourneyStats {
            id: id.to_string(),
            journey,
            steps: ordered,
        })
    }

    pub fn journey_templates(&self) -> JourneyTemplates {
        JourneyTemplates {
            journeys: templates::journeys(),
            messages: templates::messages(),
        }
    }

    pub fn journey_policy(&self) -> Arc<SendPolicy> {
        self.shared.journeys.policy()
    }

    pub fn put_journey_policy(&self, policy: SendPolicy) -> Result<(), EngineError> {
        policy.validate()?;
        let json =
            serde_json::to_string(&policy).map_err(|e| EngineError::Internal(e.to_string()))?;
        self.shared.store.set_meta(POLICY_META, &json)?;
        *self.shared.journeys.policy.write() = Arc::new(policy);
        Ok(())
    }

    /// The runs of the person `id` names (any of their ids).
    pub fn journey_runs(&self, id: &str) -> Result<Vec<RunView>, EngineError> {
        let ids = self.person_ids(id);
        let runs = self.shared.store.journey_runs_of(&ids)?;
        Ok(runs
            .into_iter()
            .map(|r| {
                let step = self
                    .shared
                    .journeys
                    .book()
                    .get(&r.journey)
                    .and_then(|s| s.version(r.version))
                    .and_then(|j| j.steps.get(r.step as usize))
                    .map(|s| s.id.clone());
                RunView {
                    id: r.id,
                    journey: r.journey,
                    version: r.version,
                    person: r.person,
                    step,
                    status: r.status,
                    due_at: r.due_at,
                    waiting_for: r.wait_event,
                    entered_at: r.entered_at,
                    updated_at: r.updated_at,
                }
            })
            .collect())
    }

    /// Outbox messages by status (`pending`, `sent`, `skipped`, `dead`) and/or person.
    pub fn outbox(
        &self,
        status: Option<&str>,
        person: Option<&str>,
        limit: usize,
    ) -> Result<Vec<OutboxMessage>, EngineError> {
        if let Some(s) = status
            && !["pending", "sent", "skipped", "dead"].contains(&s)
        {
            return Err(ValidationError::one(format!(
                "status {s:?} is not one of pending, sent, skipped, dead"
            ))
            .into());
        }
        let ids = person.map(|p| self.person_ids(p));
        let items = self
            .shared
            .store
            .outbox_list(status, ids.as_deref(), limit)?;
        Ok(items.iter().map(outbox_json).collect())
    }

    /// Puts a dead message back in the queue, due now, with its attempts reset.
    pub fn replay_dead(&self, key: &str) -> Result<OutboxMessage, EngineError> {
        let mut item = self
            .shared
            .store
            .outbox_item(key)?
            .ok_or_else(|| EngineError::NotFound(format!("outbox message {key:?}")))?;
        if item.status != "dead" {
            return Err(ValidationError::one(format!(
                "outbox message {key:?} is {}, not dead; only dead messages are replayed",
                item.status
            ))
            .into());
        }
        item.status = "pending".into();
        item.attempts = 0;
        item.next_at = self.now();
        let mut write = tailor_store::JourneyWrite {
            outbox_updates: vec![item.clone()],
            ..Default::default()
        };
        write.count(&item.journey, runner::JOURNEY_STEP, "replayed");
        self.shared.store.journey_write(&write)?;
        Ok(outbox_json(&item))
    }

    /// An audience's members who may be used for advertising now.
    pub fn audience(&self, name: &str) -> Result<Audience, EngineError> {
        let (members, left_out) = self.audience_people(name)?;
        let value = self.predicted_values(&members);
        let members = members
            .into_iter()
            .zip(value)
            .map(|((person, added_at), predicted_value)| AudienceMember {
                person,
                added_at,
                predicted_value,
            })
            .collect();
        Ok(Audience {
            audience: name.to_string(),
            members,
            without_consent: left_out,
        })
    }

    /// The audience's add/remove stream after position `after`, for an ad platform sync.
    pub fn audience_changes(
        &self,
        name: &str,
        after: i64,
        limit: usize,
    ) -> Result<AudienceChanges, EngineError> {
        let changes = self.shared.store.audience_changes(name, after, limit)?;
        let next = changes.last().map_or(after, |c| c.seq);
        let changes = changes
            .into_iter()
            .map(|c| AudienceChangeView {
                seq: c.seq,
                person: c.person,
                op: c.op,
                at: c.at,
            })
            .collect();
        Ok(AudienceChanges {
            audience: name.to_string(),
            changes,
            next,
        })
    }

    /// The audience in customer-match form: one row per member with advertising consent,
    /// `email,phone` as lower-case hex SHA-256 of the normalized values (empty if unknown),
    /// and `value`, the member's predicted value (`predictions.predicted_value`; empty before
    /// a model is trained) for value-based bidding and lookalikes.
    pub fn audience_export(&self, name: &str) -> Result<String, EngineError> {
        let (members, _) = self.audience_people(name)?;
        let values = self.predicted_values(&members);
        let mut csv = String::from("email,phone,value\n");
        let registry = self.shared.registry.read();
        for ((person, _), value) in members.into_iter().zip(values) {
            let Some(p) = registry.find(&person) else {
                continue;
            };
            let text = |k: &str| {
                p.traits
                    .get(k)
                    .and_then(|v| v.value.as_str().map(str::to_string))
            };
            let email = text("email")
                .as_deref()
                .and_then(audiences::normalize_email);
            let phone = text("phone")
                .as_deref()
                .and_then(audiences::normalize_phone);
            if email.is_none() && phone.is_none() {
                continue;
            }
            let hash = |v: Option<String>| v.map(|v| audiences::sha256_hex(&v)).unwrap_or_default();
            let value = value.map(|v| format!("{v:.2}")).unwrap_or_default();
            csv.push_str(&format!("{},{},{value}\n", hash(email), hash(phone)));
        }
        Ok(csv)
    }

    /// Each member's predicted value, if a model is trained.
    fn predicted_values(&self, members: &[(String, Millis)]) -> Vec<Option<f64>> {
        let models = self.shared.predictions.current();
        let registry = self.shared.registry.read();
        let now = self.now();
        members
            .iter()
            .map(|(person, _)| {
                let (models, p) = (models.as_ref()?, registry.find(person)?);
                models.predict(p, now, None).predicted_value
            })
            .collect()
    }

    /// Members with advertising consent now, and how many were left out for lack of it.
    fn audience_people(&self, name: &str) -> Result<(Vec<(String, Millis)>, usize), EngineError> {
        let all = self.shared.store.audience_members(name)?;
        let policy = self.consent_policy();
        let registry = self.shared.registry.read();
        let total = all.len();
        let kept: Vec<(String, Millis)> = all
            .into_iter()
            .filter(|(person, _)| {
                policy
                    .may(
                        registry.find(person).map(|p| p.as_ref()),
                        Purpose::Advertising,
                    )
                    .allowed
            })
            .collect();
        let left_out = total - kept.len();
        Ok((kept, left_out))
    }

    /// Every raw id of the person `id` names (just `id` if Tailor does not know them).
    pub(crate) fn person_ids(&self, id: &str) -> Vec<String> {
        let registry = self.shared.registry.read();
        match registry.find(id) {
            Some(p) => p.id_list(),
            None => vec![id.to_string()],
        }
    }
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

/// Starts the scheduler and the delivery thread.
pub(crate) fn start(
    engine: &Engine,
    observed: mpsc::Receiver<Observed>,
    channels: ChannelConfig,
) -> Result<Threads, EngineError> {
    prepare(engine)?;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let spawn = |name: &str, f: Box<dyn FnOnce() + Send>| {
        std::thread::Builder::new()
            .name(name.into())
            .spawn(f)
            .map_err(|e| EngineError::Internal(format!("cannot start {name}: {e}")))
    };
    let scheduler = {
        let (engine, stop) = (engine.clone(), stop.clone());
        spawn(
            "tailor-journeys",
            Box::new(move || runner::Runner::new(engine, observed, stop).run()),
        )?
    };
    let delivery = {
        let (engine, stop) = (engine.clone(), stop.clone());
        spawn(
            "tailor-outbox",
            Box::new(move || delivery::Delivery::new(engine, channels, stop).run()),
        )?
    };
    Ok(Threads {
        stop,
        handles: vec![scheduler, delivery],
    })
}

/// What must be in memory before the journey threads start: segment members and the live
/// on-site messages.
pub(crate) fn prepare(engine: &Engine) -> Result<(), EngineError> {
    let journeys = &engine.shared.journeys;
    let now = engine.now();
    journeys.baseline_segments(&engine.shared.registry.read(), now);
    for item in engine
        .shared
        .store
        .outbox_where("sent", None, Some("onsite"))?
    {
        let delivered = serde_json::from_str::<Value>(&item.payload)
            .ok()
            .and_then(|p| {
                serde_json::from_value::<onsite::OnsiteMessage>(p["delivered"].clone()).ok()
            });
        if let Some(m) = delivered
            && m.expires_at > now
        {
            journeys.inbox.put(&item.person, m);
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

/// Keeps `Mutex` in use for the engine's thread handles.
pub(crate) type ThreadSlot = Arc<Mutex<Option<Threads>>>;
