//! CORS for the routes a browser calls: the ones the OpenAPI document says take the public
//! write key or a shopper's profile token (ingest, analytics.js's short paths and settings,
//! `decide`, quizzes and preferences, `/v1/me/*`). Routes for secret keys (admin, analyst,
//! server) never answer CORS: a page has no business calling them, so a browser refuses to.
//!
//! Allowed origins are configured (`--cors-origins`, `TAILOR_CORS_ORIGINS`, `cors_origins`):
//! none by default, `*` for any page, or a list of exact origins. Tailor never asks for
//! credentials (keys travel in `Authorization` or the body, never in cookies), so `*` is
//! safe to use and `Access-Control-Allow-Credentials` is never sent.
//!
//! Hand-written rather than tower-http's `CorsLayer`: it answers a preflight `204` with the
//! route's own methods, refuses an unlisted origin with a JSON error a developer can read in
//! the network panel, and learns which routes are public from the document, not a list.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE, ACCESS_CONTROL_REQUEST_METHOD, ORIGIN,
    VARY,
};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::openapi::{PROFILE_TOKEN, WRITE_KEY};

/// Request headers a page may send: the key (`Authorization`, as analytics.js sends it since
/// 1.8x), the body's type (`text/plain` or JSON), and analytics.js's retry counter.
const ALLOWED_HEADERS: &str = "Authorization, Content-Type, X-Retry-Count";
/// Response headers a page may read: analytics.js waits as long as a 429's `Retry-After` says.
const EXPOSED_HEADERS: &str = "Retry-After";
/// How long a browser may reuse a preflight's answer (Chromium caps it at two hours).
const MAX_AGE_SECS: &str = "7200";
const VARY_ON: &str = "Origin, Access-Control-Request-Method, Access-Control-Request-Headers";

/// Which pages may call the public routes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum CorsOrigins {
    /// None: only pages served by Tailor itself (same origin). The default.
    #[default]
    None,
    /// Any page (`*`).
    Any,
    /// These origins exactly (`https://shop.example.com`), normalized.
    List(Vec<String>),
}

impl CorsOrigins {
    /// Parses a comma-separated list of origins, or `*`; blank is none.
    pub fn parse(text: &str) -> Result<CorsOrigins, String> {
        let entries: Vec<&str> = text
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .collect();
        if entries.is_empty() {
            return Ok(CorsOrigins::None);
        }
        if entries.contains(&"*") {
            if entries.len() > 1 {
                return Err("cors_origins: `*` allows any origin; list no others beside it".into());
            }
            return Ok(CorsOrigins::Any);
        }
        entries
            .into_iter()
            .map(normalize_origin)
            .collect::<Result<Vec<_>, _>>()
            .map(CorsOrigins::List)
    }

    /// Adds `origin` (a page Tailor serves itself, such as the demo storefront).
    pub fn with(self, origin: &str) -> CorsOrigins {
        let Ok(origin) = normalize_origin(origin) else {
            return self;
        };
        match self {
            CorsOrigins::Any => CorsOrigins::Any,
            CorsOrigins::None => CorsOrigins::List(vec![origin]),
            CorsOrigins::List(mut list) => {
                if !list.contains(&origin) {
                    list.push(origin);
                }
                CorsOrigins::List(list)
            }
        }
    }

    /// The `Access-Control-Allow-Origin` value for a request from `origin`, if allowed.
    fn allow(&self, origin: &str) -> Option<HeaderValue> {
        match self {
            CorsOrigins::None => None,
            CorsOrigins::Any => Some(HeaderValue::from_static("*")),
            CorsOrigins::List(list) => {
                let origin = normalize_origin(origin).ok()?;
                list.contains(&origin)
                    .then(|| HeaderValue::from_str(&origin).ok())
                    .flatten()
            }
        }
    }
}

/// `scheme://host[:port]`, lowercased, without a trailing slash; anything else is refused.
fn normalize_origin(text: &str) -> Result<String, String> {
    let origin = text.trim().trim_end_matches('/').to_ascii_lowercase();
    let host = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
        .ok_or_else(|| {
            format!("cors_origins: {text:?} is not an origin such as https://shop.example.com")
        })?;
    if host.is_empty() || host.contains(['/', '?', '#', '@', ' ', '*']) {
        return Err(format!(
            "cors_origins: {text:?} is not an origin (scheme, host and port only, such as https://shop.example.com)"
        ));
    }
    Ok(origin)
}

/// The configuration and the public routes (route template → methods), built once with the
/// router.
pub(crate) struct Cors {
    origins: CorsOrigins,
    routes: HashMap<String, Vec<Method>>,
}

impl Cors {
    /// Public routes are those whose documented security names the write key or a profile
    /// token: what a browser holds.
    pub(crate) fn new(origins: CorsOrigins, document: &utoipa::openapi::OpenApi) -> Cors {
        let mut routes: HashMap<String, Vec<Method>> = HashMap::new();
        for (path, item) in &document.paths.paths {
            for (method, op) in [
                (Method::GET, &item.get),
                (Method::PUT, &item.put),
                (Method::POST, &item.post),
                (Method::DELETE, &item.delete),
                (Method::PATCH, &item.patch),
            ] {
                let Some(op) = op else { continue };
                let security = serde_json::to_value(&op.security).unwrap_or_default();
                let browser = security
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|s| s.get(WRITE_KEY).is_some() || s.get(PROFILE_TOKEN).is_some());
                if browser {
                    routes.entry(path.clone()).or_default().push(method);
                }
            }
        }
        Cors { origins, routes }
    }

    fn methods(&self, route: &str) -> Option<&[Method]> {
        self.routes.get(route).map(Vec::as_slice)
    }
}

/// The middleware: answers preflights of public routes and marks their answers.
pub(crate) async fn handle(State(cors): State<Arc<Cors>>, req: Request, next: Next) -> Response {
    let methods = req
        .extensions()
        .get::<MatchedPath>()
        .and_then(|p| cors.methods(p.as_str()));
    let Some(methods) = methods else {
        return next.run(req).await;
    };
    let origin = header(req.headers(), ORIGIN);
    let preflight = req.method() == Method::OPTIONS
        && req.headers().contains_key(ACCESS_CONTROL_REQUEST_METHOD);
    if preflight {
        return answer_preflight(&cors.origins, methods, origin.as_deref(), req.headers());
    }
    let mut response = next.run(req).await;
    let headers = response.headers_mut();
    headers.append(VARY, HeaderValue::from_static("Origin"));
    if let Some(allowed) = origin.as_deref().and_then(|o| cors.origins.allow(o)) {
        headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, allowed);
        headers.insert(
            ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(EXPOSED_HEADERS),
        );
    }
    response
}

fn answer_preflight(
    origins: &CorsOrigins,
    methods: &[Method],
    origin: Option<&str>,
    request: &HeaderMap,
) -> Response {
    let vary = (VARY, HeaderValue::from_static(VARY_ON));
    let Some(allowed) = origin.and_then(|o| origins.allow(o)) else {
        let message = match origins {
            CorsOrigins::None => "no page of another origin may call Tailor: set cors_origins (TAILOR_CORS_ORIGINS) to the store's origins".to_string(),
            _ => format!(
                "the origin {:?} is not in cors_origins (TAILOR_CORS_ORIGINS)",
                origin.unwrap_or_default()
            ),
        };
        let error = ApiError::new(StatusCode::FORBIDDEN, "cors_origin_not_allowed", message);
        return ([vary], error).into_response();
    };
    let wanted = header(request, ACCESS_CONTROL_REQUEST_METHOD).unwrap_or_default();
    if !methods.iter().any(|m| m.as_str() == wanted) {
        let error = ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            format!("{wanted} is not allowed on this route"),
        );
        return ([vary], error).into_response();
    }
    let listed = methods
        .iter()
        .map(Method::as_str)
        .chain(["OPTIONS"])
        .collect::<Vec<_>>()
        .join(", ");
    let listed = HeaderValue::from_str(&listed).unwrap_or(HeaderValue::from_static("OPTIONS"));
    (
        StatusCode::NO_CONTENT,
        [
            vary,
            (ACCESS_CONTROL_ALLOW_ORIGIN, allowed),
            (ACCESS_CONTROL_ALLOW_METHODS, listed),
            (
                ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static(ALLOWED_HEADERS),
            ),
            (
                ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static(MAX_AGE_SECS),
            ),
        ],
    )
        .into_response()
}

fn header(headers: &HeaderMap, name: axum::http::HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_parse_and_match_exactly() {
        assert_eq!(CorsOrigins::parse(" "), Ok(CorsOrigins::None));
        assert_eq!(CorsOrigins::parse("*"), Ok(CorsOrigins::Any));
        assert!(CorsOrigins::parse("*, https://a.example").is_err());
        assert!(CorsOrigins::parse("shop.example.com").is_err());
        assert!(CorsOrigins::parse("https://shop.example.com/path").is_err());
        let list = CorsOrigins::parse("https://Shop.example.com/, http://localhost:3000")
            .expect("origins");
        assert_eq!(
            list,
            CorsOrigins::List(vec![
                "https://shop.example.com".into(),
                "http://localhost:3000".into()
            ])
        );
        assert_eq!(
            list.allow("https://shop.example.com"),
            Some(HeaderValue::from_static("https://shop.example.com"))
        );
        assert_eq!(list.allow("https://shop.example.com.evil.test"), None);
        assert_eq!(list.allow("http://shop.example.com"), None);
        assert_eq!(list.allow("null"), None);
        assert_eq!(CorsOrigins::None.allow("https://shop.example.com"), None);
        let demo = CorsOrigins::None.with("http://127.0.0.1:8080");
        assert_eq!(
            demo,
            CorsOrigins::List(vec!["http://127.0.0.1:8080".into()])
        );
        assert_eq!(CorsOrigins::Any.with("http://x.test"), CorsOrigins::Any);
    }
}
