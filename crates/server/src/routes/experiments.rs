//! Experiments and holdouts on placements (admin): `GET /v1/experiments`,
//! `PUT`/`DELETE /v1/experiments/{id}`, and `GET /v1/experiments/{id}/results`.

use axum::Json;
use axum::extract::{Path, State};
use serde::Serialize;
use tailor_engine::experiments::PlacementExperiment;
use tailor_engine::measure::experiment_results::ExperimentResults;
use utoipa::ToSchema;

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{Admin, Analyst, Authorized, Definition};
use crate::routes::{Saved, Success};

#[derive(Serialize, ToSchema)]
pub struct Experiments {
    #[schema(value_type = Vec<Object>)]
    experiments: Vec<PlacementExperiment>,
}

/// The experiments.
#[utoipa::path(get, path = "/v1/experiments", tag = "experiments", security(("analyst_key" = [])),
    responses((status = 200, body = Experiments)))]
pub async fn list(_: Authorized<Analyst>, State(state): State<AppState>) -> Json<Experiments> {
    Json(Experiments {
        experiments: state.engine.experiments(),
    })
}

#[derive(Serialize, ToSchema)]
pub struct SavedExperiment {
    #[schema(value_type = Object)]
    experiment: PlacementExperiment,
}

/// Creates or replaces an experiment: `{"placement", "variations": [{"id", "treatment":
/// personalized|editorial|content, "content"?}], "weights"?, "coverage"?, "condition"?,
/// "namespace"?, "status"?: draft|running|stopped, "startAt"?, "endAt"?}`; its `id` is the
/// URL's.
#[utoipa::path(put, path = "/v1/experiments/{id}", tag = "experiments", security(("admin_key" = [])),
    params(("id" = String, Path)), request_body = Object,
    responses((status = 200, body = Saved<SavedExperiment>)))]
pub async fn put(
    _: Authorized<Admin>,
    State(state): State<AppState>,
    Definition(exp): Definition<PlacementExperiment, { 64 * 1024 }>,
) -> Result<Json<Saved<SavedExperiment>>, ApiError> {
    let saved = exp.clone();
    state
        .blocking(move |engine| engine.put_experiment(exp))
        .await?;
    Ok(Json(Saved::new(SavedExperiment { experiment: saved })))
}

/// Deletes an experiment.
#[utoipa::path(delete, path = "/v1/experiments/{id}", tag = "experiments", security(("admin_key" = [])),
    params(("id" = String, Path)), responses((status = 200, body = Success)))]
pub async fn delete(
    _: Authorized<Admin>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Success>, ApiError> {
    state
        .blocking(move |engine| engine.delete_experiment(&id))
        .await?;
    Ok(Json(Success::YES))
}

/// Per variation and metric, the lift over the control with frequentist, sequential and
/// Bayesian statistics.
#[utoipa::path(get, path = "/v1/experiments/{id}/results", tag = "experiments", security(("analyst_key" = [])),
    params(("id" = String, Path)), responses((status = 200, body = ExperimentResults)))]
pub async fn results(
    _: Authorized<Analyst>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ExperimentResults>, ApiError> {
    Ok(Json(
        state
            .blocking(move |engine| engine.experiment_results(&id))
            .await?,
    ))
}
