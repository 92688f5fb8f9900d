//! Purchase propensity within the session and within 7 days: Tailor's calibrated logistic
//! model on the behavioural features against a logistic model on recency and frequency
//! alone, both fitted and calibrated the same way.
//!
//! Periods: the model is fitted on the history up to a week before the cut, its penalty chosen
//! and its calibration fitted on the last week before the cut, and it is scored after the cut
//! — on sessions that start after it, and on weekly snapshots after it (at the cut, a week
//! later, …, while the week ends within the log): every customer seen before the snapshot, for
//! the 7 days that follow. Several snapshots rather than one, because a week's orders are few.

use anyhow::Context;
use serde_json::{Value, json};
use tailor_ml::intent::metrics::{self, CalibrationBin};
use tailor_ml::intent::propensity::{
    CalibratedModel, Example, session_examples, snapshot_examples,
};
use tailor_ml::intent::{DAY, WEEK};
use tailor_ml::linear::FitError;

use super::Split;
use super::log::EventLog;

/// Training snapshots for the 7-day model are taken this often.
const SNAPSHOT_EVERY: f64 = DAY;
const CALIBRATION_BINS: usize = 10;

/// One model's scores on the held-out examples.
pub struct Scores {
    pub auc: Option<f64>,
    pub log_loss: f64,
    pub calibration: Vec<CalibrationBin>,
    pub calibration_error: f64,
}

pub struct TaskReport {
    pub name: &'static str,
    pub examples: usize,
    pub positive_rate: f64,
    pub model: Scores,
    pub baseline: Scores,
    pub l2: f64,
}

pub struct PropensityReport {
    pub session: TaskReport,
    pub seven_day: TaskReport,
    /// The fitted 7-day model, which the forecast builds on.
    pub seven_day_model: CalibratedModel,
}

pub fn evaluate(log: &EventLog, split: &Split) -> anyhow::Result<PropensityReport> {
    let validation_start = split.cut - WEEK;

    // Sessions.
    let (mut train, mut validation, mut test) = (Vec::new(), Vec::new(), Vec::new());
    for c in &log.customers {
        session_examples(&c.timeline, f64::NEG_INFINITY, validation_start, &mut train);
        session_examples(&c.timeline, validation_start, split.cut, &mut validation);
        session_examples(&c.timeline, split.cut, f64::INFINITY, &mut test);
    }
    let (session, _) = task("session", &train, &validation, &test)
        .context("purchase propensity within the session")?;

    // 7 days: daily snapshots whose week ends before the validation week.
    let mut times = Vec::new();
    let mut t = validation_start - WEEK;
    while t > split.first {
        times.push(t);
        t -= SNAPSHOT_EVERY;
    }
    times.reverse();
    let test_times: Vec<f64> = (0..)
        .map(|week| split.cut + WEEK * f64::from(week))
        .take_while(|t| t + WEEK <= split.last)
        .collect();
    let (mut train, mut validation, mut test) = (Vec::new(), Vec::new(), Vec::new());
    for c in &log.customers {
        snapshot_examples(&c.timeline, &times, WEEK, &mut train);
        snapshot_examples(&c.timeline, &[validation_start], WEEK, &mut validation);
        snapshot_examples(&c.timeline, &test_times, WEEK, &mut test);
    }
    let (seven_day, seven_day_model) =
        task("7 days", &train, &validation, &test).context("purchase propensity within 7 days")?;
    Ok(PropensityReport {
        session,
        seven_day,
        seven_day_model,
    })
}

/// Fits model and baseline, scores both on `test`.
fn task(
    name: &'static str,
    train: &[Example],
    validation: &[Example],
    test: &[Example],
) -> anyhow::Result<(TaskReport, CalibratedModel)> {
    let labels = |e: &[Example]| e.iter().map(|x| x.label).collect::<Vec<bool>>();
    let features = |e: &[Example]| e.iter().map(|x| x.features.clone()).collect::<Vec<_>>();
    let baseline_features =
        |e: &[Example]| e.iter().map(|x| x.baseline.clone()).collect::<Vec<_>>();
    let model = CalibratedModel::fit(
        &features(train),
        &labels(train),
        &features(validation),
        &labels(validation),
    )
    .map_err(|e| too_little_history("the model", e))?;
    let baseline = CalibratedModel::fit(
        &baseline_features(train),
        &labels(train),
        &baseline_features(validation),
        &labels(validation),
    )
    .map_err(|e| too_little_history("the baseline", e))?;
    if test.is_empty() {
        anyhow::bail!("nothing to score after the cut");
    }
    let test_labels = labels(test);
    let model_p: Vec<f64> = test
        .iter()
        .map(|e| model.probability(&e.features))
        .collect();
    let baseline_p: Vec<f64> = test
        .iter()
        .map(|e| baseline.probability(&e.baseline))
        .collect();
    let report = TaskReport {
        name,
        examples: test.len(),
        positive_rate: test_labels.iter().filter(|&&y| y).count() as f64 / test.len() as f64,
        model: scores(&model_p, &test_labels),
        baseline: scores(&baseline_p, &test_labels),
        l2: model.l2(),
    };
    Ok((report, model))
}

fn too_little_history(what: &str, e: FitError) -> anyhow::Error {
    anyhow::anyhow!(
        "cannot fit {what} ({e}): too little history before the cut to learn from; lower --split-days or use a longer log"
    )
}

fn scores(p: &[f64], labels: &[bool]) -> Scores {
    let calibration = metrics::calibration(p, labels, CALIBRATION_BINS);
    Scores {
        auc: metrics::auc(p, labels),
        log_loss: metrics::log_loss(p, labels),
        calibration_error: metrics::expected_calibration_error(&calibration),
        calibration,
    }
}

impl Scores {
    fn to_json(&self) -> Value {
        json!({
            "auc": self.auc,
            "log_loss": self.log_loss,
            "calibration_error": self.calibration_error,
            "calibration": self.calibration.iter().map(|b| json!({
                "count": b.count, "mean_predicted": b.mean_predicted, "observed_rate": b.observed_rate,
            })).collect::<Vec<_>>(),
        })
    }
}

impl TaskReport {
    fn to_json(&self) -> Value {
        json!({
            "examples": self.examples,
            "positive_rate": self.positive_rate,
            "model": self.model.to_json(),
            "baseline": self.baseline.to_json(),
            "l2": self.l2,
        })
    }

    fn print(&self) {
        let auc = |s: &Scores| s.auc.map_or("–".to_string(), |a| format!("{a:.4}"));
        println!(
            "  within {:<8} {:>7} examples, {:.2}% positive (penalty {} chosen on validation)",
            self.name,
            self.examples,
            100.0 * self.positive_rate,
            self.l2
        );
        println!(
            "    {:<22} {:>8} {:>9} {:>9}",
            "model", "AUC", "log loss", "ECE"
        );
        for (name, s) in [
            ("tailor", &self.model),
            ("recency/frequency", &self.baseline),
        ] {
            println!(
                "    {:<22} {:>8} {:>9.4} {:>9.4}",
                name,
                auc(s),
                s.log_loss,
                s.calibration_error
            );
        }
        println!("    calibration of tailor (deciles of predicted probability):");
        println!("    {:>6} {:>10} {:>10}", "count", "predicted", "observed");
        for b in &self.model.calibration {
            println!(
                "    {:>6} {:>9.2}% {:>9.2}%",
                b.count,
                100.0 * b.mean_predicted,
                100.0 * b.observed_rate
            );
        }
    }
}

impl PropensityReport {
    pub fn to_json(&self) -> Value {
        json!({"session": self.session.to_json(), "seven_day": self.seven_day.to_json()})
    }

    pub fn print(&self) {
        println!("Purchase propensity (held out after the cut)");
        self.session.print();
        self.seven_day.print();
    }
}
