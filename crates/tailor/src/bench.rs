//! `tailor bench`: the flags, handed to `tailor-bench`, and its results printed.

use clap::Args;
use tailor_bench::workload::Shape;

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Events to ingest.
    #[arg(long, default_value_t = 1_000_000)]
    events: usize,
    /// Events per `/v1/batch` request.
    #[arg(long, default_value_t = 500)]
    batch: usize,
    /// Concurrent HTTP clients.
    #[arg(long, default_value_t = 8)]
    clients: usize,
    /// Distinct people the events belong to.
    #[arg(long, default_value_t = 100_000)]
    profiles: usize,
    /// Profile reads and decisions to time.
    #[arg(long, default_value_t = 20_000)]
    reads: usize,
    /// The data: `uniform` (events spread evenly), `skewed` (a 100k-product catalog,
    /// power-law shoppers and sessions up to 1,000 views, bestsellers in half the sessions)
    /// or `both`, one after the other, reported side by side.
    #[arg(long, default_value = "uniform", value_parser = ["uniform", "skewed", "both"])]
    shape: String,
    /// Print the results as JSON.
    #[arg(long)]
    json: bool,
    /// Keep the data in this directory (default: a temporary one, removed afterwards).
    #[arg(long)]
    data: Option<std::path::PathBuf>,
    /// Also run the ingest benchmark on this empty PostgreSQL database, after SQLite, and
    /// report both.
    #[arg(long, env = "TAILOR_BENCH_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// Measure the journey scheduler instead: messages/s through the outbox to a webhook
    /// receiver on loopback, and pending-timer capacity.
    #[arg(long)]
    journeys: bool,
    /// With --journeys: people entering the journey, one message each.
    #[arg(long, default_value_t = 20_000)]
    people: usize,
    /// With --journeys: pending timers written for the capacity measurement.
    #[arg(long, default_value_t = 1_000_000)]
    timers: usize,
}

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    let report = if args.journeys {
        tailor_bench::journeys::run(tailor_bench::journeys::JourneyOptions {
            people: args.people,
            timers: args.timers,
        })?
    } else {
        let options = tailor_bench::ingest::IngestOptions {
            events: args.events,
            batch: args.batch,
            clients: args.clients,
            profiles: args.profiles,
            reads: args.reads,
            data: args.data,
            shapes: match args.shape.as_str() {
                "skewed" => vec![Shape::Skewed],
                "both" => vec![Shape::Uniform, Shape::Skewed],
                _ => vec![Shape::Uniform],
            },
            database_url: None,
        };
        let sqlite = tailor_bench::ingest::run(&options)?;
        if let Some(url) = args.database_url {
            let postgres = tailor_bench::ingest::run(&tailor_bench::ingest::IngestOptions {
                database_url: Some(url),
                data: None,
                ..options
            })?;
            return print_side_by_side(&sqlite, &postgres, args.json);
        }
        sqlite
    };
    if args.json {
        println!("{}", report.json_text());
    } else {
        print!("{}", report.text());
    }
    Ok(())
}

/// The same workload on SQLite and on PostgreSQL, measured in one run.
fn print_side_by_side(
    sqlite: &tailor_bench::Report,
    postgres: &tailor_bench::Report,
    json: bool,
) -> anyhow::Result<()> {
    if json {
        let both = serde_json::json!({"sqlite": sqlite.to_json(), "postgres": postgres.to_json()});
        println!("{}", serde_json::to_string_pretty(&both)?);
    } else {
        print!(
            "SQLite (embedded):\n{}\nPostgreSQL:\n{}",
            sqlite.text(),
            postgres.text()
        );
    }
    Ok(())
}
