//! Server-rendered pages: the demo storefront (when running `tailor demo`) and the admin
//! console at `/admin`. Plain HTML and a little inline script; no build step.

mod admin;
mod html;
mod preferences;
mod store;

use axum::Router;
use axum::routing::get;

use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(store::home))
        .route("/c/{*path}", get(store::category))
        .route("/p/{id}", get(store::product))
        .route("/cart", get(store::cart))
        .route("/as", get(store::switch_visitor))
        .route(
            "/preferences",
            get(preferences::show).post(preferences::save),
        )
        .route("/admin", get(admin::admin))
}
