//! `/console/experiments`: the list, a form to create one (placement, variations, weights,
//! coverage, namespace, condition), and each experiment's results: units per variation, the
//! sample-ratio check in words, per metric an interval plot of the lift with the
//! frequentist, sequential and Bayesian numbers, and a plain recommendation. Reading is the
//! analyst's (as `GET /v1/experiments/{id}/results`); creating and stopping the admin's.
//!
//! Metrics are the engine's six (conversion, revenue per visitor and its CUPED variant,
//! average order value, 7- and 30-day retention) and the rate of any goal event the
//! experiment names (`event:Product Added`).

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::{Value, json};
use tailor_engine::experiments::PlacementExperiment;

use super::layout::{self, chart, field_errors, percent, problems_by_field};
use super::session::{Change, Console, Signed};
use crate::AppState;
use crate::error::ApiError;
use crate::extract::{Admin, Analyst};

/// The personalization holdout for the overview: an experiment with an `editorial` arm
/// (a global one, placement `*`, first), its conversion lift and interval.
pub struct Holdout {
    pub experiment: String,
    pub control: f64,
    pub treatment: f64,
    pub summary: String,
    pub chart: Value,
}

/// The holdout's state for the overview.
pub enum HoldoutLift {
    /// No experiment holds anyone out of personalization.
    None,
    /// Its results are being computed.
    Computing(String),
    Ready(Holdout),
}

/// The newest results of experiment `id` (see `reports`).
pub fn results(state: &AppState, id: &str) -> super::reports::Report {
    let key = format!("experiment:{id}");
    let id = id.to_string();
    state.reports.get(state, &key, move |e| {
        e.experiment_results(&id)
            .map(|r| serde_json::to_value(r).unwrap_or(Value::Null))
            .map_err(|e| e.to_string())
    })
}

pub fn holdout_lift(state: &AppState) -> HoldoutLift {
    let mut candidates: Vec<PlacementExperiment> = state
        .engine
        .experiments()
        .into_iter()
        .filter(|e| {
            let v = serde_json::to_value(&e.variations).unwrap_or_default();
            v.as_array().is_some_and(|a| {
                a.first().is_some_and(|x| x["treatment"] == "editorial")
                    && a.iter().skip(1).any(|x| x["treatment"] == "personalized")
            })
        })
        .collect();
    candidates.sort_by_key(|e| (e.placement != "*", e.id.clone()));
    let Some(first) = candidates.first() else {
        return HoldoutLift::None;
    };
    let results = match results(state, &first.id) {
        super::reports::Report::Ready(r) => r,
        super::reports::Report::Computing => return HoldoutLift::Computing(first.id.clone()),
        super::reports::Report::Failed(_) => return HoldoutLift::None,
    };
    let Some(conversion) = results["metrics"]["conversion"].as_array() else {
        return HoldoutLift::None;
    };
    let (Some(control), Some(treatment)) = (conversion.first(), conversion.get(1)) else {
        return HoldoutLift::None;
    };
    let f = &treatment["frequentist"];
    let summary = match (f["lift"].as_f64(), f["ci"][0].as_f64(), f["ci"][1].as_f64()) {
        (Some(l), Some(lo), Some(hi)) => format!(
            "{:+.1}% lift (95% interval {:+.1}% to {:+.1}%)",
            l * 100.0,
            lo * 100.0,
            hi * 100.0
        ),
        _ => f["error"]
            .as_str()
            .unwrap_or("not enough data yet")
            .to_string(),
    };
    HoldoutLift::Ready(Holdout {
        experiment: results["experiment"].as_str().unwrap_or("").to_string(),
        control: control["value"].as_f64().unwrap_or(0.0),
        treatment: treatment["value"].as_f64().unwrap_or(0.0),
        summary,
        chart: lift_chart(conversion, "frequentist"),
    })
}

/// The interval plot of one metric's lifts (relative, in %), one row per treatment.
fn lift_chart(rows: &[Value], view: &str) -> Value {
    let items: Vec<Value> = rows
        .iter()
        .skip(1)
        .filter_map(|r| {
            let c = &r[view];
            Some(json!({
                "label": r["variation"],
                "value": c["lift"].as_f64()? * 100.0,
                "low": c["ci"][0].as_f64()? * 100.0,
                "high": c["ci"][1].as_f64()? * 100.0,
            }))
        })
        .collect();
    json!({"kind": "interval", "items": items, "zero": true, "yLabel": "lift %", "valueLabel": "lift %",
           "empty": "Not enough data for an interval yet."})
}

/// A metric's value per variation at the end of each day, as the results stood then; none
/// for metrics not followed over time, or before a second day.
fn over_time_chart(over_time: &Value, metric: &str) -> Option<Value> {
    let days = over_time["days"].as_array()?;
    let series = over_time["metrics"][metric].as_array()?;
    if days.len() < 2 {
        return None;
    }
    Some(json!({
        "kind": "line",
        "x": days,
        "yLabel": metric.replace('_', " "),
        "series": series.iter().map(|s| json!({"label": s["variation"], "values": s["value"]})).collect::<Vec<_>>(),
    }))
}

/// Ship, keep running or stop, in words, from the primary metric (conversion).
fn recommendation(results: &Value) -> (&'static str, String) {
    if results["srm"]["mismatch"] == true {
        return (
            "stop",
            "Stop and check the assignment: the split does not match the weights (sample ratio mismatch), so no result here can be trusted.".into(),
        );
    }
    let Some(rows) = results["metrics"]["conversion"].as_array() else {
        return ("keep", "Keep running: no results yet.".into());
    };
    let mut best: Option<(String, f64, f64, f64)> = None;
    for r in rows.iter().skip(1) {
        let f = &r["frequentist"];
        let (Some(lift), Some(lo), Some(hi)) =
            (f["lift"].as_f64(), f["ci"][0].as_f64(), f["ci"][1].as_f64())
        else {
            continue;
        };
        if best.as_ref().is_none_or(|b| lo > b.2) {
            best = Some((r["variation"].as_str().unwrap_or("").into(), lift, lo, hi));
        }
    }
    match best {
        None => (
            "keep",
            "Keep running: there are not enough units for a comparison yet.".into(),
        ),
        Some((v, lift, lo, _)) if lo > 0.0 => (
            "ship",
            format!(
                "Ship {v}: it converts {:.1}% better than the control, and the whole 95% interval is above zero.",
                lift * 100.0
            ),
        ),
        Some((v, lift, _, hi)) if hi < 0.0 => (
            "stop",
            format!(
                "Stop {v}: it converts {:.1}% worse than the control, and the whole 95% interval is below zero.",
                -lift * 100.0
            ),
        ),
        Some((v, lift, lo, hi)) => (
            "keep",
            format!(
                "Keep running: {v} is at {:+.1}% but the interval ({:+.1}% to {:+.1}%) still includes no difference.",
                lift * 100.0,
                lo * 100.0,
                hi * 100.0
            ),
        ),
    }
}

fn srm_words(srm: &Value) -> Markup {
    let p = srm["pValue"].as_f64();
    html! {
        @if srm["mismatch"] == true {
            p.warning role="alert" { strong { "Sample ratio mismatch. " }
                "Visitors were not split as the weights say (p = " (format!("{:.4}", p.unwrap_or(0.0))) "): "
                "something sends some people to one variation more than it should (a redirect, a filter, a bot, a bug). "
                "Results are not trustworthy until that is fixed." }
        } @else if let Some(p) = p {
            p { span.badge.good { "split OK" } " The split matches the weights (sample ratio p = " (format!("{p:.2}")) ")." }
        } @else {
            p.muted { "The split cannot be checked yet: " (srm["reason"].as_str().or(srm["error"].as_str()).unwrap_or("too few units")) "." }
        }
    }
}

pub async fn list(
    console: Console<Analyst>,
    State(state): State<AppState>,
) -> Result<Response, ApiError> {
    Ok(list_page(&console.signed, &state, &Form::default(), &[]))
}

fn list_page(
    signed: &Signed,
    state: &AppState,
    form: &Form,
    errors: &[(String, String)],
) -> Response {
    let experiments = state.engine.experiments();
    let placements = state.engine.placements();
    let body = html! {
        table {
            thead { tr { th { "Experiment" } th { "Placement" } th { "Variations" } th { "Status" } } }
            tbody {
                @for e in &experiments {
                    tr {
                        td { a href={ "/console/experiments/" (e.id) } { (e.id) } }
                        td { code { (e.placement) } }
                        td { @for v in &e.variations { span.badge { (v.id) } " " } }
                        td { (serde_json::to_value(e.status).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()) }
                    }
                }
            }
        }
        @if experiments.is_empty() { p.muted { "No experiments yet." } }
        @if signed.role.is_admin() {
            h2 id="create" { "Create an experiment" }
            form.panel method="post" action="/console/experiments" {
                input type="hidden" name="csrf" value=(signed.csrf);
                (field_errors(errors, ""))
                label for="x-id" { "Id" }
                input #x-id type="text" name="id" value=(form.id) required pattern="[a-z0-9._-]{1,64}";
                (field_errors(errors, "id"))
                label for="x-placement" { "Placement (" code { "*" } " for a global holdout)" }
                select #x-placement name="placement" {
                    option value="*" selected[form.placement == "*"] { "* (all placements)" }
                    @for p in &placements { option value=(p.id) selected[form.placement == p.id] { (p.id) } }
                }
                (field_errors(errors, "placement"))
                label for="x-variations" { "Variations, one per line: " code { "id treatment [content id]" } " — the first is the control" }
                textarea #x-variations name="variations" rows="3" aria-invalid=[has(errors, "variations")] { (form.variations) }
                (field_errors(errors, "variations"))
                label for="x-weights" { "Weights (comma separated, summing to 1; empty: equal)" }
                input #x-weights type="text" name="weights" value=(form.weights) aria-invalid=[has(errors, "weights")];
                (field_errors(errors, "weights"))
                label for="x-coverage" { "Coverage (share of visitors included, 0 to 1)" }
                input #x-coverage type="text" name="coverage" value=(form.coverage) aria-invalid=[has(errors, "coverage")];
                (field_errors(errors, "coverage"))
                label for="x-namespace" { "Namespace (" code { "id start end" } ", e.g. " code { "home 0 0.5" } "; experiments sharing one never overlap)" }
                input #x-namespace type="text" name="namespace" value=(form.namespace) aria-invalid=[has(errors, "namespace")];
                (field_errors(errors, "namespace"))
                label for="x-condition" { "Targeting condition (JSON, optional)" }
                textarea #x-condition name="condition" rows="2" aria-invalid=[has(errors, "condition")] { (form.condition) }
                (field_errors(errors, "condition"))
                label for="x-goals" { "Goal events (comma separated, optional): their rate is measured besides conversion, revenue and retention" }
                input #x-goals type="text" name="goals" value=(form.goals) placeholder="Product Added, Promotion Clicked" aria-invalid=[has(errors, "goals")];
                (field_errors(errors, "goals"))
                label for="x-status" { "Status" }
                select #x-status name="status" {
                    @for s in ["running", "draft", "stopped"] { option value=(s) selected[form.status == s] { (s) } }
                }
                p { button type="submit" { "Create" } }
            }
        }
    };
    layout::page(signed, "/console/experiments", "Experiments", body)
}

fn has(errors: &[(String, String)], field: &str) -> Option<&'static str> {
    errors.iter().any(|(f, _)| f == field).then_some("true")
}

#[derive(Deserialize, Default)]
pub struct Form {
    #[serde(default)]
    id: String,
    #[serde(default)]
    placement: String,
    #[serde(default)]
    variations: String,
    #[serde(default)]
    weights: String,
    #[serde(default)]
    coverage: String,
    #[serde(default)]
    namespace: String,
    #[serde(default)]
    condition: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    goals: String,
}

const FIELDS: &[&str] = &[
    "id",
    "placement",
    "variations",
    "weights",
    "coverage",
    "namespace",
    "condition",
    "status",
    "goals",
];

/// The form as the API's JSON definition, or the problems, each next to its field.
fn definition(f: &Form) -> Result<PlacementExperiment, Vec<(String, String)>> {
    let mut errors = Vec::new();
    let mut bad = |field: &str, message: String| errors.push((field.to_string(), message));
    let variations: Vec<Value> = f
        .variations
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let parts: Vec<&str> = l.split_whitespace().collect();
            let mut v = json!({"id": parts[0], "treatment": parts.get(1).copied().unwrap_or("")});
            if let Some(c) = parts.get(2) {
                v["content"] = json!(c);
            }
            v
        })
        .collect();
    if variations.len() < 2 {
        bad("variations", "at least two variations, one per line".into());
    }
    let weights: Option<Vec<f64>> = if f.weights.trim().is_empty() {
        None
    } else {
        match f
            .weights
            .split(',')
            .map(|w| w.trim().parse::<f64>())
            .collect()
        {
            Ok(w) => Some(w),
            Err(_) => {
                bad(
                    "weights",
                    "numbers separated by commas, e.g. 0.5, 0.5".into(),
                );
                None
            }
        }
    };
    let coverage = if f.coverage.trim().is_empty() {
        None
    } else {
        f.coverage
            .trim()
            .parse::<f64>()
            .map(Some)
            .unwrap_or_else(|_| {
                bad("coverage", "a number from 0 to 1".into());
                None
            })
    };
    let namespace = if f.namespace.trim().is_empty() {
        None
    } else {
        let p: Vec<&str> = f.namespace.split_whitespace().collect();
        match (
            p.first(),
            p.get(1).and_then(|s| s.parse::<f64>().ok()),
            p.get(2).and_then(|s| s.parse::<f64>().ok()),
        ) {
            (Some(id), Some(a), Some(b)) if p.len() == 3 => {
                Some(json!({"id": id, "range": [a, b]}))
            }
            _ => {
                bad("namespace", "an id and a range: `home 0 0.5`".into());
                None
            }
        }
    };
    let condition = if f.condition.trim().is_empty() {
        None
    } else {
        serde_json::from_str::<Value>(&f.condition)
            .map(Some)
            .unwrap_or_else(|e| {
                bad("condition", format!("not JSON: {e}"));
                None
            })
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    let goals: Vec<&str> = f
        .goals
        .split(',')
        .map(str::trim)
        .filter(|g| !g.is_empty())
        .collect();
    let mut doc = json!({"id": f.id.trim(), "placement": f.placement, "variations": variations, "goals": goals,
                         "status": if f.status.is_empty() { "running" } else { f.status.as_str() }});
    for (k, v) in [
        ("weights", weights.map(|w| json!(w))),
        ("coverage", coverage.map(|c| json!(c))),
        ("namespace", namespace),
        ("condition", condition),
    ] {
        if let Some(v) = v {
            doc[k] = v;
        }
    }
    serde_json::from_value(doc).map_err(|e| vec![(String::new(), e.to_string())])
}

pub async fn create(
    State(state): State<AppState>,
    change: Change<Admin, Form>,
) -> Result<Response, ApiError> {
    let f = change.form;
    let id_ok = !f.id.is_empty()
        && f.id.len() <= 64
        && f.id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b));
    let errors = if !id_ok {
        vec![(
            "id".to_string(),
            "1 to 64 lowercase letters, digits, `-`, `_` or `.`".to_string(),
        )]
    } else if state.engine.experiments().iter().any(|e| e.id == f.id) {
        vec![(
            "id".to_string(),
            format!("an experiment {:?} exists already", f.id),
        )]
    } else {
        match definition(&f) {
            Err(errors) => errors,
            Ok(exp) => match state.blocking(move |e| e.put_experiment(exp)).await {
                Ok(()) => {
                    return Ok(
                        Redirect::to(&format!("/console/experiments/{}", f.id)).into_response()
                    );
                }
                Err(e) => problems_by_field(&e.message, FIELDS),
            },
        }
    };
    let mut response = list_page(&change.signed, &state, &f, &errors);
    *response.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
    Ok(response)
}

#[derive(Deserialize, Default)]
pub struct View {
    view: Option<String>,
}

pub async fn detail(
    console: Console<Analyst>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<View>,
) -> Result<Response, ApiError> {
    let exp = state
        .engine
        .experiments()
        .into_iter()
        .find(|e| e.id == id)
        .ok_or_else(|| ApiError::not_found(format!("no experiment {id:?}")))?;
    let results = match results(&state, &id) {
        super::reports::Report::Ready(r) => r,
        super::reports::Report::Failed(e) => {
            return Err(ApiError::bad_request("invalid_request", e));
        }
        super::reports::Report::Computing => {
            let body = html! { p.notice role="status" data-computing { "Computing the results from every unit's events… this page reloads itself." } };
            return Ok(layout::page_with(
                &console.signed,
                "/console/experiments",
                &format!("Experiment {id}"),
                body,
                true,
            ));
        }
    };
    let view = match q.view.as_deref() {
        Some("sequential") => "sequential",
        Some("bayesian") => "bayesian",
        _ => "frequentist",
    };
    let (kind, words) = recommendation(&results);
    let signed = &console.signed;
    let status = serde_json::to_value(exp.status)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    let body = html! {
        p { "On " code { (exp.placement) } ", " (status) ". " (results["units"]) " units (people) so far. "
            span.muted { "Computed " (results["computedAt"].as_str().unwrap_or("")) } }
        p.recommendation.(kind) data-recommendation=(kind) { strong { (match kind { "ship" => "Ship. ", "stop" => "Stop. ", _ => "Keep running. " }) } (words) }
        (srm_words(&results["srm"]))
        h2 { "Units per variation" }
        table {
            thead { tr { th { "Variation" } th { "Treatment" } th.num { "Weight" } th.num { "Units" } } }
            tbody { @for v in results["variations"].as_array().into_iter().flatten() {
                tr { td { (v["id"].as_str().unwrap_or("")) } td { (v["treatment"].as_str().unwrap_or("")) }
                     td.num { (v["weight"]) } td.num data-units=(v["id"].as_str().unwrap_or("")) { (v["units"]) } }
            } }
        }
        nav.views aria-label="Statistics" {
            "Statistics: "
            @for (v, label) in [("frequentist", "Frequentist"), ("sequential", "Sequential (always valid)"), ("bayesian", "Bayesian")] {
                a href={ "?view=" (v) } aria-current=[(v == view).then_some("true")] { (label) } " "
            }
        }
        div.grid {
            @for (metric, rows) in results["metrics"].as_object().into_iter().flatten() {
                @let rows = rows.as_array().cloned().unwrap_or_default();
                section.panel {
                    (chart(&format!("metric-{metric}"), &format!("{} — lift over the control ({view})", metric.replace('_', " ")), &lift_chart(&rows, view)))
                    @if let Some(spec) = over_time_chart(&results["overTime"], metric) {
                        (chart(&format!("over-time-{metric}"), &format!("{} — each variation, day by day (cumulative)", metric.replace('_', " ")), &spec))
                    }
                    table {
                        thead { tr { th { "Variation" } th.num { "Units" } th.num { "Value" } th.num { "Lift" } th.num { "95% interval" } th.num { (if view == "bayesian" { "Chance to win" } else { "p-value" }) } } }
                        tbody { @for r in &rows {
                            @let c = &r[view];
                            tr {
                                td { (r["variation"].as_str().unwrap_or("")) }
                                td.num { (r["units"]) }
                                td.num data-metric=(metric) { (fmt_value(metric, r["value"].as_f64())) }
                                td.num { (c["lift"].as_f64().map(|l| format!("{:+.1}%", l * 100.0)).unwrap_or_default()) }
                                td.num { @if let (Some(a), Some(b)) = (c["ci"][0].as_f64(), c["ci"][1].as_f64()) { (format!("{:+.1}% to {:+.1}%", a * 100.0, b * 100.0)) } }
                                td.num {
                                    @if view == "bayesian" { (c["chanceToWin"].as_f64().map(percent).unwrap_or_default()) }
                                    @else { (c["pValue"].as_f64().map(|p| format!("{p:.4}")).unwrap_or_default()) }
                                    @if let Some(e) = c["error"].as_str().or(c["issue"].as_str()) { br; span.muted { (super::journeys::issue_words(e)) } }
                                }
                            }
                        } }
                    }
                }
            }
        }
        @if signed.role.is_admin() {
            h2 { "Change" }
            form.inline method="post" action={ "/console/experiments/" (exp.id) "/status" } {
                input type="hidden" name="csrf" value=(signed.csrf);
                label for="status" { "Status" }
                select #status name="status" {
                    @for s in ["running", "draft", "stopped"] { option value=(s) selected[status == s] { (s) } }
                }
                " " button type="submit" { "Save status" }
            }
        }
    };
    Ok(layout::page(
        signed,
        "/console/experiments",
        &format!("Experiment {id}"),
        body,
    ))
}

fn fmt_value(metric: &str, v: Option<f64>) -> String {
    match v {
        None => String::new(),
        Some(v) if metric.starts_with("conversion") || metric.starts_with("retention") => {
            percent(v)
        }
        Some(v) => format!("{v:.2}"),
    }
}

#[derive(Deserialize)]
pub struct StatusForm {
    status: String,
}

pub async fn set_status(
    State(state): State<AppState>,
    Path(id): Path<String>,
    change: Change<Admin, StatusForm>,
) -> Result<Response, ApiError> {
    let mut exp = state
        .engine
        .experiments()
        .into_iter()
        .find(|e| e.id == id)
        .ok_or_else(|| ApiError::not_found(format!("no experiment {id:?}")))?;
    exp.status = serde_json::from_value(json!(change.form.status))
        .map_err(|_| ApiError::bad_request("invalid_form", "status: draft, running or stopped"))?;
    state.blocking(move |e| e.put_experiment(exp)).await?;
    state.reports.forget(&format!("experiment:{id}"));
    Ok(Redirect::to(&format!("/console/experiments/{id}")).into_response())
}
