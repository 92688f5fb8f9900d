//! `tailor eval intent` on a demo the real binary builds: every model must beat its baseline
//! on the demo's held-out weeks, and bad input must fail with a message, not a panic.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

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

fn number(report: &Value, path: &str) -> f64 {
    report
        .pointer(path)
        .and_then(Value::as_f64)
        .unwrap_or_else(|| panic!("no number at {path} in {report}"))
}

#[test]
fn every_intent_model_beats_its_baseline_on_the_demo() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("demo");
    succeed(
        // 3,000 shoppers: with fewer, a week holds too few orders for the 7-day AUCs to
        // separate reliably (at 1,500 they differ by about their standard error).
        &["demo", "--no-serve", "--fresh", "--shoppers", "3000"],
        &data,
    );
    let stdout = succeed(&["eval", "intent", "--json"], &data);
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
    fails_with(
        &["eval", "intent", "--split-days", "50"],
        &data,
        "too short",
    );

    // The readable form names every task.
    let table = succeed(&["eval", "intent"], &data);
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
