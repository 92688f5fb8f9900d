//! `/console/privacy`: consent per purpose now (allowed by choice or by the policy's
//! default) and the choices of the last 30 days, the consent policy, the export and erasure
//! requests with their outcome, retention settings and runs, and the audit log. All of it
//! is aggregates or the audit log, which names internal profile numbers only (the
//! analyst's, as `GET /v1/audit`); the consent policy is shown to the admin, whose key
//! reads it in the API.

use axum::extract::State;
use axum::response::Response;
use maud::html;
use serde_json::{Value, json};

use super::layout::{self, chart, percent, when};
use super::session::Console;
use crate::AppState;
use crate::error::ApiError;
use crate::extract::Analyst;

/// Audit entries listed.
const AUDIT_SHOWN: usize = 50;
const DAYS: u32 = 30;

pub async fn page(
    console: Console<Analyst>,
    State(state): State<AppState>,
) -> Result<Response, ApiError> {
    let rates = state.engine.consent_rates(DAYS);
    let audit = state.blocking(|e| e.audit_log(AUDIT_SHOWN)).await?;
    let retention = state.engine.retention_settings();
    let admin = console.signed.role.is_admin();
    let purpose = |p: tailor_core::Purpose| {
        serde_json::to_value(p)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    };
    let rates_chart = json!({"kind": "bars", "stacked": true,
    "x": rates.iter().map(|r| purpose(r.purpose)).collect::<Vec<_>>(),
    "series": [
        {"label": "granted (choice)", "values": rates.iter().map(|r| r.granted).collect::<Vec<_>>(), "color": "#059669"},
        {"label": "allowed by default", "values": rates.iter().map(|r| r.by_default_allowed).collect::<Vec<_>>(), "color": "#93c5fd"},
        {"label": "withdrawn (choice)", "values": rates.iter().map(|r| r.withdrawn).collect::<Vec<_>>(), "color": "#dc2626"},
        {"label": "refused by default", "values": rates.iter().map(|r| r.by_default_refused).collect::<Vec<_>>(), "color": "#9ca3af"},
    ]});
    let days: Vec<String> = rates
        .first()
        .map(|r| {
            r.daily
                .iter()
                .map(|(d, _, _)| when(*d)[5..10].to_string())
                .collect()
        })
        .unwrap_or_default();
    let over_time = json!({"kind": "line", "x": days,
        "series": rates.iter().flat_map(|r| [
            json!({"label": format!("{} granted", purpose(r.purpose)), "values": r.daily.iter().map(|d| d.1).collect::<Vec<_>>()}),
            json!({"label": format!("{} withdrawn", purpose(r.purpose)), "values": r.daily.iter().map(|d| d.2).collect::<Vec<_>>(), "dash": [4, 3]}),
        ]).collect::<Vec<_>>()});
    let requests: Vec<_> = audit
        .iter()
        .filter(|a| {
            [
                "erase",
                "expired",
                "export",
                "read_export",
                "console_export",
                "lift_suppression",
            ]
            .contains(&a.action.as_str())
        })
        .collect();
    let runs: Vec<_> = audit.iter().filter(|a| a.action == "retention").collect();
    let policy =
        admin.then(|| serde_json::to_value(&*state.engine.consent_policy()).unwrap_or(Value::Null));
    let body = html! {
        div.grid {
            (chart("consent-rates", "People each purpose may use now, and why", &rates_chart))
            (chart("consent-daily", "Consent choices per day (each person's latest), last 30 days", &over_time))
        }
        table {
            thead { tr { th { "Purpose" } th.num { "Allowed" } th.num { "Granted" } th.num { "Withdrawn" } th.num { "Default: allowed" } th.num { "Default: refused" } } }
            tbody { @for r in &rates {
                tr { td { (purpose(r.purpose)) }
                     td.num data-allowed=(purpose(r.purpose)) { (r.allowed) " (" (percent(r.allowed as f64 / r.people.max(1) as f64)) ")" }
                     td.num { (r.granted) } td.num { (r.withdrawn) } td.num { (r.by_default_allowed) } td.num { (r.by_default_refused) } }
            } }
        }
        div.cols {
            section.panel {
                h2 { "Consent policy" }
                @match &policy {
                    Some(p) => pre { (serde_json::to_string_pretty(p).unwrap_or_default()) }
                    None => p.muted { "Shown to the admin (the API's admin scope reads it)." }
                }
            }
            section.panel {
                h2 { "Retention" }
                p { "Raw events: " @match retention.events_days { Some(d) => { "deleted after " (d) " days" } None => "kept until the person is erased" } "." }
                p { "Inactive people: " @match retention.expire_inactive_days { Some(d) => { "erased after " (d) " days without an event" } None => "kept" } "." }
                h3 { "Runs" }
                @if runs.is_empty() { p.muted { "None recorded." } }
                ul { @for r in runs.iter().take(10) { li { (when(r.at)) ": " code { (r.detail) } } } }
            }
        }
        h2 { "Export and erasure requests" }
        @if requests.is_empty() { p.muted { "None yet." } }
        @else { table {
            thead { tr { th { "Time" } th { "Request" } th { "Outcome" } } }
            tbody { @for a in &requests { tr { td { (when(a.at)) } td { (a.action) } td { code { (a.detail) } } } } }
        } }
        h2 { "Audit log" }
        p.hint { "The newest " (AUDIT_SHOWN) ": erasures, expiries, retention runs and every read of a person's data, by internal profile number." }
        table.audit {
            thead { tr { th { "Time" } th { "Action" } th { "Detail" } } }
            tbody { @for a in &audit { tr { td { (when(a.at)) } td data-audit=(a.action) { (a.action) } td { code { (a.detail) } } } } }
        }
    };
    Ok(layout::page(
        &console.signed,
        "/console/privacy",
        "Privacy",
        body,
    ))
}
