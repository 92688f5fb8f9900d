//! Learning placements end to end over loopback: a Thompson-sampling promotion placement
//! finds the offer shoppers click most, logs the propensity of every choice, keeps exploring,
//! and remembers what it learned across a restart; a contextual (LinUCB) checkout placement
//! logs exact propensities; bad policies are refused.

mod common;

use common::{Server, WRITE_KEY};
use serde_json::{Value, json};

const CLICK_RATE: [(&str, f64); 3] = [("promo-a", 0.04), ("promo-b", 0.35), ("promo-c", 0.10)];

fn chance(i: u64) -> f64 {
    (i.wrapping_mul(2_654_435_761) % 10_000) as f64 / 10_000.0
}

async fn decide(s: &Server, who: &str, placement: &str) -> Value {
    let (status, d) = s
        .raw(
            s.http
                .post(s.url("/v1/decide"))
                .bearer_auth(WRITE_KEY)
                .json(&json!({"anonymousId": who, "placements": [placement]})),
        )
        .await;
    assert_eq!(status, 200, "{d}");
    d
}

#[tokio::test(flavor = "multi_thread")]
async fn a_learning_placement_finds_the_best_offer() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Server::start(dir.path()).await;
    let promos: Vec<Value> = CLICK_RATE
        .iter()
        .map(|(id, _)| json!({"id": id, "kind": "promotion", "placements": ["promo.banner"], "title": format!("Offer {id}")}))
        .collect();
    assert_eq!(
        s.admin_put("/v1/catalog/content", &Value::Array(promos))
            .await
            .0,
        200
    );

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
        let (status, e) = s.admin_put("/v1/placements", &bad).await;
        assert_eq!(status, 400, "{bad}: {e}");
        assert!(e.to_string().contains(expected), "{expected}: {e}");
    }
    let learning = json!({"id": "promo.banner", "kind": "promotion",
        "policy": {"kind": "thompson", "reward": "click", "exploration": 0.1}});
    let (status, r) = s.admin_put("/v1/placements", &learning).await;
    assert_eq!(status, 200, "{r}");

    // Shoppers click each offer at its own hidden rate.
    let mut late_picks = std::collections::HashMap::new();
    let mut last_decision = String::new();
    let rounds = 600u64;
    for i in 0..rounds {
        let who = format!("v-{i}");
        let d = decide(&s, &who, "promo.banner").await;
        let answer = &d["decisions"]["promo.banner"];
        let chosen = answer["item"]["id"].as_str().unwrap().to_string();
        let propensity = answer["propensity"].as_f64().unwrap();
        assert!((0.1 / 3.0 - 1e-6..=1.0).contains(&propensity), "{answer}");
        let rate = CLICK_RATE.iter().find(|(id, _)| *id == chosen).unwrap().1;
        if chance(i) < rate {
            let (status, _) = s
                .post(
                    "/v1/track",
                    &json!({"anonymousId": who, "event": "Promotion Clicked",
                    "properties": {"promotion_id": chosen, "decisionId": d["decisionId"]}}),
                )
                .await;
            assert_eq!(status, 200);
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
    let (status, logged) = s.admin_get(&format!("/v1/decisions/{last_decision}")).await;
    assert_eq!(status, 200, "{logged}");
    let p = logged["placements"]["promo.banner"]["propensity"]
        .as_f64()
        .unwrap();
    assert!(p > 0.0 && p <= 1.0, "{logged}");

    let (status, learned) = s.admin_get("/v1/placements/promo.banner/policy").await;
    assert_eq!(status, 200, "{learned}");
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

    // The live policy's log, exported in the Open Bandit format, feeds the off-policy
    // estimators: evaluated on its own log, IPW gives back the logged click rate.
    let r = s
        .http
        .get(s.url("/v1/decisions/export?placement=promo.banner"))
        .bearer_auth(common::ADMIN_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let items: Vec<String> =
        serde_json::from_str(r.headers()["x-tailor-items"].to_str().unwrap()).unwrap();
    let csv = r.text().await.unwrap();
    assert_eq!(csv.lines().count() as u64, rounds + 1, "{}", &csv[..200]);
    assert_eq!(items.len(), 3);
    let clicks = csv
        .lines()
        .skip(1)
        .filter(|l| l.split(',').nth(3) == Some("1"))
        .count();
    assert!(clicks > 30, "clicks are joined: {clicks}");
    let logs = dir.path().join("promo-log.csv");
    std::fs::write(&logs, &csv).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tailor"))
        .args(["eval", "ope", "--logs"])
        .arg(&logs)
        .args(["--train-policy", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ope: Value = serde_json::from_slice(&out.stdout).unwrap();
    let logged_ctr = ope["on_policy_ctr_of_logs"].as_f64().unwrap();
    assert!(
        (logged_ctr - clicks as f64 / rounds as f64).abs() < 1e-9,
        "{ope}"
    );

    // What it learned survives a restart.
    s.stop();
    let s = Server::start(dir.path()).await;
    let (_, after) = s.admin_get("/v1/placements/promo.banner/policy").await;
    assert_eq!(after["candidates"], learned["candidates"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_contextual_checkout_logs_exact_propensities() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path()).await;
    let checkout = json!({"id": "checkout.flow", "kind": "checkout",
        "policy": {"kind": "linucb", "reward": "conversion", "exploration": 0.2, "alpha": 0.5},
        "variants": [{"id": "express", "explanation": "Express"}, {"id": "standard", "explanation": "Standard"}]});
    let (status, r) = s.admin_put("/v1/placements", &checkout).await;
    assert_eq!(status, 200, "{r}");
    let mut seen = std::collections::HashSet::new();
    for i in 0..60 {
        let d = decide(&s, &format!("c-{i}"), "checkout.flow").await;
        let answer = &d["decisions"]["checkout.flow"];
        let p = answer["propensity"].as_f64().unwrap();
        // Exactly (1 − ε) + ε/2 for the greedy pick, ε/2 for an exploratory one.
        assert!((p - 0.9).abs() < 1e-9 || (p - 0.1).abs() < 1e-9, "{answer}");
        seen.insert(answer["variant"].as_str().unwrap().to_string());
        if answer["variant"] == "express" {
            let (status, _) = s
                .post("/v1/track", &json!({"anonymousId": format!("c-{i}"), "event": "Order Completed",
                    "properties": {"order_id": format!("o-{i}"), "total": 30.0, "decisionId": d["decisionId"]}}))
                .await;
            assert_eq!(status, 200);
        }
    }
    assert_eq!(seen.len(), 2, "both variants are tried: {seen:?}");
    let (_, learned) = s.admin_get("/v1/placements/checkout.flow/policy").await;
    assert!(
        learned["candidates"]["express"]["showings"]
            .as_u64()
            .unwrap()
            > 0,
        "{learned}"
    );
}
