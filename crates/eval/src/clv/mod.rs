//! `tailor eval clv`: fits Tailor's customer-lifetime-value models — BG/NBD, MBG/NBD,
//! Pareto/NBD and Gamma-Gamma — on a calibration period of a transaction export, predicts for every customer,
//! and scores the purchase predictions on the hold-out period that follows. Reading files and
//! the reports live here; the models live in `tailor_ml::clv`. The hold-out is scored for
//! everyone and for one-time and repeat buyers apart; `--lifetimes PYTHON` adds the Python
//! package's numbers for the same split, computed in the same run (`peer`).

mod input;
mod peer;
mod report;

use std::path::PathBuf;
use std::time::Instant;

use tailor_ml::clv::holdout::{self, ByBuyerKind, CurvePoint, HoldoutScore};
use tailor_ml::clv::summary::{Histories, holdout_purchases, summarize};
use tailor_ml::clv::value::{ClvSettings, discounted_purchases_of};
use tailor_ml::clv::{
    BgNbd, ClvError, CustomerSummary, GammaGamma, ModifiedBgNbd, ParetoNbd, PurchaseModel,
};

use crate::error::{Error, Invalid, invalid};

/// Time unit of the models: weeks, the convention of the CDNOW literature and of lifetimes.
const PERIOD_DAYS: f64 = 7.0;
/// Horizon of the per-customer "expected purchases" prediction, in weeks.
const PREDICTION_WEEKS: f64 = 52.0;
/// Furthest a next order is looked for, in weeks.
const NEXT_ORDER_MAX_WEEKS: f64 = 520.0;

/// What to fit and score; the binary's flags of the same names.
#[derive(Debug, Clone, Default)]
pub struct ClvOptions {
    /// Purchase lines: CDNOW_master.txt's whitespace format, or CSV with a header naming
    /// customer_id, date and amount.
    pub transactions: Option<PathBuf>,
    /// Instead of transactions: a calibration summary CSV (`ID,frequency,recency,T`). No
    /// hold-out.
    pub summary: Option<PathBuf>,
    /// Last day of the calibration period (YYYY-MM-DD, inclusive).
    pub calibration_end: Option<String>,
    /// Last day of the hold-out period; defaults to the last date in the transactions.
    pub holdout_end: Option<String>,
    /// Write every customer's predictions to this CSV file.
    pub predictions: Option<PathBuf>,
    /// A Python with `lifetimes` 0.11.3: fit its BG/NBD and MBG/NBD on the same split and
    /// report its numbers beside Tailor's (needs `transactions`).
    pub lifetimes: Option<PathBuf>,
}

/// Everything the command found, for the table or the JSON.
pub struct Evaluation {
    pub customers: usize,
    pub bgnbd: BgNbd,
    pub mbgnbd: ModifiedBgNbd,
    pub pareto: ParetoNbd,
    /// None when no customer has a repeat purchase of positive value.
    pub spend: Option<GammaGamma>,
    pub holdout: Option<Holdout>,
    /// `lifetimes`' fits and hold-out scores on the same split, when asked.
    pub lifetimes: Option<serde_json::Value>,
    pub totals: PredictionTotals,
    pub skipped: Skipped,
    pub seconds: f64,
    /// Seconds per phase, in order, to show where the time goes.
    pub phases: Vec<(&'static str, f64)>,
}

/// Wall-clock time per phase of the command.
struct Phases {
    last: Instant,
    seconds: Vec<(&'static str, f64)>,
}

impl Phases {
    fn new(started: Instant) -> Self {
        Phases {
            last: started,
            seconds: Vec::new(),
        }
    }

    fn done(&mut self, phase: &'static str) {
        let now = Instant::now();
        self.seconds.push((phase, (now - self.last).as_secs_f64()));
        self.last = now;
    }
}

pub struct Holdout {
    pub weeks: f64,
    pub bgnbd: HoldoutScore,
    pub mbgnbd: HoldoutScore,
    pub pareto: HoldoutScore,
    pub bgnbd_curve: Vec<CurvePoint>,
    pub mbgnbd_curve: Vec<CurvePoint>,
    pub pareto_curve: Vec<CurvePoint>,
    /// BG/NBD and MBG/NBD for one-time and repeat buyers apart.
    pub bgnbd_by_kind: ByBuyerKind,
    pub mbgnbd_by_kind: ByBuyerKind,
}

/// Sums of the per-customer predictions (the per-customer values go to `--predictions`).
#[derive(Default)]
pub struct PredictionTotals {
    pub expected_purchases_52_weeks: f64,
    pub expected_alive: f64,
    pub clv_12_months: f64,
}

/// What the input held that the models did not use, with the reason.
#[derive(Default)]
pub struct Skipped {
    pub unreadable_rows: usize,
    pub bad_dates: usize,
    pub first_unreadable: Option<String>,
    pub negative_amounts: usize,
    pub zero_amounts_kept: usize,
    pub rows_after_holdout: usize,
    /// Customers whose first purchase is after the calibration end: not in the cohort.
    pub customers_first_seen_after_calibration: usize,
    /// Customers without a repeat purchase of positive value, left out of Gamma-Gamma's fit
    /// (they still get its population mean spend).
    pub gamma_gamma_excluded_customers: usize,
}

/// Fits the models and scores them; writes the per-customer predictions when asked.
pub fn evaluate(args: &ClvOptions) -> Result<Evaluation, Error> {
    let started = Instant::now();
    let mut phases = Phases::new(started);
    let (customers, ids, holdout_days, mut skipped) = load(args)?;
    phases.done("read_and_summarize");
    let bgnbd = BgNbd::fit(&customers).map_err(|e| Error::step("fitting BG/NBD", e))?;
    phases.done("fit_bgnbd");
    let mbgnbd = ModifiedBgNbd::fit(&customers).map_err(|e| Error::step("fitting MBG/NBD", e))?;
    phases.done("fit_mbgnbd");
    // Pareto/NBD shares BG/NBD's purchase-rate distribution: its fit starts from BG/NBD's.
    let pareto = ParetoNbd::fit_starting_from(&customers, &bgnbd)
        .map_err(|e| Error::step("fitting Pareto/NBD", e))?;
    phases.done("fit_pareto_nbd");
    let spend = match GammaGamma::fit(&customers) {
        Ok(model) => Some(model),
        Err(ClvError::NoData(_)) => None,
        Err(error) => return Err(Error::step("fitting Gamma-Gamma", error)),
    };
    skipped.gamma_gamma_excluded_customers =
        customers.len() - spend.as_ref().map_or(0, |model| model.customers);

    phases.done("fit_gamma_gamma");
    let histories = Histories::of(&customers);
    let totals = predict_everyone(
        &customers,
        &histories,
        &ids,
        &bgnbd,
        spend.as_ref(),
        args.predictions.as_ref(),
    )?;
    let holdout = holdout_days.map(|(days, weeks)| {
        let (bgnbd_score, bgnbd_curve) = holdout::evaluate(&bgnbd, &histories, &days, weeks);
        let (mbgnbd_score, mbgnbd_curve) = holdout::evaluate(&mbgnbd, &histories, &days, weeks);
        let (pareto_score, pareto_curve) = holdout::evaluate(&pareto, &histories, &days, weeks);
        Holdout {
            weeks,
            bgnbd: bgnbd_score,
            mbgnbd: mbgnbd_score,
            pareto: pareto_score,
            bgnbd_curve,
            mbgnbd_curve,
            pareto_curve,
            bgnbd_by_kind: holdout::evaluate_by_buyer_kind(&bgnbd, &histories, &days, weeks),
            mbgnbd_by_kind: holdout::evaluate_by_buyer_kind(&mbgnbd, &histories, &days, weeks),
        }
    });
    phases.done("predict_and_score");
    // The peer runs after the timed phases: `seconds` stays Tailor's own.
    let seconds = started.elapsed().as_secs_f64();
    let lifetimes = match (&args.lifetimes, &args.transactions, &args.calibration_end) {
        (Some(python), Some(file), Some(end)) => Some(peer::lifetimes_holdout(python, file, end)?),
        (Some(_), _, _) => invalid!("--lifetimes needs --transactions and --calibration-end"),
        _ => None,
    };
    Ok(Evaluation {
        phases: phases.seconds,
        customers: customers.len(),
        bgnbd,
        mbgnbd,
        pareto,
        spend,
        holdout,
        lifetimes,
        totals,
        skipped,
        seconds,
    })
}

impl Evaluation {
    /// One JSON object, the shape scripts and the tests rely on.
    pub fn to_json(&self) -> serde_json::Value {
        report::json(self)
    }

    /// The readable tables.
    pub fn table(&self) -> String {
        report::table(self)
    }
}

/// Hold-out purchase times per customer, and the hold-out length in weeks.
type HoldoutDays = (Vec<Vec<f64>>, f64);

/// The cohort's summaries, their customer ids, the hold-out if any, and what was skipped.
type Loaded = (
    Vec<CustomerSummary>,
    Vec<String>,
    Option<HoldoutDays>,
    Skipped,
);

fn load(args: &ClvOptions) -> Result<Loaded, Error> {
    let mut skipped = Skipped::default();
    if let Some(path) = &args.summary {
        let (customers, ids, _) = input::read_summary(path)?;
        return Ok((customers, ids, None, skipped));
    }
    let (Some(path), Some(end)) = (&args.transactions, &args.calibration_end) else {
        invalid!("give --transactions FILE --calibration-end DATE, or --summary FILE");
    };
    let calibration_end = input::parse_day(end).ok_or_else(|| {
        Invalid::new(format!(
            "--calibration-end {end:?} is not a date (YYYY-MM-DD)"
        ))
    })?;
    let transactions = input::read_transactions(path)?;
    skipped.unreadable_rows = transactions.unreadable.rows;
    skipped.bad_dates = transactions.unreadable.bad_dates;
    skipped.first_unreadable = transactions.unreadable.first.clone();

    let last_day = transactions
        .rows
        .iter()
        .map(|t| t.day)
        .max()
        .unwrap_or(calibration_end);
    let holdout_end = match &args.holdout_end {
        Some(end) => input::parse_day(end).ok_or_else(|| {
            Invalid::new(format!("--holdout-end {end:?} is not a date (YYYY-MM-DD)"))
        })?,
        None => last_day,
    };
    if args.holdout_end.is_some() && holdout_end <= calibration_end {
        invalid!("--holdout-end must be after --calibration-end");
    }
    let summary = summarize(&transactions.rows, calibration_end, PERIOD_DAYS);
    if summary.customers.is_empty() {
        invalid!("no purchases on or before the calibration end {end}: nothing to calibrate on");
    }
    skipped.negative_amounts = summary.skipped_negative_amounts;
    skipped.zero_amounts_kept = summary.zero_amounts;
    skipped.rows_after_holdout = transactions
        .rows
        .iter()
        .filter(|t| t.day > holdout_end)
        .count();
    let mut cohort = vec![false; transactions.customer_ids.len()];
    for customer in &summary.customers {
        cohort[customer.customer as usize] = true;
    }
    skipped.customers_first_seen_after_calibration = cohort.iter().filter(|c| !**c).count();

    let ids = summary
        .customers
        .iter()
        .map(|c| transactions.customer_ids[c.customer as usize].clone())
        .collect();
    // An empty hold-out (calibration through the last date) is reported as no hold-out.
    let holdout = (holdout_end > calibration_end).then(|| {
        let days = holdout_purchases(
            &transactions.rows,
            &summary.customers,
            calibration_end,
            holdout_end,
            PERIOD_DAYS,
        );
        (days, (holdout_end - calibration_end) as f64 / PERIOD_DAYS)
    });
    Ok((summary.customers, ids, holdout, skipped))
}

/// Every customer's predictions: summed for the report, and written per customer when asked.
fn predict_everyone(
    customers: &[CustomerSummary],
    histories: &Histories,
    ids: &[String],
    bgnbd: &BgNbd,
    spend: Option<&GammaGamma>,
    output: Option<&PathBuf>,
) -> Result<PredictionTotals, Error> {
    let mut totals = PredictionTotals::default();
    let mut csv = output.map(|_| {
        String::from(
            "customer_id,frequency,recency_weeks,T_weeks,monetary_value,p_alive,churn_risk,expected_purchases_52_weeks,expected_next_order_weeks,expected_average_spend,clv_12_months\n",
        )
    });
    // Customers sharing a history (x, t_x, T) share every purchase prediction: computed once
    // per history (CDNOW: 8,685 for 23,570 customers).
    let alive: Vec<f64> = histories
        .distinct
        .iter()
        .map(|c| bgnbd.probability_alive(c))
        .collect();
    let purchases = bgnbd.expected_purchases_grid(&histories.distinct, &[PREDICTION_WEEKS]);
    let per_unit_spend =
        discounted_purchases_of(bgnbd, &histories.distinct, ClvSettings::default());
    // The next order (a bisection of ~60 predictions) per history too, only for the CSV.
    let mut next_order: Vec<Option<Option<f64>>> = vec![None; histories.distinct.len()];
    for ((customer, id), &history) in customers.iter().zip(ids).zip(&histories.of_customer) {
        let (alive, purchases, per_unit_spend) =
            (alive[history], purchases[history], per_unit_spend[history]);
        let average_spend = spend.and_then(|spend| spend.expected_average_spend(customer).ok());
        let value = average_spend.map(|average| average * per_unit_spend);
        totals.expected_alive += alive;
        totals.expected_purchases_52_weeks += purchases;
        totals.clv_12_months += value.unwrap_or(0.0);
        if let Some(csv) = &mut csv {
            let optional = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.6}"));
            csv.push_str(&format!(
                "{id},{},{},{},{},{alive:.6},{:.6},{purchases:.6},{},{},{}\n",
                customer.frequency,
                customer.recency,
                customer.age,
                customer.monetary_value,
                bgnbd.churn_risk(customer),
                optional(*next_order[history].get_or_insert_with(|| {
                    bgnbd.expected_next_order(customer, NEXT_ORDER_MAX_WEEKS)
                })),
                optional(average_spend),
                optional(value),
            ));
        }
    }
    if let (Some(path), Some(csv)) = (output, csv) {
        std::fs::write(path, csv).map_err(|source| Error::File {
            action: "writing",
            path: path.clone(),
            source,
        })?;
    }
    Ok(totals)
}
