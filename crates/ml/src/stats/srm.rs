//! The sample-ratio-mismatch check (gbstats' `check_srm`): a chi-square goodness-of-fit test
//! of observed units per variation against the configured traffic weights. A tiny p-value
//! means assignment or tracking is broken and the experiment's results should not be trusted.

use super::StatsError;
use super::distributions::chi_square_survival;

/// How far weights may be from summing to 1 (rounding in stored configurations).
pub const WEIGHT_SUM_TOLERANCE: f64 = 1e-6;

/// GrowthBook's default: an SRM p-value below this flags the experiment as broken.
pub const SRM_P_VALUE_THRESHOLD: f64 = 0.001;

/// The SRM p-value for units `observed` per variation given the intended `weights`.
///
/// Degrees of freedom are variations − 1. A variation with weight 0 that received units gives
/// p = 0: under the configured split that cannot happen, so the experiment is broken. (gbstats
/// skips such a variation's term and can report a healthy p-value for it — a departure.)
///
/// # Errors
/// Mismatched lengths, fewer than two variations, a negative or non-finite weight, weights
/// not summing to 1, or no traffic at all ([`StatsError::NoTraffic`]; gbstats returns 1.0,
/// which would read as "healthy" for an experiment that never ran).
pub fn srm(observed: &[u64], weights: &[f64]) -> Result<f64, StatsError> {
    if observed.len() != weights.len() {
        return Err(StatsError::WeightCountMismatch {
            observed: observed.len(),
            weights: weights.len(),
        });
    }
    if observed.len() < 2 {
        return Err(StatsError::TooFewVariations(observed.len()));
    }
    if let Some(&bad) = weights.iter().find(|w| !w.is_finite() || **w < 0.0) {
        return Err(StatsError::InvalidWeight(bad));
    }
    let weight_sum: f64 = weights.iter().sum();
    if (weight_sum - 1.0).abs() > WEIGHT_SUM_TOLERANCE {
        return Err(StatsError::WeightsDoNotSumToOne(weight_sum));
    }
    let total: f64 = observed.iter().map(|&o| o as f64).sum();
    if total == 0.0 {
        return Err(StatsError::NoTraffic);
    }
    if observed
        .iter()
        .zip(weights)
        .any(|(&units, &weight)| weight == 0.0 && units > 0)
    {
        return Ok(0.0);
    }
    let chi_square: f64 = observed
        .iter()
        .zip(weights)
        .filter(|(_, w)| **w > 0.0)
        .map(|(&o, &w)| {
            let expected = w / weight_sum * total;
            (o as f64 - expected).powi(2) / expected
        })
        .sum();
    Ok(chi_square_survival(chi_square, (observed.len() - 1) as f64))
}

/// Whether an SRM p-value means the split is broken, at GrowthBook's default threshold.
pub fn is_sample_ratio_mismatch(p_value: f64) -> bool {
    p_value < SRM_P_VALUE_THRESHOLD
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_weights_are_errors_not_numbers() {
        assert_eq!(
            srm(&[10, 10], &[0.5, 0.6]),
            Err(StatsError::WeightsDoNotSumToOne(1.1))
        );
        assert_eq!(
            srm(&[10, 10], &[1.5, -0.5]),
            Err(StatsError::InvalidWeight(-0.5))
        );
        assert_eq!(srm(&[10], &[1.0]), Err(StatsError::TooFewVariations(1)));
        assert_eq!(
            srm(&[10, 10, 3], &[0.5, 0.5]),
            Err(StatsError::WeightCountMismatch {
                observed: 3,
                weights: 2
            })
        );
        assert_eq!(srm(&[0, 0], &[0.5, 0.5]), Err(StatsError::NoTraffic));
    }

    #[test]
    fn a_perfect_split_is_not_flagged_and_a_broken_one_is() {
        let perfect = srm(&[300, 100], &[0.75, 0.25]).unwrap_or_else(|e| panic!("{e}"));
        assert!((perfect - 1.0).abs() < 1e-12);
        let broken = srm(&[5_000, 4_000], &[0.5, 0.5]).unwrap_or_else(|e| panic!("{e}"));
        assert!(is_sample_ratio_mismatch(broken));
        assert!(!is_sample_ratio_mismatch(perfect));
    }

    #[test]
    fn traffic_in_a_disabled_variation_is_a_certain_mismatch() {
        assert_eq!(srm(&[500, 500, 1], &[0.5, 0.5, 0.0]), Ok(0.0));
        // A disabled variation without traffic is simply left out of the test.
        let healthy = srm(&[500, 500, 0], &[0.5, 0.5, 0.0]).unwrap_or_else(|e| panic!("{e}"));
        assert!((healthy - 1.0).abs() < 1e-12);
    }
}
