//! `tailor eval ope`: off-policy evaluation on logs in the Open Bandit Dataset format. Estimates
//! a target policy's click-through rate from another policy's logs with IPW, SNIPW, DM and DR
//! (`tailor_ml::ope`), and with `--train-policy` learns Tailor's own list policy from the logs
//! (cross-fitted) and estimates its CTR the same way. Reading files and printing live here.

mod open_bandit;

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail, ensure};
use clap::Args;
use serde_json::{Map, Value, json};
use tailor_ml::linear::LogisticParams;
use tailor_ml::ope::policy::{GreedyListParams, cross_fitted_policy};
use tailor_ml::ope::reward_model::{RewardFeatures, cross_fit};
use tailor_ml::ope::{
    ActionDistribution, Estimate, LoggedBandit, RewardEstimates, dm, dr, dr_round_values, ipw,
    ipw_round_values, snipw,
};

use open_bandit::{OpenBanditLogs, affinity_pairs, one_hot_items, user_dummies};

/// obp's published quickstart numbers for `random/all.csv` evaluated against Bernoulli Thompson
/// sampling (`examples/quickstart/obd.ipynb`, obp 0.4.1), and BTS's own CTR in `bts/all.csv`:
/// a reference printed next to ours, not something our estimator is tuned to.
const OBP_QUICKSTART: [(&str, f64); 3] = [("ipw", 0.004553), ("dm", 0.003385), ("dr", 0.004647)];
const OBP_BTS_ON_POLICY_CTR: f64 = 0.0042;

/// The reward models' features are dense, one column per item for the policy.
const MAX_ITEMS: usize = 5_000;

/// At most this many numbers in one per-round table (8 bytes each: 1.6 GB).
const MAX_TABLE_VALUES: f64 = 2e8;

#[derive(Args, Debug)]
pub struct OpeArgs {
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

/// The four estimates for one policy.
struct Estimates {
    ipw: Estimate,
    snipw: Estimate,
    /// DM and DR need a reward model, which small logs may not support (e.g. a position without
    /// a click): then they are absent and `reward_model_error` says why.
    model_based: Result<(Estimate, Estimate), String>,
    /// IPW's and DR's estimate minus the logs' own CTR, paired round by round.
    ipw_lift: Estimate,
    dr_lift: Option<Estimate>,
    /// Kish's effective sample size (Σw)²/Σw²: how many logged rounds the weights amount to.
    effective_sample_size: f64,
}

impl Estimates {
    fn of(
        data: &LoggedBandit,
        target: &ActionDistribution,
        rewards: Result<RewardEstimates, String>,
    ) -> anyhow::Result<Self> {
        let weights: Vec<f64> = data
            .rounds()
            .iter()
            .enumerate()
            .map(|(i, r)| target.at(i, r.position)[r.action] / r.propensity)
            .collect();
        let (sum, sum_squares) = weights
            .iter()
            .fold((0.0, 0.0), |(s, q), w| (s + w, q + w * w));
        let lift = |values: Vec<f64>| {
            Estimate::of_round_values(
                values
                    .iter()
                    .zip(data.rounds())
                    .map(|(value, round)| value - round.reward),
            )
        };
        let dr_lift = match &rewards {
            Ok(rewards) => Some(lift(dr_round_values(data, target, rewards)?)),
            Err(_) => None,
        };
        Ok(Self {
            ipw_lift: lift(ipw_round_values(data, target)?),
            dr_lift,
            ipw: ipw(data, target)?,
            snipw: snipw(data, target)?,
            model_based: match rewards {
                Ok(rewards) => Ok((dm(data, target, &rewards)?, dr(data, target, &rewards)?)),
                Err(error) => Err(error),
            },
            effective_sample_size: if sum_squares > 0.0 {
                sum * sum / sum_squares
            } else {
                0.0
            },
        })
    }

    /// Every estimator by name, `None` where it could not be computed.
    fn named(&self) -> [(&'static str, Option<Estimate>); 4] {
        let (dm, dr) = match &self.model_based {
            Ok((dm, dr)) => (Some(*dm), Some(*dr)),
            Err(_) => (None, None),
        };
        [
            ("ipw", Some(self.ipw)),
            ("snipw", Some(self.snipw)),
            ("dm", dm),
            ("dr", dr),
        ]
    }

    fn to_json(&self, truth: Option<f64>) -> Map<String, Value> {
        let mut report = Map::new();
        let mut errors = Map::new();
        let mut intervals = Map::new();
        let mut relative = Map::new();
        for (name, estimate) in self.named() {
            let Some(estimate) = estimate else {
                report.insert(name.to_string(), Value::Null);
                continue;
            };
            report.insert(name.to_string(), json!(estimate.value));
            errors.insert(name.to_string(), json!(estimate.standard_error));
            let (low, high) = estimate.confidence_interval_95();
            intervals.insert(name.to_string(), json!([low, high]));
            if let Some(truth) = truth {
                relative.insert(name.to_string(), json!(estimate.relative_error(truth)));
            }
        }
        report.insert("standard_error".into(), Value::Object(errors));
        report.insert("ci95".into(), Value::Object(intervals));
        if truth.is_some() {
            report.insert("relative_error".into(), Value::Object(relative));
        }
        if let Err(error) = &self.model_based {
            report.insert("reward_model_error".into(), json!(error));
        }
        report.insert(
            "effective_sample_size".into(),
            json!(self.effective_sample_size),
        );
        let lift_json = |e: &Estimate| {
            let (low, high) = e.confidence_interval_95();
            json!({"value": e.value, "standard_error": e.standard_error, "ci95": [low, high]})
        };
        report.insert(
            "lift_over_logs".into(),
            json!({"ipw": lift_json(&self.ipw_lift), "dr": self.dr_lift.as_ref().map(lift_json)}),
        );
        report
    }
}

fn read(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

pub fn run(args: OpeArgs) -> anyhow::Result<()> {
    let logs = open_bandit::parse_logs(&read(&args.logs)?)
        .with_context(|| format!("in {}", args.logs.display()))?;
    let target = match &args.target_dist {
        Some(path) => Some(
            open_bandit::parse_target_distribution(&read(path)?, logs.n_positions)
                .with_context(|| format!("in {}", path.display()))?,
        ),
        None => None,
    };
    let item_context_path = args.item_context.clone().or_else(|| {
        let beside = args.logs.with_file_name("item_context.csv");
        beside.is_file().then_some(beside)
    });
    let item_context = match &item_context_path {
        Some(path) => Some(
            open_bandit::parse_item_context(&read(path)?)
                .with_context(|| format!("in {}", path.display()))?,
        ),
        None => None,
    };
    let target_on_policy_ctr = match &args.target_logs {
        Some(path) => Some(
            open_bandit::parse_logs(&read(path)?)
                .with_context(|| format!("in {}", path.display()))?
                .mean_click(),
        ),
        None => None,
    };

    // The action space: the target's items if given, else every item the logs or features know.
    let max_logged_item = logs.items.iter().copied().max().unwrap_or_default();
    let n_items = match (&target, &item_context) {
        (Some((n, _)), _) => *n,
        (None, Some(context)) => context.n_items.max(max_logged_item + 1),
        (None, None) => max_logged_item + 1,
    };
    if let Some(round) = logs.items.iter().position(|&item| item >= n_items) {
        bail!(
            "line {} of {}: item_id {} is not among the target distribution's items 0..{}",
            round + 2,
            args.logs.display(),
            logs.items[round],
            n_items - 1
        );
    }
    // Per-round tables hold rounds × positions × items numbers; refuse what cannot fit in memory
    // (e.g. sparse item ids such as SKUs, which must first be mapped to 0, 1, 2, …).
    ensure!(
        n_items <= MAX_ITEMS,
        "{n_items} items: at most {MAX_ITEMS} (the reward models are dense over items); item ids must be dense (0, 1, 2, …)"
    );
    let table_size = logs.len() as f64 * logs.n_positions as f64 * n_items as f64;
    ensure!(
        table_size <= MAX_TABLE_VALUES,
        "{} rounds × {} positions × {n_items} items is too large for the per-round tables; item ids must be dense (0, 1, 2, …)",
        logs.len(),
        logs.n_positions
    );
    let data = LoggedBandit::new(logs.rounds(), n_items, logs.n_positions)?;
    let action_features = match &item_context {
        Some(context) => {
            ensure!(
                context.n_items == n_items,
                "the item context describes {} items, the logs and target distribution {n_items}",
                context.n_items
            );
            (context.features.clone(), context.dim)
        }
        None => one_hot_items(n_items),
    };

    let mut report = Map::new();
    report.insert("rounds".into(), json!(data.rounds().len()));
    report.insert("items".into(), json!(n_items));
    report.insert("positions".into(), json!(logs.n_positions));
    report.insert("on_policy_ctr_of_logs".into(), json!(data.mean_reward()));
    report.insert(
        "on_policy_ctr_of_target".into(),
        json!(target_on_policy_ctr),
    );

    let user_features = user_dummies(&logs);
    let target_estimates = match target {
        Some((_, probabilities)) => Some(estimate_target(
            &data,
            probabilities,
            user_features.clone(),
            action_features,
            &args,
        )?),
        None => None,
    };
    if let Some(estimates) = &target_estimates {
        report.extend(estimates.to_json(target_on_policy_ctr));
        let reference: Map<String, Value> = OBP_QUICKSTART
            .iter()
            .map(|(name, value)| (name.to_string(), json!(value)))
            .chain([(
                "on_policy_ctr_of_target".to_string(),
                json!(OBP_BTS_ON_POLICY_CTR),
            )])
            .collect();
        report.insert("obp_quickstart".into(), Value::Object(reference));
    }

    let policy_estimates = if args.train_policy {
        let estimates = estimate_tailor_policy(&data, &logs, user_features, &args)?;
        let mut policy_report = estimates.to_json(None);
        policy_report.insert("exploration".into(), json!(args.exploration));
        policy_report.insert("folds".into(), json!(args.folds));
        report.insert("tailor_policy".into(), Value::Object(policy_report));
        Some(estimates)
    } else {
        None
    };

    if args.json {
        return write_stdout(&format!("{}\n", Value::Object(report)));
    }
    let mut lines = table(
        &args,
        &logs,
        n_items,
        target_on_policy_ctr,
        target_estimates.as_ref(),
        policy_estimates.as_ref(),
        item_context_path.as_deref(),
    );
    lines.push(String::new());
    write_stdout(&lines.join("\n"))
}

/// Writes to stdout; a pipe closed early (`| head`) ends the output quietly, as in ripgrep.
fn write_stdout(text: &str) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        result => Ok(result?),
    }
}

/// The target policy's four estimates. DM and DR use obp's quickstart reward model: user
/// dummies next to the item context, one logistic regression per position, cross-fitted.
fn estimate_target(
    data: &LoggedBandit,
    probabilities: Vec<f64>,
    user_features: (Vec<f64>, usize),
    action_features: (Vec<f64>, usize),
    args: &OpeArgs,
) -> anyhow::Result<Estimates> {
    let target = ActionDistribution::shared(data.n_actions(), data.n_positions(), probabilities)
        .context("the target distribution")?;
    let features = RewardFeatures::new(
        data.rounds().len(),
        data.n_actions(),
        user_features,
        action_features,
        (Vec::new(), 0),
    )?;
    let rewards = cross_fit(
        data,
        &features,
        usize::from(args.folds),
        args.seed,
        LogisticParams::default(),
    )
    .map_err(|error| error.to_string());
    if let Err(error) = &rewards {
        eprintln!("warning: no DM or DR estimate: the reward model: {error}");
    }
    Estimates::of(data, &target, rewards)
}

/// Learns Tailor's greedy list policy from the logs, cross-fitted, and estimates its value.
fn estimate_tailor_policy(
    data: &LoggedBandit,
    logs: &OpenBanditLogs,
    user_features: (Vec<f64>, usize),
    args: &OpeArgs,
) -> anyhow::Result<Estimates> {
    // It sees more than obp's reward model: items one-hot (a weight per item) and, per
    // candidate item, this user's affinity to it — the data's only user × item signal.
    let n_items = data.n_actions();
    let features = RewardFeatures::new(
        data.rounds().len(),
        n_items,
        user_features,
        one_hot_items(n_items),
        affinity_pairs(logs, n_items),
    )?;
    let params = GreedyListParams {
        exploration: args.exploration,
        ..GreedyListParams::default()
    };
    let (policy, rewards) =
        cross_fitted_policy(data, &features, usize::from(args.folds), args.seed, params)
            .context("training Tailor's policy")?;
    Estimates::of(data, &policy, Ok(rewards))
}

fn table(
    args: &OpeArgs,
    logs: &OpenBanditLogs,
    n_items: usize,
    target_on_policy_ctr: Option<f64>,
    target: Option<&Estimates>,
    policy: Option<&Estimates>,
    item_context: Option<&Path>,
) -> Vec<String> {
    let mut lines = Vec::new();
    let clicks: f64 = logs.clicks.iter().sum();
    lines.push(format!(
        "{}: {} logged rounds, {clicks} clicks, {n_items} items, {} positions; item features: {}",
        args.logs.display(),
        logs.len(),
        logs.n_positions,
        item_context.map_or("one-hot item ids".to_string(), |p| p.display().to_string())
    ));
    lines.push(format!(
        "on-policy CTR of the logs: {:.6}",
        logs.mean_click()
    ));
    if let (Some(path), Some(ctr)) = (&args.target_logs, target_on_policy_ctr) {
        lines.push(format!(
            "on-policy CTR of the target ({}): {ctr:.6}",
            path.display()
        ));
    }
    let interval = |e: &Estimate| {
        let (low, high) = e.confidence_interval_95();
        format!("[{low:.6}, {high:.6}]")
    };
    let relative = |e: &Estimate, truth: Option<f64>| {
        truth.map_or("-".to_string(), |t| format!("{:.3}", e.relative_error(t)))
    };
    if let (Some(estimates), Some(path)) = (target, &args.target_dist) {
        lines.push(String::new());
        lines.push(format!(
            "target policy {} ({}-fold cross-fitted logistic reward model for DM/DR):",
            path.display(),
            args.folds
        ));
        lines.push(format!(
            "{:<6} {:>9} {:>22} {:>9}   {:>22} {:>9}",
            "", "estimate", "95% CI", "rel. err", "obp quickstart (OBD)", "rel. err"
        ));
        for (name, estimate) in estimates.named() {
            let Some(estimate) = estimate else {
                lines.push(format!("{name:<6} {:>9}", "-"));
                continue;
            };
            let obp = OBP_QUICKSTART.iter().find(|(n, _)| *n == name);
            let (obp_value, obp_error) = match obp {
                Some((_, value)) => (
                    format!("{value:.6}"),
                    format!(
                        "{:.3}",
                        (value - OBP_BTS_ON_POLICY_CTR).abs() / OBP_BTS_ON_POLICY_CTR
                    ),
                ),
                None => ("-".to_string(), "-".to_string()),
            };
            lines.push(format!(
                "{:<6} {:>9.6} {:>22} {:>9}   {:>22} {:>9}",
                name,
                estimate.value,
                interval(&estimate),
                relative(&estimate, target_on_policy_ctr),
                obp_value,
                obp_error
            ));
        }
        if let Err(error) = &estimates.model_based {
            lines.push(format!("no DM or DR: the reward model: {error}"));
        }
        lines.push(format!(
            "effective sample size {:.0} of {} rounds; obp's relative errors are against BTS's on-policy CTR {OBP_BTS_ON_POLICY_CTR}",
            estimates.effective_sample_size,
            logs.len()
        ));
        lift_lines(&mut lines, estimates, logs.mean_click());
    }
    if let Some(estimates) = policy {
        lines.push(String::new());
        lines.push(format!(
            "Tailor's greedy list policy (ε = {}), learned on the logs, {}-fold cross-fitted:",
            args.exploration, args.folds
        ));
        let logs_ctr = logs.mean_click();
        lines.push(format!(
            "{:<6} {:>9} {:>22} {:>16} {:>16}",
            "",
            "estimate",
            "95% CI",
            format!("vs logs {logs_ctr:.4}"),
            target_on_policy_ctr.map_or("vs target -".to_string(), |t| format!("vs target {t:.4}"))
        ));
        for (name, estimate) in estimates.named() {
            let Some(estimate) = estimate else { continue };
            let versus = |truth: f64| format!("{:+.6}", estimate.value - truth);
            lines.push(format!(
                "{:<6} {:>9.6} {:>22} {:>16} {:>16}",
                name,
                estimate.value,
                interval(&estimate),
                versus(logs_ctr),
                target_on_policy_ctr.map_or("-".to_string(), versus)
            ));
        }
        lines.push(format!(
            "effective sample size {:.0} of {} rounds",
            estimates.effective_sample_size,
            logs.len()
        ));
        lift_lines(&mut lines, estimates, logs_ctr);
    }
    lines
}

/// The paired difference from the logs' own CTR: the question "does it beat what was running?".
fn lift_lines(lines: &mut Vec<String>, estimates: &Estimates, logs_ctr: f64) {
    let lifts = [("ipw", Some(estimates.ipw_lift)), ("dr", estimates.dr_lift)];
    for (name, lift) in lifts {
        if let Some(lift) = lift {
            let (low, high) = lift.confidence_interval_95();
            lines.push(format!(
                "lift over the logs' CTR {logs_ctr:.4} by {name} (paired): {:+.6}, 95% CI [{low:+.6}, {high:+.6}]",
                lift.value
            ));
        }
    }
}
