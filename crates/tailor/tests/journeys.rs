//! Journeys end to end: the real `tailor serve --test-clock`, a real SMTP server on loopback
//! (Python's `aiosmtpd`, installed by `tests/compat/install.sh`) and a webhook receiver in
//! this process. Days of journey time pass through `POST /v1/test/clock`.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::Server;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// `aiosmtpd` writing every message it accepts into a Maildir.
struct Smtp {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Smtp {
    async fn start(dir: &Path) -> Smtp {
        let port = free_port();
        let child = Command::new("python3")
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")])
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 -m aiosmtpd (pip install -r tests/compat/requirements.txt)");
        let deadline = Instant::now() + Duration::from_secs(20);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(
                Instant::now() < deadline,
                "aiosmtpd did not listen within 20 s; is it installed (tests/compat/install.sh)?"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Smtp {
            child,
            port,
            dir: dir.to_path_buf(),
        }
    }

    fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every message received so far.
    fn messages(&self) -> Vec<String> {
        let mut all = Vec::new();
        for sub in ["new", "cur"] {
            if let Ok(entries) = std::fs::read_dir(self.dir.join(sub)) {
                for e in entries.flatten() {
                    all.push(std::fs::read_to_string(e.path()).expect("read mail"));
                }
            }
        }
        all
    }

    fn to(&self, address: &str) -> Vec<String> {
        self.messages()
            .into_iter()
            .filter(|m| m.contains(&format!("To: {address}")))
            .collect()
    }
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A webhook receiver: records (headers, body); answers 500 while `failing` is set.
#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<(axum::http::HeaderMap, String)>>>,
    failing: Arc<std::sync::atomic::AtomicBool>,
}

impl Receiver {
    async fn start() -> (Receiver, String) {
        use axum::http::StatusCode;
        let receiver = Receiver::default();
        let r = receiver.clone();
        let app = axum::Router::new().route(
            "/{*path}",
            axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
                let r = r.clone();
                async move {
                    if r.failing.load(std::sync::atomic::Ordering::SeqCst) {
                        return StatusCode::INTERNAL_SERVER_ERROR;
                    }
                    r.got.lock().unwrap().push((headers, body));
                    StatusCode::NO_CONTENT
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        (receiver, base)
    }

    fn bodies(&self) -> Vec<Value> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .map(|(_, b)| serde_json::from_str(b).unwrap())
            .collect()
    }

    fn for_user(&self, user: &str) -> Vec<Value> {
        self.bodies()
            .into_iter()
            .filter(|b| b["userId"] == user)
            .collect()
    }

    /// Checks every delivery's Standard Webhooks signature.
    fn assert_signed(&self) {
        let key = base64::engine::general_purpose::STANDARD
            .decode(SECRET.trim_start_matches("whsec_"))
            .unwrap();
        for (headers, body) in self.got.lock().unwrap().iter() {
            let h = |k: &str| headers.get(k).unwrap().to_str().unwrap().to_string();
            let (id, ts) = (h("webhook-id"), h("webhook-timestamp"));
            let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key).unwrap();
            mac.update(format!("{id}.{ts}.{body}").as_bytes());
            let expected = format!(
                "v1,{}",
                base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
            );
            assert_eq!(h("webhook-signature"), expected, "signature of {body}");
            let parsed: Value = serde_json::from_str(body).unwrap();
            assert_eq!(parsed["idempotencyKey"], id.as_str());
        }
    }
}

struct World {
    server: Server,
    smtp: Smtp,
    hooks: Receiver,
    hooks_base: String,
    _dir: tempfile::TempDir,
}

impl World {
    async fn start() -> World {
        let dir = tempfile::tempdir().unwrap();
        let smtp = Smtp::start(&dir.path().join("mail")).await;
        let (hooks, hooks_base) = Receiver::start().await;
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

async fn start_server(data: &Path, smtp: &Smtp, hooks: &str) -> Server {
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

async fn advance(s: &Server, by: &str) {
    let (status, body) = s
        .admin_post("/v1/test/clock", &json!({"advance": by}))
        .await;
    assert_eq!(status, 200, "{body}");
}

/// Waits (real time) until `check` holds; the scheduler ticks every 50 ms.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(15);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Lets the scheduler and the outbox run a few passes (for "nothing happens" checks).
async fn settle() {
    tokio::time::sleep(Duration::from_millis(600)).await;
}

async fn track(s: &Server, user: &str, event: &str, properties: Value) {
    let (status, body) = s
        .post(
            "/v1/track",
            &json!({"userId": user, "event": event, "properties": properties}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

/// A shopper with an email address and the given consent.
async fn shopper(s: &Server, user: &str, consent: Value) {
    let (status, body) = s
        .post(
            "/v1/identify",
            &json!({"userId": user, "traits": {"email": format!("{user}@example.com"), "firstName": user,
                    "phone": "+1 650 555 0100"},
                    "context": {"consent": {"categoryPreferences": consent}}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

async fn catalog(s: &Server) {
    let products: Vec<Value> = (0..8)
        .map(|i| json!({"id": format!("shoe-{i}"), "name": format!("Trail Shoe {i}"), "category": "Shoes/Trail", "price": 100.0 + i as f64, "stock": 10}))
        .collect();
    assert_eq!(
        s.admin_put("/v1/catalog/products", &Value::Array(products))
            .await
            .0,
        200
    );
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

async fn outbox(s: &Server, user: &str) -> Vec<Value> {
    let (status, body) = s.admin_get(&format!("/v1/outbox?person={user}")).await;
    assert_eq!(status, 200, "{body}");
    body["messages"].as_array().unwrap().clone()
}

async fn stats(s: &Server, id: &str) -> Value {
    let (status, body) = s.admin_get(&format!("/v1/journeys/{id}/stats")).await;
    assert_eq!(status, 200, "{body}");
    body
}

fn step_count(stats: &Value, step: &str, metric: &str) -> i64 {
    stats["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == step)
        .and_then(|s| s["counts"][metric].as_i64())
        .unwrap_or(0)
}

const ALL: &str = "all";

fn consent(email: bool, push: bool, ads: bool) -> Value {
    json!({"email": email, "push": push, "advertising": ads})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abandoned_cart_runs_end_to_end_through_smtp_webhooks_and_audiences() {
    let w = World::start().await;
    let s = &w.server;
    catalog(s).await;
    put_template(s, "abandoned-cart").await;
    // Monday 12:00 UTC.
    clock_to(s, "2031-03-03T12:00:00Z").await;
    let _ = ALL;
    for (user, c) in [
        ("cart", consent(true, true, true)),
        ("opener", consent(true, true, true)),
        ("buyer", consent(true, true, true)),
        ("no-email", consent(false, true, false)),
    ] {
        shopper(s, user, c).await;
        track(
            s,
            user,
            "Product Added",
            json!({"product_id": "shoe-1", "price": 101.0, "quantity": 1}),
        )
        .await;
        track(
            s,
            user,
            "Checkout Started",
            json!({"products": [{"product_id": "shoe-1"}]}),
        )
        .await;
    }
    eventually("four people entered", || async {
        stats(s, "abandoned-cart").await["journey"]["entered"] == 4
    })
    .await;
    // A second checkout while the run is active enters no one again (re-entry rules).
    track(s, "cart", "Checkout Started", json!({})).await;
    // The buyer orders within the hour: the goal ends their run before anything is sent.
    advance(s, "30m").await;
    track(
        s,
        "buyer",
        "Order Completed",
        json!({"order_id": "o-1", "total": 101.0}),
    )
    .await;
    eventually("buyer converted", || async {
        stats(s, "abandoned-cart").await["journey"]["converted"] == 1
    })
    .await;
    // An hour later the email waits for the best send time: 10:00 (no open history).
    advance(s, "45m").await;
    settle().await;
    assert!(w.smtp.messages().is_empty(), "nothing before the send hour");
    // Tuesday 10:00: the emails go out.
    clock_to(s, "2031-03-04T10:00:30Z").await;
    eventually("emails to cart and opener", || async {
        !w.smtp.to("cart@example.com").is_empty() && !w.smtp.to("opener@example.com").is_empty()
    })
    .await;
    let mail = &w.smtp.to("cart@example.com")[0];
    assert!(
        mail.contains("Subject: cart, your cart is waiting"),
        "{mail}"
    );
    assert!(
        mail.contains("Trail Shoe 1"),
        "the cart is in the email: {mail}"
    );
    assert!(
        mail.contains("You may also like:\n- Trail Shoe"),
        "recommendations from decide: {mail}"
    );
    assert!(
        mail.contains("Message-ID: <abandoned-cart."),
        "the idempotency key travels: {mail}"
    );
    // No consent: recorded, visible, not sent.
    eventually("no-email skipped", || async {
        outbox(s, "no-email")
            .await
            .iter()
            .any(|m| m["status"] == "skipped" && m["lastError"] == "no_consent")
    })
    .await;
    assert!(w.smtp.to("no-email@example.com").is_empty());
    assert!(w.smtp.to("buyer@example.com").is_empty());
    // The opener opens; the other does not.
    advance(s, "2h").await;
    track(
        s,
        "opener",
        "Email Opened",
        json!({"email_subject": "cart"}),
    )
    .await;
    eventually("opener's wait answered", || async {
        step_count(&stats(s, "abandoned-cart").await, "wait-more", "reached") == 1
    })
    .await;
    // 24 h after the email: a push to the one who did not open it, signed.
    advance(s, "22h").await;
    eventually("push to cart", || async {
        !w.hooks.for_user("cart").is_empty()
    })
    .await;
    settle().await;
    assert!(
        w.hooks.for_user("opener").is_empty(),
        "the opener gets no push"
    );
    // no-email has push consent: its push goes (only email was refused).
    eventually("push to no-email", || async {
        !w.hooks.for_user("no-email").is_empty()
    })
    .await;
    w.hooks.assert_signed();
    let push = &w.hooks.for_user("cart")[0];
    assert_eq!(push["type"], "journey.push");
    assert_eq!(push["title"], "Your cart is waiting");
    // 48 h after the email: the retargeting audience, with advertising consent only.
    advance(s, "24h").await;
    eventually("cart and opener in the audience", || async {
        let (_, a) = s.admin_get("/v1/audiences/cart-retargeting").await;
        a["members"].as_array().is_some_and(|m| m.len() == 2)
    })
    .await;
    let (_, a) = s.admin_get("/v1/audiences/cart-retargeting").await;
    let members: Vec<&str> = a["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["person"].as_str().unwrap())
        .collect();
    assert!(
        members.contains(&"cart") && members.contains(&"opener"),
        "{a}"
    );
    let csv = s
        .http
        .get(s.url("/v1/audiences/cart-retargeting/export"))
        .bearer_auth(common::ADMIN_KEY)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let hashed = |v: &str| {
        Sha256::digest(v.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    assert!(csv.starts_with("email,phone,value\n"), "{csv}");
    assert!(
        csv.contains(&format!(
            "{},{}",
            hashed("cart@example.com"),
            hashed("+16505550100")
        )),
        "{csv}"
    );
    assert!(!csv.contains("@"), "no clear-text address leaves: {csv}");
    // The purchase ends the journey and leaves the audience.
    track(
        s,
        "cart",
        "Order Completed",
        json!({"order_id": "o-2", "total": 101.0}),
    )
    .await;
    eventually("cart left the audience", || async {
        let (_, c) = s.admin_get("/v1/audiences/cart-retargeting/changes").await;
        c["changes"].as_array().is_some_and(|c| {
            c.iter()
                .any(|c| c["person"] == "cart" && c["op"] == "remove")
        })
    })
    .await;
    let (_, a) = s.admin_get("/v1/audiences/cart-retargeting").await;
    assert_eq!(a["members"].as_array().unwrap().len(), 1, "{a}");
    // Exactly one email each, whatever happened in between.
    assert_eq!(w.smtp.to("cart@example.com").len(), 1);
    assert_eq!(w.smtp.to("opener@example.com").len(), 1);
    let st = stats(s, "abandoned-cart").await;
    assert_eq!(st["journey"]["converted"], 2, "{st}");
    assert_eq!(step_count(&st, "email", "sent"), 2, "{st}");
    assert_eq!(step_count(&st, "email", "skipped:no_consent"), 1, "{st}");
    assert_eq!(step_count(&st, "push", "sent"), 2, "{st}");
    // Where everyone is.
    let (_, runs) = s.admin_get("/v1/journeys/runs?person=opener").await;
    assert_eq!(runs["runs"][0]["step"], "keep-14d", "{runs}");
    // Erasure takes their journey state, messages and memberships with it.
    let (status, _) = s.admin_delete("/v1/profiles/opener").await;
    assert_eq!(status, 200);
    let (_, runs) = s.admin_get("/v1/journeys/runs?person=opener").await;
    assert_eq!(runs["runs"].as_array().unwrap().len(), 0, "{runs}");
    assert!(outbox(s, "opener").await.is_empty());
    let (_, a) = s.admin_get("/v1/audiences/cart-retargeting").await;
    assert!(a["members"].as_array().unwrap().is_empty(), "{a}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_mid_journey_neither_repeats_nor_skips_a_message() {
    let mut w = World::start().await;
    catalog(&w.server).await;
    put_template(&w.server, "abandoned-cart").await;
    clock_to(&w.server, "2031-03-03T12:00:00Z").await;
    shopper(&w.server, "crash", consent(true, true, true)).await;
    track(&w.server, "crash", "Checkout Started", json!({})).await;
    // Killed right after the event was acknowledged: entry comes from the log on restart.
    w.restart(true).await;
    clock_to(&w.server, "2031-03-04T10:00:30Z").await;
    eventually("email after the restart", || async {
        w.smtp.to("crash@example.com").len() == 1
    })
    .await;
    // Killed again after the email went out; time moves on to the push.
    w.restart(true).await;
    clock_to(&w.server, "2031-03-05T10:01:00Z").await;
    eventually("push after the second restart", || async {
        w.hooks.for_user("crash").len() == 1
    })
    .await;
    // A clean restart too, then well past every step.
    w.restart(false).await;
    clock_to(&w.server, "2031-03-07T12:00:00Z").await;
    eventually("in the audience", || async {
        let (_, a) = w.server.admin_get("/v1/audiences/cart-retargeting").await;
        a["members"].as_array().is_some_and(|m| m.len() == 1)
    })
    .await;
    settle().await;
    assert_eq!(w.smtp.to("crash@example.com").len(), 1, "exactly one email");
    assert_eq!(w.hooks.for_user("crash").len(), 1, "exactly one push");
    let st = stats(&w.server, "abandoned-cart").await;
    assert_eq!(st["journey"]["entered"], 1, "{st}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caps_quiet_hours_and_consent_withdrawal_apply_at_send_time() {
    let w = World::start().await;
    let s = &w.server;
    let (status, body) = s
        .admin_put(
            "/v1/journeys/policy",
            &json!({"caps": {"push": {"day": 1}}, "quietHours": {"start": 21, "end": 8}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    // Two pushes an hour apart, then an email and a push a day later.
    let def = json!({
        "trigger": {"event": "Wishlist Reminder"},
        "steps": [
            {"id": "p1", "type": "send", "channel": "push", "template": "cart-push"},
            {"id": "w1", "type": "wait", "duration": "1h"},
            {"id": "p2", "type": "send", "channel": "push", "template": "cart-push"},
            {"id": "w2", "type": "wait", "duration": "1d"},
            {"id": "e1", "type": "send", "channel": "email", "template": "browse-reminder"},
            {"id": "p3", "type": "send", "channel": "push", "template": "cart-push"}
        ]
    });
    let (status, body) = s.admin_put("/v1/journeys/nudges", &def).await;
    assert_eq!(status, 200, "{body}");
    // 22:00 UTC: quiet. The Tokyo shopper (UTC+9) is at 07:00: also quiet, until 08:00 local.
    clock_to(s, "2031-03-03T22:00:00Z").await;
    shopper(s, "night", consent(true, true, false)).await;
    shopper(s, "tokyo", consent(true, true, false)).await;
    s.post(
        "/v1/identify",
        &json!({"userId": "tokyo", "traits": {"timezone": "+09:00"}}),
    )
    .await;
    shopper(s, "quits", consent(true, true, false)).await;
    for u in ["night", "tokyo", "quits"] {
        track(s, u, "Wishlist Reminder", json!({})).await;
    }
    eventually("deferred by quiet hours", || async {
        step_count(&stats(s, "nudges").await, "p1", "deferred:quiet_hours") >= 3
    })
    .await;
    assert!(w.hooks.bodies().is_empty());
    // 23:00 UTC = 08:00 in Tokyo: only the Tokyo push goes.
    advance(s, "1h").await;
    eventually("tokyo's push", || async {
        w.hooks.for_user("tokyo").len() == 1
    })
    .await;
    settle().await;
    assert!(w.hooks.for_user("night").is_empty(), "still night in UTC");
    // 08:00 UTC: the others' first pushes. Their second ones were queued at 23:00 (an hour
    // after the first were), also held by quiet hours, and now break the cap of one a day.
    clock_to(s, "2031-03-04T08:00:10Z").await;
    eventually("first pushes", || async {
        w.hooks.for_user("night").len() == 1 && w.hooks.for_user("quits").len() == 1
    })
    .await;
    eventually("second pushes capped", || async {
        step_count(
            &stats(s, "nudges").await,
            "p2",
            "skipped:frequency_cap:push:day",
        ) == 3
    })
    .await;
    // "quits" withdraws push consent and unsubscribes from email, mid-journey.
    let (status, _) = s
        .post(
            "/v1/track",
            &json!({"userId": "quits", "event": "Consent Updated", "context": {"consent": {"categoryPreferences": {"push": false}}}}),
        )
        .await;
    assert_eq!(status, 200);
    track(s, "quits", "Unsubscribed", json!({})).await;
    // The next day, past the quiet hours and the cap's window: the email and the third push.
    clock_to(s, "2031-03-05T09:00:00Z").await;
    eventually("emails and third pushes", || async {
        w.smtp.to("night@example.com").len() == 1
            && w.smtp.to("tokyo@example.com").len() == 1
            && w.hooks.for_user("night").len() == 2
            && w.hooks.for_user("tokyo").len() == 2
    })
    .await;
    eventually("quits refused on both channels", || async {
        let st = stats(s, "nudges").await;
        step_count(&st, "e1", "skipped:no_consent") == 1
            && step_count(&st, "p3", "skipped:no_consent") == 1
    })
    .await;
    assert!(w.smtp.to("quits@example.com").is_empty());
    assert_eq!(w.hooks.for_user("quits").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_providers_retry_then_dead_letter_and_replay() {
    let w = World::start().await;
    let s = &w.server;
    let def = json!({
        "trigger": {"event": "Back In Stock"},
        "steps": [{"id": "hook", "type": "send", "channel": "webhook", "template": "event", "url": format!("{}/provider", w.hooks_base)}]
    });
    assert_eq!(s.admin_put("/v1/journeys/restock", &def).await.0, 200);
    clock_to(s, "2031-03-03T12:00:00Z").await;
    shopper(s, "r", consent(true, true, false)).await;
    w.hooks
        .failing
        .store(true, std::sync::atomic::Ordering::SeqCst);
    track(s, "r", "Back In Stock", json!({"product_id": "shoe-1"})).await;
    // Five attempts, backing off 30 s, 1, 2 and 4 min.
    for _ in 0..5 {
        eventually("an attempt", || async {
            let o = outbox(s, "r").await;
            o.len() == 1 && (o[0]["status"] == "dead" || o[0]["nextAt"].as_i64() > Some(0))
        })
        .await;
        settle().await;
        advance(s, "5m").await;
    }
    eventually("dead", || async {
        let (_, d) = s.admin_get("/v1/outbox/dead").await;
        d["messages"].as_array().is_some_and(|m| m.len() == 1)
    })
    .await;
    let (_, d) = s.admin_get("/v1/outbox/dead").await;
    let dead = &d["messages"][0];
    assert_eq!(dead["attempts"], 5, "{dead}");
    assert!(
        dead["lastError"].as_str().unwrap().contains("500"),
        "{dead}"
    );
    assert_eq!(step_count(&stats(s, "restock").await, "hook", "retried"), 4);
    // The provider is back; an admin replays the message.
    w.hooks
        .failing
        .store(false, std::sync::atomic::Ordering::SeqCst);
    let key = dead["key"].as_str().unwrap().to_string();
    let (status, body) = s
        .admin_post(&format!("/v1/outbox/dead/{key}/replay"), &json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    eventually("delivered after replay", || async {
        w.hooks.for_user("r").len() == 1
    })
    .await;
    w.hooks.assert_signed();
    assert_eq!(w.hooks.for_user("r")[0]["idempotencyKey"], key.as_str());
    // Replaying what is not dead is refused.
    let (status, body) = s
        .admin_post(&format!("/v1/outbox/dead/{key}/replay"), &json!({}))
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = s
        .admin_post("/v1/outbox/dead/nope/replay", &json!({}))
        .await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn definitions_are_validated_versioned_and_pausable() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start_with(dir.path(), &[("TAILOR_TEST_CLOCK", "true".into())]).await;
    let (status, body) = s
        .admin_put(
            "/v1/journeys/bad",
            &json!({"trigger": {"event": ""}, "goal": {"event": "Order Completed"}, "steps": [
                {"id": "a", "type": "wait", "duration": "forever"},
                {"id": "b", "type": "send", "channel": "email", "template": "nope"},
                {"id": "c", "type": "branch", "condition": {"orders": {"$gt": 0}}, "then": "zz", "else": "a"}
            ]}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "invalid_request");
    let problems = body["error"]["details"].as_array().unwrap();
    assert!(problems.len() >= 4, "every problem at once: {body}");
    let (status, body) = s
        .admin_put(
            "/v1/journeys/bad",
            &json!({"trigger": {"event": "X"}, "steps": [{"id": "a", "type": "teleport"}]}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("teleport"),
        "{body}"
    );
    let (status, body) = s.admin_put("/v1/journeys/bad", &json!("nope")).await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = s.admin_get("/v1/journeys/bad").await;
    assert_eq!(status, 404, "nothing half-written");
    // Versions: a change is a new version, the old one stays readable.
    let v1 = json!({"trigger": {"event": "A"}, "steps": [{"id": "s", "type": "exit"}]});
    assert_eq!(s.admin_put("/v1/journeys/j", &v1).await.1["version"], 1);
    assert_eq!(
        s.admin_put("/v1/journeys/j", &v1).await.1["version"],
        1,
        "unchanged"
    );
    let v2 = json!({"trigger": {"event": "B"}, "steps": [{"id": "s", "type": "exit"}]});
    assert_eq!(s.admin_put("/v1/journeys/j", &v2).await.1["version"], 2);
    let (_, old) = s.admin_get("/v1/journeys/j?version=1").await;
    assert_eq!(old["definition"]["trigger"]["event"], "A");
    // Paused journeys take no one in.
    let (status, body) = s.admin_post("/v1/journeys/j/pause", &json!({})).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("paused")));
    track(&s, "p", "B", json!({})).await;
    settle().await;
    assert!(stats(&s, "j").await["journey"].get("entered").is_none());
    let (_, body) = s.admin_post("/v1/journeys/j/resume", &json!({})).await;
    assert_eq!(body["status"], "active");
    track(&s, "p", "B", json!({})).await;
    eventually("entered after resume", || async {
        stats(&s, "j").await["journey"]["entered"] == 1
    })
    .await;
    let (_, list) = s.admin_get("/v1/journeys").await;
    assert_eq!(list["journeys"].as_array().unwrap().len(), 1);
    assert_eq!(s.admin_delete("/v1/journeys/j").await.0, 200);
    assert_eq!(s.admin_delete("/v1/journeys/j").await.0, 404);
    // The clock is for tests only, and only moves forward.
    let (status, body) = s
        .admin_post("/v1/test/clock", &json!({"to": "2001-01-01T00:00:00Z"}))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("clock_backwards"))
    );
    let plain = Server::start(&dir.path().join("other")).await;
    let (status, _) = plain
        .admin_post("/v1/test/clock", &json!({"advance": "1d"}))
        .await;
    assert_eq!(status, 404, "no test clock without --test-clock");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_other_templates_run_end_to_end() {
    let w = World::start().await;
    let s = &w.server;
    catalog(s).await;
    for id in ["browse-abandonment", "post-purchase", "win-back", "welcome"] {
        put_template(s, id).await;
    }
    clock_to(s, "2031-03-03T12:00:00Z").await;
    for u in [
        "w-quiz", "w-lazy", "b-view", "b-adds", "pp", "wb", "wb-low", "bounce",
    ] {
        shopper(s, u, consent(true, true, true)).await;
    }
    // Welcome series: an email at once; the quiz taker is tagged, the other nudged by push.
    track(s, "bounce", "Email Bounced", json!({})).await;
    for u in ["w-quiz", "w-lazy", "bounce"] {
        track(s, u, "Signed Up", json!({})).await;
    }
    eventually("welcome emails", || async {
        w.smtp.to("w-quiz@example.com").len() == 1 && w.smtp.to("w-lazy@example.com").len() == 1
    })
    .await;
    assert!(w.smtp.to("w-quiz@example.com")[0].contains("Subject: Welcome, w-quiz"));
    eventually("a bounced address gets nothing", || async {
        step_count(&stats(s, "welcome").await, "email", "skipped:bounced") == 1
    })
    .await;
    track(s, "w-quiz", "Quiz Completed", json!({})).await;
    eventually("quiz taker tagged through ingestion", || async {
        s.profile("w-quiz").await["traits"]["welcomeQuizDone"] == true
    })
    .await;
    // Browse abandonment at the hour they open emails (19:00), unless they add to cart.
    for day in 1..=3 {
        let (status, _) = s
            .post(
                "/v1/track",
                &json!({"userId": "b-view", "event": "Email Opened",
                        "timestamp": format!("2031-02-2{day}T19:{:02}:00Z", day * 7)}),
            )
            .await;
        assert_eq!(status, 200);
    }
    for u in ["b-view", "b-adds"] {
        track(
            s,
            u,
            "Product Viewed",
            json!({"product_id": "shoe-2", "price": 102.0}),
        )
        .await;
    }
    track(
        s,
        "b-adds",
        "Product Added",
        json!({"product_id": "shoe-2", "price": 102.0, "quantity": 1}),
    )
    .await;
    // Post-purchase and win-back (only above the churn-risk threshold, only customers).
    track(s, "pp", "Order Completed", json!({"order_id": "pp-1", "total": 50.0, "products": [{"product_id": "shoe-3", "price": 50.0}]})).await;
    track(
        s,
        "wb",
        "Order Completed",
        json!({"order_id": "wb-1", "total": 20.0}),
    )
    .await;
    track(
        s,
        "wb-low",
        "Order Completed",
        json!({"order_id": "wb-2", "total": 20.0}),
    )
    .await;
    track(s, "wb", "Churn Risk Changed", json!({"risk": 0.9})).await;
    track(s, "wb-low", "Churn Risk Changed", json!({"risk": 0.2})).await;
    eventually("win-back email", || async {
        w.smtp.to("wb@example.com").len() == 1
    })
    .await;
    assert!(w.smtp.to("wb@example.com")[0].contains("We miss you"));
    // Tuesday 18:00: a day has passed, but not yet their hour.
    clock_to(s, "2031-03-04T18:00:00Z").await;
    settle().await;
    assert!(
        w.smtp.to("b-view@example.com").is_empty(),
        "waits for 19:00"
    );
    clock_to(s, "2031-03-04T19:00:30Z").await;
    eventually("browse email at their hour", || async {
        w.smtp.to("b-view@example.com").len() == 1
    })
    .await;
    assert!(w.smtp.to("b-view@example.com")[0].contains("Picked for you:\n- "));
    // Three days on: the lazy one's push, the cross-sell email (Friday 10:00).
    clock_to(s, "2031-03-07T10:00:30Z").await;
    eventually("nudge and cross-sell", || async {
        w.hooks.for_user("w-lazy").len() == 1 && w.smtp.to("pp@example.com").len() == 1
    })
    .await;
    w.hooks.assert_signed();
    assert!(w.smtp.to("pp@example.com")[0].contains("Goes well with your order"));
    settle().await;
    assert!(
        w.hooks.for_user("w-quiz").is_empty(),
        "the quiz taker is not nudged"
    );
    assert!(
        w.smtp.to("b-adds@example.com").is_empty(),
        "adding to cart is the goal"
    );
    assert!(
        w.smtp
            .to("wb-low@example.com")
            .iter()
            .all(|m| !m.contains("We miss you"))
    );
    assert!(w.smtp.to("bounce@example.com").is_empty());
    assert_eq!(
        stats(s, "browse-abandonment").await["journey"]["converted"],
        1
    );
    assert_eq!(stats(s, "win-back").await["journey"]["entered"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn holdout_members_and_people_without_an_address_get_nothing_visibly() {
    let w = World::start().await;
    let s = &w.server;
    catalog(s).await;
    let holdout = json!({"placement": "*", "variations": [
        {"id": "editorial", "treatment": "editorial"}, {"id": "personalized", "treatment": "personalized"}]});
    let (status, body) = s
        .admin_put("/v1/experiments/global-holdout", &holdout)
        .await;
    assert_eq!(status, 200, "{body}");
    let def = json!({"trigger": {"event": "Ping"}, "steps": [
        {"id": "push", "type": "send", "channel": "push", "template": "cart-push"},
        {"id": "email", "type": "send", "channel": "email", "template": "welcome"}]});
    assert_eq!(s.admin_put("/v1/journeys/ping", &def).await.0, 200);
    let mut held_out = Vec::new();
    let mut treated = Vec::new();
    for i in 0..12 {
        let user = format!("h{i}");
        shopper(s, &user, consent(true, true, false)).await;
        let (status, d) = s
            .post(
                "/v1/decide",
                &json!({"userId": user, "placements": ["recs.home"]}),
            )
            .await;
        assert_eq!(status, 200, "{d}");
        match d["decisions"]["recs.home"]["experiment"]["variation"].as_str() {
            Some("editorial") => held_out.push(user),
            Some(_) => treated.push(user),
            None => panic!("no experiment in {d}"),
        }
    }
    assert!(
        !held_out.is_empty() && !treated.is_empty(),
        "both arms: {held_out:?} {treated:?}"
    );
    // Someone with push consent but no email address.
    let (status, _) = s
        .post(
            "/v1/identify",
            &json!({"userId": "no-address", "context": {"consent": {"categoryPreferences": consent(true, true, false)}}}),
        )
        .await;
    assert_eq!(status, 200);
    for u in held_out
        .iter()
        .chain(&treated)
        .chain([&"no-address".to_string()])
    {
        track(s, u, "Ping", json!({})).await;
    }
    eventually("treated people's pushes and emails", || async {
        treated.iter().all(|u| {
            w.hooks.for_user(u).len() == 1 && w.smtp.to(&format!("{u}@example.com")).len() == 1
        })
    })
    .await;
    eventually("refusals recorded", || async {
        let st = stats(s, "ping").await;
        step_count(&st, "push", "skipped:holdout") == held_out.len() as i64
            && step_count(&st, "email", "skipped:no_address") == 1
    })
    .await;
    for u in &held_out {
        assert!(w.hooks.for_user(u).is_empty(), "{u} is in the holdout");
        assert!(w.smtp.to(&format!("{u}@example.com")).is_empty());
    }
    assert_eq!(
        w.hooks.for_user("no-address").len(),
        1,
        "push needs no address"
    );
    let refused = outbox(s, "no-address").await;
    assert!(
        refused
            .iter()
            .any(|m| m["status"] == "skipped" && m["lastError"] == "no_address"),
        "{refused:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn date_traits_enter_people_once_on_their_anniversary() {
    let w = World::start().await;
    let s = &w.server;
    let def = json!({"trigger": {"dateTrait": {"trait": "birthday", "hour": 9}},
        "reentry": {"policy": "always"},
        "steps": [{"id": "card", "type": "send", "channel": "push", "template": "cart-push"}]});
    let (status, body) = s.admin_put("/v1/journeys/birthday", &def).await;
    assert_eq!(status, 200, "{body}");
    clock_to(s, "2031-03-04T06:00:00Z").await;
    for (u, birthday) in [("bday", "1990-03-04"), ("other", "1990-07-01")] {
        shopper(s, u, consent(true, true, false)).await;
        s.post(
            "/v1/identify",
            &json!({"userId": u, "traits": {"birthday": birthday}}),
        )
        .await;
    }
    // Before 09:00 nothing; from 09:00 the card, once, however often the scheduler looks.
    advance(s, "2h").await;
    settle().await;
    assert!(w.hooks.bodies().is_empty());
    advance(s, "1h").await;
    eventually("birthday card", || async {
        w.hooks.for_user("bday").len() == 1
    })
    .await;
    for _ in 0..3 {
        advance(s, "2h").await;
        settle().await;
    }
    assert_eq!(w.hooks.for_user("bday").len(), 1, "once a year");
    assert!(w.hooks.for_user("other").is_empty());
    assert_eq!(stats(s, "birthday").await["journey"]["entered"], 1);
    let (status, body) = s
        .admin_put("/v1/journeys/both", &json!({"trigger": {"event": "X", "dateTrait": {"trait": "b"}}, "steps": [{"id": "e", "type": "exit"}]}))
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("one of `event`, `dateTrait` or `segment`"),
        "{body}"
    );
}

/// A journey with a control group: arms by GrowthBook's hash of the person keyed by the
/// journey, nothing sent to the control group, and a report whose numbers match counts
/// made here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_control_group_gets_nothing_and_the_report_compares_it() {
    let w = World::start().await;
    let s = &w.server;
    let def = json!({
        "trigger": {"event": "Browsed"},
        "control": {"percent": 50, "window": "3d"},
        "goal": {"event": "Order Completed"},
        "steps": [
            {"id": "hook", "type": "send", "channel": "webhook", "template": "event", "url": format!("{}/promo", w.hooks_base)}
        ]
    });
    let (status, body) = s.admin_put("/v1/journeys/promo", &def).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = s
        .admin_put("/v1/journeys/promo", &json!({"control": {"percent": 80}, "trigger": {"event": "B"}, "steps": [{"id": "x", "type": "exit"}]}))
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.to_string().contains("control.percent"), "{body}");
    clock_to(s, "2031-03-03T12:00:00Z").await;
    let n = 200;
    let users: Vec<String> = (0..n).map(|i| format!("c{i}")).collect();
    let batch: Vec<Value> = users
        .iter()
        .map(|u| json!({"type": "track", "userId": u, "event": "Browsed"}))
        .collect();
    let (status, body) = s.post("/v1/batch", &json!({"batch": batch})).await;
    assert_eq!(status, 200, "{body}");
    let control: Vec<&String> = users
        .iter()
        .filter(|u| tailor_core::experiment::hash("promo", u, 2).unwrap() < 0.5)
        .collect();
    let sent: Vec<&String> = users.iter().filter(|u| !control.contains(u)).collect();
    assert!(control.len() > 70 && sent.len() > 70, "{}", control.len());
    let control_buyers = control.len() * 3 / 10;
    eventually("the sent arm's webhooks", || async {
        w.hooks.bodies().len() == sent.len()
    })
    .await;
    settle().await;
    for u in &control {
        assert!(
            w.hooks.for_user(u).is_empty(),
            "{u} is in the control group"
        );
    }
    let st = stats(s, "promo").await;
    assert_eq!(st["journey"]["entered"], n as i64);
    assert_eq!(st["journey"]["entered:control"], control.len() as i64);
    assert_eq!(
        step_count(&st, "hook", "held:control"),
        control.len() as i64
    );
    // Within the window: all but two of the sent arm buy, 30 % of the control arm do; one
    // of each unsubscribes. After the window, a control purchase that does not count.
    advance(s, "1h").await;
    let mut events = Vec::new();
    let (mut revenue_sent, mut revenue_control) = (0.0, 0.0);
    for (i, u) in sent.iter().enumerate().skip(2) {
        let r = 50.0 + i as f64;
        revenue_sent += r;
        events.push(json!({"type": "track", "userId": u, "event": "Order Completed", "properties": {"revenue": r}}));
    }
    for (i, u) in control.iter().enumerate().take(control_buyers) {
        let r = 40.0 + i as f64;
        revenue_control += r;
        events.push(json!({"type": "track", "userId": u, "event": "Order Completed", "properties": {"revenue": r}}));
    }
    events.push(json!({"type": "track", "userId": sent[0], "event": "Unsubscribed"}));
    events.push(json!({"type": "track", "userId": control[50], "event": "Unsubscribed"}));
    let (status, body) = s.post("/v1/batch", &json!({"batch": events})).await;
    assert_eq!(status, 200, "{body}");
    advance(s, "4d").await;
    track(s, control[60], "Order Completed", json!({"revenue": 999})).await;
    let (status, r) = s.admin_get("/v1/journeys/promo/report").await;
    assert_eq!(status, 200, "{r}");
    let (ns, nc) = (sent.len() as f64, control.len() as f64);
    let arm = |a: &str| r["arms"][a].clone();
    assert_eq!(arm("sent")["people"], sent.len());
    assert_eq!(arm("control")["people"], control.len());
    assert_eq!(arm("sent")["conversions"], ns - 2.0);
    assert_eq!(arm("control")["conversions"], control_buyers as f64);
    assert_eq!(arm("sent")["unsubscribes"], 1.0);
    assert_eq!(arm("control")["unsubscribes"], 1.0);
    let close = |a: &Value, b: f64| (a.as_f64().unwrap() - b).abs() < 1e-4;
    assert!(close(&arm("sent")["revenue"], revenue_sent), "{r}");
    assert!(close(&arm("control")["revenue"], revenue_control), "{r}");
    assert!(
        close(&arm("sent")["revenuePerPerson"], revenue_sent / ns),
        "{r}"
    );
    // Relative lift of the conversion rate, its interval around it, and a clear p-value.
    let c = &r["comparisons"]["conversion"];
    let lift = ((ns - 2.0) / ns) / (control_buyers as f64 / nc) - 1.0;
    assert!(close(&c["lift"], lift), "{c} vs {lift}");
    let (lo, hi) = (c["ci"][0].as_f64().unwrap(), c["ci"][1].as_f64().unwrap());
    assert!(lo > 0.0 && lo < lift && lift < hi, "{c}");
    assert!(c["pValue"].as_f64().unwrap() < 0.001, "{c}");
    assert!(
        r["comparisons"]["unsubscribes"]["pValue"].as_f64().unwrap() > 0.1,
        "{r}"
    );
    assert_eq!(r["srm"]["mismatch"], false, "{r}");
    assert!(!r.to_string().contains("c1"), "no personal data: {r}");
    // The arms stay when the journey changes: version 2 holds back the same people.
    let mut v2 = def.clone();
    v2["name"] = json!("promo, v2");
    v2["reentry"] = json!({"policy": "always"});
    assert_eq!(s.admin_put("/v1/journeys/promo", &v2).await.1["version"], 2);
    let again: Vec<Value> = users
        .iter()
        .map(|u| json!({"type": "track", "userId": u, "event": "Browsed"}))
        .collect();
    let before = w.hooks.bodies().len();
    s.post("/v1/batch", &json!({"batch": again})).await;
    eventually("v2 entries", || async {
        stats(s, "promo").await["journey"]["entered"] == 2 * n as i64
    })
    .await;
    eventually("v2's webhooks", || async {
        w.hooks.bodies().len() == before + sent.len()
    })
    .await;
    assert_eq!(
        stats(s, "promo").await["journey"]["entered:control"],
        2 * control.len() as i64
    );
}

/// Pausing holds what is already in the outbox; resuming releases it at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pausing_holds_queued_messages_until_resumed() {
    let w = World::start().await;
    let s = &w.server;
    let (status, body) = s
        .admin_put(
            "/v1/journeys/policy",
            &json!({"quietHours": {"start": 21, "end": 8}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let def = json!({"trigger": {"event": "Poke"},
        "steps": [{"id": "push", "type": "send", "channel": "push", "template": "cart-push"}]});
    assert_eq!(s.admin_put("/v1/journeys/poke", &def).await.0, 200);
    clock_to(s, "2031-03-03T22:00:00Z").await;
    shopper(s, "held", consent(true, true, false)).await;
    track(s, "held", "Poke", json!({})).await;
    eventually("queued, deferred by quiet hours", || async {
        step_count(&stats(s, "poke").await, "push", "deferred:quiet_hours") == 1
    })
    .await;
    let (_, body) = s.admin_post("/v1/journeys/poke/pause", &json!({})).await;
    assert_eq!(body["status"], "paused");
    // Morning: the message is due, but its journey is paused.
    clock_to(s, "2031-03-04T08:30:00Z").await;
    eventually("held", || async {
        step_count(&stats(s, "poke").await, "push", "deferred:paused") == 1
    })
    .await;
    advance(s, "2h").await;
    settle().await;
    assert!(w.hooks.for_user("held").is_empty(), "held while paused");
    let pending = outbox(s, "held").await;
    assert_eq!(pending[0]["status"], "pending", "{pending:?}");
    assert_eq!(pending[0]["lastError"], "held: journey paused");
    assert_eq!(
        step_count(&stats(s, "poke").await, "push", "deferred:paused"),
        1,
        "counted once however often it is looked at"
    );
    let (_, body) = s.admin_post("/v1/journeys/poke/resume", &json!({})).await;
    assert_eq!(body["status"], "active");
    // Released at once, without waiting for the next look.
    eventually("sent after resume", || async {
        w.hooks.for_user("held").len() == 1
    })
    .await;
    let sent = outbox(s, "held").await;
    assert_eq!(sent[0]["status"], "sent");
    assert_eq!(sent[0]["lastError"], Value::Null);
}

/// Quiet hours in named time zones follow daylight saving time; offsets keep working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn named_time_zones_follow_daylight_saving_time() {
    let w = World::start().await;
    let s = &w.server;
    let (status, body) = s
        .admin_put(
            "/v1/journeys/policy",
            &json!({"quietHours": {"start": 21, "end": 8}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let def = json!({"trigger": {"event": "Poke"},
        "steps": [{"id": "push", "type": "send", "channel": "push", "template": "cart-push"}]});
    assert_eq!(s.admin_put("/v1/journeys/poke", &def).await.0, 200);
    // Saturday 22:00 UTC: 23:00 in Paris (winter time). Overnight the clocks go forward.
    clock_to(s, "2031-03-29T22:00:00Z").await;
    for (user, tz) in [("paris", "Europe/Paris"), ("fixed", "+01:00")] {
        shopper(s, user, consent(true, true, false)).await;
        let (status, _) = s
            .post(
                "/v1/identify",
                &json!({"userId": user, "traits": {"timezone": tz}}),
            )
            .await;
        assert_eq!(status, 200);
        track(s, user, "Poke", json!({})).await;
    }
    eventually("both deferred", || async {
        step_count(&stats(s, "poke").await, "push", "deferred:quiet_hours") == 2
    })
    .await;
    // 08:00 summer time in Paris is 06:00 UTC; 08:00 at +01:00 is 07:00 UTC.
    let next = |o: Vec<Value>| o[0]["nextAt"].as_i64().unwrap();
    let at = |t: &str| tailor_core::time::parse_timestamp(t).unwrap();
    assert_eq!(next(outbox(s, "paris").await), at("2031-03-30T06:00:00Z"));
    assert_eq!(next(outbox(s, "fixed").await), at("2031-03-30T07:00:00Z"));
    clock_to(s, "2031-03-30T06:00:05Z").await;
    eventually("paris at 08:00 summer time", || async {
        w.hooks.for_user("paris").len() == 1
    })
    .await;
    settle().await;
    assert!(w.hooks.for_user("fixed").is_empty(), "07:00 at +01:00");
    clock_to(s, "2031-03-30T07:00:05Z").await;
    eventually("fixed offset at 08:00", || async {
        w.hooks.for_user("fixed").len() == 1
    })
    .await;
}

/// An on-site step puts a message on the person's next pages through `decide`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn onsite_messages_reach_that_visitor_through_decide() {
    let w = World::start().await;
    let s = &w.server;
    catalog(s).await;
    let def = json!({"trigger": {"event": "Product Added"}, "priority": 4,
        "steps": [{"id": "banner", "type": "send", "channel": "onsite", "template": "cart-onsite", "ttl": "2d", "maxViews": 2}]});
    let (status, body) = s.admin_put("/v1/journeys/onsite-cart", &def).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = s
        .admin_put("/v1/journeys/bad", &json!({"trigger": {"event": "X"},
            "steps": [{"id": "e", "type": "send", "channel": "email", "template": "welcome", "ttl": "1d"}]}))
        .await;
    assert_eq!(status, 400, "{body}");
    clock_to(s, "2031-03-03T12:00:00Z").await;
    let personal = json!({"personalization": true});
    for (user, consent) in [
        ("web1", personal.clone()),
        ("web2", personal.clone()),
        ("private", json!({"personalization": false})),
    ] {
        shopper(s, user, consent).await;
    }
    for user in ["web1", "private"] {
        track(
            s,
            user,
            "Product Added",
            json!({"product_id": "shoe-1", "price": 101.0, "quantity": 1}),
        )
        .await;
    }
    eventually("delivered to web1", || async {
        outbox(s, "web1")
            .await
            .first()
            .is_some_and(|m| m["status"] == "sent")
    })
    .await;
    eventually("refused for private", || async {
        step_count(
            &stats(s, "onsite-cart").await,
            "banner",
            "skipped:no_consent",
        ) == 1
    })
    .await;
    let decide = |user: &'static str| async move {
        let (status, body) = s
            .post(
                "/v1/decide",
                &json!({"userId": user, "placements": ["onsite.message", "recs.cart"]}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body["decisions"]["onsite.message"].clone()
    };
    let first = decide("web1").await;
    let m = &first["message"];
    assert_eq!(m["journey"], "onsite-cart", "{first}");
    assert!(m["title"].as_str().unwrap().contains("web1"), "{first}");
    assert!(
        m["body"].as_str().unwrap().contains("Trail Shoe 1"),
        "{first}"
    );
    assert_eq!(m["views"], 1);
    assert!(
        decide("web2").await.get("message").is_none(),
        "not someone else's"
    );
    assert!(decide("private").await.get("message").is_none());
    // Shown once more, then taken down by dismissal.
    assert_eq!(decide("web1").await["message"]["views"], 2);
    assert!(decide("web1").await.get("message").is_none(), "maxViews 2");
    // A second message, dismissed by the visitor.
    track(
        s,
        "web1",
        "Product Added",
        json!({"product_id": "shoe-2", "price": 102.0, "quantity": 1}),
    )
    .await;
    eventually("second delivered", || async {
        outbox(s, "web1")
            .await
            .iter()
            .filter(|m| m["status"] == "sent")
            .count()
            == 2
    })
    .await;
    let key = decide("web1").await["message"]["key"].clone();
    assert!(key.is_string());
    track(s, "web1", "Message Dismissed", json!({"messageKey": key})).await;
    eventually("dismissed", || async {
        decide("web1").await.get("message").is_none()
    })
    .await;
}

/// A segment trigger enters people when their profile starts to match, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entering_a_segment_starts_a_run() {
    let w = World::start().await;
    let s = &w.server;
    clock_to(s, "2031-03-03T12:00:00Z").await;
    let gold = |user: &str, tier: &str| json!({"userId": user, "traits": {"tier": tier}});
    assert_eq!(
        s.post("/v1/identify", &gold("already", "gold")).await.0,
        200
    );
    let def = json!({"trigger": {"segment": {"traits.tier": "gold", "orders": {"$gte": 0}}},
        "reentry": {"policy": "always"},
        "steps": [{"id": "hook", "type": "send", "channel": "webhook", "template": "event", "url": format!("{}/vip", w.hooks_base)}]});
    let (status, body) = s.admin_put("/v1/journeys/vip", &def).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = s
        .admin_put("/v1/journeys/bad", &json!({"trigger": {"event": "X", "segment": {"a": 1}}, "steps": [{"id": "x", "type": "exit"}]}))
        .await;
    assert_eq!(status, 400, "{body}");
    // Already in the segment when the journey started: not an entry.
    assert_eq!(
        s.post(
            "/v1/identify",
            &json!({"userId": "already", "traits": {"x": 1}})
        )
        .await
        .0,
        200
    );
    assert_eq!(
        s.post("/v1/identify", &gold("newbie", "silver")).await.0,
        200
    );
    settle().await;
    assert!(stats(s, "vip").await["journey"].get("entered").is_none());
    assert_eq!(s.post("/v1/identify", &gold("newbie", "gold")).await.0, 200);
    eventually("entered on the change", || async {
        w.hooks.for_user("newbie").len() == 1
    })
    .await;
    // Still gold: no new entry; leaves and comes back: a new one.
    track(s, "newbie", "Product Viewed", json!({"product_id": "p"})).await;
    settle().await;
    assert_eq!(stats(s, "vip").await["journey"]["entered"], 1);
    assert_eq!(
        s.post("/v1/identify", &gold("newbie", "silver")).await.0,
        200
    );
    assert_eq!(s.post("/v1/identify", &gold("newbie", "gold")).await.0, 200);
    eventually("entered again", || async {
        stats(s, "vip").await["journey"]["entered"] == 2
    })
    .await;
    assert!(w.hooks.for_user("already").is_empty());
}
