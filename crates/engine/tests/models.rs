//! Model training reads the log's shoppers, not the traffic a sender keeps out of it:
//! messages with `"integrations": {"Tailor": {"training": false}}` (a demo's burst of live
//! visits, a load test) count in profiles but move neither the trained window nor its
//! counts; the window ends at the newest message, not the last to arrive. (The models' quality on a realistic store: `crates/tailor/tests/intent.rs`.)

use serde_json::json;
use tailor_core::Clock;
use tailor_core::time::format_timestamp;
use tailor_testkit::TestEngine;

#[tokio::test(flavor = "multi_thread")]
async fn messages_kept_out_of_training_move_neither_its_window_nor_its_counts() {
    let kit = TestEngine::start().await;
    let start = kit.clock.now() - 30 * 86_400_000;
    let at = |day: i64| format_timestamp(start + day * 86_400_000);
    for day in 0..3 {
        kit.track(
            json!({"anonymousId": format!("a{day}"), "event": "Product Viewed",
            "timestamp": at(day), "properties": {"product_id": "p1"}}),
        )
        .await;
    }
    // Batches arrive concurrently: the log's last message need not be its newest.
    kit.track(
        json!({"anonymousId": "a3", "event": "Product Viewed", "timestamp": at(1),
        "properties": {"product_id": "p1"}}),
    )
    .await;
    let history = kit.train_models().expect("training").window;
    for n in 0..2 {
        let receipt = kit
            .track(
                json!({"anonymousId": "a0", "event": "Order Completed", "timestamp": at(20),
                "properties": {"order_id": format!("live-{n}"), "total": 10},
                "integrations": {"Tailor": {"training": false}}}),
            )
            .await;
        assert_eq!(receipt.accepted, 1, "{receipt:?}");
    }
    assert_eq!(
        kit.profile_json("a0")["orders"]["count"],
        2,
        "still in the profile"
    );
    let version = kit.train_models().expect("training");
    assert_eq!(
        (version.window.from, version.window.to),
        (history.from, history.to.clone())
    );
    assert_eq!(history.to, at(2));
    assert_eq!(version.events, 4);
    assert_eq!(version.people, 4);

    // Unmarked, the same kind of message is trained on.
    kit.track(
        json!({"anonymousId": "a1", "event": "Product Viewed", "timestamp": at(21),
        "properties": {"product_id": "p1"}}),
    )
    .await;
    let version = kit.train_models().expect("training");
    assert_eq!(version.window.to, at(21));
    assert_eq!(version.events, 5);
}
