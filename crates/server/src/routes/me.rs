//! The shopper's own view (transparency), behind a profile token (see
//! `tailor_engine::tokens`): the store's backend gets one with the admin key
//! (`POST /v1/tokens`) for its logged-in customer and hands it to their browser.
//!
//! `GET /v1/me`: what Tailor knows (declared and inferred) and the consent state;
//! `PUT /v1/me/preferences`, `PUT /v1/me/consent`, `POST /v1/me/quizzes/{id}/answers`;
//! `GET /v1/me/decisions/{id}`: "why am I seeing this"; `GET /v1/me/export`.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use serde_json::{Map, Value, json};
use tailor_core::Purpose;
use tailor_core::time::{SECOND, format_timestamp};
use tailor_engine::Scope;

use super::preferences::{answer_quiz, declare, parse_preferences};
use crate::AppState;
use crate::auth::{authorize, header_key};
use crate::body::read_limited;
use crate::error::{ApiError, json_error};

/// The userId the request's profile token proves.
fn visitor(state: &AppState, headers: &HeaderMap) -> Result<String, ApiError> {
    let token = header_key(headers).ok_or_else(|| {
        ApiError::unauthorized("a profile token is required: `Authorization: Bearer tpt_…`")
    })?;
    state
        .engine
        .verify_token(&token)
        .map_err(|e| ApiError::unauthorized(e.to_string()))
}

fn ids_of(user_id: &str) -> Map<String, Value> {
    Map::from_iter([("userId".to_string(), Value::String(user_id.to_string()))])
}

pub async fn issue(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    authorize(state.engine.keys(), &headers, None, Scope::Admin)?;
    let bytes = read_limited(&headers, body, 4 * 1024).await?;
    let v: Value = serde_json::from_slice(&bytes).map_err(json_error)?;
    let Some(user_id) = v
        .get("userId")
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
    else {
        return Err(ApiError::bad_request(
            "invalid_request",
            "send {\"userId\": …, \"ttlSeconds\"?: 3600}: tokens are for logged-in customers",
        ));
    };
    let ttl = match v.get("ttlSeconds") {
        None | Some(Value::Null) => None,
        Some(t) => match t.as_u64() {
            Some(s) if s > 0 => Some(s as i64 * SECOND),
            _ => {
                return Err(ApiError::bad_request(
                    "invalid_request",
                    "`ttlSeconds` must be a positive integer (at most 86400 is used)",
                ));
            }
        },
    };
    let (token, expires) = state.engine.issue_token(user_id, ttl);
    Ok(Json(
        json!({"token": token, "userId": user_id, "expiresAt": format_timestamp(expires)}),
    ))
}

pub async fn get(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let user = visitor(&state, &headers)?;
    let id = user.clone();
    // With predictions: what Tailor infers is part of what the shopper may see.
    let profile = state
        .blocking(move |engine| engine.profile_in_full(&id))
        .await?;
    let consent: Map<String, Value> = state
        .engine
        .consent_state(&user)
        .map(|purposes| {
            purposes
                .into_iter()
                .map(|(p, permission)| {
                    (
                        p.as_str().to_string(),
                        json!({"allowed": permission.allowed, "reason": permission.describe()}),
                    )
                })
                .collect()
        })
        .unwrap_or_else(|| {
            // Not seen yet: the policy's defaults apply.
            let policy = state.engine.consent_policy();
            Purpose::ALL
                .into_iter()
                .map(|p| {
                    let permission = policy.may(None, p);
                    (
                        p.as_str().to_string(),
                        json!({"allowed": permission.allowed, "reason": permission.describe()}),
                    )
                })
                .collect()
        });
    Ok(Json(json!({
        "userId": user,
        "declared": state.engine.declared_preferences(&user).unwrap_or_default(),
        "inferred": profile,
        "consent": consent,
    })))
}

pub async fn put_preferences(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let user = visitor(&state, &headers)?;
    let bytes = read_limited(&headers, body, 32 * 1024).await?;
    let v: Value = serde_json::from_slice(&bytes).map_err(json_error)?;
    let prefs = parse_preferences(&state, v.get("preferences").unwrap_or(&v))?;
    declare(
        &state,
        &ids_of(&user),
        &prefs,
        "preference center",
        Vec::new(),
    )
    .await?;
    Ok(Json(json!({"success": true, "preferences": prefs})))
}

pub async fn put_consent(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let user = visitor(&state, &headers)?;
    let bytes = read_limited(&headers, body, 8 * 1024).await?;
    let v: Value = serde_json::from_slice(&bytes).map_err(json_error)?;
    let Some(purposes) = v.get("purposes").and_then(Value::as_object) else {
        return Err(ApiError::bad_request(
            "invalid_request",
            "send {\"purposes\": {\"email\": true, \"advertising\": false, …}}",
        ));
    };
    let mut prefs = Map::new();
    for (k, granted) in purposes {
        match (Purpose::parse(k), granted.as_bool()) {
            (Some(_), Some(g)) => {
                prefs.insert(k.clone(), Value::Bool(g));
            }
            _ => {
                return Err(ApiError::bad_request(
                    "invalid_request",
                    format!(
                        "{k:?}: purposes are analytics, personalization, email, push, sms or advertising, each true or false"
                    ),
                ));
            }
        }
    }
    let event = json!({"event": tailor_engine::consent::CONSENT_EVENT, "userId": user,
        "properties": {"consentSource": "visitor", "policyVersion": state.engine.consent_policy().version},
        "context": {"consent": {"categoryPreferences": prefs}}});
    let envelope = tailor_core::message::Envelope {
        received_at: state.engine.now(),
        ..Default::default()
    };
    let message = tailor_core::message::parse_message(
        event,
        Some(tailor_core::MessageType::Track),
        &envelope,
        || state.new_message_id(),
    )
    .map_err(|e| ApiError::bad_request(e.code, e.message))?;
    state.engine.ingest(vec![message]).await?;
    Ok(Json(json!({"success": true})))
}

pub async fn answer(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let user = visitor(&state, &headers)?;
    let bytes = read_limited(&headers, body, 32 * 1024).await?;
    let v: Value = serde_json::from_slice(&bytes).map_err(json_error)?;
    let prefs = answer_quiz(
        &state,
        &id,
        &ids_of(&user),
        v.get("answers").unwrap_or(&Value::Null),
    )
    .await?;
    Ok(Json(json!({"success": true, "preferences": prefs})))
}

/// "Why am I seeing this": a decision shown to this visitor, with each placement's
/// explanation. Someone else's decision answers 404, like one that does not exist.
pub async fn decision(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let user = visitor(&state, &headers)?;
    let anonymous: Vec<String> = state
        .engine
        .with_profile(&user, |p| p.anonymous_ids.clone())
        .unwrap_or_default();
    let id2 = id.clone();
    let found = state
        .blocking(move |engine| engine.decision(&id2))
        .await?
        .filter(|(record, _)| {
            record.user_id.as_deref() == Some(user.as_str())
                || record
                    .anonymous_id
                    .as_ref()
                    .is_some_and(|a| anonymous.contains(a))
        });
    let Some((record, _)) = found else {
        return Err(ApiError::not_found(format!(
            "no decision {id:?} was shown to you"
        )));
    };
    let body: Value = serde_json::from_str(&record.body).unwrap_or(Value::Null);
    let placements: Map<String, Value> = body["placements"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, p)| {
                    (
                        k.clone(),
                        json!({"explanation": p["explanation"], "shown": p["shown"]}),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(Json(json!({
        "decisionId": record.id,
        "at": format_timestamp(record.at),
        "personalized": record.personalized,
        "reason": body["reason"],
        "placements": placements,
    })))
}

pub async fn export(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let user = visitor(&state, &headers)?;
    let user2 = user.clone();
    state
        .blocking(move |engine| engine.export(&user2))
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found("Tailor holds no data about you"))
}
