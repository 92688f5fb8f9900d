//! GrowthBook's cross-SDK test suite (`cases.json`) against `tailor_core::experiment`:
//! sections `hash`, `getBucketRange`, `chooseVariation`, `inNamespace`, `getEqualWeights`,
//! `getQueryStringOverride`, `run` and `stickyBucket`. Every case must pass; each test
//! lists all its failures at once, by case name.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::OnceLock;

use serde_json::{Value, json};
use tailor_core::experiment::{
    BucketRange, Experiment, ExperimentContext, ExperimentResult, Namespace, StickyBucketDocument,
    assign, choose_variation, get_bucket_ranges, get_equal_weights, get_query_string_override,
    hash, in_namespace, run, sticky_bucket_keys,
};

/// GrowthBook's own tests compare bucket ranges and weights rounded to 6 places.
const TOLERANCE: f64 = 1e-6;

/// `None` (after one line saying so) unless external tests are on and the data is there.
fn cases_path() -> Option<PathBuf> {
    Some(tailor_testkit::shared_data()?.join("growthbook/cases.json"))
}

fn all_cases() -> Option<&'static Value> {
    static CASES: OnceLock<Value> = OnceLock::new();
    // Asked on every call, so each skipped test says so.
    let path = cases_path()?;
    Some(CASES.get_or_init(|| {
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!("GrowthBook test cases not found at {}: {e}", path.display())
        });
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
    }))
}

/// The cases of one section, each an array of its parts; `None` when skipped.
fn section(name: &str) -> Option<Vec<&'static [Value]>> {
    let Some(Value::Array(cases)) = all_cases()?.get(name) else {
        panic!("cases.json has no `{name}` array");
    };
    assert!(!cases.is_empty(), "no {name} cases");
    Some(
        cases
            .iter()
            .enumerate()
            .map(|(i, case)| {
                case.as_array()
                    .map(Vec::as_slice)
                    .unwrap_or_else(|| panic!("{name}[{i}] is not an array: {case}"))
            })
            .collect(),
    )
}

/// Runs `check` on every case of `name`; `check` returns `Err(why)` for a failure.
/// Fails once, listing every failing case.
fn check_section(name: &str, check: impl Fn(&[Value]) -> Result<(), String>) -> usize {
    let Some(cases) = section(name) else {
        return 0;
    };
    let failures: Vec<String> = cases
        .iter()
        .enumerate()
        .filter_map(|(i, case)| {
            check(case)
                .err()
                .map(|why| format!("  [{i}] {}: {why}", label(case)))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} {name} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    println!("{} {name} cases passed", cases.len());
    cases.len()
}

fn label(case: &[Value]) -> String {
    match case.first() {
        Some(Value::String(name)) => format!("{name:?}"),
        Some(other) => other.to_string(),
        None => "(empty case)".into(),
    }
}

fn number(v: &Value, what: &str) -> Result<f64, String> {
    v.as_f64()
        .ok_or_else(|| format!("{what} is not a number: {v}"))
}

fn text<'a>(v: &'a Value, what: &str) -> Result<&'a str, String> {
    v.as_str()
        .ok_or_else(|| format!("{what} is not a string: {v}"))
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < TOLERANCE
}

fn ranges_from(v: &Value) -> Result<Vec<BucketRange>, String> {
    serde_json::from_value(v.clone()).map_err(|e| format!("ranges {v}: {e}"))
}

fn same_ranges(actual: &[BucketRange], expected: &[BucketRange]) -> bool {
    actual.len() == expected.len()
        && actual
            .iter()
            .zip(expected)
            .all(|(a, e)| close(a.start, e.start) && close(a.end, e.end))
}

/// A JavaScript variation index (`-1` for none) as Rust's `Option<usize>`.
fn js_index(v: &Value) -> Result<Option<usize>, String> {
    match v.as_i64() {
        Some(-1) => Ok(None),
        Some(i) => usize::try_from(i)
            .map(Some)
            .map_err(|_| format!("bad index {i}")),
        None if v.is_null() => Ok(None),
        None => Err(format!("index is not an integer: {v}")),
    }
}

#[test]
fn every_hash_case_passes() {
    check_section("hash", |case| {
        let [seed, value, version, expected] = case else {
            return Err("not [seed, value, version, expected]".into());
        };
        let version = version
            .as_u64()
            .and_then(|v| u32::try_from(v).ok())
            .ok_or("version is not a small integer")?;
        let actual = hash(text(seed, "seed")?, text(value, "value")?, version);
        let ok = match (actual, expected.as_f64()) {
            (Some(a), Some(e)) => (a - e).abs() < 1e-9,
            (None, None) => expected.is_null(),
            _ => false,
        };
        ok.then_some(())
            .ok_or_else(|| format!("got {actual:?}, expected {expected}"))
    });
}

#[test]
fn every_get_bucket_range_case_passes() {
    check_section("getBucketRange", |case| {
        let [_, args, expected] = case else {
            return Err("not [name, [n, coverage, weights], expected]".into());
        };
        let Some([n, coverage, weights]) = args.as_array().map(Vec::as_slice) else {
            return Err(format!("args are not [n, coverage, weights]: {args}"));
        };
        let n = n.as_u64().ok_or("n is not a count")? as usize;
        let weights: Option<Vec<f64>> =
            serde_json::from_value(weights.clone()).map_err(|e| format!("weights: {e}"))?;
        let actual = get_bucket_ranges(n, number(coverage, "coverage")?, weights.as_deref());
        let expected = ranges_from(expected)?;
        same_ranges(&actual, &expected)
            .then_some(())
            .ok_or_else(|| format!("got {actual:?}, expected {expected:?}"))
    });
}

#[test]
fn every_choose_variation_case_passes() {
    check_section("chooseVariation", |case| {
        let [_, n, ranges, expected] = case else {
            return Err("not [name, n, ranges, expected]".into());
        };
        let actual = choose_variation(number(n, "n")?, &ranges_from(ranges)?);
        let expected = js_index(expected)?;
        (actual == expected)
            .then_some(())
            .ok_or_else(|| format!("got {actual:?}, expected {expected:?}"))
    });
}

#[test]
fn every_in_namespace_case_passes() {
    check_section("inNamespace", |case| {
        let [_, user, namespace, expected] = case else {
            return Err("not [name, id, namespace, expected]".into());
        };
        let namespace: Namespace = serde_json::from_value(namespace.clone())
            .map_err(|e| format!("namespace {namespace}: {e}"))?;
        let actual = in_namespace(text(user, "id")?, &namespace);
        (Some(actual) == expected.as_bool())
            .then_some(())
            .ok_or_else(|| format!("got {actual}, expected {expected}"))
    });
}

#[test]
fn every_get_equal_weights_case_passes() {
    check_section("getEqualWeights", |case| {
        let [n, expected] = case else {
            return Err("not [n, expected]".into());
        };
        // Rust's `usize` rules out GrowthBook's negative counts; they mean "none", as there.
        let n = usize::try_from(n.as_i64().ok_or("n is not an integer")?).unwrap_or(0);
        let actual = get_equal_weights(n);
        let expected: Vec<f64> =
            serde_json::from_value(expected.clone()).map_err(|e| format!("expected: {e}"))?;
        let same = actual.len() == expected.len()
            && actual.iter().zip(&expected).all(|(a, e)| close(*a, *e));
        same.then_some(())
            .ok_or_else(|| format!("got {actual:?}, expected {expected:?}"))
    });
}

#[test]
fn every_get_query_string_override_case_passes() {
    check_section("getQueryStringOverride", |case| {
        let [_, key, url, n, expected] = case else {
            return Err("not [name, key, url, numVariations, expected]".into());
        };
        let n = n.as_u64().ok_or("numVariations is not a count")? as usize;
        let actual = get_query_string_override(text(key, "key")?, text(url, "url")?, n);
        let expected = js_index(expected)?;
        (actual == expected)
            .then_some(())
            .ok_or_else(|| format!("got {actual:?}, expected {expected:?}"))
    });
}

#[test]
fn every_run_case_passes() {
    check_section("run", |case| {
        let [_, context, experiment, value, in_experiment, hash_used] = case else {
            return Err("not [name, context, experiment, value, inExperiment, hashUsed]".into());
        };
        let context: ExperimentContext = serde_json::from_value(context.clone())
            .map_err(|e| format!("context {context}: {e}"))?;
        let experiment: Experiment = serde_json::from_value(experiment.clone())
            .map_err(|e| format!("experiment {experiment}: {e}"))?;
        let result = run(&experiment, &context);
        let got = json!([result.value, result.in_experiment, result.hash_used]);
        let expected = json!([value, in_experiment, hash_used]);
        (got == expected).then_some(()).ok_or_else(|| {
            format!("got [value, inExperiment, hashUsed] {got}, expected {expected}")
        })
    });
}

/// The `stickyBucket` cases run a feature whose only rule is an experiment. Tailor has no
/// feature flags, so the rule is run as the experiment it defines (key: the rule's `key`,
/// else the feature's id); "no experiment result" means the visitor was not enrolled.
#[test]
fn every_sticky_bucket_case_passes() {
    check_section("stickyBucket", |case| {
        let [
            _,
            context,
            stored,
            feature_id,
            expected_result,
            expected_docs,
        ] = case
        else {
            return Err("not [name, context, docs, featureId, result, docs]".into());
        };
        let feature_id = text(feature_id, "featureId")?;
        let experiment = experiment_of_feature(context, feature_id)?;
        let stored: Vec<StickyBucketDocument> =
            serde_json::from_value(stored.clone()).map_err(|e| format!("stored docs: {e}"))?;
        let mut context: ExperimentContext = serde_json::from_value(context.clone())
            .map_err(|e| format!("context {context}: {e}"))?;
        // As a configured sticky bucket service does: load the stored documents of the
        // visitor's identifying attributes (and only those) into the context.
        let keys = sticky_bucket_keys(&experiment, &context);
        let mut docs = context
            .sticky_bucket_assignment_docs
            .take()
            .unwrap_or_default();
        docs.extend(
            stored
                .into_iter()
                .filter(|doc| keys.contains(&doc.storage_key()))
                .map(|doc| (doc.storage_key(), doc)),
        );
        context.sticky_bucket_assignment_docs = Some(docs.clone());

        let assignment = assign(&experiment, &context);
        if let Some(update) = assignment.sticky_bucket_update {
            docs.insert(update.storage_key(), update);
        }
        let result = (assignment.result.in_experiment && !assignment.result.passthrough)
            .then(|| with_feature_id(assignment.result, feature_id))
            .transpose()?;
        let expected_docs: BTreeMap<String, StickyBucketDocument> =
            serde_json::from_value(expected_docs.clone())
                .map_err(|e| format!("expected docs: {e}"))?;
        let mut problems = Vec::new();
        if result.as_ref() != Some(expected_result).filter(|r| !r.is_null()) {
            problems.push(format!(
                "result {}, expected {expected_result}",
                result.unwrap_or(Value::Null)
            ));
        }
        if docs != expected_docs {
            problems.push(format!("docs {docs:?}, expected {expected_docs:?}"));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    });
}

fn experiment_of_feature(context: &Value, feature_id: &str) -> Result<Experiment, String> {
    let rules = context
        .pointer(&format!("/features/{feature_id}/rules"))
        .and_then(Value::as_array)
        .ok_or_else(|| format!("feature {feature_id} has no rules"))?;
    let [rule] = rules.as_slice() else {
        return Err(format!(
            "feature {feature_id} has {} rules, not 1",
            rules.len()
        ));
    };
    let mut rule = rule.clone();
    if let Value::Object(fields) = &mut rule {
        fields
            .entry("key")
            .or_insert_with(|| Value::String(feature_id.to_string()));
    }
    serde_json::from_value(rule).map_err(|e| format!("rule of {feature_id}: {e}"))
}

fn with_feature_id(result: ExperimentResult, feature_id: &str) -> Result<Value, String> {
    let mut value = serde_json::to_value(result).map_err(|e| e.to_string())?;
    value["featureId"] = Value::String(feature_id.to_string());
    Ok(value)
}

/// `Experiment::validate` is stricter than GrowthBook's runtime: it refuses the `run`
/// cases that exist to show how the SDKs repair bad input, and accepts every other one.
#[test]
fn validation_refuses_only_the_deliberately_bad_run_definitions() {
    const REFUSED: [&str; 6] = [
        "single variation",                    // nobody can be enrolled
        "negative forced variation",           // force is not a variation index
        "high forced variation",               // likewise
        "Experiment coverage - Works when 0",  // no traffic
        "Filtered, ignore namespace",          // the namespace would be silently ignored
        "Ranges, ignore coverage and weights", // weights and coverage would be ignored
    ];
    let Some(run) = section("run") else {
        return;
    };
    let mut wrong = Vec::new();
    for case in run {
        let name = label(case);
        let Some(experiment) = case.get(2) else {
            continue;
        };
        let experiment: Experiment = match serde_json::from_value(experiment.clone()) {
            Ok(experiment) => experiment,
            Err(e) => {
                wrong.push(format!("  {name}: does not parse: {e}"));
                continue;
            }
        };
        let should_refuse = REFUSED.iter().any(|refused| format!("{refused:?}") == name);
        match experiment.validate() {
            Ok(()) if should_refuse => wrong.push(format!("  {name}: accepted, should be refused")),
            Err(e) if !should_refuse => wrong.push(format!("  {name}: refused: {e}")),
            _ => {}
        }
    }
    assert!(
        wrong.is_empty(),
        "validation disagrees:\n{}",
        wrong.join("\n")
    );
}
