//! `/console/models`: prediction model versions with their training window and evaluation
//! against the baseline each model is measured with, the distributions of the predictions
//! (CLV, churn risk, intent…) over a sample of people, and the per-category forecast of the
//! next four weeks beside its naive baseline. Aggregates only (as `GET /v1/models` and
//! `GET /v1/forecast` for the analyst key); training a new version is the admin's.

use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde_json::{Value, json};

use super::layout::{self, chart};
use super::session::{Change, Console};
use crate::AppState;
use crate::error::ApiError;
use crate::extract::{Admin, Analyst};

/// People the distributions are computed over, at most.
const DISTRIBUTION_SAMPLE: usize = 2_000;

/// One evaluation (a model's JSON) as rows of numbers: the model's against its baseline's.
pub fn evaluation_table(evaluation: &Value) -> Markup {
    html! {
        table.evaluation {
            thead { tr { th { "Model" } th { "Measure" } th.num { "Model" } th.num { "Baseline" } } }
            tbody {
                @for (model, e) in evaluation.as_object().into_iter().flatten() {
                    @if e.is_object() {
                        @for (name, value, baseline) in measures(e) {
                            tr { td { (model.replace('_', " ")) } td { (name) } td.num { (value) } td.num { (baseline) } }
                        }
                    }
                }
            }
        }
    }
}

/// Only the measures that have a baseline to beat, with whether the model beats it: the
/// overview's model health.
pub fn baseline_table(evaluation: &Value) -> Markup {
    html! {
        table.evaluation {
            thead { tr { th { "Model" } th { "Measure" } th.num { "Model" } th.num { "Baseline" } th { "" } } }
            tbody {
                @for (model, e) in evaluation.as_object().into_iter().flatten() {
                    @for (name, value, baseline) in measures(e) {
                        @if let (Ok(v), Ok(b)) = (value.parse::<f64>(), baseline.parse::<f64>()) {
                            @let lower_is_better = name.contains("loss") || name.contains("error") || name.contains("mae") || name.contains("rmse");
                            @let beats = if lower_is_better { v <= b } else { v >= b };
                            tr { td { (model.replace('_', " ")) } td { (name) } td.num { (value) } td.num { (baseline) }
                                 td { @if beats { span.badge.good { "beats baseline" } } @else { span.badge.bad { "below baseline" } } } }
                        }
                    }
                }
            }
        }
    }
}

/// (measure, model value, baseline value) from an evaluation object: numeric fields, with
/// `baseline…` fields matched to theirs.
fn measures(e: &Value) -> Vec<(String, String, String)> {
    let Some(obj) = e.as_object() else {
        return Vec::new();
    };
    let fmt = |v: &Value| match v.as_f64() {
        Some(x) if x.fract() == 0.0 && x.abs() < 1e12 => format!("{x}"),
        Some(x) => format!("{x:.4}"),
        None => String::new(),
    };
    let baseline = obj
        .iter()
        .find(|(k, v)| k.contains("baseline") && v.is_object())
        .map(|(_, v)| v.clone());
    obj.iter()
        .filter(|(k, v)| v.is_number() && !k.contains("baseline"))
        .map(|(k, v)| {
            let b = baseline
                .as_ref()
                .and_then(|b| b.get(k))
                .or_else(|| obj.get(&format!("baseline_{k}")))
                .or_else(|| obj.get(&format!("{k}_baseline")))
                .map(fmt)
                .unwrap_or_default();
            (k.replace('_', " "), fmt(v), b)
        })
        .collect()
}

pub async fn page(
    console: Console<Analyst>,
    State(state): State<AppState>,
) -> Result<Response, ApiError> {
    let (versions, training) = state.engine.models();
    // A pass over up to 2,000 profiles: computed off the request, like the reports, and
    // kept a minute per model version.
    let version = versions.last().map_or(0, |v| v.version);
    let distributions = state.reports.get(
        &state,
        &format!("prediction-distributions:{version}"),
        |e| {
            serde_json::to_value(e.prediction_distributions(DISTRIBUTION_SAMPLE))
                .map_err(|e| e.to_string())
        },
    );
    let computing = matches!(distributions, super::reports::Report::Computing);
    let distributions: Vec<Value> = match &distributions {
        super::reports::Report::Ready(v) => v.as_array().cloned().unwrap_or_default(),
        _ => Vec::new(),
    };
    let forecast = state.blocking(|e| e.forecast()).await.ok();
    let forecast = forecast.and_then(|f| serde_json::to_value(f).ok());
    let latest = versions.last();
    let backtest = latest
        .and_then(|v| serde_json::to_value(&v.evaluation).ok())
        .map(|e| e["forecast"].clone())
        .unwrap_or(Value::Null);
    let signed = &console.signed;
    let body = html! {
        @if training.running { p.notice { "Training a new version now (" (training.phase.unwrap_or("")) ")." } }
        h2 { "Versions" }
        table {
            thead { tr { th.num { "Version" } th { "Status" } th { "Trained" } th { "Window" } th.num { "Events" } th.num { "People" } th.num { "Seconds" } th { "Skipped" } } }
            tbody { @for v in versions.iter().rev() {
                tr { td.num data-version=(v.version) { (v.version) } td { (v.status) } td { (v.trained_at) }
                     td { (v.window.from.get(..10).unwrap_or("")) " – " (v.window.to.get(..10).unwrap_or("")) }
                     td.num { (v.events) } td.num { (v.people) } td.num { (format!("{:.1}", v.seconds)) }
                     td { @for s in &v.skipped { span.badge.warn title=(s.reason) { (s.model) } " " } } }
            } }
        }
        @if versions.is_empty() { p.muted { "No version yet: models train shortly after start and every 6 hours." } }
        @if signed.role.is_admin() {
            form method="post" action="/console/models/train" {
                input type="hidden" name="csrf" value=(signed.csrf);
                button.secondary type="submit" disabled[training.running] { "Train a new version now" }
            }
        }
        @if let Some(v) = latest {
            h2 { "Evaluation of version " (v.version) " against the baselines" }
            p.hint { "Each model is scored on held-out time against the simple rule it must beat (the baseline); higher AUC and lift, lower error are better." }
            (evaluation_table(&serde_json::to_value(&v.evaluation).unwrap_or(Value::Null)))
            (evaluation_chart(&serde_json::to_value(&v.evaluation).unwrap_or(Value::Null)))
            (calibration_charts(&serde_json::to_value(&v.evaluation).unwrap_or(Value::Null)))
        }
        h2 { "How predictions are spread" }
        p.hint { "Over up to " (DISTRIBUTION_SAMPLE) " people with events." }
        div.grid {
            @for d in &distributions {
                @let name = d["name"].as_str().unwrap_or("");
                @let counts = d["counts"].as_array().map_or(0, Vec::len).max(1);
                @let (min, max) = (d["min"].as_f64().unwrap_or(0.0), d["max"].as_f64().unwrap_or(0.0));
                @let width = (max - min) / counts as f64;
                (chart(&format!("dist-{name}"), &format!("{} — {} people, mean {:.3}", name.replace('_', " "), d["people"], d["mean"].as_f64().unwrap_or(0.0)), &json!({
                    "kind": "bars",
                    "x": (0..counts).map(|i| format!("{:.2}", min + width * i as f64)).collect::<Vec<_>>(),
                    "series": [{"label": "people", "values": d["counts"]}],
                })))
            }
        }
        @if computing { p.muted role="status" { "Computing the distributions… the page reloads in a moment." } }
        @else if distributions.is_empty() { p.muted { "No predictions before the first model version." } }
        h2 { "Forecast: the next 4 weeks per category" }
        @match &forecast {
            Some(f) => { (forecast_charts(f, &backtest)) }
            None => p.muted { "No forecast yet: it is built with a model version that has orders to learn from." }
        }
    };
    Ok(layout::page_with(
        signed,
        "/console/models",
        "Models & forecast",
        body,
        computing,
    ))
}

/// The model's and the baseline's score side by side, one bar pair per measure that has a
/// baseline.
fn evaluation_chart(evaluation: &Value) -> Markup {
    let mut labels = Vec::new();
    let (mut model, mut baseline) = (Vec::new(), Vec::new());
    for (name, e) in evaluation.as_object().into_iter().flatten() {
        for (measure, m, b) in measures(e) {
            if let (Ok(m), Ok(b)) = (m.parse::<f64>(), b.parse::<f64>()) {
                labels.push(format!("{} {}", name.replace('_', " "), measure));
                model.push(m);
                baseline.push(b);
            }
        }
    }
    if labels.is_empty() {
        return html! {};
    }
    chart(
        "evaluation",
        "Model against baseline, per measure",
        &json!({"kind": "bars", "x": labels, "series": [
            {"label": "model", "values": model}, {"label": "baseline", "values": baseline, "color": "#9ca3af"}]}),
    )
}

/// A reliability diagram per probability model: test rows in ten groups of equal size by
/// predicted probability, each group's mean prediction against the share that happened. A
/// calibrated model's points lie on the diagonal (drawn as the "predicted" line).
fn calibration_charts(evaluation: &Value) -> Markup {
    let models: Vec<(&String, &Vec<Value>)> = evaluation
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(name, e)| Some((name, e["calibration"].as_array()?)))
        .filter(|(_, bins)| !bins.is_empty())
        .collect();
    html! {
        @if !models.is_empty() {
            h3 { "Calibration on the test period" }
            p.hint { "Test rows in ten equal groups by predicted probability: when the observed share (bars) matches the prediction (line), the probabilities can be read as they are." }
            div.grid {
                @for (name, bins) in &models {
                    @let predicted: Vec<f64> = bins.iter().map(|b| b["mean_predicted"].as_f64().unwrap_or(0.0)).collect();
                    (chart(&format!("calibration-{name}"), &format!("{}: observed against predicted", name.replace('_', " ")), &json!({
                        "kind": "bars",
                        "x": predicted.iter().map(|p| format!("{p:.3}")).collect::<Vec<_>>(),
                        "xLabel": "mean predicted",
                        "yLabel": "share",
                        "series": [
                            {"label": "observed", "values": bins.iter().map(|b| b["observed_rate"].as_f64().unwrap_or(0.0)).collect::<Vec<_>>()},
                            {"label": "predicted", "values": predicted, "line": true, "color": "#111827", "dash": [4, 4]},
                        ],
                    })))
                }
            }
        }
    }
}

fn forecast_charts(f: &Value, backtest: &Value) -> Markup {
    let weeks: Vec<String> = f["weeks"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|w| {
            w["from"]
                .as_str()
                .unwrap_or("")
                .get(..10)
                .unwrap_or("")
                .to_string()
        })
        .collect();
    let totals = &f["totals"];
    let series = vec![
        json!({"label": "forecast", "values": totals["orders"]}),
        json!({"label": "naive (mean of the last 4 weeks)", "values": totals["naive_orders"], "dash": [6, 4], "color": "#6b7280"}),
    ];
    html! {
        div.grid {
            (chart("forecast-total", "Category orders per week, all categories: the forecast and the naive baseline", &json!({"kind": "line", "x": weeks, "series": series})))
            (chart("forecast-categories", "Orders per week for the first 6 categories: forecast (solid) and naive (dashed)", &json!({
                "kind": "line", "x": weeks,
                "series": f["categories"].as_array().into_iter().flatten().take(6)
                    .flat_map(|c| [json!({"label": c["category"], "values": c["orders"]}),
                                   json!({"label": format!("{} (naive)", c["category"].as_str().unwrap_or("")), "values": c["naive_orders"], "dash": [4, 4]})])
                    .collect::<Vec<_>>(),
            })))
        }
        @if backtest.is_object() {
            h3 { "Backtest (the forecast made 4 weeks before the end, against those weeks)" }
            table { tbody {
                @for (k, v) in backtest.as_object().into_iter().flatten() {
                    @if !v.is_object() && !v.is_array() { tr { th { (k.replace('_', " ")) } td.num { (v) } } }
                }
            } }
        }
    }
}

pub async fn train(
    State(state): State<AppState>,
    change: Change<Admin, serde::de::IgnoredAny>,
) -> Response {
    let _ = change.signed;
    state.engine.start_training();
    Redirect::to("/console/models").into_response()
}
