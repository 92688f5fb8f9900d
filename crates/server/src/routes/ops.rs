//! Operations: `/healthz`, Prometheus `/metrics`, `/openapi.json`, and JSON 404/405s.

use axum::Json;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::{Method, StatusCode, Uri};
use axum::response::IntoResponse;
use serde_json::{Value, json};

use crate::AppState;
use crate::error::ApiError;

pub async fn healthz(State(state): State<AppState>) -> Json<Value> {
    let stats = state.engine.stats();
    Json(json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "profiles": stats.profiles,
        "products": stats.products,
        "queuedJobs": stats.queued_jobs,
    }))
}

pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let stats = state.engine.stats();
    metrics::gauge!("tailor_profiles").set(stats.profiles as f64);
    metrics::gauge!("tailor_products").set(stats.products as f64);
    metrics::gauge!("tailor_ingest_queue_depth").set(stats.queued_jobs as f64);
    (
        [(CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}

pub async fn openapi() -> impl IntoResponse {
    (
        [(CONTENT_TYPE, "application/json")],
        include_str!("../openapi.json"),
    )
}

pub async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::not_found(format!("no route for {method} {}", uri.path()))
}

pub async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{method} is not allowed on {}", uri.path()),
    )
}
