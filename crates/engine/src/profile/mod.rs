//! A unified customer profile: identities, traits, consent and behavioral features,
//! folded incrementally from events and mergeable when identities join.

pub mod aggregates;
pub mod catalog;
pub mod codec;
mod fold;
pub mod registry;
mod view;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tailor_core::{Millis, Purpose};

pub use aggregates::*;
pub(crate) use fold::{is_browsing, order_lines};
pub use view::{LifecycleStage, Predictions, ProfileView};

pub type ProfileId = tailor_store::ProfileId;

/// How a consent choice was made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConsentChoice {
    pub granted: bool,
    pub source: String,
}

/// Everything Tailor keeps about one person.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    pub id: ProfileId,
    pub user_ids: Vec<String>,
    pub anonymous_ids: Vec<String>,
    #[serde(with = "codec::traits")]
    pub traits: BTreeMap<String, Stamped<Value>>,
    pub consent: BTreeMap<Purpose, Stamped<ConsentChoice>>,
    /// Consent-manager categories that map to no purpose, kept as sent.
    #[serde(default)]
    pub consent_other: BTreeMap<String, Stamped<bool>>,
    pub first_seen: Millis,
    pub last_seen: Millis,
    pub events: u64,
    pub page_views: u64,
    pub product_views: u64,
    pub searches: u64,
    pub checkouts: u64,
    pub last_checkout_at: Option<Millis>,
    pub promotions_viewed: u64,
    pub promotions_clicked: u64,
    pub sessions: Sessions,
    pub categories: Affinity,
    pub brands: Affinity,
    pub price_bands: Affinity,
    /// Recently viewed product ids with the time of the latest view, newest last.
    pub recent_products: Vec<(Box<str>, Millis)>,
    pub cart: Cart,
    pub orders: Orders,
    /// Recently bought product ids, newest last.
    pub purchased: Vec<(Box<str>, Millis)>,
    pub email: EmailEngagement,
    /// Identity bookkeeping (checkpointed after the rest, see `codec`).
    #[serde(skip)]
    pub identity: IdentityNotes,
}

/// What identity resolution noted about a profile beyond its live ids.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IdentityNotes {
    /// AnonymousIds beyond the newest [`registry::MAX_ANONYMOUS_IDS`]: they no longer
    /// resolve to this person (a browser that comes back with one starts fresh), but
    /// export and erasure still reach their events.
    pub retired_ids: Vec<String>,
    /// Merges the identity rules refused (two identified people), newest last.
    pub conflicts: Vec<IdentityConflict>,
}

/// A refused merge: a message linked this profile with another identified one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IdentityConflict {
    /// The other profile's internal number.
    pub with: ProfileId,
    /// When (the message's time).
    pub at: Millis,
}

/// Conflicts kept per profile.
const CONFLICTS_KEPT: usize = 20;

impl IdentityNotes {
    pub fn refused(&mut self, with: ProfileId, at: Millis) {
        if !self.conflicts.iter().any(|c| c.with == with) {
            self.conflicts.push(IdentityConflict { with, at });
        }
        let excess = self.conflicts.len().saturating_sub(CONFLICTS_KEPT);
        self.conflicts.drain(..excess);
    }

    fn merge(&mut self, other: &IdentityNotes) {
        for id in &other.retired_ids {
            push_unique(&mut self.retired_ids, id);
        }
        for c in &other.conflicts {
            self.refused(c.with, c.at);
        }
    }
}

impl Profile {
    pub fn new(id: ProfileId) -> Self {
        Self {
            id,
            first_seen: Millis::MAX,
            ..Default::default()
        }
    }

    /// Every raw id of this person: their userIds, then their anonymousIds.
    pub fn ids(&self) -> impl Iterator<Item = &String> + '_ {
        self.user_ids.iter().chain(&self.anonymous_ids)
    }

    /// [`Profile::ids`], owned.
    /// Every raw id of the person, retired anonymousIds included: what export and erasure
    /// must reach.
    pub fn id_list(&self) -> Vec<String> {
        self.ids()
            .chain(&self.identity.retired_ids)
            .cloned()
            .collect()
    }

    /// Every identity key of this profile, as the identity index spells them.
    pub fn identity_keys(&self) -> impl Iterator<Item = String> + '_ {
        self.user_ids
            .iter()
            .map(|u| identity_key(IdKind::User, u))
            .chain(
                self.anonymous_ids
                    .iter()
                    .map(|a| identity_key(IdKind::Anonymous, a)),
            )
    }

    /// Folds another profile of the same person into this one.
    pub fn merge(&mut self, other: &Profile) {
        for u in &other.user_ids {
            push_unique(&mut self.user_ids, u);
        }
        for a in &other.anonymous_ids {
            push_unique(&mut self.anonymous_ids, a);
        }
        for (k, v) in &other.traits {
            let mut slot = self.traits.remove(k);
            keep_latest(&mut slot, v.clone());
            self.traits
                .insert(k.clone(), slot.expect("keep_latest fills an empty slot"));
        }
        for (k, v) in &other.consent {
            let mut slot = self.consent.remove(k);
            keep_latest(&mut slot, v.clone());
            self.consent
                .insert(*k, slot.expect("keep_latest fills an empty slot"));
        }
        for (k, v) in &other.consent_other {
            let mut slot = self.consent_other.remove(k);
            keep_latest(&mut slot, v.clone());
            self.consent_other
                .insert(k.clone(), slot.expect("keep_latest fills an empty slot"));
        }
        self.first_seen = self.first_seen.min(other.first_seen);
        self.last_seen = self.last_seen.max(other.last_seen);
        self.events += other.events;
        self.page_views += other.page_views;
        self.product_views += other.product_views;
        self.searches += other.searches;
        self.checkouts += other.checkouts;
        self.last_checkout_at = self.last_checkout_at.max(other.last_checkout_at);
        self.promotions_viewed += other.promotions_viewed;
        self.promotions_clicked += other.promotions_clicked;
        self.sessions.merge(&other.sessions);
        self.categories.merge(&other.categories);
        self.brands.merge(&other.brands);
        self.price_bands.merge(&other.price_bands);
        for (p, t) in &other.recent_products {
            remember(&mut self.recent_products, p, *t, fold::RECENT_PRODUCTS);
        }
        self.cart.merge(&other.cart);
        self.orders.merge(&other.orders);
        for (p, t) in &other.purchased {
            remember(&mut self.purchased, p, *t, fold::RECENT_PRODUCTS);
        }
        self.email.merge(&other.email);
        self.identity.merge(&other.identity);
    }

    /// Whether the person granted `purpose`; `None` when they never said.
    pub fn consent_to(&self, purpose: Purpose) -> Option<bool> {
        self.consent.get(&purpose).map(|c| c.value.granted)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdKind {
    User,
    Anonymous,
}

/// The identity index key: ids of different kinds never collide.
pub fn identity_key(kind: IdKind, id: &str) -> String {
    match kind {
        IdKind::User => format!("user:{id}"),
        IdKind::Anonymous => format!("anon:{id}"),
    }
}

pub(crate) fn push_unique(v: &mut Vec<String>, s: &str) {
    if !v.iter().any(|x| x == s) {
        aggregates::push_exact(v, s.to_string());
    }
}

/// Records `id` seen at `at` in a newest-last list capped at `cap`, one entry per id.
pub(crate) fn remember(list: &mut Vec<(Box<str>, Millis)>, id: &str, at: Millis, cap: usize) {
    if let Some(i) = list.iter().position(|(p, _)| **p == *id) {
        if list[i].1 >= at {
            return;
        }
        list.remove(i);
    }
    let pos = list.partition_point(|(_, t)| *t <= at);
    list.reserve_exact(1);
    list.insert(pos, (id.into(), at));
    if list.len() > cap {
        list.remove(0);
    }
}
