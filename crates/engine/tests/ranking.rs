//! The ranking placement (`rank.listing`) at the engine boundary: the store's list in the
//! visitor's order with a reason per moved product, the store's order for a new visitor, an
//! unproven browser and a visitor without consent, the store's pins, boosts and burials, the
//! list's limit, and the decision log.

use serde_json::{Value, json};
use tailor_engine::{DecideInput, EngineError, Origin};
use tailor_testkit::TestEngine;

/// The Shoes category page as the store lists it: running shoes first, then trail shoes;
/// `shoes-running-1` is out of stock.
fn shoes_page() -> Vec<String> {
    (0..6)
        .map(|i| format!("shoes-running-{i}"))
        .chain((0..4).map(|i| format!("shoes-trail-{i}")))
        .collect()
}

fn store(kit: &TestEngine) {
    let mut products = Vec::new();
    for (cat, n, base, brand) in [
        ("Shoes/Running", 6, 80.0, "Stride"),
        ("Shoes/Trail", 4, 110.0, "Ridge"),
        ("Home/Kitchen", 3, 30.0, "Pan"),
    ] {
        for i in 0..n {
            let id = format!("{}-{i}", cat.replace('/', "-").to_lowercase());
            products.push(json!({"id": id, "name": format!("{cat} {i}"), "category": cat, "price": base + i as f64,
                "brand": brand, "stock": if id == "shoes-running-1" { 0 } else { 10 }}));
        }
    }
    assert_eq!(kit.load_products(Value::Array(products)), 13);
}

async fn view(kit: &TestEngine, who: (&str, &str), product: &str) {
    let receipt = kit
        .track(
            json!({who.0: who.1, "event": "Product Viewed", "properties": {"product_id": product}}),
        )
        .await;
    assert_eq!(receipt.accepted, 1, "{receipt:?}");
}

fn rank(kit: &TestEngine, who: (&str, &str), listed: &[String]) -> Value {
    kit.decide_json(
        json!({who.0: who.1, "placements": ["rank.listing"], "context": {"productIds": listed}}),
    )
}

fn order(answer: &Value) -> Vec<String> {
    answer["decisions"]["rank.listing"]["ranking"]
        .as_array()
        .expect("a ranking")
        .iter()
        .map(|r| r["id"].as_str().expect("an id").to_string())
        .collect()
}

fn reason_of<'a>(answer: &'a Value, id: &str) -> Option<&'a str> {
    answer["decisions"]["rank.listing"]["ranking"]
        .as_array()
        .expect("a ranking")
        .iter()
        .find(|r| r["id"] == id)
        .and_then(|r| r["reason"].as_str())
}

/// The store's list with its out-of-stock products moved to the end.
fn store_order(listed: &[String]) -> Vec<String> {
    let (sold_out, rest): (Vec<_>, Vec<_>) = listed
        .iter()
        .cloned()
        .partition(|id| id == "shoes-running-1");
    rest.into_iter().chain(sold_out).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_shopper_who_browses_trail_shoes_sees_them_first_and_a_newcomer_sees_the_store_order() {
    let kit = TestEngine::start().await;
    store(&kit);
    for p in [
        "shoes-trail-1",
        "shoes-trail-2",
        "shoes-trail-1",
        "shoes-trail-3",
    ] {
        view(&kit, ("anonymousId", "ann"), p).await;
    }
    let page = shoes_page();

    let ann = rank(&kit, ("anonymousId", "ann"), &page);
    assert_eq!(ann["personalized"], true);
    let ranked = order(&ann);
    assert_eq!(
        ranked.len(),
        page.len(),
        "every listed product comes back once"
    );
    // All four trail shoes lead, ahead of every running shoe.
    assert!(
        ranked[..4].iter().all(|id| id.starts_with("shoes-trail")),
        "{ranked:?}"
    );
    assert_eq!(ranked.last().map(String::as_str), Some("shoes-running-1"));
    let reason = reason_of(&ann, "shoes-trail-0").expect("a moved product says why");
    assert_eq!(
        reason, "Moved up: you've been browsing Shoes/Trail",
        "{ann}"
    );
    // The first product was a trail shoe, listed 7th to 10th by the store.
    assert!(
        ann["decisions"]["rank.listing"]["ranking"][0]["was"]
            .as_u64()
            .is_some_and(|was| was >= 7),
        "{ann}"
    );
    // What she looked at herself leads, newest first.
    assert_eq!(ranked[0], "shoes-trail-3", "{ranked:?}");
    assert_eq!(
        reason_of(&ann, "shoes-trail-3"),
        Some("Moved up: you looked at it earlier")
    );
    // Products that only made room carry no reason.
    assert_eq!(reason_of(&ann, "shoes-running-0"), None);
    assert_eq!(
        reason_of(&ann, "shoes-running-1"),
        Some("Moved down: out of stock")
    );
    let explanation = ann["decisions"]["rank.listing"]["explanation"]
        .as_str()
        .unwrap_or_default();
    assert!(
        explanation.starts_with("4 moved up for you"),
        "{explanation}"
    );

    // A visitor Tailor has never seen gets the store's list (stock rule only).
    let newcomer = rank(&kit, ("anonymousId", "nobody"), &page);
    assert_eq!(newcomer["personalized"], false);
    assert_eq!(order(&newcomer), store_order(&page));
    assert!(
        newcomer["decisions"]["rank.listing"]["ranking"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["id"] == "shoes-running-1" || r.get("reason").is_none()),
        "{newcomer}"
    );
    // A store that lists its sold-out products last already: nothing moves, nothing says so.
    let listed = store_order(&page);
    let newcomer = rank(&kit, ("anonymousId", "nobody"), &listed);
    assert_eq!(order(&newcomer), listed);
    assert!(
        newcomer["decisions"]["rank.listing"]["ranking"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r.get("reason").is_none() && r.get("was").is_none()),
        "{newcomer}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unproven_browser_and_a_visitor_without_consent_get_the_store_order() {
    let kit = TestEngine::start().await;
    store(&kit);
    let receipt = kit
        .identify(json!({"userId": "u-ann", "anonymousId": "ann-phone"}))
        .await;
    assert_eq!(receipt.accepted, 1);
    for p in ["shoes-trail-1", "shoes-trail-2", "shoes-trail-3"] {
        view(&kit, ("userId", "u-ann"), p).await;
    }
    let page = shoes_page();
    let ann = rank(&kit, ("userId", "u-ann"), &page);
    assert_ne!(
        order(&ann),
        store_order(&page),
        "the store's backend sees her order"
    );

    // A browser claiming to be u-ann without proof, even with her anonymousId.
    for anonymous in ["somebody", "ann-phone"] {
        let out = kit
            .engine()
            .decide(DecideInput {
                user_id: Some("u-ann".into()),
                anonymous_id: Some(anonymous.into()),
                placements: vec!["rank.listing".into()],
                context: json!({"productIds": page}).as_object().cloned().unwrap(),
                origin: Origin::Browser,
                proof: None,
            })
            .expect("decide");
        assert!(!out.personalized);
        let reply = tailor_testkit::decide_reply(&out);
        assert_eq!(order(&reply), store_order(&page), "{reply}");
    }

    // Without personalization consent: the store's order, and the answer says why.
    let receipt = kit
        .track(json!({"userId": "u-ann", "event": "Consent Updated",
            "context": {"consent": {"categoryPreferences": {"personalization": false}}}}))
        .await;
    assert_eq!(receipt.accepted, 1);
    let denied = rank(&kit, ("userId", "u-ann"), &page);
    assert_eq!(denied["personalized"], false, "{denied}");
    assert_eq!(order(&denied), store_order(&page));
}

#[tokio::test(flavor = "multi_thread")]
async fn declared_favourites_within_the_declared_price_range_move_up() {
    let kit = TestEngine::start().await;
    store(&kit);
    // Zoe told the store she likes trail shoes up to $112 (trail shoes cost 110 to 113).
    let receipt = kit
        .identify(json!({"userId": "zoe", "traits": {"preferences": {
            "categories": ["Shoes/Trail"], "priceRange": {"min": 0, "max": 112}}}}))
        .await;
    assert_eq!(receipt.accepted, 1, "{receipt:?}");
    let page = shoes_page();
    let out = rank(&kit, ("userId", "zoe"), &page);
    assert_eq!(out["personalized"], true, "{out}");
    let ranked = order(&out);
    assert_eq!(
        ranked[..3],
        ["shoes-trail-0", "shoes-trail-1", "shoes-trail-2"],
        "{out}"
    );
    assert_eq!(
        reason_of(&out, "shoes-trail-1"),
        Some("Moved up: you told us you like Shoes/Trail")
    );
    // Out of her range: not moved up by the declaration.
    assert_eq!(ranked[3], "shoes-running-0", "{ranked:?}");
    assert_eq!(reason_of(&out, "shoes-trail-3"), None);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_stores_pins_boosts_and_burials_apply_to_everyone() {
    let kit = TestEngine::start().await;
    store(&kit);
    kit.load_placements(
        json!([{"id": "rank.listing", "kind": "ranking", "limit": 5, "rules": {
            "pin": ["shoes-trail-3", "not-listed"],
            "boost": [{"productIds": ["shoes-running-4"], "weight": 2}],
            "bury": [{"brand": "stride", "productIds": []}],
        }}]),
    )
    .expect("valid rules");
    let page = shoes_page();
    let out = rank(&kit, ("anonymousId", "nobody"), &page);
    let ranked = order(&out);
    assert_eq!(ranked[0], "shoes-trail-3");
    assert_eq!(
        reason_of(&out, "shoes-trail-3"),
        Some("Pinned by the store")
    );
    // Every Stride (running) shoe is buried, the boosted one included: a burial wins.
    assert_eq!(
        ranked[1..4],
        ["shoes-trail-0", "shoes-trail-1", "shoes-trail-2"]
    );
    assert!(ranked[4..].iter().all(|id| id.starts_with("shoes-running")));
    assert_eq!(
        reason_of(&out, "shoes-running-0"),
        Some("Moved down by the store")
    );

    // A boost moves a product up for a newcomer too, and says so.
    kit.load_placements(json!([{"id": "rank.listing", "kind": "ranking",
        "rules": {"boost": [{"category": "Shoes/Trail"}], "keepOutOfStock": true}}]))
        .expect("valid rules");
    let out = rank(&kit, ("anonymousId", "nobody"), &page);
    let ranked = order(&out);
    assert!(ranked[..4].iter().all(|id| id.starts_with("shoes-trail")));
    assert_eq!(
        ranked[4..],
        page[..6],
        "kept out-of-stock products in place"
    );
    assert_eq!(
        reason_of(&out, "shoes-trail-2"),
        Some("Moved up by the store")
    );

    // Rules are validated, every problem at once.
    let err = kit
        .load_placements(json!([{"id": "rank.listing", "kind": "ranking",
            "rules": {"boost": [{"weight": 50}]}}]))
        .unwrap_err();
    assert!(
        matches!(err, EngineError::Invalid(ref v) if v.problems.len() == 2),
        "{err}"
    );
    let err = kit
        .load_placements(
            json!([{"id": "recs.home", "kind": "recommendations", "source": "visitor",
            "rules": {"pin": ["x"]}}]),
        )
        .unwrap_err();
    assert!(err.to_string().contains("ranking placements only"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_list_is_bounded_checked_and_its_head_logged() {
    let kit = TestEngine::start().await;
    store(&kit);
    view(&kit, ("anonymousId", "ann"), "shoes-trail-2").await;
    let mut page = shoes_page();
    page.push("shoes-trail-2".into()); // a duplicate: ranked once
    page.push("unknown-product".into()); // not in the catalog: kept, never moved up
    let out = rank(&kit, ("anonymousId", "ann"), &page);
    let ranked = order(&out);
    assert_eq!(ranked.len(), 11);
    assert!(ranked.contains(&"unknown-product".to_string()));

    kit.settle().await;
    let id = out["decisionId"].as_str().expect("an id");
    let (record, _) = kit.engine().decision(id).expect("read").expect("logged");
    let logged = &record.placements[0];
    assert_eq!(logged.kind, "ranking");
    assert_eq!(logged.propensity, 1.0);
    assert_eq!(
        logged.shown,
        ranked[..11],
        "the head of the new order (limit 24)"
    );

    let too_many: Vec<String> = (0..=tailor_engine::decide::MAX_LISTED)
        .map(|i| format!("p-{i}"))
        .collect();
    let err = kit
        .try_decide_json(json!({"anonymousId": "ann", "placements": ["rank.listing"],
            "context": {"productIds": too_many}}))
        .unwrap_err();
    assert!(
        matches!(
            err,
            EngineError::TooMany {
                code: "too_many_products",
                ..
            }
        ),
        "{err}"
    );
    for bad in [json!("shoes-trail-2"), json!([1, 2]), json!([""])] {
        let err = kit
            .try_decide_json(json!({"anonymousId": "ann", "placements": ["rank.listing"],
                "context": {"productIds": bad}}))
            .unwrap_err();
        assert!(matches!(err, EngineError::Invalid(_)), "{bad}: {err}");
    }
    // Without a list: an empty ranking that says what to send.
    let empty = kit.decide_json(json!({"anonymousId": "ann", "placements": ["rank.listing"]}));
    assert_eq!(empty["decisions"]["rank.listing"]["ranking"], json!([]));
}
