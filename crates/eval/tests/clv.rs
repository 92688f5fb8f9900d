//! `tailor eval clv` (the library the binary prints): on the shared CDNOW files it must reproduce the
//! published fits from the cohort summary, and on the full transaction file it must count the
//! hold-out exactly and predict it within the models' known accuracy; on bad input it must say
//! what is wrong (or what it skipped) and never panic.

mod common;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde_json::Value;
use tailor_eval::clv::{ClvOptions, evaluate};

use common::{message, shared_data};

/// `tailor eval clv --json`: the report, or the error as the binary prints it.
fn clv(options: ClvOptions) -> Result<Value, String> {
    evaluate(&options)
        .map(|e| e.to_json())
        .map_err(|e| message(&e))
}

fn transactions(file: &Path, calibration_end: &str) -> ClvOptions {
    ClvOptions {
        transactions: Some(file.to_path_buf()),
        calibration_end: Some(calibration_end.into()),
        ..ClvOptions::default()
    }
}

fn json_report(result: Result<Value, String>) -> Value {
    result.unwrap_or_else(|e| panic!("tailor eval clv failed: {e}"))
}

fn number(report: &Value, path: &[&str]) -> f64 {
    let mut value = report;
    for key in path {
        value = &value[*key];
    }
    value
        .as_f64()
        .unwrap_or_else(|| panic!("no number at {path:?} in {report}"))
}

fn relative_difference(ours: f64, published: f64) -> f64 {
    (ours - published).abs() / published.abs()
}

/// Fader, Hardie & Lee (2005) and Fader & Hardie (2013) on the 2,357-customer cohort.
const PUBLISHED: [(&str, &str, f64); 13] = [
    ("bgnbd", "r", 0.2426),
    ("bgnbd", "alpha", 4.4136),
    ("bgnbd", "a", 0.7929),
    ("bgnbd", "b", 2.4259),
    ("bgnbd", "loglik", -9582.43),
    ("pareto_nbd", "r", 0.5533),
    ("pareto_nbd", "alpha", 10.5776),
    ("pareto_nbd", "s", 0.6062),
    ("pareto_nbd", "beta", 11.6679),
    ("pareto_nbd", "loglik", -9594.97),
    ("gamma_gamma", "p", 6.2488),
    ("gamma_gamma", "q", 3.7446),
    ("gamma_gamma", "gamma", 15.4477),
];

#[test]
fn the_cohort_summary_reproduces_the_published_fits() {
    let Some(file) = shared_data("cdnow/cdnow_customers_summary_with_transactions.csv") else {
        return;
    };
    let report = json_report(clv(ClvOptions {
        summary: Some(file),
        ..ClvOptions::default()
    }));
    assert_eq!(report["customers"], 2357, "{report}");
    assert!(report["holdout"].is_null(), "a summary has no hold-out");
    for (model, parameter, published) in PUBLISHED {
        let ours = number(&report, &[model, parameter]);
        assert!(
            relative_difference(ours, published) < 5e-3,
            "{model} {parameter}: {ours} vs published {published}"
        );
    }
}

/// The truth, counted here independently of tailor: the cohort (customers who bought on or
/// before the calibration end), its distinct (customer, day) purchases after it, and the
/// zero-amount lines of the calibration period.
fn holdout_truth(master: &Path, calibration_end: u32) -> (usize, usize, usize) {
    let text = std::fs::read_to_string(master).expect("readable master");
    let mut free_calibration_orders = 0;
    let rows: Vec<(String, u32)> = text
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let date: u32 = fields.get(1)?.parse().ok()?;
            let amount: f64 = fields.get(3)?.parse().ok()?;
            free_calibration_orders += usize::from(amount == 0.0 && date <= calibration_end);
            Some((fields.first()?.to_string(), date))
        })
        .collect();
    let cohort: HashSet<&String> = rows
        .iter()
        .filter(|(_, date)| *date <= calibration_end)
        .map(|(customer, _)| customer)
        .collect();
    let holdout_purchases: HashSet<&(String, u32)> = rows
        .iter()
        .filter(|(customer, date)| *date > calibration_end && cohort.contains(customer))
        .collect();
    (
        cohort.len(),
        holdout_purchases.len(),
        free_calibration_orders,
    )
}

#[test]
fn the_full_transaction_file_predicts_its_holdout() {
    let Some(master) = shared_data("cdnow/CDNOW_master.txt") else {
        return;
    };
    let report = json_report(clv(ClvOptions {
        holdout_end: Some("1998-06-30".into()),
        ..transactions(&master, "1997-09-30")
    }));
    let (customers, actual, free_orders) = holdout_truth(&master, 19_970_930);
    let holdout = &report["holdout"];
    assert_eq!(report["customers"], customers, "{report}");
    assert_eq!(holdout["customers"], customers, "{holdout}");
    assert_eq!(number(holdout, &["actual_total"]), actual as f64);

    // The full file is the whole cohort the published 1/10 sample was drawn from, so its
    // fits land near the published ones (measured: within 11 % for BG/NBD, 9 % for
    // Gamma-Gamma) and its log-likelihood is about ten times the sample's.
    for (model, parameter, published) in PUBLISHED {
        let ours = number(&report, &[model, parameter]);
        let (tolerance, published) = match (model, parameter) {
            (_, "loglik") => (0.05, 10.0 * published),
            ("pareto_nbd", "beta") => (0.3, published),
            ("pareto_nbd", _) => (0.2, published),
            _ => (0.15, published),
        };
        assert!(
            relative_difference(ours, published) < tolerance,
            "{model} {parameter}: {ours} vs about {published}"
        );
    }

    // Over the 39-week hold-out both models under-predict repeat purchases by ~14 %, and
    // lifetimes gives the same total (16,874 vs 19,684; scripts/clv/lifetimes_pipeline.py
    // --holdout): the hold-out buys faster than calibration did. 15 % guards against
    // anything worse.
    for model in [holdout, &holdout["pareto_nbd"]] {
        let predicted = number(model, &["predicted_total"]);
        assert!(
            relative_difference(predicted, actual as f64) < 0.15,
            "predicted {predicted} vs actual {actual}"
        );
        let correlation = number(model, &["corr"]);
        assert!((0.5..1.0).contains(&correlation), "corr {correlation}");
        assert!(number(model, &["mae"]) <= number(model, &["rmse"]));
    }

    let weekly = report["weekly"].as_array().expect("weekly curve");
    assert_eq!(weekly.len(), 39);
    let last = weekly.last().expect("39 weeks");
    assert_eq!(number(last, &["actual"]), actual as f64);
    assert!(
        relative_difference(
            number(last, &["bgnbd"]),
            number(holdout, &["predicted_total"])
        ) < 1e-9
    );
    for pair in weekly.windows(2) {
        assert!(number(&pair[1], &["actual"]) >= number(&pair[0], &["actual"]));
        assert!(number(&pair[1], &["bgnbd"]) > number(&pair[0], &["bgnbd"]));
    }
    assert_eq!(report["skipped"]["unreadable_rows"], 0, "{report}");
    assert_eq!(
        report["skipped"]["zero_amounts_kept"], free_orders,
        "{report}"
    );
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write test file");
    path
}

fn failure_message(result: Result<Value, String>) -> String {
    match result {
        Ok(report) => panic!("expected a failure: {report}"),
        Err(message) => message,
    }
}

/// A real shop in small: the CDNOW lines of customers 1–3000 (header first), enough
/// for every fit to converge.
fn small_shop(master: &Path) -> String {
    let text = std::fs::read_to_string(master).expect("readable master");
    text.lines()
        .take_while(|line| {
            let customer = line.split_whitespace().next().unwrap_or("");
            customer.parse::<u32>().map_or(true, |c| c <= 3000)
        })
        .map(|line| format!("{line}\n"))
        .collect()
}

#[test]
fn bad_input_is_reported_not_panicked_on() {
    let Some(master) = shared_data("cdnow/CDNOW_master.txt") else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let calibration = |file: &Path| transactions(file, "1997-09-30");

    let missing = clv(calibration(&dir.path().join("nope.txt")));
    assert!(failure_message(missing).contains("nope.txt"));

    let garbage = write(
        dir.path(),
        "garbage.txt",
        "hello world\nthis is\nnot a file\n1 19970101 1 2\n",
    );
    assert!(failure_message(clv(calibration(&garbage))).contains("unreadable"));

    let shop = small_shop(&master);
    let good = write(dir.path(), "shop.txt", &shop);
    let bad_end = clv(transactions(&good, "1997-02-30"));
    assert!(failure_message(bad_end).contains("--calibration-end"));

    // A few bad rows among good ones are skipped and counted; order does not matter.
    let mut lines: Vec<&str> = shop.lines().collect();
    lines[1..].reverse();
    let mixed = format!(
        "{}\n7 1997-13-01 1 5\n8 19970105 1 lots\n9 19970106 1 -3\n",
        lines.join("\n")
    );
    let mixed = write(dir.path(), "mixed.txt", &mixed);
    let report = json_report(clv(calibration(&mixed)));
    let skipped = &report["skipped"];
    assert_eq!(skipped["unreadable_rows"], 2, "{report}");
    assert_eq!(skipped["bad_dates"], 1, "{report}");
    assert_eq!(skipped["negative_amounts"], 1, "{report}");
    assert!(
        skipped["first_unreadable"]
            .as_str()
            .is_some_and(|f| f.contains("1997-13-01")),
        "{report}"
    );

    // Only single-purchase customers: nothing to learn spend or drop-out from. Either a clear
    // error or a report without Gamma-Gamma — never a panic.
    let singles: String = (0..300)
        .map(|c| format!("{c} 199701{:02} 1 10\n", 1 + c % 28))
        .collect();
    let singles = write(dir.path(), "singles.txt", &singles);
    match clv(calibration(&singles)) {
        Ok(report) => assert!(report["gamma_gamma"].is_null()),
        Err(message) => assert!(message.contains("fitting"), "{message}"),
    }

    // Calibration before any purchase: nothing to calibrate on.
    let early = clv(transactions(&good, "1990-01-01"));
    assert!(failure_message(early).contains("calibration end"));
}
