//! How `tailor eval clv` shows its results: a readable table, or one JSON object whose shape
//! scripts and the integration test rely on.

use std::fmt::Write;

use serde_json::{Value, json};
use tailor_ml::clv::PurchaseModel;
use tailor_ml::clv::holdout::HoldoutScore;

use super::Evaluation;

/// NaN (e.g. the correlation of a constant) has no JSON form; it becomes null.
fn number(value: f64) -> Value {
    if value.is_finite() {
        json!(value)
    } else {
        Value::Null
    }
}

fn score_json(score: &HoldoutScore) -> Value {
    json!({
        "customers": score.customers,
        "actual_total": number(score.actual_total),
        "predicted_total": number(score.predicted_total),
        "mae": number(score.mean_absolute_error),
        "rmse": number(score.root_mean_squared_error),
        "corr": number(score.correlation),
    })
}

pub fn json(e: &Evaluation) -> Value {
    let holdout = e.holdout.as_ref().map(|h| {
        let mut bgnbd = score_json(&h.bgnbd);
        bgnbd["model"] = json!("bgnbd");
        bgnbd["weeks"] = number(h.weeks);
        bgnbd["pareto_nbd"] = score_json(&h.pareto);
        bgnbd
    });
    let weekly: Vec<Value> = e.holdout.as_ref().map_or_else(Vec::new, |h| {
        h.bgnbd_curve
            .iter()
            .zip(&h.pareto_curve)
            .map(|(b, p)| {
                json!({"week": b.period, "actual": b.actual, "bgnbd": number(b.predicted), "pareto_nbd": number(p.predicted)})
            })
            .collect()
    });
    let s = &e.skipped;
    json!({
        "customers": e.customers,
        "bgnbd": {"r": e.bgnbd.r, "alpha": e.bgnbd.alpha, "a": e.bgnbd.a, "b": e.bgnbd.b, "loglik": number(e.bgnbd.log_likelihood())},
        "pareto_nbd": {"r": e.pareto.r, "alpha": e.pareto.alpha, "s": e.pareto.s, "beta": e.pareto.beta, "loglik": number(e.pareto.log_likelihood())},
        "gamma_gamma": e.spend.map(|g| json!({"p": g.p, "q": g.q, "gamma": g.gamma, "customers": g.customers})),
        "predictions": {
            "expected_purchases_52_weeks": number(e.totals.expected_purchases_52_weeks),
            "expected_alive": number(e.totals.expected_alive),
            "clv_12_months": number(e.totals.clv_12_months),
        },
        "holdout": holdout,
        "weekly": weekly,
        "skipped": {
            "unreadable_rows": s.unreadable_rows,
            "bad_dates": s.bad_dates,
            "first_unreadable": s.first_unreadable,
            "negative_amounts": s.negative_amounts,
            "zero_amounts_kept": s.zero_amounts_kept,
            "rows_after_holdout": s.rows_after_holdout,
            "customers_first_seen_after_calibration": s.customers_first_seen_after_calibration,
            "gamma_gamma_excluded_customers": s.gamma_gamma_excluded_customers,
        },
        "seconds": e.seconds,
        "phase_seconds": e.phases.iter().map(|(phase, seconds)| (phase.to_string(), json!(seconds))).collect::<serde_json::Map<_, _>>(),
    })
}

pub fn table(e: &Evaluation) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = write_table(&mut out, e);
    out
}

fn write_table(out: &mut String, e: &Evaluation) -> std::fmt::Result {
    writeln!(out, "{} customers in the calibration cohort", e.customers)?;
    let b = &e.bgnbd;
    writeln!(
        out,
        "BG/NBD      r {:.4}  alpha {:.4}  a {:.4}  b {:.4}  log-likelihood {:.2}",
        b.r, b.alpha, b.a, b.b, b.log_likelihood
    )?;
    let p = &e.pareto;
    writeln!(
        out,
        "Pareto/NBD  r {:.4}  alpha {:.4}  s {:.4}  beta {:.4}  log-likelihood {:.2}",
        p.r, p.alpha, p.s, p.beta, p.log_likelihood
    )?;
    match &e.spend {
        Some(g) => writeln!(
            out,
            "Gamma-Gamma p {:.4}  q {:.4}  gamma {:.4}  ({} customers with repeat purchases)",
            g.p, g.q, g.gamma, g.customers
        )?,
        None => writeln!(
            out,
            "Gamma-Gamma not fitted: no repeat purchase of positive value"
        )?,
    }
    writeln!(
        out,
        "Predictions (BG/NBD): {:.1} customers alive, {:.1} purchases in the next 52 weeks, 12-month CLV {:.2} in all",
        e.totals.expected_alive, e.totals.expected_purchases_52_weeks, e.totals.clv_12_months
    )?;
    if let Some(h) = &e.holdout {
        writeln!(
            out,
            "\nHold-out, {:.1} weeks: repeat purchases per customer",
            h.weeks
        )?;
        writeln!(
            out,
            "{:<11} {:>9} {:>10} {:>7} {:>7} {:>7}",
            "model", "actual", "predicted", "MAE", "RMSE", "corr"
        )?;
        for (name, s) in [("BG/NBD", &h.bgnbd), ("Pareto/NBD", &h.pareto)] {
            writeln!(
                out,
                "{name:<11} {:>9.0} {:>10.1} {:>7.3} {:>7.3} {:>7.3}",
                s.actual_total,
                s.predicted_total,
                s.mean_absolute_error,
                s.root_mean_squared_error,
                s.correlation
            )?;
        }
        writeln!(out, "\nCumulative repeat purchases by hold-out week")?;
        writeln!(
            out,
            "{:>5} {:>8} {:>9} {:>11}",
            "week", "actual", "BG/NBD", "Pareto/NBD"
        )?;
        for (b, p) in h.bgnbd_curve.iter().zip(&h.pareto_curve) {
            writeln!(
                out,
                "{:>5} {:>8.0} {:>9.1} {:>11.1}",
                b.period, b.actual, b.predicted, p.predicted
            )?;
        }
    }
    let s = &e.skipped;
    writeln!(
        out,
        "\nSkipped: {} unreadable rows ({} bad dates), {} negative amounts, {} rows after the hold-out, {} customers first seen after calibration; kept {} zero-amount purchases; {} customers without repeat spend left out of Gamma-Gamma",
        s.unreadable_rows,
        s.bad_dates,
        s.negative_amounts,
        s.rows_after_holdout,
        s.customers_first_seen_after_calibration,
        s.zero_amounts_kept,
        s.gamma_gamma_excluded_customers
    )?;
    if let Some(first) = &s.first_unreadable {
        writeln!(out, "First unreadable row: {first}")?;
    }
    writeln!(out, "{:.3} s in all", e.seconds)
}
