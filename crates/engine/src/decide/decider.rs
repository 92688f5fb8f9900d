//! One decide request end to end: the placements it names, whether predictions are needed,
//! the visitor's profile and experiment assignments, the answers, and the log entry. The
//! answers themselves come from [`super::decide`], over state read here in lock order.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Map, Value};
use tailor_core::{Clock, ValidationError};

use super::onsite::Inbox;
use super::{Answer, Placement, Placements, Request};
use crate::error::EngineError;
use crate::govern::consent::Consent;
use crate::govern::privacy::Suppression;
use crate::govern::tokens::ProfileTokens;
use crate::ingest::trust::{Origin, UserProof};
use crate::learn::policies::{Learned, Policies};
use crate::learn::predictions::{PredictionService, Scope};
use crate::live::Live;
use crate::measure::decision_log::DecisionLog;
use crate::measure::experiments::Experiments;

/// A decide request: who, which placements, and the page's context (`productId`,
/// `cart`: product ids, anything else for conditions under `context.*`).
#[derive(Debug, Clone)]
pub struct DecideInput {
    pub user_id: Option<String>,
    pub anonymous_id: Option<String>,
    pub placements: Vec<String>,
    pub context: Map<String, Value>,
    /// Who asks: a server key's ids are taken as given; a browser's `user_id` counts only
    /// with `proof` (see `ingest::trust`).
    pub origin: Origin,
    /// A profile token or user hash for `user_id`, from a browser.
    pub proof: Option<UserProof>,
}

impl Default for DecideInput {
    /// A server's request (tests, journeys, the store's backend).
    fn default() -> Self {
        DecideInput {
            user_id: None,
            anonymous_id: None,
            placements: Vec::new(),
            context: Map::new(),
            origin: Origin::Server,
            proof: None,
        }
    }
}

/// The answers to a decide request.
#[derive(Debug, Clone)]
pub struct DecideOutput {
    pub decision_id: String,
    pub personalized: bool,
    pub reason: Option<&'static str>,
    pub answers: Vec<(String, Answer)>,
}

/// Decision ids: a random prefix per start plus a counter, unique across restarts.
pub(crate) struct DecisionIds {
    prefix: String,
    counter: AtomicU64,
}

impl DecisionIds {
    pub fn new(prefix: String) -> Self {
        DecisionIds {
            prefix,
            counter: AtomicU64::new(0),
        }
    }

    fn next(&self) -> String {
        format!(
            "{}{}",
            self.prefix,
            self.counter.fetch_add(1, Ordering::Relaxed)
        )
    }
}

/// Everything a decision reads, and the logs it writes to.
pub(crate) struct Decider {
    pub clock: Arc<dyn Clock>,
    pub live: Arc<Live>,
    pub placements: Arc<Placements>,
    pub consent: Arc<Consent>,
    pub experiments: Arc<Experiments>,
    pub policies: Arc<Policies>,
    pub predictions: Arc<PredictionService>,
    pub decisions: Arc<DecisionLog>,
    pub suppression: Arc<Suppression>,
    pub inbox: Arc<Inbox>,
    pub tokens: Arc<ProfileTokens>,
    pub ids: DecisionIds,
    /// Decisions per minute, for the console's overview.
    pub activity: Arc<crate::measure::activity::Activity>,
}

impl Decider {
    /// Answers each requested placement for the visitor, from memory, and queues the
    /// decision for the log.
    pub fn decide(&self, input: DecideInput) -> Result<DecideOutput, EngineError> {
        self.answer(input, true)
    }

    /// What [`Decider::decide`] would answer, without logging it: no decision, exposure,
    /// learning or on-site delivery is recorded (the console's preview).
    pub fn preview(&self, input: DecideInput) -> Result<DecideOutput, EngineError> {
        self.answer(input, false)
    }

    fn answer(&self, mut input: DecideInput, log: bool) -> Result<DecideOutput, EngineError> {
        let placements = self.placements.pick(&input.placements)?;
        let now = self.clock.now();
        // A browser's userId counts only with proof; without it, the caller is the visitor
        // of their own anonymousId, and is answered discreetly (see `Visitor::discreet`).
        let proven = match input.origin {
            Origin::Server => true,
            Origin::Browser => input.user_id.as_deref().is_some_and(|user| {
                input
                    .proof
                    .as_ref()
                    .is_some_and(|proof| proof.proves(user, &self.tokens, now))
            }),
        };
        if !proven {
            input.user_id = None;
        }
        let product = input.context.get("productId").and_then(Value::as_str);
        let cart = cart_of(&input.context);
        let listed = listed_of(&input.context)?;
        // Predictions cost ~15 µs per decision, hundreds for a heavy buyer's lifetime
        // fields: computed only as far as these placements read them.
        let models = self
            .prediction_scope(&placements, now)
            .and_then(|scope| Some((self.predictions.current()?, scope)));
        let request = Request {
            placements: &placements,
            context: &input.context,
            product,
            cart,
            now,
            learning: &self.policies,
            models: models.as_ref().map(|(m, scope)| (&**m, *scope)),
            onsite: log.then_some(&*self.inbox),
            discreet: !proven,
            listed: &listed,
        };
        let mut exposures = Vec::new();
        let policy = self.consent.policy();
        let (decided, profile_id) = {
            let live = self.live.read();
            // Ids as callers send them: never internal numbers. An unproven browser whose
            // anonymousId belongs to an identified person is answered as a new visitor: the
            // answer must not tell whether, or as whom, anyone is known.
            let profile = input
                .user_id
                .as_deref()
                .and_then(|u| live.registry.find_user(u))
                .or_else(|| {
                    input
                        .anonymous_id
                        .as_deref()
                        .and_then(|a| live.registry.find_anonymous(a))
                })
                .filter(|p| proven || p.user_ids.is_empty());
            // Experiments see every id of the person, so assignment is sticky across logins.
            let experiments = &self.experiments;
            let running = experiments.any_live(now);
            let mut ids: Vec<&str> = Vec::new();
            if running {
                ids.extend(input.user_id.as_deref());
                ids.extend(input.anonymous_id.as_deref());
                if let Some(p) = profile {
                    ids.extend(p.ids().map(String::as_str));
                }
                ids.sort_unstable();
                ids.dedup();
                ids.retain(|id| !self.suppression.blocks_id(id));
            }
            let hash_id = input
                .anonymous_id
                .as_deref()
                .or(input.user_id.as_deref())
                .unwrap_or_default();
            let mut assign = |placement: &Placement, attributes: &Value| {
                if !running || ids.is_empty() {
                    return None;
                }
                experiments.assign(
                    &placement.id,
                    &ids,
                    hash_id,
                    attributes,
                    now,
                    &mut exposures,
                )
            };
            let decided = self.decisions.with_shown(|shown| {
                super::decide(
                    &live.catalog,
                    &live.recs,
                    profile.map(|p| p.as_ref()),
                    &policy,
                    shown,
                    &request,
                    &mut assign,
                )
            });
            (decided, profile.map(|p| p.id))
        };
        if log && !exposures.is_empty() {
            self.decisions.log_exposures(exposures);
        }
        let decision_id = self.ids.next();
        let answers: Vec<(String, Answer)> = placements
            .iter()
            .map(|p| p.id.clone())
            .zip(decided.answers)
            .collect();
        // An erased person's ids are not written back into the log (see `privacy`).
        let unsuppressed =
            |id: &Option<String>| id.clone().filter(|id| !self.suppression.blocks_id(id));
        let record = tailor_store::DecisionRecord {
            id: decision_id.clone(),
            at: now,
            user_id: unsuppressed(&input.user_id),
            anonymous_id: unsuppressed(&input.anonymous_id),
            personalized: decided.personalized,
            model_version: super::MODEL_VERSION.to_string(),
            profile: profile_id,
            reason: decided.reason.map(str::to_string),
            product: input
                .context
                .get("productId")
                .and_then(Value::as_str)
                .map(str::to_string),
            cart: cart_of(&input.context),
            placements: answers.iter().map(|(id, a)| a.logged(id)).collect(),
        };
        let learned: Vec<Learned> = answers
            .iter()
            .filter_map(|(_, a)| a.learned.clone())
            .collect();
        if log {
            if !learned.is_empty() {
                self.policies.shown(&decision_id, learned);
            }
            self.decisions.record(record, profile_id);
            metrics::counter!("tailor_decisions_total").increment(1);
            self.activity.decision(now);
        }
        Ok(DecideOutput {
            decision_id,
            personalized: decided.personalized,
            reason: decided.reason,
            answers,
        })
    }

    /// Which predictions these placements read: every one when a condition of theirs, of
    /// their content or of an experiment on them reads one; only the next categories when
    /// one is a navigation or ranking placement; none otherwise.
    fn prediction_scope(
        &self,
        placements: &[Placement],
        now: tailor_core::Millis,
    ) -> Option<Scope> {
        let reads = |c: &Option<Value>| {
            c.as_ref()
                .is_some_and(tailor_core::condition::reads_predictions)
        };
        self.live.with_catalog(|catalog| {
            let conditions = placements.iter().any(|p| {
                catalog.reads_predictions(&p.id)
                    || reads(&p.condition)
                    || p.variants.iter().any(|v| reads(&v.condition))
                    || self.experiments.reads_predictions(&p.id, now)
            });
            // Navigation shows the next categories ("new for you"); ranking moves their
            // products up. Nothing else of theirs reads a prediction.
            let categories = placements.iter().any(|p| {
                matches!(
                    p.kind,
                    super::PlacementKind::Navigation | super::PlacementKind::Ranking
                )
            });
            match (conditions, categories) {
                (true, _) => Some(Scope::All),
                (false, true) => Some(Scope::NextCategories),
                (false, false) => None,
            }
        })
    }
}

/// At most this many products of `context.cart` are read (a cart holds at most 50 lines).
const CART_IN_CONTEXT: usize = 100;

/// The product ids of `context.cart` (ids, or objects with a `product_id`).
fn cart_of(context: &Map<String, Value>) -> Vec<String> {
    match context.get("cart") {
        Some(Value::Array(items)) => items
            .iter()
            .take(CART_IN_CONTEXT)
            .filter_map(|i| {
                i.as_str()
                    .or_else(|| i.get("product_id").and_then(Value::as_str))
            })
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}

/// The store's list a ranking placement orders: `context.productIds`, an array of product
/// ids (duplicates after the first dropped), at most [`super::MAX_LISTED`].
fn listed_of(context: &Map<String, Value>) -> Result<Vec<String>, EngineError> {
    let ids = match context.get("productIds") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(ids)) => ids,
        Some(_) => {
            return Err(ValidationError::one(
                "`context.productIds` must be an array of product ids, e.g. [\"p-1\", \"p-2\"]",
            )
            .into());
        }
    };
    if ids.len() > super::MAX_LISTED {
        return Err(EngineError::TooMany {
            code: "too_many_products",
            message: format!(
                "`context.productIds` lists {} products; a ranking takes at most {} (rank the first page's worth, or the top of the search results)",
                ids.len(),
                super::MAX_LISTED
            )
            .into(),
        });
    }
    let mut seen = std::collections::HashSet::with_capacity(ids.len());
    let mut listed = Vec::with_capacity(ids.len());
    for (i, id) in ids.iter().enumerate() {
        let Some(id) = id.as_str().filter(|s| !s.is_empty() && s.len() <= 200) else {
            return Err(ValidationError::one(format!(
                "`context.productIds[{i}]` must be a product id (a string of 1 to 200 characters)"
            ))
            .into());
        };
        if seen.insert(id) {
            listed.push(id.to_string());
        }
    }
    Ok(listed)
}

/// Refuses an empty request with the same message wherever placements are picked.
pub(crate) fn no_placements() -> EngineError {
    ValidationError::one("`placements` must name at least one placement, e.g. [\"home.hero\"]")
        .into()
}
