//! Ranking: the store's own product list (`context.productIds`: a category page, search
//! results) in the visitor's order. Each listed product gets the signals a decision has about
//! it — the session model's next views, what is viewed together with the visitor's products,
//! inferred and declared category interest, predicted next categories, popularity — and the
//! placement's merchandising rules (pin, boost, bury; stock); `tailor_ml::rerank` turns them
//! into the order (the rule `tailor eval rank` scores). A moved product says why.
//!
//! Without personalization the signals are empty, so the answer is the store's list with
//! only the store's own rules applied. Work is one catalog look-up per listed product (at
//! most [`MAX_LISTED`]) plus the session model's and the co-views' bounds.

use std::collections::HashMap;

use tailor_ml::rerank::{self, Listed, Signal};

use super::visitor::Visitor;
use super::{Answer, Placement, RankedItem};
use crate::learn::recs::Recs;
use crate::profile::catalog::Catalog;

/// The most product ids one ranking request may list (`context.productIds`); more is refused
/// with a 400 `too_many_products`.
pub const MAX_LISTED: usize = 5_000;
/// Products asked of the session model: those of them in the list move up.
const SESSION_CANDIDATES: usize = 200;
/// The co-views of this many of the visitor's newest views count.
const TOGETHER_FROM: usize = 5;

/// The most candidates one ranking answer scores ([`Answer::scored`]): every listed product,
/// the session model's bound and candidates, and the co-views' neighbours.
pub const MAX_SCORED: usize = MAX_LISTED
    + crate::learn::session_model::WORK_BOUND
    + SESSION_CANDIDATES
    + TOGETHER_FROM * crate::learn::recs::MAX_NEIGHBOURS;

/// Why a product moved, rendered only for the products that did.
enum Why<'a> {
    Signal(Signal),
    Pinned,
    Buried,
    OutOfStock,
    /// A signal with what it refers to: the visitor's product (session, co-views) or the
    /// category (interest, declaration, prediction).
    Named(Signal, std::borrow::Cow<'a, str>),
}

impl Why<'_> {
    fn text(&self, discreet: bool) -> String {
        match self {
            Why::Pinned => "Pinned by the store".into(),
            Why::Buried => "Moved down by the store".into(),
            Why::OutOfStock => "Moved down: out of stock".into(),
            Why::Signal(Signal::Boost) | Why::Named(Signal::Boost, _) => {
                "Moved up by the store".into()
            }
            Why::Signal(Signal::Viewed) | Why::Named(Signal::Viewed, _) => {
                "Moved up: you looked at it earlier".into()
            }
            Why::Named(Signal::Session | Signal::Together, _) if discreet => {
                "Moved up: because of what you've been viewing".into()
            }
            Why::Named(Signal::Session, name) => {
                format!("Moved up: shoppers who viewed {name} looked at this next")
            }
            Why::Named(Signal::Together, name) => format!("Moved up: often viewed with {name}"),
            Why::Named(Signal::Interest, category) => {
                format!("Moved up: you've been browsing {category}")
            }
            Why::Named(Signal::Declared, category) => {
                format!("Moved up: you told us you like {category}")
            }
            Why::Named(Signal::NextCategory, category) => {
                format!("Moved up: {category} is new for you")
            }
            Why::Signal(_) => "Moved up for you".into(),
        }
    }
}

/// Per listed product: what names its reason, besides the signals.
#[derive(Clone, Copy, Default)]
struct Names<'a> {
    /// The visitor's product the session signal continues from, and the one the product is
    /// most viewed together with.
    next_after: Option<&'a str>,
    together_with: Option<&'a str>,
    /// Whether the interest is in the product's own leaf category (else its top level).
    leaf_interest: bool,
    /// The declared or predicted category the product is in.
    declared: Option<&'a str>,
    next: Option<&'a str>,
}

pub fn rank<'a>(
    catalog: &'a Catalog,
    recs: &'a Recs,
    placement: &Placement,
    visitor: &'a Visitor<'a>,
    listed: &'a [String],
) -> Answer {
    let mut answer = Answer::new(placement);
    if listed.is_empty() {
        answer.explanation =
            "No products to rank: send the page's list as `context.productIds`".into();
        answer.ranking = Some(Vec::new());
        return answer;
    }
    let mut scored = listed.len();
    let products: Vec<Option<&'a tailor_core::Product>> =
        listed.iter().map(|id| catalog.product(id)).collect();
    let position: HashMap<&str, usize> = listed
        .iter()
        .enumerate()
        .map(|(i, id)| (id.as_str(), i))
        .collect();
    let mut list = vec![Listed::default(); listed.len()];
    let mut names = vec![Names::default(); listed.len()];
    let name = |id: &'a str| catalog.product(id).map_or(id, |p| p.name.as_str());

    // The visitor's current session, oldest first.
    let session = super::products::session_views(visitor);
    if let (Some(model), Some(&last)) = (recs.session_model.as_deref(), session.last()) {
        let items: Vec<_> = session
            .iter()
            .filter_map(|id| recs.clicks.item(id))
            .collect();
        for (item, score) in model.next(&items, SESSION_CANDIDATES, &mut scored) {
            if let Some(&i) = recs.clicks.product(item).and_then(|id| position.get(id)) {
                list[i].signals.session = score;
                names[i].next_after = Some(name(last));
            }
        }
    }
    // The session's own products, the newest first: shoppers go back to what they viewed
    // (not to what they just bought).
    let bought: Vec<&str> = visitor
        .profile()
        .map(|p| p.purchased.iter().map(|(id, _)| &**id).collect())
        .unwrap_or_default();
    for (rank, id) in session.iter().rev().enumerate() {
        if let Some(&i) = position.get(id) {
            list[i].signals.viewed = 1.0 / (rank as f64 + 1.0);
        }
    }
    // Co-views of the newest views, the newest counting most, relative to the strongest.
    let mut together: HashMap<usize, (f64, &'a str)> = HashMap::new();
    for (rank, &id) in session.iter().rev().take(TOGETHER_FROM).enumerate() {
        for (other, weight) in recs.stats(id).map_or(&[][..], |s| &s.neighbours[..]) {
            scored += 1;
            if let Some(&i) = position.get(other.as_str()) {
                let w = f64::from(*weight) / (rank as f64 + 1.0);
                let e = together.entry(i).or_insert((0.0, id));
                if w > e.0 {
                    *e = (w, id);
                }
            }
        }
    }
    // What they just bought is not pushed at them again (recommendations leave it out).
    for id in &bought {
        if let Some(&i) = position.get(id) {
            let s = &mut list[i].signals;
            (s.session, s.viewed) = (0.0, 0.0);
            together.remove(&i);
        }
    }
    let best = together.values().map(|(w, _)| *w).fold(0.0, f64::max);
    for (i, (w, from)) in together {
        if best > 0.0 {
            list[i].signals.together = w / best;
            names[i].together_with = Some(name(from));
        }
    }

    // Categories: inferred interest in the product's leaf (and half of its top level's),
    // declared favourites within the declared price range, predicted next categories.
    let interests: HashMap<&str, f64> = visitor.interests().iter().copied().collect();
    let next: Vec<&str> = visitor.attributes["predictions"]["next_categories"]
        .as_array()
        .map(|a| a.iter().filter_map(|c| c.as_str()).collect())
        .unwrap_or_default();
    let popularity: Vec<f64> = listed
        .iter()
        .map(|id| recs.popularity(id, visitor.now))
        .collect();
    let most_popular = popularity.iter().copied().fold(0.0, f64::max);
    let rules = placement.rules.clone().unwrap_or_default();
    // Interest by category (a listing's products share few), so paths are built once each.
    let mut interest_of: HashMap<&'a [String], (f64, f64)> = HashMap::new();
    for (i, product) in products.iter().enumerate() {
        let s = &mut list[i].signals;
        if most_popular > 0.0 {
            s.popularity = popularity[i] / most_popular;
        }
        let Some(p) = product else { continue };
        if visitor.personalized() && !p.category.is_empty() {
            let (leaf_interest, top_interest) =
                *interest_of.entry(p.category.as_slice()).or_insert_with(|| {
                    let leaf = p.category_path();
                    (
                        interests.get(leaf.as_str()).copied().unwrap_or(0.0),
                        interests.get(p.top_category()).copied().unwrap_or(0.0),
                    )
                });
            s.interest = (leaf_interest + 0.5 * top_interest) / 1.5;
            names[i].leaf_interest = leaf_interest > 0.0;
            if let Some(told) = visitor.declared.categories.iter().find(|c| is_under(p, c))
                && visitor.price_fits(p.price)
            {
                s.declared = 1.0;
                names[i].declared = Some(told.as_str());
            }
            if let Some(&c) = next.iter().find(|c| is_under(p, c)) {
                s.next_category = 1.0;
                names[i].next = Some(c);
            }
        }
        s.boost = rules
            .boost
            .iter()
            .filter(|r| r.matches(p))
            .map(|r| r.weight.unwrap_or(1.0))
            .sum();
        list[i].placement = if rules.bury.iter().any(|r| r.matches(p))
            || (!rules.keep_out_of_stock && !p.in_stock())
        {
            rerank::Placement::Sunk
        } else {
            rerank::Placement::Ranked
        };
    }
    for (rank, id) in rules.pin.iter().enumerate() {
        if let Some(&i) = position.get(id.as_str()) {
            list[i].placement = rerank::Placement::Pinned(rank as u32);
        }
    }

    let order = rerank::order(&mut list);
    let mut moved_up = 0;
    let mut strongest: HashMap<&'static str, usize> = HashMap::new();
    let ranking: Vec<RankedItem> = order
        .iter()
        .enumerate()
        .map(|(now_at, &i)| {
            let l = &list[i];
            let why = match l.placement {
                // Only moved products explain themselves: a pin or a burial that left a
                // product where the store listed it says nothing.
                _ if now_at == i => None,
                rerank::Placement::Pinned(_) => Some(Why::Pinned),
                rerank::Placement::Sunk => Some(match products[i] {
                    Some(p) if rules.bury.iter().any(|r| r.matches(p)) => Why::Buried,
                    _ => Why::OutOfStock,
                }),
                rerank::Placement::Ranked if now_at < i => l.signals.strongest().map(|signal| {
                    let n = &names[i];
                    let named: Option<std::borrow::Cow<'_, str>> = match signal {
                        Signal::Session => n.next_after.map(Into::into),
                        Signal::Together => n.together_with.map(Into::into),
                        Signal::Interest => products[i].map(|p| {
                            if n.leaf_interest {
                                p.category_path().into()
                            } else {
                                p.top_category().into()
                            }
                        }),
                        Signal::Declared => n.declared.map(Into::into),
                        Signal::NextCategory => n.next.map(Into::into),
                        Signal::Boost | Signal::Viewed => None,
                    };
                    *strongest.entry(signal_name(signal)).or_default() += 1;
                    named.map_or(Why::Signal(signal), |n| Why::Named(signal, n))
                }),
                rerank::Placement::Ranked => None,
            };
            if why.is_some() && now_at < i {
                moved_up += 1;
            }
            RankedItem {
                id: listed[i].clone(),
                was: (now_at != i).then_some(i + 1),
                reason: why.map(|w| w.text(visitor.discreet)),
            }
        })
        .collect();

    answer.scored = scored;
    answer.explanation = match (visitor.personalized(), moved_up) {
        (false, _) => match visitor.denied {
            Some(d) => format!("The store's order ({})", d.reason()),
            None => "The store's order".into(),
        },
        (true, 0) => "The store's order: nothing here stands out for you yet".into(),
        (true, n) => {
            let mut by: Vec<(&str, usize)> = strongest.into_iter().collect();
            by.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
            let by: Vec<&str> = by.iter().map(|(s, _)| *s).take(2).collect();
            format!("{n} moved up for you, by {}", by.join(" and "))
        }
    };
    // The log keeps the head of the new order (a page's worth): what the visitor saw first.
    let logged = placement.limit_or(24);
    answer.shown = ranking.iter().take(logged).map(|r| r.id.clone()).collect();
    answer.chosen = ranking.first().map(|r| r.id.clone());
    answer.ranking = Some(ranking);
    answer
}

fn signal_name(signal: Signal) -> &'static str {
    match signal {
        Signal::Session => "your session",
        Signal::Together => "what you viewed",
        Signal::Viewed => "what you looked at",
        Signal::Interest => "the categories you browse",
        Signal::Declared => "what you told us",
        Signal::NextCategory => "what's new for you",
        Signal::Boost => "the store's picks",
    }
}

/// Whether `product` is in the category path `path` (or under it).
fn is_under(product: &tailor_core::Product, path: &str) -> bool {
    let want = tailor_core::catalog::split_category(path);
    !want.is_empty() && product.category.starts_with(&want)
}
