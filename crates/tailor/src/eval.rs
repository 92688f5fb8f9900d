//! `tailor eval`: the flags of each evaluation, handed to `tailor-eval`, and its report
//! printed as a table or as one JSON object.

use std::io::Write as _;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use tailor_eval::{clv, intent, ope, rank, recs};

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
    /// The ranking placement offline: each test session's next click ranked within its
    /// category's list by Tailor's order, popularity and catalog order (NDCG@10, MRR).
    Rank(RankArgs),
    /// Off-policy evaluation: a target policy's CTR estimated from another policy's logs
    /// (IPW, SNIPW, DM, DR), and Tailor's own policy learned from them (Open Bandit format).
    Ope(OpeArgs),
    /// Purchase propensity, next-category interest, send time and per-category forecast, each
    /// against its baseline, on a time split of a data directory's event log.
    Intent(IntentArgs),
    /// Customer lifetime value: BG/NBD, Pareto/NBD and Gamma-Gamma fitted on a calibration
    /// period, scored on the hold-out that follows.
    Clv(ClvArgs),
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

#[derive(Args, Debug)]
struct RankArgs {
    /// Training clicks: tab-separated `SessionId ItemId Time` after a header line.
    #[arg(long)]
    train: PathBuf,
    /// Test clicks, same format; each session's every next click is one case.
    #[arg(long)]
    test: PathBuf,
    /// Only the first N test sessions (after dropping items unseen in training).
    #[arg(long)]
    sessions: Option<usize>,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
struct OpeArgs {
    /// Logged impressions, Open Bandit Dataset format (`all.csv`): item_id, position, click,
    /// propensity_score, user_feature_* and optionally user-item_affinity_<item> columns.
    #[arg(long)]
    logs: PathBuf,
    /// The target policy's probability of showing each item at each position:
    /// `item_id,pos0,pos1,…`, one row per item (e.g. `bts/action_dist_bts_all.csv`).
    #[arg(long, required_unless_present = "train_policy")]
    target_dist: Option<PathBuf>,
    /// Logs served by the target policy itself (e.g. `bts/all.csv`): their CTR is the on-policy
    /// truth the estimates are scored against (relative error).
    #[arg(long)]
    target_logs: Option<PathBuf>,
    /// Item features (default: `item_context.csv` beside --logs; without one, one-hot item ids).
    #[arg(long)]
    item_context: Option<PathBuf>,
    /// Folds for cross-fitting the reward model and the policy (obp's quickstart uses 3).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..))]
    folds: u16,
    /// Seed of the fold assignment: folds are scikit-learn's `KFold(shuffle=True,
    /// random_state=SEED)`, as in obp's quickstart (12345).
    #[arg(long, default_value_t = 12345)]
    seed: u32,
    /// Also learn Tailor's greedy list policy from --logs (cross-fitted: each fold's rounds are
    /// scored by a policy trained on the other folds) and estimate its CTR.
    #[arg(long)]
    train_policy: bool,
    /// The learned policy's exploration floor ε: share of probability spread over all items.
    #[arg(long, default_value_t = 0.1)]
    exploration: f64,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
struct IntentArgs {
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

#[derive(Args, Debug)]
struct ClvArgs {
    /// Purchase lines: CDNOW_master.txt's whitespace format (`customer date [quantity]
    /// amount`, dates YYYYMMDD) or CSV with a header naming customer_id, date, amount.
    #[arg(
        long,
        required_unless_present = "summary",
        requires = "calibration_end"
    )]
    transactions: Option<PathBuf>,
    /// Instead of transactions: a calibration summary CSV (`ID,frequency,recency,T` and
    /// optionally `monetary_value`, in weeks), like cdnow_customers_summary.csv. No hold-out.
    #[arg(long, conflicts_with_all = ["transactions", "calibration_end", "holdout_end"])]
    summary: Option<PathBuf>,
    /// Last day of the calibration period (YYYY-MM-DD, inclusive).
    #[arg(long)]
    calibration_end: Option<String>,
    /// Last day of the hold-out period (YYYY-MM-DD, inclusive); defaults to the last date in
    /// the transactions.
    #[arg(long, requires = "calibration_end")]
    holdout_end: Option<String>,
    /// Write every customer's predictions to this CSV file.
    #[arg(long)]
    predictions: Option<PathBuf>,
    /// A Python with `lifetimes` 0.11.3: fits its BG/NBD and MBG/NBD on the same split in the
    /// same run and prints its numbers beside Tailor's.
    #[arg(long, requires = "transactions")]
    lifetimes: Option<PathBuf>,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

pub fn run(args: EvalArgs) -> anyhow::Result<()> {
    match args.command {
        EvalCommand::Recs(args) => {
            let report = recs::evaluate(&recs::RecsOptions {
                train: args.train,
                test: args.test,
                holdout_days: args.holdout_days,
            })?;
            print(args.json, &report.to_json(), &report.table())
        }
        EvalCommand::Rank(args) => {
            let report = rank::evaluate(&rank::RankOptions {
                train: args.train,
                test: args.test,
                sessions: args.sessions,
            })?;
            print(args.json, &report.to_json(), &report.table())
        }
        EvalCommand::Ope(args) => {
            let report = ope::evaluate(&ope::OpeOptions {
                logs: args.logs,
                target_dist: args.target_dist,
                target_logs: args.target_logs,
                item_context: args.item_context,
                folds: args.folds,
                seed: args.seed,
                train_policy: args.train_policy,
                exploration: args.exploration,
            })?;
            for warning in &report.warnings {
                eprintln!("warning: {warning}");
            }
            print(args.json, &report.to_json(), report.table())
        }
        EvalCommand::Intent(args) => {
            let report = intent::evaluate(&intent::IntentOptions {
                data: args.data,
                split_days: args.split_days,
            })?;
            print(args.json, &report.to_json(), &report.table())
        }
        EvalCommand::Clv(args) => {
            let report = clv::evaluate(&clv::ClvOptions {
                transactions: args.transactions,
                summary: args.summary,
                calibration_end: args.calibration_end,
                holdout_end: args.holdout_end,
                predictions: args.predictions,
                lifetimes: args.lifetimes,
            })?;
            print(args.json, &report.to_json(), &report.table())
        }
    }
}

/// Prints the JSON on one line, or the table. A pipe closed early (`| head`) ends the output
/// quietly, as in ripgrep.
fn print(json: bool, report: &serde_json::Value, table: &str) -> anyhow::Result<()> {
    let text = if json {
        format!("{report}\n")
    } else {
        table.to_string()
    };
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        result => Ok(result?),
    }
}
