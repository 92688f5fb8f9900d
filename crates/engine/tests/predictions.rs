//! Lifetime predictions where most customers are: one-time buyers. A store where customers
//! can leave right after their first order serves MBG/NBD (BG/NBD keeps every one-time buyer
//! alive), chosen by its lower hold-out error; one-time buyers' churn risk then grows with the
//! time since their only order, and their CLV follows what that order was worth.

use serde_json::{Value, json};
use tailor_testkit::TestEngine;

async fn order(kit: &TestEngine, user: &str, n: &mut u32, total: f64) {
    *n += 1;
    let receipt = kit
        .track(json!({"userId": user, "event": "Order Completed",
                      "properties": {"order_id": format!("o{n}"), "total": total}}))
        .await;
    assert_eq!(receipt.accepted, 1, "{receipt:?}");
}

fn predictions(kit: &TestEngine, user: &str) -> Value {
    kit.profile_json(user)["predictions"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_time_buyers_churn_with_recency_and_their_value_follows_the_first_order() {
    let kit = TestEngine::start().await;
    kit.clock.to("2031-01-01T12:00:00Z");
    let mut n = 0;
    // 30 weeks of a store as MBG/NBD and BG/NBD describe one: 4 new customers a week; while
    // "alive" a customer orders in a week with probability 0.35; after each order, the
    // first included, they leave for good with probability 0.3 (a seeded generator, so the
    // test is reproducible). Besides them, each week two named customers order once and
    // never again, one small order and one large.
    let mut seed: u64 = 42;
    let mut uniform = move || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 11) as f64 / (1u64 << 53) as f64
    };
    // Each customer spends around a level of their own (20 to 200), ±20 % per order.
    let mut alive: Vec<(String, f64)> = Vec::new();
    let mut customers = 0;
    for week in 0..30u32 {
        kit.clock.advance("7d");
        let mut ordering: Vec<(String, f64)> =
            alive.iter().filter(|_| uniform() < 0.35).cloned().collect();
        for _ in 0..4 {
            customers += 1;
            let customer = (format!("c-{customers}"), 20.0 + 180.0 * uniform());
            alive.push(customer.clone());
            ordering.push(customer);
        }
        for (user, level) in ordering {
            order(&kit, &user, &mut n, level * (0.8 + 0.4 * uniform())).await;
            if uniform() < 0.3 {
                alive.retain(|(u, _)| *u != user);
            }
        }
        order(&kit, &format!("small-{week}"), &mut n, 22.99).await;
        order(&kit, &format!("large-{week}"), &mut n, 197.99).await;
    }
    kit.clock.advance("3d");
    kit.settle().await;
    kit.train_models().expect("train");
    kit.settle().await;
    let (versions, _) = kit.models();
    let lifetime = &json!(versions.last().expect("a version").evaluation)["lifetime_value"];
    assert_eq!(lifetime["model"], "mbgnbd", "{lifetime}");
    let hold_out = &lifetime["holdout"];
    assert!(
        hold_out["mbgnbd"]["mae"].as_f64() < hold_out["bgnbd"]["mae"].as_f64(),
        "{hold_out}"
    );

    let churn = |user: &str| {
        predictions(&kit, user)["churn_risk"]
            .as_f64()
            .unwrap_or_else(|| panic!("no churn risk for {user}"))
    };
    // Bought once 3 days, 10 weeks and 29 weeks ago.
    let (recent, middle, old) = (churn("small-29"), churn("small-20"), churn("small-1"));
    assert!(
        0.0 < recent && recent < middle && middle < old,
        "{recent} {middle} {old}"
    );
    assert!(old > 0.5, "29 weeks without a second order: {old}");

    let clv = |user: &str| predictions(&kit, user)["clv"].as_f64().expect("a CLV");
    // Same dates, same history: the larger first order predicts the larger value (by how
    // much depends on how much spend differs between this store's customers, which
    // Gamma-Gamma measures on its repeat buyers).
    for week in [20, 29] {
        let (small, large) = (clv(&format!("small-{week}")), clv(&format!("large-{week}")));
        eprintln!("week {week}: CLV {small} after $22.99, {large} after $197.99");
        assert!(large > small, "week {week}: {large} vs {small}");
    }
    assert!(clv("large-1") >= clv("small-1"));
}
