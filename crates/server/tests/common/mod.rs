//! A small store for the zero-party and shopper-token tests: a catalog in four categories,
//! a hero banner per department, and a crowd that makes every category popular; and the
//! calls those tests make with a chosen key.

use serde_json::{Value, json};
use tailor_testkit::{TestApp, WRITE_KEY};

/// The catalog, the hero banners and the crowd's views.
pub async fn store(s: &TestApp) {
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

/// `userId` viewed `product`.
pub async fn view(s: &TestApp, who: &str, product: &str) {
    let (status, r) = s
        .post("/v1/track", &json!({"userId": who, "event": "Product Viewed", "properties": {"product_id": product}}))
        .await;
    assert_eq!(status, 200, "{r}");
}

/// The hero, navigation and home recommendations for `who`, asked by their browser with the
/// write key and the proof the store's backend gave it.
pub async fn decide(s: &TestApp, who: &str) -> Value {
    let (status, d) = s
        .post_to("/v1/decide")
        .bearer(WRITE_KEY)
        .json(&json!({"userId": who, "userHash": s.user_hash(who),
                      "placements": ["home.hero", "nav.categories", "recs.home"]}))
        .send()
        .await;
    assert_eq!(status, 200, "{d}");
    d
}

/// `PUT path` with `key` as the bearer.
pub async fn put(s: &TestApp, path: &str, key: &str, body: Value) -> (u16, Value) {
    s.put(path).bearer(key).json(&body).send().await
}

/// `POST path` with `key` as the bearer.
pub async fn post(s: &TestApp, path: &str, key: &str, body: Value) -> (u16, Value) {
    s.post_to(path).bearer(key).json(&body).send().await
}

/// `GET path` with `key` as the bearer.
pub async fn get(s: &TestApp, path: &str, key: &str) -> (u16, Value) {
    s.get(path).bearer(key).send().await
}
