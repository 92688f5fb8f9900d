//! Experiments and holdouts on placements: definitions (`/v1/experiments`), GrowthBook-
//! compatible assignment made sticky by recorded exposures, and the per-variation results.
//!
//! An experiment varies one placement (or every placement: `"placement": "*"`, which makes a
//! global holdout). Each variation says what the placement does for its visitors:
//! `personalized` (the normal answer), `editorial` (what everyone sees: a holdout), or
//! `content` (show this banner or promotion). Assignment hashes the visitor with
//! GrowthBook's algorithm (`tailor_core::experiment`, the cross-SDK cases pass) on the
//! request's anonymousId, else its userId. The first exposure of each of the visitor's ids
//! is recorded (`Store::log_exposures`, off the request path); later decisions look every id
//! of the person up first, so a visitor who logs in keeps the variation they saw
//! anonymously, on every node and after restarts.

use std::collections::HashMap;

use parking_lot::RwLock;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tailor_core::experiment::{Experiment, ExperimentContext, Namespace, run};
use tailor_core::{Millis, ValidationError};
use tailor_store::Exposure;

/// What a variation does to its placement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Treatment {
    Personalized,
    Editorial,
    Content,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variation {
    pub id: String,
    pub treatment: Treatment,
    /// The content item shown, for `content`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Draft,
    #[default]
    Running,
    Stopped,
}

/// An experiment on a placement, as `PUT /v1/experiments/{id}` takes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PlacementExperiment {
    pub id: String,
    /// The placement it varies, or `*` for all of them (a global holdout).
    pub placement: String,
    pub variations: Vec<Variation>,
    /// Traffic per variation, summing to 1; equal when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights: Option<Vec<f64>>,
    /// The share of eligible visitors in the experiment at all (the rest see the placement
    /// as usual and are not counted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coverage: Option<f64>,
    /// Who is eligible: a targeting condition over the visitor attributes `decide` uses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<Namespace>,
    #[serde(default)]
    pub status: Status,
    /// RFC 3339; outside `[startAt, endAt)` nobody is enrolled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_at: Option<String>,
    /// Events whose rate is measured besides the standard metrics (`Product Added`,
    /// `Promotion Clicked`, any event): the share of units who send one after exposure.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub goals: Vec<String>,
}

/// At most this many goal events per experiment.
pub const MAX_GOALS: usize = 10;

impl PlacementExperiment {
    /// The GrowthBook experiment that assigns its visitors.
    pub fn growthbook(&self) -> Experiment {
        let mut e = Experiment::new(
            self.id.clone(),
            self.variations.iter().map(|v| json!(v.id)).collect(),
        );
        e.weights = self.weights.clone();
        e.coverage = self.coverage;
        e.condition = self.condition.clone();
        e.namespace = self.namespace.clone();
        e.hash_attribute = Some("id".into());
        e.hash_version = Some(2);
        e
    }

    /// Every problem at once: GrowthBook's own checks (weights, coverage, namespace,
    /// condition), then Tailor's (placement, variations, dates).
    pub fn validate(
        &self,
        placement_exists: impl Fn(&str) -> bool,
        content_exists: impl Fn(&str) -> bool,
    ) -> Result<(), ValidationError> {
        let mut problems = match self.growthbook().validate() {
            Ok(()) => Vec::new(),
            Err(e) => e.problems,
        };
        if self.id.trim().is_empty() {
            problems.push("`id` must not be empty".into());
        }
        if self.placement != "*" && !placement_exists(&self.placement) {
            problems.push(format!(
                "placement {:?} does not exist (use \"*\" for every placement)",
                self.placement
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for v in &self.variations {
            if !seen.insert(&v.id) {
                problems.push(format!("variation id {:?} is used twice", v.id));
            }
            match (v.treatment, &v.content) {
                (Treatment::Content, None) => problems.push(format!(
                    "variation {:?}: treatment \"content\" needs `content`: a content item id",
                    v.id
                )),
                (Treatment::Content, Some(c)) if !content_exists(c) => problems.push(format!(
                    "variation {:?}: content item {c:?} does not exist",
                    v.id
                )),
                (Treatment::Personalized | Treatment::Editorial, Some(_)) => {
                    problems.push(format!(
                        "variation {:?}: `content` goes with treatment \"content\"",
                        v.id
                    ))
                }
                _ => {}
            }
        }
        if self.goals.len() > MAX_GOALS {
            problems.push(format!("`goals`: at most {MAX_GOALS} events"));
        }
        for g in &self.goals {
            if g.trim().is_empty() || g.len() > 200 {
                problems.push(format!(
                    "`goals`: {g:?} is not an event name (1 to 200 characters)"
                ));
            }
        }
        for (field, at) in [("startAt", &self.start_at), ("endAt", &self.end_at)] {
            if let Some(at) = at
                && tailor_core::time::parse_timestamp(at).is_none()
            {
                problems.push(format!("`{field}` {at:?} is not an RFC 3339 time"));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ValidationError { problems })
        }
    }

    fn live(&self, now: Millis) -> bool {
        let at = |s: &Option<String>| s.as_deref().and_then(tailor_core::time::parse_timestamp);
        self.status == Status::Running
            && at(&self.start_at).is_none_or(|t| now >= t)
            && at(&self.end_at).is_none_or(|t| now < t)
    }

    /// The probability of `variation` for an enrolled visitor.
    pub fn weight(&self, variation: usize) -> f64 {
        match &self.weights {
            Some(w) => w.get(variation).copied().unwrap_or(0.0),
            None => 1.0 / self.variations.len().max(1) as f64,
        }
    }
}

/// A visitor's variation in one experiment, as a decision reports and logs it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Assigned {
    pub experiment: String,
    pub variation: String,
    #[serde(skip)]
    pub index: usize,
    #[serde(skip)]
    pub treatment: Treatment,
    #[serde(skip)]
    pub content: Option<String>,
    /// The probability of this variation (for off-policy evaluation).
    #[serde(skip)]
    pub weight: f64,
}

/// The experiments and everyone's first exposures.
#[derive(Default)]
pub struct Experiments {
    defs: RwLock<Vec<PlacementExperiment>>,
    /// (experiment, id) → (variation, first exposure time).
    first: RwLock<HashMap<(String, String), (u32, Millis)>>,
}

impl Experiments {
    pub fn new(defs: Vec<PlacementExperiment>, exposures: Vec<Exposure>) -> Self {
        let first = exposures
            .into_iter()
            .map(|e| ((e.experiment, e.id), (e.variation, e.at)))
            .collect();
        Self {
            defs: RwLock::new(defs),
            first: RwLock::new(first),
        }
    }

    pub fn list(&self) -> Vec<PlacementExperiment> {
        self.defs.read().clone()
    }

    pub fn replace(&self, defs: Vec<PlacementExperiment>) {
        *self.defs.write() = defs;
    }

    /// Whether any of `ids` was exposed to the `editorial` (control) variation of a live
    /// global holdout (`"placement": "*"`): journeys send such people nothing, so the
    /// holdout measures personalization and messaging together.
    pub fn in_holdout(&self, ids: &[String], now: Millis) -> bool {
        let defs = self.defs.read();
        let first = self.first.read();
        defs.iter()
            .filter(|e| e.placement == "*" && e.live(now))
            .any(|e| {
                ids.iter().any(|id| {
                    first
                        .get(&(e.id.clone(), id.clone()))
                        .and_then(|(v, _)| e.variations.get(*v as usize))
                        .is_some_and(|v| v.treatment == Treatment::Editorial)
                })
            })
    }

    /// Whether a live experiment on `placement` (or on every placement) has an eligibility
    /// condition that reads predictions.
    pub fn reads_predictions(&self, placement: &str, now: Millis) -> bool {
        self.defs.read().iter().any(|e| {
            (e.placement == placement || e.placement == "*")
                && e.live(now)
                && e.condition
                    .as_ref()
                    .is_some_and(tailor_core::condition::reads_predictions)
        })
    }

    /// Whether any experiment is live (decisions skip the rest otherwise).
    pub fn any_live(&self, now: Millis) -> bool {
        self.defs.read().iter().any(|e| e.live(now))
    }

    /// The variation of the live experiment on `placement` (the placement's own first, then
    /// a global one) for a visitor known by `ids` (the request's and their profile's), hashed
    /// on `hash_id`, with `attributes` for the eligibility condition. New exposures are
    /// appended to `exposures` for the log.
    pub fn assign(
        &self,
        placement: &str,
        ids: &[&str],
        hash_id: &str,
        attributes: &Value,
        now: Millis,
        exposures: &mut Vec<Exposure>,
    ) -> Option<Assigned> {
        let defs = self.defs.read();
        let exp = defs
            .iter()
            .filter(|e| e.live(now))
            .find(|e| e.placement == placement)
            .or_else(|| {
                defs.iter()
                    .filter(|e| e.live(now))
                    .find(|e| e.placement == "*")
            })?;
        let sticky = {
            let first = self.first.read();
            ids.iter()
                .filter_map(|id| first.get(&(exp.id.clone(), id.to_string())))
                .min_by_key(|(_, at)| *at)
                .map(|(v, _)| *v as usize)
        };
        let index = match sticky {
            Some(v) if v < exp.variations.len() => v,
            _ => {
                let mut attrs: Map<String, Value> =
                    attributes.as_object().cloned().unwrap_or_default();
                attrs.insert("id".into(), Value::String(hash_id.to_string()));
                let result = run(
                    &exp.growthbook(),
                    &ExperimentContext::with_attributes(attrs),
                );
                if !result.in_experiment {
                    return None;
                }
                result.variation_id
            }
        };
        // Every id of theirs not yet recorded gets this variation, so any of them finds it.
        {
            let mut first = self.first.write();
            for id in ids {
                let key = (exp.id.clone(), id.to_string());
                if let std::collections::hash_map::Entry::Vacant(slot) = first.entry(key) {
                    slot.insert((index as u32, now));
                    exposures.push(Exposure {
                        experiment: exp.id.clone(),
                        id: id.to_string(),
                        variation: index as u32,
                        at: now,
                    });
                }
            }
        }
        let v = &exp.variations[index];
        Some(Assigned {
            experiment: exp.id.clone(),
            variation: v.id.clone(),
            index,
            treatment: v.treatment,
            content: v.content.clone(),
            weight: exp.weight(index),
        })
    }

    /// The ids exposed to `experiment`: id → (variation, first exposure).
    pub fn exposed(&self, experiment: &str) -> Vec<(String, u32, Millis)> {
        self.first
            .read()
            .iter()
            .filter(|((e, _), _)| e == experiment)
            .map(|((_, id), (v, at))| (id.clone(), *v, *at))
            .collect()
    }

    /// Forgets the exposures of erased ids.
    pub fn forget(&self, ids: &[String]) {
        self.first.write().retain(|(_, id), _| !ids.contains(id));
    }
}
