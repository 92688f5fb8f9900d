//! An experiment's results (`GET /v1/experiments/{id}/results`, `tailor report`): per
//! variation and metric, the lift over the first variation (the control) with GrowthBook's
//! statistics (`tailor_ml::stats`, checked against gbstats to 4 decimals).
//!
//! Units are people: every id exposed is resolved to its profile, so a visitor seen under
//! an anonymousId and then a userId counts once, from their first exposure. For each unit,
//! from their events: after exposure — converted (an `Order Completed`), revenue, orders,
//! came back within 7 and 30 days (any event more than 30 minutes after exposure; only for
//! units exposed at least that long ago); before exposure — revenue, the CUPED covariate.
//! Metrics: conversion rate, revenue per visitor (also CUPED-adjusted), average order value
//! (revenue per order, a ratio metric), 7- and 30-day retention. Each comparison gives the
//! frequentist (Welch's t, delta-method intervals), sequential (always valid) and Bayesian
//! results; the sample-ratio-mismatch p-value flags broken assignment.

use std::collections::HashMap;

use serde_json::{Value, json};
use tailor_core::Millis;
use tailor_core::time::{DAY, MINUTE, format_timestamp};
use tailor_ml::stats::{self, Inference, Statistic, TestConfig, UnitSums};

use crate::error::EngineError;

/// One unit's numbers.
#[derive(Default, Clone, Copy)]
struct Unit {
    converted: f64,
    revenue: f64,
    orders: f64,
    revenue_before: f64,
    returned_7d: Option<f64>,
    returned_30d: Option<f64>,
}

/// Per-variation sums.
#[derive(Default, Clone, Copy)]
struct Sums {
    n: u64,
    converted: f64,
    revenue: f64,
    revenue_sq: f64,
    orders: f64,
    orders_sq: f64,
    revenue_orders: f64,
    before: f64,
    before_sq: f64,
    revenue_before: f64,
    ret7: (u64, f64),
    ret30: (u64, f64),
}

impl Sums {
    fn add(&mut self, u: &Unit) {
        self.n += 1;
        self.converted += u.converted;
        self.revenue += u.revenue;
        self.revenue_sq += u.revenue * u.revenue;
        self.orders += u.orders;
        self.orders_sq += u.orders * u.orders;
        self.revenue_orders += u.revenue * u.orders;
        self.before += u.revenue_before;
        self.before_sq += u.revenue_before * u.revenue_before;
        self.revenue_before += u.revenue * u.revenue_before;
        if let Some(r) = u.returned_7d {
            self.ret7.0 += 1;
            self.ret7.1 += r;
        }
        if let Some(r) = u.returned_30d {
            self.ret30.0 += 1;
            self.ret30.1 += r;
        }
    }

    fn metric(&self, name: &str) -> Statistic {
        let continuous = |sum, sum_squares| UnitSums::Continuous { sum, sum_squares };
        match name {
            "conversion" => Statistic::proportion(self.n, self.converted),
            "revenue_per_visitor" => Statistic::sample_mean(self.n, self.revenue, self.revenue_sq),
            "revenue_per_visitor_cuped" => Statistic::RegressionAdjusted {
                n: self.n,
                post: continuous(self.revenue, self.revenue_sq),
                pre: continuous(self.before, self.before_sq),
                sum_of_products: self.revenue_before,
            },
            "average_order_value" => Statistic::Ratio {
                n: self.n,
                numerator: continuous(self.revenue, self.revenue_sq),
                denominator: continuous(self.orders, self.orders_sq),
                sum_of_products: self.revenue_orders,
            },
            "retention_7d" => Statistic::proportion(self.ret7.0, self.ret7.1),
            _ => Statistic::proportion(self.ret30.0, self.ret30.1),
        }
    }

    fn value(&self, name: &str) -> f64 {
        let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
        match name {
            "conversion" => ratio(self.converted, self.n as f64),
            "revenue_per_visitor" | "revenue_per_visitor_cuped" => {
                ratio(self.revenue, self.n as f64)
            }
            "average_order_value" => ratio(self.revenue, self.orders),
            "retention_7d" => ratio(self.ret7.1, self.ret7.0 as f64),
            _ => ratio(self.ret30.1, self.ret30.0 as f64),
        }
    }

    fn units(&self, name: &str) -> u64 {
        match name {
            "retention_7d" => self.ret7.0,
            "retention_30d" => self.ret30.0,
            _ => self.n,
        }
    }
}

const METRICS: [&str; 6] = [
    "conversion",
    "revenue_per_visitor",
    "revenue_per_visitor_cuped",
    "average_order_value",
    "retention_7d",
    "retention_30d",
];

pub(crate) fn round(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

/// One comparison as JSON; a test that cannot run says why instead (never a NaN).
pub(crate) fn comparison(control: &Statistic, treatment: &Statistic, config: TestConfig) -> Value {
    match stats::compare(control, treatment, &config) {
        Err(e) => json!({"error": e.to_string()}),
        Ok(r) => {
            let mut v = json!({
                "lift": round(r.expected),
                "ci": [round(r.ci[0]), round(r.ci[1])],
            });
            match r.inference {
                Inference::PValue(p) => v["pValue"] = json!(round(p)),
                Inference::Bayesian {
                    chance_to_win,
                    risk,
                } => {
                    v["chanceToWin"] = json!(round(chance_to_win));
                    v["risk"] =
                        json!({"control": round(risk.control), "treatment": round(risk.treatment)});
                }
            }
            if let Some(issue) = r.issue {
                v["issue"] = json!(issue.code());
            }
            v
        }
    }
}

/// A unit's numbers from their events, around their first exposure `at`.
fn unit_from(events: &[tailor_store::StoredEvent], at: Millis, now: Millis) -> Unit {
    let mut u = Unit::default();
    let mut back = (false, false);
    for e in events {
        let m = &e.message;
        let t = m.timestamp;
        if m.event.as_deref() == Some("Order Completed") {
            let value = ["revenue", "total", "value"]
                .iter()
                .find_map(|k| m.properties.get(*k).and_then(Value::as_f64))
                .unwrap_or(0.0);
            if t >= at {
                u.orders += 1.0;
                u.revenue += value;
            } else {
                u.revenue_before += value;
            }
        }
        if t > at + 30 * MINUTE {
            back.0 |= t <= at + 7 * DAY;
            back.1 |= t <= at + 30 * DAY;
        }
    }
    u.converted = if u.orders > 0.0 { 1.0 } else { 0.0 };
    let b = |x: bool| if x { 1.0 } else { 0.0 };
    u.returned_7d = (now - at >= 7 * DAY).then_some(b(back.0));
    u.returned_30d = (now - at >= 30 * DAY).then_some(b(back.1));
    u
}

impl super::Measure {
    /// The results of experiment `id` (see the module docs). Blocks on disk: one read of the
    /// events of each unit.
    pub fn experiment_results(&self, id: &str) -> Result<Value, EngineError> {
        let Some(exp) = self.experiments.list().into_iter().find(|e| e.id == id) else {
            return Err(EngineError::NotFound(format!("experiment {id:?}")));
        };
        self.decisions.flush();
        let now = self.clock.now();
        // People, not ids: (variation, first exposure, every id of theirs).
        let mut units: HashMap<String, (u32, Millis, Vec<String>)> = HashMap::new();
        self.live.with_registry(|registry| {
            for (exposed, variation, at) in self.experiments.exposed(id) {
                let (key, ids) = match registry.find(&exposed) {
                    Some(p) => (format!("p_{}", p.id), p.id_list()),
                    None => (format!("id:{exposed}"), vec![exposed.clone()]),
                };
                let unit = units.entry(key).or_insert((variation, at, ids));
                if at < unit.1 {
                    unit.0 = variation;
                    unit.1 = at;
                }
            }
        });
        let mut sums = vec![Sums::default(); exp.variations.len()];
        for (variation, at, ids) in units.values() {
            let Some(s) = sums.get_mut(*variation as usize) else {
                continue;
            };
            let events = self.store.events_of(ids, usize::MAX)?;
            s.add(&unit_from(&events, *at, now));
        }
        let observed: Vec<u64> = sums.iter().map(|s| s.n).collect();
        let weights: Vec<f64> = (0..exp.variations.len()).map(|i| exp.weight(i)).collect();
        let srm = match stats::srm(&observed, &weights) {
            Ok(p) => json!({"pValue": round(p), "mismatch": stats::is_sample_ratio_mismatch(p)}),
            Err(e) => json!({"error": e.to_string()}),
        };
        let metrics: serde_json::Map<String, Value> = METRICS
            .iter()
            .map(|&name| {
                let control = sums[0].metric(name);
                let variations: Vec<Value> = exp
                    .variations
                    .iter()
                    .zip(&sums)
                    .enumerate()
                    .map(|(i, (v, s))| {
                        let mut out = json!({
                            "variation": v.id,
                            "units": s.units(name),
                            "value": round(s.value(name)),
                        });
                        if i > 0 {
                            let treatment = s.metric(name);
                            out["frequentist"] =
                                comparison(&control, &treatment, TestConfig::frequentist());
                            out["sequential"] =
                                comparison(&control, &treatment, TestConfig::sequential());
                            out["bayesian"] =
                                comparison(&control, &treatment, TestConfig::bayesian());
                        }
                        out
                    })
                    .collect();
                (name.to_string(), json!(variations))
            })
            .collect();
        Ok(json!({
            "experiment": exp.id,
            "placement": exp.placement,
            "status": exp.status,
            "computedAt": format_timestamp(now),
            "units": observed.iter().sum::<u64>(),
            "variations": exp.variations.iter().zip(&observed).zip(&weights).map(|((v, n), w)| {
                json!({"id": v.id, "treatment": v.treatment, "units": n, "weight": w})
            }).collect::<Vec<_>>(),
            "srm": srm,
            "metrics": metrics,
        }))
    }
}
