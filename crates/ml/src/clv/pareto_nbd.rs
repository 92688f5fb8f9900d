//! Pareto/NBD (Schmittlein, Morrison & Colombo 1987; likelihood of Fader, Hardie & Lee 2005):
//! while alive a customer buys as a Poisson process with rate λ ~ Gamma(r, α) and dies after an
//! exponential lifetime with rate μ ~ Gamma(s, β). The likelihood needs ₂F₁, taken where its
//! argument is smallest (the α ≥ β / α < β split of the paper) and combined in log space, as
//! in `lifetimes.ParetoNBDFitter`.

use super::likelihood_rows::{self, Distinct, WeightedRow};
use super::optimize::fit_positive_parameters;
use super::special::{hyp2f1, ln_gamma, ln_gamma_steps, log_add_exp};
use super::{ClvError, CustomerSummary, PurchaseModel};

/// Fitted Pareto/NBD parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ParetoNbd {
    pub r: f64,
    pub alpha: f64,
    pub s: f64,
    pub beta: f64,
    /// Total log-likelihood of the calibration data at these parameters.
    pub log_likelihood: f64,
}

impl ParetoNbd {
    /// Maximum-likelihood fit on the calibration summaries.
    pub fn fit(customers: &[CustomerSummary]) -> Result<Self, ClvError> {
        let rows = likelihood_rows::group(customers)?;
        let distinct = Distinct::of(&rows);
        let customers = rows.iter().map(|row| row.weight).sum::<f64>();
        let mean_age = rows.iter().map(|row| row.age * row.weight).sum::<f64>() / customers;
        let starts = [
            vec![1.0, mean_age, 1.0, mean_age],
            vec![0.3, mean_age / 4.0, 0.5, 2.0 * mean_age],
        ];
        let parameters = fit_positive_parameters("Pareto/NBD", &starts, |p| {
            total_log_likelihood(p, &rows, &distinct) / customers
        })?;
        Ok(ParetoNbd {
            r: parameters[0],
            alpha: parameters[1],
            s: parameters[2],
            beta: parameters[3],
            log_likelihood: total_log_likelihood(&parameters, &rows, &distinct),
        })
    }

    /// Builds a model from known parameters, with its log-likelihood on `customers`.
    pub fn with_parameters(
        r: f64,
        alpha: f64,
        s: f64,
        beta: f64,
        customers: &[CustomerSummary],
    ) -> Result<Self, ClvError> {
        let rows = likelihood_rows::group(customers)?;
        let distinct = Distinct::of(&rows);
        Ok(ParetoNbd {
            r,
            alpha,
            s,
            beta,
            log_likelihood: total_log_likelihood(&[r, alpha, s, beta], &rows, &distinct),
        })
    }

    fn parameters(&self) -> [f64; 4] {
        [self.r, self.alpha, self.s, self.beta]
    }

    /// E[Y(t) | x, t_x, T] = scale · ∫ survival over (T, T + t], the scale being
    /// P(alive) × the expected rate, which does not depend on the horizon.
    fn purchases_scale(&self, c: &CustomerSummary) -> f64 {
        let parameters = self.parameters();
        let [r, alpha, s, beta] = parameters;
        let x = f64::from(c.frequency);
        let likelihood = log_likelihood_row(
            &parameters,
            x,
            &RowParts::direct(&parameters, x, c.recency, c.age),
            constant_term(&parameters),
            ln_gamma(r + x),
            (r + s + x).ln() - s.ln(),
        );
        let alive_part = ln_gamma(r + x) - ln_gamma(r) + r * alpha.ln() + s * beta.ln()
            - (r + x) * (alpha + c.age).ln()
            - s * (beta + c.age).ln();
        let rate = (r + x).ln() + (beta + c.age).ln() - (alpha + c.age).ln();
        (alive_part + rate - likelihood).exp()
    }

    /// ∫ survival over (T, T + t] (per unit of μ's scale); its s → 1 limit is a logarithm.
    fn survival_integral(&self, age: f64, t: f64) -> f64 {
        let (s, beta) = (self.s, self.beta);
        let ratio = (beta + age) / (beta + age + t);
        if (s - 1.0).abs() < 1e-10 {
            -ratio.ln()
        } else {
            (1.0 - ratio.powf(s - 1.0)) / (s - 1.0)
        }
    }
}

/// The per-customer quantities the likelihood needs, each depending on the parameters and on
/// only one of T, t_x, (x, T) or (x, t_x): the fit computes each once per distinct value
/// ([`Distinct`]), a prediction directly ([`RowParts::direct`]).
struct RowParts {
    ln_alpha_age: f64,
    ln_beta_age: f64,
    /// ln(max(α, β) + t_x)
    ln_larger_last: f64,
    /// ₂F₁ of A₀ at t_x and at T.
    hyp_last: f64,
    hyp_end: f64,
}

impl RowParts {
    fn direct(parameters: &[f64], x: f64, t_x: f64, age: f64) -> Self {
        let larger = parameters[1].max(parameters[3]);
        RowParts {
            ln_alpha_age: (parameters[1] + age).ln(),
            ln_beta_age: (parameters[3] + age).ln(),
            ln_larger_last: (larger + t_x).ln(),
            hyp_last: a0_hyp2f1(parameters, x, t_x),
            hyp_end: a0_hyp2f1(parameters, x, age),
        }
    }
}

/// The ₂F₁ of A₀ at time `point` (t_x or T), taken where its argument is smallest.
fn a0_hyp2f1(parameters: &[f64], x: f64, point: f64) -> f64 {
    let (r, alpha, s, beta) = (parameters[0], parameters[1], parameters[2], parameters[3]);
    let (smaller, larger, second_argument) = if alpha < beta {
        (alpha, beta, r + x)
    } else {
        (beta, alpha, s + 1.0)
    };
    let rsx = r + s + x;
    hyp2f1(
        rsx,
        second_argument,
        rsx + 1.0,
        (larger - smaller) / (larger + point),
    )
}

/// ln A₀ of the paper: the part of the likelihood from dying between the last purchase and T.
/// A₀ = F(z₁)/(L + t_x)^(r+s+x) − F(z₂)/(L + T)^(r+s+x) (L = max(α, β)) is factored as
/// (L + t_x)^−(r+s+x) · (F(z₁) − F(z₂) · ((L + t_x)/(L + T))^(r+s+x)): one logarithm and one
/// exponential per customer beyond the parts.
fn log_a0(parameters: &[f64], x: f64, parts: &RowParts) -> f64 {
    let (alpha, beta) = (parameters[1], parameters[3]);
    let rsx = parameters[0] + parameters[2] + x;
    let ln_larger_age = if alpha < beta {
        parts.ln_beta_age
    } else {
        parts.ln_alpha_age
    };
    let discount = (rsx * (parts.ln_larger_last - ln_larger_age)).exp();
    // t_x ≤ T makes the difference ≥ 0 (0 when t_x = T); the clamp keeps a rounding error
    // there from turning into a NaN.
    let difference = (parts.hyp_last - parts.hyp_end * discount).max(0.0);
    difference.ln() - rsx * parts.ln_larger_last
}

/// Log-likelihood of one customer; `ln_gamma_r_x` is ln Γ(r + x), `ln_rsx_over_s` is
/// ln((r + s + x) / s), both from per-evaluation tables in the fit.
fn log_likelihood_row(
    parameters: &[f64],
    x: f64,
    parts: &RowParts,
    constant: f64,
    ln_gamma_r_x: f64,
    ln_rsx_over_s: f64,
) -> f64 {
    let (r, s) = (parameters[0], parameters[2]);
    let alive_at_end = -(r + x) * parts.ln_alpha_age - s * parts.ln_beta_age;
    let died_before_end = log_a0(parameters, x, parts) - ln_rsx_over_s;
    ln_gamma_r_x + constant + log_add_exp(alive_at_end, died_before_end)
}

/// −ln Γ(r) + r ln α + s ln β: the part of every row that depends only on the parameters.
fn constant_term(parameters: &[f64]) -> f64 {
    let (r, alpha, s, beta) = (parameters[0], parameters[1], parameters[2], parameters[3]);
    -ln_gamma(r) + r * alpha.ln() + s * beta.ln()
}

fn total_log_likelihood(parameters: &[f64], rows: &[WeightedRow], distinct: &Distinct) -> f64 {
    let constant = constant_term(parameters);
    let max_count = rows
        .iter()
        .map(|row| row.frequency as usize)
        .max()
        .unwrap_or(0);
    let ln_gamma_r = ln_gamma_steps(parameters[0], max_count);
    let (r, alpha, s, beta) = (parameters[0], parameters[1], parameters[2], parameters[3]);
    let larger = alpha.max(beta);
    let (ln_s, rs) = (s.ln(), r + s);
    // Everything below depends on one distinct value each: computed once per value.
    let ln_rsx_over_s: Vec<f64> = (0..=max_count)
        .map(|x| (rs + x as f64).ln() - ln_s)
        .collect();
    let ln_ages =
        |shift: f64| -> Vec<f64> { distinct.ages.iter().map(|t| (shift + t).ln()).collect() };
    let (ln_alpha_age, ln_beta_age) = (ln_ages(alpha), ln_ages(beta));
    let ln_larger_last: Vec<f64> = distinct
        .recencies
        .iter()
        .map(|t_x| (larger + t_x).ln())
        .collect();
    let hyp = |pairs: &[(f64, f64)]| -> Vec<f64> {
        pairs
            .iter()
            .map(|&(x, point)| a0_hyp2f1(parameters, x, point))
            .collect()
    };
    let hyp_last = hyp(&distinct.counts_and_recencies);
    let hyp_end = hyp(&distinct.counts_and_ages);
    rows.iter()
        .zip(&distinct.rows)
        .map(|(row, index)| {
            let count = row.frequency as usize;
            let parts = RowParts {
                ln_alpha_age: ln_alpha_age[index.age],
                ln_beta_age: ln_beta_age[index.age],
                ln_larger_last: ln_larger_last[index.recency],
                hyp_last: hyp_last[index.count_and_recency],
                hyp_end: hyp_end[index.count_and_age],
            };
            row.weight
                * log_likelihood_row(
                    parameters,
                    row.frequency,
                    &parts,
                    constant,
                    ln_gamma_r[count],
                    ln_rsx_over_s[count],
                )
        })
        .sum()
}

impl PurchaseModel for ParetoNbd {
    fn probability_alive(&self, c: &CustomerSummary) -> f64 {
        let [r, alpha, s, beta] = self.parameters();
        let x = f64::from(c.frequency);
        let log_odds_dead = s.ln() - (r + s + x).ln()
            + (r + x) * (alpha + c.age).ln()
            + s * (beta + c.age).ln()
            + log_a0(
                &self.parameters(),
                x,
                &RowParts::direct(&self.parameters(), x, c.recency, c.age),
            );
        1.0 / (1.0 + log_odds_dead.exp())
    }

    fn expected_purchases(&self, c: &CustomerSummary, t: f64) -> f64 {
        self.expected_purchases_at(c, &[t])[0]
    }

    /// Only the survival integral depends on the horizon: the likelihood and the rate (two
    /// ₂F₁ and several logarithms) are computed once for all horizons.
    fn expected_purchases_at(&self, c: &CustomerSummary, horizons: &[f64]) -> Vec<f64> {
        let scale = self.purchases_scale(c);
        horizons
            .iter()
            .map(|&t| scale * self.survival_integral(c.age, t))
            .collect()
    }

    /// The survival integral depends on a history only through T: computed once per distinct
    /// T and horizon (CDNOW: 84 ages for 8,685 histories), the rest once per history.
    fn expected_purchases_grid(&self, histories: &[CustomerSummary], horizons: &[f64]) -> Vec<f64> {
        let width = horizons.len();
        let mut grid = vec![0.0; histories.len() * width];
        let mut order: Vec<usize> = (0..histories.len()).collect();
        order.sort_unstable_by_key(|&i| histories[i].age.to_bits());
        let mut survival = vec![0.0; width];
        let mut previous = None;
        for i in order {
            let c = &histories[i];
            if previous != Some(c.age.to_bits()) {
                for (value, &t) in survival.iter_mut().zip(horizons) {
                    *value = self.survival_integral(c.age, t);
                }
                previous = Some(c.age.to_bits());
            }
            let scale = self.purchases_scale(c);
            for (cell, value) in grid[i * width..(i + 1) * width].iter_mut().zip(&survival) {
                *cell = scale * value;
            }
        }
        grid
    }

    fn log_likelihood(&self) -> f64 {
        self.log_likelihood
    }
}
