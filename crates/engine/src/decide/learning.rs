//! Placements with a learning policy (`crate::learn::policies`): the rules still decide whether the
//! placement shows something (no offer right after an order, a placement's targeting); the
//! policy decides which of the eligible candidates, and the answer logs its propensity.

use super::visitor::Visitor;
use super::{Answer, Placement, PlacementKind, content, matches};
use crate::profile::catalog::Catalog;
use serde_json::Value;

use crate::learn::policies::{Learned, LearningPolicy, Policies};

/// Replaces the rules' pick in `rules` with the policy's, among the same eligible candidates.
pub fn apply(
    catalog: &Catalog,
    placement: &Placement,
    policy: &LearningPolicy,
    policies: &Policies,
    visitor: &Visitor<'_>,
    shown: &crate::measure::decision_log::ShownCounts,
    rules: Answer,
) -> Answer {
    if rules.chosen.is_none() {
        return rules;
    }
    // Candidates: (id, categories they are about).
    let (ids, categories): (Vec<String>, Vec<Vec<String>>) = match placement.kind {
        PlacementKind::Hero | PlacementKind::Promotion => {
            let kind = if placement.kind == PlacementKind::Hero {
                tailor_core::ContentKind::Banner
            } else {
                tailor_core::ContentKind::Promotion
            };
            content::eligible(catalog, placement, kind, visitor, shown)
                .iter()
                .map(|c| (c.id.clone(), c.targeting.categories.clone()))
                .unzip()
        }
        PlacementKind::Checkout => placement
            .variants
            .iter()
            .filter(|v| {
                v.condition
                    .as_ref()
                    .is_none_or(|c| matches(&visitor.attributes, c))
            })
            .map(|v| (v.id.clone(), Vec::new()))
            .unzip(),
        PlacementKind::Navigation
        | PlacementKind::Recommendations
        | PlacementKind::Message
        | PlacementKind::Ranking => {
            return rules;
        }
    };
    if ids.is_empty() {
        return rules;
    }
    let x: Vec<Vec<f64>> = categories.iter().map(|c| features(visitor, c)).collect();
    let choice = policies.choose(&placement.id, policy, &ids, &x);
    let arm = ids[choice.index].clone();
    let mut answer = Answer::new(placement);
    answer.candidates = ids;
    answer.propensity = (choice.propensity * 1e6).round() / 1e6;
    let exploring =
        choice.propensity <= exploration(policy) / answer.candidates.len() as f64 + 1e-12;
    answer.explanation = match (exploring, policy) {
        (true, _) => "One of the options we're trying out with shoppers".into(),
        (false, LearningPolicy::Thompson { .. }) => {
            "The option shoppers have responded to most lately".into()
        }
        (false, LearningPolicy::Linucb { .. }) => {
            "The option shoppers like you have responded to most".into()
        }
    };
    match placement.kind {
        PlacementKind::Checkout => {
            answer.variant = Some(arm.clone());
            answer.chosen = Some(arm.clone());
        }
        _ => match catalog.content_item(&arm) {
            Some(item) => answer.choose_content(&item),
            None => return rules,
        },
    }
    answer.learned = Some(Learned {
        placement: placement.id.clone(),
        arm,
        features: x[choice.index].clone(),
    });
    answer
}

fn exploration(policy: &LearningPolicy) -> f64 {
    match *policy {
        LearningPolicy::Thompson { exploration, .. }
        | LearningPolicy::Linucb { exploration, .. } => exploration,
    }
}

/// The visitor's features for the contextual policy, for a candidate in `categories`:
/// a bias, new vs known, has ordered, repeat buyer, has a cart, e-mail engagement, and how
/// much the visitor likes the candidate's categories.
pub fn features(visitor: &Visitor<'_>, categories: &[String]) -> Vec<f64> {
    let a = &visitor.attributes;
    let num = |k: &str| a.get(k).and_then(Value::as_f64).unwrap_or(0.0);
    let interest = categories
        .iter()
        .map(|c| visitor.interest_in(c))
        .fold(0.0, f64::max)
        .min(1.5);
    vec![
        1.0,
        if visitor.profile().is_none() {
            1.0
        } else {
            0.0
        },
        (num("orders") >= 1.0) as u8 as f64,
        (num("orders") >= 2.0) as u8 as f64,
        (num("cartItems") > 0.0) as u8 as f64,
        num("emailOpenRate").clamp(0.0, 1.0),
        interest,
    ]
}
