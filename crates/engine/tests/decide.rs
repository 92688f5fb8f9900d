//! `decide` at the engine boundary: each placement kind, consent on and off, explanations,
//! the decision log with rewards, placement configuration, and the session recommender
//! learning online and across a restart. (Refused requests: `crates/server/tests/decide_wire.rs`.)

use serde_json::{Value, json};
use tailor_testkit::TestEngine;

const ALL: [&str; 7] = [
    "home.hero",
    "nav.categories",
    "promo.banner",
    "recs.home",
    "recs.product",
    "recs.cart",
    "checkout.flow",
];

fn store(kit: &TestEngine) {
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
    assert_eq!(kit.load_products(Value::Array(products)), 21);
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
    assert_eq!(kit.load_content(content), 7);
}

async fn track(kit: &TestEngine, who: (&str, &str), event: &str, props: Value) {
    let receipt = kit
        .track(json!({who.0: who.1, "event": event, "properties": props}))
        .await;
    assert_eq!(receipt.accepted, 1, "{receipt:?}");
}

/// Other shoppers view running shoes together, so the store learns what goes with what.
async fn crowd(kit: &TestEngine) {
    for i in 0..5 {
        let who = ("anonymousId", format!("crowd-{i}"));
        for p in ["shoes-running-0", "shoes-running-2", "shoes-trail-0"] {
            track(
                kit,
                (who.0, &who.1),
                "Product Viewed",
                json!({"product_id": p}),
            )
            .await;
        }
    }
    for i in 0..3 {
        track(
            kit,
            ("anonymousId", &format!("kitchen-{i}")),
            "Product Viewed",
            json!({"product_id": "home-kitchen-3"}),
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_shopper_with_a_cart_gets_a_page_shaped_by_it() {
    let kit = TestEngine::start().await;
    store(&kit);
    crowd(&kit).await;
    for p in ["shoes-running-0", "shoes-running-3", "shoes-trail-2"] {
        track(
            &kit,
            ("anonymousId", "ann"),
            "Product Viewed",
            json!({"product_id": p}),
        )
        .await;
    }
    track(
        &kit,
        ("anonymousId", "ann"),
        "Product Added",
        json!({"product_id": "shoes-running-3", "quantity": 1}),
    )
    .await;

    let d = kit.decide_json(json!({"anonymousId": "ann", "placements": ALL, "context": {"productId": "shoes-running-0"}}));
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
    let kit = TestEngine::start().await;
    store(&kit);
    crowd(&kit).await;
    for p in ["home-kitchen-0", "home-kitchen-2"] {
        track(
            &kit,
            ("userId", "private"),
            "Product Viewed",
            json!({"product_id": p}),
        )
        .await;
    }
    let d = kit
        .decide_json(json!({"userId": "private", "placements": ["home.hero", "nav.categories"]}));
    assert_eq!(d["personalized"], true);
    assert_eq!(d["decisions"]["home.hero"]["item"]["id"], "hero-home");
    // Withdrawal takes effect on the next call.
    let receipt = kit
        .record_consent(json!({"userId": "private", "purposes": {"personalization": false}}))
        .await;
    assert_eq!(receipt.accepted, 1);
    let d = kit.decide_json(
        json!({"userId": "private", "placements": ["home.hero", "nav.categories", "recs.home"]}),
    );
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
            &kit,
            ("anonymousId", &format!("fan-{i}")),
            "Product Viewed",
            json!({"product_id": "shoes-running-0"}),
        )
        .await;
    }
    let d = kit.decide_json(json!({"anonymousId": "stranger", "placements": ["recs.home"]}));
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
    let kit = TestEngine::start().await;
    store(&kit);
    let order = |id: &str| json!({"order_id": id, "total": 30, "products": [{"product_id": "home-kitchen-0", "price": 30}]});
    // An explorer of Home gets the Home offer.
    for p in ["home-kitchen-0", "home-kitchen-2", "home-kitchen-3"] {
        track(
            &kit,
            ("userId", "eve"),
            "Product Viewed",
            json!({"product_id": p}),
        )
        .await;
    }
    let d = kit.decide_json(json!({"userId": "eve", "placements": ["promo.banner"]}));
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
    track(&kit, ("userId", "eve"), "Order Completed", order("o1")).await;
    let d =
        kit.decide_json(json!({"userId": "eve", "placements": ["promo.banner", "checkout.flow"]}));
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
    track(&kit, ("userId", "rex"), "Order Completed", order("r1")).await;
    track(&kit, ("userId", "rex"), "Order Completed", order("r2")).await;
    let d = kit.decide_json(json!({"userId": "rex", "placements": ["promo.banner"]}));
    assert!(
        d["decisions"]["promo.banner"].get("item").is_none(),
        "just ordered: {d}"
    );
    // First-time buyer with a big cart: the reassurance checkout.
    track(
        &kit,
        ("userId", "newbie"),
        "Product Added",
        json!({"product_id": "shoes-trail-3", "price": 113, "quantity": 1}),
    )
    .await;
    let d = kit.decide_json(json!({"userId": "newbie", "placements": ["checkout.flow"]}));
    assert_eq!(
        d["decisions"]["checkout.flow"]["variant"], "reassurance",
        "{d}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn decisions_are_logged_and_rewards_joined() {
    let kit = TestEngine::start().await;
    store(&kit);
    crowd(&kit).await;
    track(
        &kit,
        ("userId", "rob"),
        "Product Viewed",
        json!({"product_id": "shoes-running-0"}),
    )
    .await;
    let d = kit.decide_json(json!({"userId": "rob", "placements": ["home.hero", "recs.product"], "context": {"productId": "shoes-running-0"}}));
    let id = d["decisionId"].as_str().unwrap().to_string();
    let recommended = d["decisions"]["recs.product"]["items"][0]["product"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    // A click carrying the decision id, and an order of a recommended product without one.
    track(
        &kit,
        ("userId", "rob"),
        "Promotion Clicked",
        json!({"promotion_id": "hero-run", "decisionId": id}),
    )
    .await;
    track(&kit, ("userId", "rob"), "Order Completed", json!({"order_id": "x", "total": 82, "products": [{"product_id": recommended, "price": 82}]})).await;
    // The decision log writes in batches on its own thread: wait for it, no guessing.
    kit.settle().await;
    let (record, rewards) = kit
        .decision(&id)
        .unwrap()
        .expect("the decision is in the log");
    assert_eq!(record.id, id.as_str());
    assert_eq!(rewards.len(), 2, "both rewards are joined: {rewards:?}");
    let logged: Value = record.body();
    assert_eq!(logged["modelVersion"], "rules-2");
    assert!(record.personalized);
    assert_eq!(logged["placements"]["recs.product"]["propensity"], 1.0);
    // Ids in position order, not product documents; no candidate pool (not a learning
    // placement).
    assert_eq!(
        logged["placements"]["recs.product"]["shown"][0].as_str(),
        Some(recommended.as_str())
    );
    assert!(logged["placements"]["recs.product"]["candidates"].is_null());
    assert_eq!(logged["context"]["productId"], "shoes-running-0");
    let events: Vec<&str> = rewards.iter().map(|r| r.event.as_str()).collect();
    assert_eq!(events, ["Promotion Clicked", "Order Completed"]);
    assert_eq!(rewards[1].value, 82.0);
    assert!(kit.decision("nope").unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn placements_are_configurable() {
    let mut kit = TestEngine::start().await;
    store(&kit);
    crowd(&kit).await;
    assert_eq!(kit.placements().len(), 9);
    let custom = json!([
        {"id": "recs.top3", "kind": "recommendations", "source": "visitor", "limit": 3},
        {"id": "home.hero.vip", "kind": "hero", "condition": {"orders": {"$gte": 5}}}
    ]);
    assert_eq!(kit.load_placements(custom).unwrap(), 2);
    let d = kit.decide_json(
        json!({"anonymousId": "crowd-1", "placements": ["recs.top3", "home.hero.vip"]}),
    );
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
    kit.restart().await;
    assert_eq!(kit.placements().len(), 11);
    kit.delete_placement("recs.top3").unwrap();
    assert_eq!(kit.placements().len(), 10);
}

/// The first recommendation for a product page, with its reason.
fn first_after(kit: &TestEngine, product: &str) -> (String, String) {
    let d = kit.decide_json(
        json!({"anonymousId": "newcomer", "placements": ["recs.product"], "context": {"productId": product}}),
    );
    let first = &d["decisions"]["recs.product"]["items"][0];
    (
        first["product"]["id"].as_str().unwrap().to_string(),
        first["reason"].as_str().unwrap().to_string(),
    )
}

async fn browse(kit: &TestEngine, who: &str, products: &[&str]) {
    for p in products {
        track(
            kit,
            ("anonymousId", who),
            "Product Viewed",
            json!({"product_id": p}),
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_session_recommender_learns_online_and_survives_a_restart() {
    let mut kit = TestEngine::start().await;
    store(&kit);
    // Shoppers go kitchen 0 → kitchen 2 → trail 3: after kitchen 2 comes trail 3 (forward),
    // while co-views alone would tie it with kitchen 0.
    for i in 0..4 {
        browse(
            &kit,
            &format!("a-{i}"),
            &["home-kitchen-0", "home-kitchen-2", "shoes-trail-3"],
        )
        .await;
    }
    let (first, reason) = first_after(&kit, "home-kitchen-2");
    assert_eq!(first, "shoes-trail-3", "{reason}");
    assert_eq!(
        reason,
        "Shoppers who viewed Home/Kitchen 2 looked at this next"
    );

    // New behaviour arrives: more shoppers now go from kitchen 2 to makeup 4. The very next
    // decision follows it.
    for i in 0..8 {
        browse(
            &kit,
            &format!("b-{i}"),
            &["home-kitchen-2", "beauty-makeup-4"],
        )
        .await;
    }
    let (first, reason) = first_after(&kit, "home-kitchen-2");
    assert_eq!(first, "beauty-makeup-4", "{reason}");
    assert!(reason.contains("looked at this next"), "{reason}");

    // A visitor's own session steers recs.home: having just viewed kitchen 0 and kitchen 2,
    // what shoppers viewed next after that comes first.
    browse(&kit, "c", &["home-kitchen-0", "home-kitchen-2"]).await;
    let d = kit.decide_json(json!({"anonymousId": "c", "placements": ["recs.home"]}));
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
    kit.restart().await;
    let (first, reason) = first_after(&kit, "home-kitchen-2");
    assert_eq!(first, "beauty-makeup-4", "{reason}");
    assert!(reason.contains("looked at this next"), "{reason}");
}
