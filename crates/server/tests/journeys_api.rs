//! The journeys API over HTTP, in-process: refused definitions answer 400 with every problem
//! in `details` and store nothing; versions and pausing through their routes; the test
//! clock only exists when asked for and only moves forward. (What journeys do:
//! `crates/engine/tests/journeys.rs`.)

use serde_json::json;
use tailor_testkit::TestApp;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn definitions_are_validated_versioned_and_pausable() {
    let s = TestApp::start().await.with_test_clock();
    let (status, body) = s
        .admin_put(
            "/v1/journeys/bad",
            &json!({"trigger": {"event": ""}, "goal": {"event": "Order Completed"}, "steps": [
                {"id": "a", "type": "wait", "duration": "forever"},
                {"id": "b", "type": "send", "channel": "email", "template": "nope"},
                {"id": "c", "type": "branch", "condition": {"orders": {"$gt": 0}}, "then": "zz", "else": "a"}
            ]}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "invalid_request");
    let problems = body["error"]["details"].as_array().unwrap();
    assert!(problems.len() >= 4, "every problem at once: {body}");
    let (status, body) = s
        .admin_put(
            "/v1/journeys/bad",
            &json!({"trigger": {"event": "X"}, "steps": [{"id": "a", "type": "teleport"}]}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("teleport"),
        "{body}"
    );
    let (status, body) = s.admin_put("/v1/journeys/bad", &json!("nope")).await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = s.admin_get("/v1/journeys/bad").await;
    assert_eq!(status, 404, "nothing half-written");
    // Versions: a change is a new version, the old one stays readable.
    let v1 = json!({"trigger": {"event": "A"}, "steps": [{"id": "s", "type": "exit"}]});
    assert_eq!(s.admin_put("/v1/journeys/j", &v1).await.1["version"], 1);
    assert_eq!(
        s.admin_put("/v1/journeys/j", &v1).await.1["version"],
        1,
        "unchanged"
    );
    let v2 = json!({"trigger": {"event": "B"}, "steps": [{"id": "s", "type": "exit"}]});
    assert_eq!(s.admin_put("/v1/journeys/j", &v2).await.1["version"], 2);
    let (_, old) = s.admin_get("/v1/journeys/j?version=1").await;
    assert_eq!(old["definition"]["trigger"]["event"], "A");
    // Paused journeys take no one in.
    let (status, body) = s.admin_post("/v1/journeys/j/pause", &json!({})).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("paused")));
    let (status, _) = s
        .post("/v1/track", &json!({"userId": "p", "event": "B"}))
        .await;
    assert_eq!(status, 200);
    s.kit.settle().await;
    let (_, stats) = s.admin_get("/v1/journeys/j/stats").await;
    assert!(stats["journey"].get("entered").is_none(), "{stats}");
    let (_, body) = s.admin_post("/v1/journeys/j/resume", &json!({})).await;
    assert_eq!(body["status"], "active");
    let (status, _) = s
        .post("/v1/track", &json!({"userId": "p", "event": "B"}))
        .await;
    assert_eq!(status, 200);
    s.kit.settle().await;
    let (_, stats) = s.admin_get("/v1/journeys/j/stats").await;
    assert_eq!(stats["journey"]["entered"], 1, "entered after resume");
    let (_, list) = s.admin_get("/v1/journeys").await;
    assert_eq!(list["journeys"].as_array().unwrap().len(), 1);
    assert_eq!(s.admin_delete("/v1/journeys/j").await.0, 200);
    assert_eq!(s.admin_delete("/v1/journeys/j").await.0, 404);
    // The clock is for tests only, and only moves forward.
    let (status, body) = s
        .admin_post("/v1/test/clock", &json!({"to": "2001-01-01T00:00:00Z"}))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("clock_backwards"))
    );
    let (status, body) = s
        .admin_post("/v1/test/clock", &json!({"advance": "1d"}))
        .await;
    assert_eq!(status, 200, "{body}");
    let plain = TestApp::start().await;
    let (status, _) = plain
        .admin_post("/v1/test/clock", &json!({"advance": "1d"}))
        .await;
    assert_eq!(status, 404, "no test clock without --test-clock");
}
