//! Messages over HTTP, in-process: the templates API (validation naming unknown variables,
//! the built-ins as editable defaults, a preview for one shopper), the public one-click
//! unsubscribe link (a page on GET, the withdrawal on POST), and the inbound provider
//! webhooks, which take only the inbound secret. (What journeys send:
//! `crates/engine/tests/journeys.rs`.)

use base64::Engine as _;
use serde_json::{Value, json};
use tailor_engine::journeys::channels::{ChannelConfig, sign};
use tailor_testkit::channels::{Mail, MailSink};
use tailor_testkit::{ADMIN_KEY, TestApp, TestEngine, WRITE_KEY};

const INBOUND: &str = "inbound-secret-for-tests";

async fn app(smtp: Option<&MailSink>, inbound: Option<&str>) -> TestApp {
    let kit = TestEngine::builder()
        .manual_clock("2031-03-03T12:00:00Z")
        .channels(ChannelConfig {
            smtp: smtp.map(MailSink::settings),
            email_from: Some("Shop <shop@example.com>".into()),
            inbound_secret: inbound.map(str::to_string),
            public_url: Some("https://tailor.example.com".into()),
            store_name: Some("Trail <&> Co".into()),
            ..Default::default()
        })
        .start()
        .await;
    TestApp::over(kit)
}

async fn shopper(s: &TestApp, user: &str) {
    let (status, body) = s
        .post(
            "/v1/identify",
            &json!({"userId": user, "traits": {"email": format!("{user}@example.com"), "firstName": "Ann",
                    "phone": "+1 650 555 0100"},
                    "context": {"consent": {"categoryPreferences": {"email": true, "sms": true}}}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templates_are_validated_previewed_and_restored() {
    let s = app(None, None).await;
    let (status, list) = s.admin_get("/v1/templates").await;
    assert_eq!(status, 200, "{list}");
    let ids: Vec<&str> = list["templates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    for id in ["cart-reminder", "win-back", "cart-sms", "cart-push"] {
        assert!(ids.contains(&id), "{id} ships: {ids:?}");
    }
    assert!(list["variables"]["cart"].is_string() && list["filters"]["money"].is_string());
    // Every problem at once, each unknown variable by name.
    let (status, body) = s
        .admin_put(
            "/v1/templates/promo",
            &json!({"channel": "email", "subject": "{{ frist_name }}", "html": "<p>{% if %}</p>"}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let details = body["error"]["details"].to_string();
    assert!(
        details.contains("unknown variable `frist_name`") && details.contains("html: line 1"),
        "{body}"
    );
    // The public key cannot touch templates.
    let (status, _) = s
        .put("/v1/templates/promo")
        .bearer(WRITE_KEY)
        .json(&json!({"channel": "sms", "text": "hi"}))
        .send()
        .await;
    assert_eq!(status, 403);
    let (status, body) = s
        .admin_put(
            "/v1/templates/promo",
            &json!({"id": "promo", "channel": "email", "subject": "{{ first_name | default(\"Hello\") }}, {{ cart.total | money }} in your cart",
                    "text": "{% include \"cart.txt\" %}"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["builtIn"], false);
    shopper(&s, "ann").await;
    let (status, _) = s
        .post(
            "/v1/track",
            &json!({"userId": "ann", "event": "Product Added", "properties": {"product_id": "p1", "name": "Kettle", "price": 25.5, "quantity": 2}}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, preview) = s
        .admin_post("/v1/templates/promo/preview", &json!({"person": "ann"}))
        .await;
    assert_eq!(status, 200, "{preview}");
    assert_eq!(preview["subject"], "Ann, $51.00 in your cart");
    assert!(preview["text"].as_str().unwrap().contains("Total: $51.00"));
    // A draft renders without being saved.
    let (status, draft) = s
        .admin_post(
            "/v1/templates/promo/preview",
            &json!({"person": "ann", "template": {"channel": "sms", "text": "{{ cart.count }} items"}}),
        )
        .await;
    assert_eq!(
        (status, draft["text"].as_str()),
        (200, Some("2 items")),
        "{draft}"
    );
    let (status, _) = s
        .admin_post("/v1/templates/promo/preview", &json!({"person": "nobody"}))
        .await;
    assert_eq!(status, 404);
    // A built-in is an editable default: saved over, then restored by DELETE.
    let (status, body) = s
        .admin_put(
            "/v1/templates/cart-sms",
            &json!({"channel": "sms", "text": "Cart: {{ cart.total | money }}. STOP to end."}),
        )
        .await;
    assert_eq!(
        (status, body["modified"].clone()),
        (200, json!(true)),
        "{body}"
    );
    let (status, body) = s.admin_delete("/v1/templates/cart-sms").await;
    assert_eq!(
        (status, body["modified"].clone()),
        (200, json!(false)),
        "{body}"
    );
    assert!(body["text"].as_str().unwrap().contains("Reply STOP"));
    let (status, _) = s.admin_delete("/v1/templates/promo").await;
    assert_eq!(status, 200);
    let (status, _) = s.admin_get("/v1/templates/promo").await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_unsubscribe_link_shows_a_page_and_its_post_withdraws_consent() {
    let smtp = MailSink::start().await;
    let s = app(Some(&smtp), None).await;
    let (status, body) = s
        .admin_put(
            "/v1/journeys/hello",
            &json!({"trigger": {"event": "Signed Up"},
                    "steps": [{"id": "mail", "type": "send", "channel": "email", "template": "welcome"}]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    shopper(&s, "ann").await;
    let (status, _) = s
        .post("/v1/track", &json!({"userId": "ann", "event": "Signed Up"}))
        .await;
    assert_eq!(status, 200);
    s.kit.settle().await;
    let mails = smtp.to("ann@example.com");
    let mail = Mail::parse(&mails[0]);
    let link = mail
        .header("List-Unsubscribe")
        .unwrap()
        .trim_matches(['<', '>'])
        .to_string();
    let path = link.strip_prefix("https://tailor.example.com").unwrap();
    // GET: a page with a button; nothing changes (mail scanners follow links).
    let page = s.get(path).reply().await;
    assert_eq!(page.status, 200);
    assert!(
        page.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(
        page.text
            .contains("Stop emails from Trail &lt;&amp;&gt; Co?")
            && page.text.contains("<form method=\"post\">"),
        "{}",
        page.text
    );
    let (_, consent) = s.admin_get("/v1/consent/ann").await;
    assert_eq!(consent["purposes"]["email"]["allowed"], true, "{consent}");
    // The mail client's one-click POST (RFC 8058), no key.
    let done = s
        .post_to(path)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .reply()
        .await;
    assert_eq!(done.status, 200, "{}", done.text);
    assert!(done.text.contains("You are unsubscribed"), "{}", done.text);
    let (_, consent) = s.admin_get("/v1/consent/ann").await;
    assert_eq!(consent["purposes"]["email"]["allowed"], false, "{consent}");
    let ledger = consent["ledger"].as_array().unwrap();
    assert!(
        ledger.iter().any(
            |e| e["source"] == "unsubscribe link" && e["categoryPreferences"]["email"] == false
        ),
        "{consent}"
    );
    assert!(
        s.get(path)
            .reply()
            .await
            .text
            .contains("You are unsubscribed")
    );
    let bad = s.get("/unsubscribe/not-a-token").reply().await;
    assert_eq!(bad.status, 404);
    assert!(bad.text.contains("not valid"));
}

fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbound_webhooks_take_only_the_inbound_secret() {
    let s = app(None, Some(INBOUND)).await;
    shopper(&s, "ann").await;
    let twilio = "From=%2B16505550100&To=%2B15005550006&Body=STOP&MessageSid=SM123&AccountSid=AC1&NumMedia=0";
    let form = |auth: Option<String>| {
        let mut r = s
            .post_to("/v1/inbound/sms")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(twilio);
        if let Some(a) = auth {
            r = r.header("authorization", &a);
        }
        r
    };
    // Not open to the public key, nor to the admin key, nor to a wrong secret.
    for auth in [
        None,
        Some(basic(WRITE_KEY, "")),
        Some(format!("Bearer {ADMIN_KEY}")),
        Some(basic("twilio", "wrong")),
    ] {
        let reply = form(auth.clone()).reply().await;
        assert_eq!(reply.status, 401, "{auth:?}: {}", reply.text);
    }
    let (_, consent) = s.admin_get("/v1/consent/ann").await;
    assert_eq!(consent["purposes"]["sms"]["allowed"], true);
    // Twilio with the secret in the URL's credentials: the STOP is recorded.
    let reply = form(Some(basic("twilio", INBOUND))).reply().await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert!(reply.text.contains("<Response></Response>"));
    let (_, consent) = s.admin_get("/v1/consent/ann").await;
    assert_eq!(consent["purposes"]["sms"]["allowed"], false, "{consent}");
    // A relay's signed JSON (Standard Webhooks), fresh; a stale one is refused.
    let now = s.kit.now() / 1000;
    let body = json!([{"type": "complaint", "email": "ANN@example.com"}]).to_string();
    let signed = |ts: i64| {
        s.post_to("/v1/inbound/email")
            .header("content-type", "application/json")
            .header("webhook-id", "msg_1")
            .header("webhook-timestamp", &ts.to_string())
            .header(
                "webhook-signature",
                &sign(INBOUND, "msg_1", &ts.to_string(), &body),
            )
            .body(body.clone())
    };
    let (status, stale) = signed(now - 3_600).send().await;
    assert_eq!(status, 401, "{stale}");
    let (status, receipt) = signed(now).send().await;
    assert_eq!(status, 200, "{receipt}");
    assert_eq!(receipt, json!({"recorded": 1, "unmatched": 0}));
    let (_, consent) = s.admin_get("/v1/consent/ann").await;
    assert_eq!(consent["purposes"]["email"]["allowed"], false, "{consent}");
    // A bearer token works too; a report naming nothing is refused with every problem.
    let (status, body) = s
        .post_to("/v1/inbound/email")
        .bearer(INBOUND)
        .json(&json!({"type": "bounced"}))
        .send()
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["details"].as_array().map(Vec::len), Some(2));
    // Without an inbound secret configured, the webhooks are off.
    let off = app(None, None).await;
    let (status, body): (u16, Value) = off
        .post_to("/v1/inbound/email")
        .header("authorization", &basic("x", ""))
        .json(&json!({"type": "bounce", "email": "a@example.com"}))
        .send()
        .await;
    assert_eq!(status, 401);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("TAILOR_INBOUND_SECRET")
    );
}
