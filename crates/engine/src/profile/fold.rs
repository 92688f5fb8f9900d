//! How each Segment event changes a profile. E-commerce Spec v2 and Email Spec events
//! feed the behavioral features; every event counts toward activity, browsing events (pages,
//! screens and on-site tracks, not what happens in an inbox or the store's back office)
//! toward sessions, and any event's `context.consent.categoryPreferences` updates consent.

use serde_json::{Map, Value};
use tailor_core::catalog::split_category;
use tailor_core::{Message, MessageType, Purpose};

use super::{ConsentChoice, Profile, Stamped, keep_latest, push_unique, remember};
use crate::profile::CartLine;
use crate::profile::catalog::Catalog;

pub(crate) const RECENT_PRODUCTS: usize = 20;

/// Affinity weight of each kind of signal: buying says more than looking.
const W_LIST: f64 = 0.5;
const W_VIEW: f64 = 1.0;
const W_WISHLIST: f64 = 2.0;
const W_ADD: f64 = 3.0;
const W_ORDER: f64 = 5.0;

/// Price bands, upper bounds exclusive.
const PRICE_BANDS: [(f64, &str); 5] = [
    (25.0, "0-25"),
    (50.0, "25-50"),
    (100.0, "50-100"),
    (200.0, "100-200"),
    (f64::INFINITY, "200+"),
];

pub fn price_band(price: f64) -> &'static str {
    PRICE_BANDS
        .iter()
        .find(|(upper, _)| price < *upper)
        .map_or("200+", |(_, b)| b)
}

/// A product mentioned by an event, completed from the catalog where the event is silent.
struct ProductRef {
    id: Option<String>,
    category: Vec<String>,
    brand: Option<String>,
    price: Option<f64>,
    quantity: i64,
}

impl ProductRef {
    fn from_props(props: &Map<String, Value>, catalog: &Catalog) -> ProductRef {
        let id = ["product_id", "sku", "id"]
            .iter()
            .find_map(|k| match props.get(*k) {
                Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
                Some(Value::Number(n)) => Some(n.to_string()),
                _ => None,
            });
        let known = id.as_deref().and_then(|id| catalog.product(id));
        let category = match props.get("category") {
            Some(Value::String(c)) if !c.trim().is_empty() => split_category(c),
            _ => known.map(|p| p.category.clone()).unwrap_or_default(),
        };
        let brand = str_prop(props, "brand").or_else(|| known.and_then(|p| p.brand.clone()));
        let price = num_prop(props, "price").or(known.map(|p| p.price));
        let quantity = num_prop(props, "quantity").map_or(1, |q| q.clamp(0.0, 1e6) as i64);
        ProductRef {
            id,
            category,
            brand,
            price,
            quantity,
        }
    }
}

fn str_prop(props: &Map<String, Value>, key: &str) -> Option<String> {
    props
        .get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn num_prop(props: &Map<String, Value>, key: &str) -> Option<f64> {
    match props.get(key)? {
        Value::Number(n) => n.as_f64().filter(|x| x.is_finite()),
        Value::String(s) => s.trim().parse::<f64>().ok().filter(|x| x.is_finite()),
        _ => None,
    }
}

/// The event's `products` array, or the event itself as one product.
fn products_of(props: &Map<String, Value>, catalog: &Catalog) -> Vec<ProductRef> {
    match props.get("products") {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_object)
            .map(|p| ProductRef::from_props(p, catalog))
            .collect(),
        _ => vec![ProductRef::from_props(props, catalog)],
    }
}

/// An order's lines by category, as the fold sees its products: (full category path, price ×
/// quantity), one entry per category, in the order they first appear; products without a
/// category are left out. The trainer's per-category forecast counts orders with this.
pub(crate) fn order_lines(props: &Map<String, Value>, catalog: &Catalog) -> Vec<(String, f64)> {
    let mut lines: Vec<(String, f64)> = Vec::new();
    for p in products_of(props, catalog) {
        if p.category.is_empty() {
            continue;
        }
        let path = p.category.join("/");
        let value = p.price.unwrap_or(0.0).max(0.0) * p.quantity.max(1) as f64;
        match lines.iter_mut().find(|(c, _)| *c == path) {
            Some(line) => line.1 += value,
            None => lines.push((path, value)),
        }
    }
    lines
}

/// Whether a track event is the visitor browsing (a session's activity). Messages that happen
/// in an inbox or on a phone's lock screen (Email Spec, push and SMS events), unsubscribes and
/// back-office events (refunds) arrive without a visit: an `Email Delivered` alone is no
/// session, and counting it would make every newsletter a visit to the site. A click in an
/// email leads to one, which its landing page records.
pub(crate) fn is_browsing(event: &str) -> bool {
    const AWAY: [&str; 3] = ["Email ", "Push ", "SMS "];
    !(AWAY.iter().any(|prefix| event.starts_with(prefix))
        || matches!(
            event,
            "Unsubscribed" | "Subscribed" | "Order Refunded" | "Order Cancelled"
        ))
}

/// FNV-1a 32: a short stable fingerprint for session view sets.
fn fingerprint(s: &str) -> u32 {
    s.bytes().fold(0x811c_9dc5u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

impl Profile {
    /// Records the message's ids on this profile (identity resolution decided it is theirs).
    pub fn add_ids(&mut self, m: &Message) {
        if let Some(u) = &m.user_id {
            push_unique(&mut self.user_ids, u);
        }
        if let Some(a) = &m.anonymous_id {
            push_unique(&mut self.anonymous_ids, a);
        }
    }

    /// Folds one event into the profile.
    pub fn apply(&mut self, m: &Message, catalog: &Catalog) {
        let at = m.timestamp;
        self.events += 1;
        self.first_seen = self.first_seen.min(at);
        self.last_seen = self.last_seen.max(at);
        self.apply_consent(m);
        match m.kind {
            MessageType::Identify => {
                for (k, v) in &m.traits {
                    let mut slot = self.traits.remove(k);
                    keep_latest(
                        &mut slot,
                        Stamped {
                            value: v.clone(),
                            at,
                        },
                    );
                    self.traits
                        .insert(k.clone(), slot.expect("keep_latest fills an empty slot"));
                }
                return;
            }
            MessageType::Alias | MessageType::Group => return,
            MessageType::Page | MessageType::Screen => {
                self.page_views += 1;
                self.sessions.record(at, None);
                return;
            }
            MessageType::Track => {}
        }
        let event = m.event.as_deref().unwrap_or_default();
        let props = &m.properties;
        let mut view = None;
        match event {
            "Product Viewed" | "Product Clicked" => {
                let p = ProductRef::from_props(props, catalog);
                self.product_views += 1;
                self.signal(&p, W_VIEW, at);
                if let Some(id) = &p.id {
                    remember(&mut self.recent_products, id, at, RECENT_PRODUCTS);
                    view = Some((fingerprint(&p.category.join("/")), fingerprint(id)));
                }
            }
            "Product List Viewed" | "Product List Filtered" => {
                if let Some(c) = str_prop(props, "category") {
                    let path = split_category(&c);
                    self.affinity_for_path(&path, W_LIST, at);
                }
            }
            "Products Searched" => self.searches += 1,
            "Product Added" => {
                let p = ProductRef::from_props(props, catalog);
                self.signal(&p, W_ADD, at);
                if let Some(id) = p.id {
                    let existing = self
                        .cart
                        .items()
                        .find(|l| l.product_id == id)
                        .map_or(0, |l| l.quantity);
                    let price = p.price.unwrap_or(0.0);
                    self.cart.set(CartLine {
                        product_id: id,
                        quantity: existing + p.quantity.max(1),
                        price,
                        at,
                    });
                }
            }
            "Product Removed" => {
                let p = ProductRef::from_props(props, catalog);
                if let Some(id) = p.id {
                    self.cart.set(CartLine {
                        product_id: id,
                        quantity: 0,
                        price: p.price.unwrap_or(0.0),
                        at,
                    });
                }
            }
            "Product Added to Wishlist" => {
                let p = ProductRef::from_props(props, catalog);
                self.signal(&p, W_WISHLIST, at);
            }
            "Cart Viewed" | "Checkout Started" => {
                if event == "Checkout Started" {
                    self.checkouts += 1;
                    self.last_checkout_at = self.last_checkout_at.max(Some(at));
                }
                for p in products_of(props, catalog) {
                    if let Some(id) = p.id {
                        let price = p.price.unwrap_or(0.0);
                        self.cart.set(CartLine {
                            product_id: id,
                            quantity: p.quantity.max(1),
                            price,
                            at,
                        });
                    }
                }
            }
            "Order Completed" => {
                let products = products_of(props, catalog);
                let line_total: f64 = products
                    .iter()
                    .map(|p| p.price.unwrap_or(0.0) * p.quantity.max(1) as f64)
                    .sum();
                let value = ["revenue", "total", "value"]
                    .iter()
                    .find_map(|k| num_prop(props, k))
                    .unwrap_or(line_total)
                    .max(0.0);
                self.orders.record(at, value);
                for p in &products {
                    self.signal(p, W_ORDER, at);
                    if let Some(id) = &p.id {
                        remember(&mut self.purchased, id, at, RECENT_PRODUCTS);
                    }
                }
                self.cart.clear(at);
            }
            "Order Refunded" => {
                self.orders.refunds += 1;
                self.orders.refunded += ["total", "revenue", "value"]
                    .iter()
                    .find_map(|k| num_prop(props, k))
                    .unwrap_or(0.0);
            }
            "Promotion Viewed" => self.promotions_viewed += 1,
            "Promotion Clicked" => self.promotions_clicked += 1,
            "Email Delivered" => self.email.delivered += 1,
            "Email Opened" => {
                self.email.opened += 1;
                self.email.last_opened_at = self.email.last_opened_at.max(Some(at));
            }
            "Email Link Clicked" => self.email.clicked += 1,
            // A soft bounce (a full mailbox, a server down) says nothing about the address.
            "Email Bounced" => {
                let kind = str_prop(props, "bounce_type").or_else(|| str_prop(props, "bounceType"));
                if !kind.is_some_and(|k| {
                    matches!(k.to_ascii_lowercase().as_str(), "soft" | "transient")
                }) {
                    self.email.bounced += 1;
                }
            }
            // An unsubscribe or a spam complaint withdraws the channel's consent (email unless
            // `channel` says otherwise), whoever reports it.
            "Unsubscribed" | "Email Marked as Spam" => {
                let complaint = event == "Email Marked as Spam";
                let purpose = if complaint {
                    Purpose::Email
                } else {
                    str_prop(props, "channel")
                        .and_then(|c| Purpose::parse(&c))
                        .unwrap_or(Purpose::Email)
                };
                if purpose == Purpose::Email {
                    self.email.unsubscribed += 1;
                }
                let mut slot = self.consent.remove(&purpose);
                keep_latest(
                    &mut slot,
                    Stamped {
                        value: ConsentChoice {
                            granted: false,
                            source: str_prop(props, "consentSource").unwrap_or_else(|| {
                                if complaint {
                                    "spam complaint"
                                } else {
                                    "unsubscribe"
                                }
                                .into()
                            }),
                        },
                        at,
                    },
                );
                self.consent
                    .insert(purpose, slot.expect("keep_latest fills an empty slot"));
            }
            _ => {}
        }
        if is_browsing(event) {
            self.sessions.record(at, view);
        }
    }

    fn signal(&mut self, p: &ProductRef, weight: f64, at: i64) {
        self.affinity_for_path(&p.category, weight, at);
        if let Some(b) = &p.brand {
            self.brands.add(b, weight, at);
        }
        if let Some(price) = p.price {
            self.price_bands.add(price_band(price), weight, at);
        }
    }

    /// Credits the top level and the full path (`Shoes`, `Shoes/Running`).
    fn affinity_for_path(&mut self, path: &[String], weight: f64, at: i64) {
        let Some(top) = path.first() else { return };
        self.categories.add(top, weight, at);
        if path.len() > 1 {
            self.categories.add(&path.join("/"), weight, at);
        }
    }

    fn apply_consent(&mut self, m: &Message) {
        let Some(Value::Object(prefs)) = m
            .context
            .get("consent")
            .and_then(|c| c.get("categoryPreferences"))
        else {
            return;
        };
        let source = m
            .properties
            .get("consentSource")
            .and_then(Value::as_str)
            .unwrap_or(
                if m.event.as_deref() == Some("Segment Consent Preference Updated") {
                    "consent manager"
                } else {
                    "event"
                },
            )
            .to_string();
        for (category, granted) in prefs {
            let Some(granted) = granted.as_bool() else {
                continue;
            };
            let stamp = |value| Stamped {
                value,
                at: m.timestamp,
            };
            match Purpose::parse(category).or_else(|| Purpose::from_category(category)) {
                Some(purpose) => {
                    let mut slot = self.consent.remove(&purpose);
                    keep_latest(
                        &mut slot,
                        stamp(ConsentChoice {
                            granted,
                            source: source.clone(),
                        }),
                    );
                    self.consent
                        .insert(purpose, slot.expect("keep_latest fills an empty slot"));
                }
                None => {
                    let mut slot = self.consent_other.remove(category);
                    keep_latest(
                        &mut slot,
                        Stamped {
                            value: granted,
                            at: m.timestamp,
                        },
                    );
                    self.consent_other.insert(
                        category.clone(),
                        slot.expect("keep_latest fills an empty slot"),
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use tailor_core::message::{Envelope, parse_message};

    use super::*;

    #[test]
    fn order_lines_sum_each_category_and_skip_products_without_one() {
        let props = json!({"products": [
            {"product_id": "a", "category": "Women/Shoes", "price": 20.0, "quantity": 2},
            {"product_id": "b", "category": "Home", "price": 10.0},
            {"product_id": "c", "category": "Women/Shoes", "price": 5.0},
            {"product_id": "d", "price": 99.0}]});
        let lines = order_lines(props.as_object().unwrap(), &Catalog::default());
        assert_eq!(
            lines,
            vec![
                ("Women/Shoes".to_string(), 45.0),
                ("Home".to_string(), 10.0)
            ]
        );
    }

    fn msg(v: Value) -> Message {
        parse_message(
            v,
            None,
            &Envelope {
                received_at: 0,
                ..Default::default()
            },
            || "id".into(),
        )
        .unwrap()
    }

    #[test]
    fn ecommerce_events_build_features() {
        let cat = Catalog::default();
        let mut p = Profile::new(1);
        let t = "2026-01-01T10:00:00Z";
        for (event, props) in [
            (
                "Product Viewed",
                json!({"product_id": "a", "category": "Shoes/Running", "price": 80, "brand": "Fleet"}),
            ),
            (
                "Product Viewed",
                json!({"product_id": "b", "category": "Shoes/Running", "price": 90}),
            ),
            (
                "Product Added",
                json!({"product_id": "a", "category": "Shoes/Running", "price": 80, "quantity": 2}),
            ),
        ] {
            p.apply(&msg(json!({"type": "track", "userId": "u", "event": event, "properties": props, "timestamp": t})), &cat);
        }
        assert_eq!(p.product_views, 2);
        assert_eq!(p.sessions.comparisons(), 1);
        assert_eq!(p.cart.value(), 160.0);
        assert_eq!(p.categories.ranked(0)[0].0, "Shoes");
        assert_eq!(p.price_bands.ranked(0)[0].0, "50-100");
        p.apply(
            &msg(json!({"type": "track", "userId": "u", "event": "Order Completed",
                "properties": {"total": 160, "products": [{"product_id": "a", "price": 80, "quantity": 2}]},
                "timestamp": "2026-01-01T10:05:00Z"})),
            &cat,
        );
        assert_eq!(p.orders.count, 1);
        assert_eq!(p.orders.revenue, 160.0);
        assert_eq!(p.cart.items().count(), 0);
        assert_eq!(&*p.purchased[0].0, "a");
    }

    #[test]
    fn consent_comes_from_category_preferences() {
        let mut p = Profile::new(1);
        p.apply(
            &msg(json!({"type": "page", "anonymousId": "a", "timestamp": "2026-01-01T00:00:00Z",
                "context": {"consent": {"categoryPreferences": {"Advertising": false, "Analytics": true, "Custom": true}}}})),
            &Catalog::default(),
        );
        assert_eq!(p.consent_to(Purpose::Advertising), Some(false));
        assert_eq!(p.consent_to(Purpose::Analytics), Some(true));
        assert_eq!(p.consent_to(Purpose::Email), None);
        assert!(p.consent_other["Custom"].value);
        // An older choice arriving late does not override a newer one.
        p.apply(
            &msg(
                json!({"type": "page", "anonymousId": "a", "timestamp": "2025-01-01T00:00:00Z",
                "context": {"consent": {"categoryPreferences": {"Advertising": true}}}}),
            ),
            &Catalog::default(),
        );
        assert_eq!(p.consent_to(Purpose::Advertising), Some(false));
    }

    #[test]
    fn only_browsing_events_count_as_sessions() {
        let cat = Catalog::default();
        let mut p = Profile::new(1);
        let track = |event: &str, at: &str| {
            msg(json!({"type": "track", "userId": "u", "event": event,
                "properties": {"email_id": "e1"}, "timestamp": at}))
        };
        // A newsletter delivered, opened a day later and a refund a week later: no visit.
        p.apply(&track("Email Delivered", "2026-01-01T09:00:00Z"), &cat);
        p.apply(&track("Email Opened", "2026-01-02T19:00:00Z"), &cat);
        p.apply(&track("Order Refunded", "2026-01-09T12:00:00Z"), &cat);
        p.apply(&track("Unsubscribed", "2026-01-10T12:00:00Z"), &cat);
        assert_eq!(p.events, 4);
        assert_eq!(p.sessions.count(), 0);
        assert_eq!(p.email.delivered, 1);
        // The visit a click brings: its page and on-site events are one session.
        p.apply(&track("Email Link Clicked", "2026-01-12T19:00:00Z"), &cat);
        p.apply(
            &msg(json!({"type": "page", "userId": "u", "timestamp": "2026-01-12T19:00:10Z"})),
            &cat,
        );
        p.apply(&track("Products Searched", "2026-01-12T19:02:00Z"), &cat);
        assert_eq!(p.sessions.count(), 1);
        assert!(is_browsing("Product Viewed") && is_browsing("Order Completed"));
        assert!(!is_browsing("Push Notification Delivered") && !is_browsing("Email Bounced"));
    }

    #[test]
    fn price_bands_cover_all_prices() {
        assert_eq!(price_band(0.0), "0-25");
        assert_eq!(price_band(25.0), "25-50");
        assert_eq!(price_band(199.99), "100-200");
        assert_eq!(price_band(5000.0), "200+");
    }
}
