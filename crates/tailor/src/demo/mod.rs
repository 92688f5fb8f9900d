//! `tailor demo`: builds a synthetic store and its shoppers through the public API, then
//! serves it with the storefront page at `/`.
//!
//! This module owns the command's flow: the data directory (reuse, `--fresh`, keys,
//! truth and completion files), starting the server, building the store as an HTTP
//! client of it, and the report. The parts: [`catalog`] (category tree, products,
//! content), [`shoppers`] (hidden preferences and the truth file), [`simulate`] (the
//! events), [`client`] (HTTP), [`random`] (seeded helpers).

mod catalog;
mod client;
mod journeys;
mod live;
mod random;
mod shoppers;
mod simulate;

use std::fs;
use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Args;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tailor_core::Clock;
use tailor_core::time::format_timestamp;
use tailor_server::AppState;
use tokio::sync::oneshot;

use crate::config::{ServeArgs, Settings};
use crate::server::{init_logging, open_engine, runtime, shutdown_signal};

pub const DEFAULT_DEMO_DATA: &str = "./tailor-demo-data";
const KEYS_FILE: &str = "demo-keys.json";
const TRUTH_FILE: &str = "demo-truth.json";
/// Written last: its presence means the demo in the directory is complete.
const COMPLETE_FILE: &str = "demo-complete";
/// The demo's own files. A demo directory holds these and the store's SQLite files.
const DEMO_FILES: &[&str] = &[KEYS_FILE, TRUTH_FILE, COMPLETE_FILE];
/// `/v1/batch` requests in flight at once.
const IN_FLIGHT: usize = 4;

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Data directory [default: ./tailor-demo-data]
    #[arg(long, env = "TAILOR_DATA")]
    data: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080; with --no-serve, any free local port]
    #[arg(long, env = "TAILOR_LISTEN")]
    listen: Option<String>,
    /// The same seed builds the same store, shoppers and events.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Number of simulated shoppers (each adds about 65 events, held in memory until sent).
    #[arg(long, default_value_t = 5_000, value_parser = clap::value_parser!(u32).range(1..=50_000))]
    shoppers: u32,
    /// Simulated days of history, ending now.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u32).range(1..=365))]
    days: u32,
    /// Number of products (at least one per leaf category: 28).
    #[arg(long, default_value_t = 1_200, value_parser = clap::value_parser!(u32).range(28..=100_000))]
    products: u32,
    /// Shoppers who visit live after the history is loaded, under an experiment on the
    /// recommendations (0: none). They arrive within seconds at the end of the log — leave
    /// them out (`--live-visits 0`) when evaluating models on the history.
    #[arg(long, default_value_t = 3_000, value_parser = clap::value_parser!(u32).range(0..=50_000))]
    live_visits: u32,
    /// Delete the demo in the data directory first and build a new one.
    #[arg(long)]
    fresh: bool,
    /// Build the demo, then stop instead of serving it.
    #[arg(long)]
    no_serve: bool,
    /// Log format: `text` or `json`.
    #[arg(long, env = "TAILOR_LOG_FORMAT")]
    log_format: Option<String>,
}

/// The demo's keys, kept in clear in `demo-keys.json` so the demo can be served again.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct DemoKeys {
    #[serde(default)]
    note: String,
    /// The public `web` source's key (the storefront's browser pages).
    write_key: String,
    /// The secret `server` source's key: the demo's simulated store backend sends the
    /// shoppers' history with it. Made when missing (demos built before sources).
    #[serde(default)]
    server_key: String,
    admin_key: String,
}

/// What was built; also the content of the completion file.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Summary {
    seed: u64,
    days: u32,
    shoppers: u32,
    products: u64,
    categories: usize,
    content: u64,
    events: u64,
    duplicates: u64,
    profiles: usize,
    funnel: Value,
    /// What the journeys did (see `journeys::summary`); absent in demos built before them.
    #[serde(default)]
    journeys: Value,
    seconds: f64,
    completed_at: String,
}

pub fn run(args: DemoArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    // With --no-serve nothing outlives the command, so any free port will do.
    let listen = args
        .listen
        .clone()
        .or_else(|| args.no_serve.then(|| "127.0.0.1:0".to_string()));
    let mut settings = ServeArgs {
        data: args.data.clone(),
        listen,
        log_format: args.log_format.clone(),
        ..Default::default()
    }
    .settings(DEFAULT_DEMO_DATA)?;
    // The demo reports its own progress; the server's routine logs would bury it.
    init_logging(settings.json_logs, "warn");
    let existing = prepare_dir(&settings.data, args.fresh)?;
    let keys = match &existing {
        Some((keys, _)) if keys.server_key.is_empty() => {
            let keys = DemoKeys {
                server_key: tailor_engine::keys::random_key("ts_", 24)?,
                ..keys.clone()
            };
            write_private(
                &settings.data.join(KEYS_FILE),
                &serde_json::to_vec_pretty(&keys)?,
            )?;
            keys
        }
        Some((keys, _)) => keys.clone(),
        None => new_keys(&settings.data)?,
    };
    settings.write_key = Some(keys.write_key.clone());
    settings.server_key = Some(keys.server_key.clone());
    settings.admin_key = Some(keys.admin_key.clone());
    runtime()?.block_on(async move {
        match existing {
            Some((keys, summary)) => serve_existing(&args, &settings, &keys, &summary).await,
            None => build_and_serve(&args, &settings, &keys, started).await,
        }
    })
}

/// Looks at the data directory: a finished demo is returned for reuse; an unfinished
/// one, or any with `--fresh`, is cleared; anything that is not a demo is left alone.
fn prepare_dir(dir: &Path, fresh: bool) -> anyhow::Result<Option<(DemoKeys, Summary)>> {
    let entries = dir_entries(dir)?;
    if entries.is_empty() {
        return Ok(None);
    }
    if !entries.iter().any(|e| e == KEYS_FILE) {
        bail!(
            "{} already holds files and is not a Tailor demo directory (no {KEYS_FILE}); \
             choose another directory with --data",
            dir.display()
        );
    }
    if !fresh && entries.iter().any(|e| e == COMPLETE_FILE) {
        let keys: DemoKeys = read_json(&dir.join(KEYS_FILE))?;
        let summary: Summary = read_json(&dir.join(COMPLETE_FILE))?;
        return Ok(Some((keys, summary)));
    }
    let unknown: Vec<&String> = entries.iter().filter(|e| !is_demo_file(dir, e)).collect();
    if !unknown.is_empty() {
        bail!(
            "will not clear {}: it holds files a demo does not make ({}); remove them or choose another --data",
            dir.display(),
            unknown
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if !fresh {
        eprintln!(
            "The demo in {} was not finished; building it again.",
            dir.display()
        );
    }
    for e in &entries {
        let path = dir.join(e);
        fs::remove_file(&path).with_context(|| format!("cannot delete {}", path.display()))?;
    }
    Ok(None)
}

/// The demo's files and the store's SQLite files (`*.db`, `*.db-wal`, …): what `--fresh`
/// may delete. Anything else in the directory makes it refuse.
fn is_demo_file(dir: &Path, name: &str) -> bool {
    let is_file = dir.join(name).is_file();
    is_file && (DEMO_FILES.contains(&name) || name.ends_with(".db") || name.contains(".db-"))
}

fn dir_entries(dir: &Path) -> anyhow::Result<Vec<String>> {
    let read = match fs::read_dir(dir) {
        Ok(r) => r,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", dir.display())),
    };
    read.map(|entry| {
        let entry = entry.with_context(|| format!("cannot read {}", dir.display()))?;
        Ok(entry.file_name().to_string_lossy().into_owned())
    })
    .collect()
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> anyhow::Result<T> {
    let text =
        fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not what the demo wrote; rebuild with --fresh",
            path.display()
        )
    })
}

/// Writes a file only its owner can read: the demo's files hold the admin key.
fn write_private(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    std::io::Write::write_all(&mut file, contents)
        .with_context(|| format!("cannot write {}", path.display()))
}

fn new_keys(dir: &Path) -> anyhow::Result<DemoKeys> {
    let keys = DemoKeys {
        note:
            "Keys of the Tailor demo store in this directory, kept in clear because it is a demo. \
               A real server stores only their hashes; never reuse these for a real store."
                .into(),
        write_key: tailor_engine::keys::random_key("tw_", 24)?,
        server_key: tailor_engine::keys::random_key("ts_", 24)?,
        admin_key: tailor_engine::keys::random_key("ta_", 24)?,
    };
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    write_private(&dir.join(KEYS_FILE), &serde_json::to_vec_pretty(&keys)?)?;
    Ok(keys)
}

/// A running server, stopped by Ctrl-C, SIGTERM or [`Server::stop`].
struct Server {
    addr: SocketAddr,
    engine: tailor_engine::Engine,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Server {
    async fn start(settings: &Settings, keys: &DemoKeys) -> anyhow::Result<Server> {
        let listener = tokio::net::TcpListener::bind(settings.listen)
            .await
            .with_context(|| format!("cannot listen on {}", settings.listen))?;
        let addr = listener.local_addr()?;
        let (engine, _) = tokio::task::block_in_place(|| open_engine(settings))?;
        let (stop, stopped) = oneshot::channel::<()>();
        let shutdown = async move {
            tokio::select! {
                _ = shutdown_signal() => {}
                _ = stopped => {}
            }
        };
        let state = AppState::new(engine.clone(), Some(keys.write_key.clone()));
        let task = tokio::spawn(tailor_server::serve(listener, state, shutdown));
        Ok(Server {
            addr,
            engine,
            stop: Some(stop),
            task,
        })
    }

    /// Where this process reaches the server (loopback when listening on all interfaces).
    fn reachable_addr(&self) -> SocketAddr {
        let ip = match self.addr.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        SocketAddr::new(ip, self.addr.port())
    }

    /// Asks for a graceful stop and waits: everything acknowledged is flushed.
    async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.finished().await
    }

    /// Waits until the server stops (Ctrl-C, SIGTERM or `stop`).
    async fn finished(self) -> anyhow::Result<()> {
        self.task
            .await
            .context("the server task failed")?
            .context("the server failed")
    }
}

async fn serve_existing(
    args: &DemoArgs,
    settings: &Settings,
    keys: &DemoKeys,
    summary: &Summary,
) -> anyhow::Result<()> {
    eprintln!(
        "Reusing the demo built in {} (pass --fresh to build a new one).",
        settings.data.display()
    );
    if args.no_serve {
        print_report(None, &settings.data, keys, summary, true);
        return Ok(());
    }
    let server = Server::start(settings, keys).await?;
    print_report(
        Some(server.reachable_addr()),
        &settings.data,
        keys,
        summary,
        true,
    );
    server.finished().await
}

async fn build_and_serve(
    args: &DemoArgs,
    settings: &Settings,
    keys: &DemoKeys,
    started: Instant,
) -> anyhow::Result<()> {
    let mut server = Server::start(settings, keys).await?;
    let base = format!("http://{}", server.reachable_addr());
    // The history is what the store's backend knows about its shoppers: sent with the
    // server key, so logins join devices to customers as they would in production.
    let api = Arc::new(client::Api::new(
        base,
        keys.server_key.clone(),
        keys.admin_key.clone(),
    )?);
    let unfinished = || {
        format!(
            "the demo in {} was not finished; run the command again to rebuild it",
            settings.data.display()
        )
    };
    let built = tokio::select! {
        r = build_store(args, &settings.data, &api, &server.engine, started) => r,
        _ = shutdown_signal() => Err(anyhow::anyhow!("interrupted")),
        r = &mut server.task => {
            let why = match r {
                Ok(Ok(())) => "it stopped".to_string(),
                Ok(Err(e)) => e.to_string(),
                Err(e) => e.to_string(),
            };
            bail!("the server failed while the demo was being built ({why}); {}", unfinished());
        }
    };
    let summary = match built {
        Ok(summary) => summary,
        Err(e) => {
            // Stop cleanly so what was sent is flushed; the next run starts over anyway.
            let _ = server.stop().await;
            return Err(e.context(unfinished()));
        }
    };
    if args.no_serve {
        server.stop().await?;
        print_report(None, &settings.data, keys, &summary, false);
        return Ok(());
    }
    print_report(
        Some(server.reachable_addr()),
        &settings.data,
        keys,
        &summary,
        false,
    );
    server.finished().await
}

/// Builds the whole store through the public API and records it as complete.
async fn build_store(
    args: &DemoArgs,
    dir: &Path,
    api: &Arc<client::Api>,
    engine: &tailor_engine::Engine,
    started: Instant,
) -> anyhow::Result<Summary> {
    let now = tailor_core::SystemClock.now();
    let catalog = Arc::new(catalog::Catalog::generate(
        args.seed,
        args.products as usize,
    ));
    eprintln!(
        "Building the demo store in {} (seed {}):",
        dir.display(),
        args.seed
    );
    let products = api.put_products(&catalog.products_json()).await?;
    eprintln!(
        "  catalog: {products} products in {} categories",
        catalog.leaves.len()
    );
    let content = api.put_content(&catalog::content(&catalog, now)).await?;
    eprintln!("  content: {content} banners, promotions, navigation entries and messages");

    let (seed, days, shoppers) = (args.seed, args.days, args.shoppers);
    let sim_catalog = catalog.clone();
    let simulating = Instant::now();
    let simulated = tokio::task::spawn_blocking(move || {
        let plan = simulate::Plan::new(seed, now, days, &sim_catalog);
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        simulate::simulate(&plan, &sim_catalog, shoppers, threads)
    })
    .await
    .context("the simulation stopped")??;
    eprintln!(
        "  shoppers: {shoppers} simulated over {days} days, {} events ({:.1} s)",
        simulated.events.len(),
        simulating.elapsed().as_secs_f64()
    );
    write_truth(dir, args, now, &catalog, &simulated)?;

    let total = simulated.events.len() as u64;
    let funnel = funnel(&simulated.tally);
    let batches = client::Batches::new(simulated.events);
    let bar = client::progress_bar(total);
    let sending = Instant::now();
    let delivery = api.send_batches(batches, IN_FLIGHT, &bar).await?;
    bar.finish_and_clear();
    let seconds = sending.elapsed().as_secs_f64();
    eprintln!(
        "  events: {} sent in {seconds:.1} s ({:.0}/s)",
        delivery.accepted + delivery.duplicates,
        total as f64 / seconds.max(1e-3)
    );
    let training = engine.clone();
    let version = tokio::task::spawn_blocking(move || training.train_models())
        .await
        .context("the trainer stopped")?
        .context("cannot train the prediction models")?;
    eprintln!(
        "  models: {}",
        crate::train::one_line(&serde_json::to_value(&version)?)
    );
    let installed = journeys::install(api).await?;
    if args.live_visits > 0 {
        let live_started = Instant::now();
        let live = live::run(
            api,
            &simulated.shoppers,
            &catalog,
            seed,
            args.live_visits as usize,
        )
        .await?;
        let conversion = |i: usize| live.results[i]["value"].as_f64().unwrap_or(0.0);
        eprintln!(
            "  live: {} visits, {} orders; experiment {}: conversion {:.1}% held out, {:.1}% personalized (p = {}) ({:.1} s)",
            live.visits,
            live.orders,
            live::EXPERIMENT,
            100.0 * conversion(0),
            100.0 * conversion(1),
            live.results[1]["frequentist"]["pValue"],
            live_started.elapsed().as_secs_f64()
        );
    }
    let journeys = journeys::summary(engine, &installed).await;
    eprintln!("  journeys: {}", journeys::line(&journeys));
    let summary = Summary {
        seed,
        days,
        shoppers,
        products,
        categories: catalog.leaves.len(),
        content,
        events: delivery.accepted,
        duplicates: delivery.duplicates,
        profiles: engine.stats().profiles,
        funnel,
        journeys,
        seconds: (started.elapsed().as_secs_f64() * 10.0).round() / 10.0,
        completed_at: format_timestamp(tailor_core::SystemClock.now()),
    };
    write_private(
        &dir.join(COMPLETE_FILE),
        &serde_json::to_vec_pretty(&summary)?,
    )?;
    Ok(summary)
}

fn funnel(tally: &simulate::Tally) -> Value {
    let n = |k: &str| tally.get(k).copied().unwrap_or(0);
    json!({
        "product_views": n("Product Viewed"),
        "product_adds": n("Product Added"),
        "checkouts": n("Checkout Started"),
        "orders": n("Order Completed"),
        "refunds": n("Order Refunded"),
        "emails_delivered": n("Email Delivered"),
        "emails_opened": n("Email Opened"),
        "emails_clicked": n("Email Link Clicked"),
        "by_event": tally,
    })
}

/// Writes `demo-truth.json`, one shopper per line, without holding it all in memory.
fn write_truth(
    dir: &Path,
    args: &DemoArgs,
    now: tailor_core::Millis,
    catalog: &catalog::Catalog,
    sim: &simulate::Simulation,
) -> anyhow::Result<()> {
    let path = dir.join(TRUTH_FILE);
    let fail = || format!("cannot write {}", path.display());
    let head = json!({
        "note": "Hidden preferences the demo's shoppers were simulated from. Tailor never \
                 saw them; score models built from the events against them.",
        "seed": args.seed,
        "days": args.days,
        "end": format_timestamp(now),
    })
    .to_string();
    let head = head.strip_suffix('}').unwrap_or(&head);
    let mut out = std::io::BufWriter::new(fs::File::create(&path).with_context(fail)?);
    write!(out, "{head},\"shoppers\":[").with_context(fail)?;
    for (i, (s, o)) in sim.shoppers.iter().zip(&sim.outcomes).enumerate() {
        out.write_all(if i == 0 { b"\n" } else { b",\n" })
            .with_context(fail)?;
        let start = now - i64::from(args.days) * tailor_core::time::DAY;
        serde_json::to_writer(&mut out, &shoppers::truth_json(s, o, catalog, start))
            .with_context(fail)?;
    }
    out.write_all(b"\n]}\n").with_context(fail)?;
    out.flush().with_context(fail)
}

fn print_report(addr: Option<SocketAddr>, dir: &Path, keys: &DemoKeys, s: &Summary, reused: bool) {
    let n = |k: &str| s.funnel.get(k).and_then(Value::as_u64).unwrap_or(0);
    println!();
    if reused {
        println!("Tailor demo (built {}).", s.completed_at);
    } else {
        println!("Tailor demo built in {:.1} s.", s.seconds);
    }
    match addr {
        Some(addr) => {
            println!("  Storefront:  http://{addr}/");
            println!("  Admin:       http://{addr}/admin");
        }
        None => println!(
            "  Not serving (--no-serve). Serve it with: tailor demo --data {}",
            dir.display()
        ),
    }
    println!(
        "  Write key:   {}  (public: the storefront's pages)",
        keys.write_key
    );
    println!(
        "  Server key:  {}  (secret: the store's backend)",
        keys.server_key
    );
    println!("  Admin key:   {}", keys.admin_key);
    println!(
        "  Built:       {} products in {} categories, {} content items, {} events from {} shoppers over {} days ({} profiles)",
        s.products, s.categories, s.content, s.events, s.shoppers, s.days, s.profiles
    );
    println!(
        "  Funnel:      {} product views, {} adds, {} checkouts, {} orders",
        n("product_views"),
        n("product_adds"),
        n("checkouts"),
        n("orders")
    );
    if !s.journeys.is_null() {
        println!("  Journeys:    {}", journeys::line(&s.journeys));
    }
    println!(
        "  Files:       {} ({KEYS_FILE}: keys, {TRUTH_FILE}: the shoppers' hidden preferences)",
        dir.display()
    );
    if let Some(addr) = addr {
        println!("Try:");
        println!(
            "  curl -H \"Authorization: Bearer {}\" http://{addr}/v1/profiles/user-1",
            keys.admin_key
        );
        println!("Serving until Ctrl-C.");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prepare_dir_reuses_clears_and_refuses() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("demo");
        assert!(prepare_dir(&dir, false).expect("missing dir").is_none());
        new_keys(&dir).expect("keys");
        for store_file in ["tailor.db", "tailor.db-wal", "profiles.db"] {
            fs::write(dir.join(store_file), b"x").expect("write");
        }
        // Unfinished: cleared.
        assert!(prepare_dir(&dir, false).expect("unfinished").is_none());
        assert!(dir_entries(&dir).expect("entries").is_empty());
        // Finished: reused, unless --fresh.
        let keys = new_keys(&dir).expect("keys");
        let summary = Summary {
            seed: 1,
            days: 1,
            shoppers: 1,
            products: 1,
            categories: 1,
            content: 1,
            events: 1,
            duplicates: 0,
            profiles: 1,
            funnel: json!({}),
            journeys: Value::Null,
            seconds: 1.0,
            completed_at: "2026-01-01T00:00:00.000Z".into(),
        };
        fs::write(
            dir.join(COMPLETE_FILE),
            serde_json::to_vec(&summary).expect("json"),
        )
        .expect("write");
        let (reused, _) = prepare_dir(&dir, false).expect("reuse").expect("complete");
        assert_eq!(reused.admin_key, keys.admin_key);
        assert!(prepare_dir(&dir, true).expect("fresh").is_none());
        assert!(dir_entries(&dir).expect("entries").is_empty());
        // Not a demo: left alone, even with --fresh.
        fs::write(dir.join("precious.txt"), b"keep").expect("write");
        assert!(prepare_dir(&dir, true).is_err());
        assert!(dir.join("precious.txt").exists());
        // A demo with foreign files: not cleared.
        new_keys(&dir).expect("keys");
        assert!(prepare_dir(&dir, true).is_err());
        assert!(dir.join("precious.txt").exists());
    }
}
