//! The demo's live phase: after the history, shoppers visit once more while an experiment
//! holds half of them out of personalized recommendations, and they respond to what they
//! are shown as shoppers do: each has a chance of ordering on the visit whatever they see
//! (their own propensity), and a recommendation row with a product of their hidden favourite
//! categories makes an order a third likelier ([`FIT_LIFT`]): a lift of the size
//! personalization tests report, not a multiple. What they order is drawn per product and
//! basket: the recommended product that fit (with a click naming the decision), or what they
//! found browsing their favourites, sometimes with a second item or two of one; so the arms'
//! order values vary as a store's do. Some who do not order leave a cart at the checkout;
//! the journeys take them in (the demo's on-site cart reminder keeps a 10 % control group),
//! and a share come back and order — more of those who saw the reminder — so the journey's
//! report compares conversions of both groups. The experiment is stopped afterwards, so the
//! storefront stays personalized for everyone; its results stay queryable
//! (`GET /v1/experiments/demo-recs-holdout/results`, `tailor report experiment
//! demo-recs-holdout`).
//!
//! Its events are marked `"integrations": {"Tailor": {"training": false}}`: thousands of
//! visits within seconds are no week the models should learn from or be scored on.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng;
use serde_json::{Value, json};

use super::catalog::Catalog;
use super::client::Api;
use super::random::{self, DemoRng};
use super::shoppers::Shopper;
use crate::error::Error;

pub const EXPERIMENT: &str = "demo-recs-holdout";
/// The journey whose control group the returning carts measure (`journeys::install`).
const CART_JOURNEY: &str = "demo-onsite-cart";
/// The seed stream of the live phase; each visitor's basket uses `BASKETS + number`.
const LIVE: u64 = 3;
const BASKETS: u64 = 3 << 32;
/// Chance of ordering on the live visit, whatever is shown: a base plus this much of the
/// shopper's own propensity to buy (median 0.2: about 5 % per visit, as stores convert).
const BASE_BUY: f64 = 0.02;
const PROPENSITY_BUY: f64 = 0.15;
/// How much likelier an order is when the recommendation row (its first [`ROW`] products)
/// holds one of the shopper's favourite categories.
const FIT_LIFT: f64 = 1.35;
const ROW: usize = 4;
/// Share of the live visitors who do not order that fill a cart and leave at the checkout.
const ABANDON: f64 = 0.10;
/// Chance that a cart left at the checkout is ordered on a later visit: with the on-site
/// reminder shown, and without it (the journey's control group, or no reminder yet).
const RETURN_REMINDED: f64 = 0.30;
const RETURN_UNREMINDED: f64 = 0.20;
/// Below this price a shopper may take two of a product.
const CHEAP: f64 = 40.0;
/// How many live visits run at once.
const IN_FLIGHT: usize = 16;
/// Longest the phase waits for the journeys to take the abandoned carts in.
const ENTRIES_WITHIN: Duration = Duration::from_secs(5);

/// What the live phase did.
pub struct Live {
    pub visits: usize,
    pub orders: usize,
    /// Carts left at the checkout, and how many were ordered on a later visit.
    pub abandoned: usize,
    pub returned: usize,
    /// Conversion per variation: (variation, units, rate), and the treatment's p-value.
    pub results: Value,
    /// Revenue per visitor per variation, as the results give it, and adjusted by each
    /// visitor's revenue before the experiment (CUPED): the history's big spenders, a few
    /// in either arm, move a mean of heavy-tailed order values more than the treatment does.
    pub revenue: Value,
    pub revenue_cuped: Value,
}

/// One order line: (product id, price, quantity).
type Line = (String, f64, u32);

/// A live visitor, with every die they roll drawn before the visits run concurrently (so
/// what they do depends on the seed and on what they are shown, not on timing).
#[derive(Clone)]
struct Visitor {
    number: u32,
    anonymous_id: String,
    favourites: Vec<String>,
    /// Chance of ordering without a fitting recommendation.
    buy: f64,
    dice: f64,
    abandon: f64,
    come_back: f64,
    /// What they would order from browsing their favourites.
    basket: Vec<Line>,
    /// Whether a second item joins a recommended product they order, and which.
    extra: Option<Line>,
}

/// A product of one of the shopper's favourite categories, chosen as the history's shoppers
/// choose what to look at (`simulate`): the more popular, the nearer their price point and
/// of their brand, the likelier. Two of it now and then, when it is cheap.
fn favourite_product(catalog: &Catalog, shopper: &Shopper, rng: &mut DemoRng) -> Option<Line> {
    let favourite = random::weighted(rng, shopper.favourites.iter().map(|f| f.weight))
        .and_then(|i| shopper.favourites.get(i))?;
    let median = catalog.leaves.get(favourite.leaf)?.spec.median_price;
    let in_stock: Vec<usize> = catalog
        .by_leaf
        .get(favourite.leaf)?
        .iter()
        .copied()
        .filter(|&p| catalog.products[p].stock != 0)
        .collect();
    let weights = in_stock.iter().map(|&p| {
        let product = &catalog.products[p];
        let brand = if product.brand == favourite.brand {
            1.0 + 4.0 * shopper.brand_loyalty
        } else {
            1.0
        };
        product.popularity * (0.1 + shopper.price_fit(product.price, median)) * brand
    });
    let p = random::weighted(rng, weights).and_then(|i| in_stock.get(i))?;
    let product = &catalog.products[*p];
    let quantity = if product.price < CHEAP && random::chance(rng, 0.2) {
        2
    } else {
        1
    };
    Some((product.id.clone(), product.price, quantity))
}

fn visitor(catalog: &Catalog, s: &Shopper, seed: u64, dice: [f64; 3]) -> Option<Visitor> {
    let device = s.devices.first()?;
    let mut rng = random::stream(seed, BASKETS + u64::from(s.number));
    let mut basket: Vec<Line> = favourite_product(catalog, s, &mut rng)
        .into_iter()
        .collect();
    if random::chance(&mut rng, 0.3)
        && let Some(second) = favourite_product(catalog, s, &mut rng)
        && !basket.iter().any(|l| l.0 == second.0)
    {
        basket.push(second);
    }
    let extra = random::chance(&mut rng, 0.3)
        .then(|| favourite_product(catalog, s, &mut rng))
        .flatten();
    Some(Visitor {
        number: s.number,
        anonymous_id: device.anonymous_id.clone(),
        favourites: s
            .favourites
            .iter()
            .map(|f| catalog.leaves[f.leaf].path.clone())
            .collect(),
        buy: BASE_BUY + PROPENSITY_BUY * s.buy_propensity,
        dice: dice[0],
        abandon: dice[1],
        come_back: dice[2],
        basket,
        extra,
    })
}

fn lines_json(lines: &[Line]) -> (Vec<Value>, f64) {
    let products = lines
        .iter()
        .map(
            |(id, price, quantity)| json!({"product_id": id, "price": price, "quantity": quantity}),
        )
        .collect();
    let total = lines.iter().map(|(_, p, q)| p * f64::from(*q)).sum::<f64>();
    (products, (total * 100.0).round() / 100.0)
}

fn order(anonymous_id: &str, order_id: String, lines: &[Line], decision: Option<&Value>) -> Value {
    let (products, total) = lines_json(lines);
    let mut properties = json!({"order_id": order_id, "total": total, "revenue": total,
        "currency": "USD", "products": products});
    if let Some(d) = decision {
        properties["decisionId"] = d.clone();
    }
    json!({"type": "track", "anonymousId": anonymous_id, "event": "Order Completed",
        "properties": properties})
}

/// One visit: the recommendations, and the messages it sends (an order, or a cart left at
/// the checkout). Returns the messages and the cart left, if any.
async fn visit(api: &Api, v: &Visitor) -> Result<(Vec<Value>, Option<Vec<Line>>), Error> {
    let d = api
        .decide(&json!({"anonymousId": v.anonymous_id, "placements": ["recs.home"]}))
        .await?;
    let items = d["decisions"]["recs.home"]["items"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    // The first product of the row in a favourite category: the one they would click.
    let fit = items.iter().take(ROW).map(|i| &i["product"]).find(|p| {
        let path = p["category"]
            .as_array()
            .map(|c| {
                c.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join("/")
            })
            .unwrap_or_default();
        v.favourites.contains(&path)
    });
    let chance = if fit.is_some() {
        v.buy * FIT_LIFT
    } else {
        v.buy
    };
    let recommended =
        fit.and_then(|p| Some((p["id"].as_str()?.to_string(), p["price"].as_f64()?, 1)));
    // An order follows the recommendation when it is what made the difference, or when
    // they would have ordered anyway and it was what they wanted (half the time).
    let (lines, from_row) = match recommended {
        Some(line) if v.dice < chance - v.buy || v.dice < v.buy / 2.0 => {
            let mut lines = vec![line];
            lines.extend(v.extra.clone().filter(|e| e.0 != lines[0].0));
            (lines, true)
        }
        _ => (v.basket.clone(), false),
    };
    let mut messages = Vec::new();
    if lines.is_empty() {
        return Ok((messages, None));
    }
    if from_row && let Some(first) = lines.first() {
        messages.push(json!({"type": "track", "anonymousId": v.anonymous_id, "event": "Product Clicked",
            "properties": {"product_id": first.0, "price": first.1, "decisionId": d["decisionId"]}}));
    }
    if v.dice < chance {
        let decision = from_row.then_some(&d["decisionId"]);
        messages.push(order(
            &v.anonymous_id,
            format!("live-{}", v.number),
            &lines,
            decision,
        ));
        return Ok((messages, None));
    }
    if v.abandon >= ABANDON {
        return Ok((messages, None));
    }
    // Puts the basket in the cart and leaves at the checkout: the journeys' turn.
    let (products, total) = lines_json(&lines);
    for line in &products {
        messages.push(
            json!({"type": "track", "anonymousId": v.anonymous_id, "event": "Product Added",
            "properties": line}),
        );
    }
    messages.push(
        json!({"type": "track", "anonymousId": v.anonymous_id, "event": "Checkout Started",
        "properties": {"value": total, "currency": "USD", "products": products}}),
    );
    Ok((messages, Some(lines)))
}

/// A later visit of a shopper who left a cart: the on-site reminder, if the journey showed
/// them one, and the order, if they come back for it.
async fn come_back(api: &Api, v: &Visitor, cart: &[Line]) -> Result<Option<Value>, Error> {
    let d = api
        .decide(&json!({"anonymousId": v.anonymous_id, "placements": ["onsite.message"]}))
        .await?;
    let reminded = !d["decisions"]["onsite.message"]["message"].is_null();
    let chance = if reminded {
        RETURN_REMINDED
    } else {
        RETURN_UNREMINDED
    };
    Ok((v.come_back < chance).then(|| {
        order(
            &v.anonymous_id,
            format!("live-{}-cart", v.number),
            cart,
            None,
        )
    }))
}

/// Runs `work` over `items` with [`IN_FLIGHT`] at once, results in the items' order.
async fn concurrently<T, R, F, Fut>(items: Vec<T>, work: F) -> Result<Vec<R>, Error>
where
    T: Send + 'static,
    R: Send + 'static,
    F: Fn(T) -> Fut + Send + Sync + Clone + 'static,
    Fut: std::future::Future<Output = Result<R, Error>> + Send,
{
    let size = items.len().div_ceil(IN_FLIGHT).max(1);
    let mut chunks: Vec<Vec<T>> = Vec::new();
    let mut items = items.into_iter().peekable();
    while items.peek().is_some() {
        chunks.push(items.by_ref().take(size).collect());
    }
    let mut tasks = Vec::new();
    for chunk in chunks {
        let work = work.clone();
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::with_capacity(chunk.len());
            for item in chunk {
                out.push(work(item).await?);
            }
            Ok::<_, Error>(out)
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.extend(t.await.map_err(|source| Error::Stopped {
            what: "a live visitor",
            source,
        })??);
    }
    Ok(out)
}

/// Sends the messages, kept out of training: a burst no week of the history resembles
/// (`Message::for_training`), so `tailor train` learns from the history alone.
async fn send(api: &Api, mut messages: Vec<Value>) -> Result<(), Error> {
    for m in &mut messages {
        m["integrations"] = json!({"Tailor": {"training": false}});
    }
    for chunk in messages.chunks(500) {
        api.batch(chunk).await?;
    }
    Ok(())
}

/// Waits until the cart journey has taken in `carts` entrants (or [`ENTRIES_WITHIN`]).
async fn await_entries(api: &Api, carts: usize) {
    let started = Instant::now();
    while started.elapsed() < ENTRIES_WITHIN {
        let entered = api
            .admin_get(&format!("/v1/journeys/{CART_JOURNEY}/stats"))
            .await
            .ok()
            .and_then(|s| s["journey"]["entered"].as_u64())
            .unwrap_or(0);
        if entered as usize >= carts {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
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
    let mut rng: DemoRng = random::stream(seed, LIVE);
    let visitors: Vec<Visitor> = shoppers
        .iter()
        .take(visits)
        .filter_map(|s| {
            let dice = [
                rng.random::<f64>(),
                rng.random::<f64>(),
                rng.random::<f64>(),
            ];
            visitor(catalog, s, seed, dice)
        })
        .collect();
    let visits = visitors.len();
    let task_api = api.clone();
    let outcomes = concurrently(visitors, move |v: Visitor| {
        let api = task_api.clone();
        async move {
            let (messages, cart) = visit(&api, &v).await?;
            Ok((v, messages, cart))
        }
    })
    .await?;
    let mut messages = Vec::new();
    let mut carts = Vec::new();
    for (v, sent, cart) in outcomes {
        messages.extend(sent);
        if let Some(cart) = cart {
            carts.push((v, cart));
        }
    }
    let count_orders = |m: &[Value]| m.iter().filter(|m| m["event"] == "Order Completed").count();
    let mut orders = count_orders(&messages);
    send(api, messages).await?;
    let abandoned = carts.len();
    await_entries(api, abandoned).await;
    let task_api = api.clone();
    let returns = concurrently(carts, move |(v, cart): (Visitor, Vec<Line>)| {
        let api = task_api.clone();
        async move { come_back(&api, &v, &cart).await }
    })
    .await?;
    let returns: Vec<Value> = returns.into_iter().flatten().collect();
    let returned = returns.len();
    orders += count_orders(&returns);
    send(api, returns).await?;
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
        abandoned,
        returned,
        results: results["metrics"]["conversion"].clone(),
        revenue: results["metrics"]["revenue_per_visitor"].clone(),
        revenue_cuped: results["metrics"]["revenue_per_visitor_cuped"].clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn baskets_are_drawn_per_shopper_and_product_from_their_favourites() {
        let catalog = Catalog::generate(42, 300);
        let shoppers: Vec<Shopper> = (1..=200u32)
            .map(|n| {
                let mut rng = random::stream(42, random::SHOPPERS + u64::from(n));
                Shopper::generate(n, &catalog, 60.0, &mut rng)
            })
            .collect();
        let visitors: Vec<Visitor> = shoppers
            .iter()
            .filter_map(|s| visitor(&catalog, s, 42, [0.5; 3]))
            .collect();
        assert!(visitors.len() > 150, "{}", visitors.len());
        let totals: Vec<u64> = visitors
            .iter()
            .map(|v| (lines_json(&v.basket).1 * 100.0) as u64)
            .collect();
        let distinct: std::collections::BTreeSet<u64> = totals.iter().copied().collect();
        assert!(
            distinct.len() > visitors.len() / 2,
            "order values vary: {} distinct of {}",
            distinct.len(),
            visitors.len()
        );
        assert!(totals.iter().all(|&t| t > 0));
        assert!(visitors.iter().any(|v| v.basket.len() > 1));
        // Every basket's products are of the shopper's favourite categories.
        for (v, s) in visitors
            .iter()
            .zip(shoppers.iter().filter(|s| !s.devices.is_empty()))
        {
            for (id, _, _) in &v.basket {
                let product = catalog
                    .products
                    .iter()
                    .find(|p| &p.id == id)
                    .expect("a product");
                assert!(s.favourites.iter().any(|f| f.leaf == product.leaf));
            }
        }
        // The same seed draws the same baskets.
        let again = visitor(&catalog, &shoppers[0], 42, [0.5; 3]).expect("a visitor");
        assert_eq!(again.basket, visitors[0].basket);
    }
}
