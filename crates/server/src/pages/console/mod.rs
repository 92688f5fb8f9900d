//! The console at `/console`: server-rendered pages (maud) for marketers and analysts, one
//! module per screen, over the engine's facade like the API's handlers. Sign-in with the
//! admin or analyst key gives a session (`session`); the analyst's pages show what the
//! API's analyst scope shows, and nothing of a person. Scripts and styles are files served
//! from the binary (`/console/assets/…`), among them uPlot, vendored by
//! `scripts/vendor/uplot.sh`: the pages' Content Security Policy runs nothing inline.

pub mod layout;
pub mod reports;
pub mod session;
mod signin;

mod audiences;
mod experiments;
mod journeys;
mod models;
mod overview;
mod people;
mod placements;
mod privacy;
mod segments;
mod templates;

use axum::Router;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};

use crate::AppState;

const CONSOLE_JS: &str = include_str!("../../../assets/console/console.js");
const CONSOLE_CSS: &str = include_str!("../../../assets/console/console.css");
const UPLOT_JS: &str = include_str!("../../../assets/vendor/uplot/uPlot.iife.min.js");
const UPLOT_CSS: &str = include_str!("../../../assets/vendor/uplot/uPlot.min.css");

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin", get(|| async { Redirect::permanent("/console") }))
        .route("/console", get(overview::page))
        .route("/console/signin", get(signin::page).post(signin::sign_in))
        .route("/console/signout", post(signin::sign_out))
        .route("/console/people", get(people::search))
        .route("/console/people/{id}", get(people::person))
        .route("/console/people/{id}/export", get(people::export))
        .route("/console/people/{id}/erase", post(people::erase))
        .route(
            "/console/segments",
            get(segments::page).post(segments::save),
        )
        .route("/console/api/segments/match", get(segments::live))
        .route("/console/audiences", post(segments::save_audience))
        .route("/console/audiences/{name}", get(audiences::changes))
        .route("/console/audiences/{name}/export", get(audiences::export))
        .route("/console/placements", get(placements::list))
        .route(
            "/console/placements/{id}",
            get(placements::edit).post(placements::save),
        )
        .route(
            "/console/experiments",
            get(experiments::list).post(experiments::create),
        )
        .route("/console/experiments/{id}", get(experiments::detail))
        .route(
            "/console/experiments/{id}/status",
            post(experiments::set_status),
        )
        .route("/console/journeys", get(journeys::list))
        .route("/console/journeys/{id}", get(journeys::detail))
        .route("/console/journeys/{id}/pause", post(journeys::pause))
        .route("/console/journeys/{id}/resume", post(journeys::resume))
        .route(
            "/console/journeys/dead/{key}/replay",
            post(journeys::replay),
        )
        .route(
            "/console/journeys/{id}/edit",
            post(journeys::save_definition),
        )
        .route("/console/templates", get(templates::list))
        .route(
            "/console/templates/{id}",
            get(templates::edit).post(templates::save),
        )
        .route("/console/templates/{id}/preview", post(templates::preview))
        .route("/console/models", get(models::page))
        .route("/console/models/train", post(models::train))
        .route("/console/privacy", get(privacy::page))
        .route(
            "/console/assets/console.js",
            get(|| async { asset(JS, CONSOLE_JS) }),
        )
        .route(
            "/console/assets/console.css",
            get(|| async { asset(CSS, CONSOLE_CSS) }),
        )
        .route(
            "/console/assets/uPlot.iife.min.js",
            get(|| async { asset(JS, UPLOT_JS) }),
        )
        .route(
            "/console/assets/uPlot.min.css",
            get(|| async { asset(CSS, UPLOT_CSS) }),
        )
}

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// A script or style with its type (the server answers `nosniff`).
fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [(CONTENT_TYPE, content_type), (CACHE_CONTROL, "no-cache")],
        body,
    )
}
