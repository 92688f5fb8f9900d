//! The demo's live phase: after the history, shoppers visit once more while an experiment
//! holds half of them out of personalized recommendations, and they respond to what they
//! are shown — they buy more often when the recommendations fit their hidden favourite
//! categories. So the demo's experiment shows a real, measurable lift
//! (`GET /v1/experiments/demo-recs-holdout/results`, `tailor report experiment
//! demo-recs-holdout`). The experiment is stopped afterwards, so the storefront stays
//! personalized for everyone; its results stay queryable.
//!
//! Its events are marked `"integrations": {"Tailor": {"training": false}}`: thousands of
//! visits within seconds are no week the models should learn from or be scored on.

use std::sync::Arc;

use rand::Rng;
use serde_json::{Value, json};

use super::catalog::Catalog;
use super::client::Api;
use super::random::{self, DemoRng};
use super::shoppers::Shopper;
use crate::error::Error;

pub const EXPERIMENT: &str = "demo-recs-holdout";
/// The seed stream of the live phase.
const LIVE: u64 = 3;
/// Chance of buying on the live visit: a base rate, plus this much for a first
/// recommendation in one of the shopper's favourite categories.
const BASE_BUY: f64 = 0.04;
const FIT_BUY: f64 = 0.30;
/// Share of the live visitors who do not buy that fill a cart and leave at the checkout.
const ABANDON: f64 = 0.10;
/// How many live visits run at once.
const IN_FLIGHT: usize = 16;

/// What the live phase did.
pub struct Live {
    pub visits: usize,
    pub orders: usize,
    /// Conversion per variation: (variation, units, rate), and the treatment's p-value.
    pub results: Value,
}

pub async fn run(
    api: &Arc<Api>,
    shoppers: &[Shopper],
    catalog: &Catalog,
    seed: u64,
    visits: usize,
) -> Result<Live, Error> {
    let experiment = json!({"placement": "recs.home", "weights": [0.5, 0.5], "variations": [
        {"id": "holdout", "treatment": "editorial"}, {"id": "personalized", "treatment": "personalized"}]});
    api.admin_put(&format!("/v1/experiments/{EXPERIMENT}"), &experiment)
        .await?;
    // Who visits: (number, browser id, favourite category paths), and the dice they roll.
    let mut rng: DemoRng = random::stream(seed, LIVE);
    let visitors: Vec<(u32, String, Vec<String>, f64)> = shoppers
        .iter()
        .take(visits)
        .filter_map(|s| {
            let device = s.devices.first()?;
            let favourites = s
                .favourites
                .iter()
                .map(|f| catalog.leaves[f.leaf].path.clone())
                .collect();
            Some((
                s.number,
                device.anonymous_id.clone(),
                favourites,
                rng.random::<f64>(),
            ))
        })
        .collect();
    let visits = visitors.len();
    // Visits run concurrently; each answers with the order it places, if any.
    let chunks: Vec<Vec<_>> = visitors
        .chunks(visits.div_ceil(IN_FLIGHT).max(1))
        .map(<[_]>::to_vec)
        .collect();
    let mut tasks = Vec::new();
    for chunk in chunks {
        let api = api.clone();
        tasks.push(tokio::spawn(async move {
            // Orders, and the carts of those who leave without one.
            let mut orders = Vec::new();
            for (number, anonymous_id, favourites, dice) in chunk {
                let d = api
                    .decide(&json!({"anonymousId": anonymous_id, "placements": ["recs.home"]}))
                    .await?;
                let first = &d["decisions"]["recs.home"]["items"][0]["product"];
                let path = first["category"]
                    .as_array()
                    .map(|c| c.iter().filter_map(Value::as_str).collect::<Vec<_>>().join("/"))
                    .unwrap_or_default();
                let fits = favourites.contains(&path);
                let buys = dice < BASE_BUY + if fits { FIT_BUY } else { 0.0 };
                if !buys && dice > 1.0 - ABANDON {
                    // Puts it in the cart and leaves at the checkout: the journeys' turn.
                    let price = first["price"].as_f64().unwrap_or(0.0);
                    let line = json!({"product_id": first["id"], "price": price, "quantity": 1});
                    orders.push(json!({"type": "track", "anonymousId": anonymous_id, "event": "Product Added",
                        "properties": line}));
                    orders.push(json!({"type": "track", "anonymousId": anonymous_id, "event": "Checkout Started",
                        "properties": {"value": price, "products": [line]}}));
                }
                if buys {
                    let price = first["price"].as_f64().unwrap_or(0.0);
                    orders.push(json!({"type": "track", "anonymousId": anonymous_id, "event": "Order Completed",
                        "properties": {"order_id": format!("live-{number}"), "total": price, "revenue": price,
                            "decisionId": d["decisionId"],
                            "products": [{"product_id": first["id"], "price": price, "quantity": 1}]}}));
                }
            }
            Ok::<_, Error>(orders)
        }));
    }
    let mut orders = Vec::new();
    for t in tasks {
        orders.extend(t.await.map_err(|source| Error::Stopped {
            what: "a live visitor",
            source,
        })??);
    }
    // A burst no week of the history resembles: kept out of model training and evaluations
    // (`Message::for_training`), so `tailor train` learns from the history alone.
    for order in &mut orders {
        order["integrations"] = json!({"Tailor": {"training": false}});
    }
    for chunk in orders.chunks(500) {
        api.batch(chunk).await?;
    }
    let orders = orders
        .iter()
        .filter(|o| o["event"] == "Order Completed")
        .count();
    let results = api
        .admin_get(&format!("/v1/experiments/{EXPERIMENT}/results"))
        .await
        .map_err(|e| e.during("the live experiment's results"))?;
    let mut stopped = experiment;
    stopped["status"] = json!("stopped");
    api.admin_put(&format!("/v1/experiments/{EXPERIMENT}"), &stopped)
        .await?;
    Ok(Live {
        visits,
        orders,
        results: results["metrics"]["conversion"].clone(),
    })
}
