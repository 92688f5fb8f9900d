//! `/console/segments`: build a condition in the targeting language placements, experiments
//! and journeys use, see how many people match now and a sample of them (the sample is
//! personal data: admin only; the analyst sees the count), and save it as a named segment
//! to copy into a placement's targeting or a journey's trigger. `/console/api/segments/match`
//! answers the editor's live count as JSON.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;
use serde_json::Value;
use tailor_engine::journeys::audience_book::AudienceDefinition;
use tailor_engine::population::ConditionMatch;
use tailor_engine::segments::SavedSegment;

use super::layout::{self, field_errors, problems_by_field, thousands};
use super::session::{Change, Console, Signed};
use crate::AppState;
use crate::error::ApiError;
use crate::extract::{Admin, Analyst};

/// People in a segment's sample.
const SAMPLE: usize = 10;

/// What a condition may read, for the editor's help.
const ATTRIBUTES: &str = "lifecycleStage, orders, revenue, cartItems, cartValue, productViews, comparisons, sessions, \
    daysSinceLastOrder, topCategory, topCategories, emailOpenRate, traits.*, predictions.* (clv, churn_risk, purchase_intent_7d, …)";

#[derive(Deserialize, Default)]
pub struct Editor {
    #[serde(default)]
    condition: String,
    #[serde(default)]
    id: String,
    #[serde(default)]
    name: String,
}

fn parse(condition: &str) -> Result<Value, String> {
    serde_json::from_str::<Value>(condition).map_err(|e| format!("condition: not JSON: {e}"))
}

/// The count (and, for the admin, the sample) of a condition.
async fn count(
    state: &AppState,
    condition: Value,
    signed: &Signed,
) -> Result<ConditionMatch, ApiError> {
    let sample = if signed.role.is_admin() { SAMPLE } else { 0 };
    state
        .blocking(move |e| e.match_condition(&condition, sample))
        .await
}

pub async fn page(
    console: Console<Analyst>,
    State(state): State<AppState>,
    Query(editor): Query<Editor>,
) -> Result<Response, ApiError> {
    Ok(render(&state, &console.signed, editor, Vec::new(), StatusCode::OK).await)
}

/// The editor again with its problems next to their fields (422).
async fn refused(
    state: &AppState,
    signed: &Signed,
    editor: Editor,
    errors: Vec<(String, String)>,
) -> Response {
    render(
        state,
        signed,
        editor,
        errors,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await
}

async fn render(
    state: &AppState,
    signed: &Signed,
    mut editor: Editor,
    mut errors: Vec<(String, String)>,
    status: StatusCode,
) -> Response {
    if editor.condition.trim().is_empty() {
        editor.condition = r#"{"orders": {"$gte": 2}}"#.into();
    }
    let matched = match parse(&editor.condition) {
        Ok(c) => match count(state, c, signed).await {
            Ok(m) => Some(m),
            Err(e) => {
                errors.push(("condition".into(), e.message));
                None
            }
        },
        Err(e) => {
            errors.push(("condition".into(), e));
            None
        }
    };
    let saved = state.engine.segments();
    let invalid = errors
        .iter()
        .any(|(f, _)| f == "condition")
        .then_some("true");
    let body = html! {
        div.cols {
            form.panel method="post" action="/console/segments" data-segment-editor {
                input type="hidden" name="csrf" value=(signed.csrf);
                label for="condition" { "Condition (JSON)" }
                textarea #condition name="condition" rows="6" aria-describedby="condition-help" aria-invalid=[invalid] { (editor.condition) }
                p.hint id="condition-help" { "GrowthBook's condition language, as placements and journeys use it: "
                    code { "{\"lifecycleStage\": \"at-risk\", \"revenue\": {\"$gt\": 100}}" } ". Reads: " (ATTRIBUTES) "." }
                (field_errors(&errors, "condition"))
                @if signed.role.is_admin() {
                    label for="seg-id" { "Segment id" }
                    input #seg-id type="text" name="id" value=(editor.id) aria-invalid=[errors.iter().any(|(f, _)| f == "id").then_some("true")];
                    (field_errors(&errors, "id"))
                    label for="seg-name" { "Name" }
                    input #seg-name type="text" name="name" value=(editor.name) aria-invalid=[errors.iter().any(|(f, _)| f == "name").then_some("true")];
                    (field_errors(&errors, "name"))
                    (field_errors(&errors, ""))
                    p { button type="submit" { "Save as a segment" } " "
                        button.secondary type="submit" formaction="/console/audiences" { "Save as an audience" } }
                    p.hint { "A segment is a named condition to copy into placements and journeys; an audience keeps its members up to date as profiles change, for ad platforms (export and change stream below)." }
                } @else {
                    p { button.secondary type="submit" formmethod="get" formaction="/console/segments" { "Count" } }
                }
            }
            section.panel data-segment-live aria-live="polite" {
                h2 { "Who matches now" }
                p data-live-count {
                    @if let Some(m) = &matched { (thousands(m.matching as i64)) " of " (thousands(m.total as i64)) " people match now" }
                }
                @if signed.role.is_admin() {
                    h3 { "Sample" }
                    ul data-live-sample {
                        @for p in matched.iter().flat_map(|m| &m.sample) {
                            li { a href={ "/console/people/" (p.id) } { (p.user_id.as_deref().or(p.anonymous_id.as_deref()).unwrap_or(&p.id)) @if let Some(e) = &p.email { " · " (e) } " · " (p.lifecycle_stage) } }
                        }
                    }
                } @else {
                    p.muted { "The analyst sees counts only: the sample is personal data." }
                }
            }
        }
        h2 { "Saved segments" }
        @if saved.is_empty() { p.muted { "None yet." } }
        @else { table {
            thead { tr { th { "Segment" } th { "Name" } th { "Condition" } } }
            tbody { @for s in &saved {
                tr { td { a href={ "/console/segments?" (serde_urlencoded::to_string([("id", s.id.as_str()), ("name", s.name.as_str()), ("condition", s.condition.to_string().as_str())]).unwrap_or_default()) } { (s.id) } }
                     td { (s.name) } td { code { (s.condition.to_string()) } } }
            } }
        } }
    };
    let body = html! { (body) (super::audiences::section(state, signed).await) };
    let mut response = layout::page(signed, "/console/segments", "Segments", body);
    *response.status_mut() = status;
    response
}

pub async fn save(State(state): State<AppState>, change: Change<Admin, Editor>) -> Response {
    let editor = change.form;
    let condition = match parse(&editor.condition) {
        Ok(c) => c,
        Err(e) => {
            let errors = vec![("condition".into(), e)];
            return refused(&state, &change.signed, editor, errors).await;
        }
    };
    let segment = SavedSegment {
        id: editor.id.trim().to_string(),
        name: editor.name.trim().to_string(),
        condition,
        updated_at: state.engine.now(),
    };
    match state.blocking(move |e| e.put_segment(segment)).await {
        Ok(()) => Redirect::to("/console/segments").into_response(),
        Err(e) => {
            let errors = problems_by_field(&e.message, &["id", "name", "condition"])
                .into_iter()
                .map(|(f, m)| {
                    let m = m
                        .split_once(": ")
                        .filter(|_| !f.is_empty())
                        .map_or(m.clone(), |(_, r)| r.to_string());
                    (f, m)
                })
                .collect();
            refused(&state, &change.signed, editor, errors).await
        }
    }
}

/// Saves the editor's condition as a segment audience named by its id (its name is the
/// description); problems are shown next to their field.
pub async fn save_audience(
    State(state): State<AppState>,
    change: Change<Admin, Editor>,
) -> Response {
    let editor = change.form;
    let condition = match parse(&editor.condition) {
        Ok(c) => c,
        Err(e) => {
            let errors = vec![("condition".into(), e)];
            return refused(&state, &change.signed, editor, errors).await;
        }
    };
    let definition: Result<AudienceDefinition, _> = serde_json::from_value(
        serde_json::json!({"description": editor.name.trim(), "condition": condition}),
    );
    let name = editor.id.trim().to_string();
    let result = match definition {
        Ok(d) => {
            let n = name.clone();
            state
                .blocking(move |e| e.put_audience(&n, d).map(|_| ()))
                .await
        }
        Err(e) => Err(ApiError::bad_request("invalid_form", e.to_string())),
    };
    match result {
        Ok(()) => Redirect::to(&format!("/console/audiences/{name}")).into_response(),
        Err(e) => {
            let errors = e
                .message
                .split("; ")
                .map(|p| {
                    let field = if p.contains("condition") {
                        "condition"
                    } else {
                        "id"
                    };
                    (field.to_string(), p.to_string())
                })
                .collect();
            refused(&state, &change.signed, editor, errors).await
        }
    }
}

#[derive(Deserialize)]
pub struct MatchQuery {
    condition: String,
}

/// `GET /console/api/segments/match?condition=…`: the live count, JSON; the sample only
/// for the admin.
pub async fn live(
    console: Console<Analyst>,
    State(state): State<AppState>,
    Query(q): Query<MatchQuery>,
) -> Result<Json<ConditionMatch>, ApiError> {
    let condition = parse(&q.condition).map_err(|e| ApiError::bad_request("invalid_request", e))?;
    Ok(Json(count(&state, condition, &console.signed).await?))
}
