//! Placements: named slots of a page, each with a kind, an optional targeting condition,
//! and kind-specific settings. The nine standard ones exist out of the box; the admin
//! can change them or add more through the API.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tailor_core::ValidationError;
use tailor_core::validate::Problems;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PlacementKind {
    /// One banner from the content pool (`home.hero`).
    Hero,
    /// The store's categories in the visitor's order (`nav.categories`).
    Navigation,
    /// The promotion that fits the visitor's state, or none (`promo.banner`).
    Promotion,
    /// Products (`recs.home`, `recs.product`, `recs.cart`).
    Recommendations,
    /// A checkout variant (`checkout.flow`).
    Checkout,
    /// The on-site message a journey delivered to this visitor, if any (`onsite.message`).
    Message,
    /// The store's own product list (`context.productIds`: a category page, search results)
    /// in the visitor's order, with the store's pins, boosts and burials (`rank.listing`).
    Ranking,
}

/// What recommendations start from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RecsSource {
    /// The visitor's recent views and interests; popular and trending for newcomers.
    Visitor,
    /// The product in `context.productId`.
    Product,
    /// The products in `context.cart` (or the visitor's cart).
    Cart,
}

/// A variant of a checkout placement; the first whose condition matches is chosen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Variant {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<Value>,
    /// Shown to the visitor; `{orders}`, `{cartValue}`, `{cartItems}` are filled in.
    pub explanation: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Placement {
    pub id: String,
    pub kind: PlacementKind,
    /// Who the placement is for; others get an empty answer saying so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<Value>,
    /// How many items (navigation entries, products) to return.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<RecsSource>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub variants: Vec<Variant>,
    /// A learning policy choosing among the eligible candidates (hero, promotion,
    /// checkout); the rules choose without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<crate::learn::policies::LearningPolicy>,
    /// The store's merchandising rules for a ranking placement: pins, boosts, burials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rules: Option<RankRules>,
}

/// Which listed products a boost or burial applies to: any product matching one of the ids,
/// or under the category path, or of the brand (at least one is required).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RankRule {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub product_ids: Vec<String>,
    /// A category path (`Shoes` or `Shoes/Running`): its products and its subcategories'.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brand: Option<String>,
    /// A boost's strength (0 to 10; 1 by default): a boost of 1 weighs as much as the
    /// strongest session signal. Ignored for burials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<f64>,
}

impl RankRule {
    pub fn matches(&self, product: &tailor_core::Product) -> bool {
        self.product_ids.contains(&product.id)
            || self.category.as_deref().is_some_and(|path| {
                let want = tailor_core::catalog::split_category(path);
                !want.is_empty() && product.category.starts_with(&want)
            })
            || self.brand.as_deref().is_some_and(|b| {
                product
                    .brand
                    .as_deref()
                    .is_some_and(|pb| pb.eq_ignore_ascii_case(b))
            })
    }

    fn validate(&self, what: &str, p: &mut Problems) {
        if self.product_ids.is_empty() && self.category.is_none() && self.brand.is_none() {
            p.push(format!(
                "a `{what}` rule needs `productIds`, `category` or `brand`"
            ));
        }
        if self.product_ids.len() > MAX_RULE_PRODUCTS {
            p.push(format!(
                "a `{what}` rule lists at most {MAX_RULE_PRODUCTS} `productIds`"
            ));
        }
        if self.weight.is_some_and(|w| !(w > 0.0 && w <= 10.0)) {
            p.push(format!(
                "a `{what}` rule's `weight` must be above 0 and at most 10"
            ));
        }
    }
}

/// A ranking placement's merchandising rules, applied for every visitor: pinned products
/// lead in the given order (when listed), boosted ones move up, buried ones go last (after
/// products out of stock, which go last unless `keepOutOfStock`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RankRules {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pin: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub boost: Vec<RankRule>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bury: Vec<RankRule>,
    /// Leave products out of stock where they are instead of moving them to the end.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub keep_out_of_stock: bool,
}

/// At most this many pins, and product ids per rule.
pub const MAX_RULE_PRODUCTS: usize = 100;
/// At most this many boost rules and this many burial rules per placement.
pub const MAX_RULES: usize = 20;

impl Placement {
    pub fn limit_or(&self, default: usize) -> usize {
        self.limit.unwrap_or(default).clamp(1, 100)
    }

    /// Validates a placement from its JSON form, reporting every problem.
    pub fn from_json(value: Value) -> Result<Placement, ValidationError> {
        let id = value.get("id").cloned();
        let placement: Placement = serde_json::from_value(value).map_err(|e| {
            ValidationError::one(format!(
                "placement {}: {e} (fields: id, kind = hero|navigation|promotion|recommendations|checkout|message|ranking, condition, limit, source, variants, policy, rules)",
                id.unwrap_or(Value::Null)
            ))
        })?;
        let mut p = Problems::default();
        if placement.id.trim().is_empty() || placement.id.len() > 100 {
            p.push("`id` must be 1 to 100 characters, e.g. \"home.hero\"");
        }
        if let Some(c) = &placement.condition
            && let Err(e) = tailor_core::condition::validate_condition(c)
        {
            p.push(format!("`condition`: {e}"));
        }
        if placement.limit.is_some_and(|l| l == 0 || l > 100) {
            p.push("`limit` must be 1 to 100");
        }
        match placement.kind {
            PlacementKind::Recommendations if placement.source.is_none() => {
                p.push("recommendations need a `source`: visitor, product or cart")
            }
            PlacementKind::Checkout if placement.variants.is_empty() => p.push(
                "a checkout placement needs `variants`: [{\"id\", \"condition\", \"explanation\"}]",
            ),
            _ => {}
        }
        if let Some(policy) = &placement.policy {
            if !matches!(
                placement.kind,
                PlacementKind::Hero | PlacementKind::Promotion | PlacementKind::Checkout
            ) {
                p.push("a learning `policy` chooses among banners, promotions or checkout variants: use it on hero, promotion or checkout placements");
            }
            for problem in policy.validate() {
                p.push(problem);
            }
        }
        if let Some(rules) = &placement.rules {
            if placement.kind != PlacementKind::Ranking {
                p.push("`rules` (pin, boost, bury) apply to ranking placements only");
            }
            if rules.pin.len() > MAX_RULE_PRODUCTS {
                p.push(format!(
                    "`rules.pin` lists at most {MAX_RULE_PRODUCTS} product ids"
                ));
            }
            if rules.boost.len() > MAX_RULES || rules.bury.len() > MAX_RULES {
                p.push(format!(
                    "at most {MAX_RULES} `boost` and {MAX_RULES} `bury` rules"
                ));
            }
            for r in &rules.boost {
                r.validate("boost", &mut p);
            }
            for r in &rules.bury {
                r.validate("bury", &mut p);
            }
        }
        for v in &placement.variants {
            if let Some(c) = &v.condition
                && let Err(e) = tailor_core::condition::validate_condition(c)
            {
                p.push(format!("variant {:?} `condition`: {e}", v.id));
            }
        }
        p.into_result(placement)
    }
}

/// The placements every store has until it configures its own.
pub fn standard() -> Vec<Placement> {
    let simple = |id: &str, kind, limit: Option<usize>, source| Placement {
        id: id.into(),
        kind,
        condition: None,
        limit,
        source,
        variants: Vec::new(),
        policy: None,
        rules: None,
    };
    vec![
        simple("home.hero", PlacementKind::Hero, None, None),
        simple("nav.categories", PlacementKind::Navigation, Some(8), None),
        simple("promo.banner", PlacementKind::Promotion, None, None),
        simple("recs.home", PlacementKind::Recommendations, Some(8), Some(RecsSource::Visitor)),
        simple("recs.product", PlacementKind::Recommendations, Some(8), Some(RecsSource::Product)),
        simple("recs.cart", PlacementKind::Recommendations, Some(4), Some(RecsSource::Cart)),
        Placement {
            variants: vec![
                Variant {
                    id: "express".into(),
                    condition: Some(json!({"orders": {"$gte": 1}})),
                    explanation: "Express checkout with your saved details, since you've ordered {orders} time(s) before"
                        .into(),
                },
                Variant {
                    id: "reassurance".into(),
                    condition: Some(json!({"orders": 0, "cartValue": {"$gte": 100}})),
                    explanation: "Free returns and secure payment up front: a first order of ${cartValue} deserves it"
                        .into(),
                },
                Variant { id: "standard".into(), condition: None, explanation: "The standard checkout".into() },
            ],
            ..simple("checkout.flow", PlacementKind::Checkout, None, None)
        },
        simple("onsite.message", PlacementKind::Message, None, None),
        // The first 24 products of the new order are logged (a page's worth).
        simple("rank.listing", PlacementKind::Ranking, Some(24), None),
    ]
}

/// The store's placements, as saved (the standard ones until the admin changes them);
/// replaced whole, so a decision reads one consistent list.
pub(crate) struct Placements {
    all: parking_lot::RwLock<std::sync::Arc<Vec<Placement>>>,
}

impl Placements {
    pub fn new(all: Vec<Placement>) -> Self {
        Placements {
            all: parking_lot::RwLock::new(std::sync::Arc::new(all)),
        }
    }

    pub fn list(&self) -> std::sync::Arc<Vec<Placement>> {
        self.all.read().clone()
    }

    pub fn replace(&self, all: Vec<Placement>) {
        *self.all.write() = std::sync::Arc::new(all);
    }

    /// The placements that learn, with their policies.
    pub fn learning(&self) -> Vec<(String, crate::learn::policies::LearningPolicy)> {
        self.list()
            .iter()
            .filter_map(|p| p.policy.map(|policy| (p.id.clone(), policy)))
            .collect()
    }

    /// The placements a request names, in its order; every unknown one refused at once.
    pub fn pick(&self, names: &[String]) -> Result<Vec<Placement>, crate::error::EngineError> {
        if names.is_empty() {
            return Err(super::decider::no_placements());
        }
        let known = self.list();
        let mut picked = Vec::with_capacity(names.len());
        let mut unknown = Vec::new();
        for name in names {
            match known.iter().find(|p| &p.id == name) {
                Some(p) => picked.push(p.clone()),
                None => unknown.push(name.as_str()),
            }
        }
        if !unknown.is_empty() {
            let ids: Vec<&str> = known.iter().map(|p| p.id.as_str()).collect();
            return Err(ValidationError::one(format!(
                "unknown placement(s) {unknown:?}; this store has: {}",
                ids.join(", ")
            ))
            .into());
        }
        Ok(picked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_placements_are_valid() {
        for p in standard() {
            let v = serde_json::to_value(&p).unwrap();
            assert_eq!(Placement::from_json(v).unwrap(), p);
        }
    }

    #[test]
    fn invalid_placements_are_explained() {
        let err = Placement::from_json(json!({"id": "x", "kind": "carousel"})).unwrap_err();
        assert!(err.to_string().contains("kind"), "{err}");
        let err = Placement::from_json(json!({"id": "", "kind": "recommendations", "limit": 0}))
            .unwrap_err();
        assert_eq!(err.problems.len(), 3, "{err}");
        let err = Placement::from_json(
            json!({"id": "x", "kind": "hero", "condition": {"a": {"$bogus": 1}}}),
        )
        .unwrap_err();
        assert!(err.to_string().contains("condition"), "{err}");
    }
}
