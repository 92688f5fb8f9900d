//! The scores the intent models are judged by: AUC, log loss, calibration bins, recall@k and
//! weighted absolute percentage error. Each takes predictions next to outcomes.

/// Area under the ROC curve: the chance a random positive scores above a random negative
/// (ties count half), by the rank-sum (Mann–Whitney) formula. `None` without both classes.
pub fn auc(scores: &[f64], labels: &[bool]) -> Option<f64> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let (mut rank_sum, mut positives) = (0.0, 0usize);
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && scores[order[j + 1]] == scores[order[i]] {
            j += 1;
        }
        // Tied scores share the mean of ranks i+1 ..= j+1.
        let mean_rank = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            if labels[k] {
                rank_sum += mean_rank;
                positives += 1;
            }
        }
        i = j + 1;
    }
    let negatives = scores.len() - positives;
    if positives == 0 || negatives == 0 {
        return None;
    }
    let (p, n) = (positives as f64, negatives as f64);
    Some((rank_sum - p * (p + 1.0) / 2.0) / (p * n))
}

/// Mean negative log-likelihood of the outcomes (natural log), probabilities clamped to
/// [1e-15, 1 − 1e-15] so a confident miss costs a lot but not infinity.
pub fn log_loss(probabilities: &[f64], labels: &[bool]) -> f64 {
    if probabilities.is_empty() {
        return 0.0;
    }
    let total: f64 = probabilities
        .iter()
        .zip(labels)
        .map(|(&p, &y)| {
            let p = p.clamp(1e-15, 1.0 - 1e-15);
            -if y { p.ln() } else { (1.0 - p).ln() }
        })
        .sum();
    total / probabilities.len() as f64
}

/// One bin of a calibration table.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CalibrationBin {
    pub count: usize,
    pub mean_predicted: f64,
    pub observed_rate: f64,
}

/// Calibration table: predictions sorted and cut into `bins` groups of (nearly) equal size,
/// each with its mean prediction and observed rate. Equal-count rather than equal-width bins
/// because purchase probabilities crowd near zero.
pub fn calibration(probabilities: &[f64], labels: &[bool], bins: usize) -> Vec<CalibrationBin> {
    let n = probabilities.len();
    if n == 0 || bins == 0 {
        return Vec::new();
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| probabilities[a].total_cmp(&probabilities[b]));
    let bins = bins.min(n);
    (0..bins)
        .map(|b| {
            let group = &order[b * n / bins..(b + 1) * n / bins];
            let count = group.len() as f64;
            CalibrationBin {
                count: group.len(),
                mean_predicted: group.iter().map(|&i| probabilities[i]).sum::<f64>() / count,
                observed_rate: group.iter().filter(|&&i| labels[i]).count() as f64 / count,
            }
        })
        .collect()
}

/// Expected calibration error of a table: the count-weighted mean gap between predicted and
/// observed rates.
pub fn expected_calibration_error(table: &[CalibrationBin]) -> f64 {
    let total: usize = table.iter().map(|b| b.count).sum();
    if total == 0 {
        return 0.0;
    }
    table
        .iter()
        .map(|b| b.count as f64 * (b.mean_predicted - b.observed_rate).abs())
        .sum::<f64>()
        / total as f64
}

/// Recall@k for one customer: the share of `actual` among the first `k` of `ranked`.
/// `None` when `actual` is empty (nothing to recall).
pub fn recall_at_k<T: PartialEq>(ranked: &[T], actual: &[T], k: usize) -> Option<f64> {
    if actual.is_empty() {
        return None;
    }
    let top = &ranked[..k.min(ranked.len())];
    let hits = actual.iter().filter(|a| top.contains(a)).count();
    Some(hits as f64 / actual.len() as f64)
}

/// Weighted absolute percentage error: Σ|forecast − actual| / Σ actual. Unlike MAPE it stays
/// defined when single weeks are 0 and weighs busy weeks more. `None` when nothing happened.
pub fn wape(forecast: &[f64], actual: &[f64]) -> Option<f64> {
    let total: f64 = actual.iter().sum();
    if total <= 0.0 {
        return None;
    }
    let error: f64 = forecast
        .iter()
        .zip(actual)
        .map(|(f, a)| (f - a).abs())
        .sum();
    Some(error / total)
}

/// Mean absolute percentage error over the points whose actual is positive.
pub fn mape(forecast: &[f64], actual: &[f64]) -> Option<f64> {
    let errors: Vec<f64> = forecast
        .iter()
        .zip(actual)
        .filter(|(_, a)| **a > 0.0)
        .map(|(f, a)| (f - a).abs() / a)
        .collect();
    (!errors.is_empty()).then(|| errors.iter().sum::<f64>() / errors.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_counts_ordered_pairs_and_half_ties() {
        // Pairs (positive, negative): (0.9, 0.1) ✓, (0.9, 0.5) ✓, (0.5, 0.1) ✓, (0.5, 0.5) ½.
        let scores = [0.9, 0.5, 0.5, 0.1];
        let labels = [true, true, false, false];
        assert_eq!(auc(&scores, &labels), Some(3.5 / 4.0));
        assert_eq!(auc(&[0.1, 0.9], &[true, false]), Some(0.0));
        assert_eq!(auc(&[0.1, 0.9], &[true, true]), None);
    }

    #[test]
    fn log_loss_of_a_fair_coin_is_ln_2() {
        let loss = log_loss(&[0.5, 0.5], &[true, false]);
        assert!((loss - 2f64.ln()).abs() < 1e-12);
        assert!(log_loss(&[0.0], &[true]).is_finite());
    }

    #[test]
    fn calibration_bins_are_equal_count_and_sorted() {
        let p = [0.9, 0.1, 0.2, 0.8];
        let y = [true, false, true, true];
        let table = calibration(&p, &y, 2);
        assert_eq!(table.len(), 2);
        assert_eq!(table[0].count, 2);
        assert!((table[0].mean_predicted - 0.15).abs() < 1e-12);
        assert_eq!(table[0].observed_rate, 0.5);
        assert_eq!(table[1].observed_rate, 1.0);
        let ece = expected_calibration_error(&table);
        assert!((ece - (0.35 + 0.15) / 2.0).abs() < 1e-12, "{ece}");
    }

    #[test]
    fn recall_wape_and_mape() {
        assert_eq!(recall_at_k(&[3, 1, 2, 0], &[0, 1], 3), Some(0.5));
        assert_eq!(recall_at_k(&[3], &[3], 3), Some(1.0));
        assert_eq!(recall_at_k::<u32>(&[1], &[], 3), None);
        assert_eq!(wape(&[12.0, 0.0], &[10.0, 10.0]), Some(0.6));
        assert_eq!(wape(&[1.0], &[0.0]), None);
        assert_eq!(mape(&[12.0, 5.0], &[10.0, 0.0]), Some(0.2));
    }
}
