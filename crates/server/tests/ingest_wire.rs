//! The Segment Tracking API on the wire, in-process: a write key in each form Segment's
//! libraries send it, gzip bodies, and refused input answered with a typed error while
//! nothing of it is stored. (What ingestion does with events: `crates/engine/tests/ingest.rs`.)

use serde_json::json;
use tailor_testkit::{Request, SERVER_KEY, TestApp, WRITE_KEY};

#[tokio::test(flavor = "multi_thread")]
async fn the_write_key_counts_in_every_form_segment_sends_it() {
    let s = TestApp::start().await;
    // HTTP Basic with the key as the user name (Segment's server libraries).
    let (status, reply) = s
        .post("/v1/page", &json!({"userId": "u1", "name": "Basic"}))
        .await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["success"], true);
    // Segment's body form of the key (analytics.js).
    let (status, _) = s
        .post_to("/v1/track")
        .json(&json!({"writeKey": SERVER_KEY, "userId": "u1", "event": "Email Opened"}))
        .send()
        .await;
    assert_eq!(status, 200);
    // Bearer form.
    let (status, _) = s
        .post_to("/v1/page")
        .bearer(SERVER_KEY)
        .json(&json!({"userId": "u1", "name": "Bearer"}))
        .send()
        .await;
    assert_eq!(status, 200);
    let p = s.profile("u1").await;
    assert_eq!(p["events"], 3, "{p}");
    assert_eq!(p["email"]["opened"], 1);
    let (status, events) = s.admin_get("/v1/profiles/u1/events?limit=2").await;
    assert_eq!(status, 200);
    assert_eq!(events["events"].as_array().unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn duplicate_message_ids_are_counted_in_the_reply() {
    let s = TestApp::start().await;
    let body = json!({"userId": "u", "event": "Product Viewed", "messageId": "same-1", "properties": {"product_id": "x"}});
    for _ in 0..3 {
        assert_eq!(s.post("/v1/track", &body).await.0, 200);
    }
    let batch = json!({"batch": [
        {"type": "track", "userId": "u", "event": "Product Viewed", "messageId": "same-1"},
        {"type": "track", "userId": "u", "event": "Product Viewed", "messageId": "same-2"},
        {"type": "track", "userId": "u", "event": "Product Viewed", "messageId": "same-2"}
    ]});
    let (_, reply) = s.post("/v1/batch", &batch).await;
    assert_eq!(
        (reply["accepted"].as_u64(), reply["duplicates"].as_u64()),
        (Some(1), Some(2)),
        "{reply}"
    );
    assert_eq!(s.profile("u").await["productViews"], 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn gzip_bodies_are_accepted() {
    use std::io::Write;
    let s = TestApp::start().await;
    let body = serde_json::to_vec(&json!({"batch": [{"type": "page", "userId": "gz"}]})).unwrap();
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(&body).unwrap();
    let gz = enc.finish().unwrap();
    let (status, reply) = s
        .post_to("/v1/batch")
        .basic(SERVER_KEY)
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body(gz)
        .send()
        .await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(s.profile("gz").await["pageViews"], 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_gets_a_clear_error_and_stores_nothing() {
    let s = TestApp::start().await;
    let post_bytes = |path: &str, bytes: Vec<u8>| {
        s.post_to(path)
            .basic(SERVER_KEY)
            .header("content-type", "application/json")
            .body(bytes)
    };
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let cases: Vec<(Request, u16, &str)> = vec![
        (post_bytes("/v1/track", b"{\"userId\": \"bad\", \"event\": ".to_vec()), 400, "invalid_json"),
        (post_bytes("/v1/track", b"{\"userId\": \"bad\xff\xfe\", \"event\": \"x\"}".to_vec()), 400, "invalid_json"),
        (post_bytes("/v1/track", b"[1, 2]".to_vec()), 400, "invalid_request"),
        (post_bytes("/v1/track", br#"{"event": "x"}"#.to_vec()), 400, "no_user_anon_id"),
        (post_bytes("/v1/track", br#"{"userId": "bad"}"#.to_vec()), 400, "missing_event"),
        (post_bytes("/v1/track", br#"{"userId": ["bad"], "event": "x"}"#.to_vec()), 400, "invalid_id"),
        (post_bytes("/v1/track", br#"{"userId": "bad", "event": 7}"#.to_vec()), 400, "invalid_field"),
        (post_bytes("/v1/track", br#"{"userId": "bad", "event": "x", "properties": "no"}"#.to_vec()), 400, "invalid_field"),
        (post_bytes("/v1/track", br#"{"userId": "bad", "event": "x", "timestamp": "yesterday"}"#.to_vec()), 400, "invalid_timestamp"),
        (post_bytes("/v1/track", br#"{"userId": "bad", "event": "x", "properties": {"n": 1e400}}"#.to_vec()), 400, "invalid_json"),
        (post_bytes("/v1/track", format!(r#"{{"userId": "bad", "event": "x", "properties": {{"d": {deep}}}}}"#).into_bytes()), 400, "invalid_json"),
        (post_bytes("/v1/alias", br#"{"userId": "bad"}"#.to_vec()), 400, "missing_alias_ids"),
        (post_bytes("/v1/group", br#"{"userId": "bad"}"#.to_vec()), 400, "missing_group_id"),
        (post_bytes("/v1/batch", br#"{"events": []}"#.to_vec()), 400, "invalid_request"),
        (post_bytes("/v1/track", format!(r#"{{"userId": "bad", "event": "x", "properties": {{"blob": "{}"}}}}"#, "x".repeat(33 * 1024)).into_bytes()), 413, "payload_too_large"),
        (post_bytes("/v1/batch", format!(r#"{{"batch": [{{"type": "page", "userId": "bad", "properties": {{"blob": "{}"}}}}]}}"#, "x".repeat(501 * 1024)).into_bytes()), 413, "payload_too_large"),
        (post_bytes("/v1/batch", serde_json::to_vec(&json!({"batch": vec![json!({"type": "page", "userId": "bad"}); 2501]})).unwrap()), 413, "payload_too_large"),
        (s.post_to("/v1/track").json(&json!({"userId": "bad", "event": "x"})), 401, "unauthorized"),
        (s.post_to("/v1/track").basic("wrong").json(&json!({"userId": "bad", "event": "x"})), 401, "unauthorized"),
        (s.post_to("/v1/track").json(&json!({"userId": "bad", "event": "x", "writeKey": "wrong"})), 401, "unauthorized"),
        (s.get("/v1/profiles/bad").bearer(WRITE_KEY), 403, "forbidden"),
        (s.get("/v1/profiles/bad"), 401, "unauthorized"),
        (s.put("/v1/catalog/products").bearer(WRITE_KEY).json(&json!([])), 403, "forbidden"),
        (s.get("/v1/nothing-here"), 404, "not_found"),
        (s.delete("/v1/track"), 405, "method_not_allowed"),
        (s.post_to("/v1/track").basic(WRITE_KEY).header("content-encoding", "br").body("x"), 415, "unsupported_encoding"),
    ];
    for (i, (req, status, code)) in cases.into_iter().enumerate() {
        let (got, body) = req.send().await;
        assert_eq!(got, status, "case {i}: {body}");
        assert_eq!(body["error"]["code"], code, "case {i}: {body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "case {i}: {body}"
        );
    }
    // A batch with some invalid messages keeps the valid ones (Segment's behaviour).
    let (status, reply) = s
        .post(
            "/v1/batch",
            &json!({"batch": [
                {"type": "page", "userId": "mixed"},
                {"type": "track", "userId": "mixed"},
                {"type": "dance", "userId": "mixed"},
                {"userId": "mixed"},
                "not an object",
            ]}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(reply["accepted"], 1);
    let codes: Vec<&str> = reply["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["code"].as_str().unwrap())
        .collect();
    assert_eq!(
        codes,
        [
            "missing_event",
            "invalid_type",
            "missing_type",
            "invalid_message"
        ]
    );
    // Nesting deeper than the parser's limit inside a batch is one more rejected message.
    let deep = format!(
        r#"{{"batch": [{{"type": "page", "userId": "bad", "properties": {{"d": {}{}}}}}]}}"#,
        "[".repeat(500),
        "]".repeat(500)
    );
    let (status, reply) = post_bytes("/v1/batch", deep.into_bytes()).send().await;
    assert_eq!(status, 200);
    assert_eq!(reply["rejected"][0]["code"], "invalid_json", "{reply}");
    // Nothing from the refused requests was stored, and the server is still up.
    let (status, _) = s.admin_get("/v1/profiles/bad").await;
    assert_eq!(status, 404);
    assert_eq!(s.profile("mixed").await["events"], 1);
    assert_eq!(s.get("/healthz").send().await.0, 200);
}
