//! Profiles (admin): `GET /v1/profiles/{id}` by userId, anonymousId or internal id
//! (`p_12`), and the person's events under `/events`.

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
    let view = state
        .engine
        .profile(&id)
        .ok_or_else(|| ApiError::not_found(format!("no profile is known by {id:?}")))?;
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
    let events: Vec<Value> = events
        .into_iter()
        .map(|e| {
            let mut v = json!(e.message);
            v["seq"] = json!(e.seq);
            for k in ["timestamp", "receivedAt", "sentAt", "originalTimestamp"] {
                if let Some(ms) = v.get(k).and_then(Value::as_i64) {
                    v[k] = json!(format_timestamp(ms));
                }
            }
            v
        })
        .collect();
    Ok(Json(json!({"events": events})))
}
