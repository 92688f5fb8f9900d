//! Message templates (minijinja with Tailor's blocks and filters): validation as saving
//! does it, then rendering every part with the sample shopper and with a context the fuzzer
//! shapes. A template that validates renders with the sample shopper; no render panics or
//! outlives the budget (the engine's fuel and output limits hold it).
//!
//! Input: byte 0 picks the channel; the rest, split at the first two NUL bytes, is the
//! subject, the HTML part and the text part; a JSON object after a third NUL is the context.

use serde_json::Value;
use tailor_engine::journeys::channels::Channel;
use tailor_engine::journeys::language::{HTML, SUBJECT, TEXT, sample_context};
use tailor_engine::journeys::templates::{TemplateDefinition, validate};

const CHANNELS: [Channel; 5] = [
    Channel::Email,
    Channel::Sms,
    Channel::Push,
    Channel::Onsite,
    Channel::Webhook,
];

pub fn run(input: &[u8]) {
    let [channel, rest @ ..] = input else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let mut parts = text.splitn(4, '\0');
    let definition = TemplateDefinition {
        channel: CHANNELS[*channel as usize % CHANNELS.len()],
        subject: parts.next().unwrap_or_default().to_string(),
        html: parts.next().unwrap_or_default().to_string(),
        text: parts.next().unwrap_or_default().to_string(),
    };
    let context = parts
        .next()
        .and_then(|c| serde_json::from_str::<Value>(c).ok())
        .filter(Value::is_object);
    let Ok(compiled) = crate::within_budget("validate", || validate("fuzz", &definition)) else {
        return;
    };
    let sample = sample_context();
    for part in [SUBJECT, HTML, TEXT] {
        let rendered = crate::within_budget("render", || compiled.render(part, &sample));
        assert!(
            rendered.is_ok(),
            "a valid template fails with the sample shopper: {rendered:?}"
        );
        if let Some(context) = &context {
            let _ = crate::within_budget("render", || compiled.render(part, context));
        }
    }
    // What is stored reads back as the same definition.
    let json = serde_json::to_string(&definition).expect("serialises");
    let again: TemplateDefinition = serde_json::from_str(&json).expect("reads back");
    assert_eq!(again, definition);
}
