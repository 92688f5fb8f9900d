//! `tailor demo`: the flags, the settings they make, and the engine on the demo's data
//! directory, handed to `tailor-demo`, which builds the store and serves it with its
//! storefront.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use tailor_core::SystemClock;

use crate::config::ServeArgs;
use crate::server::{init_logging, open_engine, runtime, shutdown_signal};

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Data directory [default: ./tailor-demo-data]
    #[arg(long, env = "TAILOR_DATA")]
    data: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080; with --no-serve, any free local port]
    #[arg(long, env = "TAILOR_LISTEN")]
    listen: Option<String>,
    /// The same seed builds the same store, shoppers and history: the same events, dated
    /// to end at the last midnight (UTC), whenever it runs. The live visits happen now and
    /// buy after what the recommendations show them, which depend on models that train in
    /// the background while events arrive: their orders, and the experiment and journeys
    /// they feed, can differ by a few from one build to the next.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Number of simulated shoppers (each adds about 65 events, held in memory until sent).
    #[arg(long, default_value_t = 5_000, value_parser = clap::value_parser!(u32).range(1..=50_000))]
    shoppers: u32,
    /// Simulated days of history, ending at the last midnight (UTC).
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u32).range(1..=365))]
    days: u32,
    /// Number of products (at least one per leaf category: 28).
    #[arg(long, default_value_t = 1_200, value_parser = clap::value_parser!(u32).range(28..=100_000))]
    products: u32,
    /// Shoppers who visit live after the history is loaded, under an experiment on the
    /// recommendations (0: none). They arrive within seconds at the end of the log, so
    /// their events are marked to be left out of model training and evaluations.
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

pub fn run(args: DemoArgs) -> anyhow::Result<()> {
    // With --no-serve nothing outlives the command, so any free port will do.
    let listen = args
        .listen
        .clone()
        .or_else(|| args.no_serve.then(|| "127.0.0.1:0".to_string()));
    let settings = ServeArgs {
        data: args.data.clone(),
        listen,
        log_format: args.log_format.clone(),
        ..Default::default()
    }
    .settings(tailor_demo::DEFAULT_DEMO_DATA)?;
    // The demo reports its own progress; the server's routine logs would bury it.
    init_logging(settings.json_logs, "warn");
    let options = tailor_demo::Options {
        data: settings.data.clone(),
        listen: settings.listen,
        seed: args.seed,
        shoppers: args.shoppers,
        days: args.days,
        products: args.products,
        live_visits: args.live_visits,
        fresh: args.fresh,
        no_serve: args.no_serve,
    };
    // The demo's own keys, on the embedded store, with `tailor serve`'s other defaults.
    let open = |keys: &tailor_demo::DemoKeys| {
        let mut settings = settings.clone();
        settings.write_key = Some(keys.write_key.clone());
        settings.server_key = Some(keys.server_key.clone());
        settings.admin_key = Some(keys.admin_key.clone());
        settings.analyst_key = Some(keys.analyst_key.clone()).filter(|k| !k.is_empty());
        open_engine(&settings, Arc::new(SystemClock)).map(|(engine, _)| engine)
    };
    runtime()?.block_on(tailor_demo::run(options, open, shutdown_signal))?;
    Ok(())
}
