//! `/console/signin` and `/console/signout`: the key becomes a session (see `session`).
//! A wrong key is answered on the form, next to the field, after the same work as a right
//! one (the key's hash is compared either way).

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;
use tailor_engine::Scope;

use super::layout;
use super::session::{self, Role};
use crate::AppState;

#[derive(Deserialize, Default)]
pub struct Next {
    next: Option<String>,
}

/// Where to go after signing in: only a console path (no open redirect).
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with("/console") && !n.starts_with("//") && !n.contains('\\') => {
            n.to_string()
        }
        _ => "/console".to_string(),
    }
}

fn form(next: &str, error: Option<&str>) -> maud::Markup {
    html! {
        form.signin method="post" action="/console/signin" {
            input type="hidden" name="next" value=(next);
            label for="key" { "Admin or analyst key" }
            input id="key" name="key" type="password" autocomplete="current-password" required
                autofocus aria-describedby=[error.map(|_| "key-error")] aria-invalid=[error.map(|_| "true")];
            @if let Some(e) = error {
                p.field-error id="key-error" role="alert" { (e) }
            }
            button type="submit" { "Sign in" }
        }
        p.hint {
            "The admin key sees and changes everything, personal data included. The analyst key "
            "reads reports and aggregates, never personal data. "
            code { "tailor demo" } " prints both."
        }
    }
}

pub async fn page(Query(q): Query<Next>) -> Response {
    let next = safe_next(q.next.as_deref());
    layout::bare(StatusCode::OK, "Sign in", form(&next, None))
}

#[derive(Deserialize)]
pub struct SignIn {
    #[serde(default)]
    key: String,
    next: Option<String>,
}

pub async fn sign_in(
    State(state): State<AppState>,
    session::Peer(peer): session::Peer,
    headers: HeaderMap,
    axum::Form(f): axum::Form<SignIn>,
) -> Response {
    let next = safe_next(f.next.as_deref());
    if !session::same_origin(&headers) {
        return layout::refusal(
            StatusCode::FORBIDDEN,
            "Refused",
            "This sign-in came from another site.",
        );
    }
    let role = state.engine.keys().owner(f.key.trim()).and_then(|owner| {
        match (owner.scope, owner.source) {
            (Scope::Admin, None) => Some(Role::Admin),
            (Scope::Analyst, None) => Some(Role::Analyst),
            _ => None,
        }
    });
    let Some(role) = role else {
        let message = if f.key.trim().is_empty() {
            "Enter the admin or the analyst key."
        } else {
            "This is not the admin or the analyst key of this server (source keys cannot sign in)."
        };
        return layout::bare(
            StatusCode::UNAUTHORIZED,
            "Sign in",
            form(&next, Some(message)),
        );
    };
    let (id, _csrf) = match state.console.start(role, state.engine.now()) {
        Ok(s) => s,
        Err(e) => return e.into_response(),
    };
    let secure = session::behind_https(&state, &headers, peer);
    session::with_cookie(Redirect::to(&next), session::set_cookie(&id, secure))
}

pub async fn sign_out(
    State(state): State<AppState>,
    session::Peer(peer): session::Peer,
    headers: HeaderMap,
    change: session::Change<crate::extract::Analyst, serde::de::IgnoredAny>,
) -> Response {
    let _ = change.signed;
    if let Some(id) = session::cookie(&headers) {
        state.console.end(&id);
    }
    let secure = session::behind_https(&state, &headers, peer);
    session::with_cookie(
        Redirect::to("/console/signin"),
        session::set_cookie("", secure),
    )
}
