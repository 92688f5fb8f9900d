//! The decision log: every decision with what it showed and why, the rewards (clicks,
//! orders) joined to it, and first exposures to experiments. It feeds attribution,
//! off-policy evaluation, budgets and experiment results.

use tailor_core::Millis;

use crate::{ProfileId, Result, Seq};

/// One logged decision, compact: ids, positions (the order of `shown`), propensities, the
/// model version and the context off-policy evaluation and attribution need. No product
/// documents and no candidate pools (except a learning placement's arms): what the console
/// shows is rebuilt from these ids and the catalog. [`DecisionRecord::body`] is the JSON view.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DecisionRecord {
    pub id: String,
    pub at: Millis,
    pub user_id: Option<String>,
    pub anonymous_id: Option<String>,
    pub personalized: bool,
    pub model_version: String,
    /// The profile decided for.
    pub profile: Option<ProfileId>,
    /// Why the decision was not personalized, when it was not.
    pub reason: Option<String>,
    /// The request's context the decision used: the product on the page and the cart.
    pub product: Option<String>,
    pub cart: Vec<String>,
    pub placements: Vec<LoggedPlacement>,
}

/// One placement's answer as the log keeps it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LoggedPlacement {
    pub placement: String,
    /// The placement kind's name (`hero`, `recommendations`, …).
    pub kind: String,
    pub chosen: Option<String>,
    /// Content, product or category ids shown, in position order.
    pub shown: Vec<String>,
    /// A learning placement's arms (other placements' candidate pools are not logged).
    pub candidates: Vec<String>,
    pub propensity: f64,
    /// The experiment and variation the answer came from.
    pub experiment: Option<(String, String)>,
    /// The features a learning policy chose with.
    pub features: Vec<f64>,
    pub explanation: String,
    /// `chosen` counts against the item's budget (`shown_counts`).
    pub counted: bool,
}

impl DecisionRecord {
    /// Every id shown, placement by placement.
    pub fn shown(&self) -> Vec<String> {
        self.placements
            .iter()
            .flat_map(|p| p.shown.iter().cloned())
            .collect()
    }

    /// The items counted against budgets.
    pub fn counted(&self) -> impl Iterator<Item = &str> {
        self.placements
            .iter()
            .filter(|p| p.counted)
            .filter_map(|p| p.chosen.as_deref())
    }

    /// The decision as JSON: `modelVersion`, `profile`, `placements` (per placement `kind`,
    /// `experiment`, `features`, `chosen`, `shown`, `candidates`, `propensity`,
    /// `explanation`), `context` (`productId`, `cart`) and `reason`.
    pub fn body(&self) -> serde_json::Value {
        use serde_json::{Map, Value, json};
        let placements: Map<String, Value> = self
            .placements
            .iter()
            .map(|p| {
                let mut entry = json!({
                    "kind": p.kind, "chosen": p.chosen, "shown": p.shown,
                    "propensity": p.propensity, "explanation": p.explanation,
                });
                if let Some((experiment, variation)) = &p.experiment {
                    entry["experiment"] = json!({"experiment": experiment, "variation": variation});
                }
                if !p.features.is_empty() {
                    entry["features"] = json!(p.features);
                }
                if !p.candidates.is_empty() {
                    entry["candidates"] = json!(p.candidates);
                }
                (p.placement.clone(), entry)
            })
            .collect();
        let mut context = Map::new();
        if let Some(product) = &self.product {
            context.insert("productId".into(), json!(product));
        }
        if !self.cart.is_empty() {
            context.insert("cart".into(), json!(self.cart));
        }
        json!({
            "modelVersion": self.model_version,
            "profile": self.profile.map(|p| format!("p_{p}")),
            "placements": placements,
            "context": context,
            "reason": self.reason,
        })
    }
}

/// One day's decisions of one placement that showed one item (`item` is empty when it
/// chose nothing), kept when retention deletes the decisions themselves.
#[derive(Debug, Clone, PartialEq)]
pub struct DecisionDay {
    /// The day's first millisecond (UTC).
    pub day: Millis,
    pub placement: String,
    pub item: String,
    pub decisions: u64,
    /// Decisions with at least one reward joined.
    pub rewarded: u64,
    /// The rewards' value.
    pub value: f64,
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
    /// The `limit` decisions logged last with the rewards joined to them, oldest first (for
    /// off-policy evaluation of the live policy).
    fn recent_decisions(&self, limit: usize) -> Result<Vec<(DecisionRecord, Vec<Reward>)>>;
    /// The decisions shown to any of `ids` (userIds or anonymousIds), oldest first. Any
    /// number of ids.
    fn decisions_of(&self, ids: &[String], limit: usize) -> Result<Vec<DecisionRecord>>;
    /// Deletes at most `limit` of the oldest decisions made before `before`, with their
    /// rewards, adding them to the daily rollups first; returns how many went. Item counts
    /// (`shown_counts`) stay.
    fn retire_decisions(&self, before: Millis, limit: usize) -> Result<u64>;
    /// The daily rollups of retired decisions from `since` on, oldest first.
    fn decision_days(&self, since: Millis) -> Result<Vec<DecisionDay>>;

    /// Records first exposures to experiments; an (experiment, id) already recorded keeps
    /// its first variant and time.
    fn log_exposures(&self, exposures: &[Exposure]) -> Result<()>;
    /// Every recorded exposure.
    fn exposures(&self) -> Result<Vec<Exposure>>;
    /// The exposures recorded under any of `ids` (for a person's export), oldest first. Any
    /// number of ids.
    fn exposures_of(&self, ids: &[String]) -> Result<Vec<Exposure>>;
}
