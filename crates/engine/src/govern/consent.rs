//! The one answer to "may purpose P use this person's data now?" ([`ConsentPolicy::may`]),
//! and the store's consent policy it applies.
//!
//! A person's own choice always wins: their latest grant or withdrawal for the purpose, from
//! any source (Segment's `context.consent.categoryPreferences`, `PUT /v1/consent`, the
//! preference center, an import), folded into the profile in event-time order. Without a
//! choice, the policy's default for the purpose applies: the default of the first region
//! listing the person's country (trait `country`, or `address.country`, an ISO 3166 code),
//! else the global one. `opt-out` purposes are allowed until withdrawn, `opt-in` purposes
//! are denied until granted.
//!
//! Every path asks here: ingestion (analytics: what is stored), `decide` (personalization),
//! and the channels (email, push, sms, advertising) when they send.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tailor_core::{Millis, Purpose, ValidationError};

use crate::profile::Profile;

/// Whether a purpose applies before the person says anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DefaultRule {
    /// Denied until the person grants it.
    OptIn,
    /// Allowed until the person withdraws it.
    OptOut,
}

/// Defaults for the people of some countries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegionPolicy {
    pub name: String,
    /// ISO 3166-1 alpha-2 codes.
    pub countries: Vec<String>,
    /// Purposes not listed fall back to the global defaults.
    pub defaults: BTreeMap<Purpose, DefaultRule>,
}

/// The store's consent policy (`GET`/`PUT /v1/consent/policy`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsentPolicy {
    /// Recorded with every consent change made under this policy.
    pub version: String,
    pub defaults: BTreeMap<Purpose, DefaultRule>,
    #[serde(default)]
    pub regions: Vec<RegionPolicy>,
}

/// The consent policy in force, swapped whole when the admin saves a new one (takes effect
/// on the next call); readers keep the one they started with.
#[derive(Default)]
pub struct Consent {
    policy: parking_lot::RwLock<std::sync::Arc<ConsentPolicy>>,
}

impl Consent {
    pub fn new(policy: ConsentPolicy) -> Self {
        Consent {
            policy: parking_lot::RwLock::new(std::sync::Arc::new(policy)),
        }
    }

    pub fn policy(&self) -> std::sync::Arc<ConsentPolicy> {
        self.policy.read().clone()
    }

    pub fn replace(&self, policy: ConsentPolicy) {
        *self.policy.write() = std::sync::Arc::new(policy);
    }
}

/// The EEA, Switzerland and the UK: consent before cookies and tracking (GDPR, ePrivacy).
const EUROPE: [&str; 33] = [
    "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE", "IT", "LV",
    "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE", "IS", "LI", "NO", "CH", "GB",
    "UK",
];

impl Default for ConsentPolicy {
    /// Measurement and on-site personalization until withdrawn; messages and advertising
    /// only with consent; in Europe, everything only with consent.
    fn default() -> Self {
        use DefaultRule::{OptIn, OptOut};
        let defaults = BTreeMap::from([
            (Purpose::Analytics, OptOut),
            (Purpose::Personalization, OptOut),
            (Purpose::Email, OptIn),
            (Purpose::Push, OptIn),
            (Purpose::Sms, OptIn),
            (Purpose::Advertising, OptIn),
        ]);
        ConsentPolicy {
            version: "1".into(),
            defaults,
            regions: vec![RegionPolicy {
                name: "Europe".into(),
                countries: EUROPE.iter().map(|c| c.to_string()).collect(),
                defaults: Purpose::ALL.into_iter().map(|p| (p, OptIn)).collect(),
            }],
        }
    }
}

/// Why a purpose is allowed or not.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "basis", rename_all = "camelCase")]
pub enum Basis {
    /// The person's own latest choice.
    #[serde(rename_all = "camelCase")]
    Choice { at: Millis, source: String },
    /// The policy's default, for their region if one applies.
    #[serde(rename_all = "camelCase")]
    Default {
        rule: DefaultRule,
        region: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Permission {
    pub allowed: bool,
    #[serde(flatten)]
    pub basis: Basis,
}

impl Permission {
    /// A short reason for people: "withdrawn", "opt-in required in Europe", …
    pub fn describe(&self) -> String {
        match (&self.basis, self.allowed) {
            (Basis::Choice { .. }, true) => "granted".into(),
            (Basis::Choice { .. }, false) => "withdrawn".into(),
            (Basis::Default { region, .. }, allowed) => {
                let what = if allowed {
                    "allowed by default"
                } else {
                    "not granted (opt-in)"
                };
                match region {
                    Some(r) => format!("{what} in {r}"),
                    None => what.into(),
                }
            }
        }
    }
}

impl ConsentPolicy {
    /// Every problem at once: a missing purpose, an unknown or empty region.
    pub fn validate(&self) -> Result<(), ValidationError> {
        let mut problems = Vec::new();
        if self.version.trim().is_empty() {
            problems.push("`version` must not be empty".to_string());
        }
        for p in Purpose::ALL {
            if !self.defaults.contains_key(&p) {
                problems.push(format!(
                    "`defaults` must say \"opt-in\" or \"opt-out\" for {:?}",
                    p.as_str()
                ));
            }
        }
        for (i, r) in self.regions.iter().enumerate() {
            if r.name.trim().is_empty() {
                problems.push(format!("regions[{i}]: `name` must not be empty"));
            }
            if r.countries.is_empty() {
                problems.push(format!("regions[{i}]: `countries` must list ISO codes"));
            }
            for c in &r.countries {
                if c.len() != 2 || !c.chars().all(|ch| ch.is_ascii_alphabetic()) {
                    problems.push(format!(
                        "regions[{i}]: {c:?} is not an ISO 3166-1 alpha-2 country code"
                    ));
                }
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ValidationError { problems })
        }
    }

    /// May `purpose` use the data of the person whose profile this is, now? `None`: a
    /// person Tailor does not know yet (the global default applies).
    pub fn may(&self, profile: Option<&Profile>, purpose: Purpose) -> Permission {
        if let Some(choice) = profile.and_then(|p| p.consent.get(&purpose)) {
            return Permission {
                allowed: choice.value.granted,
                basis: Basis::Choice {
                    at: choice.at,
                    source: choice.value.source.clone(),
                },
            };
        }
        let region = profile
            .and_then(country)
            .and_then(|c| {
                self.regions
                    .iter()
                    .find(|r| r.countries.iter().any(|x| x.eq_ignore_ascii_case(&c)))
            })
            .filter(|r| r.defaults.contains_key(&purpose));
        let rule = region
            .and_then(|r| r.defaults.get(&purpose))
            .or_else(|| self.defaults.get(&purpose))
            .copied()
            .unwrap_or(DefaultRule::OptIn);
        Permission {
            allowed: rule == DefaultRule::OptOut,
            basis: Basis::Default {
                rule,
                region: region.map(|r| r.name.clone()),
            },
        }
    }
}

/// The name of the event that records a consent change (Segment's).
pub const CONSENT_EVENT: &str = "Segment Consent Preference Updated";

/// What ingestion may store under analytics consent. Without it, Tailor keeps only:
/// identify and alias calls (who the person is, so their consent, erasure and export reach
/// all their ids), consent changes (the ledger: a withheld event that carried one is stored
/// as a bare consent record with its ids, time and preferences, nothing else), and nothing
/// of their browsing. Decided per message, in order, so a consent change earlier in the same
/// batch governs the messages after it.
pub struct AnalyticsGate<'a> {
    policy: &'a ConsentPolicy,
    registry: &'a crate::profile::registry::Registry,
    /// Analytics choices made earlier in this batch, by id.
    pending: std::collections::HashMap<String, bool>,
}

impl<'a> AnalyticsGate<'a> {
    pub fn new(
        policy: &'a ConsentPolicy,
        registry: &'a crate::profile::registry::Registry,
    ) -> Self {
        Self {
            policy,
            registry,
            pending: Default::default(),
        }
    }

    /// The message to store, or `None` when it must be withheld.
    pub fn admit(&mut self, m: tailor_core::Message) -> Option<tailor_core::Message> {
        use tailor_core::MessageType;
        let prefs = m
            .context
            .get("consent")
            .and_then(|c| c.get("categoryPreferences"))
            .and_then(serde_json::Value::as_object);
        if let Some(choice) = prefs.and_then(analytics_choice) {
            for id in [&m.user_id, &m.anonymous_id].into_iter().flatten() {
                self.pending.insert(id.clone(), choice);
            }
        }
        if matches!(m.kind, MessageType::Identify | MessageType::Alias)
            || m.event.as_deref() == Some(CONSENT_EVENT)
            || self.allowed(&m)
        {
            return Some(m);
        }
        let prefs = prefs?.clone();
        Some(tailor_core::Message {
            kind: MessageType::Track,
            event: Some(CONSENT_EVENT.into()),
            name: None,
            group_id: None,
            properties: serde_json::Map::from_iter([(
                "consentSource".to_string(),
                serde_json::Value::from("event without analytics consent"),
            )]),
            traits: Default::default(),
            context: serde_json::Map::from_iter([(
                "consent".to_string(),
                serde_json::json!({ "categoryPreferences": prefs }),
            )]),
            integrations: Default::default(),
            ..m
        })
    }

    fn allowed(&self, m: &tailor_core::Message) -> bool {
        let ids = [&m.user_id, &m.anonymous_id];
        if let Some(&choice) = ids
            .into_iter()
            .flatten()
            .find_map(|id| self.pending.get(id))
        {
            return choice;
        }
        let profile = ids
            .into_iter()
            .flatten()
            .find_map(|id| self.registry.find(id))
            .map(|p| p.as_ref());
        self.policy.may(profile, Purpose::Analytics).allowed
    }
}

/// The analytics choice in a consent manager's category preferences, if it makes one.
fn analytics_choice(prefs: &serde_json::Map<String, serde_json::Value>) -> Option<bool> {
    prefs.iter().find_map(|(category, granted)| {
        let purpose = Purpose::parse(category).or_else(|| Purpose::from_category(category));
        (purpose == Some(Purpose::Analytics))
            .then(|| granted.as_bool())
            .flatten()
    })
}

/// The consent ledger of one person from their events (oldest first): every grant and
/// withdrawal with its time, source and the policy version it was made under. The event log
/// is append-only, so the ledger is too; erasure removes it with the person.
pub fn ledger(events: &[tailor_store::StoredEvent]) -> Vec<LedgerEntry> {
    use tailor_core::time::format_timestamp;
    events
        .iter()
        .filter_map(|e| {
            let m = &e.message;
            let prefs = m.context.get("consent")?.get("categoryPreferences")?;
            let prop = |k: &str| m.properties.get(k).and_then(serde_json::Value::as_str);
            Some(LedgerEntry {
                at: format_timestamp(m.timestamp),
                source: prop("consentSource")
                    .unwrap_or(if m.event.as_deref() == Some(CONSENT_EVENT) {
                        "consent manager"
                    } else {
                        "event"
                    })
                    .to_string(),
                policy_version: prop("policyVersion").map(str::to_string),
                category_preferences: prefs.clone(),
            })
        })
        .collect()
}

/// One grant or withdrawal in a person's consent ledger.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct LedgerEntry {
    pub at: String,
    /// `api`, `visitor`, `preference center`, `consent manager`, `event`, …
    pub source: String,
    /// The consent policy version it was made under, if known.
    pub policy_version: Option<String>,
    /// As the consent manager sent them: category → granted.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub category_preferences: serde_json::Value,
}

/// The person's country code from their traits (`country` or Segment's `address.country`).
fn country(p: &Profile) -> Option<String> {
    let t = |k: &str| p.traits.get(k).map(|s| &s.value);
    t("country")
        .and_then(|v| v.as_str())
        .or_else(|| {
            t("address")
                .and_then(|a| a.get("country"))
                .and_then(|v| v.as_str())
        })
        .map(|s| s.trim().to_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use tailor_core::message::{Envelope, parse_message};

    use super::*;
    use crate::profile::catalog::Catalog;

    fn profile(events: &[serde_json::Value]) -> Profile {
        let mut p = Profile::new(1);
        for (i, e) in events.iter().enumerate() {
            let m =
                parse_message(e.clone(), None, &Envelope::default(), || format!("m{i}")).unwrap();
            p.apply(&m, &Catalog::default());
        }
        p
    }

    #[test]
    fn a_choice_beats_the_default_and_regions_refine_it() {
        let policy = ConsentPolicy::default();
        assert!(policy.validate().is_ok());
        // Unknown person: the global defaults.
        assert!(policy.may(None, Purpose::Personalization).allowed);
        assert!(!policy.may(None, Purpose::Email).allowed);
        // A German shopper: opt-in for everything until they say yes.
        let de = profile(&[
            json!({"type": "identify", "userId": "u", "traits": {"address": {"country": "de"}}}),
        ]);
        let p = policy.may(Some(&de), Purpose::Personalization);
        assert!(!p.allowed);
        assert_eq!(p.describe(), "not granted (opt-in) in Europe");
        // …and their grant wins.
        let granted = profile(&[
            json!({"type": "identify", "userId": "u", "traits": {"country": "DE"}}),
            json!({"type": "track", "userId": "u", "event": "Segment Consent Preference Updated",
                   "context": {"consent": {"categoryPreferences": {"personalization": true}}}}),
        ]);
        let p = policy.may(Some(&granted), Purpose::Personalization);
        assert!(p.allowed);
        assert!(matches!(p.basis, Basis::Choice { .. }));
        assert!(!policy.may(Some(&granted), Purpose::Advertising).allowed);
    }

    #[test]
    fn bad_policies_get_every_problem_at_once() {
        let mut policy = ConsentPolicy::default();
        policy.defaults.remove(&Purpose::Sms);
        policy.regions[0].countries.push("Germany".into());
        policy.version = " ".into();
        let e = policy.validate().unwrap_err().to_string();
        assert!(
            e.contains("sms") && e.contains("Germany") && e.contains("version"),
            "{e}"
        );
    }
}
