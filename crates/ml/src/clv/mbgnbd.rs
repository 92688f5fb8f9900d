//! MBG/NBD, the modified BG/NBD (Batislam, Denizel & Filiztekin 2007, "Empirical validation
//! and comparison of models for customer base analysis"): BG/NBD with one change — a customer
//! may drop out right after *any* purchase, the first included, with probability p ~ Beta(a, b).
//! So a one-time buyer can be gone, and the longer ago their only order, the likelier: their
//! P(alive) falls with T, where BG/NBD's stays 1. Likelihood, P(alive) and conditional
//! expectations as `lifetimes.ModifiedBetaGeoFitter` computes them.

use super::beta_geometric;
use super::likelihood_rows::{Distinct, WeightedRow};
use super::{ClvError, CustomerSummary, PurchaseModel};
use crate::special::{digamma, ln_gamma, log_add_exp_with_share};

/// Fitted MBG/NBD parameters (the same roles as BG/NBD's).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ModifiedBgNbd {
    pub r: f64,
    pub alpha: f64,
    pub a: f64,
    pub b: f64,
    /// Total log-likelihood of the calibration data at these parameters.
    pub log_likelihood: f64,
}

impl ModifiedBgNbd {
    /// Maximum-likelihood fit on the calibration summaries.
    pub fn fit(customers: &[CustomerSummary]) -> Result<Self, ClvError> {
        let ([r, alpha, a, b], log_likelihood) =
            beta_geometric::fit("MBG/NBD", customers, log_likelihood_and_gradient)?;
        Ok(ModifiedBgNbd {
            r,
            alpha,
            a,
            b,
            log_likelihood,
        })
    }

    /// Builds a model from known parameters (e.g. another implementation's fit), with its
    /// log-likelihood on `customers`.
    pub fn with_parameters(
        r: f64,
        alpha: f64,
        a: f64,
        b: f64,
        customers: &[CustomerSummary],
    ) -> Result<Self, ClvError> {
        Ok(ModifiedBgNbd {
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

    /// The horizon-free part of E[Y(t) | x, t_x, T]:
    /// (a+b+x)/(a−1) / (1 + a/(b+x) · ((α+T)/(α+t_x))^(r+x)).
    fn purchases_scale(&self, c: &CustomerSummary) -> f64 {
        let x = f64::from(c.frequency);
        (self.a + self.b + x) / (self.a - 1.0) * self.probability_alive(c)
    }

    /// 1 − ((α+T)/(α+T+t))^(r+x) ₂F₁(r+x, b+x+1; a+b+x; t/(α+T+t)): depends on the history
    /// only through x and T.
    fn not_dropped_part(&self, x: f64, age: f64, t: f64) -> f64 {
        let (r, a, b) = (self.r, self.a, self.b);
        beta_geometric::not_dropped(r + x, self.alpha, age, t, [r + x, b + x + 1.0, a + b + x])
    }
}

/// The total log-likelihood and its gradient with respect to (r, α, a, b). Per customer,
/// ln Γ(r+x) − ln Γ(r) + r ln α + ln B(a, b+x+1) − ln B(a, b) − (r+x) ln(α+T) plus
/// ln(1 + a/(b+x) · ((α+T)/(α+t_x))^(r+x)); that last term is the chance of having dropped
/// out right after the last purchase, present for x = 0 too (the difference from BG/NBD).
fn log_likelihood_and_gradient(
    parameters: &[f64],
    rows: &[WeightedRow],
    distinct: &Distinct,
) -> (f64, Vec<f64>) {
    let (r, alpha, a, b) = (parameters[0], parameters[1], parameters[2], parameters[3]);
    let constant = -ln_gamma(r) + r * alpha.ln() + ln_gamma(a + b) - ln_gamma(b);
    let (psi_r, psi_b, psi_ab) = (digamma(r), digamma(b), digamma(a + b));
    let ln_alpha_age: Vec<f64> = distinct.ages.iter().map(|t| (alpha + t).ln()).collect();
    let ln_alpha_last: Vec<f64> = distinct
        .recencies
        .iter()
        .map(|t| (alpha + t).ln())
        .collect();
    let mut value = 0.0;
    let mut gradient = [0.0; 4];
    for (row, index) in rows.iter().zip(&distinct.rows) {
        let (x, w) = (row.frequency, row.weight);
        let (ln_age, ln_last) = (ln_alpha_age[index.age], ln_alpha_last[index.recency]);
        let common = ln_gamma(r + x) + ln_gamma(b + x + 1.0) - ln_gamma(a + b + x + 1.0);
        let still_alive = -(r + x) * ln_age;
        let dropped_after_last = a.ln() - (b + x).ln() - (r + x) * ln_last;
        let (log_sum, dropped) = log_add_exp_with_share(still_alive, dropped_after_last);
        value += w * (constant + common + log_sum);
        let alive = 1.0 - dropped;
        gradient[0] +=
            w * (digamma(r + x) - psi_r + alpha.ln() - alive * ln_age - dropped * ln_last);
        gradient[1] += w
            * (r / alpha
                - (r + x)
                    * (alive / (alpha + distinct.ages[index.age])
                        + dropped / (alpha + distinct.recencies[index.recency])));
        let psi_abx = digamma(a + b + x + 1.0);
        gradient[2] += w * (psi_ab - psi_abx + dropped / a);
        gradient[3] += w * (psi_ab + digamma(b + x + 1.0) - psi_b - psi_abx - dropped / (b + x));
    }
    (value, gradient.to_vec())
}

impl PurchaseModel for ModifiedBgNbd {
    /// 1 / (1 + a/(b+x) · ((α+T)/(α+t_x))^(r+x)), for one-time buyers (x = 0, t_x = 0) too.
    fn probability_alive(&self, c: &CustomerSummary) -> f64 {
        let x = f64::from(c.frequency);
        let log_odds_dead = (self.r + x) * ((self.alpha + c.age) / (self.alpha + c.recency)).ln()
            + (self.a / (self.b + x)).ln();
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

    /// The ₂F₁ part is computed once per distinct (x, T) and horizon, as for BG/NBD.
    fn expected_purchases_grid(&self, histories: &[CustomerSummary], horizons: &[f64]) -> Vec<f64> {
        super::bgnbd::grid_by_count_and_age(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clv::likelihood_rows;

    fn summaries(histories: &[(u32, f64, f64)]) -> Vec<CustomerSummary> {
        histories
            .iter()
            .enumerate()
            .map(|(i, &(frequency, recency, age))| CustomerSummary {
                customer: i as u64,
                frequency,
                recency,
                age,
                monetary_value: 0.0,
            })
            .collect()
    }

    #[test]
    fn gradient_matches_differences() {
        let customers = summaries(&[
            (0, 0.0, 30.0),
            (2, 10.0, 30.0),
            (5, 28.0, 35.0),
            (1, 30.0, 30.0),
        ]);
        let rows = likelihood_rows::group(&customers).expect("valid summaries");
        let distinct = Distinct::of(&rows);
        let parameters = [0.25, 4.8, 0.72, 2.16];
        let total = |p: &[f64]| log_likelihood_and_gradient(p, &rows, &distinct).0;
        let (_, gradient) = log_likelihood_and_gradient(&parameters, &rows, &distinct);
        for (i, analytic) in gradient.iter().enumerate() {
            let h = 1e-6 * parameters[i];
            let (mut up, mut down) = (parameters, parameters);
            up[i] += h;
            down[i] -= h;
            let numerical = (total(&up) - total(&down)) / (2.0 * h);
            assert!(
                (analytic - numerical).abs() <= 1e-6 * numerical.abs().max(1.0),
                "parameter {i}: {analytic} vs {numerical}"
            );
        }
    }

    /// The point of the model: a one-time buyer's P(alive) falls the longer ago their order.
    #[test]
    fn one_time_buyers_churn_grows_with_time_since_their_order() {
        let model = ModifiedBgNbd {
            r: 0.25,
            alpha: 4.8,
            a: 0.72,
            b: 2.16,
            log_likelihood: 0.0,
        };
        let risks: Vec<f64> =
            summaries(&[(0, 0.0, 1.0), (0, 0.0, 8.0), (0, 0.0, 20.0), (0, 0.0, 52.0)])
                .iter()
                .map(|c| model.churn_risk(c))
                .collect();
        assert!(risks[0] > 0.0, "{risks:?}");
        assert!(risks.windows(2).all(|w| w[0] < w[1]), "{risks:?}");
    }

    #[test]
    fn grid_matches_single_predictions() {
        let model = ModifiedBgNbd {
            r: 0.25,
            alpha: 4.8,
            a: 0.72,
            b: 2.16,
            log_likelihood: 0.0,
        };
        let histories = summaries(&[(0, 0.0, 30.0), (2, 10.0, 30.0), (2, 20.0, 30.0)]);
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
