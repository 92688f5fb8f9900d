//! `decide`: what each placement of a page shows this visitor, with a plain-language
//! explanation, answered from memory. Every answer goes through the consent gate in
//! [`visitor`], and every decision is logged (off the request path) so later clicks and
//! orders carrying its `decisionId` are joined to it as rewards.

mod content;
mod decider;
mod learning;
mod nav;
pub mod onsite;
pub mod placement;
mod products;
mod rank;
pub mod visitor;

use std::sync::Arc;

use serde::Serialize;
use serde_json::{Map, Value};
use tailor_core::{ContentItem, Product};

pub use decider::{DecideInput, DecideOutput};
pub(crate) use decider::{Decider, DecisionIds};
pub(crate) use placement::Placements;
pub use placement::{Placement, PlacementKind, RankRule, RankRules, RecsSource, Variant};
pub use products::RecsInput;
pub use rank::{MAX_LISTED, MAX_SCORED as MAX_RANK_SCORED};
use visitor::Visitor;

use crate::learn::recs::Recs;
use crate::measure::experiments::{Assigned, Treatment};
use crate::profile::Profile;
use crate::profile::catalog::Catalog;

/// The most candidates one recommendations answer scores ([`Answer::scored`]), whatever the
/// data: a constant (`tests/bounded_work.rs`).
pub const MAX_RECS_SCORED: usize = products::MAX_SCORED;
/// The most candidates one navigation answer scores.
pub const MAX_NAV_SCORED: usize = nav::MAX_SCORED;

/// The version of the decision logic, logged with every decision. `rules-2`: recommendations
/// lead with the session recommender (`session_model`).
pub const MODEL_VERSION: &str = "rules-2";

/// Whether `attributes` satisfy a targeting `condition`.
pub(crate) fn matches(attributes: &Value, condition: &Value) -> bool {
    tailor_core::condition::eval_condition(attributes, condition)
}

#[derive(Debug, Clone, Serialize)]
pub struct NavEntry {
    pub name: String,
    pub path: String,
    pub score: f64,
    /// Subcategory paths in the visitor's order.
    pub children: Vec<String>,
}

/// One product of a ranking answer, in the new order.
#[derive(Debug, Clone, Serialize)]
pub struct RankedItem {
    pub id: String,
    /// Its 1-based position in the store's list, when it moved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub was: Option<usize>,
    /// Why it moved (up by a signal or a store rule, or down by a store rule or stock);
    /// absent for products that only made room.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RecItem {
    #[serde(serialize_with = "product_summary")]
    pub product: Arc<Product>,
    pub score: f64,
    pub reason: String,
}

/// What a page needs to show a recommended product; the rest is in the catalog API.
fn product_summary<S: serde::Serializer>(p: &Arc<Product>, s: S) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct Summary<'a> {
        id: &'a str,
        name: &'a str,
        category: &'a [String],
        #[serde(skip_serializing_if = "Option::is_none")]
        brand: Option<&'a str>,
        price: f64,
        currency: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        image_url: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        url: Option<&'a str>,
    }
    Summary {
        id: &p.id,
        name: &p.name,
        category: &p.category,
        brand: p.brand.as_deref(),
        price: p.price,
        currency: &p.currency,
        image_url: p.image_url.as_deref(),
        url: p.url.as_deref(),
    }
    .serialize(s)
}

fn content_summary<S: serde::Serializer>(
    item: &Option<Arc<ContentItem>>,
    s: S,
) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct Summary<'a> {
        id: &'a str,
        kind: tailor_core::ContentKind,
        title: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        body: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        image_url: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        link_url: Option<&'a str>,
        #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
        attributes: &'a serde_json::Map<String, Value>,
    }
    item.as_ref()
        .map(|c| Summary {
            id: &c.id,
            kind: c.kind,
            title: &c.title,
            body: c.body.as_deref(),
            image_url: c.image_url.as_deref(),
            link_url: c.link_url.as_deref(),
            attributes: &c.attributes,
        })
        .serialize(s)
}

/// One placement's answer.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Answer {
    pub kind: PlacementKind,
    /// The banner or promotion (hero, promotion); absent when none fits. Its targeting
    /// rules stay on the server: answers reach browsers.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "content_summary"
    )]
    pub item: Option<Arc<ContentItem>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub items: Option<Vec<RecItem>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub categories: Option<Vec<NavEntry>>,
    /// Ranking: the listed products (`context.productIds`) in the visitor's order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ranking: Option<Vec<RankedItem>>,
    /// Navigation: leaf categories the visitor has not engaged with yet and is predicted to
    /// take up next (`predictions.next_categories`), for a "new for you" row; absent
    /// without a trained model or personalization.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_for_you: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// The on-site message (message placements): key, journey, title, body, products,
    /// expiry and views.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<Value>,
    pub explanation: String,
    /// Probability that this policy shows what it showed (1 for deterministic rules; the
    /// variation's weight in an experiment).
    pub propensity: f64,
    /// The experiment variation this answer came from, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub experiment: Option<Assigned>,
    /// What a learning policy chose, to learn from its reward.
    #[serde(skip)]
    pub learned: Option<crate::learn::policies::Learned>,
    #[serde(skip)]
    pub candidates: Vec<String>,
    #[serde(skip)]
    pub chosen: Option<String>,
    #[serde(skip)]
    pub shown: Vec<String>,
    /// Candidates scored to reach this answer: the session model's neighbour sessions,
    /// votes, rules and reminders, products, categories and content items looked at. Bounded
    /// by constants (see `tests/bounded_work.rs`), whatever the visitor's history, the
    /// products' popularity or the catalog's size.
    #[serde(skip)]
    pub scored: usize,
}

impl Answer {
    fn new(placement: &Placement) -> Answer {
        Answer {
            kind: placement.kind,
            item: None,
            items: None,
            categories: None,
            ranking: None,
            new_for_you: None,
            variant: None,
            message: None,
            explanation: String::new(),
            propensity: 1.0,
            experiment: None,
            learned: None,
            candidates: Vec::new(),
            chosen: None,
            shown: Vec::new(),
            scored: 0,
        }
    }

    fn choose_content(&mut self, item: &Arc<ContentItem>) {
        self.chosen = Some(item.id.clone());
        self.shown = vec![item.id.clone()];
        self.item = Some(item.clone());
    }

    /// What the decision log keeps of it: ids and positions, not documents; the candidate
    /// pool only for a learning placement (its arms).
    pub fn logged(&self, placement: &str) -> tailor_store::LoggedPlacement {
        let kind = serde_json::to_value(self.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        tailor_store::LoggedPlacement {
            placement: placement.to_string(),
            counted: self.chosen.is_some()
                && matches!(self.kind, PlacementKind::Hero | PlacementKind::Promotion),
            kind,
            chosen: self.chosen.clone(),
            shown: self.shown.clone(),
            candidates: match &self.learned {
                Some(_) => self.candidates.clone(),
                None => Vec::new(),
            },
            propensity: self.propensity,
            experiment: self
                .experiment
                .as_ref()
                .map(|e| (e.experiment.clone(), e.variation.clone())),
            features: self
                .learned
                .as_ref()
                .map(|l| l.features.clone())
                .unwrap_or_default(),
            explanation: self.explanation.clone(),
        }
    }
}

/// A decide request, validated.
pub struct Request<'a> {
    pub placements: &'a [Placement],
    pub context: &'a Map<String, Value>,
    pub product: Option<&'a str>,
    pub cart: Vec<String>,
    pub now: tailor_core::Millis,
    /// The learning placements' state.
    pub learning: &'a crate::learn::policies::Policies,
    /// The prediction models in service, if trained and read by these placements, with what
    /// they read of them.
    pub models: Option<(
        &'a crate::learn::predictions::Models,
        crate::learn::predictions::Scope,
    )>,
    /// Delivered on-site messages (message placements).
    pub onsite: Option<&'a onsite::Inbox>,
    /// The caller is an unproven browser (see [`Visitor::discreet`]).
    pub discreet: bool,
    /// The store's list a ranking placement orders (`context.productIds`, at most
    /// [`MAX_LISTED`]).
    pub listed: &'a [String],
}

/// Every placement's answer, and whether they were personalized.
pub struct Decided {
    pub personalized: bool,
    /// Why not, when not.
    pub reason: Option<&'static str>,
    pub answers: Vec<Answer>,
}

/// Answers every requested placement for one visitor.
pub fn decide(
    catalog: &Catalog,
    recs: &Recs,
    profile: Option<&Profile>,
    policy: &crate::govern::consent::ConsentPolicy,
    shown: &crate::measure::decision_log::ShownCounts,
    request: &Request<'_>,
    experiments: &mut dyn FnMut(&Placement, &Value) -> Option<Assigned>,
) -> Decided {
    let now = request.now;
    let mut personal = Visitor::new(profile, policy, request.context, now, request.models);
    personal.discreet = request.discreet;
    // What everyone sees: for placements an experiment holds out.
    let everyone = Visitor::new(None, policy, request.context, now, None);
    let answers = request
        .placements
        .iter()
        .map(|placement| {
            if let Some(cond) = &placement.condition
                && !matches(&personal.attributes, cond)
            {
                let mut a = Answer::new(placement);
                a.explanation = "Not shown: this placement's targeting does not include you".into();
                return a;
            }
            let assigned = experiments(placement, &personal.attributes);
            let visitor = match assigned.as_ref().map(|a| a.treatment) {
                Some(Treatment::Editorial) => &everyone,
                _ => &personal,
            };
            let forced = assigned
                .as_ref()
                .and_then(|a| a.content.as_deref())
                .and_then(|id| catalog.content_item(id))
                .filter(|c| c.is_live(now));
            let mut answer = match (placement.kind, forced) {
                (PlacementKind::Hero | PlacementKind::Promotion, Some(item)) => {
                    let mut a = Answer::new(placement);
                    a.candidates = vec![item.id.clone()];
                    a.explanation = format!("{} (a variation we are testing)", item.title);
                    a.choose_content(&item);
                    a
                }
                _ => {
                    let rules = answer_placement(catalog, recs, placement, visitor, shown, request);
                    match &placement.policy {
                        Some(policy) => learning::apply(
                            catalog,
                            placement,
                            policy,
                            request.learning,
                            visitor,
                            shown,
                            rules,
                        ),
                        None => rules,
                    }
                }
            };
            if let Some(a) = assigned {
                answer.propensity = a.weight;
                answer.experiment = Some(a);
            }
            answer
        })
        .collect();
    Decided {
        personalized: personal.personalized(),
        reason: personal.denied.map(|d| d.reason()),
        answers,
    }
}

fn answer_placement(
    catalog: &Catalog,
    recs: &Recs,
    placement: &Placement,
    visitor: &Visitor<'_>,
    shown: &crate::measure::decision_log::ShownCounts,
    request: &Request<'_>,
) -> Answer {
    match placement.kind {
        PlacementKind::Hero => content::hero(catalog, placement, visitor, shown),
        PlacementKind::Promotion => content::promotion(catalog, placement, visitor, shown),
        PlacementKind::Navigation => nav::navigation(catalog, recs, placement, visitor),
        PlacementKind::Recommendations => {
            let input = RecsInput {
                product: request.product,
                cart: &request.cart,
            };
            products::recommend(catalog, recs, placement, visitor, &input)
        }
        PlacementKind::Checkout => checkout(placement, visitor),
        PlacementKind::Message => message(placement, visitor, request),
        PlacementKind::Ranking => rank::rank(catalog, recs, placement, visitor, request.listed),
    }
}

/// The visitor's on-site message from a journey: only with personalization consent (it is
/// about them), counted as one view.
fn message(placement: &Placement, visitor: &Visitor<'_>, request: &Request<'_>) -> Answer {
    let mut answer = Answer::new(placement);
    let Some(profile) = visitor.profile() else {
        answer.explanation = visitor
            .denied
            .map_or("No message for you", |d| d.reason())
            .into();
        return answer;
    };
    // A message is addressed to a person: shown (and counted) only to a caller who proved
    // to be them.
    if visitor.discreet {
        answer.explanation = "No message for you right now".into();
        return answer;
    }
    let shown = request
        .onsite
        .and_then(|inbox| inbox.show(profile.ids().map(String::as_str), request.now));
    match shown {
        None => answer.explanation = "No message for you right now".into(),
        Some((m, views)) => {
            answer.explanation = format!("A message from the journey {:?}", m.journey);
            answer.chosen = Some(m.key.clone());
            answer.shown = vec![m.key.clone()];
            answer.candidates = vec![m.key.clone()];
            answer.message = Some(serde_json::json!({
                "key": m.key, "journey": m.journey, "title": m.title, "body": m.body,
                "products": m.products, "decisionId": m.decision_id,
                "expiresAt": tailor_core::time::format_timestamp(m.expires_at),
                "views": views, "maxViews": m.max_views,
            }));
        }
    }
    answer
}

fn checkout(placement: &Placement, visitor: &Visitor<'_>) -> Answer {
    let mut answer = Answer::new(placement);
    answer.candidates = placement.variants.iter().map(|v| v.id.clone()).collect();
    let chosen = placement
        .variants
        .iter()
        .find(|v| {
            v.condition
                .as_ref()
                .is_none_or(|c| matches(&visitor.attributes, c))
        })
        .or_else(|| placement.variants.last());
    if let Some(v) = chosen
        && visitor.discreet
    {
        answer.explanation = "The checkout that suits your order".into();
        answer.variant = Some(v.id.clone());
        answer.chosen = Some(v.id.clone());
    } else if let Some(v) = chosen {
        let fill = |key: &str| {
            visitor
                .attributes
                .get(key)
                .map(|x| x.to_string())
                .unwrap_or_default()
        };
        answer.explanation = v
            .explanation
            .replace("{orders}", &fill("orders"))
            .replace("{cartValue}", &fill("cartValue"))
            .replace("{cartItems}", &fill("cartItems"));
        answer.variant = Some(v.id.clone());
        answer.chosen = Some(v.id.clone());
    }
    answer
}
