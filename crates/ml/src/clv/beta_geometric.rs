//! What BG/NBD and MBG/NBD share: the four parameters (r, α, a, b) fitted by maximum
//! likelihood from the same two starting points, and the ₂F₁ factor of their conditional
//! expectation. Each model brings its own likelihood and ₂F₁ arguments.

use super::likelihood_rows::{self, Distinct, WeightedRow};
use super::optimize::fit_positive_parameters;
use super::{ClvError, CustomerSummary};
use crate::special::hyp2f1;

/// A model's total log-likelihood and its gradient with respect to (r, α, a, b).
pub(super) type Likelihood = fn(&[f64], &[WeightedRow], &Distinct) -> (f64, Vec<f64>);

/// The maximum-likelihood (r, α, a, b) on `customers`, and the total log-likelihood there.
pub(super) fn fit(
    model: &'static str,
    customers: &[CustomerSummary],
    likelihood: Likelihood,
) -> Result<([f64; 4], f64), ClvError> {
    let rows = likelihood_rows::group(customers)?;
    let distinct = Distinct::of(&rows);
    let total = rows.iter().map(|row| row.weight).sum::<f64>();
    let mean_age = rows.iter().map(|row| row.age * row.weight).sum::<f64>() / total;
    let starts = [
        vec![1.0, mean_age, 1.0, 1.0],
        vec![0.3, mean_age / 4.0, 0.5, 3.0],
    ];
    let p = fit_positive_parameters(model, &starts, |p| {
        let (value, gradient) = likelihood(p, &rows, &distinct);
        (value / total, gradient.iter().map(|g| g / total).collect())
    })?;
    let parameters = [p[0], p[1], p[2], p[3]];
    Ok((parameters, likelihood(&parameters, &rows, &distinct).0))
}

/// The total log-likelihood of known parameters on `customers`.
pub(super) fn log_likelihood(
    parameters: [f64; 4],
    customers: &[CustomerSummary],
    likelihood: Likelihood,
) -> Result<f64, ClvError> {
    let rows = likelihood_rows::group(customers)?;
    let distinct = Distinct::of(&rows);
    Ok(likelihood(&parameters, &rows, &distinct).0)
}

/// 1 − ((α+T)/(α+T+t))^(r+x) ₂F₁(h; t/(α+T+t)) for the model's ₂F₁ arguments `h`, by
/// Euler's transformation when the direct series overflows (as `lifetimes` does).
pub(super) fn not_dropped(r_plus_x: f64, alpha: f64, age: f64, t: f64, h: [f64; 3]) -> f64 {
    let [a, b, c] = h;
    let z = t / (alpha + age + t);
    let mut ln_hyp = hyp2f1(a, b, c, z).ln();
    if !ln_hyp.is_finite() {
        ln_hyp = hyp2f1(c - a, c - b, c, z).ln() + (c - a - b) * (1.0 - z).ln();
    }
    1.0 - (ln_hyp + r_plus_x * ((alpha + age) / (alpha + t + age)).ln()).exp()
}
