//! Learning placements at the engine boundary: a Thompson-sampling promotion placement finds
//! the offer shoppers click most, logs the propensity of every choice, keeps exploring,
//! exports its log in the Open Bandit format and remembers what it learned across a
//! restart; a contextual (LinUCB) checkout placement logs exact propensities; bad policies
//! are refused. (`tailor eval ope` on such a log: `crates/tailor/tests/cli.rs`.)

use serde_json::{Value, json};
use tailor_engine::EngineError;
use tailor_testkit::TestEngine;

const CLICK_RATE: [(&str, f64); 3] = [("promo-a", 0.04), ("promo-b", 0.35), ("promo-c", 0.10)];

fn chance(i: u64) -> f64 {
    (i.wrapping_mul(2_654_435_761) % 10_000) as f64 / 10_000.0
}

fn decide(kit: &TestEngine, who: &str, placement: &str) -> Value {
    kit.decide_json(json!({"anonymousId": who, "placements": [placement]}))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_learning_placement_finds_the_best_offer() {
    let mut kit = TestEngine::start().await;
    let promos: Vec<Value> = CLICK_RATE
        .iter()
        .map(|(id, _)| json!({"id": id, "kind": "promotion", "placements": ["promo.banner"], "title": format!("Offer {id}")}))
        .collect();
    assert_eq!(kit.load_content(Value::Array(promos)), 3);

    // Bad policies are refused with a clear error.
    for (bad, expected) in [
        (
            json!({"id": "recs.home", "kind": "recommendations", "source": "visitor", "policy": {"kind": "thompson", "reward": "click"}}),
            "hero, promotion or checkout",
        ),
        (
            json!({"id": "promo.banner", "kind": "promotion", "policy": {"kind": "thompson", "reward": "click", "exploration": 0}}),
            "exploration",
        ),
        (
            json!({"id": "promo.banner", "kind": "promotion", "policy": {"kind": "greedy"}}),
            "policy",
        ),
    ] {
        let Err(EngineError::Invalid(e)) = kit.load_placements(bad.clone()) else {
            panic!("{bad} is refused");
        };
        assert!(e.to_string().contains(expected), "{expected}: {e}");
    }
    let learning = json!({"id": "promo.banner", "kind": "promotion",
        "policy": {"kind": "thompson", "reward": "click", "exploration": 0.1}});
    assert_eq!(kit.load_placements(learning).unwrap(), 1);

    // Shoppers click each offer at its own hidden rate.
    let mut late_picks = std::collections::HashMap::new();
    let mut last_decision = String::new();
    let rounds = 600u64;
    for i in 0..rounds {
        let who = format!("v-{i}");
        let d = decide(&kit, &who, "promo.banner");
        let answer = &d["decisions"]["promo.banner"];
        let chosen = answer["item"]["id"].as_str().unwrap().to_string();
        let propensity = answer["propensity"].as_f64().unwrap();
        assert!((0.1 / 3.0 - 1e-6..=1.0).contains(&propensity), "{answer}");
        let rate = CLICK_RATE.iter().find(|(id, _)| *id == chosen).unwrap().1;
        if chance(i) < rate {
            let receipt = kit
                .track(json!({"anonymousId": who, "event": "Promotion Clicked",
                    "properties": {"promotion_id": chosen, "decisionId": d["decisionId"]}}))
                .await;
            assert_eq!(receipt.accepted, 1);
        }
        if i >= rounds - 200 {
            *late_picks.entry(chosen).or_insert(0) += 1;
        }
        last_decision = d["decisionId"].as_str().unwrap().to_string();
    }
    let best = late_picks.get("promo-b").copied().unwrap_or(0);
    assert!(
        best > 120,
        "the best offer wins most of the late traffic: {late_picks:?}"
    );
    assert!(
        late_picks.len() >= 2,
        "exploration keeps the others alive: {late_picks:?}"
    );

    // The decision log has the propensity of what was shown.
    kit.settle().await;
    let (record, _) = kit.decision(&last_decision).unwrap().expect("logged");
    let logged: Value = record.body();
    let p = logged["placements"]["promo.banner"]["propensity"]
        .as_f64()
        .unwrap();
    assert!(p > 0.0 && p <= 1.0, "{logged}");

    // As `GET /v1/placements/{id}/policy` sends it.
    let learned = json!(
        kit.policy_summary("promo.banner")
            .expect("a learning placement")
    );
    let b = &learned["candidates"]["promo-b"];
    let a = &learned["candidates"]["promo-a"];
    assert!(
        b["posteriorMean"].as_f64().unwrap() > a["posteriorMean"].as_f64().unwrap(),
        "{learned}"
    );
    let total: f64 = learned["candidates"]
        .as_object()
        .unwrap()
        .values()
        .map(|c| c["showings"].as_f64().unwrap())
        .sum();
    assert_eq!(
        total, rounds as f64,
        "every showing counted once: {learned}"
    );

    // The live policy's log in the Open Bandit format, with the clicks joined.
    let export = kit
        .export_decisions(&tailor_engine::DecisionFilter {
            placement: "promo.banner".into(),
            during: i64::MIN..i64::MAX,
            policy: None,
            model_version: None,
            limit: 100_000,
        })
        .unwrap();
    assert_eq!(
        export.policies.get("bandit").copied(),
        Some(rounds as usize)
    );
    let csv = &export.csv;
    assert_eq!(csv.lines().count() as u64, rounds + 1, "{}", &csv[..200]);
    assert_eq!(export.items.len(), 3);
    let clicks = csv
        .lines()
        .skip(1)
        .filter(|l| l.split(',').nth(3) == Some("1"))
        .count();
    assert!(clicks > 30, "clicks are joined: {clicks}");

    // What it learned survives a restart.
    kit.restart().await;
    let after = json!(kit.policy_summary("promo.banner").unwrap());
    assert_eq!(after["candidates"], learned["candidates"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_contextual_checkout_logs_exact_propensities() {
    let kit = TestEngine::start().await;
    let checkout = json!({"id": "checkout.flow", "kind": "checkout",
        "policy": {"kind": "linucb", "reward": "conversion", "exploration": 0.2, "alpha": 0.5},
        "variants": [{"id": "express", "explanation": "Express"}, {"id": "standard", "explanation": "Standard"}]});
    assert_eq!(kit.load_placements(checkout).unwrap(), 1);
    let mut seen = std::collections::HashSet::new();
    for i in 0..60 {
        let d = decide(&kit, &format!("c-{i}"), "checkout.flow");
        let answer = &d["decisions"]["checkout.flow"];
        let p = answer["propensity"].as_f64().unwrap();
        // Exactly (1 − ε) + ε/2 for the greedy pick, ε/2 for an exploratory one.
        assert!((p - 0.9).abs() < 1e-9 || (p - 0.1).abs() < 1e-9, "{answer}");
        seen.insert(answer["variant"].as_str().unwrap().to_string());
        if answer["variant"] == "express" {
            let receipt = kit
                .track(json!({"anonymousId": format!("c-{i}"), "event": "Order Completed",
                    "properties": {"order_id": format!("o-{i}"), "total": 30.0, "decisionId": d["decisionId"]}}))
                .await;
            assert_eq!(receipt.accepted, 1);
        }
    }
    assert_eq!(seen.len(), 2, "both variants are tried: {seen:?}");
    let learned = json!(kit.policy_summary("checkout.flow").unwrap());
    assert!(
        learned["candidates"]["express"]["showings"]
            .as_u64()
            .unwrap()
            > 0,
        "{learned}"
    );
}
