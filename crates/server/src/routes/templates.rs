//! Message templates (admin): `/v1/templates…` — the marketer's subject, HTML and text in
//! MiniJinja, validated when saved; the built-in templates as editable defaults; a preview
//! rendered for a chosen shopper.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tailor_engine::journeys::language;
use tailor_engine::journeys::render::Rendered;
use utoipa::ToSchema;

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{Admin, ApiJson, Authorized};

/// Largest template body accepted (each part is limited further: see `language`).
const MAX_TEMPLATE: usize = 256 * 1024;

#[derive(Serialize, ToSchema)]
pub struct Templates {
    /// Every template in service: `{id, channel, subject, html, text, builtIn, modified?,
    /// updatedAt?}`.
    #[schema(value_type = Vec<Object>)]
    templates: Vec<Value>,
    /// The variables a template can read, with what they hold.
    variables: BTreeMap<&'static str, &'static str>,
    /// The helpers beyond Jinja's built-in filters.
    filters: BTreeMap<&'static str, &'static str>,
    /// The blocks `{% include "…" %}` takes.
    blocks: Vec<&'static str>,
}

/// Every message template, with the variables, helpers and blocks templates can use.
#[utoipa::path(get, path = "/v1/templates", tag = "templates", security(("admin_key" = [])),
    responses((status = 200, body = Templates)))]
pub async fn list(_: Authorized<Admin>, State(state): State<AppState>) -> Json<Templates> {
    Json(Templates {
        templates: state.engine.message_templates(),
        variables: language::VARIABLES.iter().copied().collect(),
        filters: BTreeMap::from([
            (
                "money",
                "`{{ cart.total | money }}`: the amount in the shopper's currency (or `money(\"EUR\")`)",
            ),
            (
                "date",
                "`{{ now | date(\"%A %-d %B\") }}`: a time on the shopper's clock, strftime format",
            ),
            (
                "default",
                "`{{ first_name | default(\"there\") }}`: a fallback for what is missing",
            ),
        ]),
        blocks: language::block_names(),
    })
}

/// One template.
#[utoipa::path(get, path = "/v1/templates/{id}", tag = "templates", security(("admin_key" = [])),
    params(("id" = String, Path)), responses((status = 200, body = Object)))]
pub async fn get(
    _: Authorized<Admin>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    state
        .engine
        .message_template(&id)
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("template {id:?} not found")))
}

/// Saves a template `{"channel", "subject", "html", "text"}` (under a built-in id: replaces
/// the default). Every problem is reported at once in `details`: a part too long, a syntax
/// error with its line, each unknown variable by name, a failure to render a sample shopper.
#[utoipa::path(put, path = "/v1/templates/{id}", tag = "templates", security(("admin_key" = [])),
    params(("id" = String, Path)), request_body = Object, responses((status = 200, body = Object)))]
pub async fn put(
    _: Authorized<Admin>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(mut definition): ApiJson<Value, MAX_TEMPLATE>,
) -> Result<Json<Value>, ApiError> {
    if let Some(o) = definition.as_object_mut()
        && let Some(body_id) = o.remove("id")
        && body_id.as_str() != Some(id.as_str())
    {
        return Err(ApiError::bad_request(
            "invalid_request",
            "the template's `id` must match the URL",
        ));
    }
    Ok(Json(
        state
            .blocking(move |engine| engine.put_template(&id, definition))
            .await?,
    ))
}

/// Deletes a saved template; a built-in one goes back to its default. A template a
/// journey sends is kept (409).
#[utoipa::path(delete, path = "/v1/templates/{id}", tag = "templates", security(("admin_key" = [])),
    params(("id" = String, Path)), responses((status = 200, body = Object)))]
pub async fn delete(
    _: Authorized<Admin>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(
        state
            .blocking(move |engine| engine.delete_template(&id))
            .await?,
    ))
}

/// What to preview.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewRequest {
    /// The shopper: a userId or anonymousId.
    person: String,
    /// An unsaved definition to render instead of the saved template.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    template: Option<Value>,
}

/// Renders the template (or an unsaved `template`) for one shopper, as their next message
/// would be: their cart, `decide`'s recommendations and promotion, their currency and time
/// zone.
#[utoipa::path(post, path = "/v1/templates/{id}/preview", tag = "templates", security(("admin_key" = [])),
    params(("id" = String, Path)), request_body = PreviewRequest, responses((status = 200, body = Rendered)))]
pub async fn preview(
    _: Authorized<Admin>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<PreviewRequest, MAX_TEMPLATE>,
) -> Result<Json<Rendered>, ApiError> {
    Ok(Json(
        state
            .blocking(move |engine| engine.preview_template(&id, &request.person, request.template))
            .await?,
    ))
}
