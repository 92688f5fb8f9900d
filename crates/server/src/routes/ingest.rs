//! The Segment HTTP Tracking API: `/v1/track`, `/identify`, `/page`, `/screen`, `/group`,
//! `/alias` and `/batch`.
//!
//! A single-message call answers 400 for an invalid message and stores nothing. A batch
//! follows Segment: valid messages are stored, invalid ones are dropped, and the reply is
//! still 200, here with `rejected` listing each dropped message's index and reason.
//! `200 {"success":true}` means every accepted message is durable and in its profile.

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::{Extension, Json};
use serde_json::{Value, json};
use tailor_core::MessageType;
use tailor_core::message::{
    BatchEnvelope, Envelope, MAX_BATCH_BYTES, MAX_BATCH_MESSAGES, MAX_MESSAGE_BYTES, parse_message,
    parse_sent_at,
};
use tailor_engine::Scope;

use crate::AppState;
use crate::auth::authorize;
use crate::body::read_limited;
use crate::error::{ApiError, json_error};
use crate::ratelimit::KeyCheck;

/// Set by the rate limiter when the key may be in the body: counted once it is known.
type Pending = Option<Extension<KeyCheck>>;

pub async fn track(s: State<AppState>, k: Pending, h: HeaderMap, b: Body) -> Reply {
    single(s, k, h, b, MessageType::Track).await
}
pub async fn identify(s: State<AppState>, k: Pending, h: HeaderMap, b: Body) -> Reply {
    single(s, k, h, b, MessageType::Identify).await
}
pub async fn page(s: State<AppState>, k: Pending, h: HeaderMap, b: Body) -> Reply {
    single(s, k, h, b, MessageType::Page).await
}
pub async fn screen(s: State<AppState>, k: Pending, h: HeaderMap, b: Body) -> Reply {
    single(s, k, h, b, MessageType::Screen).await
}
pub async fn group(s: State<AppState>, k: Pending, h: HeaderMap, b: Body) -> Reply {
    single(s, k, h, b, MessageType::Group).await
}
pub async fn alias(s: State<AppState>, k: Pending, h: HeaderMap, b: Body) -> Reply {
    single(s, k, h, b, MessageType::Alias).await
}

type Reply = Result<Json<Value>, ApiError>;

/// Authorizes the write key from the header or the body, then counts it against its rate
/// limit if the limiter could not (it was in the body).
fn authorize_write(
    state: &AppState,
    pending: Pending,
    headers: &HeaderMap,
    body_key: Option<&str>,
) -> Result<(), ApiError> {
    let scope = authorize(state.engine.keys(), headers, body_key, Scope::Write)?;
    if let Some(Extension(check)) = pending {
        check.check(scope)?;
    }
    Ok(())
}

async fn single(
    State(state): State<AppState>,
    pending: Pending,
    headers: HeaderMap,
    body: Body,
    kind: MessageType,
) -> Result<Json<Value>, ApiError> {
    let bytes = read_limited(&headers, body, MAX_MESSAGE_BYTES).await?;
    let mut value: Value = serde_json::from_slice(&bytes).map_err(json_error)?;
    let Some(obj) = value.as_object_mut() else {
        return Err(ApiError::bad_request(
            "invalid_request",
            "the body must be a JSON object",
        ));
    };
    let body_key = match obj.remove("writeKey") {
        Some(Value::String(k)) => Some(k),
        _ => None,
    };
    authorize_write(&state, pending, &headers, body_key.as_deref())?;
    let envelope = Envelope {
        received_at: state.engine.now(),
        ..Default::default()
    };
    let message = parse_message(value, Some(kind), &envelope, || state.new_message_id())
        .map_err(|e| ApiError::bad_request(e.code, e.message))?;
    let receipt = state.engine.ingest(vec![message]).await?;
    Ok(Json(receipt_json(&receipt)))
}

pub async fn batch(
    State(state): State<AppState>,
    pending: Pending,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let bytes = read_limited(&headers, body, MAX_BATCH_BYTES).await?;
    let envelope: BatchEnvelope<'_> = serde_json::from_slice(&bytes).map_err(json_error)?;
    authorize_write(&state, pending, &headers, envelope.write_key.as_deref())?;
    if envelope.batch.len() > MAX_BATCH_MESSAGES {
        return Err(ApiError::too_large(format!(
            "a batch may hold at most {MAX_BATCH_MESSAGES} messages; this one has {}",
            envelope.batch.len()
        )));
    }
    let sent_at = parse_sent_at(envelope.sent_at.as_ref())
        .map_err(|e| ApiError::bad_request(e.code, e.message))?;
    let env = Envelope {
        received_at: state.engine.now(),
        sent_at,
        context: envelope.context.as_ref(),
        integrations: envelope.integrations.as_ref(),
    };
    let mut messages = Vec::with_capacity(envelope.batch.len());
    let mut rejected = Vec::new();
    for (index, raw) in envelope.batch.iter().enumerate() {
        let parsed = if raw.get().len() > MAX_MESSAGE_BYTES {
            Err((
                "message_too_large",
                format!("the message is larger than {} KB", MAX_MESSAGE_BYTES / 1024),
            ))
        } else {
            serde_json::from_str::<Value>(raw.get())
                .map_err(|e| ("invalid_json", e.to_string()))
                .and_then(|v| {
                    parse_message(v, None, &env, || state.new_message_id())
                        .map_err(|e| (e.code, e.message))
                })
        };
        match parsed {
            Ok(m) => messages.push(m),
            Err((code, message)) => {
                rejected.push(json!({"index": index, "code": code, "message": message}))
            }
        }
    }
    if !rejected.is_empty() {
        tracing::info!(
            rejected = rejected.len(),
            "batch messages dropped as invalid"
        );
        metrics::counter!("tailor_events_rejected_total").increment(rejected.len() as u64);
    }
    let receipt = state.engine.ingest(messages).await?;
    let mut reply = receipt_json(&receipt);
    if !rejected.is_empty() {
        reply["rejected"] = Value::Array(rejected);
    }
    Ok(Json(reply))
}

/// The reply to an accepted call; `suppressed` appears only when events named an erased
/// person and were refused, `withheld` when events were not stored for lack of analytics
/// consent (see the README, "Privacy").
fn receipt_json(receipt: &tailor_engine::Receipt) -> Value {
    let mut reply =
        json!({"success": true, "accepted": receipt.accepted, "duplicates": receipt.duplicates});
    if receipt.suppressed > 0 {
        reply["suppressed"] = json!(receipt.suppressed);
    }
    if receipt.withheld > 0 {
        reply["withheld"] = json!(receipt.withheld);
    }
    reply
}
