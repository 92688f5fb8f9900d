//! Zero-party data. `PUT /v1/preferences` (write key): what a shopper declares in the
//! preference center. Quizzes: `GET /v1/quizzes[/{id}]` (write key, for the storefront to
//! render), `PUT`/`DELETE /v1/quizzes/{id}` (admin), `POST /v1/quizzes/{id}/answers` (write
//! key): the answers mapped onto preferences.
//!
//! Declarations travel through the event log like everything else: an identify call with the
//! `preferences` trait, a consent event when channels were declared (each channel is the
//! shopper's consent for it), and `Quiz Completed` for a quiz.

use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tailor_core::MessageType;
use tailor_core::message::{Envelope, parse_message};
use tailor_core::preferences::{self, Preferences, Quiz};
use tailor_engine::EngineError;
use utoipa::ToSchema;

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{Admin, ApiJson, Authorized, Definition, Write};
use crate::routes::{Saved, Success};

/// A declaration by a shopper the write key names.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Declaration {
    /// Who: a userId…
    #[schema(value_type = Option<String>)]
    user_id: Option<Value>,
    /// …or an anonymousId.
    #[schema(value_type = Option<String>)]
    anonymous_id: Option<Value>,
    /// `PUT /v1/preferences`: `{"categories", "priceRange": {"min", "max"}, "channels":
    /// {"email", "push", "sms"}, "frequency", …}`.
    #[schema(value_type = Option<Object>)]
    preferences: Option<Value>,
    /// `POST /v1/quizzes/{id}/answers`: question id → answer id or ids.
    #[schema(value_type = Option<Object>)]
    answers: Option<Value>,
}

/// What the shopper declared, as recorded.
#[derive(Serialize, ToSchema)]
pub struct Declared {
    success: bool,
    #[schema(value_type = Object)]
    preferences: Preferences,
}

impl Declared {
    pub(crate) fn new(preferences: Preferences) -> Self {
        Declared {
            success: true,
            preferences,
        }
    }
}

/// Who a write-key call is about: `{"userId"}` or `{"anonymousId"}`.
fn person(d: &Declaration) -> Result<Map<String, Value>, ApiError> {
    let mut ids = Map::new();
    for (k, v) in [("userId", &d.user_id), ("anonymousId", &d.anonymous_id)] {
        match v {
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

/// Records what a shopper declares in the preference center.
#[utoipa::path(put, path = "/v1/preferences", tag = "preferences", security(("write_key" = [])),
    request_body = Declaration, responses((status = 200, body = Declared)))]
pub async fn put(
    _: Authorized<Write>,
    State(state): State<AppState>,
    ApiJson(d): ApiJson<Declaration>,
) -> Result<Json<Declared>, ApiError> {
    let ids = person(&d)?;
    let prefs = parse_preferences(&state, d.preferences.as_ref().unwrap_or(&Value::Null))?;
    declare(&state, &ids, &prefs, "preference center", Vec::new()).await?;
    Ok(Json(Declared::new(prefs)))
}

#[derive(Serialize, ToSchema)]
pub struct Quizzes {
    #[schema(value_type = Vec<Object>)]
    quizzes: Vec<Quiz>,
}

/// The quizzes, for the storefront to render.
#[utoipa::path(get, path = "/v1/quizzes", tag = "preferences", security(("write_key" = [])),
    responses((status = 200, body = Quizzes)))]
pub async fn list_quizzes(_: Authorized<Write>, State(state): State<AppState>) -> Json<Quizzes> {
    Json(Quizzes {
        quizzes: state.engine.quizzes(),
    })
}

fn find_quiz(state: &AppState, id: &str) -> Result<Quiz, ApiError> {
    state
        .engine
        .quizzes()
        .into_iter()
        .find(|q| q.id == id)
        .ok_or_else(|| ApiError::not_found(format!("no quiz {id:?}")))
}

/// One quiz.
#[utoipa::path(get, path = "/v1/quizzes/{id}", tag = "preferences", security(("write_key" = [])),
    params(("id" = String, Path)), responses((status = 200, body = Object)))]
pub async fn get_quiz(
    _: Authorized<Write>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Quiz>, ApiError> {
    find_quiz(&state, &id).map(Json)
}

#[derive(Serialize, ToSchema)]
pub struct SavedQuiz {
    #[schema(value_type = Object)]
    quiz: Quiz,
}

/// Creates or replaces a quiz: questions whose answers map onto preferences; its `id` is the
/// URL's.
#[utoipa::path(put, path = "/v1/quizzes/{id}", tag = "preferences", security(("admin_key" = [])),
    params(("id" = String, Path)), request_body = Object,
    responses((status = 200, body = Saved<SavedQuiz>)))]
pub async fn put_quiz(
    _: Authorized<Admin>,
    State(state): State<AppState>,
    Definition(v): Definition<Value, { 256 * 1024 }>,
) -> Result<Json<Saved<SavedQuiz>>, ApiError> {
    let quiz = Quiz::parse(&v, |c| state.engine.has_category(c)).map_err(EngineError::Invalid)?;
    let saved = quiz.clone();
    state.blocking(move |engine| engine.put_quiz(quiz)).await?;
    Ok(Json(Saved::new(SavedQuiz { quiz: saved })))
}

/// Deletes a quiz.
#[utoipa::path(delete, path = "/v1/quizzes/{id}", tag = "preferences", security(("admin_key" = [])),
    params(("id" = String, Path)), responses((status = 200, body = Success)))]
pub async fn delete_quiz(
    _: Authorized<Admin>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Success>, ApiError> {
    state
        .blocking(move |engine| engine.delete_quiz(&id))
        .await?;
    Ok(Json(Success::YES))
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

/// Records a shopper's answers to a quiz, mapped onto their preferences.
#[utoipa::path(post, path = "/v1/quizzes/{id}/answers", tag = "preferences", security(("write_key" = [])),
    params(("id" = String, Path)), request_body = Declaration,
    responses((status = 200, body = Declared)))]
pub async fn answers(
    _: Authorized<Write>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(d): ApiJson<Declaration>,
) -> Result<Json<Declared>, ApiError> {
    let ids = person(&d)?;
    let prefs = answer_quiz(
        &state,
        &id,
        &ids,
        d.answers.as_ref().unwrap_or(&Value::Null),
    )
    .await?;
    Ok(Json(Declared::new(prefs)))
}
