//! Experiments at the engine boundary: definitions are validated; assignment is split as
//! weighted, sticky across login and restarts, and logged as exposure; a holdout gets what
//! everyone sees; and on simulated shoppers who buy more when recommendations fit their
//! taste, the results report a significant lift for personalization with a clean sample
//! ratio. (`tailor report` printing these results: `crates/tailor/tests/cli.rs`.)

use serde_json::{Value, json};
use tailor_engine::EngineError;
use tailor_engine::experiments::PlacementExperiment;
use tailor_testkit::TestEngine;

const CATEGORIES: [&str; 4] = [
    "Shoes/Running",
    "Home/Kitchen",
    "Beauty/Makeup",
    "Garden/Tools",
];

fn product(category: usize, i: usize) -> String {
    format!(
        "{}-{i}",
        CATEGORIES[category].replace('/', "-").to_lowercase()
    )
}

fn store(kit: &TestEngine) {
    let mut products = Vec::new();
    for (c, cat) in CATEGORIES.iter().enumerate() {
        for i in 0..6 {
            products.push(json!({"id": product(c, i), "name": format!("{cat} {i}"), "category": cat, "price": 20.0}));
        }
    }
    assert_eq!(kit.load_products(Value::Array(products)), 24);
}

/// `PUT /v1/experiments/{id}`.
fn put_experiment(kit: &TestEngine, id: &str, mut definition: Value) -> Result<(), EngineError> {
    definition["id"] = json!(id);
    let exp: PlacementExperiment = serde_json::from_value(definition).expect("an experiment");
    kit.put_experiment(exp)
}

async fn track(kit: &TestEngine, body: Value) {
    assert_eq!(kit.track(body).await.accepted, 1);
}

fn decide(kit: &TestEngine, who: Value) -> Value {
    let mut body = json!({"placements": ["recs.home"]});
    for (k, v) in who.as_object().unwrap() {
        body[k] = v.clone();
    }
    kit.decide_json(body)
}

/// A deterministic "random" number in [0, 1) for shopper `i`.
fn chance(i: u64) -> f64 {
    (i.wrapping_mul(2_654_435_761) % 1_000) as f64 / 1_000.0
}

#[tokio::test(flavor = "multi_thread")]
async fn an_experiment_measures_the_lift_of_personalization() {
    let mut kit = TestEngine::start().await;
    store(&kit);
    // The crowd makes one category the store's most popular.
    for i in 0..6 {
        for p in 0..3 {
            track(&kit, json!({"anonymousId": format!("crowd-{i}"), "event": "Product Viewed", "properties": {"product_id": product(3, p)}})).await;
        }
    }

    // Bad definitions are refused with every problem.
    let Err(EngineError::Invalid(e)) = put_experiment(
        &kit,
        "bad",
        json!({"placement": "nope", "variations": [
            {"id": "a", "treatment": "editorial"}, {"id": "a", "treatment": "content"}], "weights": [0.7, 0.7]}),
    ) else {
        panic!("a bad experiment is refused");
    };
    let message = e.to_string();
    for expected in ["nope", "twice", "content", "weights"] {
        assert!(message.contains(expected), "{expected}: {message}");
    }

    let exp = json!({"placement": "recs.home", "variations": [
        {"id": "editorial", "treatment": "editorial"}, {"id": "personalized", "treatment": "personalized"}]});
    put_experiment(&kit, "recs-lift", exp.clone()).unwrap();

    // Simulated shoppers: each likes one category, browses it, is shown recs.home, and buys
    // far more often when the first recommendation is from their category.
    let shoppers = 240u64;
    let mut first_variation = String::new();
    for i in 0..shoppers {
        let favourite = (i % 3) as usize;
        let anon = format!("v-{i}");
        for p in 0..3 {
            track(&kit, json!({"anonymousId": anon, "event": "Product Viewed", "properties": {"product_id": product(favourite, (i as usize + p) % 6)}})).await;
        }
        let d = decide(&kit, json!({"anonymousId": anon}));
        let answer = &d["decisions"]["recs.home"];
        let variation = answer["experiment"]["variation"]
            .as_str()
            .unwrap()
            .to_string();
        if i == 0 {
            first_variation = variation.clone();
        }
        if variation == "editorial" {
            assert!(
                answer["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|it| !it["reason"].as_str().unwrap().contains("viewed")),
                "a holdout sees what everyone sees: {answer}"
            );
        }
        let fits = answer["items"][0]["product"]["category"][0]
            == CATEGORIES[favourite].split('/').next().unwrap();
        let buys = chance(i) < if fits { 0.5 } else { 0.1 };
        if buys {
            track(&kit, json!({"anonymousId": anon, "event": "Order Completed",
                "properties": {"order_id": format!("o-{i}"), "total": 40.0, "products": [{"product_id": product(favourite, 0), "price": 40.0}]}})).await;
        }
    }

    // Sticky across login: shopper 0 logs in and keeps their variation, even by userId alone.
    assert_eq!(
        kit.identify(json!({"anonymousId": "v-0", "userId": "u-0"}))
            .await
            .accepted,
        1
    );
    let d = decide(&kit, json!({"userId": "u-0"}));
    assert_eq!(
        d["decisions"]["recs.home"]["experiment"]["variation"],
        first_variation.as_str()
    );

    // Exposures are written by the decision log thread.
    kit.settle().await;
    // As `GET /v1/experiments/{id}/results` sends it.
    let results = json!(kit.experiment_results("recs-lift").unwrap());
    assert_eq!(results["units"], shoppers, "one unit per person: {results}");
    let per = |v: usize| results["variations"][v]["units"].as_u64().unwrap();
    assert!(
        per(0) > 80 && per(1) > 80,
        "a 50/50 split: {} / {}",
        per(0),
        per(1)
    );
    assert_eq!(results["srm"]["mismatch"], false, "{}", results["srm"]);
    let conversion = &results["metrics"]["conversion"][1];
    assert_eq!(conversion["variation"], "personalized");
    let control = results["metrics"]["conversion"][0]["value"]
        .as_f64()
        .unwrap();
    let treated = conversion["value"].as_f64().unwrap();
    assert!(treated > control, "{control} → {treated}");
    assert!(
        conversion["frequentist"]["pValue"].as_f64().unwrap() < 0.05,
        "{conversion}"
    );
    assert!(
        conversion["frequentist"]["ci"][0].as_f64().unwrap() > 0.0,
        "{conversion}"
    );
    assert!(
        conversion["bayesian"]["chanceToWin"].as_f64().unwrap() > 0.95,
        "{conversion}"
    );
    let rpv = &results["metrics"]["revenue_per_visitor"][1];
    assert!(
        rpv["frequentist"]["pValue"].as_f64().unwrap() < 0.05,
        "{rpv}"
    );
    // Nobody is 7 days past exposure yet: retention has no units, and says so instead of NaN.
    assert_eq!(results["metrics"]["retention_7d"][1]["units"], 0);
    assert!(!results.to_string().contains("NaN"));

    // Sticky across restarts: exposures are stored.
    kit.restart().await;
    let d = decide(&kit, json!({"anonymousId": "v-0"}));
    assert_eq!(
        d["decisions"]["recs.home"]["experiment"]["variation"],
        first_variation.as_str()
    );
    let again = json!(kit.experiment_results("recs-lift").unwrap());
    assert_eq!(again["units"], shoppers);

    // Stopped: nobody new is enrolled.
    let mut stopped = exp.clone();
    stopped["status"] = json!("stopped");
    put_experiment(&kit, "recs-lift", stopped).unwrap();
    let d = decide(&kit, json!({"anonymousId": "v-0"}));
    assert!(
        d["decisions"]["recs.home"].get("experiment").is_none(),
        "{d}"
    );
    assert!(matches!(
        kit.experiment_results("nope"),
        Err(EngineError::NotFound(_))
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_global_holdout_sees_what_everyone_sees_on_every_placement() {
    let kit = TestEngine::start().await;
    store(&kit);
    let hero = json!([{"id": "hero-home", "kind": "banner", "placements": ["home.hero"], "title": "Cook", "targeting": {"categories": ["Home"]}},
        {"id": "hero-all", "kind": "banner", "placements": ["home.hero"], "title": "Sale", "targeting": {"priority": 5}}]);
    assert_eq!(kit.load_content(hero), 2);
    for p in 0..4 {
        track(&kit, json!({"userId": "fan", "event": "Product Viewed", "properties": {"product_id": product(1, p)}})).await;
    }
    let page = |d: &Value| {
        d["decisions"]["home.hero"]["item"]["id"]
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    let body = |who: &str| json!({"userId": who, "placements": ["home.hero", "nav.categories", "recs.home"]});
    let before = kit.decide_json(body("fan"));
    assert_eq!(page(&before), "hero-home", "{before}");

    // Everyone in the holdout (the second variation gets no traffic).
    let holdout = json!({"placement": "*", "weights": [1.0, 0.0], "variations": [
        {"id": "holdout", "treatment": "editorial"}, {"id": "personalized", "treatment": "personalized"}]});
    put_experiment(&kit, "global-holdout", holdout).unwrap();
    let d = kit.decide_json(body("fan"));
    assert_eq!(
        page(&d),
        "hero-all",
        "the holdout gets the editorial hero: {d}"
    );
    for placement in ["home.hero", "nav.categories", "recs.home"] {
        assert_eq!(
            d["decisions"][placement]["experiment"]["variation"], "holdout",
            "{placement}: {d}"
        );
    }
    assert!(
        d["decisions"]["recs.home"]["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| !i["reason"].as_str().unwrap().contains("viewed")),
        "{d}"
    );
}

/// The results as they stood at the end of each day: units exposed by then, each metric's
/// value and lift then; the last day is the results now.
#[tokio::test(flavor = "multi_thread")]
async fn results_follow_each_metric_day_by_day() {
    let kit = TestEngine::builder()
        .manual_clock("2026-03-02T10:00:00Z")
        .start()
        .await;
    store(&kit);
    let mut exp = json!({"placement": "recs.home", "goals": ["Product Added"], "variations": [
        {"id": "editorial", "treatment": "editorial"}, {"id": "personalized", "treatment": "personalized"}]});
    exp["id"] = json!("daily");
    put_experiment(&kit, "daily", exp).unwrap();
    // Two days of shoppers: on the first, nobody buys; on the second, everyone exposed that
    // day buys and adds to cart.
    for day in 0..2u64 {
        for i in 0..40u64 {
            let anon = format!("d{day}-{i}");
            track(&kit, json!({"anonymousId": anon, "event": "Product Viewed", "properties": {"product_id": product(0, 1)}})).await;
            decide(&kit, json!({"anonymousId": anon}));
            if day == 1 {
                track(&kit, json!({"anonymousId": anon, "event": "Product Added", "properties": {"product_id": product(0, 1)}})).await;
                track(&kit, json!({"anonymousId": anon, "event": "Order Completed",
                    "properties": {"order_id": format!("o-{i}"), "total": 20.0 + i as f64, "products": [{"product_id": product(0, 1), "price": 20.0}]}})).await;
            }
        }
        if day == 0 {
            kit.settle().await;
            kit.clock.advance("1d");
        }
    }
    kit.settle().await;
    let results = json!(kit.experiment_results("daily").unwrap());
    let over = &results["overTime"];
    assert_eq!(over["days"], json!(["2026-03-02", "2026-03-03"]), "{over}");
    for metric in ["conversion", "revenue_per_visitor", "event:Product Added"] {
        let series = over["metrics"][metric]
            .as_array()
            .unwrap_or_else(|| panic!("{metric}: {over}"));
        assert_eq!(series.len(), 2);
        for (v, s) in series.iter().enumerate() {
            let units: Vec<u64> = s["units"]
                .as_array()
                .unwrap()
                .iter()
                .map(|u| u.as_u64().unwrap())
                .collect();
            // The first day's units are the first day's shoppers; the last day's, everyone.
            assert!(units[0] < units[1], "{metric} {v}: {units:?}");
            assert_eq!(
                units[1],
                results["variations"][v]["units"].as_u64().unwrap()
            );
            let values = s["value"].as_array().unwrap();
            assert_eq!(
                values[0], 0.0,
                "nobody bought or added on the first day: {metric} {s}"
            );
            assert_eq!(
                values[1], results["metrics"][metric][v]["value"],
                "{metric}: the last day is now"
            );
        }
        // The lift exists once both arms have converted, and is the results' own now.
        let treated = &series[1];
        assert!(
            treated["lift"][0].is_null(),
            "no test on a day without conversions: {treated}"
        );
        if metric == "conversion" {
            assert_eq!(
                treated["lift"][1],
                results["metrics"][metric][1]["frequentist"]["lift"]
            );
        }
    }
}

/// Results read again after more events, a merge, an erasure and a retention run (kept
/// between calls, caught up from the log) equal the results a restarted engine reads afresh.
#[tokio::test(flavor = "multi_thread")]
async fn results_kept_between_calls_equal_results_read_afresh() {
    let mut kit = TestEngine::builder()
        .manual_clock("2026-03-02T10:00:00Z")
        .retention(Some(30), None)
        .start()
        .await;
    store(&kit);
    let exp = json!({"id": "kept", "placement": "recs.home", "goals": ["Product Added"], "variations": [
        {"id": "editorial", "treatment": "editorial"}, {"id": "personalized", "treatment": "personalized"}]});
    put_experiment(&kit, "kept", exp).unwrap();
    let old = "2026-01-20T10:00:00Z";
    let order = |anon: &str, i: u64, total: f64| {
        json!({"anonymousId": anon, "event": "Order Completed",
        "properties": {"order_id": format!("o-{anon}-{i}"), "total": total, "products": [{"product_id": product(0, 1), "price": total}]}})
    };
    for i in 0..30u64 {
        let anon = format!("k-{i}");
        // An order 41 days before exposure: the CUPED covariate, until retention deletes it.
        let mut before = order(&anon, 0, 10.0 + i as f64);
        before["timestamp"] = json!(old);
        track(&kit, before).await;
        track(&kit, json!({"anonymousId": anon, "event": "Product Viewed", "properties": {"product_id": product(0, 1)}})).await;
        decide(&kit, json!({"anonymousId": anon}));
        if chance(i) < 0.4 {
            track(&kit, order(&anon, 1, 30.0 + i as f64)).await;
        }
    }
    kit.settle().await;
    let first = json!(kit.experiment_results("kept").unwrap());
    assert_eq!(first["units"], 30);

    // A day later: more goals and orders from those exposed, new shoppers, a login that
    // merges a shopper with orders made under their userId, an erasure, and retention.
    kit.clock.advance("1d");
    for i in 0..30u64 {
        let anon = format!("k-{i}");
        if i % 3 == 0 {
            track(&kit, json!({"anonymousId": anon, "event": "Product Added", "properties": {"product_id": product(0, 2)}})).await;
        }
        if i % 4 == 1 {
            track(&kit, order(&anon, 2, 25.0)).await;
        }
    }
    for i in 30..40u64 {
        let anon = format!("k-{i}");
        track(&kit, json!({"anonymousId": anon, "event": "Product Viewed", "properties": {"product_id": product(0, 1)}})).await;
        decide(&kit, json!({"anonymousId": anon}));
        track(&kit, order(&anon, 1, 50.0)).await;
    }
    track(&kit, json!({"userId": "member-5", "event": "Order Completed",
        "properties": {"order_id": "o-member-5", "total": 99.0, "products": [{"product_id": product(0, 3), "price": 99.0}]}})).await;
    kit.identify(json!({"anonymousId": "k-5", "userId": "member-5"}))
        .await;
    kit.erase("k-7").await.unwrap();
    kit.settle().await;
    let retention = kit.blocking(|e| e.run_retention()).await.unwrap();
    assert_eq!(
        retention.events_deleted, 29,
        "the old orders of all but the erased: {retention:?}"
    );
    let kept = json!(kit.experiment_results("kept").unwrap());
    assert_eq!(kept["units"], 39, "40 exposed, one erased");
    assert_ne!(kept["metrics"], first["metrics"]);

    kit.restart().await;
    let afresh = json!(kit.experiment_results("kept").unwrap());
    for key in ["units", "variations", "srm", "metrics", "overTime"] {
        assert_eq!(kept[key], afresh[key], "{key}");
    }
}
