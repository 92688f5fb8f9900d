//! analytics.js as a drop-in: what `@segment/analytics-next` (1.84) asks of its API and CDN
//! hosts, so a store points `cdnURL` at Tailor and changes nothing else.
//!
//! - `GET /v1/projects/{writeKey}/settings`: the settings document it loads first. It
//!   enables one destination, `Segment.io`, pointed back at this server (`apiHost` is the
//!   host the browser reached, plus `/v1`), and turns off what would call Segment itself
//!   (remote metrics, device-mode integrations, remote plugins and middleware).
//! - `POST /v1/t`, `/i`, `/p`, `/s`, `/g`, `/a`: one message each (track, identify, page,
//!   screen, group, alias), and `/v1/b` a batch (its `batching` delivery strategy). Bodies
//!   are `text/plain` JSON with `writeKey` inside; 1.8x also sends the key as HTTP Basic.
//!   They are the long routes under other names: the same functions, limits and answers.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::header::{CACHE_CONTROL, HOST, REFERER};
use axum::response::IntoResponse;
use serde_json::{Value, json};
use tailor_core::MessageType;

use super::ingest::{self, Reply};
use crate::AppState;
use crate::extract::{Browser, KeyInPath, SegmentBatch, SegmentMessage};

/// analytics.js's track (`/v1/track` under its short name).
#[utoipa::path(post, path = "/v1/t", tag = "analytics.js", security(("write_key" = [])),
    request_body(content = Object, description = "A track message as analytics.js sends it: `text/plain` JSON with `writeKey`; as `/v1/track`", content_type = "text/plain"),
    responses((status = 200, body = ingest::Receipt)))]
pub async fn t(s: State<AppState>, m: SegmentMessage) -> Reply {
    ingest::single(s, m, MessageType::Track).await
}

/// analytics.js's identify (`/v1/identify`).
#[utoipa::path(post, path = "/v1/i", tag = "analytics.js", security(("write_key" = [])),
    request_body(content = Object, description = "An identify message, `text/plain` JSON with `writeKey`; as `/v1/identify`", content_type = "text/plain"),
    responses((status = 200, body = ingest::Receipt)))]
pub async fn i(s: State<AppState>, m: SegmentMessage) -> Reply {
    ingest::single(s, m, MessageType::Identify).await
}

/// analytics.js's page (`/v1/page`).
#[utoipa::path(post, path = "/v1/p", tag = "analytics.js", security(("write_key" = [])),
    request_body(content = Object, description = "A page message, `text/plain` JSON with `writeKey`; as `/v1/page`", content_type = "text/plain"),
    responses((status = 200, body = ingest::Receipt)))]
pub async fn p(s: State<AppState>, m: SegmentMessage) -> Reply {
    ingest::single(s, m, MessageType::Page).await
}

/// analytics.js's screen (`/v1/screen`).
#[utoipa::path(post, path = "/v1/s", tag = "analytics.js", security(("write_key" = [])),
    request_body(content = Object, description = "A screen message, `text/plain` JSON with `writeKey`; as `/v1/screen`", content_type = "text/plain"),
    responses((status = 200, body = ingest::Receipt)))]
pub async fn s(s: State<AppState>, m: SegmentMessage) -> Reply {
    ingest::single(s, m, MessageType::Screen).await
}

/// analytics.js's group (`/v1/group`).
#[utoipa::path(post, path = "/v1/g", tag = "analytics.js", security(("write_key" = [])),
    request_body(content = Object, description = "A group message, `text/plain` JSON with `writeKey`; as `/v1/group`", content_type = "text/plain"),
    responses((status = 200, body = ingest::Receipt)))]
pub async fn g(s: State<AppState>, m: SegmentMessage) -> Reply {
    ingest::single(s, m, MessageType::Group).await
}

/// analytics.js's alias (`/v1/alias`).
#[utoipa::path(post, path = "/v1/a", tag = "analytics.js", security(("write_key" = [])),
    request_body(content = Object, description = "An alias message, `text/plain` JSON with `writeKey`; as `/v1/alias`", content_type = "text/plain"),
    responses((status = 200, body = ingest::Receipt)))]
pub async fn a(s: State<AppState>, m: SegmentMessage) -> Reply {
    ingest::single(s, m, MessageType::Alias).await
}

/// analytics.js's batch (`/v1/batch`), sent with its `batching` delivery strategy.
#[utoipa::path(post, path = "/v1/b", tag = "analytics.js", security(("write_key" = [])),
    request_body(content = Object, description = "`{\"writeKey\", \"batch\": [message, …], \"sentAt\"}` as `text/plain` JSON; as `/v1/batch`", content_type = "text/plain"),
    responses((status = 200, body = ingest::Receipt)))]
pub async fn b(s: State<AppState>, batch: SegmentBatch) -> Reply {
    ingest::batch(s, batch).await
}

/// The settings document analytics.js loads from `{cdnURL}/v1/projects/{writeKey}/settings`:
/// only the `Segment.io` destination, sending to this server. Only a public (browser) key
/// is answered: a secret key in a page is refused here, before it ships.
#[utoipa::path(get, path = "/v1/projects/{writeKey}/settings", tag = "analytics.js",
    security(("write_key" = [])),
    params(("writeKey" = String, Path, description = "The public write key, as analytics.js puts it in the URL")),
    responses((status = 200, content_type = "application/json", body = Object,
        description = "analytics.js's CDN settings: `integrations.Segment.io` pointed at this server")))]
pub async fn settings(who: KeyInPath<Browser>, headers: HeaderMap) -> impl IntoResponse {
    let host = headers
        .get(HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| !h.is_empty() && !h.contains(['/', '\\', '@', ' ']))
        .unwrap_or("localhost");
    let document = settings_document(&who.key, host, protocol(&headers));
    // Private: the document names the host the request reached, so a shared cache must not
    // hand one host's answer to another.
    ([(CACHE_CONTROL, "private, max-age=300")], Json(document))
}

/// The scheme the browser should post with: what a TLS-terminating proxy says it received;
/// else `https` when the page itself is (it may only post to https), else `http`, the one
/// Tailor speaks.
fn protocol(headers: &HeaderMap) -> &'static str {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim().to_ascii_lowercase())
    };
    match text("x-forwarded-proto").as_deref() {
        Some("https") => return "https",
        Some("http") => return "http",
        _ => {}
    }
    let page_is_https = [text("origin"), text(REFERER.as_str())]
        .into_iter()
        .flatten()
        .any(|v| v.starts_with("https://"));
    if page_is_https { "https" } else { "http" }
}

/// The minimal document analytics-next 1.84 accepts (its `CDNSettings`).
fn settings_document(write_key: &str, host: &str, protocol: &str) -> Value {
    json!({
        "integrations": {
            "Segment.io": {
                "apiKey": write_key,
                "apiHost": format!("{host}/v1"),
                "protocol": protocol,
                // Segment's bookkeeping of which destinations ran in the browser: none here.
                "addBundledMetadata": false,
                "unbundledIntegrations": [],
                "maybeBundledConfigIds": {},
                "versionSettings": {"componentTypes": ["browser"]},
            }
        },
        "plan": {
            "track": {"__default": {"enabled": true, "integrations": {}}},
            "identify": {"__default": {"enabled": true}},
            "group": {"__default": {"enabled": true}},
        },
        // Without a sample rate of 0, analytics.js posts its own metrics to Segment.
        "metrics": {"sampleRate": 0},
        "middlewareSettings": {},
        "enabledMiddleware": {},
        "legacyVideoPluginsEnabled": false,
        "remotePlugins": [],
        "edgeFunction": {},
        "analyticsNextEnabled": true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scheme_follows_the_proxy_then_the_page() {
        let with = |pairs: &[(&'static str, &str)]| {
            let mut h = HeaderMap::new();
            for (k, v) in pairs {
                h.insert(*k, v.parse().expect("header"));
            }
            protocol(&h)
        };
        assert_eq!(with(&[]), "http");
        assert_eq!(with(&[("x-forwarded-proto", "https")]), "https");
        assert_eq!(
            with(&[("x-forwarded-proto", "http"), ("origin", "https://a.test")]),
            "http"
        );
        assert_eq!(with(&[("origin", "https://shop.test")]), "https");
        assert_eq!(with(&[("referer", "https://shop.test/cart")]), "https");
        assert_eq!(with(&[("referer", "http://localhost:3000/")]), "http");
    }
}
