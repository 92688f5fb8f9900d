//! `GET /sdk/tailor.js`: the storefront SDK (`sdk/web`), built into the binary so a page
//! imports the version that matches this server's API.

use axum::http::HeaderValue;
use axum::http::header::{ACCESS_CONTROL_ALLOW_ORIGIN, CACHE_CONTROL, CONTENT_TYPE};
use axum::response::IntoResponse;

/// The module's source, embedded at compile time.
pub const TAILOR_JS: &str = include_str!("../../../../sdk/web/tailor.js");

/// The storefront SDK, an ES module (`import { Tailor } from "…/sdk/tailor.js"`). Any page
/// may import it: it is code, with no data in it, and module scripts are fetched with CORS.
#[utoipa::path(get, path = "/sdk/tailor.js", tag = "operations",
    responses((status = 200, content_type = "text/javascript", body = String)))]
pub async fn tailor_js() -> impl IntoResponse {
    (
        [
            (
                CONTENT_TYPE,
                HeaderValue::from_static("text/javascript; charset=utf-8"),
            ),
            (ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*")),
            (
                CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=300"),
            ),
        ],
        TAILOR_JS,
    )
}
