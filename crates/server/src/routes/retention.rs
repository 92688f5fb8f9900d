//! Retention (see `tailor_engine::retention`): `GET /v1/retention` shows the settings,
//! `POST /v1/retention/run` (admin) runs the job now and answers what it removed.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use serde_json::{Value, json};
use tailor_engine::Scope;
use tailor_engine::retention::{EVERY, KEPT_EVENTS};

use crate::AppState;
use crate::auth::authorize;
use crate::error::ApiError;

pub async fn settings(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    authorize(state.engine.keys(), &headers, None, Scope::Analyst)?;
    let s = state.engine.retention_settings();
    Ok(Json(json!({
        "eventsDays": s.events_days,
        "expireInactiveDays": s.expire_inactive_days,
        "keptEvents": KEPT_EVENTS,
        "runsEverySeconds": if s.is_off() { None } else { Some(EVERY / 1_000) },
    })))
}

pub async fn run(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    authorize(state.engine.keys(), &headers, None, Scope::Admin)?;
    let report = state.blocking(|engine| engine.run_retention()).await?;
    Ok(Json(
        json!({"settings": state.engine.retention_settings(), "ran": report}),
    ))
}
