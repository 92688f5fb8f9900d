//! The audiences on the segments screen (admin only, as `/v1/audiences`): each with its
//! kind, size and the journeys that fill it, its change stream (the newest adds and
//! removes), and its export in the ad platforms' upload format; a condition from the
//! segment editor is saved as a segment audience by `segments::save_audience`.

use axum::extract::{Path, Query, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::Value;
use tailor_engine::journeys::audiences::ExportFormat;

use super::layout::{self, table};
use super::session::{Console, Signed};
use crate::AppState;
use crate::error::ApiError;
use crate::extract::Admin;

/// Changes shown per audience.
const CHANGES_SHOWN: usize = 20;

/// The audiences section of the segments page.
pub async fn section(state: &AppState, signed: &Signed) -> Markup {
    if !signed.role.is_admin() {
        return html! {};
    }
    let audiences = state.blocking(|e| e.audiences()).await.unwrap_or_default();
    html! {
        h2 id="audiences" { "Audiences" }
        @if audiences.is_empty() { p.muted { "None yet: save a condition above as an audience, or let a journey fill one." } }
        @else {
            table {
                thead { tr { th { "Audience" } th { "Kind" } th.num { "Members" } th { "Filled by" } th { "Export" } } }
                tbody { @for a in &audiences {
                    tr {
                        td { a href={ "/console/audiences/" (a.name) } { (a.name) } }
                        td { (a.kind) }
                        td.num data-members=(a.name) { (a.members) }
                        td { @if a.journeys.is_empty() { span.muted { "its condition" } } @else { (a.journeys.join(", ")) } }
                        td { a href={ "/console/audiences/" (a.name) "/export?format=google" } download { "Google" } " · "
                             a href={ "/console/audiences/" (a.name) "/export?format=meta" } download { "Meta" } }
                    }
                } }
            }
        }
    }
}

pub async fn changes(
    console: Console<Admin>,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let n = name.clone();
    let changes = state
        .blocking(move |e| e.audience_changes(&n, 0, 10_000))
        .await?;
    let changes = serde_json::to_value(&changes).unwrap_or(Value::Null);
    let rows: Vec<Value> = changes["changes"]
        .as_array()
        .map(|c| c.iter().rev().take(CHANGES_SHOWN).cloned().collect())
        .unwrap_or_default();
    let keys: Vec<String> = rows
        .first()
        .and_then(Value::as_object)
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    let columns: Vec<(&str, &str)> = keys.iter().map(|k| (k.as_str(), k.as_str())).collect();
    let body = html! {
        p { a href="/console/segments#audiences" { "All audiences" } " · "
            a href={ "/console/audiences/" (name) "/export?format=google" } download { "Export (Google)" } " · "
            a href={ "/console/audiences/" (name) "/export?format=meta" } download { "Export (Meta)" } }
        h2 { "Change stream (newest " (CHANGES_SHOWN) ")" }
        (table(&rows, &columns))
        p.hint { "Ad platforms follow it from a position with " code { "GET /v1/audiences/" (name) "/changes?after=N" } "." }
    };
    Ok(layout::page(
        &console.signed,
        "/console/segments",
        &format!("Audience {name}"),
        body,
    ))
}

#[derive(Deserialize, Default)]
pub struct Format {
    format: Option<String>,
}

pub async fn export(
    _: Console<Admin>,
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<Format>,
) -> Result<Response, ApiError> {
    let format = match q.format.as_deref() {
        None => ExportFormat::default(),
        Some(f) => ExportFormat::parse(f)?,
    };
    let file: String = name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    let csv = state
        .blocking(move |e| e.audience_export(&name, format))
        .await?;
    Ok((
        [
            (CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file}.csv\""),
            ),
        ],
        csv,
    )
        .into_response())
}
