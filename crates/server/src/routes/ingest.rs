//! The Segment HTTP Tracking API: `/v1/track`, `/identify`, `/page`, `/screen`, `/group`,
//! `/alias` and `/batch` (analytics.js's short paths, `/v1/t` …, call the same functions:
//! see `analytics_js`).
//!
//! A single-message call answers 400 for an invalid message and stores nothing. A batch
//! follows Segment: valid messages are stored, invalid ones are dropped, and the reply is
//! still 200, here with `rejected` listing each dropped message's index and reason.
//! `200 {"success":true}` means every accepted message is durable and in its profile.
//!
//! With a public (browser) key, a message's `userId` counts only with proof in
//! `integrations.Tailor` (`userHash` or `profileToken`); without it the engine's trust rules
//! apply (see `tailor_engine::ingest::trust`), and a message it refuses answers 403 alone or
//! is listed in `rejected` in a batch.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use serde_json::Value;
use tailor_core::MessageType;
use tailor_core::message::{
    Envelope, MAX_BATCH_MESSAGES, MAX_MESSAGE_BYTES, parse_message, parse_sent_at,
};
use utoipa::ToSchema;

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{SegmentBatch, SegmentMessage};

/// The reply to an accepted call.
#[derive(Serialize, ToSchema)]
pub struct Receipt {
    success: bool,
    /// Messages stored.
    accepted: usize,
    /// Messages already stored before (same `messageId`).
    duplicates: usize,
    /// Events that named an erased person and were refused (only when some were).
    #[serde(skip_serializing_if = "is_zero")]
    suppressed: usize,
    /// Events not stored for lack of analytics consent (only when some were).
    #[serde(skip_serializing_if = "is_zero")]
    withheld: usize,
    /// Unproven browser messages whose trait or consent changes were not applied to the
    /// known customer their device belongs to (only when some were).
    #[serde(skip_serializing_if = "is_zero")]
    ignored: usize,
    /// Batch messages dropped as invalid (only when some were).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    rejected: Vec<Rejected>,
}

/// A batch message dropped as invalid.
#[derive(Serialize, ToSchema)]
pub struct Rejected {
    /// Its position in `batch`.
    index: usize,
    code: &'static str,
    message: String,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl Receipt {
    fn of(receipt: &tailor_engine::Receipt, rejected: Vec<Rejected>) -> Self {
        Receipt {
            success: true,
            accepted: receipt.accepted,
            duplicates: receipt.duplicates,
            suppressed: receipt.suppressed,
            withheld: receipt.withheld,
            ignored: receipt.ignored,
            rejected,
        }
    }
}

pub(crate) type Reply = Result<Json<Receipt>, ApiError>;

/// Records a track call.
#[utoipa::path(post, path = "/v1/track", tag = "ingest", security(("write_key" = [])),
    request_body(content = Object, description = "A Segment Spec message (`userId` or `anonymousId`, `event`, `properties`, `traits`, `context`, `timestamp`, `messageId`, …), optionally with `writeKey`; at most 32 KB", content_type = "application/json"),
    responses((status = 200, body = Receipt)))]
pub async fn track(s: State<AppState>, m: SegmentMessage) -> Reply {
    single(s, m, MessageType::Track).await
}

/// Records an identify call.
#[utoipa::path(post, path = "/v1/identify", tag = "ingest", security(("write_key" = [])),
    request_body(content = Object, description = "A Segment Spec message (`userId` or `anonymousId`, `event`, `properties`, `traits`, `context`, `timestamp`, `messageId`, …), optionally with `writeKey`; at most 32 KB", content_type = "application/json"),
    responses((status = 200, body = Receipt)))]
pub async fn identify(s: State<AppState>, m: SegmentMessage) -> Reply {
    single(s, m, MessageType::Identify).await
}

/// Records a page call.
#[utoipa::path(post, path = "/v1/page", tag = "ingest", security(("write_key" = [])),
    request_body(content = Object, description = "A Segment Spec message (`userId` or `anonymousId`, `event`, `properties`, `traits`, `context`, `timestamp`, `messageId`, …), optionally with `writeKey`; at most 32 KB", content_type = "application/json"),
    responses((status = 200, body = Receipt)))]
pub async fn page(s: State<AppState>, m: SegmentMessage) -> Reply {
    single(s, m, MessageType::Page).await
}

/// Records a screen call.
#[utoipa::path(post, path = "/v1/screen", tag = "ingest", security(("write_key" = [])),
    request_body(content = Object, description = "A Segment Spec message (`userId` or `anonymousId`, `event`, `properties`, `traits`, `context`, `timestamp`, `messageId`, …), optionally with `writeKey`; at most 32 KB", content_type = "application/json"),
    responses((status = 200, body = Receipt)))]
pub async fn screen(s: State<AppState>, m: SegmentMessage) -> Reply {
    single(s, m, MessageType::Screen).await
}

/// Records a group call.
#[utoipa::path(post, path = "/v1/group", tag = "ingest", security(("write_key" = [])),
    request_body(content = Object, description = "A Segment Spec message (`userId` or `anonymousId`, `event`, `properties`, `traits`, `context`, `timestamp`, `messageId`, …), optionally with `writeKey`; at most 32 KB", content_type = "application/json"),
    responses((status = 200, body = Receipt)))]
pub async fn group(s: State<AppState>, m: SegmentMessage) -> Reply {
    single(s, m, MessageType::Group).await
}

/// Records an alias call.
#[utoipa::path(post, path = "/v1/alias", tag = "ingest", security(("write_key" = [])),
    request_body(content = Object, description = "A Segment Spec message (`userId` or `anonymousId`, `event`, `properties`, `traits`, `context`, `timestamp`, `messageId`, …), optionally with `writeKey`; at most 32 KB", content_type = "application/json"),
    responses((status = 200, body = Receipt)))]
pub async fn alias(s: State<AppState>, m: SegmentMessage) -> Reply {
    single(s, m, MessageType::Alias).await
}

/// One message of `kind`: the long routes here and analytics.js's short ones
/// (`analytics_js`) share it.
pub(crate) async fn single(
    State(state): State<AppState>,
    m: SegmentMessage,
    kind: MessageType,
) -> Reply {
    let envelope = Envelope {
        received_at: state.engine.now(),
        ..Default::default()
    };
    let message = parse_message(m.message, Some(kind), &envelope, || state.new_message_id())
        .map_err(|e| ApiError::bad_request(e.code, e.message))?;
    let receipt = state
        .engine
        .ingest(vec![message], m.caller.origin())
        .await?;
    if let Some((_, refused)) = receipt.rejected.first() {
        return Err(ApiError::forbidden_code(
            refused.code,
            refused.message.clone(),
        ));
    }
    Ok(Json(Receipt::of(&receipt, Vec::new())))
}

/// Records a batch of messages: the valid ones are stored, the invalid ones listed in
/// `rejected`. At most 500 KB and 2,500 messages.
#[utoipa::path(post, path = "/v1/batch", tag = "ingest", security(("write_key" = [])),
    request_body(content = Object, description = "`{\"batch\": [message, …], \"context\"?, \"integrations\"?, \"sentAt\"?, \"writeKey\"?}`", content_type = "application/json"),
    responses((status = 200, body = Receipt)))]
pub async fn batch(State(state): State<AppState>, b: SegmentBatch) -> Reply {
    let envelope = b.batch;
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
    // Each parsed message's index in the batch, to report the engine's refusals.
    let mut positions = Vec::with_capacity(envelope.batch.len());
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
            Ok(m) => {
                messages.push(m);
                positions.push(index);
            }
            Err((code, message)) => rejected.push(Rejected {
                index,
                code,
                message,
            }),
        }
    }
    let receipt = state.engine.ingest(messages, b.caller.origin()).await?;
    rejected.extend(receipt.rejected.iter().map(|(i, e)| Rejected {
        index: positions[*i],
        code: e.code,
        message: e.message.clone(),
    }));
    rejected.sort_by_key(|r| r.index);
    if !rejected.is_empty() {
        tracing::info!(rejected = rejected.len(), "batch messages dropped");
        metrics::counter!("tailor_events_rejected_total").increment(rejected.len() as u64);
    }
    Ok(Json(Receipt::of(&receipt, rejected)))
}
