//! Reading request bodies within a size limit, gzip included, before anything is parsed.

use std::io::Read;

use axum::body::{Body, Bytes};
use axum::http::HeaderMap;
use axum::http::header::{CONTENT_ENCODING, CONTENT_LENGTH};

use crate::error::ApiError;

/// Oversized bodies up to this many times the limit are read (and dropped) before the 413.
const DRAIN_FACTOR: usize = 4;

/// Reads the whole body, refusing with 413 past `limit` bytes (after decompression).
pub async fn read_limited(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<Bytes, ApiError> {
    let too_large = || {
        ApiError::too_large(format!(
            "the body is larger than the limit of {} KB",
            limit / 1024
        ))
    };
    if let Some(len) = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        && len > limit
    {
        // Read a moderately oversized body before refusing it: answering while the client
        // is still sending makes it see a broken pipe instead of our 413.
        if len <= DRAIN_FACTOR * limit {
            let _ = axum::body::to_bytes(body, len).await;
        }
        return Err(too_large());
    }
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|e| {
        if format!("{e:?}").contains("LengthLimit") {
            too_large()
        } else if timed_out(&e) {
            ApiError::new(
                axum::http::StatusCode::REQUEST_TIMEOUT,
                "body_timeout",
                "the request body took too long to arrive; send it at once",
            )
        } else {
            ApiError::bad_request("invalid_body", format!("could not read the body: {e}"))
        }
    })?;
    match headers
        .get(CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
    {
        None | Some("identity") | Some("") => Ok(bytes),
        Some("gzip") => {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(&bytes[..])
                .take(limit as u64 + 1)
                .read_to_end(&mut out)
                .map_err(|e| {
                    ApiError::bad_request(
                        "invalid_body",
                        format!("the gzip body could not be decoded: {e}"),
                    )
                })?;
            if out.len() > limit {
                return Err(too_large());
            }
            Ok(Bytes::from(out))
        }
        Some(other) => Err(ApiError::new(
            axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_encoding",
            format!("Content-Encoding {other:?} is not supported; send identity or gzip"),
        )),
    }
}

/// Whether reading the body failed because it was too slow (`connections::TimedBody`).
fn timed_out(e: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(error) = source {
        if error.is::<crate::connections::BodyTimedOut>() {
            return true;
        }
        source = error.source();
    }
    false
}
