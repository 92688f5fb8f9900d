//! Retention at the engine boundary, on a SQLite data directory and the test clock: raw
//! events past the retention period leave the log (consent events stay) while profiles keep
//! what they learned, across a restart; people inactive past the expiry period are erased
//! by the scheduled job through the erasure path, without suppression, audit-logged without
//! personal data.

use serde_json::{Value, json};
use tailor_testkit::{DEADLINE, TestEngine, byte_scan, eventually};

const KEEP: &str = "user-rt31-keep";
const GONE: &str = "user-rt31-gone";
const GONE_EMAIL: &str = "rt31.gone@example.org";

async fn send(kit: &TestEngine, body: Value) -> tailor_engine::Receipt {
    let receipt = kit.track(body).await;
    assert_eq!(receipt.accepted, 1, "{receipt:?}");
    receipt
}

fn events_of(kit: &TestEngine, id: &str) -> Vec<Value> {
    kit.events_json(id)
}

/// The audit entries with `action`, newest first, as `GET /v1/audit` shows them.
fn audited(kit: &TestEngine, action: &str) -> Vec<Value> {
    kit.audit_log(100)
        .unwrap()
        .into_iter()
        .filter(|e| e.action == action)
        .map(|e| json!({"action": e.action, "detail": serde_json::from_str::<Value>(&e.detail).unwrap()}))
        .collect()
}

async fn run_retention(kit: &TestEngine) -> Value {
    let report = kit.blocking(|e| e.run_retention()).await.unwrap();
    json!({"ran": report})
}

#[tokio::test(flavor = "multi_thread")]
async fn old_events_go_profiles_stay_and_inactive_people_expire() {
    let mut kit = TestEngine::builder()
        .sqlite()
        .retention(Some(30), Some(90))
        .start()
        .await;
    let dir = kit.data_dir().unwrap().to_path_buf();
    let settings = kit.retention_settings();
    assert_eq!(settings.events_days, Some(30));
    assert_eq!(settings.expire_inactive_days, Some(90));

    // Day 0: both people browse; one records a consent choice.
    for id in [KEEP, GONE] {
        kit.identify(json!({"userId": id, "traits": {"email": if id == GONE { GONE_EMAIL } else { "rt31.keep@example.org" }}}))
            .await;
        for p in ["p-1", "p-2", "p-3"] {
            send(
                &kit,
                json!({"userId": id, "event": "Product Viewed", "properties": {"product_id": p}}),
            )
            .await;
        }
    }
    send(
        &kit,
        json!({"userId": KEEP, "event": "Segment Consent Preference Updated",
        "context": {"consent": {"categoryPreferences": {"personalization": true}}}}),
    )
    .await;
    assert_eq!(events_of(&kit, KEEP).len(), 5);

    // Day 40: one comes back. Retention deletes the day-0 events, but not the consent record.
    kit.clock.advance("40d");
    send(
        &kit,
        json!({"userId": KEEP, "event": "Product Viewed", "properties": {"product_id": "p-4"}}),
    )
    .await;
    let run = run_retention(&kit).await;
    assert_eq!(
        run["ran"]["expiredPeople"], 0,
        "nobody is 90 days inactive yet: {run}"
    );
    // The scheduled run may have come first: count both from the audit log.
    let deleted: u64 = audited(&kit, "retention")
        .iter()
        .map(|e| e["detail"]["events"].as_u64().unwrap())
        .sum();
    assert_eq!(
        deleted, 8,
        "4 + 4 day-0 events (the consent event stays): {run}"
    );
    let kept: Vec<String> = events_of(&kit, KEEP)
        .iter()
        .map(|e| e["event"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(kept.len(), 2, "{kept:?}");
    assert!(kept.contains(&"Segment Consent Preference Updated".to_string()));
    assert!(events_of(&kit, GONE).is_empty());
    let again = run_retention(&kit).await;
    assert_eq!(again["ran"]["eventsDeleted"], 0, "{again}");

    // Profiles keep what the deleted events taught them, also after a restart.
    let check = |p: &Value| {
        assert_eq!(p["productViews"], 4, "{p}");
        assert_eq!(p["traits"]["email"], "rt31.keep@example.org", "{p}");
    };
    check(&kit.profile_json(KEEP));
    assert_eq!(kit.profile_json(GONE)["productViews"], 3);
    kit.restart().await;
    check(&kit.profile_json(KEEP));
    assert_eq!(kit.profile_json(GONE)["productViews"], 3);

    // Day 100 (the clock kept its time across the restart): the scheduled job expires the
    // one inactive since day 0, not the one seen on day 40. It audits once the expiry is
    // done: wait for both.
    kit.clock.advance("60d");
    eventually("the scheduled job expired them", DEADLINE, || async {
        kit.try_profile_json(GONE).is_none() && !audited(&kit, "expired").is_empty()
    })
    .await;
    assert_eq!(kit.profile_json(KEEP)["productViews"], 4);
    let expired = audited(&kit, "expired");
    assert_eq!(expired.len(), 1, "{expired:?}");
    assert_eq!(expired[0]["detail"]["people"], 1);
    assert_eq!(expired[0]["detail"]["profiles"], 1);
    let audit: Vec<Value> = kit
        .audit_log(100)
        .unwrap()
        .into_iter()
        .map(|e| json!({"action": e.action, "detail": e.detail}))
        .collect();
    let text = json!(audit).to_string();
    assert!(!text.contains(GONE) && !text.contains(GONE_EMAIL), "{text}");
    let leftovers = byte_scan(&dir, &[GONE, GONE_EMAIL]);
    assert!(leftovers.is_empty(), "after expiry: {leftovers:?}");

    // No suppression: they come back as a new visitor.
    let back = send(
        &kit,
        json!({"userId": GONE, "event": "Product Viewed", "properties": {"product_id": "p-9"}}),
    )
    .await;
    assert_eq!(back.accepted, 1, "{back:?}");
    let p = kit.profile_json(GONE);
    assert_eq!(p["productViews"], 1, "{p}");
    assert!(p["traits"].get("email").is_none(), "{p}");
    kit.stop().await;
}

/// Decisions past `decisions_days` leave the log for daily rollups; newer ones stay, and
/// promotion budgets still count the retired ones.
#[tokio::test(flavor = "multi_thread")]
async fn old_decisions_become_daily_rollups() {
    let kit = TestEngine::builder()
        .sqlite()
        .retain_decisions(7)
        .start()
        .await;
    let decide = |kit: &TestEngine| {
        kit.decide_json(json!({"anonymousId": "rt-dec", "placements": ["home.hero", "recs.home"]}))
            ["decisionId"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let old: Vec<String> = (0..3).map(|_| decide(&kit)).collect();
    send(
        &kit,
        json!({"anonymousId": "rt-dec", "event": "Product Clicked", "properties": {"product_id": "x", "decisionId": old[0]}}),
    )
    .await;
    kit.settle().await;
    kit.clock.advance("10d");
    let new = decide(&kit);
    kit.settle().await;
    let run = run_retention(&kit).await;
    assert_eq!(run["ran"]["decisionsRetired"], 3, "{run}");
    for id in &old {
        assert!(kit.decision(id).unwrap().is_none(), "{id} retired");
    }
    assert!(kit.decision(&new).unwrap().is_some(), "the new one stays");
    let days = kit.decision_days(0).unwrap();
    let hero: Vec<_> = days.iter().filter(|d| d.placement == "home.hero").collect();
    assert_eq!(hero.iter().map(|d| d.decisions).sum::<u64>(), 3, "{days:?}");
    assert_eq!(hero.iter().map(|d| d.rewarded).sum::<u64>(), 1, "{days:?}");
    let again = run_retention(&kit).await;
    assert_eq!(again["ran"]["decisionsRetired"], 0, "{again}");
}
