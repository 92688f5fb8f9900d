//! `tailor bench --journeys`: the journey scheduler. (1) Throughput: `--people` people
//! enter a journey (one event each through `/v1/batch`), wait a minute of engine time, and
//! are sent one signed webhook each, to a receiver on loopback; the clock is then moved past
//! the wait and the time until the receiver has every message gives messages/s (timers
//! fired, policies checked, rendered, signed, posted, marked). (2) Timer capacity:
//! `--timers` pending timers written straight into the store, then the time to find the
//! due ones (the scheduler's query, a batch of 500) and the store's size per timer.

use std::io::{BufRead, BufReader, Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};
use tailor_core::Clock;
use tailor_core::time::{DAY, MINUTE};

use crate::config::Settings;
use crate::server::{open_engine_with_clock, runtime};

const WRITE_KEY: &str = "bench-write";

/// A minimal HTTP/1.1 receiver (keep-alive, Content-Length bodies) counting requests.
fn receiver(count: Arc<AtomicUsize>) -> anyhow::Result<String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let base = format!("http://{}", listener.local_addr()?);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let count = count.clone();
            std::thread::spawn(move || {
                let mut out = match stream.try_clone() {
                    Ok(s) => s,
                    Err(_) => return,
                };
                let mut reader = BufReader::new(stream);
                loop {
                    let mut length = 0usize;
                    let mut line = String::new();
                    let mut first = true;
                    loop {
                        line.clear();
                        match reader.read_line(&mut line) {
                            Ok(0) | Err(_) => return,
                            Ok(_) => {}
                        }
                        if line == "\r\n" && !first {
                            break;
                        }
                        first = false;
                        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                            length = v.trim().parse().unwrap_or(0);
                        }
                    }
                    let mut body = vec![0; length];
                    if reader.read_exact(&mut body).is_err() {
                        return;
                    }
                    count.fetch_add(1, Ordering::Relaxed);
                    if out
                        .write_all(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
                        .is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    Ok(base)
}

fn dir_size(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|r| {
            r.flatten()
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

pub fn run(people: usize, timers: usize, json_out: bool) -> anyhow::Result<()> {
    if people == 0 {
        bail!("--people must be at least 1");
    }
    let temp = tempfile::tempdir().context("cannot create a temporary data directory")?;
    let settings = Settings {
        data: temp.path().to_path_buf(),
        listen: "127.0.0.1:0".parse()?,
        write_key: Some(WRITE_KEY.into()),
        admin_key: Some("bench-admin".into()),
        json_logs: false,
        channels: tailor_engine::journeys::ChannelConfig {
            webhook_secret: Some("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into()),
            ..Default::default()
        },
        ..Settings::default()
    };
    let received = Arc::new(AtomicUsize::new(0));
    let hooks = receiver(received.clone())?;
    let clock = Arc::new(tailor_core::time::OffsetClock::new());
    let rt = runtime()?;
    rt.block_on(async {
        let (engine, _) = tokio::task::block_in_place(|| {
            open_engine_with_clock(&settings, clock.clone() as Arc<dyn Clock>)
        })?;
        let server = crate::bench::InProcessServer::start(&engine, settings.listen).await?;
        let base = server.base.clone();
        engine.put_journey_policy(serde_json::from_value(json!({}))?)?;
        engine.put_journey(json!({
            "id": "bench", "trigger": {"event": "Tick"},
            "steps": [
                {"id": "wait", "type": "wait", "duration": "1m"},
                {"id": "hook", "type": "send", "channel": "webhook", "template": "event", "url": format!("{hooks}/hook")}
            ]
        }))?;
        let http = reqwest::Client::new();
        eprintln!("{people} people enter a journey…");
        let started = Instant::now();
        for chunk in (0..people).collect::<Vec<_>>().chunks(500) {
            let batch: Vec<Value> = chunk
                .iter()
                .map(|i| json!({"type": "track", "userId": format!("p{i}"), "event": "Tick"}))
                .collect();
            let r = http
                .post(format!("{base}/v1/batch"))
                .basic_auth(WRITE_KEY, Some(""))
                .json(&json!({"batch": batch}))
                .send()
                .await?;
            if !r.status().is_success() {
                bail!("/v1/batch answered {}", r.status());
            }
        }
        let entered = |engine: &tailor_engine::Engine| {
            engine
                .journey_stats("bench")
                .ok()
                .and_then(|s| s.journey.get("entered").copied())
                .map_or(0, |n| n.max(0) as u64)
        };
        let deadline = Instant::now() + Duration::from_secs(3_600);
        while entered(&engine) < people as u64 {
            if Instant::now() > deadline {
                bail!("entries did not finish within an hour");
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let entry_secs = started.elapsed().as_secs_f64();
        eprintln!("timers fire; messages go to the receiver…");
        clock.advance(2 * MINUTE);
        let fired = Instant::now();
        while received.load(Ordering::Relaxed) < people {
            if Instant::now() > deadline {
                bail!("deliveries did not finish within an hour");
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let send_secs = fired.elapsed().as_secs_f64();
        server.stop().await?;
        engine.shutdown().await?;

        // Timer capacity, in the store the scheduler reads.
        eprintln!("{timers} pending timers…");
        let store = tailor_store::SqliteStore::open(&temp.path().join("timers"))?;
        use tailor_store::JourneyStore as _;
        let before = dir_size(&temp.path().join("timers"));
        let now = tailor_core::SystemClock.now();
        let written = Instant::now();
        let mut i = 0usize;
        while i < timers {
            let n = (timers - i).min(10_000);
            let runs = (i..i + n)
                .map(|k| tailor_store::JourneyRun {
                    id: format!("bench:{k}"),
                    journey: "bench".into(),
                    version: 1,
                    person: format!("p{k}"),
                    step: 0,
                    status: tailor_store::RunStatus::Active,
                    // Spread over the next 30 days.
                    due_at: Some(now + 1 + (k as i64 * 7_919 % (30 * DAY))),
                    wait_event: None,
                    entered_at: now,
                    updated_at: now,
                    state: "{\"waitUntil\":0}".into(),
                })
                .collect();
            store.journey_write(&tailor_store::JourneyWrite { runs, ..Default::default() })?;
            i += n;
        }
        let write_secs = written.elapsed().as_secs_f64();
        let size = dir_size(&temp.path().join("timers")).saturating_sub(before);
        // Due ones: an hour from now (about 1/720 of them), the scheduler's batch of 500.
        let mut latencies = Vec::new();
        for h in 1..=50 {
            let t = Instant::now();
            let due = store.journey_runs_due(now + h * 3_600_000, 500)?;
            latencies.push(t.elapsed());
            std::hint::black_box(due);
        }
        latencies.sort();
        let p50 = latencies[latencies.len() / 2].as_secs_f64() * 1e3;
        let max = latencies[latencies.len() - 1].as_secs_f64() * 1e3;
        let result = json!({
            "people": people,
            "entries_per_sec": (people as f64 / entry_secs).round(),
            "messages_per_sec": (people as f64 / send_secs).round(),
            "send_seconds": (send_secs * 100.0).round() / 100.0,
            "timers": timers,
            "timer_writes_per_sec": (timers as f64 / write_secs).round(),
            "store_bytes_per_timer": if timers > 0 { size / timers as u64 } else { 0 },
            "due_query_ms_p50": (p50 * 1000.0).round() / 1000.0,
            "due_query_ms_max": (max * 1000.0).round() / 1000.0,
        });
        if json_out {
            println!("{result}");
        } else {
            println!("journeys: {people} people entered at {}/s; timers fired and signed webhooks delivered at {} messages/s ({} s)",
                result["entries_per_sec"], result["messages_per_sec"], result["send_seconds"]);
            println!("timers: {timers} pending written at {}/s, {} bytes each in the store; finding the due ones (batch of 500): p50 {} ms, max {} ms",
                result["timer_writes_per_sec"], result["store_bytes_per_timer"], result["due_query_ms_p50"], result["due_query_ms_max"]);
        }
        Ok(())
    })
}
