//! The identity graph and the profiles it points to.
//!
//! Every message names a person by `userId`, `anonymousId` or (alias) `previousId`. The
//! registry finds the profiles those ids already belong to; when a message links ids of
//! two profiles, the younger profile is merged into the older one, which keeps every
//! identity and all history. The merged-away id stays resolvable. Because profiles are
//! made of mergeable aggregates, the result does not depend on the order messages arrive in.
//!
//! The identity rules, as Segment Unify's:
//! - **One userId per profile** (by default; [`IdentityRules::max_user_ids`]). A message
//!   that would join two identified people (an `identify` with one's userId and the
//!   other's anonymousId) does not merge them: the refusal is noted on both profiles
//!   ([`crate::profile::IdentityNotes`]) and the message counts for its userId's person. A
//!   login on a device that belongs to someone else starts a profile for the new person;
//!   the device's anonymousId stays with its first owner. An explicit `alias` from a
//!   trusted source may join two userIds (it is a deliberate statement; browsers cannot
//!   send one without proof).
//! - **At most [`MAX_ANONYMOUS_IDS`] anonymousIds resolve to a profile**: the oldest past
//!   that are retired (kept for export and erasure, no longer resolved), so no profile's
//!   lookups or id lists grow without bound.
//! - Internal numbers (`p_12`) resolve only through [`Registry::find`], for the admin;
//!   what callers send is looked up with [`Registry::find_user`] and
//!   [`Registry::find_anonymous`].

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use tailor_core::{Message, MessageType};
use tailor_store::Snapshot;

use crate::error::EngineError;
use crate::profile::catalog::Catalog;
use crate::profile::{IdKind, Profile, ProfileId, identity_key, push_unique};

/// Profiles in memory, the identity index, and what changed since the last checkpoint.
#[derive(Debug, Default)]
pub struct Registry {
    /// Shared so a checkpoint can save a profile while the writer moves on: the writer
    /// copies a profile only if it changes it while a checkpoint still holds it.
    profiles: HashMap<ProfileId, Arc<Profile>>,
    index: HashMap<String, ProfileId>,
    /// Merged-away profile → the profile it went into.
    merged: HashMap<ProfileId, ProfileId>,
    next_id: ProfileId,
    dirty: HashSet<ProfileId>,
    deleted: Vec<ProfileId>,
    index_changes: Vec<(String, ProfileId)>,
    rules: IdentityRules,
}

/// What a checkpoint must write.
#[derive(Debug, Default)]
pub struct Changes {
    pub upsert: Vec<Arc<Profile>>,
    pub delete: Vec<ProfileId>,
    pub identities: Vec<(String, ProfileId)>,
    pub next_id: ProfileId,
}

fn merged_key(id: ProfileId) -> String {
    format!("merged:{id}")
}

/// AnonymousIds that resolve to one profile; older ones are retired.
pub const MAX_ANONYMOUS_IDS: usize = 100;

/// How identities may join.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdentityRules {
    /// Distinct userIds one profile may hold (identify merges beyond this are refused).
    pub max_user_ids: usize,
}

impl Default for IdentityRules {
    fn default() -> Self {
        IdentityRules { max_user_ids: 1 }
    }
}

impl Registry {
    pub fn new() -> Self {
        Self {
            next_id: 1,
            ..Default::default()
        }
    }

    /// An empty registry applying `rules`.
    pub fn with_rules(rules: IdentityRules) -> Self {
        Self {
            rules,
            ..Self::new()
        }
    }

    /// Rebuilds the registry from a checkpoint.
    pub fn restore(snapshot: Snapshot, next_id: ProfileId) -> Result<Self, EngineError> {
        let mut r = Registry::new();
        let mut retired = HashSet::new();
        for row in snapshot.profiles {
            let p: Profile = crate::profile::codec::decode(&row.state)
                .map_err(|e| EngineError::Corrupt(format!("profile {}: {e}", row.id)))?;
            r.next_id = r.next_id.max(p.id + 1);
            retired.extend(
                p.identity
                    .retired_ids
                    .iter()
                    .map(|a| (identity_key(IdKind::Anonymous, a), p.id)),
            );
            r.profiles.insert(row.id, Arc::new(p));
        }
        for (key, id) in snapshot.identities {
            // A retired anonymousId's row may still name its old profile: it stays retired.
            if retired.contains(&(key.clone(), id)) {
                continue;
            }
            if let Some(old) = key
                .strip_prefix("merged:")
                .and_then(|s| s.parse::<ProfileId>().ok())
            {
                r.merged.insert(old, id);
                r.next_id = r.next_id.max(old + 1);
            }
            r.index.insert(key, id);
        }
        r.next_id = r.next_id.max(next_id);
        Ok(r)
    }

    /// Every live profile (journeys scan them for date traits).
    pub fn profiles(&self) -> impl Iterator<Item = &Arc<Profile>> {
        self.profiles.values()
    }

    /// Every profile in id order (ids are given in log order): the same order in every
    /// process, where a hash map's differs, for results that must not depend on it — the
    /// trainer's examples, neighbours and sums.
    pub fn profiles_in_order(&self) -> impl Iterator<Item = &Arc<Profile>> {
        let mut all: Vec<(&ProfileId, &Arc<Profile>)> = self.profiles.iter().collect();
        all.sort_unstable_by_key(|(id, _)| **id);
        all.into_iter().map(|(_, p)| p)
    }

    pub fn len(&self) -> usize {
        self.profiles.len()
    }

    pub fn is_empty(&self) -> bool {
        self.profiles.is_empty()
    }

    /// Follows merges to the live profile.
    fn live(&self, mut id: ProfileId) -> ProfileId {
        while let Some(&next) = self.merged.get(&id) {
            id = next;
        }
        id
    }

    /// A live profile by internal id.
    pub fn get(&self, id: ProfileId) -> Option<&Profile> {
        self.profiles.get(&id).map(Arc::as_ref)
    }

    /// Finds a profile by internal id (`p_12`), userId or anonymousId, in that order.
    pub fn find(&self, id: &str) -> Option<&Arc<Profile>> {
        if let Some(n) = id
            .strip_prefix("p_")
            .and_then(|n| n.parse::<ProfileId>().ok())
            && let Some(p) = self.profiles.get(&self.live(n))
        {
            return Some(p);
        }
        [IdKind::User, IdKind::Anonymous]
            .into_iter()
            .find_map(|k| self.index.get(&identity_key(k, id)))
            .and_then(|&pid| self.profiles.get(&self.live(pid)))
    }

    /// The profile a caller's userId names (never an internal number).
    pub fn find_user(&self, user_id: &str) -> Option<&Arc<Profile>> {
        self.find_live_key(&identity_key(IdKind::User, user_id))
    }

    /// The profile a caller's anonymousId names (never an internal number).
    pub fn find_anonymous(&self, anonymous_id: &str) -> Option<&Arc<Profile>> {
        self.find_live_key(&identity_key(IdKind::Anonymous, anonymous_id))
    }

    fn find_live_key(&self, key: &str) -> Option<&Arc<Profile>> {
        let id = *self.index.get(key)?;
        self.profiles.get(&self.live(id))
    }

    /// The live profile an identity key (`user:…`, `anon:…`) belongs to.
    pub fn find_key(&self, key: &str) -> Option<&Profile> {
        let id = *self.index.get(key)?;
        self.profiles.get(&self.live(id)).map(Arc::as_ref)
    }

    /// Resolves the message's person under the identity rules (merging the profiles it
    /// links where they allow) and folds it in.
    pub fn apply(&mut self, m: &Message, catalog: &Catalog) -> ProfileId {
        let user = m.user_id.as_deref().map(|u| identity_key(IdKind::User, u));
        let anon = m
            .anonymous_id
            .as_deref()
            .map(|a| identity_key(IdKind::Anonymous, a));
        // alias: previousId may be an earlier userId or an anonymousId.
        let alias = m.kind == MessageType::Alias;
        let previous = m.previous_id.as_deref().filter(|_| alias).map(|prev| {
            let as_user = identity_key(IdKind::User, prev);
            if self.index.contains_key(&as_user) {
                (IdKind::User, as_user)
            } else {
                (IdKind::Anonymous, identity_key(IdKind::Anonymous, prev))
            }
        });
        let owner = |k: &Option<String>| {
            k.as_ref()
                .and_then(|k| self.index.get(k))
                .map(|&id| self.live(id))
        };
        let user_owner = owner(&user);
        let previous_owner = owner(&previous.as_ref().map(|(_, k)| k.clone()));
        let anon_owner = owner(&anon);

        // The profiles this message is about, the strongest claim first: its userId's, the
        // earlier identity an alias names, its anonymousId's. Each joins the group if the
        // rules allow; a new userId joins only a group that can take it.
        let mut group: Vec<ProfileId> = Vec::with_capacity(3);
        let mut refused: Vec<ProfileId> = Vec::new();
        let limit = if alias {
            usize::MAX
        } else {
            self.rules.max_user_ids
        };
        let mut user_ids: HashSet<&str> = HashSet::new();
        if let (Some(u), None) = (m.user_id.as_deref(), user_owner) {
            user_ids.insert(u);
        }
        for candidate in [user_owner, previous_owner, anon_owner]
            .into_iter()
            .flatten()
        {
            if group.contains(&candidate) || refused.contains(&candidate) {
                continue;
            }
            let theirs = self
                .profiles
                .get(&candidate)
                .map_or(&[][..], |p| &p.user_ids[..]);
            let together = user_ids
                .iter()
                .copied()
                .chain(theirs.iter().map(String::as_str))
                .collect::<HashSet<&str>>()
                .len();
            // Within the limit, or nothing new: one side already holds every userId (a
            // profile an alias gave two userIds is still one person).
            if together <= limit.max(1) || together == user_ids.len().max(theirs.len()) {
                user_ids.extend(theirs.iter().map(String::as_str));
                group.push(candidate);
            } else {
                refused.push(candidate);
            }
        }
        let survivor = match group.iter().min() {
            Some(&id) => id,
            None => {
                let id = self.next_id;
                self.next_id += 1;
                self.profiles.insert(id, Arc::new(Profile::new(id)));
                id
            }
        };
        for &other in group.iter().filter(|&&id| id != survivor) {
            self.merge_into(survivor, other);
        }
        for &other in &refused {
            self.note_refusal(survivor, other, m.timestamp);
        }
        // The message's ids that nobody else holds now belong to the survivor.
        let mut claimed: Vec<(IdKind, &str, String)> = Vec::with_capacity(3);
        if let (Some(u), Some(k)) = (m.user_id.as_deref(), user) {
            claimed.push((IdKind::User, u, k));
        }
        if let (Some(prev), Some((kind, k))) = (m.previous_id.as_deref(), previous) {
            claimed.push((kind, prev, k));
        }
        if let (Some(a), Some(k)) = (m.anonymous_id.as_deref(), anon) {
            claimed.push((IdKind::Anonymous, a, k));
        }
        let mut added: Vec<(IdKind, &str)> = Vec::new();
        for (kind, id, key) in claimed {
            match self.index.get(&key).map(|&p| self.live(p)) {
                Some(p) if p == survivor => added.push((kind, id)),
                Some(_) => {}
                None => {
                    self.index.insert(key.clone(), survivor);
                    self.index_changes.push((key, survivor));
                    added.push((kind, id));
                }
            }
        }
        let profile = Arc::make_mut(self.profiles.get_mut(&survivor).expect("survivor is live"));
        for (kind, id) in added {
            match kind {
                IdKind::User => push_unique(&mut profile.user_ids, id),
                IdKind::Anonymous => push_unique(&mut profile.anonymous_ids, id),
            }
        }
        profile.apply(m, catalog);
        self.retire_old_anonymous_ids(survivor);
        self.dirty.insert(survivor);
        survivor
    }

    /// Notes on both profiles that a message linked them and the rules refused it.
    fn note_refusal(&mut self, a: ProfileId, b: ProfileId, at: tailor_core::Millis) {
        for (this, other) in [(a, b), (b, a)] {
            if let Some(p) = self.profiles.get_mut(&this) {
                Arc::make_mut(p).identity.refused(other, at);
                self.dirty.insert(this);
            }
        }
        metrics::counter!("tailor_identity_merges_refused_total").increment(1);
        tracing::debug!(a, b, "identity rules refused a merge");
    }

    /// Retires the profile's oldest anonymousIds past [`MAX_ANONYMOUS_IDS`].
    fn retire_old_anonymous_ids(&mut self, id: ProfileId) {
        let Some(p) = self.profiles.get_mut(&id) else {
            return;
        };
        let excess = p.anonymous_ids.len().saturating_sub(MAX_ANONYMOUS_IDS);
        if excess == 0 {
            return;
        }
        let p = Arc::make_mut(p);
        let retired: Vec<String> = p.anonymous_ids.drain(..excess).collect();
        for a in retired {
            self.index.remove(&identity_key(IdKind::Anonymous, &a));
            push_unique(&mut p.identity.retired_ids, &a);
        }
    }

    fn merge_into(&mut self, survivor: ProfileId, other: ProfileId) {
        let Some(gone) = self.profiles.remove(&other) else {
            return;
        };
        // Their retired ids stay retired (not indexed) in the survivor.
        for key in gone.identity_keys() {
            self.index.insert(key.clone(), survivor);
            self.index_changes.push((key, survivor));
        }
        self.index.insert(merged_key(other), survivor);
        self.index_changes.push((merged_key(other), survivor));
        self.merged.insert(other, survivor);
        if let Some(p) = self.profiles.get_mut(&survivor) {
            Arc::make_mut(p).merge(&gone);
        }
        self.dirty.remove(&other);
        self.deleted.push(other);
        self.retire_old_anonymous_ids(survivor);
        tracing::debug!(survivor, merged = other, "merged profiles");
    }

    /// The person behind `id` (erasure, export): every profile id they had (the live one and
    /// those merged into it) and their raw userIds and anonymousIds.
    pub fn person(&self, id: &str) -> Option<(Vec<ProfileId>, Vec<String>)> {
        let profile = self.find(id)?;
        let live = profile.id;
        let mut ids: Vec<ProfileId> = self
            .merged
            .keys()
            .copied()
            .filter(|&m| self.live(m) == live)
            .collect();
        ids.push(live);
        ids.sort_unstable();
        let raw = profile.id_list();
        Some((ids, raw))
    }

    /// People whose latest event is older than `cutoff` (retention), at most `limit`, each as
    /// [`Registry::person`] gives them. Walks the merge map once for the whole batch.
    pub fn inactive_before(
        &self,
        cutoff: tailor_core::Millis,
        limit: usize,
    ) -> Vec<(Vec<ProfileId>, Vec<String>)> {
        let mut picked: HashMap<ProfileId, (Vec<ProfileId>, Vec<String>)> = self
            .profiles
            .values()
            .filter(|p| p.last_seen < cutoff)
            .take(limit)
            .map(|p| (p.id, (vec![p.id], p.id_list())))
            .collect();
        if picked.is_empty() {
            return Vec::new();
        }
        for &old in self.merged.keys() {
            if let Some((ids, _)) = picked.get_mut(&self.live(old)) {
                ids.push(old);
            }
        }
        picked
            .into_values()
            .map(|(mut ids, raw)| {
                ids.sort_unstable();
                (ids, raw)
            })
            .collect()
    }

    /// Removes the profiles `ids` of one person (erasure; the caller has erased their rows
    /// from the store) and every index entry pointing at them, including pending
    /// checkpoint changes. The next checkpoint deletes their rows again, idempotently.
    /// Forgets the profiles `ids`; how many were held.
    pub fn remove(&mut self, ids: &[ProfileId]) -> usize {
        let theirs: HashSet<ProfileId> = ids.iter().copied().collect();
        let held = self.profiles.len();
        self.profiles.retain(|p, _| !theirs.contains(p));
        let held = held - self.profiles.len();
        self.merged.retain(|m, _| !theirs.contains(m));
        self.index.retain(|_, p| !theirs.contains(p));
        self.index_changes.retain(|(_, p)| !theirs.contains(p));
        self.dirty.retain(|p| !theirs.contains(p));
        self.deleted.retain(|p| !theirs.contains(p));
        self.deleted.extend(ids);
        held
    }

    /// Takes what changed since the last call, for a checkpoint.
    pub fn take_changes(&mut self) -> Changes {
        let upsert = self
            .dirty
            .drain()
            .filter_map(|id| self.profiles.get(&id).cloned())
            .collect();
        Changes {
            upsert,
            delete: std::mem::take(&mut self.deleted),
            identities: std::mem::take(&mut self.index_changes),
            next_id: self.next_id,
        }
    }

    /// Puts back changes whose checkpoint failed, so the next one writes them.
    pub fn requeue(&mut self, changes: Changes) {
        self.dirty.extend(
            changes
                .upsert
                .iter()
                .map(|p| p.id)
                .filter(|id| self.profiles.contains_key(id)),
        );
        self.deleted.extend(changes.delete);
        let newer = std::mem::replace(&mut self.index_changes, changes.identities);
        self.index_changes.extend(newer);
    }

    pub fn has_changes(&self) -> bool {
        !self.dirty.is_empty() || !self.deleted.is_empty() || !self.index_changes.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};
    use tailor_core::message::{Envelope, parse_message};

    use super::*;
    use crate::profile::ProfileView;

    fn msg(v: Value) -> Message {
        parse_message(
            v,
            None,
            &Envelope {
                received_at: 0,
                ..Default::default()
            },
            || "id".into(),
        )
        .unwrap()
    }

    fn journey() -> Vec<Message> {
        vec![
            msg(
                json!({"type": "track", "anonymousId": "a1", "event": "Product Viewed",
                "properties": {"product_id": "p1", "category": "Shoes/Running", "price": 50}, "timestamp": "2026-01-01T10:00:00Z"}),
            ),
            msg(
                json!({"type": "track", "anonymousId": "a1", "event": "Product Added",
                "properties": {"product_id": "p1", "category": "Shoes/Running", "price": 50}, "timestamp": "2026-01-01T10:01:00Z"}),
            ),
            msg(
                json!({"type": "identify", "anonymousId": "a1", "userId": "u1", "traits": {"email": "x@y.z"},
                "timestamp": "2026-01-01T10:02:00Z"}),
            ),
            msg(
                json!({"type": "track", "userId": "u1", "event": "Order Completed",
                "properties": {"total": 50, "products": [{"product_id": "p1", "price": 50}]}, "timestamp": "2026-01-01T10:03:00Z"}),
            ),
            msg(
                json!({"type": "track", "anonymousId": "a2", "event": "Product Viewed",
                "properties": {"product_id": "p2", "category": "Bags/Backpacks", "price": 30}, "timestamp": "2026-01-02T09:00:00Z"}),
            ),
            msg(
                json!({"type": "alias", "previousId": "a2", "userId": "u1", "timestamp": "2026-01-02T09:01:00Z"}),
            ),
        ]
    }

    fn comparable(v: ProfileView) -> Value {
        let mut v = serde_json::to_value(v).unwrap();
        v.as_object_mut().unwrap().remove("id");
        for k in ["userIds", "anonymousIds"] {
            v[k].as_array_mut().unwrap().sort_by_key(|x| x.to_string());
        }
        v
    }

    #[test]
    fn merges_identities_into_one_profile() {
        let mut r = Registry::new();
        for m in journey() {
            r.apply(&m, &Catalog::default());
        }
        assert_eq!(r.len(), 1);
        let p = r.find("u1").unwrap();
        assert_eq!(p.orders.count, 1);
        assert_eq!(p.events, 6);
        assert!(Arc::ptr_eq(p, r.find("a2").unwrap()));
        assert!(Arc::ptr_eq(p, r.find("a1").unwrap()));
        assert!(Arc::ptr_eq(p, r.find(&format!("p_{}", p.id)).unwrap()));
    }

    #[test]
    fn merge_result_does_not_depend_on_arrival_order() {
        let events = journey();
        let now = tailor_core::time::parse_timestamp("2026-01-10T00:00:00Z").unwrap();
        let mut forward = Registry::new();
        for m in &events {
            forward.apply(m, &Catalog::default());
        }
        let expected = comparable(forward.find("u1").unwrap().view(now));
        // Every rotation and the reverse order reach the same profile.
        let mut orders: Vec<Vec<Message>> = (1..events.len())
            .map(|k| {
                let mut v = events.clone();
                v.rotate_left(k);
                v
            })
            .collect();
        orders.push(events.iter().rev().cloned().collect());
        for order in orders {
            let mut r = Registry::new();
            for m in &order {
                r.apply(m, &Catalog::default());
            }
            assert_eq!(r.len(), 1);
            assert_eq!(comparable(r.find("u1").unwrap().view(now)), expected);
        }
    }

    #[test]
    fn old_ids_resolve_after_merge_and_restore() {
        let mut r = Registry::new();
        let a = r.apply(
            &msg(json!({"type": "page", "anonymousId": "a"})),
            &Catalog::default(),
        );
        let u = r.apply(
            &msg(json!({"type": "page", "userId": "u"})),
            &Catalog::default(),
        );
        assert_ne!(a, u);
        r.apply(
            &msg(json!({"type": "identify", "userId": "u", "anonymousId": "a"})),
            &Catalog::default(),
        );
        assert_eq!(r.len(), 1);
        assert_eq!(r.find(&format!("p_{u}")).unwrap().id, a);
        let changes = r.take_changes();
        assert_eq!(changes.delete, vec![u]);
        let profiles = changes
            .upsert
            .iter()
            .map(|p| tailor_store::ProfileRow {
                id: p.id,
                state: crate::profile::codec::encode(p.as_ref()).unwrap(),
            })
            .collect();
        let snapshot = Snapshot {
            seq: 3,
            profiles,
            identities: changes.identities,
            meta: vec![],
        };
        let back = Registry::restore(snapshot, changes.next_id).unwrap();
        assert_eq!(back.find(&format!("p_{u}")).unwrap().id, a);
        assert_eq!(back.find("u").unwrap().events, 3);
        assert_eq!(back.next_id, 3);
    }

    #[test]
    fn two_identified_people_are_never_merged() {
        let mut r = Registry::new();
        let c = Catalog::default();
        let ann = r.apply(
            &msg(json!({"type": "identify", "userId": "ann", "anonymousId": "ann-laptop"})),
            &c,
        );
        let bob = r.apply(
            &msg(json!({"type": "identify", "userId": "bob", "anonymousId": "bob-phone"})),
            &c,
        );
        // Someone claims ann's userId from bob's device: no merge.
        let to = r.apply(
            &msg(
                json!({"type": "identify", "userId": "ann", "anonymousId": "bob-phone",
            "timestamp": "2026-01-01T00:00:00Z"}),
            ),
            &c,
        );
        assert_eq!(to, ann, "the message counts for its userId's person");
        assert_eq!(r.len(), 2);
        assert_eq!(
            r.find_anonymous("bob-phone").unwrap().id,
            bob,
            "the device stays with bob"
        );
        assert_eq!(
            r.find_user("ann").unwrap().anonymous_ids,
            vec!["ann-laptop"]
        );
        for (who, other) in [(ann, bob), (bob, ann)] {
            let notes = &r.get(who).unwrap().identity;
            assert_eq!(notes.conflicts.len(), 1);
            assert_eq!(notes.conflicts[0].with, other);
        }
    }

    #[test]
    fn a_login_on_someone_elses_device_starts_a_profile_for_the_new_person() {
        let mut r = Registry::new();
        let c = Catalog::default();
        let ann = r.apply(
            &msg(json!({"type": "identify", "userId": "ann", "anonymousId": "family-pc"})),
            &c,
        );
        let carl = r.apply(
            &msg(json!({"type": "identify", "userId": "carl", "anonymousId": "family-pc"})),
            &c,
        );
        assert_ne!(ann, carl);
        assert_eq!(r.find_user("carl").unwrap().user_ids, vec!["carl"]);
        assert!(r.find_user("carl").unwrap().anonymous_ids.is_empty());
        assert_eq!(r.find_anonymous("family-pc").unwrap().id, ann);
        // An anonymous visitor becoming a known one still merges.
        let guest = r.apply(
            &msg(json!({"type": "page", "anonymousId": "new-tablet"})),
            &c,
        );
        let dora = r.apply(
            &msg(json!({"type": "identify", "userId": "dora", "anonymousId": "new-tablet"})),
            &c,
        );
        assert_eq!(guest, dora);
        assert_eq!(
            r.find_user("dora").unwrap().anonymous_ids,
            vec!["new-tablet"]
        );
    }

    #[test]
    fn an_alias_may_join_two_user_ids() {
        let mut r = Registry::new();
        let c = Catalog::default();
        let old = r.apply(&msg(json!({"type": "identify", "userId": "old-id"})), &c);
        r.apply(&msg(json!({"type": "identify", "userId": "new-id"})), &c);
        r.apply(
            &msg(json!({"type": "alias", "userId": "new-id", "previousId": "old-id"})),
            &c,
        );
        assert_eq!(r.len(), 1);
        assert_eq!(r.find_user("new-id").unwrap().id, old);
    }

    #[test]
    fn old_anonymous_ids_retire_but_stay_erasable() {
        let mut r = Registry::new();
        let c = Catalog::default();
        for i in 0..MAX_ANONYMOUS_IDS + 5 {
            r.apply(
                &msg(json!({"type": "identify", "userId": "ann", "anonymousId": format!("a{i}")})),
                &c,
            );
        }
        let ann = r.find_user("ann").unwrap().clone();
        assert_eq!(ann.anonymous_ids.len(), MAX_ANONYMOUS_IDS);
        assert_eq!(ann.identity.retired_ids, vec!["a0", "a1", "a2", "a3", "a4"]);
        assert!(
            r.find_anonymous("a0").is_none(),
            "a retired id no longer resolves"
        );
        assert!(r.find_anonymous("a5").is_some());
        assert!(
            ann.id_list().contains(&"a0".to_string()),
            "erasure still reaches it"
        );
        assert!(r.person("ann").unwrap().1.contains(&"a0".to_string()));
        // After a checkpoint, it stays retired.
        let changes = r.take_changes();
        let profiles = changes
            .upsert
            .iter()
            .map(|p| tailor_store::ProfileRow {
                id: p.id,
                state: crate::profile::codec::encode(p).unwrap(),
            })
            .collect();
        let back = Registry::restore(
            Snapshot {
                seq: 1,
                profiles,
                identities: changes.identities,
                meta: vec![],
            },
            changes.next_id,
        )
        .unwrap();
        assert!(back.find_anonymous("a0").is_none());
        assert_eq!(back.find_anonymous("a104").unwrap().id, ann.id);
        // A browser that comes back with a retired id starts fresh.
        let mut back = back;
        let fresh = back.apply(&msg(json!({"type": "page", "anonymousId": "a0"})), &c);
        assert_ne!(fresh, ann.id);
    }

    #[test]
    fn internal_numbers_resolve_only_for_the_admin() {
        let mut r = Registry::new();
        let id = r.apply(
            &msg(json!({"type": "page", "anonymousId": "a"})),
            &Catalog::default(),
        );
        let internal = format!("p_{id}");
        assert!(r.find(&internal).is_some());
        assert!(r.find_user(&internal).is_none());
        assert!(r.find_anonymous(&internal).is_none());
    }
}
