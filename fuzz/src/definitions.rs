//! The definitions an admin saves: placements, journeys, quizzes and saved segments, each
//! through the validator its API route calls. A definition that validates re-serialises to
//! JSON that validates again to the same value (what is stored is what is read back after
//! a restart), and the conditions inside it validate on their own.
//!
//! Input: byte 0 picks the kind; the rest is JSON.

use serde_json::Value;
use tailor_core::condition::validate_condition;
use tailor_core::preferences::Quiz;
use tailor_engine::decide::Placement;
use tailor_engine::journeys::definition::Journey;
use tailor_engine::segments::SavedSegment;

pub fn run(input: &[u8]) {
    let [kind, body @ ..] = input else {
        return;
    };
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return;
    };
    match kind % 4 {
        0 => placement(value),
        1 => journey(value),
        2 => quiz(value),
        _ => segment(value),
    }
}

fn placement(value: Value) {
    let Ok(p) = crate::within_budget("placement", || Placement::from_json(value)) else {
        return;
    };
    let json = serde_json::to_value(&p).expect("serialises");
    let again = Placement::from_json(json.clone())
        .unwrap_or_else(|e| panic!("a valid placement no longer validates ({e}): {json}"));
    assert_eq!(again, p, "{json}");
    if let Some(c) = &p.condition {
        assert!(validate_condition(c).is_ok(), "placement condition {c}");
    }
}

fn journey(value: Value) {
    let Ok(j) = crate::within_budget("journey", || Journey::from_json(value)) else {
        return;
    };
    let json = serde_json::to_value(&j).expect("serialises");
    let again = Journey::from_json(json.clone())
        .unwrap_or_else(|e| panic!("a valid journey no longer validates ({e}): {json}"));
    assert_eq!(again, j, "{json}");
    for i in 0..j.steps.len() {
        let _ = j.next_of(i);
    }
    let _ = j.event_names();
}

fn quiz(value: Value) {
    let Ok(q) = crate::within_budget("quiz", || Quiz::parse(&value, |_| true)) else {
        return;
    };
    let json = serde_json::to_value(&q).expect("serialises");
    let again = Quiz::parse(&json, |_| true)
        .unwrap_or_else(|e| panic!("a valid quiz no longer validates ({e}): {json}"));
    assert_eq!(again, q, "{json}");
}

fn segment(value: Value) {
    let Ok(s) = serde_json::from_value::<SavedSegment>(value) else {
        return;
    };
    if crate::within_budget("segment", || s.validate()).is_err() {
        return;
    }
    assert!(validate_condition(&s.condition).is_ok(), "{}", s.condition);
    let json = serde_json::to_value(&s).expect("serialises");
    let again: SavedSegment = serde_json::from_value(json.clone()).expect("reads back");
    assert_eq!(again, s, "{json}");
}
