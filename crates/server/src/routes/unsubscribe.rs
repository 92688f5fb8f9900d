//! One-click unsubscribe (RFC 8058), public: the signed link in each email and SMS is the
//! only credential. `GET` shows a small page with a button and changes nothing (mail
//! scanners open links); `POST` — the button, or the mail client's
//! `List-Unsubscribe=One-Click` — withdraws that channel's consent and shows the
//! confirmation.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use tailor_engine::journeys::unsubscribe::Unsubscribe;

use crate::AppState;
use crate::error::ApiError;

/// The page behind an unsubscribe link: what it unsubscribes from, and a button.
#[utoipa::path(get, path = "/unsubscribe/{token}", tag = "messages",
    params(("token" = String, Path)),
    responses((status = 200, content_type = "text/html", body = String),
              (status = 404, content_type = "text/html", body = String)))]
pub async fn page(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    let status = state
        .blocking(move |engine| engine.unsubscribe_status(&token))
        .await;
    match status {
        Ok(u) if u.unsubscribed => html(StatusCode::OK, &done(&u)),
        Ok(u) => {
            let what = what(&u);
            let from = from(&u);
            html(
                StatusCode::OK,
                &format!(
                    "<h1>Unsubscribe</h1><p>Stop {what}{from}?</p>\
                     <form method=\"post\"><input type=\"hidden\" name=\"List-Unsubscribe\" value=\"One-Click\">\
                     <button type=\"submit\">Unsubscribe</button></form>"
                ),
            )
        }
        Err(e) => failure(e),
    }
}

/// Unsubscribes: withdraws the consent of the link's person for the link's channel (recorded
/// in their consent ledger, source `unsubscribe link`). Answers the confirmation page;
/// repeating it changes nothing.
#[utoipa::path(post, path = "/unsubscribe/{token}", tag = "messages",
    params(("token" = String, Path)),
    request_body(content = String, content_type = "application/x-www-form-urlencoded",
        description = "`List-Unsubscribe=One-Click` (RFC 8058); the body is not required"),
    responses((status = 200, content_type = "text/html", body = String),
              (status = 404, content_type = "text/html", body = String)))]
pub async fn one_click(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    match state.engine.unsubscribe(&token).await {
        Ok(u) => html(StatusCode::OK, &done(&u)),
        Err(e) => failure(ApiError::from(e)),
    }
}

fn what(u: &Unsubscribe) -> &'static str {
    if u.channel == "sms" {
        "text messages"
    } else {
        "emails"
    }
}

fn from(u: &Unsubscribe) -> String {
    if u.store.is_empty() {
        String::new()
    } else {
        format!(" from {}", escape(&u.store))
    }
}

fn done(u: &Unsubscribe) -> String {
    format!(
        "<h1>You are unsubscribed</h1><p>You will get no more {}{}. Changed your mind? Your \
         preferences can be set again where you shop.</p>",
        what(u),
        from(u)
    )
}

fn failure(e: ApiError) -> Response {
    if e.status == StatusCode::NOT_FOUND {
        html(
            StatusCode::NOT_FOUND,
            "<h1>Link not valid</h1><p>This unsubscribe link is not valid, or it belongs to \
             data that has been erased.</p>",
        )
    } else {
        html(
            e.status,
            "<h1>Something went wrong</h1><p>Please try again in a moment.</p>",
        )
    }
}

fn html(status: StatusCode, body: &str) -> Response {
    let page = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <meta name=\"robots\" content=\"noindex\"><title>Unsubscribe</title>\
         <style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;color:#222}}\
         button{{font-size:1rem;padding:.5rem 1.2rem}}</style></head><body>{body}</body></html>"
    );
    (status, [(CONTENT_TYPE, "text/html; charset=utf-8")], page).into_response()
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
