//! Re-ranking a store's own product list (a category page, search results) for one visitor:
//! how the signals a decision gathers about each listed product — the session model, what is
//! viewed together with the visitor's products, category interest, declared favourites,
//! predicted next categories, popularity, the store's boosts — become one order, and which
//! signal moved each product. The engine's ranking placement and `tailor eval rank` both
//! order through [`order`], so the evaluation scores the rule that serves.
//!
//! The store's order is the baseline: a product with no signal keeps its place relative to
//! the other unsignalled ones, so a visitor Tailor knows nothing about sees the store's list
//! unchanged (bar the store's own pins, boosts and burials). Products with a personal signal
//! move above them, strongest first; popularity only orders products that already have one,
//! so it never reorders the store's list on its own.

/// What a decision knows about one listed product; each signal is 0 to 1 (0: none).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Signals {
    /// The session model's score for it after the visitor's current session, relative to the
    /// model's best (1.0).
    pub session: f64,
    /// Viewed or bought together with the visitor's recent products, relative to the
    /// strongest such pair.
    pub together: f64,
    /// The visitor viewed it in their current session: 1 for the newest view, 1/2 for the one
    /// before, and so on (shoppers go back to what they looked at).
    pub viewed: f64,
    /// Inferred interest in its category (the visitor's strongest category is 1.0).
    pub interest: f64,
    /// The visitor declared its category a favourite (1.0) and its price fits their range.
    pub declared: f64,
    /// Its category is one the visitor is predicted to take up next.
    pub next_category: f64,
    /// Store-wide popularity relative to the list's most popular product.
    pub popularity: f64,
    /// The store's boost rules that match it (their weights summed; 0 for none).
    pub boost: f64,
}

/// How a product is placed before its score counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum Placement {
    /// Pinned by the store, at this rank among the pins (0 first).
    Pinned(u32),
    /// Ranked by its signals.
    #[default]
    Ranked,
    /// Sunk to the end, in the store's order (buried by a rule, or out of stock).
    Sunk,
}

/// One listed product: its place in the store's list is its index in the slice.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Listed {
    pub signals: Signals,
    pub placement: Placement,
}

/// Which signal moved a product most: the one a reason names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Session,
    Together,
    Viewed,
    Interest,
    Declared,
    NextCategory,
    Boost,
}

/// The weights of the personal signals, set by hand: the session model leads as it does in
/// recommendations, what the visitor told us comes next, what we inferred after; popularity
/// breaks near-ties between signalled products. `W_VIEWED` alone was chosen on data: among
/// 0.5, 1, 2, 3 and 5, on a validation split of YOOCHOOSE's training file (its last day held
/// out, never the test file), where NDCG@10 rose to 2 and stayed flat above.
pub const W_SESSION: f64 = 1.0;
pub const W_TOGETHER: f64 = 0.6;
pub const W_VIEWED: f64 = 2.0;
pub const W_DECLARED: f64 = 0.8;
pub const W_INTEREST: f64 = 0.5;
pub const W_NEXT_CATEGORY: f64 = 0.2;
pub const W_POPULARITY: f64 = 0.25;

impl Signals {
    /// The weighted personal signals, each with its share, largest first.
    fn contributions(&self) -> [(Signal, f64); 6] {
        let mut c = [
            (Signal::Session, W_SESSION * self.session),
            (Signal::Together, W_TOGETHER * self.together),
            (Signal::Viewed, W_VIEWED * self.viewed),
            (Signal::Declared, W_DECLARED * self.declared),
            (Signal::Interest, W_INTEREST * self.interest),
            (Signal::NextCategory, W_NEXT_CATEGORY * self.next_category),
        ];
        c.sort_by(|a, b| b.1.total_cmp(&a.1));
        c
    }

    /// The sum of the weighted personal signals (0 when Tailor knows nothing that bears on
    /// this product for this visitor).
    pub fn personal(&self) -> f64 {
        self.contributions().iter().map(|(_, v)| v.max(0.0)).sum()
    }

    /// The ranking key: 0 for an unsignalled product (it keeps the store's order), above 1
    /// for one with a personal signal or a boost.
    pub fn key(&self) -> f64 {
        let personal = self.personal();
        let boost = self.boost.max(0.0);
        if personal <= 0.0 && boost <= 0.0 {
            return 0.0;
        }
        let popularity = if personal > 0.0 {
            W_POPULARITY * self.popularity.clamp(0.0, 1.0)
        } else {
            0.0
        };
        1.0 + personal + boost + popularity
    }

    /// The signal that contributed most, if any: a boost names the store when it outweighs
    /// the visitor's own signals together.
    pub fn strongest(&self) -> Option<Signal> {
        let (signal, value) = self.contributions()[0];
        if self.boost > 0.0 && self.boost > self.personal() {
            return Some(Signal::Boost);
        }
        (value > 0.0).then_some(signal)
    }
}

/// Makes each personal signal relative to the list: its smallest value among the ranked
/// products is taken off every one. A signal every product shares (interest in "Shoes" on the
/// Shoes page, a declared favourite the whole listing is in) says nothing about their order,
/// and left in it would let popularity reorder the whole list.
pub fn relative_to_list(list: &mut [Listed]) {
    let ranked = || list.iter().filter(|l| l.placement == Placement::Ranked);
    let min = |f: fn(&Signals) -> f64| {
        ranked()
            .map(|l| f(&l.signals))
            .fold(f64::INFINITY, f64::min)
    };
    let floor = Signals {
        session: min(|s| s.session),
        together: min(|s| s.together),
        viewed: min(|s| s.viewed),
        interest: min(|s| s.interest),
        declared: min(|s| s.declared),
        next_category: min(|s| s.next_category),
        popularity: 0.0,
        boost: 0.0,
    };
    if !floor.session.is_finite() {
        return;
    }
    for l in list.iter_mut() {
        let s = &mut l.signals;
        s.session = (s.session - floor.session).max(0.0);
        s.together = (s.together - floor.together).max(0.0);
        s.viewed = (s.viewed - floor.viewed).max(0.0);
        s.interest = (s.interest - floor.interest).max(0.0);
        s.declared = (s.declared - floor.declared).max(0.0);
        s.next_category = (s.next_category - floor.next_category).max(0.0);
    }
}

/// The new order of `list` as indices into it: pinned products first (by pin rank), then
/// ranked ones by [`Signals::key`] (the store's order among equals), then sunk ones in the
/// store's order. Signals are made [relative to the list](relative_to_list) first, in place,
/// so reasons read afterwards name what actually set a product apart. Stable and
/// deterministic; O(n log n).
pub fn order(list: &mut [Listed]) -> Vec<usize> {
    relative_to_list(list);
    let mut keyed: Vec<(Placement, f64, usize)> = list
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let key = match l.placement {
                Placement::Ranked => l.signals.key(),
                _ => 0.0,
            };
            (l.placement, key, i)
        })
        .collect();
    keyed.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.total_cmp(&a.1)).then(a.2.cmp(&b.2)));
    keyed.into_iter().map(|(_, _, i)| i).collect()
}

/// Ranking metrics for one relevant item at 1-based `rank`: NDCG@k (one relevant item, so
/// the ideal DCG is 1) and the reciprocal rank.
pub fn ndcg_at(rank: usize, k: usize) -> f64 {
    if rank == 0 || rank > k {
        0.0
    } else {
        1.0 / ((rank as f64) + 1.0).log2()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ranked(signals: Signals) -> Listed {
        Listed {
            signals,
            placement: Placement::Ranked,
        }
    }

    #[test]
    fn without_signals_the_store_order_stands() {
        let mut list = vec![Listed::default(); 5];
        assert_eq!(order(&mut list), vec![0, 1, 2, 3, 4]);
        // Popularity alone does not reorder the store's list.
        let mut list: Vec<Listed> = (0..4)
            .map(|i| {
                ranked(Signals {
                    popularity: f64::from(i) / 3.0,
                    ..Default::default()
                })
            })
            .collect();
        assert_eq!(order(&mut list), vec![0, 1, 2, 3]);
    }

    #[test]
    fn signalled_products_move_up_pins_lead_and_sunk_ones_trail() {
        let mut list = vec![Listed::default(); 6];
        list[4].signals.session = 0.5;
        list[5].signals.interest = 1.0;
        list[5].signals.popularity = 1.0;
        list[1].placement = Placement::Sunk;
        list[3].placement = Placement::Pinned(0);
        list[2].placement = Placement::Pinned(1);
        // Pins in pin order; session 0.5 (0.5) vs interest 1.0 (0.5) + popularity (0.25).
        assert_eq!(order(&mut list), vec![3, 2, 5, 4, 0, 1]);
        assert_eq!(list[5].signals.strongest(), Some(Signal::Interest));
        assert_eq!(list[0].signals.strongest(), None);
    }

    #[test]
    fn a_boost_moves_a_product_for_everyone_and_is_named_when_it_leads() {
        let mut list = vec![Listed::default(); 3];
        list[2].signals.boost = 1.0;
        assert_eq!(order(&mut list), vec![2, 0, 1]);
        assert_eq!(list[2].signals.strongest(), Some(Signal::Boost));
        list[2].signals.session = 1.0;
        list[2].signals.together = 1.0;
        assert_eq!(list[2].signals.strongest(), Some(Signal::Session));
    }

    #[test]
    fn a_signal_the_whole_list_shares_does_not_reorder_it() {
        // The Shoes page for a Shoes lover: every product has the same interest.
        let mut list: Vec<Listed> = (0..4)
            .map(|i| {
                ranked(Signals {
                    interest: 1.0,
                    popularity: f64::from(i) / 3.0,
                    ..Default::default()
                })
            })
            .collect();
        list[2].signals.interest = 1.4;
        assert_eq!(order(&mut list), vec![2, 0, 1, 3]);
        assert_eq!(list[0].signals.strongest(), None);
        assert_eq!(list[2].signals.strongest(), Some(Signal::Interest));
    }

    #[test]
    fn ndcg_and_reciprocal_rank() {
        assert_eq!(ndcg_at(1, 10), 1.0);
        assert!((ndcg_at(3, 10) - 0.5).abs() < 1e-12);
        assert_eq!(ndcg_at(11, 10), 0.0);
    }
}
