//! [`MemoryStore`]: every sub-trait over plain collections behind one lock, for tests and
//! the testkit. Nothing survives the process.
//!
//! It mirrors SQLite's observable behaviour rather than an idealised one, so a test that
//! passes here passes against the real store: sequence numbers are one more than the
//! largest left (as SQLite's rowids are), a deleted event's `messageId` may be appended
//! again, re-logging a decision adds to its counted items (and moves it to the end of the
//! log), and orders follow the SQL's
//! `ORDER BY` with ties broken by key. Clarity over speed, but lookups by person go
//! through an index, so nothing is quadratic in the number of events, runs or messages.
//!
//! One mutex over all the state makes every operation atomic, as a transaction is.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use parking_lot::Mutex;
use tailor_core::{ContentItem, Message, MessageType, Millis, Product};

use crate::journeys::CURSOR_META;
use crate::{
    AudienceChange, AudienceOp, AuditEntry, CatalogStore, Checkpoint, Checkpoints, DecisionDay,
    DecisionLog, DecisionRecord, Erased, EventLog, Exposure, JourneyRun, JourneyStore,
    JourneyWrite, Metadata, OutboxItem, OutboxStatus, PersonKeys, PrivacyStore, ProfileId,
    ProfileRow, Result, Reward, RunStatus, Seq, Snapshot, StoredEvent,
};

/// An in-memory [`crate::Store`]. `MemoryStore::default()` is empty.
#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }
}

/// Rows keyed by the raw ids of the people they name, for `…_of(ids)` lookups and erasure.
struct PersonIndex<K> {
    keys: HashMap<String, BTreeSet<K>>,
}

impl<K> Default for PersonIndex<K> {
    fn default() -> Self {
        Self {
            keys: HashMap::new(),
        }
    }
}

impl<K: Ord + Clone> PersonIndex<K> {
    fn insert(&mut self, person: &str, key: K) {
        self.keys.entry(person.to_string()).or_default().insert(key);
    }

    fn remove(&mut self, person: &str, key: &K) {
        if let Some(keys) = self.keys.get_mut(person) {
            keys.remove(key);
            if keys.is_empty() {
                self.keys.remove(person);
            }
        }
    }

    /// The keys of rows naming any of `persons`, each once.
    fn of(&self, persons: &[String]) -> BTreeSet<K> {
        persons
            .iter()
            .filter_map(|p| self.keys.get(p))
            .flatten()
            .cloned()
            .collect()
    }
}

#[derive(Default)]
struct State {
    // The event log.
    events: BTreeMap<Seq, Message>,
    /// The newest position ever handed out: deleted events' positions are not reused.
    events_high_water: Seq,
    message_ids: HashMap<String, Seq>,
    event_people: PersonIndex<Seq>,
    // Checkpoints.
    checkpoint_seq: Seq,
    profiles: BTreeMap<ProfileId, Vec<u8>>,
    identities: BTreeMap<String, ProfileId>,
    checkpoint_meta: BTreeMap<String, String>,
    // Metadata (and the journeys' cursor, under `CURSOR_META`).
    meta: BTreeMap<String, String>,
    // The catalog.
    products: BTreeMap<String, Product>,
    content: BTreeMap<String, ContentItem>,
    // The decision log: by id, (position in the log, the decision).
    decisions: BTreeMap<String, (u64, DecisionRecord)>,
    decisions_logged: u64,
    shown_totals: BTreeMap<String, u64>,
    decision_days: BTreeMap<(Millis, String, String), (u64, u64, f64)>,
    decision_people: PersonIndex<String>,
    /// By decision id, in the order logged; kept for unknown decisions too.
    rewards: HashMap<String, Vec<Reward>>,
    exposures: BTreeMap<(String, String), Exposure>,
    // Privacy.
    suppressed: BTreeSet<String>,
    audit: Vec<AuditEntry>,
    // Journeys.
    runs: BTreeMap<String, JourneyRun>,
    run_people: PersonIndex<String>,
    outbox: BTreeMap<String, OutboxItem>,
    outbox_people: PersonIndex<String>,
    /// (audience, person) → (added at, match keys).
    audience_members: BTreeMap<(String, String), (Millis, Option<String>)>,
    audience_changes: BTreeMap<i64, AudienceChange>,
    /// The last stream position given out (never reused, as SQLite's AUTOINCREMENT).
    audience_seq: i64,
    journey_counts: BTreeMap<(String, String, String), i64>,
}

impl State {
    /// Appends to the audience change stream at a position never given out before.
    fn push_audience_change(&mut self, change: AudienceChange) {
        self.audience_seq += 1;
        let seq = self.audience_seq;
        self.audience_changes
            .insert(seq, AudienceChange { seq, ..change });
    }

    /// Removes one event and every index entry pointing at it.
    fn remove_event(&mut self, seq: Seq) -> bool {
        let Some(message) = self.events.remove(&seq) else {
            return false;
        };
        self.message_ids.remove(&message.message_id);
        for person in message.person_ids() {
            self.event_people.remove(person, &seq);
        }
        true
    }

    /// Removes a decision and its rewards; `uncount`: takes its counted items off the totals.
    fn remove_decision(&mut self, id: &str, uncount: bool) -> bool {
        let Some((_, d)) = self.decisions.remove(id) else {
            return false;
        };
        if uncount {
            for item in d.counted() {
                if let Some(n) = self.shown_totals.get_mut(item) {
                    *n = n.saturating_sub(1);
                }
            }
        }
        for person in d.user_id.iter().chain(&d.anonymous_id) {
            self.decision_people.remove(person, &d.id);
        }
        self.rewards.remove(id);
        true
    }

    fn put_run(&mut self, run: &JourneyRun) {
        if let Some(old) = self.runs.insert(run.id.clone(), run.clone()) {
            self.run_people.remove(&old.person, &old.id);
        }
        self.run_people.insert(&run.person, run.id.clone());
    }

    fn remove_run(&mut self, id: &str) -> bool {
        let Some(run) = self.runs.remove(id) else {
            return false;
        };
        self.run_people.remove(&run.person, &run.id);
        true
    }

    fn remove_outbox(&mut self, key: &str) -> bool {
        let Some(item) = self.outbox.remove(key) else {
            return false;
        };
        self.outbox_people.remove(&item.person, &item.key);
        true
    }

    /// What `journey_write` does, under the lock.
    fn apply(&mut self, w: &JourneyWrite) {
        for run in &w.runs {
            self.put_run(run);
        }
        for item in &w.new_outbox {
            if !self.outbox.contains_key(&item.key) {
                self.outbox.insert(item.key.clone(), item.clone());
                self.outbox_people.insert(&item.person, item.key.clone());
            }
        }
        for update in &w.outbox_updates {
            if let Some(item) = self.outbox.get_mut(&update.key) {
                item.status = update.status;
                item.attempts = update.attempts;
                item.next_at = update.next_at;
                item.last_error.clone_from(&update.last_error);
                item.sent_at = update.sent_at;
                item.payload.clone_from(&update.payload);
            }
        }
        for change in &w.audience {
            let key = (change.audience.clone(), change.person.clone());
            let keys = match change.op {
                AudienceOp::Add => match self.audience_members.entry(key) {
                    std::collections::btree_map::Entry::Occupied(_) => None,
                    std::collections::btree_map::Entry::Vacant(slot) => {
                        slot.insert((change.at, change.match_keys.clone()));
                        Some(change.match_keys.clone())
                    }
                },
                AudienceOp::Remove => self
                    .audience_members
                    .remove(&key)
                    .map(|(_, stored)| change.match_keys.clone().or(stored)),
            };
            if let Some(match_keys) = keys {
                self.push_audience_change(AudienceChange {
                    match_keys,
                    ..change.clone()
                });
            }
        }
        for c in &w.counts {
            *self
                .journey_counts
                .entry((c.journey.clone(), c.step.clone(), c.metric.clone()))
                .or_default() += c.n;
        }
        if let Some(seq) = w.cursor {
            self.meta.insert(CURSOR_META.to_string(), seq.to_string());
        }
    }
}

/// The key SQLite gives a new row of a rowid table: one more than the largest.
fn next_key<V>(rows: &BTreeMap<i64, V>) -> i64 {
    rows.last_key_value().map_or(1, |(k, _)| k + 1)
}

/// The first `limit` of `rows` (all for `usize::MAX`).
fn first<T>(rows: impl IntoIterator<Item = T>, limit: usize) -> Vec<T> {
    rows.into_iter().take(limit).collect()
}

fn id_set(ids: &[String]) -> HashSet<&str> {
    ids.iter().map(String::as_str).collect()
}

/// Removes the entries of `map` matching `gone`; returns how many went.
fn remove_where<K: Ord + Clone, V>(map: &mut BTreeMap<K, V>, gone: impl Fn(&V) -> bool) -> u64 {
    let before = map.len();
    map.retain(|_, v| !gone(v));
    (before - map.len()) as u64
}

fn sorted_by_key<T, K: Ord>(mut rows: Vec<T>, key: impl FnMut(&T) -> K) -> Vec<T> {
    rows.sort_by_key(key);
    rows
}

impl EventLog for MemoryStore {
    fn append(&self, messages: &[Message]) -> Result<Vec<Option<Seq>>> {
        let mut s = self.state.lock();
        let mut out = Vec::with_capacity(messages.len());
        for m in messages {
            if s.message_ids.contains_key(&m.message_id) {
                out.push(None);
                continue;
            }
            let seq = next_key(&s.events).max(s.events_high_water + 1);
            s.events_high_water = seq;
            s.message_ids.insert(m.message_id.clone(), seq);
            for person in m.person_ids() {
                s.event_people.insert(person, seq);
            }
            s.events.insert(seq, m.clone());
            out.push(Some(seq));
        }
        Ok(out)
    }

    fn events_after(&self, seq: Seq, limit: usize) -> Result<Vec<StoredEvent>> {
        let s = self.state.lock();
        Ok(first(
            s.events
                .range(seq.saturating_add(1)..)
                .map(|(&seq, m)| stored(seq, m)),
            limit,
        ))
    }

    fn events_of(&self, ids: &[String], limit: usize) -> Result<Vec<StoredEvent>> {
        let s = self.state.lock();
        let seqs = s.event_people.of(ids);
        Ok(first(
            seqs.iter()
                .rev()
                .filter_map(|seq| s.events.get(seq).map(|m| stored(*seq, m))),
            limit,
        ))
    }

    fn event_count(&self) -> Result<u64> {
        Ok(self.state.lock().events.len() as u64)
    }

    fn last_seq(&self) -> Result<Seq> {
        Ok(self
            .state
            .lock()
            .events
            .last_key_value()
            .map_or(0, |(k, _)| *k))
    }

    fn delete_events_before(
        &self,
        before: Millis,
        up_to: Seq,
        keep: &[&str],
        limit: usize,
    ) -> Result<u64> {
        // A track event is kept when its name is in `keep`, or when it has no name and
        // `keep` is not empty: SQLite's `NOT (… AND NULL IN (…))` is not true either.
        let kept = |m: &Message| {
            !keep.is_empty()
                && m.kind == MessageType::Track
                && m.event.as_deref().is_none_or(|e| keep.contains(&e))
        };
        let mut s = self.state.lock();
        let picked: Vec<Seq> = first(
            s.events
                .range(..=up_to)
                .filter(|(_, m)| m.timestamp < before && !kept(m))
                .map(|(seq, _)| *seq),
            limit,
        );
        Ok(picked
            .into_iter()
            .filter(|seq| s.remove_event(*seq))
            .count() as u64)
    }
}

fn stored(seq: Seq, message: &Message) -> StoredEvent {
    StoredEvent {
        seq,
        message: message.clone(),
    }
}

impl Checkpoints for MemoryStore {
    fn checkpoint(&self, cp: &Checkpoint) -> Result<()> {
        let mut s = self.state.lock();
        for p in &cp.upsert_profiles {
            s.profiles.insert(p.id, p.state.clone());
        }
        for id in &cp.delete_profiles {
            s.profiles.remove(id);
        }
        for (identity, id) in &cp.upsert_identities {
            s.identities.insert(identity.clone(), *id);
        }
        for (k, v) in &cp.meta {
            s.checkpoint_meta.insert(k.clone(), v.clone());
        }
        s.checkpoint_seq = cp.seq;
        Ok(())
    }

    fn snapshot(&self) -> Result<Snapshot> {
        let s = self.state.lock();
        Ok(Snapshot {
            seq: s.checkpoint_seq,
            profiles: s
                .profiles
                .iter()
                .map(|(&id, state)| ProfileRow {
                    id,
                    state: state.clone(),
                })
                .collect(),
            identities: s.identities.iter().map(|(k, v)| (k.clone(), *v)).collect(),
            meta: s
                .checkpoint_meta
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        })
    }

    fn checkpointed_seq(&self) -> Result<Seq> {
        Ok(self.state.lock().checkpoint_seq)
    }
}

impl Metadata for MemoryStore {
    fn get_meta(&self, key: &str) -> Result<Option<String>> {
        Ok(self.state.lock().meta.get(key).cloned())
    }

    fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        self.state
            .lock()
            .meta
            .insert(key.to_string(), value.to_string());
        Ok(())
    }
}

impl CatalogStore for MemoryStore {
    fn put_products(&self, products: &[Product]) -> Result<()> {
        let mut s = self.state.lock();
        for p in products {
            s.products.insert(p.id.clone(), p.clone());
        }
        Ok(())
    }

    fn delete_product(&self, id: &str) -> Result<bool> {
        Ok(self.state.lock().products.remove(id).is_some())
    }

    fn products(&self) -> Result<Vec<Product>> {
        Ok(self.state.lock().products.values().cloned().collect())
    }

    fn put_content(&self, items: &[ContentItem]) -> Result<()> {
        let mut s = self.state.lock();
        for c in items {
            s.content.insert(c.id.clone(), c.clone());
        }
        Ok(())
    }

    fn delete_content(&self, id: &str) -> Result<bool> {
        Ok(self.state.lock().content.remove(id).is_some())
    }

    fn content(&self) -> Result<Vec<ContentItem>> {
        Ok(self.state.lock().content.values().cloned().collect())
    }
}

impl State {
    fn rewards_of(&self, id: &str) -> Vec<Reward> {
        let rewards = self.rewards.get(id).cloned().unwrap_or_default();
        sorted_by_key(rewards, |r| r.seq)
    }
}

impl DecisionLog for MemoryStore {
    fn log_decisions(&self, decisions: &[DecisionRecord]) -> Result<()> {
        let mut s = self.state.lock();
        for d in decisions {
            // As SQLite's `INSERT OR REPLACE`: a re-logged id is replaced and moves to the
            // end of the log; its counted items are counted again; rewards stay.
            if let Some((_, old)) = s.decisions.remove(&d.id) {
                for person in old.user_id.iter().chain(&old.anonymous_id) {
                    s.decision_people.remove(person, &old.id);
                }
            }
            for item in d.counted() {
                *s.shown_totals.entry(item.to_string()).or_default() += 1;
            }
            for person in d.user_id.iter().chain(&d.anonymous_id) {
                s.decision_people.insert(person, d.id.clone());
            }
            s.decisions_logged += 1;
            let at = s.decisions_logged;
            s.decisions.insert(d.id.clone(), (at, d.clone()));
        }
        Ok(())
    }

    fn log_rewards(&self, rewards: &[Reward]) -> Result<()> {
        let mut s = self.state.lock();
        for r in rewards {
            s.rewards
                .entry(r.decision_id.clone())
                .or_default()
                .push(r.clone());
        }
        Ok(())
    }

    fn decision(&self, id: &str) -> Result<Option<(DecisionRecord, Vec<Reward>)>> {
        let s = self.state.lock();
        Ok(s.decisions
            .get(id)
            .map(|(_, d)| (d.clone(), s.rewards_of(id))))
    }

    fn shown_counts(&self) -> Result<Vec<(String, u64)>> {
        let s = self.state.lock();
        Ok(s.shown_totals
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(item, n)| (item.clone(), *n))
            .collect())
    }

    fn recent_decisions(
        &self,
        during: std::ops::Range<Millis>,
        limit: usize,
    ) -> Result<Vec<(DecisionRecord, Vec<Reward>)>> {
        let s = self.state.lock();
        let newest_first = sorted_by_key(
            s.decisions
                .values()
                .filter(|(_, d)| during.contains(&d.at))
                .collect(),
            |(logged, _)| std::cmp::Reverse(*logged),
        );
        let mut out: Vec<_> = first(
            newest_first
                .into_iter()
                .map(|(_, d)| (d.clone(), s.rewards_of(&d.id))),
            limit,
        );
        out.reverse();
        Ok(out)
    }

    fn decisions_of(&self, ids: &[String], limit: usize) -> Result<Vec<DecisionRecord>> {
        let s = self.state.lock();
        let theirs = s
            .decision_people
            .of(ids)
            .iter()
            .filter_map(|id| s.decisions.get(id))
            .map(|(_, d)| d.clone())
            .collect();
        Ok(first(
            sorted_by_key(theirs, |d: &DecisionRecord| d.at),
            limit,
        ))
    }

    fn retire_decisions(&self, before: Millis, limit: usize) -> Result<u64> {
        let mut s = self.state.lock();
        let in_order = sorted_by_key(
            s.decisions
                .values()
                .map(|(logged, d)| (*logged, d.clone()))
                .collect(),
            |(logged, _)| *logged,
        );
        let old: Vec<DecisionRecord> = first(
            in_order
                .into_iter()
                .map(|(_, d)| d)
                .take_while(|d| d.at < before),
            limit,
        );
        for d in &old {
            let rewards = s.rewards_of(&d.id);
            let day = d.at - d.at.rem_euclid(tailor_core::time::DAY);
            for p in &d.placements {
                let key = (
                    day,
                    p.placement.clone(),
                    p.chosen.clone().unwrap_or_default(),
                );
                let e = s.decision_days.entry(key).or_default();
                e.0 += 1;
                e.1 += u64::from(!rewards.is_empty());
                e.2 += rewards.iter().map(|r| r.value).sum::<f64>();
            }
            s.remove_decision(&d.id, false);
        }
        if old.len() < limit {
            for list in s.rewards.values_mut() {
                list.retain(|r| r.at >= before);
            }
            s.rewards.retain(|_, list| !list.is_empty());
        }
        Ok(old.len() as u64)
    }

    fn decision_days(&self, since: Millis) -> Result<Vec<DecisionDay>> {
        let s = self.state.lock();
        Ok(s.decision_days
            .range((since, String::new(), String::new())..)
            .map(
                |((day, placement, item), (n, rewarded, value))| DecisionDay {
                    day: *day,
                    placement: placement.clone(),
                    item: item.clone(),
                    decisions: *n,
                    rewarded: *rewarded,
                    value: *value,
                },
            )
            .collect())
    }

    fn log_exposures(&self, exposures: &[Exposure]) -> Result<()> {
        let mut s = self.state.lock();
        for e in exposures {
            s.exposures
                .entry((e.experiment.clone(), e.id.clone()))
                .or_insert_with(|| e.clone());
        }
        Ok(())
    }

    fn exposures(&self) -> Result<Vec<Exposure>> {
        Ok(self.state.lock().exposures.values().cloned().collect())
    }

    fn exposures_of(&self, ids: &[String]) -> Result<Vec<Exposure>> {
        let ids = id_set(ids);
        let s = self.state.lock();
        let theirs = s
            .exposures
            .values()
            .filter(|e| ids.contains(e.id.as_str()))
            .cloned()
            .collect();
        Ok(sorted_by_key(theirs, |e: &Exposure| e.at))
    }
}

impl PrivacyStore for MemoryStore {
    fn erase_person(&self, person: &PersonKeys) -> Result<Erased> {
        let mut s = self.state.lock();
        let mut erased = Erased::default();
        let profile_ids: HashSet<ProfileId> = person.profile_ids.iter().copied().collect();
        for id in &profile_ids {
            erased.profiles += u64::from(s.profiles.remove(id).is_some());
        }
        erased.identities = remove_where(&mut s.identities, |p| profile_ids.contains(p));
        let ids = &person.ids;
        for seq in s.event_people.of(ids) {
            erased.events += u64::from(s.remove_event(seq));
        }
        for id in s.decision_people.of(ids) {
            erased.decisions += u64::from(s.remove_decision(&id, true));
        }
        let id_set = id_set(ids);
        remove_where(&mut s.exposures, |e| id_set.contains(e.id.as_str()));
        for id in s.run_people.of(ids) {
            erased.journeys += u64::from(s.remove_run(&id));
        }
        for key in s.outbox_people.of(ids) {
            erased.journeys += u64::from(s.remove_outbox(&key));
        }
        let named = |(_, person): &(String, String)| id_set.contains(person.as_str());
        let ended: Vec<((String, String), Option<String>)> = s
            .audience_members
            .iter()
            .filter(|(k, _)| named(k))
            .map(|(k, (_, keys))| (k.clone(), keys.clone()))
            .collect();
        for ((audience, _), match_keys) in ended {
            s.push_audience_change(AudienceChange {
                seq: 0,
                audience,
                person: String::new(),
                op: AudienceOp::Remove,
                at: person.at,
                match_keys,
            });
            erased.audience_removals += 1;
        }
        let before = s.audience_members.len();
        s.audience_members.retain(|k, _| !named(k));
        erased.journeys += (before - s.audience_members.len()) as u64;
        erased.journeys += remove_where(&mut s.audience_changes, |c| {
            id_set.contains(c.person.as_str())
        });
        Ok(erased)
    }

    /// Nothing to do: deleted rows are gone from memory.
    fn purge(&self) -> Result<()> {
        Ok(())
    }

    fn suppress(&self, hashes: &[String]) -> Result<()> {
        self.state.lock().suppressed.extend(hashes.iter().cloned());
        Ok(())
    }

    fn unsuppress(&self, hashes: &[String]) -> Result<u64> {
        let mut s = self.state.lock();
        Ok(hashes.iter().filter(|h| s.suppressed.remove(*h)).count() as u64)
    }

    fn suppressed(&self) -> Result<Vec<String>> {
        Ok(self.state.lock().suppressed.iter().cloned().collect())
    }

    fn audit(&self, entry: &AuditEntry) -> Result<()> {
        self.state.lock().audit.push(entry.clone());
        Ok(())
    }

    fn audit_log(&self, limit: usize) -> Result<Vec<AuditEntry>> {
        Ok(first(self.state.lock().audit.iter().rev().cloned(), limit))
    }
}

impl JourneyStore for MemoryStore {
    fn journey_write(&self, write: &JourneyWrite) -> Result<()> {
        self.state.lock().apply(write);
        Ok(())
    }

    fn journey_cursor(&self) -> Result<Option<Seq>> {
        Ok(self
            .state
            .lock()
            .meta
            .get(CURSOR_META)
            .and_then(|v| v.parse().ok()))
    }

    fn journey_runs_due(&self, now: Millis, limit: usize) -> Result<Vec<JourneyRun>> {
        let s = self.state.lock();
        let due = s
            .runs
            .values()
            .filter(|r| r.status == RunStatus::Active && r.due_at.is_some_and(|at| at <= now))
            .cloned()
            .collect();
        Ok(first(sorted_by_key(due, |r: &JourneyRun| r.due_at), limit))
    }

    fn journey_runs_of(&self, persons: &[String]) -> Result<Vec<JourneyRun>> {
        let s = self.state.lock();
        let theirs = s
            .run_people
            .of(persons)
            .iter()
            .filter_map(|id| s.runs.get(id))
            .cloned()
            .collect();
        Ok(sorted_by_key(theirs, |r: &JourneyRun| r.entered_at))
    }

    fn journey_runs_in(&self, journey: &str) -> Result<Vec<JourneyRun>> {
        let s = self.state.lock();
        let runs = s
            .runs
            .values()
            .filter(|r| r.journey == journey)
            .cloned()
            .collect();
        Ok(sorted_by_key(runs, |r: &JourneyRun| r.entered_at))
    }

    fn journey_counts(&self, journey: &str) -> Result<Vec<(String, String, i64)>> {
        let s = self.state.lock();
        Ok(s.journey_counts
            .iter()
            .filter(|((j, _, _), _)| j == journey)
            .map(|((_, step, metric), n)| (step.clone(), metric.clone(), *n))
            .collect())
    }

    fn outbox_due(&self, now: Millis, limit: usize) -> Result<Vec<OutboxItem>> {
        let s = self.state.lock();
        let due = s
            .outbox
            .values()
            .filter(|o| o.status == OutboxStatus::Pending && o.next_at <= now)
            .cloned()
            .collect();
        Ok(first(
            sorted_by_key(due, |o: &OutboxItem| {
                (std::cmp::Reverse(o.priority), o.next_at)
            }),
            limit,
        ))
    }

    fn outbox_list(
        &self,
        status: Option<OutboxStatus>,
        persons: Option<&[String]>,
        limit: usize,
    ) -> Result<Vec<OutboxItem>> {
        let s = self.state.lock();
        let candidates: Vec<&OutboxItem> = match persons {
            Some(persons) => s
                .outbox_people
                .of(persons)
                .iter()
                .filter_map(|key| s.outbox.get(key))
                .collect(),
            None => s.outbox.values().collect(),
        };
        let matching = candidates
            .into_iter()
            .filter(|o| status.is_none_or(|st| o.status == st))
            .cloned()
            .collect();
        Ok(first(
            sorted_by_key(matching, |o: &OutboxItem| o.created_at),
            limit,
        ))
    }

    fn outbox_where(
        &self,
        status: OutboxStatus,
        journey: Option<&str>,
        channel: Option<&str>,
    ) -> Result<Vec<OutboxItem>> {
        let s = self.state.lock();
        let matching = s
            .outbox
            .values()
            .filter(|o| {
                o.status == status
                    && journey.is_none_or(|j| o.journey == j)
                    && channel.is_none_or(|c| o.channel == c)
            })
            .cloned()
            .collect();
        Ok(sorted_by_key(matching, |o: &OutboxItem| o.created_at))
    }

    fn outbox_item(&self, key: &str) -> Result<Option<OutboxItem>> {
        Ok(self.state.lock().outbox.get(key).cloned())
    }

    fn sends_since(&self, persons: &[String], since: Millis) -> Result<Vec<(String, Millis)>> {
        let s = self.state.lock();
        let sends = s
            .outbox_people
            .of(persons)
            .iter()
            .filter_map(|key| s.outbox.get(key))
            .filter(|o| o.status == OutboxStatus::Sent)
            .filter_map(|o| {
                o.sent_at
                    .filter(|at| *at >= since)
                    .map(|at| (o.channel.clone(), at))
            })
            .collect();
        Ok(sorted_by_key(sends, |(_, at): &(String, Millis)| *at))
    }

    fn audience_members(&self, audience: &str) -> Result<Vec<(String, Millis)>> {
        let s = self.state.lock();
        let members = s
            .audience_members
            .iter()
            .filter(|((a, _), _)| a == audience)
            .map(|((_, person), (at, _))| (person.clone(), *at))
            .collect();
        Ok(sorted_by_key(members, |(_, at): &(String, Millis)| *at))
    }

    fn audience_names(&self) -> Result<Vec<(String, u64)>> {
        let s = self.state.lock();
        let mut names: BTreeMap<String, u64> = s
            .audience_changes
            .values()
            .map(|c| (c.audience.clone(), 0))
            .collect();
        for (audience, _) in s.audience_members.keys() {
            *names.entry(audience.clone()).or_default() += 1;
        }
        Ok(names.into_iter().collect())
    }

    fn audience_changes(
        &self,
        audience: &str,
        after: i64,
        limit: usize,
    ) -> Result<Vec<AudienceChange>> {
        let s = self.state.lock();
        Ok(first(
            s.audience_changes
                .range(after.saturating_add(1)..)
                .map(|(_, c)| c)
                .filter(|c| c.audience == audience)
                .cloned(),
            limit,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_passes_the_conformance_suite() {
        crate::conformance::run_all(|| (MemoryStore::new(), ()));
    }
}
