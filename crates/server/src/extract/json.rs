//! Typed request bodies and query strings. A body is read within its size limit (gzip
//! included), then deserialized with `serde_path_to_error`, so a wrong shape answers
//! `400 invalid_request` naming the field, e.g. `placements[2]: invalid type: integer `7`,
//! expected a string`; broken JSON answers `400 invalid_json`.

use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::body::read_limited;
use crate::error::{ApiError, json_error};

/// The limit of a body when the route names none.
pub const DEFAULT_LIMIT: usize = 32 * 1024;

/// A JSON body of type `T`, at most `LIMIT` bytes (after decompression).
pub struct ApiJson<T, const LIMIT: usize = DEFAULT_LIMIT>(pub T);

impl<S, T, const LIMIT: usize> FromRequest<S> for ApiJson<T, LIMIT>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, _: &S) -> Result<Self, ApiError> {
        let (parts, body) = req.into_parts();
        let bytes = read_limited(&parts.headers, body, LIMIT).await?;
        parse(&bytes).map(ApiJson)
    }
}

/// Deserializes `bytes` as `T`; errors name the field path.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(path_error)?;
    de.end().map_err(json_error)?;
    Ok(value)
}

/// Syntax errors are `invalid_json`; a wrong shape is `invalid_request` with the path.
fn path_error(e: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    if e.inner().is_data() {
        ApiError::bad_request(
            "invalid_request",
            format!("the body has the wrong shape: {e}"),
        )
    } else {
        json_error(e.into_inner())
    }
}

/// A query string of type `T`; a bad one answers `400 invalid_request`.
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        Query::try_from_uri(&parts.uri)
            .map(|Query(q)| ApiQuery(q))
            .map_err(|e| ApiError::bad_request("invalid_request", e.body_text()))
    }
}

/// A definition PUT under `/…/{id}` (experiments, quizzes, journeys): a JSON object whose
/// `id` defaults to the URL's and must equal it, then deserialized as `T`.
pub struct Definition<T, const LIMIT: usize = DEFAULT_LIMIT>(pub T);

impl<S, T, const LIMIT: usize> FromRequest<S> for Definition<T, LIMIT>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let (mut parts, body) = req.into_parts();
        let Path(id) = Path::<String>::from_request_parts(&mut parts, state)
            .await
            .map_err(|e| ApiError::bad_request("invalid_request", e.body_text()))?;
        let bytes = read_limited(&parts.headers, body, LIMIT).await?;
        let mut v: Value = parse(&bytes)?;
        if let Some(o) = v.as_object_mut() {
            o.entry("id").or_insert_with(|| Value::String(id.clone()));
        }
        if v.get("id").and_then(Value::as_str) != Some(id.as_str()) {
            return Err(ApiError::bad_request(
                "invalid_request",
                "the definition's `id` must match the URL",
            ));
        }
        serde_path_to_error::deserialize(v)
            .map(Definition)
            .map_err(|e| {
                ApiError::bad_request(
                    "invalid_request",
                    format!("the body has the wrong shape: {e}"),
                )
            })
    }
}
