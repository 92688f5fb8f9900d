//! Export and erasure end to end over loopback: the export holds everything about a person;
//! after `DELETE /v1/profiles/{id}` a byte scan of the whole data directory finds none of
//! their ids, e-mail or traits, what the product statistics learned from them is gone, late
//! events are refused, and the audit log records the erasure without personal data.

mod common;

use std::time::Duration;

use common::{ADMIN_KEY, Server, WRITE_KEY, byte_scan};
use serde_json::{Value, json};

const USER: &str = "user-zq81-erase";
const ANON: &str = "anon-zq81-erase";
const EMAIL: &str = "zq81.erase@example.org";
const NAME: &str = "Quentin Zq81-Erasable";
const PHONE: &str = "+44 7700 981234";

/// Every string that identifies the person.
const PERSONAL: [&str; 5] = [USER, ANON, EMAIL, NAME, PHONE];

async fn send(s: &Server, path: &str, body: Value) -> Value {
    let (status, reply) = s.post(path, &body).await;
    assert_eq!(status, 200, "{path}: {reply}");
    reply
}

async fn admin(s: &Server, method: reqwest::Method, path: &str) -> (u16, Value) {
    s.raw(s.http.request(method, s.url(path)).bearer_auth(ADMIN_KEY))
        .await
}

async fn first_recs(s: &Server, product: &str) -> Vec<(String, String)> {
    let (status, d) = s
        .raw(s.http.post(s.url("/v1/decide")).bearer_auth(WRITE_KEY).json(
            &json!({"anonymousId": "bystander", "placements": ["recs.product"], "context": {"productId": product}}),
        ))
        .await;
    assert_eq!(status, 200, "{d}");
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

#[tokio::test(flavor = "multi_thread")]
async fn export_then_erasure_reaches_every_copy() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Server::start(dir.path()).await;
    let products: Vec<Value> = ["solo-a", "solo-b", "shared-1", "shared-2"]
        .iter()
        .map(|id| json!({"id": id, "name": format!("Product {id}"), "category": "Misc/Things", "price": 10.0}))
        .collect();
    assert_eq!(
        s.admin_put("/v1/catalog/products", &Value::Array(products))
            .await
            .0,
        200
    );
    let promo = json!([{"id": "promo-all", "kind": "promotion", "placements": ["promo.banner"], "title": "10% off"}]);
    assert_eq!(s.admin_put("/v1/catalog/content", &promo).await.0, 200);

    // Other shoppers: their data must survive.
    for i in 0..4 {
        for p in ["shared-1", "shared-2"] {
            send(&s, "/v1/track", json!({"anonymousId": format!("other-{i}"), "event": "Product Viewed", "properties": {"product_id": p}})).await;
        }
    }
    // The person: browses anonymously (the only one to view solo-a then solo-b), consents,
    // logs in with traits, buys, and is shown decisions.
    for p in ["solo-a", "solo-b", "shared-1"] {
        send(&s, "/v1/track", json!({"anonymousId": ANON, "event": "Product Viewed", "properties": {"product_id": p}})).await;
    }
    send(&s, "/v1/track", json!({"anonymousId": ANON, "event": "Segment Consent Preference Updated",
        "context": {"consent": {"categoryPreferences": {"personalization": true, "advertising": false}}}})).await;
    send(
        &s,
        "/v1/identify",
        json!({"anonymousId": ANON, "userId": USER,
        "traits": {"email": EMAIL, "name": NAME, "phone": PHONE}}),
    )
    .await;
    let (status, d) = s
        .raw(
            s.http
                .post(s.url("/v1/decide"))
                .bearer_auth(WRITE_KEY)
                .json(&json!({"userId": USER, "placements": ["promo.banner", "recs.home"]})),
        )
        .await;
    assert_eq!(status, 200, "{d}");
    let decision = d["decisionId"].as_str().unwrap().to_string();
    send(
        &s,
        "/v1/track",
        json!({"userId": USER, "event": "Promotion Clicked",
        "properties": {"promotion_id": "promo-all", "decisionId": decision}}),
    )
    .await;
    send(&s, "/v1/track", json!({"userId": USER, "event": "Order Completed",
        "properties": {"order_id": "o-zq81", "total": 20.0, "products": [{"product_id": "solo-b", "price": 20.0}]}})).await;
    let before = first_recs(&s, "solo-a").await;
    assert_eq!(before[0].0, "solo-b", "learned from the person: {before:?}");

    // Export: everything about them in one document.
    let (status, export) = admin(
        &s,
        reqwest::Method::GET,
        &format!("/v1/profiles/{USER}/export"),
    )
    .await;
    assert_eq!(status, 200, "{export}");
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
    let (status, _) = admin(&s, reqwest::Method::GET, "/v1/profiles/nobody/export").await;
    assert_eq!(status, 404);

    // The data directory holds them before the erasure (the scan can see what it looks for).
    assert!(!byte_scan(dir.path(), &PERSONAL).is_empty());

    // Erase.
    let (status, reply) = admin(&s, reqwest::Method::DELETE, &format!("/v1/profiles/{USER}")).await;
    assert_eq!(status, 200, "{reply}");
    let erased = &reply["erased"];
    assert_eq!(erased["events"], 7, "{reply}");
    assert_eq!(erased["profiles"], 1, "{reply}");
    assert!(erased["decisions"].as_u64().unwrap() >= 1, "{reply}");
    assert_eq!(erased["suppressed_ids"], 2, "{reply}");
    let leftovers = byte_scan(dir.path(), &PERSONAL);
    assert!(leftovers.is_empty(), "after erasure: {leftovers:?}");

    // Gone from every API, and from what the store learned about products.
    for id in [USER, ANON] {
        let (status, _) = admin(&s, reqwest::Method::GET, &format!("/v1/profiles/{id}")).await;
        assert_eq!(status, 404);
    }
    let (status, _) = admin(&s, reqwest::Method::DELETE, &format!("/v1/profiles/{USER}")).await;
    assert_eq!(status, 404, "a second erasure finds nobody");
    let after = first_recs(&s, "solo-a").await;
    assert!(
        after
            .iter()
            .all(|(id, reason)| id != "solo-b" || reason.starts_with("From our")),
        "nothing learned from them is left: {after:?}"
    );
    let others = s.profile("other-0").await;
    assert_eq!(
        others["productViews"], 2,
        "other shoppers keep their data: {others}"
    );

    // Late events naming them are refused; decisions for them are not logged with their id.
    let late = send(&s, "/v1/track", json!({"anonymousId": ANON, "event": "Product Viewed", "properties": {"product_id": "solo-a"}})).await;
    assert_eq!(late["accepted"], 0, "{late}");
    assert_eq!(late["suppressed"], 1, "{late}");
    let (status, _) = admin(&s, reqwest::Method::GET, &format!("/v1/profiles/{ANON}")).await;
    assert_eq!(status, 404, "not re-created");
    let (status, d) = s
        .raw(
            s.http
                .post(s.url("/v1/decide"))
                .bearer_auth(WRITE_KEY)
                .json(&json!({"userId": USER, "placements": ["recs.home"]})),
        )
        .await;
    assert_eq!(status, 200, "{d}");
    assert_eq!(d["personalized"], false);
    tokio::time::sleep(Duration::from_millis(300)).await; // the decision log writes every 50 ms

    // The audit log records it, without personal data.
    let (status, audit) = admin(&s, reqwest::Method::GET, "/v1/audit").await;
    assert_eq!(status, 200, "{audit}");
    let erase = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "erase")
        .expect("the erasure is in the audit log");
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.contains(&"export"),
        "admin reads are audit-logged: {actions:?}"
    );
    assert_eq!(erase["detail"]["events"], 7);
    let text = audit.to_string();
    assert!(PERSONAL.iter().all(|p| !text.contains(p)), "{text}");

    // After a restart: still gone, still nothing in the files.
    s.stop();
    let leftovers = byte_scan(dir.path(), &PERSONAL);
    assert!(leftovers.is_empty(), "after shutdown: {leftovers:?}");
    let s = Server::start(dir.path()).await;
    let (status, _) = admin(&s, reqwest::Method::GET, &format!("/v1/profiles/{USER}")).await;
    assert_eq!(status, 404);
    let late = send(
        &s,
        "/v1/track",
        json!({"userId": USER, "event": "Product Viewed", "properties": {"product_id": "solo-a"}}),
    )
    .await;
    assert_eq!(
        late["suppressed"], 1,
        "suppression survives a restart: {late}"
    );

    // Lifting the suppression lets the person come back.
    let (status, reply) = admin(
        &s,
        reqwest::Method::DELETE,
        &format!("/v1/suppressions/{USER}"),
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    let (status, _) = admin(&s, reqwest::Method::DELETE, "/v1/suppressions/never-erased").await;
    assert_eq!(status, 404);
    let back = send(
        &s,
        "/v1/track",
        json!({"userId": USER, "event": "Product Viewed", "properties": {"product_id": "solo-a"}}),
    )
    .await;
    assert_eq!(back["accepted"], 1, "{back}");
}

/// Erasure while the same person's events pour in from several connections: once the
/// `DELETE` answers, nothing about them is in the files, and every batch sent after it is
/// refused as suppressed (none re-creates them).
#[tokio::test(flavor = "multi_thread")]
async fn erasure_during_heavy_ingestion_of_the_same_person() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    const X_USER: &str = "user-hv42-busy";
    const X_ANON: &str = "anon-hv42-busy";
    const X_EMAIL: &str = "hv42.busy@example.org";
    const X_NAME: &str = "Hedda Hv42-Busy";
    let x_personal = [X_USER, X_ANON, X_EMAIL, X_NAME];
    let dir = tempfile::tempdir().unwrap();
    let mut s = Server::start(dir.path()).await;
    // A journey every view enters: its scheduler writes runs and messages for them while
    // the erasure runs.
    let journey = json!({"trigger": {"event": "Product Viewed"}, "steps": [
        {"id": "hook", "type": "send", "channel": "webhook", "template": "event", "url": "http://127.0.0.1:9/unreachable"}]});
    assert_eq!(
        s.admin_put("/v1/journeys/views-hv42", &journey).await.0,
        200
    );
    send(
        &s,
        "/v1/identify",
        json!({"userId": X_USER, "anonymousId": X_ANON,
        "traits": {"email": X_EMAIL, "name": X_NAME}}),
    )
    .await;
    send(
        &s,
        "/v1/track",
        json!({"anonymousId": "bystander-hv", "event": "Product Viewed",
        "properties": {"product_id": "p-1"}}),
    )
    .await;

    let erased = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let mut senders = Vec::new();
    for task in 0..4 {
        let (http, url) = (s.http.clone(), s.url("/v1/batch"));
        let (erased, stop) = (erased.clone(), stop.clone());
        senders.push(tokio::spawn(async move {
            // (sent after the erasure answered, reply)
            let mut replies: Vec<(bool, Value)> = Vec::new();
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
                let r = http
                    .post(&url)
                    .basic_auth(WRITE_KEY, Some(""))
                    .json(&json!({"batch": batch}))
                    .send()
                    .await
                    .expect("request");
                let (status, reply) = common::status_json(r).await;
                assert_eq!(status, 200, "{reply}");
                replies.push((after, reply));
            }
            replies
        }));
    }
    // Let the load build up, then erase in the middle of it.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let (status, reply) = admin(
        &s,
        reqwest::Method::DELETE,
        &format!("/v1/profiles/{X_USER}"),
    )
    .await;
    erased.store(true, Ordering::SeqCst);
    assert_eq!(status, 200, "{reply}");
    assert!(reply["erased"]["events"].as_u64().unwrap() > 25, "{reply}");
    tokio::time::sleep(Duration::from_millis(700)).await;
    stop.store(true, Ordering::SeqCst);
    let mut before = 0;
    let mut after = 0;
    for task in senders {
        for (sent_after, reply) in task.await.unwrap() {
            if sent_after {
                after += 1;
                assert_eq!(reply["accepted"], 0, "refused after the erasure: {reply}");
                assert_eq!(reply["suppressed"], 25, "{reply}");
            } else {
                before += 1;
            }
        }
    }
    assert!(
        before >= 4 && after >= 4,
        "load on both sides: {before} before, {after} after"
    );

    // Nothing of theirs is in the files, nor in any API; the bystander is untouched.
    let leftovers = byte_scan(dir.path(), &x_personal);
    assert!(
        leftovers.is_empty(),
        "after erasure under load: {leftovers:?}"
    );
    for id in [X_USER, X_ANON] {
        let (status, _) = admin(&s, reqwest::Method::GET, &format!("/v1/profiles/{id}")).await;
        assert_eq!(status, 404, "{id} is not re-created");
    }
    assert_eq!(s.profile("bystander-hv").await["productViews"], 1);
    s.stop();
    let leftovers = byte_scan(dir.path(), &x_personal);
    assert!(leftovers.is_empty(), "after shutdown: {leftovers:?}");
}

/// The export lists the person's experiment assignments, their journeys and every journey
/// message for them.
#[tokio::test(flavor = "multi_thread")]
async fn export_lists_experiment_assignments_and_journey_messages() {
    const ID: &str = "user-ex77-export";
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path()).await;
    let exp = json!({"placement": "recs.home", "variations": [
        {"id": "editorial", "treatment": "editorial"}, {"id": "personalized", "treatment": "personalized"}]});
    let (status, r) = s.admin_put("/v1/experiments/recs-ex77", &exp).await;
    assert_eq!(status, 200, "{r}");
    let journey = json!({"trigger": {"event": "Ping Me"}, "steps": [
        {"id": "hook", "type": "send", "channel": "webhook", "template": "event", "url": "http://127.0.0.1:9/unreachable"}]});
    let (status, r) = s.admin_put("/v1/journeys/ping-ex77", &journey).await;
    assert_eq!(status, 200, "{r}");
    send(
        &s,
        "/v1/identify",
        json!({"userId": ID, "traits": {"email": "ex77@example.org"}}),
    )
    .await;
    let (status, d) = s
        .raw(
            s.http
                .post(s.url("/v1/decide"))
                .bearer_auth(WRITE_KEY)
                .json(&json!({"userId": ID, "placements": ["recs.home"]})),
        )
        .await;
    assert_eq!(status, 200, "{d}");
    let variation = d["decisions"]["recs.home"]["experiment"]["variation"].clone();
    send(&s, "/v1/track", json!({"userId": ID, "event": "Ping Me"})).await;

    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let export = loop {
        let (status, export) = admin(
            &s,
            reqwest::Method::GET,
            &format!("/v1/profiles/{ID}/export"),
        )
        .await;
        assert_eq!(status, 200, "{export}");
        if !export["messagesSent"].as_array().unwrap().is_empty() {
            break export;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no journey message: {export}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
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
