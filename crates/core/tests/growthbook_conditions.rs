//! GrowthBook's cross-SDK test suite (`cases.json`, section `evalCondition`) against
//! `tailor_core::condition`. Every case must pass; failures are listed all at once.

use std::path::PathBuf;

use serde_json::Value;
use tailor_core::condition::{eval_condition_with_groups, validate_condition};

/// `None` (after one line saying so) unless external tests are on and the data is there.
fn cases_path() -> Option<PathBuf> {
    Some(tailor_testkit::shared_data()?.join("growthbook/cases.json"))
}

struct Case {
    index: usize,
    name: String,
    condition: Value,
    attributes: Value,
    expected: bool,
    groups: Value,
}

fn eval_condition_cases() -> Option<Vec<Case>> {
    let path = cases_path()?;
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("GrowthBook test cases not found at {}: {e}", path.display()));
    let all: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
    let Some(Value::Array(cases)) = all.get("evalCondition") else {
        panic!("{} has no `evalCondition` array", path.display());
    };
    let cases = cases
        .iter()
        .enumerate()
        .map(|(index, case)| {
            let parts = case.as_array().map(Vec::as_slice).unwrap_or_default();
            let [name, condition, attributes, expected, rest @ ..] = parts else {
                panic!("evalCondition[{index}] is not [name, condition, attributes, expected, groups?]: {case}");
            };
            Case {
                index,
                name: name.as_str().unwrap_or_default().to_string(),
                condition: condition.clone(),
                attributes: attributes.clone(),
                expected: expected
                    .as_bool()
                    .unwrap_or_else(|| panic!("evalCondition[{index}]: expected is not a boolean")),
                groups: rest.first().cloned().unwrap_or(Value::Null),
            }
        })
        .collect();
    Some(cases)
}

#[test]
fn every_eval_condition_case_passes() {
    let Some(cases) = eval_condition_cases() else {
        return;
    };
    assert!(!cases.is_empty(), "no evalCondition cases");
    let failures: Vec<String> = cases
        .iter()
        .filter(|c| {
            eval_condition_with_groups(&c.attributes, &c.condition, &c.groups) != c.expected
        })
        .map(|c| {
            format!(
                "  [{}] {:?}: expected {}, condition {}, attributes {}",
                c.index, c.name, c.expected, c.condition, c.attributes
            )
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} evalCondition cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    println!("{} evalCondition cases passed", cases.len());
}

/// The cases that are malformed on purpose (or use `$`-prefixed attribute names, which
/// Tailor reserves) are refused at save time; every other case's condition is accepted.
#[test]
fn validation_accepts_the_suite_except_deliberately_malformed_conditions() {
    const REFUSED: [&str; 9] = [
        "$groups - match",
        "$groups - no match",
        "$in - not array",
        "$nin - not array",
        "$ini - not array",
        "$nini - not array",
        "unknown operator - pass",
        "$regex invalid - pass",
        "$regex invalid - fail",
    ];
    let Some(cases) = eval_condition_cases() else {
        return;
    };
    let mut wrong = Vec::new();
    for case in cases {
        let result = validate_condition(&case.condition);
        let should_refuse = REFUSED.contains(&case.name.as_str());
        match result {
            Ok(()) if should_refuse => wrong.push(format!(
                "  [{}] {:?}: accepted, should be refused",
                case.index, case.name
            )),
            Err(e) if !should_refuse => {
                wrong.push(format!("  [{}] {:?}: refused: {e}", case.index, case.name))
            }
            _ => {}
        }
    }
    assert!(
        wrong.is_empty(),
        "validation disagrees:\n{}",
        wrong.join("\n")
    );
}
