//! Zero-party data over the API, in-process: declared preferences and quiz answers take
//! effect in the next decision and outweigh what Tailor inferred; bad declarations and quiz
//! definitions are refused with every problem and change nothing.

mod common;

use common::{decide, get, post, put, store, view};
use serde_json::json;
use tailor_testkit::{ADMIN_KEY, TestApp, WRITE_KEY};

#[tokio::test(flavor = "multi_thread")]
async fn declared_preferences_outweigh_inferred_ones() {
    let s = TestApp::start().await;
    store(&s).await;
    for p in ["home-kitchen-0", "home-kitchen-1", "home-kitchen-2"] {
        view(&s, "zoe", p).await;
    }
    let d = decide(&s, "zoe").await;
    assert_eq!(
        d["decisions"]["home.hero"]["item"]["id"], "hero-home",
        "{d}"
    );

    // She tells the store she likes makeup, up to $25, and wants e-mails.
    let (status, r) = put(&s, "/v1/preferences", WRITE_KEY, json!({"userId": "zoe", "userHash": s.user_hash("zoe"), "preferences":
        {"categories": ["Beauty > Makeup"], "priceRange": {"min": 0, "max": 25}, "channels": {"email": true}}})).await;
    assert_eq!(status, 200, "{r}");
    let d = decide(&s, "zoe").await;
    let hero = &d["decisions"]["home.hero"];
    assert_eq!(hero["item"]["id"], "hero-beauty", "{d}");
    assert_eq!(hero["explanation"], "Because you told us you like Beauty");
    let nav = &d["decisions"]["nav.categories"];
    assert_eq!(nav["categories"][0]["name"], "Beauty", "{nav}");
    assert_eq!(nav["explanation"], "Beauty first: you told us you like it");
    let items = d["decisions"]["recs.home"]["items"].as_array().unwrap();
    let prices: Vec<f64> = items
        .iter()
        .map(|i| i["product"]["price"].as_f64().unwrap())
        .collect();
    assert!(
        prices[..5].iter().all(|p| *p <= 25.0),
        "in-range products first: {prices:?}"
    );
    assert!(
        items
            .iter()
            .any(|i| i["reason"] == "Because you told us you like Beauty/Makeup"),
        "{items:?}"
    );
    // The head follows the declaration: of the first 4 products at least 80 % (so all 4,
    // as the catalog has 6 makeup products in range) are from the declared category.
    let declared_in_head = items[..4]
        .iter()
        .filter(|i| i["product"]["category"].to_string().contains("Makeup"))
        .count();
    assert!(
        declared_in_head as f64 >= 0.8 * 4.0,
        "{declared_in_head} of the first 4 are makeup: {items:?}"
    );
    // Declared channels are consent.
    let (_, consent) = s.admin_get("/v1/consent/zoe").await;
    assert_eq!(consent["purposes"]["email"]["allowed"], true, "{consent}");
    assert_eq!(consent["purposes"]["email"]["source"], "preference center");

    // Bad declarations are refused with every problem, and change nothing.
    let (status, e) = put(
        &s,
        "/v1/preferences",
        WRITE_KEY,
        json!({"userId": "zoe", "userHash": s.user_hash("zoe"), "preferences":
        {"categories": ["Toys"], "priceRange": {"min": 50, "max": 5}}}),
    )
    .await;
    assert_eq!(status, 400, "{e}");
    let message = e["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("Toys") && message.contains("priceRange"),
        "{message}"
    );
    let (status, _) = put(&s, "/v1/preferences", WRITE_KEY, json!({"preferences": {}})).await;
    assert_eq!(status, 400, "a shopper must be named");
    assert_eq!(
        decide(&s, "zoe").await["decisions"]["home.hero"]["item"]["id"],
        "hero-beauty"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn quiz_answers_become_preferences() {
    let s = TestApp::start().await;
    store(&s).await;
    let quiz = json!({"title": "Find your run", "questions": [
        {"id": "terrain", "text": "Where do you run?", "answers": [
            {"id": "road", "label": "Roads", "sets": {"categories": ["Shoes/Running"]}},
            {"id": "trail", "label": "Trails", "sets": {"categories": ["Shoes/Trail"]}}]},
        {"id": "budget", "text": "Budget?", "answers": [
            {"id": "any", "label": "Whatever it takes"},
            {"id": "low", "label": "Under $100", "sets": {"priceRange": {"min": 0, "max": 100}}}]}]});
    let (status, r) = put(&s, "/v1/quizzes/run", WRITE_KEY, quiz.clone()).await;
    assert_eq!(status, 403, "defining quizzes needs the admin key: {r}");
    let (status, r) = put(&s, "/v1/quizzes/run", ADMIN_KEY, quiz).await;
    assert_eq!(status, 200, "{r}");
    let (status, bad) = put(&s, "/v1/quizzes/bad", ADMIN_KEY, json!({"title": "x", "questions": [
        {"id": "q", "text": "?", "answers": [{"id": "a", "label": "A", "sets": {"categories": ["Toys"]}}]}]})).await;
    assert_eq!(status, 400, "{bad}");
    let (status, listed) = get(&s, "/v1/quizzes", WRITE_KEY).await;
    assert_eq!(status, 200);
    assert_eq!(listed["quizzes"][0]["id"], "run");

    view(&s, "kai", "home-kitchen-0").await;
    let (status, r) = post(
        &s,
        "/v1/quizzes/run/answers",
        WRITE_KEY,
        json!({"userId": "kai", "userHash": s.user_hash("kai"), "answers": {"terrain": "trail", "budget": "low"}}),
    )
    .await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["preferences"]["categories"][0], "Shoes/Trail");
    let d = decide(&s, "kai").await;
    assert_eq!(d["decisions"]["home.hero"]["item"]["id"], "hero-run", "{d}");
    assert_eq!(
        d["decisions"]["home.hero"]["explanation"],
        "Because you told us you like Shoes"
    );
    let (_, events) = s.admin_get("/v1/profiles/kai/events").await;
    assert!(events.to_string().contains("Quiz Completed"), "{events}");

    let (status, e) = post(
        &s,
        "/v1/quizzes/run/answers",
        WRITE_KEY,
        json!({"userId": "kai", "userHash": s.user_hash("kai"), "answers": {"terrain": "sky", "mood": "happy"}}),
    )
    .await;
    assert_eq!(status, 400, "{e}");
    assert_eq!(
        e["error"]["details"].as_array().map(Vec::len),
        Some(2),
        "{e}"
    );
    let (status, _) = post(
        &s,
        "/v1/quizzes/nope/answers",
        WRITE_KEY,
        json!({"userId": "kai", "userHash": s.user_hash("kai"), "answers": {}}),
    )
    .await;
    assert_eq!(status, 404);
}
