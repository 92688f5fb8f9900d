//! `tailor eval recs` on the YOOCHOOSE 100k split from `../shared/data`: the protocol must
//! count exactly the predictions session-rec counts, the baselines must land on session-rec's
//! published scores, and Tailor must beat V-SKNN.

mod common;

use serde_json::Value;
use tailor_eval::recs::{RecsOptions, evaluate};

use common::shared_data;

/// session-rec's own scores on this split (HR@20, MRR@20), from `../shared/data/README.md`.
const PUBLISHED: [(&str, f64, f64); 3] = [
    ("pop", 0.089, 0.026),
    ("sr", 0.618, 0.352),
    ("vsknn", 0.688, 0.367),
];

fn score(report: &Value, model: &str, metric: &str) -> f64 {
    report["models"][model][metric]
        .as_f64()
        .unwrap_or_else(|| panic!("no {model} {metric} in {report}"))
}

#[test]
fn eval_recs_reproduces_session_rec_on_yoochoose_100k() {
    let (Some(train), Some(test)) = (
        shared_data("yoochoose-100k/yoochoose-clicks-100k_train_full.txt"),
        shared_data("yoochoose-100k/yoochoose-clicks-100k_test.txt"),
    ) else {
        return;
    };
    let options = RecsOptions {
        train,
        test: Some(test),
        holdout_days: None,
    };
    let report = evaluate(&options).expect("tailor eval recs").to_json();

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
    // Tailor's scores before its work per request was bounded (issue 16): the bounds must
    // cost no accuracy.
    for (metric, floor) in [("hr@20", 0.6968), ("mrr@20", 0.3790)] {
        let tailor = score(&report, "tailor", metric);
        assert!(tailor >= floor, "{metric}: tailor {tailor:.4} < {floor}");
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
