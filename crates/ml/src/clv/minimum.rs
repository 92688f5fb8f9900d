//! What the likelihood fits' minimisers return: BFGS and Nelder–Mead both report where they
//! stopped as a [`Minimum`]. A leaf, so the minimisers and their driver import it one way.

/// Where a search stopped.
#[derive(Clone, Debug, PartialEq)]
pub struct Minimum {
    pub point: Vec<f64>,
    pub value: f64,
    pub evaluations: usize,
    /// False when the evaluation budget ran out first.
    pub converged: bool,
}
