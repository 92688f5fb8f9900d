//! `POST /v1/decide` end to end over loopback: each placement kind, consent on and off,
//! explanations, the decision log with rewards, placement configuration, bad input.

mod common;

use std::time::Duration;

use common::{ADMIN_KEY, Server, WRITE_KEY};
use serde_json::{Value, json};

const ALL: [&str; 7] = [
    "home.hero",
    "nav.categories",
    "promo.banner",
    "recs.home",
    "recs.product",
    "recs.cart",
    "checkout.flow",
];

async fn store(s: &Server) {
    let mut products = Vec::new();
    for (cat, n, base) in [
        ("Shoes/Running", 6, 80.0),
        ("Shoes/Trail", 4, 110.0),
        ("Home/Kitchen", 6, 30.0),
        ("Beauty/Makeup", 5, 20.0),
    ] {
        for i in 0..n {
            let id = format!("{}-{i}", cat.replace('/', "-").to_lowercase());
            products.push(json!({"id": id, "name": format!("{cat} {i}"), "category": cat, "price": base + i as f64,
                "stock": if i == 1 { 0 } else { 10 }}));
        }
    }
    assert_eq!(
        s.admin_put("/v1/catalog/products", &Value::Array(products))
            .await
            .0,
        200
    );
    let content = json!([
        {"id": "hero-run", "kind": "banner", "placements": ["home.hero"], "title": "Run further", "targeting": {"categories": ["Shoes"]}},
        {"id": "hero-home", "kind": "banner", "placements": ["home.hero"], "title": "Cook more", "targeting": {"categories": ["Home"]}},
        {"id": "hero-sale", "kind": "banner", "placements": ["home.hero"], "title": "Big sale", "targeting": {"priority": 10}},
        {"id": "promo-cart", "kind": "promotion", "placements": ["promo.banner"], "title": "10% off your cart",
         "targeting": {"stages": ["evaluation"], "condition": {"cartItems": {"$gt": 0}}}},
        {"id": "promo-home", "kind": "promotion", "placements": ["promo.banner"], "title": "Kitchen week", "targeting": {"categories": ["Home"]}},
        {"id": "promo-loyal", "kind": "promotion", "placements": ["promo.banner"], "title": "Members' gift", "targeting": {"stages": ["repeat"]}},
        {"id": "promo-old", "kind": "promotion", "placements": ["promo.banner"], "title": "Gone",
         "targeting": {"end_at": "2020-01-01T00:00:00Z", "priority": 99}},
    ]);
    assert_eq!(s.admin_put("/v1/catalog/content", &content).await.0, 200);
}

async fn track(s: &Server, who: (&str, &str), event: &str, props: Value) {
    let (status, body) = s
        .post(
            "/v1/track",
            &json!({who.0: who.1, "event": event, "properties": props}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

async fn decide(s: &Server, body: Value) -> (u16, Value) {
    s.raw(
        s.http
            .post(s.url("/v1/decide"))
            .bearer_auth(WRITE_KEY)
            .json(&body),
    )
    .await
}

/// Other shoppers view running shoes together, so the store learns what goes with what.
async fn crowd(s: &Server) {
    for i in 0..5 {
        let who = ("anonymousId", format!("crowd-{i}"));
        for p in ["shoes-running-0", "shoes-running-2", "shoes-trail-0"] {
            track(
                s,
                (who.0, &who.1),
                "Product Viewed",
                json!({"product_id": p}),
            )
            .await;
        }
    }
    for i in 0..3 {
        track(
            s,
            ("anonymousId", &format!("kitchen-{i}")),
            "Product Viewed",
            json!({"product_id": "home-kitchen-3"}),
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_shopper_with_a_cart_gets_a_page_shaped_by_it() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path()).await;
    store(&s).await;
    crowd(&s).await;
    for p in ["shoes-running-0", "shoes-running-3", "shoes-trail-2"] {
        track(
            &s,
            ("anonymousId", "ann"),
            "Product Viewed",
            json!({"product_id": p}),
        )
        .await;
    }
    track(
        &s,
        ("anonymousId", "ann"),
        "Product Added",
        json!({"product_id": "shoes-running-3", "quantity": 1}),
    )
    .await;

    let (status, d) = decide(&s, json!({"anonymousId": "ann", "placements": ALL, "context": {"productId": "shoes-running-0"}})).await;
    assert_eq!(status, 200, "{d}");
    assert_eq!(d["personalized"], true);
    assert!(d["decisionId"].as_str().is_some_and(|id| !id.is_empty()));
    let p = &d["decisions"];
    for placement in ALL {
        assert!(
            p[placement]["explanation"]
                .as_str()
                .is_some_and(|e| !e.is_empty()),
            "{placement}: {}",
            p[placement]
        );
    }
    assert_eq!(
        p["home.hero"]["item"]["id"], "hero-run",
        "{}",
        p["home.hero"]
    );
    assert!(
        p["home.hero"]["item"].get("targeting").is_none(),
        "targeting rules stay on the server"
    );
    assert_eq!(
        p["home.hero"]["explanation"], "Because you viewed 3 Shoes products this week",
        "{}",
        p["home.hero"]
    );
    assert_eq!(
        p["nav.categories"]["categories"][0]["name"], "Shoes",
        "{}",
        p["nav.categories"]
    );
    assert_eq!(
        p["promo.banner"]["item"]["id"], "promo-cart",
        "{}",
        p["promo.banner"]
    );
    assert!(
        p["promo.banner"]["explanation"]
            .as_str()
            .unwrap()
            .contains("1 item"),
        "{}",
        p["promo.banner"]
    );
    assert_eq!(p["checkout.flow"]["variant"], "standard");
    let rec_ids = |placement: &str| -> Vec<String> {
        p[placement]["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["product"]["id"].as_str().unwrap().to_string())
            .collect()
    };
    let home = rec_ids("recs.home");
    assert!(!home.is_empty());
    assert!(
        !home.contains(&"shoes-running-3".to_string()),
        "the cart item is not recommended: {home:?}"
    );
    assert!(
        home.iter().all(|id| !id.ends_with("-1")),
        "out-of-stock products are excluded: {home:?}"
    );
    let product = rec_ids("recs.product");
    assert_eq!(
        product[0], "shoes-running-2",
        "the product most viewed with it comes first: {product:?}"
    );
    assert!(!product.contains(&"shoes-running-0".to_string()));
    let per_category = |ids: &[String]| {
        let mut counts = std::collections::HashMap::new();
        for id in ids {
            *counts
                .entry(id.rsplit_once('-').unwrap().0.to_string())
                .or_insert(0) += 1;
        }
        counts.into_values().max().unwrap_or(0)
    };
    assert!(
        per_category(&home) <= 2,
        "diversified across categories: {home:?}"
    );
    assert!(!rec_ids("recs.cart").contains(&"shoes-running-3".to_string()));
}

#[tokio::test(flavor = "multi_thread")]
async fn without_consent_or_history_the_answer_is_not_personalized() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path()).await;
    store(&s).await;
    crowd(&s).await;
    for p in ["home-kitchen-0", "home-kitchen-2"] {
        track(
            &s,
            ("userId", "private"),
            "Product Viewed",
            json!({"product_id": p}),
        )
        .await;
    }
    let (_, d) = decide(
        &s,
        json!({"userId": "private", "placements": ["home.hero", "nav.categories"]}),
    )
    .await;
    assert_eq!(d["personalized"], true);
    assert_eq!(d["decisions"]["home.hero"]["item"]["id"], "hero-home");
    // Withdrawal takes effect on the next call.
    let (status, _) = s
        .admin_put(
            "/v1/consent",
            &json!({"userId": "private", "purposes": {"personalization": false}}),
        )
        .await;
    assert_eq!(status, 200);
    let (_, d) = decide(
        &s,
        json!({"userId": "private", "placements": ["home.hero", "nav.categories", "recs.home"]}),
    )
    .await;
    assert_eq!(d["personalized"], false, "{d}");
    assert!(d["reason"].as_str().unwrap().contains("consent"), "{d}");
    assert_eq!(
        d["decisions"]["home.hero"]["item"]["id"], "hero-sale",
        "editorial pick: {d}"
    );
    assert!(
        !d["decisions"]["nav.categories"]["explanation"]
            .as_str()
            .unwrap()
            .contains("you"),
        "{d}"
    );
    // A visitor Tailor has never seen gets popular products.
    for i in 0..3 {
        track(
            &s,
            ("anonymousId", &format!("fan-{i}")),
            "Product Viewed",
            json!({"product_id": "shoes-running-0"}),
        )
        .await;
    }
    let (_, d) = decide(
        &s,
        json!({"anonymousId": "stranger", "placements": ["recs.home"]}),
    )
    .await;
    assert_eq!(d["personalized"], false);
    assert!(d["reason"].as_str().unwrap().contains("new visitor"));
    let items = d["decisions"]["recs.home"]["items"].as_array().unwrap();
    assert_eq!(
        items[0]["product"]["id"], "shoes-running-0",
        "most viewed first: {d}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn promotions_follow_the_shoppers_state() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path()).await;
    store(&s).await;
    let order = |id: &str| json!({"order_id": id, "total": 30, "products": [{"product_id": "home-kitchen-0", "price": 30}]});
    // An explorer of Home gets the Home offer.
    for p in ["home-kitchen-0", "home-kitchen-2", "home-kitchen-3"] {
        track(
            &s,
            ("userId", "eve"),
            "Product Viewed",
            json!({"product_id": p}),
        )
        .await;
    }
    let (_, d) = decide(&s, json!({"userId": "eve", "placements": ["promo.banner"]})).await;
    assert_eq!(
        d["decisions"]["promo.banner"]["item"]["id"], "promo-home",
        "{d}"
    );
    assert!(
        d["decisions"]["promo.banner"]["explanation"]
            .as_str()
            .unwrap()
            .contains("Home")
    );
    // Right after an order: nothing.
    track(&s, ("userId", "eve"), "Order Completed", order("o1")).await;
    let (_, d) = decide(
        &s,
        json!({"userId": "eve", "placements": ["promo.banner", "checkout.flow"]}),
    )
    .await;
    assert!(d["decisions"]["promo.banner"].get("item").is_none(), "{d}");
    assert!(
        d["decisions"]["promo.banner"]["explanation"]
            .as_str()
            .unwrap()
            .contains("just placed an order")
    );
    assert_eq!(d["decisions"]["checkout.flow"]["variant"], "express");
    assert!(
        d["decisions"]["checkout.flow"]["explanation"]
            .as_str()
            .unwrap()
            .contains("1 time"),
        "{d}"
    );
    // A repeat buyer with something new in the cart gets the loyalty offer.
    track(&s, ("userId", "rex"), "Order Completed", order("r1")).await;
    track(&s, ("userId", "rex"), "Order Completed", order("r2")).await;
    let (_, d) = decide(&s, json!({"userId": "rex", "placements": ["promo.banner"]})).await;
    assert!(
        d["decisions"]["promo.banner"].get("item").is_none(),
        "just ordered: {d}"
    );
    // First-time buyer with a big cart: the reassurance checkout.
    track(
        &s,
        ("userId", "newbie"),
        "Product Added",
        json!({"product_id": "shoes-trail-3", "price": 113, "quantity": 1}),
    )
    .await;
    let (_, d) = decide(
        &s,
        json!({"userId": "newbie", "placements": ["checkout.flow"]}),
    )
    .await;
    assert_eq!(
        d["decisions"]["checkout.flow"]["variant"], "reassurance",
        "{d}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn decisions_are_logged_and_rewards_joined() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path()).await;
    store(&s).await;
    crowd(&s).await;
    track(
        &s,
        ("userId", "rob"),
        "Product Viewed",
        json!({"product_id": "shoes-running-0"}),
    )
    .await;
    let (_, d) = decide(&s, json!({"userId": "rob", "placements": ["home.hero", "recs.product"], "context": {"productId": "shoes-running-0"}})).await;
    let id = d["decisionId"].as_str().unwrap().to_string();
    let recommended = d["decisions"]["recs.product"]["items"][0]["product"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    // A click carrying the decision id, and an order of a recommended product without one.
    track(
        &s,
        ("userId", "rob"),
        "Promotion Clicked",
        json!({"promotion_id": "hero-run", "decisionId": id}),
    )
    .await;
    track(&s, ("userId", "rob"), "Order Completed", json!({"order_id": "x", "total": 82, "products": [{"product_id": recommended, "price": 82}]})).await;
    let mut logged = Value::Null;
    for _ in 0..50 {
        let (status, body) = s.admin_get(&format!("/v1/decisions/{id}")).await;
        if status == 200 && body["rewards"].as_array().is_some_and(|r| r.len() == 2) {
            logged = body;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        logged["decisionId"],
        id.as_str(),
        "decision and both rewards logged within 5 s: {logged}"
    );
    assert_eq!(logged["modelVersion"], "rules-2");
    assert_eq!(logged["personalized"], true);
    assert_eq!(logged["placements"]["recs.product"]["propensity"], 1.0);
    assert!(
        logged["placements"]["recs.product"]["candidates"]
            .as_array()
            .unwrap()
            .len()
            >= 2
    );
    assert_eq!(logged["context"]["productId"], "shoes-running-0");
    let events: Vec<&str> = logged["rewards"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["event"].as_str().unwrap())
        .collect();
    assert_eq!(events, ["Promotion Clicked", "Order Completed"]);
    assert_eq!(logged["rewards"][1]["value"], 82.0);
    assert_eq!(s.admin_get("/v1/decisions/nope").await.0, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn placements_are_configurable() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path()).await;
    store(&s).await;
    crowd(&s).await;
    let (status, list) = s
        .raw(s.http.get(s.url("/v1/placements")).bearer_auth(WRITE_KEY))
        .await;
    assert_eq!(status, 200);
    assert_eq!(list["placements"].as_array().unwrap().len(), 8);
    let custom = json!([
        {"id": "recs.top3", "kind": "recommendations", "source": "visitor", "limit": 3},
        {"id": "home.hero.vip", "kind": "hero", "condition": {"orders": {"$gte": 5}}}
    ]);
    assert_eq!(s.admin_put("/v1/placements", &custom).await.0, 200);
    let (_, d) = decide(
        &s,
        json!({"anonymousId": "crowd-1", "placements": ["recs.top3", "home.hero.vip"]}),
    )
    .await;
    assert_eq!(
        d["decisions"]["recs.top3"]["items"]
            .as_array()
            .unwrap()
            .len(),
        3,
        "{d}"
    );
    assert!(d["decisions"]["home.hero.vip"].get("item").is_none());
    assert!(
        d["decisions"]["home.hero.vip"]["explanation"]
            .as_str()
            .unwrap()
            .contains("targeting")
    );
    // Configuration survives a restart.
    drop(s);
    let s = Server::start(dir.path()).await;
    let (_, list) = s.admin_get("/v1/placements").await;
    assert_eq!(list["placements"].as_array().unwrap().len(), 10);
    let del = s
        .http
        .delete(s.url("/v1/placements/recs.top3"))
        .bearer_auth(ADMIN_KEY);
    assert_eq!(s.raw(del).await.0, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_decide_input_gets_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path()).await;
    store(&s).await;
    let cases = [
        (
            json!({"anonymousId": "a", "placements": ["home.banner"]}),
            400,
            "invalid_request",
            "home.banner",
        ),
        (
            json!({"anonymousId": "a", "placements": []}),
            400,
            "invalid_request",
            "at least one",
        ),
        (
            json!({"placements": ["home.hero"]}),
            400,
            "no_user_anon_id",
            "userId",
        ),
        (
            json!({"anonymousId": "a", "placements": "home.hero"}),
            400,
            "invalid_request",
            "array",
        ),
        (
            json!({"anonymousId": "a", "placements": ["home.hero"], "context": []}),
            400,
            "invalid_request",
            "context",
        ),
        (
            json!({"anonymousId": ["a"], "placements": ["home.hero"]}),
            400,
            "invalid_request",
            "anonymousId",
        ),
    ];
    for (body, status, code, needle) in cases {
        let (got, reply) = decide(&s, body.clone()).await;
        assert_eq!(
            (got, reply["error"]["code"].as_str()),
            (status, Some(code)),
            "{body}: {reply}"
        );
        assert!(
            reply["error"]["message"].as_str().unwrap().contains(needle),
            "{body}: {reply}"
        );
    }
    let (status, _) = s
        .raw(
            s.http
                .post(s.url("/v1/decide"))
                .bearer_auth(WRITE_KEY)
                .body("{nope"),
        )
        .await;
    assert_eq!(status, 400);
    let (status, _) = s
        .raw(
            s.http
                .post(s.url("/v1/decide"))
                .json(&json!({"anonymousId": "a", "placements": ["home.hero"]})),
        )
        .await;
    assert_eq!(status, 401);
    // An unknown product in context falls back to popular products, and says so.
    let (status, d) = decide(&s, json!({"anonymousId": "a", "placements": ["recs.product"], "context": {"productId": "ghost"}})).await;
    assert_eq!(status, 200);
    assert!(
        d["decisions"]["recs.product"]["explanation"]
            .as_str()
            .unwrap()
            .contains("not in the catalog"),
        "{d}"
    );
    // Invalid placement configuration is refused whole.
    let (status, err) = s
        .admin_put(
            "/v1/placements",
            &json!([
                {"id": "ok", "kind": "hero"},
                {"id": "bad", "kind": "hero", "condition": {"orders": {"$between": [1, 2]}}},
                {"id": "worse", "kind": "carousel"}
            ]),
        )
        .await;
    assert_eq!(status, 400, "{err}");
    assert_eq!(err["error"]["details"].as_array().unwrap().len(), 2);
    let (_, list) = s.admin_get("/v1/placements").await;
    assert!(
        list["placements"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["id"] != "ok")
    );
}

/// The first recommendation for a product page, with its reason.
async fn first_after(s: &Server, product: &str) -> (String, String) {
    let (status, d) = decide(
        s,
        json!({"anonymousId": "newcomer", "placements": ["recs.product"], "context": {"productId": product}}),
    )
    .await;
    assert_eq!(status, 200, "{d}");
    let first = &d["decisions"]["recs.product"]["items"][0];
    (
        first["product"]["id"].as_str().unwrap().to_string(),
        first["reason"].as_str().unwrap().to_string(),
    )
}

async fn browse(s: &Server, who: &str, products: &[&str]) {
    for p in products {
        track(
            s,
            ("anonymousId", who),
            "Product Viewed",
            json!({"product_id": p}),
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_session_recommender_learns_online_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Server::start(dir.path()).await;
    store(&s).await;
    // Shoppers go kitchen 0 → kitchen 2 → trail 3: after kitchen 2 comes trail 3 (forward),
    // while co-views alone would tie it with kitchen 0.
    for i in 0..4 {
        browse(
            &s,
            &format!("a-{i}"),
            &["home-kitchen-0", "home-kitchen-2", "shoes-trail-3"],
        )
        .await;
    }
    let (first, reason) = first_after(&s, "home-kitchen-2").await;
    assert_eq!(first, "shoes-trail-3", "{reason}");
    assert_eq!(
        reason,
        "Shoppers who viewed Home/Kitchen 2 looked at this next"
    );

    // New behaviour arrives: more shoppers now go from kitchen 2 to makeup 4. The very next
    // decision follows it.
    for i in 0..8 {
        browse(
            &s,
            &format!("b-{i}"),
            &["home-kitchen-2", "beauty-makeup-4"],
        )
        .await;
    }
    let (first, reason) = first_after(&s, "home-kitchen-2").await;
    assert_eq!(first, "beauty-makeup-4", "{reason}");
    assert!(reason.contains("looked at this next"), "{reason}");

    // A visitor's own session steers recs.home: having just viewed kitchen 0 and kitchen 2,
    // what shoppers viewed next after that comes first.
    browse(&s, "c", &["home-kitchen-0", "home-kitchen-2"]).await;
    let (_, d) = decide(&s, json!({"anonymousId": "c", "placements": ["recs.home"]})).await;
    let home = &d["decisions"]["recs.home"]["items"];
    let ids: Vec<&str> = home
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["product"]["id"].as_str().unwrap())
        .collect();
    assert!(
        ids[..2].contains(&"beauty-makeup-4") && ids[..2].contains(&"shoes-trail-3"),
        "{home}"
    );
    assert_eq!(home[0]["reason"], "Because you viewed Home/Kitchen 2");

    // The views the model learned from are checkpointed: after a restart it answers the same.
    s.stop();
    let s = Server::start(dir.path()).await;
    let (first, reason) = first_after(&s, "home-kitchen-2").await;
    assert_eq!(first, "beauty-makeup-4", "{reason}");
    assert!(reason.contains("looked at this next"), "{reason}");
}
