//! What the store's shoppers do with its products, learned online from events: popularity
//! (two-week half-life), trending (two-day half-life) and which products are looked at or
//! bought together. Recommendations are built from these at decision time.
//!
//! It is derived state like profiles: updated by the writer thread as events are
//! committed, saved with profile checkpoints, rebuilt by replaying the log.

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tailor_core::time::{DAY, MINUTE};
use tailor_core::{Message, MessageType, Millis};

use crate::learn::session_model::{SessionClicks, SessionModel};
use crate::profile::Profile;

/// Half-life of "trending": a product's recent pull.
const TRENDING_HALF_LIFE: Millis = 2 * DAY;
/// Half-life of popularity.
const POPULAR_HALF_LIFE: Millis = 14 * DAY;
/// Views of two products this close together count as looked at together.
const CO_VIEW_WINDOW: Millis = 30 * MINUTE;
/// Neighbours kept per product.
pub const MAX_NEIGHBOURS: usize = 50;
/// How many earlier views a new view pairs with.
const PAIR_WITH: usize = 5;

const W_VIEW: f32 = 1.0;
const W_ADD: f32 = 3.0;
const W_ORDER: f32 = 5.0;

/// A decayed sum with its own half-life (see `profile::Decayed` for the idea).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Score {
    pub value: f64,
    pub at: Millis,
}

impl Score {
    /// Adds `weight` at `at`; a negative weight takes back an earlier addition (erasure),
    /// exactly, because decay is linear.
    fn add(&mut self, weight: f64, at: Millis, half_life: Millis) {
        let decay = |dt: Millis| (-(dt as f64) * std::f64::consts::LN_2 / half_life as f64).exp();
        if self.value == 0.0 {
            *self = Score { value: weight, at };
        } else if at > self.at {
            self.value = self.value * decay(at - self.at) + weight;
            self.at = at;
        } else {
            self.value += weight * decay(self.at - at);
        }
        if self.value < 1e-9 {
            *self = Score::default();
        }
    }

    pub fn value_at(&self, now: Millis, half_life: Millis) -> f64 {
        if now <= self.at {
            self.value
        } else {
            self.value
                * (-((now - self.at) as f64) * std::f64::consts::LN_2 / half_life as f64).exp()
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ProductStats {
    pub popular: Score,
    pub trending: Score,
    pub views: u64,
    pub orders: u64,
    /// Products looked at or bought together with this one, strongest first.
    pub neighbours: Vec<(String, f32)>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Recs {
    pub products: HashMap<String, ProductStats>,
    /// Rankings derived by [`Recs::refresh`] for the request path, so a decision never
    /// sorts the catalog.
    #[serde(skip)]
    pub ranked: Ranked,
    /// The recent product views the session model learns from (checkpointed on their own,
    /// compactly: see `session_model`).
    #[serde(skip)]
    pub clicks: SessionClicks,
    /// The session model trained from `clicks`, swapped in whole when retrained.
    #[serde(skip)]
    pub session_model: Option<Arc<SessionModel>>,
}

/// Store-wide rankings as of `at`.
#[derive(Debug, Clone, Default)]
pub struct Ranked {
    pub at: Millis,
    /// The most popular and trending products, strongest first.
    pub top: Vec<(String, f64)>,
    /// How much shoppers engage with each category path (sum of its products' popularity).
    pub category_pull: HashMap<String, f64>,
    /// The most popular in-stock products of each category path, strongest first.
    pub category_top: HashMap<String, Vec<(String, f64)>>,
    /// Every top-level category path of the catalog, by pull (strongest first), then name:
    /// navigation ranks only the head of it besides the visitor's own categories.
    pub nav_order: Vec<String>,
}

/// Products kept per category in the ranking.
pub const CATEGORY_TOP: usize = 30;

/// Products kept in the store-wide ranking.
const TOP: usize = 300;

impl Recs {
    /// Learns from one committed event; `profile` is the person's profile after the event.
    pub fn observe(&mut self, m: &Message, profile: &Profile) {
        self.learn(m, profile, 1.0);
        if let (MessageType::Track, Some("Product Viewed" | "Product Clicked")) =
            (m.kind, m.event.as_deref())
            && let Some(id) = product_id(&m.properties)
        {
            self.clicks.push(profile.id, &id, m.timestamp);
        }
    }

    /// Takes back what one person's events taught (erasure): `events` are all of theirs, in
    /// log order, and `profile_ids` every profile id they had. Their events are folded again
    /// into a scratch profile, so each one's contribution is recomputed and subtracted; pairs
    /// and scores left at zero are removed. Exact for events that went through one profile;
    /// views paired across two of their profiles just before a merge may leave a residue
    /// of other people's weight only (a subtraction never goes below zero).
    pub fn forget(
        &mut self,
        events: &[Message],
        profile_ids: &[crate::profile::ProfileId],
        catalog: &crate::profile::catalog::Catalog,
    ) -> bool {
        let mut scratch = Profile::new(0);
        let mut learned = false;
        for m in events {
            scratch.apply(m, catalog);
            learned |= teaches(m);
            self.learn(m, &scratch, -1.0);
        }
        learned |= self.clicks.forget(profile_ids);
        self.products.retain(|_, s| {
            s.popular.value > 0.0 || s.views > 0 || s.orders > 0 || !s.neighbours.is_empty()
        });
        learned
    }

    /// Adds (`sign` 1) or takes back (`sign` -1) what one event teaches (see [`teaches`]).
    fn learn(&mut self, m: &Message, profile: &Profile, sign: f32) {
        if m.kind != MessageType::Track {
            return;
        }
        let count = |n: &mut u64| {
            *n = if sign > 0.0 {
                *n + 1
            } else {
                n.saturating_sub(1)
            }
        };
        let at = m.timestamp;
        match m.event.as_deref() {
            Some("Product Viewed" | "Product Clicked") => {
                let Some(id) = product_id(&m.properties) else {
                    return;
                };
                self.credit(&id, sign * W_VIEW, at, |s| count(&mut s.views));
                // Pair with the products viewed just before it in the same visit.
                let earlier: Vec<&str> = profile
                    .recent_products
                    .iter()
                    .rev()
                    .filter(|(p, t)| **p != *id && (at - *t).abs() <= CO_VIEW_WINDOW)
                    .take(PAIR_WITH)
                    .map(|(p, _)| &**p)
                    .collect();
                for other in earlier {
                    self.pair(&id, other, sign * W_VIEW);
                }
            }
            Some("Product Added") => {
                if let Some(id) = product_id(&m.properties) {
                    self.credit(&id, sign * W_ADD, at, |_| {});
                }
            }
            Some("Order Completed") => {
                let ids: Vec<String> = match m.properties.get("products") {
                    Some(serde_json::Value::Array(items)) => items
                        .iter()
                        .filter_map(|p| p.as_object().and_then(product_id))
                        .collect(),
                    _ => Vec::new(),
                };
                for id in &ids {
                    self.credit(id, sign * W_ORDER, at, |s| count(&mut s.orders));
                }
                for (i, a) in ids.iter().enumerate() {
                    for b in &ids[i + 1..] {
                        if a != b {
                            self.pair(a, b, sign * W_ORDER);
                        }
                    }
                }
            }
            _ => {}
        }
    }

    fn credit(&mut self, id: &str, weight: f32, at: Millis, count: impl FnOnce(&mut ProductStats)) {
        let s = self.products.entry(id.to_string()).or_default();
        s.popular.add(f64::from(weight), at, POPULAR_HALF_LIFE);
        s.trending.add(f64::from(weight), at, TRENDING_HALF_LIFE);
        count(s);
    }

    fn pair(&mut self, a: &str, b: &str, weight: f32) {
        for (x, y) in [(a, b), (b, a)] {
            let list = &mut self.products.entry(x.to_string()).or_default().neighbours;
            match list.iter_mut().position(|(p, _)| p == y) {
                Some(i) if weight < 0.0 => {
                    list[i].1 += weight;
                    if list[i].1 <= 1e-6 {
                        list.remove(i);
                    } else {
                        // Keep the list sorted by strength: sink the shrunk entry.
                        let mut i = i;
                        while i + 1 < list.len() && list[i + 1].1 > list[i].1 {
                            list.swap(i, i + 1);
                            i += 1;
                        }
                    }
                }
                None if weight < 0.0 => {}
                Some(i) => {
                    list[i].1 += weight;
                    // Keep the list sorted by strength: bubble the grown entry up.
                    let mut i = i;
                    while i > 0 && list[i - 1].1 < list[i].1 {
                        list.swap(i - 1, i);
                        i -= 1;
                    }
                }
                None if list.len() < MAX_NEIGHBOURS => list.push((y.to_string(), weight)),
                None => {
                    // Replace the weakest: new pairs must be able to enter.
                    if let Some(last) = list.last_mut()
                        && last.1 <= weight
                    {
                        *last = (y.to_string(), weight);
                    }
                }
            }
        }
    }

    /// Recomputes the store-wide rankings (called by the writer about once a second).
    pub fn refresh(&mut self, catalog: &crate::profile::catalog::Catalog, now: Millis) {
        let mut top: Vec<(String, f64)> = self
            .products
            .iter()
            .map(|(id, s)| {
                let score = s.popular.value_at(now, POPULAR_HALF_LIFE)
                    + 2.0 * s.trending.value_at(now, TRENDING_HALF_LIFE);
                (id.clone(), score)
            })
            .filter(|(id, score)| *score > 0.0 && catalog.product(id).is_some_and(|p| p.in_stock()))
            .collect();
        top.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        top.truncate(TOP);
        let mut category_pull: HashMap<String, f64> = HashMap::new();
        let mut category_top: HashMap<String, Vec<(String, f64)>> = HashMap::new();
        for (id, s) in &self.products {
            if let Some(p) = catalog.product(id) {
                let pull = s.popular.value_at(now, POPULAR_HALF_LIFE);
                for depth in 1..=p.category.len() {
                    let path = p.category[..depth].join("/");
                    *category_pull.entry(path.clone()).or_default() += pull;
                    if p.in_stock() && pull > 0.0 {
                        category_top
                            .entry(path)
                            .or_default()
                            .push((id.clone(), pull));
                    }
                }
            }
        }
        for list in category_top.values_mut() {
            list.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            list.truncate(CATEGORY_TOP);
        }
        let pull = |path: &str| category_pull.get(path).copied().unwrap_or(0.0);
        let mut nav_order: Vec<(f64, &str)> = catalog
            .category_tree()
            .iter()
            .map(|n| (pull(&n.path), n.path.as_str()))
            .collect();
        nav_order.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
        let nav_order = nav_order.into_iter().map(|(_, p)| p.to_string()).collect();
        self.ranked = Ranked {
            at: now,
            top,
            category_pull,
            category_top,
            nav_order,
        };
    }

    /// The most popular in-stock products of a category path, strongest first.
    pub fn top_in(&self, category: &str) -> &[(String, f64)] {
        self.ranked
            .category_top
            .get(category)
            .map_or(&[], Vec::as_slice)
    }

    pub fn stats(&self, id: &str) -> Option<&ProductStats> {
        self.products.get(id)
    }

    /// A product's popularity at `now` (views, adds and orders with a two-week half-life).
    pub fn popularity(&self, id: &str, now: Millis) -> f64 {
        self.products
            .get(id)
            .map_or(0.0, |s| s.popular.value_at(now, POPULAR_HALF_LIFE))
    }
}

fn product_id(props: &serde_json::Map<String, serde_json::Value>) -> Option<String> {
    ["product_id", "sku", "id"]
        .iter()
        .find_map(|k| match props.get(*k) {
            Some(serde_json::Value::String(s)) if !s.is_empty() => Some(s.clone()),
            Some(serde_json::Value::Number(n)) => Some(n.to_string()),
            _ => None,
        })
}

/// Whether `m` is an event the store-wide rankings learn from (`Recs::learn`).
fn teaches(m: &Message) -> bool {
    m.kind == MessageType::Track
        && matches!(
            m.event.as_deref(),
            Some("Product Viewed" | "Product Clicked" | "Product Added" | "Order Completed")
        )
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use tailor_core::message::{Envelope, parse_message};

    use super::*;
    use crate::profile::catalog::Catalog;

    fn view(p: &str, minute: i64) -> Message {
        parse_message(
            json!({"type": "track", "userId": "u", "event": "Product Viewed", "properties": {"product_id": p},
                   "timestamp": tailor_core::time::format_timestamp(minute * MINUTE)}),
            None,
            &Envelope::default(),
            || format!("{p}{minute}"),
        )
        .unwrap()
    }

    #[test]
    fn learns_co_views_within_a_visit_and_popularity() {
        let mut recs = Recs::default();
        let mut profile = Profile::new(1);
        for (p, minute) in [("a", 0), ("b", 1), ("c", 2), ("a", 3), ("b", 4), ("z", 500)] {
            let m = view(p, minute);
            profile.apply(&m, &Catalog::default());
            recs.observe(&m, &profile);
        }
        let a = recs.stats("a").unwrap();
        assert_eq!(a.views, 2);
        assert_eq!(a.neighbours[0].0, "b", "{:?}", a.neighbours);
        assert!(
            recs.stats("z").unwrap().neighbours.is_empty(),
            "a view hours later pairs with nothing"
        );
        let popular = |id: &str| {
            recs.stats(id)
                .unwrap()
                .popular
                .value_at(10 * MINUTE, POPULAR_HALF_LIFE)
        };
        assert!(popular("a") > popular("c"));
    }
}
