//! The intent models' classifier: the L2-regularized logistic regression of
//! [`crate::linear`] on standardized features, and Platt scaling on top of it.
//!
//! The loss is the mean log loss, so one penalty means the same on any number of rows.
//! Standardizing first makes one penalty strength mean the same for every feature and keeps
//! the Hessian well conditioned.

use crate::linear::{FitError, LogisticParams, LogisticRegression, Loss, Steps, sigmoid};

/// Newton steps at most; a regularized problem converges in well under ten.
const MAX_ITERATIONS: usize = 50;

/// A logistic regression on features standardized by the training rows' mean and standard
/// deviation.
#[derive(Debug, Clone, PartialEq)]
pub struct StandardizedLogistic {
    mean: Vec<f64>,
    scale: Vec<f64>,
    /// Weights on the standardized features.
    model: LogisticRegression,
}

impl StandardizedLogistic {
    /// Minimizes mean log loss + `l2` / 2 · ‖w‖² over standardized features (the intercept is
    /// not penalized).
    pub fn fit(rows: &[Vec<f64>], labels: &[bool], l2: f64) -> Result<Self, FitError> {
        let Some(first) = rows.first() else {
            return Err(FitError::NoRows);
        };
        let d = first.len();
        if labels.len() != rows.len() || rows.iter().any(|r| r.len() != d) {
            return Err(FitError::Shape);
        }
        let (mean, scale) = standardization(rows, d);
        let features: Vec<f64> = rows
            .iter()
            .flat_map(|r| (0..d).map(|j| (r[j] - mean[j]) / scale[j]))
            .collect();
        let labels: Vec<f64> = labels.iter().map(|&y| f64::from(u8::from(y))).collect();
        let params = LogisticParams {
            l2,
            loss: Loss::Mean,
            steps: Steps::Full,
            max_iterations: MAX_ITERATIONS,
            tolerance: 1e-9,
        };
        let model = LogisticRegression::fit(&features, d, &labels, params)?;
        Ok(Self { mean, scale, model })
    }

    /// The log-odds for one row (of the training width).
    pub fn log_odds(&self, row: &[f64]) -> f64 {
        self.model.intercept
            + row
                .iter()
                .zip(&self.mean)
                .zip(&self.scale)
                .zip(&self.model.weights)
                .map(|(((x, m), s), w)| (x - m) / s * w)
                .sum::<f64>()
    }

    pub fn probability(&self, row: &[f64]) -> f64 {
        sigmoid(self.log_odds(row))
    }

    /// Each feature's term of [`StandardizedLogistic::log_odds`] for `row`: how far it moves
    /// this row's log-odds from the average row's (a positive term pushes the probability up).
    pub fn contributions(&self, row: &[f64]) -> Vec<f64> {
        row.iter()
            .zip(&self.mean)
            .zip(&self.scale)
            .zip(&self.model.weights)
            .map(|(((x, m), s), w)| (x - m) / s * w)
            .collect()
    }

    /// Weights on the standardized features: comparable, a change of one standard deviation.
    pub fn standardized_weights(&self) -> &[f64] {
        &self.model.weights
    }
}

/// Platt scaling: p = σ(a · log-odds + b), fitted on held-out rows so that the model's
/// probabilities match observed rates where the regularization or a shift in time left them
/// off.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Platt {
    pub a: f64,
    pub b: f64,
}

impl Platt {
    pub const IDENTITY: Platt = Platt { a: 1.0, b: 0.0 };

    pub fn fit(log_odds: &[f64], labels: &[bool]) -> Result<Self, FitError> {
        let rows: Vec<Vec<f64>> = log_odds.iter().map(|&z| vec![z]).collect();
        let standardized = StandardizedLogistic::fit(&rows, labels, 0.0)?;
        let a = standardized.model.weights[0] / standardized.scale[0];
        Ok(Platt {
            a,
            b: standardized.model.intercept - a * standardized.mean[0],
        })
    }

    pub fn probability(&self, log_odds: f64) -> f64 {
        sigmoid(self.a * log_odds + self.b)
    }
}

/// Per-feature mean and standard deviation (1 for a constant feature, so it drops out).
fn standardization(rows: &[Vec<f64>], d: usize) -> (Vec<f64>, Vec<f64>) {
    let n = rows.len() as f64;
    let mut mean = vec![0.0; d];
    for r in rows {
        for j in 0..d {
            mean[j] += r[j] / n;
        }
    }
    let mut variance = vec![0.0; d];
    for r in rows {
        for j in 0..d {
            variance[j] += (r[j] - mean[j]).powi(2) / n;
        }
    }
    let scale = variance
        .into_iter()
        .map(|v| if v > 1e-12 { v.sqrt() } else { 1.0 })
        .collect();
    (mean, scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_known_coefficients_without_penalty() {
        // Grouped data with exact rates: x = 0 → 20%, x = 1 → 50%. The maximum-likelihood fit
        // reproduces them: intercept logit(0.2), slope logit(0.5) - logit(0.2) = ln 4.
        let mut rows = Vec::new();
        let mut labels = Vec::new();
        for (x, positives) in [(0.0, 2), (1.0, 5)] {
            for i in 0..10 {
                rows.push(vec![x]);
                labels.push(i < positives);
            }
        }
        let model = StandardizedLogistic::fit(&rows, &labels, 0.0).expect("fit");
        assert!((model.probability(&[0.0]) - 0.2).abs() < 1e-9);
        assert!((model.probability(&[1.0]) - 0.5).abs() < 1e-9);
        assert!((model.log_odds(&[1.0]) - model.log_odds(&[0.0]) - 4f64.ln()).abs() < 1e-9);
    }

    #[test]
    fn the_penalty_shrinks_weights_but_not_the_base_rate() {
        let rows: Vec<Vec<f64>> = (0..40).map(|i| vec![f64::from(i % 4), 1.0]).collect();
        let labels: Vec<bool> = (0..40).map(|i| i % 4 >= 2 || i % 10 == 0).collect();
        let loose = StandardizedLogistic::fit(&rows, &labels, 1e-4).expect("fit");
        let tight = StandardizedLogistic::fit(&rows, &labels, 10.0).expect("fit");
        assert!(tight.standardized_weights()[0].abs() < loose.standardized_weights()[0].abs());
        // The constant column is standardized away: weight stays 0.
        assert!(loose.standardized_weights()[1].abs() < 1e-12);
        // Strongly penalized, every row gets close to the base rate.
        let rate = labels.iter().filter(|&&y| y).count() as f64 / 40.0;
        assert!((tight.probability(&[0.0, 1.0]) - rate).abs() < 0.1);
    }

    #[test]
    fn refuses_what_it_cannot_fit() {
        assert_eq!(
            StandardizedLogistic::fit(&[], &[], 1.0),
            Err(FitError::NoRows)
        );
        assert_eq!(
            StandardizedLogistic::fit(&[vec![1.0], vec![2.0]], &[true, true], 1.0),
            Err(FitError::OneClass)
        );
        assert_eq!(
            StandardizedLogistic::fit(&[vec![1.0], vec![2.0, 3.0]], &[true, false], 1.0),
            Err(FitError::Shape)
        );
    }

    #[test]
    fn platt_scaling_corrects_overconfident_scores() {
        // Scores claim ±2 log-odds (88% / 12%) but the truth is 60% / 40%.
        let mut z = Vec::new();
        let mut y = Vec::new();
        for (score, positives) in [(2.0, 6), (-2.0, 4)] {
            for i in 0..10 {
                z.push(score);
                y.push(i < positives);
            }
        }
        let platt = Platt::fit(&z, &y).expect("fit");
        assert!((platt.probability(2.0) - 0.6).abs() < 1e-9);
        assert!((platt.probability(-2.0) - 0.4).abs() < 1e-9);
        assert_eq!(Platt::IDENTITY.probability(0.3), sigmoid(0.3));
    }
}
