//! The CLI subcommands that read a running server's API: `tailor report experiment` and
//! `tailor eval ope` on a live placement's exported log. The server runs in this process
//! (`tailor_testkit::TestServer` on loopback); only the CLI is a child process.

use std::process::{Command, Output};

use serde_json::{Value, json};
use tailor_engine::experiments::PlacementExperiment;
use tailor_testkit::{ADMIN_KEY, TestEngine, TestServer};

/// Runs the `tailor` binary off the async executor (the server answers it meanwhile).
async fn tailor(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_tailor"))
            .args(args)
            .output()
            .expect("run tailor")
    })
    .await
    .expect("the tailor process")
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

const CATEGORIES: [&str; 4] = [
    "Shoes/Running",
    "Home/Kitchen",
    "Beauty/Makeup",
    "Garden/Tools",
];

fn product(category: usize, i: usize) -> String {
    format!(
        "{}-{i}",
        CATEGORIES[category].replace('/', "-").to_lowercase()
    )
}

/// A deterministic "random" number in [0, 1) for shopper `i`.
fn chance(i: u64, scale: u64) -> f64 {
    (i.wrapping_mul(2_654_435_761) % scale) as f64 / scale as f64
}

/// The personalization experiment of `crates/engine/tests/experiments.rs`: 240 shoppers
/// who buy more when the first recommendation fits their taste.
async fn run_experiment(kit: &TestEngine) {
    let mut products = Vec::new();
    for (c, cat) in CATEGORIES.iter().enumerate() {
        for i in 0..6 {
            products.push(json!({"id": product(c, i), "name": format!("{cat} {i}"), "category": cat, "price": 20.0}));
        }
    }
    kit.load_products(Value::Array(products));
    for i in 0..6 {
        for p in 0..3 {
            kit.track(json!({"anonymousId": format!("crowd-{i}"), "event": "Product Viewed", "properties": {"product_id": product(3, p)}})).await;
        }
    }
    let exp: PlacementExperiment = serde_json::from_value(json!({"id": "recs-lift", "placement": "recs.home", "variations": [
        {"id": "editorial", "treatment": "editorial"}, {"id": "personalized", "treatment": "personalized"}]}))
    .unwrap();
    kit.put_experiment(exp).unwrap();
    for i in 0..240u64 {
        let favourite = (i % 3) as usize;
        let anon = format!("v-{i}");
        for p in 0..3 {
            kit.track(json!({"anonymousId": anon, "event": "Product Viewed", "properties": {"product_id": product(favourite, (i as usize + p) % 6)}})).await;
        }
        let d = kit.decide_json(json!({"anonymousId": anon, "placements": ["recs.home"]}));
        let fits = d["decisions"]["recs.home"]["items"][0]["product"]["category"][0]
            == CATEGORIES[favourite].split('/').next().unwrap();
        if chance(i, 1_000) < if fits { 0.5 } else { 0.1 } {
            kit.track(json!({"anonymousId": anon, "event": "Order Completed",
                "properties": {"order_id": format!("o-{i}"), "total": 40.0, "products": [{"product_id": product(favourite, 0), "price": 40.0}]}})).await;
        }
    }
    kit.settle().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn report_prints_an_experiments_results() {
    let kit = TestEngine::start().await;
    run_experiment(&kit).await;
    let s = TestServer::start(&kit).await;
    let out = tailor(args(&[
        "report",
        "experiment",
        "recs-lift",
        "--url",
        &s.base,
        "--admin-key",
        ADMIN_KEY,
    ]))
    .await;
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{table} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(table.contains("Sample ratio: ok"), "{table}");
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("conversion") && l.contains("personalized")),
        "{table}"
    );
    let out = tailor(args(&[
        "report",
        "experiment",
        "nope",
        "--url",
        &s.base,
        "--admin-key",
        ADMIN_KEY,
    ]))
    .await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not found"));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn eval_ope_reads_a_live_placements_log() {
    const CLICK_RATE: [(&str, f64); 3] = [("promo-a", 0.04), ("promo-b", 0.35), ("promo-c", 0.10)];
    let kit = TestEngine::start().await;
    let promos: Vec<Value> = CLICK_RATE
        .iter()
        .map(|(id, _)| json!({"id": id, "kind": "promotion", "placements": ["promo.banner"], "title": format!("Offer {id}")}))
        .collect();
    kit.load_content(Value::Array(promos));
    kit.load_placements(json!({"id": "promo.banner", "kind": "promotion",
        "policy": {"kind": "thompson", "reward": "click", "exploration": 0.1}}))
        .unwrap();
    let rounds = 600u64;
    for i in 0..rounds {
        let who = format!("v-{i}");
        let d = kit.decide_json(json!({"anonymousId": who, "placements": ["promo.banner"]}));
        let chosen = d["decisions"]["promo.banner"]["item"]["id"]
            .as_str()
            .unwrap()
            .to_string();
        let rate = CLICK_RATE.iter().find(|(id, _)| *id == chosen).unwrap().1;
        if chance(i, 10_000) < rate {
            kit.track(json!({"anonymousId": who, "event": "Promotion Clicked",
                "properties": {"promotion_id": chosen, "decisionId": d["decisionId"]}}))
                .await;
        }
    }
    kit.settle().await;
    let s = TestServer::start(&kit).await;
    // The live policy's log, exported in the Open Bandit format, feeds the off-policy
    // estimators: evaluated on its own log, IPW gives back the logged click rate.
    let r = s
        .request(
            axum::http::Method::GET,
            "/v1/decisions/export?placement=promo.banner",
        )
        .bearer(ADMIN_KEY)
        .reply()
        .await;
    assert_eq!(r.status, 200);
    let items: Vec<String> =
        serde_json::from_str(r.headers["x-tailor-items"].to_str().unwrap()).unwrap();
    let csv = r.text;
    assert_eq!(csv.lines().count() as u64, rounds + 1, "{}", &csv[..200]);
    assert_eq!(items.len(), 3);
    let clicks = csv
        .lines()
        .skip(1)
        .filter(|l| l.split(',').nth(3) == Some("1"))
        .count();
    assert!(clicks > 30, "clicks are joined: {clicks}");
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("promo-log.csv");
    std::fs::write(&logs, &csv).unwrap();
    let out = tailor(vec![
        "eval".into(),
        "ope".into(),
        "--logs".into(),
        logs.display().to_string(),
        "--train-policy".into(),
        "--json".into(),
    ])
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ope: Value = serde_json::from_slice(&out.stdout).unwrap();
    let logged_ctr = ope["on_policy_ctr_of_logs"].as_f64().unwrap();
    assert!(
        (logged_ctr - clicks as f64 / rounds as f64).abs() < 1e-9,
        "{ope}"
    );
    assert!(
        csv.lines()
            .skip(1)
            .all(|l| l.split(',').nth(5) == Some("bandit")),
        "every row names its logging policy: {}",
        &csv[..200]
    );

    // The policy is switched off: the rules answer from now on (propensity 1), and the
    // placement's log mixes two logging policies.
    kit.load_placements(json!({"id": "promo.banner", "kind": "promotion"}))
        .unwrap();
    let rules_rounds = 100u64;
    for i in 0..rules_rounds {
        kit.decide_json(json!({"anonymousId": format!("r-{i}"), "placements": ["promo.banner"]}));
    }
    kit.settle().await;
    let export = |query: &str| {
        let s = &s;
        let path = format!("/v1/decisions/export?placement=promo.banner{query}");
        async move {
            s.request(axum::http::Method::GET, &path)
                .bearer(ADMIN_KEY)
                .reply()
                .await
        }
    };
    let mixed = export("").await;
    assert_eq!(mixed.status, 200);
    let policies: Value =
        serde_json::from_str(mixed.headers["x-tailor-logging-policies"].to_str().unwrap()).unwrap();
    assert_eq!(policies, json!({"bandit": rounds, "rules": rules_rounds}));
    std::fs::write(&logs, &mixed.text).unwrap();
    // Estimators given the whole log would mix two policies: refused, saying how to split.
    let out = tailor(vec![
        "eval".into(),
        "ope".into(),
        "--logs".into(),
        logs.display().to_string(),
        "--train-policy".into(),
    ])
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a mixed log was evaluated: {stderr}");
    assert!(
        stderr.contains("mixes logging policies") && stderr.contains(&format!("{rounds} bandit")),
        "{stderr}"
    );
    // One policy's decisions: the bandit's alone, or the rules' alone.
    let bandit = export("&policy=bandit").await;
    assert_eq!(bandit.status, 200);
    assert_eq!(bandit.text.lines().count() as u64, rounds + 1);
    assert_eq!(
        bandit.text, csv,
        "the bandit's rows are the ones exported before"
    );
    let rules = export("&policy=rules").await;
    assert_eq!(rules.text.lines().count() as u64, rules_rounds + 1);
    assert!(
        rules
            .text
            .lines()
            .skip(1)
            .all(|l| l.split(',').nth(4) == Some("1")),
        "rule decisions log propensity 1"
    );
    // A time range: the decisions so far are all before a time in the future, none after.
    let r = export("&until=2100-01-01").await;
    assert_eq!(r.text.lines().count() as u64, rounds + rules_rounds + 1);
    let r = export("&since=2100-01-01T00:00:00Z").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.text.lines().count(), 1, "only the header: {}", r.text);
    let versions: Value =
        serde_json::from_str(mixed.headers["x-tailor-model-versions"].to_str().unwrap()).unwrap();
    let version = versions
        .as_object()
        .and_then(|v| v.keys().next().cloned())
        .expect("a model version");
    let r = export(&format!("&modelVersion={version}")).await;
    assert_eq!(r.text.lines().count() as u64, rounds + rules_rounds + 1);
    let r = export("&modelVersion=no-such-version").await;
    assert_eq!(r.text.lines().count(), 1);
    // A bad filter is a 400 naming every problem.
    for (query, needle) in [
        ("&policy=thompson", "not a logging policy"),
        ("&since=yesterday", "`since` \"yesterday\" is not a time"),
        (
            "&since=2026-05-02&until=2026-05-01",
            "`since` must be before `until`",
        ),
        ("&limit=0", "`limit` must be at least 1"),
        ("&modelVersion=", "`modelVersion` is empty"),
    ] {
        let r = export(query).await;
        assert_eq!(r.status, 400, "{query}: {}", r.text);
        let body: Value = serde_json::from_str(&r.text).unwrap();
        assert_eq!(body["error"]["code"], "invalid_request", "{query}");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(needle), "{query}: {message}");
    }
    let r = s
        .request(
            axum::http::Method::GET,
            "/v1/decisions/export?policy=thompson&until=soon",
        )
        .bearer(ADMIN_KEY)
        .reply()
        .await;
    let body: Value = serde_json::from_str(&r.text).unwrap();
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        r.status == 400
            && message.contains("placement")
            && message.contains("policy")
            && message.contains("until"),
        "every problem at once: {message}"
    );
    s.stop().await;
}

/// `tailor serve`'s log written to a file (not a terminal) is plain text: no colour codes.
#[test]
fn logs_to_a_file_carry_no_colour_codes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log_path = dir.path().join("serve.log");
    let log = std::fs::File::create(&log_path).expect("log file");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let mut child = Command::new(env!("CARGO_BIN_EXE_tailor"))
        .args(["serve", "--data"])
        .arg(dir.path().join("data"))
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .env("TAILOR_LOG", "info")
        .env_remove("NO_COLOR")
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start tailor serve");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let text = loop {
        let text = std::fs::read_to_string(&log_path).unwrap_or_default();
        if text.contains("serving") || std::time::Instant::now() > deadline {
            break text;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let _ = child.kill();
    let _ = child.wait();
    assert!(text.contains("serving"), "no start-up line in: {text}");
    assert!(
        !text.contains('\u{1b}'),
        "colour codes in the log: {text:?}"
    );
}
