//! End-to-end tests of the public HTTP API over loopback, against the real binary.

mod common;

use std::time::Duration;

use common::{ADMIN_KEY, Server, WRITE_KEY};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread")]
async fn every_segment_call_is_stored_and_shapes_the_profile() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path()).await;
    let calls = [
        ("/v1/page", json!({"anonymousId": "a1", "name": "Home"})),
        ("/v1/screen", json!({"anonymousId": "a1", "name": "Cart"})),
        (
            "/v1/track",
            json!({"anonymousId": "a1", "event": "Product Viewed",
            "properties": {"product_id": "p1", "category": "Shoes/Running", "price": 80, "brand": "Fleet"}}),
        ),
        (
            "/v1/track",
            json!({"anonymousId": "a1", "event": "Product Viewed",
            "properties": {"product_id": "p2", "category": "Shoes/Running", "price": 95}}),
        ),
        (
            "/v1/track",
            json!({"anonymousId": "a1", "event": "Product Added",
            "properties": {"product_id": "p1", "category": "Shoes/Running", "price": 80}}),
        ),
        (
            "/v1/identify",
            json!({"anonymousId": "a1", "userId": "u1", "traits": {"email": "u1@example.com", "plan": "gold"}}),
        ),
        (
            "/v1/group",
            json!({"userId": "u1", "groupId": "g1", "traits": {"name": "Acme"}}),
        ),
        (
            "/v1/track",
            json!({"userId": "u1", "event": "Order Completed",
            "properties": {"order_id": "o1", "total": 80, "products": [{"product_id": "p1", "price": 80, "category": "Shoes/Running"}]}}),
        ),
        (
            "/v1/alias",
            json!({"previousId": "old-device", "userId": "u1"}),
        ),
    ];
    for (path, body) in &calls {
        let (status, reply) = s.post(path, body).await;
        assert_eq!(status, 200, "{path}: {reply}");
        assert_eq!(reply["success"], true);
    }
    // Segment's body form of the key.
    let (status, _) = s
        .raw(
            s.http
                .post(s.url("/v1/track"))
                .json(&json!({"writeKey": WRITE_KEY, "userId": "u1", "event": "Email Opened"})),
        )
        .await;
    assert_eq!(status, 200);
    // Bearer form.
    let (status, _) = s
        .raw(
            s.http
                .post(s.url("/v1/page"))
                .bearer_auth(WRITE_KEY)
                .json(&json!({"userId": "u1", "name": "Bearer"})),
        )
        .await;
    assert_eq!(status, 200);

    let p = s.profile("u1").await;
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
            s.profile(id).await["id"],
            p["id"],
            "{id} resolves to the same person"
        );
    }
    let (status, events) = s.admin_get("/v1/profiles/u1/events?limit=5").await;
    assert_eq!(status, 200);
    assert_eq!(events["events"].as_array().unwrap().len(), 5);
}

#[tokio::test(flavor = "multi_thread")]
async fn message_ids_make_delivery_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path()).await;
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
async fn sent_at_corrects_the_senders_clock() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path()).await;
    // The sender's clock is a year fast; the event happened 1 minute before it was sent.
    let now = chrono::Utc::now();
    let skew = chrono::Duration::days(365);
    let sent = now + skew;
    let ts = sent - chrono::Duration::minutes(1);
    let batch = json!({"sentAt": sent.to_rfc3339(), "batch": [{"type": "page", "userId": "skewed", "timestamp": ts.to_rfc3339()}]});
    assert_eq!(s.post("/v1/batch", &batch).await.0, 200);
    let p = s.profile("skewed").await;
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
            (
                "/v1/track",
                json!({"anonymousId": format!("{p}-anon"), "event": "Product Viewed", "timestamp": "2026-03-01T10:00:00Z",
                "properties": {"product_id": "p1", "category": "Home/Kitchen", "price": 30}}),
            ),
            (
                "/v1/track",
                json!({"anonymousId": format!("{p}-anon"), "event": "Product Added", "timestamp": "2026-03-01T10:02:00Z",
                "properties": {"product_id": "p1", "category": "Home/Kitchen", "price": 30}}),
            ),
            (
                "/v1/identify",
                json!({"anonymousId": format!("{p}-anon"), "userId": format!("{p}-user"), "timestamp": "2026-03-01T10:03:00Z",
                "traits": {"email": "same@example.com"}}),
            ),
            (
                "/v1/track",
                json!({"userId": format!("{p}-user"), "event": "Order Completed", "timestamp": "2026-03-01T10:05:00Z",
                "properties": {"total": 30, "products": [{"product_id": "p1", "price": 30, "category": "Home/Kitchen"}]}}),
            ),
            (
                "/v1/page",
                json!({"anonymousId": format!("{p}-phone"), "timestamp": "2026-03-04T08:00:00Z"}),
            ),
            (
                "/v1/alias",
                json!({"previousId": format!("{p}-phone"), "userId": format!("{p}-user"), "timestamp": "2026-03-04T08:01:00Z"}),
            ),
        ]
    };
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path()).await;
    for (path, body) in history("fwd") {
        assert_eq!(s.post(path, &body).await.0, 200);
    }
    let mut reversed = history("rev");
    reversed.reverse();
    for (path, body) in reversed {
        assert_eq!(s.post(path, &body).await.0, 200);
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
    let fwd = comparable(s.profile("fwd-user").await, "fwd");
    let rev = comparable(s.profile("rev-user").await, "rev");
    assert_eq!(fwd.0, vec!["-anon", "-phone", "-user"]);
    assert_eq!(fwd, rev);
    assert_eq!(
        s.profile("rev-anon").await["id"],
        s.profile("rev-phone").await["id"]
    );
}

/// Every 200 is durable: kill -9 right after the acknowledgements, restart, all there.
#[tokio::test(flavor = "multi_thread")]
async fn acknowledged_events_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Server::start(dir.path()).await;
    let mut tasks = Vec::new();
    for client in 0..8 {
        let http = s.http.clone();
        let url = s.url("/v1/batch");
        tasks.push(tokio::spawn(async move {
            let mut acked = 0;
            for b in 0..10 {
                let batch: Vec<Value> = (0..50)
                    .map(|i| json!({"type": "track", "userId": format!("durable-{client}"), "event": "Product Viewed",
                        "messageId": format!("d-{client}-{b}-{i}"), "properties": {"product_id": format!("p{i}")}}))
                    .collect();
                let r = http.post(&url).basic_auth(WRITE_KEY, Some("")).json(&json!({"batch": batch})).send().await.unwrap();
                assert_eq!(r.status(), 200);
                acked += 50;
            }
            acked
        }));
    }
    let mut acked = 0;
    for t in tasks {
        acked += t.await.unwrap();
    }
    assert_eq!(acked, 4000);
    s.kill_9();
    let s = Server::start(dir.path()).await;
    for client in 0..8 {
        let p = s.profile(&format!("durable-{client}")).await;
        assert_eq!(p["productViews"], 500, "client {client} after kill -9: {p}");
    }
    // Re-sending everything after the restart stores nothing twice.
    let batch: Vec<Value> = (0..50)
        .map(|i| json!({"type": "track", "userId": "durable-0", "event": "Product Viewed", "messageId": format!("d-0-0-{i}")}))
        .collect();
    let (_, reply) = s.post("/v1/batch", &json!({"batch": batch})).await;
    assert_eq!(reply["duplicates"], 50);
}

#[tokio::test(flavor = "multi_thread")]
async fn graceful_shutdown_checkpoints_and_restart_is_exact() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Server::start(dir.path()).await;
    for i in 0..20 {
        s.post(
            "/v1/identify",
            &json!({"anonymousId": format!("g-a{i}"), "userId": format!("g-u{}", i % 5)}),
        )
        .await;
        s.post("/v1/track", &json!({"userId": format!("g-u{}", i % 5), "event": "Product Added", "properties": {"product_id": format!("p{i}"), "price": 10}})).await;
    }
    let before = s.profile("g-u3").await;
    s.stop();
    let s = Server::start(dir.path()).await;
    let after = s.profile("g-u3").await;
    assert_eq!(before, after);
    assert_eq!(after["anonymousIds"].as_array().unwrap().len(), 4);
    assert_eq!(after["cart"]["value"], 40.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_acknowledged_event_is_already_in_the_profile() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path()).await;
    for i in 1..=20u64 {
        s.post("/v1/track", &json!({"userId": "fresh", "event": "Product Viewed", "properties": {"product_id": format!("p{i}")}}))
            .await;
        // No waiting between the acknowledgement and the read.
        assert_eq!(s.profile("fresh").await["productViews"], i);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn gzip_bodies_are_accepted() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path()).await;
    let body = serde_json::to_vec(&json!({"batch": [{"type": "page", "userId": "gz"}]})).unwrap();
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(&body).unwrap();
    let gz = enc.finish().unwrap();
    let req = s
        .http
        .post(s.url("/v1/batch"))
        .basic_auth(WRITE_KEY, Some(""))
        .header("Content-Type", "application/json")
        .header("Content-Encoding", "gzip")
        .body(gz);
    assert_eq!(s.raw(req).await.0, 200);
    assert_eq!(s.profile("gz").await["pageViews"], 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_gets_a_clear_error_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path()).await;
    let post_bytes = |path: &str, bytes: Vec<u8>| {
        s.http
            .post(s.url(path))
            .basic_auth(WRITE_KEY, Some(""))
            .header("Content-Type", "application/json")
            .body(bytes)
    };
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let cases: Vec<(reqwest::RequestBuilder, u16, &str)> = vec![
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
        (s.http.post(s.url("/v1/track")).json(&json!({"userId": "bad", "event": "x"})), 401, "unauthorized"),
        (s.http.post(s.url("/v1/track")).basic_auth("wrong", Some("")).json(&json!({"userId": "bad", "event": "x"})), 401, "unauthorized"),
        (s.http.post(s.url("/v1/track")).json(&json!({"userId": "bad", "event": "x", "writeKey": "wrong"})), 401, "unauthorized"),
        (s.http.get(s.url("/v1/profiles/bad")).bearer_auth(WRITE_KEY), 403, "forbidden"),
        (s.http.get(s.url("/v1/profiles/bad")), 401, "unauthorized"),
        (s.http.put(s.url("/v1/catalog/products")).bearer_auth(WRITE_KEY).json(&json!([])), 403, "forbidden"),
        (s.http.get(s.url("/v1/nothing-here")), 404, "not_found"),
        (s.http.delete(s.url("/v1/track")), 405, "method_not_allowed"),
        (s.http.post(s.url("/v1/track")).basic_auth(WRITE_KEY, Some("")).header("Content-Encoding", "br").body("x"), 415, "unsupported_encoding"),
    ];
    for (i, (req, status, code)) in cases.into_iter().enumerate() {
        let (got, body) = s.raw(req).await;
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
    let (status, reply) = s.raw(post_bytes("/v1/batch", deep.into_bytes())).await;
    assert_eq!(status, 200);
    assert_eq!(reply["rejected"][0]["code"], "invalid_json", "{reply}");
    // Nothing from the refused requests was stored, and the server is still up.
    let (status, _) = s.admin_get("/v1/profiles/bad").await;
    assert_eq!(status, 404);
    assert_eq!(s.profile("mixed").await["events"], 1);
    assert_eq!(
        s.http.get(s.url("/healthz")).send().await.unwrap().status(),
        200
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn catalog_upserts_validates_and_deletes() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path()).await;
    let products = json!([
        {"id": "p1", "name": "Trail runner", "category": ["Shoes", "Running"], "brand": "Fleet", "price": 89.0, "stock": 4,
         "attributes": {"color": "red"}, "image_url": "https://img.example/p1.jpg"},
        {"id": "p2", "name": "Kettle", "category": "Home/Kitchen", "price": 25, "currency": "eur", "stock": 0}
    ]);
    let (status, reply) = s.admin_put("/v1/catalog/products", &products).await;
    assert_eq!(
        (status, reply["upserted"].as_u64()),
        (200, Some(2)),
        "{reply}"
    );
    // NDJSON upsert changes p2 and adds p3.
    let nd = "{\"id\": \"p2\", \"name\": \"Kettle\", \"category\": \"Home/Kitchen\", \"price\": 30}\n{\"id\": \"p3\", \"name\": \"Pan\", \"category\": \"Home/Kitchen\", \"price\": 40}\n";
    let req = s
        .http
        .put(s.url("/v1/catalog/products"))
        .bearer_auth(ADMIN_KEY)
        .header("Content-Type", "application/x-ndjson")
        .body(nd);
    assert_eq!(s.raw(req).await.0, 200);
    let (status, p2) = s
        .raw(
            s.http
                .get(s.url("/v1/catalog/products/p2"))
                .bearer_auth(WRITE_KEY),
        )
        .await;
    assert_eq!((status, p2["price"].as_f64()), (200, Some(30.0)));
    assert_eq!(p2["category"], json!(["Home", "Kitchen"]));
    let (_, list) = s.admin_get("/v1/catalog/products?category=Home").await;
    assert_eq!(list["total"], 2);
    let (_, tree) = s.admin_get("/v1/catalog/categories").await;
    assert_eq!(tree["categories"][0]["name"], "Home");
    assert_eq!(tree["categories"][0]["children"][0]["products"], 2);
    // One bad product: nothing stored, every problem reported with its index.
    let (status, err) = s
        .admin_put(
            "/v1/catalog/products",
            &json!([
                {"id": "p9", "name": "Fine", "category": "A/B", "price": 1},
                {"id": "p10", "category": "A/B", "price": -3},
            ]),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(err["error"]["code"], "invalid_catalog");
    assert_eq!(err["error"]["details"][0]["index"], 1);
    assert_eq!(
        err["error"]["details"][0]["problems"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(s.admin_get("/v1/catalog/products/p9").await.0, 404);
    // Delete.
    let del = s
        .http
        .delete(s.url("/v1/catalog/products/p1"))
        .bearer_auth(ADMIN_KEY);
    assert_eq!(s.raw(del).await.0, 200);
    let del = s
        .http
        .delete(s.url("/v1/catalog/products/p1"))
        .bearer_auth(ADMIN_KEY);
    assert_eq!(s.raw(del).await.0, 404);
    // Content for placements.
    let content = json!([
        {"id": "hero-run", "kind": "banner", "placements": ["home.hero"], "title": "Run further",
         "targeting": {"categories": ["Shoes"], "condition": {"lifecycleStage": "repeat"}, "priority": 2}},
        {"id": "promo-cart", "kind": "promotion", "placements": ["promo.banner"], "title": "10% off your cart",
         "targeting": {"stages": ["evaluation"], "start_at": "2026-01-01T00:00:00Z", "end_at": "2027-01-01T00:00:00Z", "max_impressions": 1000}},
        {"id": "nav-shoes", "kind": "navigation", "placements": ["nav.categories"], "title": "Shoes", "link_url": "/c/shoes"}
    ]);
    assert_eq!(s.admin_put("/v1/catalog/content", &content).await.0, 200);
    let (_, heroes) = s.admin_get("/v1/catalog/content?placement=home.hero").await;
    assert_eq!(heroes["total"], 1);
    let (status, err) = s
        .admin_put(
            "/v1/catalog/content",
            &json!({"id": "x", "kind": "popup", "placements": [], "title": "t"}),
        )
        .await;
    assert_eq!(status, 400, "{err}");
    assert_eq!(
        err["error"]["details"][0]["problems"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let (status, err) = s
        .admin_put(
            "/v1/catalog/content",
            &json!({"id": "y", "kind": "banner", "placements": ["home.hero"], "title": "t",
                    "targeting": {"condition": {"orders": {"$between": [1, 2]}}}}),
        )
        .await;
    assert_eq!(
        status, 400,
        "an invalid targeting condition is refused: {err}"
    );
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("condition"),
        "{err}"
    );
    // The catalog survives a restart.
    drop(s);
    let s = Server::start(dir.path()).await;
    assert_eq!(s.admin_get("/v1/catalog/products/p3").await.0, 200);
    assert_eq!(
        s.admin_get("/v1/catalog/content/promo-cart").await.1["targeting"]["max_impressions"],
        1000
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn consent_from_events_and_from_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path()).await;
    s.post("/v1/page", &json!({"anonymousId": "c1", "context": {"consent": {"categoryPreferences": {"Advertising": false, "Analytics": true}}}}))
        .await;
    let p = s.profile("c1").await;
    assert_eq!(p["consent"]["advertising"]["granted"], false);
    assert_eq!(p["consent"]["analytics"]["granted"], true);
    tokio::time::sleep(Duration::from_millis(5)).await;
    let (status, reply) = s
        .admin_put(
            "/v1/consent",
            &json!({"anonymousId": "c1", "purposes": {"advertising": true, "email": false}}),
        )
        .await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["consent"]["advertising"]["granted"], true);
    assert_eq!(reply["consent"]["advertising"]["source"], "api");
    assert_eq!(reply["consent"]["email"]["granted"], false);
    let (status, err) = s
        .admin_put(
            "/v1/consent",
            &json!({"anonymousId": "c1", "purposes": {"telepathy": true}}),
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("telepathy")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn operations_endpoints_answer() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path()).await;
    assert_eq!(s.post("/v1/page", &json!({"userId": "ops"})).await.0, 200);
    let (status, health) = s.raw(s.http.get(s.url("/healthz"))).await;
    assert_eq!((status, health["status"].as_str()), (200, Some("ok")));
    let metrics = s
        .http
        .get(s.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for name in [
        "tailor_events_ingested_total",
        "tailor_http_requests_total",
        "tailor_ingest_commit_seconds",
        "tailor_profiles",
        "tailor_ingest_queue_depth",
    ] {
        assert!(metrics.contains(name), "{name} missing from /metrics");
    }
    let (status, spec) = s.raw(s.http.get(s.url("/openapi.json"))).await;
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

#[tokio::test(flavor = "multi_thread")]
async fn each_key_has_its_scope() {
    use common::ANALYST_KEY;
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path()).await;
    let exp = json!({"placement": "recs.home", "variations": [
        {"id": "holdout", "treatment": "editorial"}, {"id": "personalized", "treatment": "personalized"}]});
    assert_eq!(s.admin_put("/v1/experiments/e1", &exp).await.0, 200);
    let (status, _) = s
        .post(
            "/v1/track",
            &json!({"userId": "u1", "event": "Product Viewed"}),
        )
        .await;
    assert_eq!(status, 200);
    let call = |method: reqwest::Method, path: &str, key: &str| {
        s.http
            .request(method, s.url(path))
            .bearer_auth(key)
            .json(&json!({"userId": "u1", "event": "X", "placements": ["recs.home"]}))
    };
    use reqwest::Method as M;
    // (method, path, write, analyst, admin): the expected status for each key.
    let cases = [
        (M::POST, "/v1/track", 200, 403, 200),
        (M::POST, "/v1/decide", 200, 403, 200),
        (M::GET, "/v1/profiles/u1", 403, 403, 200),
        (M::GET, "/v1/profiles/u1/export", 403, 403, 200),
        (M::GET, "/v1/consent/u1", 403, 403, 200),
        (M::GET, "/v1/experiments", 403, 200, 200),
        (M::GET, "/v1/experiments/e1/results", 403, 200, 200),
        (
            M::GET,
            "/v1/decisions/export?placement=recs.home",
            403,
            200,
            200,
        ),
        (M::GET, "/v1/placements/promo.banner/policy", 403, 200, 200),
        (M::GET, "/v1/audit", 403, 200, 200),
        (M::GET, "/v1/journeys/none/report", 403, 404, 404),
        (M::GET, "/v1/journeys/none/stats", 403, 403, 404),
        (M::PUT, "/v1/experiments/e1", 403, 403, 400),
    ];
    for (method, path, write, analyst, admin) in cases {
        for (key, expected) in [
            (WRITE_KEY, write),
            (ANALYST_KEY, analyst),
            (ADMIN_KEY, admin),
        ] {
            let (status, body) = s.raw(call(method.clone(), path, key)).await;
            assert_eq!(status, expected, "{method} {path} with {key}: {body}");
        }
    }
}
