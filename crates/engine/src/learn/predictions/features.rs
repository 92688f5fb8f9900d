//! What the intent models read from a profile. One function for training and serving: the
//! trainer replays the log through the same profile fold and calls [`intent_features`] at
//! each sampled moment, so a served prediction sees exactly what its model was fitted on.

use tailor_core::Millis;
use tailor_core::time::{DAY, MINUTE};

use crate::profile::{Profile, SESSION_GAP};

/// Names of [`intent_features`], in order (shown with each model version's weights).
pub const INTENT_FEATURES: [&str; 22] = [
    "ln(1+sessions)",
    "ln(1+days since last visit)",
    "ln(1+sessions in the last 7 days)",
    "ln(1+product views)",
    "ln(1+mean session minutes)",
    "ln(1+categories explored)",
    "ln(1+sessions with a comparison)",
    "email open rate (smoothed)",
    "ln(1+email clicks)",
    "ln(1+cart items)",
    "ln(1+cart value)",
    "ln(1+orders)",
    "ln(1+days since last order)",
    "ln(1+abandoned checkouts)",
    "ln(1+days since first seen)",
    "ln(1+events this session)",
    "ln(1+products viewed this session)",
    "ln(1+minutes this session)",
    "checkout started this session",
    "cart changed this session",
    "compared products this session",
    "ln(1+promotions clicked)",
];

/// The recency/frequency baseline's features: days since the last visit, sessions, orders.
pub const BASELINE_FEATURES: [usize; 3] = [1, 0, 11];

/// Stands in for "never" in day-valued recency features.
const NEVER_DAYS: f64 = 365.0;

fn ln1p(x: f64) -> f64 {
    x.max(0.0).ln_1p()
}

fn days(from: Millis, to: Millis) -> f64 {
    (to - from).max(0) as f64 / DAY as f64
}

/// The profile's behavioural signals at `now`: browsing frequency, session duration,
/// category exploration, email engagement, product comparison, cart state, recency, and the
/// current session (the last one, if it has not ended by the session gap).
pub fn intent_features(p: &Profile, now: Millis) -> [f64; INTENT_FEATURES.len()] {
    let sessions = p.sessions.count();
    let mean_minutes = if sessions == 0 {
        0.0
    } else {
        p.sessions.total_duration() as f64 / sessions as f64 / MINUTE as f64
    };
    let current = p
        .sessions
        .last()
        .filter(|s| s.end + SESSION_GAP >= now && s.start <= now);
    let since = |t: Option<Millis>| t.map_or(NEVER_DAYS, |t| days(t, now).min(NEVER_DAYS));
    let in_session = |t: Option<Millis>| match (current, t) {
        (Some(s), Some(t)) => f64::from(u8::from(t >= s.start)),
        _ => 0.0,
    };
    let first_seen = (p.first_seen != Millis::MAX).then_some(p.first_seen);
    let last_seen = (p.events > 0).then_some(p.last_seen);
    [
        ln1p(sessions as f64),
        ln1p(since(last_seen)),
        ln1p(p.sessions.started_within(now, 7 * DAY) as f64),
        ln1p(p.product_views as f64),
        ln1p(mean_minutes),
        ln1p(p.categories.0.len() as f64),
        ln1p(p.sessions.comparisons() as f64),
        (p.email.opened as f64 + 1.0) / (p.email.delivered.max(p.email.opened) as f64 + 2.0),
        ln1p(p.email.clicked as f64),
        ln1p(p.cart.items().count() as f64),
        ln1p(p.cart.value()),
        ln1p(p.orders.count as f64),
        ln1p(since(p.orders.last_at)),
        ln1p(p.checkouts.saturating_sub(p.orders.count) as f64),
        ln1p(since(first_seen)),
        ln1p(current.map_or(0.0, |s| f64::from(s.events))),
        ln1p(current.map_or(0.0, |s| s.views.len() as f64)),
        ln1p(current.map_or(0.0, |s| (s.end - s.start) as f64 / MINUTE as f64)),
        in_session(p.last_checkout_at),
        in_session(p.cart.updated_at()),
        current.map_or(0.0, |s| f64::from(u8::from(s.compared()))),
        ln1p(p.promotions_clicked as f64),
    ]
}

/// The baseline's view of the same moment.
pub fn baseline_features(all: &[f64]) -> Vec<f64> {
    BASELINE_FEATURES.iter().map(|&i| all[i]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::{CartLine, Profile};

    #[test]
    fn a_new_visitor_has_finite_features_and_a_current_session() {
        let mut p = Profile::new(1);
        let t = 1_000 * DAY;
        p.first_seen = t;
        p.last_seen = t + 5 * MINUTE;
        p.events = 3;
        p.sessions.record(t, Some((1, 1)));
        p.sessions.record(t + 5 * MINUTE, Some((1, 2)));
        p.cart.set(CartLine {
            product_id: "a".into(),
            quantity: 1,
            price: 20.0,
            at: t + 5 * MINUTE,
        });
        let f = intent_features(&p, t + 6 * MINUTE);
        assert!(f.iter().all(|x| x.is_finite()), "{f:?}");
        assert!(
            (f[15] - 2f64.ln_1p()).abs() < 1e-12,
            "two events this session"
        );
        assert_eq!(f[19], 1.0, "cart changed this session");
        assert_eq!(f[20], 1.0, "two products of one category compared");
        assert!((f[12] - NEVER_DAYS.ln_1p()).abs() < 1e-12, "never ordered");
        // An hour later the session is over.
        let later = intent_features(&p, t + 65 * MINUTE);
        assert_eq!(later[15], 0.0);
        assert_eq!(later[19], 0.0);
    }
}
