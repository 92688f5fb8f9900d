//! Prediction models: `GET /v1/models` (versions with their training window and evaluation,
//! and what the trainer is doing; no personal data, so analysts may read it),
//! `POST /v1/models/train` (admin): train a new version in the background, and
//! `GET /v1/forecast` (analysts: aggregates only): the version in service's per-category
//! forecast of orders and revenue for the next 4 weeks.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use tailor_engine::Scope;

use crate::AppState;
use crate::auth::authorize;
use crate::error::ApiError;

pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    authorize(state.engine.keys(), &headers, None, Scope::Analyst)?;
    let (versions, training) = state.engine.models();
    let active = versions
        .iter()
        .rev()
        .find(|v| v.status == "active")
        .map(|v| v.version);
    Ok(Json(
        json!({"active": active, "training": training, "versions": versions}),
    ))
}

pub async fn forecast(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<tailor_engine::predictions::forecast::Forecast>, ApiError> {
    authorize(state.engine.keys(), &headers, None, Scope::Analyst)?;
    Ok(Json(state.engine.forecast()?))
}

pub async fn train(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    authorize(state.engine.keys(), &headers, None, Scope::Admin)?;
    if state.engine.event_count()? == 0 {
        return Err(tailor_engine::EngineError::Conflict(
            "the event log is empty: send events first, then train".into(),
        )
        .into());
    }
    if !state.engine.start_training() {
        return Err(tailor_engine::EngineError::Conflict(
            "models are already training; follow GET /v1/models".into(),
        )
        .into());
    }
    let (_, training) = state.engine.models();
    Ok((StatusCode::ACCEPTED, Json(json!({"training": training}))))
}
