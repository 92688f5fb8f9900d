//! What a profile looks like from outside at a given moment: derived features (rates,
//! recency, lifecycle stage) are computed here, at read time, from the stored aggregates.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;
use tailor_core::Millis;
use tailor_core::time::{DAY, format_timestamp};

use super::Profile;

/// Where a person stands in their relationship with the store. Rules (first match wins):
/// - `lapsed`: no activity for 90 days or more.
/// - `at-risk`: has ordered, and the last order is older than
///   max(60 days, 2 × their mean gap between orders).
/// - `repeat`: two or more orders. `purchase`: one order.
/// - `evaluation`: no order, but a cart, a checkout, a comparison or 3+ product views.
/// - `discovery`: everyone else.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LifecycleStage {
    Discovery,
    Evaluation,
    Purchase,
    Repeat,
    AtRisk,
    Lapsed,
}

impl LifecycleStage {
    pub fn as_str(self) -> &'static str {
        match self {
            LifecycleStage::Discovery => "discovery",
            LifecycleStage::Evaluation => "evaluation",
            LifecycleStage::Purchase => "purchase",
            LifecycleStage::Repeat => "repeat",
            LifecycleStage::AtRisk => "at-risk",
            LifecycleStage::Lapsed => "lapsed",
        }
    }
}

impl Profile {
    pub fn lifecycle_stage(&self, now: Millis) -> LifecycleStage {
        let days = |t: Millis| (now - t) as f64 / DAY as f64;
        if self.events > 0 && days(self.last_seen) >= 90.0 {
            return LifecycleStage::Lapsed;
        }
        if let Some(last_order) = self.orders.last_at {
            let patience = self
                .orders
                .mean_gap_days()
                .map_or(60.0, |g| (2.0 * g).max(60.0));
            return if days(last_order) > patience {
                LifecycleStage::AtRisk
            } else if self.orders.count >= 2 {
                LifecycleStage::Repeat
            } else {
                LifecycleStage::Purchase
            };
        }
        if self.cart.items().next().is_some()
            || self.checkouts > 0
            || self.sessions.comparisons() > 0
            || self.product_views >= 3
        {
            LifecycleStage::Evaluation
        } else {
            LifecycleStage::Discovery
        }
    }

    pub fn view(&self, now: Millis) -> ProfileView {
        let sessions = self.sessions.count();
        let duration = self.sessions.total_duration();
        let rate = |n: u64, d: u64| {
            if d == 0 {
                0.0
            } else {
                round3(n as f64 / d as f64)
            }
        };
        let ranked = |a: &super::Affinity| {
            a.ranked(now)
                .into_iter()
                .take(10)
                .map(|(k, v)| Scored {
                    key: k.to_string(),
                    score: round3(v),
                })
                .collect()
        };
        ProfileView {
            id: format!("p_{}", self.id),
            user_ids: self.user_ids.clone(),
            anonymous_ids: self.anonymous_ids.clone(),
            traits: self
                .traits
                .iter()
                .map(|(k, v)| (k.clone(), v.value.clone()))
                .collect(),
            consent: self
                .consent
                .iter()
                .map(|(p, c)| {
                    let choice = ConsentView {
                        granted: c.value.granted,
                        source: c.value.source.clone(),
                        at: format_timestamp(c.at),
                    };
                    (p.as_str().to_string(), choice)
                })
                .collect(),
            first_seen: (self.events > 0).then(|| format_timestamp(self.first_seen)),
            last_seen: (self.events > 0).then(|| format_timestamp(self.last_seen)),
            events: self.events,
            lifecycle_stage: self.lifecycle_stage(now),
            sessions: SessionsView {
                count: sessions,
                total_seconds: duration / 1000,
                average_seconds: if sessions == 0 {
                    0
                } else {
                    duration / 1000 / sessions as i64
                },
                last_28_days: self.sessions.started_within(now, 28 * DAY),
                per_week: round3(self.sessions.started_within(now, 28 * DAY) as f64 / 4.0),
                last_started_at: self.sessions.last().map(|s| format_timestamp(s.start)),
            },
            page_views: self.page_views,
            product_views: self.product_views,
            comparisons: self.sessions.comparisons(),
            searches: self.searches,
            affinities: AffinitiesView {
                categories: ranked(&self.categories),
                brands: ranked(&self.brands),
                price_bands: ranked(&self.price_bands),
            },
            recently_viewed: self
                .recent_products
                .iter()
                .rev()
                .map(|(p, _)| p.to_string())
                .collect(),
            cart: CartView {
                items: self
                    .cart
                    .items()
                    .map(|l| CartItemView {
                        product_id: l.product_id.clone(),
                        quantity: l.quantity,
                        price: l.price,
                    })
                    .collect(),
                value: round2(self.cart.value()),
                updated_at: self.cart.updated_at().map(format_timestamp),
            },
            checkouts: self.checkouts,
            orders: OrdersView {
                count: self.orders.count,
                revenue: round2(self.orders.revenue),
                average_order_value: if self.orders.count == 0 {
                    0.0
                } else {
                    round2(self.orders.revenue / self.orders.count as f64)
                },
                first_order_at: self.orders.first_at.map(format_timestamp),
                last_order_at: self.orders.last_at.map(format_timestamp),
                days_since_last_order: self
                    .orders
                    .last_at
                    .map(|t| round3((now - t) as f64 / DAY as f64)),
                refunds: self.orders.refunds,
            },
            recently_purchased: self
                .purchased
                .iter()
                .rev()
                .map(|(p, _)| p.to_string())
                .collect(),
            email: EmailView {
                delivered: self.email.delivered,
                opened: self.email.opened,
                clicked: self.email.clicked,
                bounced: self.email.bounced,
                unsubscribed: self.email.unsubscribed,
                open_rate: rate(self.email.opened, self.email.delivered),
                click_rate: rate(self.email.clicked, self.email.delivered),
            },
            promotions: PromotionsView {
                viewed: self.promotions_viewed,
                clicked: self.promotions_clicked,
            },
            predictions: None,
            retired_anonymous_ids: self.identity.retired_ids.clone(),
            identity_conflicts: self.identity.conflicts.clone(),
        }
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProfileView {
    pub id: String,
    pub user_ids: Vec<String>,
    pub anonymous_ids: Vec<String>,
    pub traits: BTreeMap<String, Value>,
    pub consent: BTreeMap<String, ConsentView>,
    pub first_seen: Option<String>,
    pub last_seen: Option<String>,
    pub events: u64,
    pub lifecycle_stage: LifecycleStage,
    pub sessions: SessionsView,
    pub page_views: u64,
    pub product_views: u64,
    pub comparisons: u64,
    pub searches: u64,
    pub affinities: AffinitiesView,
    pub recently_viewed: Vec<String>,
    pub cart: CartView,
    pub checkouts: u64,
    pub orders: OrdersView,
    pub recently_purchased: Vec<String>,
    pub email: EmailView,
    pub promotions: PromotionsView,
    /// What the trained models predict; `null` until a model version is trained.
    pub predictions: Option<Predictions>,
    /// AnonymousIds that no longer resolve to this person (beyond the newest kept).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub retired_anonymous_ids: Vec<String>,
    /// Merges with other identified profiles that the identity rules refused.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub identity_conflicts: Vec<super::IdentityConflict>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ConsentView {
    pub granted: bool,
    pub source: String,
    pub at: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionsView {
    pub count: u64,
    pub total_seconds: i64,
    pub average_seconds: i64,
    pub last_28_days: u64,
    pub per_week: f64,
    pub last_started_at: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Scored {
    pub key: String,
    pub score: f64,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AffinitiesView {
    pub categories: Vec<Scored>,
    pub brands: Vec<Scored>,
    pub price_bands: Vec<Scored>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CartItemView {
    pub product_id: String,
    pub quantity: i64,
    pub price: f64,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CartView {
    pub items: Vec<CartItemView>,
    pub value: f64,
    pub updated_at: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OrdersView {
    pub count: u64,
    pub revenue: f64,
    pub average_order_value: f64,
    pub first_order_at: Option<String>,
    pub last_order_at: Option<String>,
    pub days_since_last_order: Option<f64>,
    pub refunds: u64,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EmailView {
    pub delivered: u64,
    pub opened: u64,
    pub clicked: u64,
    pub bounced: u64,
    pub unsubscribed: u64,
    pub open_rate: f64,
    pub click_rate: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct PromotionsView {
    pub viewed: u64,
    pub clicked: u64,
}

/// What the models say about one person now (`predictions` on the profile and in targeting
/// conditions). A field is `null` when its model is not trained or does not apply (lifetime
/// fields need a first order).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Predictions {
    pub model_version: u32,
    /// Discounted value of the next 12 months' orders (1 % a month), for customers.
    pub clv: Option<f64>,
    /// What ad spend can follow: `clv` for customers; for everyone else the chance of a
    /// first order within 7 days times the store's mean order value.
    pub predicted_value: Option<f64>,
    pub p_alive: Option<f64>,
    pub expected_orders_90d: Option<f64>,
    /// When one more order is expected (within a year).
    pub next_order_date: Option<String>,
    pub churn_risk: Option<f64>,
    /// Probability of an order before this visit ends (the next visit's, between visits).
    pub purchase_intent_session: Option<f64>,
    pub purchase_intent_7d: Option<f64>,
    /// Categories they have not engaged with yet, likeliest first.
    pub next_categories: Vec<String>,
    /// UTC hour of day (0–23) of the best hour of week to send.
    pub best_send_hour: Option<u32>,
    /// The same as hour of week, 0 = Monday 00:00 UTC.
    pub best_send_hour_of_week: Option<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifecycle_follows_the_documented_rules() {
        let now = 400 * DAY;
        let mut p = Profile::new(1);
        p.events = 1;
        p.last_seen = now;
        assert_eq!(p.lifecycle_stage(now), LifecycleStage::Discovery);
        p.product_views = 3;
        assert_eq!(p.lifecycle_stage(now), LifecycleStage::Evaluation);
        p.orders.record(now - DAY, 10.0);
        assert_eq!(p.lifecycle_stage(now), LifecycleStage::Purchase);
        p.orders.record(now, 10.0);
        assert_eq!(p.lifecycle_stage(now), LifecycleStage::Repeat);
        assert_eq!(p.lifecycle_stage(now + 61 * DAY), LifecycleStage::AtRisk);
        assert_eq!(p.lifecycle_stage(now + 90 * DAY), LifecycleStage::Lapsed);
    }
}
