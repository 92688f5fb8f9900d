//! The identity graph and the profiles it points to.
//!
//! Every message names a person by `userId`, `anonymousId` or (alias) `previousId`. The
//! registry finds the profiles those ids already belong to; when a message links ids of
//! two profiles, the younger profile is merged into the older one, which keeps every
//! identity and all history. The merged-away id stays resolvable. Because profiles are
//! made of mergeable aggregates, the result does not depend on the order messages arrive in.

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

impl Registry {
    pub fn new() -> Self {
        Self {
            next_id: 1,
            ..Default::default()
        }
    }

    /// Rebuilds the registry from a checkpoint.
    pub fn restore(snapshot: Snapshot, next_id: ProfileId) -> Result<Self, EngineError> {
        let mut r = Registry::new();
        for row in snapshot.profiles {
            let p: Profile = crate::profile::codec::decode(&row.state)
                .map_err(|e| EngineError::Corrupt(format!("profile {}: {e}", row.id)))?;
            r.next_id = r.next_id.max(p.id + 1);
            r.profiles.insert(row.id, Arc::new(p));
        }
        for (key, id) in snapshot.identities {
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

    /// The live profile an identity key (`user:…`, `anon:…`) belongs to.
    pub fn find_key(&self, key: &str) -> Option<&Profile> {
        let id = *self.index.get(key)?;
        self.profiles.get(&self.live(id)).map(Arc::as_ref)
    }

    /// Resolves the message's person (merging profiles it links) and folds it in.
    pub fn apply(&mut self, m: &Message, catalog: &Catalog) -> ProfileId {
        let mut keys: Vec<String> = Vec::with_capacity(3);
        if let Some(u) = &m.user_id {
            keys.push(identity_key(IdKind::User, u));
        }
        if let Some(a) = &m.anonymous_id {
            keys.push(identity_key(IdKind::Anonymous, a));
        }
        // alias: previousId may be an earlier userId or an anonymousId.
        let mut previous_kind = IdKind::Anonymous;
        if let (MessageType::Alias, Some(prev)) = (m.kind, &m.previous_id) {
            let as_user = identity_key(IdKind::User, prev);
            if self.index.contains_key(&as_user) {
                previous_kind = IdKind::User;
                keys.push(as_user);
            } else {
                keys.push(identity_key(IdKind::Anonymous, prev));
            }
        }

        let mut owners: Vec<ProfileId> = keys
            .iter()
            .filter_map(|k| self.index.get(k))
            .map(|&id| self.live(id))
            .collect();
        owners.sort_unstable();
        owners.dedup();
        let survivor = match owners.first() {
            Some(&id) => id,
            None => {
                let id = self.next_id;
                self.next_id += 1;
                self.profiles.insert(id, Arc::new(Profile::new(id)));
                id
            }
        };
        for &other in owners.iter().skip(1) {
            self.merge_into(survivor, other);
        }
        for k in keys {
            if self.index.get(&k) != Some(&survivor) {
                self.index.insert(k.clone(), survivor);
                self.index_changes.push((k, survivor));
            }
        }
        let profile = Arc::make_mut(self.profiles.get_mut(&survivor).expect("survivor is live"));
        if let (MessageType::Alias, Some(prev)) = (m.kind, &m.previous_id) {
            match previous_kind {
                IdKind::User => push_unique(&mut profile.user_ids, prev),
                IdKind::Anonymous => push_unique(&mut profile.anonymous_ids, prev),
            }
        }
        profile.apply(m, catalog);
        self.dirty.insert(survivor);
        survivor
    }

    fn merge_into(&mut self, survivor: ProfileId, other: ProfileId) {
        let Some(gone) = self.profiles.remove(&other) else {
            return;
        };
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
    pub fn remove(&mut self, ids: &[ProfileId]) {
        let theirs: HashSet<ProfileId> = ids.iter().copied().collect();
        self.profiles.retain(|p, _| !theirs.contains(p));
        self.merged.retain(|m, _| !theirs.contains(m));
        self.index.retain(|_, p| !theirs.contains(p));
        self.index_changes.retain(|(_, p)| !theirs.contains(p));
        self.dirty.retain(|p| !theirs.contains(p));
        self.deleted.retain(|p| !theirs.contains(p));
        self.deleted.extend(ids);
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
}
