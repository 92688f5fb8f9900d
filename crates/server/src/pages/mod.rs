//! Server-rendered pages: the admin console at `/admin`. Plain HTML and a little inline
//! script; no build step.

mod admin;
mod html;

use axum::Router;
use axum::routing::get;

use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new().route("/admin", get(admin::admin))
}
