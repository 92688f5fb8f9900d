//! Hero banners and promotions: choosing one content item for a visitor.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tailor_core::time::DAY;
use tailor_core::{ContentItem, ContentKind};

use super::visitor::Visitor;
use super::{Answer, Placement, matches};
use crate::profile::LifecycleStage;
use crate::profile::catalog::Catalog;
use tailor_core::condition::{PREDICTIONS, fields_read};

/// Live items of `kind` for this placement that the visitor is eligible for.
pub(super) fn eligible(
    catalog: &Catalog,
    placement: &Placement,
    kind: ContentKind,
    visitor: &Visitor<'_>,
    shown: &crate::measure::decision_log::ShownCounts,
) -> Vec<Arc<ContentItem>> {
    let stage = visitor
        .profile()
        .map(|p| p.lifecycle_stage(visitor.now).as_str());
    catalog
        .content(Some(&placement.id))
        .into_iter()
        .filter(|c| c.kind == kind && c.is_live(visitor.now))
        .filter(|c| {
            c.targeting
                .max_impressions
                .is_none_or(|cap| shown.get(&c.id).map_or(0, |n| n.load(Ordering::Relaxed)) < cap)
        })
        .filter(|c| {
            c.targeting.stages.is_empty()
                || stage.is_some_and(|s| c.targeting.stages.iter().any(|x| x == s))
        })
        .filter(|c| {
            c.targeting
                .condition
                .as_ref()
                .is_none_or(|cond| matches(&visitor.attributes, cond))
        })
        .filter(|c| predictions_known(c, &visitor.attributes))
        .collect()
}

/// Whether every prediction the item's condition reads is known for the visitor. The
/// condition language compares a missing value as null, and `null < 0.2` holds there (as in
/// JavaScript), so without this an offer for "churn risk below 20 %" would go to everyone the
/// models know nothing about.
fn predictions_known(item: &ContentItem, attributes: &serde_json::Value) -> bool {
    let known = |name: &str| match name {
        "" => !attributes["predictions"].is_null(),
        name => !attributes["predictions"][name].is_null(),
    };
    item.targeting
        .condition
        .as_ref()
        .is_none_or(|c| fields_read(c, PREDICTIONS).into_iter().all(known))
}

/// How much the item's categories match the visitor's interests (0 to 1), and the best one.
fn relevance(item: &ContentItem, visitor: &Visitor<'_>) -> (f64, Option<String>) {
    item.targeting
        .categories
        .iter()
        .map(|c| (visitor.interest_in(c), Some(c.clone())))
        .fold((0.0, None), |best, x| if x.0 > best.0 { x } else { best })
}

/// How many of the visitor's recently viewed products from `category` they viewed in the last 7 days.
fn viewed_this_week(catalog: &Catalog, visitor: &Visitor<'_>, category: &str) -> usize {
    let Some(p) = visitor.profile() else { return 0 };
    let prefix: Vec<String> = tailor_core::catalog::split_category(category);
    p.recent_products
        .iter()
        .filter(|(_, at)| visitor.now - at <= 7 * DAY)
        .filter_map(|(id, _)| catalog.product(id))
        .filter(|product| product.category.starts_with(&prefix))
        .count()
}

pub fn hero(
    catalog: &Catalog,
    placement: &Placement,
    visitor: &Visitor<'_>,
    shown: &crate::measure::decision_log::ShownCounts,
) -> Answer {
    let candidates = eligible(catalog, placement, ContentKind::Banner, visitor, shown);
    let scored = candidates.iter().map(|c| {
        let (rel, why) = relevance(c, visitor);
        (rel + 0.001 * c.targeting.priority as f64, rel, why, c)
    });
    let best = scored.max_by(|a, b| a.0.total_cmp(&b.0).then_with(|| b.3.id.cmp(&a.3.id)));
    let mut answer = Answer::new(placement);
    answer.scored = candidates.len();
    answer.candidates = candidates.iter().map(|c| c.id.clone()).collect();
    match best {
        Some((_, rel, Some(category), item)) if rel > 0.0 => {
            answer.explanation = match viewed_this_week(catalog, visitor, &category) {
                _ if visitor.told_us(&category) => {
                    format!("Because you told us you like {category}")
                }
                0 => format!("Because {category} is what you've been browsing most lately"),
                1 => format!("Because you viewed a {category} product this week"),
                n => format!("Because you viewed {n} {category} products this week"),
            };
            answer.choose_content(item);
        }
        Some((_, _, _, item)) => {
            answer.explanation = "Featured banner: the store's top pick right now".into();
            answer.choose_content(item);
        }
        None => answer.explanation = "No banner is running for this placement".into(),
    }
    answer
}

/// The (first) prediction an item's targeting condition reads, if any.
fn predicted_on(item: &ContentItem) -> Option<&str> {
    let condition = item.targeting.condition.as_ref()?;
    fields_read(condition, PREDICTIONS).into_iter().next()
}

/// "Why am I seeing this" for an offer aimed at a prediction.
fn prediction_reason(name: &str, value: &serde_json::Value) -> String {
    let share = |v: &serde_json::Value| v.as_f64().map(|x| format!("{:.0}%", x * 100.0));
    match (name, share(value)) {
        ("churn_risk", Some(p)) => format!(
            "We'd like to see you again: our model puts the chance you won't come back at {p}"
        ),
        ("p_alive", Some(p)) => format!(
            "We'd like to see you again: our model puts the chance you're still shopping with us at {p}"
        ),
        ("purchase_intent_session", Some(p)) => format!(
            "An offer while you decide: our model puts the chance you order on this visit at {p}"
        ),
        ("purchase_intent_7d", Some(p)) => format!(
            "An offer for this week: our model puts the chance you order within 7 days at {p}"
        ),
        ("clv", _) => "A thank-you for being one of our most valued customers".into(),
        (other, _) => format!(
            "Chosen for you from a prediction ({})",
            other.replace('_', " ")
        ),
    }
}

pub fn promotion(
    catalog: &Catalog,
    placement: &Placement,
    visitor: &Visitor<'_>,
    shown: &crate::measure::decision_log::ShownCounts,
) -> Answer {
    let mut answer = Answer::new(placement);
    // Someone who just ordered is not shown an offer: it would only discount what they'd buy anyway.
    if let Some(p) = visitor.profile()
        && p.orders.last_at.is_some_and(|t| visitor.now - t < DAY)
        && p.cart.items().next().is_none()
    {
        answer.explanation = "No offer: you just placed an order, thank you".into();
        return answer;
    }
    let candidates = eligible(catalog, placement, ContentKind::Promotion, visitor, shown);
    answer.scored = candidates.len();
    answer.candidates = candidates.iter().map(|c| c.id.clone()).collect();
    // Offers aimed at the visitor — their lifecycle stage or a prediction (churn risk,
    // purchase intent…) — beat category offers, which beat general ones; priority orders
    // offers of one kind.
    let scored = candidates.iter().map(|c| {
        let staged = if predicted_on(c).is_some() || !c.targeting.stages.is_empty() {
            2.0
        } else {
            0.0
        };
        let (rel, why) = relevance(c, visitor);
        (
            staged + rel + 0.001 * c.targeting.priority as f64,
            staged > 0.0,
            rel,
            why,
            c,
        )
    });
    let Some((_, staged, rel, category, item)) =
        scored.max_by(|a, b| a.0.total_cmp(&b.0).then_with(|| b.4.id.cmp(&a.4.id)))
    else {
        answer.explanation = "No promotion fits right now".into();
        return answer;
    };
    answer.explanation = match (visitor.profile(), staged, category) {
        (Some(_), true, _) if visitor.discreet => "An offer chosen for you".into(),
        (Some(_), true, _) if predicted_on(item).is_some() => {
            let name = predicted_on(item).unwrap_or_default();
            let value = &visitor.attributes["predictions"][name];
            prediction_reason(name, value)
        }
        (Some(p), true, _) if p.cart.items().next().is_some() => {
            let n: i64 = p.cart.items().map(|l| l.quantity).sum();
            format!(
                "You left {n} item(s) worth ${:.2} in your cart",
                p.cart.value()
            )
        }
        (Some(p), true, _) if matches!(p.lifecycle_stage(visitor.now), LifecycleStage::Repeat) => {
            format!("A thank-you for your {} orders", p.orders.count)
        }
        (Some(p), true, _)
            if matches!(
                p.lifecycle_stage(visitor.now),
                LifecycleStage::AtRisk | LifecycleStage::Lapsed
            ) =>
        {
            "We haven't seen you in a while: welcome back".into()
        }
        (Some(p), true, _) => format!(
            "An offer for where you are with us ({})",
            p.lifecycle_stage(visitor.now).as_str()
        ),
        (_, false, Some(c)) if rel > 0.0 => format!("Because you've been exploring {c}"),
        _ => "Current offer for everyone".into(),
    };
    answer.choose_content(item);
    answer
}
