//! `tailor eval recs`: next-item recommendation from session clicks, Tailor against
//! session-rec's baselines, under session-rec's "next item" protocol (HR@20, MRR@20).
//! Reading the click files lives here; the models and the protocol live in `tailor-ml`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::{Value, json};
use tailor_ml::session_recs::protocol::{self, Accuracy};
use tailor_ml::session_recs::{
    Click, ItemId, ItemIndex, NextItem, Pop, SequentialRules, Tailor, VSknn,
};

use crate::error::{Error, Invalid, invalid};

/// Recommendation list length the protocol checks.
const CUTOFF: usize = 20;

/// What to evaluate on.
#[derive(Debug, Clone)]
pub struct RecsOptions {
    /// Training clicks: tab-separated `SessionId ItemId Time` after a header line.
    pub train: PathBuf,
    /// Test clicks, same format.
    pub test: Option<PathBuf>,
    /// Instead of `test`, hold out the training sessions that end in the last N days.
    pub holdout_days: Option<f64>,
}

struct ModelResult {
    name: &'static str,
    accuracy: Accuracy,
    fit_seconds: f64,
    evaluate_seconds: f64,
}

/// Every model's accuracy on the test sessions.
pub struct RecsReport {
    training_clicks: usize,
    trained_items: usize,
    test_sessions: usize,
    predictions: usize,
    results: Vec<ModelResult>,
    seconds: f64,
}

pub fn evaluate(options: &RecsOptions) -> Result<RecsReport, Error> {
    let started = Instant::now();
    let mut items = ItemIndex::new();
    let mut train = read_clicks(&options.train, &mut items)?;
    let test = match (&options.test, options.holdout_days) {
        (Some(path), _) => read_clicks(path, &mut items)?,
        (None, Some(days)) if days > 0.0 => {
            let (rest, holdout) = protocol::split_last_days(&train, days);
            train = rest;
            holdout
        }
        (None, Some(days)) => invalid!("--holdout-days must be positive, got {days}"),
        (None, None) => invalid!("give --test FILE or --holdout-days N"),
    };
    if train.is_empty() {
        invalid!("no training clicks");
    }
    let sessions = protocol::next_item_sessions(&train, &test);
    let predictions: usize = sessions.iter().map(|s| s.len() - 1).sum();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());

    let results = vec![
        measure::<Pop>("pop", &train, &sessions, threads),
        measure::<SequentialRules>("sr", &train, &sessions, threads),
        measure::<VSknn>("vsknn", &train, &sessions, threads),
        measure::<Tailor>("tailor", &train, &sessions, threads),
    ];
    let seconds = started.elapsed().as_secs_f64();
    let mut trained_items: Vec<ItemId> = train.iter().map(|c| c.item).collect();
    trained_items.sort_unstable();
    trained_items.dedup();
    Ok(RecsReport {
        training_clicks: train.len(),
        trained_items: trained_items.len(),
        test_sessions: sessions.len(),
        predictions,
        results,
        seconds,
    })
}

impl RecsReport {
    /// One JSON object: every model's HR@20 and MRR@20, the prediction count, the time.
    pub fn to_json(&self) -> Value {
        let models: serde_json::Map<String, Value> = self
            .results
            .iter()
            .map(|r| {
                let scores = json!({
                    format!("hr@{CUTOFF}"): r.accuracy.hit_rate(),
                    format!("mrr@{CUTOFF}"): r.accuracy.mrr(),
                });
                (r.name.to_string(), scores)
            })
            .collect();
        json!({
            "models": models,
            "predictions": self.predictions,
            "seconds": self.seconds,
        })
    }

    /// The readable table, one line per model.
    pub fn table(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = self.write_table(&mut out);
        out
    }

    fn write_table(&self, out: &mut String) -> std::fmt::Result {
        writeln!(
            out,
            "{} training clicks, {} items; {} test sessions, {} next-item predictions (session-rec protocol)",
            self.training_clicks, self.trained_items, self.test_sessions, self.predictions
        )?;
        writeln!(
            out,
            "{:<8} {:>8} {:>8} {:>8} {:>8}",
            "model",
            format!("HR@{CUTOFF}"),
            format!("MRR@{CUTOFF}"),
            "fit s",
            "eval s"
        )?;
        for r in &self.results {
            writeln!(
                out,
                "{:<8} {:>8.4} {:>8.4} {:>8.3} {:>8.3}",
                r.name,
                r.accuracy.hit_rate(),
                r.accuracy.mrr(),
                r.fit_seconds,
                r.evaluate_seconds
            )?;
        }
        writeln!(out, "{:.2} s in all", self.seconds)
    }
}

fn measure<M: NextItem + Sync>(
    name: &'static str,
    train: &[Click],
    sessions: &[Vec<ItemId>],
    threads: usize,
) -> ModelResult {
    let fit_started = Instant::now();
    let model = M::fit(train);
    let fit_seconds = fit_started.elapsed().as_secs_f64();
    let evaluate_started = Instant::now();
    let accuracy = protocol::evaluate(&model, sessions, CUTOFF, threads);
    ModelResult {
        name,
        accuracy,
        fit_seconds,
        evaluate_seconds: evaluate_started.elapsed().as_secs_f64(),
    }
}

/// Reads a session-rec click file: a header line naming `SessionId`, `ItemId` and `Time`
/// (in any order, tab-separated), then one click per line.
pub fn read_clicks(path: &Path, items: &mut ItemIndex) -> Result<Vec<Click>, Error> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::reading(path, e))?;
    parse_clicks(&text, items).map_err(|e| e.in_file(path))
}

fn parse_clicks(text: &str, items: &mut ItemIndex) -> Result<Vec<Click>, Invalid> {
    let mut reader = crate::tsv_reader().from_reader(text.as_bytes());
    let mut lines = crate::Lines::new(text);
    let mut record = csv::StringRecord::new();
    if !reader.read_record(&mut record)? {
        invalid!("empty file: expected a header line `SessionId<TAB>ItemId<TAB>Time`");
    }
    let header = record.clone();
    let column = |name: &str| {
        header.iter().position(|c| c == name).ok_or_else(|| {
            Invalid::new(format!(
                "the header line has no `{name}` column: {:?}",
                header.iter().collect::<Vec<_>>().join("\t")
            ))
        })
    };
    let (session_column, item_column, time_column) =
        (column("SessionId")?, column("ItemId")?, column("Time")?);
    let needed = session_column.max(item_column).max(time_column) + 1;

    let mut clicks = Vec::new();
    while reader.read_record(&mut record)? {
        let line = lines.of(&record);
        if record.len() < needed {
            invalid!(
                "line {line}: expected {} tab-separated fields, found {}",
                header.len(),
                record.len()
            );
        }
        let field = |column: usize, what: &str| {
            let value = &record[column];
            (value, format!("line {line}: {what} {value:?}"))
        };
        let (value, context) = field(session_column, "session id");
        let session: u64 = value
            .parse()
            .map_err(|e| Invalid::caused(format!("{context} is not a non-negative integer"), e))?;
        let (value, context) = field(item_column, "item id");
        let item: u64 = value
            .parse()
            .map_err(|e| Invalid::caused(format!("{context} is not a non-negative integer"), e))?;
        let (value, context) = field(time_column, "time");
        let time: f64 = value
            .parse()
            .ok()
            .filter(|t: &f64| t.is_finite())
            .ok_or_else(|| Invalid::new(format!("{context} is not a number of seconds")))?;
        clicks.push(Click {
            session,
            item: items.intern(item),
            time,
        });
    }
    Ok(clicks)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str, items: &mut ItemIndex) -> Result<Vec<Click>, Invalid> {
        parse_clicks(text, items)
    }

    #[test]
    fn parses_session_rec_files_by_header() {
        let mut items = ItemIndex::new();
        let text = "SessionId\tItemId\tTime\n1\t214536502\t1396860669.277\n1\t7\t1396860886\r\n\n";
        let clicks = parse(text, &mut items).expect("valid file");
        assert_eq!(clicks.len(), 2);
        assert_eq!(clicks[0].item, 0);
        assert_eq!(items.external(clicks[0].item), Some(214_536_502));
        assert_eq!(clicks[1].time, 1_396_860_886.0);

        // Columns in another order.
        let text = "Time\tSessionId\tItemId\n5.5\t9\t3\n";
        let clicks = parse(text, &mut items).expect("valid file");
        assert_eq!((clicks[0].session, clicks[0].time), (9, 5.5));
    }

    #[test]
    fn reports_what_is_wrong_and_where() {
        let mut items = ItemIndex::new();
        let error = |text: &str| crate::chain(&parse(text, &mut ItemIndex::new()).unwrap_err());
        assert!(error("").contains("header"));
        assert!(error("SessionId\tItem\tTime\n").contains("`ItemId`"));
        assert!(error("SessionId\tItemId\tTime\n1\t2\n").contains("line 2"));
        let message = error("SessionId\tItemId\tTime\n1\t2\t3\n1\tabc\t4\n");
        assert!(
            message.contains("line 3") && message.contains("item id"),
            "{message}"
        );
        assert!(error("SessionId\tItemId\tTime\n1\t2\tNaN\n").contains("time"));
        assert!(parse("SessionId\tItemId\tTime\n", &mut items).is_ok_and(|c| c.is_empty()));
    }
}
