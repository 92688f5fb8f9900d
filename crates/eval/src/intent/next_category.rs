//! Next-category interest: for customers who engaged with something before the cut, the 3
//! categories they have not engaged with that Tailor expects them to engage with in the 14 days
//! after it, scored by recall@3 = |top 3 ∩ newly engaged| / |newly engaged|, averaged over
//! customers who newly engaged with at least one category. Baseline: the categories most
//! customers engaged with before the cut.
//!
//! The model scored is the one Tailor serves (`ServedModel`: transitions blended with
//! popularity), by the protocol `tailor train` runs (`fit_and_validate`) on 14-day windows
//! between snapshots 14 days apart ending at the cut: the blend is chosen on the 14 days
//! before the cut, the transitions learned from the windows before it. Beside it, for
//! comparison, the similar-customers blend, which is not served (it needs every customer at
//! prediction time): transitions from snapshots every 2 days, its blend chosen on the same
//! 14 days.

use std::collections::HashMap;
use std::fmt::Write as _;

use serde_json::{Value, json};
use tailor_ml::intent::metrics::recall_at_k;
use tailor_ml::intent::next_category::{
    BLENDS, Neighbourhood, NextCategoryParams, Transitions, Window, blend_rank, engagement_weight,
    fit_and_validate,
};
use tailor_ml::intent::{CategoryId, DAY};

use super::Split;
use super::log::EventLog;
use crate::error::{Error, invalid};

const WINDOW: f64 = 14.0 * DAY;
const K: usize = 3;
/// Snapshots the transitions are learned from are taken this often.
const SNAPSHOT_EVERY: f64 = 2.0 * DAY;

/// What was predicted for one customer at the cut.
pub struct Rankings {
    /// Categories engaged with before the cut (never predicted).
    pub engaged: Vec<CategoryId>,
    /// The top 3 of the model and of the popularity baseline.
    pub model: Vec<CategoryId>,
    pub popularity: Vec<CategoryId>,
}

pub struct NextCategoryReport {
    pub customers: usize,
    /// Window after the cut, seconds.
    pub window: f64,
    /// By customer index, for every customer who had engaged with something before the cut.
    pub rankings: HashMap<usize, Rankings>,
    /// The served model (transitions and popularity) and popularity alone.
    pub model_recall: f64,
    pub baseline_recall: f64,
    /// The served model's popularity weight, chosen on validation, and each weight's
    /// validation recall@3.
    pub blend: f64,
    pub validation: Vec<(f64, f64)>,
    /// The similar-customers blend (not served): its test recall@3, its neighbour weight
    /// and each weight's validation recall@3.
    pub neighbours_recall: f64,
    pub neighbours_blend: f64,
    pub neighbours_validation: Vec<(f64, f64)>,
}

/// Engagement per category before `t`, and the categories first engaged in [t, t + WINDOW).
fn at(
    timeline: &[tailor_ml::intent::Activity],
    t: f64,
    categories: usize,
) -> (Vec<f64>, Vec<CategoryId>) {
    let mut before = vec![0.0; categories];
    let mut after: Vec<CategoryId> = Vec::new();
    for a in timeline {
        let Some(c) = a.category else { continue };
        let w = engagement_weight(a.kind);
        if w <= 0.0 {
            continue;
        }
        if a.time < t {
            before[c as usize] += w;
        } else if a.time < t + WINDOW && !after.contains(&c) {
            after.push(c);
        }
    }
    after.retain(|&c| before[c as usize] <= 0.0);
    (before, after)
}

/// Transitions learned from snapshots every 2 days whose window ends by `until`.
fn transitions(
    log: &EventLog,
    split: &Split,
    until: f64,
    params: &NextCategoryParams,
) -> Transitions {
    let n = log.categories.len();
    let mut examples: Vec<(Vec<f64>, Vec<CategoryId>)> = Vec::new();
    let mut t = until - WINDOW;
    while t > split.first {
        for c in &log.customers {
            if c.timeline.first().is_some_and(|a| a.time < t) {
                examples.push(at(&c.timeline, t, n));
            }
        }
        t -= SNAPSHOT_EVERY;
    }
    Transitions::fit(
        examples.iter().map(|(b, a)| (b.as_slice(), a.as_slice())),
        n,
        params.smoothing,
    )
}

/// Per-customer signals at time `t` for the customers to score there.
struct Scored {
    engagement: Vec<f64>,
    actual: Vec<CategoryId>,
    transitions: Vec<f64>,
    neighbours: Vec<f64>,
}

fn score_at(
    log: &EventLog,
    t: f64,
    model: &Transitions,
    params: &NextCategoryParams,
) -> Vec<Scored> {
    let n = log.categories.len();
    let states: Vec<(Vec<f64>, Vec<CategoryId>)> = log
        .customers
        .iter()
        .map(|c| at(&c.timeline, t, n))
        .collect();
    let engagement: Vec<Vec<f64>> = states.iter().map(|(b, _)| b.clone()).collect();
    let hood = Neighbourhood::new(&engagement);
    states
        .into_iter()
        .enumerate()
        .filter(|(_, (before, _))| before.iter().any(|&x| x > 0.0))
        .map(|(i, (before, after))| Scored {
            transitions: model.scores(&before),
            neighbours: hood.scores(&before, Some(i), params.neighbours),
            engagement: before,
            actual: after,
        })
        .collect()
}

fn mean_recall(scored: &[Scored], rank: impl Fn(&Scored) -> Vec<CategoryId>) -> f64 {
    let recalls: Vec<f64> = scored
        .iter()
        .filter_map(|s| recall_at_k(&rank(s), &s.actual, K))
        .collect();
    if recalls.is_empty() {
        0.0
    } else {
        recalls.iter().sum::<f64>() / recalls.len() as f64
    }
}

/// The served model's windows: snapshots [`WINDOW`] apart ending at the cut, each with the
/// customers seen before it; the newest is the test window (the 14 days after the cut).
/// Also the customer index of each row of the test window.
fn served_windows(log: &EventLog, split: &Split) -> (Vec<Window>, Vec<usize>) {
    let n = log.categories.len();
    let mut snapshots = Vec::new();
    let mut t = split.cut;
    while t > split.first {
        snapshots.push(t);
        t -= WINDOW;
    }
    snapshots.reverse();
    let mut test_customers = Vec::new();
    let windows = snapshots
        .iter()
        .map(|&t| {
            let is_test = t == split.cut;
            log.customers
                .iter()
                .enumerate()
                .filter(|(_, c)| c.timeline.first().is_some_and(|a| a.time < t))
                .map(|(i, c)| {
                    if is_test {
                        test_customers.push(i);
                    }
                    at(&c.timeline, t, n)
                })
                .collect()
        })
        .collect();
    (windows, test_customers)
}

/// The similar-customers blend, for comparison: (test recall@3, neighbour weight, each
/// weight's validation recall@3).
fn similar_customers(log: &EventLog, split: &Split) -> (f64, f64, Vec<(f64, f64)>) {
    let params = NextCategoryParams::default();
    let validation_at = split.cut - WINDOW;
    let validation_model = transitions(log, split, validation_at, &params);
    let validation = score_at(log, validation_at, &validation_model, &params);
    let mut best = (f64::NEG_INFINITY, params.blend);
    let mut tried = Vec::new();
    for blend in BLENDS {
        let recall = mean_recall(&validation, |s| {
            blend_rank(&s.transitions, &s.neighbours, blend, &s.engagement)
        });
        tried.push((blend, recall));
        if recall > best.0 {
            best = (recall, blend);
        }
    }
    let model = transitions(log, split, split.cut, &params);
    let test = score_at(log, split.cut, &model, &params);
    let recall = mean_recall(&test, |s| {
        blend_rank(&s.transitions, &s.neighbours, best.1, &s.engagement)
    });
    (recall, best.1, tried)
}

pub fn evaluate(log: &EventLog, split: &Split) -> Result<NextCategoryReport, Error> {
    let params = NextCategoryParams::default();
    let (windows, test_customers) = served_windows(log, split);
    let Some(served) = fit_and_validate(&windows, log.categories.len(), params.smoothing) else {
        invalid!("next-category interest: no customer engaged with a new category after the cut");
    };
    let top = |mut ranked: Vec<CategoryId>| {
        ranked.truncate(K);
        ranked
    };
    let test = windows.last().map_or(&[][..], Vec::as_slice);
    let rankings = test
        .iter()
        .zip(&test_customers)
        .filter(|((engagement, _), _)| engagement.iter().any(|&x| x > 0.0))
        .map(|((engagement, _), &customer)| {
            let rankings = Rankings {
                engaged: (0..engagement.len() as CategoryId)
                    .filter(|&c| engagement[c as usize] > 0.0)
                    .collect(),
                model: top(served.tested.rank(engagement)),
                popularity: top(served.tested.rank_with_blend(engagement, 1.0)),
            };
            (customer, rankings)
        })
        .collect();
    let (neighbours_recall, neighbours_blend, neighbours_validation) =
        similar_customers(log, split);
    Ok(NextCategoryReport {
        customers: served.scored,
        window: WINDOW,
        rankings,
        model_recall: served.test_recall,
        baseline_recall: served.popularity_recall,
        blend: served.model.blend,
        validation: served.validation,
        neighbours_recall,
        neighbours_blend,
        neighbours_validation,
    })
}

impl NextCategoryReport {
    pub fn to_json(&self) -> Value {
        let tried = |v: &[(f64, f64)]| {
            v.iter()
                .map(|(blend, recall)| json!({"blend": blend, "recall@3": recall}))
                .collect::<Vec<_>>()
        };
        json!({
            "customers": self.customers,
            "window_days": WINDOW / DAY,
            "model": {"recall@3": self.model_recall},
            "baseline": {"recall@3": self.baseline_recall},
            "popularity_weight": self.blend,
            "validation": tried(&self.validation),
            "similar_customers": {
                "served": false,
                "recall@3": self.neighbours_recall,
                "neighbour_weight": self.neighbours_blend,
                "validation": tried(&self.neighbours_validation),
            },
        })
    }

    pub fn write(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "Next-category interest: categories first engaged in the 14 days after the cut ({} customers)",
            self.customers
        );
        let _ = writeln!(out, "    {:<34} {:>9}", "model", "recall@3");
        let _ = writeln!(
            out,
            "    {:<34} {:>9.4}",
            "tailor (served: transitions)", self.model_recall
        );
        let _ = writeln!(
            out,
            "    {:<34} {:>9.4}",
            "popularity", self.baseline_recall
        );
        let _ = writeln!(
            out,
            "    {:<34} {:>9.4}",
            "similar customers (not served)", self.neighbours_recall
        );
        let _ = writeln!(
            out,
            "    (popularity weight {} and neighbour weight {} chosen on the 14 days before the cut)",
            self.blend, self.neighbours_blend
        );
    }
}
