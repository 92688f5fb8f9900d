//! Special functions, shared by the likelihoods of `clv` and the distributions of `stats`:
//! ln Γ and ψ ([`gamma`]), the regularized incomplete beta and gamma functions and erfc
//! ([`incomplete`]), the Gauss hypergeometric function ₂F₁ ([`hypergeometric`]), and sums of
//! exponentials in log space ([`log_sum`]).
//!
//! Hand-written so `tailor-ml` keeps zero dependencies; each file's tests compare with
//! closed forms or with scipy and mpmath values.

mod gamma;
mod hypergeometric;
mod incomplete;
mod log_sum;

pub(crate) use gamma::{digamma, digamma_steps, ln_gamma, ln_gamma_steps};
pub(crate) use hypergeometric::{hyp2f1, hyp2f1_shifted, hyp2f1_shifted_with_derivatives};
pub(crate) use incomplete::{erfc, regularized_incomplete_beta, regularized_upper_gamma};
pub(crate) use log_sum::{log_add_exp, log_add_exp_with_share};
