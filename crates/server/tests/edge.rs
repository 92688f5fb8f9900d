//! The HTTP edge driven in-process (`tower::ServiceExt::oneshot`, no socket): each scope
//! extractor, errors that name the field path, and the OpenAPI document against the router.

use std::collections::BTreeSet;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::{Value, json};
use tailor_testkit::{
    ADMIN_KEY as ADMIN, ANALYST_KEY as ANALYST, SERVER_KEY as SERVER, TestApp, WRITE_KEY as WRITE,
};
use tower::ServiceExt;

/// testkit's router harness, answering as these tests read it: a typed status, and `null`
/// for a body that is not JSON.
struct Harness {
    app: TestApp,
}

async fn harness() -> Harness {
    Harness {
        app: TestApp::start().await,
    }
}

impl Harness {
    async fn call(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.app.request(method, path);
        if let Some(k) = key {
            req = req.bearer(k);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let reply = req.reply().await;
        (
            StatusCode::from_u16(reply.status).expect("a status"),
            serde_json::from_str(&reply.text).unwrap_or(Value::Null),
        )
    }

    /// A request built by hand (content types, bodies that are not JSON).
    async fn send(&self, req: Request<Body>) -> (StatusCode, Value) {
        let resp = self
            .app
            .router()
            .clone()
            .oneshot(req)
            .await
            .expect("infallible");
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .expect("body");
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_scope_extractor_refuses_no_key_wrong_scope_and_admits_the_right_one() {
    let h = harness().await;
    // (route, the keys it refuses with 403, the keys it admits)
    let cases: [(Method, &str, &[&str], &[&str]); 5] = [
        // Authorized<Admin>
        (
            Method::GET,
            "/v1/journeys",
            &[WRITE, SERVER, ANALYST],
            &[ADMIN],
        ),
        // Authorized<Analyst>
        (
            Method::GET,
            "/v1/models",
            &[WRITE, SERVER],
            &[ANALYST, ADMIN],
        ),
        // Authorized<Write>
        (
            Method::GET,
            "/v1/placements",
            &[ANALYST],
            &[WRITE, SERVER, ADMIN],
        ),
        // Authorized<Write> through a Segment body
        (
            Method::POST,
            "/v1/track",
            &[ANALYST],
            &[WRITE, SERVER, ADMIN],
        ),
        // Authorized<Server>
        (
            Method::POST,
            "/v1/tokens",
            &[WRITE, ANALYST],
            &[SERVER, ADMIN],
        ),
    ];
    // A browser's event names its own visitor; the userId claim is kept aside without proof.
    let event = json!({"userId": "u1", "anonymousId": "a1", "event": "Product Viewed"});
    for (method, path, refused, admitted) in cases {
        let body = (method == Method::POST).then(|| event.clone());
        let (status, reply) = h.call(method.clone(), path, None, body.clone()).await;
        assert_eq!(
            (status, code(&reply)),
            (StatusCode::UNAUTHORIZED, "unauthorized"),
            "{path} without a key: {reply}"
        );
        let (status, reply) = h
            .call(method.clone(), path, Some("not-a-key"), body.clone())
            .await;
        assert_eq!(
            (status, code(&reply)),
            (StatusCode::UNAUTHORIZED, "unauthorized"),
            "{path} with an unknown key: {reply}"
        );
        for key in refused {
            let (status, reply) = h.call(method.clone(), path, Some(key), body.clone()).await;
            assert_eq!(
                (status, code(&reply)),
                (StatusCode::FORBIDDEN, "forbidden"),
                "{path} with {key}: {reply}"
            );
        }
        for key in admitted {
            let (status, reply) = h.call(method.clone(), path, Some(key), body.clone()).await;
            assert_eq!(status, StatusCode::OK, "{path} with {key}: {reply}");
        }
    }

    // Segment's `writeKey` in a text/plain body (analytics.js) stands in for the header.
    let mut with_key = event.clone();
    with_key["writeKey"] = json!(WRITE);
    let req = Request::post("/v1/track")
        .header("Content-Type", "text/plain")
        .body(Body::from(with_key.to_string()))
        .expect("request");
    let (status, reply) = h.send(req).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(reply["success"], true);
    let batch = json!({"writeKey": "wrong", "batch": [event]});
    let req = Request::post("/v1/batch")
        .body(Body::from(batch.to_string()))
        .expect("request");
    let (status, reply) = h.send(req).await;
    assert_eq!(
        (status, code(&reply)),
        (StatusCode::UNAUTHORIZED, "unauthorized"),
        "{reply}"
    );

    // Shopper: a profile token, for `/v1/me*` only.
    let (status, reply) = h.call(Method::GET, "/v1/me", None, None).await;
    assert_eq!(
        (status, code(&reply)),
        (StatusCode::UNAUTHORIZED, "unauthorized"),
        "{reply}"
    );
    let (status, reply) = h.call(Method::GET, "/v1/me", Some(ADMIN), None).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a key is no token: {reply}"
    );
    let (status, token) = h
        .call(
            Method::POST,
            "/v1/tokens",
            Some(ADMIN),
            Some(json!({"userId": "u1"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{token}");
    let token = token["token"].as_str().expect("a token");
    let (status, me) = h.call(Method::GET, "/v1/me", Some(token), None).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["userId"], "u1");
    let (status, _) = h.call(Method::GET, "/v1/journeys", Some(token), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a token is no key");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn body_errors_name_the_field_path() {
    let h = harness().await;
    let decide = |body: Value| h.call(Method::POST, "/v1/decide", Some(WRITE), Some(body));
    let (status, reply) =
        decide(json!({"anonymousId": "a", "placements": ["home.hero", "recs.home", 7]})).await;
    assert_eq!(
        (status, code(&reply)),
        (StatusCode::BAD_REQUEST, "invalid_request"),
        "{reply}"
    );
    let message = reply["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("placements[2]: invalid type: integer `7`"),
        "{message}"
    );
    let (_, reply) = decide(json!({"anonymousId": "a", "placements": ["home.hero"], "context": {"x": 1}, "userId": {"no": 1}})).await;
    assert!(
        reply["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("userId: invalid type: map")),
        "{reply}"
    );
    let (status, reply) = h
        .call(
            Method::PUT,
            "/v1/journeys/policy",
            Some(ADMIN),
            Some(json!({"quietHours": {"start": 22, "end": "seven"}})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{reply}");
    assert!(
        reply["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("quietHours.end: invalid type: string")),
        "{reply}"
    );
    // Broken JSON is `invalid_json`, a bad query string `invalid_request`.
    let req = Request::post("/v1/decide")
        .header("Authorization", format!("Bearer {WRITE}"))
        .body(Body::from("{\"anonymousId\": "))
        .expect("request");
    let (status, reply) = h.send(req).await;
    assert_eq!(
        (status, code(&reply)),
        (StatusCode::BAD_REQUEST, "invalid_json"),
        "{reply}"
    );
    let (status, reply) = h
        .call(Method::GET, "/v1/outbox?limit=many", Some(ADMIN), None)
        .await;
    assert_eq!(
        (status, code(&reply)),
        (StatusCode::BAD_REQUEST, "invalid_request"),
        "{reply}"
    );
}

/// The router's routes as `(METHOD, path)`, read from its `Debug` form (axum lists every
/// path it routes) and probed for each method: a method the path does not route answers the
/// 405 fallback.
async fn routed(h: &Harness) -> BTreeSet<(String, String)> {
    let debug = format!("{:?}", h.app.router());
    let mut paths = BTreeSet::new();
    for piece in debug.split('"').skip(1).step_by(2) {
        if piece.starts_with('/') && !piece.contains(' ') {
            paths.insert(piece.to_string());
        }
    }
    assert!(
        paths.len() > 50 && paths.contains("/v1/decide"),
        "could not read the routes from the router's Debug form: {paths:?}"
    );
    let mut routes = BTreeSet::new();
    for path in paths {
        for method in [Method::GET, Method::PUT, Method::POST, Method::DELETE] {
            let (status, reply) = h.call(method.clone(), &concrete(&path), None, None).await;
            let fallback = code(&reply) == "method_not_allowed"
                || (status == StatusCode::NOT_FOUND
                    && reply["error"]["message"]
                        .as_str()
                        .is_some_and(|m| m.starts_with("no route for")));
            if !fallback {
                routes.insert((method.to_string(), path.clone()));
            }
        }
    }
    routes
}

/// A request path for a route: each `{param}` (and `{*rest}`) filled in.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|s| if s.starts_with('{') { "x" } else { s })
        .collect::<Vec<_>>()
        .join("/")
}

/// HTML pages (the demo storefront; the console is everything under `/console`) and their
/// scripts and styles, not part of the JSON API.
const PAGES: &[&str] = &[
    "/",
    "/admin",
    "/assets/storefront.js",
    "/assets/storefront.css",
    "/preferences",
    "/c/{*path}",
    "/p/{id}",
    "/cart",
    "/as",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_and_the_router_agree() {
    let h = harness().await;
    let (status, spec) = h.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    let mut documented = BTreeSet::new();
    for (path, item) in spec["paths"].as_object().expect("paths") {
        for method in ["get", "put", "post", "delete", "patch"] {
            if let Some(op) = item.get(method) {
                documented.insert((method.to_uppercase(), path.clone()));
                assert!(
                    op["responses"]["default"].is_object(),
                    "{method} {path} documents the error answer"
                );
                assert!(
                    path.starts_with("/v1/") == op.get("security").is_some(),
                    "{method} {path}: every /v1 route names its key"
                );
            }
        }
    }
    let routed: BTreeSet<_> = routed(&h)
        .await
        .into_iter()
        .filter(|(_, path)| !PAGES.contains(&path.as_str()) && !path.starts_with("/console"))
        .collect();
    let undocumented: Vec<_> = routed.difference(&documented).collect();
    let unrouted: Vec<_> = documented.difference(&routed).collect();
    assert!(
        undocumented.is_empty(),
        "routed but not in /openapi.json: {undocumented:?}"
    );
    assert!(
        unrouted.is_empty(),
        "in /openapi.json but not routed: {unrouted:?}"
    );
    // 77 operations, plus the JSON 404 and 405 fallbacks: the 79 handlers.
    assert!(documented.len() >= 77, "{} operations", documented.len());
    // Every schema the document references exists.
    let text = spec.to_string();
    for reference in text.split("\"#/components/schemas/").skip(1) {
        let name = &reference[..reference.find('"').expect("closing quote")];
        assert!(
            spec["components"]["schemas"][name].is_object(),
            "{name} is referenced but not defined"
        );
    }
}
