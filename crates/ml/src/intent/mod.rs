//! Purchase intent and what follows from it, learned from a store's event log (issue 4, parts
//! 3, 4, 5 and 7): the behavioural state of a customer ([`behaviour`]), purchase propensity
//! within the current session and within 7 days ([`propensity`], an L2-regularized logistic
//! regression in [`logistic`] with Platt calibration), the categories a customer will engage
//! with next ([`next_category`]), the hour of week they are likeliest to open an email
//! ([`send_time`]), a per-category forecast of orders and revenue built up from the customers
//! ([`forecast`]), and the scores these are evaluated with ([`metrics`]).
//!
//! Input is one [`Activity`] timeline per customer; the caller reads the log and resolves
//! identities. Times are seconds (Unix time; only differences matter, except hour of week,
//! which is taken in UTC).

pub mod activity;
pub mod behaviour;
pub mod forecast;
pub mod logistic;
pub mod metrics;
pub mod next_category;
pub mod propensity;
pub mod send_time;

pub use activity::{Activity, ActivityKind, CategoryId};

/// Seconds in a day.
pub const DAY: f64 = 86_400.0;
/// Seconds in a week.
pub const WEEK: f64 = 7.0 * DAY;
