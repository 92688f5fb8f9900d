//! The catalog: products under `/v1/catalog/products`, placement content under
//! `/v1/catalog/content`, and the category tree. Writes need the admin key and are
//! all-or-nothing: one invalid item and nothing is stored. Reads accept the write key,
//! so a storefront can list products.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::http::header::CONTENT_TYPE;
use serde::Deserialize;
use serde_json::{Value, json};
use tailor_core::{ContentItem, Product, ValidationError};
use tailor_engine::Scope;

use crate::AppState;
use crate::auth::authorize;
use crate::body::read_limited;
use crate::error::{ApiError, json_error};

/// Largest catalog upload in one request.
const MAX_CATALOG_BYTES: usize = 64 * 1024 * 1024;
const DEFAULT_PAGE: usize = 100;
const MAX_PAGE: usize = 1_000;

/// A JSON array, a single object, or NDJSON (one object per line).
fn items(headers: &HeaderMap, bytes: &[u8]) -> Result<Vec<Value>, ApiError> {
    let ndjson = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.contains("ndjson") || ct.contains("jsonlines"));
    if !ndjson {
        match serde_json::from_slice::<Value>(bytes) {
            Ok(Value::Array(items)) => return Ok(items),
            Ok(v @ Value::Object(_)) => return Ok(vec![v]),
            Ok(_) => {
                return Err(ApiError::bad_request(
                    "invalid_request",
                    "send a JSON array of objects, one object, or NDJSON",
                ));
            }
            // Several JSON values in a row: NDJSON without its content type.
            Err(e) if e.is_syntax() && e.to_string().contains("trailing characters") => {}
            Err(e) => return Err(json_error(e)),
        }
    }
    let text = std::str::from_utf8(bytes)
        .map_err(|_| ApiError::bad_request("invalid_json", "the body is not UTF-8"))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l)
                .map_err(|e| ApiError::bad_request("invalid_json", format!("line {}: {e}", i + 1)))
        })
        .collect()
}

/// Validates every item; reports all failures with their position and id.
fn validate_all<T>(
    values: Vec<Value>,
    what: &str,
    parse: impl Fn(Value) -> Result<T, ValidationError>,
) -> Result<Vec<T>, ApiError> {
    let mut ok = Vec::with_capacity(values.len());
    let mut bad = Vec::new();
    for (index, v) in values.into_iter().enumerate() {
        let id = v.get("id").cloned().unwrap_or(Value::Null);
        match parse(v) {
            Ok(item) => ok.push(item),
            Err(e) => bad.push(json!({"index": index, "id": id, "problems": e.problems})),
        }
    }
    if bad.is_empty() {
        return Ok(ok);
    }
    let first = &bad[0];
    let message = format!(
        "{} of {} {what}s are invalid and nothing was stored; first, at index {}: {}",
        bad.len(),
        ok.len() + bad.len(),
        first["index"],
        first["problems"]
            .as_array()
            .and_then(|p| p.first())
            .and_then(Value::as_str)
            .unwrap_or("invalid")
    );
    Err(ApiError::bad_request("invalid_catalog", message).with_details(Value::Array(bad)))
}

pub async fn put_products(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    authorize(state.engine.keys(), &headers, None, Scope::Admin)?;
    let bytes = read_limited(&headers, body, MAX_CATALOG_BYTES).await?;
    let products = validate_all(items(&headers, &bytes)?, "product", Product::from_json)?;
    let n = state
        .blocking(move |engine| engine.put_products(products))
        .await?;
    Ok(Json(json!({"upserted": n})))
}

#[derive(Deserialize)]
pub struct ListQuery {
    category: Option<String>,
    placement: Option<String>,
    limit: Option<usize>,
    offset: Option<usize>,
}

fn page<T: serde::Serialize>(all: Vec<Arc<T>>, q: &ListQuery, key: &str) -> Value {
    let limit = q.limit.unwrap_or(DEFAULT_PAGE).min(MAX_PAGE);
    let offset = q.offset.unwrap_or(0);
    let total = all.len();
    let items: Vec<&T> = all
        .iter()
        .skip(offset)
        .take(limit)
        .map(Arc::as_ref)
        .collect();
    json!({ key: items, "total": total, "offset": offset, "limit": limit })
}

pub async fn list_products(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    authorize(state.engine.keys(), &headers, None, Scope::Write)?;
    Ok(Json(page(
        state.engine.products(q.category.as_deref()),
        &q,
        "products",
    )))
}

pub async fn get_product(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    authorize(state.engine.keys(), &headers, None, Scope::Write)?;
    let p = state
        .engine
        .product(&id)
        .ok_or_else(|| ApiError::not_found(format!("product {id:?} not found")))?;
    Ok(Json(json!(p.as_ref())))
}

pub async fn delete_product(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    authorize(state.engine.keys(), &headers, None, Scope::Admin)?;
    let id2 = id.clone();
    state
        .blocking(move |engine| engine.delete_product(&id2))
        .await?;
    Ok(Json(json!({"deleted": id})))
}

pub async fn categories(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    authorize(state.engine.keys(), &headers, None, Scope::Write)?;
    Ok(Json(json!({"categories": state.engine.category_tree()})))
}

pub async fn put_content(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    authorize(state.engine.keys(), &headers, None, Scope::Admin)?;
    let bytes = read_limited(&headers, body, MAX_CATALOG_BYTES).await?;
    let content = validate_all(
        items(&headers, &bytes)?,
        "content item",
        ContentItem::from_json,
    )?;
    let n = state
        .blocking(move |engine| engine.put_content(content))
        .await?;
    Ok(Json(json!({"upserted": n})))
}

pub async fn list_content(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    authorize(state.engine.keys(), &headers, None, Scope::Write)?;
    Ok(Json(page(
        state.engine.content(q.placement.as_deref()),
        &q,
        "content",
    )))
}

pub async fn get_content(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    authorize(state.engine.keys(), &headers, None, Scope::Write)?;
    let c = state
        .engine
        .content_item(&id)
        .ok_or_else(|| ApiError::not_found(format!("content item {id:?} not found")))?;
    Ok(Json(json!(c.as_ref())))
}

pub async fn delete_content(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    authorize(state.engine.keys(), &headers, None, Scope::Admin)?;
    let id2 = id.clone();
    state
        .blocking(move |engine| engine.delete_content(&id2))
        .await?;
    Ok(Json(json!({"deleted": id})))
}
