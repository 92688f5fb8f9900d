//! Journeys at the engine boundary: days of journey time pass on the test clock, email
//! goes through SMTP to a mail sink (aiosmtpd with `TAILOR_EXTERNAL_TESTS=1`), push and
//! webhooks to a receiver in this process. `Engine::settle` waits for the scheduler and the
//! outbox to handle everything due now, so "nothing happened" is checked without sleeping.
//! (A crash mid-journey: `crates/tailor/tests/journeys.rs`; the HTTP shapes of the journeys
//! API and the test clock: `crates/server/tests/journeys_api.rs`.)

use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tailor_engine::EngineError;
use tailor_engine::journeys::audiences::ExportFormat;
use tailor_engine::journeys::channels::ChannelConfig;
use tailor_engine::journeys::channels::{SmsFormat, SmsSettings, SmtpTls};
use tailor_engine::journeys::inbound::{EmailFeedback, SmsReply};
use tailor_testkit::TestEngine;
use tailor_testkit::channels::{Mail, MailSink, WebhookReceiver, form_fields};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// What the SMS provider sends from.
const SMS_FROM: &str = "+15005550006";

struct World {
    kit: TestEngine,
    smtp: MailSink,
    hooks: WebhookReceiver,
    hooks_base: String,
    /// The SMS provider (Twilio's form fields).
    sms: WebhookReceiver,
}

impl World {
    async fn start() -> World {
        World::with_mail(MailSink::start().await).await
    }

    async fn with_mail(smtp: MailSink) -> World {
        let (hooks, hooks_base) = WebhookReceiver::start().await;
        let (sms, sms_base) = WebhookReceiver::start().await;
        let kit = TestEngine::builder()
            .channels(ChannelConfig {
                smtp: Some(smtp.settings()),
                email_from: Some("Shop <shop@example.com>".into()),
                push_url: Some(format!("{hooks_base}/push")),
                sms: Some(SmsSettings {
                    url: format!("{sms_base}/2010-04-01/Accounts/AC1/Messages.json"),
                    format: SmsFormat::Form,
                    from: Some(SMS_FROM.into()),
                    user: Some("AC1".into()),
                    password: Some("auth-token".into()),
                }),
                webhook_secret: Some(SECRET.into()),
                public_url: Some("https://tailor.example.com/".into()),
                store_name: Some("Trail & Co".into()),
                ..Default::default()
            })
            .start()
            .await;
        World {
            kit,
            smtp,
            hooks,
            hooks_base,
            sms,
        }
    }

    /// The SMS sent so far: (To, Body).
    fn texts(&self) -> Vec<(String, String)> {
        self.sms
            .deliveries()
            .iter()
            .map(|(_, body)| {
                let f = form_fields(body);
                (f["To"].clone(), f["Body"].clone())
            })
            .collect()
    }
}

/// The token of a message's one-click unsubscribe link.
fn unsubscribe_token(mail: &Mail) -> String {
    let header = mail
        .header("List-Unsubscribe")
        .expect("a List-Unsubscribe header");
    header
        .trim_matches(['<', '>'])
        .split("/unsubscribe/")
        .nth(1)
        .expect("a link to /unsubscribe/")
        .to_string()
}

/// Checks every delivery's Standard Webhooks signature.
fn assert_signed(hooks: &WebhookReceiver) {
    let key = base64::engine::general_purpose::STANDARD
        .decode(SECRET.trim_start_matches("whsec_"))
        .unwrap();
    for (headers, body) in hooks.deliveries() {
        let h = |k: &str| headers.get(k).unwrap().to_str().unwrap().to_string();
        let (id, ts) = (h("webhook-id"), h("webhook-timestamp"));
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key).unwrap();
        mac.update(format!("{id}.{ts}.{body}").as_bytes());
        let expected = format!(
            "v1,{}",
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
        );
        assert_eq!(h("webhook-signature"), expected, "signature of {body}");
        let parsed: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(parsed["idempotencyKey"], id.as_str());
    }
}

async fn track(kit: &TestEngine, user: &str, event: &str, properties: Value) {
    let receipt = kit
        .track(json!({"userId": user, "event": event, "properties": properties}))
        .await;
    assert_eq!(receipt.accepted, 1, "{receipt:?}");
}

/// A shopper with an email address and the given consent.
async fn shopper(kit: &TestEngine, user: &str, consent: Value) {
    kit.identify(
        json!({"userId": user, "traits": {"email": format!("{user}@example.com"), "firstName": user,
                "phone": "+1 650 555 0100"},
                "context": {"consent": {"categoryPreferences": consent}}}),
    )
    .await;
}

fn catalog(kit: &TestEngine) {
    let products: Vec<Value> = (0..8)
        .map(|i| json!({"id": format!("shoe-{i}"), "name": format!("Trail Shoe {i}"), "category": "Shoes/Trail", "price": 100.0 + i as f64, "stock": 10}))
        .collect();
    assert_eq!(kit.load_products(Value::Array(products)), 8);
}

/// `PUT /v1/journeys/{id}`: the definition with its id.
fn put_journey(kit: &TestEngine, id: &str, mut definition: Value) -> Result<Value, EngineError> {
    definition["id"] = json!(id);
    kit.put_journey(definition).map(|j| json!(j))
}

fn put_template(kit: &TestEngine, id: &str) {
    let templates = json!(kit.journey_templates());
    let def = templates["journeys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["id"] == id)
        .unwrap_or_else(|| panic!("template {id}"))
        .clone();
    let body = put_journey(kit, id, def).unwrap();
    assert_eq!(body["version"], 1);
}

fn outbox(kit: &TestEngine, user: &str) -> Vec<Value> {
    as_json(kit.outbox(None, Some(user), 100).unwrap())
}

/// Items as the API lists them.
fn as_json<T: serde::Serialize>(items: Vec<T>) -> Vec<Value> {
    items.iter().map(|item| json!(item)).collect()
}

fn stats(kit: &TestEngine, id: &str) -> Value {
    json!(kit.journey_stats(id).unwrap())
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

fn consent(email: bool, push: bool, ads: bool) -> Value {
    json!({"email": email, "push": push, "advertising": ads})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abandoned_cart_runs_end_to_end_through_smtp_webhooks_and_audiences() {
    let w = World::start().await;
    let s = &w.kit;
    catalog(s);
    put_template(s, "abandoned-cart");
    // Monday 12:00 UTC.
    s.clock.to("2031-03-03T12:00:00Z");
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
    s.settle().await;
    assert_eq!(
        stats(s, "abandoned-cart")["journey"]["entered"],
        4,
        "four people entered"
    );
    // A second checkout while the run is active enters no one again (re-entry rules).
    track(s, "cart", "Checkout Started", json!({})).await;
    // The buyer orders within the hour: the goal ends their run before anything is sent.
    s.clock.advance("30m");
    track(
        s,
        "buyer",
        "Order Completed",
        json!({"order_id": "o-1", "total": 101.0}),
    )
    .await;
    s.settle().await;
    assert_eq!(
        stats(s, "abandoned-cart")["journey"]["converted"],
        1,
        "buyer converted"
    );
    // An hour later the email waits for the best send time: 10:00 (no open history).
    s.clock.advance("45m");
    s.settle().await;
    assert!(w.smtp.messages().is_empty(), "nothing before the send hour");
    // Tuesday 10:00: the emails go out.
    s.clock.to("2031-03-04T10:00:30Z");
    s.settle().await;
    assert!(
        !w.smtp.to("cart@example.com").is_empty() && !w.smtp.to("opener@example.com").is_empty(),
        "emails to cart and opener"
    );
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
        mail.contains("Message-ID: <abandoned-cart=3A"),
        "the idempotency key travels: {mail}"
    );
    // No consent: recorded, visible, not sent.
    assert!(
        outbox(s, "no-email")
            .iter()
            .any(|m| m["status"] == "skipped" && m["lastError"] == "no_consent"),
        "no-email skipped"
    );
    assert!(w.smtp.to("no-email@example.com").is_empty());
    assert!(w.smtp.to("buyer@example.com").is_empty());
    // The opener opens; the other does not.
    s.clock.advance("2h");
    track(
        s,
        "opener",
        "Email Opened",
        json!({"email_subject": "cart"}),
    )
    .await;
    s.settle().await;
    assert_eq!(
        step_count(&stats(s, "abandoned-cart"), "wait-more", "reached"),
        1,
        "opener's wait answered"
    );
    // 24 h after the email: a push to the one who did not open it, signed.
    s.clock.advance("22h");
    s.settle().await;
    assert!(!w.hooks.for_user("cart").is_empty(), "push to cart");
    assert!(
        w.hooks.for_user("opener").is_empty(),
        "the opener gets no push"
    );
    // no-email has push consent: its push goes (only email was refused).
    assert!(!w.hooks.for_user("no-email").is_empty(), "push to no-email");
    assert_signed(&w.hooks);
    let push = &w.hooks.for_user("cart")[0];
    assert_eq!(push["type"], "journey.push");
    assert_eq!(push["title"], "Your cart is waiting");
    // 48 h after the email: the retargeting audience, with advertising consent only.
    s.clock.advance("24h");
    s.settle().await;
    let a = json!(s.audience("cart-retargeting").unwrap());
    assert_eq!(
        a["members"].as_array().map(Vec::len),
        Some(2),
        "cart and opener in the audience: {a}"
    );
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
    let hashed = |v: &str| {
        Sha256::digest(v.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    // Google Ads Customer Match: `Email,Phone`, the phone in E.164 before hashing.
    let csv = s
        .audience_export("cart-retargeting", ExportFormat::Google)
        .unwrap();
    assert!(csv.starts_with("Email,Phone\n"), "{csv}");
    assert!(
        csv.contains(&format!(
            "{},{}\n",
            hashed("cart@example.com"),
            hashed("+16505550100")
        )),
        "{csv}"
    );
    assert!(!csv.contains("@"), "no clear-text address leaves: {csv}");
    // Meta's customer list: `email,phone,value`, the phone as digits without `+`.
    let csv = s
        .audience_export("cart-retargeting", ExportFormat::Meta)
        .unwrap();
    assert!(csv.starts_with("email,phone,value\n"), "{csv}");
    assert!(
        csv.contains(&format!(
            "{},{},",
            hashed("cart@example.com"),
            hashed("16505550100")
        )),
        "{csv}"
    );
    // The purchase ends the journey and leaves the audience.
    track(
        s,
        "cart",
        "Order Completed",
        json!({"order_id": "o-2", "total": 101.0}),
    )
    .await;
    s.settle().await;
    let c = json!(s.audience_changes("cart-retargeting", 0, 1_000).unwrap());
    assert!(
        c["changes"].as_array().is_some_and(|c| {
            c.iter()
                .any(|c| c["person"] == "cart" && c["op"] == "remove")
        }),
        "cart left the audience: {c}"
    );
    let a = json!(s.audience("cart-retargeting").unwrap());
    assert_eq!(a["members"].as_array().unwrap().len(), 1, "{a}");
    // Exactly one email each, whatever happened in between.
    assert_eq!(w.smtp.to("cart@example.com").len(), 1);
    assert_eq!(w.smtp.to("opener@example.com").len(), 1);
    let st = stats(s, "abandoned-cart");
    assert_eq!(st["journey"]["converted"], 2, "{st}");
    assert_eq!(step_count(&st, "email", "sent"), 2, "{st}");
    assert_eq!(step_count(&st, "email", "skipped:no_consent"), 1, "{st}");
    assert_eq!(step_count(&st, "push", "sent"), 2, "{st}");
    // Where everyone is.
    let runs = as_json(s.journey_runs("opener").unwrap());
    assert_eq!(runs[0]["step"], "keep-14d", "{runs:?}");
    // Erasure takes their journey state, messages and memberships with it, and leaves a
    // `remove` that names no one, with only the hashed keys the ad platform matched.
    let report = s.erase("opener").await.unwrap();
    assert_eq!(report.audience_removals, 1);
    assert_eq!(s.journey_runs("opener").unwrap().len(), 0);
    assert!(outbox(s, "opener").is_empty());
    let a = json!(s.audience("cart-retargeting").unwrap());
    assert!(a["members"].as_array().unwrap().is_empty(), "{a}");
    let c = json!(s.audience_changes("cart-retargeting", 0, 1_000).unwrap());
    let last = c["changes"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["op"], "remove", "{c}");
    assert_eq!(last["person"], Value::Null, "{c}");
    assert_eq!(
        last["matchKeys"]["google"]["email"],
        hashed("opener@example.com"),
        "{c}"
    );
    assert!(!c.to_string().contains("opener"), "{c}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caps_quiet_hours_and_consent_withdrawal_apply_at_send_time() {
    let w = World::start().await;
    let s = &w.kit;
    s.put_journey_policy(
        serde_json::from_value(
            json!({"caps": {"push": {"day": 1}}, "quietHours": {"start": 21, "end": 8}}),
        )
        .unwrap(),
    )
    .unwrap();
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
    put_journey(s, "nudges", def).unwrap();
    // 22:00 UTC: quiet. The Tokyo shopper (UTC+9) is at 07:00: also quiet, until 08:00 local.
    s.clock.to("2031-03-03T22:00:00Z");
    shopper(s, "night", consent(true, true, false)).await;
    shopper(s, "tokyo", consent(true, true, false)).await;
    s.identify(json!({"userId": "tokyo", "traits": {"timezone": "+09:00"}}))
        .await;
    shopper(s, "quits", consent(true, true, false)).await;
    for u in ["night", "tokyo", "quits"] {
        track(s, u, "Wishlist Reminder", json!({})).await;
    }
    s.settle().await;
    assert!(
        step_count(&stats(s, "nudges"), "p1", "deferred:quiet_hours") >= 3,
        "deferred by quiet hours"
    );
    assert!(w.hooks.bodies().is_empty());
    // 23:00 UTC = 08:00 in Tokyo: only the Tokyo push goes.
    s.clock.advance("1h");
    s.settle().await;
    assert_eq!(w.hooks.for_user("tokyo").len(), 1, "tokyo's push");
    assert!(w.hooks.for_user("night").is_empty(), "still night in UTC");
    // 08:00 UTC: the others' first pushes. Their second ones were queued at 23:00 (an hour
    // after the first were), also held by quiet hours, and now break the cap of one a day.
    s.clock.to("2031-03-04T08:00:10Z");
    s.settle().await;
    assert!(
        w.hooks.for_user("night").len() == 1 && w.hooks.for_user("quits").len() == 1,
        "first pushes"
    );
    assert_eq!(
        step_count(&stats(s, "nudges"), "p2", "skipped:frequency_cap:push:day"),
        3,
        "second pushes capped"
    );
    // "quits" withdraws push consent and unsubscribes from email, mid-journey.
    s.track(json!({"userId": "quits", "event": "Consent Updated", "context": {"consent": {"categoryPreferences": {"push": false}}}}))
        .await;
    track(s, "quits", "Unsubscribed", json!({})).await;
    // The next day, past the quiet hours and the cap's window: the email and the third push.
    s.clock.to("2031-03-05T09:00:00Z");
    s.settle().await;
    assert!(
        w.smtp.to("night@example.com").len() == 1
            && w.smtp.to("tokyo@example.com").len() == 1
            && w.hooks.for_user("night").len() == 2
            && w.hooks.for_user("tokyo").len() == 2,
        "emails and third pushes"
    );
    let st = stats(s, "nudges");
    assert!(
        step_count(&st, "e1", "skipped:no_consent") == 1
            && step_count(&st, "p3", "skipped:no_consent") == 1,
        "quits refused on both channels: {st}"
    );
    assert!(w.smtp.to("quits@example.com").is_empty());
    assert_eq!(w.hooks.for_user("quits").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_providers_retry_then_dead_letter_and_replay() {
    let w = World::start().await;
    let s = &w.kit;
    let def = json!({
        "trigger": {"event": "Back In Stock"},
        "steps": [{"id": "hook", "type": "send", "channel": "webhook", "template": "event", "url": format!("{}/provider", w.hooks_base)}]
    });
    put_journey(s, "restock", def).unwrap();
    s.clock.to("2031-03-03T12:00:00Z");
    shopper(s, "r", consent(true, true, false)).await;
    w.hooks.set_failing(true);
    track(s, "r", "Back In Stock", json!({"product_id": "shoe-1"})).await;
    // Five attempts, backing off 30 s, 1, 2 and 4 min.
    for _ in 0..5 {
        s.settle().await;
        let o = outbox(s, "r");
        assert!(
            o.len() == 1 && (o[0]["status"] == "dead" || o[0]["nextAt"].as_i64() > Some(0)),
            "an attempt: {o:?}"
        );
        s.clock.advance("5m");
    }
    s.settle().await;
    let dead = as_json(s.outbox(Some("dead"), None, 100).unwrap());
    assert_eq!(dead.len(), 1, "dead: {dead:?}");
    let dead = &dead[0];
    assert_eq!(dead["attempts"], 5, "{dead}");
    assert!(
        dead["lastError"].as_str().unwrap().contains("500"),
        "{dead}"
    );
    assert_eq!(step_count(&stats(s, "restock"), "hook", "retried"), 4);
    // The provider is back; an admin replays the message.
    w.hooks.set_failing(false);
    let key = dead["key"].as_str().unwrap().to_string();
    s.replay_dead(&key).unwrap();
    s.settle().await;
    assert_eq!(w.hooks.for_user("r").len(), 1, "delivered after replay");
    assert_signed(&w.hooks);
    assert_eq!(w.hooks.for_user("r")[0]["idempotencyKey"], key.as_str());
    // Replaying what is not dead is refused.
    assert!(
        matches!(s.replay_dead(&key), Err(EngineError::Invalid(_))),
        "400 for a message that is not dead"
    );
    assert!(matches!(
        s.replay_dead("nope"),
        Err(EngineError::NotFound(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn definitions_are_validated_versioned_and_pausable() {
    let s = TestEngine::start().await;
    let Err(EngineError::Invalid(problems)) = put_journey(
        &s,
        "bad",
        json!({"trigger": {"event": ""}, "goal": {"event": "Order Completed"}, "steps": [
            {"id": "a", "type": "wait", "duration": "forever"},
            {"id": "b", "type": "send", "channel": "email", "template": "nope"},
            {"id": "c", "type": "branch", "condition": {"orders": {"$gt": 0}}, "then": "zz", "else": "a"}
        ]}),
    ) else {
        panic!("an invalid definition is refused");
    };
    assert!(
        problems.problems.len() >= 4,
        "every problem at once: {problems}"
    );
    let Err(EngineError::Invalid(problems)) = put_journey(
        &s,
        "bad",
        json!({"trigger": {"event": "X"}, "steps": [{"id": "a", "type": "teleport"}]}),
    ) else {
        panic!("an unknown step type is refused");
    };
    assert!(problems.to_string().contains("teleport"), "{problems}");
    assert!(s.journey("bad", None).is_none(), "nothing half-written");
    // Versions: a change is a new version, the old one stays readable.
    let v1 = json!({"trigger": {"event": "A"}, "steps": [{"id": "s", "type": "exit"}]});
    assert_eq!(put_journey(&s, "j", v1.clone()).unwrap()["version"], 1);
    assert_eq!(put_journey(&s, "j", v1).unwrap()["version"], 1, "unchanged");
    let v2 = json!({"trigger": {"event": "B"}, "steps": [{"id": "s", "type": "exit"}]});
    assert_eq!(put_journey(&s, "j", v2).unwrap()["version"], 2);
    let old = json!(s.journey("j", Some(1)).unwrap());
    assert_eq!(old["definition"]["trigger"]["event"], "A");
    // Paused journeys take no one in.
    let body = json!(s.set_journey_paused("j", true).unwrap());
    assert_eq!(body["status"], "paused");
    track(&s, "p", "B", json!({})).await;
    s.settle().await;
    assert!(stats(&s, "j")["journey"].get("entered").is_none());
    let body = json!(s.set_journey_paused("j", false).unwrap());
    assert_eq!(body["status"], "active");
    track(&s, "p", "B", json!({})).await;
    s.settle().await;
    assert_eq!(
        stats(&s, "j")["journey"]["entered"],
        1,
        "entered after resume"
    );
    assert_eq!(s.journeys().len(), 1);
    s.delete_journey("j").unwrap();
    assert!(matches!(
        s.delete_journey("j"),
        Err(EngineError::NotFound(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_other_templates_run_end_to_end() {
    let w = World::start().await;
    let s = &w.kit;
    catalog(s);
    for id in ["browse-abandonment", "post-purchase", "welcome"] {
        put_template(s, id);
    }
    s.clock.to("2031-03-03T12:00:00Z");
    for u in ["w-quiz", "w-lazy", "b-view", "b-adds", "pp", "bounce"] {
        shopper(s, u, consent(true, true, true)).await;
    }
    // Welcome series: an email at once; the quiz taker is tagged, the other nudged by push.
    track(s, "bounce", "Email Bounced", json!({})).await;
    for u in ["w-quiz", "w-lazy", "bounce"] {
        track(s, u, "Signed Up", json!({})).await;
    }
    s.settle().await;
    assert!(
        w.smtp.to("w-quiz@example.com").len() == 1 && w.smtp.to("w-lazy@example.com").len() == 1,
        "welcome emails"
    );
    assert!(w.smtp.to("w-quiz@example.com")[0].contains("Subject: Welcome, w-quiz"));
    assert_eq!(
        step_count(&stats(s, "welcome"), "email", "skipped:bounced"),
        1,
        "a bounced address gets nothing"
    );
    track(s, "w-quiz", "Quiz Completed", json!({})).await;
    s.settle().await;
    assert_eq!(
        s.profile_json("w-quiz")["traits"]["welcomeQuizDone"],
        true,
        "quiz taker tagged through ingestion"
    );
    // Browse abandonment at the hour they open emails (19:00), unless they add to cart.
    for day in 1..=3 {
        s.track(json!({"userId": "b-view", "event": "Email Opened",
                "timestamp": format!("2031-02-2{day}T19:{:02}:00Z", day * 7)}))
            .await;
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
    // Post-purchase (win-back, entered by the churn prediction: its own test below).
    track(s, "pp", "Order Completed", json!({"order_id": "pp-1", "total": 50.0, "products": [{"product_id": "shoe-3", "price": 50.0}]})).await;
    s.settle().await;
    // Tuesday 18:00: a day has passed, but not yet their hour.
    s.clock.to("2031-03-04T18:00:00Z");
    s.settle().await;
    assert!(
        w.smtp.to("b-view@example.com").is_empty(),
        "waits for 19:00"
    );
    s.clock.to("2031-03-04T19:00:30Z");
    s.settle().await;
    assert_eq!(
        w.smtp.to("b-view@example.com").len(),
        1,
        "browse email at their hour"
    );
    assert!(w.smtp.to("b-view@example.com")[0].contains("Picked for you:\n- "));
    // Three days on: the lazy one's push, the cross-sell email (Friday 10:00).
    s.clock.to("2031-03-07T10:00:30Z");
    s.settle().await;
    assert!(
        w.hooks.for_user("w-lazy").len() == 1 && w.smtp.to("pp@example.com").len() == 1,
        "nudge and cross-sell"
    );
    assert_signed(&w.hooks);
    assert!(w.smtp.to("pp@example.com")[0].contains("Goes well with your order"));
    assert!(
        w.hooks.for_user("w-quiz").is_empty(),
        "the quiz taker is not nudged"
    );
    assert!(
        w.smtp.to("b-adds@example.com").is_empty(),
        "adding to cart is the goal"
    );
    assert!(w.smtp.to("bounce@example.com").is_empty());
    assert_eq!(stats(s, "browse-abandonment")["journey"]["converted"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn holdout_members_and_people_without_an_address_get_nothing_visibly() {
    let w = World::start().await;
    let s = &w.kit;
    catalog(s);
    let holdout = serde_json::from_value(json!({"id": "global-holdout", "placement": "*", "variations": [
        {"id": "editorial", "treatment": "editorial"}, {"id": "personalized", "treatment": "personalized"}]}))
    .unwrap();
    s.put_experiment(holdout).unwrap();
    let def = json!({"trigger": {"event": "Ping"}, "steps": [
        {"id": "push", "type": "send", "channel": "push", "template": "cart-push"},
        {"id": "email", "type": "send", "channel": "email", "template": "welcome"}]});
    put_journey(s, "ping", def).unwrap();
    let mut held_out = Vec::new();
    let mut treated = Vec::new();
    for i in 0..12 {
        let user = format!("h{i}");
        shopper(s, &user, consent(true, true, false)).await;
        let d = s.decide_json(json!({"userId": user, "placements": ["recs.home"]}));
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
    s.identify(json!({"userId": "no-address", "context": {"consent": {"categoryPreferences": consent(true, true, false)}}}))
        .await;
    for u in held_out
        .iter()
        .chain(&treated)
        .chain([&"no-address".to_string()])
    {
        track(s, u, "Ping", json!({})).await;
    }
    s.settle().await;
    assert!(
        treated.iter().all(|u| {
            w.hooks.for_user(u).len() == 1 && w.smtp.to(&format!("{u}@example.com")).len() == 1
        }),
        "treated people's pushes and emails"
    );
    let st = stats(s, "ping");
    assert!(
        step_count(&st, "push", "skipped:holdout") == held_out.len() as i64
            && step_count(&st, "email", "skipped:no_address") == 1,
        "refusals recorded: {st}"
    );
    for u in &held_out {
        assert!(w.hooks.for_user(u).is_empty(), "{u} is in the holdout");
        assert!(w.smtp.to(&format!("{u}@example.com")).is_empty());
    }
    assert_eq!(
        w.hooks.for_user("no-address").len(),
        1,
        "push needs no address"
    );
    let refused = outbox(s, "no-address");
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
    let s = &w.kit;
    let def = json!({"trigger": {"dateTrait": {"trait": "birthday", "hour": 9}},
        "reentry": {"policy": "always"},
        "steps": [{"id": "card", "type": "send", "channel": "push", "template": "cart-push"}]});
    put_journey(s, "birthday", def).unwrap();
    s.clock.to("2031-03-04T06:00:00Z");
    for (u, birthday) in [("bday", "1990-03-04"), ("other", "1990-07-01")] {
        shopper(s, u, consent(true, true, false)).await;
        s.identify(json!({"userId": u, "traits": {"birthday": birthday}}))
            .await;
    }
    // Before 09:00 nothing; from 09:00 the card, once, however often the scheduler looks.
    s.clock.advance("2h");
    s.settle().await;
    assert!(w.hooks.bodies().is_empty());
    s.clock.advance("1h");
    s.settle().await;
    assert_eq!(w.hooks.for_user("bday").len(), 1, "birthday card");
    for _ in 0..3 {
        s.clock.advance("2h");
        s.settle().await;
    }
    assert_eq!(w.hooks.for_user("bday").len(), 1, "once a year");
    assert!(w.hooks.for_user("other").is_empty());
    assert_eq!(stats(s, "birthday")["journey"]["entered"], 1);
    let Err(EngineError::Invalid(problems)) = put_journey(
        s,
        "both",
        json!({"trigger": {"event": "X", "dateTrait": {"trait": "b"}}, "steps": [{"id": "e", "type": "exit"}]}),
    ) else {
        panic!("two triggers are refused");
    };
    assert!(
        problems
            .to_string()
            .contains("one of `event`, `dateTrait` or `segment`"),
        "{problems}"
    );
}

/// A journey with a control group: arms by GrowthBook's hash of the person keyed by the
/// journey, nothing sent to the control group, and a report whose numbers match counts
/// made here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_control_group_gets_nothing_and_the_report_compares_it() {
    let w = World::start().await;
    let s = &w.kit;
    let def = json!({
        "trigger": {"event": "Browsed"},
        "control": {"percent": 50, "window": "3d"},
        "goal": {"event": "Order Completed"},
        "steps": [
            {"id": "hook", "type": "send", "channel": "webhook", "template": "event", "url": format!("{}/promo", w.hooks_base)}
        ]
    });
    put_journey(s, "promo", def.clone()).unwrap();
    let Err(EngineError::Invalid(problems)) = put_journey(
        s,
        "promo",
        json!({"control": {"percent": 80}, "trigger": {"event": "B"}, "steps": [{"id": "x", "type": "exit"}]}),
    ) else {
        panic!("a control group above half is refused");
    };
    assert!(
        problems.to_string().contains("control.percent"),
        "{problems}"
    );
    s.clock.to("2031-03-03T12:00:00Z");
    let n = 200;
    let users: Vec<String> = (0..n).map(|i| format!("c{i}")).collect();
    let batch: Vec<Value> = users
        .iter()
        .map(|u| json!({"type": "track", "userId": u, "event": "Browsed"}))
        .collect();
    assert_eq!(s.batch(json!({"batch": batch})).await.accepted, n);
    let control: Vec<&String> = users
        .iter()
        .filter(|u| tailor_core::experiment::hash("promo", u, 2).unwrap() < 0.5)
        .collect();
    let sent: Vec<&String> = users.iter().filter(|u| !control.contains(u)).collect();
    assert!(control.len() > 70 && sent.len() > 70, "{}", control.len());
    let control_buyers = control.len() * 3 / 10;
    s.settle().await;
    assert_eq!(
        w.hooks.bodies().len(),
        sent.len(),
        "the sent arm's webhooks"
    );
    for u in &control {
        assert!(
            w.hooks.for_user(u).is_empty(),
            "{u} is in the control group"
        );
    }
    let st = stats(s, "promo");
    assert_eq!(st["journey"]["entered"], n as i64);
    assert_eq!(st["journey"]["entered:control"], control.len() as i64);
    assert_eq!(
        step_count(&st, "hook", "held:control"),
        control.len() as i64
    );
    // Within the window: all but two of the sent arm buy, 30 % of the control arm do; one
    // of each unsubscribes. After the window, a control purchase that does not count.
    s.clock.advance("1h");
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
    let expected = events.len();
    assert_eq!(s.batch(json!({"batch": events})).await.accepted, expected);
    s.clock.advance("4d");
    track(s, control[60], "Order Completed", json!({"revenue": 999})).await;
    let r = json!(s.journey_report("promo").unwrap());
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
    assert_eq!(put_journey(s, "promo", v2).unwrap()["version"], 2);
    let again: Vec<Value> = users
        .iter()
        .map(|u| json!({"type": "track", "userId": u, "event": "Browsed"}))
        .collect();
    let before = w.hooks.bodies().len();
    s.batch(json!({"batch": again})).await;
    s.settle().await;
    assert_eq!(
        stats(s, "promo")["journey"]["entered"],
        2 * n as i64,
        "v2 entries"
    );
    assert_eq!(w.hooks.bodies().len(), before + sent.len(), "v2's webhooks");
    assert_eq!(
        stats(s, "promo")["journey"]["entered:control"],
        2 * control.len() as i64
    );
}

/// Pausing holds what is already in the outbox; resuming releases it at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pausing_holds_queued_messages_until_resumed() {
    let w = World::start().await;
    let s = &w.kit;
    s.put_journey_policy(
        serde_json::from_value(json!({"quietHours": {"start": 21, "end": 8}})).unwrap(),
    )
    .unwrap();
    let def = json!({"trigger": {"event": "Poke"},
        "steps": [{"id": "push", "type": "send", "channel": "push", "template": "cart-push"}]});
    put_journey(s, "poke", def).unwrap();
    s.clock.to("2031-03-03T22:00:00Z");
    shopper(s, "held", consent(true, true, false)).await;
    track(s, "held", "Poke", json!({})).await;
    s.settle().await;
    assert_eq!(
        step_count(&stats(s, "poke"), "push", "deferred:quiet_hours"),
        1,
        "queued, deferred by quiet hours"
    );
    let body = json!(s.set_journey_paused("poke", true).unwrap());
    assert_eq!(body["status"], "paused");
    // Morning: the message is due, but its journey is paused.
    s.clock.to("2031-03-04T08:30:00Z");
    s.settle().await;
    assert_eq!(
        step_count(&stats(s, "poke"), "push", "deferred:paused"),
        1,
        "held"
    );
    s.clock.advance("2h");
    s.settle().await;
    assert!(w.hooks.for_user("held").is_empty(), "held while paused");
    let pending = outbox(s, "held");
    assert_eq!(pending[0]["status"], "pending", "{pending:?}");
    assert_eq!(pending[0]["lastError"], "held: journey paused");
    assert_eq!(
        step_count(&stats(s, "poke"), "push", "deferred:paused"),
        1,
        "counted once however often it is looked at"
    );
    let body = json!(s.set_journey_paused("poke", false).unwrap());
    assert_eq!(body["status"], "active");
    // Released at once, without waiting for the next look.
    s.settle().await;
    assert_eq!(w.hooks.for_user("held").len(), 1, "sent after resume");
    let sent = outbox(s, "held");
    assert_eq!(sent[0]["status"], "sent");
    assert_eq!(sent[0]["lastError"], Value::Null);
}

/// Quiet hours in named time zones follow daylight saving time; offsets keep working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn named_time_zones_follow_daylight_saving_time() {
    let w = World::start().await;
    let s = &w.kit;
    s.put_journey_policy(
        serde_json::from_value(json!({"quietHours": {"start": 21, "end": 8}})).unwrap(),
    )
    .unwrap();
    let def = json!({"trigger": {"event": "Poke"},
        "steps": [{"id": "push", "type": "send", "channel": "push", "template": "cart-push"}]});
    put_journey(s, "poke", def).unwrap();
    // Saturday 22:00 UTC: 23:00 in Paris (winter time). Overnight the clocks go forward.
    s.clock.to("2031-03-29T22:00:00Z");
    for (user, tz) in [("paris", "Europe/Paris"), ("fixed", "+01:00")] {
        shopper(s, user, consent(true, true, false)).await;
        s.identify(json!({"userId": user, "traits": {"timezone": tz}}))
            .await;
        track(s, user, "Poke", json!({})).await;
    }
    s.settle().await;
    assert_eq!(
        step_count(&stats(s, "poke"), "push", "deferred:quiet_hours"),
        2,
        "both deferred"
    );
    // 08:00 summer time in Paris is 06:00 UTC; 08:00 at +01:00 is 07:00 UTC.
    let next = |o: Vec<Value>| o[0]["nextAt"].as_i64().unwrap();
    let at = |t: &str| tailor_core::time::parse_timestamp(t).unwrap();
    assert_eq!(next(outbox(s, "paris")), at("2031-03-30T06:00:00Z"));
    assert_eq!(next(outbox(s, "fixed")), at("2031-03-30T07:00:00Z"));
    s.clock.to("2031-03-30T06:00:05Z");
    s.settle().await;
    assert_eq!(
        w.hooks.for_user("paris").len(),
        1,
        "paris at 08:00 summer time"
    );
    assert!(w.hooks.for_user("fixed").is_empty(), "07:00 at +01:00");
    s.clock.to("2031-03-30T07:00:05Z");
    s.settle().await;
    assert_eq!(w.hooks.for_user("fixed").len(), 1, "fixed offset at 08:00");
}

/// An on-site step puts a message on the person's next pages through `decide`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn onsite_messages_reach_that_visitor_through_decide() {
    let w = World::start().await;
    let s = &w.kit;
    catalog(s);
    let def = json!({"trigger": {"event": "Product Added"}, "priority": 4,
        "steps": [{"id": "banner", "type": "send", "channel": "onsite", "template": "cart-onsite", "ttl": "2d", "maxViews": 2}]});
    put_journey(s, "onsite-cart", def).unwrap();
    assert!(matches!(
        put_journey(
            s,
            "bad",
            json!({"trigger": {"event": "X"},
            "steps": [{"id": "e", "type": "send", "channel": "email", "template": "welcome", "ttl": "1d"}]})
        ),
        Err(EngineError::Invalid(_))
    ));
    s.clock.to("2031-03-03T12:00:00Z");
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
    s.settle().await;
    assert!(
        outbox(s, "web1")
            .first()
            .is_some_and(|m| m["status"] == "sent"),
        "delivered to web1"
    );
    assert_eq!(
        step_count(&stats(s, "onsite-cart"), "banner", "skipped:no_consent"),
        1,
        "refused for private"
    );
    let decide = |user: &str| {
        s.decide_json(json!({"userId": user, "placements": ["onsite.message", "recs.cart"]}))
            ["decisions"]["onsite.message"]
            .clone()
    };
    let first = decide("web1");
    let m = &first["message"];
    assert_eq!(m["journey"], "onsite-cart", "{first}");
    assert!(m["title"].as_str().unwrap().contains("web1"), "{first}");
    assert!(
        m["body"].as_str().unwrap().contains("Trail Shoe 1"),
        "{first}"
    );
    assert_eq!(m["views"], 1);
    assert!(
        decide("web2").get("message").is_none(),
        "not someone else's"
    );
    assert!(decide("private").get("message").is_none());
    // Shown once more, then taken down by dismissal.
    assert_eq!(decide("web1")["message"]["views"], 2);
    assert!(decide("web1").get("message").is_none(), "maxViews 2");
    // A second message, dismissed by the visitor.
    track(
        s,
        "web1",
        "Product Added",
        json!({"product_id": "shoe-2", "price": 102.0, "quantity": 1}),
    )
    .await;
    s.settle().await;
    assert_eq!(
        outbox(s, "web1")
            .iter()
            .filter(|m| m["status"] == "sent")
            .count(),
        2,
        "second delivered"
    );
    let key = decide("web1")["message"]["key"].clone();
    assert!(key.is_string());
    track(s, "web1", "Message Dismissed", json!({"messageKey": key})).await;
    s.settle().await;
    assert!(decide("web1").get("message").is_none(), "dismissed");
}

/// A segment trigger enters people when their profile starts to match, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entering_a_segment_starts_a_run() {
    let w = World::start().await;
    let s = &w.kit;
    s.clock.to("2031-03-03T12:00:00Z");
    let gold = |user: &str, tier: &str| json!({"userId": user, "traits": {"tier": tier}});
    assert_eq!(s.identify(gold("already", "gold")).await.accepted, 1);
    let def = json!({"trigger": {"segment": {"traits.tier": "gold", "orders": {"$gte": 0}}},
        "reentry": {"policy": "always"},
        "steps": [{"id": "hook", "type": "send", "channel": "webhook", "template": "event", "url": format!("{}/vip", w.hooks_base)}]});
    put_journey(s, "vip", def).unwrap();
    assert!(matches!(
        put_journey(
            s,
            "bad",
            json!({"trigger": {"event": "X", "segment": {"a": 1}}, "steps": [{"id": "x", "type": "exit"}]})
        ),
        Err(EngineError::Invalid(_))
    ));
    // Already in the segment when the journey started: not an entry.
    assert_eq!(
        s.identify(json!({"userId": "already", "traits": {"x": 1}}))
            .await
            .accepted,
        1
    );
    assert_eq!(s.identify(gold("newbie", "silver")).await.accepted, 1);
    s.settle().await;
    assert!(stats(s, "vip")["journey"].get("entered").is_none());
    assert_eq!(s.identify(gold("newbie", "gold")).await.accepted, 1);
    s.settle().await;
    assert_eq!(w.hooks.for_user("newbie").len(), 1, "entered on the change");
    // Still gold: no new entry; leaves and comes back: a new one.
    track(s, "newbie", "Product Viewed", json!({"product_id": "p"})).await;
    s.settle().await;
    assert_eq!(stats(s, "vip")["journey"]["entered"], 1);
    assert_eq!(s.identify(gold("newbie", "silver")).await.accepted, 1);
    assert_eq!(s.identify(gold("newbie", "gold")).await.accepted, 1);
    s.settle().await;
    assert_eq!(stats(s, "vip")["journey"]["entered"], 2, "entered again");
    assert!(w.hooks.for_user("already").is_empty());
}

/// A journey sending a custom email template: the cart, `decide`'s recommendations and
/// prices in the shopper's currency, an HTML part with every value escaped and a text
/// part, RFC 8058 headers; templates are validated when saved.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_template_renders_the_cart_recommendations_and_prices_in_the_shoppers_currency() {
    let w = World::start().await;
    let s = &w.kit;
    catalog(s);
    // An unknown variable is refused, named, with the others found at once.
    let bad = s
        .put_template(
            "vip-cart",
            json!({"channel": "email", "subject": "Hi {{ frist_name }}",
                   "text": "{% for item in cart.items %}{{ item.nme }}{% endfor %}{{ cart.totl }}"}),
        )
        .unwrap_err();
    let EngineError::Invalid(problems) = bad else {
        panic!("{bad:?}")
    };
    let all = problems.problems.join("\n");
    assert!(
        all.contains("unknown variable `frist_name`")
            && all.contains("unknown variable `cart.totl`"),
        "{all}"
    );
    let saved = s
        .put_template(
            "vip-cart",
            json!({
                "channel": "email",
                "subject": "{{ first_name | default(\"Friend\") }}, {{ cart.count }} items for {{ cart.total | money }}",
                "html": "<h1>Hi {{ first_name | default(\"there\") }}</h1>\n<ul>{% for item in cart.items %}<li>{{ item.name }}: {{ item.line_total | money }}</li>{% endfor %}</ul>\n<p>Total {{ cart.total | money }}</p>\n<h2>For you</h2>{% include \"recommendations.html\" %}\n<p>Sent {{ now | date(\"%A %H:%M\") }}</p>",
                "text": "Hi {{ first_name | default(\"there\") }}\n{% include \"cart.txt\" %}\nFor you:\n{% for p in recommendations %}* {{ p.name }} {{ p.price | money(p.currency) }}\n{% endfor %}",
            }),
        )
        .unwrap();
    assert_eq!(saved["builtIn"], false);
    // A journey may only send it on its own channel.
    let e = put_journey(
        s,
        "wrong",
        json!({"trigger": {"event": "X"}, "steps": [{"id": "t", "type": "send", "channel": "sms", "template": "vip-cart"}]}),
    )
    .unwrap_err();
    assert!(e.to_string().contains("is for email"), "{e}");
    put_journey(
        s,
        "vip",
        json!({"trigger": {"event": "Checkout Started"},
               "steps": [{"id": "mail", "type": "send", "channel": "email", "template": "vip-cart"}]}),
    )
    .unwrap();
    // Wednesday 2031-03-05 08:00 UTC = 09:00 in Paris.
    s.clock.to("2031-03-05T08:00:00Z");
    s.identify(
        json!({"userId": "eu", "traits": {"email": "eu@example.com", "firstName": "<Zoë>",
            "currency": "EUR", "timezone": "Europe/Paris"},
            "context": {"consent": {"categoryPreferences": {"email": true}}}}),
    )
    .await;
    for (id, price) in [("shoe-1", 1201.5), ("shoe-2", 99.0)] {
        track(
            s,
            "eu",
            "Product Added",
            json!({"product_id": id, "price": price, "quantity": 1}),
        )
        .await;
    }
    track(s, "eu", "Checkout Started", json!({})).await;
    s.settle().await;
    let mails = w.smtp.mails_to("eu@example.com");
    assert_eq!(mails.len(), 1, "one email");
    let mail = &mails[0];
    assert_eq!(mail.subject(), "<Zoë>, 2 items for €1,300.50");
    let html = mail.html.as_deref().expect("an HTML part");
    assert!(html.contains("<h1>Hi &lt;Zoë&gt;</h1>"), "escaped: {html}");
    assert!(
        html.contains("<li>Trail Shoe 1: €1,201.50</li><li>Trail Shoe 2: €99.00</li>"),
        "the cart in euros: {html}"
    );
    assert!(
        html.contains("<ul class=\"recommendations\"><li>"),
        "{html}"
    );
    assert!(html.contains("Sent Wednesday 09:00"), "Paris time: {html}");
    // No unsubscribe link in the template: Tailor adds one to each part.
    assert!(html.contains("Unsubscribe</a>"), "{html}");
    let text = &mail.text;
    assert!(text.starts_with("Hi <Zoë>\n- Trail Shoe 1 × 1 (€1,201.50)\n- Trail Shoe 2 × 1 (€99.00)\nTotal: €1,300.50"), "{text}");
    assert!(
        text.contains("For you:\n* Trail Shoe "),
        "recommendations: {text}"
    );
    let token = unsubscribe_token(mail);
    assert!(
        text.contains(&format!(
            "Unsubscribe: https://tailor.example.com/unsubscribe/{token}"
        )),
        "{text}"
    );
    assert_eq!(
        mail.header("List-Unsubscribe-Post"),
        Some("List-Unsubscribe=One-Click")
    );
    assert!(
        mail.header("List-Unsubscribe")
            .unwrap()
            .starts_with("<https://tailor.example.com/unsubscribe/"),
        "{:?}",
        mail.header("List-Unsubscribe")
    );
    // The preview shows what the next message would.
    let preview = json!(s.preview_template("vip-cart", "eu", None).unwrap());
    assert_eq!(preview["subject"], "<Zoë>, 2 items for €1,300.50");
    // A built-in template is an editable default: replaced, then restored.
    let edited = s
        .put_template(
            "win-back",
            json!({"channel": "email", "subject": "Come back", "text": "We kept your size."}),
        )
        .unwrap();
    assert_eq!(
        (edited["builtIn"].clone(), edited["modified"].clone()),
        (json!(true), json!(true))
    );
    let restored = s.delete_template("win-back").unwrap();
    assert_eq!(restored["modified"], false);
    // A template a journey sends stays.
    assert!(matches!(
        s.delete_template("vip-cart"),
        Err(EngineError::Conflict(_))
    ));
}

/// The one-click link of an email unsubscribes from email through the one consent check:
/// the ledger records it, and the next email of the journey already running is not sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_click_unsubscribe_stops_the_next_message_of_a_running_journey() {
    let w = World::start().await;
    let s = &w.kit;
    catalog(s);
    put_journey(
        s,
        "series",
        json!({"trigger": {"event": "Signed Up"},
               "steps": [
                 {"id": "first", "type": "send", "channel": "email", "template": "welcome"},
                 {"id": "wait", "type": "wait", "duration": "2d"},
                 {"id": "second", "type": "send", "channel": "email", "template": "browse-reminder"},
                 {"id": "text", "type": "send", "channel": "sms", "template": "cart-sms"}]}),
    )
    .unwrap();
    s.clock.to("2031-03-03T12:00:00Z");
    for u in ["leaver", "stayer"] {
        s.identify(json!({"userId": u, "traits": {"email": format!("{u}@example.com"), "phone": "+1 650 555 0100"},
                "context": {"consent": {"categoryPreferences": {"email": true, "sms": true}}}}))
            .await;
        track(s, u, "Signed Up", json!({})).await;
    }
    s.settle().await;
    let mail = &w.smtp.mails_to("leaver@example.com")[0];
    let token = unsubscribe_token(mail);
    // Opening the link changes nothing (scanners open links); the POST unsubscribes.
    let status = s.unsubscribe_status(&token).unwrap();
    assert!(!status.unsubscribed && status.channel == "email" && status.store == "Trail & Co");
    assert!(s.unsubscribe(&token).await.unwrap().unsubscribed);
    assert!(
        s.unsubscribe(&token).await.unwrap().unsubscribed,
        "twice is fine"
    );
    assert!(s.unsubscribe_status(&token).unwrap().unsubscribed);
    // A forged or altered link is refused.
    let forged = format!("{}x", &token[..token.len() - 1]);
    assert!(matches!(
        s.unsubscribe(&forged).await,
        Err(EngineError::NotFound(_))
    ));
    let ledger = json!(s.consent_ledger("leaver").unwrap().unwrap());
    let withdrawals: Vec<&Value> = ledger
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["source"] == "unsubscribe link")
        .collect();
    assert_eq!(withdrawals.len(), 1, "recorded once: {ledger}");
    assert_eq!(
        withdrawals[0]["categoryPreferences"],
        json!({"email": false})
    );
    assert_eq!(
        s.profile_json("leaver")["consent"]["email"]["granted"],
        false
    );
    // Two days on: the stayer gets the second email, the leaver does not; SMS (its own
    // consent) still goes to both.
    s.clock.to("2031-03-05T12:00:30Z");
    s.settle().await;
    assert_eq!(w.smtp.to("stayer@example.com").len(), 2);
    assert_eq!(
        w.smtp.to("leaver@example.com").len(),
        1,
        "nothing more by email"
    );
    assert_eq!(
        step_count(&stats(s, "series"), "second", "skipped:no_consent"),
        1
    );
    assert_eq!(w.texts().len(), 2, "texts to both");
}

/// SMS is a channel of its own: its consent purpose, quiet hours and caps, Twilio's form
/// fields with Basic auth; a STOP reply withdraws SMS consent and nothing more is texted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sms_goes_through_the_provider_and_stop_ends_it() {
    let w = World::start().await;
    let s = &w.kit;
    catalog(s);
    s.put_journey_policy(
        serde_json::from_value(
            json!({"caps": {"sms": {"day": 1}}, "quietHours": {"start": 21, "end": 8}}),
        )
        .unwrap(),
    )
    .unwrap();
    put_journey(
        s,
        "texts",
        json!({"trigger": {"event": "Checkout Started"}, "reentry": {"policy": "always"},
               "steps": [
                 {"id": "t1", "type": "send", "channel": "sms", "template": "cart-sms"},
                 {"id": "wait", "type": "wait", "duration": "1d"},
                 {"id": "t2", "type": "send", "channel": "sms", "template": "cart-sms"}]}),
    )
    .unwrap();
    // 22:00 UTC: quiet hours hold the first texts until 08:00.
    s.clock.to("2031-03-03T22:00:00Z");
    for (u, phone, sms) in [
        ("texter", "+1 (650) 555-0101", true),
        ("stopper", "+44 7700 900123", true),
        ("silent", "+1 650 555 0102", false),
    ] {
        s.identify(json!({"userId": u, "traits": {"phone": phone},
                "context": {"consent": {"categoryPreferences": {"sms": sms}}}}))
            .await;
        track(
            s,
            u,
            "Product Added",
            json!({"product_id": "shoe-1", "price": 101.0, "quantity": 2}),
        )
        .await;
        track(s, u, "Checkout Started", json!({})).await;
    }
    s.settle().await;
    assert!(w.texts().is_empty(), "quiet hours");
    s.clock.to("2031-03-04T08:00:30Z");
    s.settle().await;
    let mut texts = w.texts();
    texts.sort();
    assert_eq!(texts.len(), 2, "{texts:?}");
    assert_eq!(texts[0].0, "+16505550101");
    assert_eq!(
        texts[0].1,
        "Trail & Co: your cart is waiting (2 items, $202.00). Reply STOP to opt out."
    );
    assert_eq!(texts[1].0, "+447700900123");
    let (headers, body) = &w.sms.deliveries()[0];
    assert_eq!(form_fields(body)["From"], SMS_FROM);
    assert!(
        headers["authorization"]
            .to_str()
            .unwrap()
            .starts_with("Basic "),
        "Twilio's account SID and token"
    );
    assert_eq!(
        step_count(&stats(s, "texts"), "t1", "skipped:no_consent"),
        1,
        "silent has no SMS consent"
    );
    // A second checkout the same day: the cap of one a day holds.
    track(s, "texter", "Checkout Started", json!({})).await;
    s.settle().await;
    assert_eq!(w.texts().len(), 2);
    assert_eq!(
        step_count(&stats(s, "texts"), "t1", "skipped:frequency_cap:sms:day"),
        1
    );
    // The stopper replies STOP (the provider's webhook): SMS consent is withdrawn, in the
    // ledger, for every profile with that number.
    let receipt = s
        .sms_reply(SmsReply {
            from: "+447700900123".into(),
            to: Some(SMS_FROM.into()),
            body: " stop ".into(),
            message_id: Some("SM1".into()),
        })
        .await
        .unwrap();
    assert_eq!(receipt.recorded, 1);
    let ledger = json!(s.consent_ledger("stopper").unwrap().unwrap());
    assert!(
        ledger
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["source"] == "sms reply" && e["categoryPreferences"]["sms"] == false),
        "{ledger}"
    );
    assert_eq!(
        s.profile_json("stopper")["consent"]["sms"]["granted"],
        false
    );
    assert!(
        s.profile_json("stopper")["consent"]["email"].is_null(),
        "email untouched"
    );
    // A reply from a number nobody has is noted as unmatched.
    let nobody = s
        .sms_reply(SmsReply {
            from: "+15550009999".into(),
            to: None,
            body: "STOP".into(),
            message_id: None,
        })
        .await
        .unwrap();
    assert_eq!(nobody.unmatched, 1);
    // The next day's texts: to the texter only.
    s.clock.to("2031-03-05T08:01:00Z");
    s.settle().await;
    let texts = w.texts();
    assert_eq!(texts.len(), 3, "{texts:?}");
    assert_eq!(texts[2].0, "+16505550101");
    assert_eq!(
        step_count(&stats(s, "texts"), "t2", "skipped:no_consent"),
        2
    );
}

/// A hard bounce at the SMTP relay and a provider's complaint both stop further email: the
/// bounce is recorded as `Email Bounced`, the complaint as `Email Marked as Spam` (which
/// withdraws email consent).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bounces_and_complaints_become_events_that_stop_email() {
    // The in-process sink refuses `nosuchuser…` addresses with 550 (aiosmtpd takes all).
    let w = World::with_mail(MailSink::in_process().await).await;
    let s = &w.kit;
    catalog(s);
    put_journey(
        s,
        "two",
        json!({"trigger": {"event": "Signed Up"},
               "steps": [
                 {"id": "first", "type": "send", "channel": "email", "template": "welcome"},
                 {"id": "wait", "type": "wait", "duration": "1d"},
                 {"id": "second", "type": "send", "channel": "email", "template": "welcome"}]}),
    )
    .unwrap();
    s.clock.to("2031-03-03T12:00:00Z");
    for (u, email) in [
        ("gone", "nosuchuser@example.com"),
        ("angry", "angry@example.com"),
        ("fine", "fine@example.com"),
    ] {
        s.identify(json!({"userId": u, "traits": {"email": email},
                "context": {"consent": {"categoryPreferences": {"email": true}}}}))
            .await;
        track(s, u, "Signed Up", json!({})).await;
    }
    s.settle().await;
    let events = s.events_json("gone");
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "Email Bounced" && e["properties"]["bounce_type"] == "hard"),
        "the relay's 550 is a bounce: {events:?}"
    );
    assert!(outbox(s, "gone").iter().any(|m| m["status"] == "dead"));
    // The provider reports a complaint about angry's email, quoting its Message-ID.
    let mail = &w.smtp.mails_to("angry@example.com")[0];
    let receipt = s
        .email_feedback(vec![EmailFeedback {
            kind: "complaint".into(),
            email: None,
            message_id: mail.header("Message-ID").map(str::to_string),
            bounce_type: None,
            reason: Some("abuse report".into()),
        }])
        .await
        .unwrap();
    assert_eq!((receipt.recorded, receipt.unmatched), (1, 0));
    assert!(
        s.events_json("angry")
            .iter()
            .any(|e| e["event"] == "Email Marked as Spam")
    );
    assert_eq!(
        s.profile_json("angry")["consent"]["email"]["granted"],
        false
    );
    // A soft bounce reported by address changes nothing.
    s.email_feedback(vec![EmailFeedback {
        kind: "bounce".into(),
        email: Some("FINE@example.com".into()),
        message_id: None,
        bounce_type: Some("soft".into()),
        reason: None,
    }])
    .await
    .unwrap();
    s.clock.advance("1d");
    s.settle().await;
    let st = stats(s, "two");
    assert_eq!(step_count(&st, "second", "skipped:bounced"), 1, "{st}");
    assert_eq!(step_count(&st, "second", "skipped:no_consent"), 1, "{st}");
    assert_eq!(
        w.smtp.to("fine@example.com").len(),
        2,
        "a soft bounce does not stop email"
    );
    assert_eq!(w.smtp.to("angry@example.com").len(), 1);
}

/// Email through a relay like a provider's submission port — aiosmtpd requiring STARTTLS
/// (or TLS from the first byte) and AUTH — with the certificate checked by rustls against
/// the test CA; a wrong password and a relay without TLS fail visibly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_goes_through_a_relay_that_requires_tls_and_auth() {
    if !tailor_testkit::external() {
        return;
    }
    for tls in [SmtpTls::StartTls, SmtpTls::Tls] {
        let w = World::with_mail(MailSink::secure(tls).await).await;
        let s = &w.kit;
        catalog(s);
        put_journey(
            s,
            "hello",
            json!({"trigger": {"event": "Signed Up"},
                   "steps": [{"id": "mail", "type": "send", "channel": "email", "template": "welcome"}]}),
        )
        .unwrap();
        s.clock.to("2031-03-03T12:00:00Z");
        shopper(s, "ada", consent(true, false, false)).await;
        track(s, "ada", "Signed Up", json!({})).await;
        s.settle().await;
        let mails = w.smtp.mails_to("ada@example.com");
        assert_eq!(mails.len(), 1, "{tls:?}: {:?}", outbox(s, "ada"));
        let mail = &mails[0];
        assert!(
            mail.header("X-Tls")
                .is_some_and(|v| v.starts_with("TLSv1.")),
            "{tls:?}: {:?}",
            mail.header("X-Tls")
        );
        assert_eq!(
            mail.header("X-Authenticated-As"),
            Some(tailor_testkit::channels::SMTP_USER)
        );
        assert_eq!(mail.subject(), "Welcome, ada");
        assert!(mail.text.contains("Welcome! Tell us what you like") && mail.html.is_some());
        assert!(mail.header("List-Unsubscribe").is_some());
    }
    // The wrong password: refused for good (a dead letter saying so), never retried.
    let sink = MailSink::secure(SmtpTls::StartTls).await;
    let mut wrong = sink.settings();
    wrong.password = Some("wrong".into());
    let kit = TestEngine::builder()
        .channels(ChannelConfig {
            smtp: Some(wrong),
            ..Default::default()
        })
        .start()
        .await;
    // And plain SMTP to a relay that requires STARTTLS: refused before any mail.
    let mut plain = sink.settings();
    plain.tls = SmtpTls::None;
    plain.user = None;
    let plain_kit = TestEngine::builder()
        .channels(ChannelConfig {
            smtp: Some(plain),
            ..Default::default()
        })
        .start()
        .await;
    for k in [&kit, &plain_kit] {
        put_journey(
            k,
            "hello",
            json!({"trigger": {"event": "Signed Up"},
                   "steps": [{"id": "mail", "type": "send", "channel": "email", "template": "welcome"}]}),
        )
        .unwrap();
        shopper(k, "bob", consent(true, false, false)).await;
        track(k, "bob", "Signed Up", json!({})).await;
        k.settle().await;
        let o = outbox(k, "bob");
        assert!(
            o.iter().any(|m| m["status"] == "dead" && m["lastError"].as_str().unwrap().contains("SMTP")),
            "{o:?}"
        );
    }
    assert!(sink.to("bob@example.com").is_empty());
}

/// The stock win-back journey fires on data Tailor produces: `predictions.churn_risk` from
/// the trained lifetime model. The at-risk customer sends no event (that is what lapsing
/// is): the segment scan after the model is trained enters her, and she gets the email.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn win_back_fires_on_the_churn_prediction_without_an_event() {
    let w = World::start().await;
    let s = &w.kit;
    s.clock.to("2031-01-01T12:00:00Z");
    put_template(s, "win-back");
    let regulars: Vec<String> = (0..30).map(|i| format!("regular-{i}")).collect();
    for u in regulars.iter().map(String::as_str).chain(["lapsed"]) {
        shopper(s, u, consent(true, false, false)).await;
    }
    // Thirty weeks: the regulars order every week or two to the end; `lapsed` ordered every
    // week for ten weeks, then stopped.
    let mut n = 0;
    for week in 0..30 {
        s.clock.advance("7d");
        for (i, u) in regulars.iter().enumerate() {
            if (week + i) % (1 + i % 2) == 0 {
                n += 1;
                track(
                    s,
                    u,
                    "Order Completed",
                    json!({"order_id": format!("o{n}"), "total": 40.0}),
                )
                .await;
            }
        }
        if week < 10 {
            n += 1;
            track(
                s,
                "lapsed",
                "Order Completed",
                json!({"order_id": format!("o{n}"), "total": 40.0}),
            )
            .await;
        }
    }
    s.settle().await;
    assert!(
        w.smtp.to("lapsed@example.com").is_empty(),
        "no model, no prediction"
    );
    s.train_models().unwrap();
    s.settle().await;
    let risk = |u: &str| s.profile_json(u)["predictions"]["churn_risk"].as_f64();
    let lapsed = risk("lapsed").expect("a churn risk once trained");
    assert!(lapsed > 0.7, "{lapsed}");
    assert!(risk("regular-0").unwrap() < 0.7);
    let mails = w.smtp.to("lapsed@example.com");
    assert_eq!(mails.len(), 1, "the win-back email, with no event of hers");
    let runs = as_json(s.journey_runs("lapsed").unwrap());
    assert_eq!(runs[0]["journey"], "win-back", "{runs:?}");
    assert!(
        regulars
            .iter()
            .all(|u| w.smtp.to(&format!("{u}@example.com")).is_empty()),
        "customers still buying are not won back"
    );
}
