//! Server-rendered pages: the demo storefront at `/` (when running `tailor demo`) and the
//! admin console at `/admin`. Plain HTML with a little inline script; no build step.

use axum::Router;
use axum::extract::State;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;

use crate::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/admin", get(admin))
}

async fn home(State(state): State<AppState>) -> Response {
    match &state.storefront_key {
        Some(key) => Html(crate::pages_store::storefront(&state, key)).into_response(),
        None => Redirect::temporary("/admin").into_response(),
    }
}

async fn admin(State(state): State<AppState>) -> Html<String> {
    Html(crate::pages_store::admin(&state))
}
