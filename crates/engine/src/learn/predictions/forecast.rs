//! The per-category forecast of orders and revenue for each of the next [`WEEKS`] weeks, for
//! inventory planning (`GET /v1/forecast`), built up from the customers with
//! `tailor_ml::intent::forecast` — the build-up `tailor eval intent` validates offline:
//!
//! - each known customer (active in the 90 days before) orders in a coming week with the 7-day
//!   purchase intent model's probability × the store's orders per ordering week, faded week by
//!   week as a fixed customer base's orders fade. The 7-day model rather than BG/NBD because it
//!   scores everyone — the browsers who have not ordered yet, who place a good share of next
//!   month's orders, are outside BG/NBD (it models buyers only) — and because it is the model
//!   the offline evaluation of this build-up uses;
//! - split over categories by their category affinities (the profile's decayed engagement)
//!   shrunk toward the store's order mix;
//! - plus newcomers: arrivals per week × what a newcomer orders in each week of their life;
//! - revenue = category orders × the revenue per category order measured on the history.
//!
//! The trainer collects the orders (products → leaf categories through the catalog, as the
//! profile fold resolves them) and the customers' state at the evaluation cut
//! ([`EVALUATION_WEEKS`] before the end); at the end it builds the evaluation (everything fitted
//! and measured as of the cut, scored against the weeks since, next to the naive forecast: the
//! mean of the 4 weeks before the cut) and the served forecast (as of the end).

use std::collections::HashMap;

use serde::Serialize;
use serde_json::{Value, json};
use tailor_core::time::{DAY, format_timestamp};
use tailor_core::{Message, Millis};
use tailor_ml::intent::forecast::{
    self as ml, CategoryWeeks, Order, Rates, SHARE_STRENGTH, build_up, category_shares,
    naive_forecast,
};
use tailor_ml::intent::propensity::CalibratedModel;

use super::features::intent_features;
use crate::profile::catalog::Catalog;
use crate::profile::registry::Registry;
use crate::profile::{Profile, ProfileId, order_lines};

/// Weeks forecast.
pub const WEEKS: usize = 4;
/// The evaluation cut is this many weeks before the end: the forecast is scored on all of them.
pub const EVALUATION_WEEKS: i64 = WEEKS as i64;
const WEEK_MS: Millis = 7 * DAY;

fn seconds(t: Millis) -> f64 {
    t as f64 / 1000.0
}

/// A customer as the build-up sees them at a moment: their intent features and their
/// category engagement (category index, score).
struct Known {
    features: Vec<f64>,
    engagement: Vec<(usize, f64)>,
}

/// An order as collected: time, the buyer's first identity key, lines by category index.
type Collected = (Millis, String, Vec<(usize, f64)>);

/// What the trainer collects for the forecast while it replays the log.
#[derive(Default)]
pub(crate) struct ForecastLog {
    orders: Vec<Collected>,
    categories: Vec<String>,
    index: HashMap<String, usize>,
    /// Customers' state at the evaluation cut.
    at_cut: Vec<Known>,
}

impl ForecastLog {
    /// Starts with the catalog's leaf categories, so a category nobody ordered from yet has a
    /// row too.
    pub fn new(catalog: &Catalog) -> Self {
        let mut log = ForecastLog::default();
        for c in catalog.leaf_categories() {
            log.category(c);
        }
        log
    }

    fn category(&mut self, name: &str) -> usize {
        if let Some(&i) = self.index.get(name) {
            return i;
        }
        self.categories.push(name.to_string());
        self.index
            .insert(name.to_string(), self.categories.len() - 1);
        self.categories.len() - 1
    }

    /// Records an Order Completed of `buyer` (already folded into the registry).
    pub fn order(&mut self, buyer: Option<&Profile>, m: &Message, catalog: &Catalog) {
        let Some(key) = buyer.and_then(|p| p.identity_keys().next()) else {
            return;
        };
        let lines = order_lines(&m.properties, catalog)
            .into_iter()
            .map(|(category, value)| (self.category(&category), value))
            .collect();
        self.orders.push((m.timestamp, key, lines));
    }

    fn engagement(&self, p: &Profile, now: Millis) -> Vec<(usize, f64)> {
        p.categories
            .ranked(now)
            .into_iter()
            .filter_map(|(name, value)| self.index.get(name).map(|&i| (i, value)))
            .collect()
    }

    /// The state of the customers `active` at the evaluation cut.
    pub fn cut<'a>(&mut self, profiles: impl Iterator<Item = &'a Profile>, at: Millis) {
        self.at_cut = profiles
            .map(|p| Known {
                features: intent_features(p, at).to_vec(),
                engagement: self.engagement(p, at),
            })
            .collect();
    }
}

/// The forecast as served.
#[derive(Debug, Clone, Serialize)]
pub struct Forecast {
    pub model_version: u32,
    pub generated_at: String,
    pub weeks: Vec<WeekRange>,
    /// Per category (sorted by name): expected category orders (an order with products of two
    /// categories counts in each) and revenue in each week.
    pub categories: Vec<CategoryForecast>,
    pub totals: Totals,
}

#[derive(Debug, Clone, Serialize)]
pub struct WeekRange {
    pub from: String,
    pub to: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct CategoryForecast {
    pub category: String,
    pub orders: Vec<f64>,
    pub revenue: Vec<f64>,
    /// The naive forecast beside it: the mean of the last 4 weeks, carried forward.
    pub naive_orders: Vec<f64>,
    pub naive_revenue: Vec<f64>,
}

/// Sums over the categories per week (category orders, so more than the number of orders).
#[derive(Debug, Clone, Serialize)]
pub struct Totals {
    pub orders: Vec<f64>,
    pub revenue: Vec<f64>,
    pub naive_orders: Vec<f64>,
    pub naive_revenue: Vec<f64>,
}

/// Orders by customer index, and when each customer was first seen (seconds).
struct History {
    orders: Vec<Order>,
    first_seen: Vec<f64>,
    first: f64,
}

fn history(log: &ForecastLog, registry: &Registry, first: Millis) -> History {
    let mut customers: HashMap<ProfileId, usize> = HashMap::new();
    let mut first_seen = Vec::new();
    for p in registry.profiles_in_order() {
        customers.insert(p.id, first_seen.len());
        first_seen.push(if p.events > 0 {
            seconds(p.first_seen)
        } else {
            f64::INFINITY
        });
    }
    let orders = log
        .orders
        .iter()
        .filter_map(|(t, key, lines)| {
            let customer = *customers.get(&registry.find_key(key)?.id)?;
            Some(Order {
                time: seconds(*t),
                customer,
                lines: lines.clone(),
            })
        })
        .collect();
    History {
        orders,
        first_seen,
        first: seconds(first),
    }
}

/// The build-up from `known` customers' 7-day probabilities and engagement.
fn build<'a>(
    rates: &Rates,
    categories: usize,
    known: impl Iterator<Item = (f64, &'a [(usize, f64)])>,
) -> (CategoryWeeks, Vec<f64>) {
    let outlooks: Vec<(Vec<f64>, Vec<f64>)> = known
        .map(|(p, sparse)| {
            let mut engagement = vec![0.0; categories];
            for &(c, x) in sparse {
                engagement[c] += x;
            }
            (
                rates.weekly_orders(p),
                category_shares(&engagement, &rates.mix, SHARE_STRENGTH),
            )
        })
        .collect();
    let known_orders = (0..WEEKS)
        .map(|k| outlooks.iter().map(|(w, _)| w[k]).sum())
        .collect();
    let forecast = build_up(
        outlooks.iter().map(|(w, s)| (w.as_slice(), s.as_slice())),
        &rates.newcomers,
        &rates.mix,
        &rates.economics,
    );
    (forecast, known_orders)
}

fn pair(values: [Option<f64>; 2]) -> Value {
    json!({"model": values[0], "baseline": values[1]})
}

/// The evaluation: `propensity` fitted on the weeks before the cut, the rates measured before
/// it, the build-up from the customers' state at it, scored on the weeks since.
pub(crate) fn evaluate(
    log: &ForecastLog,
    registry: &Registry,
    propensity: &CalibratedModel,
    first: Millis,
    end: Millis,
) -> Result<Value, String> {
    let cut = end - EVALUATION_WEEKS * WEEK_MS;
    let n = log.categories.len();
    let h = history(log, registry, first);
    let rates = ml::measure(&h.orders, &h.first_seen, n, h.first, seconds(cut), WEEKS)
        .ok_or_else(|| format!("no orders before the cut {EVALUATION_WEEKS} weeks back"))?;
    let (model, known) = build(
        &rates,
        n,
        log.at_cut
            .iter()
            .map(|k| (propensity.probability(&k.features), k.engagement.as_slice())),
    );
    let naive = naive_forecast(&h.orders, n, h.first, seconds(cut), WEEKS);
    let actual = ml::tally(&h.orders, n, seconds(cut), WEEKS);
    let score = ml::score(&model, &naive, &actual);
    let actual_per_week: Vec<f64> = (0..WEEKS)
        .map(|k| {
            let from = seconds(cut + k as Millis * WEEK_MS);
            let to = seconds(cut + (k as Millis + 1) * WEEK_MS);
            h.orders
                .iter()
                .filter(|o| o.time >= from && o.time < to)
                .count() as f64
        })
        .collect();
    let mut rows: Vec<Value> = score
        .categories
        .iter()
        .zip(&log.categories)
        .zip(&rates.economics.revenue_per_category_order)
        .map(|((c, name), revenue_per_order)| {
            json!({
                "category": name,
                "actual_orders": c.actual_orders, "model_orders": c.model_orders,
                "baseline_orders": c.naive_orders,
                "actual_revenue": c.actual_revenue, "model_revenue": c.model_revenue,
                "baseline_revenue": c.naive_revenue,
                "revenue_per_order": revenue_per_order,
                "orders_wape": pair(c.orders_wape), "revenue_wape": pair(c.revenue_wape),
            })
        })
        .collect();
    rows.sort_by(|a, b| a["category"].as_str().cmp(&b["category"].as_str()));
    Ok(json!({
        "weeks": WEEKS,
        "cut": format_timestamp(cut),
        "customers": log.at_cut.len(),
        "baseline": {"name": "mean of the 4 weeks before the cut"},
        "build_up": {
            "orders_per_ordering_week": rates.orders_per_ordering_week,
            "fade": rates.fade,
            "arrivals_per_week": rates.arrivals_per_week,
            "newcomer_orders_by_week_of_life": rates.newcomer_orders_by_week_of_life,
            "orders": {"known_customers": known, "newcomers": rates.newcomers, "actual": actual_per_week},
        },
        "orders_wape": pair(score.orders_wape),
        "revenue_wape": pair(score.revenue_wape),
        "orders_mape": pair(score.orders_mape),
        "revenue_mape": pair(score.revenue_mape),
        "categories": rows,
    }))
}

fn rounded(rows: &[f64]) -> Vec<f64> {
    rows.iter().map(|x| (x * 100.0).round() / 100.0).collect()
}

/// The forecast served until the next training: as of `end`, for the weeks after it, from the
/// served 7-day model and everyone active in the 90 days before.
pub(crate) fn serve<'a>(
    log: &ForecastLog,
    registry: &Registry,
    active: impl Iterator<Item = &'a Profile>,
    propensity: &CalibratedModel,
    version: u32,
    first: Millis,
    end: Millis,
) -> Result<Forecast, String> {
    let n = log.categories.len();
    let h = history(log, registry, first);
    // Just after the newest event, so an order at the very end is history.
    let cut = end + 1;
    let rates = ml::measure(&h.orders, &h.first_seen, n, h.first, seconds(cut), WEEKS)
        .ok_or("no orders with categories in the log")?;
    let known: Vec<(f64, Vec<(usize, f64)>)> = active
        .map(|p| {
            (
                propensity.probability(&intent_features(p, end)),
                log.engagement(p, end),
            )
        })
        .collect();
    let (forecast, _) = build(&rates, n, known.iter().map(|(p, e)| (*p, e.as_slice())));
    let naive = naive_forecast(&h.orders, n, h.first, seconds(cut), WEEKS);
    let mut categories: Vec<CategoryForecast> = (0..n)
        .map(|c| CategoryForecast {
            category: log.categories[c].clone(),
            orders: rounded(&forecast.orders[c]),
            revenue: rounded(&forecast.revenue[c]),
            naive_orders: rounded(&naive.orders[c]),
            naive_revenue: rounded(&naive.revenue[c]),
        })
        .collect();
    categories.sort_by(|a, b| a.category.cmp(&b.category));
    let total = |rows: &[Vec<f64>]| -> Vec<f64> {
        rounded(
            &(0..WEEKS)
                .map(|k| rows.iter().map(|r| r[k]).sum())
                .collect::<Vec<f64>>(),
        )
    };
    Ok(Forecast {
        model_version: version,
        generated_at: String::new(),
        weeks: (0..WEEKS as Millis)
            .map(|k| WeekRange {
                from: format_timestamp(end + k * WEEK_MS),
                to: format_timestamp(end + (k + 1) * WEEK_MS),
            })
            .collect(),
        totals: Totals {
            orders: total(&forecast.orders),
            revenue: total(&forecast.revenue),
            naive_orders: total(&naive.orders),
            naive_revenue: total(&naive.revenue),
        },
        categories,
    })
}
