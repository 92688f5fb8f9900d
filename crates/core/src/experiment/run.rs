//! Assigning a visitor to a variation: GrowthBook's `runExperiment`, step for step (the
//! numbers in the comments are the SDK's), so Tailor and every GrowthBook SDK put the
//! same visitor in the same variation.
//!
//! Not carried over, because they need a browser or code rather than data: `include`
//! functions, the deprecated `groups`, `url` / `urlPatterns` page targeting and context
//! `overrides`. Tailor targets pages by placement instead.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::buckets::{choose_variation, get_bucket_ranges};
use super::context::{ExperimentContext, HashAttribute, StickyBucketDocument};
use super::definition::{Experiment, ExperimentStatus, Filter};
use super::hash::hash;
use super::namespace::in_namespace;
use super::query_string::get_query_string_override;
use super::sticky::{StickyBucket, sticky_bucket, updated_document};
use crate::condition::eval_condition_with_groups;

/// GrowthBook's `Result`: which variation the visitor gets and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExperimentResult {
    /// The variation's key (`meta[i].key`, else its index as a string).
    pub key: String,
    /// Always `None` here: GrowthBook sets it only when a feature ran the experiment.
    pub feature_id: Option<String>,
    /// Was the visitor enrolled? When `false`, `value` is the control's and the visitor
    /// must not count in the experiment's results.
    pub in_experiment: bool,
    /// Was the variation chosen by hashing (or a sticky bucket), rather than forced?
    pub hash_used: bool,
    pub variation_id: usize,
    pub value: Value,
    pub hash_attribute: String,
    pub hash_value: Value,
    pub sticky_bucket_used: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The visitor's hash, when they were enrolled by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket: Option<f64>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub passthrough: bool,
}

impl ExperimentResult {
    /// Should serving this result log an exposure? Exactly when GrowthBook's SDKs fire
    /// their tracking callback: the visitor was enrolled by hash or sticky bucket. Forced
    /// and previewed variations are not exposures, so they never skew the results.
    pub fn is_exposure(&self) -> bool {
        self.in_experiment && self.hash_used
    }
}

/// An assignment, and the sticky bucket document to save because of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Assignment {
    pub result: ExperimentResult,
    /// Set only with sticky bucketing on, and only when the stored document must change.
    pub sticky_bucket_update: Option<StickyBucketDocument>,
}

/// GrowthBook's `run`: the variation `context`'s visitor gets in `experiment`.
pub fn run(experiment: &Experiment, context: &ExperimentContext) -> ExperimentResult {
    assign(experiment, context).result
}

/// [`run`], also returning the sticky bucket document the caller should persist.
pub fn assign(experiment: &Experiment, context: &ExperimentContext) -> Assignment {
    let sticky_bucketing = context.sticky_bucketing() && !experiment.disable_sticky_bucketing;
    // The fallback attribute (say `anonymousId` behind `id`) only applies with sticky
    // bucketing on: only a stored assignment carries the variation over when the visitor
    // logs in and starts being hashed by `id`; without one they would switch variation.
    let fallback = sticky_bucketing
        .then_some(experiment.fallback_attribute.as_deref())
        .flatten();
    let run = Run {
        experiment,
        context,
        hashed: context.hash_attribute(experiment.hash_attribute.as_deref(), fallback),
        sticky_bucketing,
    };
    let result = run.enroll();
    // Only an enrollment by hash (or by an existing sticky bucket) is made sticky.
    let sticky_bucket_update = if sticky_bucketing && result.hash_used {
        updated_document(experiment, context, &run.hashed, &result.key)
    } else {
        None
    };
    Assignment {
        result,
        sticky_bucket_update,
    }
}

struct Run<'a> {
    experiment: &'a Experiment,
    context: &'a ExperimentContext,
    hashed: HashAttribute<'a>,
    sticky_bucketing: bool,
}

/// How the variation was decided, for the result's flags.
enum Decided {
    /// Forced, previewed, or not enrolled at all: no hash behind it.
    Unhashed,
    Hashed {
        bucket: f64,
        sticky_bucket_used: bool,
    },
    /// Excluded because of a sticky bucket from a blocked version.
    Blocked,
}

impl Run<'_> {
    /// Steps 1 to 13 of `runExperiment`: the first one that decides gives the result.
    fn enroll(&self) -> ExperimentResult {
        let experiment = self.experiment;
        let context = self.context;
        let num_variations = experiment.variations.len();
        // 1. An experiment needs two variations; 2. the context may switch all off.
        if num_variations < 2 || !context.enabled {
            return self.excluded();
        }
        // 3. Preview from the URL, 4. forced in the context: served, not enrolled.
        let url = context.url.as_deref().unwrap_or_default();
        if let Some(variation) = get_query_string_override(&experiment.key, url, num_variations) {
            return self.result(variation_index(variation), Decided::Unhashed);
        }
        if let Some(&variation) = context.forced_variations.get(&experiment.key) {
            return self.result(Some(variation), Decided::Unhashed);
        }
        // 5. Drafts and paused experiments enroll nobody.
        if experiment.status == Some(ExperimentStatus::Draft) || !experiment.active {
            return self.excluded();
        }
        // 6. Nobody to hash.
        if !self.hashed.is_usable() {
            return self.excluded();
        }
        let sticky = if self.sticky_bucketing {
            sticky_bucket(experiment, context)
        } else {
            StickyBucket::None
        };
        let sticky_variation = match sticky {
            StickyBucket::Variation(variation) => Some(variation),
            StickyBucket::None | StickyBucket::Blocked => None,
        };
        // 7–8. Targeting, skipped for visitors who already hold a sticky bucket so that
        // changing the targeting never moves someone already in the test.
        if sticky_variation.is_none() && !self.targeted() {
            return self.excluded();
        }
        // 9. Hash, and bucket unless a sticky bucket decided already.
        let seed = experiment
            .seed
            .as_deref()
            .filter(|s| !s.is_empty())
            .unwrap_or(&experiment.key);
        let version = experiment.hash_version.filter(|&v| v != 0).unwrap_or(1);
        let Some(bucket) = hash(seed, &self.hashed.as_hash_input(), version) else {
            return self.excluded();
        };
        let assigned = sticky_variation.or_else(|| {
            let computed;
            let ranges = match &experiment.ranges {
                Some(ranges) => ranges.as_slice(),
                None => {
                    computed = get_bucket_ranges(
                        num_variations,
                        experiment.coverage.unwrap_or(1.0),
                        experiment.weights.as_deref(),
                    );
                    computed.as_slice()
                }
            };
            choose_variation(bucket, ranges)
        });
        // 9.5. A sticky bucket from a blocked version takes the visitor out.
        if sticky == StickyBucket::Blocked {
            return self.result(None, Decided::Blocked);
        }
        // 10. Outside the coverage.
        let Some(assigned) = assigned else {
            return self.excluded();
        };
        // 11. A forced experiment serves its variation to whoever would be enrolled.
        if let Some(force) = experiment.force {
            return self.result(Some(force), Decided::Unhashed);
        }
        // 12. QA mode serves only forced variations; 12.5. a stopped test enrolls nobody.
        if context.qa_mode || experiment.status == Some(ExperimentStatus::Stopped) {
            return self.excluded();
        }
        // 13. Enrolled.
        self.result(
            variation_index(assigned),
            Decided::Hashed {
                bucket,
                sticky_bucket_used: sticky_variation.is_some(),
            },
        )
    }

    /// Steps 7, 8 and 8.05: filters (or else the namespace), the condition, the
    /// prerequisites.
    fn targeted(&self) -> bool {
        let experiment = self.experiment;
        let context = self.context;
        let hash_input = self.hashed.as_hash_input();
        let in_slice = match (&experiment.filters, &experiment.namespace) {
            (Some(filters), _) => !filters.iter().any(|f| self.filtered_out(f)),
            (None, Some(namespace)) => in_namespace(&hash_input, namespace),
            (None, None) => true,
        };
        if !in_slice {
            return false;
        }
        if let Some(condition) = &experiment.condition
            && !condition.is_null()
            && !eval_condition_with_groups(
                &context.attributes_value(),
                condition,
                &context.saved_groups,
            )
        {
            return false;
        }
        experiment.parent_conditions.iter().all(|parent| {
            let Some(value) = context.prerequisite_value(&parent.id) else {
                return false;
            };
            let mut subject = Map::new();
            subject.insert("value".to_string(), value);
            let everyone = Value::Object(Map::new());
            let condition = if parent.condition.is_null() {
                &everyone
            } else {
                &parent.condition
            };
            eval_condition_with_groups(&Value::Object(subject), condition, &Value::Null)
        })
    }

    /// GrowthBook's `isFilteredOut` for one filter.
    fn filtered_out(&self, filter: &Filter) -> bool {
        let hashed = self
            .context
            .hash_attribute(filter.attribute.as_deref(), None);
        if !hashed.is_usable() {
            return true;
        }
        let version = filter.hash_version.filter(|&v| v != 0).unwrap_or(2);
        match hash(&filter.seed, &hashed.as_hash_input(), version) {
            Some(n) => !filter.ranges.iter().any(|range| range.contains(n)),
            None => true,
        }
    }

    fn excluded(&self) -> ExperimentResult {
        self.result(None, Decided::Unhashed)
    }

    /// GrowthBook's `getExperimentResult`. A variation outside the experiment (or none)
    /// serves the control, not enrolled.
    fn result(&self, variation: Option<i64>, decided: Decided) -> ExperimentResult {
        let experiment = self.experiment;
        let valid = variation
            .and_then(|v| usize::try_from(v).ok())
            .filter(|&v| v < experiment.variations.len());
        let in_experiment = valid.is_some();
        let index = valid.unwrap_or(0);
        let meta = experiment.meta.get(index);
        let (hash_used, bucket, sticky_bucket_used) = match decided {
            Decided::Hashed {
                bucket,
                sticky_bucket_used,
            } => (true, Some(bucket), sticky_bucket_used),
            Decided::Unhashed => (false, None, false),
            Decided::Blocked => (false, None, true),
        };
        ExperimentResult {
            key: meta
                .and_then(|m| m.key.clone())
                .filter(|k| !k.is_empty())
                .unwrap_or_else(|| index.to_string()),
            feature_id: None,
            in_experiment,
            hash_used,
            variation_id: index,
            value: experiment
                .variations
                .get(index)
                .cloned()
                .unwrap_or(Value::Null),
            hash_attribute: self.hashed.name.clone(),
            hash_value: self.hashed.value.clone().into_owned(),
            sticky_bucket_used,
            name: meta.and_then(|m| m.name.clone()).filter(|n| !n.is_empty()),
            bucket,
            passthrough: meta.is_some_and(|m| m.passthrough),
        }
    }
}

fn variation_index(variation: usize) -> Option<i64> {
    i64::try_from(variation).ok()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;

    use super::*;
    use crate::experiment::{ParentCondition, VariationMeta};

    fn experiment() -> Experiment {
        let mut experiment = Experiment::new("hero", vec![json!("control"), json!("bold")]);
        experiment.meta = vec![
            VariationMeta {
                key: Some("control".into()),
                ..VariationMeta::default()
            },
            VariationMeta {
                key: Some("bold".into()),
                name: Some("Bold headline".into()),
                ..VariationMeta::default()
            },
        ];
        experiment
    }

    fn visitor(attributes: Value) -> ExperimentContext {
        serde_json::from_value(json!({ "attributes": attributes })).expect("a context")
    }

    #[test]
    fn assignment_is_a_pure_function_of_its_inputs() {
        let experiment = experiment();
        for id in (0..200).map(|i| format!("visitor-{i}")) {
            let context = visitor(json!({ "id": id }));
            assert_eq!(
                run(&experiment, &context),
                run(&experiment, &context.clone())
            );
        }
    }

    #[test]
    fn hashed_enrollments_are_exposures_and_forced_variations_are_not() {
        let experiment = experiment();
        let enrolled = run(&experiment, &visitor(json!({"id": "1"})));
        assert!(enrolled.is_exposure());
        assert_eq!(
            enrolled.key,
            if enrolled.variation_id == 0 {
                "control"
            } else {
                "bold"
            }
        );
        assert!(enrolled.bucket.is_some());

        let mut forced = visitor(json!({"id": "1"}));
        forced.forced_variations.insert("hero".into(), 1);
        let result = run(&experiment, &forced);
        assert_eq!(
            (&result.value, result.in_experiment),
            (&json!("bold"), true)
        );
        assert!(!result.is_exposure());
        assert_eq!(result.name.as_deref(), Some("Bold headline"));

        let anonymous = run(&experiment, &visitor(json!({})));
        assert!(!anonymous.is_exposure());
        assert_eq!(anonymous.value, json!("control"));
    }

    #[test]
    fn a_stopped_experiment_serves_the_control_to_everyone() {
        let mut experiment = experiment();
        experiment.status = Some(ExperimentStatus::Stopped);
        for id in ["1", "2", "3", "4", "5"] {
            let result = run(&experiment, &visitor(json!({ "id": id })));
            assert_eq!(
                (result.variation_id, result.in_experiment),
                (0, false),
                "{id}"
            );
        }
    }

    #[test]
    fn a_prerequisite_on_a_feature_with_rules_fails_closed() {
        let mut experiment = experiment();
        experiment.parent_conditions = vec![ParentCondition {
            id: "new-checkout".into(),
            condition: json!({"value": true}),
        }];
        let mut context = visitor(json!({"id": "1"}));
        context.features.insert(
            "new-checkout".into(),
            serde_json::from_value(json!({"defaultValue": true})).expect("a feature"),
        );
        assert!(run(&experiment, &context).in_experiment);
        context.features.insert(
            "new-checkout".into(),
            serde_json::from_value(json!({"defaultValue": true, "rules": [{"force": false}]}))
                .expect("a feature"),
        );
        assert!(!run(&experiment, &context).in_experiment);
    }

    /// The identity-merge story: an anonymous visitor is bucketed by `anonymousId`, logs
    /// in, and from then on is hashed by `id`, which alone would pick the other variation.
    #[test]
    fn sticky_buckets_keep_the_variation_across_login() {
        let mut experiment = experiment();
        experiment.fallback_attribute = Some("anonymousId".into());
        let mut store: BTreeMap<String, StickyBucketDocument> = BTreeMap::new();
        let with_store = |attributes: Value, store: &BTreeMap<_, _>| {
            let mut context = visitor(attributes);
            context.sticky_bucket_assignment_docs = Some(store.clone());
            context
        };

        let before = assign(
            &experiment,
            &with_store(json!({"anonymousId": "a-1"}), &store),
        );
        assert_eq!(before.result.hash_attribute, "anonymousId");
        let saved = before
            .sticky_bucket_update
            .expect("first assignment is saved");
        store.insert(saved.storage_key(), saved);

        // A user id whose own hash picks the other variation.
        let user = (0..100)
            .map(|i| format!("user-{i}"))
            .find(|id| {
                run(&experiment, &visitor(json!({ "id": id }))).variation_id
                    != before.result.variation_id
            })
            .expect("some id hashes to the other variation");
        let after = assign(
            &experiment,
            &with_store(json!({"id": user, "anonymousId": "a-1"}), &store),
        );
        assert_eq!(after.result.variation_id, before.result.variation_id);
        assert!(after.result.sticky_bucket_used && after.result.is_exposure());
        let saved = after
            .sticky_bucket_update
            .expect("the user id gets its own document");
        assert_eq!(saved.storage_key(), format!("id||{user}"));
        store.insert(saved.storage_key(), saved);

        // Nothing changes on the next visit, so nothing needs writing.
        let again = assign(
            &experiment,
            &with_store(json!({"id": user, "anonymousId": "a-1"}), &store),
        );
        assert_eq!(again.result.variation_id, before.result.variation_id);
        assert_eq!(again.sticky_bucket_update, None);
    }

    #[test]
    fn without_sticky_bucketing_the_fallback_attribute_is_ignored() {
        let mut experiment = experiment();
        experiment.fallback_attribute = Some("anonymousId".into());
        let result = assign(&experiment, &visitor(json!({"anonymousId": "a-1"})));
        assert!(!result.result.in_experiment);
        assert_eq!(result.sticky_bucket_update, None);
    }
}
