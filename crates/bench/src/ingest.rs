//! `tailor bench`: durable ingest through `/v1/batch` over real HTTP on loopback (profile
//! updates included: a 200 means stored and folded), profile reads in the engine and over
//! HTTP, `decide` in the engine and over HTTP (in-process clients and `wrk`), and what it all
//! leaves on disk. Runs on a fresh temporary data directory per data shape (see
//! [`workload`]); the load generators share the machine with the server, as a co-located
//! client would.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use tailor_core::SystemClock;
use tailor_engine::journeys::ChannelConfig;

use crate::Report;
use crate::disk::{self, PeakSampler, rss_bytes};
use crate::error::{Error, fail};
use crate::server::{
    ADMIN_KEY, InProcessServer, SERVER_KEY, open_engine, open_engine_postgres, runtime,
};
use crate::workload::{self, Shape, Size, Workload};
use crate::wrk;

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
    /// Profile reads and engine decisions to time.
    pub reads: usize,
    /// Keep the data in this directory (default: a temporary one, removed afterwards); with
    /// two shapes, in its `uniform` and `skewed` subdirectories.
    pub data: Option<std::path::PathBuf>,
    /// The data shapes to run, one after the other, each on a fresh directory.
    pub shapes: Vec<Shape>,
    /// Run on this (empty) PostgreSQL database instead of SQLite in `data`.
    pub database_url: Option<String>,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Runs the benchmark on its own runtime, one shape after the other; progress goes to stderr.
pub fn run(args: &IngestOptions) -> Result<Report, Error> {
    if args.batch == 0
        || args.batch > 2_500
        || args.clients == 0
        || args.profiles == 0
        || args.reads == 0
    {
        fail!("--batch must be 1..=2500, --clients, --profiles and --reads at least 1");
    }
    if args.shapes.is_empty() {
        fail!("name a shape: uniform, skewed or both");
    }
    let mut results = Vec::new();
    for &shape in &args.shapes {
        let temp = tempfile::tempdir()
            .map_err(|e| Error::setup("cannot create a temporary data directory", e))?;
        let data = match (&args.data, args.shapes.len()) {
            (Some(dir), 1) => dir.clone(),
            (Some(dir), _) => dir.join(shape.name()),
            (None, _) => temp.path().to_path_buf(),
        };
        if data.join("tailor.db").exists() {
            fail!(
                "{} already holds a Tailor store; bench needs an empty directory",
                data.display()
            );
        }
        eprintln!(
            "[{}] preparing {} events for {} people in batches of {}…",
            shape.name(),
            args.events,
            args.profiles,
            args.batch
        );
        // Prepared before the runtime starts, as a client's data would be.
        let workload = workload::generate(
            shape,
            &Size {
                events: args.events,
                batch: args.batch,
                profiles: args.profiles,
                reads: args.reads,
            },
        )?;
        let result = runtime()?.block_on(measure(args, shape, &data, workload))?;
        results.push((shape, result));
    }
    Ok(report(results))
}

/// The page every decision is asked for: the five standard placements.
const PAGE: [&str; 5] = [
    "home.hero",
    "nav.categories",
    "promo.banner",
    "recs.home",
    "checkout.flow",
];
/// How long each HTTP decide load runs.
const DECIDE_LOAD: Duration = Duration::from_secs(5);
/// Connections wrk keeps busy.
const WRK_CONNECTIONS: usize = 16;

/// Everything timed for one shape, on the runtime.
async fn measure(
    args: &IngestOptions,
    shape: Shape,
    data: &std::path::Path,
    workload: Workload,
) -> Result<Value, Error> {
    // What preparing the workload freed goes back first, or the server's own background
    // releases would return it during the run and the growth would read low.
    tailor_core::heap::release();
    let rss_before = rss_bytes();
    let heap_before = tailor_core::heap::live_bytes();
    let peaks = PeakSampler::start(data.to_path_buf(), Duration::from_millis(100));
    let engine = tokio::task::block_in_place(|| match &args.database_url {
        Some(url) => open_engine_postgres(url, Arc::new(SystemClock), ChannelConfig::default()),
        None => open_engine(data, Arc::new(SystemClock), ChannelConfig::default()),
    })?;
    let server = InProcessServer::start(&engine).await?;
    let base = server.base.clone();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()?;
    let Workload {
        bodies,
        products,
        content,
        ids,
        events,
    } = workload;
    tokio::task::block_in_place(|| -> Result<(), Error> {
        engine.put_products(products)?;
        engine.put_content(content)?;
        Ok(())
    })?;
    let bodies = Arc::new(bodies);

    // Durable ingest.
    eprintln!(
        "[{}] ingesting with {} clients…",
        shape.name(),
        args.clients
    );
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
    // Measured while the prepared bodies are still held, as they were for the "before":
    // freeing them first made the growth read 0 once freed memory went back to the system.
    let rss_after = rss_bytes();
    let heap_after = tailor_core::heap::live_bytes();
    drop(bodies);
    // The ingest's changed profiles are saved now: the periodic checkpoint would otherwise
    // write 100,000 of them during the timings below (it did, in the middle of wrk's run).
    engine.checkpoint().await?;
    batch_latencies.sort();
    let events_per_sec = events as f64 / ingest_secs;
    let profiles = engine.stats().profiles;

    // Profile reads, in the engine and over HTTP.
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
    let mut decisions = 0usize;
    let decide_input = |id: &str| tailor_engine::DecideInput {
        user_id: None,
        anonymous_id: Some(id.to_string()),
        placements: PAGE.iter().map(|p| p.to_string()).collect(),
        ..Default::default()
    };
    let time_decides = |decisions: &mut usize| -> Result<(Vec<Duration>, usize), Error> {
        let mut times = Vec::with_capacity(ids.len());
        let mut scored_max = 0;
        for id in &ids {
            let t = Instant::now();
            let out = engine.decide(decide_input(id))?;
            times.push(t.elapsed());
            scored_max = scored_max.max(out.answers.iter().map(|(_, a)| a.scored).sum());
            std::hint::black_box(out);
        }
        *decisions += ids.len();
        times.sort();
        Ok((times, scored_max))
    };
    // Without prediction models, then with them (every decision computes the visitor's
    // predictions for the targeting attributes).
    let (decides_without_models, _) = time_decides(&mut decisions)?;
    eprintln!("[{}] training the prediction models…", shape.name());
    let training = Instant::now();
    let trained = tokio::task::block_in_place(|| engine.train_models());
    let train_secs = training.elapsed().as_secs_f64();
    let skipped: Vec<String> = match &trained {
        Ok(v) => v
            .skipped
            .iter()
            .map(|s| format!("{}: {}", s.model, s.reason))
            .collect(),
        Err(e) => vec![format!("all: {e}")],
    };
    let (engine_decides, scored_max) = time_decides(&mut decisions)?;
    // Then with an offer that targets a prediction, so every decision computes them.
    let predictive =
        tailor_core::ContentItem::from_json(json!({"id": "promo-predicted", "kind": "promotion",
        "placements": ["promo.banner"], "title": "Likely buyers",
        "targeting": {"condition": {"predictions.purchase_intent_7d": {"$gte": 0.5}}}}))
        .map_err(|e| Error::Failed(format!("bench content: {e}")))?;
    engine.put_content(vec![predictive])?;
    let (decides_with_predictions, _) = time_decides(&mut decisions)?;
    engine.delete_content("promo-predicted")?;
    eprintln!("[{}] decide over HTTP…", shape.name());
    let (decide_rps, mut http_decides) =
        http_decide_load(&http, &base, &ids, args.clients.max(16)).await?;
    decisions += http_decides.len();
    http_decides.sort();
    let wrk = if wrk::available() {
        let dir = tempfile::tempdir()?;
        let (base, ids) = (base.clone(), ids.clone());
        let result = tokio::task::spawn_blocking(move || {
            wrk::decide_load(
                dir.path(),
                &base,
                SERVER_KEY,
                &ids,
                &PAGE,
                WRK_CONNECTIONS,
                DECIDE_LOAD,
            )
        })
        .await??;
        decisions += (result.requests_per_sec * DECIDE_LOAD.as_secs_f64()) as usize;
        Some(result)
    } else {
        eprintln!("wrk is not installed (apt-get install wrk): no external-client figure");
        None
    };
    let rss_end = rss_bytes();
    server.stop().await?;
    // Written out: what is left queued, the last checkpoint.
    engine.shutdown().await?;
    drop(engine);
    let peaks = peaks.finish();
    let files = disk::sizes(data);

    let us = |d: Duration| (d.as_secs_f64() * 1e6 * 10.0).round() / 10.0;
    let per_profile = match (rss_before, rss_after) {
        (Some(a), Some(b)) if profiles > 0 => Some(b.saturating_sub(a) / profiles as u64),
        _ => None,
    };
    let heap_per_profile = match (heap_before, heap_after) {
        (Some(a), Some(b)) if profiles > 0 => Some(b.saturating_sub(a) / profiles as u64),
        _ => None,
    };
    let size_of = |name: &str| files.get(name).copied().unwrap_or(0);
    let wal_peak = peaks
        .iter()
        .filter(|(name, _)| name.ends_with("-wal"))
        .map(|(name, size)| (name.clone(), json!(size)))
        .collect::<serde_json::Map<String, Value>>();
    Ok(json!({
        "shape": shape.name(),
        "events": events,
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
        "heap_growth_per_profile_bytes": heap_per_profile,
        "rss_end_bytes": rss_end,
        "decide_engine_us": {"p50": us(percentile(&engine_decides, 0.5)), "p99": us(percentile(&engine_decides, 0.99)), "max": us(engine_decides.last().copied().unwrap_or_default())},
        "decide_engine_scored_max": scored_max,
        "decide_engine_without_models_us": {"p50": us(percentile(&decides_without_models, 0.5)), "p99": us(percentile(&decides_without_models, 0.99))},
        "decide_engine_computing_predictions_us": {"p50": us(percentile(&decides_with_predictions, 0.5)), "p99": us(percentile(&decides_with_predictions, 0.99))},
        "training": {"seconds": (train_secs * 100.0).round() / 100.0, "models_skipped": skipped},
        "decide_http": {
            "requests_per_sec": decide_rps.round(),
            "latency_us": {"p50": us(percentile(&http_decides, 0.5)), "p99": us(percentile(&http_decides, 0.99))},
        },
        "decide_wrk": wrk.map(|w| json!({
            "requests_per_sec": w.requests_per_sec.round(),
            "connections": WRK_CONNECTIONS,
            "latency_us": {"p50": w.p50_us, "p99": w.p99_us},
            "errors": w.errors,
        })),
        "disk": {
            "files": files,
            "wal_peak_bytes": wal_peak,
            "decisions": decisions,
            "bytes_per_event": ((size_of("tailor.db") + size_of("profiles.db")) as f64 / events.max(1) as f64).round(),
            "bytes_per_decision": if files.contains_key("decisions.db") {
                json!((size_of("decisions.db") as f64 / decisions.max(1) as f64).round())
            } else {
                Value::Null
            },
        },
    }))
}

/// The results of every shape: one shape's JSON as before, several side by side.
fn report(results: Vec<(Shape, Value)>) -> Report {
    let mut text = String::new();
    for (shape, r) in &results {
        if results.len() > 1 {
            let _ = writeln!(text, "== {} ==", shape.name());
        }
        shape_text(&mut text, r);
    }
    if results.len() > 1 {
        let _ = writeln!(text, "== side by side ==");
        let rows: [(&str, &str); 7] = [
            ("ingest events/s", "/ingest/events_per_sec"),
            ("decide engine p50 µs", "/decide_engine_us/p50"),
            ("decide engine p99 µs", "/decide_engine_us/p99"),
            ("decide engine max candidates", "/decide_engine_scored_max"),
            (
                "decide HTTP in-process req/s",
                "/decide_http/requests_per_sec",
            ),
            ("decide HTTP wrk req/s", "/decide_wrk/requests_per_sec"),
            ("bytes per decision", "/disk/bytes_per_decision"),
        ];
        let _ = write!(text, "{:<32}", "");
        for (shape, _) in &results {
            let _ = write!(text, "{:>14}", shape.name());
        }
        text.push('\n');
        for (label, pointer) in rows {
            let _ = write!(text, "{label:<32}");
            for (_, r) in &results {
                let cell = match r.pointer(pointer) {
                    Some(Value::Number(n)) => format!("{:.1}", n.as_f64().unwrap_or(0.0)),
                    _ => "—".to_string(),
                };
                let _ = write!(text, "{cell:>14}");
            }
            text.push('\n');
        }
        let rps = |r: &Value| {
            r.pointer("/decide_wrk/requests_per_sec")
                .and_then(Value::as_f64)
        };
        if let [(first, a), (second, b)] = results.as_slice()
            && let (Some(a), Some(b)) = (rps(a), rps(b))
            && a > 0.0
        {
            let _ = writeln!(
                text,
                "{} HTTP throughput (wrk) is {:.0} % of {}",
                second.name(),
                100.0 * b / a,
                first.name()
            );
        }
    }
    let json = match results.as_slice() {
        [(_, one)] => one.clone(),
        many => Value::Object(
            many.iter()
                .map(|(shape, r)| (shape.name().to_string(), r.clone()))
                .collect(),
        ),
    };
    Report {
        json,
        text,
        pretty: true,
    }
}

/// One shape's readable lines.
fn shape_text(text: &mut String, r: &Value) {
    let n = |pointer: &str| r.pointer(pointer).cloned().unwrap_or(Value::Null);
    let _ = writeln!(
        text,
        "durable ingest via /v1/batch: {} events/s ({} events, {} per batch, {} clients, {} s)",
        n("/ingest/events_per_sec"),
        n("/events"),
        n("/batch"),
        n("/clients"),
        n("/ingest/seconds")
    );
    let _ = writeln!(
        text,
        "  batch round trip: p50 {} µs, p99 {} µs",
        n("/ingest/batch_latency_us/p50"),
        n("/ingest/batch_latency_us/p99")
    );
    let _ = writeln!(
        text,
        "profile read (engine): p50 {} µs, p99 {} µs",
        n("/profile_read_engine_us/p50"),
        n("/profile_read_engine_us/p99")
    );
    let _ = writeln!(
        text,
        "profile read (HTTP):   p50 {} µs, p99 {} µs",
        n("/profile_read_http_us/p50"),
        n("/profile_read_http_us/p99")
    );
    let _ = writeln!(
        text,
        "prediction models trained in {} s (skipped: {})",
        n("/training/seconds"),
        n("/training/models_skipped")
    );
    let _ = writeln!(
        text,
        "decide, 5 placements (engine): p50 {} µs, p99 {} µs, max {} µs with models; p50 {} µs, p99 {} µs without; at most {} candidates scored",
        n("/decide_engine_us/p50"),
        n("/decide_engine_us/p99"),
        n("/decide_engine_us/max"),
        n("/decide_engine_without_models_us/p50"),
        n("/decide_engine_without_models_us/p99"),
        n("/decide_engine_scored_max"),
    );
    let _ = writeln!(
        text,
        "  with an offer targeting a prediction (every decision computes them): p50 {} µs, p99 {} µs",
        n("/decide_engine_computing_predictions_us/p50"),
        n("/decide_engine_computing_predictions_us/p99")
    );
    let _ = writeln!(
        text,
        "decide over HTTP keep-alive (in-process clients): {} requests/s, p50 {} µs, p99 {} µs",
        n("/decide_http/requests_per_sec"),
        n("/decide_http/latency_us/p50"),
        n("/decide_http/latency_us/p99")
    );
    if !n("/decide_wrk").is_null() {
        let _ = writeln!(
            text,
            "decide over HTTP keep-alive (wrk, {} connections): {} requests/s, p50 {} µs, p99 {} µs, {} errors",
            n("/decide_wrk/connections"),
            n("/decide_wrk/requests_per_sec"),
            n("/decide_wrk/latency_us/p50"),
            n("/decide_wrk/latency_us/p99"),
            n("/decide_wrk/errors")
        );
    }
    if let Some(b) = r["rss_growth_per_profile_bytes"].as_u64() {
        let _ = writeln!(
            text,
            "resident memory growth: {b} bytes per profile ({} profiles; includes the store's caches and allocator slack)",
            n("/profiles")
        );
    }
    if let Some(b) = r["heap_growth_per_profile_bytes"].as_u64() {
        let _ = writeln!(
            text,
            "live heap growth: {b} bytes per profile (profiles, identity index, session views and product statistics; not SQLite)"
        );
    }
    let _ = writeln!(
        text,
        "disk: {} bytes per event, {} bytes per decision ({} decisions); files {}; WAL peaks {}",
        n("/disk/bytes_per_event"),
        n("/disk/bytes_per_decision"),
        n("/disk/decisions"),
        n("/disk/files"),
        n("/disk/wal_peak_bytes")
    );
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
