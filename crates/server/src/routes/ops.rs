//! Operations: `/healthz` (live), `/readyz` (ready: the store answers), Prometheus `/metrics`, `/openapi.json`, and JSON 404/405s.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::{Method, StatusCode, Uri};
use axum::response::IntoResponse;
use axum::{Extension, Json};
use serde::Serialize;
use utoipa::ToSchema;

use crate::AppState;
use crate::error::ApiError;

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Health {
    /// Always `ok` when the server answers.
    status: &'static str,
    version: &'static str,
    profiles: usize,
    products: usize,
    /// Ingest jobs waiting for the writer.
    queued_jobs: usize,
}

/// Liveness and a few counts: answers whenever the process serves HTTP, whatever the
/// store's state (a load balancer's liveness probe; restart the process when it fails).
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, body = Health)))]
pub async fn healthz(State(state): State<AppState>) -> Json<Health> {
    let stats = state.engine.stats();
    Json(Health {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
        profiles: stats.profiles,
        products: stats.products,
        queued_jobs: stats.queued_jobs,
    })
}

#[derive(Serialize, ToSchema)]
pub struct Readiness {
    /// `ready`, or `not_ready` with a `reason`.
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
}

/// How long readiness waits for the store before saying no.
const READY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// Readiness: 200 when the store answers within 2 s, 503 when it does not (PostgreSQL lost
/// or restarting), so a load balancer sends traffic elsewhere until it is back.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, body = Readiness), (status = 503, body = Readiness)))]
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Readiness>) {
    let engine = state.engine.clone();
    let check = tokio::task::spawn_blocking(move || engine.store_ready());
    match tokio::time::timeout(READY_TIMEOUT, check).await {
        Ok(Ok(Ok(()))) => (
            StatusCode::OK,
            Json(Readiness {
                status: "ready",
                reason: None,
            }),
        ),
        outcome => {
            if let Ok(Ok(Err(e))) = outcome {
                tracing::warn!(error = %e, "not ready: the store does not answer");
            }
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(Readiness {
                    status: "not_ready",
                    reason: Some("store_unreachable"),
                }),
            )
        }
    }
}

/// Prometheus metrics (text exposition format).
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, content_type = "text/plain", body = String)))]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let stats = state.engine.stats();
    metrics::gauge!("tailor_profiles").set(stats.profiles as f64);
    metrics::gauge!("tailor_products").set(stats.products as f64);
    metrics::gauge!("tailor_ingest_queue_depth").set(stats.queued_jobs as f64);
    if let Some(bytes) = tailor_core::heap::live_bytes() {
        metrics::gauge!("tailor_heap_live_bytes").set(bytes as f64);
    }
    metrics::gauge!("tailor_sqlite_memory_bytes").set(stats.sqlite_memory as f64);
    // Disk use per file: stat calls, cheap enough for a scrape.
    if let Ok(disk) = state.engine.disk_usage() {
        for (file, bytes) in disk.files {
            metrics::gauge!("tailor_disk_file_bytes", "file" => file).set(bytes as f64);
        }
        if let Some(free) = disk.free {
            metrics::gauge!("tailor_disk_free_bytes").set(free as f64);
        }
        metrics::gauge!("tailor_disk_min_free_bytes").set(disk.min_free as f64);
    }
    (
        [(CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}

/// The OpenAPI document, serialized once when the router is built.
#[derive(Clone)]
pub struct OpenApiDocument(Bytes);

impl OpenApiDocument {
    pub fn new(document: &utoipa::openapi::OpenApi) -> Self {
        // Serializing the document's own types cannot fail (string keys, no floats).
        let json = document.to_pretty_json().unwrap_or_else(|_| "{}".into());
        OpenApiDocument(Bytes::from(json))
    }
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "operations",
    responses((status = 200, content_type = "application/json", body = Object)))]
pub async fn openapi(Extension(document): Extension<OpenApiDocument>) -> impl IntoResponse {
    ([(CONTENT_TYPE, "application/json")], document.0)
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
