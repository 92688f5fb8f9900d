//! The lock order under load: decisions, ingest and catalog replacement run at once for a
//! few seconds, and the test fails if any of them stops making progress. With the order
//! broken (decide taking the registry before the catalog while the writer takes the catalog
//! before the registry), a queued catalog write closes a cycle between the three within a
//! second on two cores, and this test fails.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tailor_core::message::{Envelope, parse_message};
use tailor_core::{Message, MessageType, Product, SystemClock};
use tailor_engine::{DecideInput, Engine, Options, Origin};
use tailor_store::SqliteStore;

/// How long the three run together.
const RUN_FOR: Duration = Duration::from_secs(4);
/// A request that takes longer than this is stalled (a healthy one takes milliseconds).
const STALL: Duration = Duration::from_secs(5);

fn product(i: usize, generation: u64) -> Product {
    Product::from_json(json!({
        "id": format!("sku-{i}"), "name": format!("Product {i} v{generation}"),
        "category": ["Shoes", if i.is_multiple_of(2) { "Running" } else { "Trail" }],
        "price": 20 + i, "stock": 5,
    }))
    .expect("a valid product")
}

fn view(visitor: u64, sku: usize, n: u64) -> Message {
    let value = json!({"anonymousId": format!("a-{visitor}"), "event": "Product Viewed",
        "messageId": format!("m-{visitor}-{n}"), "properties": {"product_id": format!("sku-{sku}")}});
    let envelope = Envelope {
        received_at: tailor_core::time::parse_timestamp("2026-12-01T12:00:00Z").unwrap_or(0),
        sent_at: None,
        context: None,
        integrations: None,
    };
    parse_message(value, Some(MessageType::Track), &envelope, || {
        format!("gen-{n}")
    })
    .expect("a valid message")
}

/// Runs `step` until `stop`, counting completions and failing on any stalled one.
fn hammer(
    name: &'static str,
    stop: Arc<AtomicBool>,
    done: Arc<AtomicU64>,
    mut step: impl FnMut(u64) + Send + 'static,
) -> std::thread::JoinHandle<Result<(), String>> {
    std::thread::spawn(move || {
        let mut n = 0;
        while !stop.load(Ordering::Relaxed) {
            let started = Instant::now();
            step(n);
            let took = started.elapsed();
            if took > STALL {
                return Err(format!("{name} call {n} took {took:?}"));
            }
            n += 1;
            done.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    })
}

#[test]
fn decide_ingest_and_catalog_writes_never_stall_each_other() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = Arc::new(SqliteStore::open(dir.path()).expect("a store"));
    let (engine, _) =
        Engine::open(store, Arc::new(SystemClock), Options::default()).expect("an engine");
    engine
        .put_products((0..200).map(|i| product(i, 0)).collect())
        .expect("a catalog");
    let runtime = Arc::new(
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime"),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let counters: Vec<Arc<AtomicU64>> = (0..4).map(|_| Arc::new(AtomicU64::new(0))).collect();
    let mut threads = Vec::new();
    for (k, counter) in counters.iter().take(2).enumerate() {
        let engine = engine.clone();
        threads.push(hammer("decide", stop.clone(), counter.clone(), move |n| {
            let out = engine.decide(DecideInput {
                anonymous_id: Some(format!("a-{}", (n * 7 + k as u64) % 50)),
                placements: vec![
                    "home.hero".into(),
                    "nav.categories".into(),
                    "recs.home".into(),
                ],
                context: serde_json::Map::from_iter([("productId".into(), Value::from("sku-3"))]),
                ..Default::default()
            });
            assert!(out.is_ok(), "{out:?}");
        }));
    }
    {
        let (engine, runtime) = (engine.clone(), runtime.clone());
        threads.push(hammer(
            "ingest",
            stop.clone(),
            counters[2].clone(),
            move |n| {
                let batch: Vec<Message> = (0..20)
                    .map(|i| view(n % 50, ((n * 20 + i) % 200) as usize, n * 20 + i))
                    .collect();
                let receipt = runtime.block_on(engine.ingest(batch, Origin::Server));
                assert!(receipt.is_ok(), "{receipt:?}");
            },
        ));
    }
    {
        let engine = engine.clone();
        threads.push(hammer(
            "catalog",
            stop.clone(),
            counters[3].clone(),
            move |n| {
                let stored = engine.put_products((0..200).map(|i| product(i, n + 1)).collect());
                assert!(stored.is_ok(), "{stored:?}");
            },
        ));
    }
    std::thread::sleep(RUN_FOR);
    stop.store(true, Ordering::Relaxed);
    // A deadlocked thread never finishes: give them the stall budget, then fail.
    let deadline = Instant::now() + STALL;
    while threads.iter().any(|t| !t.is_finished()) {
        assert!(
            Instant::now() < deadline,
            "a thread is stuck after the run (deadlock); done: {:?}",
            counters
                .iter()
                .map(|c| c.load(Ordering::Relaxed))
                .collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    for t in threads {
        t.join().expect("no panic").expect("no stalled call");
    }
    let done: Vec<u64> = counters.iter().map(|c| c.load(Ordering::Relaxed)).collect();
    assert!(
        done.iter().all(|&n| n > 0),
        "each kind of call completed: {done:?}"
    );
    runtime
        .block_on(engine.shutdown())
        .expect("a clean shutdown");
}
