//! `/console/templates`: the message templates journeys send — list, edit with each problem
//! next to its field (the validation `PUT /v1/templates/{id}` runs), and a preview rendered
//! for a chosen shopper, as their next message would be. Admin only, as the API: a preview
//! holds the shopper's personal data.
//!
//! The preview is the form posted into a sandboxed frame (`formtarget`), so an unsaved draft
//! previews without script: the frame's document gets a policy of its own (`sandbox`, no
//! script, the e-mail's inline styles allowed), and only this page may frame it.

use axum::extract::{Path, Query, State};
use axum::http::header::{CONTENT_SECURITY_POLICY, X_FRAME_OPTIONS};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use maud::{DOCTYPE, Markup, PreEscaped, html};
use serde::Deserialize;
use serde_json::{Value, json};

use super::layout::{self, field_errors, problems_by_field};
use super::session::{Change, Console, Signed};
use crate::AppState;
use crate::error::ApiError;
use crate::extract::Admin;
use crate::headers::PAGE_POLICY;

/// The channels a template can be for, as the engine names them.
const CHANNELS: [&str; 5] = ["email", "sms", "push", "onsite", "webhook"];
/// The editor's fields, for placing problems next to them.
const FIELDS: [&str; 4] = ["channel", "subject", "html", "text"];

/// The frame's document: no script, no requests but images, its own inline styles (e-mail
/// HTML is styled inline), and framed by this server's pages only.
const PREVIEW_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; \
     img-src 'self' https: data:; sandbox; frame-ancestors 'self'";

pub async fn list(console: Console<Admin>, State(state): State<AppState>) -> Response {
    let templates = state.engine.message_templates();
    let used_by = |id: &str| -> Vec<String> {
        state
            .engine
            .journeys()
            .iter()
            .filter(|j| {
                serde_json::to_value(&j.definition)
                    .ok()
                    .and_then(|d| d["steps"].as_array().cloned())
                    .unwrap_or_default()
                    .iter()
                    .any(|s| s["template"] == id)
            })
            .map(|j| j.id.clone())
            .collect()
    };
    let body = html! {
        p.hint { "What journeys send, in MiniJinja: the shopper's name, cart, recommendations and promotion are variables. Built-in templates are editable defaults." }
        table {
            thead { tr { th { "Template" } th { "Channel" } th { "Subject or title" } th { "Origin" } th { "Sent by" } } }
            tbody { @for t in &templates {
                @let id = t["id"].as_str().unwrap_or("");
                tr {
                    td { a href={ "/console/templates/" (id) } data-template=(id) { (id) } }
                    td { (t["channel"].as_str().unwrap_or("")) }
                    td { (t["subject"].as_str().unwrap_or("")) }
                    td { @if t["builtIn"] == true { @if t["modified"] == true { "built-in, edited" } @else { "built-in" } } @else { "saved" } }
                    td { (used_by(id).join(", ")) }
                }
            } }
        }
    };
    layout::page(&console.signed, "/console/templates", "Messages", body)
}

/// The editor's fields, as the form posts them.
#[derive(Deserialize, Default, Clone)]
pub struct Editor {
    #[serde(default)]
    channel: String,
    #[serde(default)]
    subject: String,
    #[serde(default)]
    html: String,
    #[serde(default)]
    text: String,
    /// The shopper to preview as (userId or anonymousId).
    #[serde(default, rename = "as")]
    shopper: String,
}

impl Editor {
    fn of(template: &Value) -> Editor {
        let field = |k: &str| template[k].as_str().unwrap_or("").to_string();
        Editor {
            channel: field("channel"),
            subject: field("subject"),
            html: field("html"),
            text: field("text"),
            shopper: String::new(),
        }
    }

    fn definition(&self) -> Value {
        json!({"channel": self.channel, "subject": self.subject, "html": self.html, "text": self.text})
    }
}

#[derive(Deserialize, Default)]
pub struct Saved {
    #[serde(default)]
    saved: Option<String>,
}

pub async fn edit(
    console: Console<Admin>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<Saved>,
) -> Result<Response, ApiError> {
    let template = state
        .engine
        .message_template(&id)
        .ok_or_else(|| ApiError::not_found(format!("no template {id:?}")))?;
    Ok(render(
        &console.signed,
        &id,
        &Editor::of(&template),
        &[],
        q.saved.is_some(),
        StatusCode::OK,
    ))
}

pub async fn save(
    State(state): State<AppState>,
    Path(id): Path<String>,
    change: Change<Admin, Editor>,
) -> Response {
    let editor = change.form;
    let definition = editor.definition();
    let id2 = id.clone();
    match state
        .blocking(move |e| e.put_template(&id2, definition))
        .await
    {
        Ok(_) => Redirect::to(&format!("/console/templates/{id}?saved=1")).into_response(),
        Err(e) => render(
            &change.signed,
            &id,
            &editor,
            &problems_by_field(&e.message, &FIELDS),
            false,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    }
}

fn render(
    signed: &Signed,
    id: &str,
    editor: &Editor,
    errors: &[(String, String)],
    saved: bool,
    status: StatusCode,
) -> Response {
    let invalid = |f: &str| errors.iter().any(|(x, _)| x == f).then_some("true");
    let body = html! {
        p { a href="/console/templates" { "All templates" } }
        @if saved { p.notice role="status" { "Saved: the next messages use it." } }
        form.panel method="post" action={ "/console/templates/" (id) } {
            input type="hidden" name="csrf" value=(signed.csrf);
            (field_errors(errors, ""))
            label for="t-channel" { "Channel" }
            select #t-channel name="channel" aria-invalid=[invalid("channel")] {
                @for c in CHANNELS { option value=(c) selected[editor.channel == c] { (c) } }
            }
            (field_errors(errors, "channel"))
            label for="t-subject" { "Subject (e-mail) or title (push, on-site)" }
            input #t-subject type="text" name="subject" value=(editor.subject) aria-invalid=[invalid("subject")];
            (field_errors(errors, "subject"))
            label for="t-html" { "HTML part (e-mail)" }
            textarea #t-html name="html" rows="10" aria-invalid=[invalid("html")] { (editor.html) }
            (field_errors(errors, "html"))
            label for="t-text" { "Text part (e-mail), or the message (SMS, push, on-site, webhook)" }
            textarea #t-text name="text" rows="6" aria-invalid=[invalid("text")] { (editor.text) }
            (field_errors(errors, "text"))
            p { button type="submit" { "Save template" } }
            label for="t-as" { "Preview as (userId or anonymousId)" }
            input #t-as type="text" name="as" value=(editor.shopper);
            " "
            button.secondary type="submit" formaction={ "/console/templates/" (id) "/preview" } formtarget="preview" { "Preview this draft" }
            p.hint { "Renders what is in the form, saved or not, as the shopper's next message: their cart, recommendations and promotion. Nothing is sent or logged as a send." }
        }
        iframe.preview name="preview" title="Message preview" sandbox="" {}
    };
    let mut response = layout::page(
        signed,
        "/console/templates",
        &format!("Template {id}"),
        body,
    );
    *response.status_mut() = status;
    // The page frames its own preview.
    response.headers_mut().insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_str(&format!("{PAGE_POLICY}; frame-src 'self'")).expect("a header value"),
    );
    response
}

/// The draft rendered for the shopper, as a document for the preview frame.
pub async fn preview(
    State(state): State<AppState>,
    Path(id): Path<String>,
    change: Change<Admin, Editor>,
) -> Response {
    let editor = change.form;
    let shopper = editor.shopper.trim().to_string();
    let definition = editor.definition();
    let rendered = if shopper.is_empty() {
        Err("Name the shopper to preview as (a userId or anonymousId).".to_string())
    } else {
        state
            .blocking(move |e| e.preview_template(&id, &shopper, Some(definition)))
            .await
            .map_err(|e| e.message)
    };
    let (status, markup) = match rendered {
        Ok(r) => (
            StatusCode::OK,
            html! {
                p.meta { strong { "Subject: " } span data-preview="subject" { (r.subject) } }
                @if let Some(h) = &r.html { div data-preview="html" { (PreEscaped(h)) } hr; }
                pre data-preview="text" { (r.text) }
            },
        ),
        Err(message) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            html! { p.error role="alert" data-preview="error" { (message) } },
        ),
    };
    let document: Markup = html! {
        (DOCTYPE)
        html lang="en" {
            head { meta charset="utf-8"; title { "Message preview" }
                   style { "body{font:14px system-ui,sans-serif;margin:12px} .meta{border-bottom:1px solid #ddd;padding-bottom:8px} pre{white-space:pre-wrap} .error{color:#b91c1c}" } }
            body { (markup) }
        }
    };
    let mut response = (status, Html(document.into_string())).into_response();
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(PREVIEW_POLICY),
    );
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("SAMEORIGIN"));
    response
}
