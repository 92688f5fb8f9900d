//! Pareto/NBD (Schmittlein, Morrison & Colombo 1987; likelihood of Fader, Hardie & Lee 2005):
//! while alive a customer buys as a Poisson process with rate λ ~ Gamma(r, α) and dies after an
//! exponential lifetime with rate μ ~ Gamma(s, β). The likelihood needs ₂F₁, taken where its
//! argument is smallest (the α ≥ β / α < β split of the paper) and combined in log space, as
//! in `lifetimes.ParetoNBDFitter`.

use super::likelihood_rows::{self, Distinct, WeightedRow};
use super::optimize::fit_positive_parameters;
use super::{BgNbd, ClvError, CustomerSummary, PurchaseModel};
use crate::special::{
    digamma_steps, hyp2f1_shifted, hyp2f1_shifted_with_derivatives, ln_gamma, ln_gamma_steps,
    log_add_exp, log_add_exp_with_share,
};

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
        Self::fit_from(customers, None)
    }

    /// [`fit`](Self::fit) starting the purchase-rate parameters (r, α) from another fit's on
    /// the same customers — BG/NBD's: both models give the rate the same Gamma(r, α)
    /// heterogeneity, so its estimate is closer than a generic start (CDNOW: 31 → 24
    /// evaluations). The generic starts remain the fallbacks.
    pub fn fit_starting_from(
        customers: &[CustomerSummary],
        purchase_rate: &BgNbd,
    ) -> Result<Self, ClvError> {
        Self::fit_from(customers, Some((purchase_rate.r, purchase_rate.alpha)))
    }

    fn fit_from(
        customers: &[CustomerSummary],
        purchase_rate: Option<(f64, f64)>,
    ) -> Result<Self, ClvError> {
        let rows = likelihood_rows::group(customers)?;
        let distinct = Distinct::of(&rows);
        let customers = rows.iter().map(|row| row.weight).sum::<f64>();
        let mean_age = rows.iter().map(|row| row.age * row.weight).sum::<f64>() / customers;
        let mut starts = vec![
            vec![1.0, mean_age, 1.0, mean_age],
            vec![0.3, mean_age / 4.0, 0.5, 2.0 * mean_age],
        ];
        if let Some((r, alpha)) = purchase_rate
            && r.is_finite()
            && alpha.is_finite()
            && r > 0.0
            && alpha > 0.0
        {
            starts.insert(0, vec![r, alpha, 1.0, mean_age]);
        }
        let parameters = fit_positive_parameters("Pareto/NBD", &starts, |p| {
            let (value, gradient) = log_likelihood_and_gradient(p, &rows, &distinct);
            (
                value / customers,
                gradient.iter().map(|g| g / customers).collect(),
            )
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
    hyp2f1_shifted(
        r + s + x,
        second_argument,
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
    log_likelihood_and_gradient(parameters, rows, distinct).0
}

/// The ₂F₁ of A₀ at (x, `point`) as [`a0_hyp2f1`] takes it, with its gradient with respect to
/// (r, α, s, β).
fn a0_hyp2f1_with_gradient(parameters: &[f64], x: f64, point: f64) -> (f64, [f64; 4]) {
    let (r, alpha, s, beta) = (parameters[0], parameters[1], parameters[2], parameters[3]);
    let alpha_smaller = alpha < beta;
    let (smaller, larger, second_argument) = if alpha_smaller {
        (alpha, beta, r + x)
    } else {
        (beta, alpha, s + 1.0)
    };
    let distance = larger + point;
    let [value, by_a, by_b, by_z] =
        hyp2f1_shifted_with_derivatives(r + s + x, second_argument, (larger - smaller) / distance);
    // z = (L − S)/(L + t): ∂z/∂L = (S + t)/(L + t)², ∂z/∂S = −1/(L + t).
    let (by_larger, by_smaller) = (
        by_z * (smaller + point) / (distance * distance),
        -by_z / distance,
    );
    // The first argument is r + s + x; the second r + x when α < β, else s + 1.
    let gradient = if alpha_smaller {
        [by_a + by_b, by_smaller, by_a, by_larger]
    } else {
        [by_a, by_larger, by_a + by_b, by_smaller]
    };
    (value, gradient)
}

/// The total log-likelihood and its gradient with respect to (r, α, s, β).
fn log_likelihood_and_gradient(
    parameters: &[f64],
    rows: &[WeightedRow],
    distinct: &Distinct,
) -> (f64, Vec<f64>) {
    let constant = constant_term(parameters);
    let max_count = rows
        .iter()
        .map(|row| row.frequency as usize)
        .max()
        .unwrap_or(0);
    let ln_gamma_r = ln_gamma_steps(parameters[0], max_count);
    let (r, alpha, s, beta) = (parameters[0], parameters[1], parameters[2], parameters[3]);
    let larger = alpha.max(beta);
    // ∂L/∂(r, α, s, β) for L = max(α, β), the shift of A₀'s times.
    let larger_is = if alpha < beta {
        [0.0, 0.0, 0.0, 1.0]
    } else {
        [0.0, 1.0, 0.0, 0.0]
    };
    let (ln_s, rs) = (s.ln(), r + s);
    // Everything below depends on one distinct value each: computed once per value.
    let ln_rsx_over_s: Vec<f64> = (0..=max_count)
        .map(|x| (rs + x as f64).ln() - ln_s)
        .collect();
    let per_age =
        |f: &dyn Fn(f64) -> f64| -> Vec<f64> { distinct.ages.iter().map(|&t| f(t)).collect() };
    let (ln_alpha_age, ln_beta_age) = (
        per_age(&|t| (alpha + t).ln()),
        per_age(&|t| (beta + t).ln()),
    );
    let (inverse_alpha_age, inverse_beta_age) = (
        per_age(&|t| 1.0 / (alpha + t)),
        per_age(&|t| 1.0 / (beta + t)),
    );
    let inverse_larger_age = per_age(&|t| 1.0 / (larger + t));
    let ln_larger_last: Vec<f64> = distinct
        .recencies
        .iter()
        .map(|t_x| (larger + t_x).ln())
        .collect();
    let inverse_larger_last: Vec<f64> = distinct
        .recencies
        .iter()
        .map(|t_x| 1.0 / (larger + t_x))
        .collect();
    let hyp = |pairs: &[(f64, f64)]| -> Vec<(f64, [f64; 4])> {
        pairs
            .iter()
            .map(|&(x, point)| a0_hyp2f1_with_gradient(parameters, x, point))
            .collect()
    };
    let hyp_last = hyp(&distinct.counts_and_recencies);
    let hyp_end = hyp(&distinct.counts_and_ages);
    let mut value = 0.0;
    let mut gradient = [0.0; 4];
    let mut weight_of_count = vec![0.0; max_count + 1];
    for (row, index) in rows.iter().zip(&distinct.rows) {
        let x = row.frequency;
        let count = row.frequency as usize;
        weight_of_count[count] += row.weight;
        let rsx = rs + x;
        let (hyp_last, by_last) = hyp_last[index.count_and_recency];
        let (hyp_end, by_end) = hyp_end[index.count_and_age];
        let parts = RowParts {
            ln_alpha_age: ln_alpha_age[index.age],
            ln_beta_age: ln_beta_age[index.age],
            ln_larger_last: ln_larger_last[index.recency],
            hyp_last,
            hyp_end,
        };
        // As log_likelihood_row, keeping the intermediate values for the gradient.
        let alive_at_end = -(r + x) * parts.ln_alpha_age - s * parts.ln_beta_age;
        let ln_larger_age = if alpha < beta {
            parts.ln_beta_age
        } else {
            parts.ln_alpha_age
        };
        let gap = parts.ln_larger_last - ln_larger_age;
        let discount = (rsx * gap).exp();
        let difference = (hyp_last - hyp_end * discount).max(0.0);
        let died_before_end = difference.ln() - rsx * parts.ln_larger_last - ln_rsx_over_s[count];
        let (log_sum, died_share) = log_add_exp_with_share(alive_at_end, died_before_end);
        value += row.weight * (ln_gamma_r[count] + constant + log_sum);

        // alive_at_end: ∂r = −ln(α+T), ∂α = −(r+x)/(α+T), ∂s = −ln(β+T), ∂β = −s/(β+T).
        let alive_weight = row.weight * (1.0 - died_share);
        gradient[0] -= alive_weight * parts.ln_alpha_age;
        gradient[1] -= alive_weight * (r + x) * inverse_alpha_age[index.age];
        gradient[2] -= alive_weight * parts.ln_beta_age;
        gradient[3] -= alive_weight * s * inverse_beta_age[index.age];
        if died_share > 0.0 {
            // died_before_end = ln(F₁ − F₂ e^{(r+s+x)(ln(L+t_x) − ln(L+T))})
            //                   − (r+s+x) ln(L+t_x) − ln(r+s+x) + ln s
            let died_weight = row.weight * died_share / difference;
            let inverse_last = inverse_larger_last[index.recency];
            let gap_by_larger = inverse_last - inverse_larger_age[index.age];
            for (k, slot) in gradient.iter_mut().enumerate() {
                let by_rsx = if k == 0 || k == 2 { 1.0 } else { 0.0 };
                let by_discount = discount * (by_rsx * gap + rsx * larger_is[k] * gap_by_larger);
                let by_difference = by_last[k] - by_end[k] * discount - hyp_end * by_discount;
                *slot += died_weight * by_difference
                    - row.weight
                        * died_share
                        * (by_rsx * (parts.ln_larger_last + 1.0 / rsx)
                            + rsx * larger_is[k] * inverse_last
                            - if k == 2 { 1.0 / s } else { 0.0 });
            }
        }
    }
    // ln Γ(r + x) − ln Γ(r) + r ln α + s ln β, by count: ∂r = ψ(r + x) − ψ(r) + ln α,
    // ∂α = r/α, ∂s = ln β, ∂β = s/β.
    let psi_r = digamma_steps(r, max_count);
    for (count, weight) in weight_of_count.iter().enumerate() {
        gradient[0] += weight * (psi_r[count] - psi_r[0] + alpha.ln());
        gradient[1] += weight * r / alpha;
        gradient[2] += weight * beta.ln();
        gradient[3] += weight * s / beta;
    }
    (value, gradient.to_vec())
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

#[cfg(test)]
mod tests {
    use super::*;

    /// α/β beyond 100 puts A₀'s ₂F₁ argument (α − β)/(α + t_x) past the series' limit for
    /// customers with t_x ≈ 0: the 1 − z transformation still gives a likelihood.
    #[test]
    fn far_apart_alpha_and_beta_still_have_a_likelihood() {
        let customers: Vec<CustomerSummary> = [(0, 0.0, 30.0), (3, 0.5, 30.0), (2, 12.0, 20.0)]
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
        let model = ParetoNbd::with_parameters(0.6, 5_000.0, 0.52, 8.8, &customers)
            .expect("valid summaries");
        assert!(model.log_likelihood.is_finite(), "{model:?}");
        let nearby = ParetoNbd::with_parameters(0.6, 5_000.0 * (1.0 + 1e-9), 0.52, 8.8, &customers)
            .expect("valid summaries");
        assert!((model.log_likelihood - nearby.log_likelihood).abs() < 1e-6);
        for c in &customers {
            let alive = model.probability_alive(c);
            assert!((0.0..=1.0).contains(&alive), "{c:?}: {alive}");
        }
    }

    /// The analytic gradient against central differences, in both ₂F₁ branches (α > β,
    /// α < β) and at α = β, on histories with and without repeat purchases and with t_x = T.
    #[test]
    fn gradient_matches_differences() {
        let histories = [
            (0, 0.0, 30.0),
            (0, 0.0, 35.0),
            (2, 10.0, 30.0),
            (5, 28.0, 35.0),
            (1, 30.0, 30.0),
            (12, 20.5, 38.0),
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
        for parameters in [
            [0.6, 11.6, 0.52, 8.8],
            [0.6, 7.0, 0.52, 8.8],
            [0.6, 8.8, 0.52, 8.8],
        ] {
            let (_, gradient) = log_likelihood_and_gradient(&parameters, &rows, &distinct);
            for (i, analytic) in gradient.iter().enumerate() {
                let h = 1e-6 * parameters[i];
                let (mut up, mut down) = (parameters, parameters);
                up[i] += h;
                down[i] -= h;
                let numerical = (total_log_likelihood(&up, &rows, &distinct)
                    - total_log_likelihood(&down, &rows, &distinct))
                    / (2.0 * h);
                assert!(
                    (analytic - numerical).abs() <= 1e-7 * numerical.abs().max(1.0),
                    "{parameters:?}, parameter {i}: {analytic} vs {numerical}"
                );
            }
        }
    }
}
