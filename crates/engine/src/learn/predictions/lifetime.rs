//! A buyer's purchase history as the lifetime models read it (`lifetimes`' summary with
//! weekly periods, the CDNOW convention): repeat purchases are distinct order days after the
//! first, recency and age run from the first order. And the purchase model a store serves,
//! BG/NBD or MBG/NBD, whichever scored better on the store's own hold-out (`training`).

use tailor_core::Millis;
use tailor_core::time::DAY;
use tailor_ml::clv::{BgNbd, CustomerSummary, ModifiedBgNbd, PurchaseModel};

use crate::profile::Profile;

/// The models' period.
pub const WEEK: Millis = 7 * DAY;

/// The history of someone who has ordered, as of `now`; `None` for everyone else.
///
/// A profile keeps its newest 50 orders in detail; older ones count as repeat purchases on
/// days of their own, which only customers with more than 50 orders ever meet.
pub fn purchase_summary(p: &Profile, now: Millis) -> Option<CustomerSummary> {
    let first = p.orders.first_at.filter(|&t| t <= now)?;
    let mut days: Vec<(i64, f64)> = Vec::new();
    for &(t, value) in p.orders.recent.iter().filter(|(t, _)| *t <= now) {
        let day = t.div_euclid(DAY);
        match days.last_mut() {
            Some((d, v)) if *d == day => *v += value,
            _ => days.push((day, value)),
        }
    }
    let first_day = first.div_euclid(DAY);
    let older = p.orders.count.saturating_sub(p.orders.recent.len() as u64);
    // The first day is not a repeat, whether or not it is still among the recent orders.
    let repeats: Vec<f64> = days
        .iter()
        .filter(|(d, _)| *d != first_day)
        .map(|&(_, v)| v)
        .collect();
    // Orders older than the detailed ones include the first; the rest of them are repeats.
    let frequency = repeats.len() as u64 + older.saturating_sub(1);
    let last_day = days.last().map_or(first_day, |&(d, _)| d);
    let period = |d: i64| (d * DAY) as f64 / WEEK as f64;
    Some(CustomerSummary {
        customer: p.id,
        frequency: u32::try_from(frequency).unwrap_or(u32::MAX),
        recency: if frequency == 0 {
            0.0
        } else {
            period(last_day - first_day)
        },
        age: period(now.div_euclid(DAY) - first_day).max(period(last_day - first_day)),
        monetary_value: if repeats.is_empty() {
            0.0
        } else {
            repeats.iter().sum::<f64>() / repeats.len() as f64
        },
    })
}

/// The purchase-count model in service. BG/NBD cannot let a one-time buyer drop out (their
/// P(alive) is 1 however long ago they ordered); MBG/NBD can. Training fits both and keeps the
/// one with the lower hold-out error.
#[derive(Clone, Copy, Debug)]
pub enum LifetimeModel {
    BgNbd(BgNbd),
    Modified(ModifiedBgNbd),
}

impl LifetimeModel {
    /// The name reports use: `bgnbd` or `mbgnbd`.
    pub fn name(&self) -> &'static str {
        match self {
            LifetimeModel::BgNbd(_) => "bgnbd",
            LifetimeModel::Modified(_) => "mbgnbd",
        }
    }

    fn inner(&self) -> &dyn PurchaseModelObject {
        match self {
            LifetimeModel::BgNbd(m) => m,
            LifetimeModel::Modified(m) => m,
        }
    }
}

/// The object-safe part of [`PurchaseModel`] the engine calls.
trait PurchaseModelObject {
    fn alive(&self, c: &CustomerSummary) -> f64;
    fn purchases(&self, c: &CustomerSummary, t: f64) -> f64;
    fn purchases_at(&self, c: &CustomerSummary, horizons: &[f64]) -> Vec<f64>;
    fn likelihood(&self) -> f64;
}

impl<M: PurchaseModel> PurchaseModelObject for M {
    fn alive(&self, c: &CustomerSummary) -> f64 {
        self.probability_alive(c)
    }
    fn purchases(&self, c: &CustomerSummary, t: f64) -> f64 {
        self.expected_purchases(c, t)
    }
    fn purchases_at(&self, c: &CustomerSummary, horizons: &[f64]) -> Vec<f64> {
        self.expected_purchases_at(c, horizons)
    }
    fn likelihood(&self) -> f64 {
        self.log_likelihood()
    }
}

impl PurchaseModel for LifetimeModel {
    fn probability_alive(&self, c: &CustomerSummary) -> f64 {
        self.inner().alive(c)
    }
    fn expected_purchases(&self, c: &CustomerSummary, t: f64) -> f64 {
        self.inner().purchases(c, t)
    }
    fn expected_purchases_at(&self, c: &CustomerSummary, horizons: &[f64]) -> Vec<f64> {
        self.inner().purchases_at(c, horizons)
    }
    fn log_likelihood(&self) -> f64 {
        self.inner().likelihood()
    }
}

/// The value of the first order day (all orders of that day), if it is still among the
/// detailed orders: what a one-time buyer's spend is predicted from.
pub fn first_order_value(p: &Profile) -> Option<f64> {
    let first_day = p.orders.first_at?.div_euclid(DAY);
    let value: f64 = p
        .orders
        .recent
        .iter()
        .filter(|(t, _)| t.div_euclid(DAY) == first_day)
        .map(|&(_, v)| v)
        .sum();
    (p.orders
        .recent
        .iter()
        .any(|(t, _)| t.div_euclid(DAY) == first_day))
    .then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_on_one_day_are_one_purchase_and_the_first_is_not_a_repeat() {
        let mut p = Profile::new(7);
        let d = 20_000 * DAY;
        p.orders.record(d + 1000, 10.0);
        p.orders.record(d + 2000, 5.0);
        p.orders.record(d + 14 * DAY, 30.0);
        p.orders.record(d + 21 * DAY, 50.0);
        let s = purchase_summary(&p, d + 28 * DAY).unwrap();
        assert_eq!(s.frequency, 2);
        assert_eq!(s.recency, 3.0);
        assert_eq!(s.age, 4.0);
        assert_eq!(s.monetary_value, 40.0);
        assert!(purchase_summary(&p, d - DAY).is_none(), "not a buyer yet");
        assert!(purchase_summary(&Profile::new(8), d).is_none());
    }
}
