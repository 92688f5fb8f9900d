//! Pareto/NBD (Schmittlein, Morrison & Colombo 1987; likelihood of Fader, Hardie & Lee 2005):
//! while alive a customer buys as a Poisson process with rate λ ~ Gamma(r, α) and dies after an
//! exponential lifetime with rate μ ~ Gamma(s, β). The likelihood needs ₂F₁, taken where its
//! argument is smallest (the α ≥ β / α < β split of the paper) and combined in log space, as
//! in `lifetimes.ParetoNBDFitter`.

use super::likelihood_rows::{self, WeightedRow};
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
        let customers = rows.iter().map(|row| row.weight).sum::<f64>();
        let mean_age = rows.iter().map(|row| row.age * row.weight).sum::<f64>() / customers;
        let starts = [
            vec![1.0, mean_age, 1.0, mean_age],
            vec![0.3, mean_age / 4.0, 0.5, 2.0 * mean_age],
        ];
        let parameters = fit_positive_parameters("Pareto/NBD", &starts, |p| {
            total_log_likelihood(p, &rows) / customers
        })?;
        Ok(ParetoNbd {
            r: parameters[0],
            alpha: parameters[1],
            s: parameters[2],
            beta: parameters[3],
            log_likelihood: total_log_likelihood(&parameters, &rows),
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
        Ok(ParetoNbd {
            r,
            alpha,
            s,
            beta,
            log_likelihood: total_log_likelihood(&[r, alpha, s, beta], &rows),
        })
    }

    fn parameters(&self) -> [f64; 4] {
        [self.r, self.alpha, self.s, self.beta]
    }
}

/// ln A₀ of the paper: the part of the likelihood from dying between the last purchase and T.
fn log_a0(parameters: &[f64], x: f64, t_x: f64, age: f64) -> f64 {
    let larger = parameters[1].max(parameters[3]);
    log_a0_given(parameters, x, t_x, age, (larger + age).ln())
}

/// [`log_a0`] with ln(max(α, β) + T) supplied, since the likelihood needs that logarithm too.
/// A₀ = F(z₁)/(L + t_x)^(r+s+x) − F(z₂)/(L + T)^(r+s+x) is factored as
/// (L + t_x)^−(r+s+x) · (F(z₁) − F(z₂) · ((L + t_x)/(L + T))^(r+s+x)): three logarithms and one
/// exponential per row instead of the six logarithms and an expm1 of taking each part's log.
fn log_a0_given(parameters: &[f64], x: f64, t_x: f64, age: f64, ln_larger_age: f64) -> f64 {
    let (r, alpha, s, beta) = (parameters[0], parameters[1], parameters[2], parameters[3]);
    let (smaller, larger, second_argument) = if alpha < beta {
        (alpha, beta, r + x)
    } else {
        (beta, alpha, s + 1.0)
    };
    let rsx = r + s + x;
    let gap = larger - smaller;
    let ln_larger_last = (larger + t_x).ln();
    let at_last_purchase = hyp2f1(rsx, second_argument, rsx + 1.0, gap / (larger + t_x));
    let at_end = hyp2f1(rsx, second_argument, rsx + 1.0, gap / (larger + age));
    let discount = (rsx * (ln_larger_last - ln_larger_age)).exp();
    // t_x ≤ T makes the difference ≥ 0 (0 when t_x = T); the clamp keeps a rounding error
    // there from turning into a NaN.
    let difference = (at_last_purchase - at_end * discount).max(0.0);
    difference.ln() - rsx * ln_larger_last
}

/// Log-likelihood of one customer; `ln_gamma_r_x` is ln Γ(r + x), `ln_rsx_over_s` is
/// ln((r + s + x) / s), both from per-evaluation tables.
fn log_likelihood_row(
    parameters: &[f64],
    (x, t_x, age): (f64, f64, f64),
    constant: f64,
    ln_gamma_r_x: f64,
    ln_rsx_over_s: f64,
) -> f64 {
    let (r, alpha, s, beta) = (parameters[0], parameters[1], parameters[2], parameters[3]);
    let (ln_alpha_age, ln_beta_age) = ((alpha + age).ln(), (beta + age).ln());
    let ln_larger_age = if alpha < beta {
        ln_beta_age
    } else {
        ln_alpha_age
    };
    let alive_at_end = -(r + x) * ln_alpha_age - s * ln_beta_age;
    let died_before_end = log_a0_given(parameters, x, t_x, age, ln_larger_age) - ln_rsx_over_s;
    ln_gamma_r_x + constant + log_add_exp(alive_at_end, died_before_end)
}

/// −ln Γ(r) + r ln α + s ln β: the part of every row that depends only on the parameters.
fn constant_term(parameters: &[f64]) -> f64 {
    let (r, alpha, s, beta) = (parameters[0], parameters[1], parameters[2], parameters[3]);
    -ln_gamma(r) + r * alpha.ln() + s * beta.ln()
}

fn total_log_likelihood(parameters: &[f64], rows: &[WeightedRow]) -> f64 {
    let constant = constant_term(parameters);
    let max_count = rows
        .iter()
        .map(|row| row.frequency as usize)
        .max()
        .unwrap_or(0);
    let ln_gamma_r = ln_gamma_steps(parameters[0], max_count);
    // ln(r + s + x) for every count x, one logarithm per count instead of per row.
    let rs = parameters[0] + parameters[2];
    let ln_rsx: Vec<f64> = (0..=max_count).map(|x| (rs + x as f64).ln()).collect();
    let ln_s = parameters[2].ln();
    likelihood_rows::weighted_sum(rows, |row| {
        let count = row.frequency as usize;
        log_likelihood_row(
            parameters,
            (row.frequency, row.recency, row.age),
            constant,
            ln_gamma_r[count],
            ln_rsx[count] - ln_s,
        )
    })
}

impl PurchaseModel for ParetoNbd {
    fn probability_alive(&self, c: &CustomerSummary) -> f64 {
        let [r, alpha, s, beta] = self.parameters();
        let x = f64::from(c.frequency);
        let log_odds_dead = s.ln() - (r + s + x).ln()
            + (r + x) * (alpha + c.age).ln()
            + s * (beta + c.age).ln()
            + log_a0(&self.parameters(), x, c.recency, c.age);
        1.0 / (1.0 + log_odds_dead.exp())
    }

    fn expected_purchases(&self, c: &CustomerSummary, t: f64) -> f64 {
        let parameters = self.parameters();
        let [r, alpha, s, beta] = parameters;
        let x = f64::from(c.frequency);
        let likelihood = log_likelihood_row(
            &parameters,
            (x, c.recency, c.age),
            constant_term(&parameters),
            ln_gamma(r + x),
            (r + s + x).ln() - s.ln(),
        );
        let alive_part = ln_gamma(r + x) - ln_gamma(r) + r * alpha.ln() + s * beta.ln()
            - (r + x) * (alpha + c.age).ln()
            - s * (beta + c.age).ln();
        let rate = (r + x).ln() + (beta + c.age).ln() - (alpha + c.age).ln();
        // ∫ survival over (T, T + t]; its s → 1 limit is a logarithm.
        let ratio = (beta + c.age) / (beta + c.age + t);
        let survival = if (s - 1.0).abs() < 1e-10 {
            -ratio.ln()
        } else {
            (1.0 - ratio.powf(s - 1.0)) / (s - 1.0)
        };
        (alive_part + rate + survival.ln() - likelihood).exp()
    }

    fn log_likelihood(&self) -> f64 {
        self.log_likelihood
    }
}
