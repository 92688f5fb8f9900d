//! Server-rendered pages: the console at `/console` (and `/admin`, which sends there).
//! Plain HTML, with script and style as files beside it (the pages' Content Security Policy
//! runs no inline script; see `headers`); no build step.

pub mod console;

use axum::Router;

use crate::AppState;

pub fn routes() -> Router<AppState> {
    console::routes()
}
