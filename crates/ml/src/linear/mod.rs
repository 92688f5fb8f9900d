//! Linear models and the small dense linear algebra under them: vectors and row-major square
//! matrices as slices (`algebra`), and the L2-regularized logistic regression that the
//! off-policy reward model and the intent models both fit ([`logistic`]).

pub(crate) mod algebra;
pub mod logistic;

pub use logistic::{FitError, LogisticParams, LogisticRegression, Loss, Steps, logit, sigmoid};
