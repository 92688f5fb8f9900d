//! Segment messages and batch envelopes as the core parses them (`parse_message`,
//! `BatchEnvelope`, `parse_sent_at`), without HTTP, so the fuzzer spends its time in the
//! parser. A message that parses re-serialises to JSON that deserialises to the same
//! message, and satisfies Segment's rules (ids, event name, bounded amounts).
//!
//! Input: byte 0 picks the endpoint's type (or none: a batch item, or the whole input as a
//! batch body); the rest is JSON.

use serde_json::Value;
use tailor_core::message::{
    BatchEnvelope, Envelope, MAX_MESSAGE_ID_CHARS, Message, MessageType, parse_message,
    parse_sent_at,
};

const RECEIVED_AT: i64 = 1_767_225_600_000;
const KINDS: [MessageType; 6] = [
    MessageType::Track,
    MessageType::Identify,
    MessageType::Page,
    MessageType::Screen,
    MessageType::Group,
    MessageType::Alias,
];

pub fn run(input: &[u8]) {
    let [selector, body @ ..] = input else {
        return;
    };
    let envelope = Envelope {
        received_at: RECEIVED_AT,
        ..Default::default()
    };
    match *selector % 8 {
        k @ 0..6 => {
            if let Ok(value) = serde_json::from_slice::<Value>(body) {
                one(value, Some(KINDS[k as usize]), &envelope);
            }
        }
        6 => {
            if let Ok(value) = serde_json::from_slice::<Value>(body) {
                one(value, None, &envelope);
            }
        }
        _ => batch(body),
    }
}

fn batch(body: &[u8]) {
    let Ok(batch) = serde_json::from_slice::<BatchEnvelope<'_>>(body) else {
        return;
    };
    let Ok(sent_at) = parse_sent_at(batch.sent_at.as_ref()) else {
        return;
    };
    let envelope = Envelope {
        received_at: RECEIVED_AT,
        sent_at,
        context: batch.context.as_ref(),
        integrations: batch.integrations.as_ref(),
    };
    for raw in &batch.batch {
        if let Ok(value) = serde_json::from_str::<Value>(raw.get())
            && let Some(m) = one(value, None, &envelope)
        {
            // The batch's context fills in what the message left out, never overrides.
            for (k, v) in batch.context.iter().flatten() {
                assert!(m.context.contains_key(k), "context.{k} lost: {v}");
            }
        }
    }
}

fn one(value: Value, kind: Option<MessageType>, envelope: &Envelope<'_>) -> Option<Message> {
    let stated_type = value.get("type").cloned();
    let m = parse_message(value, kind, envelope, || "generated".into()).ok()?;
    // Segment's rules hold for whatever was accepted.
    match kind {
        Some(k) => assert_eq!(m.kind, k),
        None => assert_eq!(
            stated_type.as_ref().and_then(Value::as_str),
            Some(m.kind.as_str())
        ),
    }
    if m.kind == MessageType::Alias {
        assert!(m.user_id.is_some() && m.previous_id.is_some());
    } else {
        assert!(m.user_id.is_some() || m.anonymous_id.is_some());
    }
    if m.kind == MessageType::Track {
        assert!(m.event.as_deref().is_some_and(|e| !e.trim().is_empty()));
    }
    assert!(!m.message_id.is_empty() && m.message_id.chars().count() <= MAX_MESSAGE_ID_CHARS);
    assert_eq!(m.received_at, RECEIVED_AT);
    // What is stored (the log keeps messages as JSON) reads back as the same message.
    let stored = serde_json::to_string(&m).expect("a message serialises");
    let back: Message = serde_json::from_str(&stored)
        .unwrap_or_else(|e| panic!("stored message does not read back ({e}): {stored}"));
    assert_eq!(back, m, "stored message reads back different: {stored}");
    Some(m)
}
