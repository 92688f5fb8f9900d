//! What a browser calls, in-process: analytics.js's short paths (`/v1/t` …, `text/plain`
//! JSON with `writeKey` inside) answer as the long routes do, its settings document points
//! back at this server, and CORS lets configured pages (only those) call the public routes
//! and never the admin ones. The real library in Chromium: `crates/tailor/tests/analytics_js.rs`.

use serde_json::{Value, json};
use tailor_server::cors::CorsOrigins;
use tailor_testkit::{ADMIN_KEY, SERVER_KEY, TestApp, WRITE_KEY};

/// A message as analytics.js posts it: `text/plain`, the key inside.
fn text_plain(app: &TestApp, path: &str, body: Value) -> tailor_testkit::Request {
    let mut body = body;
    body["writeKey"] = json!(WRITE_KEY);
    app.post_to(path)
        .header("content-type", "text/plain")
        .body(serde_json::to_vec(&body).expect("json"))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_short_paths_store_what_the_long_ones_do() {
    let app = TestApp::start().await;
    let anon = json!({"anonymousId": "a-short"});
    let mut sent = 0;
    for (path, body) in [
        (
            "/v1/p",
            json!({"name": "Home", "properties": {"path": "/"}}),
        ),
        (
            "/v1/t",
            json!({"event": "Product Viewed", "properties": {"product_id": "sku-1", "price": 10}}),
        ),
        ("/v1/s", json!({"name": "Home screen"})),
        (
            "/v1/g",
            json!({"groupId": "g1", "traits": {"name": "Team"}}),
        ),
        ("/v1/i", json!({"traits": {"favorite": "tea"}})),
    ] {
        let mut body = body;
        body["anonymousId"] = anon["anonymousId"].clone();
        let (status, reply) = text_plain(&app, path, body).send().await;
        assert_eq!(status, 200, "{path}: {reply}");
        assert_eq!(reply["success"], true, "{path}: {reply}");
        sent += 1;
    }
    // analytics.js 1.8x also sends the key as HTTP Basic.
    let (status, _) = app
        .post_to("/v1/t")
        .basic(WRITE_KEY)
        .header("content-type", "text/plain")
        .body(r#"{"anonymousId":"a-short","event":"Cart Viewed"}"#)
        .send()
        .await;
    assert_eq!(status, 200);
    sent += 1;
    // The batching strategy's `/v1/b`: the key in the envelope, no sentAt per message.
    let (status, reply) = text_plain(
        &app,
        "/v1/b",
        json!({"batch": [
            {"type": "track", "event": "Product Added", "anonymousId": "a-short", "properties": {"product_id": "sku-1", "price": 10, "quantity": 1}},
            {"type": "page", "name": "Cart", "anonymousId": "a-short"},
            {"type": "track", "anonymousId": "a-short"},
        ], "sentAt": "2024-01-01T00:00:00Z"}),
    )
    .send()
    .await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["accepted"], 2, "{reply}");
    assert_eq!(reply["rejected"][0]["index"], 2, "{reply}");
    sent += 2;
    let profile = app.profile("a-short").await;
    assert_eq!(profile["events"], sent, "{profile}");
    assert_eq!(
        profile["cart"]["items"][0]["productId"], "sku-1",
        "{profile}"
    );

    // Refusals are the long routes' too.
    let (status, reply) = text_plain(&app, "/v1/t", json!({"event": "x"}))
        .send()
        .await;
    assert_eq!(
        (status, reply["error"]["code"].as_str()),
        (400, Some("no_user_anon_id")),
        "{reply}"
    );
    let (status, _) = app
        .post_to("/v1/t")
        .header("content-type", "text/plain")
        .body(r#"{"writeKey":"nope","anonymousId":"a","event":"x"}"#)
        .send()
        .await;
    assert_eq!(status, 401);
    // A browser's unproven userId alone is refused, as on /v1/track; an alias too.
    let (status, reply) = text_plain(&app, "/v1/i", json!({"userId": "someone"}))
        .send()
        .await;
    assert_eq!(
        (status, reply["error"]["code"].as_str()),
        (403, Some("unverified_user_id")),
        "{reply}"
    );
    let (status, reply) = text_plain(
        &app,
        "/v1/a",
        json!({"userId": "someone", "previousId": "a-short"}),
    )
    .send()
    .await;
    assert_eq!(
        (status, reply["error"]["code"].as_str()),
        (403, Some("unverified_alias")),
        "{reply}"
    );
    let (status, _) = app.get("/v1/t").send().await;
    assert_eq!(status, 405);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_settings_document_points_analytics_js_back_here() {
    let app = TestApp::start().await;
    let reply = app
        .get(&format!("/v1/projects/{WRITE_KEY}/settings"))
        .header("host", "tailor.shop.test:8443")
        .header("x-forwarded-proto", "https")
        .reply()
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.headers["cache-control"], "private, max-age=300");
    let settings = &reply.json;
    let segment = &settings["integrations"]["Segment.io"];
    assert_eq!(segment["apiKey"], WRITE_KEY);
    assert_eq!(segment["apiHost"], "tailor.shop.test:8443/v1");
    assert_eq!(segment["protocol"], "https");
    // Only Tailor's own destination, and nothing that would call Segment.
    assert_eq!(
        settings["integrations"].as_object().map(|o| o.len()),
        Some(1)
    );
    assert_eq!(settings["metrics"]["sampleRate"], 0);
    assert_eq!(settings["remotePlugins"], json!([]));
    assert_eq!(settings["legacyVideoPluginsEnabled"], false);

    // A plain-HTTP server reached directly says http.
    let (status, plain) = app
        .get(&format!("/v1/projects/{WRITE_KEY}/settings"))
        .header("host", "127.0.0.1:8080")
        .send()
        .await;
    assert_eq!(status, 200);
    assert_eq!(plain["integrations"]["Segment.io"]["protocol"], "http");
    assert_eq!(
        plain["integrations"]["Segment.io"]["apiHost"],
        "127.0.0.1:8080/v1"
    );

    // A secret key in a page is refused before it ships; an unknown key is not a project.
    for (key, expected) in [(SERVER_KEY, 403), (ADMIN_KEY, 403), ("unknown", 401)] {
        let (status, reply) = app
            .get(&format!("/v1/projects/{key}/settings"))
            .send()
            .await;
        assert_eq!(status, expected, "{key}: {reply}");
        assert!(
            !reply.to_string().contains(key),
            "the key is not echoed: {reply}"
        );
    }
}

/// A CORS preflight from `origin` for `method` on `path`.
async fn preflight(app: &TestApp, path: &str, origin: &str, method: &str) -> tailor_testkit::Reply {
    app.request(axum_method("OPTIONS"), path)
        .header("origin", origin)
        .header("access-control-request-method", method)
        .header(
            "access-control-request-headers",
            "authorization,content-type,x-retry-count",
        )
        .reply()
        .await
}

fn axum_method(m: &str) -> axum::http::Method {
    m.parse().expect("method")
}

#[tokio::test(flavor = "multi_thread")]
async fn configured_pages_may_call_the_public_routes_and_no_others() {
    const SHOP: &str = "https://shop.example.com";
    // By default, no page of another origin may.
    let closed = TestApp::start().await;
    let reply = preflight(&closed, "/v1/t", SHOP, "POST").await;
    assert_eq!(reply.status, 403, "{}", reply.text);
    assert_eq!(reply.json["error"]["code"], "cors_origin_not_allowed");
    assert!(reply.headers.get("access-control-allow-origin").is_none());

    let app = TestApp::start().await.with_cors_origins(
        CorsOrigins::parse(&format!("{SHOP}, http://localhost:3000")).expect("origins"),
    );
    for (path, method) in [
        ("/v1/t", "POST"),
        ("/v1/b", "POST"),
        ("/v1/track", "POST"),
        ("/v1/batch", "POST"),
        ("/v1/decide", "POST"),
        ("/v1/preferences", "PUT"),
        ("/v1/quizzes", "GET"),
        ("/v1/me/consent", "PUT"),
        ("/v1/projects/k/settings", "GET"),
    ] {
        let reply = preflight(&app, path, SHOP, method).await;
        assert_eq!(reply.status, 204, "{path}: {}", reply.text);
        let h = &reply.headers;
        assert_eq!(h["access-control-allow-origin"], SHOP, "{path}");
        let methods = h["access-control-allow-methods"].to_str().unwrap();
        assert!(
            methods.contains(method) && methods.contains("OPTIONS"),
            "{path}: {methods}"
        );
        let allowed = h["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .to_lowercase();
        for needed in ["authorization", "content-type", "x-retry-count"] {
            assert!(allowed.contains(needed), "{path}: {allowed}");
        }
        assert_eq!(h["access-control-max-age"], "7200");
        assert!(h["vary"].to_str().unwrap().contains("Origin"));
        assert!(h.get("access-control-allow-credentials").is_none());
    }
    // A method the route does not take, and an origin that is not listed (nor a look-alike).
    assert_eq!(
        preflight(&app, "/v1/decide", SHOP, "DELETE").await.status,
        405
    );
    for other in [
        "https://evil.example",
        "https://shop.example.com.evil.example",
        "null",
    ] {
        let reply = preflight(&app, "/v1/t", other, "POST").await;
        assert_eq!(reply.status, 403, "{other}");
        assert!(reply.headers.get("access-control-allow-origin").is_none());
    }
    // Admin, analyst and server-key routes answer no CORS at all: the browser refuses.
    for (path, method) in [
        ("/v1/profiles/u1", "GET"),
        ("/v1/profiles/u1", "DELETE"),
        ("/v1/sources", "GET"),
        ("/v1/tokens", "POST"),
        ("/v1/consent", "PUT"),
        ("/v1/experiments", "GET"),
    ] {
        let reply = preflight(&app, path, SHOP, method).await;
        assert_ne!(reply.status, 204, "{path}");
        assert!(
            reply.headers.get("access-control-allow-origin").is_none(),
            "{path}"
        );
        let reply = app
            .request(axum_method(method), path)
            .bearer(ADMIN_KEY)
            .header("origin", SHOP)
            .reply()
            .await;
        assert!(
            reply.headers.get("access-control-allow-origin").is_none(),
            "{path}"
        );
    }

    // The call itself: the page may read the answer; another page may not.
    let send = |origin: &'static str| {
        text_plain(
            &app,
            "/v1/t",
            json!({"anonymousId": "a-cors", "event": "Cart Viewed"}),
        )
        .header("origin", origin)
        .reply()
    };
    let reply = send(SHOP).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.headers["access-control-allow-origin"], SHOP);
    assert!(reply.headers["vary"].to_str().unwrap().contains("Origin"));
    assert!(
        reply.headers["access-control-expose-headers"]
            .to_str()
            .unwrap()
            .contains("Retry-After")
    );
    let reply = send("https://evil.example").await;
    assert_eq!(
        reply.status, 200,
        "CORS is the browser's rule: the server still answers"
    );
    assert!(reply.headers.get("access-control-allow-origin").is_none());
    // Errors carry it too, so the page can read why.
    let reply = app
        .post_to("/v1/decide")
        .bearer(WRITE_KEY)
        .header("origin", "http://localhost:3000/")
        .json(&json!({"placements": ["home.hero"]}))
        .reply()
        .await;
    assert_eq!(reply.status, 400);
    assert_eq!(
        reply.headers["access-control-allow-origin"],
        "http://localhost:3000"
    );

    // `*`: any page, never with credentials.
    let any = TestApp::start().await.with_cors_origins(CorsOrigins::Any);
    let reply = preflight(&any, "/v1/decide", "https://anywhere.example", "POST").await;
    assert_eq!(reply.status, 204);
    assert_eq!(reply.headers["access-control-allow-origin"], "*");
    assert!(
        reply
            .headers
            .get("access-control-allow-credentials")
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sdk_is_served_to_any_page() {
    let app = TestApp::start().await;
    let reply = app.get("/sdk/tailor.js").reply().await;
    assert_eq!(reply.status, 200);
    assert!(
        reply.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    assert_eq!(reply.headers["access-control-allow-origin"], "*");
    assert!(
        reply.text.contains("export class Tailor"),
        "{}",
        &reply.text[..200.min(reply.text.len())]
    );
}
