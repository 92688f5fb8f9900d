//! Next-category interest: for customers who engaged with something before the cut, the 3
//! categories they have not engaged with that Tailor expects them to engage with in the 14 days
//! after it, scored by recall@3 = |top 3 ∩ newly engaged| / |newly engaged|, averaged over
//! customers who newly engaged with at least one category. Baseline: the categories most
//! customers engaged with before the cut.
//!
//! The blend of transitions and similar customers is chosen on the 14 days before the cut
//! (transitions learned from the windows before those).

use std::collections::HashMap;
use std::fmt::Write as _;

use serde_json::{Value, json};
use tailor_ml::intent::metrics::recall_at_k;
use tailor_ml::intent::next_category::{
    BLENDS, Neighbourhood, NextCategoryParams, Transitions, blend_rank, engagement_weight,
    popularity_rank,
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
    pub model_recall: f64,
    pub baseline_recall: f64,
    pub blend: f64,
    pub validation_recall: f64,
    /// Validation recall@3 for each blend tried, as (blend, recall).
    pub validation: Vec<(f64, f64)>,
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
    customer: usize,
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
            customer: i,
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

pub fn evaluate(log: &EventLog, split: &Split) -> Result<NextCategoryReport, Error> {
    let mut params = NextCategoryParams::default();
    // Choose the blend on the window before the cut.
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
    params.blend = best.1;

    let model = transitions(log, split, split.cut, &params);
    let test = score_at(log, split.cut, &model, &params);
    let customers = test.iter().filter(|s| !s.actual.is_empty()).count();
    if customers == 0 {
        invalid!("next-category interest: no customer engaged with a new category after the cut");
    }
    let mut popularity = vec![0.0; log.categories.len()];
    // Popularity counts every customer seen before the cut, not only those scored.
    for c in &log.customers {
        let (before, _) = at(&c.timeline, split.cut, log.categories.len());
        for (p, e) in popularity.iter_mut().zip(&before) {
            *p += f64::from(u8::from(*e > 0.0));
        }
    }
    let model_recall = mean_recall(&test, |s| {
        blend_rank(&s.transitions, &s.neighbours, params.blend, &s.engagement)
    });
    let baseline_recall = mean_recall(&test, |s| popularity_rank(&popularity, &s.engagement));
    let top = |mut ranked: Vec<CategoryId>| {
        ranked.truncate(K);
        ranked
    };
    let rankings = test
        .iter()
        .map(|s| {
            let rankings = Rankings {
                engaged: (0..s.engagement.len() as CategoryId)
                    .filter(|&c| s.engagement[c as usize] > 0.0)
                    .collect(),
                model: top(blend_rank(
                    &s.transitions,
                    &s.neighbours,
                    params.blend,
                    &s.engagement,
                )),
                popularity: top(popularity_rank(&popularity, &s.engagement)),
            };
            (s.customer, rankings)
        })
        .collect();
    Ok(NextCategoryReport {
        customers,
        window: WINDOW,
        rankings,
        model_recall,
        baseline_recall,
        blend: params.blend,
        validation_recall: best.0,
        validation: tried,
    })
}

impl NextCategoryReport {
    pub fn to_json(&self) -> Value {
        json!({
            "customers": self.customers,
            "window_days": WINDOW / DAY,
            "model": {"recall@3": self.model_recall},
            "baseline": {"recall@3": self.baseline_recall},
            "blend": self.blend,
            "validation_recall@3": self.validation_recall,
            "validation": self.validation.iter().map(|(blend, recall)| json!({
                "blend": blend, "recall@3": recall,
            })).collect::<Vec<_>>(),
        })
    }

    pub fn write(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "Next-category interest: categories first engaged in the 14 days after the cut ({} customers)",
            self.customers
        );
        let _ = writeln!(out, "    {:<22} {:>9}", "model", "recall@3");
        let _ = writeln!(out, "    {:<22} {:>9.4}", "tailor", self.model_recall);
        let _ = writeln!(
            out,
            "    {:<22} {:>9.4}",
            "popularity", self.baseline_recall
        );
        let _ = writeln!(
            out,
            "    (neighbour weight {} chosen on the 14 days before the cut: recall@3 {:.4})",
            self.blend, self.validation_recall
        );
    }
}
