//! Who is asking, and what a decision may use about them. The consent check lives here,
//! once: a placement reaches the profile only through [`Visitor::profile`], which is
//! `None` unless personalization is allowed.

use serde_json::{Map, Value, json};
use tailor_core::{Millis, Purpose};

use tailor_core::preferences::{self, Preferences};

use crate::govern::consent::ConsentPolicy;
use crate::learn::predictions::Scope;
use crate::profile::Profile;

/// Why a visitor gets the non-personalized answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotPersonalized {
    /// The person withdrew personalization consent, or never gave it where it is opt-in.
    NoConsent,
    /// Tailor has no history for this visitor yet.
    Unknown,
}

impl NotPersonalized {
    pub fn reason(self) -> &'static str {
        match self {
            NotPersonalized::NoConsent => "no personalization consent: showing what everyone sees",
            NotPersonalized::Unknown => {
                "new visitor: no history yet, showing popular and editorial picks"
            }
        }
    }
}

pub struct Visitor<'a> {
    profile: Option<&'a Profile>,
    pub denied: Option<NotPersonalized>,
    pub now: Millis,
    /// Attributes targeting conditions are evaluated against.
    pub attributes: Value,
    interests: Vec<(&'a str, f64)>,
    /// What the visitor told the store (zero-party data); empty without personalization.
    pub declared: Preferences,
    /// The declared categories and every parent of them (`Shoes`, `Shoes/Running`).
    declared_paths: Vec<String>,
    /// The caller could not prove who they are (a browser without a profile token or user
    /// hash): explanations name no cart contents, order counts, products they viewed or
    /// prediction values, and on-site messages are not shown.
    pub discreet: bool,
}

/// Interest in a declared category: above anything inferred (which tops out at 1.0), so
/// what a shopper told the store outweighs what Tailor guessed.
pub const DECLARED_INTEREST: f64 = 1.5;

impl<'a> Visitor<'a> {
    pub fn new(
        profile: Option<&'a Profile>,
        policy: &ConsentPolicy,
        context: &Map<String, Value>,
        now: Millis,
        models: Option<(&crate::learn::predictions::Models, Scope)>,
    ) -> Visitor<'a> {
        let denied = match profile {
            None => Some(NotPersonalized::Unknown),
            // May this person's data shape what they see? Asked of the one consent check.
            Some(p) if !policy.may(Some(p), Purpose::Personalization).allowed => {
                Some(NotPersonalized::NoConsent)
            }
            Some(_) => None,
        };
        let usable = if denied.is_none() { profile } else { None };
        // Predictions are personal data too: only with personalization consent (`usable`).
        let attributes = attributes_scoped(usable, context, now, models);
        let interests = usable
            .map(|p| normalized_interests(p, now))
            .unwrap_or_default();
        let declared = usable
            .and_then(|p| p.traits.get(preferences::TRAIT))
            .map(|t| Preferences::from_trait(&t.value))
            .unwrap_or_default();
        let mut declared_paths = Vec::new();
        for c in &declared.categories {
            let parts: Vec<&str> = c.split('/').collect();
            for depth in 1..=parts.len() {
                let path = parts[..depth].join("/");
                if !declared_paths.contains(&path) {
                    declared_paths.push(path);
                }
            }
        }
        Visitor {
            profile: usable,
            denied,
            now,
            attributes,
            interests,
            declared,
            declared_paths,
            discreet: false,
        }
    }

    /// The profile, only when personalization is allowed.
    pub fn profile(&self) -> Option<&'a Profile> {
        self.profile
    }

    pub fn personalized(&self) -> bool {
        self.profile.is_some()
    }

    /// The visitor's categories by interest, strongest first, with scores normalized to
    /// the strongest (1.0). Empty without personalization.
    pub fn interests(&self) -> &[(&'a str, f64)] {
        &self.interests
    }

    /// Interest in a category path: [`DECLARED_INTEREST`] if the visitor told us they like it
    /// (or a category under it), else the inferred interest (0 to 1).
    pub fn interest_in(&self, category: &str) -> f64 {
        if self.told_us(category) {
            return DECLARED_INTEREST;
        }
        self.interests
            .iter()
            .find(|(k, _)| *k == category)
            .map_or(0.0, |(_, v)| *v)
    }

    /// Whether the visitor declared `category` (or a category under it) a favourite.
    pub fn told_us(&self, category: &str) -> bool {
        self.declared_paths.iter().any(|p| p == category)
    }

    /// Whether a price fits the visitor's declared price range (true when they declared none).
    pub fn price_fits(&self, price: f64) -> bool {
        self.declared
            .price_range
            .is_none_or(|r| r.min <= price && price <= r.max)
    }
}

fn normalized_interests(p: &Profile, now: Millis) -> Vec<(&str, f64)> {
    let ranked = p.categories.ranked(now);
    let top = ranked.first().map_or(0.0, |(_, v)| *v);
    if top <= 0.0 {
        return Vec::new();
    }
    ranked.into_iter().map(|(k, v)| (k, v / top)).collect()
}

/// The attribute document conditions see. Without personalization only the request's
/// own context is there (and zeros), so conditions cannot leak personal data.
/// Names: lifecycleStage, orders, revenue, cartItems, cartValue, productViews,
/// comparisons, sessions, daysSinceLastOrder, topCategory, topCategories, emailOpenRate,
/// traits.*, context.*, and predictions.* once a model version is trained (`Visitor::new`).
pub(crate) fn attributes(
    profile: Option<&Profile>,
    context: &Map<String, Value>,
    now: Millis,
    models: Option<&crate::learn::predictions::Models>,
) -> Value {
    attributes_scoped(profile, context, now, models.map(|m| (m, Scope::All)))
}

/// [`attributes`] with only the predictions `scope` needs.
fn attributes_scoped(
    profile: Option<&Profile>,
    context: &Map<String, Value>,
    now: Millis,
    models: Option<(&crate::learn::predictions::Models, Scope)>,
) -> Value {
    let Some(p) = profile else {
        return json!({
            "personalized": false, "orders": 0, "revenue": 0, "cartItems": 0, "cartValue": 0,
            "productViews": 0, "comparisons": 0, "sessions": 0, "context": context,
        });
    };
    let top: Vec<&str> = p
        .categories
        .ranked(now)
        .into_iter()
        .take(3)
        .map(|(k, _)| k)
        .collect();
    let traits: Map<String, Value> = p
        .traits
        .iter()
        .map(|(k, v)| (k.clone(), v.value.clone()))
        .collect();
    json!({
        "personalized": true,
        "lifecycleStage": p.lifecycle_stage(now).as_str(),
        "orders": p.orders.count,
        "revenue": (p.orders.revenue * 100.0).round() / 100.0,
        "cartItems": p.cart.items().count(),
        "cartValue": (p.cart.value() * 100.0).round() / 100.0,
        "productViews": p.product_views,
        "comparisons": p.sessions.comparisons(),
        "sessions": p.sessions.count(),
        "daysSinceLastOrder": p.orders.last_at.map(|t| (now - t) as f64 / tailor_core::time::DAY as f64),
        "topCategory": top.first(),
        "topCategories": top,
        "emailOpenRate": if p.email.delivered == 0 { 0.0 } else { p.email.opened as f64 / p.email.delivered as f64 },
        "traits": traits,
        "context": context,
        "predictions": models.map(|(m, scope)| m.predict_scoped(p, now, None, scope)),
    })
}
