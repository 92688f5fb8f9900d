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

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use tailor_core::Millis;
use tailor_core::time::{DAY, MINUTE, format_timestamp};
use tailor_ml::stats::{self, Inference, Statistic, TestConfig, UnitSums};

use super::unit_digests::{Digest, Mark};
use crate::error::EngineError;

/// One unit's numbers.
#[derive(Default, Clone)]
struct Unit {
    /// Per goal event of the experiment: 1 if sent after exposure.
    goals: Vec<f64>,
    converted: f64,
    revenue: f64,
    orders: f64,
    revenue_before: f64,
    returned_7d: Option<f64>,
    returned_30d: Option<f64>,
}

/// Per-variation sums.
#[derive(Default, Clone)]
struct Sums {
    goals: Vec<f64>,
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
        if self.goals.len() < u.goals.len() {
            self.goals.resize(u.goals.len(), 0.0);
        }
        for (sum, g) in self.goals.iter_mut().zip(&u.goals) {
            *sum += g;
        }
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

/// One comparison of a treatment with the control; a test that cannot run says why instead
/// (never a NaN).
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum Comparison {
    Failed {
        error: String,
    },
    #[serde(rename_all = "camelCase")]
    Done {
        /// The relative lift's expected value.
        lift: f64,
        /// Its interval.
        ci: [f64; 2],
        /// Frequentist and sequential tests.
        #[serde(skip_serializing_if = "Option::is_none")]
        p_value: Option<f64>,
        /// Bayesian.
        #[serde(skip_serializing_if = "Option::is_none")]
        chance_to_win: Option<f64>,
        /// Bayesian: expected loss of choosing each arm.
        #[serde(skip_serializing_if = "Option::is_none")]
        risk: Option<Risk>,
        /// Why the result may not be trusted (e.g. too few units).
        #[serde(skip_serializing_if = "Option::is_none")]
        issue: Option<&'static str>,
    },
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Risk {
    pub control: f64,
    pub treatment: f64,
}

pub(crate) fn comparison(
    control: &Statistic,
    treatment: &Statistic,
    config: TestConfig,
) -> Comparison {
    match stats::compare(control, treatment, &config) {
        Err(e) => Comparison::Failed {
            error: e.to_string(),
        },
        Ok(r) => {
            let (p_value, chance_to_win, risk) = match r.inference {
                Inference::PValue(p) => (Some(round(p)), None, None),
                Inference::Bayesian {
                    chance_to_win,
                    risk,
                } => (
                    None,
                    Some(round(chance_to_win)),
                    Some(Risk {
                        control: round(risk.control),
                        treatment: round(risk.treatment),
                    }),
                ),
            };
            Comparison::Done {
                lift: round(r.expected),
                ci: [round(r.ci[0]), round(r.ci[1])],
                p_value,
                chance_to_win,
                risk,
                issue: r.issue.map(|i| i.code()),
            }
        }
    }
}

/// The sample-ratio-mismatch check: its p-value, or why it could not run.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum Srm {
    Failed {
        error: String,
    },
    #[serde(rename_all = "camelCase")]
    Done {
        p_value: f64,
        /// Whether assignment looks broken.
        mismatch: bool,
    },
}

impl Srm {
    pub(crate) fn of(result: Result<f64, impl std::fmt::Display>) -> Self {
        match result {
            Ok(p) => Srm::Done {
                p_value: round(p),
                mismatch: stats::is_sample_ratio_mismatch(p),
            },
            Err(e) => Srm::Failed {
                error: e.to_string(),
            },
        }
    }
}

/// An experiment's results (see the module docs).
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ExperimentResults {
    pub experiment: String,
    pub placement: String,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub status: crate::measure::experiments::Status,
    pub computed_at: String,
    /// People exposed.
    pub units: u64,
    pub variations: Vec<VariationUnits>,
    pub srm: Srm,
    /// Metric name → one entry per variation (the first is the control).
    pub metrics: BTreeMap<String, Vec<MetricResult>>,
    /// Conversion, revenue per visitor and each goal event's rate at the end of each day.
    pub over_time: OverTime,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VariationUnits {
    pub id: String,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub treatment: crate::measure::experiments::Treatment,
    pub units: u64,
    pub weight: f64,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MetricResult {
    pub variation: String,
    pub units: u64,
    pub value: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frequentist: Option<Comparison>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sequential: Option<Comparison>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bayesian: Option<Comparison>,
}

/// A unit's numbers built event by event (in any order), around their first exposure
/// `at`: the results read all of a unit's events, the day-by-day view stops at each day's
/// end and reads on.
struct UnitTally<'g> {
    at: Millis,
    goals: &'g [String],
    u: Unit,
    back: (bool, bool),
}

impl<'g> UnitTally<'g> {
    fn new(at: Millis, goals: &'g [String]) -> Self {
        UnitTally {
            at,
            goals,
            u: Unit {
                goals: vec![0.0; goals.len()],
                ..Unit::default()
            },
            back: (false, false),
        }
    }

    fn see(&mut self, m: &Mark) {
        let (at, u) = (self.at, &mut self.u);
        let t = m.t;
        if t >= at
            && let Some(g) = m.goal
        {
            // Every goal of that name (a goal listed twice counts in both places).
            for (reached, goal) in u.goals.iter_mut().zip(self.goals) {
                if Some(goal) == self.goals.get(g) {
                    *reached = 1.0;
                }
            }
        }
        if let Some(value) = m.order {
            if t >= at {
                u.orders += 1.0;
                u.revenue += value;
            } else {
                u.revenue_before += value;
            }
        }
        if t > at + 30 * MINUTE {
            self.back.0 |= t <= at + 7 * DAY;
            self.back.1 |= t <= at + 30 * DAY;
        }
    }

    /// The unit as of `now` (retention counts only once the unit is old enough).
    fn unit(&self, now: Millis) -> Unit {
        let mut u = self.u.clone();
        u.converted = if u.orders > 0.0 { 1.0 } else { 0.0 };
        let b = |x: bool| if x { 1.0 } else { 0.0 };
        u.returned_7d = (now - self.at >= 7 * DAY).then_some(b(self.back.0));
        u.returned_30d = (now - self.at >= 30 * DAY).then_some(b(self.back.1));
        u
    }
}

/// A unit's numbers from its digest.
fn unit_from(digest: &Digest, now: Millis, goals: &[String]) -> Unit {
    let mut tally = UnitTally::new(digest.at, goals);
    digest.marks.iter().for_each(|m| tally.see(m));
    tally.unit(now)
}

impl super::Measure {
    /// The results of experiment `id` (see the module docs). Blocks on disk: reads the events
    /// logged since the previous call, and all the events of units new since then
    /// (`unit_digests`).
    pub fn experiment_results(&self, id: &str) -> Result<ExperimentResults, EngineError> {
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
        let mut days = Days::new(
            units.values().map(|u| u.1).min().unwrap_or(now),
            now,
            exp.variations.len(),
        );
        self.digests.with(
            &*self.store,
            &self.events_deleted,
            id,
            &exp.goals,
            units,
            |digests| {
                for digest in digests {
                    let variation = digest.variation as usize;
                    if let Some(s) = sums.get_mut(variation) {
                        s.add(&unit_from(digest, now, &exp.goals));
                        days.add(variation, digest, &exp.goals);
                    }
                }
            },
        )?;
        let observed: Vec<u64> = sums.iter().map(|s| s.n).collect();
        let weights: Vec<f64> = (0..exp.variations.len()).map(|i| exp.weight(i)).collect();
        let srm = Srm::of(stats::srm(&observed, &weights));
        let mut metrics: BTreeMap<String, Vec<MetricResult>> = METRICS
            .iter()
            .map(|&name| {
                let control = sums[0].metric(name);
                let variations = exp
                    .variations
                    .iter()
                    .zip(&sums)
                    .enumerate()
                    .map(|(i, (v, s))| {
                        let treatment = s.metric(name);
                        let compare =
                            |config| (i > 0).then(|| comparison(&control, &treatment, config));
                        MetricResult {
                            variation: v.id.clone(),
                            units: s.units(name),
                            value: round(s.value(name)),
                            frequentist: compare(TestConfig::frequentist()),
                            sequential: compare(TestConfig::sequential()),
                            bayesian: compare(TestConfig::bayesian()),
                        }
                    })
                    .collect();
                (name.to_string(), variations)
            })
            .collect();
        // Each goal event's rate: the share of units who sent it after exposure.
        for (g, goal) in exp.goals.iter().enumerate() {
            let rate = |s: &Sums| s.goals.get(g).copied().unwrap_or(0.0);
            let control = Statistic::proportion(sums[0].n, rate(&sums[0]));
            let variations = exp
                .variations
                .iter()
                .zip(&sums)
                .enumerate()
                .map(|(i, (v, s))| {
                    let treatment = Statistic::proportion(s.n, rate(s));
                    let compare =
                        |config| (i > 0).then(|| comparison(&control, &treatment, config));
                    MetricResult {
                        variation: v.id.clone(),
                        units: s.n,
                        value: round(if s.n > 0 { rate(s) / s.n as f64 } else { 0.0 }),
                        frequentist: compare(TestConfig::frequentist()),
                        sequential: compare(TestConfig::sequential()),
                        bayesian: compare(TestConfig::bayesian()),
                    }
                })
                .collect();
            metrics.insert(format!("event:{goal}"), variations);
        }
        Ok(ExperimentResults {
            experiment: exp.id.clone(),
            placement: exp.placement.clone(),
            status: exp.status,
            computed_at: format_timestamp(now),
            units: observed.iter().sum::<u64>(),
            variations: exp
                .variations
                .iter()
                .zip(&observed)
                .zip(&weights)
                .map(|((v, n), w)| VariationUnits {
                    id: v.id.clone(),
                    treatment: v.treatment,
                    units: *n,
                    weight: *w,
                })
                .collect(),
            srm,
            metrics,
            over_time: days.report(&exp.variations, &exp.goals),
        })
    }
}

/// Days shown in the metrics over time, at most (the newest).
const DAYS_SHOWN: i64 = 90;
/// Metrics followed over time (besides each goal event's rate).
const OVER_TIME: [&str; 2] = ["conversion", "revenue_per_visitor"];

/// Each day's cumulative sums per variation: the results as they stood at the end of the
/// day, from the units exposed by then and their events up to then.
struct Days {
    /// The end (exclusive) of each day followed, oldest first; the last is `now`.
    ends: Vec<Millis>,
    sums: Vec<Vec<Sums>>,
}

impl Days {
    fn new(first: Millis, now: Millis, variations: usize) -> Days {
        let mut start = first - first.rem_euclid(DAY);
        start = start.max(now - now.rem_euclid(DAY) - (DAYS_SHOWN - 1) * DAY);
        let mut ends: Vec<Millis> = (1..)
            .map(|d| start + d * DAY)
            .take_while(|end| *end < now)
            .collect();
        ends.push(now);
        Days {
            sums: vec![vec![Sums::default(); variations]; ends.len()],
            ends,
        }
    }

    fn add(&mut self, variation: usize, digest: &Digest, goals: &[String]) {
        // One pass in time order, stopping at each day's end: a unit's marks are read once
        // whatever the number of days.
        let mut by_time: Vec<&Mark> = digest.marks.iter().collect();
        by_time.sort_by_key(|m| m.t);
        let mut rest = by_time.into_iter().peekable();
        let at = digest.at;
        let mut tally = UnitTally::new(at, goals);
        let last = self.ends.len() - 1;
        for (i, (end, sums)) in self.ends.iter().zip(&mut self.sums).enumerate() {
            // The last day ends now and holds everything, as the results do.
            let cut = if i == last { Millis::MAX } else { *end };
            while let Some(m) = rest.next_if(|m| m.t < cut) {
                tally.see(m);
            }
            if at >= cut {
                continue;
            }
            if let Some(s) = sums.get_mut(variation) {
                s.add(&tally.unit(*end));
            }
        }
    }

    fn report(
        &self,
        variations: &[crate::measure::experiments::Variation],
        goals: &[String],
    ) -> OverTime {
        let mut metrics = BTreeMap::new();
        let followed = OVER_TIME.iter().map(|m| (m.to_string(), None)).chain(
            goals
                .iter()
                .enumerate()
                .map(|(g, goal)| (format!("event:{goal}"), Some(g))),
        );
        for (name, goal) in followed {
            let statistic = |s: &Sums| match goal {
                Some(g) => Statistic::proportion(s.n, s.goals.get(g).copied().unwrap_or(0.0)),
                None => s.metric(&name),
            };
            let value = |s: &Sums| match goal {
                Some(g) if s.n > 0 => s.goals.get(g).copied().unwrap_or(0.0) / s.n as f64,
                Some(_) => 0.0,
                None => s.value(&name),
            };
            let series = variations
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    let mut out = VariationOverTime {
                        variation: v.id.clone(),
                        ..VariationOverTime::default()
                    };
                    for day in &self.sums {
                        out.units.push(day[i].n);
                        out.value.push(round(value(&day[i])));
                        if i > 0 {
                            let lift = match comparison(
                                &statistic(&day[0]),
                                &statistic(&day[i]),
                                TestConfig::frequentist(),
                            ) {
                                // A result with an issue (no variance yet: nobody converted)
                                // is no point on a chart.
                                Comparison::Done {
                                    lift,
                                    ci,
                                    issue: None,
                                    ..
                                } => Some((lift, ci)),
                                _ => None,
                            };
                            out.lift.push(lift.map(|l| l.0));
                            out.ci.push(lift.map(|l| l.1));
                        }
                    }
                    out
                })
                .collect();
            metrics.insert(name, series);
        }
        OverTime {
            days: self
                .ends
                .iter()
                .map(|end| {
                    format_timestamp(end - 1)
                        .get(..10)
                        .unwrap_or("")
                        .to_string()
                })
                .collect(),
            metrics,
        }
    }
}

/// The results as they stood at the end of each day (the last: now), for the metrics
/// followed over time.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OverTime {
    /// Each day (UTC), oldest first, at most the last 90.
    pub days: Vec<String>,
    /// Metric name → one entry per variation (the first is the control).
    pub metrics: BTreeMap<String, Vec<VariationOverTime>>,
}

/// One variation's metric at the end of each day.
#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VariationOverTime {
    pub variation: String,
    /// Units exposed by then.
    pub units: Vec<u64>,
    pub value: Vec<f64>,
    /// Against the control, frequentist (empty for the control; `null` where no test could run).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub lift: Vec<Option<f64>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ci: Vec<Option<[f64; 2]>>,
}
