//! L2-regularized logistic regression fitted by Newton's method (IRLS), the reward model obp's
//! quickstart uses (scikit-learn's `LogisticRegression`). The objective is scikit-learn's:
//! Σᵢ log-loss(yᵢ, σ(w·xᵢ + b)) + ½ λ ‖w‖² with λ = 1/C and the intercept b not penalized; its
//! default C = 1 is [`LogisticParams::default`]. Newton converges in a handful of steps on the
//! few hundred features bandit logs have, where scikit-learn runs L-BFGS to the same optimum.

use super::OpeError;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LogisticParams {
    /// λ, the L2 penalty on the weights (scikit-learn's 1/C).
    pub l2: f64,
    pub max_iterations: usize,
    /// Stop once no parameter moves by more than this in a Newton step.
    pub tolerance: f64,
}

impl Default for LogisticParams {
    fn default() -> Self {
        Self {
            l2: 1.0,
            max_iterations: 100,
            tolerance: 1e-9,
        }
    }
}

/// A fitted model: P(y = 1 | x) = σ(w·x + b).
#[derive(Clone, Debug, PartialEq)]
pub struct LogisticRegression {
    pub weights: Vec<f64>,
    pub intercept: f64,
}

/// ln(1 + eᶻ) without overflow.
fn softplus(z: f64) -> f64 {
    z.max(0.0) + (-z.abs()).exp().ln_1p()
}

pub fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

impl LogisticRegression {
    /// Fits on `features` (row-major, `labels.len()` rows of `dim` values) and 0/1 `labels`
    /// (values in between are allowed: the loss is the cross-entropy).
    pub fn fit(
        features: &[f64],
        dim: usize,
        labels: &[f64],
        params: LogisticParams,
    ) -> Result<Self, OpeError> {
        let n = labels.len();
        if features.len() != n * dim {
            return Err(OpeError::Shape(format!(
                "{} feature values for {n} rows of {dim}",
                features.len()
            )));
        }
        if let Some(bad) = features.iter().find(|v| !v.is_finite()) {
            return Err(OpeError::CannotFit(format!(
                "feature value {bad} is not finite"
            )));
        }
        if let Some(bad) = labels.iter().find(|y| !(0.0..=1.0).contains(*y)) {
            return Err(OpeError::CannotFit(format!("label {bad} is not in [0, 1]")));
        }
        // As scikit-learn refuses one-class data: the unpenalized intercept would run to ±∞.
        let positives: f64 = labels.iter().sum();
        if positives <= 0.0 || positives >= n as f64 {
            return Err(OpeError::CannotFit(format!(
                "needs both rewarded and unrewarded rounds, got {positives} rewards in {n} rounds"
            )));
        }
        if !(params.l2 >= 0.0 && params.l2.is_finite()) {
            return Err(OpeError::CannotFit(format!(
                "L2 penalty {} is invalid",
                params.l2
            )));
        }

        // θ = (w, b); the intercept is the last parameter.
        let size = dim + 1;
        let mut theta = vec![0.0; size];
        let objective = |theta: &[f64]| -> f64 {
            let (w, b) = theta.split_at(dim);
            let loss: f64 = (0..n)
                .map(|i| {
                    let z = dot(w, &features[i * dim..(i + 1) * dim]) + b[0];
                    softplus(z) - labels[i] * z
                })
                .sum();
            loss + 0.5 * params.l2 * dot(w, w)
        };
        let mut current = objective(&theta);
        let mut gradient = vec![0.0; size];
        let mut hessian = vec![0.0; size * size];
        let mut row = vec![0.0; size];
        for _ in 0..params.max_iterations {
            gradient.fill(0.0);
            hessian.fill(0.0);
            for (i, &y) in labels.iter().enumerate() {
                row[..dim].copy_from_slice(&features[i * dim..(i + 1) * dim]);
                row[dim] = 1.0;
                let p = sigmoid(dot(&theta, &row));
                let curvature = p * (1.0 - p);
                for (j, &xj) in row.iter().enumerate() {
                    if xj == 0.0 {
                        continue; // one-hot features are mostly zeros
                    }
                    gradient[j] += (p - y) * xj;
                    let scaled = curvature * xj;
                    for (k, &xk) in row.iter().enumerate().take(j + 1) {
                        hessian[j * size + k] += scaled * xk;
                    }
                }
            }
            for j in 0..dim {
                gradient[j] += params.l2 * theta[j];
                hessian[j * size + j] += params.l2;
            }
            // Keeps the Hessian positive definite when a feature column is all zeros.
            for j in 0..size {
                hessian[j * size + j] += 1e-10;
            }
            let step = solve_cholesky(&mut hessian, size, &gradient)
                .ok_or_else(|| OpeError::CannotFit("singular Hessian".to_string()))?;
            // Backtracking: halve the Newton step until the objective does not increase.
            let mut scale = 1.0;
            let mut candidate = theta.clone();
            let mut accepted = false;
            for _ in 0..40 {
                for ((c, t), s) in candidate.iter_mut().zip(&theta).zip(&step) {
                    *c = t - scale * s;
                }
                let value = objective(&candidate);
                if value <= current {
                    current = value;
                    accepted = true;
                    break;
                }
                scale *= 0.5;
            }
            if !accepted {
                break; // at the optimum to machine precision
            }
            let largest_move = step.iter().map(|s| (scale * s).abs()).fold(0.0, f64::max);
            theta = candidate;
            if largest_move < params.tolerance {
                break;
            }
        }
        let intercept = theta[dim];
        theta.truncate(dim);
        Ok(Self {
            weights: theta,
            intercept,
        })
    }

    /// P(y = 1 | x).
    pub fn predict(&self, x: &[f64]) -> f64 {
        sigmoid(dot(&self.weights, x) + self.intercept)
    }
}

pub(crate) fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Solves A x = b for symmetric positive definite A given by its lower triangle (row-major,
/// `size × size`); A is overwritten by its Cholesky factor. `None` if A is not positive definite.
fn solve_cholesky(a: &mut [f64], size: usize, b: &[f64]) -> Option<Vec<f64>> {
    for j in 0..size {
        let mut diagonal = a[j * size + j];
        for k in 0..j {
            diagonal -= a[j * size + k] * a[j * size + k];
        }
        if diagonal <= 0.0 || !diagonal.is_finite() {
            return None;
        }
        let diagonal = diagonal.sqrt();
        a[j * size + j] = diagonal;
        for i in j + 1..size {
            let mut value = a[i * size + j];
            for k in 0..j {
                value -= a[i * size + k] * a[j * size + k];
            }
            a[i * size + j] = value / diagonal;
        }
    }
    // L y = b, then Lᵀ x = y.
    let mut x = b.to_vec();
    for i in 0..size {
        for k in 0..i {
            x[i] -= a[i * size + k] * x[k];
        }
        x[i] /= a[i * size + i];
    }
    for i in (0..size).rev() {
        for k in i + 1..size {
            x[i] -= a[k * size + i] * x[k];
        }
        x[i] /= a[i * size + i];
    }
    Some(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unpenalized_fit_recovers_the_empirical_rates() {
        // One binary feature: rate 1/4 when x = 0, 3/4 when x = 1. With λ = 0 the maximum
        // likelihood fit reproduces both rates exactly: b = logit(1/4), w = logit(3/4) − b.
        let features = [0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0];
        let labels = [1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0];
        let params = LogisticParams {
            l2: 0.0,
            ..LogisticParams::default()
        };
        let model = LogisticRegression::fit(&features, 1, &labels, params).expect("fits");
        assert!((model.predict(&[0.0]) - 0.25).abs() < 1e-9, "{model:?}");
        assert!((model.predict(&[1.0]) - 0.75).abs() < 1e-9, "{model:?}");
        assert!((model.intercept - (1.0_f64 / 3.0).ln()).abs() < 1e-8);
    }

    #[test]
    fn the_penalty_shrinks_weights_but_not_the_intercept() {
        let features = [0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0];
        let labels = [1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0];
        let free = LogisticRegression::fit(
            &features,
            1,
            &labels,
            LogisticParams {
                l2: 0.0,
                ..Default::default()
            },
        )
        .expect("fits");
        let penalized = LogisticRegression::fit(&features, 1, &labels, LogisticParams::default())
            .expect("fits");
        assert!(penalized.weights[0] > 0.0 && penalized.weights[0] < free.weights[0]);
        // At the optimum the gradient vanishes: Σ(p − y) = 0 for the unpenalized intercept, and
        // Σ(p − y)x + λw = 0 for the weight.
        let residual = |x: f64, y: f64| penalized.predict(&[x]) - y;
        let intercept_gradient: f64 = features
            .iter()
            .zip(&labels)
            .map(|(&x, &y)| residual(x, y))
            .sum();
        let weight_gradient: f64 = features
            .iter()
            .zip(&labels)
            .map(|(&x, &y)| residual(x, y) * x)
            .sum::<f64>()
            + penalized.weights[0];
        assert!(intercept_gradient.abs() < 1e-9 && weight_gradient.abs() < 1e-9);
    }

    #[test]
    fn refuses_data_it_cannot_fit() {
        let params = LogisticParams::default();
        assert!(matches!(
            LogisticRegression::fit(&[1.0, 2.0], 1, &[0.0, 0.0], params),
            Err(OpeError::CannotFit(_))
        ));
        assert!(matches!(
            LogisticRegression::fit(&[1.0], 1, &[0.0, 1.0], params),
            Err(OpeError::Shape(_))
        ));
        assert!(LogisticRegression::fit(&[f64::NAN, 1.0], 1, &[0.0, 1.0], params).is_err());
    }
}
