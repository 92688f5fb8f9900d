//! A buyer's purchase history as the lifetime models read it (`lifetimes`' summary with
//! weekly periods, the CDNOW convention): repeat purchases are distinct order days after the
//! first, recency and age run from the first order.

use tailor_core::Millis;
use tailor_core::time::DAY;
use tailor_ml::clv::CustomerSummary;

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
