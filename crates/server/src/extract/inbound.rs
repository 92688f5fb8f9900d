//! Inbound provider webhooks (bounces, complaints, SMS replies) change consent and
//! suppress sends, so they are never open to the public write key: [`Inbound`] admits a
//! request that knows the inbound secret (`TAILOR_INBOUND_SECRET`) — as the password of
//! HTTP Basic auth or a bearer token, which providers put in the webhook URL they call
//! (`https://twilio:SECRET@tailor.example.com/v1/inbound/sms`), or as a Standard Webhooks
//! signature (`webhook-id`, `webhook-timestamp`, `webhook-signature`) made with it.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::HeaderMap;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use base64::Engine as _;

use crate::AppState;
use crate::body::read_limited;
use crate::error::ApiError;

/// Largest inbound webhook body.
const LIMIT: usize = 256 * 1024;

/// An authenticated inbound webhook: its body, read, and its content type.
pub struct Inbound {
    pub body: Bytes,
    pub content_type: String,
}

impl Inbound {
    /// Whether the body is a form (`application/x-www-form-urlencoded`), as Twilio sends.
    pub fn is_form(&self) -> bool {
        self.content_type
            .starts_with("application/x-www-form-urlencoded")
    }
}

/// The secret presented in `Authorization`: a Basic password, or a bearer token.
fn presented(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, rest) = value.split_once(' ')?;
    if scheme.eq_ignore_ascii_case("bearer") {
        return Some(rest.trim().to_string());
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest.trim())
            .ok()?;
        let text = String::from_utf8(decoded).ok()?;
        return text
            .split_once(':')
            .map(|(_, password)| password.to_string());
    }
    None
}

impl FromRequest<AppState> for Inbound {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let (parts, body) = req.into_parts();
        if !state.engine.inbound_enabled() {
            return Err(ApiError::unauthorized(
                "inbound webhooks are off: set TAILOR_INBOUND_SECRET and give it to the provider",
            ));
        }
        let body = read_limited(&parts.headers, body, LIMIT).await?;
        let header = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let signed = match (
            header("webhook-id"),
            header("webhook-timestamp"),
            header("webhook-signature"),
        ) {
            (Some(id), Some(ts), Some(sig)) => Some((id, ts, sig)),
            _ => None,
        };
        let secret = presented(&parts.headers);
        let authentic = state.engine.inbound_authentic(
            secret.as_deref(),
            signed
                .as_ref()
                .map(|(id, ts, sig)| (id.as_str(), ts.as_str(), sig.as_str())),
            &body,
        );
        if !authentic {
            return Err(ApiError::unauthorized(
                "an inbound webhook needs the inbound secret: as the HTTP Basic password, a bearer token, or a Standard Webhooks signature",
            ));
        }
        Ok(Inbound {
            body,
            content_type: header(CONTENT_TYPE.as_str()).unwrap_or_default(),
        })
    }
}
