//! The session recommender online: the same model `tailor eval recs` scores on YOOCHOOSE
//! (`tailor_ml::session_recs::Tailor`), fed with the store's own product views.
//!
//! The writer thread records every `Product Viewed` / `Product Clicked` in [`SessionClicks`]
//! (a bounded window: the last [`WINDOW`] of views, at most [`MAX_CLICKS`]). Sessions are cut
//! from it at training time: one person's views with less than [`SESSION_GAP`] between them.
//! A [`SessionModel`] is trained from a copy of the window and swapped in whole, so a decision
//! always reads one consistent model; the visitor's own session (the prefix the model is
//! asked about) comes from their live profile, so it is current on the very next decision.
//! Small windows retrain on the writer as events arrive; larger ones on a background thread,
//! at most every [`RETRAIN_EVERY`] (see `ingest.rs`).

use std::collections::HashMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tailor_core::Millis;
use tailor_core::time::{DAY, MINUTE};
use tailor_ml::session_recs::{Click, ItemId, NextItem, Tailor};

/// The most candidates one call of [`SessionModel::next`] scores, whatever the session, the
/// training data or the products' popularity (the model's defaults; see `Tailor::work_bound`).
pub const WORK_BOUND: usize = tailor_ml::session_recs::DEFAULT_WORK_BOUND;

use crate::profile::ProfileId;

/// Views further apart than this start a new session (the usual web-analytics cut).
pub const SESSION_GAP: Millis = 30 * MINUTE;
/// How far back training looks: shopping interests drift, and the window bounds memory.
pub const WINDOW: Millis = 30 * DAY;
/// At most this many views are kept (24 bytes each in memory); the oldest go first.
pub const MAX_CLICKS: usize = 1_000_000;
/// The window is trimmed back to [`MAX_CLICKS`] when it reaches this many views.
const TRIM_AT: usize = MAX_CLICKS + MAX_CLICKS / 8;
/// Up to this many views, the model is retrained on the writer thread whenever new views
/// arrived and the queue is idle (a few milliseconds), so small stores learn at once.
pub const RETRAIN_INLINE_UP_TO: usize = 20_000;
/// Larger windows retrain in the background at most this often.
pub const RETRAIN_EVERY: Duration = Duration::from_secs(30);

/// One product view of one person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionClick {
    pub person: ProfileId,
    pub item: ItemId,
    pub at: Millis,
}

/// The recent product views the session model learns from, with product ids interned as dense
/// [`ItemId`]s (stable for the life of the process and across restarts).
#[derive(Debug, Clone)]
pub struct SessionClicks {
    products: Vec<String>,
    ids: HashMap<String, ItemId>,
    clicks: Vec<SessionClick>,
    /// How many views had been recorded in total (not just kept) when the model was last
    /// trained, and in total now: new views since training = `recorded - trained_at_count`.
    recorded: u64,
    trained_at_count: u64,
    /// Views were forgotten (an erasure) since the model was last trained: it must retrain
    /// without them as soon as it can.
    forgotten: bool,
    /// The newest view's time: views older than [`WINDOW`] before it are never trained on.
    newest: Millis,
}

impl Default for SessionClicks {
    fn default() -> Self {
        Self {
            products: Vec::new(),
            ids: HashMap::new(),
            clicks: Vec::new(),
            recorded: 0,
            trained_at_count: 0,
            forgotten: false,
            // Nothing seen yet: any time is inside the window (and `newest - WINDOW` cannot overflow).
            newest: NOTHING_SEEN,
        }
    }
}

const NOTHING_SEEN: Millis = Millis::MIN / 2;

/// What a checkpoint keeps of [`SessionClicks`].
#[derive(Deserialize)]
struct Persisted {
    products: Vec<String>,
    clicks: Vec<SessionClick>,
}

/// [`Persisted`] as written: borrowed, so a checkpoint does not copy a million views to
/// encode them (postcard writes a slice as it writes a `Vec`).
#[derive(Serialize)]
struct PersistedRef<'a> {
    products: &'a [String],
    clicks: &'a [SessionClick],
}

impl SessionClicks {
    /// Records a view of `product` by `person` at `at`.
    pub fn push(&mut self, person: ProfileId, product: &str, at: Millis) {
        // A back-dated import's old views would never be trained on, only held (and, when
        // their people are erased or expire, retrained without).
        if at < self.newest - WINDOW {
            return;
        }
        self.newest = self.newest.max(at);
        let item = match self.ids.get(product) {
            Some(&id) => id,
            None => {
                let Ok(id) = ItemId::try_from(self.products.len()) else {
                    return; // 4 billion distinct products: stop learning new ones.
                };
                self.ids.insert(product.to_string(), id);
                self.products.push(product.to_string());
                id
            }
        };
        if self.clicks.len() == self.clicks.capacity() {
            // Doubling would end at 2^21 views (50 MB) for a window trimmed at 1.125M.
            let grown = (self.clicks.capacity() * 2).clamp(1024, TRIM_AT);
            self.clicks
                .reserve_exact(grown.saturating_sub(self.clicks.len()).max(1));
        }
        self.clicks.push(SessionClick { person, item, at });
        self.recorded += 1;
        // Trim in chunks so the cost is amortized.
        if self.clicks.len() >= TRIM_AT {
            let excess = self.clicks.len() - MAX_CLICKS;
            self.clicks.drain(..excess);
            self.drop_outside_window();
        }
    }

    pub fn len(&self) -> usize {
        self.clicks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.clicks.is_empty()
    }

    /// Views recorded since the model was last trained.
    pub fn untrained(&self) -> u64 {
        self.recorded - self.trained_at_count
    }

    /// Whether views were forgotten since the model was last trained.
    pub fn forgotten(&self) -> bool {
        self.forgotten
    }

    /// The views to train on now (within [`WINDOW`] of the newest), marking them as trained.
    /// Views that fell out of the window are dropped here, not only copied past.
    pub fn take_training_copy(&mut self) -> Vec<SessionClick> {
        self.trained_at_count = self.recorded;
        self.forgotten = false;
        self.drop_outside_window();
        self.clicks.clone()
    }

    fn drop_outside_window(&mut self) {
        let oldest = self.newest - WINDOW;
        self.clicks.retain(|c| c.at >= oldest);
    }

    pub fn item(&self, product: &str) -> Option<ItemId> {
        self.ids.get(product).copied()
    }

    pub fn product(&self, item: ItemId) -> Option<&str> {
        self.products.get(item as usize).map(String::as_str)
    }

    /// Forgets every view of `person` (erasure).
    /// Drops every view of `people`; whether there were any.
    pub fn forget(&mut self, people: &[ProfileId]) -> bool {
        let before = self.clicks.len();
        self.clicks.retain(|c| !people.contains(&c.person));
        let forgot = self.clicks.len() < before;
        self.forgotten |= forgot;
        forgot
    }

    /// The checkpoint form: postcard (compact: ids and times are varints).
    pub fn encode(&self) -> Result<Vec<u8>, postcard::Error> {
        postcard::to_stdvec(&PersistedRef {
            products: &self.products,
            clicks: &self.clicks,
        })
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, postcard::Error> {
        let p: Persisted = postcard::from_bytes(bytes)?;
        let ids = p
            .products
            .iter()
            .enumerate()
            .map(|(i, id)| (id.clone(), i as ItemId))
            .collect();
        let recorded = p.clicks.len() as u64;
        let newest = p.clicks.iter().map(|c| c.at).max().unwrap_or(NOTHING_SEEN);
        Ok(Self {
            products: p.products,
            ids,
            clicks: p.clicks,
            recorded,
            trained_at_count: 0,
            forgotten: false,
            newest,
        })
    }
}

/// A trained session recommender.
#[derive(Debug, Clone)]
pub struct SessionModel {
    model: Tailor,
    /// Sessions and views it was trained on.
    pub sessions: usize,
    pub clicks: usize,
}

impl SessionModel {
    /// Trains on `clicks` (any order). `None` when there is nothing to learn from yet.
    pub fn train(mut clicks: Vec<SessionClick>) -> Option<Self> {
        if clicks.is_empty() {
            return None;
        }
        // Stable: views in the same millisecond keep the order they were committed in.
        clicks.sort_by_key(|c| (c.person, c.at));
        let mut train = Vec::with_capacity(clicks.len());
        let mut session = 0u64;
        for (i, c) in clicks.iter().enumerate() {
            if i > 0 {
                let before = &clicks[i - 1];
                if before.person != c.person || c.at - before.at > SESSION_GAP {
                    session += 1;
                }
            }
            train.push(Click {
                session,
                item: c.item,
                time: c.at as f64 / 1000.0,
            });
        }
        // Training's peak is the views, their sessions and the model's indexes at once:
        // the views go before the indexes are built.
        let views = clicks.len();
        drop(clicks);
        Some(Self {
            model: Tailor::fit(&train),
            sessions: session as usize + 1,
            clicks: views,
        })
    }

    /// The `k` products most likely viewed next after `prefix` (oldest first), best first,
    /// leaving out the prefix's own products; scores are relative to the best (1.0). Adds
    /// the candidates the model scored to `scored` (at most [`SessionModel::work_bound`]).
    pub fn next(&self, prefix: &[ItemId], k: usize, scored: &mut usize) -> Vec<(ItemId, f64)> {
        if prefix.is_empty() {
            return Vec::new();
        }
        let mut out = Vec::with_capacity(k + prefix.len());
        *scored += self
            .model
            .recommend_counted(prefix, k + prefix.len(), &mut out)
            .total();
        out.retain(|(item, score)| !prefix.contains(item) && *score > 0.0);
        out.truncate(k);
        let best = out.first().map_or(1.0, |(_, s)| f64::from(*s));
        out.into_iter()
            .map(|(item, s)| (item, f64::from(s) / best))
            .collect()
    }
}

/// The current session of someone whose recently viewed products are `recent` (newest
/// last): the views that follow each other with gaps under [`SESSION_GAP`], ending at the
/// newest. The newest session stands for the visitor's current intent even if it is old.
pub fn current_session<T>(recent: &[(T, Millis)]) -> &[(T, Millis)] {
    let mut start = recent.len();
    while start > 0 {
        if start < recent.len() && recent[start].1 - recent[start - 1].1 > SESSION_GAP {
            break;
        }
        start -= 1;
    }
    &recent[start..]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clicks(log: &[(ProfileId, &str, i64)]) -> SessionClicks {
        let mut c = SessionClicks::default();
        for &(person, product, minute) in log {
            c.push(person, product, minute * MINUTE);
        }
        c
    }

    #[test]
    fn learns_what_is_viewed_next_and_leaves_out_the_session() {
        // Many shoppers go a → b; one goes a → c.
        let mut log = Vec::new();
        for person in 0..20 {
            log.push((person, "a", 0));
            log.push((person, "b", 1));
        }
        log.push((99, "a", 0));
        log.push((99, "c", 1));
        let mut c = clicks(&log);
        let model = SessionModel::train(c.take_training_copy()).unwrap();
        assert_eq!(model.sessions, 21);
        let a = c.item("a").unwrap();
        let mut scored = 0;
        let next = model.next(&[a], 5, &mut scored);
        assert!(scored > 0 && scored <= WORK_BOUND);
        assert_eq!(c.product(next[0].0), Some("b"), "{next:?}");
        assert_eq!(next[0].1, 1.0);
        assert!(next.iter().all(|(item, _)| *item != a));
        assert!(model.next(&[], 5, &mut scored).is_empty());
        assert_eq!(c.untrained(), 0);
    }

    #[test]
    fn a_long_pause_starts_a_new_session() {
        // Person 1 views a, then b the next day: no a → b session to learn from.
        let mut c = clicks(&[(1, "a", 0), (1, "b", 24 * 60), (2, "c", 0), (2, "d", 1)]);
        let model = SessionModel::train(c.take_training_copy()).unwrap();
        assert_eq!(model.sessions, 3);
        let recent = vec![
            ("x".to_string(), 0),
            ("y".to_string(), 2 * SESSION_GAP),
            ("z".to_string(), 2 * SESSION_GAP + MINUTE),
        ];
        let session: Vec<&str> = current_session(&recent)
            .iter()
            .map(|(p, _)| p.as_str())
            .collect();
        assert_eq!(session, ["y", "z"]);
        assert!(current_session::<String>(&[]).is_empty());
    }

    #[test]
    fn survives_a_checkpoint_round_trip_and_forgets_a_person() {
        let mut c = clicks(&[(1, "a", 0), (2, "b", 1), (1, "c", 2)]);
        let mut back = SessionClicks::decode(&c.encode().unwrap()).unwrap();
        assert_eq!(back.len(), 3);
        assert_eq!(back.item("c"), c.item("c"));
        assert_eq!(back.take_training_copy(), c.take_training_copy());
        back.forget(&[1]);
        assert_eq!(back.len(), 1);
        assert!(SessionClicks::decode(b"\xff\xff").is_err());
    }

    /// Views more than [`WINDOW`] older than the newest are never trained on: a back-dated
    /// import's are not kept, older kept ones go at the next training, and forgetting a
    /// person who only has such views does not ask for a retraining.
    #[test]
    fn views_outside_the_window_are_not_kept() {
        let day = 24 * 60;
        let mut c = clicks(&[(1, "a", 40 * day), (2, "b", 40 * day + 1)]);
        c.push(3, "old", 9 * day * MINUTE);
        assert_eq!(c.len(), 2, "a view 31 days before the newest is not kept");
        assert!(!c.forget(&[3]));
        assert!(!c.forgotten());
        c.push(4, "recent", (40 * day - 2) * MINUTE);
        assert_eq!(c.len(), 3, "a back-dated view inside the window is kept");
        // Time moves on: the first views fall out of the window at the next training.
        c.push(5, "later", (70 * day + 30) * MINUTE);
        let copy = c.take_training_copy();
        assert_eq!(copy.len(), 1);
        assert_eq!(c.len(), 1);
        let mut back = SessionClicks::decode(&c.encode().unwrap()).unwrap();
        back.push(6, "old again", 20 * day * MINUTE);
        assert_eq!(back.len(), 1, "the window survives a restart");
    }

    /// The window's vector never holds room for more views than it keeps before trimming
    /// (doubling took it to 2^21 views, 50 MB, in the soak's last minutes).
    #[test]
    fn the_window_never_reserves_past_its_trim_point() {
        let mut c = SessionClicks::default();
        for i in 0..TRIM_AT + 10 {
            c.push((i % 5_000) as ProfileId, "p", i as Millis);
            assert!(c.clicks.capacity() <= TRIM_AT);
        }
        assert_eq!(std::mem::size_of::<SessionClick>(), 24);
        assert!(c.len() <= MAX_CLICKS + 10);
    }

    /// Checkpoints written before the borrowed encoding (owned vectors) read back, and the
    /// bytes are the same.
    #[test]
    fn the_borrowed_encoding_writes_what_the_owned_one_did() {
        #[derive(Serialize)]
        struct Owned {
            products: Vec<String>,
            clicks: Vec<SessionClick>,
        }
        let c = clicks(&[(1, "a", 0), (2, "b", 1), (1, "c", 2)]);
        let owned = postcard::to_stdvec(&Owned {
            products: c.products.clone(),
            clicks: c.clicks.clone(),
        })
        .unwrap();
        assert_eq!(c.encode().unwrap(), owned);
    }
}
