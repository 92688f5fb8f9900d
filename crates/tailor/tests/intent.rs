//! The intent models on a demo the real binary builds (3,000 shoppers, shared by the tests
//! here): `tailor eval intent` must beat every baseline on the held-out weeks; `tailor train`
//! records a model version that beats its baselines on the newest weeks; a served store
//! trains on start, shows predictions on profiles and exports, lets targeting conditions and
//! the promotion placement use them, serves the per-category forecast to analysts, and swaps
//! a newly trained version in while serving.
//! Bad input fails with a message, not a panic.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::{ADMIN_KEY, ANALYST_KEY, Server, WRITE_KEY};
use serde_json::{Value, json};

fn tailor(args: &[&str], data: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tailor"))
        .args(args)
        .arg("--data")
        .arg(data)
        .env("TAILOR_LOG", "warn")
        .output()
        .expect("run tailor")
}

fn succeed(args: &[&str], data: &Path) -> String {
    let output = tailor(args, data);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "tailor {args:?} failed: {}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

fn fails_with(args: &[&str], data: &Path, needle: &str) {
    let output = tailor(args, data);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{args:?} succeeded");
    assert!(
        stderr.contains(needle) && !stderr.contains("panicked"),
        "{args:?}: {stderr}"
    );
}

/// The demo every test here reads, built once. 3,000 shoppers: with fewer, a week holds too
/// few orders for the 7-day models to separate reliably (at 1,500 their AUCs differ by about
/// their standard error). No live phase: its visits arrive within seconds at the end of the
/// log, a burst of orders the history does not predict (the newest week would hold four
/// times its usual orders).
fn demo() -> &'static Path {
    static DEMO: OnceLock<PathBuf> = OnceLock::new();
    DEMO.get_or_init(|| {
        // Under the target directory (not a temporary one: a static is never dropped), and
        // rebuilt (`--fresh`) on every run.
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("intent-demo");
        succeed(
            &[
                "demo",
                "--no-serve",
                "--fresh",
                "--shoppers",
                "3000",
                "--live-visits",
                "0",
            ],
            &dir,
        );
        dir
    })
}

fn number(report: &Value, path: &str) -> f64 {
    report
        .pointer(path)
        .and_then(Value::as_f64)
        .unwrap_or_else(|| panic!("no number at {path} in {report}"))
}

#[test]
fn every_intent_model_beats_its_baseline_on_the_demo() {
    let data = demo();
    let stdout = succeed(&["eval", "intent", "--json"], data);
    let report: Value = serde_json::from_str(stdout.trim()).expect("one JSON object on stdout");
    let n = |path: &str| number(&report, path);

    // The session model sees the visit itself; recency and frequency barely can.
    for (task, margin) in [("session", 0.1), ("seven_day", 0.01)] {
        let p = |rest: &str| n(&format!("/propensity/{task}{rest}"));
        assert!(p("/examples") > 100.0, "{task}: too few examples: {report}");
        assert!(
            p("/model/auc") > p("/baseline/auc") + margin,
            "{task}: AUC {} vs recency/frequency {}",
            p("/model/auc"),
            p("/baseline/auc")
        );
        assert!(
            p("/model/log_loss") < p("/baseline/log_loss"),
            "{task}: log loss {} vs recency/frequency {}",
            p("/model/log_loss"),
            p("/baseline/log_loss")
        );
        // Calibrated: on average a decile's predicted rate is within 3 points of what happened.
        assert!(
            p("/model/calibration_error") < 0.03,
            "{task}: calibration error {}",
            p("/model/calibration_error")
        );
        let bins = report
            .pointer(&format!("/propensity/{task}/model/calibration"))
            .and_then(Value::as_array)
            .expect("calibration table");
        assert_eq!(bins.len(), 10);
    }

    let (model, baseline) = (
        n("/next_category/model/recall@3"),
        n("/next_category/baseline/recall@3"),
    );
    assert!(
        model > 1.2 * baseline,
        "next category: recall@3 {model} vs popularity {baseline}"
    );

    let (model, baseline) = (
        n("/send_time/model/hit_rate"),
        n("/send_time/baseline/hit_rate"),
    );
    assert!(
        model > baseline + 0.1,
        "send time: hit rate {model} vs fixed time {baseline}"
    );
    assert!(
        n("/send_time/model/mean_log_likelihood") > n("/send_time/baseline/mean_log_likelihood")
    );

    assert_eq!(n("/forecast/weeks"), 4.0);
    let (model, baseline) = (
        n("/forecast/orders_wape/model"),
        n("/forecast/orders_wape/baseline"),
    );
    assert!(
        model < baseline,
        "forecast: orders WAPE {model} vs naive {baseline}"
    );
    let categories = report["forecast"]["categories"]
        .as_array()
        .expect("per-category rows");
    assert_eq!(categories.len() as f64, n("/data/categories"));

    // Against what the shoppers were simulated from: their email reading hours and the
    // categories they took up after the cut.
    let (model, baseline) = (
        n("/truth/send_hour_within_1h_of_reading_hour/model"),
        n("/truth/send_hour_within_1h_of_reading_hour/baseline"),
    );
    assert!(
        model > baseline + 0.3,
        "send hour vs reading hour: {model} vs fixed time {baseline}"
    );
    let (model, baseline) = (
        n("/truth/new_interest_in_top_3/model"),
        n("/truth/new_interest_in_top_3/baseline"),
    );
    assert!(
        model > 2.0 * baseline && n("/truth/new_interest_in_top_3/shoppers") > 50.0,
        "new interest in top 3: {model} vs popularity {baseline}"
    );

    // 60 days of demo cannot hold out 50 and keep two weeks to learn from.
    fails_with(&["eval", "intent", "--split-days", "50"], data, "too short");

    // The readable form names every task.
    let table = succeed(&["eval", "intent"], data);
    for heading in [
        "Purchase propensity",
        "Next-category",
        "Send time",
        "Forecast",
        "hidden truth",
    ] {
        assert!(table.contains(heading), "no {heading:?} in\n{table}");
    }
}

#[test]
fn bad_input_fails_with_a_message() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let missing = tmp.path().join("missing");
    fails_with(&["eval", "intent"], &missing, "no data directory");
    assert!(!missing.exists(), "a missing directory must not be created");
    fails_with(&["eval", "intent"], tmp.path(), "no tailor.db");
    fails_with(
        &["eval", "intent", "--split-days", "3"],
        tmp.path(),
        "--split-days",
    );
    let empty = tmp.path().join("empty");
    drop(tailor_store::SqliteStore::open(&empty).expect("an empty store"));
    fails_with(&["eval", "intent"], &empty, "is empty");
}

fn n(v: &Value, path: &str) -> f64 {
    v.pointer(path)
        .and_then(Value::as_f64)
        .unwrap_or_else(|| panic!("no number at {path} in {v}"))
}

async fn get(s: &Server, path: &str, key: &str) -> (u16, Value) {
    let r = s
        .http
        .get(s.url(path))
        .bearer_auth(key)
        .send()
        .await
        .expect("request");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Waits until version `version` is the active one.
async fn wait_for_version(s: &Server, version: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (status, models) = get(s, "/v1/models", ANALYST_KEY).await;
        assert_eq!(status, 200, "{models}");
        if models["active"].as_u64() == Some(version) {
            return models;
        }
        assert!(
            Instant::now() < deadline,
            "version {version} was not trained in time: {models}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_train_beat_their_baselines_and_serve_predictions() {
    let data = demo();

    // The demo trained version 1; `tailor train` on the stopped store records version 2.
    let stdout = succeed(&["train", "--json"], data);
    let version: Value = serde_json::from_str(stdout.trim()).expect("one JSON object");
    assert_eq!(version["version"], 2, "{version}");
    assert_eq!(version["status"], "active");
    assert_eq!(
        version["skipped"],
        json!([]),
        "every model trains: {version}"
    );
    let e = &version["evaluation"];
    for (task, margin) in [
        ("purchase_intent_session", 0.05),
        ("purchase_intent_7d", 0.0),
    ] {
        let p = |rest: &str| n(e, &format!("/{task}{rest}"));
        assert!(p("/test_positives") >= 10.0, "{task}: {e}");
        assert!(
            p("/auc") > p("/baseline/auc") + margin,
            "{task}: AUC {} vs recency/frequency {}",
            p("/auc"),
            p("/baseline/auc")
        );
        assert!(p("/log_loss") < p("/baseline/log_loss"), "{task}: {e}");
        assert!(p("/calibration_error") < 0.05, "{task}: {e}");
    }
    assert!(
        n(e, "/send_time/hit_rate") > n(e, "/send_time/baseline/hit_rate") + 0.05,
        "send time: {e}"
    );
    let holdout = &e["lifetime_value"]["holdout"];
    match holdout["skipped"].as_str() {
        // A refit on 4 weeks less history can land on the boundary; it must say so.
        Some(why) => assert!(why.contains("degenerate"), "{holdout}"),
        None => {
            assert!(n(holdout, "/customers") > 50.0, "{e}");
            let (predicted, actual) = (n(holdout, "/predicted_total"), n(holdout, "/actual_total"));
            assert!(
                predicted > 0.5 * actual && predicted < 2.0 * actual,
                "BG/NBD's next four weeks: {predicted} vs {actual}"
            );
        }
    }
    assert!(n(e, "/lifetime_value/bgnbd/r") > 0.0, "{e}");
    let recall = n(e, "/next_categories/recall_at_3");
    assert!((0.0..=1.0).contains(&recall));
    // The forecast as of 4 weeks back, per category and week, beats repeating the mean of the
    // 4 weeks before. On this demo the store grows, which the naive mean lags: measured 35 %
    // vs 51 %; 5 points is a third of that gap.
    let f = &e["forecast"];
    assert_eq!(n(f, "/weeks"), 4.0, "{f}");
    let (model, naive) = (n(f, "/orders_wape/model"), n(f, "/orders_wape/baseline"));
    assert!(
        model + 0.05 < naive,
        "forecast: orders WAPE {model} vs naive {naive}"
    );
    assert!(n(f, "/revenue_wape/model").is_finite(), "{f}");
    let evaluated: Vec<String> = f["categories"]
        .as_array()
        .expect("per-category rows")
        .iter()
        .map(|c| {
            assert!(
                n(c, "/model_orders") >= 0.0 && n(c, "/baseline_orders") >= 0.0,
                "{c}"
            );
            c["category"].as_str().expect("a name").to_string()
        })
        .collect();
    // The readable form names every model.
    let table = succeed(&["train"], data);
    for heading in [
        "Purchase intent (this session)",
        "Lifetime value",
        "Send time",
        "Forecast per category",
    ] {
        assert!(table.contains(heading), "no {heading:?} in\n{table}");
    }

    // Served, the store trains on start (models live in memory: version 4 after the table's 3).
    let s = Server::start(data).await;
    let models = wait_for_version(&s, 4).await;
    assert!(models["versions"].as_array().unwrap().len() >= 4);
    let (status, _) = get(&s, "/v1/models", WRITE_KEY).await;
    assert!(
        status == 401 || status == 403,
        "write key reads models: {status}"
    );

    // The forecast for the next 4 weeks: every leaf category of the catalog (the rows the
    // evaluation scored), non-negative orders and revenue; analysts read it, the write key not.
    let (status, forecast) = get(&s, "/v1/forecast", ANALYST_KEY).await;
    assert_eq!(status, 200, "{forecast}");
    assert_eq!(forecast["model_version"], 4, "{forecast}");
    assert_eq!(
        forecast["weeks"].as_array().map(Vec::len),
        Some(4),
        "{forecast}"
    );
    let (_, tree) = get(&s, "/v1/catalog/categories", ADMIN_KEY).await;
    fn leaves(nodes: &Value, out: &mut Vec<String>) {
        for node in nodes.as_array().into_iter().flatten() {
            match node["children"].as_array() {
                Some(children) if !children.is_empty() => leaves(&node["children"], out),
                _ => out.push(node["path"].as_str().expect("a path").to_string()),
            }
        }
    }
    let mut catalog = Vec::new();
    leaves(&tree["categories"], &mut catalog);
    catalog.sort();
    assert!(catalog.len() > 10, "{tree}");
    let mut served = Vec::new();
    for c in forecast["categories"].as_array().expect("categories") {
        for key in ["orders", "revenue"] {
            let weeks = c[key].as_array().expect("weekly numbers");
            assert_eq!(weeks.len(), 4, "{c}");
            assert!(weeks.iter().all(|x| x.as_f64() >= Some(0.0)), "{c}");
        }
        served.push(c["category"].as_str().expect("a name").to_string());
    }
    assert_eq!(served, catalog, "served rows");
    assert_eq!(evaluated, catalog, "evaluated rows");
    assert!(n(&forecast, "/totals/orders/0") > 0.0, "{forecast}");
    let (status, _) = get(&s, "/v1/forecast", WRITE_KEY).await;
    assert!(
        status == 401 || status == 403,
        "write key reads the forecast: {status}"
    );

    // A repeat customer of the demo has every prediction.
    let truth: Value =
        serde_json::from_slice(&std::fs::read(data.join("demo-truth.json")).expect("demo truth"))
            .expect("truth json");
    let mut customer = None;
    for user in truth["shoppers"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["userId"].as_str())
    {
        let (status, profile) = get(&s, &format!("/v1/profiles/{user}"), ADMIN_KEY).await;
        if status == 200 && profile["orders"]["count"].as_u64() >= Some(2) {
            customer = Some((user.to_string(), profile));
            break;
        }
    }
    let (user, profile) = customer.expect("a repeat customer in the demo");
    let p = &profile["predictions"];
    assert_eq!(p["model_version"], 4, "{p}");
    let alive = n(p, "/p_alive");
    assert!((0.0..=1.0).contains(&alive), "{p}");
    assert!((n(p, "/churn_risk") - (1.0 - alive)).abs() < 1e-3, "{p}");
    assert!(
        n(p, "/clv") >= 0.0 && n(p, "/expected_orders_90d") >= 0.0,
        "{p}"
    );
    assert_eq!(p["predicted_value"], p["clv"], "{p}");
    for key in ["purchase_intent_session", "purchase_intent_7d"] {
        assert!((0.0..1.0).contains(&n(p, &format!("/{key}"))), "{key}: {p}");
    }
    assert!(n(p, "/best_send_hour") < 24.0, "{p}");
    assert!(p["next_categories"].is_array(), "{p}");
    // The export carries them too.
    let (status, export) = get(&s, &format!("/v1/profiles/{user}/export"), ADMIN_KEY).await;
    assert_eq!(status, 200);
    assert_eq!(
        export["predictions"]["model_version"], 4,
        "{}",
        export["predictions"]
    );

    // The navigation placement carries the next categories as "new for you".
    let (status, answer) = s
        .post(
            "/v1/decide",
            &json!({"userId": user, "placements": ["nav.categories"]}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let nav = &answer["decisions"]["nav.categories"];
    if p["next_categories"]
        .as_array()
        .is_some_and(|c| !c.is_empty())
    {
        assert_eq!(nav["newForYou"], p["next_categories"], "{nav}");
    } else {
        assert!(nav["newForYou"].is_null(), "{nav}");
    }

    // Targeting conditions read predictions: an offer for everyone the model scored beats
    // the demo's own, and says why.
    let (status, body) = s
        .admin_put(
            "/v1/catalog/content",
            &json!([{
                "id": "promo-test-predicted", "kind": "promotion", "placements": ["promo.banner"],
                "title": "A test offer",
                "targeting": {"condition": {"predictions.purchase_intent_7d": {"$gte": 0}}, "priority": 99}
            }]),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let decide = |user: Option<&str>| {
        let body = match user {
            Some(u) => json!({"userId": u, "placements": ["promo.banner"]}),
            None => json!({"anonymousId": "never-seen-before", "placements": ["promo.banner"]}),
        };
        let s = &s;
        async move {
            let (status, answer) = s.post("/v1/decide", &body).await;
            assert_eq!(status, 200, "{answer}");
            answer["decisions"]["promo.banner"].clone()
        }
    };
    let answer = decide(Some(&user)).await;
    assert_eq!(answer["item"]["id"], "promo-test-predicted", "{answer}");
    assert!(
        answer["explanation"]
            .as_str()
            .unwrap()
            .contains("our model"),
        "{answer}"
    );
    // Someone Tailor knows nothing about has no predictions, so the condition fails.
    let answer = decide(None).await;
    assert_ne!(answer["item"]["id"], "promo-test-predicted", "{answer}");

    // A journey entered when a prediction crosses a threshold: a new visitor has none until
    // their first event, then their session intent is known and they enter.
    let (status, body) = s
        .admin_put(
            "/v1/journeys/intent-watch",
            &json!({"trigger": {"segment": {"predictions.purchase_intent_session": {"$gte": 0}}},
                    "steps": [{"id": "done", "type": "exit"}]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = s
        .post(
            "/v1/track",
            &json!({"anonymousId": "first-visit", "event": "Product Viewed",
                    "properties": {"product_id": "p-0001"}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, stats) = get(&s, "/v1/journeys/intent-watch/stats", ADMIN_KEY).await;
        if stats["journey"]["entered"].as_i64() == Some(1) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no entry on the prediction: {stats}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A new version is trained while serving and swapped in; a second request while it
    // runs is refused, not queued.
    let (status, body) = s.admin_post("/v1/models/train", &json!({})).await;
    assert_eq!(status, 202, "{body}");
    let (status, body) = s.admin_post("/v1/models/train", &json!({})).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "conflict");
    wait_for_version(&s, 5).await;
    let (_, profile) = get(&s, &format!("/v1/profiles/{user}"), ADMIN_KEY).await;
    assert_eq!(profile["predictions"]["model_version"], 5);
    let (status, _) = s
        .http
        .post(s.url("/v1/models/train"))
        .bearer_auth(ANALYST_KEY)
        .send()
        .await
        .map(|r| (r.status().as_u16(), ()))
        .unwrap();
    assert_eq!(status, 403, "analysts read models but do not train them");

    // The models learned from everyone: erasing someone retrains them without that person
    // (within a minute: the schedule waits 30 s for erasures to settle).
    let last_people =
        |models: &Value| models["versions"].as_array().unwrap().last().unwrap()["people"].as_u64();
    let (_, before) = get(&s, "/v1/models", ADMIN_KEY).await;
    let (status, body) = s.admin_delete(&format!("/v1/profiles/{user}")).await;
    assert_eq!(status, 200, "{body}");
    let retrained = wait_for_version(&s, 6).await;
    assert_eq!(
        last_people(&retrained).map(|n| n + 1),
        last_people(&before),
        "the retrained version has one person less"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn training_an_empty_store_is_a_clear_error() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let s = Server::start(tmp.path()).await;
    let (status, body) = s.admin_post("/v1/models/train", &json!({})).await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("empty"),
        "{body}"
    );
    let (status, models) = get(&s, "/v1/models", ADMIN_KEY).await;
    assert_eq!(status, 200);
    assert_eq!(models["active"], Value::Null);
    let (status, body) = get(&s, "/v1/forecast", ANALYST_KEY).await;
    assert_eq!(status, 409, "no forecast before a model: {body}");
    assert_eq!(body["error"]["code"], "conflict");
    drop(s);
    let output = tailor(&["train"], tmp.path());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("empty") && !stderr.contains("panicked"),
        "{stderr}"
    );
    let missing = tmp.path().join("missing");
    let output = tailor(&["train"], &missing);
    assert!(String::from_utf8_lossy(&output.stderr).contains("no tailor.db"));
    assert!(!missing.exists(), "a missing directory must not be created");
}
