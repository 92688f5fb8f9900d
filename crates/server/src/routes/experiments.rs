//! Experiments and holdouts on placements (admin): `GET /v1/experiments`,
//! `PUT`/`DELETE /v1/experiments/{id}`, and `GET /v1/experiments/{id}/results`.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use serde_json::{Value, json};
use tailor_engine::Scope;
use tailor_engine::experiments::PlacementExperiment;

use crate::AppState;
use crate::auth::authorize;
use crate::body::definition_for;
use crate::error::ApiError;

pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    authorize(state.engine.keys(), &headers, None, Scope::Analyst)?;
    Ok(Json(json!({"experiments": state.engine.experiments()})))
}

pub async fn put(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    authorize(state.engine.keys(), &headers, None, Scope::Admin)?;
    let v = definition_for(&headers, body, 64 * 1024, &id, "experiment").await?;
    let exp: PlacementExperiment = serde_json::from_value(v).map_err(|e| {
        ApiError::bad_request(
            "invalid_request",
            format!("not an experiment ({e}); expected {{\"placement\", \"variations\": [{{\"id\", \"treatment\": personalized|editorial|content, \"content\"?}}], \"weights\"?, \"coverage\"?, \"condition\"?, \"namespace\"?, \"status\"?: draft|running|stopped, \"startAt\"?, \"endAt\"?}}"),
        )
    })?;
    let saved = exp.clone();
    state
        .blocking(move |engine| engine.put_experiment(exp))
        .await?;
    Ok(Json(json!({"success": true, "experiment": saved})))
}

pub async fn delete(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    authorize(state.engine.keys(), &headers, None, Scope::Admin)?;
    state
        .blocking(move |engine| engine.delete_experiment(&id))
        .await?;
    Ok(Json(json!({"success": true})))
}

pub async fn results(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    authorize(state.engine.keys(), &headers, None, Scope::Analyst)?;
    Ok(Json(
        state
            .blocking(move |engine| engine.experiment_results(&id))
            .await?,
    ))
}
