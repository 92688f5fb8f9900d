//! Ad audiences defined by a segment, through the engine's facade: members follow profile
//! changes as events arrive (purchases, consent), a redefinition and the passing of time are
//! caught by the scheduler's segment scan, and erasure leaves a `remove` that names no one.
//! (Audiences journey steps fill: `journeys.rs`; over HTTP: `crates/server/tests/audiences_api.rs`.)

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tailor_engine::EngineError;
use tailor_engine::journeys::audience_book::AudienceDefinition;
use tailor_engine::journeys::audiences::ExportFormat;
use tailor_testkit::TestEngine;

fn hashed(v: &str) -> String {
    Sha256::digest(v.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

async fn shopper(kit: &TestEngine, user: &str, ads: bool) {
    let receipt = kit
        .identify(
            json!({"userId": user, "traits": {"email": format!("{user}@example.com"),
                "phone": "+44 20 7946 0000"},
                "context": {"consent": {"categoryPreferences": {"advertising": ads}}}}),
        )
        .await;
    assert_eq!(receipt.accepted, 1, "{receipt:?}");
}

async fn order(kit: &TestEngine, user: &str, id: &str, total: f64) {
    let receipt = kit
        .track(json!({"userId": user, "event": "Order Completed",
                      "properties": {"order_id": id, "total": total}}))
        .await;
    assert_eq!(receipt.accepted, 1, "{receipt:?}");
}

fn definition(condition: Value) -> AudienceDefinition {
    serde_json::from_value(json!({"description": "spent a lot", "condition": condition})).unwrap()
}

/// The (person, op) pairs of the stream after `after`.
fn changes(kit: &TestEngine, name: &str, after: i64) -> (Vec<(Value, String)>, Value) {
    let c = json!(kit.audience_changes(name, after, 1_000).unwrap());
    let pairs = c["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["person"].clone(), c["op"].as_str().unwrap().to_string()))
        .collect();
    (pairs, c)
}

fn members(kit: &TestEngine, name: &str) -> Vec<String> {
    let a = json!(kit.audience(name).unwrap());
    a["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["person"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_audience_by_segment_gains_and_loses_members_as_events_arrive() {
    let kit = TestEngine::builder()
        .manual_clock("2031-03-03T12:00:00Z")
        .start()
        .await;
    let s = &kit;
    // Refused with every problem at once.
    let Err(EngineError::Invalid(e)) = s.put_audience(
        "big spenders!",
        definition(json!({"revenue": {"$gte": "x", "$bogus": 1}})),
    ) else {
        panic!("a bad audience is refused");
    };
    assert!(
        e.problems.len() == 2 && e.problems[0].contains("audience name"),
        "{e}"
    );
    s.put_audience(
        "big-spenders",
        definition(json!({"revenue": {"$gte": 100}})),
    )
    .unwrap();
    for (user, ads) in [
        ("ann", true),
        ("bob", true),
        ("carl", false),
        ("dana", true),
    ] {
        shopper(s, user, ads).await;
    }
    order(s, "ann", "o1", 150.0).await;
    order(s, "bob", "o2", 50.0).await;
    order(s, "carl", "o3", 500.0).await;
    s.settle().await;
    // ann qualifies; bob has not spent enough; carl refuses advertising.
    assert_eq!(members(s, "big-spenders"), ["ann"]);
    let (pairs, c) = changes(s, "big-spenders", 0);
    assert_eq!(pairs, [(json!("ann"), "add".to_string())], "{c}");
    let keys = &c["changes"][0]["matchKeys"];
    assert_eq!(keys["google"]["email"], hashed("ann@example.com"), "{c}");
    assert_eq!(keys["google"]["phone"], hashed("+442079460000"), "{c}");
    assert_eq!(keys["meta"]["phone"], hashed("442079460000"), "{c}");
    let next = c["next"].as_i64().unwrap();
    // bob's second order takes him over the line.
    order(s, "bob", "o4", 60.0).await;
    s.settle().await;
    let (pairs, c) = changes(s, "big-spenders", next);
    assert_eq!(pairs, [(json!("bob"), "add".to_string())], "{c}");
    let next = c["next"].as_i64().unwrap();
    // ann withdraws advertising consent: she leaves.
    shopper(s, "ann", false).await;
    s.settle().await;
    let (pairs, c) = changes(s, "big-spenders", next);
    assert_eq!(pairs, [(json!("ann"), "remove".to_string())], "{c}");
    assert_eq!(
        c["changes"][0]["matchKeys"]["google"]["email"],
        hashed("ann@example.com"),
        "a remove names whom to drop: {c}"
    );
    assert_eq!(members(s, "big-spenders"), ["bob"]);
    let next = c["next"].as_i64().unwrap();
    // A new definition: the scan brings the members to who qualifies now.
    s.put_audience(
        "big-spenders",
        definition(json!({"revenue": {"$gte": 120}})),
    )
    .unwrap();
    s.settle().await;
    let (pairs, c) = changes(s, "big-spenders", next);
    assert_eq!(pairs, [(json!("bob"), "remove".to_string())], "{c}");
    let next = c["next"].as_i64().unwrap();
    // dana joins; then she is erased: a remove that names no one, with only her hashed keys.
    order(s, "dana", "o5", 300.0).await;
    s.settle().await;
    assert_eq!(members(s, "big-spenders"), ["dana"]);
    // Her events are the newest of the log: the next events still get new positions (the
    // store never reuses them), so journeys and audiences see them.
    let report = s.erase("dana").await.unwrap();
    assert_eq!(report.audience_removals, 1);
    s.settle().await;
    let (pairs, c) = changes(s, "big-spenders", next);
    // The add naming her went with her.
    assert_eq!(pairs, [(Value::Null, "remove".to_string())], "{c}");
    assert_eq!(
        c["changes"][0]["matchKeys"]["meta"]["email"],
        hashed("dana@example.com"),
        "{c}"
    );
    assert!(!c.to_string().contains("dana"), "{c}");
    assert!(members(s, "big-spenders").is_empty());
    // The list shows it with its definition.
    let list = json!(s.audiences().unwrap());
    assert_eq!(list[0]["name"], "big-spenders", "{list}");
    assert_eq!(list[0]["kind"], "segment", "{list}");
    assert_eq!(list[0]["definition"]["condition"]["revenue"]["$gte"], 120);
    // Upload files in each platform's columns.
    order(s, "bob", "o6", 100.0).await;
    s.settle().await;
    let google = s
        .audience_export("big-spenders", ExportFormat::Google)
        .unwrap();
    assert_eq!(
        google,
        format!(
            "Email,Phone\n{},{}\n",
            hashed("bob@example.com"),
            hashed("+442079460000")
        )
    );
    let meta = s
        .audience_export("big-spenders", ExportFormat::Meta)
        .unwrap();
    assert_eq!(
        meta,
        format!(
            "email,phone,value\n{},{},\n",
            hashed("bob@example.com"),
            hashed("442079460000")
        )
    );
    // Deleting it empties it downstream too.
    let next = changes(s, "big-spenders", 0).1["next"].as_i64().unwrap();
    s.delete_audience("big-spenders").unwrap();
    let (pairs, _) = changes(s, "big-spenders", next);
    assert_eq!(pairs, [(json!("bob"), "remove".to_string())]);
    assert!(matches!(
        s.audience("nothing"),
        Err(EngineError::NotFound(_))
    ));
}

/// A segment over predictions: people enter as time passes, with no event of theirs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_segment_on_time_is_rescanned_without_events() {
    let kit = TestEngine::builder()
        .manual_clock("2031-03-03T12:00:00Z")
        .start()
        .await;
    let s = &kit;
    s.put_audience(
        "lapsed",
        definition(json!({"orders": {"$gt": 0}, "daysSinceLastOrder": {"$gt": 30}})),
    )
    .unwrap();
    shopper(s, "ann", true).await;
    order(s, "ann", "o1", 20.0).await;
    s.settle().await;
    assert!(members(s, "lapsed").is_empty());
    s.clock.advance("31d");
    s.settle().await;
    assert_eq!(members(s, "lapsed"), ["ann"], "the hourly scan found her");
    // Her next order brings her back at once.
    order(s, "ann", "o2", 20.0).await;
    s.settle().await;
    assert!(members(s, "lapsed").is_empty());
}
