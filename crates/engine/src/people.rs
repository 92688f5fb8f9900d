//! One person: their profile as seen now (with predictions when asked), their events, what
//! they may be used for and their consent ledger, the export document, and the audit trail
//! of who read them. Lookups take any of their ids (userId, anonymousId, internal `p_N`).

use std::collections::BTreeMap;
use std::sync::Arc;

use tailor_core::preferences::{self, Preferences};
use tailor_core::{Clock, Millis, Purpose};
use tailor_store::{AuditEntry, Store, StoredEvent};

use crate::error::EngineError;
use crate::export::{self, ExportDocument, ExportParts};
use crate::govern::consent::{self, Consent, Permission};
use crate::govern::privacy::Suppression;
use crate::govern::tokens::ProfileTokens;
use crate::ingest::trust::{Origin, UserProof};
use crate::journeys::JourneyParts;
use crate::learn::predictions::{PredictionService, Predictions};
use crate::live::Live;
use crate::measure::decision_log::DecisionLog;
use crate::profile::ProfileView;

/// Reads about one person, and the privacy requests about them.
pub(crate) struct People {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub live: Arc<Live>,
    pub predictions: Arc<PredictionService>,
    pub consent: Arc<Consent>,
    pub suppression: Arc<Suppression>,
    pub decisions: Arc<DecisionLog>,
    pub journeys: Arc<JourneyParts>,
    pub tokens: Arc<ProfileTokens>,
}

impl People {
    /// Whether a caller may act for the person these ids name (their consent, preferences,
    /// quiz answers): a server key always; a browser with proof for `user_id`, or, naming
    /// only an anonymousId, if that visitor is nobody identified (a known customer's device
    /// needs their proof).
    pub fn may_act_for(
        &self,
        origin: Origin,
        user_id: Option<&str>,
        anonymous_id: Option<&str>,
        proof: Option<&UserProof>,
    ) -> Result<(), EngineError> {
        if origin == Origin::Server {
            return Ok(());
        }
        let now = self.clock.now();
        if let Some(user) = user_id {
            return if proof.is_some_and(|p| p.proves(user, &self.tokens, now)) {
                Ok(())
            } else {
                Err(EngineError::Forbidden {
                    code: "unverified_user_id",
                    message: "acting for a userId from a browser needs proof made by your backend: `userHash` or `profileToken`".into(),
                })
            };
        }
        let identified = anonymous_id.is_some_and(|a| {
            self.live
                .with_registry(|r| r.find_anonymous(a).is_some_and(|p| !p.user_ids.is_empty()))
        });
        if identified {
            return Err(EngineError::Forbidden {
                code: "unverified_visitor",
                message: "this visitor is a known customer: name them by `userId` with `userHash` or `profileToken`".into(),
            });
        }
        Ok(())
    }

    /// The profile as seen now, without predictions (see [`People::profile_in_full`]).
    pub fn profile(&self, id: &str) -> Option<ProfileView> {
        let now = self.clock.now();
        self.live.with_profile(id, |p| p.view(now))
    }

    /// [`People::profile`] with every prediction, the best send hour included, which reads
    /// the person's email opens from the log. Blocks on disk.
    pub fn profile_in_full(&self, id: &str) -> Result<Option<ProfileView>, EngineError> {
        let now = self.clock.now();
        let Some(ids) = self.live.with_profile(id, |p| p.id_list()) else {
            return Ok(None);
        };
        let opens = self.email_opens(&ids)?;
        let models = self.predictions.current();
        Ok(self.live.with_profile(id, |p| {
            let mut view = p.view(now);
            view.predictions = models.map(|m| m.predict(p, now, Some(&opens)));
            view
        }))
    }

    /// Every prediction; `None` if nobody is known by `id` or no model is trained yet.
    pub fn predictions(&self, id: &str) -> Result<Option<Predictions>, EngineError> {
        Ok(self.profile_in_full(id)?.and_then(|v| v.predictions))
    }

    /// Times of the person's email opens, newest 2,000 events considered.
    fn email_opens(&self, ids: &[String]) -> Result<Vec<Millis>, EngineError> {
        Ok(self
            .store
            .events_of(ids, 2_000)?
            .iter()
            .filter(|e| e.message.event.as_deref() == Some("Email Opened"))
            .map(|e| e.message.timestamp)
            .collect())
    }

    /// The newest events of the person, newest first; `None` if nobody is known by `id`.
    pub fn events_of(
        &self,
        id: &str,
        limit: usize,
    ) -> Result<Option<Vec<StoredEvent>>, EngineError> {
        let Some(ids) = self.live.with_profile(id, |p| p.id_list()) else {
            return Ok(None);
        };
        Ok(Some(self.store.events_of(&ids, limit)?))
    }

    /// What the person declared (zero-party data); `None` if unknown.
    pub fn declared_preferences(&self, id: &str) -> Option<Preferences> {
        self.live.with_profile(id, |p| {
            p.traits
                .get(preferences::TRAIT)
                .map(|t| Preferences::from_trait(&t.value))
                .unwrap_or_default()
        })
    }

    /// What each purpose may do with the person, and why; `None` if unknown.
    pub fn consent_state(&self, id: &str) -> Option<BTreeMap<Purpose, Permission>> {
        let policy = self.consent.policy();
        self.live.with_profile(id, |p| {
            Purpose::ALL
                .into_iter()
                .map(|purpose| (purpose, policy.may(Some(p), purpose)))
                .collect()
        })
    }

    /// The consent ledger (oldest first). Blocks on disk.
    pub fn consent_ledger(
        &self,
        id: &str,
    ) -> Result<Option<Vec<consent::LedgerEntry>>, EngineError> {
        let Some(ids) = self.live.with_profile(id, |p| p.id_list()) else {
            return Ok(None);
        };
        let mut events = self.store.events_of(&ids, usize::MAX)?;
        events.sort_by_key(|e| e.seq);
        Ok(Some(consent::ledger(&events)))
    }

    /// Everything Tailor keeps about the person, in one document (format in the README,
    /// "Export"). Blocks on disk. `None` if nobody is known by `id`.
    pub fn export(&self, id: &str) -> Result<Option<ExportDocument>, EngineError> {
        let now = self.clock.now();
        let Some(view) = self.profile_in_full(id)? else {
            return Ok(None);
        };
        // Every id, retired anonymousIds included: the export reaches all their events.
        let Some(ids) = self.live.with_profile(id, |p| p.id_list()) else {
            return Ok(None);
        };
        let mut events = self.store.events_of(&ids, usize::MAX)?;
        events.sort_by_key(|e| e.seq);
        // Decisions and exposures still queued for the log belong in the export too.
        self.decisions.flush();
        let decisions = self.store.decisions_of(&ids, usize::MAX)?;
        let exposures = self.store.exposures_of(&ids)?;
        let messages = self.store.outbox_list(None, Some(&ids), usize::MAX)?;
        let journeys = self.journeys.journey_runs(id)?;
        Ok(Some(export::export_document(
            view,
            ExportParts {
                events: &events,
                decisions: &decisions,
                exposures: &exposures,
                journeys,
                messages: &messages,
            },
            now,
        )))
    }

    /// Lifts the suppression of an erased id, so its events are accepted again. Blocks on
    /// disk. Whether it was suppressed.
    pub fn lift_suppression(&self, id: &str) -> Result<bool, EngineError> {
        let lifted = self.suppression.lift(&*self.store, id)?;
        if lifted {
            self.store.audit(&AuditEntry {
                at: self.clock.now(),
                action: "lift_suppression".into(),
                detail: "{}".into(),
            })?;
        }
        Ok(lifted)
    }

    /// Records that the admin read the person's personal data (`what`: the kind of read).
    /// The entry names their internal profile number, never an id, e-mail or trait.
    /// Blocks on disk. Nothing is recorded for an unknown id.
    pub fn audit_read(&self, what: &str, id: &str) -> Result<(), EngineError> {
        let Some(profile) = self.live.with_profile(id, |p| p.id) else {
            return Ok(());
        };
        self.store.audit(&AuditEntry {
            at: self.clock.now(),
            action: what.to_string(),
            detail: serde_json::json!({"profile": format!("p_{profile}")}).to_string(),
        })?;
        Ok(())
    }

    /// Records in one entry that the admin read a list of people (a search's answer): their
    /// internal profile numbers. Blocks on disk.
    pub fn audit_reads(&self, what: &str, ids: &[String]) -> Result<(), EngineError> {
        let profiles: Vec<String> = ids
            .iter()
            .filter_map(|id| self.live.with_profile(id, |p| format!("p_{}", p.id)))
            .collect();
        if profiles.is_empty() {
            return Ok(());
        }
        self.store.audit(&AuditEntry {
            at: self.clock.now(),
            action: what.to_string(),
            detail: serde_json::json!({"profiles": profiles}).to_string(),
        })?;
        Ok(())
    }

    /// The newest audit entries, newest first. Blocks on disk.
    pub fn audit_log(&self, limit: usize) -> Result<Vec<AuditEntry>, EngineError> {
        Ok(self.store.audit_log(limit)?)
    }
}
