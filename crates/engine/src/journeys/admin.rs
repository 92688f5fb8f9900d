//! The admin API of journeys (`/v1/journeys…`, the outbox, audiences): definitions saved
//! as versions, pause and resume, counts and reports, dead letters, audience exports.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use serde_json::{Value, json};
use tailor_core::{Millis, Purpose, ValidationError};
use tailor_store::OutboxStatus;

use super::definition::{Journey, StoredJourney};
use super::policy::SendPolicy;
use super::{
    JourneyParts, POLICY_META, audiences, delivery, outbox_json, report, runner, summary, templates,
};
use crate::error::EngineError;

/// The admin API of journeys.
impl JourneyParts {
    pub fn journeys(&self) -> Vec<Value> {
        self.journeys.book().values().map(summary).collect()
    }

    /// One journey, its current version or `version`.
    pub fn journey(&self, id: &str, version: Option<u32>) -> Option<Value> {
        let book = self.journeys.book();
        let stored = book.get(id)?;
        let mut v = summary(stored);
        if let Some(n) = version {
            v["definition"] = serde_json::to_value(stored.version(n)?).ok()?;
            v["version"] = json!(n);
        }
        Some(v)
    }

    /// Validates and stores a definition; a changed definition becomes a new version
    /// (running people keep theirs).
    pub fn put_journey(&self, definition: Value) -> Result<Value, EngineError> {
        let journey = Journey::from_json(definition)?;
        let journeys = &self.journeys;
        let mut book = (*journeys.book()).clone();
        let now = self.clock.now();
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
        journeys.save(&*self.store, book)?;
        self.live
            .with_registry(|r| journeys.baseline_segments(r, now));
        Ok(out)
    }

    /// Deletes a journey; its running people stop at their next step.
    pub fn delete_journey(&self, id: &str) -> Result<(), EngineError> {
        let journeys = &self.journeys;
        let mut book = (*journeys.book()).clone();
        if book.remove(id).is_none() {
            return Err(EngineError::NotFound(format!("journey {id:?}")));
        }
        journeys.save(&*self.store, book)
    }

    /// Pauses (no one enters, timers hold) or resumes a journey.
    pub fn set_journey_paused(&self, id: &str, paused: bool) -> Result<Value, EngineError> {
        let journeys = &self.journeys;
        let mut book = (*journeys.book()).clone();
        let entry = book
            .get_mut(id)
            .ok_or_else(|| EngineError::NotFound(format!("journey {id:?}")))?;
        entry.paused = paused;
        entry.updated_at = self.clock.now();
        let out = summary(entry);
        journeys.save(&*self.store, book)?;
        if !paused {
            self.release_held(id)?;
        }
        Ok(out)
    }

    /// Puts the messages the outbox held while journey `id` was paused back in the queue,
    /// due now.
    fn release_held(&self, id: &str) -> Result<(), EngineError> {
        let now = self.clock.now();
        let mut write = tailor_store::JourneyWrite::default();
        for mut item in self
            .store
            .outbox_where(OutboxStatus::Pending, Some(id), None)?
        {
            if item.last_error.as_deref() == Some(delivery::HELD_PAUSED) {
                item.next_at = now;
                item.last_error = None;
                write.outbox_updates.push(item);
            }
        }
        if !write.outbox_updates.is_empty() {
            self.store.journey_write(&write)?;
        }
        Ok(())
    }

    /// Sent vs control of journey `id` (see `report`).
    pub fn journey_report(&self, id: &str) -> Result<Value, EngineError> {
        report::report(self, id)
    }

    /// Counts per step (`reached`, `sent`, `skipped:…`, `dead`, …) and for the journey
    /// (`entered`, `converted`, `completed`, …).
    pub fn journey_stats(&self, id: &str) -> Result<Value, EngineError> {
        let book = self.journeys.book();
        let stored = book
            .get(id)
            .ok_or_else(|| EngineError::NotFound(format!("journey {id:?}")))?;
        let counts = self.store.journey_counts(id)?;
        let mut journey = serde_json::Map::new();
        let mut steps: BTreeMap<String, serde_json::Map<String, Value>> = BTreeMap::new();
        for (step, metric, n) in counts {
            if step == runner::JOURNEY_STEP {
                journey.insert(metric, json!(n));
            } else {
                steps.entry(step).or_default().insert(metric, json!(n));
            }
        }
        // Steps in definition order (all versions' steps, current first).
        let mut ordered = Vec::new();
        let mut seen = HashSet::new();
        for j in stored.versions.iter().rev() {
            for s in &j.steps {
                if seen.insert(s.id.clone()) {
                    let counts = steps.remove(&s.id).unwrap_or_default();
                    ordered.push(json!({"id": s.id, "counts": counts}));
                }
            }
        }
        Ok(json!({"id": id, "journey": journey, "steps": ordered}))
    }

    pub fn journey_templates(&self) -> Value {
        json!({"journeys": templates::journeys(), "messages": templates::messages()})
    }

    pub fn journey_policy(&self) -> Arc<SendPolicy> {
        self.journeys.policy()
    }

    pub fn put_journey_policy(&self, policy: SendPolicy) -> Result<(), EngineError> {
        policy.validate()?;
        let json =
            serde_json::to_string(&policy).map_err(|e| EngineError::Internal(e.to_string()))?;
        self.store.set_meta(POLICY_META, &json)?;
        *self.journeys.policy.write() = Arc::new(policy);
        Ok(())
    }

    /// The runs of the person `id` names (any of their ids).
    pub fn journey_runs(&self, id: &str) -> Result<Vec<Value>, EngineError> {
        let ids = self.live.ids_of(id);
        let runs = self.store.journey_runs_of(&ids)?;
        Ok(runs
            .into_iter()
            .map(|r| {
                let step = self
                    .journeys
                    .book()
                    .get(&r.journey)
                    .and_then(|s| s.version(r.version))
                    .and_then(|j| j.steps.get(r.step as usize))
                    .map(|s| s.id.clone());
                json!({"id": r.id, "journey": r.journey, "version": r.version, "person": r.person,
                       "step": step, "status": r.status, "dueAt": r.due_at, "waitingFor": r.wait_event,
                       "enteredAt": r.entered_at, "updatedAt": r.updated_at})
            })
            .collect())
    }

    /// Outbox messages by status (`pending`, `sent`, `skipped`, `dead`) and/or person.
    pub fn outbox(
        &self,
        status: Option<&str>,
        person: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Value>, EngineError> {
        let status = status
            .map(str::parse::<OutboxStatus>)
            .transpose()
            .map_err(|e| ValidationError::one(e.to_string()))?;
        let ids = person.map(|p| self.live.ids_of(p));
        let items = self.store.outbox_list(status, ids.as_deref(), limit)?;
        Ok(items.iter().map(outbox_json).collect())
    }

    /// Puts a dead message back in the queue, due now, with its attempts reset.
    pub fn replay_dead(&self, key: &str) -> Result<Value, EngineError> {
        let mut item = self
            .store
            .outbox_item(key)?
            .ok_or_else(|| EngineError::NotFound(format!("outbox message {key:?}")))?;
        if item.status != OutboxStatus::Dead {
            return Err(ValidationError::one(format!(
                "outbox message {key:?} is {}, not dead; only dead messages are replayed",
                item.status
            ))
            .into());
        }
        item.status = OutboxStatus::Pending;
        item.attempts = 0;
        item.next_at = self.clock.now();
        let mut write = tailor_store::JourneyWrite {
            outbox_updates: vec![item.clone()],
            ..Default::default()
        };
        write.count(&item.journey, runner::JOURNEY_STEP, "replayed");
        self.store.journey_write(&write)?;
        Ok(outbox_json(&item))
    }

    /// An audience's members who may be used for advertising now.
    pub fn audience(&self, name: &str) -> Result<Value, EngineError> {
        let (members, left_out) = self.audience_people(name)?;
        let value = self.predicted_values(&members);
        let members: Vec<Value> = members
            .iter()
            .zip(value)
            .map(|((person, at), value)| json!({"person": person, "addedAt": at, "predictedValue": value}))
            .collect();
        Ok(json!({"audience": name, "members": members, "withoutConsent": left_out}))
    }

    /// The audience's add/remove stream after position `after`, for an ad platform sync.
    pub fn audience_changes(
        &self,
        name: &str,
        after: i64,
        limit: usize,
    ) -> Result<Value, EngineError> {
        let changes = self.store.audience_changes(name, after, limit)?;
        let next = changes.last().map_or(after, |c| c.seq);
        let changes: Vec<Value> = changes
            .iter()
            .map(|c| json!({"seq": c.seq, "person": c.person, "op": c.op, "at": c.at}))
            .collect();
        Ok(json!({"audience": name, "changes": changes, "next": next}))
    }

    /// The audience in customer-match form: one row per member with advertising consent,
    /// `email,phone` as lower-case hex SHA-256 of the normalized values (empty if unknown),
    /// and `value`, the member's predicted value (`predictions.predicted_value`; empty before
    /// a model is trained) for value-based bidding and lookalikes.
    pub fn audience_export(&self, name: &str) -> Result<String, EngineError> {
        let (members, _) = self.audience_people(name)?;
        let values = self.predicted_values(&members);
        let mut csv = String::from("email,phone,value\n");
        let registry = self.live.registry();
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
        let models = self.predictions.current();
        let registry = self.live.registry();
        let now = self.clock.now();
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
        let all = self.store.audience_members(name)?;
        let policy = self.consent.policy();
        let registry = self.live.registry();
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
}
