//! `tailor demo --seed N` twice builds the same store: the same catalog and history, so the
//! same event counts, funnel and profiles (`--help` says what may still vary: the live
//! visits' orders, which follow recommendations from models trained in the background).
//! Builds a few seconds apart share a clock hour; that the history does not depend on the
//! hour or the day it is built is `simulate`'s unit test
//! (`the_same_seed_gives_the_same_events_at_any_hour_and_on_any_day`).

use std::path::Path;
use std::process::Command;

use serde_json::Value;

fn build(dir: &Path) -> (Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tailor"))
        .args([
            "demo",
            "--no-serve",
            "--fresh",
            "--seed",
            "42",
            "--shoppers",
            "300",
        ])
        .args([
            "--days",
            "21",
            "--products",
            "120",
            "--live-visits",
            "100",
            "--data",
        ])
        .arg(dir)
        .env("TAILOR_LOG", "warn")
        .output()
        .expect("run tailor demo");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "tailor demo failed:\n{stderr}");
    let summary = std::fs::read(dir.join("demo-complete")).expect("the completion file");
    (serde_json::from_slice(&summary).expect("JSON"), stderr)
}

#[test]
fn the_same_seed_builds_the_same_store_and_history() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (a, a_log) = build(&tmp.path().join("a"));
    let (b, b_log) = build(&tmp.path().join("b"));
    for field in [
        "events",
        "duplicates",
        "profiles",
        "products",
        "categories",
        "content",
        "funnel",
    ] {
        assert_eq!(a[field], b[field], "{field} differs:\n{a_log}\n{b_log}");
    }
    assert!(a["events"].as_u64().unwrap_or(0) > 5_000, "{a}");
    let live = |log: &str| {
        log.lines()
            .find(|l| l.contains("live:"))
            .unwrap_or("")
            .to_string()
    };
    eprintln!(
        "live phase, first build: {}\nsecond build: {}",
        live(&a_log),
        live(&b_log)
    );
}
