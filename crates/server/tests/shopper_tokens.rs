//! The shopper's own endpoints, in-process: `/v1/me`, "why am I seeing this", their own
//! consent, preferences and export, all behind a profile token that only the admin key
//! mints; keys, guessed ids and tampered tokens read nothing.

mod common;

use common::{decide, get, post, put, store, view};
use serde_json::json;
use tailor_testkit::{ADMIN_KEY, TestApp, WRITE_KEY};

#[tokio::test(flavor = "multi_thread")]
async fn the_shopper_sees_their_own_profile_with_a_token_only() {
    let s = TestApp::start().await;
    store(&s).await;
    for p in ["shoes-running-0", "shoes-running-1"] {
        view(&s, "ivy", p).await;
    }
    let (status, r) = put(
        &s,
        "/v1/preferences",
        WRITE_KEY,
        json!({"userId": "ivy", "userHash": s.user_hash("ivy"), "preferences": {"sizes": ["38"], "styles": ["minimal"]}}),
    )
    .await;
    assert_eq!(status, 200, "{r}");

    // Only a server key or the admin key mints tokens: a browser cannot vouch for itself.
    let (status, _) = post(&s, "/v1/tokens", WRITE_KEY, json!({"userId": "ivy"})).await;
    assert_eq!(status, 403);
    let (status, t) = post(
        &s,
        "/v1/tokens",
        ADMIN_KEY,
        json!({"userId": "ivy", "ttlSeconds": 600}),
    )
    .await;
    assert_eq!(status, 200, "{t}");
    let token = t["token"].as_str().unwrap().to_string();
    let (_, other) = post(
        &s,
        "/v1/tokens",
        ADMIN_KEY,
        json!({"userId": "someone-else"}),
    )
    .await;

    // Keys, guessed ids and tampered tokens read nothing.
    for bad in [
        WRITE_KEY,
        ADMIN_KEY,
        "tpt_e30.AAAA",
        &token[..token.len() - 2],
    ] {
        let (status, body) = get(&s, "/v1/me", bad).await;
        assert_eq!(status, 401, "{bad}: {body}");
    }
    let (status, me) = get(&s, "/v1/me", &token).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["userId"], "ivy");
    assert_eq!(me["declared"]["sizes"][0], "38");
    assert_eq!(me["inferred"]["productViews"], 2);
    assert_eq!(me["consent"]["personalization"]["allowed"], true);
    assert_eq!(me["consent"]["email"]["reason"], "not granted (opt-in)");

    // Why am I seeing this: their own decisions only.
    let d = decide(&s, "ivy").await;
    let id = d["decisionId"].as_str().unwrap();
    let (status, why) = get(&s, &format!("/v1/me/decisions/{id}"), &token).await;
    assert_eq!(status, 200, "{why}");
    assert_eq!(
        why["placements"]["home.hero"]["explanation"],
        d["decisions"]["home.hero"]["explanation"]
    );
    let (status, _) = get(
        &s,
        &format!("/v1/me/decisions/{id}"),
        other["token"].as_str().unwrap(),
    )
    .await;
    assert_eq!(status, 404, "someone else's decision is not theirs to read");

    // Their own consent and preferences, through the token.
    let (status, r) = put(
        &s,
        "/v1/me/consent",
        &token,
        json!({"purposes": {"personalization": false}}),
    )
    .await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(decide(&s, "ivy").await["personalized"], false);
    let (status, r) = put(
        &s,
        "/v1/me/preferences",
        &token,
        json!({"preferences": {"frequency": "weekly"}}),
    )
    .await;
    assert_eq!(status, 200, "{r}");
    let (status, export) = get(&s, "/v1/me/export", &token).await;
    assert_eq!(status, 200);
    assert_eq!(
        export["profile"]["traits"]["preferences"]["frequency"],
        "weekly"
    );
    assert_eq!(export["consentHistory"][0]["source"], "visitor");
}
