//! `tailor-ml`: models and statistics as plain functions and structs. Slices in, numbers out.
//!
//! **Invariant:** no I/O, no async, never reads the clock; callers parse files and pass data in.

pub mod clv;
pub mod session_recs;
