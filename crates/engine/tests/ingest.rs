//! Ingestion at the engine boundary: every Segment call shapes the profile, `messageId`
//! makes delivery idempotent, `sentAt` corrects the sender's clock, identity merges do not
//! depend on arrival order, an acknowledged event is already in its profile, and a graceful
//! restart restores profiles exactly. (Auth forms, gzip and refusals: `crates/server/tests`;
//! kill -9 durability: `crates/tailor/tests/api.rs`.)

use serde_json::{Value, json};
use tailor_testkit::{TestEngine, alias, group, identify, page, screen, track};

#[tokio::test(flavor = "multi_thread")]
async fn every_segment_call_is_stored_and_shapes_the_profile() {
    let kit = TestEngine::start().await;
    let calls = vec![
        page(json!({"anonymousId": "a1", "name": "Home"})),
        screen(json!({"anonymousId": "a1", "name": "Cart"})),
        track(json!({"anonymousId": "a1", "event": "Product Viewed",
            "properties": {"product_id": "p1", "category": "Shoes/Running", "price": 80, "brand": "Fleet"}})),
        track(json!({"anonymousId": "a1", "event": "Product Viewed",
            "properties": {"product_id": "p2", "category": "Shoes/Running", "price": 95}})),
        track(json!({"anonymousId": "a1", "event": "Product Added",
            "properties": {"product_id": "p1", "category": "Shoes/Running", "price": 80}})),
        identify(
            json!({"anonymousId": "a1", "userId": "u1", "traits": {"email": "u1@example.com", "plan": "gold"}}),
        ),
        group(json!({"userId": "u1", "groupId": "g1", "traits": {"name": "Acme"}})),
        track(json!({"userId": "u1", "event": "Order Completed",
            "properties": {"order_id": "o1", "total": 80, "products": [{"product_id": "p1", "price": 80, "category": "Shoes/Running"}]}})),
        alias(json!({"previousId": "old-device", "userId": "u1"})),
        // The two calls the API test sends with the key in the body and as a bearer token.
        track(json!({"userId": "u1", "event": "Email Opened"})),
        page(json!({"userId": "u1", "name": "Bearer"})),
    ];
    for call in calls {
        let receipt = kit.send(call).await;
        assert_eq!(receipt.accepted, 1, "{receipt:?}");
    }

    let p = kit.profile_json("u1");
    assert_eq!(p["events"], 11, "{p}");
    assert_eq!(p["traits"]["email"], "u1@example.com");
    assert_eq!(p["productViews"], 2);
    assert_eq!(
        p["comparisons"], 1,
        "two running shoes in one session is a comparison"
    );
    assert_eq!(p["orders"]["count"], 1);
    assert_eq!(p["orders"]["revenue"], 80.0);
    assert_eq!(
        p["cart"]["items"].as_array().unwrap().len(),
        0,
        "the order emptied the cart"
    );
    assert_eq!(p["pageViews"], 3);
    assert_eq!(p["email"]["opened"], 1);
    assert_eq!(p["affinities"]["categories"][0]["key"], "Shoes");
    assert_eq!(p["lifecycleStage"], "purchase");
    for id in ["a1", "old-device", p["id"].as_str().unwrap()] {
        assert_eq!(
            kit.profile_json(id)["id"],
            p["id"],
            "{id} resolves to the same person"
        );
    }
    let events = kit.events_of("u1", 5).unwrap().unwrap();
    assert_eq!(events.len(), 5);
}

#[tokio::test(flavor = "multi_thread")]
async fn message_ids_make_delivery_idempotent() {
    let kit = TestEngine::start().await;
    let body = json!({"userId": "u", "event": "Product Viewed", "messageId": "same-1", "properties": {"product_id": "x"}});
    let first = kit.track(body.clone()).await;
    assert_eq!((first.accepted, first.duplicates), (1, 0));
    for _ in 0..2 {
        let again = kit.track(body.clone()).await;
        assert_eq!((again.accepted, again.duplicates), (0, 1));
    }
    let receipt = kit
        .batch(json!({"batch": [
            {"type": "track", "userId": "u", "event": "Product Viewed", "messageId": "same-1"},
            {"type": "track", "userId": "u", "event": "Product Viewed", "messageId": "same-2"},
            {"type": "track", "userId": "u", "event": "Product Viewed", "messageId": "same-2"}
        ]}))
        .await;
    assert_eq!(
        (receipt.accepted, receipt.duplicates),
        (1, 2),
        "{receipt:?}"
    );
    assert_eq!(kit.profile_json("u")["productViews"], 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn sent_at_corrects_the_senders_clock() {
    let kit = TestEngine::start().await;
    // The sender's clock is a year fast; the event happened 1 minute before it was sent.
    let now = chrono::Utc::now();
    let skew = chrono::Duration::days(365);
    let sent = now + skew;
    let ts = sent - chrono::Duration::minutes(1);
    let receipt = kit
        .batch(json!({"sentAt": sent.to_rfc3339(), "batch": [{"type": "page", "userId": "skewed", "timestamp": ts.to_rfc3339()}]}))
        .await;
    assert_eq!(receipt.accepted, 1);
    let p = kit.profile_json("skewed");
    let seen = chrono::DateTime::parse_from_rfc3339(p["firstSeen"].as_str().unwrap()).unwrap();
    let off = (seen.with_timezone(&chrono::Utc) - (now - chrono::Duration::minutes(1)))
        .num_seconds()
        .abs();
    assert!(
        off < 30,
        "corrected timestamp is {seen}, expected about a minute ago"
    );
}

/// The same history delivered in two orders (identify first or last) ends in one profile
/// with the same features.
#[tokio::test(flavor = "multi_thread")]
async fn identity_merges_do_not_depend_on_arrival_order() {
    let history = |p: &str| {
        vec![
            track(
                json!({"anonymousId": format!("{p}-anon"), "event": "Product Viewed", "timestamp": "2026-03-01T10:00:00Z",
                "properties": {"product_id": "p1", "category": "Home/Kitchen", "price": 30}}),
            ),
            track(
                json!({"anonymousId": format!("{p}-anon"), "event": "Product Added", "timestamp": "2026-03-01T10:02:00Z",
                "properties": {"product_id": "p1", "category": "Home/Kitchen", "price": 30}}),
            ),
            identify(
                json!({"anonymousId": format!("{p}-anon"), "userId": format!("{p}-user"), "timestamp": "2026-03-01T10:03:00Z",
                "traits": {"email": "same@example.com"}}),
            ),
            track(
                json!({"userId": format!("{p}-user"), "event": "Order Completed", "timestamp": "2026-03-01T10:05:00Z",
                "properties": {"total": 30, "products": [{"product_id": "p1", "price": 30, "category": "Home/Kitchen"}]}}),
            ),
            page(json!({"anonymousId": format!("{p}-phone"), "timestamp": "2026-03-04T08:00:00Z"})),
            alias(
                json!({"previousId": format!("{p}-phone"), "userId": format!("{p}-user"), "timestamp": "2026-03-04T08:01:00Z"}),
            ),
        ]
    };
    let kit = TestEngine::start().await;
    for call in history("fwd") {
        assert_eq!(kit.send(call).await.accepted, 1);
    }
    let mut reversed = history("rev");
    reversed.reverse();
    for call in reversed {
        assert_eq!(kit.send(call).await.accepted, 1);
    }
    let comparable = |mut p: Value, prefix: &str| {
        let o = p.as_object_mut().unwrap();
        o.remove("id");
        let mut ids: Vec<String> = ["userIds", "anonymousIds"]
            .iter()
            .flat_map(|k| o.remove(*k).unwrap().as_array().unwrap().clone())
            .map(|v| v.as_str().unwrap().trim_start_matches(prefix).to_string())
            .collect();
        ids.sort();
        (ids, p)
    };
    let fwd = comparable(kit.profile_json("fwd-user"), "fwd");
    let rev = comparable(kit.profile_json("rev-user"), "rev");
    assert_eq!(fwd.0, vec!["-anon", "-phone", "-user"]);
    assert_eq!(fwd, rev);
    assert_eq!(
        kit.profile_json("rev-anon")["id"],
        kit.profile_json("rev-phone")["id"]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn graceful_shutdown_checkpoints_and_restart_is_exact() {
    let mut kit = TestEngine::builder().sqlite().start().await;
    for i in 0..20 {
        kit.identify(json!({"anonymousId": format!("g-a{i}"), "userId": format!("g-u{}", i % 5)}))
            .await;
        kit.track(json!({"userId": format!("g-u{}", i % 5), "event": "Product Added", "properties": {"product_id": format!("p{i}"), "price": 10}}))
            .await;
    }
    let before = kit.profile_json("g-u3");
    kit.restart().await;
    let after = kit.profile_json("g-u3");
    assert_eq!(before, after);
    assert_eq!(after["anonymousIds"].as_array().unwrap().len(), 4);
    assert_eq!(after["cart"]["value"], 40.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_acknowledged_event_is_already_in_the_profile() {
    let kit = TestEngine::start().await;
    for i in 1..=20u64 {
        kit.track(json!({"userId": "fresh", "event": "Product Viewed", "properties": {"product_id": format!("p{i}")}}))
            .await;
        // No waiting between the acknowledgement and the read.
        assert_eq!(kit.profile_json("fresh")["productViews"], i);
    }
}
