//! Scoring predicted against actual repeat purchases in a hold-out period: per-customer error
//! and correlation, totals, and the weekly cumulative curve (the literature's tracking plot,
//! conditional on each customer's calibration history).

use super::PurchaseModel;
use super::summary::Histories;

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

/// Scores `model` on the hold-out of length `horizon` periods per customer and week by week;
/// `holdout[i]` holds customer i's purchase times in periods after the calibration end (see
/// `summary::holdout_purchases`), `histories` the customers' distinct histories.
pub fn evaluate(
    model: &impl PurchaseModel,
    histories: &Histories,
    holdout: &[Vec<f64>],
    horizon: f64,
) -> (HoldoutScore, Vec<CurvePoint>) {
    let periods = horizon.ceil().max(0.0) as u32;
    let mut ends: Vec<f64> = (1..=periods)
        .map(|period| f64::from(period).min(horizon))
        .collect();
    if ends.last() != Some(&horizon) {
        ends.push(horizon);
    }
    // One grid for both: the curve sums its columns, the score uses the last (the horizon).
    let width = ends.len();
    let grid = model.expected_purchases_grid(&histories.distinct, &ends);
    let mut predicted = vec![0.0; width];
    for (row, count) in grid.chunks_exact(width).zip(&histories.counts) {
        for (total, value) in predicted.iter_mut().zip(row) {
            *total += count * value;
        }
    }
    let at_horizon = |history: usize| grid[history * width + width - 1];
    let pairs: Vec<(f64, f64)> = histories
        .of_customer
        .iter()
        .zip(holdout)
        .map(|(&history, days)| (days.len() as f64, at_horizon(history)))
        .collect();
    let mut purchase_times: Vec<f64> = holdout.iter().flatten().copied().collect();
    purchase_times.sort_unstable_by(f64::total_cmp);
    let curve = (1..=periods)
        .zip(ends)
        .zip(predicted)
        .map(|((period, end), predicted)| CurvePoint {
            period,
            actual: purchase_times.partition_point(|&t| t <= end) as f64,
            predicted,
        })
        .collect();
    (score_pairs(&pairs), curve)
}

/// The hold-out score of one-time buyers (no repeat purchase in calibration) and of repeat
/// buyers, apart: models differ most on the first, the majority of most stores' customers.
#[derive(Clone, Debug, PartialEq)]
pub struct ByBuyerKind {
    pub one_time: HoldoutScore,
    pub repeat: HoldoutScore,
}

/// [`evaluate`]'s per-customer score at `horizon`, split into one-time and repeat buyers.
pub fn evaluate_by_buyer_kind(
    model: &impl PurchaseModel,
    histories: &Histories,
    holdout: &[Vec<f64>],
    horizon: f64,
) -> ByBuyerKind {
    let predicted = model.expected_purchases_grid(&histories.distinct, &[horizon]);
    let (mut one_time, mut repeat) = (Vec::new(), Vec::new());
    for (&history, days) in histories.of_customer.iter().zip(holdout) {
        let pair = (days.len() as f64, predicted[history]);
        if histories.distinct[history].frequency == 0 {
            one_time.push(pair);
        } else {
            repeat.push(pair);
        }
    }
    ByBuyerKind {
        one_time: score_pairs(&one_time),
        repeat: score_pairs(&repeat),
    }
}

/// Error, totals and correlation of (actual, predicted) pairs, one per customer.
fn score_pairs(pairs: &[(f64, f64)]) -> HoldoutScore {
    let n = pairs.len() as f64;
    let actual_total: f64 = pairs.iter().map(|p| p.0).sum();
    let predicted_total: f64 = pairs.iter().map(|p| p.1).sum();
    let mean_absolute_error = pairs.iter().map(|p| (p.0 - p.1).abs()).sum::<f64>() / n;
    let root_mean_squared_error =
        (pairs.iter().map(|p| (p.0 - p.1).powi(2)).sum::<f64>() / n).sqrt();
    let (mean_actual, mean_predicted) = (actual_total / n, predicted_total / n);
    let (mut covariance, mut variance_actual, mut variance_predicted) = (0.0, 0.0, 0.0);
    for (actual, predicted) in pairs {
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
