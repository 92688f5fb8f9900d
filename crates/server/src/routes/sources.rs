//! Sources (admin): where events and decision requests come from, each with its own key, as
//! Segment gives each source its own write key. `GET /v1/sources` lists them,
//! `PUT /v1/sources/{name}` `{"kind": "public" | "server"}` makes one (or a new key for
//! one) and answers its key once, `DELETE /v1/sources/{name}` revokes it.
//!
//! A *public* source's key goes into browsers and apps, where anyone can read it: its
//! userId claims count only with proof. A *server* source's key stays on the store's
//! backend: its ids are taken as given.

use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use tailor_engine::{SourceInfo, SourceKind};
use utoipa::ToSchema;

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{Admin, ApiJson, Authorized};
use crate::routes::Success;

#[derive(Serialize, ToSchema)]
pub struct Sources {
    sources: Vec<SourceInfo>,
}

/// The sources (names and kinds; keys are never shown again).
#[utoipa::path(get, path = "/v1/sources", tag = "sources", security(("admin_key" = [])),
    responses((status = 200, body = Sources)))]
pub async fn list(_: Authorized<Admin>, State(state): State<AppState>) -> Json<Sources> {
    Json(Sources {
        sources: state.engine.sources(),
    })
}

#[derive(Deserialize, ToSchema)]
pub struct SourceRequest {
    /// `public` (browsers, apps: userIds need proof) or `server` (your backend: secret).
    kind: SourceKind,
}

#[derive(Serialize, ToSchema)]
pub struct NewSource {
    name: String,
    kind: SourceKind,
    /// Shown only now; only its hash is stored.
    key: String,
}

/// Creates a source, or gives an existing one a new key (the old key stops working).
#[utoipa::path(put, path = "/v1/sources/{name}", tag = "sources", security(("admin_key" = [])),
    params(("name" = String, Path)), request_body = SourceRequest,
    responses((status = 200, body = NewSource)))]
pub async fn put(
    _: Authorized<Admin>,
    State(state): State<AppState>,
    Path(name): Path<String>,
    ApiJson(request): ApiJson<SourceRequest, 1024>,
) -> Result<Json<NewSource>, ApiError> {
    let kind = request.kind;
    let (name, key) = state
        .blocking(move |engine| engine.put_source(&name, kind).map(|key| (name, key)))
        .await?;
    Ok(Json(NewSource { name, kind, key }))
}

/// Revokes a source: its key stops working at once.
#[utoipa::path(delete, path = "/v1/sources/{name}", tag = "sources", security(("admin_key" = [])),
    params(("name" = String, Path)), responses((status = 200, body = Success)))]
pub async fn delete(
    _: Authorized<Admin>,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Success>, ApiError> {
    state
        .blocking(move |engine| engine.delete_source(&name))
        .await?;
    Ok(Json(Success::YES))
}
