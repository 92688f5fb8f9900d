//! The privacy routes, in-process: export and erasure answer by status, admin reads of
//! personal data are audit-logged without it, and a suppression can be lifted. (What the
//! erasure reaches, byte for byte: `crates/engine/tests/privacy.rs`.)

use serde_json::json;
use tailor_testkit::TestApp;

const USER: &str = "user-zq81-erase";
const EMAIL: &str = "zq81.erase@example.org";

#[tokio::test(flavor = "multi_thread")]
async fn export_erasure_and_the_audit_of_admin_reads() {
    let s = TestApp::start().await;
    let (status, _) = s
        .post(
            "/v1/identify",
            &json!({"userId": USER, "traits": {"email": EMAIL}}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, export) = s.admin_get(&format!("/v1/profiles/{USER}/export")).await;
    assert_eq!(status, 200, "{export}");
    assert_eq!(export["format"], "tailor-export/1");
    let (status, _) = s.admin_get("/v1/profiles/nobody/export").await;
    assert_eq!(status, 404);

    let (status, reply) = s.admin_delete(&format!("/v1/profiles/{USER}")).await;
    assert_eq!(status, 200, "{reply}");
    let erased = &reply["erased"];
    assert_eq!(erased["events"], 1, "{reply}");
    assert_eq!(erased["profiles"], 1, "{reply}");
    assert_eq!(erased["suppressed_ids"], 1, "{reply}");
    let (status, _) = s.admin_get(&format!("/v1/profiles/{USER}")).await;
    assert_eq!(status, 404);
    let (status, _) = s.admin_delete(&format!("/v1/profiles/{USER}")).await;
    assert_eq!(status, 404, "a second erasure finds nobody");
    let (status, late) = s
        .post(
            "/v1/track",
            &json!({"userId": USER, "event": "Product Viewed"}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        (late["accepted"].as_u64(), late["suppressed"].as_u64()),
        (Some(0), Some(1)),
        "{late}"
    );

    // The audit log records the erasure and the admin's reads, without personal data.
    let (status, audit) = s.admin_get("/v1/audit").await;
    assert_eq!(status, 200, "{audit}");
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(actions.contains(&"erase"), "{actions:?}");
    assert!(
        actions.contains(&"export"),
        "admin reads are audit-logged: {actions:?}"
    );
    let text = audit.to_string();
    assert!(!text.contains(USER) && !text.contains(EMAIL), "{text}");

    // Lifting the suppression lets the person come back.
    let (status, reply) = s.admin_delete(&format!("/v1/suppressions/{USER}")).await;
    assert_eq!(status, 200, "{reply}");
    let (status, _) = s.admin_delete("/v1/suppressions/never-erased").await;
    assert_eq!(status, 404);
    let (_, back) = s
        .post(
            "/v1/track",
            &json!({"userId": USER, "event": "Product Viewed"}),
        )
        .await;
    assert_eq!(back["accepted"], 1, "{back}");
}
