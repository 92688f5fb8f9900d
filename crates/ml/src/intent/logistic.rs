//! L2-regularized logistic regression on standardized features, fitted by Newton's method
//! (iteratively reweighted least squares), and Platt scaling on top of it.
//!
//! Newton rather than a first-order method: intent models have tens of features and tens of
//! thousands of rows, so the d×d Hessian is cheap and Newton converges in a handful of
//! exact steps, with no learning rate to tune. Standardizing first makes one penalty
//! strength mean the same for every feature and keeps the Hessian well conditioned.

/// Newton steps at most; a regularized problem converges in well under ten.
const MAX_ITERATIONS: usize = 50;

#[derive(Debug, Clone, PartialEq)]
pub struct LogisticRegression {
    mean: Vec<f64>,
    scale: Vec<f64>,
    weights: Vec<f64>,
    intercept: f64,
}

/// Why a model could not be fitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FitError {
    NoRows,
    /// Rows of different lengths, or labels not one per row.
    Shape,
    /// Every label is the same, so there is nothing to separate.
    OneClass,
}

impl std::fmt::Display for FitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FitError::NoRows => "no training rows",
            FitError::Shape => "rows of different lengths or a label count that does not match",
            FitError::OneClass => "every training label is the same",
        })
    }
}

impl std::error::Error for FitError {}

pub fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

pub fn logit(p: f64) -> f64 {
    let p = p.clamp(1e-12, 1.0 - 1e-12);
    (p / (1.0 - p)).ln()
}

impl LogisticRegression {
    /// Minimizes mean log loss + `l2` / 2 · ‖w‖² over standardized features (the intercept is
    /// not penalized).
    pub fn fit(rows: &[Vec<f64>], labels: &[bool], l2: f64) -> Result<Self, FitError> {
        let n = rows.len();
        if n == 0 {
            return Err(FitError::NoRows);
        }
        let d = rows[0].len();
        if labels.len() != n || rows.iter().any(|r| r.len() != d) {
            return Err(FitError::Shape);
        }
        let positives = labels.iter().filter(|&&y| y).count();
        if positives == 0 || positives == n {
            return Err(FitError::OneClass);
        }
        let (mean, scale) = standardization(rows, d);
        let x: Vec<Vec<f64>> = rows
            .iter()
            .map(|r| (0..d).map(|j| (r[j] - mean[j]) / scale[j]).collect())
            .collect();
        // Parameters: weights then the intercept (index d).
        let mut beta = vec![0.0; d + 1];
        let base_rate = positives as f64 / n as f64;
        beta[d] = logit(base_rate);
        let inv_n = 1.0 / n as f64;
        let mut gradient = vec![0.0; d + 1];
        let mut hessian = vec![0.0; (d + 1) * (d + 1)];
        for _ in 0..MAX_ITERATIONS {
            gradient.iter_mut().for_each(|g| *g = 0.0);
            hessian.iter_mut().for_each(|h| *h = 0.0);
            for (xi, &yi) in x.iter().zip(labels) {
                let z = beta[d] + dot(&beta[..d], xi);
                let p = sigmoid(z);
                let residual = p - f64::from(u8::from(yi));
                let w = (p * (1.0 - p)).max(1e-12);
                for j in 0..=d {
                    let xj = if j == d { 1.0 } else { xi[j] };
                    gradient[j] += residual * xj;
                    let row = &mut hessian[j * (d + 1)..(j + 1) * (d + 1)];
                    for k in 0..=j {
                        let xk = if k == d { 1.0 } else { xi[k] };
                        row[k] += w * xj * xk;
                    }
                }
            }
            for j in 0..=d {
                gradient[j] *= inv_n;
                for k in 0..=j {
                    let v = hessian[j * (d + 1) + k] * inv_n;
                    hessian[j * (d + 1) + k] = v;
                    hessian[k * (d + 1) + j] = v;
                }
                if j < d {
                    gradient[j] += l2 * beta[j];
                    hessian[j * (d + 1) + j] += l2;
                }
            }
            // Ridge on the intercept too when l2 is 0 and the data are separable: a tiny
            // jitter keeps the factorization defined without changing a regular problem.
            for j in 0..=d {
                hessian[j * (d + 1) + j] += 1e-10;
            }
            let step = solve_positive_definite(&hessian, &gradient, d + 1);
            let mut largest = 0.0f64;
            for (b, s) in beta.iter_mut().zip(&step) {
                *b -= s;
                largest = largest.max(s.abs());
            }
            if largest < 1e-9 {
                break;
            }
        }
        let intercept = beta[d];
        beta.truncate(d);
        Ok(Self {
            mean,
            scale,
            weights: beta,
            intercept,
        })
    }

    /// The log-odds for one row (of the training width).
    pub fn log_odds(&self, row: &[f64]) -> f64 {
        self.intercept
            + row
                .iter()
                .zip(&self.mean)
                .zip(&self.scale)
                .zip(&self.weights)
                .map(|(((x, m), s), w)| (x - m) / s * w)
                .sum::<f64>()
    }

    pub fn probability(&self, row: &[f64]) -> f64 {
        sigmoid(self.log_odds(row))
    }

    /// Weights on the standardized features: comparable, a change of one standard deviation.
    pub fn standardized_weights(&self) -> &[f64] {
        &self.weights
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
        let model = LogisticRegression::fit(&rows, labels, 0.0)?;
        let a = model.weights[0] / model.scale[0];
        Ok(Platt {
            a,
            b: model.intercept - a * model.mean[0],
        })
    }

    pub fn probability(&self, log_odds: f64) -> f64 {
        sigmoid(self.a * log_odds + self.b)
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
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

/// Solves A x = b for a symmetric positive definite A (row-major n×n) by Cholesky.
fn solve_positive_definite(a: &[f64], b: &[f64], n: usize) -> Vec<f64> {
    let mut l = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..=i {
            let mut sum = a[i * n + j];
            for k in 0..j {
                sum -= l[i * n + k] * l[j * n + k];
            }
            l[i * n + j] = if i == j {
                sum.max(1e-300).sqrt()
            } else {
                sum / l[j * n + j]
            };
        }
    }
    let mut y = vec![0.0; n];
    for i in 0..n {
        let s: f64 = (0..i).map(|k| l[i * n + k] * y[k]).sum();
        y[i] = (b[i] - s) / l[i * n + i];
    }
    let mut x = vec![0.0; n];
    for i in (0..n).rev() {
        let s: f64 = (i + 1..n).map(|k| l[k * n + i] * x[k]).sum();
        x[i] = (y[i] - s) / l[i * n + i];
    }
    x
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
        let model = LogisticRegression::fit(&rows, &labels, 0.0).expect("fit");
        assert!((model.probability(&[0.0]) - 0.2).abs() < 1e-9);
        assert!((model.probability(&[1.0]) - 0.5).abs() < 1e-9);
        assert!((model.log_odds(&[1.0]) - model.log_odds(&[0.0]) - 4f64.ln()).abs() < 1e-9);
    }

    #[test]
    fn the_penalty_shrinks_weights_but_not_the_base_rate() {
        let rows: Vec<Vec<f64>> = (0..40).map(|i| vec![f64::from(i % 4), 1.0]).collect();
        let labels: Vec<bool> = (0..40).map(|i| i % 4 >= 2 || i % 10 == 0).collect();
        let loose = LogisticRegression::fit(&rows, &labels, 1e-4).expect("fit");
        let tight = LogisticRegression::fit(&rows, &labels, 10.0).expect("fit");
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
            LogisticRegression::fit(&[], &[], 1.0),
            Err(FitError::NoRows)
        );
        assert_eq!(
            LogisticRegression::fit(&[vec![1.0], vec![2.0]], &[true, true], 1.0),
            Err(FitError::OneClass)
        );
        assert_eq!(
            LogisticRegression::fit(&[vec![1.0], vec![2.0, 3.0]], &[true, false], 1.0),
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
