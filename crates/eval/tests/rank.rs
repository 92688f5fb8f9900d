//! `tailor eval rank` on a slice of the YOOCHOOSE 100k split from `../shared/data`: the
//! ranking placement's order must put the next click higher than popularity order and the
//! catalog order, in the whole catalog's list and in the co-click clusters' lists, and higher
//! than the model-free "viewed first, then popularity". The
//! figures of the full run are in BENCHMARKS.md.

mod common;

use serde_json::Value;
use tailor_eval::rank::{RankOptions, evaluate};

use common::{message, shared_data};

fn score(report: &Value, lists: &str, order: &str, metric: &str) -> f64 {
    report["lists"][lists][order][metric]
        .as_f64()
        .unwrap_or_else(|| panic!("no {lists} {order} {metric} in {report}"))
}

#[test]
fn the_ranking_beats_popularity_and_catalog_order_on_yoochoose() {
    let (Some(train), Some(test)) = (
        shared_data("yoochoose-100k/yoochoose-clicks-100k_train_full.txt"),
        shared_data("yoochoose-100k/yoochoose-clicks-100k_test.txt"),
    ) else {
        return;
    };
    let options = RankOptions {
        train,
        test,
        sessions: Some(400),
    };
    let report = evaluate(&options).expect("tailor eval rank").to_json();
    assert_eq!(report["test_sessions"], 400, "{report}");
    assert_eq!(report["trained_items"], 2_933, "{report}");
    for lists in ["catalog", "clusters"] {
        let cases = report["lists"][lists]["cases"].as_u64().unwrap_or(0);
        assert!(cases > 1_000, "{lists}: {cases} cases");
        for metric in ["ndcg@10", "mrr"] {
            let tailor = score(&report, lists, "tailor", metric);
            for baseline in ["popularity", "catalog"] {
                let other = score(&report, lists, baseline, metric);
                assert!(
                    tailor > other + 0.05,
                    "{lists} {metric}: tailor {tailor:.4} vs {baseline} {other:.4}"
                );
            }
            // The model adds to going back to what the shopper viewed (a baseline without one).
            let viewed = score(&report, lists, "viewed_then_popularity", metric);
            assert!(
                tailor > viewed && viewed > score(&report, lists, "popularity", metric),
                "{lists} {metric}: tailor {tailor:.4} vs viewed, then popularity {viewed:.4}"
            );
        }
    }
    // One list of every training item; clusters partition the same items.
    assert_eq!(report["lists"]["catalog"]["lists"], 1);
    assert_eq!(report["lists"]["catalog"]["mean_list_length"], 2_933.0);
    assert!(report["lists"]["clusters"]["lists"].as_u64().unwrap_or(0) > 10);
}

#[test]
fn a_bad_slice_is_refused() {
    let (Some(train), Some(test)) = (
        shared_data("yoochoose-100k/yoochoose-clicks-100k_train_full.txt"),
        shared_data("yoochoose-100k/yoochoose-clicks-100k_test.txt"),
    ) else {
        return;
    };
    let error = evaluate(&RankOptions {
        train,
        test,
        sessions: Some(0),
    })
    .err()
    .expect("refused");
    assert!(
        message(&error).contains("--sessions"),
        "{}",
        message(&error)
    );
}
