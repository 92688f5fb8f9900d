//! What an experiment's results keep between calls: per unit (a person exposed), the few
//! events that decide its numbers — every order, the first of each goal event after
//! exposure, the first return — caught up from the event log since the previous call.
//! A dashboard polling the results thus reads the events appended since its last poll, not
//! every event of every exposed person each time (which took 10–22 s per call on an hour-old
//! soak store, `BENCHMARKS.md`).
//!
//! A digest is re-read from the store whenever what it was built from may have changed:
//! the unit's variation, first exposure or ids (a merge), or a retention run that deleted
//! events as old as one of its marks. Erased people stop being units (their exposures are
//! forgotten), so erasure needs nothing here. The catch-up relies on the log's sequence
//! numbers being committed in order, which holds for the one writer per store.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tailor_core::time::MINUTE;
use tailor_core::{Message, Millis};
use tailor_store::{Seq, Store};

use crate::error::EngineError;

/// Events read from the log per call to the store while catching up (decoded messages take
/// ~1.5 KB each on the heap).
const CHUNK: usize = 2_000;
/// A cache not read for this long is dropped (the experiment is no longer being watched).
const IDLE: Duration = Duration::from_secs(15 * 60);

/// One event that matters to a unit's numbers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Mark {
    pub t: Millis,
    /// An `Order Completed` and its value.
    pub order: Option<f64>,
    /// The goal event (index into the experiment's goals) this was, sent after exposure.
    pub goal: Option<usize>,
}

/// A unit's marks: enough to tally it as of any moment (see `UnitTally`).
#[derive(Debug, Clone)]
pub(super) struct Digest {
    pub variation: u32,
    pub at: Millis,
    ids: Vec<String>,
    pub marks: Vec<Mark>,
    first_return: Option<Millis>,
}

impl Digest {
    fn new(variation: u32, at: Millis, ids: Vec<String>) -> Self {
        Digest {
            variation,
            at,
            ids,
            marks: Vec::new(),
            first_return: None,
        }
    }

    /// Keeps `m` if it can change the unit's numbers at some moment: an order always; a goal
    /// event or a return only when earlier than the one kept (the tally needs the first).
    fn see(&mut self, m: &Message, goals: &[String]) {
        let t = m.timestamp;
        let name = m.event.as_deref();
        let order = (name == Some("Order Completed")).then(|| m.order_value().unwrap_or(0.0));
        let goal = name
            .filter(|_| t >= self.at)
            .and_then(|n| goals.iter().position(|g| g == n))
            .filter(|g| !self.marks.iter().any(|k| k.goal == Some(*g) && k.t <= t));
        let returns = t > self.at + 30 * MINUTE && self.first_return.is_none_or(|r| t < r);
        if returns {
            self.first_return = Some(t);
        }
        if order.is_some() || goal.is_some() || returns {
            self.marks.push(Mark { t, order, goal });
        }
    }

    fn oldest(&self) -> Option<Millis> {
        self.marks.iter().map(|m| m.t).min()
    }
}

/// The newest timestamp before which retention has deleted events (shared with the
/// retention run): digests with a mark older than this are re-read.
#[derive(Default)]
pub(crate) struct EventsDeleted(AtomicI64);

impl EventsDeleted {
    pub fn before(&self, t: Millis) {
        self.0.fetch_max(t, Ordering::Relaxed);
    }

    fn get(&self) -> Millis {
        self.0.load(Ordering::Relaxed)
    }
}

/// One experiment's digests and how far in the log they are caught up.
struct Kept {
    goals: Vec<String>,
    seen: Seq,
    deleted_before: Millis,
    units: HashMap<String, Digest>,
    used: Instant,
}

/// The digests of the experiments whose results are being read.
#[derive(Default)]
pub(crate) struct UnitDigests {
    kept: Mutex<HashMap<String, Kept>>,
}

/// A unit as the exposures say it is now: key → (variation, first exposure, ids).
pub(super) type Units = HashMap<String, (u32, Millis, Vec<String>)>;

impl UnitDigests {
    /// Brings experiment `id`'s digests up to date with `units` and the log, then calls `f`
    /// with them. Blocks on disk; concurrent calls for the results wait for each other.
    pub(super) fn with<R>(
        &self,
        store: &dyn Store,
        deleted: &EventsDeleted,
        id: &str,
        goals: &[String],
        units: Units,
        f: impl FnOnce(&mut dyn Iterator<Item = &Digest>) -> R,
    ) -> Result<R, EngineError> {
        let mut all = self.kept.lock();
        all.retain(|other, k| other == id || k.used.elapsed() < IDLE);
        let deleted_before = deleted.get();
        let head = store.last_seq()?;
        let fresh = || Kept {
            goals: goals.to_vec(),
            seen: head,
            deleted_before,
            units: HashMap::new(),
            used: Instant::now(),
        };
        let kept = all.entry(id.to_string()).or_insert_with(fresh);
        if kept.goals != goals {
            *kept = fresh();
        }
        kept.used = Instant::now();
        // Keep the digests still built from what the unit is now.
        let stale_before = (deleted_before > kept.deleted_before).then_some(deleted_before);
        kept.units.retain(|key, d| {
            units.get(key).is_some_and(|(v, at, ids)| {
                (d.variation, d.at, &d.ids) == (*v, *at, ids)
                    && stale_before.is_none_or(|t| d.oldest().is_none_or(|o| o >= t))
            })
        });
        kept.deleted_before = deleted_before;
        catch_up(store, kept, head)?;
        // New units (or changed ones) are read whole, up to the same point of the log.
        for (key, (variation, at, ids)) in units {
            if kept.units.contains_key(&key) {
                continue;
            }
            let mut digest = Digest::new(variation, at, ids);
            for e in store.events_of(&digest.ids, usize::MAX)? {
                if e.seq <= head {
                    digest.see(&e.message, goals);
                }
            }
            kept.units.insert(key, digest);
        }
        Ok(f(&mut kept.units.values()))
    }
}

/// Folds the log's events after `kept.seen`, up to `head`, into the digests they name.
fn catch_up(store: &dyn Store, kept: &mut Kept, head: Seq) -> Result<(), EngineError> {
    if kept.seen >= head {
        kept.seen = head;
        return Ok(());
    }
    let by_id: HashMap<String, String> = kept
        .units
        .iter()
        .flat_map(|(key, d)| d.ids.iter().map(move |id| (id.clone(), key.clone())))
        .collect();
    let mut seen = kept.seen;
    while seen < head {
        let events = store.events_after(seen, CHUNK)?;
        let Some(last) = events.last() else { break };
        seen = last.seq;
        for e in events.iter().filter(|e| e.seq <= head) {
            // An event naming a person twice (userId and anonymousId) counts once.
            let keys: HashSet<&String> = e
                .message
                .person_ids()
                .filter_map(|id| by_id.get(id))
                .collect();
            for key in keys {
                if let Some(d) = kept.units.get_mut(key) {
                    d.see(&e.message, &kept.goals);
                }
            }
        }
    }
    kept.seen = head;
    Ok(())
}
