//! Prediction models: `GET /v1/models` (versions with their training window and evaluation,
//! and what the trainer is doing; no personal data, so analysts may read it),
//! `POST /v1/models/train` (admin): train a new version in the background, and
//! `GET /v1/forecast` (analysts: aggregates only): the version in service's per-category
//! forecast of orders and revenue for the next 4 weeks.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use tailor_engine::predictions::forecast::Forecast;
use tailor_engine::predictions::{ModelVersion, TrainingState};
use utoipa::ToSchema;

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{Admin, Analyst, Authorized};

#[derive(Serialize, ToSchema)]
pub struct Models {
    /// The version in service.
    active: Option<u32>,
    #[schema(value_type = Object)]
    training: TrainingState,
    /// Every version, oldest first, with its evaluation.
    #[schema(value_type = Vec<Object>)]
    versions: Vec<ModelVersion>,
}

/// The model versions and what the trainer is doing.
#[utoipa::path(get, path = "/v1/models", tag = "models", security(("analyst_key" = [])),
    responses((status = 200, body = Models)))]
pub async fn list(_: Authorized<Analyst>, State(state): State<AppState>) -> Json<Models> {
    let (versions, training) = state.engine.models();
    let active = versions
        .iter()
        .rev()
        .find(|v| v.status == "active")
        .map(|v| v.version);
    Json(Models {
        active,
        training,
        versions,
    })
}

/// Per category, the forecast of orders and revenue for the next 4 weeks.
#[utoipa::path(get, path = "/v1/forecast", tag = "models", security(("analyst_key" = [])),
    responses((status = 200, body = Object)))]
pub async fn forecast(
    _: Authorized<Analyst>,
    State(state): State<AppState>,
) -> Result<Json<Forecast>, ApiError> {
    Ok(Json(state.engine.forecast()?))
}

#[derive(Serialize, ToSchema)]
pub struct Training {
    #[schema(value_type = Object)]
    training: TrainingState,
}

/// Trains a new model version in the background; follow `GET /v1/models`.
#[utoipa::path(post, path = "/v1/models/train", tag = "models", security(("admin_key" = [])),
    responses((status = 202, body = Training)))]
pub async fn train(
    _: Authorized<Admin>,
    State(state): State<AppState>,
) -> Result<(StatusCode, Json<Training>), ApiError> {
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
    Ok((StatusCode::ACCEPTED, Json(Training { training })))
}
