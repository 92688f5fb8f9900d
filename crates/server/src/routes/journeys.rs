//! Journeys (admin): definitions under `/v1/journeys`, their stats and runs, the send
//! policy, the outbox with its dead letters, ad audiences, and the test clock.

use std::collections::HashMap;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tailor_engine::Scope;
use tailor_engine::journeys::policy::SendPolicy;

use crate::AppState;
use crate::auth::authorize;
use crate::body::{definition_for, read_limited};
use crate::error::{ApiError, json_error};

/// Largest journey definition accepted.
const MAX_DEFINITION: usize = 256 * 1024;

fn admin(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    authorize(state.engine.keys(), headers, None, Scope::Admin).map(|_| ())
}

async fn json_body(headers: &HeaderMap, body: Body) -> Result<Value, ApiError> {
    let bytes = read_limited(headers, body, MAX_DEFINITION).await?;
    serde_json::from_slice(&bytes).map_err(json_error)
}

fn number<T: std::str::FromStr>(
    q: &HashMap<String, String>,
    key: &str,
) -> Result<Option<T>, ApiError> {
    q.get(key)
        .map(|v| {
            v.parse().map_err(|_| {
                ApiError::bad_request(
                    "invalid_request",
                    format!("`{key}` must be a number, not {v:?}"),
                )
            })
        })
        .transpose()
}

pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    admin(&state, &headers)?;
    Ok(Json(json!({"journeys": state.engine.journeys()})))
}

pub async fn templates(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    admin(&state, &headers)?;
    Ok(Json(state.engine.journey_templates()))
}

pub async fn get(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    admin(&state, &headers)?;
    let version = number::<u32>(&q, "version")?;
    state.engine.journey(&id, version).map(Json).ok_or_else(|| {
        ApiError::not_found(format!("journey {id:?} (version {version:?}) not found"))
    })
}

pub async fn put(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    admin(&state, &headers)?;
    let v = definition_for(&headers, body, MAX_DEFINITION, &id, "journey").await?;
    Ok(Json(
        state.blocking(move |engine| engine.put_journey(v)).await?,
    ))
}

pub async fn delete(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    admin(&state, &headers)?;
    state
        .blocking(move |engine| engine.delete_journey(&id))
        .await?;
    Ok(Json(json!({"success": true})))
}

pub async fn pause(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    admin(&state, &headers)?;
    Ok(Json(
        state
            .blocking(move |engine| engine.set_journey_paused(&id, true))
            .await?,
    ))
}

pub async fn resume(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    admin(&state, &headers)?;
    Ok(Json(
        state
            .blocking(move |engine| engine.set_journey_paused(&id, false))
            .await?,
    ))
}

pub async fn stats(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    admin(&state, &headers)?;
    Ok(Json(
        state
            .blocking(move |engine| engine.journey_stats(&id))
            .await?,
    ))
}

/// `GET /v1/journeys/{id}/report`: sent vs control (counts and statistics, no personal
/// data), for the analyst or admin key.
pub async fn report(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    authorize(state.engine.keys(), &headers, None, Scope::Analyst)?;
    Ok(Json(
        state
            .blocking(move |engine| engine.journey_report(&id))
            .await?,
    ))
}

/// `GET /v1/journeys/runs?person=ID`: where a person is in every journey.
pub async fn runs(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    admin(&state, &headers)?;
    let person = q.get("person").cloned().ok_or_else(|| {
        ApiError::bad_request(
            "invalid_request",
            "`person` (a userId or anonymousId) is required",
        )
    })?;
    let runs = state
        .blocking(move |engine| engine.journey_runs(&person))
        .await?;
    Ok(Json(json!({"runs": runs})))
}

pub async fn get_policy(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    admin(&state, &headers)?;
    Ok(Json(json!(*state.engine.journey_policy())))
}

pub async fn put_policy(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    admin(&state, &headers)?;
    let v = json_body(&headers, body).await?;
    let policy: SendPolicy = serde_json::from_value(v).map_err(|e| {
        ApiError::bad_request(
            "invalid_request",
            format!("not a send policy ({e}); expected {{\"caps\"?: {{channel: {{\"day\"?, \"week\"?}}}}, \"totalCap\"?: {{\"day\"?, \"week\"?}}, \"quietHours\"?: {{\"start\", \"end\"}}}}"),
        )
    })?;
    let saved = policy.clone();
    state
        .blocking(move |engine| engine.put_journey_policy(policy))
        .await?;
    Ok(Json(json!({"success": true, "policy": saved})))
}

/// `GET /v1/outbox?status=&person=&limit=`.
pub async fn outbox(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    admin(&state, &headers)?;
    let limit = number::<usize>(&q, "limit")?.unwrap_or(100).min(10_000);
    let (status, person) = (q.get("status").cloned(), q.get("person").cloned());
    let items = state
        .blocking(move |engine| engine.outbox(status.as_deref(), person.as_deref(), limit))
        .await?;
    Ok(Json(json!({"messages": items})))
}

pub async fn dead(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    admin(&state, &headers)?;
    let limit = number::<usize>(&q, "limit")?.unwrap_or(100).min(10_000);
    let items = state
        .blocking(move |engine| engine.outbox(Some("dead"), None, limit))
        .await?;
    Ok(Json(json!({"messages": items})))
}

pub async fn replay(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(key): Path<String>,
) -> Result<Json<Value>, ApiError> {
    admin(&state, &headers)?;
    let item = state
        .blocking(move |engine| engine.replay_dead(&key))
        .await?;
    Ok(Json(json!({"success": true, "message": item})))
}

pub async fn audience(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    admin(&state, &headers)?;
    Ok(Json(
        state.blocking(move |engine| engine.audience(&name)).await?,
    ))
}

/// `GET /v1/audiences/{name}/changes?after=SEQ&limit=`: the add/remove stream.
pub async fn audience_changes(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    admin(&state, &headers)?;
    let after = number::<i64>(&q, "after")?.unwrap_or(0);
    let limit = number::<usize>(&q, "limit")?.unwrap_or(1_000).min(100_000);
    Ok(Json(
        state
            .blocking(move |engine| engine.audience_changes(&name, after, limit))
            .await?,
    ))
}

/// `GET /v1/audiences/{name}/export`: customer-match CSV (hashed email, phone).
pub async fn audience_export(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    admin(&state, &headers)?;
    let csv = state
        .blocking(move |engine| engine.audience_export(&name))
        .await?;
    Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], csv).into_response())
}

/// `POST /v1/test/clock {"advance": "25h"}` or `{"to": "2030-01-01T09:00:00Z"}`: only on a
/// server started with `--test-clock`; time only moves forward.
pub async fn test_clock(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let Some(clock) = state.test_clock.clone() else {
        return Err(ApiError::not_found(
            "no test clock: this server was not started with --test-clock",
        ));
    };
    admin(&state, &headers)?;
    let v = json_body(&headers, body).await?;
    use tailor_core::Clock;
    let now = if let Some(d) = v.get("advance").and_then(Value::as_str) {
        let by = tailor_engine::journeys::definition::parse_duration(d).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_request",
                format!("`advance` {d:?} is not a duration like \"90m\" or \"2d\""),
            )
        })?;
        clock.advance(by);
        clock.now()
    } else if let Some(t) = v.get("to").and_then(Value::as_str) {
        let to = tailor_core::time::parse_timestamp(t).ok_or_else(|| {
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
    Ok(Json(
        json!({"now": tailor_core::time::format_timestamp(now), "nowMs": now}),
    ))
}
