//! `tailor-ml`: models and statistics as plain functions and structs. Slices in, numbers out:
//! session-based recommenders ([`session_recs`]), A/B test statistics ([`stats`]), bandits
//! ([`bandits`]), off-policy evaluation ([`ope`]), purchase intent ([`intent`]) and customer
//! lifetime value ([`clv`]), re-ranking a store's product lists ([`rerank`]), over shared numerics: special functions (`special`) and linear
//! algebra with the logistic regression ([`linear`]).
//!
//! **Invariant:** no I/O, no async, never reads the clock; callers parse files and pass data in.

pub mod bandits;
pub mod clv;
pub mod intent;
pub mod linear;
pub mod ope;
pub mod rerank;
pub mod session_recs;
mod special;
pub mod stats;
