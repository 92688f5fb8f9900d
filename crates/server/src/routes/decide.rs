//! `POST /v1/decide`: what each placement shows this visitor, with explanations.
//! Placements are managed under `/v1/placements`; logged decisions and their rewards are
//! under `/v1/decisions/{id}` (admin).

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use serde::Serialize;
use serde_json::{Map, Value, json};
use tailor_engine::decide::{Answer, Placement};
use tailor_engine::{DecideInput, Scope};

use crate::AppState;
use crate::auth::authorize;
use crate::body::read_limited;
use crate::error::{ApiError, json_error};

const MAX_DECIDE_BYTES: usize = 32 * 1024;

fn id_field(v: &Value, key: &str) -> Result<Option<String>, ApiError> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => Err(ApiError::bad_request(
            "invalid_request",
            format!("`{key}` must be a string"),
        )),
    }
}

pub async fn decide(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<DecideReply>, ApiError> {
    authorize(state.engine.keys(), &headers, None, Scope::Write)?;
    let bytes = read_limited(&headers, body, MAX_DECIDE_BYTES).await?;
    let v: Value = serde_json::from_slice(&bytes).map_err(json_error)?;
    if !v.is_object() {
        return Err(ApiError::bad_request(
            "invalid_request",
            "the body must be a JSON object",
        ));
    }
    let user_id = id_field(&v, "userId")?;
    let anonymous_id = id_field(&v, "anonymousId")?;
    if user_id.is_none() && anonymous_id.is_none() {
        return Err(ApiError::bad_request(
            "no_user_anon_id",
            "decide needs a `userId` or an `anonymousId`",
        ));
    }
    let placements = match v.get("placements") {
        Some(Value::Array(items)) => items
            .iter()
            .map(|p| p.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_request",
                    "`placements` must be an array of placement ids",
                )
            })?,
        _ => {
            return Err(ApiError::bad_request(
                "invalid_request",
                "`placements` is required: an array such as [\"home.hero\", \"recs.home\"]",
            ));
        }
    };
    let context = match v.get("context") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(_) => {
            return Err(ApiError::bad_request(
                "invalid_request",
                "`context` must be an object",
            ));
        }
    };
    let out = state.engine.decide(DecideInput {
        user_id,
        anonymous_id,
        placements,
        context,
    })?;
    Ok(Json(DecideReply {
        decision_id: out.decision_id,
        personalized: out.personalized,
        reason: out.reason,
        decisions: Decisions(out.answers),
    }))
}

/// The reply of `decide`, serialized straight from the answers: no intermediate JSON tree on
/// the hottest path.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DecideReply {
    decision_id: String,
    personalized: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
    decisions: Decisions,
}

/// Placement id → answer, as a JSON object in request order.
pub struct Decisions(Vec<(String, Answer)>);

impl Serialize for Decisions {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(id, a)| (id, a)))
    }
}

pub async fn list_placements(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    authorize(state.engine.keys(), &headers, None, Scope::Write)?;
    Ok(Json(json!({"placements": state.engine.placements()})))
}

pub async fn put_placements(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    authorize(state.engine.keys(), &headers, None, Scope::Admin)?;
    let bytes = read_limited(&headers, body, 1024 * 1024).await?;
    let items = match serde_json::from_slice::<Value>(&bytes).map_err(json_error)? {
        Value::Array(items) => items,
        v @ Value::Object(_) => vec![v],
        _ => {
            return Err(ApiError::bad_request(
                "invalid_request",
                "send a placement object or an array of them",
            ));
        }
    };
    let mut placements = Vec::with_capacity(items.len());
    let mut problems = Vec::new();
    for (index, item) in items.into_iter().enumerate() {
        match Placement::from_json(item) {
            Ok(p) => placements.push(p),
            Err(e) => problems.push(json!({"index": index, "problems": e.problems})),
        }
    }
    if !problems.is_empty() {
        return Err(ApiError::bad_request(
            "invalid_placement",
            "some placements are invalid and nothing was stored",
        )
        .with_details(Value::Array(problems)));
    }
    let n = state
        .blocking(move |engine| engine.put_placements(placements))
        .await?;
    Ok(Json(json!({"upserted": n})))
}

pub async fn delete_placement(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    authorize(state.engine.keys(), &headers, None, Scope::Admin)?;
    let id2 = id.clone();
    state
        .blocking(move |engine| engine.delete_placement(&id2))
        .await?;
    Ok(Json(json!({"deleted": id})))
}

pub async fn get_decision(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    authorize(state.engine.keys(), &headers, None, Scope::Admin)?;
    let id2 = id.clone();
    let found = state.blocking(move |engine| engine.decision(&id2)).await?;
    let Some((record, rewards)) = found else {
        return Err(ApiError::not_found(format!(
            "no decision {id:?} in the log (decisions are written within a second)"
        )));
    };
    let body: Value = serde_json::from_str(&record.body).unwrap_or(Value::Null);
    Ok(Json(json!({
        "decisionId": record.id,
        "at": tailor_core::time::format_timestamp(record.at),
        "userId": record.user_id,
        "anonymousId": record.anonymous_id,
        "personalized": record.personalized,
        "shown": record.shown,
        "modelVersion": body.get("modelVersion"),
        "profile": body.get("profile"),
        "placements": body.get("placements"),
        "context": body.get("context"),
        "rewards": rewards.iter().map(|r| json!({
            "event": r.event, "value": r.value, "seq": r.seq, "at": tailor_core::time::format_timestamp(r.at)
        })).collect::<Vec<_>>(),
    })))
}

/// What a learning placement has learned (admin): per candidate, showings and rewards.
pub async fn get_policy(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    authorize(state.engine.keys(), &headers, None, Scope::Analyst)?;
    state
        .engine
        .policy_summary(&id)
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no placement {id:?}")))
}

#[derive(serde::Deserialize)]
pub struct ExportQuery {
    placement: Option<String>,
    limit: Option<usize>,
}

/// One placement's decision log in the Open Bandit Dataset's CSV format (admin), for
/// `tailor eval ope --logs`. The `x-tailor-items` header lists the item ids behind the
/// `item_id` indexes (a JSON array).
pub async fn export(
    State(state): State<AppState>,
    headers: HeaderMap,
    axum::extract::Query(q): axum::extract::Query<ExportQuery>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    authorize(state.engine.keys(), &headers, None, Scope::Analyst)?;
    let Some(placement) = q.placement else {
        return Err(ApiError::bad_request(
            "invalid_request",
            "name the placement: /v1/decisions/export?placement=promo.banner",
        ));
    };
    let limit = q.limit.unwrap_or(100_000).min(1_000_000);
    let export = state
        .blocking(move |engine| engine.export_decisions(&placement, limit))
        .await?;
    let items = serde_json::to_string(&export.items).unwrap_or_default();
    let items = axum::http::HeaderValue::from_str(&items)
        .unwrap_or_else(|_| axum::http::HeaderValue::from_static("[]"));
    Ok((
        [
            (
                axum::http::header::CONTENT_TYPE,
                axum::http::HeaderValue::from_static("text/csv; charset=utf-8"),
            ),
            (axum::http::HeaderName::from_static("x-tailor-items"), items),
        ],
        export.csv,
    )
        .into_response())
}
