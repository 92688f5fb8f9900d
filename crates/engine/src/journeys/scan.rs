//! The segment scan, on the scheduler thread: every profile against every segment, for what
//! changes without an event. Predictions move as time passes (a customer who stops
//! ordering is exactly the one who sends no event: churn risk rises in silence) and when a
//! model is retrained; a consent policy can change; a restart loses what the writer had
//! handed over. Runs hourly (engine clock), after each new model version, and at once
//! when a segment audience is saved.
//!
//! It enters people into journeys triggered by a segment they are now in (the writer's
//! rule: entering, not being, starts a run), brings each segment audience's stored members
//! to who qualifies now, and takes people who refuse advertising out of the audiences
//! journey steps fill.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use tailor_core::Millis;
use tailor_core::time::HOUR;
use tailor_store::AudienceChange;

use super::audience_book::{self, person_of};
use super::runner::{Effects, RunState, Runner};
use crate::error::EngineError;
use crate::profile::{Profile, ProfileId};

/// How often (engine clock) profiles are scanned for segments.
const SEGMENT_SCAN_EVERY: Millis = HOUR;

/// One segment audience as the scan found it.
#[derive(Default)]
struct Qualified {
    /// Person id → their `add`.
    adds: BTreeMap<String, AudienceChange>,
    profiles: HashSet<ProfileId>,
}

impl Runner {
    /// Returns how many changes it wrote (entries and membership changes).
    pub(super) fn scan_segments(&mut self) -> Result<usize, EngineError> {
        let parts = self.parts.clone();
        let journeys = &parts.journeys;
        let now = parts.clock.now();
        let models = parts.predictions.current();
        let version = models.as_ref().map(|m| m.version);
        let asked = journeys.scan_now.swap(false, Ordering::SeqCst);
        if !asked
            && version == self.scanned_models
            && now - self.last_segment_scan < SEGMENT_SCAN_EVERY
        {
            return Ok(0);
        }
        self.last_segment_scan = now;
        self.scanned_models = version;
        let segments = journeys.segments.read().clone();
        let audiences = journeys.audience_book();
        let book = journeys.book();
        let mut qualified: BTreeMap<String, Qualified> = audiences
            .keys()
            .map(|name| (name.clone(), Qualified::default()))
            .collect();
        // Who entered a segment trigger: (journey, profile).
        let mut entering: Vec<(String, Arc<Profile>)> = Vec::new();
        // Stored members of step-filled audiences who refuse advertising.
        let mut filled_by_steps = Vec::new();
        for (name, _) in parts.store.audience_names()? {
            if !audiences.contains_key(&name) {
                filled_by_steps.push((name.clone(), parts.store.audience_members(&name)?));
            }
        }
        let mut refusing: Vec<(String, String)> = Vec::new();
        parts.live.with_registry(|registry| {
            for p in registry.profiles() {
                let doc = crate::decide::visitor::attributes(
                    Some(p),
                    &serde_json::Map::new(),
                    now,
                    models.as_deref(),
                );
                {
                    let mut members = journeys.members.lock();
                    for s in segments.iter() {
                        let holds = tailor_core::condition::eval_condition(&doc, &s.condition);
                        let (_, set) = members
                            .entry(s.id.clone())
                            .or_insert_with(|| (s.condition.clone(), HashSet::new()));
                        if !holds {
                            set.remove(&p.id);
                        } else if set.insert(p.id) && !s.paused {
                            entering.push((s.id.clone(), p.clone()));
                        }
                    }
                }
                if !audiences.is_empty() && journeys.may_advertise(p) {
                    for (name, stored) in audiences.iter() {
                        if tailor_core::condition::eval_condition(
                            &doc,
                            &stored.definition.condition,
                        ) && let Some(add) = audience_book::add(name, p, now)
                            && let Some(q) = qualified.get_mut(name)
                        {
                            q.profiles.insert(p.id);
                            q.adds.insert(add.person.clone(), add);
                        }
                    }
                }
            }
            for (name, members) in &filled_by_steps {
                for (person, _) in members {
                    if registry
                        .find(person)
                        .is_some_and(|p| !journeys.may_advertise(p))
                    {
                        refusing.push((name.clone(), person.clone()));
                    }
                }
            }
        });
        let mut effects = Effects::default();
        for (name, mut q) in qualified {
            for (person, _) in parts.store.audience_members(&name)? {
                if q.adds.remove(&person).is_none() {
                    effects
                        .write
                        .audience
                        .push(audience_book::remove(&name, &person, now));
                }
            }
            effects.write.audience.extend(q.adds.into_values());
            journeys.audience_members.lock().insert(name, q.profiles);
        }
        for (name, person) in refusing {
            effects
                .write
                .audience
                .push(audience_book::remove(&name, &person, now));
        }
        for (id, profile) in entering {
            let Some(stored) = book.get(&id) else {
                continue;
            };
            let (def, version) = (stored.current(), stored.versions.len() as u32);
            let Some(person) = person_of(&profile) else {
                continue;
            };
            let runs = parts.store.journey_runs_of(&profile.id_list())?;
            let theirs: Vec<_> = runs.iter().filter(|r| r.journey == def.id).collect();
            if !super::runner::may_reenter(def, &theirs, now) {
                continue;
            }
            let state = RunState::of(&profile);
            let run_id = format!("{id}:scan:{now}:{person}");
            self.enter(
                def,
                version,
                run_id,
                person,
                state,
                Some(&profile),
                now,
                &mut effects,
            );
        }
        let work = effects.write.audience.len() + effects.write.runs.len();
        self.commit(effects, None)?;
        Ok(work)
    }
}
