//! The attacks of issue 12, replayed against a running server (the whole router served on a
//! loopback port, over real HTTP connections) by someone holding only the public write key, which
//! ships in every shopper's browser. Each test first sends the attack's request in a form
//! that must succeed (with the store's server key, with the shopper's proof, or against
//! an equivalent target), so it fails for the reason it should, then the attack itself.
//!
//! One test per attack:
//! - [`decide_by_a_known_customers_ids_reveals_nothing`]: a known customer's userId, or
//!   their device's anonymousId;
//! - [`decide_by_internal_profile_numbers_reveals_nothing`]: `p_1 … p_N`;
//! - [`identify_with_a_victims_user_id_hijacks_nothing`]: a browser claiming someone's
//!   userId (their page, their email, their consent, a journey email to the attacker);
//! - [`forged_preferences_quiz_answers_and_consent_change_nobody`];
//! - [`two_customers_are_never_merged_and_each_is_erased_alone`]: identify merges, the
//!   shared family computer;
//! - [`a_profile_with_8400_identities_still_exports_and_erases`]: SQLite, restarts;
//! - [`five_hundred_idle_connections_are_closed_within_the_idle_timeout`];
//! - [`a_counted_repetition_regex_is_refused_and_long_user_agents_stay_cheap`];
//! - [`an_order_of_1e308_is_refused_and_the_forecast_stays_finite`];
//! - [`the_data_directory_is_private_to_tailors_user`].
//!
//! The demo storefront's XSS (`/as?user=</script>…`) is `crates/demo/tests/storefront.rs`:
//! `a_visitor_id_from_the_query_is_escaped_everywhere`, which also checks the pages' Content
//! Security Policy; `tests/browser/storefront.mjs` checks in Chromium that the storefront
//! runs under it.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};
use tailor_engine::journeys::channels::ChannelConfig;
use tailor_server::connections::ConnectionLimits;
use tailor_testkit::channels::MailSink;
use tailor_testkit::{SERVER_KEY, TestApp, TestEngine, TestServer, WRITE_KEY};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Every standard placement, the on-site message among them.
const PLACEMENTS: [&str; 8] = [
    "home.hero",
    "nav.categories",
    "promo.banner",
    "recs.home",
    "recs.product",
    "recs.cart",
    "checkout.flow",
    "onsite.message",
];

/// The customer the attacks are after.
const VICTIM: &str = "ada-1815";
const VICTIM_DEVICE: &str = "ada-laptop";
const VICTIM_EMAIL: &str = "ada@example.com";
/// What only the victim's page may show: her name, her email. (What is in her cart and
/// what she viewed also counts in what is popular with everyone, so the strict test of an
/// answer is that it equals a stranger's.)
const VICTIM_SECRETS: [&str; 3] = ["Ada", "Lovelace", VICTIM_EMAIL];

/// A catalog in three departments, a banner for each, offers by shopper state, and a
/// crowd that makes every department popular.
async fn shop(s: &TestApp) {
    catalog(s).await;
    for i in 0..4 {
        for p in ["shoes-running-1", "shoes-trail-1", "home-kitchen-0"] {
            send(
                s,
                SERVER_KEY,
                "/v1/track",
                json!({"anonymousId": format!("crowd-{i}"),
                "event": "Product Viewed", "properties": {"product_id": p}}),
            )
            .await;
        }
    }
}

/// The shop's products and content.
async fn catalog(s: &TestApp) {
    let mut products = Vec::new();
    for (category, names, price) in [
        (
            "Shoes/Running",
            ["Velvet Racer", "Road Runner", "Tempo", "Easy Miles"],
            90.0,
        ),
        (
            "Shoes/Trail",
            ["Analytical Trail", "Rock Hopper", "Mud King", "Ridge"],
            120.0,
        ),
        ("Home/Kitchen", ["Pan", "Pot", "Knife", "Board"], 30.0),
    ] {
        for (i, name) in names.iter().enumerate() {
            let id = format!("{}-{i}", category.replace('/', "-").to_lowercase());
            products.push(json!({"id": id, "name": name, "category": category,
                                 "price": price + i as f64, "stock": 10}));
        }
    }
    assert_eq!(
        s.admin_put("/v1/catalog/products", &Value::Array(products))
            .await
            .0,
        200
    );
    let content = json!([
        {"id": "hero-run", "kind": "banner", "placements": ["home.hero"], "title": "Run further", "targeting": {"categories": ["Shoes"]}},
        {"id": "hero-home", "kind": "banner", "placements": ["home.hero"], "title": "Cook more", "targeting": {"categories": ["Home"]}},
        {"id": "promo-cart", "kind": "promotion", "placements": ["promo.banner"], "title": "10% off your cart",
         "targeting": {"priority": 5, "condition": {"cartItems": {"$gt": 0}}}},
        {"id": "promo-loyal", "kind": "promotion", "placements": ["promo.banner"], "title": "Members' gift", "targeting": {"stages": ["repeat"]}},
    ]);
    assert_eq!(s.admin_put("/v1/catalog/content", &content).await.0, 200);
}

/// The victim, as the store's backend reported her: name and email, personalization on but
/// email and advertising withdrawn, two orders, running shoes viewed, one in her cart.
async fn victim(s: &TestApp, user: &str, device: &str, email: &str) {
    send(
        s,
        SERVER_KEY,
        "/v1/identify",
        json!({"userId": user, "anonymousId": device,
        "traits": {"email": email, "firstName": "Ada", "lastName": "Lovelace"},
        "context": {"consent": {"categoryPreferences":
            {"personalization": true, "email": false, "advertising": false}}}}),
    )
    .await;
    for p in ["shoes-trail-0", "shoes-running-0", "shoes-running-3"] {
        send(
            s,
            SERVER_KEY,
            "/v1/track",
            json!({"userId": user, "event": "Product Viewed",
            "properties": {"product_id": p}}),
        )
        .await;
    }
    for order in ["o-1", "o-2"] {
        send(s, SERVER_KEY, "/v1/track", json!({"userId": user, "event": "Order Completed",
            "properties": {"order_id": format!("{user}-{order}"), "total": 121.0,
                           "products": [{"product_id": "shoes-trail-2", "price": 121.0, "quantity": 1}]}}))
        .await;
    }
    send(
        s,
        SERVER_KEY,
        "/v1/track",
        json!({"userId": user, "event": "Product Added",
        "properties": {"product_id": "shoes-running-0", "price": 90.0, "quantity": 1}}),
    )
    .await;
}

/// `POST path` with `key` (HTTP Basic, as Segment's libraries send it); must answer 200.
async fn send(s: &TestApp, key: &str, path: &str, body: Value) -> Value {
    let (status, reply) = s.post_to(path).basic(key).json(&body).send().await;
    assert_eq!(status, 200, "{path} {body}: {reply}");
    reply
}

/// `POST /v1/decide` with `key`; the answer.
async fn decide(s: &TestApp, key: &str, who: Value) -> Value {
    let mut body = who;
    body["placements"] = json!(PLACEMENTS);
    let (status, reply) = s.post_to("/v1/decide").basic(key).json(&body).send().await;
    assert_eq!(status, 200, "decide {body}: {reply}");
    reply
}

/// An answer without its decision id (unique per decision).
fn without_id(mut answer: Value) -> Value {
    answer
        .as_object_mut()
        .expect("an object")
        .remove("decisionId");
    answer
}

/// The parts of a profile an attacker must not change.
fn person(profile: &Value) -> Value {
    json!({"userIds": profile["userIds"], "anonymousIds": profile["anonymousIds"],
           "traits": profile["traits"], "consent": profile["consent"]})
}

fn granted(profile: &Value, purpose: &str) -> bool {
    profile["consent"][purpose]["granted"] == true
}

/// An on-site message journey: the victim has a personal message waiting (her name in it).
async fn onsite_journey(s: &TestApp) {
    let journey = json!({"trigger": {"event": "Product Added"}, "priority": 4,
        "steps": [{"id": "banner", "type": "send", "channel": "onsite", "template": "cart-onsite",
                   "ttl": "2d", "maxViews": 10}]});
    let (status, reply) = s.admin_put("/v1/journeys/onsite-cart", &journey).await;
    assert_eq!(status, 200, "{reply}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decide_by_a_known_customers_ids_reveals_nothing() {
    let s = TestApp::start().await.served().await;
    shop(&s).await;
    onsite_journey(&s).await;
    victim(&s, VICTIM, VICTIM_DEVICE, VICTIM_EMAIL).await;
    s.kit.settle().await;

    // Well-formed: the store's backend (server key) rendering Ada's page, and Ada's own
    // browser with the proof her backend gave it, get her page: her cart, her orders, her
    // on-site message with her name.
    for (key, proof) in [(SERVER_KEY, None), (WRITE_KEY, Some(s.user_hash(VICTIM)))] {
        let mut who = json!({"userId": VICTIM});
        if let Some(hash) = proof {
            who["userHash"] = json!(hash);
        }
        let full = decide(&s, key, who).await;
        let text = full.to_string();
        assert_eq!(full["personalized"], true, "{full}");
        assert!(text.contains("in your cart"), "{text}");
        assert!(text.contains("ordered 2 time"), "{text}");
        assert!(
            full["decisions"]["onsite.message"]["message"]["title"]
                .as_str()
                .is_some_and(|t| t.contains("Ada")),
            "{full}"
        );
    }
    let views_before = decide(&s, SERVER_KEY, json!({"userId": VICTIM})).await["decisions"]
        ["onsite.message"]["message"]["views"]
        .as_u64()
        .expect("views");

    // The attack: the same request with only the public key, by her userId and by her
    // laptop's anonymousId, answers exactly as for ids nobody has (no oracle of who shops
    // here), apart from the decision id.
    let stranger = without_id(decide(&s, WRITE_KEY, json!({"userId": "nobody-7431"})).await);
    let device_stranger =
        without_id(decide(&s, WRITE_KEY, json!({"anonymousId": "never-seen-device"})).await);
    for _ in 0..3 {
        let by_user = decide(&s, WRITE_KEY, json!({"userId": VICTIM})).await;
        let by_device = decide(&s, WRITE_KEY, json!({"anonymousId": VICTIM_DEVICE})).await;
        for (attack, like) in [(&by_user, &stranger), (&by_device, &device_stranger)] {
            assert_eq!(&without_id(attack.clone()), like);
            assert_eq!(attack["personalized"], false, "{attack}");
            assert!(
                attack["decisions"]["onsite.message"]
                    .get("message")
                    .is_none()
            );
            let text = attack.to_string();
            for secret in VICTIM_SECRETS {
                assert!(!text.contains(secret), "{secret} in {text}");
            }
            for telling in [
                "in your cart",
                "ordered",
                "$",
                "you've viewed",
                "Because you",
            ] {
                assert!(!text.contains(telling), "{telling:?} in {text}");
            }
        }
    }
    // Nor did the attacker's decisions count as views of her message.
    let views_after = decide(&s, SERVER_KEY, json!({"userId": VICTIM})).await["decisions"]
        ["onsite.message"]["message"]["views"]
        .as_u64()
        .expect("views");
    assert_eq!(views_after, views_before + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decide_by_internal_profile_numbers_reveals_nothing() {
    let s = TestApp::start().await.served().await;
    shop(&s).await;
    victim(&s, VICTIM, VICTIM_DEVICE, VICTIM_EMAIL).await;
    for i in 0..3 {
        victim(
            &s,
            &format!("customer-{i}"),
            &format!("device-{i}"),
            &format!("c{i}@example.com"),
        )
        .await;
    }
    // Well-formed: the numbers are real (the admin resolves them), and the victim's page
    // for the store's backend is hers.
    let number = s.profile(VICTIM).await["id"]
        .as_str()
        .expect("an internal number")
        .to_string();
    assert!(number.starts_with("p_"), "{number}");
    assert_eq!(s.profile(&number).await["userIds"][0], VICTIM);
    assert_eq!(
        decide(&s, SERVER_KEY, json!({"userId": VICTIM})).await["personalized"],
        true
    );

    // The attack: every number, as a userId or an anonymousId, with the public key (and
    // even with the server key: numbers are never taken from callers) answers like an id
    // nobody has.
    let unknown_user = without_id(decide(&s, WRITE_KEY, json!({"userId": "nobody-1"})).await);
    let unknown_anon = without_id(decide(&s, WRITE_KEY, json!({"anonymousId": "nobody-1"})).await);
    let server_unknown = without_id(decide(&s, SERVER_KEY, json!({"userId": "nobody-2"})).await);
    let highest: u64 = number[2..].parse::<u64>().unwrap().max(20) + 5;
    for n in 1..=highest {
        let id = format!("p_{n}");
        let as_user = decide(&s, WRITE_KEY, json!({"userId": id})).await;
        assert_eq!(without_id(as_user.clone()), unknown_user, "{id}: {as_user}");
        let as_anon = decide(&s, WRITE_KEY, json!({"anonymousId": id})).await;
        assert_eq!(without_id(as_anon), unknown_anon, "{id}");
        let as_server = decide(&s, SERVER_KEY, json!({"userId": id})).await;
        assert_eq!(without_id(as_server), server_unknown, "{id}");
    }
}

/// What an `identify` claiming the victim's userId from the attacker's browser achieved.
struct Hijack {
    /// The attacker's browser became one of the victim's devices.
    merged: bool,
    victim_before: Value,
    victim_after: Value,
    /// The attacker's page right after the claim, and the page of a twin browser that sent
    /// the same claim for a userId nobody has.
    attacker_page: Value,
    twin_page: Value,
    /// Journey emails that went to the attacker's address.
    mail_to_attacker: Vec<String>,
}

const ATTACKER_BROWSER: &str = "mallory-browser";
const ATTACKER_EMAIL: &str = "mallory@evil.example";

/// The attack of the issue, every request sent with `key`: claim the victim's userId from
/// the attacker's browser with the attacker's email and every consent switched on, look at
/// the page, then leave a cart so the stock abandoned-cart journey sends its email.
async fn hijack(key: &str) -> Hijack {
    let mail = MailSink::start().await;
    let kit = TestEngine::builder()
        .manual_clock("2031-03-03T12:00:00Z")
        .channels(ChannelConfig {
            smtp: Some(mail.settings()),
            email_from: Some("Shop <shop@example.com>".into()),
            ..Default::default()
        })
        .start()
        .await;
    let s = TestApp::over(kit).served().await;
    shop(&s).await;
    let (status, templates) = s.admin_get("/v1/journeys/templates").await;
    assert_eq!(status, 200, "{templates}");
    let template = templates["journeys"]
        .as_array()
        .expect("templates")
        .iter()
        .find(|j| j["id"] == "abandoned-cart")
        .expect("the stock abandoned-cart journey")
        .clone();
    let (status, reply) = s.admin_put("/v1/journeys/abandoned-cart", &template).await;
    assert_eq!(status, 200, "{reply}");
    victim(&s, VICTIM, VICTIM_DEVICE, VICTIM_EMAIL).await;
    let victim_before = person(&s.profile(VICTIM).await);

    let claim = |browser: &str, user: &str| {
        json!({"anonymousId": browser, "userId": user,
               "traits": {"email": ATTACKER_EMAIL},
               "context": {"consent": {"categoryPreferences":
                   {"personalization": true, "email": true, "advertising": true}}}})
    };
    send(&s, key, "/v1/identify", claim(ATTACKER_BROWSER, VICTIM)).await;
    send(
        &s,
        key,
        "/v1/identify",
        claim("twin-browser", "nobody-at-all"),
    )
    .await;
    let attacker_page = decide(&s, key, json!({"anonymousId": ATTACKER_BROWSER})).await;
    let twin_page = decide(&s, key, json!({"anonymousId": "twin-browser"})).await;
    for event in ["Product Added", "Checkout Started"] {
        send(
            &s,
            key,
            "/v1/track",
            json!({"anonymousId": ATTACKER_BROWSER, "event": event,
            "properties": {"product_id": "home-kitchen-2", "price": 32.0, "quantity": 1}}),
        )
        .await;
    }
    s.kit.settle().await;
    // The journey waits an hour, then for the send hour (10:00) the next day.
    s.kit.clock.to("2031-03-04T10:00:30Z");
    s.kit.settle().await;
    s.kit.clock.to("2031-03-04T10:05:00Z");
    s.kit.settle().await;
    let victim_after = s.profile(VICTIM).await;
    Hijack {
        merged: victim_after["anonymousIds"]
            .as_array()
            .is_some_and(|ids| ids.iter().any(|id| id == ATTACKER_BROWSER)),
        victim_before,
        victim_after: person(&victim_after),
        attacker_page,
        twin_page,
        mail_to_attacker: mail.to(ATTACKER_EMAIL),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identify_with_a_victims_user_id_hijacks_nothing() {
    // Well-formed, and what the attack did before the trust model: sent by the store's
    // backend (whose word on ids is taken), the same requests merge the browser into Ada's
    // profile, show the browser her page, replace her email, switch her consent on, and the
    // stock journey emails the attacker's address.
    let trusted = hijack(SERVER_KEY).await;
    assert!(trusted.merged);
    assert_eq!(trusted.victim_after["traits"]["email"], ATTACKER_EMAIL);
    assert!(granted(&trusted.victim_after, "email"));
    assert!(trusted.attacker_page.to_string().contains("in your cart"));
    assert_ne!(
        without_id(trusted.attacker_page.clone()),
        without_id(trusted.twin_page.clone())
    );
    assert_eq!(trusted.mail_to_attacker.len(), 1, "the detector works");
    assert!(trusted.mail_to_attacker[0].contains("Ada"));

    // The attack, with the public key: no merge; Ada's ids, traits (email, name) and
    // consent are as they were; the attacker's page is the page of a browser that claimed
    // nobody in particular; no email goes to the attacker's address.
    let attack = hijack(WRITE_KEY).await;
    assert!(!attack.merged);
    assert_eq!(attack.victim_after, attack.victim_before);
    assert_eq!(attack.victim_after["traits"]["email"], VICTIM_EMAIL);
    assert!(!granted(&attack.victim_after, "email"));
    assert!(!granted(&attack.victim_after, "advertising"));
    assert_eq!(
        without_id(attack.attacker_page.clone()),
        without_id(attack.twin_page.clone())
    );
    let page = attack.attacker_page.to_string();
    for secret in VICTIM_SECRETS {
        assert!(!page.contains(secret), "{secret} in {page}");
    }
    assert!(
        attack.mail_to_attacker.is_empty(),
        "{:?}",
        attack.mail_to_attacker
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_preferences_quiz_answers_and_consent_change_nobody() {
    let s = TestApp::start().await.served().await;
    shop(&s).await;
    let quiz = json!({"title": "Find your run", "questions": [{"id": "terrain", "text": "Where?",
        "answers": [{"id": "trail", "label": "Trails", "sets": {"categories": ["Shoes/Trail"],
                     "channels": {"email": true}}},
                    {"id": "road", "label": "Roads", "sets": {"categories": ["Shoes/Running"]}}]}]});
    let (status, r) = s.admin_put("/v1/quizzes/run", &quiz).await;
    assert_eq!(status, 200, "{r}");
    // Two customers in the same state: Ada shows the requests are well-formed, Bob is
    // attacked. Mallory is a customer too, with proof of her own id.
    for (user, device) in [
        ("ada", "ada-laptop"),
        ("bob", "bob-laptop"),
        ("mallory", "m-1"),
    ] {
        victim(&s, user, device, &format!("{user}@example.com")).await;
    }
    let preferences =
        json!({"categories": ["Home/Kitchen"], "channels": {"email": true, "sms": true}});
    let quiz_answer = json!({"terrain": "trail"});
    let purposes = json!({"email": true, "advertising": true});

    // Well-formed: Ada's own browser with her proof, her backend, her profile token.
    let ada = json!({"userId": "ada", "userHash": s.user_hash("ada")});
    let (status, r) = s
        .put("/v1/preferences")
        .basic(WRITE_KEY)
        .json(&json!({"userId": "ada", "userHash": s.user_hash("ada"), "preferences": preferences}))
        .send()
        .await;
    assert_eq!(status, 200, "{r}");
    let mut answer = ada.clone();
    answer["answers"] = quiz_answer.clone();
    let (status, r) = s
        .post_to("/v1/quizzes/run/answers")
        .basic(WRITE_KEY)
        .json(&answer)
        .send()
        .await;
    assert_eq!(status, 200, "{r}");
    let (status, r) = s
        .admin_put(
            "/v1/consent",
            &json!({"userId": "ada", "purposes": purposes}),
        )
        .await;
    assert_eq!(status, 200, "{r}");
    let (status, token) = s.post("/v1/tokens", &json!({"userId": "ada"})).await;
    assert_eq!(status, 200, "{token}");
    let token = token["token"].as_str().expect("a token");
    let (status, r) = s
        .put("/v1/me/consent")
        .bearer(token)
        .json(&json!({"purposes": {"push": true}}))
        .send()
        .await;
    assert_eq!(status, 200, "{r}");
    let ada = s.profile("ada").await;
    assert!(ada["traits"]["preferences"].is_object(), "{ada}");
    for purpose in ["email", "advertising", "sms", "push"] {
        assert!(granted(&ada, purpose), "{purpose}: {ada}");
    }

    // The attack on Bob, with the public key: every form answers 401/403 and Bob is
    // exactly as he was.
    let bob_before = person(&s.profile("bob").await);
    let forged = [
        json!({"userId": "bob"}),
        json!({"userId": "bob", "userHash": s.user_hash("mallory")}),
        json!({"userId": "bob", "userHash": "0".repeat(64)}),
        json!({"userId": "bob", "profileToken": "tpt_forged.signature"}),
        json!({"anonymousId": "bob-laptop"}),
    ];
    for who in &forged {
        let mut body = who.clone();
        body["preferences"] = preferences.clone();
        let (status, r) = s
            .put("/v1/preferences")
            .basic(WRITE_KEY)
            .json(&body)
            .send()
            .await;
        assert_eq!(status, 403, "preferences as {who}: {r}");
        let mut body = who.clone();
        body["answers"] = quiz_answer.clone();
        let (status, r) = s
            .post_to("/v1/quizzes/run/answers")
            .basic(WRITE_KEY)
            .json(&body)
            .send()
            .await;
        assert_eq!(status, 403, "quiz answers as {who}: {r}");
    }
    let (status, r) = s
        .put("/v1/consent")
        .bearer(WRITE_KEY)
        .json(&json!({"userId": "bob", "purposes": purposes}))
        .send()
        .await;
    assert_eq!(status, 403, "{r}");
    let (status, r) = s
        .put("/v1/me/consent")
        .bearer(WRITE_KEY)
        .json(&json!({"purposes": purposes}))
        .send()
        .await;
    assert_eq!(status, 401, "the write key is not a profile token: {r}");
    // Consent inside events: a message naming only Bob's userId is refused; from his own
    // laptop's anonymousId, it counts as his browsing but changes none of his consent.
    let consent = json!({"consent": {"categoryPreferences": {"email": true, "advertising": true}}});
    let (status, r) = s
        .post_to("/v1/track")
        .basic(WRITE_KEY)
        .json(&json!({"userId": "bob", "event": "Consent Updated", "context": consent}))
        .send()
        .await;
    assert_eq!(status, 403, "{r}");
    assert_eq!(r["error"]["code"], "unverified_user_id", "{r}");
    let r = send(
        &s,
        WRITE_KEY,
        "/v1/identify",
        json!({"userId": "bob", "anonymousId": "bob-laptop",
        "traits": {"email": ATTACKER_EMAIL}, "context": consent}),
    )
    .await;
    assert_eq!(r["ignored"], 1, "{r}");
    assert_eq!(person(&s.profile("bob").await), bob_before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_customers_are_never_merged_and_each_is_erased_alone() {
    let s = TestApp::start().await.served().await;
    shop(&s).await;
    for (user, device) in [("ann", "ann-phone"), ("ben", "ben-laptop")] {
        victim(&s, user, device, &format!("{user}@example.com")).await;
    }
    // Well-formed: an identify joins a customer and an anonymous device (the usual login).
    send(
        &s,
        SERVER_KEY,
        "/v1/track",
        json!({"anonymousId": "ann-tablet", "event": "Product Viewed",
        "properties": {"product_id": "home-kitchen-1"}}),
    )
    .await;
    send(
        &s,
        SERVER_KEY,
        "/v1/identify",
        json!({"userId": "ann", "anonymousId": "ann-tablet"}),
    )
    .await;
    let ann = s.profile("ann").await;
    assert_eq!(ann["anonymousIds"], json!(["ann-phone", "ann-tablet"]));

    // The attack (even from the store's backend): identify calls that would join Ann and
    // Ben. Refused, and noted on both profiles.
    send(
        &s,
        SERVER_KEY,
        "/v1/identify",
        json!({"userId": "ben", "anonymousId": "ann-phone"}),
    )
    .await;
    send(
        &s,
        SERVER_KEY,
        "/v1/identify",
        json!({"userId": "ann", "anonymousId": "ben-laptop"}),
    )
    .await;
    let (ann, ben) = (s.profile("ann").await, s.profile("ben").await);
    assert_ne!(ann["id"], ben["id"]);
    assert_eq!(ann["userIds"], json!(["ann"]));
    assert_eq!(ben["userIds"], json!(["ben"]));
    assert_eq!(ann["anonymousIds"], json!(["ann-phone", "ann-tablet"]));
    assert_eq!(ben["anonymousIds"], json!(["ben-laptop"]));
    for (who, other) in [(&ann, &ben), (&ben, &ann)] {
        let conflicts = who["identityConflicts"].as_array().expect("conflicts");
        assert!(
            conflicts
                .iter()
                .any(|c| format!("p_{}", c["with"]) == other["id"].as_str().unwrap()),
            "{} notes {}: {conflicts:?}",
            who["userIds"],
            other["id"]
        );
    }
    // A shared family computer: two logins stay two people.
    for (user, product) in [("mum", "home-kitchen-0"), ("dad", "shoes-trail-3")] {
        send(
            &s,
            SERVER_KEY,
            "/v1/identify",
            json!({"userId": user, "anonymousId": "family-pc",
                   "traits": {"email": format!("{user}@family.example")}}),
        )
        .await;
        send(
            &s,
            SERVER_KEY,
            "/v1/track",
            json!({"userId": user, "anonymousId": "family-pc",
            "event": "Product Viewed", "properties": {"product_id": product}}),
        )
        .await;
    }
    let (mum, dad) = (s.profile("mum").await, s.profile("dad").await);
    assert_ne!(mum["id"], dad["id"]);
    assert_eq!(mum["traits"]["email"], "mum@family.example");
    assert_eq!(dad["traits"]["email"], "dad@family.example");

    // Each is erased alone: the other keeps every id and event.
    let ann_before = s.profile("ann").await;
    let (status, r) = s.admin_delete("/v1/profiles/ben").await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(s.admin_get("/v1/profiles/ben").await.0, 404);
    let ann_after = s.profile("ann").await;
    assert_eq!(person(&ann_after), person(&ann_before));
    assert_eq!(ann_after["events"], ann_before["events"]);
    let mum_before = s.profile("mum").await;
    let (status, r) = s.admin_delete("/v1/profiles/dad").await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(s.admin_get("/v1/profiles/dad").await.0, 404);
    let mum_after = s.profile("mum").await;
    assert_eq!(person(&mum_after), person(&mum_before));
    assert_eq!(mum_after["events"], mum_before["events"]);
    let (status, r) = s.admin_delete("/v1/profiles/mum").await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(s.admin_get("/v1/profiles/mum").await.0, 404);
    assert_eq!(s.profile("ann").await["events"], ann_before["events"]);
}

/// The person with `ids` identities, readable in full: profile, export, events, consent.
async fn check_many_ids(s: &TestApp, ids: usize) {
    let profile = s.profile("many-ids").await;
    assert_eq!(profile["events"], ids as u64);
    assert_eq!(profile["anonymousIds"].as_array().unwrap().len(), 100);
    assert_eq!(
        profile["retiredAnonymousIds"].as_array().unwrap().len(),
        ids - 100
    );
    for path in [
        "/v1/profiles/many-ids/export",
        "/v1/profiles/many-ids/events",
        "/v1/consent/many-ids",
    ] {
        let (status, r) = s.admin_get(path).await;
        assert_eq!(status, 200, "{path}: {r}");
        if path.ends_with("export") {
            assert_eq!(r["events"].as_array().unwrap().len(), ids);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_profile_with_8400_identities_still_exports_and_erases() {
    const IDS: usize = 8_400;
    let mut s = TestApp::over(TestEngine::builder().sqlite().start().await)
        .served()
        .await;
    // The store's backend (server key) sends 8,400 identify calls for one userId, each from
    // a new anonymousId: more ids than SQLite binds in one statement (32,766 / 4).
    for chunk in (0..IDS).collect::<Vec<_>>().chunks(2_100) {
        let batch: Vec<Value> = chunk
            .iter()
            .map(|i| json!({"type": "identify", "userId": "many-ids", "anonymousId": format!("device-{i}")}))
            .collect();
        let r = send(&s, SERVER_KEY, "/v1/batch", json!({ "batch": batch })).await;
        assert_eq!(r["accepted"], chunk.len(), "{r}");
    }
    check_many_ids(&s, IDS).await;
    s.restart().await;
    check_many_ids(&s, IDS).await;
    let (status, r) = s.admin_delete("/v1/profiles/many-ids").await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["erased"]["events"], IDS as u64, "{r}");
    for id in ["many-ids", "device-0", "device-8399"] {
        assert_eq!(s.admin_get(&format!("/v1/profiles/{id}")).await.0, 404);
    }
    // Even a retired id's late event cannot bring the person back.
    let r = send(
        &s,
        SERVER_KEY,
        "/v1/track",
        json!({"anonymousId": "device-17",
        "event": "Product Viewed", "properties": {"product_id": "x"}}),
    )
    .await;
    assert_eq!(r["suppressed"], 1, "{r}");
    s.restart().await;
    assert_eq!(s.admin_get("/v1/profiles/many-ids").await.0, 404);
    let dir = s.kit.data_dir().expect("a SQLite directory");
    let found = tailor_testkit::byte_scan(dir, &["device-4321", "device-17\"", "many-ids"]);
    assert!(found.is_empty(), "{found:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn five_hundred_idle_connections_are_closed_within_the_idle_timeout() {
    const CONNECTIONS: usize = 500;
    let kit = TestEngine::start().await;
    let limits = ConnectionLimits {
        idle_timeout: Duration::from_secs(2),
        ..ConnectionLimits::default()
    };
    let s = TestServer::start_configured(&kit, |state| state.with_connection_limits(limits)).await;
    // Well-formed: every connection makes a request and gets its answer, keeping the
    // connection alive, as a browser or a client pool does.
    let mut held = Vec::with_capacity(CONNECTIONS);
    for _ in 0..CONNECTIONS {
        let mut c = TcpStream::connect(s.addr).await.expect("connect");
        c.write_all(b"GET /healthz HTTP/1.1\r\nhost: tailor\r\n\r\n")
            .await
            .expect("send");
        let mut answer = vec![0u8; 1024];
        let n = c.read(&mut answer).await.expect("an answer");
        let answer = String::from_utf8_lossy(&answer[..n]);
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(!answer.to_ascii_lowercase().contains("connection: close"));
        held.push(c);
    }
    let idle_from = tokio::time::Instant::now();
    // Then all 500 sit idle. Before, they stayed open for as long as their clients liked
    // (70 s and more); now the server closes each within the idle timeout.
    let closed = held.into_iter().map(|mut c| {
        tokio::spawn(async move {
            let mut buf = [0u8; 64];
            tokio::time::timeout(Duration::from_secs(10), c.read(&mut buf))
                .await
                .map(|r| matches!(r, Ok(0) | Err(_)))
        })
    });
    let mut longest = Duration::ZERO;
    for c in closed.collect::<Vec<_>>() {
        let closed = c.await.expect("a reader");
        assert_eq!(closed, Ok(true), "an idle connection stayed open");
        longest = longest.max(idle_from.elapsed());
    }
    assert!(
        longest < limits.idle_timeout + Duration::from_secs(2),
        "closed after {longest:?}"
    );
    // And the server serves new clients.
    let (status, _) = s.request(axum::http::Method::GET, "/healthz").send().await;
    assert_eq!(status, 200);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_counted_repetition_regex_is_refused_and_long_user_agents_stay_cheap() {
    let s = TestApp::start().await.served().await;
    shop(&s).await;
    let banner = |id: &str, pattern: &str| {
        json!([{"id": id, "kind": "banner", "placements": ["home.hero"], "title": "Safari sale",
                "targeting": {"priority": 50, "condition": {"context.ua": {"$regex": pattern}}}}])
    };
    // Well-formed: a bounded pattern on the user agent is saved and targets.
    assert_eq!(
        s.admin_put(
            "/v1/catalog/content",
            &banner("hero-safari", "Mozilla.*Safari/[0-9]+")
        )
        .await
        .0,
        200
    );
    let ua = |tail: &str, n: usize| format!("{}{tail}", "Mozilla/5.0 (X11) ".repeat(n));
    let hero = |d: &Value| d["decisions"]["home.hero"]["item"]["id"].clone();
    let d = decide(
        &s,
        WRITE_KEY,
        json!({"anonymousId": "a", "context": {"ua": ua("Safari/605", 2)}}),
    )
    .await;
    assert_eq!(hero(&d), "hero-safari", "{d}");

    // The attack's pattern: a counted repetition, whose compiled program (and so the work
    // of every decision) is the pattern's size times the input's. Refused when saved.
    for pattern in ["(Mozilla.{1,99}){1,99}$", "(a{1,999}){1,999}", "(x+x+)+y"] {
        let (status, r) = s
            .admin_put("/v1/catalog/content", &banner("hero-evil", pattern))
            .await;
        if pattern == "(x+x+)+y" {
            // Catastrophic for a backtracking engine, linear for this one: allowed.
            assert_eq!(status, 200, "{r}");
            continue;
        }
        assert_eq!(status, 400, "{pattern}: {r}");
        assert!(
            r["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("too large")),
            "{r}"
        );
    }
    // Decisions with 30 KB user agents: the work is bounded by construction, not by luck.
    // The input is at most the decide context without a ranking's list (32 KB: a longer one
    // is refused before any work), every pattern is at most 1,000 bytes and 256 KB compiled, matched by a linear-
    // time engine, and no decision compiles a pattern: they were compiled when saved.
    let (status, r) = s
        .post_to("/v1/decide")
        .basic(WRITE_KEY)
        .json(&json!({"anonymousId": "a", "placements": ["home.hero"], "context": {"ua": ua("", 2_000)}}))
        .send()
        .await;
    assert_eq!(status, 413, "{r}");
    let compiled = tailor_core::condition::regex_compilations();
    for i in 0..40 {
        let long = ua(&format!("Safari/{i}"), 1_650);
        assert!((29_000..32_000).contains(&long.len()), "{}", long.len());
        let d = decide(
            &s,
            WRITE_KEY,
            json!({"anonymousId": format!("ua-{i}"), "context": {"ua": long}}),
        )
        .await;
        assert_eq!(hero(&d), "hero-safari", "{d}");
    }
    assert_eq!(
        tailor_core::condition::regex_compilations(),
        compiled,
        "a decision compiled a pattern"
    );
}

/// Ten weeks of a small shop's history, sent by its backend with past timestamps in the
/// order they happened: 120 shoppers who browse and order now and then, so the models and
/// the forecast train.
async fn history(s: &TestApp, end: i64) {
    const WEEK: i64 = 7 * 24 * 3_600_000;
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed >> 11) as f64 / (1u64 << 53) as f64
    };
    let products = [
        ("shoes-running-1", 91.0),
        ("shoes-trail-1", 121.0),
        ("home-kitchen-0", 30.0),
        ("home-kitchen-3", 33.0),
    ];
    let mut events: Vec<(i64, Value)> = Vec::new();
    for shopper in 0..120 {
        let user = format!("hist-{shopper}");
        let keen = next() * 0.5;
        for day in 0..70 {
            if next() > 0.25 {
                continue;
            }
            let at = end - 10 * WEEK + day * WEEK / 7 + (next() * 36_000_000.0) as i64;
            let (product, price) = products[(next() * 4.0) as usize % 4];
            events.push((
                at,
                json!({"type": "track", "userId": user, "event": "Product Viewed",
                "timestamp": tailor_core::time::format_timestamp(at),
                "properties": {"product_id": product}}),
            ));
            if next() < keen {
                events.push((
                    at + 600_000,
                    json!({"type": "track", "userId": user,
                    "event": "Order Completed",
                    "timestamp": tailor_core::time::format_timestamp(at + 600_000),
                    "properties": {"order_id": format!("{user}-{day}"), "total": price,
                        "products": [{"product_id": product, "price": price, "quantity": 1}]}}),
                ));
            }
        }
    }
    events.sort_by_key(|(at, _)| *at);
    for chunk in events.chunks(1_500) {
        let batch: Vec<&Value> = chunk.iter().map(|(_, e)| e).collect();
        let r = send(s, SERVER_KEY, "/v1/batch", json!({ "batch": batch })).await;
        assert_eq!(r["accepted"], batch.len(), "{r}");
    }
}

/// Every number in a forecast's per-week figures: finite, and what a shop of this size
/// could sell.
fn assert_finite(forecast: &Value) {
    let mut rows: BTreeMap<String, &Value> = BTreeMap::new();
    rows.insert("totals.orders".into(), &forecast["totals"]["orders"]);
    rows.insert("totals.revenue".into(), &forecast["totals"]["revenue"]);
    for c in forecast["categories"].as_array().expect("categories") {
        rows.insert(format!("{}.revenue", c["category"]), &c["revenue"]);
        rows.insert(format!("{}.orders", c["category"]), &c["orders"]);
    }
    for (name, row) in rows {
        let values = row.as_array().expect("weeks");
        assert_eq!(values.len(), 4, "{name}: {row}");
        for v in values {
            let x = v.as_f64().unwrap_or(f64::NAN);
            assert!(x.is_finite() && (0.0..1e7).contains(&x), "{name}: {row}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_of_1e308_is_refused_and_the_forecast_stays_finite() {
    let now = "2031-03-03T12:00:00Z";
    let s = TestApp::over(
        TestEngine::builder()
            .manual_clock(now)
            .models(tailor_engine::predictions::Schedule {
                at_start: false,
                every: None,
            })
            .start()
            .await,
    )
    .served()
    .await;
    // The history first: training reads the log in the order it was written.
    catalog(&s).await;
    let end = tailor_core::time::parse_timestamp(now).expect("a time");
    history(&s, end).await;
    let order = |total: Value| {
        json!({"anonymousId": "shopper-1e308", "event": "Order Completed",
               "properties": {"order_id": "o-huge", "total": total,
                              "products": [{"product_id": "home-kitchen-1", "price": 31.0, "quantity": 1}]}})
    };
    // Well-formed: the same order with an ordinary total is stored.
    let mut ordinary = order(json!(31.0));
    ordinary["properties"]["order_id"] = json!("o-ordinary");
    send(&s, WRITE_KEY, "/v1/track", ordinary).await;

    // The attack: totals, prices and quantities that would turn every store-wide sum into
    // infinity, with any key, alone or in a batch, as numbers or as strings.
    for total in [json!(1e308), json!(-1e308), json!("1e308"), json!(1e10)] {
        for key in [WRITE_KEY, SERVER_KEY] {
            let (status, r) = s
                .post_to("/v1/track")
                .basic(key)
                .json(&order(total.clone()))
                .send()
                .await;
            assert_eq!(status, 400, "{total}: {r}");
            assert_eq!(r["error"]["code"], "value_out_of_range", "{r}");
        }
    }
    let mut huge_price = order(json!(31.0));
    huge_price["properties"]["products"][0]["price"] = json!(1e308);
    let mut huge_quantity = order(json!(31.0));
    huge_quantity["properties"]["products"][0]["quantity"] = json!(1e300);
    let r = send(&s, WRITE_KEY, "/v1/batch", json!({"batch": [
        {"type": "track", "anonymousId": "shopper-1e308", "event": "Product Viewed", "properties": {"product_id": "home-kitchen-1"}},
        Value::Object({let mut m = huge_price.as_object().unwrap().clone(); m.insert("type".into(), json!("track")); m}),
        Value::Object({let mut m = huge_quantity.as_object().unwrap().clone(); m.insert("type".into(), json!("track")); m}),
    ]}))
    .await;
    assert_eq!(r["accepted"], 1, "{r}");
    let codes: Vec<_> = r["rejected"]
        .as_array()
        .expect("rejected")
        .iter()
        .map(|x| x["code"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(codes, ["value_out_of_range", "value_out_of_range"], "{r}");

    // The store-wide figures stay finite: the profile, and the forecast trained after.
    let buyer = s.profile("shopper-1e308").await;
    assert_eq!(buyer["orders"]["revenue"], 31.0, "{buyer}");
    let version = s.kit.blocking(|engine| engine.train_models()).await;
    let version = version.expect("the models train on the history");
    let (status, forecast) = s.admin_get("/v1/forecast").await;
    assert_eq!(
        status,
        200,
        "version {}: {forecast} {}",
        version.version,
        json!(version)
    );
    assert_finite(&forecast);
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_data_directory_is_private_to_tailors_user() {
    use std::os::unix::fs::PermissionsExt as _;

    let s = TestApp::over(TestEngine::builder().sqlite().start().await)
        .served()
        .await;
    shop(&s).await;
    victim(&s, VICTIM, VICTIM_DEVICE, VICTIM_EMAIL).await;
    // Well-formed: the data directory holds what another local user would want: every
    // shopper's events, and the secrets profile tokens and user hashes are signed with.
    let (status, token) = s.post("/v1/tokens", &json!({"userId": VICTIM})).await;
    assert_eq!(status, 200, "{token}");
    let dir = s.kit.data_dir().expect("a SQLite directory");
    let found = tailor_testkit::byte_scan(dir, &[VICTIM_EMAIL]);
    assert!(!found.is_empty(), "the shopper's email is in the files");
    // None of it is readable by anyone but Tailor's user: the directory is 0700, every file
    // in it (databases, write-ahead logs, shared memory) 0600.
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(dir), 0o700);
    let mut files = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        assert_eq!(mode(&path), 0o600, "{}", path.display());
        files += 1;
    }
    assert!(files >= 4, "databases and their write-ahead logs");
}
