//! `/console/placements`: every placement `decide` answers, and for each an editor of its
//! targeting, variants, limit and policy (rules, Thompson sampling, LinUCB), validated by
//! the engine with each problem next to its field; what a learning policy has learned; and
//! a preview of the placement as a chosen shopper that logs nothing (no decision, exposure
//! or learning). Reading is the analyst's; editing and previewing (a person's answer) the
//! admin's.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::{Value, json};
use tailor_engine::DecideInput;
use tailor_engine::decide::{Placement, PlacementKind};

use super::layout::{self, field_errors};
use super::session::{Change, Console, Signed};
use crate::AppState;
use crate::error::ApiError;
use crate::extract::{Admin, Analyst};

pub async fn list(
    console: Console<Analyst>,
    State(state): State<AppState>,
) -> Result<Response, ApiError> {
    let placements = state.engine.placements();
    let body = html! {
        table {
            thead { tr { th { "Placement" } th { "Kind" } th { "Targeting" } th { "Variants" } th { "Policy" } } }
            tbody { @for p in &placements {
                @let v = serde_json::to_value(p).unwrap_or(Value::Null);
                tr {
                    td { a href={ "/console/placements/" (p.id) } { (p.id) } }
                    td { (v["kind"].as_str().unwrap_or("")) }
                    td { @if let Some(c) = &p.condition { code { (c.to_string()) } } @else { span.muted { "everyone" } } }
                    td.num data-variants=(p.id) { (p.variants.len()) }
                    td { (v["policy"]["kind"].as_str().unwrap_or("rules")) }
                }
            } }
        }
    };
    Ok(layout::page(
        &console.signed,
        "/console/placements",
        "Placements",
        body,
    ))
}

#[derive(Deserialize, Default)]
pub struct Edit {
    #[serde(default)]
    condition: String,
    #[serde(default)]
    limit: String,
    #[serde(default)]
    variants: String,
    #[serde(default)]
    policy: String,
    #[serde(default)]
    reward: String,
    #[serde(default)]
    exploration: String,
    /// A ranking placement's merchandising rules, as JSON (`{"pin", "boost", "bury"}`).
    #[serde(default)]
    rules: String,
}

impl Edit {
    fn of(p: &Placement) -> Edit {
        let v = serde_json::to_value(p).unwrap_or(Value::Null);
        Edit {
            condition: p
                .condition
                .as_ref()
                .map(|c| c.to_string())
                .unwrap_or_default(),
            limit: p.limit.map(|l| l.to_string()).unwrap_or_default(),
            variants: if p.variants.is_empty() {
                String::new()
            } else {
                serde_json::to_string_pretty(&v["variants"]).unwrap_or_default()
            },
            policy: v["policy"]["kind"].as_str().unwrap_or("rules").to_string(),
            reward: v["policy"]["reward"]
                .as_str()
                .unwrap_or("click")
                .to_string(),
            exploration: v["policy"]["exploration"]
                .as_f64()
                .map(|e| e.to_string())
                .unwrap_or_default(),
            rules: p
                .rules
                .as_ref()
                .map(|r| serde_json::to_string_pretty(r).unwrap_or_default())
                .unwrap_or_default(),
        }
    }
}

#[derive(Deserialize, Default)]
pub struct PreviewQuery {
    #[serde(rename = "as")]
    shopper: Option<String>,
}

pub async fn edit(
    console: Console<Analyst>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<PreviewQuery>,
) -> Result<Response, ApiError> {
    let placement = find(&state, &id)?;
    let preview = match q
        .shopper
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        Some(_) if !console.signed.role.is_admin() => Some(Err(
            "A preview as a shopper shows their personal answer: it needs the admin key."
                .to_string(),
        )),
        Some(shopper) => Some(preview(&state, &id, shopper).await),
        None => None,
    };
    Ok(render(
        &state,
        &console.signed,
        &placement,
        &Edit::of(&placement),
        &[],
        q.shopper.as_deref().unwrap_or(""),
        preview,
        StatusCode::OK,
    ))
}

fn find(state: &AppState, id: &str) -> Result<Placement, ApiError> {
    state
        .engine
        .placements()
        .into_iter()
        .find(|p| p.id == id)
        .ok_or_else(|| ApiError::not_found(format!("no placement {id:?}")))
}

/// The placement's answer for `shopper` (a userId or anonymousId) as `decide` would give
/// it to the store's backend, logging nothing.
async fn preview(state: &AppState, placement: &str, shopper: &str) -> Result<Value, String> {
    let known = state.engine.profile(shopper).is_some();
    let input = DecideInput {
        user_id: known
            .then(|| {
                state
                    .engine
                    .with_profile(shopper, |p| p.user_ids.first().cloned())
            })
            .flatten()
            .flatten(),
        anonymous_id: Some(shopper.to_string()),
        placements: vec![placement.to_string()],
        ..DecideInput::default()
    };
    let shopper2 = shopper.to_string();
    let _ = state
        .blocking(move |e| e.audit_read("console_preview", &shopper2))
        .await;
    let out = state
        .engine
        .preview_decision(input)
        .map_err(|e| e.to_string())?;
    let answers: serde_json::Map<String, Value> = out
        .answers
        .iter()
        .map(|(id, a)| (id.clone(), serde_json::to_value(a).unwrap_or(Value::Null)))
        .collect();
    Ok(json!({"personalized": out.personalized, "known": known, "answers": answers}))
}

#[allow(clippy::too_many_arguments)] // one page's parts, each distinct
fn render(
    state: &AppState,
    signed: &Signed,
    p: &Placement,
    edit: &Edit,
    errors: &[(String, String)],
    shopper: &str,
    preview: Option<Result<Value, String>>,
    status: StatusCode,
) -> Response {
    let admin = signed.role.is_admin();
    let invalid = |f: &str| errors.iter().any(|(x, _)| x == f).then_some("true");
    let kind = serde_json::to_value(p.kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    let learned = state.engine.policy_summary(&p.id);
    let segments = state.engine.segments();
    let body = html! {
        p { "Kind " strong { (kind) } "." }
        form.panel method="post" action={ "/console/placements/" (p.id) } {
            input type="hidden" name="csrf" value=(signed.csrf);
            (field_errors(errors, ""))
            label for="p-condition" { "Targeting condition (JSON; empty: everyone)" }
            textarea #p-condition name="condition" rows="3" readonly[!admin] aria-invalid=[invalid("condition")] { (edit.condition) }
            @if !segments.is_empty() {
                p.hint { "Saved segments to copy: " @for s in &segments { code title=(s.name) { (s.condition.to_string()) } " " } }
            }
            (field_errors(errors, "condition"))
            label for="p-limit" { "Items (1 to 100; empty: the kind's default)" }
            input #p-limit type="text" name="limit" value=(edit.limit) readonly[!admin] aria-invalid=[invalid("limit")];
            (field_errors(errors, "limit"))
            label for="p-variants" { "Variants (JSON array of " code { "{\"id\", \"condition\"?, \"explanation\"}" } ")" }
            textarea #p-variants name="variants" rows="6" readonly[!admin] aria-invalid=[invalid("variants")] { (edit.variants) }
            (field_errors(errors, "variants"))
            label for="p-policy" { "Policy" }
            select #p-policy name="policy" disabled[!admin] aria-invalid=[invalid("policy")] {
                @for (v, l) in [("rules", "Rules (targeting decides)"), ("thompson", "Thompson sampling"), ("linucb", "LinUCB (contextual)")] {
                    option value=(v) selected[edit.policy == v] { (l) }
                }
            }
            label for="p-reward" { "Reward the policy learns from" }
            select #p-reward name="reward" disabled[!admin] {
                @for v in ["click", "conversion"] { option value=(v) selected[edit.reward == v] { (v) } }
            }
            label for="p-exploration" { "Exploration (0 to 1; empty: the default)" }
            input #p-exploration type="text" name="exploration" value=(edit.exploration) readonly[!admin];
            (field_errors(errors, "policy"))
            @if p.kind == PlacementKind::Ranking {
                label for="p-rules" { "Merchandising rules (JSON: " code { "{\"pin\": [ids], \"boost\": [{\"category\"|\"brand\"|\"productIds\", \"weight\"?}], \"bury\": […], \"keepOutOfStock\"?}" } "; empty: none)" }
                textarea #p-rules name="rules" rows="6" readonly[!admin] aria-invalid=[invalid("rules")] { (edit.rules) }
                (field_errors(errors, "rules"))
            }
            @if admin { p { button type="submit" { "Save placement" } } }
        }
        @if let Some(l) = learned.filter(|_| p.policy.is_some()) {
            h2 { "What the policy has learned" }
            pre { (serde_json::to_string_pretty(&l).unwrap_or_default()) }
        }
        h2 id="preview" { "Preview as a shopper" }
        form.panel method="get" action={ "/console/placements/" (p.id) "#preview" } {
            label for="as" { "userId or anonymousId" }
            input #as type="text" name="as" value=(shopper);
            " " button.secondary type="submit" { "Preview" }
            p.hint { "Answers as the store's backend would be answered, and logs nothing: no decision, exposure or learning." }
        }
        @match &preview {
            Some(Ok(v)) => { (preview_markup(v)) }
            Some(Err(e)) => p.error role="alert" { (e) }
            None => {}
        }
    };
    let mut response = layout::page(
        signed,
        "/console/placements",
        &format!("Placement {}", p.id),
        body,
    );
    *response.status_mut() = status;
    response
}

fn preview_markup(v: &Value) -> Markup {
    html! {
        div.panel data-preview {
            p { @if v["known"] == true { "A known shopper. " } @else { "Nobody known by this id: the answer a new visitor gets. " }
                @if v["personalized"] == true { "Personalized." } @else { "Not personalized." } }
            @for (id, a) in v["answers"].as_object().into_iter().flatten() {
                h3 { (id) }
                p { strong { "Why: " } span data-explanation { (a["explanation"].as_str().unwrap_or("")) } }
                pre { (serde_json::to_string_pretty(a).unwrap_or_default()) }
            }
        }
    }
}

/// The edit form as the placement's JSON (kept fields from `p`), or the problems by field.
fn placement_json(p: &Placement, e: &Edit) -> Result<Value, Vec<(String, String)>> {
    let mut errors = Vec::new();
    let mut doc = serde_json::to_value(p).unwrap_or(Value::Null);
    let obj = doc
        .as_object_mut()
        .ok_or_else(|| vec![(String::new(), "placement unreadable".to_string())])?;
    obj.remove("condition");
    obj.remove("limit");
    if p.kind == PlacementKind::Ranking {
        obj.remove("rules");
        if !e.rules.trim().is_empty() {
            match serde_json::from_str::<Value>(&e.rules) {
                Ok(v @ Value::Object(_)) => {
                    obj.insert("rules".into(), v);
                }
                Ok(_) => errors.push((
                    "rules".into(),
                    "a JSON object: {\"pin\", \"boost\", \"bury\"}".into(),
                )),
                Err(err) => errors.push(("rules".into(), format!("not JSON: {err}"))),
            }
        }
    }
    obj.remove("variants");
    obj.remove("policy");
    if !e.condition.trim().is_empty() {
        match serde_json::from_str::<Value>(&e.condition) {
            Ok(c) => {
                obj.insert("condition".into(), c);
            }
            Err(err) => errors.push(("condition".into(), format!("not JSON: {err}"))),
        }
    }
    if !e.limit.trim().is_empty() {
        match e.limit.trim().parse::<usize>() {
            Ok(l) => {
                obj.insert("limit".into(), json!(l));
            }
            Err(_) => errors.push(("limit".into(), "a whole number from 1 to 100".into())),
        }
    }
    if !e.variants.trim().is_empty() {
        match serde_json::from_str::<Value>(&e.variants) {
            Ok(v @ Value::Array(_)) => {
                obj.insert("variants".into(), v);
            }
            Ok(_) => errors.push(("variants".into(), "a JSON array of variants".into())),
            Err(err) => errors.push(("variants".into(), format!("not JSON: {err}"))),
        }
    }
    if e.policy != "rules" && !e.policy.is_empty() {
        let mut policy = json!({"kind": e.policy, "reward": e.reward});
        if !e.exploration.trim().is_empty() {
            match e.exploration.trim().parse::<f64>() {
                Ok(x) => policy["exploration"] = json!(x),
                Err(_) => {
                    errors.push(("policy".into(), "exploration: a number from 0 to 1".into()))
                }
            }
        }
        obj.insert("policy".into(), policy);
    }
    if errors.is_empty() {
        Ok(doc)
    } else {
        Err(errors)
    }
}

/// Which field an engine problem is about.
fn field_of(problem: &str) -> &'static str {
    let p = problem.to_lowercase();
    if p.starts_with("variant") || p.contains("`variants`") {
        "variants"
    } else if p.contains("rule") || p.contains("`pin`") || p.contains("rules.pin") {
        "rules"
    } else if p.contains("`condition`") {
        "condition"
    } else if p.contains("`limit`") {
        "limit"
    } else if p.contains("policy")
        || p.contains("exploration")
        || p.contains("alpha")
        || p.contains("reward")
    {
        "policy"
    } else {
        ""
    }
}

pub async fn save(
    State(state): State<AppState>,
    Path(id): Path<String>,
    change: Change<Admin, Edit>,
) -> Result<Response, ApiError> {
    let placement = find(&state, &id)?;
    let edit = change.form;
    let errors = match placement_json(&placement, &edit) {
        Err(errors) => errors,
        Ok(doc) => match Placement::from_json(doc) {
            Err(e) => e
                .problems
                .iter()
                .map(|p| (field_of(p).to_string(), p.clone()))
                .collect(),
            Ok(p) => match state.blocking(move |e| e.put_placements(vec![p])).await {
                Ok(_) => {
                    return Ok(Redirect::to(&format!("/console/placements/{id}")).into_response());
                }
                Err(e) => vec![(field_of(&e.message).to_string(), e.message)],
            },
        },
    };
    Ok(render(
        &state,
        &change.signed,
        &placement,
        &edit,
        &errors,
        "",
        None,
        StatusCode::UNPROCESSABLE_ENTITY,
    ))
}
