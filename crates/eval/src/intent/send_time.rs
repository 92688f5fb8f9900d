//! Send-time optimisation: each customer's best hour of the week from their email opens before
//! the cut (shrunk toward their device segment's pattern and the population's), scored on their
//! opens after the cut: the share within ±1 hour of the predicted hour, and the mean
//! log-likelihood of the opens' hours. Baseline: one fixed time for everyone, the population's
//! best hour (and the population's pattern for the likelihood).
//!
//! The prior strengths are chosen on the 14 days before the cut.

use serde_json::{Value, json};
use std::fmt::Write as _;
use tailor_ml::intent::send_time::{
    CustomerOpens, SendTime, SendTimeParams, SendTimeScore, best_hour, choose_params, hour_of_week,
    score,
};
use tailor_ml::intent::{ActivityKind, DAY};

use super::Split;
use super::log::{EventLog, SEGMENTS};
use crate::error::{Error, invalid};

/// Hits are opens within this many hours of the predicted hour.
const RADIUS: usize = 1;
const VALIDATION: f64 = 14.0 * DAY;

pub struct SendTimeReport {
    pub customers: usize,
    pub model: SendTimeScore,
    pub baseline: SendTimeScore,
    pub params: SendTimeParams,
    pub population_best_hour: usize,
    /// Per customer, the predicted hour of week if they opened an email before the cut.
    pub predicted_hours: Vec<Option<usize>>,
}

/// Each customer's open hours before `until`, and in [until, end).
fn opens(log: &EventLog, until: f64, end: f64) -> (Vec<CustomerOpens>, Vec<Vec<usize>>) {
    log.customers
        .iter()
        .map(|c| {
            let hours = |from: f64, to: f64| -> Vec<usize> {
                c.timeline
                    .iter()
                    .filter(|a| {
                        a.kind == ActivityKind::EmailOpened && a.time >= from && a.time < to
                    })
                    .map(|a| hour_of_week(a.time))
                    .collect()
            };
            (
                CustomerOpens {
                    segment: c.segment,
                    hours: hours(f64::NEG_INFINITY, until),
                },
                hours(until, end),
            )
        })
        .unzip()
}

pub fn evaluate(log: &EventLog, split: &Split) -> Result<SendTimeReport, Error> {
    let (train, held_out) = opens(log, split.cut - VALIDATION, split.cut);
    let params = choose_params(&train, &held_out, SEGMENTS.len());

    let (train, held_out) = opens(log, split.cut, f64::INFINITY);
    let model = SendTime::fit(&train, SEGMENTS.len(), params);
    let distributions: Vec<Vec<f64>> = train.iter().map(|c| model.distribution(c)).collect();
    let population = vec![model.population().to_vec(); train.len()];
    let model_score = score(&distributions, &held_out, RADIUS);
    if model_score.opens == 0 {
        invalid!("send time: no email opens after the cut to score");
    }
    let predicted_hours = train
        .iter()
        .zip(&distributions)
        .map(|(c, d)| (!c.hours.is_empty()).then(|| best_hour(d, RADIUS)))
        .collect();
    Ok(SendTimeReport {
        predicted_hours,
        customers: held_out.iter().filter(|h| !h.is_empty()).count(),
        model: model_score,
        baseline: score(&population, &held_out, RADIUS),
        params,
        population_best_hour: best_hour(model.population(), RADIUS),
    })
}

fn hour_name(hour: usize) -> String {
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    format!("{} {:02}:00 UTC", DAYS[hour / 24 % 7], hour % 24)
}

impl SendTimeReport {
    pub fn to_json(&self) -> Value {
        let s = |x: &SendTimeScore| json!({"hit_rate": x.hit_rate, "mean_log_likelihood": x.mean_log_likelihood});
        json!({
            "customers": self.customers,
            "opens": self.model.opens,
            "radius_hours": RADIUS,
            "model": s(&self.model),
            "baseline": s(&self.baseline),
            "baseline_hour": hour_name(self.population_best_hour),
            "individual_prior": self.params.individual_prior,
            "segment_prior": self.params.segment_prior,
        })
    }

    pub fn write(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "Send time: {} email opens after the cut by {} customers; hit = within ±{RADIUS} h of the predicted hour of week",
            self.model.opens, self.customers
        );
        let _ = writeln!(
            out,
            "    {:<34} {:>9} {:>14}",
            "model", "hit rate", "mean log-lik"
        );
        let _ = writeln!(
            out,
            "    {:<34} {:>9.4} {:>14.4}",
            "tailor (customer → segment → all)",
            self.model.hit_rate,
            self.model.mean_log_likelihood
        );
        let _ = writeln!(
            out,
            "    {:<34} {:>9.4} {:>14.4}",
            format!("fixed: {}", hour_name(self.population_best_hour)),
            self.baseline.hit_rate,
            self.baseline.mean_log_likelihood
        );
        let _ = writeln!(
            out,
            "    (priors chosen on the 14 days before the cut: {} opens toward the segment, {} toward everyone; uniform would score {:.4})",
            self.params.individual_prior,
            self.params.segment_prior,
            -(168f64).ln()
        );
    }
}
