//! Per-category orders and revenue for each week after the cut (up to 4), built up from the
//! customers — each known customer's 7-day purchase probability × orders per ordering week ×
//! how a customer base's orders fade week by week, split over categories by their engagement;
//! plus the customers yet to arrive — against the naive forecast that repeats each category's
//! mean of the last 4 weeks. Scored by WAPE per category and overall, and MAPE.
//!
//! Every rate the build-up uses is measured on the history before the cut, and the build-up,
//! the naive forecast and the scores are `tailor_ml::intent::forecast`'s, which the engine's
//! trainer uses too (`tailor train`, `GET /v1/forecast`); this module reads the timelines.

use serde_json::{Value, json};
use std::fmt::Write as _;
use tailor_ml::intent::forecast::{
    self as ml, Order, SHARE_STRENGTH, build_up, category_shares, naive_forecast,
};
use tailor_ml::intent::next_category::engagement_weight;
use tailor_ml::intent::propensity::{CalibratedModel, snapshot_examples};
use tailor_ml::intent::{ActivityKind, WEEK};

use super::Split;
use super::log::EventLog;
use crate::error::{Error, invalid};

pub struct CategoryScore {
    pub actual_orders: f64,
    pub actual_revenue: f64,
    pub model_orders: f64,
    pub naive_orders: f64,
    pub model_revenue: f64,
    pub naive_revenue: f64,
    /// Revenue per category order before the cut, what the build-up prices orders at.
    pub revenue_per_order: f64,
    pub orders_wape: [Option<f64>; 2],
    pub revenue_wape: [Option<f64>; 2],
}

/// The rates the build-up used, and what each part contributes per week (in orders).
pub struct BuildUp {
    pub orders_per_ordering_week: f64,
    pub fade: Vec<f64>,
    pub arrivals_per_week: f64,
    pub newcomer_orders_by_week_of_life: Vec<f64>,
    pub known_customers: Vec<f64>,
    pub newcomers: Vec<f64>,
    pub actual: Vec<f64>,
}

pub struct ForecastReport {
    pub weeks: usize,
    pub build_up: BuildUp,
    pub categories: Vec<CategoryScore>,
    /// [model, naive] over every category-week.
    pub orders_wape: [Option<f64>; 2],
    pub revenue_wape: [Option<f64>; 2],
    pub orders_mape: [Option<f64>; 2],
    pub revenue_mape: [Option<f64>; 2],
}

fn orders_of(log: &EventLog) -> Vec<Order> {
    let mut orders = Vec::new();
    for (customer, c) in log.customers.iter().enumerate() {
        let mut current: Option<Order> = None;
        for a in &c.timeline {
            match a.kind {
                ActivityKind::OrderCompleted => {
                    orders.extend(current.take());
                    current = Some(Order {
                        time: a.time,
                        customer,
                        lines: Vec::new(),
                    });
                }
                ActivityKind::Purchased => {
                    if let (Some(order), Some(category)) = (current.as_mut(), a.category) {
                        let category = category as usize;
                        match order.lines.iter_mut().find(|(c, _)| *c == category) {
                            Some(line) => line.1 += a.value,
                            None => order.lines.push((category, a.value)),
                        }
                    }
                }
                _ => {}
            }
        }
        orders.extend(current);
    }
    orders
}

pub fn evaluate(
    log: &EventLog,
    split: &Split,
    propensity: &CalibratedModel,
) -> Result<ForecastReport, Error> {
    let n = log.categories.len();
    let weeks = split.forecast_weeks();
    let cut = split.cut;
    let orders = orders_of(log);
    let first_seen: Vec<f64> = log
        .customers
        .iter()
        .map(|c| c.timeline.first().map_or(f64::INFINITY, |a| a.time))
        .collect();
    let Some(rates) = ml::measure(&orders, &first_seen, n, split.first, cut, weeks) else {
        invalid!("forecast: no orders before the cut to learn from");
    };

    // Known customers: probability of ordering in the week after the cut, faded, split by interest.
    let mut outlooks: Vec<(Vec<f64>, Vec<f64>)> = Vec::new();
    let mut snapshot = Vec::new();
    for c in &log.customers {
        snapshot.clear();
        snapshot_examples(&c.timeline, &[cut], WEEK, &mut snapshot);
        let Some(example) = snapshot.first() else {
            continue;
        };
        let weekly = rates.weekly_orders(propensity.probability(&example.features));
        let mut engagement = vec![0.0; n];
        for a in c.timeline.iter().take_while(|a| a.time < cut) {
            if let Some(cat) = a.category {
                engagement[cat as usize] += engagement_weight(a.kind);
            }
        }
        outlooks.push((
            weekly,
            category_shares(&engagement, &rates.mix, SHARE_STRENGTH),
        ));
    }
    let known_customers: Vec<f64> = (0..weeks)
        .map(|k| outlooks.iter().map(|(w, _)| w[k]).sum())
        .collect();
    let model = build_up(
        outlooks.iter().map(|(w, s)| (w.as_slice(), s.as_slice())),
        &rates.newcomers,
        &rates.mix,
        &rates.economics,
    );
    let naive = naive_forecast(&orders, n, split.first, cut, weeks);
    let actual = ml::tally(&orders, n, cut, weeks);
    let score = ml::score(&model, &naive, &actual);

    let categories = score
        .categories
        .iter()
        .zip(&rates.economics.revenue_per_category_order)
        .map(|(c, &revenue_per_order)| CategoryScore {
            actual_orders: c.actual_orders,
            actual_revenue: c.actual_revenue,
            model_orders: c.model_orders,
            naive_orders: c.naive_orders,
            model_revenue: c.model_revenue,
            naive_revenue: c.naive_revenue,
            revenue_per_order,
            orders_wape: c.orders_wape,
            revenue_wape: c.revenue_wape,
        })
        .collect();
    let actual_orders_per_week: Vec<f64> = (0..weeks)
        .map(|k| {
            orders
                .iter()
                .filter(|o| o.time >= cut + WEEK * k as f64 && o.time < cut + WEEK * (k + 1) as f64)
                .count() as f64
        })
        .collect();
    Ok(ForecastReport {
        weeks,
        build_up: BuildUp {
            orders_per_ordering_week: rates.orders_per_ordering_week,
            fade: rates.fade,
            arrivals_per_week: rates.arrivals_per_week,
            newcomer_orders_by_week_of_life: rates.newcomer_orders_by_week_of_life,
            known_customers,
            newcomers: rates.newcomers,
            actual: actual_orders_per_week,
        },
        categories,
        orders_wape: score.orders_wape,
        revenue_wape: score.revenue_wape,
        orders_mape: score.orders_mape,
        revenue_mape: score.revenue_mape,
    })
}

fn pair(values: [Option<f64>; 2]) -> Value {
    json!({"model": values[0], "baseline": values[1]})
}

fn percent(x: Option<f64>) -> String {
    x.map_or("–".to_string(), |x| format!("{:.1}%", 100.0 * x))
}

impl ForecastReport {
    pub fn to_json(&self, names: &[String]) -> Value {
        json!({
            "weeks": self.weeks,
            "build_up": {
                "orders_per_ordering_week": self.build_up.orders_per_ordering_week,
                "fade": self.build_up.fade,
                "arrivals_per_week": self.build_up.arrivals_per_week,
                "newcomer_orders_by_week_of_life": self.build_up.newcomer_orders_by_week_of_life,
                "orders": {
                    "known_customers": self.build_up.known_customers,
                    "newcomers": self.build_up.newcomers,
                    "actual": self.build_up.actual,
                },
            },
            "orders_wape": pair(self.orders_wape),
            "revenue_wape": pair(self.revenue_wape),
            "orders_mape": pair(self.orders_mape),
            "revenue_mape": pair(self.revenue_mape),
            "categories": self.categories.iter().zip(names).map(|(c, name)| json!({
                "category": name,
                "actual_orders": c.actual_orders,
                "actual_revenue": c.actual_revenue,
                "model_orders": c.model_orders,
                "baseline_orders": c.naive_orders,
                "model_revenue": c.model_revenue,
                "baseline_revenue": c.naive_revenue,
                "revenue_per_order": c.revenue_per_order,
                "orders_wape": pair(c.orders_wape),
                "revenue_wape": pair(c.revenue_wape),
            })).collect::<Vec<_>>(),
        })
    }

    pub fn write(&self, out: &mut String, names: &[String]) {
        let _ = writeln!(
            out,
            "Forecast per category, {} weeks after the cut: tailor (built up from customers) vs naive (mean of the last 4 weeks); WAPE",
            self.weeks
        );
        let _ = writeln!(
            out,
            "    {:<24} {:>7} {:>7} {:>7} {:>10} {:>9} {:>9} {:>9}",
            "category", "orders", "tailor", "naive", "revenue", "orders", "", "revenue"
        );
        let _ = writeln!(
            out,
            "    {:<24} {:>7} {:>7} {:>7} {:>10} {:>9} {:>9} {:>9} {:>9}",
            "", "actual", "fcst", "fcst", "actual", "tailor", "naive", "tailor", "naive"
        );
        let mut order: Vec<usize> = (0..self.categories.len()).collect();
        order.sort_by(|&a, &b| names[a].cmp(&names[b]));
        for i in order {
            let c = &self.categories[i];
            let _ = writeln!(
                out,
                "    {:<24} {:>7.0} {:>7.1} {:>7.1} {:>10.0} {:>9} {:>9} {:>9} {:>9}",
                names[i],
                c.actual_orders,
                c.model_orders,
                c.naive_orders,
                c.actual_revenue,
                percent(c.orders_wape[0]),
                percent(c.orders_wape[1]),
                percent(c.revenue_wape[0]),
                percent(c.revenue_wape[1])
            );
        }
        let _ = writeln!(
            out,
            "    all category-weeks: orders WAPE {} vs {} naive, revenue WAPE {} vs {}; MAPE orders {} vs {}, revenue {} vs {}",
            percent(self.orders_wape[0]),
            percent(self.orders_wape[1]),
            percent(self.revenue_wape[0]),
            percent(self.revenue_wape[1]),
            percent(self.orders_mape[0]),
            percent(self.orders_mape[1]),
            percent(self.revenue_mape[0]),
            percent(self.revenue_mape[1])
        );
    }
}
