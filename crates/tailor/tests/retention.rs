//! Retention over real HTTP with the test clock: raw events past the retention period leave
//! the log (consent events stay) while profiles keep what they learned, across a restart;
//! people inactive past the expiry period are erased by the scheduled job through the
//! erasure path, without suppression, audit-logged without personal data.

mod common;

use std::time::{Duration, Instant};

use common::{Server, byte_scan};
use serde_json::{Value, json};

const KEEP: &str = "user-rt31-keep";
const GONE: &str = "user-rt31-gone";
const GONE_EMAIL: &str = "rt31.gone@example.org";

fn env() -> Vec<(&'static str, String)> {
    vec![
        ("TAILOR_TEST_CLOCK", "true".into()),
        ("TAILOR_RETAIN_EVENTS_DAYS", "30".into()),
        ("TAILOR_EXPIRE_INACTIVE_DAYS", "90".into()),
    ]
}

async fn send(s: &Server, path: &str, body: Value) -> Value {
    let (status, reply) = s.post(path, &body).await;
    assert_eq!(status, 200, "{path}: {reply}");
    reply
}

async fn advance(s: &Server, by: &str) {
    let (status, body) = s
        .admin_post("/v1/test/clock", &json!({"advance": by}))
        .await;
    assert_eq!(status, 200, "{body}");
}

async fn events_of(s: &Server, id: &str) -> Vec<Value> {
    let (status, body) = s.admin_get(&format!("/v1/profiles/{id}/events")).await;
    assert_eq!(status, 200, "{body}");
    body["events"].as_array().unwrap().clone()
}

/// The audit entries with `action`, newest first.
async fn audited(s: &Server, action: &str) -> Vec<Value> {
    let (status, audit) = s.admin_get("/v1/audit").await;
    assert_eq!(status, 200, "{audit}");
    audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == action)
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn old_events_go_profiles_stay_and_inactive_people_expire() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Server::start_with(dir.path(), &env()).await;
    let (status, settings) = s.admin_get("/v1/retention").await;
    assert_eq!(status, 200, "{settings}");
    assert_eq!(settings["eventsDays"], 30);
    assert_eq!(settings["expireInactiveDays"], 90);

    // Day 0: both people browse; one records a consent choice.
    for id in [KEEP, GONE] {
        send(&s, "/v1/identify", json!({"userId": id, "traits": {"email": if id == GONE { GONE_EMAIL } else { "rt31.keep@example.org" }}})).await;
        for p in ["p-1", "p-2", "p-3"] {
            send(
                &s,
                "/v1/track",
                json!({"userId": id, "event": "Product Viewed", "properties": {"product_id": p}}),
            )
            .await;
        }
    }
    send(
        &s,
        "/v1/track",
        json!({"userId": KEEP, "event": "Segment Consent Preference Updated",
        "context": {"consent": {"categoryPreferences": {"personalization": true}}}}),
    )
    .await;
    assert_eq!(events_of(&s, KEEP).await.len(), 5);

    // Day 40: one comes back. Retention deletes the day-0 events, but not the consent record.
    advance(&s, "40d").await;
    send(
        &s,
        "/v1/track",
        json!({"userId": KEEP, "event": "Product Viewed", "properties": {"product_id": "p-4"}}),
    )
    .await;
    let (status, run) = s.admin_post("/v1/retention/run", &json!({})).await;
    assert_eq!(status, 200, "{run}");
    assert_eq!(
        run["ran"]["expiredPeople"], 0,
        "nobody is 90 days inactive yet: {run}"
    );
    // The scheduled run may have come first: count both from the audit log.
    let deleted: u64 = audited(&s, "retention")
        .await
        .iter()
        .map(|e| e["detail"]["events"].as_u64().unwrap())
        .sum();
    assert_eq!(
        deleted, 8,
        "4 + 4 day-0 events (the consent event stays): {run}"
    );
    let kept: Vec<String> = events_of(&s, KEEP)
        .await
        .iter()
        .map(|e| e["event"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(kept.len(), 2, "{kept:?}");
    assert!(kept.contains(&"Segment Consent Preference Updated".to_string()));
    assert!(events_of(&s, GONE).await.is_empty());
    let (_, again) = s.admin_post("/v1/retention/run", &json!({})).await;
    assert_eq!(again["ran"]["eventsDeleted"], 0, "{again}");

    // Profiles keep what the deleted events taught them, also after a restart.
    let check = |p: &Value| {
        assert_eq!(p["productViews"], 4, "{p}");
        assert_eq!(p["traits"]["email"], "rt31.keep@example.org", "{p}");
    };
    check(&s.profile(KEEP).await);
    assert_eq!(s.profile(GONE).await["productViews"], 3);
    s.stop();
    let mut s = Server::start_with(dir.path(), &env()).await;
    check(&s.profile(KEEP).await);
    assert_eq!(s.profile(GONE).await["productViews"], 3);

    // The clock restarts at today: 100 days on, the scheduled job expires the one inactive
    // since day 0, not the one seen on day 40.
    advance(&s, "100d").await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while s.admin_get(&format!("/v1/profiles/{GONE}")).await.0 != 404 {
        assert!(
            Instant::now() < deadline,
            "the scheduled job did not expire them"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(s.profile(KEEP).await["productViews"], 4);
    let expired = audited(&s, "expired").await;
    assert_eq!(expired.len(), 1, "{expired:?}");
    assert_eq!(expired[0]["detail"]["people"], 1);
    assert_eq!(expired[0]["detail"]["profiles"], 1);
    let (_, audit) = s.admin_get("/v1/audit").await;
    let text = audit.to_string();
    assert!(!text.contains(GONE) && !text.contains(GONE_EMAIL), "{text}");
    let leftovers = byte_scan(dir.path(), &[GONE, GONE_EMAIL]);
    assert!(leftovers.is_empty(), "after expiry: {leftovers:?}");

    // No suppression: they come back as a new visitor.
    let back = send(
        &s,
        "/v1/track",
        json!({"userId": GONE, "event": "Product Viewed", "properties": {"product_id": "p-9"}}),
    )
    .await;
    assert_eq!(back["accepted"], 1, "{back}");
    let p = s.profile(GONE).await;
    assert_eq!(p["productViews"], 1, "{p}");
    assert!(p["traits"].get("email").is_none(), "{p}");
    s.stop();
}
