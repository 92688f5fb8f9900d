//! BG/NBD (Fader, Hardie & Lee 2005, "Counting Your Customers the Easy Way"): while alive a
//! customer buys as a Poisson process with rate λ ~ Gamma(r, α); after each purchase they drop
//! out with probability p ~ Beta(a, b). Likelihood, P(alive) and conditional expectations as
//! in the paper's appendix and `lifetimes.BetaGeoFitter`.

use super::beta_geometric;
use super::likelihood_rows::{Distinct, WeightedRow};
use super::{ClvError, CustomerSummary, PurchaseModel};
use crate::special::{digamma_steps, ln_gamma, ln_gamma_steps, log_add_exp_with_share};

/// Fitted BG/NBD parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BgNbd {
    pub r: f64,
    pub alpha: f64,
    pub a: f64,
    pub b: f64,
    /// Total log-likelihood of the calibration data at these parameters.
    pub log_likelihood: f64,
}

impl BgNbd {
    /// Maximum-likelihood fit on the calibration summaries.
    pub fn fit(customers: &[CustomerSummary]) -> Result<Self, ClvError> {
        let ([r, alpha, a, b], log_likelihood) =
            beta_geometric::fit("BG/NBD", customers, log_likelihood_and_gradient)?;
        Ok(BgNbd {
            r,
            alpha,
            a,
            b,
            log_likelihood,
        })
    }

    /// Builds a model from known parameters (e.g. published ones), with its log-likelihood on
    /// `customers`.
    pub fn with_parameters(
        r: f64,
        alpha: f64,
        a: f64,
        b: f64,
        customers: &[CustomerSummary],
    ) -> Result<Self, ClvError> {
        Ok(BgNbd {
            r,
            alpha,
            a,
            b,
            log_likelihood: beta_geometric::log_likelihood(
                [r, alpha, a, b],
                customers,
                log_likelihood_and_gradient,
            )?,
        })
    }
}

impl BgNbd {
    /// E[Y(t) | x, t_x, T] = scale · (1 − ((α+T)/(α+T+t))^(r+x) ₂F₁(r+x, b+x; a+b+x−1; t/(α+T+t)))
    /// with scale = (a+b+x−1)/(a−1) / (1 + a/(b+x−1) · ((α+T)/(α+t_x))^(r+x)): the scale is
    /// the horizon-free part of one history.
    fn purchases_scale(&self, c: &CustomerSummary) -> f64 {
        let (r, alpha, a, b) = (self.r, self.alpha, self.a, self.b);
        let x = f64::from(c.frequency);
        let first = (a + b + x - 1.0) / (a - 1.0);
        let dropped = if x > 0.0 {
            a / (b + x - 1.0) * ((alpha + c.age) / (alpha + c.recency)).powf(r + x)
        } else {
            0.0
        };
        first / (1.0 + dropped)
    }

    /// The horizon-dependent factor of [`purchases_scale`](Self::purchases_scale)'s formula,
    /// which depends on the history only through x and T.
    fn not_dropped_part(&self, x: f64, age: f64, t: f64) -> f64 {
        let (r, a, b) = (self.r, self.a, self.b);
        beta_geometric::not_dropped(r + x, self.alpha, age, t, [r + x, b + x, a + b + x - 1.0])
    }
}

/// The total log-likelihood and its gradient with respect to (r, α, a, b).
fn log_likelihood_and_gradient(
    parameters: &[f64],
    rows: &[WeightedRow],
    distinct: &Distinct,
) -> (f64, Vec<f64>) {
    let (r, alpha, a, b) = (parameters[0], parameters[1], parameters[2], parameters[3]);
    // Terms that depend only on the parameters, hoisted out of the per-row loop.
    let constant = -ln_gamma(r) + r * alpha.ln() + ln_gamma(a + b) - ln_gamma(b);
    let ln_a = a.ln();
    let max_count = rows
        .iter()
        .map(|row| row.frequency as usize)
        .max()
        .unwrap_or(0);
    let (ln_gamma_r, ln_gamma_b, ln_gamma_ab) = (
        ln_gamma_steps(r, max_count),
        ln_gamma_steps(b, max_count),
        ln_gamma_steps(a + b, max_count),
    );
    // ln(α + T) and ln(α + t_x) once per distinct value instead of once per row, with
    // 1/(α + T) and 1/(α + t_x) for the gradient.
    let ln_alpha_age: Vec<f64> = distinct.ages.iter().map(|t| (alpha + t).ln()).collect();
    let ln_alpha_last: Vec<f64> = distinct
        .recencies
        .iter()
        .map(|t| (alpha + t).ln())
        .collect();
    let inverse_alpha_age: Vec<f64> = distinct.ages.iter().map(|t| 1.0 / (alpha + t)).collect();
    let inverse_alpha_last: Vec<f64> = distinct
        .recencies
        .iter()
        .map(|t| 1.0 / (alpha + t))
        .collect();
    // ln a − ln(b + x − 1) per count x (index 0 unused: no drop-out before a repeat purchase).
    let ln_drop: Vec<f64> = (0..=max_count)
        .map(|x| ln_a - (b + x as f64 - 1.0).ln())
        .collect();
    let mut value = 0.0;
    // ∂/∂(r, α, a, b) of the log-sum-exp parts; the ln Γ parts depend on the rows only through
    // how many customers have each count, added after the loop.
    let mut gradient = [0.0; 4];
    let mut weight_of_count = vec![0.0; max_count + 1];
    for (row, index) in rows.iter().zip(&distinct.rows) {
        let x = row.frequency;
        let count = row.frequency as usize;
        weight_of_count[count] += row.weight;
        let common = ln_gamma_r[count] + ln_gamma_b[count] - ln_gamma_ab[count];
        let still_alive = -(r + x) * ln_alpha_age[index.age];
        let (log_sum, dropped_share) = if x > 0.0 {
            let dropped_after_last = ln_drop[count] - (r + x) * ln_alpha_last[index.recency];
            log_add_exp_with_share(still_alive, dropped_after_last)
        } else {
            (still_alive, 0.0)
        };
        value += row.weight * (constant + common + log_sum);
        // still_alive: ∂r = −ln(α+T), ∂α = −(r+x)/(α+T); dropped_after_last: ∂r = −ln(α+t_x),
        // ∂α = −(r+x)/(α+t_x), ∂a = 1/a, ∂b = −1/(b+x−1); weighted by each one's share.
        let (alive_weight, dropped_weight) = (
            row.weight * (1.0 - dropped_share),
            row.weight * dropped_share,
        );
        gradient[0] -=
            alive_weight * ln_alpha_age[index.age] + dropped_weight * ln_alpha_last[index.recency];
        gradient[1] -= (r + x)
            * (alive_weight * inverse_alpha_age[index.age]
                + dropped_weight * inverse_alpha_last[index.recency]);
        if x > 0.0 {
            gradient[2] += dropped_weight / a;
            gradient[3] -= dropped_weight / (b + x - 1.0);
        }
    }
    // constant: ∂r = −ψ(r) + ln α, ∂α = r/α, ∂a = ψ(a+b), ∂b = ψ(a+b) − ψ(b);
    // common: ∂r = ψ(r+x), ∂a = −ψ(a+b+x), ∂b = ψ(b+x) − ψ(a+b+x).
    let (psi_r, psi_b, psi_ab) = (
        digamma_steps(r, max_count),
        digamma_steps(b, max_count),
        digamma_steps(a + b, max_count),
    );
    for (count, weight) in weight_of_count.iter().enumerate() {
        gradient[0] += weight * (psi_r[count] - psi_r[0] + alpha.ln());
        gradient[1] += weight * r / alpha;
        gradient[2] += weight * (psi_ab[0] - psi_ab[count]);
        gradient[3] += weight * (psi_ab[0] - psi_b[0] + psi_b[count] - psi_ab[count]);
    }
    (value, gradient.to_vec())
}

impl PurchaseModel for BgNbd {
    fn probability_alive(&self, c: &CustomerSummary) -> f64 {
        if c.frequency == 0 {
            // BG/NBD customers can only drop out right after a purchase.
            return 1.0;
        }
        let x = f64::from(c.frequency);
        let log_odds_dead = (self.r + x) * ((self.alpha + c.age) / (self.alpha + c.recency)).ln()
            + (self.a / (self.b + x - 1.0)).ln();
        1.0 / (1.0 + log_odds_dead.exp())
    }

    fn expected_purchases(&self, c: &CustomerSummary, t: f64) -> f64 {
        self.purchases_scale(c) * self.not_dropped_part(f64::from(c.frequency), c.age, t)
    }

    fn expected_purchases_at(&self, c: &CustomerSummary, horizons: &[f64]) -> Vec<f64> {
        let scale = self.purchases_scale(c);
        let x = f64::from(c.frequency);
        horizons
            .iter()
            .map(|&t| scale * self.not_dropped_part(x, c.age, t))
            .collect()
    }

    /// The ₂F₁ — the costly part — depends on a history only through x and T: computed once
    /// per distinct (x, T) and horizon (CDNOW: 979 pairs for 8,685 histories).
    fn expected_purchases_grid(&self, histories: &[CustomerSummary], horizons: &[f64]) -> Vec<f64> {
        grid_by_count_and_age(
            histories,
            horizons,
            |c| self.purchases_scale(c),
            |x, age, t| self.not_dropped_part(x, age, t),
        )
    }

    fn log_likelihood(&self) -> f64 {
        self.log_likelihood
    }
}

/// Expected purchases of each history at each horizon (row-major) for a model whose
/// expectation is `scale(history) × part(x, T, t)`: the costly `part` is computed once per
/// distinct (x, T) and horizon. BG/NBD and MBG/NBD share this shape.
pub(super) fn grid_by_count_and_age(
    histories: &[CustomerSummary],
    horizons: &[f64],
    scale: impl Fn(&CustomerSummary) -> f64,
    part: impl Fn(f64, f64, f64) -> f64,
) -> Vec<f64> {
    let width = horizons.len();
    let mut grid = vec![0.0; histories.len() * width];
    let key = |c: &CustomerSummary| (c.frequency, c.age.to_bits());
    let mut order: Vec<usize> = (0..histories.len()).collect();
    order.sort_unstable_by_key(|&i| key(&histories[i]));
    let mut parts = vec![0.0; width];
    let mut previous = None;
    for i in order {
        let c = &histories[i];
        if previous != Some(key(c)) {
            let x = f64::from(c.frequency);
            for (value, &t) in parts.iter_mut().zip(horizons) {
                *value = part(x, c.age, t);
            }
            previous = Some(key(c));
        }
        let scale = scale(c);
        for (cell, value) in grid[i * width..(i + 1) * width].iter_mut().zip(&parts) {
            *cell = scale * value;
        }
    }
    grid
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clv::likelihood_rows;

    #[test]
    fn gradient_matches_differences() {
        let histories = [
            (0, 0.0, 30.0),
            (2, 10.0, 30.0),
            (5, 28.0, 35.0),
            (1, 30.0, 30.0),
        ];
        let customers: Vec<CustomerSummary> = histories
            .iter()
            .enumerate()
            .map(|(i, &(frequency, recency, age))| CustomerSummary {
                customer: i as u64,
                frequency,
                recency,
                age,
                monetary_value: 0.0,
            })
            .collect();
        let rows = likelihood_rows::group(&customers).expect("valid summaries");
        let distinct = Distinct::of(&rows);
        let parameters = [0.25, 4.8, 0.72, 2.16];
        let (_, gradient) = log_likelihood_and_gradient(&parameters, &rows, &distinct);
        for (i, analytic) in gradient.iter().enumerate() {
            let h = 1e-6 * parameters[i];
            let (mut up, mut down) = (parameters, parameters);
            up[i] += h;
            down[i] -= h;
            let numerical = (log_likelihood_and_gradient(&up, &rows, &distinct).0
                - log_likelihood_and_gradient(&down, &rows, &distinct).0)
                / (2.0 * h);
            assert!(
                (analytic - numerical).abs() <= 1e-7 * numerical.abs().max(1.0),
                "parameter {i}: {analytic} vs {numerical}"
            );
        }
    }

    /// The grid (shared ₂F₁ per (x, T)) gives what each history's own prediction gives.
    #[test]
    fn grid_matches_single_predictions() {
        let model = BgNbd {
            r: 0.25,
            alpha: 4.8,
            a: 0.72,
            b: 2.16,
            log_likelihood: 0.0,
        };
        let histories: Vec<CustomerSummary> = [(0, 0.0, 30.0), (2, 10.0, 30.0), (2, 20.0, 30.0)]
            .iter()
            .map(|&(frequency, recency, age)| CustomerSummary {
                customer: 0,
                frequency,
                recency,
                age,
                monetary_value: 0.0,
            })
            .collect();
        let horizons = [1.0, 13.5, 52.0];
        let grid = model.expected_purchases_grid(&histories, &horizons);
        for (i, c) in histories.iter().enumerate() {
            for (j, &t) in horizons.iter().enumerate() {
                let single = model.expected_purchases(c, t);
                assert!(
                    (grid[i * 3 + j] - single).abs() <= 1e-15 * single,
                    "{c:?} at {t}"
                );
            }
        }
    }
}
