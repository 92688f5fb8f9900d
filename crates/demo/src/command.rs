//! `tailor demo`'s flow: the data directory (reuse, `--fresh`, keys, truth and completion
//! files), starting the server with the storefront, building the store as an HTTP client of
//! it, and the report. The parts: `catalog` (category tree, products, content), `shoppers`
//! (hidden preferences and the truth file), `simulate` (the events), `client` (HTTP), `live`
//! and `journeys` (after the history).

use std::fs;
use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use serde_json::{Value, json};
use tailor_core::Clock;
use tailor_core::time::format_timestamp;
use tailor_engine::Engine;
use tailor_server::AppState;
use tokio::sync::oneshot;

use crate::error::{Error, fail};
use crate::files::{DemoKeys, KEYS_FILE, Summary, TRUTH_FILE};
use crate::{catalog, client, journeys, live, report, shoppers, simulate};

pub const DEFAULT_DEMO_DATA: &str = "./tailor-demo-data";
/// Written last: its presence means the demo in the directory is complete.
const COMPLETE_FILE: &str = "demo-complete";
/// The demo's own files. A demo directory holds these and the store's SQLite files.
const DEMO_FILES: &[&str] = &[KEYS_FILE, TRUTH_FILE, COMPLETE_FILE];
/// `/v1/batch` requests in flight at once. One: the log then holds the history in the order
/// it was simulated, so the same seed gives the same log, and models trained on it (which
/// replay it in log order) the same figures. With 4 in flight, the order batches arrived in
/// moved the trained figures a little from build to build.
const IN_FLIGHT: usize = 1;

/// What to build and where; the binary's flags of the same names.
#[derive(Debug, Clone)]
pub struct Options {
    /// The data directory.
    pub data: PathBuf,
    /// Where to listen.
    pub listen: SocketAddr,
    /// The same seed builds the same store, shoppers and events.
    pub seed: u64,
    /// Number of simulated shoppers.
    pub shoppers: u32,
    /// Simulated days of history, ending at the last midnight (UTC).
    pub days: u32,
    /// Number of products.
    pub products: u32,
    /// Shoppers who visit live after the history is loaded (0: none).
    pub live_visits: u32,
    /// Delete the demo in the data directory first and build a new one.
    pub fresh: bool,
    /// Build the demo, then stop instead of serving it.
    pub no_serve: bool,
}

/// Runs `tailor demo`: reuses the finished demo in `options.data` or builds a new one, then
/// serves it (API, console and storefront) until asked to stop, unless `options.no_serve`.
/// `open` starts the engine on the data directory with the demo's keys: the binary's job, as
/// it knows the store. `shutdown` makes a future that resolves when the process is asked to
/// stop (Ctrl-C, SIGTERM); each wait calls it. Progress goes to stderr, the report to stdout.
pub async fn run<Open, OpenError, Shutdown, Signal>(
    options: Options,
    open: Open,
    shutdown: Shutdown,
) -> Result<(), Error>
where
    Open: FnOnce(&DemoKeys) -> Result<Engine, OpenError>,
    OpenError: Into<Box<dyn std::error::Error + Send + Sync>>,
    Shutdown: Fn() -> Signal,
    Signal: Future<Output = ()> + Send + 'static,
{
    let started = Instant::now();
    match prepare_dir(&options.data, options.fresh)? {
        Some((keys, summary)) if options.no_serve => {
            reused(&options.data);
            report::print(None, &options.data, &keys, &summary, true);
            Ok(())
        }
        Some((keys, summary)) => {
            reused(&options.data);
            let server = Server::start(options.listen, open, &keys, shutdown()).await?;
            let addr = Some(server.reachable_addr());
            report::print(addr, &options.data, &keys, &summary, true);
            server.finished().await
        }
        None => {
            let keys = new_keys(&options.data)?;
            let server = Server::start(options.listen, open, &keys, shutdown()).await?;
            build_and_serve(&options, server, &keys, started, shutdown()).await
        }
    }
}

fn reused(dir: &Path) {
    eprintln!(
        "Reusing the demo built in {} (pass --fresh to build a new one).",
        dir.display()
    );
}

/// Looks at the data directory: a finished demo is returned for reuse; an unfinished
/// one, or any with `--fresh`, is cleared; anything that is not a demo is left alone.
fn prepare_dir(dir: &Path, fresh: bool) -> Result<Option<(DemoKeys, Summary)>, Error> {
    let entries = dir_entries(dir)?;
    if entries.is_empty() {
        return Ok(None);
    }
    if !entries.iter().any(|e| e == KEYS_FILE) {
        fail!(
            "{} already holds files and is not a Tailor demo directory (no {KEYS_FILE}); \
             choose another directory with --data",
            dir.display()
        );
    }
    if !fresh && entries.iter().any(|e| e == COMPLETE_FILE) {
        let mut keys: DemoKeys = read_json(&dir.join(KEYS_FILE))?;
        if keys.server_key.is_empty() || keys.analyst_key.is_empty() {
            if keys.server_key.is_empty() {
                keys.server_key = tailor_engine::keys::random_key("ts_", 24)?;
            }
            if keys.analyst_key.is_empty() {
                keys.analyst_key = tailor_engine::keys::random_key("tn_", 24)?;
            }
            write_private(&dir.join(KEYS_FILE), &serde_json::to_vec_pretty(&keys)?)?;
        }
        let summary: Summary = read_json(&dir.join(COMPLETE_FILE))?;
        return Ok(Some((keys, summary)));
    }
    let unknown: Vec<&String> = entries.iter().filter(|e| !is_demo_file(dir, e)).collect();
    if !unknown.is_empty() {
        fail!(
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
        fs::remove_file(&path).map_err(Error::file("delete", &path))?;
    }
    Ok(None)
}

/// The demo's files and the store's SQLite files (`*.db`, `*.db-wal`, …): what `--fresh`
/// may delete. Anything else in the directory makes it refuse.
fn is_demo_file(dir: &Path, name: &str) -> bool {
    let is_file = dir.join(name).is_file();
    is_file && (DEMO_FILES.contains(&name) || name.ends_with(".db") || name.contains(".db-"))
}

fn dir_entries(dir: &Path) -> Result<Vec<String>, Error> {
    let read = match fs::read_dir(dir) {
        Ok(r) => r,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::file("read", dir)(e)),
    };
    read.map(|entry| {
        let entry = entry.map_err(Error::file("read", dir))?;
        Ok(entry.file_name().to_string_lossy().into_owned())
    })
    .collect()
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, Error> {
    let text = fs::read_to_string(path).map_err(Error::file("read", path))?;
    serde_json::from_str(&text).map_err(|source| Error::Corrupt {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes a file only its owner can read: the demo's files hold the admin key.
fn write_private(path: &Path, contents: &[u8]) -> Result<(), Error> {
    let mut file = create_private(path)?;
    std::io::Write::write_all(&mut file, contents).map_err(Error::file("write", path))
}

/// Creates (or truncates) a file only its owner can read, as every file of a data
/// directory is (the store tightens any other at the next start).
fn create_private(path: &Path) -> Result<fs::File, Error> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path).map_err(Error::file("write", path))
}

fn new_keys(dir: &Path) -> Result<DemoKeys, Error> {
    let keys = DemoKeys {
        note:
            "Keys of the Tailor demo store in this directory, kept in clear because it is a demo. \
               A real server stores only their hashes; never reuse these for a real store."
                .into(),
        write_key: tailor_engine::keys::random_key("tw_", 24)?,
        server_key: tailor_engine::keys::random_key("ts_", 24)?,
        admin_key: tailor_engine::keys::random_key("ta_", 24)?,
        analyst_key: tailor_engine::keys::random_key("tn_", 24)?,
    };
    let mut create = fs::DirBuilder::new();
    create.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut create, 0o700);
    create.create(dir).map_err(Error::file("create", dir))?;
    write_private(&dir.join(KEYS_FILE), &serde_json::to_vec_pretty(&keys)?)?;
    Ok(keys)
}

/// A running server, stopped by the shutdown signal or [`Server::stop`].
struct Server {
    addr: SocketAddr,
    engine: Engine,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Server {
    /// Listens, opens the engine, and serves the API with the storefront merged in.
    async fn start<OpenError>(
        listen: SocketAddr,
        open: impl FnOnce(&DemoKeys) -> Result<Engine, OpenError>,
        keys: &DemoKeys,
        signal: impl Future<Output = ()> + Send + 'static,
    ) -> Result<Server, Error>
    where
        OpenError: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|source| Error::Listen {
                addr: listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| Error::Listen {
            addr: listen,
            source,
        })?;
        let engine =
            tokio::task::block_in_place(|| open(keys)).map_err(|e| Error::Open(e.into()))?;
        let (stop, stopped) = oneshot::channel::<()>();
        let shutdown = async move {
            tokio::select! {
                _ = signal => {}
                _ = stopped => {}
            }
        };
        // The storefront's pages call the API from the browser: their own origin is allowed.
        let origins = tailor_server::cors::CorsOrigins::None.with(&format!("http://{addr}"));
        let state = AppState::new(engine.clone()).with_cors_origins(origins);
        let pages = crate::storefront(engine.clone(), &keys.write_key);
        let task = tokio::spawn(tailor_server::serve_with(listener, state, pages, shutdown));
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
    async fn stop(mut self) -> Result<(), Error> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.finished().await
    }

    /// Waits until the server stops (the shutdown signal or `stop`).
    async fn finished(self) -> Result<(), Error> {
        self.task
            .await
            .map_err(|source| Error::Stopped {
                what: "the server task",
                source,
            })?
            .map_err(Error::Server)
    }
}

async fn build_and_serve(
    options: &Options,
    mut server: Server,
    keys: &DemoKeys,
    started: Instant,
    signal: impl Future<Output = ()>,
) -> Result<(), Error> {
    let base = format!("http://{}", server.reachable_addr());
    let api = Arc::new(client::Api::new(
        base,
        // The history is what the store's backend knows about its shoppers: sent with the
        // server key, so logins join devices to customers as they would in production.
        keys.server_key.clone(),
        keys.admin_key.clone(),
    )?);
    let unfinished = || {
        format!(
            "the demo in {} was not finished; run the command again to rebuild it",
            options.data.display()
        )
    };
    let built = tokio::select! {
        r = build_store(options, &api, &server.engine, started) => r,
        _ = signal => Err(Error::Failed("interrupted".into())),
        r = &mut server.task => {
            let why = match r {
                Ok(Ok(())) => "it stopped".to_string(),
                Ok(Err(e)) => e.to_string(),
                Err(e) => e.to_string(),
            };
            fail!("the server failed while the demo was being built ({why}); {}", unfinished());
        }
    };
    let summary = match built {
        Ok(summary) => summary,
        Err(e) => {
            // Stop cleanly so what was sent is flushed; the next run starts over anyway.
            let _ = server.stop().await;
            return Err(e.during(unfinished()));
        }
    };
    if options.no_serve {
        server.stop().await?;
        report::print(None, &options.data, keys, &summary, false);
        return Ok(());
    }
    report::print(
        Some(server.reachable_addr()),
        &options.data,
        keys,
        &summary,
        false,
    );
    server.finished().await
}

/// Builds the whole store through the public API and records it as complete.
async fn build_store(
    args: &Options,
    api: &Arc<client::Api>,
    engine: &Engine,
    started: Instant,
) -> Result<Summary, Error> {
    let dir = args.data.as_path();
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
    .map_err(|source| Error::Stopped {
        what: "the simulation",
        source,
    })??;
    eprintln!(
        "  shoppers: {shoppers} simulated over {days} days, {} events ({:.1} s)",
        simulated.events.len(),
        simulating.elapsed().as_secs_f64()
    );
    write_truth(dir, args, simulate::history_end(now), &catalog, &simulated)?;

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
        .map_err(|source| Error::Stopped {
            what: "the trainer",
            source,
        })?
        .map_err(|e| Error::from(e).during("cannot train the prediction models"))?;
    eprintln!(
        "  models: {}",
        report::models_line(&serde_json::to_value(&version)?)
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
        let value = |metric: &Value, i: usize| metric[i]["value"].as_f64().unwrap_or(0.0);
        let lift = |metric: &Value| {
            let l = &metric[1]["frequentist"];
            match (l["lift"].as_f64(), l["ci"][0].as_f64(), l["ci"][1].as_f64()) {
                (Some(lift), Some(low), Some(high)) => format!(
                    "{:+.0}%, 95% CI {:+.0}% to {:+.0}%",
                    100.0 * lift,
                    100.0 * low,
                    100.0 * high
                ),
                _ => "no lift computed".to_string(),
            }
        };
        eprintln!(
            "  live: {} visits, {} orders; experiment {}: conversion {:.1}% held out, {:.1}% personalized ({}), revenue per visitor ${:.2} vs ${:.2} (lift {}; adjusted for revenue before the experiment, CUPED: {}); {} carts left at the checkout, {} ordered on a later visit ({:.1} s)",
            live.visits,
            live.orders,
            live::EXPERIMENT,
            100.0 * value(&live.results, 0),
            100.0 * value(&live.results, 1),
            p_value(live.results[1]["frequentist"]["pValue"].as_f64()),
            value(&live.revenue, 0),
            value(&live.revenue, 1),
            lift(&live.revenue),
            lift(&live.revenue_cuped),
            live.abandoned,
            live.returned,
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

/// A p-value as a paper prints one: `p < 0.0001` below it, else four decimals.
fn p_value(p: Option<f64>) -> String {
    match p {
        Some(p) if p < 0.0001 => "p < 0.0001".into(),
        Some(p) => format!("p = {p:.4}"),
        None => "p not computed".into(),
    }
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
    args: &Options,
    now: tailor_core::Millis,
    catalog: &catalog::Catalog,
    sim: &simulate::Simulation,
) -> Result<(), Error> {
    let path = dir.join(TRUTH_FILE);
    let fail = || Error::file("write", &path);
    let head = json!({
        "note": "Hidden preferences the demo's shoppers were simulated from. Tailor never \
                 saw them; score models built from the events against them.",
        "seed": args.seed,
        "days": args.days,
        "end": format_timestamp(now),
    })
    .to_string();
    let head = head.strip_suffix('}').unwrap_or(&head);
    let mut out = std::io::BufWriter::new(create_private(&path)?);
    write!(out, "{head},\"shoppers\":[").map_err(fail())?;
    for (i, (s, o)) in sim.shoppers.iter().zip(&sim.outcomes).enumerate() {
        out.write_all(if i == 0 { b"\n" } else { b",\n" })
            .map_err(fail())?;
        let start = now - i64::from(args.days) * tailor_core::time::DAY;
        serde_json::to_writer(&mut out, &shoppers::truth_json(s, o, catalog, start))
            .map_err(|e| fail()(e.into()))?;
    }
    out.write_all(b"\n]}\n").map_err(fail())?;
    out.flush().map_err(fail())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p_values_print_as_papers_print_them() {
        assert_eq!(p_value(Some(0.0)), "p < 0.0001");
        assert_eq!(p_value(Some(0.01234)), "p = 0.0123");
        assert_eq!(p_value(None), "p not computed");
    }

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
