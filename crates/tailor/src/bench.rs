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
    /// Run the soak instead for this long (`90s`, `10m`, `1h`): ingest, decide, catalog
    /// changes, experiment reads, a journey's webhooks, erasures and retention at once,
    /// sampled every minute; fails on a 5xx or unexplained memory or disk growth.
    #[arg(long, value_parser = parse_duration)]
    soak: Option<std::time::Duration>,
    /// With --soak: time between samples.
    #[arg(long, default_value = "1m", value_parser = parse_duration)]
    soak_every: std::time::Duration,
    /// With --soak: events per second.
    #[arg(long, default_value_t = 400)]
    soak_events: u32,
    /// With --soak: decisions per second.
    #[arg(long, default_value_t = 100)]
    soak_decides: u32,
    /// With --soak: no erasures (to see what they cost the other routes).
    #[arg(long)]
    soak_no_erasures: bool,
    /// With --soak: where the samples (CSV), the table and the SVG plots go.
    #[arg(long, default_value = "soak")]
    soak_out: std::path::PathBuf,
}

/// `90s`, `10m`, `1h`, or plain seconds.
fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let s = s.trim();
    let (digits, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{s:?} is not a duration such as 90s, 10m or 1h"))?;
    let secs = match unit {
        "" | "s" => n,
        "m" | "min" => n * 60,
        "h" => n * 3600,
        _ => return Err(format!("{s:?}: the unit must be s, m or h")),
    };
    Ok(std::time::Duration::from_secs(secs))
}

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    let report = if let Some(duration) = args.soak {
        tailor_bench::soak::run(tailor_bench::soak::SoakOptions {
            duration,
            every: args.soak_every,
            events_per_sec: args.soak_events,
            decides_per_sec: args.soak_decides,
            out: args.soak_out,
            data: args.data,
            erasures: !args.soak_no_erasures,
        })?
    } else if args.journeys {
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
