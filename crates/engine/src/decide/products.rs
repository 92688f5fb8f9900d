//! Product recommendations for a visitor, a product or a cart: candidates from the session
//! recommender (what shoppers view next after this session's products), what is viewed and
//! bought together, the visitor's interests, and popularity; then filters (stock, already in
//! the cart, just bought) and diversity across categories.
//!
//! The session model leads: its products come first, in its order (it is the recommender
//! `tailor eval recs` validates). The other sources rank what comes after: each one's scores
//! relative to its own best, then weighted, so no source drowns the others by scale.

use std::collections::{HashMap, HashSet};

use super::visitor::Visitor;
use super::{Answer, Placement, RecItem, RecsSource};
use crate::learn::recs::Recs;
use crate::learn::session_model::current_session;
use crate::profile::catalog::Catalog;

/// The request path's hasher for maps keyed by catalog ids (seeded per process).
type Fast = foldhash::fast::RandomState;

/// At most this many products of one category in a row of recommendations.
const PER_CATEGORY: usize = 2;
/// Products asked of the session model.
const SESSION_CANDIDATES: usize = 40;
/// The visitor's current session feeds the model with at most this many recent views.
const SESSION_PREFIX: usize = 10;

/// The visitor's current session, oldest first, at most [`SESSION_PREFIX`] views: what the
/// session model continues (recommendations and rankings alike).
pub(super) fn session_views<'a>(visitor: &'a Visitor<'a>) -> Vec<&'a str> {
    visitor
        .profile()
        .map(|p| {
            let views = current_session(&p.recent_products);
            views[views.len().saturating_sub(SESSION_PREFIX)..]
                .iter()
                .map(|(id, _)| &**id)
                .collect()
        })
        .unwrap_or_default()
}
/// When the visitor declared categories, the row's first this-many products come from them
/// (within a declared price range) whenever the catalog has enough in stock: what a shopper
/// says leads, what we inferred follows.
const DECLARED_HEAD: usize = 4;
/// At most this many cart products feed the session model and co-views.
const CART_ITEMS: usize = 20;
/// At most this many declared favourite categories are looked up.
const DECLARED_CATEGORIES: usize = 5;
/// A thin pool is widened from at most this many leaf categories…
const WIDEN_LEAVES: usize = 50;
/// …and at most this many products of each are looked at (in or out of stock).
const WIDEN_SCAN: usize = 16;
/// The largest `limit` a placement may have (see `Placement::limit_or`).
const MAX_LIMIT: usize = 100;

/// The most candidates one recommendations answer scores ([`super::Answer::scored`]),
/// whatever the visitor's history, the products' popularity and the catalog's size: the
/// session model's bound, then the pool of the largest source mix (a visitor's session,
/// their co-views, declared and inferred categories, trending, the widening).
pub const MAX_SCORED: usize = crate::learn::session_model::WORK_BOUND
    + SESSION_CANDIDATES
    + max(
        5 * crate::learn::recs::MAX_NEIGHBOURS
            + DECLARED_CATEGORIES * (crate::learn::recs::CATEGORY_TOP + 4 * MAX_LIMIT)
            + 3 * crate::learn::recs::CATEGORY_TOP,
        CART_ITEMS * crate::learn::recs::MAX_NEIGHBOURS,
    )
    + 4 * MAX_LIMIT
    + WIDEN_LEAVES * (PER_CATEGORY + 2);

const fn max(a: usize, b: usize) -> usize {
    if a > b { a } else { b }
}

const W_TOGETHER: f64 = 0.6;
const W_INTEREST: f64 = 0.3;
const W_TRENDING: f64 = 0.05;

/// Why a product was picked, rendered as text only for the products shown.
#[derive(Clone, Copy)]
enum Why<'a> {
    /// The session model, continuing from this product (name).
    NextAfter(&'a str),
    /// The session model, continuing from a basket with this product.
    InBasketWith(&'a str),
    /// The session model or co-views, from the visitor's own view of this product.
    YouViewed(&'a str),
    ViewedWith(&'a str),
    GoesWith(&'a str),
    PopularIn(&'a str),
    PopularYouLike(&'a str),
    YouToldUs(&'a str),
    Trending,
    Range(&'a str),
}

impl Why<'_> {
    /// The reason; `discreet` names none of the visitor's own products (see `Visitor`).
    fn text(self, discreet: bool) -> String {
        match self {
            Why::InBasketWith(_) if discreet => "Goes with what's in your basket".to_string(),
            Why::YouViewed(_) if discreet => "Because of what you've been viewing".to_string(),
            Why::GoesWith(_) if discreet => "Goes with what's in your basket".to_string(),
            Why::NextAfter(name) => format!("Shoppers who viewed {name} looked at this next"),
            Why::InBasketWith(name) => {
                format!("Shoppers with {name} in their basket looked at this")
            }
            Why::YouViewed(name) => format!("Because you viewed {name}"),
            Why::ViewedWith(name) => format!("Often viewed with {name}"),
            Why::GoesWith(name) => format!("Goes with {name}"),
            Why::PopularIn(category) => format!("Popular in {category}"),
            Why::PopularYouLike(category) => format!("Popular in {category}, which you like"),
            Why::YouToldUs(category) => format!("Because you told us you like {category}"),
            Why::Trending => "Trending now".to_string(),
            Why::Range(category) => format!("From our {category} range"),
        }
    }
}

/// One candidate: the session model's score (0 if it did not pick it), the other sources'
/// weighted sum, and why the first source picked it.
struct Candidate<'a> {
    session: f64,
    /// Popularity within a category the visitor declared a favourite (0 to 1).
    declared: f64,
    others: f64,
    why: Why<'a>,
}

impl Candidate<'_> {
    /// The ranking score: the session model's products and the best of the categories the
    /// visitor told us they like first (1 + their relative score), the others below 1.
    fn score(&self) -> f64 {
        let lead = self.session.max(self.declared);
        if lead > 0.0 {
            1.0 + lead
        } else {
            self.others.min(0.99)
        }
    }
}

/// Candidates by product id, borrowed from the catalog and the product statistics: a
/// decision allocates no string per candidate.
#[derive(Default)]
struct Candidates<'a> {
    scores: HashMap<&'a str, Candidate<'a>, Fast>,
    /// Candidates scored so far: the session model's, then every product looked at.
    scored: usize,
}

impl<'a> Candidates<'a> {
    fn entry(&mut self, id: &'a str, why: Why<'a>) -> &mut Candidate<'a> {
        self.scored += 1;
        self.scores.entry(id).or_insert(Candidate {
            session: 0.0,
            declared: 0.0,
            others: 0.0,
            why,
        })
    }

    fn add(&mut self, id: &'a str, score: f64, why: Why<'a>) {
        self.entry(id, why).others += score;
    }

    /// Adds `list` scaled so its best counts `weight`.
    fn add_scaled(
        &mut self,
        list: impl IntoIterator<Item = (&'a str, f64)> + Clone,
        weight: f64,
        why: Why<'a>,
    ) {
        let best = list.clone().into_iter().map(|(_, s)| s).fold(0.0, f64::max);
        if best <= 0.0 {
            return;
        }
        for (id, score) in list {
            self.add(id, weight * score / best, why);
        }
    }

    /// Adds what the session model expects to be viewed after `prefix` (product ids, oldest
    /// first).
    fn add_session_next(&mut self, recs: &'a Recs, prefix: &[&str], why: Why<'a>) {
        let Some(model) = recs.session_model.as_deref() else {
            return;
        };
        let items: Vec<_> = prefix
            .iter()
            .filter_map(|id| recs.clicks.item(id))
            .collect();
        for (item, score) in model.next(&items, SESSION_CANDIDATES, &mut self.scored) {
            if let Some(id) = recs.clicks.product(item) {
                self.entry(id, why).session = score;
            }
        }
    }
}

/// What `product` is viewed and bought together with, strongest first.
fn together<'a>(recs: &'a Recs, product: &str) -> impl Iterator<Item = (&'a str, f64)> + Clone {
    recs.stats(product)
        .map(|s| s.neighbours.as_slice())
        .unwrap_or_default()
        .iter()
        .map(|(id, w)| (id.as_str(), f64::from(*w)))
}

/// The most popular products of a category path, strongest first.
fn popular_in<'a>(recs: &'a Recs, path: &str) -> impl Iterator<Item = (&'a str, f64)> + Clone {
    recs.top_in(path)
        .iter()
        .map(|(id, pull)| (id.as_str(), *pull))
}

/// A sequence materialized only as far as it is read: `get(i)` pulls from the source
/// until it holds `i`.
struct Lazy<T, I> {
    seen: Vec<T>,
    rest: I,
}

impl<T: Copy, I: Iterator<Item = T>> Lazy<T, I> {
    fn new(rest: I) -> Self {
        Lazy {
            seen: Vec::new(),
            rest,
        }
    }

    fn get(&mut self, i: usize) -> Option<T> {
        while self.seen.len() <= i {
            let next = self.rest.next()?;
            self.seen.push(next);
        }
        Some(self.seen[i])
    }

    /// From the start, every time.
    fn iter(&mut self) -> impl Iterator<Item = T> + '_ {
        (0..).map_while(move |i| self.get(i))
    }
}

pub struct RecsInput<'a> {
    pub product: Option<&'a str>,
    pub cart: &'a [String],
}

pub fn recommend<'a>(
    catalog: &'a Catalog,
    recs: &'a Recs,
    placement: &Placement,
    visitor: &'a Visitor<'a>,
    input: &'a RecsInput<'a>,
) -> Answer {
    let name = |id: &'a str| catalog.product(id).map_or(id, |p| p.name.as_str());
    let mut c = Candidates::default();
    let mut explanation = None;
    // The visitor's current session, oldest first: what the session model continues.
    let session = session_views(visitor);
    let limit = placement.limit_or(8);
    let context_product = input.product.and_then(|id| catalog.product(id));
    let context_path = context_product.map(|p| p.category_path());
    let source = placement.source.unwrap_or(RecsSource::Visitor);
    match source {
        RecsSource::Product => match (context_product, &context_path) {
            (Some(p), Some(path)) => {
                // The product on screen is the newest view of the session. Only the page
                // itself is used without personalization consent (`session` is empty then).
                let mut prefix: Vec<&str> =
                    session.iter().copied().filter(|id| *id != p.id).collect();
                prefix.push(&p.id);
                c.add_session_next(recs, &prefix, Why::NextAfter(&p.name));
                c.add_scaled(together(recs, &p.id), W_TOGETHER, Why::ViewedWith(&p.name));
                c.add_scaled(popular_in(recs, path), W_INTEREST, Why::PopularIn(path));
                explanation = Some(format!(
                    "Shoppers who looked at {} also looked at these",
                    p.name
                ));
            }
            _ => explanation = Some(match input.product {
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
            let cart: Vec<&'a str> = if input.cart.is_empty() {
                visitor
                    .profile()
                    .map(|p| {
                        p.cart
                            .items()
                            .take(CART_ITEMS)
                            .map(|l| l.product_id.as_str())
                            .collect()
                    })
                    .unwrap_or_default()
            } else {
                input
                    .cart
                    .iter()
                    .take(CART_ITEMS)
                    .map(String::as_str)
                    .collect()
            };
            if let Some(&first) = cart.first() {
                let mut prefix: Vec<&str> = session
                    .iter()
                    .copied()
                    .filter(|id| !cart.contains(id))
                    .collect();
                prefix.extend(&cart);
                c.add_session_next(recs, &prefix, Why::InBasketWith(name(first)));
                for &id in &cart {
                    c.add_scaled(together(recs, id), W_TOGETHER, Why::GoesWith(name(id)));
                }
                explanation = Some(if visitor.discreet && input.cart.is_empty() {
                    "To go with what's in your cart".to_string()
                } else {
                    format!("To go with {} in your cart", name(first))
                });
            }
        }
        RecsSource::Visitor => {
            if let Some(&last) = session.last() {
                c.add_session_next(recs, &session, Why::YouViewed(name(last)));
                for (rank, &id) in session.iter().rev().take(5).enumerate() {
                    c.add_scaled(
                        together(recs, id),
                        W_TOGETHER / (rank as f64 + 1.0),
                        Why::YouViewed(name(id)),
                    );
                }
            }
            // What they told us ranks with the session model, above what we inferred.
            for category in visitor.declared.categories.iter().take(DECLARED_CATEGORIES) {
                let list = popular_in(recs, category);
                let best = list.clone().map(|(_, s)| s).fold(0.0, f64::max);
                for (id, pull) in list.filter(|_| best > 0.0) {
                    let e = c.entry(id, Why::YouToldUs(category));
                    e.declared = e.declared.max(pull / best);
                }
                // Not only its best sellers: the whole range they asked for, after them.
                for q in catalog
                    .products_in(category)
                    .iter()
                    .take(8 * limit)
                    .filter(|q| q.in_stock())
                    .take(4 * limit)
                {
                    let e = c.entry(&q.id, Why::YouToldUs(category));
                    e.declared = e.declared.max(0.01);
                }
            }
            for &(category, interest) in visitor
                .interests()
                .iter()
                .filter(|(k, _)| k.contains('/'))
                .take(3)
            {
                c.add_scaled(
                    popular_in(recs, category),
                    W_INTEREST * interest.min(1.0),
                    Why::PopularYouLike(category),
                );
            }
            explanation = match (session.last(), visitor.declared.categories.first()) {
                (Some(&last), Some(told)) => Some(format!(
                    "Because you viewed {} and told us you like {told}",
                    name(last)
                )),
                (Some(&last), None) => Some(format!(
                    "Because you viewed {} and like {}",
                    name(last),
                    visitor.interests().first().map_or("our range", |(k, _)| k)
                )),
                (None, Some(told)) => Some(format!("Because you told us you like {told}")),
                (None, None) => None,
            };
        }
    }
    // Everyone gets popular and trending products as the fallback and the fill.
    let pool_was_empty = c.scores.is_empty();
    c.add_scaled(
        recs.ranked
            .top
            .iter()
            .take(4 * limit)
            .map(|(id, score)| (id.as_str(), *score)),
        W_TRENDING,
        Why::Trending,
    );
    if explanation.is_none() {
        explanation = Some("Popular and trending with shoppers right now".into());
    }
    // A thin pool (a new store, a niche product) is widened with a few products from every
    // category, so the row can still be full and varied.
    if pool_was_empty || c.scores.len() < 2 * limit {
        for leaf in catalog.leaf_categories().iter().take(WIDEN_LEAVES) {
            for q in catalog
                .products_in(leaf)
                .iter()
                .take(WIDEN_SCAN)
                .filter(|q| q.in_stock())
                .take(PER_CATEGORY + 2)
            {
                c.add(&q.id, 1e-6, Why::Range(leaf));
            }
        }
    }

    // Filters: sellable, not what they are looking at, not already in the cart, not just bought.
    // foldhash: every candidate is looked up here (SipHash showed in the profile).
    let mut exclude: HashSet<&str, Fast> = input.product.into_iter().collect();
    exclude.extend(input.cart.iter().map(String::as_str));
    if let Some(p) = visitor.profile() {
        exclude.extend(p.cart.items().map(|l| l.product_id.as_str()));
        exclude.extend(p.purchased.iter().map(|(id, _)| &**id));
    }
    // The pool in the row's order: a declared price range outweighs the ranking (products
    // outside it come last), then the best score, then the id. Ids are unique, so this is a
    // total order and one unstable sort gives it. Without a price range the order needs no
    // product, and a candidate is looked up in the catalog (is it sellable?) only when the
    // row reaches it: a row stops after a few dozen, a heavy shopper's pool holds hundreds.
    let ranged = visitor.declared.price_range.is_some();
    let fits = |id: &str| {
        !ranged
            || catalog
                .product(id)
                .is_none_or(|p| visitor.price_fits(p.price))
    };
    let mut pool: Vec<(bool, f64, &str, Candidate<'_>)> = c
        .scores
        .into_iter()
        .filter(|(id, _)| !exclude.contains(id))
        .map(|(id, candidate)| (fits(id), candidate.score(), id, candidate))
        .collect();
    pool.sort_unstable_by(|a, b| {
        b.0.cmp(&a.0)
            .then_with(|| b.1.total_cmp(&a.1))
            .then_with(|| a.2.cmp(b.2))
    });
    let last_declared = pool.iter().rposition(|(_, _, _, c)| c.declared > 0.0);
    let mut ranked = Lazy::new(pool.into_iter().enumerate().filter_map(
        |(at, (_, score, id, candidate))| {
            let p = catalog.product(id).filter(|p| p.in_stock())?;
            Some((at, p, score, candidate.why, candidate.declared > 0.0))
        },
    ));

    // The head: declared categories' products in the price range, best first, before the
    // diversity rule (which would otherwise let only PER_CATEGORY of a declared leaf in).
    let head: Vec<_> = match last_declared {
        Some(last) => ranked
            .iter()
            .take_while(|&(at, ..)| at <= last)
            .filter(|&(_, p, _, _, declared)| declared && visitor.price_fits(p.price))
            .take(DECLARED_HEAD.min(limit))
            .map(|(_, p, score, why, _)| (p, score, why))
            .collect(),
        None => Vec::new(),
    };
    let in_head: HashSet<&str, Fast> = head.iter().map(|(p, _, _)| p.id.as_str()).collect();
    // Diversity: no more than PER_CATEGORY per leaf category until the row would be short.
    let mut per_category: HashMap<&[String], usize, Fast> = HashMap::default();
    for (p, _, _) in &head {
        *per_category.entry(p.category.as_slice()).or_default() += 1;
    }
    let mut picked = head;
    let mut held_back = Vec::new();
    let mut fitting_done = false;
    for (_, p, score, why, _) in ranked.iter().filter(|r| !in_head.contains(r.1.id.as_str())) {
        if picked.len() == limit {
            break;
        }
        // Products outside a declared price range only fill what in-range ones cannot,
        // diversity notwithstanding.
        if !fitting_done && !visitor.price_fits(p.price) {
            fitting_done = true;
            let room = limit.saturating_sub(picked.len());
            picked.extend(held_back.drain(..room.min(held_back.len())));
            if picked.len() == limit {
                break;
            }
        }
        let n = per_category.entry(p.category.as_slice()).or_default();
        if *n < PER_CATEGORY {
            *n += 1;
            picked.push((p, score, why));
        } else {
            held_back.push((p, score, why));
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
    answer.scored = c.scored;
    answer.candidates = ranked
        .iter()
        .take(20)
        .map(|(_, p, ..)| p.id.clone())
        .collect();
    answer.explanation = explanation.unwrap_or_default();
    let items: Vec<RecItem> = picked
        .into_iter()
        .filter_map(|(p, score, why)| {
            catalog.product_arc(&p.id).map(|product| RecItem {
                product,
                score: (score * 1000.0).round() / 1000.0,
                reason: why.text(visitor.discreet),
            })
        })
        .collect();
    answer.chosen = items.first().map(|i| i.product.id.clone());
    answer.shown = items.iter().map(|i| i.product.id.clone()).collect();
    answer.items = Some(items);
    answer
}

#[cfg(test)]
mod tests {
    use super::Lazy;

    #[test]
    fn a_lazy_row_pulls_only_what_is_read() {
        let pulled = std::cell::Cell::new(0);
        let mut row = Lazy::new((0..1_000).inspect(|_| pulled.set(pulled.get() + 1)));
        assert_eq!(row.iter().take(3).collect::<Vec<_>>(), vec![0, 1, 2]);
        assert_eq!(pulled.get(), 3);
        // Read again from the start: the same items, nothing pulled twice.
        assert_eq!(row.iter().take(5).collect::<Vec<_>>(), vec![0, 1, 2, 3, 4]);
        assert_eq!(pulled.get(), 5);
        assert_eq!(row.get(999), Some(999));
        assert_eq!(row.get(1_000), None);
        assert_eq!(pulled.get(), 1_000);
    }
}
