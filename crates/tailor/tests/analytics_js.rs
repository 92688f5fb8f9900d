//! analytics.js as a drop-in, with the real library in a real browser.
//!
//! Starts `tailor serve` with CORS for a test shop's origin and a tight per-key rate limit
//! (so the server refuses some calls, 429 with `Retry-After`, and analytics.js must retry),
//! then `tests/browser/analytics_next.mjs` drives `@segment/analytics-next` (pinned in
//! tests/browser/package.json, served from node_modules) in Debian's Chromium with only
//! `cdnURL` pointed at Tailor. The admin API then shows what Tailor stored: page, track and
//! identify from a proven shopper (with the backend's user hash) and their consent choice;
//! an unproven identify that did not join the known customer it named; a shopper who
//! declined analytics, whose choice is kept and whose browsing is not; every message of
//! the batching strategy despite the refusals; and the SDK deciding for analytics.js's
//! anonymousId. No request left this machine.
//!
//! An external test (`TAILOR_EXTERNAL_TESTS=1`, as `tests/run.sh` sets); needs
//! `bash tests/browser/install.sh`.

mod common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use common::{Server, WRITE_KEY};

const IDENTITY_SECRET: &str = "analytics-js-identity-secret";

fn browser_dir() -> PathBuf {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/browser"));
    dir.canonicalize().unwrap_or(dir)
}

fn missing_prerequisites(dir: &Path) -> Vec<String> {
    let mut missing = Vec::new();
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if !Path::new(&chromium).exists() {
        missing.push(format!("Chromium at {chromium}"));
    }
    for package in ["playwright-core", "@segment/analytics-next"] {
        if !dir.join("node_modules").join(package).exists() {
            missing.push(format!("{package} in {}/node_modules", dir.display()));
        }
    }
    missing
}

/// A profile through the admin API, waiting out the rate limit and the fold.
async fn profile(server: &Server, id: &str, ready: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, body) = server.admin_get(&format!("/v1/profiles/{id}")).await;
        if status == 200 && ready(&body) {
            return body;
        }
        assert!(Instant::now() < deadline, "profile {id}: {status} {body}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analytics_next_in_chromium_stores_through_tailor() {
    if !tailor_testkit::external() {
        return;
    }
    let dir = browser_dir();
    let missing = missing_prerequisites(&dir);
    assert!(
        missing.is_empty(),
        "this test needs {}: run `bash tests/browser/install.sh`",
        missing.join(", ")
    );
    let page_port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let data = tempfile::tempdir().expect("tempdir");
    let server = Server::start_with(
        data.path(),
        &[
            ("TAILOR_IDENTITY_SECRET", IDENTITY_SECRET.into()),
            (
                "TAILOR_CORS_ORIGINS",
                format!("http://127.0.0.1:{page_port}"),
            ),
            // Each key 3 requests per 2 s, loopback included: bursts of events are refused
            // (429, Retry-After) and analytics.js has to come back.
            ("TAILOR_RATE_LIMIT_PER_ADDRESS", "off".into()),
            ("TAILOR_RATE_LIMIT_PER_KEY", "3/2s".into()),
            ("TAILOR_RATE_LIMIT_LOOPBACK", "true".into()),
        ],
    )
    .await;
    // A known customer, sent by the store's backend.
    let (status, reply) = server
        .post(
            "/v1/identify",
            &json!({"userId": "cust-known", "anonymousId": "known-device",
                "traits": {"email": "known@shop.example", "name": "Known Customer"}}),
        )
        .await;
    assert_eq!(status, 200, "{reply}");

    let out = Command::new("node")
        .arg(dir.join("analytics_next.mjs"))
        .arg(&server.base)
        .arg(page_port.to_string())
        .arg(WRITE_KEY)
        .arg(IDENTITY_SECRET)
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the browser run failed:\n{stdout}\n{stderr}"
    );
    let run: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("{e}: {stdout}\n{stderr}"));
    println!("analytics-next {}: {}", run["version"], run);
    assert_eq!(
        run["blocked"],
        json!([]),
        "nothing went to another host (no CDN, no Segment)"
    );

    // analytics.js posts to its short paths; the batching strategy to /v1/b.
    assert_eq!(run["proven"]["paths"], json!(["/v1/i", "/v1/p", "/v1/t"]));
    assert_eq!(run["batching"]["paths"], json!(["/v1/b"]));
    let every_status: Vec<u64> = ["proven", "unproven", "batching", "sdk"]
        .iter()
        .flat_map(|v| run[v]["statuses"].as_array().cloned().unwrap_or_default())
        .filter_map(|s| s.as_u64())
        .collect();
    assert!(
        every_status.contains(&429),
        "the server refused some calls: {every_status:?}"
    );

    // The proven shopper: their browsing joined them, with the consent they chose.
    let anon_a = run["proven"]["anonymousId"].as_str().expect("anonymousId");
    let proven = profile(&server, "cust-proven", |p| p["orders"]["count"] == 1).await;
    assert_eq!(proven["traits"]["plan"], "gold", "{proven}");
    assert_eq!(proven["traits"]["email"], "proven@shop.example", "{proven}");
    assert!(proven["events"].as_u64() >= Some(5), "{proven}");
    assert_eq!(proven["productViews"], 1, "{proven}");
    assert_eq!(proven["pageViews"], 1, "{proven}");
    assert_eq!(proven["consent"]["analytics"]["granted"], true, "{proven}");
    assert_eq!(
        proven["consent"]["personalization"]["granted"], true,
        "{proven}"
    );
    assert_eq!(
        proven["consent"]["advertising"]["granted"], false,
        "{proven}"
    );
    let same = profile(&server, anon_a, |_| true).await;
    assert_eq!(
        same["id"], proven["id"],
        "the device's anonymousId is the shopper's"
    );
    let sent = run["proven"]["sent"].as_array().expect("sent");
    assert!(
        sent.iter()
            .all(|m| m["writeKey"] == WRITE_KEY && m["anonymousId"] == anon_a),
        "text/plain bodies with the key inside: {sent:?}"
    );

    // The unproven identify: its own anonymous visitor, not the known customer.
    let anon_b = run["unproven"]["anonymousId"]
        .as_str()
        .expect("anonymousId");
    let known = profile(&server, "cust-known", |_| true).await;
    assert_eq!(known["traits"]["email"], "known@shop.example", "{known}");
    assert_eq!(known["traits"]["name"], "Known Customer", "{known}");
    assert!(!known.to_string().contains(anon_b), "{known}");
    assert!(
        !known.to_string().contains("attacker@evil.example"),
        "{known}"
    );
    let stranger = profile(&server, anon_b, |p| p["events"] == 3).await;
    assert_ne!(stranger["id"], known["id"], "{stranger}");
    assert_eq!(stranger["productViews"], 1, "{stranger}");
    assert!(
        !stranger.to_string().contains("Known Customer"),
        "{stranger}"
    );

    // Declined: the choice is kept, the page and the product view after it are not.
    let anon_e = run["declined"]["anonymousId"]
        .as_str()
        .expect("anonymousId");
    profile(&server, anon_e, |p| {
        p["consent"]["analytics"]["granted"] == false
    })
    .await;
    // The two later messages were acknowledged too: give the writer time to fold them,
    // were they kept.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let declined = profile(&server, anon_e, |_| true).await;
    assert_eq!(
        declined["consent"]["personalization"]["granted"], false,
        "{declined}"
    );
    assert_eq!(declined["pageViews"], 0, "{declined}");
    assert_eq!(declined["productViews"], 0, "{declined}");

    // Batching: every message stored once, refusals and retries notwithstanding.
    let anon_c = run["batching"]["anonymousId"]
        .as_str()
        .expect("anonymousId");
    let batched = profile(&server, anon_c, |p| p["events"] == 20).await;
    assert_eq!(batched["productViews"], 19, "{batched}");
    let statuses = &run["batching"]["statuses"];
    assert!(
        statuses.as_array().is_some_and(|s| s.contains(&json!(429))),
        "batches were refused and sent again: {statuses}"
    );

    // The SDK beside analytics.js: decide for analytics.js's visitor, events through it.
    let anon_d = run["sdk"]["anonymousId"].as_str().expect("anonymousId");
    assert_eq!(
        run["sdk"]["decide"]["anonymousId"], anon_d,
        "{}",
        run["sdk"]
    );
    assert_eq!(run["sdk"]["placements"], json!(["home.hero", "recs.home"]));
    let clicked = run["sdk"]["sent"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| m["event"] == "Promotion Clicked")
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        clicked["properties"]["decisionId"],
        run["sdk"]["decisionId"]
    );
    assert_eq!(
        clicked["anonymousId"], anon_d,
        "sent by analytics.js: {clicked}"
    );
}
