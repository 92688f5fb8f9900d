//! Zero-party data. `PUT /v1/preferences` (write key): what a shopper declares in the
//! preference center. Quizzes: `GET /v1/quizzes[/{id}]` (write key, for the storefront to
//! render), `PUT`/`DELETE /v1/quizzes/{id}` (admin), `POST /v1/quizzes/{id}/answers` (write
//! key): the answers mapped onto preferences.
//!
//! Declarations travel through the event log like everything else: an identify call with the
//! `preferences` trait, a consent event when channels were declared (each channel is the
//! shopper's consent for it), and `Quiz Completed` for a quiz.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use serde_json::{Map, Value, json};
use tailor_core::MessageType;
use tailor_core::message::{Envelope, parse_message};
use tailor_core::preferences::{self, Preferences, Quiz};
use tailor_engine::{EngineError, Scope};

use crate::AppState;
use crate::auth::authorize;
use crate::body::{definition_for, read_limited};
use crate::error::{ApiError, json_error};

/// Who a write-key call is about: `{"userId"}` or `{"anonymousId"}`.
fn person(v: &Value) -> Result<Map<String, Value>, ApiError> {
    let mut ids = Map::new();
    for k in ["userId", "anonymousId"] {
        match v.get(k) {
            Some(Value::String(s)) if !s.trim().is_empty() => {
                ids.insert(k.into(), Value::String(s.clone()));
            }
            None | Some(Value::Null) => {}
            Some(_) => {
                return Err(ApiError::bad_request(
                    "invalid_request",
                    format!("`{k}` must be a non-empty string"),
                ));
            }
        }
    }
    if ids.is_empty() {
        return Err(ApiError::bad_request(
            "no_user_anon_id",
            "name the shopper with `userId` or `anonymousId`",
        ));
    }
    Ok(ids)
}

/// Records a declaration: the `preferences` trait, the channel consent it makes, and any
/// `extra` events, in one durable ingest.
pub(crate) async fn declare(
    state: &AppState,
    ids: &Map<String, Value>,
    prefs: &Preferences,
    source: &str,
    extra: Vec<Value>,
) -> Result<(), ApiError> {
    let mut bodies = vec![(
        MessageType::Identify,
        json!({"traits": {preferences::TRAIT: prefs}}),
    )];
    let channels = prefs.channel_consent();
    if !channels.is_empty() {
        bodies.push((
            MessageType::Track,
            json!({"event": tailor_engine::consent::CONSENT_EVENT,
                   "properties": {"consentSource": source, "policyVersion": state.engine.consent_policy().version},
                   "context": {"consent": {"categoryPreferences": channels}}}),
        ));
    }
    bodies.extend(extra.into_iter().map(|e| (MessageType::Track, e)));
    let envelope = Envelope {
        received_at: state.engine.now(),
        ..Default::default()
    };
    let mut messages = Vec::with_capacity(bodies.len());
    for (kind, mut body) in bodies {
        for (k, v) in ids {
            body[k] = v.clone();
        }
        messages.push(
            parse_message(body, Some(kind), &envelope, || state.new_message_id())
                .map_err(|e| ApiError::bad_request(e.code, e.message))?,
        );
    }
    state.engine.ingest(messages).await?;
    Ok(())
}

/// Validates a preferences document against the catalog.
pub(crate) fn parse_preferences(state: &AppState, v: &Value) -> Result<Preferences, ApiError> {
    Preferences::parse(v, |c| state.engine.has_category(c))
        .map_err(|e| ApiError::from(EngineError::Invalid(e)))
}

pub async fn put(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    authorize(state.engine.keys(), &headers, None, Scope::Write)?;
    let bytes = read_limited(&headers, body, 32 * 1024).await?;
    let v: Value = serde_json::from_slice(&bytes).map_err(json_error)?;
    let ids = person(&v)?;
    let prefs = parse_preferences(&state, v.get("preferences").unwrap_or(&Value::Null))?;
    declare(&state, &ids, &prefs, "preference center", Vec::new()).await?;
    Ok(Json(json!({"success": true, "preferences": prefs})))
}

pub async fn list_quizzes(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    authorize(state.engine.keys(), &headers, None, Scope::Write)?;
    Ok(Json(json!({"quizzes": state.engine.quizzes()})))
}

fn find_quiz(state: &AppState, id: &str) -> Result<Quiz, ApiError> {
    state
        .engine
        .quizzes()
        .into_iter()
        .find(|q| q.id == id)
        .ok_or_else(|| ApiError::not_found(format!("no quiz {id:?}")))
}

pub async fn get_quiz(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    authorize(state.engine.keys(), &headers, None, Scope::Write)?;
    Ok(Json(json!(find_quiz(&state, &id)?)))
}

pub async fn put_quiz(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    authorize(state.engine.keys(), &headers, None, Scope::Admin)?;
    let v = definition_for(&headers, body, 256 * 1024, &id, "quiz").await?;
    let quiz = Quiz::parse(&v, |c| state.engine.has_category(c)).map_err(EngineError::Invalid)?;
    let saved = quiz.clone();
    state.blocking(move |engine| engine.put_quiz(quiz)).await?;
    Ok(Json(json!({"success": true, "quiz": saved})))
}

pub async fn delete_quiz(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    authorize(state.engine.keys(), &headers, None, Scope::Admin)?;
    state
        .blocking(move |engine| engine.delete_quiz(&id))
        .await?;
    Ok(Json(json!({"success": true})))
}

/// Maps quiz answers onto preferences, merges them into what the shopper declared before, and
/// records the result (plus `Quiz Completed` with the raw answers).
pub(crate) async fn answer_quiz(
    state: &AppState,
    quiz_id: &str,
    ids: &Map<String, Value>,
    answers: &Value,
) -> Result<Preferences, ApiError> {
    let quiz = find_quiz(state, quiz_id)?;
    let Some(answers) = answers.as_object() else {
        return Err(ApiError::bad_request(
            "invalid_request",
            "`answers` must be an object: {\"question id\": \"answer id\" or [answer ids]}",
        ));
    };
    let from_quiz = quiz.score(answers).map_err(EngineError::Invalid)?;
    let who = ids
        .get("userId")
        .or_else(|| ids.get("anonymousId"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    let mut prefs = state.engine.declared_preferences(who).unwrap_or_default();
    prefs.merge(&from_quiz);
    let completed = json!({"event": "Quiz Completed",
        "properties": {"quiz_id": quiz.id, "answers": answers}});
    declare(state, ids, &prefs, "quiz", vec![completed]).await?;
    Ok(prefs)
}

pub async fn answers(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    authorize(state.engine.keys(), &headers, None, Scope::Write)?;
    let bytes = read_limited(&headers, body, 32 * 1024).await?;
    let v: Value = serde_json::from_slice(&bytes).map_err(json_error)?;
    let ids = person(&v)?;
    let prefs = answer_quiz(&state, &id, &ids, v.get("answers").unwrap_or(&Value::Null)).await?;
    Ok(Json(json!({"success": true, "preferences": prefs})))
}
