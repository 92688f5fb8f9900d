//! The decision log: every decision with what it showed and why, the rewards (clicks,
//! orders) joined to it, and first exposures to experiments. It feeds attribution,
//! off-policy evaluation, budgets and experiment results.

use tailor_core::Millis;

use crate::{Result, Seq};

/// One logged decision: who was shown what, and why (the JSON `body` is the engine's).
#[derive(Debug, Clone, PartialEq)]
pub struct DecisionRecord {
    pub id: String,
    pub at: Millis,
    pub user_id: Option<String>,
    pub anonymous_id: Option<String>,
    pub personalized: bool,
    /// Content or product ids shown.
    pub shown: Vec<String>,
    /// The content items among them that count against budgets (`shown_counts`).
    pub counted: Vec<String>,
    pub body: String,
}

/// An event joined to the decision it followed (a click or an order carrying its id).
#[derive(Debug, Clone, PartialEq)]
pub struct Reward {
    pub decision_id: String,
    pub seq: Seq,
    pub event: String,
    pub value: f64,
    pub at: Millis,
}

/// A person's first exposure to an experiment, under one of their ids (userId or
/// anonymousId): the variation they were put in. It makes assignment sticky across identity
/// merges and restarts, and it is the unit list of the experiment's results.
#[derive(Debug, Clone, PartialEq)]
pub struct Exposure {
    pub experiment: String,
    pub id: String,
    pub variation: u32,
    pub at: Millis,
}

/// Decisions, rewards and exposures.
pub trait DecisionLog {
    /// Appends decisions to the decision log (a logged id is replaced).
    fn log_decisions(&self, decisions: &[DecisionRecord]) -> Result<()>;
    /// Records rewards; a reward for an unknown decision is kept all the same.
    fn log_rewards(&self, rewards: &[Reward]) -> Result<()>;
    /// A decision and the rewards joined to it.
    fn decision(&self, id: &str) -> Result<Option<(DecisionRecord, Vec<Reward>)>>;
    /// How many times each item was shown, over the whole decision log.
    fn shown_counts(&self) -> Result<Vec<(String, u64)>>;
    /// The newest `limit` decisions with the rewards joined to them, oldest first (for
    /// off-policy evaluation of the live policy).
    fn recent_decisions(&self, limit: usize) -> Result<Vec<(DecisionRecord, Vec<Reward>)>>;
    /// The decisions shown to any of `ids` (userIds or anonymousIds), oldest first. Any
    /// number of ids.
    fn decisions_of(&self, ids: &[String], limit: usize) -> Result<Vec<DecisionRecord>>;

    /// Records first exposures to experiments; an (experiment, id) already recorded keeps
    /// its first variant and time.
    fn log_exposures(&self, exposures: &[Exposure]) -> Result<()>;
    /// Every recorded exposure.
    fn exposures(&self) -> Result<Vec<Exposure>>;
    /// The exposures recorded under any of `ids` (for a person's export), oldest first. Any
    /// number of ids.
    fn exposures_of(&self, ids: &[String]) -> Result<Vec<Exposure>>;
}
