//! The frame every console page shares: the navigation (a list of links, usable from the
//! keyboard, the current one marked `aria-current`), who is signed in and the sign-out
//! form, and the small pieces pages are built from: stat tiles, charts, field errors,
//! tables. Charts are `<figure>`s whose data is JSON in a `data-chart` attribute (escaped
//! by maud like any value) that `/console/assets/console.js` draws with uPlot: the pages'
//! Content Security Policy runs no inline script.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};
use serde_json::Value;
use tailor_core::Millis;
use tailor_core::time::format_timestamp;

use super::session::Signed;

/// The console's sections, in the navigation's order: (path, label, admin only).
pub const SECTIONS: &[(&str, &str, bool)] = &[
    ("/console", "Overview", false),
    ("/console/people", "People", true),
    ("/console/segments", "Segments", false),
    ("/console/placements", "Placements", false),
    ("/console/experiments", "Experiments", false),
    ("/console/journeys", "Journeys", false),
    ("/console/templates", "Messages", true),
    ("/console/models", "Models & forecast", false),
    ("/console/privacy", "Privacy", false),
];

fn head(title: &str, reload: bool) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            @if reload { meta http-equiv="refresh" content="2"; }
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · Tailor console" }
            link rel="stylesheet" href="/console/assets/uPlot.min.css";
            link rel="stylesheet" href="/console/assets/console.css";
            script src="/console/assets/uPlot.iife.min.js" defer {}
            script src="/console/assets/console.js" defer {}
        }
    }
}

/// A whole page of section `section` (its path in [`SECTIONS`]).
pub fn page(signed: &Signed, section: &str, title: &str, body: Markup) -> Response {
    page_with(signed, section, title, body, false)
}

/// [`page`] that reloads itself in two seconds (a report is being computed).
pub fn page_with(
    signed: &Signed,
    section: &str,
    title: &str,
    body: Markup,
    reload: bool,
) -> Response {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            (head(title, reload))
            body data-csrf=(signed.csrf) data-role=(signed.role.name()) {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href="/console" { "Tailor" }
                    nav aria-label="Console sections" {
                        ul {
                            @for (path, label, admin_only) in SECTIONS {
                                @if !admin_only || signed.role.is_admin() {
                                    li {
                                        a href=(path) aria-current=[(*path == section).then_some("page")] { (label) }
                                    }
                                }
                            }
                        }
                    }
                    form.signout method="post" action="/console/signout" {
                        input type="hidden" name="csrf" value=(signed.csrf);
                        span.role { "Signed in as " strong { (signed.role.name()) } }
                        button type="submit" { "Sign out" }
                    }
                }
                main id="main" tabindex="-1" {
                    h1 { (title) }
                    (body)
                }
            }
        }
    };
    Html(markup.into_string()).into_response()
}

/// A page without the navigation (sign-in, refusals).
pub fn bare(status: StatusCode, title: &str, body: Markup) -> Response {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            (head(title, false))
            body.bare {
                main id="main" {
                    p.brand { "Tailor console" }
                    h1 { (title) }
                    (body)
                }
            }
        }
    };
    (status, Html(markup.into_string())).into_response()
}

/// A refusal as a page, with the way back.
pub fn refusal(status: StatusCode, title: &str, message: &str) -> Response {
    bare(
        status,
        title,
        html! {
            p.error role="alert" { (message) }
            p { a href="/console" { "Back to the overview" } " · " a href="/console/signin" { "Sign in with another key" } }
        },
    )
}

/// A number tile.
pub fn stat(label: &str, value: impl std::fmt::Display) -> Markup {
    html! {
        div.stat {
            span.value data-stat=(label) { (value) }
            span.label { (label) }
        }
    }
}

/// A chart drawn by the console's script from `spec`: `{"kind": "line" | "bars" |
/// "interval", "x": [...], "series": [{"label", "values": [...]}], "time": bool,
/// "yLabel"}`. The figure's caption says what it shows; the table inside `<noscript>`
/// holds the same numbers for readers without the canvas.
pub fn chart(id: &str, caption: &str, spec: &Value) -> Markup {
    html! {
        figure.chart id=(id) {
            figcaption { (caption) }
            div.plot data-chart=(spec.to_string()) role="img" aria-label=(caption) {}
        }
    }
}

/// The problems of a form field, shown next to it.
pub fn field_errors(errors: &[(String, String)], field: &str) -> Markup {
    html! {
        @for (f, message) in errors {
            @if f == field {
                p.field-error id={ (field) "-error" } role="alert" { (message) }
            }
        }
    }
}

/// Splits an engine validation message (`a; b; c`, each `field: problem` or a bare
/// problem) into (field, problem) pairs; problems naming no known field go to `""`.
pub fn problems_by_field(message: &str, fields: &[&str]) -> Vec<(String, String)> {
    message
        .split("; ")
        .map(|problem| {
            let field = fields
                .iter()
                .filter(|f| {
                    problem.starts_with(&format!("{f}:"))
                        || problem.starts_with(&format!("{f}["))
                        || problem.starts_with(&format!("{f}."))
                        || problem.starts_with(&format!("`{f}`"))
                        || problem.contains(&format!("`{f}`"))
                })
                .max_by_key(|f| f.len())
                .map_or("", |f| f);
            (field.to_string(), problem.to_string())
        })
        .collect()
}

/// A time for people: `2026-03-01 14:03` (UTC).
pub fn when(at: Millis) -> String {
    let s = format_timestamp(at);
    s.get(..16).unwrap_or(&s).replace('T', " ")
}

/// A money amount or a rate with a sensible precision.
pub fn money(v: f64) -> String {
    let cents = (v.abs() * 100.0).round() as i64;
    let sign = if v < 0.0 && cents > 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", thousands(cents / 100), cents % 100)
}

pub fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

pub fn percent(v: f64) -> String {
    format!("{:.1}%", v * 100.0)
}

/// A field of an engine document by its camelCase name, or its snake_case spelling.
pub fn get<'a>(v: &'a Value, key: &str) -> &'a Value {
    match v.get(key) {
        Some(x) => x,
        None => {
            let mut snake = String::new();
            for c in key.chars() {
                if c.is_ascii_uppercase() {
                    snake.push('_');
                    snake.push(c.to_ascii_lowercase());
                } else {
                    snake.push(c);
                }
            }
            v.get(&snake).unwrap_or(&Value::Null)
        }
    }
}

/// A JSON value as short text: strings bare, times (`…At` fields in ms) as dates.
pub fn text(key: &str, v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Number(n) if key.ends_with("At") || key.ends_with("_at") => {
            n.as_i64().map(when).unwrap_or_else(|| n.to_string())
        }
        other => other.to_string(),
    }
}

/// Rows of engine documents as a table: `columns` are (heading, camelCase field).
pub fn table(rows: &[Value], columns: &[(&str, &str)]) -> Markup {
    html! {
        @if rows.is_empty() {
            p.muted { "None." }
        } @else {
            table {
                thead { tr { @for (h, _) in columns { th { (h) } } } }
                tbody { @for r in rows { tr { @for (_, k) in columns { td { (text(k, get(r, k))) } } } } }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_go_next_to_the_field_they_name() {
        let p = problems_by_field(
            "weights: must sum to 1; coverage: outside [0, 1]; something else",
            &["weights", "coverage"],
        );
        assert_eq!(p[0].0, "weights");
        assert_eq!(p[1].0, "coverage");
        assert_eq!(p[2].0, "");
        assert_eq!(thousands(1234567), "1,234,567");
    }
}
