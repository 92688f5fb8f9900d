//! Lifetime predictions where most customers are: one-time buyers. A store whose one-time
//! buyers mostly never come back trains MBG/NBD (BG/NBD keeps every one-time buyer alive), so
//! their churn risk grows with the time since their only order, and their CLV follows what
//! that order was worth.

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
    // 30 weeks. Regulars order every week or two throughout; each week two new customers
    // order once and never again, one small order and one large.
    for week in 0..30u32 {
        kit.clock.advance("7d");
        for i in 0..20u32 {
            if (week + i) % (1 + i % 2) == 0 {
                order(&kit, &format!("regular-{i}"), &mut n, 30.0 + f64::from(i)).await;
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
    assert!(0.0 < recent && recent < middle && middle < old, "{recent} {middle} {old}");
    assert!(old > 0.5, "29 weeks without a second order: {old}");

    let clv = |user: &str| predictions(&kit, user)["clv"].as_f64().expect("a CLV");
    for week in [1, 20, 29] {
        let (small, large) = (clv(&format!("small-{week}")), clv(&format!("large-{week}")));
        assert!(large > 2.0 * small, "week {week}: {large} vs {small}");
    }
}
