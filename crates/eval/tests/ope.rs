//! `tailor eval ope` (the library the binary prints) on the Open Bandit sample from
//! `../shared/data`: plain IPW of the BTS policy over the uniform-random logs must reproduce
//! obp's 0.004553, the other estimators must be finite and sane, and bad input must end in a
//! clear error, never a panic.

mod common;

use std::path::Path;

use serde_json::Value;
use tailor_eval::ope::{OpeOptions, evaluate};

use common::{message, shared_data};

/// `tailor eval ope` with the binary's defaults on these logs and target distribution.
fn options(logs: &Path, target: Option<&Path>) -> OpeOptions {
    OpeOptions {
        logs: logs.to_path_buf(),
        target_dist: target.map(Path::to_path_buf),
        target_logs: None,
        item_context: None,
        folds: 3,
        seed: 12345,
        train_policy: false,
        exploration: 0.1,
    }
}

/// The report as `--json` prints it, or the error as the binary prints it.
fn ope(options: OpeOptions) -> Result<Value, String> {
    evaluate(&options)
        .map(|r| r.to_json())
        .map_err(|e| message(&e))
}

fn json_report(result: Result<Value, String>) -> Value {
    result.unwrap_or_else(|e| panic!("tailor eval ope failed: {e}"))
}

fn number(report: &Value, pointer: &str) -> f64 {
    report
        .pointer(pointer)
        .and_then(Value::as_f64)
        .unwrap_or_else(|| panic!("no number at {pointer} in {report}"))
}

#[test]
fn ipw_of_bts_over_random_logs_reproduces_obp() {
    let (Some(random), Some(target), Some(bts_logs)) = (
        shared_data("open-bandit/random/all.csv"),
        shared_data("open-bandit/bts/action_dist_bts_all.csv"),
        shared_data("open-bandit/bts/all.csv"),
    ) else {
        return;
    };
    let report = json_report(ope(OpeOptions {
        target_logs: Some(bts_logs),
        ..options(&random, Some(&target))
    }));

    // obp reports 0.004553; ours must round to the same four significant digits.
    let ipw = number(&report, "/ipw");
    assert!((ipw - 0.004553).abs() < 5e-7, "ipw {ipw}");
    assert!((number(&report, "/on_policy_ctr_of_logs") - 0.0038).abs() < 1e-12);
    assert!((number(&report, "/on_policy_ctr_of_target") - 0.0042).abs() < 1e-12);
    assert!(
        (number(&report, "/relative_error/ipw") - 0.084).abs() < 0.001,
        "{report}"
    );

    for estimator in ["snipw", "dm", "dr"] {
        let value = number(&report, &format!("/{estimator}"));
        // CTRs of both policies are around 0.4%; an estimate off by 2.5× means a broken estimator.
        assert!(
            (0.002..0.01).contains(&value),
            "{estimator} = {value}: {report}"
        );
    }
    for estimator in ["ipw", "snipw", "dm", "dr"] {
        let value = number(&report, &format!("/{estimator}"));
        let low = number(&report, &format!("/ci95/{estimator}/0"));
        let high = number(&report, &format!("/ci95/{estimator}/1"));
        assert!(low < value && value < high, "{estimator}: {report}");
    }
}

#[test]
fn the_learned_policy_is_estimated_with_intervals() {
    let Some(random) = shared_data("open-bandit/random/all.csv") else {
        return;
    };
    let report = json_report(ope(OpeOptions {
        train_policy: true,
        ..options(&random, None)
    }));
    assert!(
        report.get("ipw").is_none(),
        "no target, no target estimates"
    );
    for estimator in ["ipw", "snipw", "dm", "dr"] {
        let value = number(&report, &format!("/tailor_policy/{estimator}"));
        let low = number(&report, &format!("/tailor_policy/ci95/{estimator}/0"));
        let high = number(&report, &format!("/tailor_policy/ci95/{estimator}/1"));
        assert!(
            value.is_finite() && (0.0..1.0).contains(&value) && low <= value && value <= high,
            "{estimator}: {report}"
        );
    }
    // With ε = 0.1 every item keeps probability ≥ ε/80 at every position, so every logged round
    // has a positive weight and the effective sample size is positive.
    assert!(number(&report, "/tailor_policy/effective_sample_size") > 1.0);

    // ε = 1 is the uniform random policy that wrote these logs: IPW must give back their CTR,
    // with a zero paired lift.
    let report = json_report(ope(OpeOptions {
        train_policy: true,
        exploration: 1.0,
        ..options(&random, None)
    }));
    let ipw = number(&report, "/tailor_policy/ipw");
    assert!(
        (ipw - number(&report, "/on_policy_ctr_of_logs")).abs() < 1e-12,
        "{report}"
    );
    assert!(number(&report, "/tailor_policy/lift_over_logs/ipw/value").abs() < 1e-12);
}

/// Runs `tailor eval ope` on files written to a fresh directory and returns its error,
/// checking that it failed.
fn failure(logs: &str, target: &str) -> String {
    let directory = tempfile::tempdir().expect("temp dir");
    let logs_path = directory.path().join("all.csv");
    let target_path = directory.path().join("target.csv");
    std::fs::write(&logs_path, logs).expect("write logs");
    std::fs::write(&target_path, target).expect("write target");
    match ope(options(&logs_path, Some(&target_path))) {
        Ok(report) => panic!("expected a failure, got {report}"),
        Err(message) => message,
    }
}

const HEADER: &str = ",timestamp,item_id,position,click,propensity_score,user_feature_0\n";
const TARGET: &str = "item_id,pos0,pos1\n0,0.5,0.25\n1,0.5,0.75\n";

#[test]
fn bad_input_ends_in_a_clear_error() {
    let good_rows = "0,t,0,1,1,0.5,a\n1,t,1,2,0,0.5,b\n";
    // The fixture itself is fine: only the broken variants below fail.
    let directory = tempfile::tempdir().expect("temp dir");
    let (logs, target) = (
        directory.path().join("l.csv"),
        directory.path().join("t.csv"),
    );
    std::fs::write(&logs, format!("{HEADER}{good_rows}")).expect("write");
    std::fs::write(&target, TARGET).expect("write");
    // Two rounds are too few for a reward model: IPW and SNIPW still come out, DM and DR are
    // reported missing with the reason.
    let report = json_report(ope(options(&logs, Some(&target))));
    assert!((number(&report, "/ipw") - 0.5).abs() < 1e-12, "{report}");
    assert!(
        report["dm"].is_null() && report["reward_model_error"].is_string(),
        "{report}"
    );

    let missing = directory.path().join("missing.csv");
    let error = ope(options(&missing, Some(&target))).expect_err("a missing file");
    assert!(error.contains("missing.csv"), "{error}");

    let stderr = failure(&format!("{HEADER}{good_rows}2,t,1,2\n"), TARGET);
    assert!(
        stderr.contains("line 4") && stderr.contains("fields"),
        "{stderr}"
    );
    let stderr = failure(&format!("{HEADER}{good_rows}2,t,one,2,0,0.5,a\n"), TARGET);
    assert!(
        stderr.contains("line 4") && stderr.contains("item_id"),
        "{stderr}"
    );
    let stderr = failure(&format!("{HEADER}0,t,0,1,1,0,a\n1,t,1,2,0,0.5,b\n"), TARGET);
    assert!(
        stderr.contains("line 2") && stderr.contains("propensity_score 0"),
        "{stderr}"
    );

    // Target distributions of the wrong shape.
    let logs = format!("{HEADER}{good_rows}");
    let stderr = failure(&logs, "item_id,pos0\n0,0.5\n1,0.5\n");
    assert!(
        stderr.contains("1 position columns") && stderr.contains("2 positions"),
        "{stderr}"
    );
    let stderr = failure(&logs, "item_id,pos0,pos1\n0,1.0,1.0\n");
    assert!(
        stderr.contains("item_id 1") && stderr.contains("items 0..0"),
        "{stderr}"
    );
    let stderr = failure(&logs, "item_id,pos0,pos1\n0,0.5,0.5\n1,0.9,0.5\n");
    assert!(
        stderr.contains("not a probability distribution"),
        "{stderr}"
    );

    // Sparse ids (a SKU number as item id) are refused, not allocated.
    let sparse = format!("{HEADER}0,t,4000000000,1,1,0.5,a\n");
    let directory = tempfile::tempdir().expect("temp dir");
    let path = directory.path().join("all.csv");
    std::fs::write(&path, sparse).expect("write");
    let error = ope(OpeOptions {
        train_policy: true,
        ..options(&path, None)
    })
    .expect_err("sparse ids");
    assert!(error.contains("dense"), "{error}");
}
