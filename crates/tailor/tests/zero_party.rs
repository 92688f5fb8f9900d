//! Zero-party data and transparency end to end over loopback: declared preferences and quiz
//! answers take effect in the next decision and outweigh what Tailor inferred; the shopper's
//! own view and "why am I seeing this" need a profile token.

mod common;

use common::{ADMIN_KEY, Server, WRITE_KEY};
use serde_json::{Value, json};

async fn store(s: &Server) {
    let mut products = Vec::new();
    for (cat, n, base) in [
        ("Shoes/Running", 4, 80.0),
        ("Shoes/Trail", 4, 110.0),
        ("Home/Kitchen", 6, 30.0),
        ("Beauty/Makeup", 6, 10.0),
    ] {
        for i in 0..n {
            let id = format!("{}-{i}", cat.replace('/', "-").to_lowercase());
            products.push(json!({"id": id, "name": format!("{cat} {i}"), "category": cat, "price": base + 2.0 * i as f64}));
        }
    }
    assert_eq!(
        s.admin_put("/v1/catalog/products", &Value::Array(products))
            .await
            .0,
        200
    );
    let content = json!([
        {"id": "hero-run", "kind": "banner", "placements": ["home.hero"], "title": "Run", "targeting": {"categories": ["Shoes"]}},
        {"id": "hero-home", "kind": "banner", "placements": ["home.hero"], "title": "Cook", "targeting": {"categories": ["Home"]}},
        {"id": "hero-beauty", "kind": "banner", "placements": ["home.hero"], "title": "Glow", "targeting": {"categories": ["Beauty"]}},
    ]);
    assert_eq!(s.admin_put("/v1/catalog/content", &content).await.0, 200);
    // Other shoppers make every category popular.
    for (i, p) in [
        "beauty-makeup-0",
        "beauty-makeup-1",
        "beauty-makeup-2",
        "beauty-makeup-3",
        "shoes-trail-0",
        "shoes-trail-1",
        "home-kitchen-5",
    ]
    .iter()
    .enumerate()
    {
        view(s, &format!("crowd-{i}"), p).await;
    }
}

async fn view(s: &Server, who: &str, product: &str) {
    let (status, r) = s
        .post("/v1/track", &json!({"userId": who, "event": "Product Viewed", "properties": {"product_id": product}}))
        .await;
    assert_eq!(status, 200, "{r}");
}

async fn decide(s: &Server, who: &str) -> Value {
    let (status, d) = s
        .raw(s.http.post(s.url("/v1/decide")).bearer_auth(WRITE_KEY).json(
            &json!({"userId": who, "placements": ["home.hero", "nav.categories", "recs.home"]}),
        ))
        .await;
    assert_eq!(status, 200, "{d}");
    d
}

async fn put(s: &Server, path: &str, key: &str, body: Value) -> (u16, Value) {
    s.raw(s.http.put(s.url(path)).bearer_auth(key).json(&body))
        .await
}

async fn post(s: &Server, path: &str, key: &str, body: Value) -> (u16, Value) {
    s.raw(s.http.post(s.url(path)).bearer_auth(key).json(&body))
        .await
}

async fn get(s: &Server, path: &str, key: &str) -> (u16, Value) {
    s.raw(s.http.get(s.url(path)).bearer_auth(key)).await
}

#[tokio::test(flavor = "multi_thread")]
async fn declared_preferences_outweigh_inferred_ones() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path()).await;
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
    let (status, r) = put(&s, "/v1/preferences", WRITE_KEY, json!({"userId": "zoe", "preferences":
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
    // Declared channels are consent.
    let (_, consent) = s.admin_get("/v1/consent/zoe").await;
    assert_eq!(consent["purposes"]["email"]["allowed"], true, "{consent}");
    assert_eq!(consent["purposes"]["email"]["source"], "preference center");

    // Bad declarations are refused with every problem, and change nothing.
    let (status, e) = put(
        &s,
        "/v1/preferences",
        WRITE_KEY,
        json!({"userId": "zoe", "preferences":
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
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path()).await;
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
        json!({"userId": "kai", "answers": {"terrain": "trail", "budget": "low"}}),
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
        json!({"userId": "kai", "answers": {"terrain": "sky", "mood": "happy"}}),
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
        json!({"userId": "kai", "answers": {}}),
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_shopper_sees_their_own_profile_with_a_token_only() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path()).await;
    store(&s).await;
    for p in ["shoes-running-0", "shoes-running-1"] {
        view(&s, "ivy", p).await;
    }
    let (status, r) = put(
        &s,
        "/v1/preferences",
        WRITE_KEY,
        json!({"userId": "ivy", "preferences": {"sizes": ["38"], "styles": ["minimal"]}}),
    )
    .await;
    assert_eq!(status, 200, "{r}");

    // Only the admin key mints tokens.
    let (status, _) = post(&s, "/v1/tokens", WRITE_KEY, json!({"userId": "ivy"})).await;
    assert_eq!(status, 403);
    let (status, t) = post(
        &s,
        "/v1/tokens",
        ADMIN_KEY,
        json!({"userId": "ivy", "ttlSeconds": 600}),
    )
    .await;
    assert_eq!(status, 200, "{t}");
    let token = t["token"].as_str().unwrap().to_string();
    let (_, other) = post(
        &s,
        "/v1/tokens",
        ADMIN_KEY,
        json!({"userId": "someone-else"}),
    )
    .await;

    // Keys, guessed ids and tampered tokens read nothing.
    for bad in [
        WRITE_KEY,
        ADMIN_KEY,
        "tpt_e30.AAAA",
        &token[..token.len() - 2],
    ] {
        let (status, body) = get(&s, "/v1/me", bad).await;
        assert_eq!(status, 401, "{bad}: {body}");
    }
    let (status, me) = get(&s, "/v1/me", &token).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["userId"], "ivy");
    assert_eq!(me["declared"]["sizes"][0], "38");
    assert_eq!(me["inferred"]["productViews"], 2);
    assert_eq!(me["consent"]["personalization"]["allowed"], true);
    assert_eq!(me["consent"]["email"]["reason"], "not granted (opt-in)");

    // Why am I seeing this: their own decisions only.
    let d = decide(&s, "ivy").await;
    let id = d["decisionId"].as_str().unwrap();
    let (status, why) = get(&s, &format!("/v1/me/decisions/{id}"), &token).await;
    assert_eq!(status, 200, "{why}");
    assert_eq!(
        why["placements"]["home.hero"]["explanation"],
        d["decisions"]["home.hero"]["explanation"]
    );
    let (status, _) = get(
        &s,
        &format!("/v1/me/decisions/{id}"),
        other["token"].as_str().unwrap(),
    )
    .await;
    assert_eq!(status, 404, "someone else's decision is not theirs to read");

    // Their own consent and preferences, through the token.
    let (status, r) = put(
        &s,
        "/v1/me/consent",
        &token,
        json!({"purposes": {"personalization": false}}),
    )
    .await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(decide(&s, "ivy").await["personalized"], false);
    let (status, r) = put(
        &s,
        "/v1/me/preferences",
        &token,
        json!({"preferences": {"frequency": "weekly"}}),
    )
    .await;
    assert_eq!(status, 200, "{r}");
    let (status, export) = get(&s, "/v1/me/export", &token).await;
    assert_eq!(status, 200);
    assert_eq!(
        export["profile"]["traits"]["preferences"]["frequency"],
        "weekly"
    );
    assert_eq!(export["consentHistory"][0]["source"], "visitor");
}
