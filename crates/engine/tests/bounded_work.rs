//! A decision's work is bounded by constants, not by the data (issue 16): a visitor with a
//! 1,000-view session, on a 100,000-product catalog, with a bestseller in every session and
//! neighbour sessions of 1,000 views, costs the recommender no more candidates than
//! `decide::MAX_RECS_SCORED`, counted (`Answer::scored`), not timed.

use serde_json::{Value, json};
use tailor_engine::decide::{MAX_LISTED, MAX_NAV_SCORED, MAX_RANK_SCORED, MAX_RECS_SCORED};
use tailor_engine::session_model::WORK_BOUND;
use tailor_testkit::TestEngine;

const PRODUCTS: usize = 100_000;
const PAGE: [&str; 5] = [
    "home.hero",
    "nav.categories",
    "promo.banner",
    "recs.home",
    "checkout.flow",
];

/// 100,000 products in 20 top-level categories of 25 leaves each.
fn catalog(kit: &TestEngine) {
    let products: Vec<Value> = (0..PRODUCTS)
        .map(|i| {
            let leaf = i % 500;
            json!({"id": format!("p-{i}"), "name": format!("Product {i}"),
                   "category": format!("Top{}/Leaf{leaf}", leaf / 25), "price": 10 + i % 90, "stock": 5})
        })
        .collect();
    assert_eq!(kit.load_products(Value::Array(products)), PRODUCTS);
}

/// Product Viewed events of one shopper, one second apart, ending `end` seconds before `now`.
fn session(now: i64, who: &str, products: &[usize], end: i64) -> Vec<Value> {
    let n = products.len() as i64;
    products
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let at = now - (end + n - i as i64) * 1000;
            json!({"type": "track", "anonymousId": who, "event": "Product Viewed",
                   "timestamp": tailor_core::time::format_timestamp(at),
                   "properties": {"product_id": format!("p-{p}")}})
        })
        .collect()
}

async fn send(kit: &TestEngine, events: Vec<Value>) {
    for chunk in events.chunks(2_000) {
        let receipt = kit.batch(json!({"batch": chunk})).await;
        assert_eq!(receipt.accepted, chunk.len(), "{receipt:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_decision_for_a_1000_view_session_on_a_100k_catalog_scores_a_bounded_number_of_candidates()
 {
    let kit = TestEngine::start().await;
    catalog(&kit);
    // A pseudo-random walk over the catalog (no rand dependency for one test).
    let mut state = 11u64;
    let mut product = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1);
        1 + (state >> 33) as usize % (PRODUCTS - 1)
    };
    // The heavy visitor: 1,000 views in one session, ending a minute ago.
    let heavy: Vec<usize> = (0..1_000).map(|_| product()).collect();
    let now = kit.now();
    let mut events = session(now, "heavy", &heavy, 60);
    // 1,400 shoppers' sessions each hold the bestseller (p-0) and two of the heavy visitor's
    // newest views, so more sessions share an item with them than the model samples…
    for s in 0..1_400 {
        let mut views: Vec<usize> = (0..7).map(|_| product()).collect();
        views.extend([0, heavy[999 - s % 10], heavy[990 - s % 10]]);
        events.extend(session(
            now,
            &format!("crowd-{s}"),
            &views,
            7_200 + 60 * s as i64,
        ));
    }
    // …and four neighbours viewed 1,000 products each, the heavy visitor's among them.
    for s in 0..4 {
        let mut views: Vec<usize> = (0..990).map(|_| product()).collect();
        views.extend(&heavy[990..]);
        events.extend(session(
            now,
            &format!("long-{s}"),
            &views,
            3_600 * (3 + s as i64),
        ));
    }
    // 19,000 views: the model retrains on the writer as soon as the queue is idle.
    send(&kit, events).await;

    let decide = |who: &str| {
        kit.decide(tailor_engine::DecideInput {
            anonymous_id: Some(who.into()),
            placements: PAGE.iter().map(|p| p.to_string()).collect(),
            ..Default::default()
        })
        .expect("decide")
    };
    // The model learns from the views (trained on the writer when the queue runs dry).
    tailor_testkit::eventually(
        "the session model answers",
        tailor_testkit::DEADLINE,
        || {
            let trained = decide("heavy").answers[3].1.scored > 1_000;
            async move { trained }
        },
    )
    .await;

    let out = decide("heavy");
    let scored = |placement: &str| {
        out.answers
            .iter()
            .find(|(id, _)| id == placement)
            .map(|(_, a)| a.scored)
            .expect("answered")
    };
    let recs = scored("recs.home");
    // Without bounds the model alone would have scored every session sharing an item with
    // the visitor (1,405), and each long neighbour's 1,000 views.
    assert!(recs > 1_000, "the test exercises the model: {recs}");
    assert!(
        recs <= MAX_RECS_SCORED,
        "recommendations scored {recs} > {MAX_RECS_SCORED}"
    );
    const { assert!(MAX_RECS_SCORED < 20_000 && WORK_BOUND < MAX_RECS_SCORED) };
    assert!(scored("nav.categories") <= MAX_NAV_SCORED);
    // No content is loaded: the hero and promotion score nothing.
    assert_eq!(scored("home.hero") + scored("promo.banner"), 0);
    let items = out.answers[3].1.items.as_ref().expect("recommendations");
    assert_eq!(items.len(), 8, "a full row");

    // A ranking of the longest list allowed, the heavy visitor's newest views among it.
    let mut listed: Vec<String> = heavy[990..].iter().map(|p| format!("p-{p}")).collect();
    listed.extend((0..MAX_LISTED).map(|i| format!("p-{}", i * 17 % PRODUCTS)));
    listed.sort();
    listed.dedup();
    listed.truncate(MAX_LISTED);
    let mut context = serde_json::Map::new();
    context.insert("productIds".into(), json!(listed));
    let out = kit
        .decide(tailor_engine::DecideInput {
            anonymous_id: Some("heavy".into()),
            placements: vec!["rank.listing".into()],
            context,
            ..Default::default()
        })
        .expect("decide");
    let ranking = &out.answers[0].1;
    assert_eq!(ranking.ranking.as_ref().map(Vec::len), Some(listed.len()));
    assert!(
        ranking.scored > MAX_LISTED,
        "the model and co-views counted: {}",
        ranking.scored
    );
    assert!(
        ranking.scored <= MAX_RANK_SCORED,
        "ranking scored {} > {MAX_RANK_SCORED}",
        ranking.scored
    );
    const { assert!(MAX_RANK_SCORED < MAX_LISTED + MAX_RECS_SCORED) };
}
