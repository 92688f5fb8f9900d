//! Segment Spec messages: parsing, Segment's validation rules and timestamp correction.
//!
//! The wire format is the Segment HTTP Tracking API. A [`Message`] is what survives
//! validation: ids normalised to strings, timestamps corrected for client clock skew,
//! and a `messageId` that makes delivery idempotent.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::time::{Millis, parse_timestamp};

/// Per-message size limit of the Tracking API, in bytes of JSON.
pub const MAX_MESSAGE_BYTES: usize = 32 * 1024;
/// Per-request limit of `/v1/batch`, in bytes of JSON.
pub const MAX_BATCH_BYTES: usize = 500 * 1024;
/// Most messages one `/v1/batch` request may carry.
pub const MAX_BATCH_MESSAGES: usize = 2_500;
/// Segment asks for message ids shorter than 100 characters.
pub const MAX_MESSAGE_ID_CHARS: usize = 100;
/// Longest user, anonymous, group or previous id accepted.
pub const MAX_ID_CHARS: usize = 1_024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageType {
    Track,
    Identify,
    Page,
    Screen,
    Group,
    Alias,
}

impl MessageType {
    pub fn parse(s: &str) -> Option<MessageType> {
        Some(match s {
            "track" => MessageType::Track,
            "identify" => MessageType::Identify,
            "page" => MessageType::Page,
            "screen" => MessageType::Screen,
            "group" => MessageType::Group,
            "alias" => MessageType::Alias,
            _ => return None,
        })
    }
    pub fn as_str(self) -> &'static str {
        match self {
            MessageType::Track => "track",
            MessageType::Identify => "identify",
            MessageType::Page => "page",
            MessageType::Screen => "screen",
            MessageType::Group => "group",
            MessageType::Alias => "alias",
        }
    }
}

/// A validated Segment message, as stored in the event log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Message {
    #[serde(rename = "type")]
    pub kind: MessageType,
    pub message_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anonymous_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
    /// The track event's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    /// The page or screen name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub properties: Map<String, Value>,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub traits: Map<String, Value>,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub context: Map<String, Value>,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub integrations: Map<String, Value>,
    /// When it happened, corrected for the sender's clock skew (ms since epoch).
    pub timestamp: Millis,
    /// The timestamp as the sender stated it, before correction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_timestamp: Option<Millis>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_at: Option<Millis>,
    pub received_at: Millis,
}

impl Message {
    /// The ids this message names a person by, for identity resolution and erasure.
    pub fn person_ids(&self) -> impl Iterator<Item = &str> {
        [&self.user_id, &self.anonymous_id, &self.previous_id]
            .into_iter()
            .flatten()
            .map(String::as_str)
    }

    /// An order's stated value: its `revenue`, `total` or `value` property, the first that
    /// is a number.
    pub fn order_value(&self) -> Option<f64> {
        ["revenue", "total", "value"]
            .iter()
            .find_map(|k| self.properties.get(*k).and_then(Value::as_f64))
    }

    /// `properties` for track/page/screen, `traits` for identify/group.
    pub fn property(&self, key: &str) -> Option<&Value> {
        self.properties.get(key)
    }

    /// Whether model training and evaluations read this message. A sender keeps traffic
    /// that is not shoppers' normal behaviour out of them (a load test, QA, a demo's burst
    /// of live visits) with `"integrations": {"Tailor": {"training": false}}`; the message
    /// still counts everywhere else (profiles, experiments, journeys).
    pub fn for_training(&self) -> bool {
        self.integrations
            .get("Tailor")
            .and_then(|t| t.get("training"))
            .and_then(Value::as_bool)
            != Some(false)
    }
}

/// Why a message was refused, in Segment's terms where Segment has one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{message}")]
pub struct InvalidMessage {
    pub code: &'static str,
    pub message: String,
}

impl InvalidMessage {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

/// What the request around a message contributes: when it arrived, and the batch's
/// own `sentAt`, `context` and `integrations`, which Segment merges into each message.
#[derive(Debug, Clone, Default)]
pub struct Envelope<'a> {
    pub received_at: Millis,
    pub sent_at: Option<Millis>,
    pub context: Option<&'a Map<String, Value>>,
    pub integrations: Option<&'a Map<String, Value>>,
}

/// The `/v1/batch` body, with each message kept as raw JSON so its own size can be checked.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchEnvelope<'a> {
    #[serde(borrow)]
    pub batch: Vec<&'a RawValue>,
    #[serde(default)]
    pub context: Option<Map<String, Value>>,
    #[serde(default)]
    pub integrations: Option<Map<String, Value>>,
    #[serde(default)]
    pub sent_at: Option<Value>,
    #[serde(default)]
    pub write_key: Option<String>,
}

/// Parses one message. `kind` is the endpoint's type (`/v1/track`…); for batch items it is
/// `None` and the message's own `type` decides. Applies Segment's rules:
/// a `userId` or `anonymousId` is required (alias needs `userId` and `previousId`),
/// track needs `event`, group needs `groupId`.
pub fn parse_message(
    value: Value,
    kind: Option<MessageType>,
    envelope: &Envelope<'_>,
    new_message_id: impl FnOnce() -> String,
) -> Result<Message, InvalidMessage> {
    let Value::Object(mut obj) = value else {
        return Err(InvalidMessage::new(
            "invalid_message",
            "a message must be a JSON object",
        ));
    };
    let kind = match (kind, obj.get("type")) {
        (Some(k), _) => k,
        (None, Some(Value::String(t))) => MessageType::parse(t).ok_or_else(|| {
            InvalidMessage::new(
                "invalid_type",
                format!("unknown message type {t:?}: expected track, identify, page, screen, group or alias"),
            )
        })?,
        (None, Some(_)) => return Err(InvalidMessage::new("invalid_type", "`type` must be a string")),
        (None, None) => return Err(InvalidMessage::new("missing_type", "each batch item needs a `type`")),
    };

    let user_id = take_id(&mut obj, "userId")?;
    let anonymous_id = take_id(&mut obj, "anonymousId")?;
    let previous_id = take_id(&mut obj, "previousId")?;
    let group_id = take_id(&mut obj, "groupId")?;
    match kind {
        MessageType::Alias if user_id.is_none() || previous_id.is_none() => {
            return Err(InvalidMessage::new(
                "missing_alias_ids",
                "alias needs both `userId` and `previousId`",
            ));
        }
        MessageType::Alias => {}
        _ if user_id.is_none() && anonymous_id.is_none() => {
            return Err(InvalidMessage::new(
                "no_user_anon_id",
                "a message needs a `userId` or an `anonymousId`",
            ));
        }
        _ => {}
    }
    if kind == MessageType::Group && group_id.is_none() {
        return Err(InvalidMessage::new(
            "missing_group_id",
            "group needs a `groupId`",
        ));
    }

    let event = take_string(&mut obj, "event")?;
    if kind == MessageType::Track && event.as_deref().is_none_or(|e| e.trim().is_empty()) {
        return Err(InvalidMessage::new(
            "missing_event",
            "track needs a non-empty `event` name",
        ));
    }
    let name = take_string(&mut obj, "name")?;

    let message_id = match take_string(&mut obj, "messageId")? {
        Some(id) if id.chars().count() > MAX_MESSAGE_ID_CHARS => {
            return Err(InvalidMessage::new(
                "invalid_message_id",
                format!("`messageId` must be shorter than {MAX_MESSAGE_ID_CHARS} characters"),
            ));
        }
        Some(id) if !id.is_empty() => id,
        _ => new_message_id(),
    };

    let properties = take_object(&mut obj, "properties")?;
    check_amounts(&properties)?;
    let traits = take_object(&mut obj, "traits")?;
    let mut context = take_object(&mut obj, "context")?;
    let mut integrations = take_object(&mut obj, "integrations")?;
    merge_missing(&mut context, envelope.context);
    merge_missing(&mut integrations, envelope.integrations);

    let original_timestamp =
        take_time(&mut obj, "timestamp")?.or(take_time(&mut obj, "originalTimestamp")?);
    let sent_at = take_time(&mut obj, "sentAt")?.or(envelope.sent_at);
    let timestamp = corrected_timestamp(original_timestamp, sent_at, envelope.received_at);

    Ok(Message {
        kind,
        message_id,
        user_id,
        anonymous_id,
        previous_id,
        group_id,
        event,
        name,
        properties,
        traits,
        context,
        integrations,
        timestamp,
        original_timestamp,
        sent_at,
        received_at: envelope.received_at,
    })
}

/// The largest money amount or quantity a message may carry. Aggregates (revenue, order
/// values, forecasts) sum these; `1e308` in one order would turn every store-wide figure
/// into infinity, so such a message is refused rather than stored.
pub const MAX_AMOUNT: f64 = 1e9;

/// E-commerce Spec v2 fields that are summed: money and quantities.
const AMOUNT_FIELDS: [&str; 9] = [
    "total", "revenue", "value", "subtotal", "price", "quantity", "discount", "shipping", "tax",
];

/// Refuses amounts that are not finite numbers within ±[`MAX_AMOUNT`], in the properties
/// and in each of `products`.
fn check_amounts(properties: &Map<String, Value>) -> Result<(), InvalidMessage> {
    let check = |map: &Map<String, Value>, place: &str| {
        for field in AMOUNT_FIELDS {
            // Numbers, and strings that read as numbers (profiles take both).
            let amount = match map.get(field) {
                Some(Value::Number(n)) => Some(n.as_f64().unwrap_or(f64::INFINITY)),
                Some(Value::String(s)) => s.trim().parse::<f64>().ok(),
                _ => None,
            };
            if let Some(x) = amount
                && (!x.is_finite() || x.abs() > MAX_AMOUNT)
            {
                return Err(InvalidMessage::new(
                    "value_out_of_range",
                    format!(
                        "`{place}{field}` is {x:e}: amounts and quantities must be within ±{MAX_AMOUNT:e}"
                    ),
                ));
            }
        }
        Ok(())
    };
    check(properties, "properties.")?;
    if let Some(Value::Array(products)) = properties.get("products") {
        for (i, p) in products.iter().enumerate() {
            if let Value::Object(p) = p {
                check(p, &format!("properties.products[{i}]."))?;
            }
        }
    }
    Ok(())
}

/// Segment's clock-skew correction: `receivedAt - (sentAt - timestamp)` when the sender
/// stated both; its own timestamp when only that; otherwise the arrival time.
pub fn corrected_timestamp(
    timestamp: Option<Millis>,
    sent_at: Option<Millis>,
    received_at: Millis,
) -> Millis {
    match (timestamp, sent_at) {
        (Some(ts), Some(sent)) => received_at.saturating_sub(sent.saturating_sub(ts)),
        (Some(ts), None) => ts,
        (None, _) => received_at,
    }
}

/// Parses a top-level `sentAt` (batch bodies carry one for all their messages).
pub fn parse_sent_at(value: Option<&Value>) -> Result<Option<Millis>, InvalidMessage> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(v) => time_value("sentAt", v).map(Some),
    }
}

fn merge_missing(into: &mut Map<String, Value>, from: Option<&Map<String, Value>>) {
    for (k, v) in from.into_iter().flatten() {
        into.entry(k.clone()).or_insert_with(|| v.clone());
    }
}

fn take_id(obj: &mut Map<String, Value>, key: &str) -> Result<Option<String>, InvalidMessage> {
    let id = match obj.remove(key) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => s,
        // Segment's libraries send numeric ids as numbers; they name the same person as the string.
        Some(Value::Number(n)) => n.to_string(),
        Some(_) => {
            return Err(InvalidMessage::new(
                "invalid_id",
                format!("`{key}` must be a string or a number"),
            ));
        }
    };
    if id.trim().is_empty() {
        return Ok(None);
    }
    if id.chars().count() > MAX_ID_CHARS {
        return Err(InvalidMessage::new(
            "invalid_id",
            format!("`{key}` is longer than {MAX_ID_CHARS} characters"),
        ));
    }
    Ok(Some(id))
}

fn take_string(obj: &mut Map<String, Value>, key: &str) -> Result<Option<String>, InvalidMessage> {
    match obj.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(InvalidMessage::new(
            "invalid_field",
            format!("`{key}` must be a string"),
        )),
    }
}

fn take_object(
    obj: &mut Map<String, Value>,
    key: &str,
) -> Result<Map<String, Value>, InvalidMessage> {
    match obj.remove(key) {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(m)) => Ok(m),
        Some(_) => Err(InvalidMessage::new(
            "invalid_field",
            format!("`{key}` must be an object"),
        )),
    }
}

fn take_time(obj: &mut Map<String, Value>, key: &str) -> Result<Option<Millis>, InvalidMessage> {
    match obj.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => time_value(key, &v).map(Some),
    }
}

fn time_value(key: &str, v: &Value) -> Result<Millis, InvalidMessage> {
    let parsed = match v {
        Value::String(s) => parse_timestamp(s),
        _ => None,
    };
    parsed.ok_or_else(|| {
        InvalidMessage::new(
            "invalid_timestamp",
            format!("`{key}` must be an ISO-8601 date-time string"),
        )
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parse(v: Value, kind: Option<MessageType>) -> Result<Message, InvalidMessage> {
        let env = Envelope {
            received_at: 1_000_000,
            ..Default::default()
        };
        parse_message(v, kind, &env, || "generated".into())
    }

    #[test]
    fn amounts_that_would_break_aggregates_are_refused() {
        let order = |total: Value, price: Value| {
            parse(
                json!({"anonymousId": "a", "event": "Order Completed",
                       "properties": {"total": total, "products": [{"product_id": "p", "price": price}]}}),
                Some(MessageType::Track),
            )
        };
        assert!(order(json!(120.5), json!(60)).is_ok());
        let err = order(json!(1e308), json!(60)).unwrap_err();
        assert_eq!(err.code, "value_out_of_range");
        assert!(err.message.contains("properties.total"), "{}", err.message);
        let err = order(json!(10), json!(-2e9)).unwrap_err();
        assert!(
            err.message.contains("properties.products[0].price"),
            "{}",
            err.message
        );
        // Strings that read as numbers count too (profiles read them as amounts).
        assert_eq!(
            order(json!("1e308"), json!(1)).unwrap_err().code,
            "value_out_of_range"
        );
        assert!(order(json!("12.50"), json!("n/a")).is_ok());
    }

    #[test]
    fn requires_a_person_id() {
        let err = parse(json!({"event": "x"}), Some(MessageType::Track)).unwrap_err();
        assert_eq!(err.code, "no_user_anon_id");
        assert!(
            parse(
                json!({"event": "x", "anonymousId": "a"}),
                Some(MessageType::Track)
            )
            .is_ok()
        );
        let err = parse(
            json!({"event": "x", "userId": ""}),
            Some(MessageType::Track),
        )
        .unwrap_err();
        assert_eq!(err.code, "no_user_anon_id");
    }

    #[test]
    fn track_needs_event_group_needs_group_alias_needs_both() {
        assert_eq!(
            parse(json!({"userId": "u"}), Some(MessageType::Track))
                .unwrap_err()
                .code,
            "missing_event"
        );
        assert_eq!(
            parse(json!({"userId": "u"}), Some(MessageType::Group))
                .unwrap_err()
                .code,
            "missing_group_id"
        );
        assert_eq!(
            parse(json!({"userId": "u"}), Some(MessageType::Alias))
                .unwrap_err()
                .code,
            "missing_alias_ids"
        );
        let m = parse(
            json!({"userId": "u", "previousId": "a"}),
            Some(MessageType::Alias),
        )
        .unwrap();
        assert_eq!(m.previous_id.as_deref(), Some("a"));
    }

    #[test]
    fn batch_items_need_a_known_type() {
        assert_eq!(
            parse(json!({"userId": "u"}), None).unwrap_err().code,
            "missing_type"
        );
        assert_eq!(
            parse(json!({"userId": "u", "type": "nope"}), None)
                .unwrap_err()
                .code,
            "invalid_type"
        );
        let m = parse(json!({"userId": "u", "type": "identify"}), None).unwrap();
        assert_eq!(m.kind, MessageType::Identify);
    }

    #[test]
    fn numeric_ids_become_strings_and_wrong_types_are_refused() {
        let m = parse(json!({"userId": 42, "type": "identify"}), None).unwrap();
        assert_eq!(m.user_id.as_deref(), Some("42"));
        let err = parse(json!({"userId": {"a": 1}, "type": "identify"}), None).unwrap_err();
        assert_eq!(err.code, "invalid_id");
        let err = parse(
            json!({"userId": "u", "type": "track", "event": "e", "properties": [1]}),
            None,
        )
        .unwrap_err();
        assert_eq!(err.code, "invalid_field");
    }

    #[test]
    fn corrects_clock_skew_from_sent_at() {
        // The client's clock runs 10 s fast: it says sentAt = received + 10 s.
        let env = Envelope {
            received_at: 1_000_000,
            ..Default::default()
        };
        let m = parse_message(
            json!({"userId": "u", "type": "page", "timestamp": "1970-01-01T00:16:35Z", "sentAt": "1970-01-01T00:16:50Z"}),
            None,
            &env,
            || "g".into(),
        )
        .unwrap();
        assert_eq!(m.original_timestamp, Some(995_000));
        assert_eq!(m.timestamp, 1_000_000 - 15_000);
        // No timestamp at all: the arrival time.
        let m = parse(json!({"userId": "u", "type": "page"}), None).unwrap();
        assert_eq!(m.timestamp, 1_000_000);
    }

    #[test]
    fn batch_context_fills_in_but_does_not_override() {
        let ctx = json!({"ip": "1.2.3.4", "locale": "en"});
        let env = Envelope {
            received_at: 0,
            context: ctx.as_object(),
            ..Default::default()
        };
        let m = parse_message(
            json!({"userId": "u", "type": "page", "context": {"ip": "5.6.7.8"}}),
            None,
            &env,
            || "g".into(),
        )
        .unwrap();
        assert_eq!(m.context["ip"], "5.6.7.8");
        assert_eq!(m.context["locale"], "en");
    }

    #[test]
    fn message_ids_are_kept_or_generated_and_bounded() {
        let m = parse(
            json!({"userId": "u", "type": "page", "messageId": "m1"}),
            None,
        )
        .unwrap();
        assert_eq!(m.message_id, "m1");
        let m = parse(json!({"userId": "u", "type": "page"}), None).unwrap();
        assert_eq!(m.message_id, "generated");
        let long = "x".repeat(101);
        let err = parse(
            json!({"userId": "u", "type": "page", "messageId": long}),
            None,
        )
        .unwrap_err();
        assert_eq!(err.code, "invalid_message_id");
    }

    #[test]
    fn round_trips_through_json() {
        let m = parse(json!({"userId": "u", "type": "track", "event": "Order Completed", "properties": {"total": 10.5}}), None)
            .unwrap();
        let back: Message = serde_json::from_str(&serde_json::to_string(&m).unwrap()).unwrap();
        assert_eq!(back, m);
    }
}
