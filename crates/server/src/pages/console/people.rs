//! `/console/people` (admin only: personal data): a search by any id, e-mail or trait, and a
//! person's page: traits and features, the event timeline, predictions with what drives
//! them, consent and its ledger, decisions with their explanations, journeys, messages,
//! experiment assignments, and export and erasure behind a confirmation. Every read of a
//! person is written to the audit log, as the API's reads are (`console_search`,
//! `console_profile`, `console_export`).

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::header::CONTENT_DISPOSITION;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::{Value, json};

use super::layout::{self, chart, get, money, table, text, when};
use super::session::{Change, Console};
use crate::AppState;
use crate::error::ApiError;
use crate::extract::Admin;

#[derive(Deserialize, Default)]
pub struct Search {
    #[serde(default)]
    q: String,
    erased: Option<String>,
}

pub async fn search(
    console: Console<Admin>,
    State(state): State<AppState>,
    Query(s): Query<Search>,
) -> Result<Response, ApiError> {
    let rows = state.engine.search_people(&s.q);
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    state
        .blocking(move |e| e.audit_reads("console_search", &ids))
        .await?;
    let body = html! {
        @if let Some(n) = &s.erased { p.notice role="status" { "Erased " (n) " everywhere." } }
        form.panel role="search" method="get" action="/console/people" {
            label for="q" { "userId, anonymousId, internal id (p_12), e-mail or any trait value" }
            input #q type="search" name="q" value=(s.q) autofocus;
            " " button type="submit" { "Search" }
        }
        @if !s.q.trim().is_empty() {
            h2 { (rows.len()) " found" @if rows.len() == tailor_engine::population::SEARCH_LIMIT { " (the first " (rows.len()) ")" } }
            table.people {
                thead { tr { th { "Person" } th { "userId" } th { "E-mail" } th { "Stage" } th.num { "Orders" } th.num { "Revenue" } th { "Last seen" } } }
                tbody { @for r in &rows {
                    tr {
                        td { a href={ "/console/people/" (r.id) } { (r.id) } }
                        td { (r.user_id.as_deref().unwrap_or("")) }
                        td { (r.email.as_deref().unwrap_or("")) }
                        td { (r.lifecycle_stage) }
                        td.num { (r.orders) } td.num { (money(r.revenue)) }
                        td { (when(r.last_seen)) }
                    }
                } }
            }
        }
    };
    Ok(layout::page(
        &console.signed,
        "/console/people",
        "People",
        body,
    ))
}

/// Everything about the person `id` names, the read recorded in the audit log as `what`.
async fn audited_export(
    state: &AppState,
    id: &str,
    what: &'static str,
) -> Result<tailor_engine::export::ExportDocument, ApiError> {
    let (id, what_id) = (id.to_string(), id.to_string());
    let doc = state
        .blocking(move |e| e.export(&id))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no profile is known by {what_id:?}")))?;
    state
        .blocking(move |e| e.audit_read(what, &what_id))
        .await?;
    Ok(doc)
}

fn section(id: &str, title: &str, body: Markup) -> Markup {
    html! { section.panel aria-labelledby=(id) { h2 id=(id) { (title) } (body) } }
}

pub async fn person(
    console: Console<Admin>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let doc = audited_export(&state, &id, "console_profile").await?;
    let consent = state.engine.consent_state(&id);
    let drivers = state.engine.prediction_drivers(&id);
    let doc = serde_json::to_value(&doc).unwrap_or(Value::Null);
    let profile = &doc["profile"];
    let internal = get(profile, "id").as_str().unwrap_or(&id).to_string();
    let events: Vec<Value> = doc["events"].as_array().cloned().unwrap_or_default();
    let signed = &console.signed;
    // Events per day, for the timeline chart.
    let mut per_day: std::collections::BTreeMap<String, u64> = Default::default();
    for e in &events {
        let day = e["timestamp"]
            .as_str()
            .or(e["receivedAt"].as_str())
            .unwrap_or("")
            .get(..10)
            .unwrap_or("")
            .to_string();
        *per_day.entry(day).or_default() += 1;
    }
    let timeline = json!({"kind": "bars", "x": per_day.keys().collect::<Vec<_>>(),
        "series": [{"label": "events", "values": per_day.values().collect::<Vec<_>>()}]});
    let predictions = &doc["predictions"];
    let body = html! {
        p { "Internal id " code data-person=(internal) { (internal) } ". "
            "userIds: " @for u in get(profile, "userIds").as_array().into_iter().flatten() { code { (text("", u)) } " " }
            " · anonymousIds: " (get(profile, "anonymousIds").as_array().map_or(0, |a| a.len())) }
        div.stats {
            (layout::stat("lifecycle stage", text("", get(profile, "lifecycleStage"))))
            (layout::stat("events", text("", get(profile, "events"))))
            (layout::stat("orders", text("", &get(profile, "orders")["count"])))
            (layout::stat("revenue", text("", &get(profile, "orders")["revenue"])))
        }
        div.cols {
            (section("traits", "Traits", html! {
                table { tbody { @for (k, v) in get(profile, "traits").as_object().into_iter().flatten() {
                    tr { th { (k) } td { (text(k, v)) } }
                } } }
            }))
            (section("features", "Features", html! {
                table { tbody { @for (k, v) in profile.as_object().into_iter().flatten() {
                    @if v.is_number() || v.is_string() || v.is_boolean() {
                        tr { th { (k) } td { (text(k, v)) } }
                    }
                } } }
                details { summary { "Affinities, sessions, cart, orders (JSON)" }
                    pre { (serde_json::to_string_pretty(&json!({
                        "categories": get(profile, "categories"), "brands": get(profile, "brands"),
                        "sessions": get(profile, "sessions"), "cart": get(profile, "cart"), "orders": get(profile, "orders"),
                    })).unwrap_or_default()) } }
            }))
        }
        (section("timeline", "Event timeline", html! {
            (chart("timeline-chart", "Events per day", &timeline))
            (table(&newest(&events, 20), &[("Time", "timestamp"), ("Type", "type"), ("Event", "event"), ("Log position", "seq")]))
            @if events.len() > 20 { p.muted { "The newest 20 of " (events.len()) " (all of them in the export)." } }
        }))
        div.cols {
            (section("predictions", "Predictions", html! {
                @if predictions.is_object() {
                    table { tbody { @for (k, v) in predictions.as_object().into_iter().flatten() {
                        tr { th { (k.replace('_', " ")) } td { (text(k, v)) } }
                    } } }
                } @else { p.muted { "No model version yet." } }
                @if !drivers.is_empty() {
                    h3 { "What drives the purchase intent" }
                    (chart("drivers", "Effect on the log-odds (positive raises it)", &json!({"kind": "bars",
                        "x": drivers.iter().take(8).map(|d| d.feature).collect::<Vec<_>>(),
                        "series": [{"label": "effect", "values": drivers.iter().take(8).map(|d| d.effect).collect::<Vec<_>>()}]})))
                    table { thead { tr { th { "Feature" } th.num { "Value" } th.num { "Effect" } } }
                        tbody { @for d in drivers.iter().take(8) { tr { td { (d.feature) } td.num { (d.value) } td.num { (format!("{:+.3}", d.effect)) } } } } }
                }
            }))
            (section("consent", "Consent", html! {
                table { thead { tr { th { "Purpose" } th { "Allowed" } th { "Basis" } } }
                    tbody { @for (purpose, p) in consent.iter().flatten() {
                        @let v = serde_json::to_value(p).unwrap_or(Value::Null);
                        tr { td { (serde_json::to_value(purpose).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()) }
                             td { @if p.allowed { span.badge.good { "yes" } } @else { span.badge.bad { "no" } } }
                             td { (p.describe()) " " span.muted { (text("", get(&v, "at"))) } } }
                    } } }
                h3 { "Ledger" }
                @let ledger = doc["consentHistory"].as_array().cloned().unwrap_or_default();
                (table(&newest(&ledger, 10), &[("Time", "at"), ("Source", "source"), ("Policy", "policyVersion"), ("Preferences", "categoryPreferences")]))
                @if ledger.len() > 10 { p.muted { "The newest 10 of " (ledger.len()) " entries." } }
            }))
        }
        (section("decisions", "Decisions and their explanations", html! {
            @let decisions = doc["decisions"].as_array().cloned().unwrap_or_default();
            @if decisions.is_empty() { p.muted { "None logged." } }
            @for (i, d) in decisions.iter().rev().take(10).enumerate() {
                details open[i == 0] {
                    summary { (text("", &d["at"])) " · " code { (text("", &d["decisionId"])) } " · "
                        @if d["personalized"] == true { "personalized" } @else { "not personalized" } }
                    (explanations(&d["logged"]))
                }
            }
        }))
        div.cols {
            (section("journeys", "Journeys", table(doc["journeys"].as_array().map_or(&[][..], |v| v), &[("Journey", "journey"), ("Version", "version"), ("Step", "step"), ("Status", "status"), ("Entered", "enteredAt"), ("Waiting for", "waitingFor")])))
            (section("messages", "Messages", table(doc["messagesSent"].as_array().map_or(&[][..], |v| v), &[("Journey", "journey"), ("Channel", "channel"), ("Status", "status"), ("Created", "createdAt"), ("Sent", "sentAt"), ("Error", "lastError")])))
        }
        (section("assignments", "Experiment assignments", table(doc["experimentAssignments"].as_array().map_or(&[][..], |v| v), &[("Experiment", "experiment"), ("Under id", "id"), ("Variation", "variation"), ("First exposed", "firstExposedAt")])))
        (section("requests", "Export and erasure", html! {
            p { a href={ "/console/people/" (internal) "/export" } download { "Download everything Tailor keeps about this person (JSON)" } }
            form method="post" action={ "/console/people/" (internal) "/erase" }
                data-confirm={ "Erase " (internal) " everywhere? Their events, profile, decisions and messages are deleted and cannot be recovered." } {
                input type="hidden" name="csrf" value=(signed.csrf);
                button.danger type="submit" { "Erase this person" }
            }
        }))
    };
    Ok(layout::page(
        signed,
        "/console/people",
        &format!("Person {internal}"),
        body,
    ))
}

/// What a logged answer showed: the item chosen, else the items shown.
fn shown(a: &Value) -> String {
    match a["chosen"].as_str() {
        Some(c) => c.to_string(),
        None => a["shown"]
            .as_array()
            .map(|s| {
                s.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default(),
    }
}

/// The newest `n` of rows kept oldest first, newest first.
fn newest(rows: &[Value], n: usize) -> Vec<Value> {
    rows.iter().rev().take(n).cloned().collect()
}

/// A logged decision's placements with what they showed and why.
fn explanations(logged: &Value) -> Markup {
    let placements = logged["placements"]
        .as_object()
        .or(logged["decisions"].as_object());
    html! {
        @match placements {
            Some(p) => {
                table { thead { tr { th { "Placement" } th { "Shown" } th { "Why" } } }
                    tbody { @for (id, a) in p {
                        tr { td { (id) } td { (shown(a).chars().take(120).collect::<String>()) }
                             td { (text("", a.get("explanation").or(a.get("reason")).unwrap_or(&Value::Null)).chars().take(200).collect::<String>()) } }
                    } } }
            }
            None => pre { (serde_json::to_string_pretty(logged).unwrap_or_default()) }
        }
    }
}

pub async fn export(
    _: Console<Admin>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let doc = audited_export(&state, &id, "console_export").await?;
    let name: String = id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .collect();
    Ok((
        [(
            CONTENT_DISPOSITION,
            format!("attachment; filename=\"tailor-export-{name}.json\""),
        )],
        Json(doc),
    )
        .into_response())
}

pub async fn erase(
    State(state): State<AppState>,
    Path(id): Path<String>,
    change: Change<Admin, serde::de::IgnoredAny>,
) -> Result<Response, ApiError> {
    let _ = change.signed;
    if state.engine.profile(&id).is_none() {
        return Err(ApiError::not_found(format!(
            "no profile is known by {id:?}"
        )));
    }
    state.engine.erase(&id).await?;
    let q = serde_urlencoded::to_string([("erased", id.as_str())]).unwrap_or_default();
    Ok(Redirect::to(&format!("/console/people?{q}")).into_response())
}
