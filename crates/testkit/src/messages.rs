//! Segment calls as a test writes them, turned into [`Message`]s by the same parser the
//! HTTP API uses, so an engine test reads like the storefront code that sends them:
//!
//! ```ignore
//! kit.send(track(json!({"userId": "u1", "event": "Product Viewed",
//!     "properties": {"product_id": "p1"}}))).await;
//! ```

use serde_json::{Map, Value};
use tailor_core::message::{Envelope, parse_message, parse_sent_at};
use tailor_core::{Message, MessageType, Millis};

/// One call of the Segment Tracking API (`/v1/track`, `/v1/identify`, …).
#[derive(Debug, Clone)]
pub struct Call {
    kind: MessageType,
    body: Value,
}

/// A `/v1/batch` body: `{"batch": [{"type": …}, …], "sentAt"?, "context"?}`.
#[derive(Debug, Clone)]
pub struct Batch {
    body: Value,
}

pub fn track(body: Value) -> Call {
    Call {
        kind: MessageType::Track,
        body,
    }
}

pub fn identify(body: Value) -> Call {
    Call {
        kind: MessageType::Identify,
        body,
    }
}

pub fn page(body: Value) -> Call {
    Call {
        kind: MessageType::Page,
        body,
    }
}

pub fn screen(body: Value) -> Call {
    Call {
        kind: MessageType::Screen,
        body,
    }
}

pub fn group(body: Value) -> Call {
    Call {
        kind: MessageType::Group,
        body,
    }
}

pub fn alias(body: Value) -> Call {
    Call {
        kind: MessageType::Alias,
        body,
    }
}

pub fn batch(body: Value) -> Batch {
    Batch { body }
}

/// Calls that become messages, received at `received_at`; `new_id` names messages
/// without a `messageId`, as the server does. Panics on an invalid message: tests that
/// check refusals go through the HTTP API, where refusals are answered.
pub trait Segment {
    fn messages(self, received_at: Millis, new_id: &mut dyn FnMut() -> String) -> Vec<Message>;
}

impl Segment for Call {
    fn messages(self, received_at: Millis, new_id: &mut dyn FnMut() -> String) -> Vec<Message> {
        let envelope = Envelope {
            received_at,
            ..Default::default()
        };
        let text = self.body.to_string();
        let m = parse_message(self.body, Some(self.kind), &envelope, new_id)
            .unwrap_or_else(|e| panic!("invalid {:?} call {text}: {e:?}", self.kind));
        vec![m]
    }
}

impl Segment for Batch {
    fn messages(self, received_at: Millis, new_id: &mut dyn FnMut() -> String) -> Vec<Message> {
        let sent_at = parse_sent_at(self.body.get("sentAt")).expect("a valid sentAt");
        let context: Option<&Map<String, Value>> =
            self.body.get("context").and_then(Value::as_object);
        let integrations = self.body.get("integrations").and_then(Value::as_object);
        let envelope = Envelope {
            received_at,
            sent_at,
            context,
            integrations,
        };
        self.body["batch"]
            .as_array()
            .expect("a batch array")
            .iter()
            .map(|item| {
                parse_message(item.clone(), None, &envelope, &mut *new_id)
                    .unwrap_or_else(|e| panic!("invalid batch message {item}: {e:?}"))
            })
            .collect()
    }
}

impl<S: Segment> Segment for Vec<S> {
    fn messages(self, received_at: Millis, new_id: &mut dyn FnMut() -> String) -> Vec<Message> {
        self.into_iter()
            .flat_map(|s| s.messages(received_at, new_id))
            .collect()
    }
}

impl<S: Segment, const N: usize> Segment for [S; N] {
    fn messages(self, received_at: Millis, new_id: &mut dyn FnMut() -> String) -> Vec<Message> {
        Vec::from(self).messages(received_at, new_id)
    }
}
