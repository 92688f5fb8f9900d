//! `tailor bench`: durable ingest through `/v1/batch` over real HTTP on loopback (profile
//! updates included: a 200 means stored and folded), then profile read latency in the
//! engine and over HTTP. Runs on a fresh temporary data directory; the load generator
//! shares the machine with the server, as a co-located client would.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use tailor_core::SystemClock;
use tailor_engine::journeys::ChannelConfig;

use crate::Report;
use crate::error::{Error, fail};
use crate::server::{
    ADMIN_KEY, InProcessServer, SERVER_KEY, open_engine, open_engine_postgres, runtime,
};

/// The workload; the binary's flags of the same names.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// Events to ingest.
    pub events: usize,
    /// Events per `/v1/batch` request.
    pub batch: usize,
    /// Concurrent HTTP clients.
    pub clients: usize,
    /// Distinct people the events belong to.
    pub profiles: usize,
    /// Profile reads to time.
    pub reads: usize,
    /// Keep the data in this directory (default: a temporary one, removed afterwards).
    pub data: Option<std::path::PathBuf>,
    /// Run on this (empty) PostgreSQL database instead of SQLite in `data`.
    pub database_url: Option<String>,
}

const EVENTS: [&str; 8] = [
    "Product Viewed",
    "Product Viewed",
    "Product Viewed",
    "Product List Viewed",
    "Product Added",
    "Products Searched",
    "Cart Viewed",
    "Order Completed",
];

/// Realistic e-commerce events spread over `profiles` people, as `/v1/batch` bodies.
fn bodies(args: &IngestOptions) -> Vec<Vec<u8>> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let start = chrono::Utc::now().timestamp_millis() - 30 * 86_400_000;
    let mut out = Vec::with_capacity(args.events / args.batch + 1);
    let mut n = 0usize;
    while n < args.events {
        let size = args.batch.min(args.events - n);
        let batch: Vec<Value> = (0..size)
            .map(|i| {
                let person = rng.random_range(0..args.profiles);
                let event = EVENTS[rng.random_range(0..EVENTS.len())];
                let cat = rng.random_range(0..24);
                // Arriving in time order over 30 days, as live traffic does (training
                // replays the log in arrival order).
                let ts = start + ((n + i) as f64 / args.events as f64 * 30.0 * 86_400_000.0) as i64;
                json!({
                    "type": "track",
                    "messageId": format!("bench-{}", n + i),
                    "anonymousId": format!("anon-{person}"),
                    "event": event,
                    "timestamp": tailor_core::time::format_timestamp(ts),
                    "properties": {
                        "product_id": format!("sku-{}", rng.random_range(0..5_000)),
                        "category": format!("Top{}/Leaf{}", cat / 4, cat),
                        "brand": format!("Brand{}", cat % 7),
                        "price": rng.random_range(5..300),
                        "revenue": rng.random_range(5..300),
                        "quantity": 1
                    },
                    "context": {"library": {"name": "tailor-bench", "version": "1"}, "ip": "127.0.0.1"}
                })
            })
            .collect();
        out.push(serde_json::to_vec(&json!({ "batch": batch })).unwrap_or_default());
        n += size;
    }
    out
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// Runs the benchmark on its own runtime; progress goes to stderr.
pub fn run(args: &IngestOptions) -> Result<Report, Error> {
    if args.batch == 0 || args.batch > 2_500 || args.clients == 0 || args.profiles == 0 {
        fail!("--batch must be 1..=2500, --clients and --profiles at least 1");
    }
    let temp = tempfile::tempdir()
        .map_err(|e| Error::setup("cannot create a temporary data directory", e))?;
    let data = args
        .data
        .clone()
        .unwrap_or_else(|| temp.path().to_path_buf());
    if data.join("tailor.db").exists() {
        fail!(
            "{} already holds a Tailor store; bench needs an empty directory",
            data.display()
        );
    }
    eprintln!(
        "preparing {} events for {} people in batches of {}…",
        args.events, args.profiles, args.batch
    );
    // Prepared before the runtime starts, as a client's data would be.
    let bodies = Arc::new(bodies(args));
    runtime()?.block_on(measure(args, &data, bodies))
}

/// Everything timed, on the runtime.
async fn measure(
    args: &IngestOptions,
    data: &std::path::Path,
    bodies: Arc<Vec<Vec<u8>>>,
) -> Result<Report, Error> {
    let rss_before = rss_bytes();
    let engine = tokio::task::block_in_place(|| match &args.database_url {
        Some(url) => open_engine_postgres(url, Arc::new(SystemClock), ChannelConfig::default()),
        None => open_engine(data, Arc::new(SystemClock), ChannelConfig::default()),
    })?;
    let server = InProcessServer::start(&engine).await?;
    let base = server.base.clone();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()?;
    tokio::task::block_in_place(|| load_catalog(&engine))?;

    // Durable ingest.
    eprintln!("ingesting with {} clients…", args.clients);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.clients {
        let (http, bodies, next, url) = (
            http.clone(),
            bodies.clone(),
            next.clone(),
            format!("{base}/v1/batch"),
        );
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(body) = bodies.get(i) else { break };
                let t = Instant::now();
                let r = http
                    .post(&url)
                    .basic_auth(SERVER_KEY, Some(""))
                    .header("Content-Type", "application/json")
                    .body(body.clone())
                    .send()
                    .await?;
                if !r.status().is_success() {
                    fail!(
                        "batch {i} answered {}: {}",
                        r.status(),
                        r.text().await.unwrap_or_default()
                    );
                }
                latencies.push(t.elapsed());
            }
            Ok::<_, Error>(latencies)
        }));
    }
    let mut batch_latencies = Vec::new();
    for t in tasks {
        batch_latencies.extend(t.await??);
    }
    let ingest_secs = started.elapsed().as_secs_f64();
    batch_latencies.sort();
    let events_per_sec = args.events as f64 / ingest_secs;
    let profiles = engine.stats().profiles;
    let rss_after = rss_bytes();

    // Profile reads, in the engine and over HTTP.
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    let ids: Vec<String> = (0..args.reads)
        .map(|_| format!("anon-{}", rng.random_range(0..args.profiles)))
        .collect();
    let mut engine_reads = Vec::with_capacity(ids.len());
    for id in &ids {
        let t = Instant::now();
        std::hint::black_box(engine.profile(id));
        engine_reads.push(t.elapsed());
    }
    engine_reads.sort();
    let mut http_reads = Vec::with_capacity(ids.len().min(5_000));
    for id in ids.iter().take(5_000) {
        let t = Instant::now();
        let r = http
            .get(format!("{base}/v1/profiles/{id}"))
            .bearer_auth(ADMIN_KEY)
            .send()
            .await?;
        let _ = r.bytes().await?;
        http_reads.push(t.elapsed());
    }
    http_reads.sort();

    // Decisions for the five standard page placements, in the engine and over HTTP.
    let decide_input = |id: &str| tailor_engine::DecideInput {
        user_id: None,
        anonymous_id: Some(id.to_string()),
        placements: PAGE.iter().map(|p| p.to_string()).collect(),
        ..Default::default()
    };
    let time_decides = || -> Result<Vec<Duration>, Error> {
        let mut times = Vec::with_capacity(ids.len());
        for id in &ids {
            let t = Instant::now();
            std::hint::black_box(engine.decide(decide_input(id))?);
            times.push(t.elapsed());
        }
        times.sort();
        Ok(times)
    };
    // Without prediction models, then with them (every decision computes the visitor's
    // predictions for the targeting attributes).
    let decides_without_models = time_decides()?;
    eprintln!("training the prediction models…");
    let training = Instant::now();
    let trained = tokio::task::block_in_place(|| engine.train_models());
    let train_secs = training.elapsed().as_secs_f64();
    let skipped: Vec<String> = match &trained {
        Ok(v) => v.skipped.iter().map(|s| s.model.clone()).collect(),
        Err(e) => vec![format!("all: {e}")],
    };
    let engine_decides = time_decides()?;
    // Then with an offer that targets a prediction, so every decision computes them.
    let predictive =
        tailor_core::ContentItem::from_json(json!({"id": "promo-predicted", "kind": "promotion",
        "placements": ["promo.banner"], "title": "Likely buyers",
        "targeting": {"condition": {"predictions.purchase_intent_7d": {"$gte": 0.5}}}}))
        .map_err(|e| Error::Failed(format!("bench content: {e}")))?;
    engine.put_content(vec![predictive])?;
    let decides_with_predictions = time_decides()?;
    engine.delete_content("promo-predicted")?;
    let (decide_rps, mut http_decides) =
        http_decide_load(&http, &base, &ids, args.clients.max(16)).await?;
    http_decides.sort();
    server.stop().await?;

    let us = |d: Duration| (d.as_secs_f64() * 1e6 * 10.0).round() / 10.0;
    let per_profile = match (rss_before, rss_after) {
        (Some(a), Some(b)) if profiles > 0 => Some(b.saturating_sub(a) / profiles as u64),
        _ => None,
    };
    let result = json!({
        "events": args.events,
        "batch": args.batch,
        "clients": args.clients,
        "profiles": profiles,
        "ingest": {
            "seconds": (ingest_secs * 1000.0).round() / 1000.0,
            "events_per_sec": events_per_sec.round(),
            "batch_latency_us": {"p50": us(percentile(&batch_latencies, 0.5)), "p99": us(percentile(&batch_latencies, 0.99))},
        },
        "profile_read_engine_us": {"p50": us(percentile(&engine_reads, 0.5)), "p99": us(percentile(&engine_reads, 0.99))},
        "profile_read_http_us": {"p50": us(percentile(&http_reads, 0.5)), "p99": us(percentile(&http_reads, 0.99))},
        "rss_growth_per_profile_bytes": per_profile,
        "decide_engine_us": {"p50": us(percentile(&engine_decides, 0.5)), "p99": us(percentile(&engine_decides, 0.99))},
        "decide_engine_without_models_us": {"p50": us(percentile(&decides_without_models, 0.5)), "p99": us(percentile(&decides_without_models, 0.99))},
        "decide_engine_computing_predictions_us": {"p50": us(percentile(&decides_with_predictions, 0.5)), "p99": us(percentile(&decides_with_predictions, 0.99))},
        "training": {"seconds": (train_secs * 100.0).round() / 100.0, "models_skipped": skipped},
        "decide_http": {
            "requests_per_sec": decide_rps.round(),
            "latency_us": {"p50": us(percentile(&http_decides, 0.5)), "p99": us(percentile(&http_decides, 0.99))},
        },
    });
    let mut text = String::new();
    {
        let _ = writeln!(
            text,
            "durable ingest via /v1/batch: {:.0} events/s ({} events, {} per batch, {} clients, {:.2} s)",
            events_per_sec, args.events, args.batch, args.clients, ingest_secs
        );
        let _ = writeln!(
            text,
            "  batch round trip: p50 {} µs, p99 {} µs",
            result["ingest"]["batch_latency_us"]["p50"],
            result["ingest"]["batch_latency_us"]["p99"]
        );
        let _ = writeln!(
            text,
            "profile read (engine): p50 {} µs, p99 {} µs",
            result["profile_read_engine_us"]["p50"], result["profile_read_engine_us"]["p99"]
        );
        let _ = writeln!(
            text,
            "profile read (HTTP):   p50 {} µs, p99 {} µs",
            result["profile_read_http_us"]["p50"], result["profile_read_http_us"]["p99"]
        );
        let _ = writeln!(
            text,
            "prediction models trained in {train_secs:.1} s (skipped: {})",
            if skipped.is_empty() {
                "none".to_string()
            } else {
                skipped.join(", ")
            }
        );
        let _ = writeln!(
            text,
            "decide, 5 placements (engine): p50 {} µs, p99 {} µs with models; p50 {} µs, p99 {} µs without",
            result["decide_engine_us"]["p50"],
            result["decide_engine_us"]["p99"],
            result["decide_engine_without_models_us"]["p50"],
            result["decide_engine_without_models_us"]["p99"]
        );
        let _ = writeln!(
            text,
            "  with an offer targeting a prediction (every decision computes them): p50 {} µs, p99 {} µs",
            result["decide_engine_computing_predictions_us"]["p50"],
            result["decide_engine_computing_predictions_us"]["p99"]
        );
        let _ = writeln!(
            text,
            "decide over HTTP keep-alive: {:.0} requests/s, p50 {} µs, p99 {} µs",
            decide_rps,
            result["decide_http"]["latency_us"]["p50"],
            result["decide_http"]["latency_us"]["p99"]
        );
        if let Some(b) = per_profile {
            let _ = writeln!(
                text,
                "resident memory growth: {b} bytes per profile ({profiles} profiles; includes the store's caches and allocator slack)"
            );
        }
    }
    Ok(Report {
        json: result,
        text,
        pretty: true,
    })
}

/// The placements of a home page, as `decide` is benchmarked with.
const PAGE: [&str; 5] = [
    "home.hero",
    "nav.categories",
    "promo.banner",
    "recs.home",
    "checkout.flow",
];
/// How long the HTTP decide load runs.
const DECIDE_LOAD: Duration = Duration::from_secs(5);

/// A catalog matching the generated events (5,000 products in 24 leaf categories) and
/// the content the placements choose from.
fn load_catalog(engine: &tailor_engine::Engine) -> Result<(), Error> {
    let products = (0..5_000)
        .map(|i| {
            let cat = i % 24;
            tailor_core::Product::from_json(json!({
                "id": format!("sku-{i}"), "name": format!("Product {i}"), "category": format!("Top{}/Leaf{cat}", cat / 4),
                "brand": format!("Brand{}", cat % 7), "price": 5 + i % 295, "stock": if i % 13 == 0 { 0 } else { 10 }
            }))
            .map_err(|e| Error::Failed(format!("bench product: {e}")))
        })
        .collect::<Result<Vec<_>, Error>>()?;
    engine.put_products(products)?;
    let mut content = Vec::new();
    for top in 0..6 {
        content.push(json!({"id": format!("hero-{top}"), "kind": "banner", "placements": ["home.hero"],
            "title": format!("Top{top} picks"), "targeting": {"categories": [format!("Top{top}")]}}));
        content.push(json!({"id": format!("promo-{top}"), "kind": "promotion", "placements": ["promo.banner"],
            "title": format!("Top{top} offer"), "targeting": {"categories": [format!("Top{top}")]}}));
    }
    content.push(json!({"id": "promo-cart", "kind": "promotion", "placements": ["promo.banner"], "title": "Complete your order",
        "targeting": {"stages": ["evaluation"], "condition": {"cartItems": {"$gt": 0}}}}));
    let content = content
        .into_iter()
        .map(|c| {
            tailor_core::ContentItem::from_json(c)
                .map_err(|e| Error::Failed(format!("bench content: {e}")))
        })
        .collect::<Result<Vec<_>, Error>>()?;
    engine.put_content(content)?;
    Ok(())
}

/// Keeps `clients` keep-alive connections busy with decide requests for [`DECIDE_LOAD`];
/// returns requests per second and each request's latency.
async fn http_decide_load(
    http: &reqwest::Client,
    base: &str,
    ids: &[String],
    clients: usize,
) -> Result<(f64, Vec<Duration>), Error> {
    let bodies: Arc<Vec<Vec<u8>>> = Arc::new(
        ids.iter()
            .map(|id| {
                serde_json::to_vec(&json!({"anonymousId": id, "placements": PAGE}))
                    .unwrap_or_default()
            })
            .collect(),
    );
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (http, bodies, url) = (http.clone(), bodies.clone(), format!("{base}/v1/decide"));
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut i = c;
            while started.elapsed() < DECIDE_LOAD {
                let t = Instant::now();
                let r = http
                    .post(&url)
                    .basic_auth(SERVER_KEY, Some(""))
                    .header("Content-Type", "application/json")
                    .body(bodies[i % bodies.len()].clone())
                    .send()
                    .await?;
                if !r.status().is_success() {
                    fail!("decide answered {}", r.status());
                }
                let _ = r.bytes().await?;
                latencies.push(t.elapsed());
                i += clients;
            }
            Ok::<_, Error>(latencies)
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    Ok((all.len() as f64 / started.elapsed().as_secs_f64(), all))
}
