//! The console's rules, through the router in-process: signing in with the admin or the
//! analyst key (and nothing else) gives an `HttpOnly`, `SameSite=Strict` session cookie
//! (`Secure` behind a trusted proxy speaking https); sessions end on sign-out and after
//! idling; every change needs the session's CSRF token and a same-site origin; the analyst
//! reaches no page or JSON with personal data; a change made in the console is what the
//! API then answers; every page runs under the pages' Content Security Policy.

use serde_json::{Value, json};
use tailor_testkit::{ADMIN_KEY, ANALYST_KEY, Reply, SERVER_KEY, TestApp, TestServer, WRITE_KEY};

const FORM: &str = "application/x-www-form-urlencoded";

fn header(r: &Reply, name: &str) -> String {
    r.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

fn form(pairs: &[(&str, &str)]) -> String {
    serde_urlencoded::to_string(pairs).unwrap()
}

/// A signed-in browser: its cookie and the CSRF token its pages carry.
struct Browser {
    cookie: String,
    csrf: String,
}

async fn sign_in(app: &TestApp, key: &str) -> Browser {
    let reply = app
        .post_to("/console/signin")
        .header("content-type", FORM)
        .body(form(&[("key", key), ("next", "/console")]))
        .reply()
        .await;
    assert_eq!(reply.status, 303, "{}", reply.text);
    let set = header(&reply, "set-cookie");
    let cookie = set.split(';').next().unwrap().to_string();
    let page = app.get("/console").header("cookie", &cookie).reply().await;
    assert_eq!(page.status, 200, "{}", page.text);
    let csrf = page
        .text
        .split("data-csrf=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("the page carries the CSRF token")
        .to_string();
    Browser { cookie, csrf }
}

impl Browser {
    async fn get(&self, app: &TestApp, path: &str) -> Reply {
        app.get(path).header("cookie", &self.cookie).reply().await
    }

    async fn post(&self, app: &TestApp, path: &str, pairs: &[(&str, &str)]) -> Reply {
        let mut all = vec![("csrf", self.csrf.as_str())];
        all.extend_from_slice(pairs);
        app.post_to(path)
            .header("cookie", &self.cookie)
            .header("content-type", FORM)
            .body(form(&all))
            .reply()
            .await
    }
}

async fn store_with_a_shopper(app: &TestApp) {
    let (status, body) = app
        .post(
            "/v1/identify",
            &json!({"userId": "ada", "anonymousId": "a-1", "traits": {"email": "ada@example.com", "plan": "gold"}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = app
        .post(
            "/v1/track",
            &json!({"userId": "ada", "event": "Order Completed", "properties": {"order_id": "o1", "total": 40}}),
        )
        .await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_admin_and_analyst_keys_sign_in_and_the_cookie_is_strict() {
    let app = TestApp::start().await;
    let page = app.get("/console/signin").reply().await;
    assert_eq!(page.status, 200);
    assert!(header(&page, "content-security-policy").contains("script-src 'self'"));
    assert!(
        page.text.contains(r#"<label for="key">"#),
        "the key field is labelled"
    );
    for key in ["", "nope", WRITE_KEY, SERVER_KEY] {
        let reply = app
            .post_to("/console/signin")
            .header("content-type", FORM)
            .body(form(&[("key", key)]))
            .reply()
            .await;
        assert_eq!(reply.status, 401, "{key:?}");
        assert!(header(&reply, "set-cookie").is_empty());
        assert!(
            reply.text.contains(r#"id="key-error""#),
            "the error is next to the field"
        );
    }
    let reply = app
        .post_to("/console/signin")
        .header("content-type", FORM)
        .body(form(&[
            ("key", ADMIN_KEY),
            ("next", "https://evil.example/"),
        ]))
        .reply()
        .await;
    assert_eq!(reply.status, 303);
    assert_eq!(header(&reply, "location"), "/console", "no open redirect");
    let cookie = header(&reply, "set-cookie");
    for part in [
        "tailor_console=cs_",
        "HttpOnly",
        "SameSite=Strict",
        "Path=/console",
    ] {
        assert!(cookie.contains(part), "{cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain http: no Secure");
    // `/admin` sends to the console; the console without a session sends to sign-in.
    let admin = app.get("/admin").reply().await;
    assert_eq!(header(&admin, "location"), "/console");
    let anonymous = app.get("/console/people?q=ada").reply().await;
    assert_eq!(anonymous.status, 303);
    assert_eq!(
        header(&anonymous, "location"),
        "/console/signin?next=%2Fconsole%2Fpeople%3Fq%3Dada"
    );
    let (status, body) = app
        .get("/console/api/segments/match?condition=%7B%7D")
        .send()
        .await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "unauthorized");
    // A forged cookie is nobody.
    let forged = app
        .get("/console")
        .header("cookie", "tailor_console=cs_forged")
        .reply()
        .await;
    assert_eq!(forged.status, 303);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_proxy_speaking_https_the_cookie_is_secure() {
    let kit = tailor_testkit::TestEngine::start().await;
    let limits = tailor_server::ratelimit::RateLimits {
        trusted_proxies: tailor_server::ratelimit::parse_cidrs("127.0.0.1").unwrap(),
        ..Default::default()
    };
    let server = TestServer::start_with(&kit, Some(limits)).await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let sign_in = |proto: &'static str| {
        http.post(server.url("/console/signin"))
            .header("content-type", FORM)
            .header("x-forwarded-proto", proto)
            .body(form(&[("key", ADMIN_KEY)]))
            .send()
    };
    let secure = sign_in("https").await.unwrap();
    let cookie = secure.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.contains("; Secure"), "{cookie}");
    let plain = sign_in("http").await.unwrap();
    assert!(
        !plain.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Secure")
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_end_on_sign_out_and_when_idle() {
    let app = TestApp::start().await;
    let admin = sign_in(&app, ADMIN_KEY).await;
    let out = admin.post(&app, "/console/signout", &[]).await;
    assert_eq!(out.status, 303);
    assert!(header(&out, "set-cookie").contains("Max-Age=0"));
    assert_eq!(admin.get(&app, "/console").await.status, 303, "signed out");

    let analyst = sign_in(&app, ANALYST_KEY).await;
    app.kit.clock.advance("29m");
    assert_eq!(analyst.get(&app, "/console").await.status, 200);
    app.kit.clock.advance("31m");
    assert_eq!(
        analyst.get(&app, "/console").await.status,
        303,
        "idle for 31 minutes"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_change_needs_the_sessions_csrf_token_and_this_origin() {
    let app = TestApp::start().await;
    store_with_a_shopper(&app).await;
    let admin = sign_in(&app, ADMIN_KEY).await;
    let other = sign_in(&app, ADMIN_KEY).await;
    let create = [
        ("id", "console-test"),
        ("placement", "home.hero"),
        ("variations", "control editorial\nperso personalized"),
        ("status", "running"),
        ("goals", "Product Added, Promotion Clicked"),
    ];
    let body = form(&create);
    // No token, another session's token, or another site's origin: refused, nothing saved.
    let none = app
        .post_to("/console/experiments")
        .header("cookie", &admin.cookie)
        .header("content-type", FORM)
        .body(body.clone())
        .reply()
        .await;
    assert_eq!(none.status, 403);
    let mut with_other = vec![("csrf", other.csrf.as_str())];
    with_other.extend_from_slice(&create);
    let wrong = app
        .post_to("/console/experiments")
        .header("cookie", &admin.cookie)
        .header("content-type", FORM)
        .body(form(&with_other))
        .reply()
        .await;
    assert_eq!(wrong.status, 403);
    let mut with_own = vec![("csrf", admin.csrf.as_str())];
    with_own.extend_from_slice(&create);
    let cross_site = app
        .post_to("/console/experiments")
        .header("cookie", &admin.cookie)
        .header("content-type", FORM)
        .header("origin", "https://evil.example")
        .header("host", "tailor.example")
        .body(form(&with_own))
        .reply()
        .await;
    assert_eq!(cross_site.status, 403);
    let (_, list) = app.admin_get("/v1/experiments").await;
    assert_eq!(
        list["experiments"].as_array().map_or(0, Vec::len),
        0,
        "{list}"
    );
    // With the token: saved, and the API answers it.
    let ok = admin.post(&app, "/console/experiments", &create).await;
    assert_eq!(ok.status, 303, "{}", ok.text);
    let (_, list) = app.admin_get("/v1/experiments").await;
    assert_eq!(list["experiments"][0]["id"], "console-test", "{list}");
    assert_eq!(
        list["experiments"][0]["goals"],
        json!(["Product Added", "Promotion Clicked"])
    );
    let (status, results) = app.admin_get("/v1/experiments/console-test/results").await;
    assert_eq!(status, 200, "{results}");
    assert!(
        results["metrics"]["event:Product Added"].is_array(),
        "{results}"
    );
    // The header works as the field does (for scripts).
    let by_header = app
        .post_to("/console/experiments/console-test/status")
        .header("cookie", &admin.cookie)
        .header("content-type", FORM)
        .header("x-csrf-token", &admin.csrf)
        .body(form(&[("status", "stopped")]))
        .reply()
        .await;
    assert_eq!(by_header.status, 303, "{}", by_header.text);
    let (_, list) = app.admin_get("/v1/experiments").await;
    assert_eq!(list["experiments"][0]["status"], "stopped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_changes_are_answered_next_to_their_field() {
    let app = TestApp::start().await;
    let admin = sign_in(&app, ADMIN_KEY).await;
    let bad = admin
        .post(
            &app,
            "/console/experiments",
            &[
                ("id", "x"),
                ("placement", "home.hero"),
                ("variations", "a editorial\nb personalized"),
                ("weights", "0.2, 0.2"),
                ("coverage", "2"),
            ],
        )
        .await;
    assert_eq!(bad.status, 422);
    assert!(bad.text.contains(r#"id="weights-error""#), "{}", bad.text);
    assert!(bad.text.contains(r#"id="coverage-error""#), "{}", bad.text);
    let bad = admin
        .post(
            &app,
            "/console/placements/home.hero",
            &[
                ("condition", r#"{"orders": {"$nope": 1}}"#),
                ("policy", "rules"),
            ],
        )
        .await;
    assert_eq!(bad.status, 422);
    assert!(bad.text.contains(r#"id="condition-error""#), "{}", bad.text);
    let bad = admin
        .post(
            &app,
            "/console/segments",
            &[("condition", "{"), ("id", "Bad Id"), ("name", "")],
        )
        .await;
    assert_eq!(bad.status, 422);
    assert!(bad.text.contains(r#"id="condition-error""#), "{}", bad.text);
    // A ranking placement's merchandising rules: refused next to their field when invalid,
    // saved (and shown again) when valid.
    let page = admin.get(&app, "/console/placements/rank.listing").await;
    assert!(page.text.contains(r#"name="rules""#), "{}", page.text);
    let bad = admin
        .post(
            &app,
            "/console/placements/rank.listing",
            &[
                ("rules", r#"{"boost": [{"weight": 2}]}"#),
                ("policy", "rules"),
            ],
        )
        .await;
    assert_eq!(bad.status, 422);
    assert!(bad.text.contains(r#"id="rules-error""#), "{}", bad.text);
    let saved = admin
        .post(
            &app,
            "/console/placements/rank.listing",
            &[
                (
                    "rules",
                    r#"{"pin": ["sku-2"], "bury": [{"brand": "Fleet"}]}"#,
                ),
                ("limit", "24"),
                ("policy", "rules"),
            ],
        )
        .await;
    assert_eq!(saved.status, 303, "{}", saved.text);
    let placement = app
        .kit
        .engine()
        .placements()
        .into_iter()
        .find(|p| p.id == "rank.listing")
        .expect("rank.listing");
    let rules = placement.rules.expect("rules saved");
    assert_eq!(rules.pin, ["sku-2"]);
    assert_eq!(rules.bury[0].brand.as_deref(), Some("Fleet"));
    let page = admin.get(&app, "/console/placements/rank.listing").await;
    assert!(
        page.text.contains("sku-2"),
        "the saved rules are shown: {}",
        page.text
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_analyst_reaches_no_personal_data() {
    let app = TestApp::start().await;
    store_with_a_shopper(&app).await;
    let analyst = sign_in(&app, ANALYST_KEY).await;
    for path in [
        "/console",
        "/console/segments",
        "/console/placements",
        "/console/placements/home.hero",
        "/console/experiments",
        "/console/journeys",
        "/console/models",
        "/console/privacy",
    ] {
        let page = analyst.get(&app, path).await;
        assert_eq!(page.status, 200, "{path}: {}", page.text);
        for personal in ["ada@example.com", "\"ada\"", ">ada<", "a-1", "gold"] {
            assert!(!page.text.contains(personal), "{path} shows {personal}");
        }
        assert!(
            !page.text.contains(r#"href="/console/people""#),
            "{path}: no People link"
        );
    }
    for path in [
        "/console/people?q=ada",
        "/console/people/ada",
        "/console/people/ada/export",
    ] {
        assert_eq!(analyst.get(&app, path).await.status, 403, "{path}");
    }
    let preview = analyst
        .get(&app, "/console/placements/home.hero?as=ada")
        .await;
    assert!(
        !preview.text.contains("data-preview"),
        "no preview as a shopper"
    );
    let (status, live) = app
        .get("/console/api/segments/match?condition=%7B%22orders%22%3A1%7D")
        .header("cookie", &analyst.cookie)
        .send()
        .await;
    assert_eq!(status, 200);
    assert_eq!(live["matching"], 1);
    assert_eq!(live["sample"], json!([]), "counts only");
    let erase = analyst.post(&app, "/console/people/ada/erase", &[]).await;
    assert_eq!(erase.status, 403);
    assert!(app.kit.engine().profile("ada").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_reads_a_person_and_every_read_is_audited() {
    let app = TestApp::start().await;
    store_with_a_shopper(&app).await;
    let admin = sign_in(&app, ADMIN_KEY).await;
    let found = admin.get(&app, "/console/people?q=ada%40example").await;
    assert_eq!(found.status, 200);
    assert!(found.text.contains("ada@example.com"));
    let person = admin.get(&app, "/console/people/ada").await;
    assert_eq!(person.status, 200, "{}", person.text);
    assert!(person.text.contains("gold"));
    let (_, audit) = app.get("/v1/audit").bearer(ANALYST_KEY).send().await;
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .or(audit.as_array())
        .into_iter()
        .flatten()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert!(actions.contains(&"console_search"), "{audit}");
    assert!(actions.contains(&"console_profile"), "{audit}");
    assert!(
        !audit.to_string().contains("ada"),
        "the audit log names no one"
    );
    // Erasure, behind the confirmation, reaches the engine.
    let erased = admin.post(&app, "/console/people/ada/erase", &[]).await;
    assert_eq!(erased.status, 303);
    let (status, _) = app.admin_get("/v1/profiles/ada").await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_runs_nothing_inline() {
    let app = TestApp::start().await;
    store_with_a_shopper(&app).await;
    let admin = sign_in(&app, ADMIN_KEY).await;
    for path in [
        "/console",
        "/console/people?q=ada",
        "/console/people/ada",
        "/console/segments",
        "/console/placements",
        "/console/placements/home.hero?as=ada",
        "/console/experiments",
        "/console/journeys",
        "/console/models",
        "/console/privacy",
    ] {
        let page = admin.get(&app, path).await;
        assert_eq!(page.status, 200, "{path}");
        assert!(header(&page, "content-security-policy").contains("script-src 'self'"));
        for inline in ["<style", " style=", " onclick=", " onload=", " onsubmit="] {
            assert!(!page.text.contains(inline), "{path}: {inline}");
        }
        for script in page.text.split("<script").skip(1) {
            assert!(
                script.trim_start().starts_with("src=\"/console/assets/"),
                "{path}: {script}"
            );
        }
    }
    for (path, kind) in [
        ("/console/assets/console.js", "text/javascript"),
        ("/console/assets/console.css", "text/css"),
        ("/console/assets/uPlot.iife.min.js", "text/javascript"),
        ("/console/assets/uPlot.min.css", "text/css"),
    ] {
        let asset = app.get(path).reply().await;
        assert_eq!(asset.status, 200);
        assert!(header(&asset, "content-type").starts_with(kind), "{path}");
    }
    let preview = admin
        .get(&app, "/console/placements/home.hero?as=ada")
        .await;
    assert!(preview.text.contains("data-preview"));
    let _: Value = Value::Null;
}
