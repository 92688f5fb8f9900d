//! Navigation: the store's top-level categories in the order that suits the visitor.
//! Interest is a decayed sum over weeks, so the order changes gradually, not per view.
//! With a trained model, the categories the visitor is predicted to take up next ("new for
//! you": `predictions.next_categories`, the model `tailor train` scores) come beside them.

use super::visitor::Visitor;
use super::{Answer, NavEntry, Placement};
use crate::learn::recs::Recs;
use crate::profile::catalog::Catalog;

pub fn navigation(
    catalog: &Catalog,
    recs: &Recs,
    placement: &Placement,
    visitor: &Visitor<'_>,
) -> Answer {
    let tree = catalog.category_tree();
    // Everyone's order: how much the whole store engages with each category, then size.
    let store_pull =
        |path: &str| -> f64 { recs.ranked.category_pull.get(path).copied().unwrap_or(0.0) };
    let max_pull = tree
        .iter()
        .map(|n| store_pull(&n.path))
        .fold(0.0, f64::max)
        .max(1e-9);
    let mut entries: Vec<NavEntry> = tree
        .iter()
        .map(|n| {
            let interest = visitor.interest_in(&n.path);
            let mut children: Vec<(f64, String)> = n
                .children
                .iter()
                .map(|c| (visitor.interest_in(&c.path), c.path.clone()))
                .collect();
            children.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            NavEntry {
                name: n.name.clone(),
                path: n.path.clone(),
                score: ((interest + 0.25 * store_pull(&n.path) / max_pull) * 1000.0).round()
                    / 1000.0,
                children: children.into_iter().map(|(_, p)| p).collect(),
            }
        })
        .collect();
    entries.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.name.cmp(&b.name)));
    entries.truncate(placement.limit_or(8));
    let mut answer = Answer::new(placement);
    answer.candidates = tree.iter().map(|n| n.path.clone()).collect();
    let liked: Vec<&str> = entries
        .iter()
        .filter(|e| visitor.interest_in(&e.path) > 0.0)
        .take(2)
        .map(|e| e.name.as_str())
        .collect();
    answer.explanation = match liked.as_slice() {
        [] => "Categories in order of what shoppers engage with most".into(),
        [first, ..] if entries.first().is_some_and(|e| visitor.told_us(&e.path)) => {
            format!("{first} first: you told us you like it")
        }
        [one] => format!("{one} first: it's what you've browsed most"),
        [a, b, ..] => format!("{a} and {b} first: the categories you've browsed most"),
    };
    answer.chosen = entries.first().map(|e| e.path.clone());
    answer.categories = Some(entries);
    // Present only with personalization: `attributes` has predictions only then.
    answer.new_for_you = visitor.attributes["predictions"]["next_categories"]
        .as_array()
        .filter(|next| !next.is_empty())
        .map(|next| {
            next.iter()
                .filter_map(|c| c.as_str().map(str::to_string))
                .collect()
        });
    answer
}
