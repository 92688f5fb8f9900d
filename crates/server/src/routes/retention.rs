//! Retention (see `tailor_engine::retention`): `GET /v1/retention` shows the settings,
//! `POST /v1/retention/run` (admin) runs the job now and answers what it removed.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use tailor_engine::retention::{EVERY, KEPT_EVENTS, RetentionReport, RetentionSettings};
use utoipa::ToSchema;

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{Admin, Analyst, Authorized};

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Settings {
    /// Raw events older than this are deleted; `null`: kept forever.
    events_days: Option<u32>,
    /// People inactive this long are erased; `null`: never.
    expire_inactive_days: Option<u32>,
    /// Events kept whatever their age (consent, orders, …).
    #[schema(value_type = Vec<String>)]
    kept_events: &'static [&'static str],
    /// `null` when retention is off.
    runs_every_seconds: Option<i64>,
}

/// The retention settings.
#[utoipa::path(get, path = "/v1/retention", tag = "retention", security(("analyst_key" = [])),
    responses((status = 200, body = Settings)))]
pub async fn settings(_: Authorized<Analyst>, State(state): State<AppState>) -> Json<Settings> {
    let s = state.engine.retention_settings();
    Json(Settings {
        events_days: s.events_days,
        expire_inactive_days: s.expire_inactive_days,
        kept_events: KEPT_EVENTS,
        runs_every_seconds: if s.is_off() {
            None
        } else {
            Some(EVERY / 1_000)
        },
    })
}

#[derive(Serialize, ToSchema)]
pub struct Ran {
    #[schema(value_type = Object)]
    settings: RetentionSettings,
    /// What the run removed.
    #[schema(value_type = Object)]
    ran: RetentionReport,
}

/// Runs the retention job now.
#[utoipa::path(post, path = "/v1/retention/run", tag = "retention", security(("admin_key" = [])),
    responses((status = 200, body = Ran)))]
pub async fn run(
    _: Authorized<Admin>,
    State(state): State<AppState>,
) -> Result<Json<Ran>, ApiError> {
    let ran = state.blocking(|engine| engine.run_retention()).await?;
    Ok(Json(Ran {
        settings: state.engine.retention_settings(),
        ran,
    }))
}
