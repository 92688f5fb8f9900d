//! Export and erasure at the engine boundary, on a SQLite data directory: the export holds
//! everything about a person; after the erasure a byte scan of the whole directory finds
//! none of their ids, e-mail or traits, what the product statistics learned from them is
//! gone, late events are refused, and the audit log records the erasure without personal
//! data. (The admin routes, their statuses and the audit of admin reads:
//! `crates/server/tests/privacy_api.rs`.)

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use serde_json::{Value, json};
use tailor_engine::EngineError;
use tailor_engine::experiments::PlacementExperiment;
use tailor_testkit::{DEADLINE, TestEngine, byte_scan, eventually};

const USER: &str = "user-zq81-erase";
const ANON: &str = "anon-zq81-erase";
const EMAIL: &str = "zq81.erase@example.org";
const NAME: &str = "Quentin Zq81-Erasable";
const PHONE: &str = "+44 7700 981234";

/// Every string that identifies the person.
const PERSONAL: [&str; 5] = [USER, ANON, EMAIL, NAME, PHONE];

async fn send(kit: &TestEngine, body: Value) {
    assert_eq!(kit.track(body).await.accepted, 1);
}

fn first_recs(kit: &TestEngine, product: &str) -> Vec<(String, String)> {
    let d = kit.decide_json(
        json!({"anonymousId": "bystander", "placements": ["recs.product"], "context": {"productId": product}}),
    );
    d["decisions"]["recs.product"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["product"]["id"].as_str().unwrap().to_string(),
                i["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The audit log as `GET /v1/audit` shows it (newest first).
fn audit(kit: &TestEngine) -> Vec<Value> {
    kit.audit_log(100)
        .unwrap()
        .into_iter()
        .map(|e| {
            json!({"at": e.at, "action": e.action,
                "detail": serde_json::from_str::<Value>(&e.detail).unwrap_or(Value::Null)})
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn export_then_erasure_reaches_every_copy() {
    let mut kit = TestEngine::builder().sqlite().start().await;
    let dir = kit.data_dir().unwrap().to_path_buf();
    let products: Vec<Value> = ["solo-a", "solo-b", "shared-1", "shared-2"]
        .iter()
        .map(|id| json!({"id": id, "name": format!("Product {id}"), "category": "Misc/Things", "price": 10.0}))
        .collect();
    assert_eq!(kit.load_products(Value::Array(products)), 4);
    let promo = json!([{"id": "promo-all", "kind": "promotion", "placements": ["promo.banner"], "title": "10% off"}]);
    assert_eq!(kit.load_content(promo), 1);

    // Other shoppers: their data must survive.
    for i in 0..4 {
        for p in ["shared-1", "shared-2"] {
            send(&kit, json!({"anonymousId": format!("other-{i}"), "event": "Product Viewed", "properties": {"product_id": p}})).await;
        }
    }
    // The person: browses anonymously (the only one to view solo-a then solo-b), consents,
    // logs in with traits, buys, and is shown decisions.
    for p in ["solo-a", "solo-b", "shared-1"] {
        send(&kit, json!({"anonymousId": ANON, "event": "Product Viewed", "properties": {"product_id": p}})).await;
    }
    send(&kit, json!({"anonymousId": ANON, "event": "Segment Consent Preference Updated",
        "context": {"consent": {"categoryPreferences": {"personalization": true, "advertising": false}}}})).await;
    kit.identify(json!({"anonymousId": ANON, "userId": USER,
        "traits": {"email": EMAIL, "name": NAME, "phone": PHONE}}))
        .await;
    let d = kit.decide_json(json!({"userId": USER, "placements": ["promo.banner", "recs.home"]}));
    let decision = d["decisionId"].as_str().unwrap().to_string();
    send(
        &kit,
        json!({"userId": USER, "event": "Promotion Clicked",
        "properties": {"promotion_id": "promo-all", "decisionId": decision}}),
    )
    .await;
    send(&kit, json!({"userId": USER, "event": "Order Completed",
        "properties": {"order_id": "o-zq81", "total": 20.0, "products": [{"product_id": "solo-b", "price": 20.0}]}})).await;
    let before = first_recs(&kit, "solo-a");
    assert_eq!(before[0].0, "solo-b", "learned from the person: {before:?}");

    // Export: everything about them in one document.
    kit.settle().await;
    let export = kit.export_json(USER).expect("an export");
    assert_eq!(export["format"], "tailor-export/1");
    assert_eq!(export["profile"]["traits"]["email"], EMAIL);
    let ids =
        export["profile"]["anonymousIds"].to_string() + &export["profile"]["userIds"].to_string();
    assert!(
        ids.contains(ANON) && ids.contains(USER),
        "{}",
        export["profile"]
    );
    assert_eq!(
        export["events"].as_array().unwrap().len(),
        7,
        "every event of theirs"
    );
    assert_eq!(export["consentHistory"].as_array().unwrap().len(), 1);
    assert_eq!(
        export["consentHistory"][0]["categoryPreferences"]["advertising"],
        false
    );
    let decisions = export["decisions"].as_array().unwrap();
    assert!(
        decisions
            .iter()
            .any(|d| d["decisionId"] == decision.as_str()),
        "the decision shown to them: {decisions:?}"
    );
    assert!(kit.export("nobody").unwrap().is_none());

    // The data directory holds them before the erasure (the scan can see what it looks for).
    assert!(!byte_scan(&dir, &PERSONAL).is_empty());

    // Erase.
    let erased = json!(kit.erase(USER).await.unwrap());
    assert_eq!(erased["events"], 7, "{erased}");
    assert_eq!(erased["profiles"], 1, "{erased}");
    assert!(erased["decisions"].as_u64().unwrap() >= 1, "{erased}");
    assert_eq!(erased["suppressed_ids"], 2, "{erased}");
    let leftovers = byte_scan(&dir, &PERSONAL);
    assert!(leftovers.is_empty(), "after erasure: {leftovers:?}");

    // Gone from every read, and from what the store learned about products.
    for id in [USER, ANON] {
        assert!(kit.try_profile_json(id).is_none(), "{id}");
    }
    assert!(
        matches!(kit.erase(USER).await, Err(EngineError::NotFound(_))),
        "a second erasure finds nobody"
    );
    let after = first_recs(&kit, "solo-a");
    assert!(
        after
            .iter()
            .all(|(id, reason)| id != "solo-b" || reason.starts_with("From our")),
        "nothing learned from them is left: {after:?}"
    );
    let others = kit.profile_json("other-0");
    assert_eq!(
        others["productViews"], 2,
        "other shoppers keep their data: {others}"
    );

    // Late events naming them are refused; decisions for them are not logged with their id.
    let late = kit
        .track(json!({"anonymousId": ANON, "event": "Product Viewed", "properties": {"product_id": "solo-a"}}))
        .await;
    assert_eq!((late.accepted, late.suppressed), (0, 1), "{late:?}");
    assert!(kit.try_profile_json(ANON).is_none(), "not re-created");
    let d = kit.decide_json(json!({"userId": USER, "placements": ["recs.home"]}));
    assert_eq!(d["personalized"], false);
    kit.settle().await;

    // The audit log records it, without personal data.
    let entries = audit(&kit);
    let erase = entries
        .iter()
        .find(|e| e["action"] == "erase")
        .expect("the erasure is in the audit log");
    assert_eq!(erase["detail"]["events"], 7);
    let text = json!(entries).to_string();
    assert!(PERSONAL.iter().all(|p| !text.contains(p)), "{text}");

    // After a restart: still gone, still nothing in the files.
    kit.stop().await;
    let leftovers = byte_scan(&dir, &PERSONAL);
    assert!(leftovers.is_empty(), "after shutdown: {leftovers:?}");
    kit.reopen().await;
    assert!(kit.try_profile_json(USER).is_none());
    let late = kit
        .track(json!({"userId": USER, "event": "Product Viewed", "properties": {"product_id": "solo-a"}}))
        .await;
    assert_eq!(
        late.suppressed, 1,
        "suppression survives a restart: {late:?}"
    );

    // Lifting the suppression lets the person come back.
    assert!(kit.lift_suppression(USER).unwrap());
    assert!(!kit.lift_suppression("never-erased").unwrap());
    let back = kit
        .track(json!({"userId": USER, "event": "Product Viewed", "properties": {"product_id": "solo-a"}}))
        .await;
    assert_eq!(back.accepted, 1, "{back:?}");
}

/// Erasure while the same person's events pour in from several tasks: once the erasure
/// answers, nothing about them is in the files, and every batch sent after it is refused
/// as suppressed (none re-creates them).
#[tokio::test(flavor = "multi_thread")]
async fn erasure_during_heavy_ingestion_of_the_same_person() {
    const X_USER: &str = "user-hv42-busy";
    const X_ANON: &str = "anon-hv42-busy";
    const X_EMAIL: &str = "hv42.busy@example.org";
    const X_NAME: &str = "Hedda Hv42-Busy";
    let x_personal = [X_USER, X_ANON, X_EMAIL, X_NAME];
    let kit = Arc::new(TestEngine::builder().sqlite().start().await);
    let dir = kit.data_dir().unwrap().to_path_buf();
    // A journey every view enters: its scheduler writes runs and messages for them while
    // the erasure runs.
    let journey = json!({"id": "views-hv42", "trigger": {"event": "Product Viewed"}, "steps": [
        {"id": "hook", "type": "send", "channel": "webhook", "template": "event", "url": "http://127.0.0.1:9/unreachable"}]});
    kit.put_journey(journey).unwrap();
    kit.identify(json!({"userId": X_USER, "anonymousId": X_ANON,
        "traits": {"email": X_EMAIL, "name": X_NAME}}))
        .await;
    send(
        &kit,
        json!({"anonymousId": "bystander-hv", "event": "Product Viewed",
        "properties": {"product_id": "p-1"}}),
    )
    .await;

    let erased = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicUsize::new(0));
    let mut senders = Vec::new();
    for task in 0..4 {
        let (kit, erased, stop, sent) = (kit.clone(), erased.clone(), stop.clone(), sent.clone());
        senders.push(tokio::spawn(async move {
            // (sent after the erasure answered, receipt)
            let mut replies = Vec::new();
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                let after = erased.load(Ordering::SeqCst);
                let batch: Vec<Value> = (0..25)
                    .map(|i| {
                        n += 1;
                        if i % 5 == 0 {
                            json!({"type": "identify", "userId": X_USER, "anonymousId": X_ANON,
                                "traits": {"email": X_EMAIL, "name": X_NAME, "visits": n}})
                        } else {
                            json!({"type": "track", "userId": X_USER, "event": "Product Viewed",
                                "properties": {"product_id": format!("p-{task}-{}", n % 7)}})
                        }
                    })
                    .collect();
                let receipt = kit.batch(json!({"batch": batch})).await;
                replies.push((after, receipt));
                sent.fetch_add(1, Ordering::SeqCst);
            }
            replies
        }));
    }
    // Let the load build up, then erase in the middle of it.
    eventually("load before the erasure", DEADLINE, || async {
        sent.load(Ordering::SeqCst) >= 16
    })
    .await;
    let report = kit.erase(X_USER).await.unwrap();
    erased.store(true, Ordering::SeqCst);
    assert!(report.events > 25, "{report:?}");
    let at_erasure = sent.load(Ordering::SeqCst);
    eventually("load after the erasure", DEADLINE, || async {
        sent.load(Ordering::SeqCst) >= at_erasure + 16
    })
    .await;
    stop.store(true, Ordering::SeqCst);
    let mut before = 0;
    let mut after = 0;
    for task in senders {
        for (sent_after, receipt) in task.await.unwrap() {
            if sent_after {
                after += 1;
                assert_eq!(
                    receipt.accepted, 0,
                    "refused after the erasure: {receipt:?}"
                );
                assert_eq!(receipt.suppressed, 25, "{receipt:?}");
            } else {
                before += 1;
            }
        }
    }
    assert!(
        before >= 4 && after >= 4,
        "load on both sides: {before} before, {after} after"
    );

    // Nothing of theirs is in the files, nor in any read; the bystander is untouched.
    let leftovers = byte_scan(&dir, &x_personal);
    assert!(
        leftovers.is_empty(),
        "after erasure under load: {leftovers:?}"
    );
    for id in [X_USER, X_ANON] {
        assert!(kit.try_profile_json(id).is_none(), "{id} is not re-created");
    }
    assert_eq!(kit.profile_json("bystander-hv")["productViews"], 1);
    let mut kit = Arc::try_unwrap(kit).ok().expect("the senders are done");
    kit.stop().await;
    let leftovers = byte_scan(&dir, &x_personal);
    assert!(leftovers.is_empty(), "after shutdown: {leftovers:?}");
}

/// The export lists the person's experiment assignments, their journeys and every journey
/// message for them.
#[tokio::test(flavor = "multi_thread")]
async fn export_lists_experiment_assignments_and_journey_messages() {
    const ID: &str = "user-ex77-export";
    let kit = TestEngine::start().await;
    let exp: PlacementExperiment = serde_json::from_value(json!({"id": "recs-ex77", "placement": "recs.home", "variations": [
        {"id": "editorial", "treatment": "editorial"}, {"id": "personalized", "treatment": "personalized"}]}))
    .unwrap();
    kit.put_experiment(exp).unwrap();
    let journey = json!({"id": "ping-ex77", "trigger": {"event": "Ping Me"}, "steps": [
        {"id": "hook", "type": "send", "channel": "webhook", "template": "event", "url": "http://127.0.0.1:9/unreachable"}]});
    kit.put_journey(journey).unwrap();
    kit.identify(json!({"userId": ID, "traits": {"email": "ex77@example.org"}}))
        .await;
    let d = kit.decide_json(json!({"userId": ID, "placements": ["recs.home"]}));
    let variation = d["decisions"]["recs.home"]["experiment"]["variation"].clone();
    send(&kit, json!({"userId": ID, "event": "Ping Me"})).await;

    kit.settle().await;
    let export = kit.export_json(ID).expect("an export");
    assert!(
        !export["messagesSent"].as_array().unwrap().is_empty(),
        "a journey message: {export}"
    );
    let assignments = export["experimentAssignments"].as_array().unwrap();
    assert_eq!(assignments.len(), 1, "{assignments:?}");
    assert_eq!(assignments[0]["experiment"], "recs-ex77");
    assert_eq!(assignments[0]["id"], ID);
    assert!(assignments[0]["firstExposedAt"].is_string());
    assert!(
        variation.is_string(),
        "the decision was in the experiment: {d}"
    );
    assert!(
        assignments[0]["variation"].as_u64().unwrap() < 2,
        "{assignments:?}"
    );
    let message = &export["messagesSent"][0];
    assert_eq!(message["journey"], "ping-ex77", "{message}");
    assert_eq!(message["person"], ID);
    assert_eq!(message["channel"], "webhook");
    assert!(message["status"].is_string(), "{message}");
    let journeys = export["journeys"].as_array().unwrap();
    assert_eq!(journeys.len(), 1, "{journeys:?}");
    assert_eq!(journeys[0]["journey"], "ping-ex77");
}
