//! Rate limits over real connections (the server runs in this process on loopback, so
//! client addresses are real): a tiny configured limit answers the next request `429` with
//! `Retry-After` and the typed JSON error, stores nothing of a refused batch, leaves other
//! addresses and keys alone, and lets the client through again after the wait. Behind a
//! proxy on the same host (a trusted loopback peer), the forwarded client is counted.

use std::time::Duration;

use axum::http::Method;
use serde_json::{Value, json};
use tailor_server::ratelimit::{RateLimits, parse_cidrs, parse_rate};
use tailor_testkit::{ADMIN_KEY, SERVER_KEY, TestEngine, TestServer, WRITE_KEY};

fn limits(per_address: &str, per_key: &str, loopback: bool, proxies: &str) -> RateLimits {
    RateLimits {
        per_address: parse_rate(per_address).unwrap(),
        per_key: parse_rate(per_key).unwrap(),
        loopback,
        trusted_proxies: parse_cidrs(proxies).unwrap(),
    }
}

async fn batch(
    s: &TestServer,
    http: &reqwest::Client,
    user: &str,
    extra: &[(&'static str, &str)],
) -> (u16, Option<u64>, Value) {
    let mut req = s
        .request_with(http, Method::POST, "/v1/batch")
        .basic(SERVER_KEY)
        .json(
            &json!({"batch": [{"type": "track", "userId": user, "event": "Product Viewed",
            "properties": {"product_id": "p"}}]}),
        );
    for (k, v) in extra {
        req = req.header(k, v);
    }
    let r = req.reply().await;
    let retry = r
        .headers
        .get("retry-after")
        .map(|v| v.to_str().unwrap().parse::<u64>().unwrap());
    (r.status, retry, r.json)
}

fn assert_limited(status: u16, retry: Option<u64>, body: &Value) -> u64 {
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"]["code"], "rate_limited", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("retry after")
    );
    let retry = retry.expect("a Retry-After header");
    assert!((1..=2).contains(&retry), "Retry-After {retry}");
    retry
}

#[tokio::test(flavor = "multi_thread")]
async fn per_address_limit_answers_429_then_lets_the_client_back() {
    let kit = TestEngine::start().await;
    // 3 requests, refilled at one per 2 s; loopback is limited too (off by default).
    let s = TestServer::start_with(&kit, Some(limits("3/6s", "off", true, ""))).await;
    let a = TestServer::client_from("127.0.0.1");
    for _ in 0..3 {
        let (status, _, body) = batch(&s, &a, "limited-a", &[]).await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, retry, body) = batch(&s, &a, "limited-a", &[]).await;
    let retry = assert_limited(status, retry, &body);
    // Operators' probes are not limited.
    let (status, _) = s.request_with(&a, Method::GET, "/healthz").send().await;
    assert_eq!(status, 200);
    // Another address has its own bucket.
    let b = TestServer::client_from("127.0.0.2");
    let (status, _, body) = batch(&s, &b, "limited-b", &[]).await;
    assert_eq!(status, 200, "{body}");
    // After the wait the server asked for (real time: the limiter's clock), the first
    // address passes again.
    tokio::time::sleep(Duration::from_secs(retry) + Duration::from_millis(100)).await;
    let (status, _, body) = batch(&s, &a, "limited-a", &[]).await;
    assert_eq!(status, 200, "{body}");
    // The refused batch was not stored: 3 + 1 events, not 5 (read from a third address).
    let c = TestServer::client_from("127.0.0.3");
    let (status, p) = s
        .request_with(&c, Method::GET, "/v1/profiles/limited-a")
        .bearer(ADMIN_KEY)
        .send()
        .await;
    assert_eq!(status, 200, "{p}");
    assert_eq!(p["events"], 4, "{p}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn per_key_limit_counts_each_key_wherever_it_is_sent() {
    let kit = TestEngine::start().await;
    let s = TestServer::start_with(&kit, Some(limits("off", "2/4s", true, ""))).await;
    let http = reqwest::Client::new();
    for _ in 0..2 {
        let (status, _, body) = batch(&s, &http, "keyed", &[]).await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, retry, body) = batch(&s, &http, "keyed", &[]).await;
    assert_limited(status, retry, &body);
    // The same key in the body (Segment's `writeKey`) is the same bucket, and the refused
    // event is not stored.
    let r = s
        .request_with(&http, Method::POST, "/v1/track")
        .json(&json!({"writeKey": SERVER_KEY, "userId": "keyed", "event": "Product Viewed"}))
        .reply()
        .await;
    let retry = r
        .headers
        .get("retry-after")
        .map(|v| v.to_str().unwrap().parse().unwrap());
    assert_limited(r.status, retry, &r.json);
    // Another key is not affected.
    let (status, p) = s.admin_get("/v1/profiles/keyed").await;
    assert_eq!(status, 200, "{p}");
    assert_eq!(p["events"], 2, "{p}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn each_source_key_has_its_own_bucket() {
    let kit = TestEngine::start().await;
    let s = TestServer::start_with(&kit, Some(limits("off", "2/1h", true, ""))).await;
    let (status, app) = s
        .request(Method::PUT, "/v1/sources/app")
        .bearer(ADMIN_KEY)
        .json(&json!({"kind": "public"}))
        .send()
        .await;
    assert_eq!(status, 200, "{app}");
    let app_key = app["key"].as_str().unwrap();
    let track = |key: &str| {
        s.request(Method::POST, "/v1/track").basic(key).json(
            &json!({"anonymousId": "a-1", "event": "Product Viewed", "properties": {"product_id": "p"}}),
        )
    };
    for _ in 0..2 {
        assert_eq!(track(WRITE_KEY).send().await.0, 200);
    }
    let (status, body) = track(WRITE_KEY).send().await;
    assert_eq!(status, 429, "{body}");
    // Another public source (the store's app) is not throttled by the web source's traffic,
    // nor the server source.
    assert_eq!(track(app_key).send().await.0, 200);
    assert_eq!(track(SERVER_KEY).send().await.0, 200);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn behind_a_proxy_on_this_host_the_forwarded_client_is_counted() {
    let kit = TestEngine::start().await;
    // The proxy runs on this host: its loopback address is trusted, and no longer exempt.
    let s = TestServer::start_with(&kit, Some(limits("2/1h", "off", false, "127.0.0.1"))).await;
    let http = reqwest::Client::new();
    let first = [("x-forwarded-for", "203.0.113.50, 198.51.100.1")];
    for _ in 0..2 {
        assert_eq!(batch(&s, &http, "proxied", &first).await.0, 200);
    }
    let (status, retry, body) = batch(&s, &http, "proxied", &first).await;
    assert_eq!(status, 429, "{body}");
    assert!(retry.unwrap() > 1_000, "an hour's bucket: {retry:?}");
    // Only the proxy's own entry counts: a client cannot pick a fresh bucket by prepending.
    let spoofed = [("x-forwarded-for", "192.0.2.99, 198.51.100.1")];
    assert_eq!(batch(&s, &http, "proxied", &spoofed).await.0, 429);
    let other = [("x-forwarded-for", "198.51.100.2")];
    assert_eq!(batch(&s, &http, "proxied", &other).await.0, 200);
    // A request the proxy passed without the header counts against the proxy's address:
    // loopback is not exempt once proxies are listed.
    for _ in 0..2 {
        assert_eq!(batch(&s, &http, "proxied", &[]).await.0, 200);
    }
    assert_eq!(batch(&s, &http, "proxied", &[]).await.0, 429);
    // A peer that is not a listed proxy cannot name a client: 127.0.0.2 is counted as
    // itself, whatever it forwards.
    let stranger = TestServer::client_from("127.0.0.2");
    for _ in 0..2 {
        assert_eq!(batch(&s, &stranger, "proxied", &other).await.0, 200);
    }
    assert_eq!(batch(&s, &stranger, "proxied", &other).await.0, 429);
    s.stop().await;
}
