//! Erasure and export of one person, and the suppression records that keep an erased
//! person erased.
//!
//! **Erasure** (`Engine::erase`, run on the writer thread so no event or checkpoint
//! interleaves): the pending decision log is flushed; the person's ids are suppressed; their
//! events, profiles, identities, decisions and rewards are deleted from the store; what the
//! store-wide product statistics and the session model learned from their events is taken
//! back (`Recs::forget`, then the model is retrained without their views); attribution
//! memory forgets them; a checkpoint writes the state without them; the write-ahead logs are
//! truncated (`Store::purge`), so no old page image keeps a copy; an audit entry records the
//! counts, without any id.
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
}

impl Suppression {
    /// Loads the records, creating the salt on first use.
    pub fn load(store: &dyn Store) -> Result<Self, EngineError> {
        let salt = crate::keys::stored_secret(store, SALT_META)?;
        let hashes = store.suppressed()?.into_iter().collect();
        Ok(Self {
            salt,
            hashes: RwLock::new(hashes),
        })
    }

    fn hash(&self, id: &str) -> String {
        let mut h = Sha256::new();
        h.update(self.salt.as_bytes());
        h.update([0]);
        h.update(id.as_bytes());
        crate::keys::hex(&h.finalize())
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
        Ok(())
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
}

/// What the export document holds besides the profile view.
pub struct ExportParts<'a> {
    pub events: &'a [tailor_store::StoredEvent],
    pub decisions: &'a [tailor_store::DecisionRecord],
    /// Experiment assignments (first exposures) under any of their ids.
    pub exposures: &'a [tailor_store::Exposure],
    /// Journeys they are or were in, as `Engine::journey_runs` shows them.
    pub journeys: Vec<crate::journeys::RunView>,
    /// Journey messages for them, whatever their status (queued, sent, skipped, dead).
    pub messages: &'a [tailor_store::OutboxItem],
}

/// The export document (`GET /v1/profiles/{id}/export`; format version 1, documented in the
/// README): the profile as Tailor sees it (identities, traits, consent, features, lifecycle
/// stage), the consent history, every stored event, every logged decision shown to them, their
/// experiment assignments, their journeys and every journey message for them.
pub fn export_document(
    profile: crate::profile::ProfileView,
    parts: ExportParts<'_>,
    now: tailor_core::Millis,
) -> ExportDocument {
    use serde_json::Value;
    use tailor_core::time::format_timestamp;
    let consent_history = crate::consent::ledger(parts.events);
    // What the models say about them now (`null` before a model version is trained).
    let predictions = profile.predictions.clone();
    let decisions = parts
        .decisions
        .iter()
        .map(|d| ExportedDecision {
            decision_id: d.id.clone(),
            at: format_timestamp(d.at),
            personalized: d.personalized,
            shown: d.shown.clone(),
            logged: serde_json::from_str::<Value>(&d.body).unwrap_or(Value::Null),
        })
        .collect();
    let experiment_assignments = parts
        .exposures
        .iter()
        .map(|e| Assignment {
            experiment: e.experiment.clone(),
            id: e.id.clone(),
            variation: e.variation,
            first_exposed_at: format_timestamp(e.at),
        })
        .collect();
    ExportDocument {
        format: "tailor-export/1",
        exported_at: format_timestamp(now),
        profile,
        consent_history,
        events: parts.events.iter().map(event_json).collect(),
        decisions,
        predictions,
        experiment_assignments,
        journeys: parts.journeys,
        messages_sent: parts
            .messages
            .iter()
            .map(crate::journeys::outbox_json)
            .collect(),
    }
}

/// Everything Tailor keeps about one person (see [`export_document`]).
#[derive(Debug, Clone, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ExportDocument {
    /// `tailor-export/1`.
    pub format: &'static str,
    pub exported_at: String,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub profile: crate::profile::ProfileView,
    pub consent_history: Vec<crate::consent::LedgerEntry>,
    /// Every stored event (see [`event_json`]).
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>))]
    pub events: Vec<serde_json::Value>,
    pub decisions: Vec<ExportedDecision>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub predictions: Option<crate::predictions::Predictions>,
    pub experiment_assignments: Vec<Assignment>,
    pub journeys: Vec<crate::journeys::RunView>,
    pub messages_sent: Vec<crate::journeys::OutboxMessage>,
}

/// A logged decision shown to the person.
#[derive(Debug, Clone, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ExportedDecision {
    pub decision_id: String,
    pub at: String,
    pub personalized: bool,
    pub shown: Vec<String>,
    /// The decision log's record: placements, explanations, context.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub logged: serde_json::Value,
}

/// An experiment assignment (first exposure).
#[derive(Debug, Clone, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Assignment {
    pub experiment: String,
    pub id: String,
    pub variation: u32,
    pub first_exposed_at: String,
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
