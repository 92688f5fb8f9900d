//! Per-category forecast of orders and revenue for the coming weeks, built up from the
//! customers rather than extrapolated from the category's past: each known customer's
//! expected orders per week (from the 7-day propensity), split over categories by their
//! interest, plus the orders of customers not yet seen (arrivals × what a newcomer orders in
//! each week of their life). The naive baseline repeats the mean of the last weeks.
//!
//! Orders are counted per category: an order with products of two categories is an order of
//! each, so category forecasts add up to more than the number of orders.

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
}
