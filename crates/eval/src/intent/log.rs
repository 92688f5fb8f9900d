//! Reads a data directory's event log into one activity timeline per customer: identities
//! joined as the engine joins them (a message carrying several ids, or an `alias`, makes them
//! one customer), E-commerce and Email Spec events mapped to [`Activity`], categories interned.

use std::collections::HashMap;
use std::path::Path;

use serde_json::Value;
use tailor_core::message::{Message, MessageType};
use tailor_ml::intent::{Activity, ActivityKind, CategoryId};
use tailor_store::{EventLog as _, SqliteStore};

use crate::error::{Error, invalid};

/// Events read from the store per call.
const PAGE: usize = 20_000;

/// Customer segments for send-time shrinkage: the device of their first visit.
pub const SEGMENTS: [&str; 3] = ["desktop", "mobile", "unknown"];

pub struct Customer {
    /// In time order.
    pub timeline: Vec<Activity>,
    /// Index into [`SEGMENTS`].
    pub segment: usize,
}

pub struct EventLog {
    pub customers: Vec<Customer>,
    /// Customer index by identity key (`user:<userId>`, `anon:<anonymousId>`).
    pub ids: HashMap<String, usize>,
    pub categories: Vec<String>,
    pub events: u64,
    /// Time of the first and last event, seconds.
    pub first: f64,
    pub last: f64,
}

/// Union–find over identity keys.
#[derive(Default)]
struct Identities {
    index: HashMap<String, usize>,
    parent: Vec<usize>,
}

impl Identities {
    fn key(&mut self, key: String) -> usize {
        let next = self.parent.len();
        let id = *self.index.entry(key).or_insert(next);
        if id == next {
            self.parent.push(next);
        }
        id
    }

    fn root(&mut self, mut x: usize) -> usize {
        while self.parent[x] != x {
            self.parent[x] = self.parent[self.parent[x]];
            x = self.parent[x];
        }
        x
    }

    /// The root without compressing paths, for when the map is borrowed.
    fn root_of(&self, mut x: usize) -> usize {
        while self.parent[x] != x {
            x = self.parent[x];
        }
        x
    }

    fn join(&mut self, a: usize, b: usize) {
        let (ra, rb) = (self.root(a), self.root(b));
        if ra != rb {
            // The older key survives, so the result does not depend on which id came first.
            let (keep, drop) = if ra < rb { (ra, rb) } else { (rb, ra) };
            self.parent[drop] = keep;
        }
    }
}

/// Reads the event log of the data directory `dir`.
pub fn read(dir: &Path) -> Result<EventLog, Error> {
    if !dir.is_dir() {
        invalid!("no data directory at {}", dir.display());
    }
    // Opening a store creates one; refuse a directory that holds none rather than leave an
    // empty store behind in it.
    if !dir.join("tailor.db").is_file() {
        invalid!(
            "{} holds no Tailor store (no tailor.db); point --data at a directory `tailor serve` or `tailor demo` wrote",
            dir.display()
        );
    }
    let store = SqliteStore::open(dir)
        .map_err(|e| Error::step(format!("cannot open the store in {}", dir.display()), e))?;
    let mut identities = Identities::default();
    let mut categories: HashMap<String, CategoryId> = HashMap::new();
    let mut category_names: Vec<String> = Vec::new();
    // (identity key, activity) in log order, and each key's first device.
    let mut activities: Vec<(usize, Activity)> = Vec::new();
    // Each key's first device, with the log position that showed it.
    let mut first_device: HashMap<usize, (i64, usize)> = HashMap::new();
    let (mut events, mut first, mut last) = (0u64, f64::INFINITY, f64::NEG_INFINITY);
    let mut seq = 0;
    loop {
        let page = store
            .events_after(seq, PAGE)
            .map_err(|e| Error::step("cannot read the event log", e))?;
        let Some(newest) = page.last() else { break };
        seq = newest.seq;
        // What training leaves out (a demo's live phase), the evaluation does too.
        for stored in page.iter().filter(|e| e.message.for_training()) {
            let m = &stored.message;
            events += 1;
            let time = m.timestamp as f64 / 1000.0;
            first = first.min(time);
            last = last.max(time);
            let mut keys = Vec::with_capacity(3);
            if let Some(id) = &m.user_id {
                keys.push(identities.key(format!("user:{id}")));
            }
            for id in [&m.anonymous_id, &m.previous_id].into_iter().flatten() {
                keys.push(identities.key(format!("anon:{id}")));
            }
            let Some(&key) = keys.first() else { continue };
            for &other in &keys[1..] {
                identities.join(key, other);
            }
            if let Some(agent) = m.context.get("userAgent").and_then(Value::as_str) {
                let mobile = agent.contains("Mobile");
                first_device
                    .entry(key)
                    .or_insert((stored.seq, usize::from(mobile)));
            }
            let mut intern = |name: &str| -> CategoryId {
                *categories.entry(name.to_string()).or_insert_with(|| {
                    category_names.push(name.to_string());
                    (category_names.len() - 1) as CategoryId
                })
            };
            for activity in activities_of(m, time, &mut intern) {
                activities.push((key, activity));
            }
        }
    }
    if events == 0 {
        invalid!("the event log in {} is empty", dir.display());
    }
    let mut by_root: HashMap<usize, usize> = HashMap::new();
    let mut customers: Vec<Customer> = Vec::new();
    // The customer's segment is the device of the earliest message that named one.
    let mut segment_of_root: HashMap<usize, (i64, usize)> = HashMap::new();
    for (&key, &(seq, device)) in &first_device {
        let root = identities.root(key);
        let slot = segment_of_root.entry(root).or_insert((seq, device));
        if seq < slot.0 {
            *slot = (seq, device);
        }
    }
    for (key, activity) in activities {
        let root = identities.root(key);
        let index = *by_root.entry(root).or_insert_with(|| {
            customers.push(Customer {
                timeline: Vec::new(),
                segment: segment_of_root.get(&root).map_or(2, |&(_, device)| device),
            });
            customers.len() - 1
        });
        customers[index].timeline.push(activity);
    }
    for c in &mut customers {
        // Stable: an order's lines stay after the order at the same time.
        c.timeline.sort_by(|a, b| a.time.total_cmp(&b.time));
    }
    let mut ids = HashMap::new();
    for (key, &index) in &identities.index {
        let root = identities.root_of(index);
        if let Some(&customer) = by_root.get(&root) {
            ids.insert(key.clone(), customer);
        }
    }
    Ok(EventLog {
        customers,
        ids,
        categories: category_names,
        events,
        first,
        last,
    })
}

/// What one message says about its customer's activity (orders give one activity per line).
fn activities_of(
    m: &Message,
    time: f64,
    intern: &mut impl FnMut(&str) -> CategoryId,
) -> Vec<Activity> {
    let kind = match m.kind {
        MessageType::Page | MessageType::Screen => ActivityKind::Page,
        MessageType::Track => match m.event.as_deref().unwrap_or("") {
            "Product Viewed" => ActivityKind::ProductViewed,
            "Product Added" => ActivityKind::ProductAdded,
            "Product Removed" => ActivityKind::ProductRemoved,
            "Checkout Started" => ActivityKind::CheckoutStarted,
            "Order Completed" => ActivityKind::OrderCompleted,
            "Email Delivered" => ActivityKind::EmailDelivered,
            "Email Opened" => ActivityKind::EmailOpened,
            "Email Link Clicked" => ActivityKind::EmailClicked,
            // Server-side events about a customer that are no visit of theirs.
            "Order Refunded" | "Email Bounced" | "Unsubscribed" | "Email Marked as Spam" => {
                return Vec::new();
            }
            _ => ActivityKind::Page,
        },
        _ => return Vec::new(),
    };
    let props = &m.properties;
    let mut activity = Activity::new(time, kind);
    match kind {
        ActivityKind::ProductViewed | ActivityKind::ProductAdded | ActivityKind::ProductRemoved => {
            if let Some(c) = category(props) {
                activity = activity.in_category(intern(&c));
            }
            activity = activity.worth(line_value(props));
            vec![activity]
        }
        ActivityKind::OrderCompleted => {
            let revenue = ["revenue", "total", "value"]
                .iter()
                .find_map(|k| props.get(*k).and_then(Value::as_f64))
                .unwrap_or(0.0);
            let mut out = vec![activity.worth(revenue)];
            let lines = props.get("products").and_then(Value::as_array);
            for line in lines.into_iter().flatten() {
                let Some(line) = line.as_object() else {
                    continue;
                };
                let mut purchased =
                    Activity::new(time, ActivityKind::Purchased).worth(line_value(line));
                if let Some(c) = category(line) {
                    purchased = purchased.in_category(intern(&c));
                }
                out.push(purchased);
            }
            out
        }
        _ => vec![activity],
    }
}

/// The product's category: a string as Segment's spec has it, or a list of levels.
fn category(props: &serde_json::Map<String, Value>) -> Option<String> {
    match props.get("category")? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Array(levels) => {
            let parts: Vec<&str> = levels.iter().filter_map(Value::as_str).collect();
            (!parts.is_empty()).then(|| parts.join("/"))
        }
        _ => None,
    }
}

/// price × quantity (quantity 1 when absent).
fn line_value(props: &serde_json::Map<String, Value>) -> f64 {
    let price = props.get("price").and_then(Value::as_f64).unwrap_or(0.0);
    let quantity = props.get("quantity").and_then(Value::as_f64).unwrap_or(1.0);
    price * quantity
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use tailor_core::message::{Envelope, parse_message};

    use super::*;

    fn message(value: Value) -> Message {
        let envelope = Envelope {
            received_at: 1_780_000_000_000,
            ..Default::default()
        };
        parse_message(value, None, &envelope, || "id".into()).expect("a valid message")
    }

    #[test]
    fn orders_become_one_activity_per_line_with_its_category_and_value() {
        let m = message(
            json!({"type": "track", "userId": "u", "event": "Order Completed",
            "timestamp": "2026-06-01T10:00:00Z",
            "properties": {"revenue": 50.0, "products": [
                {"product_id": "a", "category": "Women/Shoes", "price": 20.0, "quantity": 2},
                {"product_id": "b", "category": ["Home", "Decor"], "price": 10.0}]}}),
        );
        let mut names = Vec::new();
        let activities = activities_of(&m, 1.0, &mut |c: &str| {
            names.push(c.to_string());
            (names.len() - 1) as CategoryId
        });
        assert_eq!(activities.len(), 3);
        assert_eq!(activities[0].kind, ActivityKind::OrderCompleted);
        assert_eq!(activities[0].value, 50.0);
        assert_eq!(
            (activities[1].category, activities[1].value),
            (Some(0), 40.0)
        );
        assert_eq!(
            (activities[2].category, activities[2].value),
            (Some(1), 10.0)
        );
        assert_eq!(names, ["Women/Shoes", "Home/Decor"]);
    }

    #[test]
    fn emails_are_kept_and_refunds_and_identifies_are_not_visits() {
        let kind = |value: Value| {
            activities_of(&message(value), 0.0, &mut |_: &str| 0)
                .first()
                .map(|a| a.kind)
        };
        let track = |event: &str| json!({"type": "track", "userId": "u", "event": event});
        assert_eq!(kind(track("Email Opened")), Some(ActivityKind::EmailOpened));
        assert_eq!(kind(track("Promotion Viewed")), Some(ActivityKind::Page));
        assert_eq!(kind(track("Order Refunded")), None);
        assert_eq!(kind(json!({"type": "identify", "userId": "u"})), None);
        assert_eq!(
            kind(json!({"type": "page", "anonymousId": "a"})),
            Some(ActivityKind::Page)
        );
    }

    #[test]
    fn identities_join_transitively_whatever_the_order() {
        let mut ids = Identities::default();
        let (a, b, c, d) = (
            ids.key("anon:a".into()),
            ids.key("user:u".into()),
            ids.key("anon:b".into()),
            ids.key("anon:c".into()),
        );
        ids.join(c, b);
        ids.join(b, a);
        assert_eq!(ids.root(c), ids.root(a));
        assert_eq!(ids.root(a), a, "the first key seen survives");
        assert_ne!(ids.root(d), ids.root(a));
    }
}
