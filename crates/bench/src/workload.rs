//! The data `tailor bench` loads and asks about, in two shapes:
//!
//! - **uniform**: events spread evenly over 100,000 people and 5,000 products in 24 leaf
//!   categories, ~10 events per person (the shape every earlier session measured);
//! - **skewed**: what real stores see and the uniform shape hides. A 100,000-product catalog
//!   (25 top-level categories of 40 leaves); power-law shoppers (a few people own many
//!   sessions); power-law session lengths up to 1,000 views; a handful of bestsellers, one of
//!   which is viewed in half of all sessions; product views that favour a session's own leaf
//!   category and, across the store, a power law over products. Decisions are asked for the
//!   people behind randomly drawn *events*, so long sessions ask for many, as shoppers paging
//!   through a store do.
//!
//! Both are generated from fixed seeds before the runtime starts, as a client's data would be.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

use crate::error::Error;

/// Which data a run loads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Uniform,
    Skewed,
}

impl Shape {
    pub fn name(self) -> &'static str {
        match self {
            Shape::Uniform => "uniform",
            Shape::Skewed => "skewed",
        }
    }
}

/// What one run loads and asks.
pub struct Workload {
    /// `/v1/batch` bodies, in sending order.
    pub bodies: Vec<Vec<u8>>,
    pub products: Vec<tailor_core::Product>,
    pub content: Vec<tailor_core::ContentItem>,
    /// The anonymousIds decisions and profile reads are asked for, in order.
    pub ids: Vec<String>,
    /// Events in `bodies`.
    pub events: usize,
}

/// The sizes of a run.
#[derive(Debug, Clone, Copy)]
pub struct Size {
    pub events: usize,
    pub batch: usize,
    pub profiles: usize,
    pub reads: usize,
}

const EVENTS: [&str; 8] = [
    "Product Viewed",
    "Product Viewed",
    "Product Viewed",
    "Product List Viewed",
    "Product Added",
    "Products Searched",
    "Cart Viewed",
    "Order Completed",
];

/// Events that are not product views, for the skewed shape's sessions.
const OTHER_EVENTS: [&str; 5] = [
    "Product List Viewed",
    "Product Added",
    "Products Searched",
    "Cart Viewed",
    "Order Completed",
];

/// The skewed shape's catalog: 25 top-level categories × 40 leaves, 100 products each.
const SKEWED_PRODUCTS: usize = 100_000;
const SKEWED_LEAVES: usize = 1_000;
const LEAVES_PER_TOP: usize = 40;
/// Bestsellers: `sku-0` is in half of all sessions, `sku-1`…`sku-4` in a tenth each.
const BESTSELLERS: usize = 5;
/// Session lengths follow P(length ≥ x) = x^-α, capped.
const SESSION_ALPHA: f64 = 1.2;
const MAX_SESSION: usize = 1_000;
/// Shoppers: the k-th most active person owns sessions in proportion to k^-s.
const SHOPPER_ZIPF: f64 = 0.8;
/// Products across the store: the k-th most viewed in proportion to k^-s.
const PRODUCT_ZIPF: f64 = 1.0;
/// Seconds between views within a session.
const VIEW_GAP_SECONDS: i64 = 20;

pub fn generate(shape: Shape, size: &Size) -> Result<Workload, Error> {
    let start = chrono::Utc::now().timestamp_millis() - 30 * 86_400_000;
    match shape {
        Shape::Uniform => uniform(size, start),
        Shape::Skewed => skewed(size, start),
    }
}

fn event_json(
    n: usize,
    person: usize,
    event: &str,
    product: usize,
    (top, leaf): (usize, usize),
    ts: i64,
    rng: &mut ChaCha8Rng,
) -> Value {
    json!({
        "type": "track",
        "messageId": format!("bench-{n}"),
        "anonymousId": format!("anon-{person}"),
        "event": event,
        "timestamp": tailor_core::time::format_timestamp(ts),
        "properties": {
            "product_id": format!("sku-{product}"),
            "category": format!("Top{top}/Leaf{leaf}"),
            "brand": format!("Brand{}", leaf % 7),
            "price": rng.random_range(5..300),
            "revenue": rng.random_range(5..300),
            "quantity": 1
        },
        "context": {"library": {"name": "tailor-bench", "version": "1"}, "ip": "127.0.0.1"}
    })
}

fn batches(events: Vec<Value>, batch: usize) -> Vec<Vec<u8>> {
    events
        .chunks(batch)
        .map(|chunk| serde_json::to_vec(&json!({ "batch": chunk })).unwrap_or_default())
        .collect()
}

/// Realistic e-commerce events spread evenly over `profiles` people, as `/v1/batch` bodies.
fn uniform(size: &Size, start: i64) -> Result<Workload, Error> {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut events = Vec::with_capacity(size.events);
    for n in 0..size.events {
        let person = rng.random_range(0..size.profiles);
        let event = EVENTS[rng.random_range(0..EVENTS.len())];
        let cat = rng.random_range(0..24);
        // Arriving in time order over 30 days, as live traffic does (training replays the
        // log in arrival order).
        let ts = start + (n as f64 / size.events as f64 * 30.0 * 86_400_000.0) as i64;
        let product = rng.random_range(0..5_000);
        events.push(event_json(
            n,
            person,
            event,
            product,
            (cat / 4, cat),
            ts,
            &mut rng,
        ));
    }
    let products = (0..5_000)
        .map(|i| {
            let cat = i % 24;
            product(
                i,
                &format!("Top{}/Leaf{cat}", cat / 4),
                cat % 7,
                i % 13 == 0,
            )
        })
        .collect::<Result<Vec<_>, Error>>()?;
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let ids = (0..size.reads)
        .map(|_| format!("anon-{}", rng.random_range(0..size.profiles)))
        .collect();
    Ok(Workload {
        bodies: batches(events, size.batch),
        products,
        content: content(6)?,
        ids,
        events: size.events,
    })
}

fn product(
    i: usize,
    category: &str,
    brand: usize,
    sold_out: bool,
) -> Result<tailor_core::Product, Error> {
    tailor_core::Product::from_json(json!({
        "id": format!("sku-{i}"), "name": format!("Product {i}"), "category": category,
        "brand": format!("Brand{brand}"), "price": 5 + i % 295, "stock": if sold_out { 0 } else { 10 }
    }))
    .map_err(|e| Error::Failed(format!("bench product: {e}")))
}

/// A hero banner and a promotion per top-level category, and a cart offer.
fn content(tops: usize) -> Result<Vec<tailor_core::ContentItem>, Error> {
    let mut content = Vec::new();
    for top in 0..tops {
        content.push(json!({"id": format!("hero-{top}"), "kind": "banner", "placements": ["home.hero"],
            "title": format!("Top{top} picks"), "targeting": {"categories": [format!("Top{top}")]}}));
        content.push(json!({"id": format!("promo-{top}"), "kind": "promotion", "placements": ["promo.banner"],
            "title": format!("Top{top} offer"), "targeting": {"categories": [format!("Top{top}")]}}));
    }
    content.push(json!({"id": "promo-cart", "kind": "promotion", "placements": ["promo.banner"], "title": "Complete your order",
        "targeting": {"stages": ["evaluation"], "condition": {"cartItems": {"$gt": 0}}}}));
    content
        .into_iter()
        .map(|c| {
            tailor_core::ContentItem::from_json(c)
                .map_err(|e| Error::Failed(format!("bench content: {e}")))
        })
        .collect()
}

/// Draws from a Zipf distribution over `0..n` by its cumulative weights.
struct Zipf {
    cumulative: Vec<f64>,
}

impl Zipf {
    fn new(n: usize, s: f64) -> Self {
        let mut total = 0.0;
        let cumulative = (1..=n.max(1))
            .map(|k| {
                total += (k as f64).powf(-s);
                total
            })
            .collect();
        Zipf { cumulative }
    }

    fn sample(&self, rng: &mut ChaCha8Rng) -> usize {
        let total = self.cumulative.last().copied().unwrap_or(1.0);
        let x = rng.random::<f64>() * total;
        self.cumulative
            .partition_point(|&c| c < x)
            .min(self.cumulative.len() - 1)
    }
}

/// The skewed shape (see the module documentation).
fn skewed(size: &Size, start: i64) -> Result<Workload, Error> {
    let mut rng = ChaCha8Rng::seed_from_u64(17);
    let shoppers = Zipf::new(size.profiles, SHOPPER_ZIPF);
    let store = Zipf::new(SKEWED_PRODUCTS, PRODUCT_ZIPF);
    let in_leaf = Zipf::new(SKEWED_PRODUCTS / SKEWED_LEAVES, PRODUCT_ZIPF);
    // Rank → person and rank → product are scattered so the heavy ones are not neighbours.
    let person_of = |rank: usize| (rank * 7_919 + 13) % size.profiles;
    let product_of = |rank: usize| (rank * 104_729 + 7) % SKEWED_PRODUCTS;
    let leaf_of = |product: usize| product % SKEWED_LEAVES;
    // Sessions start evenly over 30 days in generation order; views are 20 s apart.
    let mut sessions: Vec<(usize, Vec<(usize, &str)>)> = Vec::new();
    let mut total = 0;
    while total < size.events {
        let person = person_of(shoppers.sample(&mut rng));
        let u: f64 = rng.random_range(f64::EPSILON..1.0);
        let length = (u.powf(-1.0 / SESSION_ALPHA) as usize)
            .clamp(1, MAX_SESSION)
            .min(size.events - total);
        let leaf = leaf_of(product_of(store.sample(&mut rng)));
        let mut views: Vec<(usize, &str)> = (0..length)
            .map(|_| {
                let product = if rng.random_bool(0.7) {
                    leaf + SKEWED_LEAVES * in_leaf.sample(&mut rng)
                } else {
                    product_of(store.sample(&mut rng))
                };
                let event = if rng.random_bool(0.8) {
                    "Product Viewed"
                } else {
                    OTHER_EVENTS[rng.random_range(0..OTHER_EVENTS.len())]
                };
                (product, event)
            })
            .collect();
        // Half of all sessions view the bestseller; a tenth each of the others.
        let position = rng.random_range(0..length);
        if rng.random_bool(0.5) {
            views[position] = (0, "Product Viewed");
        } else if rng.random_bool(0.4) {
            views[position] = (rng.random_range(1..BESTSELLERS), "Product Viewed");
        }
        total += length;
        sessions.push((person, views));
    }
    let session_count = sessions.len();
    let mut events = Vec::with_capacity(total);
    let mut owners = Vec::with_capacity(total);
    for (s, (person, views)) in sessions.into_iter().enumerate() {
        let begins = start + (s as f64 / session_count as f64 * 30.0 * 86_400_000.0) as i64;
        for (i, (product, event)) in views.into_iter().enumerate() {
            let leaf = leaf_of(product);
            let ts = begins + i as i64 * VIEW_GAP_SECONDS * 1000;
            let n = events.len();
            events.push(event_json(
                n,
                person,
                event,
                product,
                (leaf / LEAVES_PER_TOP, leaf),
                ts,
                &mut rng,
            ));
            owners.push(person);
        }
    }
    let products = (0..SKEWED_PRODUCTS)
        .map(|i| {
            let leaf = leaf_of(i);
            product(
                i,
                &format!("Top{}/Leaf{leaf}", leaf / LEAVES_PER_TOP),
                leaf % 7,
                i % 13 == 12,
            )
        })
        .collect::<Result<Vec<_>, Error>>()?;
    // Decisions come with page views: the person behind a random event of the last week.
    let mut rng = ChaCha8Rng::seed_from_u64(19);
    let recent = owners.len() - owners.len() / 4;
    let ids = (0..size.reads)
        .map(|_| format!("anon-{}", owners[rng.random_range(recent..owners.len())]))
        .collect();
    Ok(Workload {
        bodies: batches(events, size.batch),
        products,
        content: content(SKEWED_LEAVES / LEAVES_PER_TOP)?,
        ids,
        events: total,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_skewed_shape_is_skewed() {
        let size = Size {
            events: 50_000,
            batch: 500,
            profiles: 10_000,
            reads: 100,
        };
        let w = generate(Shape::Skewed, &size).unwrap();
        assert_eq!(w.events, 50_000);
        assert_eq!(w.products.len(), SKEWED_PRODUCTS);
        assert_eq!(w.ids.len(), 100);
        let events: Vec<Value> = w
            .bodies
            .iter()
            .flat_map(|b| {
                let v: Value = serde_json::from_slice(b).unwrap();
                v["batch"].as_array().unwrap().clone()
            })
            .collect();
        assert_eq!(events.len(), 50_000);
        let bestseller = events
            .iter()
            .filter(|e| e["properties"]["product_id"] == "sku-0")
            .count();
        // In half the sessions (~9,000 of them at a mean of ~5.5 events).
        assert!(bestseller > 2_000, "{bestseller}");
        let mut per_person = std::collections::HashMap::new();
        for e in &events {
            *per_person
                .entry(e["anonymousId"].as_str().unwrap().to_string())
                .or_insert(0usize) += 1;
        }
        let heaviest = per_person.values().max().copied().unwrap_or(0);
        assert!(heaviest > 200, "power-law shoppers: {heaviest}");
    }
}
