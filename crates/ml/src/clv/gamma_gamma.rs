//! Gamma-Gamma (Fader & Hardie 2013, "The Gamma-Gamma Model of Monetary Value"): a customer's
//! purchase values are Gamma(p, ν) with ν ~ Gamma(q, γ) across customers, independent of how
//! often they buy. Fitted on customers with at least one repeat purchase, as the model's mean
//! spend is that of repeat purchases; `lifetimes.GammaGammaFitter` semantics.

use super::optimize::fit_positive_parameters;
use super::{ClvError, CustomerSummary};
use crate::special::{digamma, ln_gamma};

/// Fitted Gamma-Gamma parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GammaGamma {
    pub p: f64,
    pub q: f64,
    pub gamma: f64,
    /// Total log-likelihood of the fitted customers' mean spends.
    pub log_likelihood: f64,
    /// Customers the fit used: frequency > 0 and a positive mean spend.
    pub customers: usize,
}

impl GammaGamma {
    /// Maximum-likelihood fit on the customers with repeat purchases and a positive mean spend;
    /// the others carry no information about spend per purchase and are left out.
    pub fn fit(customers: &[CustomerSummary]) -> Result<Self, ClvError> {
        let spenders = spenders(customers);
        if spenders.is_empty() {
            return Err(ClvError::NoData(
                "Gamma-Gamma needs customers with a repeat purchase of positive value",
            ));
        }
        let count = spenders.len() as f64;
        let mean_spend = spenders.iter().map(|s| s.mean).sum::<f64>() / count;
        let starts = [vec![1.0, 1.0, 1.0], vec![5.0, 3.0, mean_spend]];
        let parameters = fit_positive_parameters("Gamma-Gamma", &starts, |p| {
            let (value, gradient) = log_likelihood_and_gradient(p, &spenders);
            (value / count, gradient.iter().map(|g| g / count).collect())
        })?;
        Ok(GammaGamma {
            p: parameters[0],
            q: parameters[1],
            gamma: parameters[2],
            log_likelihood: total_log_likelihood(&parameters, &spenders),
            customers: spenders.len(),
        })
    }

    /// Builds a model from known parameters (e.g. another implementation's fit), with its
    /// log-likelihood on the `customers` a fit would use.
    pub fn with_parameters(p: f64, q: f64, gamma: f64, customers: &[CustomerSummary]) -> Self {
        let spenders = spenders(customers);
        GammaGamma {
            p,
            q,
            gamma,
            log_likelihood: total_log_likelihood(&[p, q, gamma], &spenders),
            customers: spenders.len(),
        }
    }

    /// Expected mean spend per purchase of this customer: a credibility-weighted blend of the
    /// population mean and their own mean, weighted by how many repeat purchases back it.
    /// Customers without repeat purchases get the population mean.
    pub fn expected_average_spend(&self, c: &CustomerSummary) -> Result<f64, ClvError> {
        if self.q <= 1.0 {
            return Err(ClvError::UndefinedPrediction(
                "the Gamma-Gamma population mean spend needs q > 1",
            ));
        }
        let x = f64::from(c.frequency);
        let individual_weight = self.p * x / (self.p * x + self.q - 1.0);
        let population_mean = self.gamma * self.p / (self.q - 1.0);
        Ok((1.0 - individual_weight) * population_mean + individual_weight * c.monetary_value)
    }

    /// Expected spend per purchase of a one-time buyer from their first order: the first
    /// order counts as one observation of their spend, shrunk towards the population mean
    /// with the weight Gamma-Gamma gives one purchase, p / (p + q − 1) (CDNOW: 0.70). The fit
    /// itself leaves first orders out (lifetimes' convention, as first orders can differ from
    /// later ones); using one here is Tailor's choice, so that a $200 first order predicts
    /// more than a $20 one instead of both getting the population mean.
    pub fn expected_spend_from_first_order(&self, first_order: f64) -> Result<f64, ClvError> {
        let one_purchase = CustomerSummary {
            customer: 0,
            frequency: 1,
            recency: 0.0,
            age: 0.0,
            monetary_value: first_order,
        };
        self.expected_average_spend(&one_purchase)
    }
}

/// A customer the model can learn from, with the logarithms the likelihood needs precomputed:
/// they do not depend on the parameters, so each fit evaluation reuses them.
struct Spender {
    /// Repeat purchases x.
    x: f64,
    /// Mean repeat spend m̄.
    mean: f64,
    /// x · m̄, the total repeat spend.
    total: f64,
    /// ln m̄ + ln x.
    ln_m_x: f64,
    ln_m: f64,
}

/// The customers the model can learn from: frequency > 0 and a positive mean spend.
fn spenders(customers: &[CustomerSummary]) -> Vec<Spender> {
    customers
        .iter()
        .filter(|c| c.frequency > 0 && c.monetary_value.is_finite() && c.monetary_value > 0.0)
        .map(|c| {
            let (x, m) = (f64::from(c.frequency), c.monetary_value);
            Spender {
                x,
                mean: m,
                total: x * m,
                ln_m_x: m.ln() + x.ln(),
                ln_m: m.ln(),
            }
        })
        .collect()
}

/// Σ ln f(m̄ | x) over the spenders.
fn total_log_likelihood(parameters: &[f64], spenders: &[Spender]) -> f64 {
    log_likelihood_and_gradient(parameters, spenders).0
}

/// Σ ln f(m̄ | x) over the spenders and its gradient with respect to (p, q, γ).
fn log_likelihood_and_gradient(parameters: &[f64], spenders: &[Spender]) -> (f64, Vec<f64>) {
    let (p, q, gamma) = (parameters[0], parameters[1], parameters[2]);
    let ln_gamma_scale = gamma.ln();
    let constant = -ln_gamma(q) + q * ln_gamma_scale;
    // ln Γ(px + q) − ln Γ(px) depends on the customer only through their (integer) count x:
    // two Lanczos sums per distinct count instead of per customer, and likewise ψ(px + q)
    // and ψ(px) for the gradient.
    let max_count = spenders.iter().map(|s| s.x as usize).max().unwrap_or(0);
    let by_count = |f: &dyn Fn(f64) -> f64| -> Vec<f64> {
        (0..=max_count)
            .map(|x| if x == 0 { 0.0 } else { f(p * x as f64) })
            .collect()
    };
    let gamma_ratio = by_count(&|px| ln_gamma(px + q) - ln_gamma(px));
    let psi_sum = by_count(&|px| digamma(px + q));
    let psi_px = by_count(&|px| digamma(px));
    let psi_q = digamma(q);
    let mut value = 0.0;
    let mut gradient = [0.0; 3];
    for s in spenders {
        let count = s.x as usize;
        let px = p * s.x;
        let ln_total = (s.total + gamma).ln();
        // (px − 1) ln m̄ + px ln x = px (ln m̄ + ln x) − ln m̄
        value += gamma_ratio[count] + constant + px * s.ln_m_x - s.ln_m - (px + q) * ln_total;
        gradient[0] += s.x * (psi_sum[count] - psi_px[count] + s.ln_m_x - ln_total);
        gradient[1] += psi_sum[count] - psi_q + ln_gamma_scale - ln_total;
        gradient[2] += q / gamma - (px + q) / (s.total + gamma);
    }
    (value, gradient.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gradient_matches_differences() {
        let customers: Vec<CustomerSummary> = [(1, 20.0), (3, 35.5), (7, 12.25), (2, 100.0)]
            .iter()
            .enumerate()
            .map(|(i, &(frequency, monetary_value))| CustomerSummary {
                customer: i as u64,
                frequency,
                recency: 1.0,
                age: 2.0,
                monetary_value,
            })
            .collect();
        let spenders = spenders(&customers);
        let parameters = [6.2, 3.6, 15.0];
        let (_, gradient) = log_likelihood_and_gradient(&parameters, &spenders);
        for (i, analytic) in gradient.iter().enumerate() {
            let h = 1e-6 * parameters[i];
            let (mut up, mut down) = (parameters, parameters);
            up[i] += h;
            down[i] -= h;
            let numerical = (total_log_likelihood(&up, &spenders)
                - total_log_likelihood(&down, &spenders))
                / (2.0 * h);
            assert!(
                (analytic - numerical).abs() <= 1e-7 * numerical.abs().max(1.0),
                "parameter {i}: {analytic} vs {numerical}"
            );
        }
    }
}
