//! Erasure and expiry: **the** path that forgets people (the steps and their order are in
//! `govern::privacy`). It runs on the writer thread, so no event or checkpoint interleaves.

use tailor_core::Message;

use super::writer::{Writer, purge};
use crate::error::EngineError;
use crate::govern::privacy::ErasureReport;

impl Writer {
    /// Erases one person everywhere and suppresses their ids (see `privacy`).
    pub(super) fn erase(&mut self, id: &str) -> Result<ErasureReport, EngineError> {
        let person = self
            .parts
            .live
            .with_registry(|r| r.person(id))
            .ok_or_else(|| EngineError::NotFound(format!("profile {id:?}")))?;
        let report = self.forget_people(vec![person], true)?;
        self.parts.store.audit(&tailor_store::AuditEntry {
            at: self.parts.clock.now(),
            action: "erase".into(),
            detail: serde_json::to_string(&report).unwrap_or_default(),
        })?;
        tracing::info!(?report, "erased a person");
        Ok(report)
    }

    /// Retention: erases, through the same steps as [`Writer::erase`] but without
    /// suppression, at most `limit` people inactive since before `cutoff`.
    pub(super) fn expire(
        &mut self,
        cutoff: tailor_core::Millis,
        limit: usize,
    ) -> Result<(u64, ErasureReport), EngineError> {
        let people = self
            .parts
            .live
            .with_registry(|r| r.inactive_before(cutoff, limit));
        if people.is_empty() {
            return Ok((0, ErasureReport::default()));
        }
        let n = people.len() as u64;
        let report = self.forget_people(people, false)?;
        tracing::info!(people = n, ?report, "expired inactive people");
        Ok((n, report))
    }

    /// **The** erasure path (the steps and their order: see `privacy`): everything about
    /// `people` (each: their profile ids and raw ids) leaves the store, memory and what was
    /// learned from them; with `suppress`, their ids are refused from now on.
    fn forget_people(
        &mut self,
        people: Vec<(Vec<tailor_store::ProfileId>, Vec<String>)>,
        suppress: bool,
    ) -> Result<ErasureReport, EngineError> {
        /// People per store call, so each statement's id list stays short.
        const GROUP: usize = 64;
        // No checkpoint may be writing their profile, and no decision of theirs may still
        // be queued, while their rows are deleted.
        self.finish_checkpoint()?;
        let parts = &self.parts;
        parts.decisions.flush();
        let profile_ids: Vec<_> = people.iter().flat_map(|(p, _)| p.iter().copied()).collect();
        let ids: Vec<String> = people.iter().flat_map(|(_, i)| i.iter().cloned()).collect();
        // From here on, late events and decisions naming them are refused or anonymized.
        if suppress {
            parts.suppression.add(&*parts.store, &ids)?;
        }
        parts.observer.forget(&ids);
        let mut report = ErasureReport {
            suppressed_ids: if suppress { ids.len() as u64 } else { 0 },
            ..Default::default()
        };
        let mut messages: Vec<Message> = Vec::new();
        for group in people.chunks(GROUP) {
            let keys = tailor_store::PersonKeys {
                profile_ids: group.iter().flat_map(|(p, _)| p.iter().copied()).collect(),
                ids: group.iter().flat_map(|(_, i)| i.iter().cloned()).collect(),
                at: parts.clock.now(),
            };
            let mut events = parts.store.events_of(&keys.ids, usize::MAX)?;
            events.sort_by_key(|e| e.seq);
            messages.extend(events.into_iter().map(|e| e.message));
            let erased = parts.store.erase_person(&keys)?;
            report.profiles += erased.profiles;
            report.identities += erased.identities;
            report.events += erased.events;
            report.decisions += erased.decisions;
            report.audience_removals += erased.audience_removals;
        }
        let (learned, retrain) = {
            let mut live = parts.live.fold();
            // Profiles not yet checkpointed had no row to delete: count what was held.
            let held = live.registry.remove(&profile_ids) as u64;
            report.profiles = report.profiles.max(held);
            let catalog = &live.catalog;
            let learned = live.recs.forget(&messages, &profile_ids, catalog);
            live.recs.refresh(catalog, parts.clock.now());
            let retrain = parts
                .sessions
                .views_due(&mut self.last_retrain, &mut live.recs, true);
            (learned, retrain)
        };
        // The session model learned from their sessions: retrain without them — now on a
        // small window, else on the background thread without waiting for its period
        // (`ingest::session`).
        parts.sessions.retrain(retrain);
        parts.decisions.forget(&profile_ids);
        parts.experiments.forget(&ids);
        // The prediction models learned from them too: the schedule retrains them without
        // them within a minute (a run already reading the log is followed by another).
        parts.predictions.mark_stale();
        // Their profile and identity rows are gone already (`erase_person`); the saved
        // rankings and session views are rewritten now only if they learned from them
        // (a full checkpoint per erasure was the writer's main cost under erasure load).
        if learned {
            self.maybe_checkpoint(true)?;
        }
        purge(&*self.parts.store)?;
        Ok(report)
    }
}
