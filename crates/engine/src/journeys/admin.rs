//! The admin API of journeys (`/v1/journeys…`, the outbox, audiences): definitions saved
//! as versions, pause and resume, counts and reports, dead letters (audiences:
//! `audience_book`).

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use serde_json::Value;
use tailor_core::ValidationError;
use tailor_store::OutboxStatus;

use super::definition::{Action, Journey, StoredJourney};
use super::policy::SendPolicy;
use super::render::{self, Recipient, Rendered};
use super::templates::{StoredTemplate, StoredTemplates, TemplateBook, TemplateDefinition};
use super::{
    JourneyParts, JourneyStats, JourneySummary, JourneyTemplates, OutboxMessage, POLICY_META,
    RunView, StepStats, TEMPLATES_META, delivery, outbox_json, report, runner, summary, templates,
};
use crate::error::EngineError;

/// The admin API of journeys.
impl JourneyParts {
    pub fn journeys(&self) -> Vec<JourneySummary> {
        self.journeys.book().values().map(summary).collect()
    }

    /// One journey, its current version or `version`.
    pub fn journey(&self, id: &str, version: Option<u32>) -> Option<JourneySummary> {
        let book = self.journeys.book();
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
        let journey = Journey::from_json_with(definition, &self.journeys.templates())?;
        let segment_audiences = self.journeys.audience_book();
        let taken: Vec<String> = journey
            .steps
            .iter()
            .filter_map(|s| match &s.action {
                Action::Audience { audience, .. } if segment_audiences.contains_key(audience) => {
                    Some(format!(
                        "step {:?}: audience {audience:?} is defined by a segment; steps fill audiences of their own",
                        s.id
                    ))
                }
                _ => None,
            })
            .collect();
        if !taken.is_empty() {
            return Err(ValidationError { problems: taken }.into());
        }
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
    pub fn set_journey_paused(
        &self,
        id: &str,
        paused: bool,
    ) -> Result<JourneySummary, EngineError> {
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
    pub fn journey_report(&self, id: &str) -> Result<report::JourneyReport, EngineError> {
        report::report(self, id)
    }

    /// Counts per step (`reached`, `sent`, `skipped:…`, `dead`, …) and for the journey
    /// (`entered`, `converted`, `completed`, …).
    pub fn journey_stats(&self, id: &str) -> Result<JourneyStats, EngineError> {
        let book = self.journeys.book();
        let stored = book
            .get(id)
            .ok_or_else(|| EngineError::NotFound(format!("journey {id:?}")))?;
        let counts = self.store.journey_counts(id)?;
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
            messages: self.message_templates(),
        }
    }

    /// Every message template in service (built-ins and saved ones), as the API shows them.
    pub fn message_templates(&self) -> Vec<Value> {
        self.journeys
            .templates()
            .all()
            .map(|t| templates::template_json(t))
            .collect()
    }

    pub fn message_template(&self, id: &str) -> Option<Value> {
        self.journeys
            .templates()
            .get(id)
            .map(|t| templates::template_json(t))
    }

    fn saved_templates(&self) -> Result<StoredTemplates, EngineError> {
        match self.store.get_meta(TEMPLATES_META)? {
            Some(json) => serde_json::from_str(&json)
                .map_err(|e| EngineError::Corrupt(format!("message templates: {e}"))),
            None => Ok(StoredTemplates::new()),
        }
    }

    fn save_templates(&self, saved: &StoredTemplates) -> Result<(), EngineError> {
        let json =
            serde_json::to_string(saved).map_err(|e| EngineError::Internal(e.to_string()))?;
        self.store.set_meta(TEMPLATES_META, &json)?;
        *self.journeys.templates.write() = Arc::new(TemplateBook::new(saved));
        Ok(())
    }

    /// Validates (the channel's parts, syntax, unknown variables, a sample render) and saves
    /// a template; under a built-in id it replaces the default. A template journeys send
    /// cannot change its channel.
    pub fn put_template(&self, id: &str, definition: Value) -> Result<Value, EngineError> {
        let definition: TemplateDefinition = serde_json::from_value(definition).map_err(|e| {
            ValidationError::one(format!(
                "not a template ({e}); fields: channel (email, sms, push, onsite, webhook), subject, html, text"
            ))
        })?;
        templates::validate(id, &definition)?;
        if let Some(current) = self.journeys.templates().get(id)
            && current.definition.channel != definition.channel
            && let Some(journey) = self.journey_using(id)
        {
            return Err(EngineError::Conflict(format!(
                "journey {journey:?} sends template {id:?} on {}; a template in use keeps its channel",
                current.definition.channel.as_str()
            )));
        }
        let mut saved = self.saved_templates()?;
        saved.insert(
            id.to_string(),
            StoredTemplate {
                definition,
                updated_at: self.clock.now(),
            },
        );
        self.save_templates(&saved)?;
        self.message_template(id)
            .ok_or_else(|| EngineError::Internal(format!("template {id:?} vanished")))
    }

    /// Deletes a saved template: a built-in one goes back to its default; a custom one in
    /// use by a journey is refused.
    pub fn delete_template(&self, id: &str) -> Result<Value, EngineError> {
        let book = self.journeys.templates();
        let Some(current) = book.get(id) else {
            return Err(EngineError::NotFound(format!("template {id:?}")));
        };
        if !current.built_in
            && let Some(journey) = self.journey_using(id)
        {
            return Err(EngineError::Conflict(format!(
                "journey {journey:?} sends template {id:?}; change the journey first"
            )));
        }
        let mut saved = self.saved_templates()?;
        saved.remove(id);
        self.save_templates(&saved)?;
        Ok(self
            .message_template(id)
            .unwrap_or_else(|| serde_json::json!({"id": id, "deleted": true})))
    }

    /// The first journey whose current version sends template `id`.
    fn journey_using(&self, id: &str) -> Option<String> {
        self.journeys.book().iter().find_map(|(journey, stored)| {
            stored
                .current()
                .steps
                .iter()
                .any(|s| matches!(&s.action, Action::Send { template, .. } if template == id))
                .then(|| journey.clone())
        })
    }

    /// Renders template `id` (or `draft`, an unsaved definition) for the person `person`
    /// names, as their next message would be: their cart, `decide`'s recommendations and
    /// promotion (logged with `channel: preview`), an unsubscribe link that does nothing.
    pub fn preview_template(
        &self,
        id: &str,
        person: &str,
        draft: Option<Value>,
    ) -> Result<Rendered, EngineError> {
        let template = match draft {
            Some(v) => {
                let definition: TemplateDefinition = serde_json::from_value(v)
                    .map_err(|e| ValidationError::one(format!("not a template: {e}")))?;
                let compiled = templates::validate(id, &definition)?;
                Arc::new(templates::Template {
                    id: id.to_string(),
                    definition,
                    built_in: false,
                    modified: false,
                    updated_at: None,
                    compiled,
                })
            }
            None => self
                .journeys
                .templates()
                .get(id)
                .cloned()
                .ok_or_else(|| EngineError::NotFound(format!("template {id:?}")))?,
        };
        let profile = self
            .live
            .with_registry(|r| r.find(person).cloned())
            .ok_or_else(|| EngineError::NotFound(format!("person {person:?}")))?;
        let channel = template.definition.channel;
        let unsubscribe = self.unsubscribe_url(channel, "preview");
        let trigger = serde_json::Map::new();
        render::render(
            self,
            &template,
            &Recipient {
                profile: &profile,
                user_id: profile.user_ids.first().map(String::as_str),
                anonymous_id: profile.anonymous_ids.first().map(String::as_str),
                journey: "preview",
                trigger: &trigger,
                unsubscribe_url: unsubscribe.as_deref(),
                channel_context: "preview",
            },
            self.clock.now(),
        )
        .map_err(|e| ValidationError::one(e).into())
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
    pub fn journey_runs(&self, id: &str) -> Result<Vec<RunView>, EngineError> {
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
        let status = status
            .map(str::parse::<OutboxStatus>)
            .transpose()
            .map_err(|e| ValidationError::one(e.to_string()))?;
        let ids = person.map(|p| self.live.ids_of(p));
        let items = self.store.outbox_list(status, ids.as_deref(), limit)?;
        Ok(items.iter().map(outbox_json).collect())
    }

    /// Puts a dead message back in the queue, due now, with its attempts reset.
    pub fn replay_dead(&self, key: &str) -> Result<OutboxMessage, EngineError> {
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
}
