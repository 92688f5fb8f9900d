//! GrowthBook experiment definitions (`Experiment`, and Tailor's `PlacementExperiment`
//! around it): deserialise, validate, and for one that validates, assign a visitor.
//! A valid definition round-trips through its JSON form, and assigning never panics and
//! always lands on one of its variations.
//!
//! Input: a JSON object `{"e": experiment, "p": placement experiment, "a": attributes,
//! "u": url, "g": saved groups, "f": forced variations}`; any field may be missing.

use serde_json::{Map, Value};
use tailor_core::experiment::{Experiment, ExperimentContext, run as assign};
use tailor_engine::experiments::PlacementExperiment;

pub fn run(input: &[u8]) {
    let Ok(Value::Object(doc)) = serde_json::from_slice::<Value>(input) else {
        return;
    };
    let mut context = ExperimentContext::with_attributes(match doc.get("a") {
        Some(Value::Object(a)) => a.clone(),
        _ => Map::new(),
    });
    context.url = doc.get("u").and_then(Value::as_str).map(str::to_string);
    context.saved_groups = doc.get("g").cloned().unwrap_or(Value::Null);
    if let Some(Value::Object(forced)) = doc.get("f") {
        for (k, v) in forced {
            if let Some(n) = v.as_i64() {
                context.forced_variations.insert(k.clone(), n);
            }
        }
    }
    if let Some(e) = doc.get("e")
        && let Ok(experiment) = serde_json::from_value::<Experiment>(e.clone())
    {
        check(&experiment, &context);
    }
    if let Some(p) = doc.get("p")
        && let Ok(pe) = serde_json::from_value::<PlacementExperiment>(p.clone())
        && pe.validate(|_| true, |_| true).is_ok()
    {
        let gb = pe.growthbook();
        assert!(
            gb.validate().is_ok(),
            "a valid placement experiment's GrowthBook form is invalid"
        );
        let json = serde_json::to_value(&pe).expect("serialises");
        let again: PlacementExperiment = serde_json::from_value(json.clone())
            .unwrap_or_else(|e| panic!("does not read back ({e}): {json}"));
        assert_eq!(again, pe, "{json}");
        check(&gb, &context);
    }
}

fn check(experiment: &Experiment, context: &ExperimentContext) {
    if experiment.validate().is_err() {
        // Invalid definitions are refused when saved; assigning one must still not panic.
        let _ = crate::within_budget("assign", || assign(experiment, context));
        return;
    }
    let json = serde_json::to_string(experiment).expect("serialises");
    let again: Experiment = serde_json::from_str(&json)
        .unwrap_or_else(|e| panic!("a valid experiment does not read back ({e}): {json}"));
    assert_eq!(&again, experiment, "{json}");
    let result = crate::within_budget("assign", || assign(experiment, context));
    if result.in_experiment {
        let v = result.variation_id;
        assert!(v < experiment.variations.len(), "variation {v} of {json}");
        assert_eq!(result.value, experiment.variations[v], "{json}");
    }
    // Assignment is a pure function of definition, attributes and sticky buckets.
    let twice = assign(experiment, context);
    assert_eq!(twice.variation_id, result.variation_id);
    assert_eq!(twice.in_experiment, result.in_experiment);
}
