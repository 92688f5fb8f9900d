//! Purchase propensity: will this customer order within the current session, or within the
//! next 7 days? Builds the examples from timelines (features strictly from what happened
//! before the moment of prediction, labels from what followed) and fits the calibrated model.
//!
//! A session is scored after its first [`SESSION_PREFIX`] on-site events, or just before
//! checkout starts if that comes sooner: late enough that the visit says something, early
//! enough that the answer can still change what the visitor sees, and never after the
//! checkout that all but gives the answer away.

use super::behaviour::Behaviour;
use super::logistic::{Platt, StandardizedLogistic};
use super::metrics::log_loss;
use super::{Activity, ActivityKind, activity::sessions};
use crate::linear::FitError;

/// On-site events of a session seen before it is scored.
pub const SESSION_PREFIX: usize = 10;
/// An email click this soon before a visit brought the visitor.
const EMAIL_VISIT_WINDOW: f64 = 5.0 * 60.0;

/// Names of the session part of a session example's features (after [`super::behaviour::FEATURES`]).
pub const SESSION_FEATURES: [&str; 6] = [
    "ln(1+session events)",
    "ln(1+session product views)",
    "ln(1+session categories)",
    "ln(1+session adds)",
    "ln(1+session minutes)",
    "came from an email",
];

/// Penalties tried; the one with the best validation log loss is kept.
pub const L2_GRID: [f64; 5] = [1e-4, 1e-3, 1e-2, 1e-1, 1.0];
/// Used when validation cannot choose (it holds one class only).
const DEFAULT_L2: f64 = 1e-2;

/// One prediction moment: the model's features, the baseline's, and what happened.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    pub features: Vec<f64>,
    pub baseline: Vec<f64>,
    pub label: bool,
    /// When the prediction is made.
    pub at: f64,
}

/// For each time in `times` (ascending) at which the customer had already been seen: the
/// features as of that time and whether an order followed within `horizon` seconds.
pub fn snapshot_examples(
    timeline: &[Activity],
    times: &[f64],
    horizon: f64,
    out: &mut Vec<Example>,
) {
    let mut behaviour = Behaviour::default();
    let mut next = 0;
    for &t in times {
        while next < timeline.len() && timeline[next].time < t {
            behaviour.observe(&timeline[next]);
            next += 1;
        }
        if !behaviour.seen() {
            continue;
        }
        let label = timeline[next..]
            .iter()
            .take_while(|a| a.time < t + horizon)
            .any(|a| a.kind == ActivityKind::OrderCompleted);
        out.push(Example {
            features: behaviour.features(t),
            baseline: behaviour.recency_frequency(t),
            label,
            at: t,
        });
    }
}

/// One example per session that starts at or after `from` and ends before `until`: the
/// state after its prefix, and whether it went on to an order.
pub fn session_examples(timeline: &[Activity], from: f64, until: f64, out: &mut Vec<Example>) {
    let mut behaviour = Behaviour::default();
    let mut folded = 0;
    let mut last_email_click = f64::NEG_INFINITY;
    for range in sessions(timeline) {
        let start = timeline[range.start].time;
        let end = timeline[range.end - 1].time;
        while folded < range.start {
            let a = &timeline[folded];
            if a.kind == ActivityKind::EmailClicked {
                last_email_click = a.time;
            }
            behaviour.observe(a);
            folded += 1;
        }
        if start < from || end >= until {
            continue;
        }
        let baseline = behaviour.recency_frequency(start);
        let mut state = behaviour.clone();
        let session = &timeline[range.clone()];
        let (mut events, mut views, mut adds) = (0usize, 0usize, 0usize);
        let mut categories: Vec<u32> = Vec::new();
        let mut scored_at = start;
        let mut prefix_end = 0;
        for (i, a) in session.iter().enumerate() {
            if matches!(
                a.kind,
                ActivityKind::CheckoutStarted | ActivityKind::OrderCompleted
            ) || events == SESSION_PREFIX
            {
                break;
            }
            state.observe(a);
            prefix_end = i + 1;
            if !a.kind.on_site() {
                continue;
            }
            events += 1;
            scored_at = a.time;
            match a.kind {
                ActivityKind::ProductViewed => views += 1,
                ActivityKind::ProductAdded => adds += 1,
                _ => {}
            }
            if let Some(c) = a.category.filter(|_| a.kind.engages())
                && !categories.contains(&c)
            {
                categories.push(c);
            }
        }
        if events == 0 {
            continue;
        }
        let label = session[prefix_end..]
            .iter()
            .any(|a| a.kind == ActivityKind::OrderCompleted);
        let mut features = state.features(scored_at);
        features.extend([
            (events as f64).ln_1p(),
            (views as f64).ln_1p(),
            (categories.len() as f64).ln_1p(),
            (adds as f64).ln_1p(),
            ((scored_at - start) / 60.0).ln_1p(),
            f64::from(u8::from(start - last_email_click <= EMAIL_VISIT_WINDOW)),
        ]);
        out.push(Example {
            features,
            baseline,
            label,
            at: start,
        });
    }
}

/// A logistic model with its penalty chosen on validation data and Platt scaling fitted there.
#[derive(Debug, Clone, PartialEq)]
pub struct CalibratedModel {
    model: StandardizedLogistic,
    platt: Platt,
    l2: f64,
}

impl CalibratedModel {
    /// Fits on `train` with each penalty of [`L2_GRID`], keeps the one with the lowest log loss
    /// on `validation` (a later period than `train`), and calibrates on `validation`.
    pub fn fit(
        train: &[Vec<f64>],
        train_labels: &[bool],
        validation: &[Vec<f64>],
        validation_labels: &[bool],
    ) -> Result<Self, FitError> {
        let both_classes =
            validation_labels.iter().any(|&y| y) && validation_labels.iter().any(|&y| !y);
        if !both_classes {
            let model = StandardizedLogistic::fit(train, train_labels, DEFAULT_L2)?;
            return Ok(Self {
                model,
                platt: Platt::IDENTITY,
                l2: DEFAULT_L2,
            });
        }
        let mut best: Option<(f64, StandardizedLogistic, f64)> = None;
        for l2 in L2_GRID {
            let model = StandardizedLogistic::fit(train, train_labels, l2)?;
            let p: Vec<f64> = validation.iter().map(|r| model.probability(r)).collect();
            let loss = log_loss(&p, validation_labels);
            if best.as_ref().is_none_or(|(b, _, _)| loss < *b) {
                best = Some((loss, model, l2));
            }
        }
        let Some((_, model, l2)) = best else {
            return Err(FitError::NoRows);
        };
        let log_odds: Vec<f64> = validation.iter().map(|r| model.log_odds(r)).collect();
        let platt = Platt::fit(&log_odds, validation_labels)?;
        Ok(Self { model, platt, l2 })
    }

    pub fn probability(&self, row: &[f64]) -> f64 {
        self.platt.probability(self.model.log_odds(row))
    }

    /// Each feature's term of the log-odds for `row` (see `StandardizedLogistic::contributions`).
    pub fn contributions(&self, row: &[f64]) -> Vec<f64> {
        self.model.contributions(row)
    }

    /// The penalty validation chose.
    pub fn l2(&self) -> f64 {
        self.l2
    }

    pub fn platt(&self) -> Platt {
        self.platt
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intent::DAY;
    use ActivityKind::*;

    fn timeline() -> Vec<Activity> {
        vec![
            Activity::new(0.0, Page),
            Activity::new(60.0, ProductViewed).in_category(1),
            Activity::new(120.0, ProductAdded)
                .in_category(1)
                .worth(30.0),
            Activity::new(180.0, CheckoutStarted),
            Activity::new(240.0, OrderCompleted).worth(30.0),
            Activity::new(240.0, Purchased).in_category(1).worth(30.0),
            Activity::new(3.0 * DAY - 120.0, EmailClicked),
            Activity::new(3.0 * DAY, Page),
            Activity::new(3.0 * DAY + 60.0, ProductViewed).in_category(2),
        ]
    }

    #[test]
    fn snapshots_see_only_the_past_and_label_the_window() {
        let mut out = Vec::new();
        snapshot_examples(&timeline(), &[-1.0, 10.0, 300.0, 2.0 * DAY], DAY, &mut out);
        // Not yet seen at -1: no example.
        assert_eq!(out.len(), 3);
        assert!(out[0].label, "the order at 240 s is within a day of 10 s");
        assert!(!out[1].label && !out[2].label);
        // At 10 s only the first page is known: 1 session, no orders.
        assert_eq!(out[0].baseline[1..], [1f64.ln_1p(), 0.0]);
        assert_eq!(out[1].baseline[2], 1f64.ln_1p());
    }

    #[test]
    fn sessions_are_scored_before_checkout_and_labelled_by_their_order() {
        let mut out = Vec::new();
        session_examples(&timeline(), 0.0, f64::INFINITY, &mut out);
        assert_eq!(out.len(), 2);
        let first = &out[0];
        assert!(first.label);
        let n = super::super::behaviour::FEATURES.len();
        // Prefix: page, view, add (3 events), then checkout stops it.
        assert_eq!(first.features[n], 3f64.ln_1p());
        assert_eq!(first.features[n + 3], 1f64.ln_1p());
        assert_eq!(first.features[n + 5], 0.0);
        let second = &out[1];
        assert!(!second.label);
        assert_eq!(second.features[n + 5], 1.0, "came from the email click");
        // Sessions must end before `until`.
        out.clear();
        session_examples(&timeline(), 0.0, 200.0, &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn calibrated_model_picks_a_penalty_and_calibrates_on_validation() {
        // One informative feature: rate 10% at x = 0, 60% at x = 1, in both periods.
        let mut rows = Vec::new();
        let mut labels = Vec::new();
        for i in 0..200 {
            let x = f64::from(i % 2);
            rows.push(vec![x]);
            labels.push(if x == 0.0 { i % 20 == 0 } else { i % 10 < 6 });
        }
        let model = CalibratedModel::fit(&rows, &labels, &rows, &labels).expect("fit");
        assert!(L2_GRID.contains(&model.l2()));
        assert!((model.probability(&[0.0]) - 0.1).abs() < 0.02);
        assert!((model.probability(&[1.0]) - 0.6).abs() < 0.02);
    }
}
