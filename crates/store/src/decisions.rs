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
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
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

/// A decision logged as its JSON view (SQLite before schema 8, PostgreSQL before its
/// decisions migration 2) as a record: `d` with the body's fields.
pub(crate) fn legacy_record(mut d: DecisionRecord, body: &serde_json::Value) -> DecisionRecord {
    use serde_json::Value;
    let text = |v: &Value| v.as_str().map(str::to_string);
    let texts = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| a.iter().filter_map(text).collect())
            .unwrap_or_default()
    };
    d.model_version = text(&body["modelVersion"]).unwrap_or_default();
    d.profile = body["profile"]
        .as_str()
        .and_then(|p| p.strip_prefix("p_"))
        .and_then(|p| p.parse().ok());
    d.reason = text(&body["reason"]);
    d.product = text(&body["context"]["productId"]);
    d.cart = texts(&body["context"]["cart"]);
    if let Some(placements) = body["placements"].as_object() {
        for (id, p) in placements {
            let kind = text(&p["kind"]).unwrap_or_default();
            let features: Vec<f64> = p["features"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_f64).collect())
                .unwrap_or_default();
            let chosen = text(&p["chosen"]);
            d.placements.push(LoggedPlacement {
                placement: id.clone(),
                counted: chosen.is_some() && matches!(kind.as_str(), "hero" | "promotion"),
                kind,
                chosen,
                shown: texts(&p["shown"]),
                candidates: if features.is_empty() {
                    Vec::new()
                } else {
                    texts(&p["candidates"])
                },
                propensity: p["propensity"].as_f64().unwrap_or(1.0),
                experiment: match (
                    text(&p["experiment"]["experiment"]),
                    text(&p["experiment"]["variation"]),
                ) {
                    (Some(e), Some(v)) => Some((e, v)),
                    _ => None,
                },
                features,
                explanation: text(&p["explanation"]).unwrap_or_default(),
            });
        }
    }
    d
}

/// A record as the PostgreSQL store keeps it: everything but the columns of its own (id,
/// time, person ids, personalized), lossless, marked `"v": 2` apart from legacy bodies.
#[derive(serde::Serialize, serde::Deserialize)]
struct StoredBody {
    v: u8,
    model_version: String,
    profile: Option<ProfileId>,
    reason: Option<String>,
    product: Option<String>,
    cart: Vec<String>,
    placements: Vec<LoggedPlacement>,
}

const STORED_VERSION: u8 = 2;

/// `d`'s body as the PostgreSQL store keeps it (JSON, see [`StoredBody`]).
pub(crate) fn stored_body(d: &DecisionRecord) -> serde_json::Result<String> {
    serde_json::to_string(&StoredBody {
        v: STORED_VERSION,
        model_version: d.model_version.clone(),
        profile: d.profile,
        reason: d.reason.clone(),
        product: d.product.clone(),
        cart: d.cart.clone(),
        placements: d.placements.clone(),
    })
}

/// `d` with the fields of a body [`stored_body`] wrote, or of a legacy JSON view.
pub(crate) fn with_stored_body(
    d: DecisionRecord,
    body: &str,
) -> serde_json::Result<DecisionRecord> {
    let value: serde_json::Value = serde_json::from_str(body)?;
    if value["v"].as_u64() != Some(u64::from(STORED_VERSION)) {
        return Ok(legacy_record(d, &value));
    }
    let b: StoredBody = serde_json::from_value(value)?;
    Ok(DecisionRecord {
        model_version: b.model_version,
        profile: b.profile,
        reason: b.reason,
        product: b.product,
        cart: b.cart,
        placements: b.placements,
        ..d
    })
}

/// What retiring `records` adds to the daily rollups, keyed by (day, placement, item shown):
/// decisions, decisions rewarded and the rewards' value (`earned`: each decision's total).
pub(crate) fn day_rollups<'a>(
    records: &'a [DecisionRecord],
    earned: &std::collections::HashMap<String, f64>,
) -> std::collections::HashMap<(Millis, &'a str, &'a str), (i64, i64, f64)> {
    let mut days = std::collections::HashMap::new();
    for d in records {
        let day = d.at - d.at.rem_euclid(tailor_core::time::DAY);
        let value = earned.get(&d.id);
        for p in &d.placements {
            let e: &mut (i64, i64, f64) = days
                .entry((day, p.placement.as_str(), p.chosen.as_deref().unwrap_or("")))
                .or_default();
            e.0 += 1;
            e.1 += i64::from(value.is_some());
            e.2 += value.copied().unwrap_or(0.0);
        }
    }
    days
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
    /// The `limit` decisions logged last among those made within `during` (their `at`), with
    /// the rewards joined to them, oldest first (for off-policy evaluation of the live policy:
    /// one policy's period, `..` for all).
    fn recent_decisions(
        &self,
        during: std::ops::Range<Millis>,
        limit: usize,
    ) -> Result<Vec<(DecisionRecord, Vec<Reward>)>>;
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
