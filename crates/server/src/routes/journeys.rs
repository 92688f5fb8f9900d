//! Journeys (admin): definitions under `/v1/journeys`, their stats and runs, the send
//! policy, the outbox with its dead letters, and the test clock (audiences: `audiences`).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tailor_engine::journeys::policy::SendPolicy;
use tailor_engine::journeys::report::JourneyReport;
use tailor_engine::journeys::{
    JourneyStats, JourneySummary, JourneyTemplates, OutboxMessage, RunView,
};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{Admin, Analyst, ApiJson, ApiQuery, Authorized, Definition};
use crate::routes::Success;
use crate::routes::consent::SavedPolicy;

/// Largest journey definition accepted.
const MAX_DEFINITION: usize = 256 * 1024;

#[derive(Serialize, ToSchema)]
pub struct Journeys {
    journeys: Vec<JourneySummary>,
}

/// The journeys, each with its current version.
#[utoipa::path(get, path = "/v1/journeys", tag = "journeys", security(("admin_key" = [])),
    responses((status = 200, body = Journeys)))]
pub async fn list(_: Authorized<Admin>, State(state): State<AppState>) -> Json<Journeys> {
    Json(Journeys {
        journeys: state.engine.journeys(),
    })
}

/// The journey and message templates that ship.
#[utoipa::path(get, path = "/v1/journeys/templates", tag = "journeys", security(("admin_key" = [])),
    responses((status = 200, body = JourneyTemplates)))]
pub async fn templates(
    _: Authorized<Admin>,
    State(state): State<AppState>,
) -> Json<JourneyTemplates> {
    Json(state.engine.journey_templates())
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VersionQuery {
    /// A version other than the current one.
    version: Option<u32>,
}

/// One journey, its current version or `?version=N`.
#[utoipa::path(get, path = "/v1/journeys/{id}", tag = "journeys", security(("admin_key" = [])),
    params(("id" = String, Path), VersionQuery), responses((status = 200, body = JourneySummary)))]
pub async fn get(
    _: Authorized<Admin>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<VersionQuery>,
) -> Result<Json<JourneySummary>, ApiError> {
    let version = q.version;
    state.engine.journey(&id, version).map(Json).ok_or_else(|| {
        ApiError::not_found(format!("journey {id:?} (version {version:?}) not found"))
    })
}

/// Creates or replaces a journey (a changed definition is a new version; running people keep
/// theirs). Every problem is reported at once in `details`.
#[utoipa::path(put, path = "/v1/journeys/{id}", tag = "journeys", security(("admin_key" = [])),
    params(("id" = String, Path)), request_body = Object,
    responses((status = 200, body = JourneySummary)))]
pub async fn put(
    _: Authorized<Admin>,
    State(state): State<AppState>,
    Definition(v): Definition<Value, MAX_DEFINITION>,
) -> Result<Json<JourneySummary>, ApiError> {
    Ok(Json(
        state.blocking(move |engine| engine.put_journey(v)).await?,
    ))
}

/// Deletes a journey; its running people stop at their next step.
#[utoipa::path(delete, path = "/v1/journeys/{id}", tag = "journeys", security(("admin_key" = [])),
    params(("id" = String, Path)), responses((status = 200, body = Success)))]
pub async fn delete(
    _: Authorized<Admin>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Success>, ApiError> {
    state
        .blocking(move |engine| engine.delete_journey(&id))
        .await?;
    Ok(Json(Success::YES))
}

/// Pauses a journey: no one enters, timers hold.
#[utoipa::path(post, path = "/v1/journeys/{id}/pause", tag = "journeys", security(("admin_key" = [])),
    params(("id" = String, Path)), responses((status = 200, body = JourneySummary)))]
pub async fn pause(
    _: Authorized<Admin>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<JourneySummary>, ApiError> {
    Ok(Json(
        state
            .blocking(move |engine| engine.set_journey_paused(&id, true))
            .await?,
    ))
}

/// Resumes a paused journey; held messages are due now.
#[utoipa::path(post, path = "/v1/journeys/{id}/resume", tag = "journeys", security(("admin_key" = [])),
    params(("id" = String, Path)), responses((status = 200, body = JourneySummary)))]
pub async fn resume(
    _: Authorized<Admin>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<JourneySummary>, ApiError> {
    Ok(Json(
        state
            .blocking(move |engine| engine.set_journey_paused(&id, false))
            .await?,
    ))
}

/// Counts per step and for the journey.
#[utoipa::path(get, path = "/v1/journeys/{id}/stats", tag = "journeys", security(("admin_key" = [])),
    params(("id" = String, Path)), responses((status = 200, body = JourneyStats)))]
pub async fn stats(
    _: Authorized<Admin>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<JourneyStats>, ApiError> {
    Ok(Json(
        state
            .blocking(move |engine| engine.journey_stats(&id))
            .await?,
    ))
}

/// Sent vs control (counts and statistics, no personal data).
#[utoipa::path(get, path = "/v1/journeys/{id}/report", tag = "journeys", security(("analyst_key" = [])),
    params(("id" = String, Path)), responses((status = 200, body = JourneyReport)))]
pub async fn report(
    _: Authorized<Analyst>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<JourneyReport>, ApiError> {
    Ok(Json(
        state
            .blocking(move |engine| engine.journey_report(&id))
            .await?,
    ))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RunsQuery {
    /// A userId or anonymousId (required).
    person: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Runs {
    runs: Vec<RunView>,
}

/// Where a person is in every journey.
#[utoipa::path(get, path = "/v1/journeys/runs", tag = "journeys", security(("admin_key" = [])),
    params(RunsQuery), responses((status = 200, body = Runs)))]
pub async fn runs(
    _: Authorized<Admin>,
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<RunsQuery>,
) -> Result<Json<Runs>, ApiError> {
    let person = q.person.ok_or_else(|| {
        ApiError::bad_request(
            "invalid_request",
            "`person` (a userId or anonymousId) is required",
        )
    })?;
    let runs = state
        .blocking(move |engine| engine.journey_runs(&person))
        .await?;
    Ok(Json(Runs { runs }))
}

/// The send policy: frequency caps per channel and in total, quiet hours.
#[utoipa::path(get, path = "/v1/journeys/policy", tag = "journeys", security(("admin_key" = [])),
    responses((status = 200, body = Object)))]
pub async fn get_policy(
    _: Authorized<Admin>,
    State(state): State<AppState>,
) -> Json<Arc<SendPolicy>> {
    Json(state.engine.journey_policy())
}

/// Replaces the send policy: `{"caps"?: {channel: {"day"?, "week"?}}, "totalCap"?: {"day"?,
/// "week"?}, "quietHours"?: {"start", "end"}}`.
#[utoipa::path(put, path = "/v1/journeys/policy", tag = "journeys", security(("admin_key" = [])),
    request_body = Object, responses((status = 200, body = Object)))]
pub async fn put_policy(
    _: Authorized<Admin>,
    State(state): State<AppState>,
    ApiJson(policy): ApiJson<SendPolicy, MAX_DEFINITION>,
) -> Result<Json<SavedPolicy<SendPolicy>>, ApiError> {
    let saved = policy.clone();
    state
        .blocking(move |engine| engine.put_journey_policy(policy))
        .await?;
    Ok(Json(SavedPolicy::new(saved)))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OutboxQuery {
    /// `pending`, `sent`, `skipped` or `dead`.
    status: Option<String>,
    /// A userId or anonymousId.
    person: Option<String>,
    /// At most this many (default 100, at most 10,000).
    limit: Option<usize>,
}

#[derive(Serialize, ToSchema)]
pub struct Outbox {
    messages: Vec<OutboxMessage>,
}

/// Outbox messages by status and/or person.
#[utoipa::path(get, path = "/v1/outbox", tag = "journeys", security(("admin_key" = [])),
    params(OutboxQuery), responses((status = 200, body = Outbox)))]
pub async fn outbox(
    _: Authorized<Admin>,
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<OutboxQuery>,
) -> Result<Json<Outbox>, ApiError> {
    let limit = q.limit.unwrap_or(100).min(10_000);
    let messages = state
        .blocking(move |engine| engine.outbox(q.status.as_deref(), q.person.as_deref(), limit))
        .await?;
    Ok(Json(Outbox { messages }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LimitQuery {
    /// At most this many (default 100, at most 10,000).
    limit: Option<usize>,
}

/// The dead letters: messages that failed every attempt.
#[utoipa::path(get, path = "/v1/outbox/dead", tag = "journeys", security(("admin_key" = [])),
    params(LimitQuery), responses((status = 200, body = Outbox)))]
pub async fn dead(
    _: Authorized<Admin>,
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<LimitQuery>,
) -> Result<Json<Outbox>, ApiError> {
    let limit = q.limit.unwrap_or(100).min(10_000);
    let messages = state
        .blocking(move |engine| engine.outbox(Some("dead"), None, limit))
        .await?;
    Ok(Json(Outbox { messages }))
}

#[derive(Serialize, ToSchema)]
pub struct Replayed {
    success: bool,
    message: OutboxMessage,
}

/// Puts a dead message back in the queue, due now.
#[utoipa::path(post, path = "/v1/outbox/dead/{key}/replay", tag = "journeys", security(("admin_key" = [])),
    params(("key" = String, Path)), responses((status = 200, body = Replayed)))]
pub async fn replay(
    _: Authorized<Admin>,
    State(state): State<AppState>,
    Path(key): Path<String>,
) -> Result<Json<Replayed>, ApiError> {
    let message = state
        .blocking(move |engine| engine.replay_dead(&key))
        .await?;
    Ok(Json(Replayed {
        success: true,
        message,
    }))
}

/// Moves the test clock.
#[derive(Deserialize, ToSchema)]
pub struct ClockMove {
    /// A duration like `90m`, `25h` or `2d`…
    advance: Option<String>,
    /// …or an ISO-8601 time (only forward).
    to: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClockNow {
    now: String,
    now_ms: i64,
}

/// Moves the test clock (only on a server started with `--test-clock`; only forward).
#[utoipa::path(post, path = "/v1/test/clock", tag = "journeys", security(("admin_key" = [])),
    request_body = ClockMove, responses((status = 200, body = ClockNow)))]
pub async fn test_clock(
    _: Authorized<Admin>,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<ClockMove, MAX_DEFINITION>,
) -> Result<Json<ClockNow>, ApiError> {
    let Some(clock) = state.test_clock.clone() else {
        return Err(ApiError::not_found(
            "no test clock: this server was not started with --test-clock",
        ));
    };
    use tailor_core::Clock;
    let now = if let Some(d) = body.advance {
        let by = tailor_engine::journeys::definition::parse_duration(&d).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_request",
                format!("`advance` {d:?} is not a duration like \"90m\" or \"2d\""),
            )
        })?;
        clock.advance(by);
        clock.now()
    } else if let Some(t) = body.to {
        let to = tailor_core::time::parse_timestamp(&t).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_request",
                format!("`to` {t:?} is not an ISO-8601 time"),
            )
        })?;
        if to < clock.now() {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "clock_backwards",
                "the test clock only moves forward",
            ));
        }
        clock.advance_to(to)
    } else {
        return Err(ApiError::bad_request(
            "invalid_request",
            "send {\"advance\": \"25h\"} or {\"to\": \"2030-01-01T09:00:00Z\"}",
        ));
    };
    Ok(Json(ClockNow {
        now: tailor_core::time::format_timestamp(now),
        now_ms: now,
    }))
}
