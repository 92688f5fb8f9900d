//! Ad audiences (admin): `/v1/audiences…` — the list, segment audiences defined by a
//! condition, each audience's members, its add/remove stream for an ad platform sync, and
//! its upload file in Google Ads' or Meta's columns.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tailor_engine::journeys::audience_book::{AudienceDefinition, AudienceSummary};
use tailor_engine::journeys::audiences::ExportFormat;
use tailor_engine::journeys::{Audience, AudienceChanges};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{Admin, ApiJson, ApiQuery, Authorized};
use crate::routes::Success;

/// Largest audience definition accepted.
const MAX_DEFINITION: usize = 64 * 1024;

#[derive(Serialize, ToSchema)]
pub struct Audiences {
    audiences: Vec<AudienceSummary>,
}

/// Every audience: the ones a segment defines and the ones journey steps fill.
#[utoipa::path(get, path = "/v1/audiences", tag = "audiences", security(("admin_key" = [])),
    responses((status = 200, body = Audiences)))]
pub async fn list(
    _: Authorized<Admin>,
    State(state): State<AppState>,
) -> Result<Json<Audiences>, ApiError> {
    let audiences = state.blocking(|engine| engine.audiences()).await?;
    Ok(Json(Audiences { audiences }))
}

/// An audience's members who may be used for advertising now.
#[utoipa::path(get, path = "/v1/audiences/{name}", tag = "audiences", security(("admin_key" = [])),
    params(("name" = String, Path)), responses((status = 200, body = Audience)))]
pub async fn get(
    _: Authorized<Admin>,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Audience>, ApiError> {
    Ok(Json(
        state.blocking(move |engine| engine.audience(&name)).await?,
    ))
}

/// Defines a segment audience `{"condition", "description"}`: everyone whose profile the
/// condition holds for and who allows advertising, kept current as profiles change (each
/// change an `add` or `remove` in its stream). Every problem is reported at once.
#[utoipa::path(put, path = "/v1/audiences/{name}", tag = "audiences", security(("admin_key" = [])),
    params(("name" = String, Path)), request_body = AudienceDefinition,
    responses((status = 200, body = AudienceSummary)))]
pub async fn put(
    _: Authorized<Admin>,
    State(state): State<AppState>,
    Path(name): Path<String>,
    ApiJson(definition): ApiJson<AudienceDefinition, MAX_DEFINITION>,
) -> Result<Json<AudienceSummary>, ApiError> {
    Ok(Json(
        state
            .blocking(move |engine| engine.put_audience(&name, definition))
            .await?,
    ))
}

/// Deletes a segment audience; each member gets a `remove` in its stream.
#[utoipa::path(delete, path = "/v1/audiences/{name}", tag = "audiences", security(("admin_key" = [])),
    params(("name" = String, Path)), responses((status = 200, body = Success)))]
pub async fn delete(
    _: Authorized<Admin>,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Success>, ApiError> {
    state
        .blocking(move |engine| engine.delete_audience(&name))
        .await?;
    Ok(Json(Success::YES))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ChangesQuery {
    /// Changes after this position (default 0).
    after: Option<i64>,
    /// At most this many (default 1,000, at most 100,000).
    limit: Option<usize>,
}

/// The audience's add/remove stream, for an ad platform sync. A `remove` left by an
/// erasure or expiry has `person: null` and only the hashed match keys.
#[utoipa::path(get, path = "/v1/audiences/{name}/changes", tag = "audiences", security(("admin_key" = [])),
    params(("name" = String, Path), ChangesQuery), responses((status = 200, body = AudienceChanges)))]
pub async fn changes(
    _: Authorized<Admin>,
    State(state): State<AppState>,
    Path(name): Path<String>,
    ApiQuery(q): ApiQuery<ChangesQuery>,
) -> Result<Json<AudienceChanges>, ApiError> {
    let after = q.after.unwrap_or(0);
    let limit = q.limit.unwrap_or(1_000).min(100_000);
    Ok(Json(
        state
            .blocking(move |engine| engine.audience_changes(&name, after, limit))
            .await?,
    ))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// `google` (default): `Email,Phone`, Google Ads Customer Match; `meta`:
    /// `email,phone,value`, a Meta customer list. SHA-256 of the normalized values.
    format: Option<String>,
}

/// The audience as an upload file in the platform's documented columns.
#[utoipa::path(get, path = "/v1/audiences/{name}/export", tag = "audiences", security(("admin_key" = [])),
    params(("name" = String, Path), ExportQuery),
    responses((status = 200, content_type = "text/csv", body = String)))]
pub async fn export(
    _: Authorized<Admin>,
    State(state): State<AppState>,
    Path(name): Path<String>,
    ApiQuery(q): ApiQuery<ExportQuery>,
) -> Result<Response, ApiError> {
    let format = match q.format.as_deref() {
        None => ExportFormat::default(),
        Some(f) => ExportFormat::parse(f)?,
    };
    let csv = state
        .blocking(move |engine| engine.audience_export(&name, format))
        .await?;
    Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], csv).into_response())
}
