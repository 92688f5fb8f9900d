//! Scoring predicted against actual repeat purchases in a hold-out period: per-customer error
//! and correlation, totals, and the weekly cumulative curve (the literature's tracking plot,
//! conditional on each customer's calibration history).

use super::{CustomerSummary, PurchaseModel};

/// Per-customer and total agreement of predicted and actual hold-out purchases.
#[derive(Clone, Debug, PartialEq)]
pub struct HoldoutScore {
    pub customers: usize,
    pub actual_total: f64,
    pub predicted_total: f64,
    pub mean_absolute_error: f64,
    pub root_mean_squared_error: f64,
    /// Pearson correlation; NaN when either side is constant.
    pub correlation: f64,
}

/// One point of the cumulative curve: purchases by the end of `period` of the hold-out.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CurvePoint {
    pub period: u32,
    pub actual: f64,
    pub predicted: f64,
}

/// Scores `model` on the hold-out of length `horizon` periods; `holdout[i]` holds customer i's
/// purchase times in periods after the calibration end (see `summary::holdout_purchases`).
pub fn score(
    model: &impl PurchaseModel,
    customers: &[CustomerSummary],
    holdout: &[Vec<f64>],
    horizon: f64,
) -> HoldoutScore {
    // Customers sharing a history share the prediction: computed once per history.
    let mut predictions = std::collections::HashMap::new();
    let pairs: Vec<(f64, f64)> = customers
        .iter()
        .zip(holdout)
        .map(|(c, days)| {
            let predicted = *predictions
                .entry(history_key(c))
                .or_insert_with(|| model.expected_purchases(c, horizon));
            (days.len() as f64, predicted)
        })
        .collect();
    let n = pairs.len() as f64;
    let actual_total: f64 = pairs.iter().map(|p| p.0).sum();
    let predicted_total: f64 = pairs.iter().map(|p| p.1).sum();
    let mean_absolute_error = pairs.iter().map(|p| (p.0 - p.1).abs()).sum::<f64>() / n;
    let root_mean_squared_error =
        (pairs.iter().map(|p| (p.0 - p.1).powi(2)).sum::<f64>() / n).sqrt();
    let (mean_actual, mean_predicted) = (actual_total / n, predicted_total / n);
    let (mut covariance, mut variance_actual, mut variance_predicted) = (0.0, 0.0, 0.0);
    for (actual, predicted) in &pairs {
        covariance += (actual - mean_actual) * (predicted - mean_predicted);
        variance_actual += (actual - mean_actual).powi(2);
        variance_predicted += (predicted - mean_predicted).powi(2);
    }
    HoldoutScore {
        customers: pairs.len(),
        actual_total,
        predicted_total,
        mean_absolute_error,
        root_mean_squared_error,
        correlation: covariance / (variance_actual * variance_predicted).sqrt(),
    }
}

/// Cumulative actual and predicted purchases at the end of each whole period of the hold-out.
pub fn cumulative_curve(
    model: &impl PurchaseModel,
    customers: &[CustomerSummary],
    holdout: &[Vec<f64>],
    horizon: f64,
) -> Vec<CurvePoint> {
    let periods = horizon.ceil().max(0.0) as u32;
    let ends: Vec<f64> = (1..=periods)
        .map(|period| f64::from(period).min(horizon))
        .collect();
    // Per customer all periods at once, so a model shares the horizon-free work across them.
    let mut predicted = vec![0.0; ends.len()];
    for (c, count) in distinct_histories(customers) {
        for (total, value) in predicted
            .iter_mut()
            .zip(model.expected_purchases_at(&c, &ends))
        {
            *total += count * value;
        }
    }
    let mut purchase_times: Vec<f64> = holdout.iter().flatten().copied().collect();
    purchase_times.sort_unstable_by(f64::total_cmp);
    (1..=periods)
        .zip(ends)
        .zip(predicted)
        .map(|((period, end), predicted)| CurvePoint {
            period,
            actual: purchase_times.partition_point(|&t| t <= end) as f64,
            predicted,
        })
        .collect()
}

/// Customers with the same (frequency, recency, T) get the same purchase predictions; on
/// CDNOW there are 2.5× fewer distinct histories than customers.
fn distinct_histories(customers: &[CustomerSummary]) -> Vec<(CustomerSummary, f64)> {
    let key = history_key;
    let mut sorted: Vec<&CustomerSummary> = customers.iter().collect();
    sorted.sort_unstable_by_key(|c| key(c));
    let mut distinct: Vec<(CustomerSummary, f64)> = Vec::new();
    for c in sorted {
        match distinct.last_mut() {
            Some((last, count)) if key(last) == key(c) => *count += 1.0,
            _ => distinct.push((*c, 1.0)),
        }
    }
    distinct
}

/// Identifies a purchase history (x, t_x, T); bit patterns are exact keys for finite floats.
fn history_key(c: &CustomerSummary) -> (u32, u64, u64) {
    (c.frequency, c.recency.to_bits(), c.age.to_bits())
}
