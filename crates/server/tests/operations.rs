//! Operations endpoints, in-process: `/healthz`, Prometheus `/metrics` with the engine's
//! and the edge's series, and `/openapi.json` listing the public routes; the security
//! headers on pages and on API answers.

use serde_json::json;
use tailor_testkit::TestApp;

#[tokio::test(flavor = "multi_thread")]
async fn operations_endpoints_answer() {
    let s = TestApp::start().await;
    assert_eq!(s.post("/v1/page", &json!({"userId": "ops"})).await.0, 200);
    let (status, health) = s.get("/healthz").send().await;
    assert_eq!((status, health["status"].as_str()), (200, Some("ok")));
    let (status, ready) = s.get("/readyz").send().await;
    assert_eq!((status, ready["status"].as_str()), (200, Some("ready")));
    let metrics = s.get("/metrics").reply().await.text;
    for name in [
        "tailor_events_ingested_total",
        "tailor_http_requests_total",
        "tailor_ingest_commit_seconds",
        "tailor_profiles",
        "tailor_ingest_queue_depth",
    ] {
        assert!(metrics.contains(name), "{name} missing from /metrics");
    }
    let (status, spec) = s.get("/openapi.json").send().await;
    assert_eq!(status, 200);
    for path in [
        "/healthz",
        "/readyz",
        "/v1/batch",
        "/v1/decide",
        "/v1/placements",
        "/v1/catalog/products",
        "/v1/profiles/{id}",
        "/v1/profiles/{id}/export",
        "/v1/suppressions/{id}",
        "/v1/audit",
        "/v1/journeys",
        "/v1/journeys/{id}",
        "/v1/journeys/{id}/stats",
        "/v1/journeys/{id}/report",
        "/v1/outbox/dead",
        "/v1/outbox/dead/{key}/replay",
        "/v1/audiences/{name}/export",
        "/v1/retention",
        "/v1/retention/run",
    ] {
        assert!(spec["paths"][path].is_object(), "openapi lists {path}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn pages_carry_security_headers_and_run_nothing_inline() {
    let s = TestApp::start().await;
    let page = s.get("/console/signin").reply().await;
    assert_eq!(page.status, 200);
    let header = |r: &tailor_testkit::Reply, name: &str| {
        r.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let policy = header(&page, "content-security-policy");
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ] {
        assert!(policy.contains(directive), "{directive} in {policy}");
    }
    assert!(!policy.contains("unsafe"), "{policy}");
    assert_eq!(header(&page, "x-frame-options"), "DENY");
    assert_eq!(header(&page, "referrer-policy"), "same-origin");
    assert_eq!(header(&page, "x-content-type-options"), "nosniff");
    // The console's scripts and styles are files; the page has no inline script, style or
    // handler for the policy to refuse.
    assert!(
        page.text
            .contains(r#"<script src="/console/assets/console.js" defer></script>"#),
        "{}",
        page.text
    );
    assert_eq!(
        page.text.matches("<script").count(),
        2,
        "uPlot and the console's"
    );
    for inline in ["<style", " style=", " onclick=", " onload="] {
        assert!(!page.text.contains(inline), "{inline}");
    }
    for (path, kind) in [
        ("/console/assets/console.js", "text/javascript"),
        ("/console/assets/console.css", "text/css"),
    ] {
        let asset = s.get(path).reply().await;
        assert_eq!(asset.status, 200, "{path}");
        assert!(header(&asset, "content-type").starts_with(kind), "{path}");
        assert_eq!(header(&asset, "x-content-type-options"), "nosniff");
    }
    // API answers are `nosniff` too (a JSON body that echoes input is never read as a
    // page), errors and the 404 fallback included, without a page's policy.
    for reply in [
        s.get("/healthz").reply().await,
        s.get("/v1/profiles/x").reply().await,
        s.get("/no/such/page").reply().await,
    ] {
        assert_eq!(header(&reply, "x-content-type-options"), "nosniff");
        assert!(header(&reply, "content-type").starts_with("application/json"));
    }
}
