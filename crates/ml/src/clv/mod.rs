//! Customer lifetime value from purchase histories ("buy till you die" models): the
//! calibration summary of each customer ([`summary`]), the purchase-count models BG/NBD
//! ([`BgNbd`]), its modification MBG/NBD ([`ModifiedBgNbd`], where one-time buyers can drop
//! out) and Pareto/NBD ([`ParetoNbd`]), the spend model Gamma-Gamma ([`GammaGamma`]),
//! and what they predict per customer ([`PurchaseModel`], [`value`]), plus the hold-out
//! scoring ([`holdout`]).
//!
//! The models and their parameterisations are those of Fader, Hardie & Lee (2005) and Fader &
//! Hardie (2013), as implemented by the Python package `lifetimes`, the peer Tailor is checked
//! against number for number (`tests/lifetimes_cdnow.rs`). Time is measured in *periods*
//! (weeks for CDNOW, the literature's convention); every horizon is in the same unit.
//!
//! Every fit maximises the likelihood over log-parameters with BFGS on the likelihood's
//! analytic gradient, falling back to Nelder–Mead ([`optimize`]), computing the likelihood
//! once per distinct `(frequency, recency, T)` triple, weighted by how many customers share
//! it: on CDNOW (23,570 customers) that is 8,685 rows. Predictions for a whole cohort go
//! through [`PurchaseModel::expected_purchases_grid`], which shares the horizon-dependent work
//! between histories with the same T (or x and T).

mod beta_geometric;
mod bgnbd;
mod gamma_gamma;
pub mod holdout;
mod likelihood_rows;
mod mbgnbd;
mod minimum;
pub mod optimize;
mod pareto_nbd;
mod quasi_newton;
pub mod summary;
pub mod value;

use std::fmt;

pub use bgnbd::BgNbd;
pub use gamma_gamma::GammaGamma;
pub use mbgnbd::ModifiedBgNbd;
pub use pareto_nbd::ParetoNbd;
pub use summary::{CustomerSummary, Transaction};

/// What can go wrong fitting or applying a model. Input problems a caller can fix are told
/// apart from an optimizer that did not settle.
#[derive(Clone, Debug, PartialEq)]
pub enum ClvError {
    /// Nothing to fit on (e.g. no customer with a repeat purchase for Gamma-Gamma).
    NoData(&'static str),
    /// A customer summary that no model accepts (e.g. recency after T, a negative count).
    InvalidSummary { customer: u64, reason: &'static str },
    /// The optimizer stopped at its evaluation budget before the simplex settled.
    NotConverged {
        model: &'static str,
        evaluations: usize,
    },
    /// The likelihood was not finite anywhere the optimizer looked.
    NonFiniteLikelihood { model: &'static str },
    /// Parameters for which a prediction does not exist (Gamma-Gamma's mean needs q > 1).
    UndefinedPrediction(&'static str),
}

impl fmt::Display for ClvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClvError::NoData(what) => write!(f, "nothing to fit: {what}"),
            ClvError::InvalidSummary { customer, reason } => {
                write!(f, "customer {customer}: {reason}")
            }
            ClvError::NotConverged { model, evaluations } => write!(
                f,
                "{model}: the maximum-likelihood fit did not converge within {evaluations} likelihood evaluations"
            ),
            ClvError::NonFiniteLikelihood { model } => {
                write!(
                    f,
                    "{model}: the likelihood is not finite at any tried parameters"
                )
            }
            ClvError::UndefinedPrediction(why) => write!(f, "undefined prediction: {why}"),
        }
    }
}

impl std::error::Error for ClvError {}

/// A fitted purchase-count model: what it predicts for one customer from their calibration
/// summary. Horizons `t` are in periods after the end of calibration (the customer's age `T`).
pub trait PurchaseModel {
    /// Probability that the customer is still "alive" (has not silently churned) at `T`.
    fn probability_alive(&self, customer: &CustomerSummary) -> f64;

    /// Expected number of purchases in `(T, T + t]`.
    fn expected_purchases(&self, customer: &CustomerSummary, t: f64) -> f64;

    /// [`expected_purchases`](PurchaseModel::expected_purchases) at each of `horizons`; a
    /// model overrides it when much of the computation does not depend on the horizon.
    fn expected_purchases_at(&self, customer: &CustomerSummary, horizons: &[f64]) -> Vec<f64> {
        horizons
            .iter()
            .map(|&t| self.expected_purchases(customer, t))
            .collect()
    }

    /// Expected purchases of each of `histories` at each of `horizons`, row-major
    /// (`histories.len() × horizons.len()`): what a cohort's hold-out curve and CLV need. A
    /// model overrides it to share the work that depends on only part of a history (T, or x
    /// and T) between the histories that have it in common.
    fn expected_purchases_grid(&self, histories: &[CustomerSummary], horizons: &[f64]) -> Vec<f64> {
        histories
            .iter()
            .flat_map(|c| self.expected_purchases_at(c, horizons))
            .collect()
    }

    /// Total log-likelihood of the calibration data under the fitted parameters.
    fn log_likelihood(&self) -> f64;

    /// 1 − [`probability_alive`](PurchaseModel::probability_alive): the churn risk shown to
    /// marketers, so the two always add up.
    fn churn_risk(&self, customer: &CustomerSummary) -> f64 {
        1.0 - self.probability_alive(customer)
    }

    /// When the next order is expected, in periods after `T`: the horizon by which the model
    /// expects one more purchase (`expected_purchases(t) = 1`). `None` when that takes longer
    /// than `max_horizon` — which is also the answer for a customer who has probably churned,
    /// since death caps the expected count below 1. Defined this way, rather than as the mean
    /// waiting time, because the mean is infinite whenever death is possible.
    fn expected_next_order(&self, customer: &CustomerSummary, max_horizon: f64) -> Option<f64> {
        if max_horizon.is_nan()
            || max_horizon <= 0.0
            || self.expected_purchases(customer, max_horizon) < 1.0
        {
            return None;
        }
        // expected_purchases grows with t, so bisection finds the crossing.
        let (mut low, mut high) = (0.0, max_horizon);
        for _ in 0..60 {
            let middle = 0.5 * (low + high);
            if self.expected_purchases(customer, middle) < 1.0 {
                low = middle;
            } else {
                high = middle;
            }
        }
        Some(high)
    }
}
