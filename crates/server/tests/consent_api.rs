//! Consent over the API, in-process: the policy's defaults per purpose and region, one
//! check for every path (what ingestion stores, what `decide` personalizes), withdrawals
//! that take effect on the next call, and the ledger with source and policy version; and
//! consent from events next to consent from `PUT /v1/consent`.

use serde_json::{Value, json};
use tailor_testkit::{ADMIN_KEY, TestApp, WRITE_KEY};

async fn track(s: &TestApp, body: Value) -> Value {
    let (status, reply) = s.post("/v1/track", &body).await;
    assert_eq!(status, 200, "{reply}");
    reply
}

async fn view(s: &TestApp, who: &str, product: &str) -> Value {
    track(
        s,
        json!({"userId": who, "event": "Product Viewed", "properties": {"product_id": product}}),
    )
    .await
}

async fn decide(s: &TestApp, who: &str) -> Value {
    let (status, d) = s
        .post_to("/v1/decide")
        .bearer(WRITE_KEY)
        .json(&json!({"userId": who, "userHash": s.user_hash(who), "placements": ["home.hero", "recs.home"]}))
        .send()
        .await;
    assert_eq!(status, 200, "{d}");
    d
}

async fn put_consent(s: &TestApp, who: &str, purposes: Value) {
    let (status, reply) = s
        .put("/v1/consent")
        .bearer(ADMIN_KEY)
        .json(&json!({"userId": who, "purposes": purposes, "source": "preference center"}))
        .send()
        .await;
    assert_eq!(status, 200, "{reply}");
}

async fn store(s: &TestApp) {
    let products: Vec<Value> = (0..6)
        .map(|i| json!({"id": format!("p{i}"), "name": format!("Product {i}"), "category": if i < 3 { "Shoes/Running" } else { "Home/Kitchen" }, "price": 10.0}))
        .collect();
    assert_eq!(
        s.admin_put("/v1/catalog/products", &Value::Array(products))
            .await
            .0,
        200
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn europe_is_opt_in_until_the_shopper_says_yes() {
    let s = TestApp::start().await;
    store(&s).await;
    let (status, policy) = s.admin_get("/v1/consent/policy").await;
    assert_eq!(status, 200, "{policy}");
    assert_eq!(policy["defaults"]["analytics"], "opt-out");
    assert_eq!(policy["defaults"]["email"], "opt-in");
    assert_eq!(policy["regions"][0]["name"], "Europe");

    let (status, _) = s
        .post(
            "/v1/identify",
            &json!({"userId": "greta", "traits": {"address": {"country": "DE"}}}),
        )
        .await;
    assert_eq!(status, 200);
    // Analytics is opt-in in Europe: the view is not stored.
    let reply = view(&s, "greta", "p0").await;
    assert_eq!(reply["accepted"], 0, "{reply}");
    assert_eq!(reply["withheld"], 1, "{reply}");
    assert_eq!(s.profile("greta").await["productViews"], 0);
    let d = decide(&s, "greta").await;
    assert_eq!(d["personalized"], false, "{d}");
    assert!(d["reason"].as_str().unwrap().contains("consent"), "{d}");
    let (_, state) = s.admin_get("/v1/consent/greta").await;
    assert_eq!(state["purposes"]["personalization"]["allowed"], false);
    assert_eq!(
        state["purposes"]["personalization"]["reason"],
        "not granted (opt-in) in Europe"
    );

    // She says yes in the preference center: the next calls are stored and personalized.
    put_consent(
        &s,
        "greta",
        json!({"analytics": true, "personalization": true}),
    )
    .await;
    for p in ["p0", "p1", "p2"] {
        assert_eq!(view(&s, "greta", p).await["accepted"], 1);
    }
    let d = decide(&s, "greta").await;
    assert_eq!(d["personalized"], true, "{d}");
    let (_, state) = s.admin_get("/v1/consent/greta").await;
    assert_eq!(state["purposes"]["personalization"]["basis"], "choice");
    assert_eq!(
        state["purposes"]["personalization"]["source"],
        "preference center"
    );
    assert_eq!(state["purposes"]["email"]["allowed"], false, "still opt-in");
    let ledger = state["ledger"].as_array().unwrap();
    assert_eq!(ledger.len(), 1, "{ledger:?}");
    assert_eq!(ledger[0]["source"], "preference center");
    assert_eq!(ledger[0]["policyVersion"], "1");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_withdrawal_takes_effect_on_the_next_call() {
    let s = TestApp::start().await;
    store(&s).await;
    for p in ["p0", "p1", "p3"] {
        assert_eq!(view(&s, "sam", p).await["accepted"], 1);
    }
    assert_eq!(decide(&s, "sam").await["personalized"], true);

    // Personalization withdrawn: the very next decision is not personalized.
    put_consent(&s, "sam", json!({"personalization": false})).await;
    let d = decide(&s, "sam").await;
    assert_eq!(d["personalized"], false, "{d}");
    assert!(d["reason"].as_str().unwrap().contains("consent"), "{d}");

    // Analytics withdrawn by the consent manager on an ordinary page event: the event is kept
    // only as the consent record it carries; later browsing is not stored.
    let reply = s
        .post(
            "/v1/page",
            &json!({"userId": "sam", "name": "Home", "properties": {"path": "/secret-page"},
                    "context": {"consent": {"categoryPreferences": {"Analytics": false}}}}),
        )
        .await
        .1;
    assert_eq!(reply["accepted"], 1, "the consent record: {reply}");
    let reply = view(&s, "sam", "p4").await;
    assert_eq!(reply["withheld"], 1, "{reply}");
    let profile = s.profile("sam").await;
    assert_eq!(profile["productViews"], 3, "{profile}");
    assert_eq!(
        profile["pageViews"], 0,
        "the page itself is not kept: {profile}"
    );
    let (_, events) = s.admin_get("/v1/profiles/sam/events").await;
    assert!(
        !events.to_string().contains("secret-page"),
        "nothing of the page is stored: {events}"
    );

    let (_, state) = s.admin_get("/v1/consent/sam").await;
    let ledger = state["ledger"].as_array().unwrap();
    assert_eq!(ledger.len(), 2, "{ledger:?}");
    assert_eq!(ledger[0]["categoryPreferences"]["personalization"], false);
    assert_eq!(ledger[1]["source"], "event without analytics consent");
    assert_eq!(state["purposes"]["analytics"]["allowed"], false);

    // Granted again: stored again.
    put_consent(&s, "sam", json!({"analytics": true})).await;
    assert_eq!(view(&s, "sam", "p5").await["accepted"], 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_policy_is_validated_and_versioned() {
    let s = TestApp::start().await;
    store(&s).await;
    assert_eq!(view(&s, "pat", "p0").await["accepted"], 1);
    assert_eq!(decide(&s, "pat").await["personalized"], true);

    let (status, e) = s
        .admin_put(
            "/v1/consent/policy",
            &json!({"version": "", "defaults": {"analytics": "opt-out"}, "regions": [{"name": "X", "countries": ["Germany"], "defaults": {}}]}),
        )
        .await;
    assert_eq!(status, 400, "{e}");
    let message = e["error"]["message"].as_str().unwrap();
    for expected in ["version", "personalization", "Germany"] {
        assert!(message.contains(expected), "{message}");
    }
    let (status, e) = s
        .admin_put(
            "/v1/consent/policy",
            &json!({"version": "2", "defaults": {"analytics": "maybe"}}),
        )
        .await;
    assert_eq!(status, 400, "{e}");

    // Personalization becomes opt-in everywhere: Pat never said yes, so the next decision is
    // not personalized; consent given now records the new policy version.
    let opt_in = json!({"version": "2", "defaults": {"analytics": "opt-out", "personalization": "opt-in",
        "email": "opt-in", "push": "opt-in", "sms": "opt-in", "advertising": "opt-in"}});
    let (status, reply) = s.admin_put("/v1/consent/policy", &opt_in).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(decide(&s, "pat").await["personalized"], false);
    put_consent(&s, "pat", json!({"personalization": true})).await;
    assert_eq!(decide(&s, "pat").await["personalized"], true);
    let (_, state) = s.admin_get("/v1/consent/pat").await;
    assert_eq!(state["ledger"][0]["policyVersion"], "2");
    assert_eq!(state["policyVersion"], "2");
    let (status, _) = s.admin_get("/v1/consent/nobody").await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn consent_from_events_and_from_the_api() {
    let s = TestApp::start().await;
    s.post("/v1/page", &json!({"anonymousId": "c1", "context": {"consent": {"categoryPreferences": {"Advertising": false, "Analytics": true}}}}))
        .await;
    let p = s.profile("c1").await;
    assert_eq!(p["consent"]["advertising"]["granted"], false);
    assert_eq!(p["consent"]["analytics"]["granted"], true);
    // The API's choice comes later than the page's (the last choice by time wins).
    s.kit.clock.advance_ms(5);
    let (status, reply) = s
        .admin_put(
            "/v1/consent",
            &json!({"anonymousId": "c1", "purposes": {"advertising": true, "email": false}}),
        )
        .await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["consent"]["advertising"]["granted"], true);
    assert_eq!(reply["consent"]["advertising"]["source"], "api");
    assert_eq!(reply["consent"]["email"]["granted"], false);
    let (status, err) = s
        .admin_put(
            "/v1/consent",
            &json!({"anonymousId": "c1", "purposes": {"telepathy": true}}),
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("telepathy")
    );
}
