//! `/console/journeys`: the journeys with their status and counts; a journey's definition
//! drawn as a flow of its steps with the counts of each (reached, sent, skipped and why,
//! converted), its control-group report, pause and resume; the dead letters with replay.
//! Definitions and counts are aggregates (the analyst sees them, as
//! `GET /v1/journeys/{id}/report`); the dead letters name people, so they are the admin's,
//! as are pausing, resuming and replaying.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde_json::{Value, json};

use super::layout::{self, chart, text};
use super::session::{Change, Console};
use crate::AppState;
use crate::error::ApiError;
use crate::extract::{Admin, Analyst};

/// Dead letters listed at most.
const DEAD_SHOWN: usize = 200;

pub async fn list(
    console: Console<Analyst>,
    State(state): State<AppState>,
) -> Result<Response, ApiError> {
    let journeys = state.engine.journeys();
    let mut counts = Vec::new();
    for j in &journeys {
        let id = j.id.clone();
        let stats = state.blocking(move |e| e.journey_stats(&id)).await.ok();
        counts.push(stats.map(|s| s.journey).unwrap_or_default());
    }
    let admin = console.signed.role.is_admin();
    let dead = if admin {
        state
            .blocking(|e| e.outbox(Some("dead"), None, DEAD_SHOWN))
            .await?
    } else {
        Vec::new()
    };
    let body = html! {
        table {
            thead { tr { th { "Journey" } th { "Name" } th { "Status" } th.num { "Version" } th.num { "Entered" } th.num { "Converted" } th.num { "Completed" } } }
            tbody { @for (j, c) in journeys.iter().zip(&counts) {
                tr {
                    td { a href={ "/console/journeys/" (j.id) } { (j.id) } }
                    td { (j.name) }
                    td data-journey-status=(j.id) { @if j.status == "paused" { span.badge.warn { "paused" } } @else { span.badge.good { "active" } } }
                    td.num { (j.version) }
                    td.num data-entered=(j.id) { (c.get("entered").copied().unwrap_or(0)) }
                    td.num { (c.get("converted").copied().unwrap_or(0)) }
                    td.num { (c.get("completed").copied().unwrap_or(0)) }
                }
            } }
        }
        @if journeys.is_empty() { p.muted { "No journeys yet." } }
        h2 id="dead-letters" { "Dead letters" }
        @if admin {
            @if dead.is_empty() { p { span.badge.good { "none" } " No message has failed every attempt." } }
            @else {
                table {
                    thead { tr { th { "Journey" } th { "Person" } th { "Channel" } th.num { "Attempts" } th { "Last error" } th { "" } } }
                    tbody { @for m in &dead {
                        tr { td { (m.journey) } td { (m.person) } td { (m.channel) } td.num { (m.attempts) }
                             td { (m.last_error.as_deref().unwrap_or("")) }
                             td { form.inline method="post" action={ "/console/journeys/dead/" (m.key) "/replay" } {
                                 input type="hidden" name="csrf" value=(console.signed.csrf);
                                 button.secondary type="submit" aria-label={ "Replay the message to " (m.person) } { "Replay" } } } }
                    } }
                }
            }
        } @else {
            p.muted { "Dead letters name the people they were for: the admin sees and replays them." }
        }
    };
    Ok(layout::page(
        &console.signed,
        "/console/journeys",
        "Journeys",
        body,
    ))
}

/// One step as a box: its type, its settings, where it leads, and its counts.
fn step_box(step: &Value, counts: Option<&Value>) -> Markup {
    let kind = step["type"].as_str().unwrap_or("step");
    let id = step["id"].as_str().unwrap_or("");
    html! {
        div.step data-step=(id) {
            div.kind { (kind) }
            strong { (id) }
            @for (k, v) in step.as_object().into_iter().flatten() {
                @if !["id", "type", "next"].contains(&k.as_str()) && !v.is_null() {
                    div { span.muted { (k) ": " } (summary(v)) }
                }
            }
            @if let Some(n) = step["next"].as_str() { div { "→ " (n) } }
            @if let Some(c) = counts.and_then(Value::as_object) {
                div.counts {
                    @for (k, v) in c { span.badge data-count=(k) { (k) " " (v) } " " }
                }
            }
        }
    }
}

fn summary(v: &Value) -> String {
    let s = match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if s.chars().count() > 90 {
        format!("{}…", s.chars().take(90).collect::<String>())
    } else {
        s
    }
}

pub async fn detail(
    console: Console<Analyst>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    detail_page(&state, &console.signed, id, None).await
}

/// The definition editor's field, as the form posts it.
#[derive(serde::Deserialize)]
pub struct DefinitionForm {
    definition: String,
}

/// Saves an edited definition (a new version: people on their way keep theirs), or shows
/// the page again with every problem next to the editor (422).
pub async fn save_definition(
    State(state): State<AppState>,
    Path(id): Path<String>,
    change: Change<Admin, DefinitionForm>,
) -> Result<Response, ApiError> {
    let draft = change.form.definition;
    let problems = match serde_json::from_str::<Value>(&draft) {
        Err(e) => vec![format!("not JSON: {e}")],
        Ok(v) if v.get("id").is_some_and(|i| i.as_str() != Some(id.as_str())) => {
            vec![format!("the definition's `id` must stay {id:?}")]
        }
        Ok(mut v) => {
            if let Some(o) = v.as_object_mut() {
                o.insert("id".into(), json!(id));
            }
            match state.blocking(move |e| e.put_journey(v)).await {
                Ok(_) => {
                    return Ok(Redirect::to(&format!("/console/journeys/{id}")).into_response());
                }
                Err(e) => e.message.split("; ").map(str::to_string).collect(),
            }
        }
    };
    let mut page = detail_page(&state, &change.signed, id, Some((draft, problems))).await?;
    *page.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
    Ok(page)
}

/// A journey's page; `draft` is an edited definition refused, with its problems.
async fn detail_page(
    state: &AppState,
    signed: &super::session::Signed,
    id: String,
    draft: Option<(String, Vec<String>)>,
) -> Result<Response, ApiError> {
    let journey = state
        .engine
        .journey(&id, None)
        .ok_or_else(|| ApiError::not_found(format!("no journey {id:?}")))?;
    let id2 = id.clone();
    let stats = state.blocking(move |e| e.journey_stats(&id2)).await?;
    let id2 = id.clone();
    let report = state
        .reports
        .get(state, &format!("journey-report:{id}"), move |e| {
            e.journey_report(&id2)
                .map(|r| serde_json::to_value(r).unwrap_or(Value::Null))
                .map_err(|e| e.to_string())
        });
    let definition = serde_json::to_value(&journey.definition).unwrap_or(Value::Null);
    let stats = serde_json::to_value(&stats).unwrap_or(Value::Null);
    let step_counts: std::collections::HashMap<String, Value> = stats["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            (
                s["id"].as_str().unwrap_or("").to_string(),
                s["counts"].clone(),
            )
        })
        .collect();
    let steps = definition["steps"].as_array().cloned().unwrap_or_default();
    let reached = json!({"kind": "bars",
    "x": steps.iter().map(|s| s["id"].clone()).collect::<Vec<_>>(),
    "series": [
        {"label": "reached", "values": steps.iter().map(|s| step_counts.get(s["id"].as_str().unwrap_or("")).and_then(|c| c["reached"].as_i64()).unwrap_or(0)).collect::<Vec<_>>()},
        {"label": "sent", "values": steps.iter().map(|s| step_counts.get(s["id"].as_str().unwrap_or("")).and_then(|c| c["sent"].as_i64()).unwrap_or(0)).collect::<Vec<_>>()},
    ]});
    let paused = journey.status == "paused";
    let pretty = serde_json::to_string_pretty(&definition).unwrap_or_default();
    let (editing, problems) = match &draft {
        Some((text, problems)) => (text.as_str(), problems.as_slice()),
        None => (pretty.as_str(), &[][..]),
    };
    let body = html! {
        p { (journey.name) " · version " (journey.version) " · "
            span data-journey-status=(journey.id) { @if paused { span.badge.warn { "paused" } } @else { span.badge.good { "active" } } } }
        @if signed.role.is_admin() {
            form method="post" action={ "/console/journeys/" (journey.id) (if paused { "/resume" } else { "/pause" }) } {
                input type="hidden" name="csrf" value=(signed.csrf);
                @if paused { button type="submit" { "Resume" } p.hint { "People enter again and waiting timers continue." } }
                @else { button.secondary type="submit" { "Pause" } p.hint { "No one enters, and timers hold, until it resumes." } }
            }
        }
        div.stats { @for (k, v) in stats["journey"].as_object().into_iter().flatten() { (layout::stat(k, v)) } }
        div.cols {
            section.panel {
                h2 { "Flow" }
                p { strong { "Trigger: " } (summary(&definition["trigger"])) }
                @if !definition["goal"].is_null() { p { strong { "Goal: " } (summary(&definition["goal"])) } }
                ol.flow aria-label="Steps in order" {
                    @for s in &steps { li { (step_box(s, step_counts.get(s["id"].as_str().unwrap_or("")))) } }
                }
            }
            div {
                (chart("steps", "People reaching each step, and messages sent", &reached))
                section.panel {
                    h2 { "Control group report" }
                    @match &report {
                        super::reports::Report::Ready(r) => div data-report { (report_table(r)) },
                        super::reports::Report::Computing => p.muted role="status" { "Computing the report… reload in a moment." },
                        super::reports::Report::Failed(e) => p.muted { (e) },
                    }
                }
            }
        }
        @if signed.role.is_admin() {
            details #edit open[draft.is_some()] {
                summary { "Edit the definition (JSON)" }
                form.panel method="post" action={ "/console/journeys/" (journey.id) "/edit" } {
                    input type="hidden" name="csrf" value=(signed.csrf);
                    label for="j-definition" { "Trigger, goal, steps, control group: the definition " code { "PUT /v1/journeys/" (journey.id) } " takes" }
                    textarea #j-definition name="definition" rows="24" spellcheck="false"
                        aria-invalid=[(!problems.is_empty()).then_some("true")] aria-describedby="j-definition-error" { (editing) }
                    @if !problems.is_empty() {
                        div.field-error id="j-definition-error" role="alert" {
                            ul { @for p in problems { li { (p) } } }
                        }
                    }
                    p { button type="submit" { "Save as version " (journey.version + 1) } }
                    p.hint { "People on their way keep the version they entered with; new entries take the new one." }
                }
            }
        } @else {
            details { summary { "Definition (JSON)" } pre { (pretty) } }
        }
    };
    Ok(layout::page(
        signed,
        "/console/journeys",
        &format!("Journey {id}"),
        body,
    ))
}

fn report_table(r: &Value) -> Markup {
    let arms = r["arms"].as_object();
    let columns: Vec<String> = arms
        .and_then(|a| a.values().next())
        .and_then(Value::as_object)
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    html! {
        @if let Some(arms) = arms {
            table {
                thead { tr { th { "Arm" } @for c in &columns { th.num { (c) } } } }
                tbody { @for (arm, v) in arms { tr { th { (arm) } @for c in &columns { td.num { (number(&v[c.as_str()])) } } } } }
            }
        }
        @if let Some(comparisons) = r["comparisons"].as_object() {
            h3 { "Sent against control" }
            table {
                thead { tr { th { "Metric" } th.num { "Lift" } th.num { "95% interval" } th.num { "p-value" } th { "" } } }
                tbody { @for (metric, c) in comparisons {
                    tr { td { (metric) }
                         td.num { (c["lift"].as_f64().map(|l| format!("{:+.1}%", l * 100.0)).unwrap_or_default()) }
                         td.num { @if let (Some(a), Some(b)) = (c["ci"][0].as_f64(), c["ci"][1].as_f64()) { (format!("{:+.1}% to {:+.1}%", a * 100.0, b * 100.0)) } }
                         td.num { (c["pValue"].as_f64().map(|p| format!("{p:.4}")).unwrap_or_default()) }
                         td.muted { (c["issue"].as_str().or(c["error"].as_str()).map(issue_words).unwrap_or_default()) } }
                } }
            }
        }
        @if let Some(srm) = r["srm"].as_object() {
            p.muted { "Split check: " (Value::Object(srm.clone()).to_string()) }
        }
    }
}

fn number(v: &Value) -> String {
    match v.as_f64() {
        Some(x) if x.fract() == 0.0 => format!("{x}"),
        Some(x) => format!("{x:.4}"),
        None => text("", v),
    }
}

/// The statistics' issue codes in words.
pub fn issue_words(code: &str) -> String {
    match code {
        "ZERO_NEGATIVE_BASELINE_VARIATION" | "ZERO_NEGATIVE_VARIANCE" => {
            "no variation in the control yet: no test possible".into()
        }
        other => other.to_lowercase().replace('_', " "),
    }
}

pub async fn pause(
    State(state): State<AppState>,
    Path(id): Path<String>,
    change: Change<Admin, serde::de::IgnoredAny>,
) -> Result<Response, ApiError> {
    set_paused(state, id, change, true).await
}

pub async fn resume(
    State(state): State<AppState>,
    Path(id): Path<String>,
    change: Change<Admin, serde::de::IgnoredAny>,
) -> Result<Response, ApiError> {
    set_paused(state, id, change, false).await
}

async fn set_paused(
    state: AppState,
    id: String,
    change: Change<Admin, serde::de::IgnoredAny>,
    paused: bool,
) -> Result<Response, ApiError> {
    let _ = change.signed;
    let id2 = id.clone();
    state
        .blocking(move |e| e.set_journey_paused(&id2, paused))
        .await?;
    Ok(Redirect::to(&format!("/console/journeys/{id}")).into_response())
}

pub async fn replay(
    State(state): State<AppState>,
    Path(key): Path<String>,
    change: Change<Admin, serde::de::IgnoredAny>,
) -> Result<Response, ApiError> {
    let _ = change.signed;
    state.blocking(move |e| e.replay_dead(&key)).await?;
    Ok(Redirect::to("/console/journeys#dead-letters").into_response())
}
