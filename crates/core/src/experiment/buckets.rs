//! Turning traffic weights and coverage into bucket ranges, and a hash into a variation.
//!
//! These copy GrowthBook's `util.ts` including its runtime leniency (coverage clamped,
//! bad weights replaced by equal ones), because an experiment must split traffic exactly
//! as every other GrowthBook SDK splits it. Tailor refuses such definitions earlier, in
//! [`super::Experiment::validate`].

use serde::{Deserialize, Serialize};

/// The half-open slice `[start, end)` of the unit interval whose hashes get one
/// variation. On the wire a two-element array, as in GrowthBook.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(from = "(f64, f64)", into = "(f64, f64)")]
pub struct BucketRange {
    pub start: f64,
    pub end: f64,
}

impl BucketRange {
    pub fn new(start: f64, end: f64) -> Self {
        Self { start, end }
    }

    /// GrowthBook's `inRange`: start included, end excluded.
    pub fn contains(&self, n: f64) -> bool {
        n >= self.start && n < self.end
    }

    /// Do two ranges share any point? Empty ranges share none.
    pub fn overlaps(&self, other: &BucketRange) -> bool {
        !self.is_empty() && !other.is_empty() && self.start < other.end && other.start < self.end
    }

    /// Holds no hash at all (`start >= end`, or a bound is NaN).
    pub fn is_empty(&self) -> bool {
        self.start.partial_cmp(&self.end) != Some(std::cmp::Ordering::Less)
    }
}

impl From<(f64, f64)> for BucketRange {
    fn from((start, end): (f64, f64)) -> Self {
        Self { start, end }
    }
}

impl From<BucketRange> for (f64, f64) {
    fn from(range: BucketRange) -> Self {
        (range.start, range.end)
    }
}

/// GrowthBook's runtime tolerance on the sum of the weights; outside it the SDKs fall
/// back to equal weights.
const WEIGHT_SUM_TOLERANCE: f64 = 0.01;

/// `n` equal weights summing to one (none for `n == 0`).
pub fn get_equal_weights(n: usize) -> Vec<f64> {
    vec![1.0 / n as f64; n]
}

/// GrowthBook's `getBucketRanges`: variation `i` owns `[w₀+…+wᵢ₋₁, that + coverage·wᵢ)`.
///
/// Reducing coverage shrinks each range from its end, so visitors enrolled at low
/// coverage keep their variation when coverage grows. Coverage is clamped to [0, 1];
/// weights of the wrong length, or summing to less than 0.99 or more than 1.01, are
/// replaced by equal weights.
pub fn get_bucket_ranges(
    num_variations: usize,
    coverage: f64,
    weights: Option<&[f64]>,
) -> Vec<BucketRange> {
    // NaN stays NaN, as in the SDK, and then matches no range.
    let coverage = coverage.clamp(0.0, 1.0);
    let weights = match weights {
        Some(weights) if weights.len() == num_variations && sums_to_about_one(weights) => {
            weights.to_vec()
        }
        _ => get_equal_weights(num_variations),
    };
    let mut cumulative = 0.0;
    weights
        .iter()
        .map(|weight| {
            let start = cumulative;
            cumulative += weight;
            BucketRange::new(start, start + coverage * weight)
        })
        .collect()
}

fn sums_to_about_one(weights: &[f64]) -> bool {
    let total: f64 = weights.iter().fold(0.0, |sum, w| sum + w);
    // The SDK only rejects sums it can compare, so a NaN sum passes there too.
    total.is_nan() || (1.0 - WEIGHT_SUM_TOLERANCE..=1.0 + WEIGHT_SUM_TOLERANCE).contains(&total)
}

/// GrowthBook's `chooseVariation`: the first range holding `n`, or `None` when `n` falls
/// outside every range (the visitor is outside the experiment's coverage).
pub fn choose_variation(n: f64, ranges: &[BucketRange]) -> Option<usize> {
    ranges.iter().position(|range| range.contains(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn growing_coverage_keeps_enrolled_visitors_in_their_variation() {
        let small = get_bucket_ranges(3, 0.2, Some(&[0.2, 0.3, 0.5]));
        let large = get_bucket_ranges(3, 0.9, Some(&[0.2, 0.3, 0.5]));
        for n in (0..1000).map(|i| f64::from(i) / 1000.0) {
            if let Some(before) = choose_variation(n, &small) {
                assert_eq!(choose_variation(n, &large), Some(before), "n = {n}");
            }
        }
    }

    #[test]
    fn zero_variations_make_no_ranges() {
        assert!(get_equal_weights(0).is_empty());
        assert!(get_bucket_ranges(0, 1.0, None).is_empty());
        assert_eq!(choose_variation(0.5, &[]), None);
    }

    #[test]
    fn range_end_is_excluded_and_empty_ranges_never_overlap() {
        let range = BucketRange::new(0.0, 0.5);
        assert!(range.contains(0.0) && !range.contains(0.5));
        assert!(!BucketRange::new(0.5, 0.5).overlaps(&BucketRange::new(0.0, 1.0)));
        assert!(BucketRange::new(0.4, 0.6).overlaps(&range));
        assert!(!BucketRange::new(0.5, 1.0).overlaps(&range));
    }

    #[test]
    fn ranges_travel_as_pairs() {
        let range: BucketRange = serde_json::from_str("[0.25, 0.5]").expect("a pair");
        assert_eq!(range, BucketRange::new(0.25, 0.5));
        assert_eq!(
            serde_json::to_string(&range).expect("serializes"),
            "[0.25,0.5]"
        );
    }
}
