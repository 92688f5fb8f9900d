//! The store's settings, kept as JSON in the store's metadata and in memory by the
//! subsystem that reads them: placements (decide, and which of them learn), experiments,
//! quizzes and the consent policy. Each save validates, writes the store, then swaps the
//! subsystem's copy, so memory never shows what the store does not hold.

use std::sync::Arc;

use parking_lot::RwLock;
use tailor_core::preferences::Quiz;
use tailor_store::Store;

use crate::decide::{Placement, Placements};
use crate::error::EngineError;
use crate::govern::consent::{Consent, ConsentPolicy};
use crate::learn::policies::{Policies, PolicySummary};
use crate::live::Live;
use crate::measure::experiments::{Experiments, PlacementExperiment};
use crate::meta;
use crate::profile::catalog::Catalog;

/// Where the placement configuration is kept.
const PLACEMENTS_META: &str = "placements";
/// Where the experiment definitions are kept.
const EXPERIMENTS_META: &str = "experiments";
/// Where the quizzes are kept.
const QUIZZES_META: &str = "quizzes";
/// Where the consent policy is kept.
const CONSENT_POLICY_META: &str = "consent_policy";

/// Every setting, read once at start.
pub(crate) struct Loaded {
    pub placements: Vec<Placement>,
    pub experiments: Vec<PlacementExperiment>,
    pub quizzes: Vec<Quiz>,
    pub consent_policy: ConsentPolicy,
}

pub(crate) fn load(store: &dyn Store) -> Result<Loaded, EngineError> {
    Ok(Loaded {
        placements: meta::load(store, PLACEMENTS_META, "placements")?
            .unwrap_or_else(crate::decide::placement::standard),
        experiments: meta::load(store, EXPERIMENTS_META, "experiments")?.unwrap_or_default(),
        quizzes: meta::load(store, QUIZZES_META, "quizzes")?.unwrap_or_default(),
        consent_policy: meta::load(store, CONSENT_POLICY_META, "consent policy")?
            .unwrap_or_default(),
    })
}

/// Reads and saves settings.
pub(crate) struct Settings {
    pub store: Arc<dyn Store>,
    pub live: Arc<Live>,
    pub placements: Arc<Placements>,
    pub policies: Arc<Policies>,
    pub experiments: Arc<Experiments>,
    pub consent: Arc<Consent>,
    pub quizzes: RwLock<Vec<Quiz>>,
}

impl Settings {
    // Placements.

    /// Adds or replaces placements by id. Blocks on disk.
    pub fn put_placements(&self, new: Vec<Placement>) -> Result<usize, EngineError> {
        let mut all = (*self.placements.list()).clone();
        let n = new.len();
        for p in new {
            match all.iter_mut().find(|x| x.id == p.id) {
                Some(slot) => *slot = p,
                None => all.push(p),
            }
        }
        self.save_placements(all)?;
        Ok(n)
    }

    pub fn delete_placement(&self, id: &str) -> Result<(), EngineError> {
        let mut all = (*self.placements.list()).clone();
        let before = all.len();
        all.retain(|p| p.id != id);
        if all.len() == before {
            return Err(EngineError::NotFound(format!("placement {id:?}")));
        }
        self.save_placements(all)
    }

    fn save_placements(&self, all: Vec<Placement>) -> Result<(), EngineError> {
        meta::save(&*self.store, PLACEMENTS_META, &all)?;
        self.placements.replace(all);
        self.policies.set_placements(self.placements.learning());
        Ok(())
    }

    /// What a learning placement has learned so far; `None` for an unknown placement.
    pub fn policy_summary(&self, placement: &str) -> Option<PolicySummary> {
        let policy = self
            .placements
            .list()
            .iter()
            .find(|p| p.id == placement)?
            .policy;
        Some(PolicySummary {
            policy,
            candidates: self.policies.summary(placement),
        })
    }

    /// `NotFound` unless the store has this placement.
    pub fn require_placement(&self, id: &str) -> Result<(), EngineError> {
        if self.placements.list().iter().any(|p| p.id == id) {
            Ok(())
        } else {
            Err(EngineError::NotFound(format!("placement {id:?}")))
        }
    }

    // Experiments.

    /// Adds or replaces an experiment, validated against the placements, the content and
    /// the other experiments' namespaces. Takes effect on the next decision. Blocks on disk.
    pub fn put_experiment(&self, exp: PlacementExperiment) -> Result<(), EngineError> {
        let placements = self.placements.list();
        let has_content = |c: &str| {
            self.live
                .with_catalog(|cat: &Catalog| cat.content_item(c).is_some())
        };
        exp.validate(|p| placements.iter().any(|x| x.id == p), has_content)?;
        let mut all = self.experiments.list();
        all.retain(|e| e.id != exp.id);
        all.push(exp);
        all.sort_by(|a, b| a.id.cmp(&b.id));
        let growthbook: Vec<_> = all.iter().map(|e| e.growthbook()).collect();
        tailor_core::experiment::validate_namespaces(&growthbook)?;
        self.save_experiments(all)
    }

    pub fn delete_experiment(&self, id: &str) -> Result<(), EngineError> {
        let mut all = self.experiments.list();
        let before = all.len();
        all.retain(|e| e.id != id);
        if all.len() == before {
            return Err(EngineError::NotFound(format!("experiment {id:?}")));
        }
        self.save_experiments(all)
    }

    fn save_experiments(&self, all: Vec<PlacementExperiment>) -> Result<(), EngineError> {
        meta::save(&*self.store, EXPERIMENTS_META, &all)?;
        self.experiments.replace(all);
        Ok(())
    }

    // Quizzes.

    /// The quizzes, in id order.
    pub fn quizzes(&self) -> Vec<Quiz> {
        self.quizzes.read().clone()
    }

    /// Adds or replaces a quiz (validated by the caller with `Quiz::parse`). Blocks on disk.
    pub fn put_quiz(&self, quiz: Quiz) -> Result<(), EngineError> {
        let mut all = self.quizzes();
        all.retain(|q| q.id != quiz.id);
        all.push(quiz);
        all.sort_by(|a, b| a.id.cmp(&b.id));
        self.save_quizzes(all)
    }

    pub fn delete_quiz(&self, id: &str) -> Result<(), EngineError> {
        let mut all = self.quizzes();
        let before = all.len();
        all.retain(|q| q.id != id);
        if all.len() == before {
            return Err(EngineError::NotFound(format!("quiz {id:?}")));
        }
        self.save_quizzes(all)
    }

    fn save_quizzes(&self, all: Vec<Quiz>) -> Result<(), EngineError> {
        meta::save(&*self.store, QUIZZES_META, &all)?;
        *self.quizzes.write() = all;
        Ok(())
    }

    // The consent policy.

    /// Replaces the consent policy (validated; takes effect on the next call). Blocks on disk.
    pub fn put_consent_policy(&self, policy: ConsentPolicy) -> Result<(), EngineError> {
        policy.validate()?;
        meta::save(&*self.store, CONSENT_POLICY_META, &policy)?;
        self.consent.replace(policy);
        Ok(())
    }
}
