//! `tailor eval intent`: purchase propensity, next-category interest, send time and the
//! per-category forecast (issue 4, parts 3, 4, 5 and 7), each against its baseline, on a time
//! split of a data directory's event log (e.g. the one `tailor demo` builds).
//!
//! The split: everything before the cut (`--split-days` before the last event) is history;
//! models are fitted on it, with their settings chosen on its last weeks; features are taken
//! as of the cut; the weeks after the cut are the labels. `demo-truth.json`, when the directory
//! is a demo's, is read only after every model is fitted, to score predictions (`truth`).
//!
//! Reading the log is `log`; each task is evaluated in its own module.

mod forecast;
mod log;
mod next_category;
mod propensity;
mod send_time;
mod truth;

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use serde_json::json;
use tailor_core::time::format_timestamp;
use tailor_ml::intent::DAY;

use crate::error::{Error, invalid};

/// The shortest split: the next-category window.
const MIN_SPLIT_DAYS: u32 = 14;
/// History needed before the cut: a week to learn from and a week to validate on.
const MIN_HISTORY_DAYS: f64 = 14.0;

/// Which log, and how much of it to hold out; the binary's flags of the same names.
#[derive(Debug, Clone)]
pub struct IntentOptions {
    /// Data directory holding the event log (`tailor.db`), e.g. one `tailor demo` built.
    pub data: PathBuf,
    /// Days after the cut, held out as the future; the forecast covers min(4, N / 7) weeks.
    pub split_days: u32,
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

/// Every task's scores, for the tables or the JSON.
pub struct IntentReport {
    data: PathBuf,
    log: log::EventLog,
    split: Split,
    propensity: propensity::PropensityReport,
    next_category: next_category::NextCategoryReport,
    send_time: send_time::SendTimeReport,
    forecast: forecast::ForecastReport,
    truth: Option<truth::TruthReport>,
    seconds: f64,
}

/// Reads the log, fits every model on the history and scores it on the held-out future.
pub fn evaluate(args: &IntentOptions) -> Result<IntentReport, Error> {
    let started = Instant::now();
    if args.split_days < MIN_SPLIT_DAYS {
        invalid!(
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
        invalid!(
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
    Ok(IntentReport {
        data: args.data.clone(),
        log,
        split,
        propensity,
        next_category,
        send_time,
        forecast,
        truth,
        seconds: started.elapsed().as_secs_f64(),
    })
}

fn millis(t: f64) -> String {
    format_timestamp((t * 1000.0) as i64)
}

impl IntentReport {
    pub fn to_json(&self) -> serde_json::Value {
        let (log, split) = (&self.log, &self.split);
        json!({
            "data": {
                "dir": self.data.display().to_string(),
                "events": log.events,
                "customers": log.customers.len(),
                "categories": log.categories.len(),
                "first": millis(split.first),
                "cut": millis(split.cut),
                "last": millis(split.last),
                "split_days": split.days,
            },
            "propensity": self.propensity.to_json(),
            "next_category": self.next_category.to_json(),
            "send_time": self.send_time.to_json(),
            "forecast": self.forecast.to_json(&log.categories),
            "truth": self.truth.as_ref().map(truth::TruthReport::to_json),
            "seconds": self.seconds,
        })
    }

    /// The readable tables, one per task.
    pub fn table(&self) -> String {
        let (log, split) = (&self.log, &self.split);
        let mut out = String::new();
        let _ = writeln!(
            out,
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
        let _ = writeln!(out);
        self.propensity.write(&mut out);
        let _ = writeln!(out);
        self.next_category.write(&mut out);
        let _ = writeln!(out);
        self.send_time.write(&mut out);
        let _ = writeln!(out);
        self.forecast.write(&mut out, &log.categories);
        let _ = writeln!(out);
        if let Some(truth) = &self.truth {
            truth.write(&mut out);
            let _ = writeln!(out);
        }
        let _ = writeln!(out, "{:.2} s in all", self.seconds);
        out
    }
}
