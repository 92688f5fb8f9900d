//! Who is calling: the key from `Authorization` (HTTP Basic with the key as user name, as
//! Segment's libraries send it, or `Bearer KEY`), or Segment's `writeKey` in the body.

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use base64::Engine as _;
use tailor_engine::{Keys, Scope};

use crate::error::ApiError;

/// The key the request presents, from the header.
pub fn header_key(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, rest) = value.split_once(' ')?;
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        return Some(rest.to_string());
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest)
            .ok()?;
        let text = String::from_utf8(decoded).ok()?;
        // Segment: the write key is the user name, the password is empty. Without a colon
        // the whole value is the key (older clients).
        return Some(
            text.split_once(':')
                .map_or(text.clone(), |(user, _)| user.to_string()),
        );
    }
    None
}

/// Checks the presented key grants `needed`.
pub fn authorize(
    keys: &Keys,
    headers: &HeaderMap,
    body_key: Option<&str>,
    needed: Scope,
) -> Result<Scope, ApiError> {
    let key = header_key(headers)
        .or_else(|| body_key.map(str::to_string))
        .filter(|k| !k.is_empty());
    let Some(key) = key else {
        return Err(ApiError::unauthorized(match needed {
            Scope::Write => {
                "a write key is required: HTTP Basic with the key as user name, `Authorization: Bearer KEY`, or `writeKey` in the body"
            }
            Scope::Admin => "the admin key is required: `Authorization: Bearer ADMIN_KEY`",
            Scope::Analyst => {
                "the analyst or the admin key is required: `Authorization: Bearer KEY`"
            }
        }));
    };
    match keys.scope_of(&key) {
        None => Err(ApiError::unauthorized(
            "the key is not valid for this server",
        )),
        Some(scope) if !scope.grants(needed) => Err(ApiError::forbidden(match needed {
            Scope::Admin => "this needs the admin key",
            Scope::Analyst => "this report needs the analyst or the admin key",
            Scope::Write => "this needs the write key (or the admin key)",
        })),
        Some(scope) => Ok(scope),
    }
}
