//! L2-regularized logistic regression fitted by Newton's method (iteratively reweighted least
//! squares): the off-policy reward model (scikit-learn's objective, as obp's quickstart fits
//! it) and the intent models (mean log loss on standardized features) both fit this one.
//!
//! The objective is Σᵢ log-loss(yᵢ, σ(w·xᵢ + b)), or its mean over the rows (see [`Loss`]),
//! plus ½ λ ‖w‖²; the intercept b is never penalized. Newton rather than a first-order
//! method: the models here have tens to a few hundred features, so the Hessian is cheap, a
//! handful of exact steps converge, and there is no learning rate to tune. How the iteration
//! starts and steps is [`Steps`].

use std::fmt;

use super::algebra::{Cholesky, dot};

/// What the penalty λ is weighed against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loss {
    /// The log loss summed over rows: scikit-learn's objective, λ = 1/C.
    Sum,
    /// The mean log loss: one λ means the same however many rows there are.
    Mean,
}

/// How the Newton iteration starts and steps. Each caller keeps the one its published
/// numbers were computed with: near the optimum the objective is flat to rounding, so where
/// an iteration stops (within `tolerance`) depends on the path it took.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Steps {
    /// From θ = 0, each step halved until the objective does not increase; stops early when
    /// no step decreases it (the optimum to machine precision). Safe on any data, such as
    /// sparse one-hot features under a small penalty.
    Damped,
    /// Full Newton steps from the base rate's log-odds (the optimum with every weight 0),
    /// never evaluating the objective: for standardized features, where a full step from
    /// there does not overshoot.
    Full,
}

/// The penalty, the iteration and its stopping rule.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LogisticParams {
    /// λ, the L2 penalty on the weights (scikit-learn's 1/C with [`Loss::Sum`]).
    pub l2: f64,
    pub loss: Loss,
    pub steps: Steps,
    /// Newton steps at most.
    pub max_iterations: usize,
    /// Stop once no parameter moves by more than this in a Newton step.
    pub tolerance: f64,
}

impl Default for LogisticParams {
    /// scikit-learn's `LogisticRegression()`: C = 1 on the summed loss.
    fn default() -> Self {
        Self {
            l2: 1.0,
            loss: Loss::Sum,
            steps: Steps::Damped,
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

/// Why a model could not be fitted.
#[derive(Clone, Debug, PartialEq)]
pub enum FitError {
    NoRows,
    /// Feature rows of different lengths, or not one label per row.
    Shape,
    /// A feature value that is NaN or infinite.
    NotFinite(f64),
    /// A label outside [0, 1].
    Label(f64),
    /// Every label is the same, so there is nothing to separate (the unpenalized intercept
    /// would run to ±∞; scikit-learn refuses such data too).
    OneClass,
    /// A penalty that is negative or not finite.
    Penalty(f64),
    /// The Hessian lost positive definiteness (non-finite arithmetic).
    Singular,
}

impl fmt::Display for FitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FitError::NoRows => f.write_str("no training rows"),
            FitError::Shape => {
                f.write_str("feature rows of different lengths, or not one label per row")
            }
            FitError::NotFinite(value) => write!(f, "feature value {value} is not finite"),
            FitError::Label(value) => write!(f, "label {value} is not in [0, 1]"),
            FitError::OneClass => f.write_str("every training label is the same"),
            FitError::Penalty(value) => write!(f, "L2 penalty {value} is invalid"),
            FitError::Singular => f.write_str("singular Hessian"),
        }
    }
}

impl std::error::Error for FitError {}

/// σ(z) = 1 / (1 + e⁻ᶻ), without overflow for large |z|.
pub fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

/// ln(p / (1 − p)), with p kept 1e-12 inside (0, 1).
pub fn logit(p: f64) -> f64 {
    let p = p.clamp(1e-12, 1.0 - 1e-12);
    (p / (1.0 - p)).ln()
}

/// ln(1 + eᶻ) without overflow.
fn softplus(z: f64) -> f64 {
    z.max(0.0) + (-z.abs()).exp().ln_1p()
}

/// Halves the Newton step from `theta` until the objective does not increase past `current`:
/// the new point, its objective and the share of the step taken; `None` if no halving (of 40)
/// helps.
fn backtrack(
    objective: &impl Fn(&[f64]) -> f64,
    theta: &[f64],
    step: &[f64],
    current: f64,
) -> Option<(Vec<f64>, f64, f64)> {
    let mut scale = 1.0;
    let mut candidate = theta.to_vec();
    for _ in 0..40 {
        for ((c, t), s) in candidate.iter_mut().zip(theta).zip(step) {
            *c = t - scale * s;
        }
        let value = objective(&candidate);
        if value <= current {
            return Some((candidate, value, scale));
        }
        scale *= 0.5;
    }
    None
}

impl LogisticRegression {
    /// Fits on `features` (row-major, `labels.len()` rows of `dim` values) and `labels` in
    /// [0, 1] (values in between are allowed: the loss is the cross-entropy).
    pub fn fit(
        features: &[f64],
        dim: usize,
        labels: &[f64],
        params: LogisticParams,
    ) -> Result<Self, FitError> {
        let n = labels.len();
        if n == 0 {
            return Err(FitError::NoRows);
        }
        if features.len() != n * dim {
            return Err(FitError::Shape);
        }
        if let Some(&bad) = features.iter().find(|v| !v.is_finite()) {
            return Err(FitError::NotFinite(bad));
        }
        if let Some(&bad) = labels.iter().find(|y| !(0.0..=1.0).contains(*y)) {
            return Err(FitError::Label(bad));
        }
        let positives: f64 = labels.iter().sum();
        if positives <= 0.0 || positives >= n as f64 {
            return Err(FitError::OneClass);
        }
        if !(params.l2 >= 0.0 && params.l2.is_finite()) {
            return Err(FitError::Penalty(params.l2));
        }
        let row_weight = match params.loss {
            Loss::Sum => None,
            Loss::Mean => Some(1.0 / n as f64),
        };

        // θ = (w, b); the intercept is the last parameter.
        let size = dim + 1;
        let mut theta = vec![0.0; size];
        if params.steps == Steps::Full {
            theta[dim] = logit(positives / n as f64);
        }
        let objective = |theta: &[f64]| -> f64 {
            let (w, b) = theta.split_at(dim);
            let loss: f64 = (0..n)
                .map(|i| {
                    let z = dot(w, &features[i * dim..(i + 1) * dim]) + b[0];
                    softplus(z) - labels[i] * z
                })
                .sum();
            let loss = row_weight.map_or(loss, |weight| loss * weight);
            loss + 0.5 * params.l2 * dot(w, w)
        };
        // Only damped steps read the objective.
        let mut current = match params.steps {
            Steps::Damped => objective(&theta),
            Steps::Full => f64::NAN,
        };
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
                // Floored so rows the model has all but decided still count a little.
                let curvature = (p * (1.0 - p)).max(1e-12);
                for (j, &xj) in row.iter().enumerate() {
                    if xj == 0.0 {
                        continue; // one-hot features are mostly zeros
                    }
                    gradient[j] += (p - y) * xj;
                    let scaled = curvature * xj;
                    // The lower triangle is all the factorization reads.
                    for (k, &xk) in row.iter().enumerate().take(j + 1) {
                        hessian[j * size + k] += scaled * xk;
                    }
                }
            }
            if let Some(weight) = row_weight {
                gradient.iter_mut().for_each(|g| *g *= weight);
                hessian.iter_mut().for_each(|h| *h *= weight);
            }
            for j in 0..dim {
                gradient[j] += params.l2 * theta[j];
                hessian[j * size + j] += params.l2;
            }
            // Keeps the Hessian positive definite when a feature column is all zeros, or the
            // data are separable without a penalty.
            for j in 0..size {
                hessian[j * size + j] += 1e-10;
            }
            let step = Cholesky::factor(&hessian, size)
                .ok_or(FitError::Singular)?
                .solve(&gradient);
            let largest_move = match params.steps {
                Steps::Full => {
                    for (t, s) in theta.iter_mut().zip(&step) {
                        *t -= s;
                    }
                    step.iter().map(|s| s.abs()).fold(0.0, f64::max)
                }
                Steps::Damped => {
                    let Some((candidate, value, scale)) =
                        backtrack(&objective, &theta, &step, current)
                    else {
                        break; // at the optimum to machine precision
                    };
                    (theta, current) = (candidate, value);
                    step.iter().map(|s| (scale * s).abs()).fold(0.0, f64::max)
                }
            };
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

    /// w·x + b.
    pub fn log_odds(&self, x: &[f64]) -> f64 {
        dot(&self.weights, x) + self.intercept
    }

    /// P(y = 1 | x).
    pub fn predict(&self, x: &[f64]) -> f64 {
        sigmoid(self.log_odds(x))
    }
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
            Err(FitError::OneClass)
        ));
        assert!(matches!(
            LogisticRegression::fit(&[1.0], 1, &[0.0, 1.0], params),
            Err(FitError::Shape)
        ));
        assert!(matches!(
            LogisticRegression::fit(&[f64::NAN, 1.0], 1, &[0.0, 1.0], params),
            Err(FitError::NotFinite(_))
        ));
        assert_eq!(
            LogisticRegression::fit(&[1.0, 2.0], 1, &[0.0, 2.0], params),
            Err(FitError::Label(2.0))
        );
        assert_eq!(
            LogisticRegression::fit(&[], 1, &[], params),
            Err(FitError::NoRows)
        );
    }

    #[test]
    fn mean_loss_and_full_steps_reach_the_summed_optimum() {
        // The mean loss with penalty λ has the optimum of the summed loss with n λ, whichever
        // way the iteration steps.
        let features: Vec<f64> = (0..40).map(|i| f64::from(i % 5) - 2.0).collect();
        let labels: Vec<f64> = (0..40)
            .map(|i| f64::from(u8::from(i % 5 >= 3 || i % 7 == 0)))
            .collect();
        let summed = LogisticParams {
            l2: 40.0 * 0.05,
            ..LogisticParams::default()
        };
        let reference = LogisticRegression::fit(&features, 1, &labels, summed).expect("fits");
        for steps in [Steps::Damped, Steps::Full] {
            let mean = LogisticParams {
                l2: 0.05,
                loss: Loss::Mean,
                steps,
                ..LogisticParams::default()
            };
            let model = LogisticRegression::fit(&features, 1, &labels, mean).expect("fits");
            assert!(
                (model.weights[0] - reference.weights[0]).abs() < 1e-8,
                "{model:?}"
            );
            assert!(
                (model.intercept - reference.intercept).abs() < 1e-8,
                "{model:?}"
            );
        }
    }

    #[test]
    fn full_steps_start_from_the_base_rate() {
        // With no usable feature the optimum is the base rate, where full steps start: the
        // first step is already below the tolerance.
        let params = LogisticParams {
            steps: Steps::Full,
            max_iterations: 1,
            ..LogisticParams::default()
        };
        let model =
            LogisticRegression::fit(&[0.0; 4], 1, &[1.0, 0.0, 0.0, 0.0], params).expect("fits");
        assert!((model.predict(&[0.0]) - 0.25).abs() < 1e-12, "{model:?}");
    }
}
