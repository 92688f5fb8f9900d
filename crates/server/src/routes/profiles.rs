//! Profiles (admin): `GET /v1/profiles/{id}` by userId, anonymousId or internal id
//! (`p_12`), the person's events under `/events`, everything about them under `/export`,
//! and erasure: `DELETE /v1/profiles/{id}`, `DELETE /v1/suppressions/{id}` (lift the
//! block on an erased id), `GET /v1/audit`.

use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tailor_core::time::format_timestamp;
use tailor_engine::export::ExportDocument;
use tailor_engine::privacy::ErasureReport;
use tailor_engine::profile::ProfileView;
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{Admin, Analyst, ApiQuery, Authorized};

/// A profile as Tailor sees it now, predictions included (audit-logged).
#[utoipa::path(get, path = "/v1/profiles/{id}", tag = "profiles", security(("admin_key" = [])),
    params(("id" = String, Path, description = "userId, anonymousId or internal id (`p_12`)")),
    responses((status = 200, body = Object)))]
pub async fn get(
    _: Authorized<Admin>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ProfileView>, ApiError> {
    let id2 = id.clone();
    let view = state
        .blocking(move |engine| engine.profile_in_full(&id2))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no profile is known by {id:?}")))?;
    audit_read(&state, "read_profile", &id).await?;
    Ok(Json(view))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// At most this many (default 100, at most 1,000).
    limit: Option<usize>,
}

#[derive(Serialize, ToSchema)]
pub struct Events {
    /// The stored messages with their log position (`seq`), times as RFC 3339.
    #[schema(value_type = Vec<Object>)]
    events: Vec<Value>,
}

/// A person's newest events (audit-logged).
#[utoipa::path(get, path = "/v1/profiles/{id}/events", tag = "profiles", security(("admin_key" = [])),
    params(("id" = String, Path), EventsQuery), responses((status = 200, body = Events)))]
pub async fn events(
    _: Authorized<Admin>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<EventsQuery>,
) -> Result<Json<Events>, ApiError> {
    let limit = q.limit.unwrap_or(100).min(1_000);
    let id2 = id.clone();
    let events = state
        .blocking(move |engine| engine.events_of(&id2, limit))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no profile is known by {id:?}")))?;
    audit_read(&state, "read_events", &id).await?;
    Ok(Json(Events {
        events: events
            .iter()
            .map(tailor_engine::privacy::event_json)
            .collect(),
    }))
}

#[derive(Serialize, ToSchema)]
pub struct Erased {
    #[schema(value_type = Object)]
    erased: ErasureReport,
}

/// Erases a person: their events, profile, decisions and messages; their ids are suppressed.
#[utoipa::path(delete, path = "/v1/profiles/{id}", tag = "profiles", security(("admin_key" = [])),
    params(("id" = String, Path)), responses((status = 200, body = Erased)))]
pub async fn erase(
    _: Authorized<Admin>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Erased>, ApiError> {
    let erased = state.engine.erase(&id).await?;
    Ok(Json(Erased { erased }))
}

/// Everything Tailor keeps about a person, in one document (audit-logged).
#[utoipa::path(get, path = "/v1/profiles/{id}/export", tag = "profiles", security(("admin_key" = [])),
    params(("id" = String, Path)), responses((status = 200, body = ExportDocument)))]
pub async fn export(
    _: Authorized<Admin>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ExportDocument>, ApiError> {
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

#[derive(Serialize, ToSchema)]
pub struct Lifted {
    lifted: bool,
}

/// Lifts the block on an erased id, so its events are accepted again.
#[utoipa::path(delete, path = "/v1/suppressions/{id}", tag = "profiles", security(("admin_key" = [])),
    params(("id" = String, Path)), responses((status = 200, body = Lifted)))]
pub async fn lift_suppression(
    _: Authorized<Admin>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Lifted>, ApiError> {
    let id2 = id.clone();
    if state
        .blocking(move |engine| engine.lift_suppression(&id2))
        .await?
    {
        Ok(Json(Lifted { lifted: true }))
    } else {
        Err(ApiError::not_found(format!("{id:?} is not suppressed")))
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// At most this many (default 100, at most 10,000).
    limit: Option<usize>,
}

#[derive(Serialize, ToSchema)]
pub struct AuditLog {
    /// Newest first.
    entries: Vec<AuditEntryView>,
}

#[derive(Serialize, ToSchema)]
pub struct AuditEntryView {
    at: String,
    /// `read_profile`, `export`, `erase`, `lift_suppression`, …
    action: String,
    /// Internal profile numbers only, never an id.
    #[schema(value_type = Object)]
    detail: Value,
}

/// The audit log: admin reads and erasures.
#[utoipa::path(get, path = "/v1/audit", tag = "profiles", security(("analyst_key" = [])),
    params(AuditQuery), responses((status = 200, body = AuditLog)))]
pub async fn audit(
    _: Authorized<Analyst>,
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> Result<Json<AuditLog>, ApiError> {
    let limit = q.limit.unwrap_or(100).min(10_000);
    let entries = state
        .blocking(move |engine| engine.audit_log(limit))
        .await?;
    Ok(Json(AuditLog {
        entries: entries
            .into_iter()
            .map(|e| AuditEntryView {
                at: format_timestamp(e.at),
                action: e.action,
                detail: serde_json::from_str::<Value>(&e.detail).unwrap_or(Value::Null),
            })
            .collect(),
    }))
}
