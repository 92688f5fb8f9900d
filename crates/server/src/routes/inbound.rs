//! What providers report back (`/v1/inbound/…`), authenticated by the inbound secret (see
//! `extract::inbound`): email bounces and spam complaints, and SMS replies (STOP).

use axum::Json;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use tailor_engine::journeys::inbound::{EmailFeedback, InboundReceipt, SmsReply};

use crate::AppState;
use crate::error::ApiError;
use crate::extract::Inbound;
use crate::extract::json::parse;

/// Bounces and complaints: one report `{"type": "bounce"|"complaint", "email"?,
/// "messageId"?, "bounceType"?: "hard"|"soft", "reason"?}` or an array of them. Each is
/// recorded as `Email Bounced` or `Email Marked as Spam` for the person it names (by the
/// quoted `Message-ID`, else every profile with the address); a hard bounce or a complaint
/// stops further email.
#[utoipa::path(post, path = "/v1/inbound/email", tag = "messages",
    security(("inbound_secret" = [])), request_body = Object,
    responses((status = 200, body = InboundReceipt)))]
pub async fn email(
    State(state): State<AppState>,
    inbound: Inbound,
) -> Result<Json<InboundReceipt>, ApiError> {
    let value: Value = parse(&inbound.body)?;
    let reports: Vec<EmailFeedback> = match value {
        Value::Array(_) => parse(&inbound.body)?,
        _ => vec![parse(&inbound.body)?],
    };
    Ok(Json(state.engine.email_feedback(reports).await?))
}

/// An SMS reply, as Twilio posts it (form fields `From`, `To`, `Body`, `MessageSid`) or as
/// JSON (`from`, `to`, `body`, `messageId`). `STOP` (and STOPALL, UNSUBSCRIBE, CANCEL, END,
/// QUIT) withdraws the SMS consent of every profile with that number; `START` grants it
/// again; anything else is an `SMS Received` event. A form gets an empty TwiML answer.
#[utoipa::path(post, path = "/v1/inbound/sms", tag = "messages",
    security(("inbound_secret" = [])),
    request_body(content = Object, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = InboundReceipt)))]
pub async fn sms(State(state): State<AppState>, inbound: Inbound) -> Result<Response, ApiError> {
    let reply: SmsReply = if inbound.is_form() {
        serde_urlencoded::from_bytes(&inbound.body).map_err(|e| {
            ApiError::bad_request(
                "invalid_request",
                format!("the form needs `From` and `Body`: {e}"),
            )
        })?
    } else {
        parse(&inbound.body)?
    };
    let form = inbound.is_form();
    let receipt = state.engine.sms_reply(reply).await?;
    if form {
        // Twilio reads the answer as instructions: an empty one sends no reply text.
        Ok((
            [(CONTENT_TYPE, "text/xml")],
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response></Response>",
        )
            .into_response())
    } else {
        Ok(Json(receipt).into_response())
    }
}
