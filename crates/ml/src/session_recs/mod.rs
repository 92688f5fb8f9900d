//! Session-based next-item recommendation: given the clicks of an ongoing session, which item
//! comes next? Owns the training input ([`Click`]), the model trait ([`NextItem`]), the
//! baselines of the session-rec framework (Ludewig, Mauro, Latifi & Jannach, "Empirical
//! analysis of session-based recommendation algorithms", UMUAI 2021) re-implemented with its
//! parameters — [`Pop`], [`SequentialRules`], [`VSknn`] — Tailor's own model [`Tailor`], and
//! session-rec's "next item" evaluation protocol ([`protocol`]).
//!
//! Items are dense [`ItemId`]s handed out by an [`ItemIndex`]; models size their tables by the
//! largest id seen in training and ignore ids they never saw.

mod pop;
pub mod protocol;
mod scores;
mod sessions;
mod sr;
mod tailor;
mod vsknn;
mod weights;

use std::collections::HashMap;

pub use pop::Pop;
pub use sessions::TrainingSessions;
pub use sr::{SequentialRules, SrParams};
pub use tailor::{DEFAULT_WORK_BOUND, Tailor, TailorParams, Work};
pub use vsknn::{VSknn, VSknnParams};
pub use weights::{PositionWeighting, StepWeighting};

/// A dense item id (0, 1, 2, …), as handed out by [`ItemIndex`].
pub type ItemId = u32;

/// One click of a training or test session.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Click {
    /// The session the click belongs to; any value, only compared for equality and order.
    pub session: u64,
    pub item: ItemId,
    /// Seconds (Unix time in the data sets; only differences and order matter).
    pub time: f64,
}

/// A next-item recommender: trained once on clicks, then asked, for the items a session has
/// clicked so far (oldest first), for the `k` most likely next items.
pub trait NextItem {
    /// Trains the model with its default parameters.
    fn fit(train: &[Click]) -> Self
    where
        Self: Sized;

    /// Clears `out` and fills it with at most `k` (item, score) pairs, best first. Only items
    /// the model actually scores are returned, so there may be fewer than `k`.
    fn recommend(&self, session_prefix: &[ItemId], k: usize, out: &mut Vec<(ItemId, f32)>);
}

/// Interns external item ids (e.g. the catalog's numeric ids) as dense [`ItemId`]s, in order of
/// first appearance.
#[derive(Clone, Debug, Default)]
pub struct ItemIndex {
    ids: HashMap<u64, ItemId>,
    external: Vec<u64>,
}

impl ItemIndex {
    pub fn new() -> Self {
        Self::default()
    }

    /// The dense id of `external`, assigning the next one if it is new.
    ///
    /// # Panics
    /// With more than `u32::MAX` distinct items.
    pub fn intern(&mut self, external: u64) -> ItemId {
        if let Some(&id) = self.ids.get(&external) {
            return id;
        }
        let id = ItemId::try_from(self.external.len()).expect("fewer than 2^32 distinct items");
        self.ids.insert(external, id);
        self.external.push(external);
        id
    }

    /// The dense id of `external`, if it was interned.
    pub fn get(&self, external: u64) -> Option<ItemId> {
        self.ids.get(&external).copied()
    }

    /// The external id behind a dense one.
    pub fn external(&self, id: ItemId) -> Option<u64> {
        self.external.get(id as usize).copied()
    }

    pub fn len(&self) -> usize {
        self.external.len()
    }

    pub fn is_empty(&self) -> bool {
        self.external.is_empty()
    }
}

/// Training clicks for tests: one session per list, clicks in list order.
#[cfg(test)]
pub(crate) fn test_sessions(list: &[&[ItemId]]) -> Vec<Click> {
    let mut clicks = Vec::new();
    for (s, items) in list.iter().enumerate() {
        for (t, &item) in items.iter().enumerate() {
            clicks.push(Click {
                session: s as u64,
                item,
                time: (100 * s + t) as f64,
            });
        }
    }
    clicks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_index_is_dense_in_order_of_first_appearance() {
        let mut index = ItemIndex::new();
        assert_eq!(index.intern(214_536_502), 0);
        assert_eq!(index.intern(7), 1);
        assert_eq!(index.intern(214_536_502), 0);
        assert_eq!(index.get(7), Some(1));
        assert_eq!(index.get(8), None);
        assert_eq!(index.external(1), Some(7));
        assert_eq!(index.len(), 2);
    }
}
