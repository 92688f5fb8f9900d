//! The decision log: decisions are queued by `decide` and written in batches by their own
//! thread, so answering never waits for the disk. Events that follow a decision (clicks,
//! orders carrying its `decisionId`, or an order of a recommended product within the
//! attribution window) are joined to it as rewards by the writer thread.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use parking_lot::{Mutex, RwLock};
use serde_json::Value;
use tailor_core::time::DAY;
use tailor_core::{Message, Millis};
use tailor_store::{DecisionRecord, Reward, Seq, Store};

use crate::profile::ProfileId;

/// Orders and clicks this soon after a decision that showed the product are credited to it.
pub const ATTRIBUTION_WINDOW: Millis = DAY;
/// Recent decisions remembered per person for attribution.
const REMEMBERED: usize = 20;
const BATCH: usize = 2_000;
/// Every this many decisions, expired attribution entries are dropped.
const SWEEP_EVERY: u64 = 10_000;
/// How often queued decisions are written.
const DRAIN_EVERY: Duration = Duration::from_millis(50);

/// Events that count as a decision's reward.
const REWARD_EVENTS: [&str; 4] = [
    "Promotion Clicked",
    "Product Clicked",
    "Product Added",
    "Order Completed",
];

/// How often each content item was shown.
pub type ShownCounts = HashMap<String, AtomicU64>;

/// A decision remembered for attribution: its id, when, and the items it showed, as
/// [`item_key`]s (eight bytes an item, not a string: 20 decisions for every recent visitor
/// are held).
type Shown = (String, Millis, Box<[u64]>);

/// An item id as attribution remembers it. A 64-bit hash: two ids colliding would credit a
/// reward to the wrong decision one time in ~10^19.
fn item_key(id: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::hash::DefaultHasher::new();
    id.hash(&mut h);
    h.finish()
}

/// What the log thread takes: decisions to write, or a request to write what it has now.
enum Queued {
    Decision(DecisionRecord),
    Exposures(Vec<tailor_store::Exposure>),
    Flush(mpsc::Sender<()>),
}

pub struct DecisionLog {
    queue: Mutex<Option<mpsc::Sender<Queued>>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// How often each content item was shown (promotion budgets). Every decision reads it
    /// for its whole duration, so counting takes only the read lock (atomic counters); the
    /// write lock is needed only for an item's first showing. A mutex here serialized all
    /// decisions.
    shown: RwLock<ShownCounts>,
    /// Per person: `(decision id, time, products and items shown)`, newest last.
    recent: Mutex<HashMap<ProfileId, VecDeque<Shown>>>,
    recorded: AtomicU64,
}

impl DecisionLog {
    pub fn start(store: Arc<dyn Store>) -> Result<DecisionLog, tailor_store::StoreError> {
        let shown = store
            .shown_counts()?
            .into_iter()
            .map(|(id, n)| (id, AtomicU64::new(n)))
            .collect();
        let (tx, rx) = mpsc::channel::<Queued>();
        let thread = std::thread::Builder::new()
            .name("tailor-decision-log".into())
            .spawn(move || {
                // Drain on a timer rather than waking per decision: under load a wake-up per
                // decision cost more than writing it.
                loop {
                    std::thread::sleep(DRAIN_EVERY);
                    let mut batch = Vec::new();
                    let mut closed = false;
                    let write = |batch: &mut Vec<DecisionRecord>| {
                        for chunk in batch.chunks(BATCH) {
                            if let Err(e) = store.log_decisions(chunk) {
                                tracing::error!(error = %e, decisions = chunk.len(), "could not write the decision log");
                            }
                        }
                        batch.clear();
                    };
                    loop {
                        match rx.try_recv() {
                            Ok(Queued::Decision(d)) => batch.push(d),
                            Ok(Queued::Exposures(e)) => {
                                if let Err(err) = store.log_exposures(&e) {
                                    tracing::error!(error = %err, "could not record experiment exposures");
                                }
                            }
                            Ok(Queued::Flush(done)) => {
                                write(&mut batch);
                                let _ = done.send(());
                            }
                            Err(mpsc::TryRecvError::Empty) => break,
                            Err(mpsc::TryRecvError::Disconnected) => {
                                closed = true;
                                break;
                            }
                        }
                    }
                    write(&mut batch);
                    if closed {
                        break;
                    }
                }
            })
            .map_err(|e| tailor_store::StoreError::Backend(format!("cannot start the decision log: {e}")))?;
        Ok(DecisionLog {
            queue: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
            shown: RwLock::new(shown),
            recent: Mutex::new(HashMap::new()),
            recorded: AtomicU64::new(0),
        })
    }

    /// Runs `f` with how often each content item was shown, without copying the counts.
    pub fn with_shown<T>(&self, f: impl FnOnce(&ShownCounts) -> T) -> T {
        f(&self.shown.read())
    }

    /// Queues a decision for the log and remembers it for attribution.
    pub fn record(&self, record: DecisionRecord, profile: Option<ProfileId>) {
        for id in record.counted() {
            let counted = self
                .shown
                .read()
                .get(id)
                .map(|n| n.fetch_add(1, Ordering::Relaxed))
                .is_some();
            if !counted {
                *self
                    .shown
                    .write()
                    .entry(id.to_string())
                    .or_default()
                    .get_mut() += 1;
            }
        }
        if let Some(pid) = profile {
            let mut recent = self.recent.lock();
            let list = recent.entry(pid).or_default();
            let shown = record
                .placements
                .iter()
                .flat_map(|p| p.shown.iter().map(|s| item_key(s)))
                .collect();
            list.push_back((record.id.clone(), record.at, shown));
            while list.len() > REMEMBERED {
                list.pop_front();
            }
            // Decisions past the window can earn nothing more: forget them now and then, so
            // the map holds recent visitors only.
            if self
                .recorded
                .fetch_add(1, Ordering::Relaxed)
                .is_multiple_of(SWEEP_EVERY)
            {
                let horizon = record.at - ATTRIBUTION_WINDOW;
                recent.retain(|_, list| {
                    list.retain(|(_, at, _)| *at >= horizon);
                    !list.is_empty()
                });
            }
        }
        if let Some(q) = self.queue.lock().as_ref() {
            let _ = q.send(Queued::Decision(record));
        }
    }

    /// Queues first exposures to experiments for the store.
    pub fn log_exposures(&self, exposures: Vec<tailor_store::Exposure>) {
        if let Some(q) = self.queue.lock().as_ref() {
            let _ = q.send(Queued::Exposures(exposures));
        }
    }

    /// Waits until every decision recorded so far is written (erasure must see them all).
    pub fn flush(&self) {
        let (done, wait) = mpsc::channel();
        let sent = self
            .queue
            .lock()
            .as_ref()
            .is_some_and(|q| q.send(Queued::Flush(done)).is_ok());
        if sent {
            let _ = wait.recv();
        }
    }

    /// Forgets the decisions remembered for attribution to these profiles (erasure).
    pub fn forget(&self, profiles: &[ProfileId]) {
        let mut recent = self.recent.lock();
        for p in profiles {
            recent.remove(p);
        }
    }

    /// Stops taking decisions and writes what is queued.
    pub fn flush_and_stop(&self) {
        self.queue.lock().take();
        if let Some(t) = self.thread.lock().take() {
            let _ = t.join();
        }
    }

    /// The rewards one committed event earns: the decision it names, or else the latest
    /// decision within the window that showed a product it is about.
    pub fn rewards_for(&self, m: &Message, seq: Seq, profile: ProfileId) -> Vec<Reward> {
        let Some(event) = m.event.as_deref().filter(|e| REWARD_EVENTS.contains(e)) else {
            return Vec::new();
        };
        let value = m.order_value().unwrap_or(0.0);
        let reward = |decision_id: String| Reward {
            decision_id,
            seq,
            event: event.to_string(),
            value,
            at: m.timestamp,
        };
        let named = ["decisionId", "decision_id"]
            .iter()
            .find_map(|k| m.properties.get(*k).and_then(Value::as_str));
        if let Some(id) = named {
            return vec![reward(id.to_string())];
        }
        let products: Vec<u64> = mentioned_products(m).into_iter().map(item_key).collect();
        if products.is_empty() {
            return Vec::new();
        }
        let recent = self.recent.lock();
        recent
            .get(&profile)
            .and_then(|list| {
                list.iter().rev().find(|(_, at, shown)| {
                    m.timestamp >= *at
                        && m.timestamp - at <= ATTRIBUTION_WINDOW
                        && shown.iter().any(|s| products.contains(s))
                })
            })
            .map(|(id, _, _)| vec![reward(id.clone())])
            .unwrap_or_default()
    }
}

fn mentioned_products(m: &Message) -> Vec<&str> {
    match m.properties.get("products") {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_object)
            .filter_map(item_id)
            .collect(),
        _ => item_id(&m.properties).into_iter().collect(),
    }
}

fn item_id(p: &serde_json::Map<String, Value>) -> Option<&str> {
    ["product_id", "promotion_id", "sku"]
        .iter()
        .find_map(|k| p.get(*k).and_then(Value::as_str))
}

#[cfg(test)]
mod tests {
    use tailor_store::SqliteStore;

    use super::*;

    fn decision(id: &str, at: Millis) -> DecisionRecord {
        tailor_store::conformance::decision_showing(id, at, Some("a"), None, &["p1"])
    }

    #[test]
    fn attribution_memory_forgets_expired_visitors() {
        let dir = tempfile::tempdir().unwrap();
        let log = DecisionLog::start(Arc::new(SqliteStore::open(dir.path()).unwrap())).unwrap();
        log.record(decision("old", 0), Some(1));
        let later = 2 * ATTRIBUTION_WINDOW;
        for i in 1..=SWEEP_EVERY {
            log.record(decision(&format!("d{i}"), later), Some(2));
        }
        let recent = log.recent.lock();
        assert!(!recent.contains_key(&1), "the expired visitor was dropped");
        assert_eq!(recent[&2].len(), REMEMBERED);
        drop(recent);
        log.flush_and_stop();
    }
}
