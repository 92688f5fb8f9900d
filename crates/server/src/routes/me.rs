//! The shopper's own view (transparency), behind a profile token (see
//! `tailor_engine::tokens`): the store's backend gets one with the admin key
//! (`POST /v1/tokens`) for its logged-in customer and hands it to their browser.
//!
//! `GET /v1/me`: what Tailor knows (declared and inferred) and the consent state;
//! `PUT /v1/me/preferences`, `PUT /v1/me/consent`, `POST /v1/me/quizzes/{id}/answers`;
//! `GET /v1/me/decisions/{id}`: "why am I seeing this"; `GET /v1/me/export`.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tailor_core::Purpose;
use tailor_core::preferences::Preferences;
use tailor_core::time::{SECOND, format_timestamp};
use tailor_engine::export::ExportDocument;
use tailor_engine::profile::ProfileView;
use utoipa::ToSchema;

use super::preferences::{Declared, answer_quiz, declare, parse_preferences};
use crate::AppState;
use crate::error::ApiError;
use crate::extract::{ApiJson, Authorized, Server, Shopper};
use crate::routes::Success;

fn ids_of(user_id: &str) -> Map<String, Value> {
    Map::from_iter([("userId".to_string(), Value::String(user_id.to_string()))])
}

/// A profile token for a logged-in customer.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenRequest {
    #[schema(value_type = String)]
    user_id: Option<Value>,
    /// How long it is valid (default 3,600, at most 86,400).
    #[schema(value_type = Option<u64>)]
    ttl_seconds: Option<Value>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Token {
    /// `tpt_…`: send it as `Authorization: Bearer` to `/v1/me*`.
    token: String,
    user_id: String,
    expires_at: String,
}

/// Issues a profile token for the store's logged-in customer (a server key or the admin
/// key: a browser cannot vouch for itself).
#[utoipa::path(post, path = "/v1/tokens", tag = "me", security(("server_key" = []), ("admin_key" = [])),
    request_body = TokenRequest, responses((status = 200, body = Token)))]
pub async fn issue(
    _: Authorized<Server>,
    State(state): State<AppState>,
    ApiJson(request): ApiJson<TokenRequest, { 4 * 1024 }>,
) -> Result<Json<Token>, ApiError> {
    let Some(user_id) = request
        .user_id
        .as_ref()
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
    else {
        return Err(ApiError::bad_request(
            "invalid_request",
            "send {\"userId\": …, \"ttlSeconds\"?: 3600}: tokens are for logged-in customers",
        ));
    };
    let ttl = match request.ttl_seconds {
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
    Ok(Json(Token {
        token,
        user_id: user_id.to_string(),
        expires_at: format_timestamp(expires),
    }))
}

/// Whether a purpose is allowed, and why, for people.
#[derive(Serialize, ToSchema)]
pub struct Allowed {
    allowed: bool,
    reason: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Me {
    user_id: String,
    /// What they declared (preference center, quizzes).
    #[schema(value_type = Object)]
    declared: Preferences,
    /// What Tailor inferred, predictions included; `null` before their first event.
    #[schema(value_type = Option<Object>)]
    inferred: Option<ProfileView>,
    /// Purpose → allowed, and why.
    consent: BTreeMap<&'static str, Allowed>,
}

/// What Tailor knows about the shopper: declared, inferred, and their consent.
#[utoipa::path(get, path = "/v1/me", tag = "me", security(("profile_token" = [])),
    responses((status = 200, body = Me)))]
pub async fn get(
    Shopper(user): Shopper,
    State(state): State<AppState>,
) -> Result<Json<Me>, ApiError> {
    let id = user.clone();
    // With predictions: what Tailor infers is part of what the shopper may see.
    let profile = state
        .blocking(move |engine| engine.profile_in_full(&id))
        .await?;
    let allowed = |p: Purpose, permission: tailor_engine::consent::Permission| {
        (
            p.as_str(),
            Allowed {
                allowed: permission.allowed,
                reason: permission.describe(),
            },
        )
    };
    let consent = state
        .engine
        .consent_state(&user)
        .map(|purposes| {
            purposes
                .into_iter()
                .map(|(p, permission)| allowed(p, permission))
                .collect()
        })
        .unwrap_or_else(|| {
            // Not seen yet: the policy's defaults apply.
            let policy = state.engine.consent_policy();
            Purpose::ALL
                .into_iter()
                .map(|p| allowed(p, policy.may(None, p)))
                .collect()
        });
    Ok(Json(Me {
        declared: state.engine.declared_preferences(&user).unwrap_or_default(),
        user_id: user,
        inferred: profile,
        consent,
    }))
}

/// Records what the shopper declares in the preference center.
#[utoipa::path(put, path = "/v1/me/preferences", tag = "me", security(("profile_token" = [])),
    request_body(content = Object, description = "`{\"preferences\": {…}}` or the preferences themselves"), responses((status = 200, body = Declared)))]
pub async fn put_preferences(
    Shopper(user): Shopper,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<Value>,
) -> Result<Json<Declared>, ApiError> {
    let prefs = parse_preferences(&state, body.get("preferences").unwrap_or(&body))?;
    declare(
        &state,
        &ids_of(&user),
        &prefs,
        "preference center",
        Vec::new(),
    )
    .await?;
    Ok(Json(Declared::new(prefs)))
}

/// The shopper's own consent choices.
#[derive(Deserialize, ToSchema)]
pub struct MyConsent {
    /// Purpose (analytics, personalization, email, push, sms, advertising) → granted.
    #[schema(value_type = Object)]
    purposes: Option<Map<String, Value>>,
}

/// Records the shopper's consent choices.
#[utoipa::path(put, path = "/v1/me/consent", tag = "me", security(("profile_token" = [])),
    request_body = MyConsent, responses((status = 200, body = Success)))]
pub async fn put_consent(
    Shopper(user): Shopper,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<MyConsent, { 8 * 1024 }>,
) -> Result<Json<Success>, ApiError> {
    let Some(purposes) = body.purposes else {
        return Err(ApiError::bad_request(
            "invalid_request",
            "send {\"purposes\": {\"email\": true, \"advertising\": false, …}}",
        ));
    };
    let mut prefs = Map::new();
    for (k, granted) in purposes {
        match (Purpose::parse(&k), granted.as_bool()) {
            (Some(_), Some(g)) => {
                prefs.insert(k, Value::Bool(g));
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
    // The profile token proved who this is.
    state
        .engine
        .ingest(vec![message], tailor_engine::Origin::Server)
        .await?;
    Ok(Json(Success::YES))
}

/// The shopper's answers to a quiz.
#[derive(Deserialize, ToSchema)]
pub struct MyAnswers {
    /// Question id → answer id or ids.
    #[schema(value_type = Object)]
    answers: Option<Value>,
}

/// Records the shopper's answers to a quiz, mapped onto their preferences.
#[utoipa::path(post, path = "/v1/me/quizzes/{id}/answers", tag = "me", security(("profile_token" = [])),
    params(("id" = String, Path)), request_body = MyAnswers,
    responses((status = 200, body = Declared)))]
pub async fn answer(
    Shopper(user): Shopper,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<MyAnswers>,
) -> Result<Json<Declared>, ApiError> {
    let prefs = answer_quiz(
        &state,
        &id,
        &ids_of(&user),
        body.answers.as_ref().unwrap_or(&Value::Null),
    )
    .await?;
    Ok(Json(Declared::new(prefs)))
}

/// A decision as its shopper sees it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MyDecision {
    decision_id: String,
    at: String,
    personalized: bool,
    /// Why not personalized, when it was not.
    #[schema(value_type = Option<String>)]
    reason: Value,
    /// Placement → `{explanation, shown}`.
    placements: BTreeMap<String, Shown>,
}

#[derive(Serialize, ToSchema)]
pub struct Shown {
    #[schema(value_type = Object)]
    explanation: Value,
    #[schema(value_type = Object)]
    shown: Value,
}

/// "Why am I seeing this": a decision shown to this shopper, with each placement's
/// explanation. Someone else's decision answers 404, like one that does not exist.
#[utoipa::path(get, path = "/v1/me/decisions/{id}", tag = "me", security(("profile_token" = [])),
    params(("id" = String, Path)), responses((status = 200, body = MyDecision)))]
pub async fn decision(
    Shopper(user): Shopper,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<MyDecision>, ApiError> {
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
    let mut body = record.body();
    let placements = match body.get_mut("placements") {
        Some(Value::Object(m)) => std::mem::take(m)
            .into_iter()
            .map(|(k, mut p)| {
                let mut take = |f: &str| p.get_mut(f).map(Value::take).unwrap_or(Value::Null);
                let shown = Shown {
                    explanation: take("explanation"),
                    shown: take("shown"),
                };
                (k, shown)
            })
            .collect(),
        _ => BTreeMap::new(),
    };
    Ok(Json(MyDecision {
        decision_id: record.id,
        at: format_timestamp(record.at),
        personalized: record.personalized,
        reason: body
            .get_mut("reason")
            .map(Value::take)
            .unwrap_or(Value::Null),
        placements,
    }))
}

/// Everything Tailor keeps about the shopper, in one document.
#[utoipa::path(get, path = "/v1/me/export", tag = "me", security(("profile_token" = [])),
    responses((status = 200, body = ExportDocument)))]
pub async fn export(
    Shopper(user): Shopper,
    State(state): State<AppState>,
) -> Result<Json<ExportDocument>, ApiError> {
    state
        .blocking(move |engine| engine.export(&user))
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found("Tailor holds no data about you"))
}
