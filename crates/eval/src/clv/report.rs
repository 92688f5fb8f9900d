//! How `tailor eval clv` shows its results: a readable table, or one JSON object whose shape
//! scripts and the integration test rely on.

use std::fmt::Write;

use serde_json::{Value, json};
use tailor_ml::clv::PurchaseModel;
use tailor_ml::clv::holdout::{ByBuyerKind, HoldoutScore};

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

fn by_kind_json(scores: &ByBuyerKind) -> Value {
    json!({"one_time": score_json(&scores.one_time), "repeat": score_json(&scores.repeat)})
}

pub fn json(e: &Evaluation) -> Value {
    let holdout = e.holdout.as_ref().map(|h| {
        let mut bgnbd = score_json(&h.bgnbd);
        bgnbd["model"] = json!("bgnbd");
        bgnbd["weeks"] = number(h.weeks);
        bgnbd["pareto_nbd"] = score_json(&h.pareto);
        bgnbd["mbgnbd"] = score_json(&h.mbgnbd);
        bgnbd["by_buyer_kind"] = json!({
            "bgnbd": by_kind_json(&h.bgnbd_by_kind),
            "mbgnbd": by_kind_json(&h.mbgnbd_by_kind),
        });
        bgnbd
    });
    let weekly: Vec<Value> = e.holdout.as_ref().map_or_else(Vec::new, |h| {
        h.bgnbd_curve
            .iter()
            .zip(&h.pareto_curve)
            .zip(&h.mbgnbd_curve)
            .map(|((b, p), m)| {
                json!({"week": b.period, "actual": b.actual, "bgnbd": number(b.predicted), "mbgnbd": number(m.predicted), "pareto_nbd": number(p.predicted)})
            })
            .collect()
    });
    let s = &e.skipped;
    json!({
        "customers": e.customers,
        "bgnbd": {"r": e.bgnbd.r, "alpha": e.bgnbd.alpha, "a": e.bgnbd.a, "b": e.bgnbd.b, "loglik": number(e.bgnbd.log_likelihood())},
        "mbgnbd": {"r": e.mbgnbd.r, "alpha": e.mbgnbd.alpha, "a": e.mbgnbd.a, "b": e.mbgnbd.b, "loglik": number(e.mbgnbd.log_likelihood())},
        "pareto_nbd": {"r": e.pareto.r, "alpha": e.pareto.alpha, "s": e.pareto.s, "beta": e.pareto.beta, "loglik": number(e.pareto.log_likelihood())},
        "gamma_gamma": e.spend.map(|g| json!({"p": g.p, "q": g.q, "gamma": g.gamma, "customers": g.customers})),
        "predictions": {
            "expected_purchases_52_weeks": number(e.totals.expected_purchases_52_weeks),
            "expected_alive": number(e.totals.expected_alive),
            "clv_12_months": number(e.totals.clv_12_months),
        },
        "holdout": holdout,
        "weekly": weekly,
        "lifetimes": e.lifetimes,
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
    let m = &e.mbgnbd;
    writeln!(
        out,
        "MBG/NBD     r {:.4}  alpha {:.4}  a {:.4}  b {:.4}  log-likelihood {:.2}",
        m.r, m.alpha, m.a, m.b, m.log_likelihood
    )?;
    if let Some(peer) = &e.lifetimes {
        for (name, key) in [("BG/NBD", "bgnbd"), ("MBG/NBD", "mbgnbd")] {
            let p = &peer[key];
            writeln!(
                out,
                "  lifetimes {name:<8} r {}  alpha {}  a {}  b {}  log-likelihood {}",
                fixed(&p["r"], 4),
                fixed(&p["alpha"], 4),
                fixed(&p["a"], 4),
                fixed(&p["b"], 4),
                fixed(&p["loglik"], 2)
            )?;
        }
    }
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
        for (name, s) in [
            ("BG/NBD", &h.bgnbd),
            ("MBG/NBD", &h.mbgnbd),
            ("Pareto/NBD", &h.pareto),
        ] {
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
        write_buyer_kinds(out, h, e.lifetimes.as_ref())?;
        writeln!(out, "\nCumulative repeat purchases by hold-out week")?;
        writeln!(
            out,
            "{:>5} {:>8} {:>9} {:>9} {:>11}",
            "week", "actual", "BG/NBD", "MBG/NBD", "Pareto/NBD"
        )?;
        for ((b, m), p) in h
            .bgnbd_curve
            .iter()
            .zip(&h.mbgnbd_curve)
            .zip(&h.pareto_curve)
        {
            writeln!(
                out,
                "{:>5} {:>8.0} {:>9.1} {:>9.1} {:>11.1}",
                b.period, b.actual, b.predicted, m.predicted, p.predicted
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

/// A number of the peer's JSON with `places` decimals, or "-" when absent.
fn fixed(value: &Value, places: usize) -> String {
    value
        .as_f64()
        .map_or_else(|| "-".to_string(), |v| format!("{v:.places$}"))
}

/// Hold-out purchases of one-time and repeat buyers, BG/NBD and MBG/NBD side by side, with
/// lifetimes' numbers for the same models and split when it ran.
fn write_buyer_kinds(
    out: &mut String,
    h: &super::Holdout,
    peer: Option<&Value>,
) -> std::fmt::Result {
    writeln!(
        out,
        "\nBy kind of buyer (one-time: no repeat purchase in calibration){}",
        if peer.is_some() {
            "; lifetimes 0.11.3 on the same split beside"
        } else {
            ""
        }
    )?;
    writeln!(
        out,
        "{:<9} {:<8} {:>9} {:>7} {:>10} {:>7} {:>14} {:>10}",
        "buyers", "model", "customers", "actual", "predicted", "MAE", "lt predicted", "lt MAE"
    )?;
    for (kind, key) in [("one-time", "one_time"), ("repeat", "repeat")] {
        for (name, model, scores) in [
            ("BG/NBD", "bgnbd", &h.bgnbd_by_kind),
            ("MBG/NBD", "mbgnbd", &h.mbgnbd_by_kind),
        ] {
            let s = if key == "one_time" {
                &scores.one_time
            } else {
                &scores.repeat
            };
            let theirs = peer.map(|p| &p[model][key]);
            writeln!(
                out,
                "{kind:<9} {name:<8} {:>9} {:>7.0} {:>10.1} {:>7.3} {:>14} {:>10}",
                s.customers,
                s.actual_total,
                s.predicted_total,
                s.mean_absolute_error,
                theirs.map_or("-".into(), |t| fixed(&t["predicted_total"], 1)),
                theirs.map_or("-".into(), |t| fixed(&t["mae"], 3)),
            )?;
        }
    }
    Ok(())
}
