//! Tailor's offline evaluations, the library behind `tailor eval`: each command reads its
//! files, fits Tailor's models and their baselines, and returns a report that prints as a
//! table or as one JSON object. The models and protocols live in `tailor-ml`; this crate
//! owns the file formats, the splits and the reports.
//!
//! - [`recs`]: next-item recommendations from session clicks (session-rec's protocol).
//! - [`ope`]: off-policy estimates from logged bandit feedback (Open Bandit format).
//! - [`intent`]: purchase propensity, next category, send time and forecast on an event log.
//! - [`clv`]: BG/NBD, Pareto/NBD and Gamma-Gamma on a transaction export.
//!
//! Errors are `anyhow` chains: every one ends as a message to the person who ran the
//! command, and none is matched on.

pub mod clv;
pub mod intent;
pub mod ope;
pub mod recs;

/// A reader for the comma-separated files: a header line, fields trimmed, rows of any
/// length (each reader checks the count and says which line is short).
fn csv_reader() -> csv::ReaderBuilder {
    let mut builder = csv::ReaderBuilder::new();
    builder
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All);
    builder
}

/// The same for tab-separated files (session-rec's click files).
fn tsv_reader() -> csv::ReaderBuilder {
    let mut builder = csv_reader();
    builder.delimiter(b'\t');
    builder
}

/// The 1-based line a record starts on, for error messages.
fn line_of(record: &csv::StringRecord) -> u64 {
    record.position().map_or(0, csv::Position::line)
}
