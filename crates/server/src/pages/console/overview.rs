//! `/console`: the store at a glance, as charts. Events and decisions per second over the
//! last two hours, people by lifecycle stage, orders and revenue per day, the lift
//! personalization makes against its holdout (with the interval), model health and the
//! dead letters. Aggregates only: both roles see it.

use axum::extract::State;
use axum::response::Response;
use maud::html;
use serde_json::{Value, json};

use super::experiments::HoldoutLift;
use super::layout::{self, chart, money, percent, stat, thousands};
use super::session::Console;
use crate::AppState;
use crate::error::ApiError;
use crate::extract::Analyst;

/// Minutes of activity plotted.
const ACTIVITY_MINUTES: usize = 120;
/// Days of orders plotted.
const DAYS: u32 = 30;

pub async fn page(
    console: Console<Analyst>,
    State(state): State<AppState>,
) -> Result<Response, ApiError> {
    let engine = &state.engine;
    let activity = engine.activity(ACTIVITY_MINUTES);
    let population = engine.population(DAYS);
    let (versions, training) = engine.models();
    let holdout = super::experiments::holdout_lift(&state);
    let dead = state
        .blocking(|e| e.outbox(Some("dead"), None, 10_000))
        .await?
        .len();
    let activity_chart = json!({
        "kind": "line", "time": true, "yLabel": "per second",
        "x": activity.iter().map(|m| m.at).collect::<Vec<_>>(),
        "series": [
            {"label": "events/s", "values": activity.iter().map(|m| (m.events as f64 / 60.0 * 100.0).round() / 100.0).collect::<Vec<_>>(), "fill": true},
            {"label": "decisions/s", "values": activity.iter().map(|m| (m.decisions as f64 / 60.0 * 100.0).round() / 100.0).collect::<Vec<_>>()},
        ],
        "empty": "Nothing received in the last two hours.",
    });
    let lifecycle_chart = json!({
        "kind": "bars",
        "x": population.lifecycle.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
        "series": [{"label": "profiles", "values": population.lifecycle.iter().map(|(_, n)| *n).collect::<Vec<_>>()}],
    });
    let orders_chart = json!({
        "kind": "bars", "time": false, "yLabel": "orders", "y2Label": "revenue",
        "x": population.daily.iter().map(|(d, _, _)| layout::when(*d)[5..10].to_string()).collect::<Vec<_>>(),
        "series": [
            {"label": "orders", "values": population.daily.iter().map(|(_, n, _)| *n).collect::<Vec<_>>()},
            {"label": "revenue", "values": population.daily.iter().map(|(_, _, r)| (r * 100.0).round() / 100.0).collect::<Vec<_>>(), "scale": "y2", "color": "#059669", "line": true},
        ],
    });
    let latest = versions.last();
    let body = html! {
        div.stats {
            (stat("profiles", thousands(population.profiles as i64)))
            (stat("identified", thousands(population.identified as i64)))
            (stat("customers", thousands(population.customers as i64)))
            (stat("orders", thousands(population.orders as i64)))
            (stat("revenue", money(population.revenue)))
            (stat("dead letters", dead))
        }
        div.grid {
            (chart("activity", "Events and decisions per second (per-minute averages, last 2 hours)", &activity_chart))
            (chart("lifecycle", "Profiles by lifecycle stage", &lifecycle_chart))
            (chart("orders", "Orders and revenue per day (last 30 days)", &orders_chart))
            @match &holdout {
                HoldoutLift::Ready(h) => (chart("holdout", &format!("Conversion lift of personalization over the holdout ({}), 95% interval", h.experiment), &h.chart)),
                HoldoutLift::Computing(id) => figure.chart id="holdout" {
                    figcaption { "Personalization lift" }
                    p.muted role="status" { "Computing the results of " (id) "… reload in a moment." }
                }
                HoldoutLift::None => figure.chart id="holdout" {
                    figcaption { "Personalization lift" }
                    p.muted { "No experiment holds anyone out of personalization yet. Create one under "
                        a href="/console/experiments" { "Experiments" } " with an "
                        code { "editorial" } " variation (placement " code { "*" } " for a global holdout)." }
                }
            }
        }
        div.grid {
            section.panel aria-labelledby="health" {
                h2 id="health" { "Model health" }
                @match latest {
                    Some(v) => {
                        p { "Version " strong data-stat="model version" { (v.version) } " trained " (v.trained_at)
                            " on " (thousands(v.events as i64)) " events of " (thousands(v.people as i64)) " people ("
                            (v.window.from.get(..10).unwrap_or("")) " to " (v.window.to.get(..10).unwrap_or("")) ")." }
                        (super::models::baseline_table(&serde_json::to_value(&v.evaluation).unwrap_or(Value::Null)))
                        p { a href="/console/models" { "Versions, distributions and the forecast" } }
                    }
                    None => p.muted { "No model version yet" @if training.running { " (training now)" } "." }
                }
            }
            section.panel aria-labelledby="dead" {
                h2 id="dead" { "Dead letters" }
                @if dead == 0 {
                    p { span.badge.good { "none" } " Every journey message was delivered or is still being tried." }
                } @else {
                    p { span.badge.bad { (dead) } " journey messages failed every attempt. "
                        a href="/console/journeys#dead-letters" { "See and replay them" } }
                }
                @if let HoldoutLift::Ready(h) = &holdout {
                    h2 { "Holdout" }
                    p { "Conversion " (percent(h.control)) " held out vs " (percent(h.treatment)) " personalized: "
                        strong { (h.summary) } }
                }
            }
        }
    };
    Ok(layout::page(&console.signed, "/console", "Overview", body))
}
