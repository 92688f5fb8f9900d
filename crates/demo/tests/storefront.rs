//! The storefront's pages in-process (no socket, no browser): whatever a visitor puts in a
//! query or a cookie comes back escaped, never as markup or script; and served by Tailor (as
//! `tailor demo` serves them) the pages carry a Content Security Policy that would refuse
//! to run any script that slipped in, since nothing on them runs inline.

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
    let (status, _, body, set_cookie) = get_with_headers(app, uri, cookie).await;
    (status, body, set_cookie)
}

async fn get_with_headers(
    app: &Router,
    uri: &str,
    cookie: Option<&str>,
) -> (StatusCode, header::HeaderMap, String, Option<String>) {
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
    let headers = response.headers().clone();
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
        headers,
        String::from_utf8_lossy(&body).into_owned(),
        set_cookie,
    )
}

/// The storefront as `tailor demo` serves it: merged into Tailor's router, behind its
/// middleware (security headers among it).
fn served_by_tailor(engine: &tailor_engine::Engine) -> Router {
    tailor_server::router_with(
        tailor_server::AppState::new(engine.clone()),
        tailor_demo::storefront(engine.clone(), WRITE_KEY),
    )
}

/// Every tag of a page as its name and its attributes' names (values skipped: escaped
/// visitor input lives there).
fn tags(body: &str) -> Vec<(String, Vec<String>)> {
    let chars: Vec<char> = body.chars().collect();
    let mut tags = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != '<' || !chars.get(i + 1).is_some_and(|c| c.is_ascii_alphabetic()) {
            i += 1;
            continue;
        }
        i += 1;
        let word = |i: &mut usize| {
            let start = *i;
            while *i < chars.len() && !" \t\n=>/".contains(chars[*i]) {
                *i += 1;
            }
            chars[start..*i]
                .iter()
                .collect::<String>()
                .to_ascii_lowercase()
        };
        let name = word(&mut i);
        let mut attributes = Vec::new();
        while i < chars.len() && chars[i] != '>' {
            match chars[i] {
                ' ' | '\t' | '\n' | '/' => i += 1,
                '=' => {
                    i += 1;
                    if let Some(quote @ ('"' | '\'')) = chars.get(i).copied() {
                        i += 1;
                        while i < chars.len() && chars[i] != quote {
                            i += 1;
                        }
                        i += 1;
                    } else {
                        word(&mut i);
                    }
                }
                _ => attributes.push(word(&mut i)),
            }
        }
        tags.push((name, attributes));
    }
    tags
}

/// Nothing on the page runs inline: every script is a file, no element has an event
/// handler or a style of its own. With the policy below, a browser runs nothing else.
fn assert_nothing_inline(page: &str, body: &str) {
    let tags = tags(body);
    assert!(!tags.is_empty(), "{page}: no tags read");
    for (name, attributes) in &tags {
        if name == "script" {
            assert!(
                attributes.contains(&"src".to_string()),
                "{page}: an inline script"
            );
        }
        assert_ne!(name, "style", "{page}: an inline style");
        for attribute in attributes {
            assert!(
                attribute != "style" && !attribute.starts_with("on"),
                "{page}: <{name} {attribute}=…>"
            );
        }
    }
}

fn assert_page_headers(page: &str, headers: &header::HeaderMap) {
    let h = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let policy = h("content-security-policy");
    assert!(
        policy.contains("script-src 'self'") && policy.contains("style-src 'self'"),
        "{page}: {policy:?}"
    );
    assert!(!policy.contains("unsafe-inline"), "{page}: {policy}");
    assert!(
        policy.contains("frame-ancestors 'none'"),
        "{page}: {policy}"
    );
    assert_eq!(h("x-content-type-options"), "nosniff", "{page}");
    assert_eq!(h("x-frame-options"), "DENY", "{page}");
    assert_eq!(h("referrer-policy"), "same-origin", "{page}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_visitor_id_from_the_query_is_escaped_everywhere() {
    let dir = tempfile::tempdir().expect("temp dir");
    let engine = common::open_engine(dir.path(), &keys()).expect("engine");
    let app = served_by_tailor(&engine);

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
        let (_, headers, body, _) = get_with_headers(&app, page, Some(&cookie)).await;
        assert!(!body.contains("<script>alert"), "{page}: {body}");
        assert!(!body.contains("<img"), "{page}: {body}");
        // The one script on a page is the storefront's own file.
        assert!(body.matches("<script").count() <= 1, "{page}: {body}");
        assert_nothing_inline(page, &body);
        assert_page_headers(page, &headers);
    }
    // The script and the style are served with their types (and `nosniff`).
    for (asset, kind) in [
        ("/assets/storefront.js", "text/javascript"),
        ("/assets/storefront.css", "text/css"),
    ] {
        let (status, headers, body, _) = get_with_headers(&app, asset, None).await;
        assert_eq!(status, StatusCode::OK, "{asset}");
        let content_type = headers[header::CONTENT_TYPE].to_str().unwrap_or_default();
        assert!(content_type.starts_with(kind), "{asset}: {content_type}");
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert!(!body.is_empty());
    }
    let (status, body, _) = get(&app, "/", Some(&cookie)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body.contains("<script type=\"module\" src=\"/assets/storefront.js\"></script>"),
        "{body}"
    );
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
        body.contains("<script type=\"module\" src=\"/assets/storefront.js\">"),
        "{body}"
    );
    let (_, script, _) = get(&app, "/assets/storefront.js", None).await;
    assert!(
        script.contains("import { Tailor } from '/sdk/tailor.js'"),
        "{script}"
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

#[tokio::test(flavor = "multi_thread")]
async fn pictures_are_served_at_the_catalogs_urls_and_product_urls_resolve() {
    let dir = tempfile::tempdir().expect("temp dir");
    let engine = common::open_engine(dir.path(), &keys()).expect("engine");
    let product = serde_json::json!({"id": "sku-7", "name": "Fleet <b>Trail</b> Runner",
        "category": "Sports/Running", "brand": "Fleet", "price": 89.99, "stock": 3,
        "attributes": {"color": "Navy"}, "image_url": "/img/sku-7.svg", "url": "/p/sku-7"});
    engine
        .put_products(vec![
            tailor_core::Product::from_json(product).expect("a valid product"),
        ])
        .expect("catalog");
    let banner = serde_json::json!({"id": "hero-run", "kind": "banner", "placements": ["home.hero"],
        "title": "Run further", "image_url": "/img/hero-run.svg"});
    engine
        .put_content(vec![
            tailor_core::ContentItem::from_json(banner).expect("a valid item"),
        ])
        .expect("content");
    let app = served_by_tailor(&engine);

    let (status, headers, svg, _) = get_with_headers(&app, "/img/sku-7.svg", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "image/svg+xml");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert!(
        svg.starts_with("<svg") && svg.contains("Fleet &lt;b&gt;Trail"),
        "{svg}"
    );
    assert!(
        svg.contains("#1f3a5f"),
        "drawn in the product's colour: {svg}"
    );
    let (_, _, again, _) = get_with_headers(&app, "/img/sku-7.svg", None).await;
    assert_eq!(svg, again, "the same picture every time");
    let (status, _, banner, _) = get_with_headers(&app, "/img/hero-run.svg", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(banner.contains("Run further"), "{banner}");
    for missing in ["/img/sku-8.svg", "/img/sku-7.png", "/img/promo-none.svg"] {
        let (status, _, _, _) = get_with_headers(&app, missing, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{missing}");
    }
    // The product's URL is its page, and the page shows the picture.
    let (status, page, _) = get(&app, "/p/sku-7", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("<img src=\"/img/sku-7.svg\""), "{page}");
    let (_, category, _) = get(&app, "/c/sports/running", None).await;
    assert!(
        category.contains("<img src=\"/img/sku-7.svg\""),
        "{category}"
    );
    // The category's list is the ranking placement's: the SDK reorders it by product id.
    assert!(
        category.contains("data-tailor-placement=\"rank.listing\" data-tailor-list")
            && category.contains("data-product-id=\"sku-7\""),
        "{category}"
    );
    engine.shutdown().await.expect("flush");
}
