//! Profiles (admin): `GET /v1/profiles/{id}` by userId, anonymousId or internal id
//! (`p_12`), the person's events under `/events`, everything about them under `/export`,
//! and erasure: `DELETE /v1/profiles/{id}`, `DELETE /v1/suppressions/{id}` (lift the
//! block on an erased id), `GET /v1/audit`.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use serde::Deserialize;
use serde_json::{Value, json};
use tailor_core::time::format_timestamp;
use tailor_engine::Scope;

use crate::AppState;
use crate::auth::authorize;
use crate::error::ApiError;

pub async fn get(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    authorize(state.engine.keys(), &headers, None, Scope::Admin)?;
    let id2 = id.clone();
    let view = state
        .blocking(move |engine| engine.profile_in_full(&id2))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no profile is known by {id:?}")))?;
    audit_read(&state, "read_profile", &id).await?;
    Ok(Json(json!(view)))
}

#[derive(Deserialize)]
pub struct EventsQuery {
    limit: Option<usize>,
}

pub async fn events(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<EventsQuery>,
) -> Result<Json<Value>, ApiError> {
    authorize(state.engine.keys(), &headers, None, Scope::Admin)?;
    let limit = q.limit.unwrap_or(100).min(1_000);
    let id2 = id.clone();
    let events = state
        .blocking(move |engine| engine.events_of(&id2, limit))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no profile is known by {id:?}")))?;
    audit_read(&state, "read_events", &id).await?;
    let events: Vec<Value> = events
        .iter()
        .map(tailor_engine::privacy::event_json)
        .collect();
    Ok(Json(json!({"events": events})))
}

pub async fn erase(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    authorize(state.engine.keys(), &headers, None, Scope::Admin)?;
    let report = state.engine.erase(&id).await?;
    Ok(Json(json!({"erased": report})))
}

pub async fn export(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    authorize(state.engine.keys(), &headers, None, Scope::Admin)?;
    let id2 = id.clone();
    let export = state
        .blocking(move |engine| engine.export(&id2))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no profile is known by {id:?}")))?;
    audit_read(&state, "export", &id).await?;
    Ok(Json(export))
}

/// Every admin read of a person's data is audit-logged, by internal profile number only.
pub(crate) async fn audit_read(
    state: &AppState,
    what: &'static str,
    id: &str,
) -> Result<(), ApiError> {
    let id = id.to_string();
    state
        .blocking(move |engine| engine.audit_read(what, &id))
        .await
}

pub async fn lift_suppression(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    authorize(state.engine.keys(), &headers, None, Scope::Admin)?;
    let id2 = id.clone();
    if state
        .blocking(move |engine| engine.lift_suppression(&id2))
        .await?
    {
        Ok(Json(json!({"lifted": true})))
    } else {
        Err(ApiError::not_found(format!("{id:?} is not suppressed")))
    }
}

#[derive(Deserialize)]
pub struct AuditQuery {
    limit: Option<usize>,
}

pub async fn audit(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<AuditQuery>,
) -> Result<Json<Value>, ApiError> {
    authorize(state.engine.keys(), &headers, None, Scope::Analyst)?;
    let limit = q.limit.unwrap_or(100).min(10_000);
    let entries = state
        .blocking(move |engine| engine.audit_log(limit))
        .await?;
    let entries: Vec<Value> = entries
        .into_iter()
        .map(|e| {
            json!({
                "at": format_timestamp(e.at),
                "action": e.action,
                "detail": serde_json::from_str::<Value>(&e.detail).unwrap_or(Value::Null),
            })
        })
        .collect();
    Ok(Json(json!({"entries": entries})))
}
