//! Tailor's benchmarks, the library behind `tailor bench`: end-to-end workloads against the
//! real HTTP server on loopback, in this process, on a fresh data directory.
//!
//! - [`ingest`]: durable ingest through `/v1/batch`, profile reads, and `decide` in the
//!   engine and over HTTP keep-alive (the budgets in BENCHMARKS.md), on the uniform and the
//!   skewed data shapes ([`workload`]), with bytes on disk per event and per decision.
//! - [`journeys`]: the journey scheduler's messages per second through the outbox to a
//!   webhook receiver, and pending-timer capacity.
//! - [`soak`]: everything at once for a long time (ingest, decide, catalog changes,
//!   experiment reads, a journey's webhooks, erasures, retention), sampled every minute;
//!   fails on a 5xx or on memory or disk growth the data does not explain.
//!
//! Progress goes to stderr; the results come back as a [`Report`], failures as an [`Error`].

mod disk;
mod error;
pub mod ingest;
pub mod journeys;
mod server;
pub mod soak;
mod svg;
pub mod workload;
mod wrk;

use serde_json::Value;

pub use error::Error;

/// A benchmark's results: one JSON object, and the same as readable lines.
pub struct Report {
    json: Value,
    text: String,
    /// `tailor bench --json` has always printed the ingest results indented, the journeys
    /// results on one line; scripts may rely on either.
    pretty: bool,
}

impl Report {
    pub fn to_json(&self) -> &Value {
        &self.json
    }

    /// The JSON as `tailor bench --json` prints it.
    pub fn json_text(&self) -> String {
        if self.pretty {
            serde_json::to_string_pretty(&self.json).unwrap_or_default()
        } else {
            self.json.to_string()
        }
    }

    /// The readable lines.
    pub fn text(&self) -> &str {
        &self.text
    }
}
