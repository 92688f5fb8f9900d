//! Per-category forecast of orders and revenue for the coming weeks, built up from the
//! customers rather than extrapolated from the category's past: each known customer's
//! expected orders per week (from the 7-day propensity), split over categories by their
//! interest, plus the orders of customers not yet seen (arrivals × what a newcomer orders in
//! each week of their life). The naive baseline repeats the mean of the last weeks.
//!
//! Orders are counted per category: an order with products of two categories is an order of
//! each, so category forecasts add up to more than the number of orders.
//!
//! Every rate the build-up uses (orders per ordering week, how a customer base's orders fade,
//! arrivals, what newcomers order in each week of their life, the category mix, revenue per
//! category order) is measured on the history before the cut ([`measure`]); [`score`] compares
//! a forecast and the naive one with what happened. `tailor eval intent` and the engine's
//! trainer both build their forecasts from these.

use std::collections::HashSet;

use super::metrics::{mape, wape};
use super::{DAY, WEEK};

/// Weeks of history the naive forecast averages.
pub const NAIVE_WEEKS: usize = 4;
/// Pseudo-counts of the store's category mix in each customer's shares: a customer needs
/// about five views' worth of engagement before their own interest outweighs the mix.
pub const SHARE_STRENGTH: f64 = 5.0;
/// Snapshots measuring how orders fade are taken this often.
const FADE_SNAPSHOT_EVERY: f64 = 2.0 * DAY;

/// One order: when (seconds), who (an index into the customers' first-seen times), and its
/// value per category (one entry per category).
#[derive(Debug, Clone, PartialEq)]
pub struct Order {
    pub time: f64,
    pub customer: usize,
    pub lines: Vec<(usize, f64)>,
}

/// How orders turn into category orders and revenue, learned from the past.
#[derive(Debug, Clone, PartialEq)]
pub struct CategoryEconomics {
    /// Distinct categories in an order, on average.
    pub categories_per_order: f64,
    /// Mean revenue of an order's lines in each category.
    pub revenue_per_category_order: Vec<f64>,
}

/// Forecast (or actual) per category and week: `orders[category][week]`.
#[derive(Debug, Clone, PartialEq)]
pub struct CategoryWeeks {
    pub orders: Vec<Vec<f64>>,
    pub revenue: Vec<Vec<f64>>,
}

impl CategoryWeeks {
    pub fn zeros(categories: usize, weeks: usize) -> Self {
        Self {
            orders: vec![vec![0.0; weeks]; categories],
            revenue: vec![vec![0.0; weeks]; categories],
        }
    }
}

/// A customer's share of interest per category: their engagement, shrunk toward `prior`
/// (e.g. the store's order mix) with `strength` pseudo-counts so a single view does not claim
/// all their future orders.
pub fn category_shares(engagement: &[f64], prior: &[f64], strength: f64) -> Vec<f64> {
    let total: f64 = engagement.iter().sum();
    engagement
        .iter()
        .zip(prior)
        .map(|(e, p)| (e + strength * p) / (total + strength))
        .collect()
}

/// Expected orders by customers not seen yet in each coming week: `arrivals_per_week` new
/// customers arrive every week, and a customer in their `i`-th week (0 = the week they
/// arrive) orders `orders_by_week_of_life[i]` times on average.
pub fn newcomer_orders(
    arrivals_per_week: f64,
    orders_by_week_of_life: &[f64],
    weeks: usize,
) -> Vec<f64> {
    (0..weeks)
        .map(|k| {
            (0..=k)
                .map(|age| orders_by_week_of_life.get(age).copied().unwrap_or(0.0))
                .sum::<f64>()
                * arrivals_per_week
        })
        .collect()
}

/// Sums customers' expected orders per week (`weekly_orders`, one value per week) split by
/// their category shares, adds newcomers' orders split by `newcomer_shares`, and turns
/// orders into category orders and revenue.
pub fn build_up<'a>(
    customers: impl IntoIterator<Item = (&'a [f64], &'a [f64])>,
    newcomers: &[f64],
    newcomer_shares: &[f64],
    economics: &CategoryEconomics,
) -> CategoryWeeks {
    let categories = economics.revenue_per_category_order.len();
    let weeks = newcomers.len();
    let mut out = CategoryWeeks::zeros(categories, weeks);
    let mut add = |weekly: &[f64], shares: &[f64]| {
        for (c, share) in shares.iter().enumerate().take(categories) {
            for (k, orders) in weekly.iter().enumerate().take(weeks) {
                out.orders[c][k] += orders * share * economics.categories_per_order;
            }
        }
    };
    for (weekly, shares) in customers {
        add(weekly, shares);
    }
    add(newcomers, newcomer_shares);
    for c in 0..categories {
        for k in 0..weeks {
            out.revenue[c][k] = out.orders[c][k] * economics.revenue_per_category_order[c];
        }
    }
    out
}

/// The naive forecast: each category's mean over its last `window` weeks of `history`
/// (`history[category][week]`, oldest first), repeated for `weeks` weeks.
pub fn naive(history: &[Vec<f64>], window: usize, weeks: usize) -> Vec<Vec<f64>> {
    history
        .iter()
        .map(|past| {
            let recent = &past[past.len().saturating_sub(window)..];
            let mean = if recent.is_empty() {
                0.0
            } else {
                recent.iter().sum::<f64>() / recent.len() as f64
            };
            vec![mean; weeks]
        })
        .collect()
}

/// The rates a build-up uses, measured on the orders before the cut.
#[derive(Debug, Clone, PartialEq)]
pub struct Rates {
    pub economics: CategoryEconomics,
    /// The store's category mix (category orders, add-one smoothed): newcomers' shares and
    /// the prior every customer's shares shrink toward.
    pub mix: Vec<f64>,
    /// Orders per customer-week with an order (the 7-day propensity says whether, not how many).
    pub orders_per_ordering_week: f64,
    /// How a fixed set of customers' orders fade, per week ahead (week k: ratio^k).
    pub fade: Vec<f64>,
    pub arrivals_per_week: f64,
    pub newcomer_orders_by_week_of_life: Vec<f64>,
    /// Expected orders by customers not seen yet, per week ahead.
    pub newcomers: Vec<f64>,
}

impl Rates {
    /// A known customer's expected orders in each week ahead, from their probability of
    /// ordering within the first week.
    pub fn weekly_orders(&self, p_week: f64) -> Vec<f64> {
        self.fade
            .iter()
            .map(|f| p_week * self.orders_per_ordering_week * f)
            .collect()
    }
}

/// Measures the build-up's rates on `orders` before `cut` (seconds), for `weeks` weeks ahead.
/// `first_seen[customer]` is when each customer was first seen; `first` the first event of
/// the history. `None` without an order before the cut.
pub fn measure(
    orders: &[Order],
    first_seen: &[f64],
    categories: usize,
    first: f64,
    cut: f64,
    weeks: usize,
) -> Option<Rates> {
    let n = categories;
    let past: Vec<&Order> = orders.iter().filter(|o| o.time < cut).collect();
    if past.is_empty() {
        return None;
    }
    let seen = |customer: usize| first_seen.get(customer).copied().unwrap_or(f64::INFINITY);

    // What orders are worth, per category, and how many categories an order spans.
    let mut category_orders = vec![0.0; n];
    let mut category_revenue = vec![0.0; n];
    for o in &past {
        for &(c, value) in o.lines.iter().filter(|(c, _)| *c < n) {
            category_orders[c] += 1.0;
            category_revenue[c] += value;
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

    // Orders per customer-week with an order.
    let history_weeks = history_weeks(first, cut);
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
    while s > first {
        for o in &past {
            if seen(o.customer) >= s {
                continue;
            }
            first_week += f64::from(u8::from(o.time >= s && o.time < s + WEEK));
            second_week += f64::from(u8::from(o.time >= s + WEEK && o.time < s + 2.0 * WEEK));
        }
        s -= FADE_SNAPSHOT_EVERY;
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
                        let seen = seen(o.customer);
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
    Some(Rates {
        economics,
        mix,
        orders_per_ordering_week,
        fade,
        arrivals_per_week,
        newcomer_orders_by_week_of_life: by_week_of_life,
        newcomers,
    })
}

/// Whole weeks between the first event and the cut.
fn history_weeks(first: f64, cut: f64) -> usize {
    ((cut - first) / WEEK).floor().max(0.0) as usize
}

/// Category orders and revenue per week starting at `start`.
pub fn tally(orders: &[Order], categories: usize, start: f64, weeks: usize) -> CategoryWeeks {
    let mut out = CategoryWeeks::zeros(categories, weeks);
    for o in orders {
        let week = ((o.time - start) / WEEK).floor();
        if week < 0.0 || week >= weeks as f64 {
            continue;
        }
        for &(c, value) in o.lines.iter().filter(|(c, _)| *c < categories) {
            out.orders[c][week as usize] += 1.0;
            out.revenue[c][week as usize] += value;
        }
    }
    out
}

/// The naive forecast as of `cut`: each category's mean of the last [`NAIVE_WEEKS`] weeks
/// (fewer if the history is shorter), repeated for `weeks` weeks.
pub fn naive_forecast(
    orders: &[Order],
    categories: usize,
    first: f64,
    cut: f64,
    weeks: usize,
) -> CategoryWeeks {
    let recent = NAIVE_WEEKS.min(history_weeks(first, cut)).max(1);
    let history = tally(orders, categories, cut - WEEK * recent as f64, recent);
    CategoryWeeks {
        orders: naive(&history.orders, NAIVE_WEEKS, weeks),
        revenue: naive(&history.revenue, NAIVE_WEEKS, weeks),
    }
}

/// A category's totals over the weeks scored and its WAPEs, `[model, naive]`.
#[derive(Debug, Clone, PartialEq)]
pub struct CategoryScore {
    pub actual_orders: f64,
    pub actual_revenue: f64,
    pub model_orders: f64,
    pub naive_orders: f64,
    pub model_revenue: f64,
    pub naive_revenue: f64,
    pub orders_wape: [Option<f64>; 2],
    pub revenue_wape: [Option<f64>; 2],
}

/// A forecast and the naive one against what happened: per category, and `[model, naive]`
/// over every category-week.
#[derive(Debug, Clone, PartialEq)]
pub struct Score {
    pub categories: Vec<CategoryScore>,
    pub orders_wape: [Option<f64>; 2],
    pub revenue_wape: [Option<f64>; 2],
    pub orders_mape: [Option<f64>; 2],
    pub revenue_mape: [Option<f64>; 2],
}

pub fn score(model: &CategoryWeeks, naive: &CategoryWeeks, actual: &CategoryWeeks) -> Score {
    let flat = |rows: &[Vec<f64>]| rows.iter().flatten().copied().collect::<Vec<f64>>();
    let sum = |row: &[f64]| row.iter().sum::<f64>();
    let categories = (0..actual.orders.len())
        .map(|c| CategoryScore {
            actual_orders: sum(&actual.orders[c]),
            actual_revenue: sum(&actual.revenue[c]),
            model_orders: sum(&model.orders[c]),
            naive_orders: sum(&naive.orders[c]),
            model_revenue: sum(&model.revenue[c]),
            naive_revenue: sum(&naive.revenue[c]),
            orders_wape: [
                wape(&model.orders[c], &actual.orders[c]),
                wape(&naive.orders[c], &actual.orders[c]),
            ],
            revenue_wape: [
                wape(&model.revenue[c], &actual.revenue[c]),
                wape(&naive.revenue[c], &actual.revenue[c]),
            ],
        })
        .collect();
    let (actual_orders, actual_revenue) = (flat(&actual.orders), flat(&actual.revenue));
    let both =
        |metric: fn(&[f64], &[f64]) -> Option<f64>,
         model: &[Vec<f64>],
         naive: &[Vec<f64>],
         actual: &[f64]| { [metric(&flat(model), actual), metric(&flat(naive), actual)] };
    Score {
        categories,
        orders_wape: both(wape, &model.orders, &naive.orders, &actual_orders),
        revenue_wape: both(wape, &model.revenue, &naive.revenue, &actual_revenue),
        orders_mape: both(mape, &model.orders, &naive.orders, &actual_orders),
        revenue_mape: both(mape, &model.revenue, &naive.revenue, &actual_revenue),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_shrink_toward_the_prior_and_sum_to_one() {
        let shares = category_shares(&[3.0, 0.0], &[0.5, 0.5], 1.0);
        assert_eq!(shares, vec![3.5 / 4.0, 0.5 / 4.0]);
        assert_eq!(
            category_shares(&[0.0, 0.0], &[0.25, 0.75], 2.0),
            vec![0.25, 0.75]
        );
    }

    #[test]
    fn newcomers_accumulate_as_cohorts_age() {
        // 10 arrive each week; 0.2 orders in the first week of life, 0.1 in the second, 0 after.
        let orders = newcomer_orders(10.0, &[0.2, 0.1], 3);
        let expected = [2.0, 3.0, 3.0];
        for (o, e) in orders.iter().zip(expected) {
            assert!((o - e).abs() < 1e-12, "{orders:?}");
        }
    }

    #[test]
    fn build_up_splits_customers_orders_over_categories() {
        let economics = CategoryEconomics {
            categories_per_order: 1.5,
            revenue_per_category_order: vec![10.0, 100.0],
        };
        let weekly = [1.0, 0.5];
        let shares = [0.8, 0.2];
        let forecast = build_up(
            [(&weekly[..], &shares[..])],
            &[2.0, 2.0],
            &[0.5, 0.5],
            &economics,
        );
        // Category 0, week 0: (1 × 0.8 + 2 × 0.5) × 1.5 = 2.7 orders, $27.
        assert!((forecast.orders[0][0] - 2.7).abs() < 1e-12);
        assert!((forecast.revenue[0][0] - 27.0).abs() < 1e-12);
        // Category 1, week 1: (0.5 × 0.2 + 2 × 0.5) × 1.5 = 1.65 orders.
        assert!((forecast.orders[1][1] - 1.65).abs() < 1e-12);
    }

    #[test]
    fn naive_repeats_the_recent_mean() {
        let history = vec![vec![100.0, 1.0, 2.0, 3.0, 6.0], vec![]];
        assert_eq!(naive(&history, 4, 2), vec![vec![3.0, 3.0], vec![0.0, 0.0]]);
    }

    #[test]
    fn rates_are_measured_before_the_cut() {
        // Two customers from day 0; one orders every week in category 0 for 20, the other
        // once in category 1 for 50; a third arrives in the last week and orders in it.
        let mut orders: Vec<Order> = (0..6)
            .map(|w| Order {
                time: w as f64 * WEEK + DAY,
                customer: 0,
                lines: vec![(0, 20.0)],
            })
            .collect();
        orders.push(Order {
            time: 2.0 * WEEK,
            customer: 1,
            lines: vec![(1, 50.0)],
        });
        orders.push(Order {
            time: 5.0 * WEEK + 2.0 * DAY,
            customer: 2,
            lines: vec![(0, 10.0), (1, 30.0)],
        });
        // Orders after the cut teach nothing.
        orders.push(Order {
            time: 6.5 * WEEK,
            customer: 1,
            lines: vec![(1, 1e6)],
        });
        let first_seen = [0.0, 0.0, 5.0 * WEEK + DAY];
        let rates = measure(&orders, &first_seen, 2, 0.0, 6.0 * WEEK, 4).unwrap();
        assert_eq!(
            rates.economics.revenue_per_category_order,
            vec![130.0 / 7.0, 40.0]
        );
        assert!((rates.economics.categories_per_order - 9.0 / 8.0).abs() < 1e-12);
        assert_eq!(rates.orders_per_ordering_week, 1.0);
        assert_eq!(rates.fade.len(), 4);
        assert_eq!(rates.fade[0], 1.0);
        // One arrival in the last 4 weeks.
        assert_eq!(rates.arrivals_per_week, 0.25);
        // Cohorts of the history: 2 customers in week 0 (one ordered in it), 1 in the last week (who did).
        assert_eq!(rates.newcomer_orders_by_week_of_life[0], 2.0 / 3.0);
        assert_eq!(rates.weekly_orders(0.5)[0], 0.5);
        assert!(measure(&orders, &first_seen, 2, 0.0, 0.5 * DAY, 4).is_none());

        let actual = tally(&orders, 2, 6.0 * WEEK, 4);
        assert_eq!(actual.orders, vec![vec![0.0; 4], vec![1.0, 0.0, 0.0, 0.0]]);
        let naive = naive_forecast(&orders, 2, 0.0, 6.0 * WEEK, 4);
        // Weeks 2–5: category 0 has 5 orders (4 weekly + the newcomer's), category 1 two.
        assert_eq!(naive.orders[0], vec![1.25; 4]);
        assert_eq!(naive.orders[1], vec![0.5; 4]);
        let s = score(&actual, &naive, &actual);
        assert_eq!(s.orders_wape[0], Some(0.0));
        assert_eq!(s.categories[0].orders_wape, [None, None]);
        assert_eq!(s.categories[1].naive_orders, 2.0);
    }
}
