//! `tailor eval`: offline evaluation of Tailor's models on exported data or the shared data
//! sets. Reading the files lives here; the models and the protocols live in `tailor-ml`.
//!
//! `tailor eval recs`: next-item recommendation from session clicks, Tailor against
//! session-rec's baselines, under session-rec's "next item" protocol (HR@20, MRR@20).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde_json::json;
use tailor_ml::session_recs::protocol::{self, Accuracy};
use tailor_ml::session_recs::{
    Click, ItemId, ItemIndex, NextItem, Pop, SequentialRules, Tailor, VSknn,
};

/// Recommendation list length the protocol checks.
const CUTOFF: usize = 20;

#[derive(Args, Debug)]
pub struct EvalArgs {
    #[command(subcommand)]
    command: EvalCommand,
}

#[derive(Subcommand, Debug)]
enum EvalCommand {
    /// Next-item recommendations from session clicks: Tailor against popularity, sequential
    /// rules and V-SKNN (session-rec's parameters), scored with session-rec's protocol.
    Recs(RecsArgs),
    /// Off-policy evaluation: a target policy's CTR estimated from another policy's logs
    /// (IPW, SNIPW, DM, DR), and Tailor's own policy learned from them (Open Bandit format).
    Ope(crate::eval_ope::OpeArgs),
    /// Purchase propensity, next-category interest, send time and per-category forecast, each
    /// against its baseline, on a time split of a data directory's event log.
    Intent(crate::eval_intent::IntentArgs),
    /// Customer lifetime value: BG/NBD, Pareto/NBD and Gamma-Gamma fitted on a calibration
    /// period, scored on the hold-out that follows.
    Clv(crate::eval_clv::ClvArgs),
}

#[derive(Args, Debug)]
struct RecsArgs {
    /// Training clicks: tab-separated `SessionId ItemId Time` (numeric ids, Unix seconds) after
    /// a header line naming the columns.
    #[arg(long)]
    train: PathBuf,
    /// Test clicks, same format. Items absent from training are dropped, then sessions with
    /// fewer than 2 clicks.
    #[arg(long, required_unless_present = "holdout_days")]
    test: Option<PathBuf>,
    /// Instead of --test, hold out the training sessions that end in the last N days and
    /// train on the rest (how Tailor's parameters were chosen).
    #[arg(long, conflicts_with = "test")]
    holdout_days: Option<f64>,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

pub fn run(args: EvalArgs) -> anyhow::Result<()> {
    match args.command {
        EvalCommand::Recs(args) => recs(args),
        EvalCommand::Ope(args) => crate::eval_ope::run(args),
        EvalCommand::Intent(args) => crate::eval_intent::run(args),
        EvalCommand::Clv(args) => crate::eval_clv::run(args),
    }
}

struct ModelResult {
    name: &'static str,
    accuracy: Accuracy,
    fit_seconds: f64,
    evaluate_seconds: f64,
}

fn recs(args: RecsArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut items = ItemIndex::new();
    let mut train = read_clicks(&args.train, &mut items)?;
    let test = match (&args.test, args.holdout_days) {
        (Some(path), _) => read_clicks(path, &mut items)?,
        (None, Some(days)) if days > 0.0 => {
            let (rest, holdout) = protocol::split_last_days(&train, days);
            train = rest;
            holdout
        }
        (None, Some(days)) => bail!("--holdout-days must be positive, got {days}"),
        (None, None) => bail!("give --test FILE or --holdout-days N"),
    };
    if train.is_empty() {
        bail!("no training clicks");
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

    if args.json {
        let models: serde_json::Map<String, serde_json::Value> = results
            .iter()
            .map(|r| {
                let scores = json!({
                    format!("hr@{CUTOFF}"): r.accuracy.hit_rate(),
                    format!("mrr@{CUTOFF}"): r.accuracy.mrr(),
                });
                (r.name.to_string(), scores)
            })
            .collect();
        let report = json!({
            "models": models,
            "predictions": predictions,
            "seconds": seconds,
        });
        println!("{report}");
        return Ok(());
    }

    let mut trained_items: Vec<ItemId> = train.iter().map(|c| c.item).collect();
    trained_items.sort_unstable();
    trained_items.dedup();
    println!(
        "{} training clicks, {} items; {} test sessions, {} next-item predictions (session-rec protocol)",
        train.len(),
        trained_items.len(),
        sessions.len(),
        predictions
    );
    println!(
        "{:<8} {:>8} {:>8} {:>8} {:>8}",
        "model",
        format!("HR@{CUTOFF}"),
        format!("MRR@{CUTOFF}"),
        "fit s",
        "eval s"
    );
    for r in &results {
        println!(
            "{:<8} {:>8.4} {:>8.4} {:>8.3} {:>8.3}",
            r.name,
            r.accuracy.hit_rate(),
            r.accuracy.mrr(),
            r.fit_seconds,
            r.evaluate_seconds
        );
    }
    println!("{seconds:.2} s in all");
    Ok(())
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
fn read_clicks(path: &Path, items: &mut ItemIndex) -> anyhow::Result<Vec<Click>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    parse_clicks(&text, items).with_context(|| format!("in {}", path.display()))
}

fn parse_clicks(text: &str, items: &mut ItemIndex) -> anyhow::Result<Vec<Click>> {
    let mut lines = text.lines().enumerate();
    let Some((_, header)) = lines.next() else {
        bail!("empty file: expected a header line `SessionId<TAB>ItemId<TAB>Time`");
    };
    let columns: Vec<&str> = header.trim_end_matches('\r').split('\t').collect();
    let column = |name: &str| {
        columns
            .iter()
            .position(|c| c.trim() == name)
            .with_context(|| format!("the header line has no `{name}` column: {header:?}"))
    };
    let (session_column, item_column, time_column) =
        (column("SessionId")?, column("ItemId")?, column("Time")?);
    let needed = session_column.max(item_column).max(time_column) + 1;

    let mut clicks = Vec::with_capacity(text.len() / 32);
    let mut fields: Vec<&str> = Vec::with_capacity(columns.len());
    for (index, line) in lines {
        let line = line.trim_end_matches('\r');
        if line.is_empty() {
            continue;
        }
        fields.clear();
        fields.extend(line.split('\t'));
        if fields.len() < needed {
            bail!(
                "line {}: expected {} tab-separated fields, found {}",
                index + 1,
                columns.len(),
                fields.len()
            );
        }
        let field = |column: usize, what: &str| {
            let value = fields[column].trim();
            (value, format!("line {}: {what} {value:?}", index + 1))
        };
        let (value, context) = field(session_column, "session id");
        let session: u64 = value
            .parse()
            .with_context(|| format!("{context} is not a non-negative integer"))?;
        let (value, context) = field(item_column, "item id");
        let item: u64 = value
            .parse()
            .with_context(|| format!("{context} is not a non-negative integer"))?;
        let (value, context) = field(time_column, "time");
        let time: f64 = value
            .parse()
            .ok()
            .filter(|t: &f64| t.is_finite())
            .with_context(|| format!("{context} is not a number of seconds"))?;
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

    #[test]
    fn parses_session_rec_files_by_header() {
        let mut items = ItemIndex::new();
        let text = "SessionId\tItemId\tTime\n1\t214536502\t1396860669.277\n1\t7\t1396860886\r\n\n";
        let clicks = parse_clicks(text, &mut items).expect("valid file");
        assert_eq!(clicks.len(), 2);
        assert_eq!(clicks[0].item, 0);
        assert_eq!(items.external(clicks[0].item), Some(214_536_502));
        assert_eq!(clicks[1].time, 1_396_860_886.0);

        // Columns in another order.
        let text = "Time\tSessionId\tItemId\n5.5\t9\t3\n";
        let clicks = parse_clicks(text, &mut items).expect("valid file");
        assert_eq!((clicks[0].session, clicks[0].time), (9, 5.5));
    }

    #[test]
    fn reports_what_is_wrong_and_where() {
        let mut items = ItemIndex::new();
        let error = |text: &str| {
            format!(
                "{:#}",
                parse_clicks(text, &mut ItemIndex::new()).unwrap_err()
            )
        };
        assert!(error("").contains("header"));
        assert!(error("SessionId\tItem\tTime\n").contains("`ItemId`"));
        assert!(error("SessionId\tItemId\tTime\n1\t2\n").contains("line 2"));
        let message = error("SessionId\tItemId\tTime\n1\t2\t3\n1\tabc\t4\n");
        assert!(
            message.contains("line 3") && message.contains("item id"),
            "{message}"
        );
        assert!(error("SessionId\tItemId\tTime\n1\t2\tNaN\n").contains("time"));
        assert!(parse_clicks("SessionId\tItemId\tTime\n", &mut items).is_ok_and(|c| c.is_empty()));
    }
}
