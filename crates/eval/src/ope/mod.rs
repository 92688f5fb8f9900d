//! `tailor eval ope`: off-policy evaluation on logs in the Open Bandit Dataset format. Estimates
//! a target policy's click-through rate from another policy's logs with IPW, SNIPW, DM and DR
//! (`tailor_ml::ope`), and with `--train-policy` learns Tailor's own list policy from the logs
//! (cross-fitted) and estimates its CTR the same way. Reading files and the reports live here.

mod open_bandit;

use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};
use tailor_ml::linear::LogisticParams;
use tailor_ml::ope::policy::{GreedyListParams, cross_fitted_policy};
use tailor_ml::ope::reward_model::{RewardFeatures, cross_fit};
use tailor_ml::ope::{
    ActionDistribution, Estimate, LoggedBandit, RewardEstimates, dm, dr, dr_round_values, ipw,
    ipw_round_values, snipw,
};

use open_bandit::{OpenBanditLogs, affinity_pairs, one_hot_items, user_dummies};

use crate::error::{Error, ensure, invalid};

/// obp's published quickstart numbers for `random/all.csv` evaluated against Bernoulli Thompson
/// sampling (`examples/quickstart/obd.ipynb`, obp 0.4.1), and BTS's own CTR in `bts/all.csv`:
/// a reference printed next to ours, not something our estimator is tuned to.
const OBP_QUICKSTART: [(&str, f64); 3] = [("ipw", 0.004553), ("dm", 0.003385), ("dr", 0.004647)];
const OBP_BTS_ON_POLICY_CTR: f64 = 0.0042;
/// FNV-1a 64 of the two files those numbers belong to (`open-bandit/random/all.csv` and
/// `open-bandit/bts/action_dist_bts_all.csv` of the shared data): the reference is printed
/// only beside estimates on exactly these files, never beside another store's.
const OBD_RANDOM_LOGS: u64 = 0x6ea9_55d2_c757_802c;
const OBD_BTS_DISTRIBUTION: u64 = 0xb400_f187_262f_290a;

/// FNV-1a 64 of a file's text: enough to recognise the reference files.
fn fingerprint(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Warnings about the logging policy's propensities: rounds logged with propensity 1 (rule
/// decisions, say) carry no exploration, and a log mixing them with randomized rounds mixes
/// logging policies, which the estimators assume away.
fn propensity_warnings(propensities: &[f64]) -> Vec<String> {
    let deterministic = propensities.iter().filter(|&&p| p >= 1.0).count();
    if deterministic == 0 {
        return Vec::new();
    }
    let mut warnings = vec![format!(
        "{deterministic} of {} rounds were logged with propensity 1 (deterministic decisions): they carry no exploration, so no estimate learns what another choice would have done there",
        propensities.len()
    )];
    if deterministic < propensities.len() {
        warnings.push(
            "the log mixes deterministic and randomized rounds, i.e. more than one logging policy: export one policy's decisions (by policy version and time range) and evaluate them apart".to_string(),
        );
    }
    warnings
}

/// Refuses a log that says it mixes logging policies (Tailor's export names each row's in
/// its `logging_policy` column): the estimators assume one policy logged every round, and
/// on a mix they disagree without telling why (a rules-and-bandit log gave IPW and DR
/// lifts of opposite signs).
fn one_logging_policy(policies: &std::collections::BTreeMap<String, usize>) -> Result<(), Error> {
    if policies.len() > 1 {
        let counts: Vec<String> = policies
            .iter()
            .map(|(policy, rounds)| format!("{rounds} {policy}"))
            .collect();
        invalid!(
            "the log mixes logging policies ({} rounds): off-policy estimators assume one; export one policy's decisions (GET /v1/decisions/export?placement=…&policy=bandit, with since/until or modelVersion for one period) and evaluate them apart",
            counts.join(", ")
        );
    }
    Ok(())
}

/// Below this share of the rounds, the effective sample size is reported as a warning.
const LOW_EFFECTIVE_SHARE: f64 = 0.1;

/// A warning when the importance weights concentrate on a few rounds (small logged
/// propensities where the target policy puts its mass): the estimate then rests on them.
fn effective_sample_warning(what: &str, effective: f64, rounds: usize) -> Option<String> {
    (effective < LOW_EFFECTIVE_SHARE * rounds as f64).then(|| {
        format!(
            "{what}: effective sample size {effective:.0} of {rounds} rounds ({:.1}%): the importance weights rest on a few rounds with small logged propensities, so IPW and DR are unreliable here; the target policy is far from the logging one",
            100.0 * effective / rounds.max(1) as f64
        )
    })
}

/// The reward models' features are dense, one column per item for the policy.
const MAX_ITEMS: usize = 5_000;

/// At most this many numbers in one per-round table (8 bytes each: 1.6 GB).
const MAX_TABLE_VALUES: f64 = 2e8;

/// What to estimate from which files; the binary's flags of the same names.
#[derive(Debug, Clone)]
pub struct OpeOptions {
    /// Logged impressions, Open Bandit Dataset format (`all.csv`).
    pub logs: PathBuf,
    /// The target policy's probability of showing each item at each position.
    pub target_dist: Option<PathBuf>,
    /// Logs served by the target policy itself: their CTR is the on-policy truth.
    pub target_logs: Option<PathBuf>,
    /// Item features (default: `item_context.csv` beside `logs`; without one, one-hot ids).
    pub item_context: Option<PathBuf>,
    /// Folds for cross-fitting the reward model and the policy.
    pub folds: u16,
    /// Seed of the fold assignment (scikit-learn's `KFold(shuffle=True, random_state=SEED)`).
    pub seed: u32,
    /// Also learn Tailor's greedy list policy from the logs and estimate its CTR.
    pub train_policy: bool,
    /// The learned policy's exploration floor ε.
    pub exploration: f64,
}

/// The estimates, as one JSON object and as a table, and what could not be estimated.
pub struct OpeReport {
    json: Value,
    table: String,
    /// Said on stderr: e.g. no DM or DR because the reward model could not be fitted.
    pub warnings: Vec<String>,
}

impl OpeReport {
    pub fn to_json(&self) -> Value {
        self.json.clone()
    }

    pub fn table(&self) -> &str {
        &self.table
    }
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
    ) -> Result<Self, Error> {
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

fn read(path: &Path) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(|e| Error::reading(path, e))
}

/// Reads the files and computes every estimate asked for.
pub fn evaluate(args: &OpeOptions) -> Result<OpeReport, Error> {
    let logs_text = read(&args.logs)?;
    let logs = open_bandit::parse_logs(&logs_text).map_err(|e| e.in_file(&args.logs))?;
    one_logging_policy(&logs.logging_policies)?;
    let mut reference_files = fingerprint(&logs_text) == OBD_RANDOM_LOGS;
    drop(logs_text);
    let target = match &args.target_dist {
        Some(path) => {
            let text = read(path)?;
            reference_files &= fingerprint(&text) == OBD_BTS_DISTRIBUTION;
            Some(
                open_bandit::parse_target_distribution(&text, logs.n_positions)
                    .map_err(|e| e.in_file(path))?,
            )
        }
        None => None,
    };
    let item_context_path = args.item_context.clone().or_else(|| {
        let beside = args.logs.with_file_name("item_context.csv");
        beside.is_file().then_some(beside)
    });
    let item_context = match &item_context_path {
        Some(path) => {
            Some(open_bandit::parse_item_context(&read(path)?).map_err(|e| e.in_file(path))?)
        }
        None => None,
    };
    let target_on_policy_ctr = match &args.target_logs {
        Some(path) => Some(
            open_bandit::parse_logs(&read(path)?)
                .map_err(|e| e.in_file(path))?
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
        invalid!(
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
    let mut warnings = propensity_warnings(&logs.propensities);
    let target_estimates = match target {
        Some((_, probabilities)) => Some(estimate_target(
            &data,
            probabilities,
            user_features.clone(),
            action_features,
            args,
            &mut warnings,
        )?),
        None => None,
    };
    if let Some(estimates) = &target_estimates {
        report.extend(estimates.to_json(target_on_policy_ctr));
        warnings.extend(effective_sample_warning(
            "target policy",
            estimates.effective_sample_size,
            data.rounds().len(),
        ));
    }
    if target_estimates.is_some() && reference_files {
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
        let estimates = estimate_tailor_policy(&data, &logs, user_features, args)?;
        warnings.extend(effective_sample_warning(
            "Tailor's learned policy",
            estimates.effective_sample_size,
            data.rounds().len(),
        ));
        let mut policy_report = estimates.to_json(None);
        policy_report.insert("exploration".into(), json!(args.exploration));
        policy_report.insert("folds".into(), json!(args.folds));
        report.insert("tailor_policy".into(), Value::Object(policy_report));
        Some(estimates)
    } else {
        None
    };

    let mut lines = table(
        args,
        &logs,
        n_items,
        target_on_policy_ctr,
        target_estimates.as_ref().map(|e| (e, reference_files)),
        policy_estimates.as_ref(),
        item_context_path.as_deref(),
    );
    lines.push(String::new());
    Ok(OpeReport {
        json: Value::Object(report),
        table: lines.join("\n"),
        warnings,
    })
}

/// The target policy's four estimates. DM and DR use obp's quickstart reward model: user
/// dummies next to the item context, one logistic regression per position, cross-fitted.
fn estimate_target(
    data: &LoggedBandit,
    probabilities: Vec<f64>,
    user_features: (Vec<f64>, usize),
    action_features: (Vec<f64>, usize),
    args: &OpeOptions,
    warnings: &mut Vec<String>,
) -> Result<Estimates, Error> {
    let target = ActionDistribution::shared(data.n_actions(), data.n_positions(), probabilities)
        .map_err(|e| Error::step("the target distribution", e))?;
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
        warnings.push(format!("no DM or DR estimate: the reward model: {error}"));
    }
    Estimates::of(data, &target, rewards)
}

/// Learns Tailor's greedy list policy from the logs, cross-fitted, and estimates its value.
fn estimate_tailor_policy(
    data: &LoggedBandit,
    logs: &OpenBanditLogs,
    user_features: (Vec<f64>, usize),
    args: &OpeOptions,
) -> Result<Estimates, Error> {
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
            .map_err(|e| Error::step("training Tailor's policy", e))?;
    Estimates::of(data, &policy, Ok(rewards))
}

fn table(
    args: &OpeOptions,
    logs: &OpenBanditLogs,
    n_items: usize,
    target_on_policy_ctr: Option<f64>,
    // The target's estimates, and whether the files are the ones obp's quickstart used.
    target: Option<(&Estimates, bool)>,
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
    if let (Some((estimates, reference_files)), Some(path)) = (target, &args.target_dist) {
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
            let obp = OBP_QUICKSTART
                .iter()
                .find(|(n, _)| *n == name && reference_files);
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
            "effective sample size {:.0} of {} rounds{}",
            estimates.effective_sample_size,
            logs.len(),
            if reference_files {
                format!("; obp's relative errors are against BTS's on-policy CTR {OBP_BTS_ON_POLICY_CTR}")
            } else {
                "; obp's quickstart numbers belong to the Open Bandit sample files, not these".to_string()
            }
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

#[cfg(test)]
mod guard_tests {
    use super::*;

    #[test]
    fn deterministic_rounds_are_warned_about_and_a_mixed_log_too() {
        assert!(propensity_warnings(&[0.0125; 4]).is_empty());
        let all_rules = propensity_warnings(&[1.0; 3]);
        assert_eq!(all_rules.len(), 1, "{all_rules:?}");
        assert!(all_rules[0].starts_with("3 of 3 rounds"), "{all_rules:?}");
        let mixed = propensity_warnings(&[1.0, 0.5, 0.5]);
        assert_eq!(mixed.len(), 2, "{mixed:?}");
        assert!(
            mixed[1].contains("more than one logging policy"),
            "{mixed:?}"
        );
    }

    #[test]
    fn a_log_of_several_logging_policies_is_refused() {
        let mut policies = std::collections::BTreeMap::new();
        assert!(one_logging_policy(&policies).is_ok());
        policies.insert("bandit".to_string(), 600);
        assert!(one_logging_policy(&policies).is_ok());
        policies.insert("rules".to_string(), 100);
        let error = one_logging_policy(&policies).unwrap_err().to_string();
        assert!(
            error.contains("600 bandit, 100 rules") && error.contains("policy=bandit"),
            "{error}"
        );
    }

    #[test]
    fn a_small_effective_sample_is_warned_about() {
        assert_eq!(effective_sample_warning("target", 500.0, 1_000), None);
        let warning = effective_sample_warning("target", 42.0, 1_000).expect("a warning");
        assert!(warning.contains("42 of 1000 rounds (4.2%)"), "{warning}");
    }

    #[test]
    fn the_reference_is_recognised_by_content() {
        assert_eq!(fingerprint(""), 0xcbf2_9ce4_8422_2325);
        assert_ne!(fingerprint("item_id,position\n"), OBD_RANDOM_LOGS);
    }
}
