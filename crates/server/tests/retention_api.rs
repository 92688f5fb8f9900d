//! Retention on the wire, in-process: the settings as configured, and a run's report under
//! `ran`. (What retention deletes and expires: `crates/engine/tests/retention.rs`.)

use serde_json::json;
use tailor_testkit::{TestApp, TestEngine};

#[tokio::test(flavor = "multi_thread")]
async fn settings_and_a_run_report_on_the_wire() {
    let kit = TestEngine::builder()
        .retention(Some(30), Some(90))
        .start()
        .await;
    let s = TestApp::over(kit);
    let (status, settings) = s.admin_get("/v1/retention").await;
    assert_eq!(status, 200, "{settings}");
    assert_eq!(settings["eventsDays"], 30);
    assert_eq!(settings["expireInactiveDays"], 90);
    assert_eq!(s.post("/v1/page", &json!({"userId": "rt"})).await.0, 200);
    let (status, run) = s.admin_post("/v1/retention/run", &json!({})).await;
    assert_eq!(status, 200, "{run}");
    assert_eq!(run["ran"]["eventsDeleted"], 0, "{run}");
    assert_eq!(run["ran"]["expiredPeople"], 0, "{run}");
}
