//! The decision log of one placement in the Open Bandit Dataset's format, so the
//! off-policy estimators of `tailor eval ope` evaluate a candidate policy against the live
//! one before it ships (`GET /v1/decisions/export?placement=…`).
//!
//! One row per logged decision that showed something: `timestamp` (ms), `item_id` (the
//! shown candidate's index in the returned item list), `position` (1), `click` (1 when a
//! reward was joined to the decision: a click naming the shown item, or an order),
//! `propensity_score` (the logged propensity), `logging_policy` (which policy made the
//! answer: [`LoggingPolicy`]), `model_version` (the models' version at the decision), and
//! `user_feature_*`: the learning policy's features when the placement learns, else whether
//! the decision was personalized.
//!
//! Off-policy estimators assume one logging policy: a placement's log mixes the rules'
//! deterministic answers (propensity 1), a bandit's randomized ones and experiment
//! variations, and its policy changes over time. So the export is filtered by logging policy,
//! model version and time range ([`DecisionFilter`]), and says per row which policy logged
//! it, so `tailor eval ope` refuses a file that still mixes them.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::ops::Range;

use tailor_core::Millis;
use tailor_store::LoggedPlacement;

use crate::error::EngineError;

/// Which policy made a placement's answer, as the decision log shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LoggingPolicy {
    /// The placement's rules: deterministic, propensity 1.
    Rules,
    /// A learning policy (Thompson sampling, LinUCB) choosing among the eligible candidates.
    Bandit,
    /// An experiment's variation (propensity: the variation's weight).
    Experiment,
}

impl LoggingPolicy {
    pub const ALL: [LoggingPolicy; 3] = [Self::Rules, Self::Bandit, Self::Experiment];

    /// The policy behind a logged answer: an experiment's variation wins over the rest (it
    /// decided which treatment ran), then a learning policy (it logs its arms).
    pub fn of(entry: &LoggedPlacement) -> Self {
        if entry.experiment.is_some() {
            Self::Experiment
        } else if !entry.candidates.is_empty() {
            Self::Bandit
        } else {
            Self::Rules
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rules => "rules",
            Self::Bandit => "bandit",
            Self::Experiment => "experiment",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == name)
    }
}

/// Which decisions to export: one placement's, made within `during`, optionally only one
/// logging policy's and one model version's; at most `limit` (the newest).
#[derive(Debug, Clone)]
pub struct DecisionFilter {
    pub placement: String,
    pub during: Range<Millis>,
    pub policy: Option<LoggingPolicy>,
    pub model_version: Option<String>,
    pub limit: usize,
}

/// A placement's decisions as Open Bandit CSV, and the item ids behind the indexes.
pub struct DecisionExport {
    pub items: Vec<String>,
    pub csv: String,
    pub rows: usize,
    /// Rows per logging policy and per model version: more than one of either is a log
    /// off-policy estimators should not be given whole.
    pub policies: BTreeMap<&'static str, usize>,
    pub model_versions: BTreeMap<String, usize>,
}

impl super::Measure {
    /// The rows of the newest `filter.limit` decisions within `filter.during` that answered
    /// `filter.placement` (which the caller checked exists) and pass the filter. Blocks on
    /// disk.
    pub fn export_decisions(&self, filter: &DecisionFilter) -> Result<DecisionExport, EngineError> {
        self.decisions.flush();
        let decisions = self
            .store
            .recent_decisions(filter.during.clone(), filter.limit)?;
        let mut items: BTreeMap<String, usize> = BTreeMap::new();
        let mut rows = Vec::new();
        let mut width = 0;
        let mut policies: BTreeMap<&'static str, usize> = BTreeMap::new();
        let mut model_versions: BTreeMap<String, usize> = BTreeMap::new();
        for (d, rewards) in &decisions {
            let Some(entry) = d
                .placements
                .iter()
                .find(|p| p.placement == filter.placement)
            else {
                continue;
            };
            let Some(chosen) = entry.chosen.as_deref() else {
                continue;
            };
            let policy = LoggingPolicy::of(entry);
            if filter.policy.is_some_and(|p| p != policy)
                || filter
                    .model_version
                    .as_ref()
                    .is_some_and(|v| *v != d.model_version)
            {
                continue;
            }
            *policies.entry(policy.as_str()).or_default() += 1;
            *model_versions.entry(d.model_version.clone()).or_default() += 1;
            let propensity = entry.propensity;
            let features: Vec<f64> = if entry.features.is_empty() {
                vec![if d.personalized { 1.0 } else { 0.0 }]
            } else {
                entry.features.clone()
            };
            width = width.max(features.len());
            let click = rewards.iter().any(|r| {
                r.event == "Order Completed"
                    || matches!(r.event.as_str(), "Promotion Clicked" | "Product Clicked")
            });
            let next = items.len();
            let index = *items.entry(chosen.to_string()).or_insert(next);
            rows.push((
                d.at,
                index,
                click,
                propensity,
                policy,
                &d.model_version,
                features,
            ));
        }
        let mut csv = String::from(
            "timestamp,item_id,position,click,propensity_score,logging_policy,model_version",
        );
        for i in 0..width {
            let _ = write!(csv, ",user_feature_{i}");
        }
        csv.push('\n');
        for (at, item, click, propensity, policy, version, features) in &rows {
            let _ = write!(
                csv,
                "{at},{item},1,{},{propensity},{},{}",
                u8::from(*click),
                policy.as_str(),
                csv_field(version)
            );
            for i in 0..width {
                let _ = write!(csv, ",{}", features.get(i).copied().unwrap_or(0.0));
            }
            csv.push('\n');
        }
        let mut ids: Vec<(usize, String)> = items.into_iter().map(|(id, i)| (i, id)).collect();
        ids.sort();
        Ok(DecisionExport {
            items: ids.into_iter().map(|(_, id)| id).collect(),
            csv,
            rows: rows.len(),
            policies,
            model_versions,
        })
    }
}

/// A CSV field: quoted when it holds a comma, a quote or a line break.
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_logging_policy_is_read_from_the_logged_answer() {
        let rules = LoggedPlacement {
            propensity: 1.0,
            ..Default::default()
        };
        assert_eq!(LoggingPolicy::of(&rules), LoggingPolicy::Rules);
        let bandit = LoggedPlacement {
            candidates: vec!["a".into(), "b".into()],
            propensity: 0.4,
            ..Default::default()
        };
        assert_eq!(LoggingPolicy::of(&bandit), LoggingPolicy::Bandit);
        let experiment = LoggedPlacement {
            experiment: Some(("e".into(), "holdout".into())),
            ..bandit
        };
        assert_eq!(LoggingPolicy::of(&experiment), LoggingPolicy::Experiment);
        for p in LoggingPolicy::ALL {
            assert_eq!(LoggingPolicy::parse(p.as_str()), Some(p));
        }
        assert_eq!(LoggingPolicy::parse("thompson"), None);
        assert_eq!(csv_field("v1"), "v1");
        assert_eq!(csv_field("a,\"b\""), "\"a,\"\"b\"\"\"");
    }
}
