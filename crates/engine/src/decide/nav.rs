//! Navigation: the store's top-level categories in the order that suits the visitor.
//! Interest is a decayed sum over weeks, so the order changes gradually, not per view.
//! With a trained model, the categories the visitor is predicted to take up next ("new for
//! you": `predictions.next_categories`, the model `tailor train` scores) come beside them.

use super::visitor::Visitor;
use super::{Answer, NavEntry, Placement};
use crate::learn::recs::Recs;
use crate::profile::catalog::{Catalog, CategoryNode};

/// Beyond this many top-level categories, only the store's strongest (by pull) and the ones
/// the visitor is interested in are ranked: any other has no interest and less pull than
/// each of those, so it could not be shown.
const NAV_SCAN: usize = 64;
/// Subcategories listed per entry, the visitor's favourites first.
const NAV_CHILDREN: usize = 50;
/// Categories a visitor's own interests and declared favourites can add.
const OWN_CATEGORIES: usize = 32;

/// The most candidates one navigation answer scores ([`super::Answer::scored`]): the ranked
/// top-level categories and the subcategories of those shown.
pub const MAX_SCORED: usize =
    NAV_SCAN + 100 + OWN_CATEGORIES + 100 * (NAV_CHILDREN + OWN_CATEGORIES);

/// The category paths the visitor is interested in or told us they like (with every parent
/// of a declared one), at most [`OWN_CATEGORIES`].
fn own_paths(visitor: &Visitor<'_>) -> Vec<String> {
    let mut paths: Vec<String> = visitor
        .interests()
        .iter()
        .map(|(k, _)| k.to_string())
        .collect();
    for declared in &visitor.declared.categories {
        let parts: Vec<&str> = declared.split('/').collect();
        for depth in 1..=parts.len() {
            paths.push(parts[..depth].join("/"));
        }
    }
    paths.sort_unstable();
    paths.dedup();
    paths.truncate(OWN_CATEGORIES);
    paths
}

pub fn navigation(
    catalog: &Catalog,
    recs: &Recs,
    placement: &Placement,
    visitor: &Visitor<'_>,
) -> Answer {
    let tree = catalog.category_tree();
    let limit = placement.limit_or(8);
    // Everyone's order: how much the whole store engages with each category, then size.
    let store_pull =
        |path: &str| -> f64 { recs.ranked.category_pull.get(path).copied().unwrap_or(0.0) };
    let considered: Vec<&CategoryNode> = if tree.len() <= NAV_SCAN + limit {
        tree.iter().collect()
    } else {
        // The tree is sorted by name, and a top-level node's name is its path.
        let node = |path: &str| {
            tree.binary_search_by(|n| n.path.as_str().cmp(path))
                .ok()
                .map(|i| &tree[i])
        };
        let mut picked: Vec<&CategoryNode> = recs
            .ranked
            .nav_order
            .iter()
            .take(NAV_SCAN + limit)
            .filter_map(|path| node(path))
            .collect();
        let own = own_paths(visitor);
        let own = own.iter().filter_map(|k| k.split('/').next());
        for path in own {
            if let Some(n) = node(path)
                && !picked.iter().any(|p| p.path == n.path)
            {
                picked.push(n);
            }
        }
        picked
    };
    let max_pull = considered
        .iter()
        .map(|n| store_pull(&n.path))
        .fold(0.0, f64::max)
        .max(1e-9);
    let mut ranked: Vec<(f64, &CategoryNode)> = considered
        .iter()
        .map(|n| {
            let interest = visitor.interest_in(&n.path);
            let score =
                ((interest + 0.25 * store_pull(&n.path) / max_pull) * 1000.0).round() / 1000.0;
            (score, *n)
        })
        .collect();
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.name.cmp(&b.1.name)));
    ranked.truncate(limit);
    let mut scored = considered.len();
    // Subcategories in the visitor's order, for the entries shown only.
    let entries: Vec<NavEntry> = ranked
        .into_iter()
        .map(|(score, n)| {
            let mut children: Vec<(f64, &str)> = n
                .children
                .iter()
                .take(NAV_CHILDREN)
                .map(|c| (visitor.interest_in(&c.path), c.path.as_str()))
                .collect();
            if n.children.len() > NAV_CHILDREN {
                // Beyond the first ones, only the visitor's own subcategories can rank.
                for path in &own_paths(visitor) {
                    if let Ok(i) = n.children.binary_search_by(|c| c.path.as_str().cmp(path))
                        && i >= NAV_CHILDREN
                    {
                        let c = &n.children[i];
                        children.push((visitor.interest_in(&c.path), c.path.as_str()));
                    }
                }
            }
            scored += children.len();
            children.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
            children.truncate(NAV_CHILDREN);
            NavEntry {
                name: n.name.clone(),
                path: n.path.clone(),
                score,
                children: children.into_iter().map(|(_, p)| p.to_string()).collect(),
            }
        })
        .collect();
    let mut answer = Answer::new(placement);
    answer.scored = scored;
    answer.candidates = considered.iter().map(|n| n.path.clone()).collect();
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
