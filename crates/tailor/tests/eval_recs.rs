//! `tailor eval recs` on the YOOCHOOSE 100k split from `../shared/data`: the protocol must
//! count exactly the predictions session-rec counts, the baselines must land on session-rec's
//! published scores, and Tailor must beat V-SKNN.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

/// session-rec's own scores on this split (HR@20, MRR@20), from `../shared/data/README.md`.
const PUBLISHED: [(&str, f64, f64); 3] = [
    ("pop", 0.089, 0.026),
    ("sr", 0.618, 0.352),
    ("vsknn", 0.688, 0.367),
];

fn data_file(name: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/yoochoose-100k")
        .join(name);
    assert!(
        path.is_file(),
        "missing data file {} (the shared data sets live beside the project)",
        path.display()
    );
    path
}

fn score(report: &Value, model: &str, metric: &str) -> f64 {
    report["models"][model][metric]
        .as_f64()
        .unwrap_or_else(|| panic!("no {model} {metric} in {report}"))
}

#[test]
fn eval_recs_reproduces_session_rec_on_yoochoose_100k() {
    let output = Command::new(env!("CARGO_BIN_EXE_tailor"))
        .args(["eval", "recs", "--json", "--train"])
        .arg(data_file("yoochoose-clicks-100k_train_full.txt"))
        .arg("--test")
        .arg(data_file("yoochoose-clicks-100k_test.txt"))
        .output()
        .expect("run tailor");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "tailor eval recs failed: {}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_str(stdout.trim()).expect("one JSON object on stdout");

    assert_eq!(report["predictions"], 10_152, "{report}");
    assert!(report["seconds"].as_f64().is_some(), "{report}");
    for (model, hr, mrr) in PUBLISHED {
        let (our_hr, our_mrr) = (
            score(&report, model, "hr@20"),
            score(&report, model, "mrr@20"),
        );
        assert!(
            (our_hr - hr).abs() <= 0.02 && (our_mrr - mrr).abs() <= 0.02,
            "{model}: HR@20 {our_hr:.4} / MRR@20 {our_mrr:.4}, session-rec {hr} / {mrr}"
        );
    }
    for metric in ["hr@20", "mrr@20"] {
        let (tailor, vsknn) = (
            score(&report, "tailor", metric),
            score(&report, "vsknn", metric),
        );
        assert!(
            tailor > vsknn,
            "{metric}: tailor {tailor:.4} ≤ vsknn {vsknn:.4}"
        );
    }
}
