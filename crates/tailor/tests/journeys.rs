//! A crash mid-journey, against the real `tailor serve --test-clock` killed with SIGKILL:
//! no message is repeated or skipped. Email goes to a mail sink (aiosmtpd with
//! `TAILOR_EXTERNAL_TESTS=1`), push to a webhook receiver in this process. Every other
//! journey test runs in-process: `crates/engine/tests/journeys.rs`.

mod common;

use std::path::Path;

use common::Server;
use serde_json::{Value, json};
use tailor_testkit::channels::{MailSink, WebhookReceiver};
use tailor_testkit::{DEADLINE, eventually};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

struct World {
    server: Server,
    smtp: MailSink,
    hooks: WebhookReceiver,
    hooks_base: String,
    _dir: tempfile::TempDir,
}

impl World {
    async fn start() -> World {
        let dir = tempfile::tempdir().unwrap();
        let smtp = MailSink::start().await;
        let (hooks, hooks_base) = WebhookReceiver::start().await;
        let server = start_server(&dir.path().join("data"), &smtp, &hooks_base).await;
        World {
            server,
            smtp,
            hooks,
            hooks_base,
            _dir: dir,
        }
    }

    async fn restart(&mut self, kill_9: bool) {
        if kill_9 {
            self.server.kill_9();
        } else {
            self.server.stop();
        }
        let data = self.server.data.clone();
        self.server = start_server(&data, &self.smtp, &self.hooks_base).await;
    }
}

async fn start_server(data: &Path, smtp: &MailSink, hooks: &str) -> Server {
    Server::start_with(
        data,
        &[
            ("TAILOR_TEST_CLOCK", "true".into()),
            ("TAILOR_SMTP_URL", smtp.url()),
            ("TAILOR_EMAIL_FROM", "Shop <shop@example.com>".into()),
            ("TAILOR_PUSH_URL", format!("{hooks}/push")),
            ("TAILOR_WEBHOOK_SECRET", SECRET.into()),
        ],
    )
    .await
}

/// Sets the server's clock (forward only).
async fn clock_to(s: &Server, at: &str) {
    let (status, body) = s.admin_post("/v1/test/clock", &json!({"to": at})).await;
    assert_eq!(status, 200, "{body}");
}

async fn stats(s: &Server, id: &str) -> Value {
    let (status, body) = s.admin_get(&format!("/v1/journeys/{id}/stats")).await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn put_template(s: &Server, id: &str) {
    let (status, templates) = s.admin_get("/v1/journeys/templates").await;
    assert_eq!(status, 200);
    let def = templates["journeys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["id"] == id)
        .unwrap_or_else(|| panic!("template {id}"))
        .clone();
    let (status, body) = s.admin_put(&format!("/v1/journeys/{id}"), &def).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["version"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_mid_journey_neither_repeats_nor_skips_a_message() {
    let mut w = World::start().await;
    let products: Vec<Value> = (0..8)
        .map(|i| json!({"id": format!("shoe-{i}"), "name": format!("Trail Shoe {i}"), "category": "Shoes/Trail", "price": 100.0 + i as f64, "stock": 10}))
        .collect();
    assert_eq!(
        w.server
            .admin_put("/v1/catalog/products", &Value::Array(products))
            .await
            .0,
        200
    );
    put_template(&w.server, "abandoned-cart").await;
    clock_to(&w.server, "2031-03-03T12:00:00Z").await;
    let (status, body) = w
        .server
        .post(
            "/v1/identify",
            &json!({"userId": "crash", "traits": {"email": "crash@example.com", "firstName": "crash",
                    "phone": "+1 650 555 0100"},
                    "context": {"consent": {"categoryPreferences": {"email": true, "push": true, "advertising": true}}}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = w
        .server
        .post(
            "/v1/track",
            &json!({"userId": "crash", "event": "Checkout Started", "properties": {}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    // Killed right after the event was acknowledged: entry comes from the log on restart.
    w.restart(true).await;
    clock_to(&w.server, "2031-03-04T10:00:30Z").await;
    eventually("email after the restart", DEADLINE, || async {
        !w.smtp.to("crash@example.com").is_empty()
    })
    .await;
    // Killed again after the email went out; time moves on to the push.
    w.restart(true).await;
    clock_to(&w.server, "2031-03-05T10:01:00Z").await;
    eventually("push after the second restart", DEADLINE, || async {
        !w.hooks.for_user("crash").is_empty()
    })
    .await;
    // A clean restart too, then well past every step.
    w.restart(false).await;
    clock_to(&w.server, "2031-03-07T12:00:00Z").await;
    eventually("in the audience", DEADLINE, || async {
        let (_, a) = w.server.admin_get("/v1/audiences/cart-retargeting").await;
        a["members"].as_array().is_some_and(|m| m.len() == 1)
    })
    .await;
    // Across processes there is no `Engine::settle`: wait until the outbox holds nothing
    // pending for them, so a repeated message would have gone out by now.
    eventually("nothing pending in the outbox", DEADLINE, || async {
        let (status, o) = w.server.admin_get("/v1/outbox?person=crash").await;
        status == 200
            && o["messages"]
                .as_array()
                .is_some_and(|m| !m.is_empty() && m.iter().all(|m| m["status"] != "pending"))
    })
    .await;
    // Sending is send-then-mark: a kill between the provider's acceptance and the outbox's
    // record sends again after the restart, with the same idempotency key for the
    // receiver to drop (README, journeys: exactly once on Tailor's side, at least once on
    // the wire). So count what a receiver that drops repeats keeps: distinct keys.
    let mails = w.smtp.mails_to("crash@example.com");
    let emails: std::collections::BTreeSet<String> = mails
        .iter()
        .map(|m| {
            m.header("Message-ID")
                .expect("every email has a Message-ID")
                .to_string()
        })
        .collect();
    assert_eq!(emails.len(), 1, "exactly one email: {emails:?}");
    let pushes: std::collections::BTreeSet<String> = w
        .hooks
        .deliveries()
        .iter()
        .filter(|(_, body)| {
            serde_json::from_str::<Value>(body).is_ok_and(|b| b["userId"] == "crash")
        })
        .map(|(headers, _)| {
            headers
                .get("webhook-id")
                .and_then(|v| v.to_str().ok())
                .expect("every push has a webhook-id")
                .to_string()
        })
        .collect();
    assert_eq!(pushes.len(), 1, "exactly one push: {pushes:?}");
    let st = stats(&w.server, "abandoned-cart").await;
    assert_eq!(st["journey"]["entered"], 1, "{st}");
}
