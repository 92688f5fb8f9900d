//! Erasure of one person and the suppression records that keep an erased person erased;
//! how a stored event looks in an export (the export document itself: `export`).
//!
//! **Erasure** (`ingest::erase`, run on the writer thread so no event or checkpoint
//! interleaves): the pending decision log is flushed; the person's ids are suppressed; their
//! events, profiles, identities, decisions and rewards are deleted from the store; what the
//! store-wide product statistics and the session model learned from their events is taken
//! back (`Recs::forget`, then the model is retrained without their views); attribution
//! memory forgets them; a checkpoint writes the state without them; the write-ahead logs are
//! truncated (`Store::purge`), so no old page image keeps a copy; an audit entry records the
//! counts, without any id.
//!
//! **Audiences.** An ad platform was given the person's hashed email and phone with each
//! audience `add`; erasure (and expiry, which takes the same path) ends every membership
//! with a `remove` in that audience's change stream, so the next sync drops them there too.
//! The remove names no one: it keeps only those SHA-256 match keys, nothing else of theirs.
//!
//! **Suppression.** Each erased userId and anonymousId is kept only as
//! `sha256(salt ‖ 0x00 ‖ id)`, hex, with a random salt made once per data directory (meta
//! `suppression_salt`), so the record proves nothing to someone reading the files without
//! the salt and cannot be reversed by hashing a list of e-mail addresses. Events naming a
//! suppressed id are refused (`suppressed` in the ingest reply), and decisions for one are
//! answered but logged without the id, so a late event from an old browser tab cannot
//! silently re-create the person. `DELETE /v1/suppressions/{id}` lifts it (for someone who
//! comes back and consents again).

use std::collections::HashSet;

use parking_lot::RwLock;
use serde::Serialize;
use sha2::{Digest, Sha256};
use tailor_core::Message;
use tailor_store::Store;

use crate::error::EngineError;

const SALT_META: &str = "suppression_salt";

/// The salted hashes of erased ids.
pub struct Suppression {
    salt: String,
    hashes: RwLock<HashSet<String>>,
    /// Held (read) by a journey write from its suppression check to its store write;
    /// [`Suppression::add`] takes it (write) once the ids are suppressed, so no run or
    /// message checked before the suppression lands after the erasure deleted their rows.
    gate: RwLock<()>,
}

impl Suppression {
    /// Loads the records, creating the salt on first use.
    pub fn load(store: &dyn Store) -> Result<Self, EngineError> {
        let salt = crate::govern::keys::stored_secret(store, SALT_META)?;
        let hashes = store.suppressed()?.into_iter().collect();
        Ok(Self {
            salt,
            hashes: RwLock::new(hashes),
            gate: RwLock::new(()),
        })
    }

    fn hash(&self, id: &str) -> String {
        let mut h = Sha256::new();
        h.update(self.salt.as_bytes());
        h.update([0]);
        h.update(id.as_bytes());
        crate::govern::keys::hex(&h.finalize())
    }

    /// Whether `id` was erased (and not lifted). Free while nobody was erased.
    pub fn blocks_id(&self, id: &str) -> bool {
        let hashes = self.hashes.read();
        !hashes.is_empty() && hashes.contains(&self.hash(id))
    }

    /// Whether a message names an erased id.
    pub fn blocks(&self, m: &Message) -> bool {
        if self.hashes.read().is_empty() {
            return false;
        }
        [&m.user_id, &m.anonymous_id, &m.previous_id]
            .into_iter()
            .flatten()
            .any(|id| self.blocks_id(id))
    }

    /// Suppresses `ids` durably, then in memory.
    pub fn add(&self, store: &dyn Store, ids: &[String]) -> Result<(), EngineError> {
        let hashes: Vec<String> = ids.iter().map(|id| self.hash(id)).collect();
        store.suppress(&hashes)?;
        self.hashes.write().extend(hashes);
        // Journey writes checked before the suppression finish before this returns (and
        // before the caller deletes their rows); later ones drop every row naming them.
        drop(self.gate.write());
        Ok(())
    }

    /// Held by a journey write from its suppression check to its store write (see `gate`).
    pub fn hold_for_write(&self) -> parking_lot::RwLockReadGuard<'_, ()> {
        self.gate.read()
    }

    /// Lifts the suppression of `id`; whether there was one.
    pub fn lift(&self, store: &dyn Store, id: &str) -> Result<bool, EngineError> {
        let hash = self.hash(id);
        let removed = store.unsuppress(std::slice::from_ref(&hash))? > 0;
        self.hashes.write().remove(&hash);
        Ok(removed)
    }
}

/// What one erasure removed.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct ErasureReport {
    pub profiles: u64,
    pub identities: u64,
    pub events: u64,
    pub decisions: u64,
    /// userIds and anonymousIds now suppressed.
    pub suppressed_ids: u64,
    /// Ad audience memberships ended by a `remove` in the audience's change stream. That
    /// remove names no one: it keeps only the SHA-256 match keys of the email and phone
    /// (what an ad platform needs to drop them), as suppression keeps only hashed ids.
    pub audience_removals: u64,
}

/// A stored event as the API shows it: the message with its log position, times as RFC 3339.
pub fn event_json(e: &tailor_store::StoredEvent) -> serde_json::Value {
    use serde_json::{Value, json};
    use tailor_core::time::format_timestamp;
    let mut v = json!(e.message);
    v["seq"] = json!(e.seq);
    for k in ["timestamp", "receivedAt", "sentAt", "originalTimestamp"] {
        if let Some(ms) = v.get(k).and_then(Value::as_i64) {
            v[k] = json!(format_timestamp(ms));
        }
    }
    v
}
