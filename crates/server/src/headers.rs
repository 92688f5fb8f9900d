//! Security headers on every response. Pages (`text/html`: the admin console, and the
//! demo's storefront when a binary merges it in) get a Content Security Policy that runs
//! scripts and styles only from this server's own files, never inline, so markup that
//! slipped into a page could not run; may not be framed (clickjacking); and send no
//! referrer to other sites. Every response is `nosniff`, so a JSON answer that echoes input
//! is never read as HTML or script.
//!
//! A response that sets one of these headers itself keeps its own.

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::http::header::{
    CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::middleware::Next;
use axum::response::Response;

/// The pages' policy: scripts, styles and requests to this server only (no inline script or
/// style: the pages load theirs from files); images also from `https:` and `data:` (product
/// pictures live on the store's CDN); forms post here only; no plugins, no `<base>`, no
/// framing.
pub const PAGE_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' https: data:; connect-src 'self'; form-action 'self'; base-uri 'none'; \
     frame-ancestors 'none'";

/// The middleware (the outermost layer, so errors and `429`s get the headers too).
pub async fn secure(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers
        .entry(X_CONTENT_TYPE_OPTIONS)
        .or_insert(HeaderValue::from_static("nosniff"));
    let html = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("text/html"));
    if html {
        headers
            .entry(CONTENT_SECURITY_POLICY)
            .or_insert(HeaderValue::from_static(PAGE_POLICY));
        // For browsers older than `frame-ancestors`.
        headers
            .entry(X_FRAME_OPTIONS)
            .or_insert(HeaderValue::from_static("DENY"));
        headers
            .entry(REFERRER_POLICY)
            .or_insert(HeaderValue::from_static("same-origin"));
    }
    response
}
