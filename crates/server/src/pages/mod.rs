//! Server-rendered pages: the admin console at `/admin`. Plain HTML, with its script and
//! style as files beside it (the pages' Content Security Policy runs no inline script; see
//! `headers`); no build step.

mod admin;
mod html;

use axum::Router;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::routing::get;

use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin", get(admin::admin))
        .route(
            "/admin/admin.js",
            get(|| async { asset("text/javascript; charset=utf-8", admin::SCRIPT) }),
        )
        .route(
            "/admin/admin.css",
            get(|| async { asset("text/css; charset=utf-8", html::STYLE) }),
        )
}

/// A page's script or style, with its type (the server answers `nosniff`).
fn asset(content_type: &'static str, body: &'static str) -> impl axum::response::IntoResponse {
    (
        [(CONTENT_TYPE, content_type), (CACHE_CONTROL, "no-cache")],
        body,
    )
}
