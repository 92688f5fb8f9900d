//! Audiences over HTTP, in-process: the list, a segment audience defined, filled by events
//! and exported in each platform's columns, typed errors for bad input, and nothing of it
//! open to the public write key. (Membership rules: `crates/engine/tests/audiences.rs`.)

use serde_json::json;
use tailor_testkit::{TestApp, TestEngine, WRITE_KEY};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audiences_are_listed_defined_filled_and_exported() {
    let s = TestApp::over(
        TestEngine::builder()
            .manual_clock("2031-03-03T12:00:00Z")
            .start()
            .await,
    );
    let (status, body) = s.admin_get("/v1/audiences").await;
    assert_eq!(
        (status, body.clone()),
        (200, json!({"audiences": []})),
        "{body}"
    );
    // Every problem at once, as a typed error.
    let (status, body) = s
        .admin_put(
            "/v1/audiences/bad%20name",
            &json!({"condition": {"orders": {"$unknown": 1}}}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "invalid_request", "{body}");
    assert_eq!(
        body["error"]["details"].as_array().map(Vec::len),
        Some(2),
        "{body}"
    );
    let (status, body) = s
        .admin_put(
            "/v1/audiences/buyers",
            &json!({"condition": {"orders": 1}, "extra": 1}),
        )
        .await;
    assert_eq!(status, 400, "unknown fields are refused: {body}");
    // The public key can neither define nor read audiences.
    for request in [
        s.get("/v1/audiences"),
        s.get("/v1/audiences/buyers/export"),
        s.put("/v1/audiences/buyers")
            .json(&json!({"condition": {"orders": {"$gt": 0}}})),
    ] {
        let (status, body) = request.basic(WRITE_KEY).send().await;
        assert!(status == 401 || status == 403, "{status} {body}");
    }
    let (status, body) = s
        .admin_put(
            "/v1/audiences/buyers",
            &json!({"description": "ordered", "condition": {"orders": {"$gt": 0}}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["kind"], "segment");
    let (status, _) = s
        .post(
            "/v1/identify",
            &json!({"userId": "ann", "traits": {"email": "Ann@Example.com", "phone": "+1 650 555 0100"},
                    "context": {"consent": {"categoryPreferences": {"advertising": true}}}}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = s
        .post(
            "/v1/track",
            &json!({"userId": "ann", "event": "Order Completed", "properties": {"order_id": "o1", "total": 30}}),
        )
        .await;
    assert_eq!(status, 200);
    s.kit.settle().await;
    let (_, list) = s.admin_get("/v1/audiences").await;
    assert_eq!(list["audiences"][0]["name"], "buyers", "{list}");
    assert_eq!(list["audiences"][0]["members"], 1, "{list}");
    let (_, changes) = s.admin_get("/v1/audiences/buyers/changes?after=0").await;
    assert_eq!(changes["changes"][0]["person"], "ann", "{changes}");
    assert_eq!(changes["changes"][0]["op"], "add", "{changes}");
    let google = s
        .get("/v1/audiences/buyers/export")
        .bearer(tailor_testkit::ADMIN_KEY)
        .reply()
        .await;
    assert_eq!(google.status, 200);
    assert!(google.text.starts_with("Email,Phone\n"), "{}", google.text);
    let meta = s
        .get("/v1/audiences/buyers/export?format=meta")
        .bearer(tailor_testkit::ADMIN_KEY)
        .reply()
        .await;
    assert!(
        meta.text.starts_with("email,phone,value\n"),
        "{}",
        meta.text
    );
    assert!(!meta.text.contains('@'), "{}", meta.text);
    let (status, body) = s
        .admin_get("/v1/audiences/buyers/export?format=tiktok")
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("google, meta"),
        "{body}"
    );
    let (status, body) = s.admin_get("/v1/audiences/nobody").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("not_found")),
        "{body}"
    );
    let (status, _) = s.admin_delete("/v1/audiences/buyers").await;
    assert_eq!(status, 200);
    let (_, changes) = s.admin_get("/v1/audiences/buyers/changes?after=1").await;
    assert_eq!(changes["changes"][0]["op"], "remove", "{changes}");
}
