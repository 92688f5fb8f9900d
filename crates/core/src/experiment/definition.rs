//! What an experiment is: GrowthBook's experiment object, typed, and the save-time check
//! that refuses a definition that would not split traffic the way it reads.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::buckets::BucketRange;
use super::namespace::Namespace;
use crate::condition::validate_condition;
use crate::validate::{Problems, ValidationError};

/// An A/B/n test: which variations exist, who may enter, and how traffic is split.
///
/// Field names and meanings are GrowthBook's (`camelCase` on the wire), so a definition
/// exported from GrowthBook runs here unchanged and assigns the same variations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Experiment {
    /// Identifies the experiment; also the hash seed unless `seed` is set.
    pub key: String,
    /// What each variation serves (any JSON). Index 0 is the control.
    pub variations: Vec<Value>,
    /// Share of enrolled traffic per variation; equal when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights: Option<Vec<f64>>,
    /// Share of eligible visitors who enter at all; 1 when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coverage: Option<f64>,
    /// Targeting: a GrowthBook condition on the visitor's attributes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<Value>,
    /// Prerequisites: conditions on other features' values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parent_conditions: Vec<ParentCondition>,
    /// Mutual exclusion with other experiments of the same namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<Namespace>,
    /// GrowthBook's newer form of namespaces; when present, `namespace` is ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filters: Option<Vec<Filter>>,
    /// Explicit bucket ranges; when present, `weights` and `coverage` are ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ranges: Option<Vec<BucketRange>>,
    /// The attribute whose value is hashed; `id` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash_attribute: Option<String>,
    /// Hashed when `hash_attribute` is empty, with sticky bucketing on: lets an anonymous
    /// visitor keep their variation after they log in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback_attribute: Option<String>,
    /// 1 (GrowthBook's original hash, the default) or 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash_version: Option<u32>,
    /// Hash seed; `key` when absent or empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<String>,
    /// `false` stops enrollment; forced variations still apply.
    #[serde(default = "active_by_default")]
    pub active: bool,
    /// GrowthBook's lifecycle: `draft` enrolls nobody, `stopped` serves the control.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ExperimentStatus>,
    /// Serve this variation to every visitor who would have been enrolled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub force: Option<i64>,
    /// Per-variation key, name and passthrough flag; keys are what sticky buckets store.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub meta: Vec<VariationMeta>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disable_sticky_bucketing: bool,
    /// Raising it re-buckets everyone (their old sticky bucket is ignored).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub bucket_version: u32,
    /// Visitors with a sticky bucket from an older version leave the experiment.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub min_bucket_version: u32,
}

fn active_by_default() -> bool {
    true
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExperimentStatus {
    Draft,
    Running,
    Stopped,
}

/// A prerequisite: the feature `id` must have a value satisfying `condition`, written
/// against `{"value": …}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParentCondition {
    pub id: String,
    #[serde(default)]
    pub condition: Value,
}

/// A visitor takes part only if the hash of `attribute` (seeded `seed`) falls in one of
/// `ranges`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Filter {
    pub seed: String,
    pub ranges: Vec<BucketRange>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attribute: Option<String>,
    /// 2 when absent (unlike the experiment's own hash, which defaults to 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash_version: Option<u32>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VariationMeta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Enrolled and logged, but the caller serves its default instead.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub passthrough: bool,
}

/// How far the weights may be from summing to 1 before a definition is refused: enough
/// for decimal fractions like thirds written to six places.
const WEIGHT_SUM_TOLERANCE: f64 = 1e-6;

impl Experiment {
    /// A running experiment with these variations and every option at its default.
    pub fn new(key: impl Into<String>, variations: Vec<Value>) -> Self {
        Self {
            key: key.into(),
            variations,
            weights: None,
            coverage: None,
            condition: None,
            parent_conditions: Vec::new(),
            namespace: None,
            filters: None,
            ranges: None,
            hash_attribute: None,
            fallback_attribute: None,
            hash_version: None,
            seed: None,
            active: true,
            status: None,
            force: None,
            meta: Vec::new(),
            name: None,
            disable_sticky_bucketing: false,
            bucket_version: 0,
            min_bucket_version: 0,
        }
    }

    /// Refuses a definition that GrowthBook's SDKs would silently repair or that could
    /// never enroll anyone, reporting every problem at once.
    ///
    /// At run time [`run`](super::run()) stays GrowthBook-compatible (bad weights fall back to
    /// equal ones, coverage is clamped, an unknown hash version enrolls nobody), so an
    /// experiment imported without validation still assigns what GrowthBook assigns.
    /// Validation is the stricter gate for definitions made in Tailor.
    pub fn validate(&self) -> Result<(), ValidationError> {
        let mut problems = Problems::default();
        let n = self.variations.len();
        if self.key.trim().is_empty() {
            problems.push("key: must not be empty");
        }
        if n < 2 {
            problems.push(format!(
                "variations: an experiment needs at least 2 variations (a control and a \
                 challenger), got {n}; with fewer nobody is enrolled"
            ));
        }
        if let Some(weights) = &self.weights {
            check_weights(weights, n, &mut problems);
        }
        if let Some(coverage) = self.coverage {
            if !(0.0..=1.0).contains(&coverage) {
                problems.push(format!("coverage: must be between 0 and 1, got {coverage}"));
            } else if coverage == 0.0 && self.ranges.is_none() {
                problems.push(
                    "coverage: 0 sends the experiment no traffic; set `active: false` to pause it",
                );
            }
        }
        if let Some(namespace) = &self.namespace {
            check_namespace(namespace, &mut problems);
        }
        if let Some(ranges) = &self.ranges {
            check_ranges("ranges", ranges, Some(n), &mut problems);
            if self.weights.is_some() || self.coverage.is_some() {
                problems.push(
                    "ranges: explicit ranges replace weights and coverage; give one or the other",
                );
            }
        }
        if self.filters.is_some() && self.namespace.is_some() {
            problems.push("filters: filters replace the namespace; give one or the other");
        }
        for (i, filter) in self.filters.iter().flatten().enumerate() {
            let at = format!("filters[{i}]");
            check_ranges(&format!("{at}.ranges"), &filter.ranges, None, &mut problems);
            check_hash_version(&at, filter.hash_version, &mut problems);
        }
        check_hash_version("", self.hash_version, &mut problems);
        if let Some(force) = self.force
            && usize::try_from(force).map_or(true, |i| i >= n)
        {
            problems.push(format!(
                "force: {force} is not a variation index (0 to {})",
                n.saturating_sub(1)
            ));
        }
        check_meta(&self.meta, n, &mut problems);
        if let Some(condition) = &self.condition
            && let Err(e) = validate_condition(condition)
        {
            problems.push(format!("condition: {e}"));
        }
        for (i, parent) in self.parent_conditions.iter().enumerate() {
            if parent.id.trim().is_empty() {
                problems.push(format!("parentConditions[{i}].id: must not be empty"));
            }
            if let Err(e) = validate_condition(&parent.condition) {
                problems.push(format!("parentConditions[{i}].condition: {e}"));
            }
        }
        if self.min_bucket_version > self.bucket_version {
            problems.push(format!(
                "minBucketVersion: {} is above bucketVersion {}, which would exclude everyone \
                 who already has a sticky bucket",
                self.min_bucket_version, self.bucket_version
            ));
        }
        problems.into_result(())
    }
}

fn check_weights(weights: &[f64], num_variations: usize, problems: &mut Problems) {
    if weights.len() != num_variations {
        problems.push(format!(
            "weights: {} weights for {num_variations} variations; give one per variation",
            weights.len()
        ));
    }
    if let Some(bad) = weights.iter().find(|w| !w.is_finite() || **w < 0.0) {
        problems.push(format!("weights: {bad} is not a share of traffic (0 to 1)"));
    }
    let total: f64 = weights.iter().sum();
    if (total - 1.0).abs() > WEIGHT_SUM_TOLERANCE {
        problems.push(format!(
            "weights: must sum to 1, they sum to {total} (GrowthBook would silently split \
             traffic equally instead)"
        ));
    }
}

fn check_namespace(namespace: &Namespace, problems: &mut Problems) {
    if namespace.id.trim().is_empty() {
        problems.push("namespace: the namespace id must not be empty");
    }
    let Namespace { start, end, .. } = *namespace;
    if !(0.0..=1.0).contains(&start) || !(0.0..=1.0).contains(&end) {
        problems.push(format!(
            "namespace: the range must lie within [0, 1], got [{start}, {end})"
        ));
    } else if start >= end {
        problems.push(format!(
            "namespace: the range [{start}, {end}) is empty, so the experiment gets no traffic"
        ));
    }
}

/// Explicit ranges must lie in [0, 1], not overlap (a visitor would silently get the first),
/// and leave some traffic. `expected_len` is the number of variations, where one range per
/// variation is required.
fn check_ranges(
    at: &str,
    ranges: &[BucketRange],
    expected_len: Option<usize>,
    problems: &mut Problems,
) {
    if let Some(n) = expected_len
        && ranges.len() != n
    {
        problems.push(format!(
            "{at}: {} ranges for {n} variations; give one per variation",
            ranges.len()
        ));
    }
    for (i, range) in ranges.iter().enumerate() {
        let BucketRange { start, end } = *range;
        if !(0.0..=1.0).contains(&start) || !(0.0..=1.0).contains(&end) || start > end {
            problems.push(format!(
                "{at}[{i}]: [{start}, {end}) is not a range within [0, 1]"
            ));
        }
        if let Some(j) = ranges[..i]
            .iter()
            .position(|earlier| earlier.overlaps(range))
        {
            problems.push(format!("{at}[{i}]: overlaps {at}[{j}]"));
        }
    }
    if ranges.is_empty() {
        problems.push(format!("{at}: no ranges, so nobody is enrolled"));
    } else if ranges.iter().all(BucketRange::is_empty) {
        problems.push(format!("{at}: every range is empty, so nobody is enrolled"));
    }
}

fn check_hash_version(at: &str, version: Option<u32>, problems: &mut Problems) {
    if let Some(v) = version
        && v != 1
        && v != 2
    {
        let at = if at.is_empty() {
            "hashVersion".to_string()
        } else {
            format!("{at}.hashVersion")
        };
        problems.push(format!(
            "{at}: must be 1 or 2, got {v}; unknown versions enroll nobody"
        ));
    }
}

fn check_meta(meta: &[VariationMeta], num_variations: usize, problems: &mut Problems) {
    if meta.is_empty() {
        return;
    }
    if meta.len() != num_variations {
        problems.push(format!(
            "meta: {} entries for {num_variations} variations; give one per variation",
            meta.len()
        ));
    }
    for (i, entry) in meta.iter().enumerate() {
        let Some(key) = &entry.key else { continue };
        let earlier = meta[..i].iter().position(|m| m.key.as_ref() == Some(key));
        if let Some(j) = earlier {
            // Sticky buckets store the key: a duplicate would send both to variation j.
            problems.push(format!(
                "meta[{i}].key: {key:?} is also meta[{j}].key; variation keys must be unique"
            ));
        }
    }
}

/// Refuses a set of experiments in which two claim overlapping slices of one namespace:
/// a visitor in the overlap would be in both, which namespaces exist to prevent.
pub fn validate_namespaces(experiments: &[Experiment]) -> Result<(), ValidationError> {
    let mut problems = Problems::default();
    for (i, later) in experiments.iter().enumerate() {
        let Some(b) = &later.namespace else { continue };
        for earlier in &experiments[..i] {
            if let Some(a) = &earlier.namespace
                && a.overlaps(b)
            {
                problems.push(format!(
                    "experiments {:?} and {:?} overlap in namespace {:?}: [{}, {}) and [{}, {})",
                    earlier.key, later.key, a.id, a.start, a.end, b.start, b.end
                ));
            }
        }
    }
    problems.into_result(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn two_way() -> Experiment {
        Experiment::new("hero-copy", vec![json!("control"), json!("bold")])
    }

    fn problems(experiment: &Experiment) -> Vec<String> {
        experiment
            .validate()
            .err()
            .map(|e| e.problems)
            .unwrap_or_default()
    }

    #[test]
    fn a_plain_two_way_test_is_valid() {
        assert_eq!(problems(&two_way()), Vec::<String>::new());
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let mut experiment = two_way();
        experiment.weights = Some(vec![0.7, 0.6]);
        experiment.coverage = Some(1.5);
        experiment.namespace = Some(("ns".to_string(), 0.5, 0.5).into());
        experiment.hash_version = Some(3);
        experiment.force = Some(2);
        experiment.condition = Some(json!({"age": {"$bogus": 1}}));
        let found = problems(&experiment);
        for field in [
            "weights",
            "coverage",
            "namespace",
            "hashVersion",
            "force",
            "condition",
        ] {
            assert!(
                found.iter().any(|p| p.starts_with(field)),
                "no {field} problem in {found:?}"
            );
        }
        assert_eq!(found.len(), 6, "{found:?}");
    }

    #[test]
    fn weights_must_sum_to_one_and_match_the_variations() {
        let mut experiment = two_way();
        experiment.weights = Some(vec![0.4, 0.5999]);
        assert_eq!(
            problems(&experiment).len(),
            1,
            "GrowthBook would accept this sum"
        );
        experiment.weights = Some(vec![1.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0]);
        assert!(problems(&experiment)[0].contains("3 weights for 2 variations"));
        experiment.weights = Some(vec![0.333_333_5, 0.666_666_5]);
        assert!(problems(&experiment).is_empty());
    }

    #[test]
    fn an_experiment_without_traffic_is_refused() {
        let mut experiment = two_way();
        experiment.coverage = Some(0.0);
        assert!(problems(&experiment)[0].contains("no traffic"));

        let mut experiment = two_way();
        experiment.ranges = Some(vec![BucketRange::new(0.2, 0.2), BucketRange::new(0.7, 0.7)]);
        assert!(problems(&experiment)[0].contains("nobody is enrolled"));

        let single = Experiment::new("solo", vec![json!(1)]);
        assert!(problems(&single)[0].starts_with("variations"));
    }

    #[test]
    fn settings_that_would_be_silently_ignored_are_refused() {
        let mut experiment = two_way();
        experiment.ranges = Some(vec![BucketRange::new(0.0, 0.5), BucketRange::new(0.5, 1.0)]);
        experiment.coverage = Some(0.5);
        assert!(problems(&experiment)[0].contains("replace weights and coverage"));

        let mut experiment = two_way();
        experiment.namespace = Some(("hero".to_string(), 0.0, 0.5).into());
        experiment.filters = Some(vec![Filter {
            seed: "hero".into(),
            ranges: vec![],
            attribute: None,
            hash_version: None,
        }]);
        assert_eq!(
            problems(&experiment),
            vec![
                "filters: filters replace the namespace; give one or the other",
                "filters[0].ranges: no ranges, so nobody is enrolled",
            ]
        );
    }

    #[test]
    fn overlapping_ranges_are_refused() {
        let mut experiment = two_way();
        experiment.ranges = Some(vec![BucketRange::new(0.0, 0.6), BucketRange::new(0.5, 1.0)]);
        assert_eq!(problems(&experiment), vec!["ranges[1]: overlaps ranges[0]"]);
    }

    #[test]
    fn duplicate_variation_keys_are_refused() {
        let mut experiment = two_way();
        experiment.meta = vec![
            VariationMeta {
                key: Some("a".into()),
                ..VariationMeta::default()
            },
            VariationMeta {
                key: Some("a".into()),
                ..VariationMeta::default()
            },
        ];
        assert!(problems(&experiment)[0].starts_with("meta[1].key"));
    }

    #[test]
    fn overlapping_namespaces_are_refused_and_named() {
        let in_namespace = |key: &str, start: f64, end: f64| {
            let mut experiment = Experiment::new(key, vec![json!(0), json!(1)]);
            experiment.namespace = Some(("hero".to_string(), start, end).into());
            experiment
        };
        let fine = [in_namespace("a", 0.0, 0.5), in_namespace("b", 0.5, 1.0)];
        assert!(validate_namespaces(&fine).is_ok());
        let clash = [
            in_namespace("a", 0.0, 0.5),
            in_namespace("b", 0.5, 1.0),
            in_namespace("c", 0.4, 0.6),
        ];
        let problems = validate_namespaces(&clash)
            .expect_err("c overlaps both")
            .problems;
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("\"a\" and \"c\""));
    }

    #[test]
    fn growthbook_json_round_trips() {
        let wire = json!({
            "key": "hero", "variations": [0, 1], "weights": [0.5, 0.5], "coverage": 0.5,
            "namespace": ["hero", 0.0, 0.5], "hashVersion": 2, "active": false,
            "status": "stopped", "ranges": [[0.0, 0.25], [0.5, 0.75]]
        });
        let experiment: Experiment = serde_json::from_value(wire.clone()).expect("parses");
        assert!(!experiment.active);
        assert_eq!(experiment.status, Some(ExperimentStatus::Stopped));
        assert_eq!(serde_json::to_value(&experiment).expect("serializes"), wire);
    }
}
