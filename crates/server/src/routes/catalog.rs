//! The catalog: products under `/v1/catalog/products`, placement content under
//! `/v1/catalog/content`, and the category tree. Writes need the admin key and are
//! all-or-nothing: one invalid item and nothing is stored. Reads accept the write key,
//! so a storefront can list products.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::http::header::CONTENT_TYPE;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tailor_core::{ContentItem, Product, ValidationError};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::body::read_limited;
use crate::error::{ApiError, json_error};
use crate::extract::{Admin, ApiQuery, Authorized, Write};
use crate::routes::{Deleted, Upserted};

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

/// Upserts products: a JSON array, one object, or NDJSON (one per line), at most 64 MB. One
/// invalid product and nothing is stored (`invalid_catalog`, every problem in `details`).
#[utoipa::path(put, path = "/v1/catalog/products", tag = "catalog", security(("admin_key" = [])),
    request_body(content = Vec<Object>, description = "Products (`id`, `name`, `price`, `categories`, `attributes`, `inStock`, …)"),
    responses((status = 200, body = Upserted)))]
pub async fn put_products(
    _: Authorized<Admin>,
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Upserted>, ApiError> {
    let bytes = read_limited(&headers, body, MAX_CATALOG_BYTES).await?;
    let products = validate_all(items(&headers, &bytes)?, "product", Product::from_json)?;
    let n = state
        .blocking(move |engine| engine.put_products(products))
        .await?;
    Ok(Json(Upserted { upserted: n }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only products in this category (or below it).
    category: Option<String>,
    /// Only content for this placement.
    placement: Option<String>,
    /// At most this many (default 100, at most 1,000).
    limit: Option<usize>,
    /// Skip this many.
    offset: Option<usize>,
}

/// One page of a list.
#[derive(Serialize, ToSchema)]
pub struct Page<T> {
    total: usize,
    offset: usize,
    limit: usize,
    #[serde(flatten)]
    items: T,
}

#[derive(Serialize, ToSchema)]
pub struct Products {
    #[schema(value_type = Vec<Object>)]
    products: Vec<Arc<Product>>,
}

#[derive(Serialize, ToSchema)]
pub struct ContentItems {
    #[schema(value_type = Vec<Object>)]
    content: Vec<Arc<ContentItem>>,
}

fn page<T, L>(all: Vec<Arc<T>>, q: &ListQuery, wrap: impl FnOnce(Vec<Arc<T>>) -> L) -> Page<L> {
    let limit = q.limit.unwrap_or(DEFAULT_PAGE).min(MAX_PAGE);
    let offset = q.offset.unwrap_or(0);
    let total = all.len();
    let items = all.into_iter().skip(offset).take(limit).collect();
    Page {
        total,
        offset,
        limit,
        items: wrap(items),
    }
}

/// Lists products, a page at a time.
#[utoipa::path(get, path = "/v1/catalog/products", tag = "catalog", security(("write_key" = [])),
    params(ListQuery), responses((status = 200, body = Page<Products>)))]
pub async fn list_products(
    _: Authorized<Write>,
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Json<Page<Products>> {
    let all = state.engine.products(q.category.as_deref());
    Json(page(all, &q, |products| Products { products }))
}

/// One product.
#[utoipa::path(get, path = "/v1/catalog/products/{id}", tag = "catalog", security(("write_key" = [])),
    params(("id" = String, Path)), responses((status = 200, body = Object)))]
pub async fn get_product(
    _: Authorized<Write>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Arc<Product>>, ApiError> {
    state
        .engine
        .product(&id)
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("product {id:?} not found")))
}

/// Deletes a product.
#[utoipa::path(delete, path = "/v1/catalog/products/{id}", tag = "catalog", security(("admin_key" = [])),
    params(("id" = String, Path)), responses((status = 200, body = Deleted)))]
pub async fn delete_product(
    _: Authorized<Admin>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Deleted>, ApiError> {
    let id2 = id.clone();
    state
        .blocking(move |engine| engine.delete_product(&id2))
        .await?;
    Ok(Json(Deleted { deleted: id }))
}

#[derive(Serialize, ToSchema)]
pub struct Categories {
    /// The category tree: `{name, path, children, products}` per node.
    #[schema(value_type = Vec<Object>)]
    categories: Vec<tailor_engine::catalog::CategoryNode>,
}

/// The category tree.
#[utoipa::path(get, path = "/v1/catalog/categories", tag = "catalog", security(("write_key" = [])),
    responses((status = 200, body = Categories)))]
pub async fn categories(_: Authorized<Write>, State(state): State<AppState>) -> Json<Categories> {
    Json(Categories {
        categories: state.engine.category_tree(),
    })
}

/// Upserts placement content (banners, promotions, messages), as products are.
#[utoipa::path(put, path = "/v1/catalog/content", tag = "catalog", security(("admin_key" = [])),
    request_body(content = Vec<Object>, description = "Content items (`id`, `kind`, `placements`, `title`, `targeting`, …)"),
    responses((status = 200, body = Upserted)))]
pub async fn put_content(
    _: Authorized<Admin>,
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Upserted>, ApiError> {
    let bytes = read_limited(&headers, body, MAX_CATALOG_BYTES).await?;
    let content = validate_all(
        items(&headers, &bytes)?,
        "content item",
        ContentItem::from_json,
    )?;
    let n = state
        .blocking(move |engine| engine.put_content(content))
        .await?;
    Ok(Json(Upserted { upserted: n }))
}

/// Lists placement content, a page at a time.
#[utoipa::path(get, path = "/v1/catalog/content", tag = "catalog", security(("write_key" = [])),
    params(ListQuery), responses((status = 200, body = Page<ContentItems>)))]
pub async fn list_content(
    _: Authorized<Write>,
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Json<Page<ContentItems>> {
    let all = state.engine.content(q.placement.as_deref());
    Json(page(all, &q, |content| ContentItems { content }))
}

/// One content item.
#[utoipa::path(get, path = "/v1/catalog/content/{id}", tag = "catalog", security(("write_key" = [])),
    params(("id" = String, Path)), responses((status = 200, body = Object)))]
pub async fn get_content(
    _: Authorized<Write>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Arc<ContentItem>>, ApiError> {
    state
        .engine
        .content_item(&id)
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("content item {id:?} not found")))
}

/// Deletes a content item.
#[utoipa::path(delete, path = "/v1/catalog/content/{id}", tag = "catalog", security(("admin_key" = [])),
    params(("id" = String, Path)), responses((status = 200, body = Deleted)))]
pub async fn delete_content(
    _: Authorized<Admin>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Deleted>, ApiError> {
    let id2 = id.clone();
    state
        .blocking(move |engine| engine.delete_content(&id2))
        .await?;
    Ok(Json(Deleted { deleted: id }))
}
