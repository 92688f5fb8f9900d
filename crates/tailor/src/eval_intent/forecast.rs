//! Per-category orders and revenue for each week after the cut (up to 4), built up from the
//! customers — each known customer's 7-day purchase probability × orders per ordering week ×
//! how a customer base's orders fade week by week, split over categories by their engagement;
//! plus the customers yet to arrive — against the naive forecast that repeats each category's
//! mean of the last 4 weeks. Scored by WAPE per category and overall, and MAPE.
//!
//! Every rate the build-up uses (orders per ordering week, the fade, arrivals, what newcomers
//! order in each week of their life, the category mix, revenue per category order) is measured
//! on the history before the cut.

use std::collections::HashSet;

use serde_json::{Value, json};
use tailor_ml::intent::forecast::{
    CategoryEconomics, CategoryWeeks, build_up, category_shares, naive, newcomer_orders,
};
use tailor_ml::intent::metrics::{mape, wape};
use tailor_ml::intent::next_category::engagement_weight;
use tailor_ml::intent::propensity::{CalibratedModel, snapshot_examples};
use tailor_ml::intent::{ActivityKind, CategoryId, DAY, WEEK};

use super::Split;
use super::log::EventLog;

/// Weeks of history the naive forecast averages.
const NAIVE_WEEKS: usize = 4;
/// Pseudo-counts of the store's category mix in each customer's shares.
const SHARE_STRENGTH: f64 = 5.0;
/// Snapshots measuring how orders fade are taken this often.
const SNAPSHOT_EVERY: f64 = 2.0 * DAY;

/// One order: when, who (index), and its value per category.
struct Order {
    time: f64,
    customer: usize,
    lines: Vec<(CategoryId, f64)>,
}

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

/// Category orders and revenue per week starting at `start`.
fn tally(orders: &[Order], categories: usize, start: f64, weeks: usize) -> CategoryWeeks {
    let mut out = CategoryWeeks::zeros(categories, weeks);
    for o in orders {
        let week = ((o.time - start) / WEEK).floor();
        if week < 0.0 || week >= weeks as f64 {
            continue;
        }
        for &(c, value) in &o.lines {
            out.orders[c as usize][week as usize] += 1.0;
            out.revenue[c as usize][week as usize] += value;
        }
    }
    out
}

pub fn evaluate(
    log: &EventLog,
    split: &Split,
    propensity: &CalibratedModel,
) -> anyhow::Result<ForecastReport> {
    let n = log.categories.len();
    let weeks = split.forecast_weeks();
    let cut = split.cut;
    let orders = orders_of(log);
    let first_seen: Vec<f64> = log
        .customers
        .iter()
        .map(|c| c.timeline.first().map_or(f64::INFINITY, |a| a.time))
        .collect();
    let past: Vec<&Order> = orders.iter().filter(|o| o.time < cut).collect();
    if past.is_empty() {
        anyhow::bail!("forecast: no orders before the cut to learn from");
    }

    // What orders are worth, per category, and how many categories an order spans.
    let mut category_orders = vec![0.0; n];
    let mut category_revenue = vec![0.0; n];
    for o in &past {
        for &(c, value) in &o.lines {
            category_orders[c as usize] += 1.0;
            category_revenue[c as usize] += value;
        }
    }
    let total_category_orders: f64 = category_orders.iter().sum();
    let mean_revenue = category_revenue.iter().sum::<f64>() / total_category_orders.max(1.0);
    let economics = CategoryEconomics {
        categories_per_order: total_category_orders / past.len() as f64,
        revenue_per_category_order: (0..n)
            .map(|c| {
                if category_orders[c] > 0.0 {
                    category_revenue[c] / category_orders[c]
                } else {
                    mean_revenue
                }
            })
            .collect(),
    };
    let mix: Vec<f64> = category_orders
        .iter()
        .map(|o| (o + 1.0) / (total_category_orders + n as f64))
        .collect();

    // Orders per customer-week with an order (the propensity says whether, not how many).
    let history_weeks = ((cut - split.first) / WEEK).floor() as usize;
    let (mut week_orders, mut ordering_weeks) = (0.0, 0.0);
    for j in 0..history_weeks {
        let (from, to) = (cut - WEEK * (j + 1) as f64, cut - WEEK * j as f64);
        let in_week: Vec<&&Order> = past
            .iter()
            .filter(|o| o.time >= from && o.time < to)
            .collect();
        week_orders += in_week.len() as f64;
        ordering_weeks += in_week
            .iter()
            .map(|o| o.customer)
            .collect::<HashSet<_>>()
            .len() as f64;
    }
    let orders_per_ordering_week = if ordering_weeks > 0.0 {
        week_orders / ordering_weeks
    } else {
        1.0
    };

    // How a fixed set of customers' orders fade: the ratio of their orders in the second week
    // after a snapshot to the first, applied once per week (week k: ratio^k). One ratio from
    // every two-week span of the history rather than one per horizon, because the spans that
    // reach 4 weeks ahead are few and start when hardly anyone had arrived.
    let (mut second_week, mut first_week) = (0.0, 0.0);
    let mut s = cut - 2.0 * WEEK;
    while s > split.first {
        for o in &past {
            if first_seen[o.customer] >= s {
                continue;
            }
            first_week += f64::from(u8::from(o.time >= s && o.time < s + WEEK));
            second_week += f64::from(u8::from(o.time >= s + WEEK && o.time < s + 2.0 * WEEK));
        }
        s -= SNAPSHOT_EVERY;
    }
    let weekly_fade = if first_week > 0.0 {
        second_week / first_week
    } else {
        1.0
    };
    let fade: Vec<f64> = (0..weeks).map(|k| weekly_fade.powi(k as i32)).collect();

    // Newcomers: arrivals per week lately, and orders per newcomer by week of life.
    let arrivals_in = |j: usize| {
        let (from, to) = (cut - WEEK * (j + 1) as f64, cut - WEEK * j as f64);
        first_seen.iter().filter(|&&t| t >= from && t < to).count() as f64
    };
    let recent = NAIVE_WEEKS.min(history_weeks).max(1);
    let arrivals_per_week = (0..recent).map(arrivals_in).sum::<f64>() / recent as f64;
    let by_week_of_life: Vec<f64> = (0..weeks)
        .map(|age| {
            let (mut orders_at_age, mut cohort_sizes) = (0.0, 0.0);
            for j in age..history_weeks {
                let (from, to) = (cut - WEEK * (j + 1) as f64, cut - WEEK * j as f64);
                let week_start = cut - WEEK * (j - age + 1) as f64;
                cohort_sizes += arrivals_in(j);
                orders_at_age += past
                    .iter()
                    .filter(|o| {
                        let seen = first_seen[o.customer];
                        seen >= from
                            && seen < to
                            && o.time >= week_start
                            && o.time < week_start + WEEK
                    })
                    .count() as f64;
            }
            if cohort_sizes > 0.0 {
                orders_at_age / cohort_sizes
            } else {
                0.0
            }
        })
        .collect();
    let newcomers = newcomer_orders(arrivals_per_week, &by_week_of_life, weeks);

    // Known customers: probability of ordering in the week after the cut, faded, split by interest.
    let mut outlooks: Vec<(Vec<f64>, Vec<f64>)> = Vec::new();
    let mut snapshot = Vec::new();
    for c in &log.customers {
        snapshot.clear();
        snapshot_examples(&c.timeline, &[cut], WEEK, &mut snapshot);
        let Some(example) = snapshot.first() else {
            continue;
        };
        let p = propensity.probability(&example.features);
        let weekly: Vec<f64> = fade
            .iter()
            .map(|f| p * orders_per_ordering_week * f)
            .collect();
        let mut engagement = vec![0.0; n];
        for a in c.timeline.iter().take_while(|a| a.time < cut) {
            if let Some(cat) = a.category {
                engagement[cat as usize] += engagement_weight(a.kind);
            }
        }
        outlooks.push((weekly, category_shares(&engagement, &mix, SHARE_STRENGTH)));
    }
    let known_customers: Vec<f64> = (0..weeks)
        .map(|k| outlooks.iter().map(|(w, _)| w[k]).sum())
        .collect();
    let model = build_up(
        outlooks.iter().map(|(w, s)| (w.as_slice(), s.as_slice())),
        &newcomers,
        &mix,
        &economics,
    );

    let history = tally(&orders, n, cut - WEEK * recent as f64, recent);
    let naive_orders = naive(&history.orders, NAIVE_WEEKS, weeks);
    let naive_revenue = naive(&history.revenue, NAIVE_WEEKS, weeks);
    let actual = tally(&orders, n, cut, weeks);

    let flat = |rows: &[Vec<f64>]| rows.iter().flatten().copied().collect::<Vec<f64>>();
    let categories = (0..n)
        .map(|c| CategoryScore {
            actual_orders: actual.orders[c].iter().sum(),
            actual_revenue: actual.revenue[c].iter().sum(),
            model_orders: model.orders[c].iter().sum(),
            naive_orders: naive_orders[c].iter().sum(),
            model_revenue: model.revenue[c].iter().sum(),
            naive_revenue: naive_revenue[c].iter().sum(),
            revenue_per_order: economics.revenue_per_category_order[c],
            orders_wape: [
                wape(&model.orders[c], &actual.orders[c]),
                wape(&naive_orders[c], &actual.orders[c]),
            ],
            revenue_wape: [
                wape(&model.revenue[c], &actual.revenue[c]),
                wape(&naive_revenue[c], &actual.revenue[c]),
            ],
        })
        .collect();
    let (actual_orders, actual_revenue) = (flat(&actual.orders), flat(&actual.revenue));
    let both =
        |metric: fn(&[f64], &[f64]) -> Option<f64>,
         model: &[Vec<f64>],
         naive: &[Vec<f64>],
         actual: &[f64]| { [metric(&flat(model), actual), metric(&flat(naive), actual)] };
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
            orders_per_ordering_week,
            fade,
            arrivals_per_week,
            newcomer_orders_by_week_of_life: by_week_of_life,
            known_customers,
            newcomers,
            actual: actual_orders_per_week,
        },
        categories,
        orders_wape: both(wape, &model.orders, &naive_orders, &actual_orders),
        revenue_wape: both(wape, &model.revenue, &naive_revenue, &actual_revenue),
        orders_mape: both(mape, &model.orders, &naive_orders, &actual_orders),
        revenue_mape: both(mape, &model.revenue, &naive_revenue, &actual_revenue),
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

    pub fn print(&self, names: &[String]) {
        println!(
            "Forecast per category, {} weeks after the cut: tailor (built up from customers) vs naive (mean of the last 4 weeks); WAPE",
            self.weeks
        );
        println!(
            "    {:<24} {:>7} {:>7} {:>7} {:>10} {:>9} {:>9} {:>9}",
            "category", "orders", "tailor", "naive", "revenue", "orders", "", "revenue"
        );
        println!(
            "    {:<24} {:>7} {:>7} {:>7} {:>10} {:>9} {:>9} {:>9} {:>9}",
            "", "actual", "fcst", "fcst", "actual", "tailor", "naive", "tailor", "naive"
        );
        let mut order: Vec<usize> = (0..self.categories.len()).collect();
        order.sort_by(|&a, &b| names[a].cmp(&names[b]));
        for i in order {
            let c = &self.categories[i];
            println!(
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
        println!(
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
