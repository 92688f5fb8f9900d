//! Operations endpoints, in-process: `/healthz`, Prometheus `/metrics` with the engine's
//! and the edge's series, and `/openapi.json` listing the public routes.

use serde_json::json;
use tailor_testkit::TestApp;

#[tokio::test(flavor = "multi_thread")]
async fn operations_endpoints_answer() {
    let s = TestApp::start().await;
    assert_eq!(s.post("/v1/page", &json!({"userId": "ops"})).await.0, 200);
    let (status, health) = s.get("/healthz").send().await;
    assert_eq!((status, health["status"].as_str()), (200, Some("ok")));
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
