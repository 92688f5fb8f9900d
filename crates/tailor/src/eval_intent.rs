//! `tailor eval intent`: purchase propensity, next-category interest, send time and the
//! per-category forecast (issue 4, parts 3, 4, 5 and 7), each against its baseline, on a time
//! split of a data directory's event log (e.g. the one `tailor demo` builds).
//!
//! The split: everything before the cut (`--split-days` before the last event) is history;
//! models are fitted on it, with their settings chosen on its last weeks; features are taken
//! as of the cut; the weeks after the cut are the labels. `demo-truth.json`, when the directory
//! is a demo's, is read only after every model is fitted, to score predictions ([`truth`]).
//!
//! Reading the log is [`log`]; each task is evaluated in its own module.

mod forecast;
mod log;
mod next_category;
mod propensity;
mod send_time;
mod truth;

use std::path::PathBuf;
use std::time::Instant;

use anyhow::bail;
use clap::Args;
use serde_json::json;
use tailor_core::time::format_timestamp;
use tailor_ml::intent::DAY;

/// The shortest split: the next-category window.
const MIN_SPLIT_DAYS: u32 = 14;
/// History needed before the cut: a week to learn from and a week to validate on.
const MIN_HISTORY_DAYS: f64 = 14.0;

#[derive(Args, Debug)]
pub struct IntentArgs {
    /// Data directory holding the event log (`tailor.db`), e.g. one `tailor demo` built.
    #[arg(long, env = "TAILOR_DATA")]
    data: PathBuf,
    /// Days after the cut, held out as the future; the forecast covers min(4, N / 7) weeks.
    #[arg(long, default_value_t = 28)]
    split_days: u32,
    /// Print one JSON object instead of tables.
    #[arg(long)]
    json: bool,
}

/// Where the log is cut into past and future.
#[derive(Debug, Clone, Copy)]
pub struct Split {
    /// First and last event, and the cut; seconds.
    pub first: f64,
    pub last: f64,
    pub cut: f64,
    pub days: u32,
}

impl Split {
    /// Whole weeks after the cut the forecast is scored on (at most 4).
    pub fn forecast_weeks(&self) -> usize {
        (self.days as usize / 7).min(4)
    }
}

pub fn run(args: IntentArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    if args.split_days < MIN_SPLIT_DAYS {
        bail!(
            "--split-days must be at least {MIN_SPLIT_DAYS} (the next-category window), got {}",
            args.split_days
        );
    }
    let log = log::read(&args.data)?;
    let split = Split {
        first: log.first,
        last: log.last,
        cut: log.last - f64::from(args.split_days) * DAY,
        days: args.split_days,
    };
    let history_days = (split.cut - split.first) / DAY;
    if history_days < MIN_HISTORY_DAYS {
        bail!(
            "the log spans {:.1} days: too short to hold out {} days and keep {MIN_HISTORY_DAYS} days of \
             history before them; lower --split-days or use a longer log",
            (split.last - split.first) / DAY,
            split.days
        );
    }

    let propensity = propensity::evaluate(&log, &split)?;
    let next_category = next_category::evaluate(&log, &split)?;
    let send_time = send_time::evaluate(&log, &split)?;
    let forecast = forecast::evaluate(&log, &split, &propensity.seven_day_model)?;
    let truth = truth::evaluate(&args.data, &log, split.cut, &send_time, &next_category)?;
    let seconds = started.elapsed().as_secs_f64();

    let millis = |t: f64| format_timestamp((t * 1000.0) as i64);
    if args.json {
        let report = json!({
            "data": {
                "dir": args.data.display().to_string(),
                "events": log.events,
                "customers": log.customers.len(),
                "categories": log.categories.len(),
                "first": millis(split.first),
                "cut": millis(split.cut),
                "last": millis(split.last),
                "split_days": split.days,
            },
            "propensity": propensity.to_json(),
            "next_category": next_category.to_json(),
            "send_time": send_time.to_json(),
            "forecast": forecast.to_json(&log.categories),
            "truth": truth.as_ref().map(truth::TruthReport::to_json),
            "seconds": seconds,
        });
        println!("{report}");
        return Ok(());
    }
    println!(
        "{} events, {} customers, {} categories; history {} – {}, held out {} – {} ({} days)",
        log.events,
        log.customers.len(),
        log.categories.len(),
        millis(split.first),
        millis(split.cut),
        millis(split.cut),
        millis(split.last),
        split.days
    );
    println!();
    propensity.print();
    println!();
    next_category.print();
    println!();
    send_time.print();
    println!();
    forecast.print(&log.categories);
    println!();
    if let Some(truth) = &truth {
        truth.print();
        println!();
    }
    println!("{seconds:.2} s in all");
    Ok(())
}
