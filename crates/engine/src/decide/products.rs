//! Product recommendations for a visitor, a product or a cart: candidates from what is
//! viewed and bought together, the visitor's interests, and popularity; then filters
//! (stock, already in the cart, just bought) and diversity across categories.

use std::collections::{HashMap, HashSet};

use super::visitor::Visitor;
use super::{Answer, Placement, RecItem, RecsSource};
use crate::catalog::Catalog;
use crate::recs::Recs;

/// At most this many products of one category in a row of recommendations.
const PER_CATEGORY: usize = 2;

#[derive(Default)]
struct Candidates {
    scores: HashMap<String, (f64, String)>,
}

impl Candidates {
    fn add(&mut self, id: &str, score: f64, reason: impl FnOnce() -> String) {
        let e = self
            .scores
            .entry(id.to_string())
            .or_insert_with(|| (0.0, reason()));
        e.0 += score;
    }
}

pub struct RecsInput<'a> {
    pub product: Option<&'a str>,
    pub cart: &'a [String],
}

pub fn recommend(
    catalog: &Catalog,
    recs: &Recs,
    placement: &Placement,
    visitor: &Visitor<'_>,
    input: &RecsInput<'_>,
) -> Answer {
    let name = |id: &str| {
        catalog
            .product(id)
            .map_or_else(|| id.to_string(), |p| p.name.clone())
    };
    let mut c = Candidates::default();
    let mut explanation = None;
    let source = placement.source.unwrap_or(RecsSource::Visitor);
    match source {
        RecsSource::Product => match input.product.and_then(|id| catalog.product(id)) {
            Some(p) => {
                for (other, w) in recs
                    .stats(&p.id)
                    .map(|s| s.neighbours.as_slice())
                    .unwrap_or_default()
                {
                    c.add(other, f64::from(*w), || {
                        format!("Often viewed with {}", p.name)
                    });
                }
                for (id, pull) in recs.top_in(&p.category_path()) {
                    c.add(id, 0.1 * pull.ln_1p(), || {
                        format!("Popular in {}", p.category_path())
                    });
                }
                explanation = Some(format!(
                    "Shoppers who looked at {} also looked at these",
                    p.name
                ));
            }
            None => explanation = Some(match input.product {
                Some(id) => format!(
                    "Product {id:?} is not in the catalog: showing popular products instead"
                ),
                None => {
                    "No product in context (`context.productId`): showing popular products instead"
                        .into()
                }
            }),
        },
        RecsSource::Cart => {
            let cart: Vec<&str> = if input.cart.is_empty() {
                visitor
                    .profile()
                    .map(|p| p.cart.items().map(|l| l.product_id.as_str()).collect())
                    .unwrap_or_default()
            } else {
                input.cart.iter().map(String::as_str).collect()
            };
            for &id in &cart {
                for (other, w) in recs
                    .stats(id)
                    .map(|s| s.neighbours.as_slice())
                    .unwrap_or_default()
                {
                    c.add(other, f64::from(*w), || format!("Goes with {}", name(id)));
                }
            }
            if let Some(&first) = cart.first() {
                explanation = Some(format!("To go with {} in your cart", name(first)));
            }
        }
        RecsSource::Visitor => {
            if let Some(p) = visitor.profile() {
                for (rank, (id, _)) in p.recent_products.iter().rev().take(5).enumerate() {
                    let weight = 1.0 / (rank as f64 + 1.0);
                    for (other, w) in recs
                        .stats(id)
                        .map(|s| s.neighbours.as_slice())
                        .unwrap_or_default()
                    {
                        c.add(other, weight * f64::from(*w), || {
                            format!("Because you viewed {}", name(id))
                        });
                    }
                }
                for (category, interest) in visitor
                    .interests()
                    .iter()
                    .filter(|(k, _)| k.contains('/'))
                    .take(3)
                {
                    for (id, pull) in recs.top_in(category) {
                        c.add(id, interest * pull.ln_1p(), || {
                            format!("Popular in {category}, which you like")
                        });
                    }
                }
                if let Some((id, _)) = p.recent_products.last() {
                    explanation = Some(format!(
                        "Because you viewed {} and like {}",
                        name(id),
                        visitor.interests().first().map_or("our range", |(k, _)| k)
                    ));
                }
            }
        }
    }
    // Everyone gets popular and trending products as the fallback and the fill.
    let pool_was_empty = c.scores.is_empty();
    for (id, score) in recs.ranked.top.iter().take(4 * placement.limit_or(8)) {
        c.add(id, 0.01 * score.ln_1p(), || "Trending now".to_string());
    }
    if explanation.is_none() {
        explanation = Some("Popular and trending with shoppers right now".into());
    }
    // A thin pool (a new store, a niche product) is widened with a few products from every
    // category, so the row can still be full and varied.
    let limit = placement.limit_or(8);
    if pool_was_empty || c.scores.len() < 2 * limit {
        for leaf in catalog.leaf_categories() {
            for q in catalog
                .products_in(leaf)
                .iter()
                .filter(|q| q.in_stock())
                .take(PER_CATEGORY + 2)
            {
                c.add(&q.id, 1e-6, || format!("From our {leaf} range"));
            }
        }
    }

    // Filters: sellable, not what they are looking at, not already in the cart, not just bought.
    let mut exclude: HashSet<&str> = input.product.into_iter().collect();
    exclude.extend(input.cart.iter().map(String::as_str));
    if let Some(p) = visitor.profile() {
        exclude.extend(p.cart.items().map(|l| l.product_id.as_str()));
        exclude.extend(p.purchased.iter().map(|(id, _)| id.as_str()));
    }
    let mut ranked: Vec<(String, f64, String)> = c
        .scores
        .into_iter()
        .filter(|(id, _)| !exclude.contains(id.as_str()))
        .filter(|(id, _)| catalog.product(id).is_some_and(|p| p.in_stock()))
        .map(|(id, (score, reason))| (id, score, reason))
        .collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));

    // Diversity: no more than PER_CATEGORY per leaf category until the row would be short.
    let mut per_category: HashMap<String, usize> = HashMap::new();
    let mut picked = Vec::with_capacity(limit);
    let mut held_back = Vec::new();
    for (id, score, reason) in ranked.iter() {
        let Some(p) = catalog.product(id) else {
            continue;
        };
        let n = per_category.entry(p.category_path()).or_default();
        if *n < PER_CATEGORY {
            *n += 1;
            picked.push((id, score, reason));
        } else {
            held_back.push((id, score, reason));
        }
        if picked.len() == limit {
            break;
        }
    }
    picked.extend(
        held_back
            .into_iter()
            .take(limit.saturating_sub(picked.len())),
    );

    let mut answer = Answer::new(placement);
    answer.candidates = ranked
        .iter()
        .take(20)
        .map(|(id, _, _)| id.clone())
        .collect();
    answer.explanation = explanation.unwrap_or_default();
    let items: Vec<RecItem> = picked
        .into_iter()
        .filter_map(|(id, score, reason)| {
            catalog.product_arc(id).map(|product| RecItem {
                product,
                score: (score * 1000.0).round() / 1000.0,
                reason: reason.clone(),
            })
        })
        .collect();
    answer.chosen = items.first().map(|i| i.product.id.clone());
    answer.shown = items.iter().map(|i| i.product.id.clone()).collect();
    answer.items = Some(items);
    answer
}
