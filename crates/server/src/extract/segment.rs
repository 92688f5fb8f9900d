//! Segment's tracking bodies. Segment's libraries authenticate with HTTP Basic, but
//! analytics.js sends `writeKey` inside a `text/plain` JSON body, so these extractors read the
//! body (within Segment's limits: 32 KB per message, 500 KB per batch, gzip included; 413
//! beyond), take the key from the header or else the body, and admit it as [`Write`]. The
//! body is parsed before the key is checked, as Segment does: broken JSON is a 400 whoever
//! sends it.

use axum::extract::{FromRequest, Request};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use tailor_core::message::{MAX_BATCH_BYTES, MAX_MESSAGE_BYTES};

use super::auth::{Caller, Presented, Write};
use crate::AppState;
use crate::body::read_limited;
use crate::error::{ApiError, json_error};

/// One message (`/v1/track`, `/identify`, …): a JSON object, `writeKey` taken out.
pub struct SegmentMessage {
    pub caller: Caller,
    pub message: Value,
}

impl FromRequest<AppState> for SegmentMessage {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let (mut parts, body) = req.into_parts();
        let bytes = read_limited(&parts.headers, body, MAX_MESSAGE_BYTES).await?;
        let mut message: Map<String, Value> = match serde_json::from_slice(&bytes) {
            Ok(Value::Object(o)) => o,
            Ok(_) => {
                return Err(ApiError::bad_request(
                    "invalid_request",
                    "the body must be a JSON object",
                ));
            }
            Err(e) => return Err(json_error(e)),
        };
        let body_key = match message.remove("writeKey") {
            Some(Value::String(k)) => Some(k),
            _ => None,
        };
        let caller = Presented::of(&mut parts)
            .authorize::<Write>(state.engine.keys(), body_key.as_deref())?;
        Ok(SegmentMessage {
            caller,
            message: Value::Object(message),
        })
    }
}

/// `/v1/batch`: the envelope, each message still raw (each is parsed on its own, so one bad
/// message drops only itself).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Batch {
    pub batch: Vec<Box<RawValue>>,
    #[serde(default)]
    pub context: Option<Map<String, Value>>,
    #[serde(default)]
    pub integrations: Option<Map<String, Value>>,
    #[serde(default)]
    pub sent_at: Option<Value>,
    #[serde(default)]
    write_key: Option<String>,
}

pub struct SegmentBatch {
    pub caller: Caller,
    pub batch: Batch,
}

impl FromRequest<AppState> for SegmentBatch {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let (mut parts, body) = req.into_parts();
        let bytes = read_limited(&parts.headers, body, MAX_BATCH_BYTES).await?;
        let mut batch: Batch = serde_json::from_slice(&bytes).map_err(json_error)?;
        let body_key = batch.write_key.take();
        let caller = Presented::of(&mut parts)
            .authorize::<Write>(state.engine.keys(), body_key.as_deref())?;
        Ok(SegmentBatch { caller, batch })
    }
}
