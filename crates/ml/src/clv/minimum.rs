//! What the likelihood fits' minimisers return: BFGS ([`super::quasi_newton`]) and
//! Nelder–Mead ([`super::optimize`]) both report where they stopped as a [`Minimum`].

/// Where a search stopped.
#[derive(Clone, Debug, PartialEq)]
pub struct Minimum {
    pub point: Vec<f64>,
    pub value: f64,
    pub evaluations: usize,
    /// False when the evaluation budget ran out first.
    pub converged: bool,
}
