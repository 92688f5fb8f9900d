//! The demo storefront's preference center (`/preferences`): what Tailor knows about the
//! visitor — what they declared, what it inferred, their consent — and a form to declare
//! favourite categories, a price range, channels and frequency (zero-party data). Saving goes
//! through the same path as `PUT /v1/preferences`, so the next page reflects it at once.

use axum::Form;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::header::LOCATION;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};
use tailor_core::preferences::{Channels, Preferences, PriceRange};

use super::html::esc;
use super::store::{Page, layout, no_storefront, visitor};
use crate::AppState;
use crate::routes::preferences::declare;

pub async fn show(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(key) = state.storefront_key.clone() else {
        return no_storefront();
    };
    let page = visitor(&headers);
    let id = page.who.id().to_string();
    let declared = state.engine.declared_preferences(&id).unwrap_or_default();
    let categories: String = state
        .engine
        .category_tree()
        .iter()
        .flat_map(|top| top.children.iter().map(|c| c.path.clone()).collect::<Vec<_>>())
        .enumerate()
        .map(|(i, path)| {
            let checked = if declared.categories.contains(&path) { " checked" } else { "" };
            format!(
                "<label class=pref><input type=checkbox name=category_{i} value=\"{p}\"{checked}> {p}</label>",
                p = esc(&path)
            )
        })
        .collect();
    let channels = declared.channels.clone().unwrap_or_default();
    let channel = |name: &str, on: Option<bool>| {
        format!(
            "<label class=pref><input type=checkbox name={name}{}> {name}</label>",
            if on == Some(true) { " checked" } else { "" }
        )
    };
    let max_price = declared
        .price_range
        .map(|r| format!("{}", r.max))
        .unwrap_or_default();
    let frequency = declared.frequency.clone().unwrap_or_default();
    let frequencies: String = ["", "daily", "weekly", "monthly"]
        .iter()
        .map(|f| {
            format!(
                "<option value=\"{f}\"{}>{}</option>",
                if *f == frequency { " selected" } else { "" },
                if f.is_empty() { "no preference" } else { f }
            )
        })
        .collect();
    let inferred: String = state
        .engine
        .profile(&id)
        .map(|p| {
            let v = serde_json::to_value(&p).unwrap_or(Value::Null);
            let top: Vec<String> = v["affinities"]["categories"]
                .as_array()
                .map(|a| a.iter().take(3).filter_map(|c| c["key"].as_str()).map(esc).collect())
                .unwrap_or_default();
            format!(
                "<li>Stage: {}</li><li>Product views: {}</li><li>Orders: {}</li><li>Interests we inferred: {}</li>",
                esc(v["lifecycleStage"].as_str().unwrap_or("?")),
                v["productViews"],
                v["orders"]["count"],
                if top.is_empty() { "none yet".to_string() } else { top.join(", ") }
            )
        })
        .unwrap_or_else(|| "<li>Nothing yet: we have not seen you browse.</li>".into());
    let consent: String = state
        .engine
        .consent_state(&id)
        .map(|purposes| {
            purposes
                .into_iter()
                .map(|(p, perm)| format!("<li>{}: {}</li>", p.as_str(), esc(&perm.describe())))
                .collect()
        })
        .unwrap_or_default();
    let body = format!(
        r#"<h1>Your preferences</h1>
<section class=card><h2>What we know about you</h2><ul>{inferred}</ul>
<h3>Consent</h3><ul>{consent}</ul></section>
<form method=post action="/preferences" class=card>
<h2>Tell us what you like</h2><p>What you tell us counts more than what we guess.</p>
<fieldset><legend>Favourite categories</legend>{categories}</fieldset>
<p><label>Maximum price <input type=number min=0 step=1 name=max_price value="{max_price}"></label></p>
<fieldset><legend>Send me news by</legend>{email}{push}{sms}</fieldset>
<p><label>How often <select name=frequency>{frequencies}</select></label></p>
<button class=primary type=submit>Save my preferences</button></form>"#,
        email = channel("email", channels.email),
        push = channel("push", channels.push),
        sms = channel("sms", channels.sms),
    );
    layout(
        &state,
        &key,
        &page,
        "Your preferences",
        (true, None),
        String::new(),
        body,
    )
}

pub async fn save(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    if state.storefront_key.is_none() {
        return no_storefront();
    }
    let Page { who, .. } = visitor(&headers);
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let on = |name: &str| Some(field(name).is_some());
    let prefs = Preferences {
        categories: fields
            .iter()
            .filter(|(k, _)| k.starts_with("category_"))
            .map(|(_, v)| v.clone())
            .filter(|c| state.engine.has_category(c))
            .collect(),
        price_range: field("max_price")
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|m| m.is_finite() && *m > 0.0)
            .map(|max| PriceRange { min: 0.0, max }),
        channels: Some(Channels {
            email: on("email"),
            push: on("push"),
            sms: on("sms"),
        }),
        frequency: field("frequency")
            .filter(|f| ["daily", "weekly", "monthly"].contains(f))
            .map(str::to_string),
        ..Default::default()
    };
    let ids: Map<String, Value> = match who.json() {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    if let Err(e) = declare(&state, &ids, &prefs, "preference center", Vec::new()).await {
        tracing::warn!(?e, "could not save preferences from the storefront");
    }
    (
        [(LOCATION, "/preferences")],
        axum::http::StatusCode::SEE_OTHER,
    )
        .into_response()
}
