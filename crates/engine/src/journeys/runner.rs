//! The scheduler thread. It alone moves runs: it takes the events the writer hands it (or
//! reads them back from the log after a restart, from its cursor), enters people, ends runs
//! on their goal, wakes `waitForEvent` steps, and fires due timers. Each decision is one
//! `Store::journey_write`, carrying the log position it covers.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use tailor_core::time::{DAY, HOUR, MINUTE};
use tailor_core::{Message, MessageType, Millis, Purpose};
use tailor_store::{
    AudienceChange, AudienceOp, JourneyRun, JourneyWrite, OutboxItem, OutboxStatus, RunStatus, Seq,
};

use super::JourneyParts;
use super::definition::{Action, AudienceAction, Journey, ReentryPolicy, parse_duration};
use super::policy::{MostOpenedHour, SendTimeModel, Zone, local_hour, next_local_hour};
use super::{Observed, Seen, ToScheduler};
use crate::profile::Profile;

/// The pseudo-step journey-wide counters are kept under.
pub(crate) const JOURNEY_STEP: &str = "_journey";
/// How often the scheduler looks for due timers when no event arrives.
const TICK: Duration = Duration::from_millis(50);
/// Most steps one run takes in one go (validation already refuses cycles without a wait).
const MAX_STEPS_AT_ONCE: usize = 200;
/// Most steps one run takes in its life: a loop with a wait in it (re-engage every day)
/// ends here instead of messaging someone forever.
pub(crate) const MAX_STEPS_PER_RUN: u32 = 1_000;
/// Timers fired per pass.
const DUE_BATCH: usize = 500;
/// Events read back per pass when catching up with the log.
const CATCH_UP_CHUNK: usize = 5_000;
/// How often (engine clock) profiles are scanned for date-trait anniversaries.
const DATE_SCAN_EVERY: Millis = MINUTE;
/// A paused journey's due runs are looked at again this much later.
const PAUSED_RECHECK: Millis = MINUTE;

/// What a run remembers between steps (the `state` column).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RunState {
    /// When the current waiting step ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait_until: Option<Millis>,
    /// Audiences this run added the person to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub audiences: Vec<String>,
    /// The entering event's properties (templates may use them).
    #[serde(default)]
    pub trigger: Map<String, Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anonymous_id: Option<String>,
    /// In the journey's control group: goes through the steps, is sent nothing.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub control: bool,
    /// Steps taken so far (see [`MAX_STEPS_PER_RUN`]).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub steps_taken: u32,
}

impl RunState {
    /// A run entered without an event (a segment or a prediction), as `profile`'s first ids.
    pub(crate) fn of(profile: &crate::profile::Profile) -> RunState {
        RunState {
            user_id: profile.user_ids.first().cloned(),
            anonymous_id: profile.anonymous_ids.first().cloned(),
            ..RunState::default()
        }
    }
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// Whether `person` is in the control group of journey `journey` holding back `percent`:
/// GrowthBook's hash (v2) of the person, seeded with the journey id — the same answer in
/// every version of the journey, on every node, after every restart.
pub(crate) fn in_control(journey: &str, person: &str, percent: f64) -> bool {
    tailor_core::experiment::hash(journey, person, 2).is_some_and(|n| n < percent / 100.0)
}

pub(crate) struct Runner {
    pub(super) parts: Arc<JourneyParts>,
    observed: mpsc::Receiver<ToScheduler>,
    stop: Arc<AtomicBool>,
    cursor: Seq,
    send_time: Box<dyn SendTimeModel>,
    /// An event failed: events after the cursor must be read back from the log.
    behind: bool,
    /// When profiles were last scanned for date-trait anniversaries (engine clock).
    last_date_scan: Millis,
    /// When profiles were last scanned for segments, and with which model version.
    pub(super) last_segment_scan: Millis,
    pub(super) scanned_models: Option<u32>,
}

/// The outcome of stepping one run: what to write, and traits to ingest first.
#[derive(Default)]
pub(super) struct Effects {
    pub(super) write: JourneyWrite,
    identifies: Vec<Message>,
}

impl Runner {
    pub(crate) fn new(
        parts: Arc<JourneyParts>,
        observed: mpsc::Receiver<ToScheduler>,
        stop: Arc<AtomicBool>,
    ) -> Runner {
        Runner {
            parts,
            observed,
            stop,
            cursor: 0,
            send_time: Box::new(MostOpenedHour),
            behind: false,
            last_date_scan: Millis::MIN / 2,
            last_segment_scan: Millis::MIN / 2,
            scanned_models: None,
        }
    }

    pub(crate) fn run(mut self) {
        if let Err(e) = self.catch_up() {
            tracing::error!(error = %e, "journeys: cannot read the log back; retrying on the next pass");
            self.behind = true;
        }
        // Events and runs handled since the last settle request was answered.
        let mut work = 0;
        while !self.stop.load(Ordering::Relaxed) {
            let mut settles = Vec::new();
            match self.observed.recv_timeout(TICK) {
                Ok(first) => {
                    let mut events = Vec::new();
                    let mut next = Some(first);
                    while let Some(signal) = next.take() {
                        match signal {
                            ToScheduler::Events(batch) => events.extend(batch),
                            ToScheduler::Settle(ack) => settles.push(ack),
                        }
                        next = self.observed.try_recv().ok();
                    }
                    work += events.len();
                    // While behind, the catch-up below reads these from the log.
                    if !self.behind
                        && !events.is_empty()
                        && let Err(e) = self.on_events(&events)
                    {
                        // The cursor stays before the failed group: read it (and everything
                        // after) back from the log, so nothing is skipped.
                        tracing::error!(error = %e, "journeys: events failed; catching up from the log");
                        self.behind = true;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
            if self.behind {
                self.guarded(|r| {
                    r.catch_up()?;
                    r.behind = false;
                    Ok(())
                });
            }
            if !settles.is_empty() {
                // A settle request covers anniversaries due now, whenever the last scan was.
                self.last_date_scan = Millis::MIN / 2;
            }
            self.guarded(Runner::fire_dates);
            self.guarded(|r| {
                work += r.scan_segments()?;
                Ok(())
            });
            loop {
                let mut fired = 0;
                self.guarded(|r| {
                    fired = r.fire_due()?;
                    Ok(())
                });
                work += fired;
                // One pass per tick, unless someone waits for everything due now.
                if settles.is_empty() || fired < DUE_BATCH {
                    break;
                }
            }
            if !settles.is_empty() {
                for ack in settles {
                    let _ = ack.send(work);
                }
                work = 0;
            }
        }
    }

    /// Runs one unit of work; a failure is logged and retried later, never a crash.
    fn guarded(&mut self, f: impl FnOnce(&mut Runner) -> Result<(), crate::error::EngineError>) {
        if let Err(e) = f(self) {
            tracing::error!(error = %e, "journeys: step failed; will retry");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Reads the events committed since the cursor back from the log (a restart, or a
    /// crash between commit and this thread seeing them).
    fn catch_up(&mut self) -> Result<(), crate::error::EngineError> {
        let store = self.parts.store.clone();
        self.cursor = match store.journey_cursor()? {
            Some(c) => c,
            None => {
                // Journeys start with the events after their first start.
                let last = store.last_seq()?;
                store.journey_write(&JourneyWrite {
                    cursor: Some(last),
                    ..Default::default()
                })?;
                last
            }
        };
        loop {
            let events = store.events_after(self.cursor, CATCH_UP_CHUNK)?;
            let Some(last) = events.last().map(|e| e.seq) else {
                break;
            };
            let names = self.parts.journeys.names();
            let picked: Observed = events
                .into_iter()
                .filter(|e| {
                    e.message
                        .event
                        .as_deref()
                        .is_some_and(|n| names.contains(n))
                })
                .map(|e| Seen {
                    seq: e.seq,
                    message: e.message,
                    eligible: None,
                    audience: Vec::new(),
                    refuses_ads: false,
                })
                .collect();
            self.on_events(&picked)?;
            if last > self.cursor {
                store.journey_write(&JourneyWrite {
                    cursor: Some(last),
                    ..Default::default()
                })?;
                self.cursor = last;
            }
        }
        Ok(())
    }

    pub(super) fn commit(
        &mut self,
        mut effects: Effects,
        cursor: Option<Seq>,
    ) -> Result<(), crate::error::EngineError> {
        // Traits first: if the write below is lost, the step runs again and the identify
        // is deduplicated by its messageId.
        if !effects.identifies.is_empty() {
            self.parts
                .ingest
                .append_blocking(std::mem::take(&mut effects.identifies))?;
        }
        effects.write.cursor = cursor;
        if !effects.write.is_empty() {
            // An erased person's events may still be on their way here (handed over before
            // the erasure): nothing is written for a suppressed id (see `Shared::journey_gate`).
            let suppression = &self.parts.suppression;
            let _gate = suppression.hold_for_write();
            let blocked = |person: &String| suppression.blocks_id(person);
            let w = &mut effects.write;
            w.runs.retain(|r| !blocked(&r.person));
            w.new_outbox.retain(|o| !blocked(&o.person));
            w.outbox_updates.retain(|o| !blocked(&o.person));
            w.audience.retain(|a| !blocked(&a.person));
            self.parts.store.journey_write(w)?;
        }
        if let Some(c) = cursor {
            self.cursor = self.cursor.max(c);
        }
        Ok(())
    }

    /// Events in log order, committed in groups: a group ends before an event of someone
    /// already in it, so each event sees the effects of that person's earlier ones.
    fn on_events(&mut self, events: &[Seen]) -> Result<(), crate::error::EngineError> {
        let mut effects = Effects::default();
        let mut touched: HashSet<String> = HashSet::new();
        let mut last = None;
        for seen in events {
            let (seq, m) = (&seen.seq, &seen.message);
            if *seq <= self.cursor {
                continue;
            }
            let profile = self.profile_of(m);
            let mut persons: Vec<String> = m.person_ids().map(str::to_string).collect();
            if let Some(p) = &profile {
                persons.extend(p.ids().cloned());
            }
            persons.sort();
            persons.dedup();
            if persons.iter().any(|p| touched.contains(p)) {
                self.commit(std::mem::take(&mut effects), last)?;
                touched.clear();
            }
            touched.extend(persons.iter().cloned());
            self.event_effects(seen, profile, &persons, &mut effects)?;
            last = Some(*seq);
        }
        self.commit(effects, last)
    }

    /// One event: goals end runs, waiting runs wake, triggers enter people.
    fn event_effects(
        &self,
        seen: &Seen,
        profile: Option<Arc<Profile>>,
        persons: &[String],
        effects: &mut Effects,
    ) -> Result<(), crate::error::EngineError> {
        let (seq, m) = (seen.seq, &seen.message);
        // Identifies reach here only when they moved someone into a segment.
        let name = m.event.as_deref().unwrap_or_default();
        let now = self.parts.clock.now();
        let models = self.parts.predictions.current();
        if name == super::onsite::DISMISSED
            && let Some(key) = m.properties.get("messageKey").and_then(Value::as_str)
        {
            self.parts.inbox.dismiss(persons, key);
        }
        let store = self.parts.store.clone();
        effects.write.audience.extend(seen.audience.iter().cloned());
        if seen.refuses_ads {
            // Out of every audience they are in (a remove of a non-member writes nothing).
            for (audience, _) in store.audience_names()? {
                effects.write.audience.extend(
                    persons
                        .iter()
                        .map(|p| super::audience_book::remove(&audience, p, now)),
                );
            }
        }
        let runs = store.journey_runs_of(persons)?;
        let book = self.parts.journeys.book();
        for mut run in runs
            .iter()
            .filter(|r| r.status == RunStatus::Active)
            .cloned()
        {
            let Some(def) = book.get(&run.journey).and_then(|s| s.version(run.version)) else {
                run.status = RunStatus::Stopped;
                run.due_at = None;
                run.updated_at = now;
                effects.write.runs.push(run);
                continue;
            };
            if !name.is_empty() && def.goal.as_ref().is_some_and(|g| g.event == name) {
                self.convert(&mut run, def, now, effects);
                effects.write.runs.push(run);
                continue;
            }
            if !name.is_empty()
                && run.wait_event.as_deref() == Some(name)
                && let Some(Action::WaitForEvent { on_event, .. }) =
                    def.steps.get(run.step as usize).map(|s| &s.action)
                && let Some(to) = def.step_index(on_event)
            {
                let mut state = state_of(&run);
                state.wait_until = None;
                run.wait_event = None;
                self.go_to(&mut run, def, to, effects);
                self.advance(&mut run, &mut state, def, now, profile.as_deref(), effects);
                run.state = serde_json::to_string(&state).unwrap_or_default();
                effects.write.runs.push(run);
            }
        }
        for (id, stored) in book.iter() {
            let def = stored.current();
            if stored.paused {
                continue;
            }
            let holds = if def.trigger.segment.is_some() {
                // Only the writer sees the profile change that enters a segment; events
                // read back from the log do not enter anyone into one.
                seen.eligible.as_ref().is_some_and(|e| e.contains(id))
            } else if def.trigger.event.is_empty() || def.trigger.event != name {
                continue;
            } else {
                match &seen.eligible {
                    Some(eligible) => eligible.contains(id),
                    None => {
                        super::trigger_holds(def, m, profile.as_deref(), now, models.as_deref())
                    }
                }
            };
            if !holds {
                continue;
            }
            // Their runs of this journey, as this event left them (a goal may just have
            // ended one), then as stored.
            let mut theirs: Vec<&JourneyRun> = effects
                .write
                .runs
                .iter()
                .filter(|r| r.journey == def.id && persons.contains(&r.person))
                .collect();
            let updated: HashSet<&str> = theirs.iter().map(|r| r.id.as_str()).collect();
            theirs.extend(runs.iter().filter(|r| {
                r.journey == def.id
                    && persons.contains(&r.person)
                    && !updated.contains(r.id.as_str())
            }));
            if !may_reenter(def, &theirs, now) {
                continue;
            }
            let user_id = m
                .user_id
                .clone()
                .or_else(|| profile.as_ref().and_then(|p| p.user_ids.first().cloned()));
            let person = m
                .user_id
                .clone()
                .or_else(|| profile.as_ref().and_then(|p| p.user_ids.first().cloned()))
                .or_else(|| m.anonymous_id.clone());
            let Some(person) = person else { continue };
            let state = RunState {
                trigger: m.properties.clone(),
                user_id,
                anonymous_id: m.anonymous_id.clone(),
                ..RunState::default()
            };
            let run_id = format!("{id}:{seq}");
            let version = stored.versions.len() as u32;
            self.enter(
                def,
                version,
                run_id,
                person,
                state,
                profile.as_deref(),
                now,
                effects,
            );
        }
        Ok(())
    }

    /// Starts a run and takes its first steps.
    #[allow(
        clippy::too_many_arguments,
        reason = "the parts of a new run, kept explicit"
    )]
    pub(super) fn enter(
        &self,
        def: &Journey,
        version: u32,
        run_id: String,
        person: String,
        mut state: RunState,
        profile: Option<&Profile>,
        now: Millis,
        effects: &mut Effects,
    ) {
        let mut run = JourneyRun {
            id: run_id,
            journey: def.id.clone(),
            version,
            person,
            step: 0,
            status: RunStatus::Active,
            due_at: None,
            wait_event: None,
            entered_at: now,
            updated_at: now,
            state: String::new(),
        };
        state.control = def
            .control
            .as_ref()
            .is_some_and(|c| in_control(&def.id, &run.person, c.percent));
        effects.write.count(&def.id, JOURNEY_STEP, "entered");
        if state.control {
            effects
                .write
                .count(&def.id, JOURNEY_STEP, "entered:control");
        }
        effects
            .write
            .count(&def.id, def.steps[0].id.clone(), "reached");
        self.advance(&mut run, &mut state, def, now, profile, effects);
        run.state = serde_json::to_string(&state).unwrap_or_default();
        effects.write.runs.push(run);
    }

    /// Enters the people whose date trait has its anniversary today (in their time zone),
    /// from the trigger's hour. Runs are keyed by the local date, so each person enters at
    /// most once a year however often this looks.
    fn fire_dates(&mut self) -> Result<(), crate::error::EngineError> {
        let now = self.parts.clock.now();
        if now - self.last_date_scan < DATE_SCAN_EVERY {
            return Ok(());
        }
        let book = self.parts.journeys.book();
        let dated: Vec<(&Journey, u32)> = book
            .values()
            .filter(|s| !s.paused && s.current().trigger.date_trait.is_some())
            .map(|s| (s.current(), s.versions.len() as u32))
            .collect();
        self.last_date_scan = now;
        let models = self.parts.predictions.current();
        if dated.is_empty() {
            return Ok(());
        }
        // Candidates first, under the registry's read lock only.
        let mut candidates: Vec<Anniversary> = Vec::new();
        self.parts.live.with_registry(|registry| {
            for profile in registry.profiles() {
                let zone = Zone::of(Some(profile));
                let local = zone.local(now);
                let today = tailor_core::time::format_timestamp(local);
                let (today_date, month_day) = (&today[..10], &today[5..10]);
                for (j, (def, _)) in dated.iter().enumerate() {
                    let Some(d) = &def.trigger.date_trait else {
                        continue;
                    };
                    let anniversary = profile
                        .traits
                        .get(&d.trait_name)
                        .and_then(|v| v.value.as_str())
                        .and_then(tailor_core::time::parse_timestamp)
                        .map(|t| tailor_core::time::format_timestamp(t)[5..10].to_string());
                    if anniversary.as_deref() != Some(month_day) || local_hour(now, zone) < d.hour {
                        continue;
                    }
                    let Some(person) = profile
                        .user_ids
                        .first()
                        .or(profile.anonymous_ids.first())
                        .cloned()
                    else {
                        continue;
                    };
                    let ids: Vec<String> = profile.id_list();
                    candidates.push(Anniversary {
                        journey: j,
                        run_id: format!("{}:{today_date}:{person}", def.id),
                        ids,
                        profile: profile.clone(),
                        person,
                    });
                }
            }
        });
        let store = self.parts.store.clone();
        let mut effects = Effects::default();
        let empty = Message {
            kind: MessageType::Track,
            message_id: String::new(),
            user_id: None,
            anonymous_id: None,
            previous_id: None,
            group_id: None,
            event: None,
            name: None,
            properties: Map::new(),
            traits: Map::new(),
            context: Map::new(),
            integrations: Map::new(),
            timestamp: now,
            original_timestamp: None,
            sent_at: None,
            received_at: now,
        };
        for Anniversary {
            journey,
            run_id,
            ids,
            profile,
            person,
        } in candidates
        {
            let (def, version) = dated[journey];
            let runs = store.journey_runs_of(&ids)?;
            let theirs: Vec<&JourneyRun> = runs.iter().filter(|r| r.journey == def.id).collect();
            if theirs.iter().any(|r| r.id == run_id)
                || !may_reenter(def, &theirs, now)
                || !super::trigger_holds(def, &empty, Some(&profile), now, models.as_deref())
            {
                continue;
            }
            let state = RunState::of(&profile);
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
        self.commit(effects, None)
    }

    /// The goal happened: the run ends, leaving the audiences it joined if asked.
    fn convert(&self, run: &mut JourneyRun, def: &Journey, now: Millis, effects: &mut Effects) {
        let state = state_of(run);
        if def.goal.as_ref().is_some_and(|g| g.leave_audiences) {
            for audience in &state.audiences {
                effects.write.audience.push(super::audience_book::remove(
                    audience,
                    &run.person,
                    now,
                ));
            }
        }
        run.status = RunStatus::Converted;
        run.due_at = None;
        run.wait_event = None;
        run.updated_at = now;
        effects.write.count(&def.id, JOURNEY_STEP, "converted");
        if let Some(step) = def.steps.get(run.step as usize) {
            effects.write.count(&def.id, step.id.clone(), "converted");
        }
    }

    /// Fires the due timers, up to [`DUE_BATCH`]; how many.
    fn fire_due(&mut self) -> Result<usize, crate::error::EngineError> {
        let now = self.parts.clock.now();
        let store = self.parts.store.clone();
        let due = store.journey_runs_due(now, DUE_BATCH)?;
        if due.is_empty() {
            return Ok(0);
        }
        let fired = due.len();
        let book = self.parts.journeys.book();
        // One transaction for the whole pass: runs are independent of each other, and a
        // lost pass is simply fired again (its outbox keys and run ids are the same).
        let mut effects = Effects::default();
        for mut run in due {
            match book.get(&run.journey) {
                None => {
                    run.status = RunStatus::Stopped;
                    run.due_at = None;
                }
                Some(stored) if stored.paused => {
                    run.due_at = Some(now + PAUSED_RECHECK);
                }
                Some(stored) => match stored.version(run.version) {
                    None => {
                        run.status = RunStatus::Stopped;
                        run.due_at = None;
                    }
                    Some(def) => {
                        let profile = self.find(&run.person);
                        let mut state = state_of(&run);
                        self.advance(
                            &mut run,
                            &mut state,
                            def,
                            now,
                            profile.as_deref(),
                            &mut effects,
                        );
                        run.state = serde_json::to_string(&state).unwrap_or_default();
                    }
                },
            }
            run.updated_at = now;
            effects.write.runs.push(run);
        }
        self.commit(effects, None)?;
        Ok(fired)
    }

    fn go_to(&self, run: &mut JourneyRun, def: &Journey, to: usize, effects: &mut Effects) {
        run.step = to as u32;
        effects
            .write
            .count(&def.id, def.steps[to].id.clone(), "reached");
    }

    /// Moves a run forward from its current step until it waits or ends.
    fn advance(
        &self,
        run: &mut JourneyRun,
        state: &mut RunState,
        def: &Journey,
        now: Millis,
        profile: Option<&Profile>,
        effects: &mut Effects,
    ) {
        for _ in 0..MAX_STEPS_AT_ONCE {
            if state.steps_taken >= MAX_STEPS_PER_RUN {
                effects.write.count(&def.id, JOURNEY_STEP, "step_limit");
                self.finish(run, def, RunStatus::Completed, effects);
                return;
            }
            state.steps_taken += 1;
            let i = run.step as usize;
            let Some(step) = def.steps.get(i) else {
                self.finish(run, def, RunStatus::Completed, effects);
                return;
            };
            let mut next = def.next_of(i);
            match &step.action {
                Action::Wait { .. } | Action::WaitUntilSendTime { .. } => {
                    let until = match state.wait_until {
                        Some(t) => t,
                        None => {
                            let t = self.wait_end(&step.action, now, profile, run);
                            state.wait_until = Some(t);
                            t
                        }
                    };
                    if now < until {
                        run.due_at = Some(until);
                        return;
                    }
                    state.wait_until = None;
                }
                Action::WaitForEvent {
                    event,
                    timeout,
                    on_timeout,
                    ..
                } => match state.wait_until {
                    None => {
                        let until = now + parse_duration(timeout).unwrap_or(0);
                        state.wait_until = Some(until);
                        run.wait_event = Some(event.clone());
                        run.due_at = Some(until);
                        return;
                    }
                    Some(until) if now < until => {
                        run.due_at = Some(until);
                        return;
                    }
                    Some(_) => {
                        state.wait_until = None;
                        run.wait_event = None;
                        effects.write.count(&def.id, step.id.clone(), "timedOut");
                        next = def.step_index(on_timeout);
                    }
                },
                Action::Branch {
                    condition,
                    then,
                    otherwise,
                } => {
                    let models = self.parts.predictions.current();
                    let mut doc = crate::decide::visitor::attributes(
                        profile,
                        &Map::new(),
                        now,
                        crate::learn::predictions::for_condition(models.as_deref(), condition),
                    );
                    doc["event"] = Value::Object(state.trigger.clone());
                    let holds = tailor_core::condition::eval_condition(&doc, condition);
                    effects.write.count(
                        &def.id,
                        step.id.clone(),
                        if holds { "then" } else { "else" },
                    );
                    next = def.step_index(if holds { then } else { otherwise });
                }
                Action::Send { .. } | Action::Audience { .. } if state.control => {
                    effects
                        .write
                        .count(&def.id, step.id.clone(), "held:control");
                }
                Action::Send {
                    channel,
                    template,
                    url,
                    ttl,
                    max_views,
                } => {
                    let mut payload = json!({
                        "stepId": step.id, "template": template, "url": url,
                        "userId": state.user_id, "anonymousId": state.anonymous_id,
                        "trigger": state.trigger,
                    });
                    if *channel == super::definition::Channel::Onsite {
                        payload["ttl"] = json!(ttl);
                        payload["maxViews"] = json!(max_views);
                    }
                    effects.write.new_outbox.push(OutboxItem {
                        key: format!("{}:{i}", run.id),
                        run_id: run.id.clone(),
                        journey: def.id.clone(),
                        step: i as u32,
                        person: run.person.clone(),
                        channel: channel.as_str().into(),
                        payload: payload.to_string(),
                        priority: def.priority,
                        status: OutboxStatus::Pending,
                        attempts: 0,
                        next_at: now,
                        last_error: None,
                        created_at: now,
                        sent_at: None,
                    });
                    effects.write.count(&def.id, step.id.clone(), "queued");
                }
                Action::Audience { action, audience } => {
                    let op = match action {
                        AudienceAction::Add => {
                            let policy = self.parts.consent.policy();
                            if !policy.may(profile, Purpose::Advertising).allowed {
                                effects
                                    .write
                                    .count(&def.id, step.id.clone(), "skipped:no_consent");
                                None
                            } else {
                                if !state.audiences.contains(audience) {
                                    state.audiences.push(audience.clone());
                                }
                                Some(AudienceOp::Add)
                            }
                        }
                        AudienceAction::Remove => {
                            state.audiences.retain(|a| a != audience);
                            Some(AudienceOp::Remove)
                        }
                    };
                    if let Some(op) = op {
                        effects.write.audience.push(AudienceChange {
                            seq: 0,
                            audience: audience.clone(),
                            person: run.person.clone(),
                            op,
                            at: now,
                            match_keys: profile
                                .and_then(super::audiences::MatchKeys::of)
                                .map(|k| k.to_json()),
                        });
                        effects.write.count(&def.id, step.id.clone(), op.as_str());
                    }
                }
                Action::UpdateProfile { traits } => {
                    effects
                        .identifies
                        .push(identify(run, state, i, traits.clone(), now));
                    effects.write.count(&def.id, step.id.clone(), "updated");
                }
                Action::Exit => {
                    self.finish(run, def, RunStatus::Completed, effects);
                    return;
                }
            }
            match next {
                Some(n) => self.go_to(run, def, n, effects),
                None => {
                    self.finish(run, def, RunStatus::Completed, effects);
                    return;
                }
            }
        }
        // Only a definition validation let through could get here; park it visibly.
        tracing::error!(run = %run.id, "journeys: a run took too many steps at once; parked for a minute");
        run.due_at = Some(now + MINUTE);
    }

    fn finish(
        &self,
        run: &mut JourneyRun,
        def: &Journey,
        status: RunStatus,
        effects: &mut Effects,
    ) {
        run.status = status;
        run.due_at = None;
        run.wait_event = None;
        effects
            .write
            .count(&def.id, JOURNEY_STEP, status.to_string());
    }

    /// When a waiting step ends.
    fn wait_end(
        &self,
        action: &Action,
        now: Millis,
        profile: Option<&Profile>,
        run: &JourneyRun,
    ) -> Millis {
        match action {
            Action::Wait { duration } => now + parse_duration(duration).unwrap_or(0),
            Action::WaitUntilSendTime { default_hour } => {
                let zone = Zone::of(profile);
                let hour = self.best_hour(run, zone).unwrap_or(*default_hour);
                next_local_hour(now, zone, hour)
            }
            _ => now,
        }
    }

    /// The person's best send hour, local: the trained send-time model's (their opens shrunk
    /// toward their lifecycle stage's and everyone's pattern, so it has an answer for people
    /// who never opened one), else the hour they opened most emails in.
    fn best_hour(&self, run: &JourneyRun, zone: Zone) -> Option<u32> {
        let ids = self.parts.live.ids_of(&run.person);
        let events = self.parts.store.events_of(&ids, 2_000).ok()?;
        let now = self.parts.clock.now();
        if let (Some(models), Some(profile)) =
            (self.parts.predictions.current(), self.find(&run.person))
        {
            let opens: Vec<Millis> = events
                .iter()
                .filter(|e| e.message.event.as_deref() == Some("Email Opened"))
                .map(|e| e.message.timestamp)
                .collect();
            if let Some(utc) = models.predict(&profile, now, Some(&opens)).best_send_hour {
                // That UTC hour as the person's clock shows it today.
                let today = now - now.rem_euclid(DAY);
                return Some(local_hour(today + i64::from(utc) * HOUR, zone));
            }
        }
        let hours: Vec<u32> = events
            .iter()
            .filter(|e| e.message.event.as_deref() == Some("Email Opened"))
            .map(|e| local_hour(e.message.timestamp, zone))
            .collect();
        self.send_time.best_hour(&hours)
    }

    fn profile_of(&self, m: &Message) -> Option<Arc<Profile>> {
        self.parts.live.with_registry(|registry| {
            m.user_id
                .as_deref()
                .and_then(|u| registry.find(u))
                .or_else(|| m.anonymous_id.as_deref().and_then(|a| registry.find(a)))
                .cloned()
        })
    }

    fn find(&self, id: &str) -> Option<Arc<Profile>> {
        self.parts.live.with_registry(|r| r.find(id).cloned())
    }
}

/// A person whose date trait has its anniversary now, for one journey.
struct Anniversary {
    /// Index into the journeys scanned.
    journey: usize,
    run_id: String,
    ids: Vec<String>,
    profile: Arc<Profile>,
    person: String,
}

pub(crate) fn state_of(run: &JourneyRun) -> RunState {
    serde_json::from_str(&run.state).unwrap_or_default()
}

/// An identify setting `traits`, with a messageId unique to this run and step so a
/// repeated step is deduplicated by ingestion.
fn identify(
    run: &JourneyRun,
    state: &RunState,
    step: usize,
    traits: Map<String, Value>,
    now: Millis,
) -> Message {
    let digest = Sha256::digest(format!("{}:{step}", run.id).as_bytes());
    let hex = crate::govern::keys::hex(&digest[..16]);
    Message {
        kind: MessageType::Identify,
        message_id: format!("journey-{hex}"),
        user_id: state.user_id.clone(),
        anonymous_id: if state.user_id.is_none() {
            state
                .anonymous_id
                .clone()
                .or_else(|| Some(run.person.clone()))
        } else {
            None
        },
        previous_id: None,
        group_id: None,
        event: None,
        name: None,
        properties: Map::new(),
        traits,
        context: Map::new(),
        integrations: Map::new(),
        timestamp: now,
        original_timestamp: None,
        sent_at: None,
        received_at: now,
    }
}

/// The journey's re-entry rules, given the person's runs of it.
pub(super) fn may_reenter(def: &Journey, theirs: &[&JourneyRun], now: Millis) -> bool {
    let allowed = match def.reentry.policy {
        ReentryPolicy::Never => theirs.is_empty(),
        ReentryPolicy::AfterExit => !theirs.iter().any(|r| r.status == RunStatus::Active),
        ReentryPolicy::Always => true,
    };
    let cooling = def
        .reentry
        .cooldown
        .as_deref()
        .and_then(parse_duration)
        .is_some_and(|cooldown| theirs.iter().any(|r| r.entered_at + cooldown > now));
    allowed && !cooling
}
