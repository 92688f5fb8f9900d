//! A customer's behavioural state, folded from their activities in time order, and the
//! features the propensity models read from it: browsing frequency, session duration,
//! category exploration, email engagement, product comparison, cart state and recency.
//!
//! Windowed counts are exponentially decayed sums (half-life [`HALF_LIFE`]) rather than exact
//! windows, for the same reason the engine's profile keeps them so: they fold in O(1) and
//! merge, so the same state can later live on the profile.

use std::collections::{HashMap, HashSet};

use super::{Activity, ActivityKind, CategoryId, DAY};
use crate::intent::activity::SESSION_GAP;

/// Half-life of the decayed counts ("lately").
pub const HALF_LIFE: f64 = 7.0 * DAY;
/// Stands in for "never" in day-valued recency features.
const NEVER_DAYS: f64 = 365.0;

/// Names of [`Behaviour::features`], in order.
pub const FEATURES: [&str; 17] = [
    "ln(1+sessions)",
    "ln(1+days since last visit)",
    "ln(1+sessions lately)",
    "ln(1+product views lately)",
    "ln(1+mean session minutes)",
    "ln(1+categories explored)",
    "ln(1+comparisons)",
    "email open rate (smoothed)",
    "ln(1+email clicks lately)",
    "ln(1+cart items)",
    "ln(1+cart value)",
    "ln(1+orders)",
    "ln(1+days since last order)",
    "ln(1+abandoned checkouts)",
    "ln(1+days since first seen)",
    "ln(1+adds lately)",
    "minutes since an email click (capped, ln)",
];

/// Names of [`Behaviour::recency_frequency`], the baseline's features.
pub const RECENCY_FREQUENCY: [&str; 3] = [
    "ln(1+days since last visit)",
    "ln(1+sessions)",
    "ln(1+orders)",
];

/// An exponentially decayed count, stored at the time of its last update.
#[derive(Clone, Copy, Debug, Default)]
struct Decayed {
    value: f64,
    at: f64,
}

impl Decayed {
    fn value_at(self, now: f64) -> f64 {
        self.value * 0.5f64.powf(((now - self.at) / HALF_LIFE).max(0.0))
    }
    fn add(&mut self, now: f64, amount: f64) {
        self.value = self.value_at(now) + amount;
        self.at = now;
    }
}

/// Everything the features are computed from; fold activities with [`Behaviour::observe`].
#[derive(Clone, Debug, Default)]
pub struct Behaviour {
    first_seen: Option<f64>,
    last_on_site: Option<f64>,
    sessions: u32,
    /// Sum of finished and current sessions' durations, seconds.
    session_seconds: f64,
    sessions_lately: Decayed,
    views_lately: Decayed,
    adds_lately: Decayed,
    categories: HashSet<CategoryId>,
    /// Product views per category in the current session, for comparisons.
    session_views: HashMap<CategoryId, u32>,
    comparisons: u32,
    emails_delivered: u32,
    emails_opened: u32,
    email_clicks_lately: Decayed,
    last_email_click: Option<f64>,
    cart_items: f64,
    cart_value: f64,
    orders: u32,
    last_order: Option<f64>,
    checkouts: u32,
}

impl Behaviour {
    /// Folds one activity; activities must come in time order.
    pub fn observe(&mut self, a: &Activity) {
        let t = a.time;
        self.first_seen.get_or_insert(t);
        if a.kind.on_site() {
            match self.last_on_site {
                Some(last) if t - last <= SESSION_GAP => {
                    self.session_seconds += t - last;
                }
                _ => {
                    self.sessions += 1;
                    self.sessions_lately.add(t, 1.0);
                    self.session_views.clear();
                }
            }
            self.last_on_site = Some(t);
        }
        if a.kind.engages()
            && let Some(c) = a.category
        {
            self.categories.insert(c);
        }
        match a.kind {
            ActivityKind::ProductViewed => {
                self.views_lately.add(t, 1.0);
                if let Some(c) = a.category {
                    let views = self.session_views.entry(c).or_default();
                    *views += 1;
                    if *views == 2 {
                        self.comparisons += 1;
                    }
                }
            }
            ActivityKind::ProductAdded => {
                self.adds_lately.add(t, 1.0);
                self.cart_items += 1.0;
                self.cart_value += a.value;
            }
            ActivityKind::ProductRemoved => {
                self.cart_items = (self.cart_items - 1.0).max(0.0);
                self.cart_value = (self.cart_value - a.value).max(0.0);
            }
            ActivityKind::CheckoutStarted => self.checkouts += 1,
            ActivityKind::OrderCompleted => {
                self.orders += 1;
                self.last_order = Some(t);
                self.cart_items = 0.0;
                self.cart_value = 0.0;
            }
            ActivityKind::EmailDelivered => self.emails_delivered += 1,
            ActivityKind::EmailOpened => self.emails_opened += 1,
            ActivityKind::EmailClicked => {
                self.email_clicks_lately.add(t, 1.0);
                self.last_email_click = Some(t);
            }
            ActivityKind::Page | ActivityKind::Purchased => {}
        }
    }

    /// Has anything been observed?
    pub fn seen(&self) -> bool {
        self.first_seen.is_some()
    }

    pub fn orders(&self) -> u32 {
        self.orders
    }

    /// The features named by [`FEATURES`], as of `now` (at or after the last activity).
    pub fn features(&self, now: f64) -> Vec<f64> {
        let days_since = |t: Option<f64>| t.map_or(NEVER_DAYS, |t| ((now - t) / DAY).max(0.0));
        let mean_session_minutes = if self.sessions == 0 {
            0.0
        } else {
            self.session_seconds / 60.0 / f64::from(self.sessions)
        };
        // Laplace-smoothed so one delivered, unopened email is not a 0% opener.
        let open_rate =
            (f64::from(self.emails_opened) + 0.5) / (f64::from(self.emails_delivered) + 2.0);
        let minutes_since_click = self
            .last_email_click
            .map_or(NEVER_DAYS * 1440.0, |t| ((now - t) / 60.0).max(0.0));
        let abandoned = f64::from(self.checkouts.saturating_sub(self.orders));
        vec![
            f64::from(self.sessions).ln_1p(),
            days_since(self.last_on_site).ln_1p(),
            self.sessions_lately.value_at(now).ln_1p(),
            self.views_lately.value_at(now).ln_1p(),
            mean_session_minutes.ln_1p(),
            (self.categories.len() as f64).ln_1p(),
            f64::from(self.comparisons).ln_1p(),
            open_rate,
            self.email_clicks_lately.value_at(now).ln_1p(),
            self.cart_items.ln_1p(),
            self.cart_value.ln_1p(),
            f64::from(self.orders).ln_1p(),
            days_since(self.last_order).ln_1p(),
            abandoned.ln_1p(),
            days_since(self.first_seen).ln_1p(),
            self.adds_lately.value_at(now).ln_1p(),
            minutes_since_click.min(1440.0).ln_1p(),
        ]
    }

    /// The recency/frequency baseline's features ([`RECENCY_FREQUENCY`]).
    pub fn recency_frequency(&self, now: f64) -> Vec<f64> {
        let days_since_visit = self
            .last_on_site
            .map_or(NEVER_DAYS, |t| ((now - t) / DAY).max(0.0));
        vec![
            days_since_visit.ln_1p(),
            f64::from(self.sessions).ln_1p(),
            f64::from(self.orders).ln_1p(),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ActivityKind::*;

    fn feature(b: &Behaviour, now: f64, name: &str) -> f64 {
        let i = FEATURES.iter().position(|f| *f == name).expect("a feature");
        b.features(now)[i]
    }

    #[test]
    fn folds_sessions_comparisons_cart_and_orders() {
        let mut b = Behaviour::default();
        let acts = [
            Activity::new(0.0, Page),
            Activity::new(60.0, ProductViewed).in_category(1),
            Activity::new(120.0, ProductViewed).in_category(1),
            Activity::new(180.0, ProductViewed).in_category(1),
            Activity::new(240.0, ProductAdded)
                .in_category(1)
                .worth(40.0),
            Activity::new(DAY, Page),
            Activity::new(DAY + 60.0, ProductViewed).in_category(2),
            Activity::new(DAY + 120.0, CheckoutStarted),
        ];
        for a in &acts {
            b.observe(a);
        }
        let now = DAY + 120.0;
        assert_eq!(feature(&b, now, "ln(1+sessions)"), 2f64.ln_1p());
        assert_eq!(feature(&b, now, "ln(1+comparisons)"), 1f64.ln_1p());
        assert_eq!(feature(&b, now, "ln(1+categories explored)"), 2f64.ln_1p());
        assert_eq!(feature(&b, now, "ln(1+cart value)"), 40f64.ln_1p());
        assert_eq!(feature(&b, now, "ln(1+abandoned checkouts)"), 1f64.ln_1p());
        // Sessions of 240 s and 120 s: 3 minutes on average.
        assert!((feature(&b, now, "ln(1+mean session minutes)") - 3f64.ln_1p()).abs() < 1e-12);
        b.observe(&Activity::new(DAY + 180.0, OrderCompleted).worth(40.0));
        assert_eq!(feature(&b, DAY + 180.0, "ln(1+cart items)"), 0.0);
        assert_eq!(feature(&b, DAY + 180.0, "ln(1+abandoned checkouts)"), 0.0);
        assert_eq!(b.orders(), 1);
    }

    #[test]
    fn decayed_counts_halve_every_half_life() {
        let mut b = Behaviour::default();
        b.observe(&Activity::new(0.0, ProductViewed).in_category(0));
        b.observe(&Activity::new(1.0, ProductViewed).in_category(0));
        let lately = feature(&b, 1.0 + HALF_LIFE, "ln(1+product views lately)");
        assert!((lately - 1f64.ln_1p()).abs() < 1e-6, "{lately}");
        assert_eq!(FEATURES.len(), b.features(0.0).len());
        assert_eq!(RECENCY_FREQUENCY.len(), b.recency_frequency(0.0).len());
    }
}
