//! Journey definitions: the JSON shape, parsing that reports every problem at once, and
//! the graph checks (references, unreachable steps, cycles without a wait).

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tailor_core::time::{DAY, HOUR, MINUTE, SECOND};
use tailor_core::validate::Problems;
use tailor_core::{Millis, ValidationError};

pub use super::channels::Channel;
use super::templates::TemplateBook;

/// Longest wait a step may ask for.
const MAX_DURATION: Millis = 365 * DAY;
/// Most steps in one journey.
const MAX_STEPS: usize = 100;

/// A journey as stored and served.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Journey {
    pub id: String,
    #[serde(default)]
    pub name: String,
    pub trigger: Trigger,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goal: Option<Goal>,
    #[serde(default)]
    pub reentry: Reentry,
    /// Higher goes first when several journeys' messages are due for one person.
    #[serde(default)]
    pub priority: i64,
    /// A control group: this share of the people who enter get no messages, so the
    /// report (`GET /v1/journeys/{id}/report`) can compare the two.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control: Option<Control>,
    pub steps: Vec<Step>,
}

/// Most of the entrants a control group may hold back.
pub const MAX_CONTROL_PERCENT: f64 = 50.0;

/// A journey's control group: `percent` of the entrants, chosen by GrowthBook's hash of
/// the person keyed by the journey id (so the same person is in the same arm in every
/// version and on every node), enter and are counted but are sent nothing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Control {
    pub percent: f64,
    /// How long after entry a conversion, revenue or unsubscribe counts (default `"7d"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<String>,
}

impl Control {
    pub const DEFAULT_WINDOW: Millis = 7 * DAY;

    pub fn window(&self) -> Millis {
        self.window
            .as_deref()
            .and_then(parse_duration)
            .unwrap_or(Self::DEFAULT_WINDOW)
    }
}

/// What enters a person: a committed event with this name, the anniversary of a date
/// trait (`dateTrait`), when `condition` (GrowthBook syntax) holds over the profile's
/// attribute document plus `event` (the event's properties); or entering a segment
/// (`segment`: a condition over the attribute document `decide` sees, which starts to hold
/// after a change of the profile).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Trigger {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub event: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_trait: Option<DateTrigger>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<Value>,
}

/// Enters people once a year, on the month and day of a date trait (`"birthday":
/// "1990-03-04"`), from `hour` o'clock in their time zone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DateTrigger {
    #[serde(rename = "trait")]
    pub trait_name: String,
    #[serde(default = "default_hour")]
    pub hour: u32,
}

/// The event that ends a run successfully at any step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Goal {
    pub event: String,
    /// Remove the person from every audience this run added them to.
    #[serde(default)]
    pub leave_audiences: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ReentryPolicy {
    /// Once per person, ever.
    Never,
    /// Again once the previous run has ended (the default).
    #[default]
    AfterExit,
    /// Every matching event starts a run.
    Always,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Reentry {
    #[serde(default)]
    pub policy: ReentryPolicy,
    /// No new run within this long of the person's previous entry (e.g. `"7d"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cooldown: Option<String>,
}

/// (`deny_unknown_fields` does not work with `flatten`; `Journey::from_json` finds unknown
/// fields by comparing the input with the parsed step.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    pub id: String,
    #[serde(flatten)]
    pub action: Action,
    /// The step after this one; default: the next in the list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// How long an on-site message stays up when the step does not say.
pub const DEFAULT_ONSITE_TTL: Millis = 7 * DAY;
/// How many pages show an on-site message when the step does not say.
pub const DEFAULT_ONSITE_VIEWS: u32 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum AudienceAction {
    Add,
    Remove,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum Action {
    /// Wait a fixed time (`"1h"`, `"2d"`).
    Wait {
        duration: String,
    },
    /// Wait until the person's best send hour (see `send_time`).
    WaitUntilSendTime {
        #[serde(default = "default_hour")]
        default_hour: u32,
    },
    /// Wait for an event of the person; `on_event` if it comes within `timeout`, else
    /// `on_timeout`.
    WaitForEvent {
        event: String,
        timeout: String,
        on_event: String,
        on_timeout: String,
    },
    /// `then` when the condition holds over the attribute document, else `else`.
    Branch {
        condition: Value,
        then: String,
        #[serde(rename = "else")]
        otherwise: String,
    },
    /// Queue a message in the outbox.
    Send {
        channel: Channel,
        template: String,
        /// Where a `webhook` step posts.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        url: Option<String>,
        /// How long an `onsite` message stays up (default 7d).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ttl: Option<String>,
        /// How many pages show an `onsite` message (default 3).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_views: Option<u32>,
    },
    Audience {
        action: AudienceAction,
        audience: String,
    },
    /// Sets traits on the profile (through ingestion, as an identify).
    UpdateProfile {
        traits: Map<String, Value>,
    },
    Exit,
}

fn default_hour() -> u32 {
    10
}

impl Action {
    /// Steps that let time pass: a cycle must go through one.
    pub fn waits(&self) -> bool {
        matches!(
            self,
            Action::Wait { .. } | Action::WaitUntilSendTime { .. } | Action::WaitForEvent { .. }
        )
    }
}

/// Parses `"90s"`, `"15m"`, `"1h"`, `"2d"`, `"1w"` into milliseconds.
pub fn parse_duration(s: &str) -> Option<Millis> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = s.split_at(split);
    let n: Millis = n.parse().ok()?;
    let unit = match unit {
        "s" => SECOND,
        "m" => MINUTE,
        "h" => HOUR,
        "d" => DAY,
        "w" => 7 * DAY,
        _ => return None,
    };
    n.checked_mul(unit)
}

impl Journey {
    /// Parses a definition against the templates that ship, reporting every problem found
    /// (shape and meaning) at once.
    pub fn from_json(v: Value) -> Result<Journey, ValidationError> {
        Journey::from_json_with(v, &TemplateBook::default())
    }

    /// Parses a definition whose `send` steps use the templates of `templates` (the
    /// built-ins if it is empty).
    pub fn from_json_with(v: Value, templates: &TemplateBook) -> Result<Journey, ValidationError> {
        let built_ins;
        let templates = if templates.all().next().is_none() {
            built_ins = TemplateBook::new(&Default::default());
            &built_ins
        } else {
            templates
        };
        let mut problems = Problems::default();
        let Value::Object(mut top) = v else {
            return Err(ValidationError::one("a journey must be a JSON object"));
        };
        // Each step is parsed on its own, so one bad step does not hide the others.
        let steps = match top.remove("steps") {
            Some(Value::Array(steps)) => steps,
            Some(_) => {
                problems.push("`steps` must be an array");
                Vec::new()
            }
            None => {
                problems.push("`steps` is required");
                Vec::new()
            }
        };
        let mut parsed_steps = Vec::with_capacity(steps.len());
        for (i, step) in steps.into_iter().enumerate() {
            let label = step
                .get("id")
                .and_then(Value::as_str)
                .map_or(format!("steps[{i}]"), |id| format!("steps[{i}] ({id:?})"));
            let keys: Vec<String> = step
                .as_object()
                .map(|o| o.keys().cloned().collect())
                .unwrap_or_default();
            match serde_json::from_value::<Step>(step) {
                Ok(s) => {
                    let known = serde_json::to_value(&s).unwrap_or_default();
                    for k in keys {
                        if known.get(&k).is_none() {
                            problems.push(format!("{label}: unknown field `{k}`"));
                        }
                    }
                    parsed_steps.push(s);
                }
                Err(e) => problems.push(format!("{label}: {e}; types: wait, waitUntilSendTime, waitForEvent, branch, send, audience, updateProfile, exit")),
            }
        }
        top.insert("steps".into(), Value::Array(Vec::new()));
        let journey = match serde_json::from_value::<Journey>(Value::Object(top)) {
            Ok(mut j) => {
                j.steps = parsed_steps;
                Some(j)
            }
            Err(e) => {
                problems.push(format!("{e}"));
                None
            }
        };
        if let Some(j) = &journey
            && problems.is_empty()
        {
            j.check(&mut problems, templates);
        }
        match journey {
            Some(j) => problems.into_result(j),
            None => Err(problems
                .into_result(())
                .err()
                .unwrap_or_else(|| ValidationError::one("not a journey definition"))),
        }
    }

    /// Checks what parsing cannot: ids, references, durations, templates, reachability
    /// and cycles.
    pub fn check(&self, problems: &mut Problems, templates: &TemplateBook) {
        if self.id.is_empty()
            || self.id.len() > 100
            || !self
                .id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            problems.push(format!(
                "journey id {:?} must be 1-100 characters of letters, digits, '-', '_' or '.'",
                self.id
            ));
        }
        let t = &self.trigger;
        let kinds = usize::from(!t.event.is_empty())
            + usize::from(t.date_trait.is_some())
            + usize::from(t.segment.is_some());
        if kinds == 0
            || (kinds == 1
                && t.event.trim().is_empty()
                && t.date_trait.is_none()
                && t.segment.is_none())
        {
            problems.push(
                "`trigger.event` must name an event, e.g. \"Checkout Started\" (or use `trigger.dateTrait` or `trigger.segment`)",
            );
        } else if kinds > 1 {
            problems.push("a trigger has one of `event`, `dateTrait` or `segment`");
        }
        if let Some(d) = &t.date_trait
            && (d.trait_name.trim().is_empty() || d.hour > 23)
        {
            problems.push("`trigger.dateTrait` needs a `trait` name and an `hour` 0-23");
        }
        if let Some(c) = &t.segment {
            if let Err(e) = tailor_core::condition::validate_condition(c) {
                problems.push(format!("`trigger.segment`: {e}"));
            }
            if t.condition.is_some() {
                problems.push(
                    "a `segment` trigger is its own condition: put everything in `trigger.segment`",
                );
            }
        }
        if let Some(c) = &t.condition
            && let Err(e) = tailor_core::condition::validate_condition(c)
        {
            problems.push(format!("`trigger.condition`: {e}"));
        }
        if let Some(c) = &self.control {
            if !(c.percent > 0.0 && c.percent <= MAX_CONTROL_PERCENT) {
                problems.push(format!(
                    "`control.percent` must be more than 0 and at most {MAX_CONTROL_PERCENT}"
                ));
            }
            if let Some(w) = &c.window {
                check_duration("`control.window`", w, problems);
            }
        }
        if let Some(g) = &self.goal
            && g.event.trim().is_empty()
        {
            problems.push("`goal.event` must name an event, e.g. \"Order Completed\"");
        }
        if let Some(c) = &self.reentry.cooldown {
            check_duration("`reentry.cooldown`", c, problems);
        }
        if self.steps.is_empty() {
            problems.push("a journey needs at least one step");
            return;
        }
        if self.steps.len() > MAX_STEPS {
            problems.push(format!("a journey has at most {MAX_STEPS} steps"));
        }
        let mut index: HashMap<&str, usize> = HashMap::new();
        for (i, s) in self.steps.iter().enumerate() {
            if s.id.is_empty() {
                problems.push(format!("steps[{i}] needs an `id`"));
            } else if index.insert(&s.id, i).is_some() {
                problems.push(format!("step id {:?} is used twice", s.id));
            }
        }
        let reference = |from: &str, field: &str, to: &str, problems: &mut Problems| {
            if !index.contains_key(to) {
                problems.push(format!(
                    "step {from:?}: `{field}` names {to:?}, which is not a step of this journey"
                ));
            }
        };
        for s in &self.steps {
            let at = format!("step {:?}", s.id);
            if let Some(n) = &s.next {
                reference(&s.id, "next", n, problems);
            }
            match &s.action {
                Action::Wait { duration } => check_duration(&at, duration, problems),
                Action::WaitUntilSendTime { default_hour } => {
                    if *default_hour > 23 {
                        problems.push(format!("{at}: `defaultHour` must be 0-23"));
                    }
                }
                Action::WaitForEvent {
                    event,
                    timeout,
                    on_event,
                    on_timeout,
                } => {
                    if event.trim().is_empty() {
                        problems.push(format!("{at}: `event` must name an event"));
                    }
                    check_duration(&at, timeout, problems);
                    reference(&s.id, "onEvent", on_event, problems);
                    reference(&s.id, "onTimeout", on_timeout, problems);
                }
                Action::Branch {
                    condition,
                    then,
                    otherwise,
                } => {
                    if let Err(e) = tailor_core::condition::validate_condition(condition) {
                        problems.push(format!("{at}: `condition`: {e}"));
                    }
                    reference(&s.id, "then", then, problems);
                    reference(&s.id, "else", otherwise, problems);
                }
                Action::Send {
                    channel,
                    template,
                    url,
                    ttl,
                    max_views,
                } => {
                    if *channel != Channel::Onsite && (ttl.is_some() || max_views.is_some()) {
                        problems.push(format!(
                            "{at}: `ttl` and `maxViews` are only for onsite steps"
                        ));
                    }
                    if let Some(t) = ttl {
                        check_duration(&format!("{at}: `ttl`"), t, problems);
                    }
                    if max_views.is_some_and(|n| n == 0 || n > 100) {
                        problems.push(format!("{at}: `maxViews` must be 1-100"));
                    }
                    if let Err(e) = templates.usable(*channel, template) {
                        problems.push(format!("{at}: {e}"));
                    }
                    match (channel, url) {
                        (Channel::Webhook, None) => {
                            problems.push(format!("{at}: a webhook step needs a `url`"))
                        }
                        (Channel::Webhook, Some(u))
                            if !(u.starts_with("http://") || u.starts_with("https://")) =>
                        {
                            problems.push(format!("{at}: `url` must be an http(s) URL"))
                        }
                        (Channel::Email | Channel::Sms | Channel::Push | Channel::Onsite, Some(_)) => problems.push(format!(
                            "{at}: `url` is only for webhook steps (email, sms and push go to the configured providers, onsite to `decide`)"
                        )),
                        _ => {}
                    }
                }
                Action::Audience { audience, .. } => {
                    if audience.trim().is_empty() || audience.len() > 100 {
                        problems.push(format!(
                            "{at}: `audience` must be a name of 1-100 characters"
                        ));
                    }
                }
                Action::UpdateProfile { traits } => {
                    if traits.is_empty() {
                        problems.push(format!("{at}: `traits` must set at least one trait"));
                    }
                }
                Action::Exit => {}
            }
        }
        if !problems.is_empty() {
            return;
        }
        let edges: Vec<Vec<usize>> = (0..self.steps.len())
            .map(|i| self.successors(i, &index))
            .collect();
        // Reachability from the first step.
        let mut seen = vec![false; self.steps.len()];
        let mut stack = vec![0];
        while let Some(i) = stack.pop() {
            if std::mem::replace(&mut seen[i], true) {
                continue;
            }
            stack.extend(&edges[i]);
        }
        for (i, s) in self.steps.iter().enumerate() {
            if !seen[i] {
                problems.push(format!(
                    "step {:?} is unreachable from the first step",
                    s.id
                ));
            }
        }
        // A cycle through steps that do not wait would run forever in one instant.
        let mut state = vec![0u8; self.steps.len()];
        for start in 0..self.steps.len() {
            if let Some(cycle) = instant_cycle(start, &edges, &self.steps, &mut state) {
                let names: Vec<&str> = cycle.iter().map(|&i| self.steps[i].id.as_str()).collect();
                problems.push(format!(
                    "steps {} form a cycle without a wait step",
                    names.join(" → ")
                ));
                break;
            }
        }
    }

    /// The steps a step can lead to.
    fn successors(&self, i: usize, index: &HashMap<&str, usize>) -> Vec<usize> {
        let step = &self.steps[i];
        let by_id = |id: &str| index.get(id).copied();
        let next = step
            .next
            .as_deref()
            .and_then(by_id)
            .or(if i + 1 < self.steps.len() {
                Some(i + 1)
            } else {
                None
            });
        match &step.action {
            Action::Exit => Vec::new(),
            Action::Branch {
                then, otherwise, ..
            } => [by_id(then), by_id(otherwise)]
                .into_iter()
                .flatten()
                .collect(),
            Action::WaitForEvent {
                on_event,
                on_timeout,
                ..
            } => [by_id(on_event), by_id(on_timeout)]
                .into_iter()
                .flatten()
                .collect(),
            _ => next.into_iter().collect(),
        }
    }

    /// The index of the step with this id.
    pub fn step_index(&self, id: &str) -> Option<usize> {
        self.steps.iter().position(|s| s.id == id)
    }

    /// The step after `i` when it does not jump: `next`, else the following one.
    pub fn next_of(&self, i: usize) -> Option<usize> {
        match &self.steps[i].next {
            Some(id) => self.step_index(id),
            None if i + 1 < self.steps.len() => Some(i + 1),
            None => None,
        }
    }

    /// Every event name this journey reacts to (trigger, goal, waits).
    pub fn event_names(&self) -> HashSet<String> {
        let mut names = HashSet::new();
        if !self.trigger.event.is_empty() {
            names.insert(self.trigger.event.clone());
        }
        if let Some(g) = &self.goal {
            names.insert(g.event.clone());
        }
        for s in &self.steps {
            if let Action::WaitForEvent { event, .. } = &s.action {
                names.insert(event.clone());
            }
        }
        names
    }
}

fn check_duration(at: &str, d: &str, problems: &mut Problems) {
    match parse_duration(d) {
        Some(ms) if ms > 0 && ms <= MAX_DURATION => {}
        Some(_) => problems.push(format!(
            "{at}: duration {d:?} must be more than 0 and at most 365d"
        )),
        None => problems.push(format!(
            "{at}: {d:?} is not a duration; write a number and a unit: s, m, h, d or w (\"90m\", \"2d\")"
        )),
    }
}

/// Finds a cycle reachable from `start` whose steps all run without waiting
/// (depth-first, 0 = unvisited, 1 = on the stack, 2 = done).
fn instant_cycle(
    start: usize,
    edges: &[Vec<usize>],
    steps: &[Step],
    state: &mut [u8],
) -> Option<Vec<usize>> {
    fn visit(
        i: usize,
        edges: &[Vec<usize>],
        steps: &[Step],
        state: &mut [u8],
        path: &mut Vec<usize>,
    ) -> Option<Vec<usize>> {
        if steps[i].action.waits() {
            return None;
        }
        match state[i] {
            1 => {
                let from = path.iter().position(|&p| p == i).unwrap_or(0);
                let mut cycle = path[from..].to_vec();
                cycle.push(i);
                return Some(cycle);
            }
            2 => return None,
            _ => {}
        }
        state[i] = 1;
        path.push(i);
        for &n in &edges[i] {
            if let Some(c) = visit(n, edges, steps, state, path) {
                return Some(c);
            }
        }
        path.pop();
        state[i] = 2;
        None
    }
    visit(start, edges, steps, state, &mut Vec::new())
}

/// A journey with its versions and whether it is paused, as kept in the store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredJourney {
    /// Every version, oldest first; runs keep the version they entered with.
    pub versions: Vec<Journey>,
    pub paused: bool,
    pub updated_at: Millis,
}

impl StoredJourney {
    pub fn current(&self) -> &Journey {
        // A stored journey always has a version: `put` creates it with one.
        &self.versions[self.versions.len() - 1]
    }
    pub fn version(&self, v: u32) -> Option<&Journey> {
        self.versions.get((v as usize).checked_sub(1)?)
    }
}

/// All journeys by id.
pub type JourneyBook = BTreeMap<String, StoredJourney>;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn problems(v: Value) -> Vec<String> {
        Journey::from_json(v)
            .err()
            .map(|e| e.problems)
            .unwrap_or_default()
    }

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("90s"), Some(90_000));
        assert_eq!(parse_duration("2d"), Some(2 * DAY));
        assert_eq!(parse_duration("1w"), Some(7 * DAY));
        assert_eq!(parse_duration("h"), None);
        assert_eq!(parse_duration("5y"), None);
        assert_eq!(parse_duration("99999999999999999999d"), None);
    }

    #[test]
    fn every_bad_step_is_reported_at_once() {
        let p = problems(json!({
            "id": "j", "trigger": {"event": "Checkout Started"},
            "steps": [
                {"id": "a", "type": "teleport"},
                {"id": "b", "type": "wait", "duration": "soon"},
                {"id": "c", "type": "send", "channel": "fax", "template": "x"},
            ]
        }));
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(p[0].contains("\"a\"") && p[0].contains("teleport"), "{p:?}");
        assert!(p[1].contains("\"c\"") && p[1].contains("fax"), "{p:?}");
    }

    #[test]
    fn meaning_is_checked_after_shape() {
        let p = problems(json!({
            "id": "bad id!", "trigger": {"event": ""},
            "steps": [
                {"id": "a", "type": "wait", "duration": "soon"},
                {"id": "a", "type": "send", "channel": "email", "template": "nope"},
                {"id": "b", "type": "branch", "condition": {"orders": {"$gt": 0}}, "then": "zzz", "else": "a"},
                {"id": "w", "type": "send", "channel": "webhook", "template": "event"},
            ]
        }));
        let all = p.join("\n");
        for needle in [
            "bad id!",
            "trigger.event",
            "\"soon\"",
            "used twice",
            "no email template \"nope\"",
            "\"zzz\"",
            "needs a `url`",
        ] {
            assert!(all.contains(needle), "missing {needle:?} in {all}");
        }
    }

    #[test]
    fn unreachable_steps_and_instant_cycles_are_refused() {
        let p = problems(json!({
            "id": "j", "trigger": {"event": "E"},
            "steps": [
                {"id": "a", "type": "branch", "condition": {}, "then": "b", "else": "b"},
                {"id": "b", "type": "audience", "action": "add", "audience": "x", "next": "a"},
                {"id": "orphan", "type": "exit"},
            ]
        }));
        let all = p.join("\n");
        assert!(all.contains("\"orphan\" is unreachable"), "{all}");
        assert!(all.contains("cycle without a wait"), "{all}");
        // The same loop with a wait in it is fine.
        let ok = Journey::from_json(json!({
            "id": "j", "trigger": {"event": "E"},
            "steps": [
                {"id": "a", "type": "branch", "condition": {}, "then": "b", "else": "b"},
                {"id": "b", "type": "wait", "duration": "1d", "next": "a"},
            ]
        }));
        assert!(ok.is_ok(), "{ok:?}");
    }

    #[test]
    fn the_shipped_templates_are_valid() {
        for t in super::super::templates::journeys() {
            let j: Journey = serde_json::from_value(t.clone()).expect("template parses");
            Journey::from_json(t).unwrap_or_else(|e| panic!("{}: {e}", j.id));
        }
    }
}
