//! The storefront's pages in-process (no socket, no browser): whatever a visitor puts in a
//! query or a cookie comes back escaped, never as markup or script.

mod common;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use tower::ServiceExt as _;

const WRITE_KEY: &str = "test-write-key";

fn keys() -> tailor_demo::DemoKeys {
    serde_json::from_value(serde_json::json!({"write_key": WRITE_KEY,
        "server_key": "test-server-key", "admin_key": "test-admin-key"}))
    .expect("keys")
}

async fn get(
    app: &Router,
    uri: &str,
    cookie: Option<&str>,
) -> (StatusCode, String, Option<String>) {
    let mut request = Request::get(uri);
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, cookie);
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::empty()).expect("request"))
        .await
        .expect("response");
    let status = response.status();
    let set_cookie = response
        .headers()
        .get(header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or_default().to_string());
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("body");
    (
        status,
        String::from_utf8_lossy(&body).into_owned(),
        set_cookie,
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_visitor_id_from_the_query_is_escaped_everywhere() {
    let dir = tempfile::tempdir().expect("temp dir");
    let engine = common::open_engine(dir.path(), &keys()).expect("engine");
    let app: Router = tailor_demo::storefront(engine.clone(), WRITE_KEY);

    let payload = "</script><script>alert(1)</script><img src=x onerror=alert(2)>\"'";
    let query: String = payload.bytes().map(|b| format!("%{b:02X}")).collect();
    let (status, _, cookie) = get(&app, &format!("/as?user={query}"), None).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let cookie = cookie.expect("the switch sets the visitor cookie");

    for page in [
        "/",
        "/cart",
        "/preferences",
        "/c/anything",
        "/p/%3Cscript%3E",
    ] {
        let (_, body, _) = get(&app, page, Some(&cookie)).await;
        assert!(!body.contains("<script>alert"), "{page}: {body}");
        assert!(!body.contains("<img"), "{page}: {body}");
        // The one script on a page is the storefront's own.
        assert!(body.matches("<script>").count() <= 1, "{page}: {body}");
    }
    let (status, body, _) = get(&app, "/", Some(&cookie)).await;
    assert_eq!(status, StatusCode::OK);
    // The visitor travels to the script in an escaped attribute, as JSON (with the user
    // hash the store's backend signs a signed-in shopper's id with).
    assert!(body.contains("data-visitor=\"{&quot;"), "{body}");
    assert!(
        body.contains("&quot;userId&quot;:&quot;&lt;/script&gt;&lt;script&gt;alert(1)"),
        "{body}"
    );
    assert!(body.contains("&quot;userHash&quot;"), "{body}");
    assert!(
        body.contains(&format!("data-write-key=\"{WRITE_KEY}\"")),
        "{body}"
    );
    let (status, body, _) = get(&app, "/p/%3Cscript%3E", Some(&cookie)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains("No product &lt;script&gt;"), "{body}");
    engine.shutdown().await.expect("flush");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_visitor_gets_a_cookie_and_slots_the_sdk_fills() {
    let dir = tempfile::tempdir().expect("temp dir");
    let engine = common::open_engine(dir.path(), &keys()).expect("engine");
    let app: Router = tailor_demo::storefront(engine.clone(), WRITE_KEY);
    let (status, body, cookie) = get(&app, "/", None).await;
    assert_eq!(status, StatusCode::OK);
    let cookie = cookie.expect("a new visitor's cookie");
    let id = cookie
        .strip_prefix("tailor_visitor=anon:")
        .expect("an anonymous visitor");
    assert!(id.starts_with("visitor-"), "{cookie}");
    assert!(body.starts_with("<!DOCTYPE html>"), "{body}");
    // The SDK decides for the cookie's visitor, from the browser, with the public key.
    assert!(
        body.contains(&format!(
            "data-visitor=\"{{&quot;anonymousId&quot;:&quot;{id}&quot;}}\""
        )),
        "{body}"
    );
    assert!(
        body.contains("import { Tailor } from '/sdk/tailor.js'"),
        "{body}"
    );
    assert!(
        body.contains("data-context=\"{&quot;page&quot;:&quot;home&quot;}\""),
        "{body}"
    );
    for placement in [
        "nav.categories",
        "home.hero",
        "promo.banner",
        "recs.home",
        "onsite.message",
    ] {
        assert!(
            body.contains(&format!("data-tailor-placement=\"{placement}\"")),
            "{placement}: {body}"
        );
    }
    let (_, cart, _) = get(&app, "/cart", Some(&cookie)).await;
    assert!(
        cart.contains("data-tailor-placement=\"recs.cart\""),
        "{cart}"
    );
    engine.shutdown().await.expect("flush");
}
