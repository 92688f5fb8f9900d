//! What decisions did and what experiments show: the decision log (written off the request
//! path, rewards joined by the writer), experiment definitions and sticky assignment, their
//! results with gbstats-grade statistics, and the decision log exported for off-policy
//! evaluation.

pub mod activity;
pub mod decision_export;
pub mod decision_log;
pub mod experiment_results;
pub mod experiments;
pub(crate) mod unit_digests;

use std::sync::Arc;

use tailor_core::Clock;
use tailor_store::{DecisionRecord, Reward, Store};

use crate::error::EngineError;
use crate::live::Live;
use decision_log::DecisionLog;
use experiments::Experiments;

/// Reports over the decision log and experiments.
pub(crate) struct Measure {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub live: Arc<Live>,
    pub decisions: Arc<DecisionLog>,
    pub experiments: Arc<Experiments>,
    /// What experiment results keep between calls.
    pub digests: unit_digests::UnitDigests,
    /// Set by retention; digests older than it are re-read.
    pub events_deleted: Arc<unit_digests::EventsDeleted>,
}

impl Measure {
    /// A logged decision with the rewards joined to it. Blocks on disk (and on the decision
    /// log, so a decision just made is found).
    pub fn decision(&self, id: &str) -> Result<Option<(DecisionRecord, Vec<Reward>)>, EngineError> {
        self.decisions.flush();
        Ok(self.store.decision(id)?)
    }
}
