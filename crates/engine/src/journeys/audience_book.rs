//! Ad audiences as the admin API sees them: the ones a segment defines
//! (`PUT /v1/audiences/{name}`: a condition over the attribute document `decide` sees,
//! predictions included) next to the ones journey steps fill; their members, change streams
//! and upload files.
//!
//! **Membership.** A person is in a segment audience while its condition holds for their
//! profile *and* they allow advertising. The writer re-evaluates both on every profile change
//! (`Journeys::observe`), so an event that moves someone in or out is an `add` or a `remove`
//! in the stream as soon as the scheduler commits it; the scheduler's segment scan
//! (`runner`) catches what changes without an event (time passing, a retrained model, a new
//! consent policy) and whatever a restart lost. Journey-step audiences lose a member who
//! withdraws advertising consent the same way. Erasure and expiry end every membership in
//! the store (`PrivacyStore::erase_person`).

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tailor_core::{Millis, Purpose, ValidationError};
use tailor_store::{AudienceChange, AudienceOp};

use super::audiences::{ExportFormat, MatchKeys};
use super::definition::Action;
use super::{
    Audience, AudienceChangeView, AudienceChanges, AudienceMember, JourneyParts, Journeys,
};
use crate::error::EngineError;
use crate::profile::Profile;

/// Where the segment audiences are kept.
pub(crate) const AUDIENCES_META: &str = "audiences";

/// A segment audience as saved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AudienceDefinition {
    /// What it is for (shown in lists).
    #[serde(default)]
    pub description: String,
    /// Who is in it: a condition (the targeting language) over the attribute document
    /// `decide` sees, e.g. `{"predictions.churn_risk": {"$gt": 0.7}, "orders": {"$gt": 0}}`.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub condition: Value,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StoredAudience {
    pub definition: AudienceDefinition,
    pub updated_at: Millis,
}

pub(crate) type AudienceBook = BTreeMap<String, StoredAudience>;

/// One audience in `GET /v1/audiences`.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct AudienceSummary {
    pub name: String,
    /// `segment` (defined by a condition) or `journey` (filled by journey steps).
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub definition: Option<AudienceDefinition>,
    /// The journeys whose steps add to or remove from it.
    pub journeys: Vec<String>,
    /// Members now (before the advertising-consent check of the member list).
    pub members: u64,
}

/// Most segment audiences: each is evaluated on every profile change.
const MAX_AUDIENCES: usize = 50;

/// Every problem with a name and a definition at once.
fn validate(
    name: &str,
    definition: &AudienceDefinition,
    journeys: &[String],
) -> Result<(), ValidationError> {
    let mut problems = Vec::new();
    if name.is_empty()
        || name.len() > 100
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        problems.push(format!(
            "audience name {name:?} must be 1-100 letters, digits, `-` or `_`"
        ));
    }
    if definition.description.chars().count() > 500 {
        problems.push("`description` must be at most 500 characters".to_string());
    }
    if !definition.condition.is_object() {
        problems.push("`condition` must be an object, e.g. {\"orders\": {\"$gt\": 0}}".into());
    } else if let Err(e) = tailor_core::condition::validate_condition(&definition.condition) {
        problems.push(format!("`condition`: {e}"));
    }
    if !journeys.is_empty() {
        problems.push(format!(
            "audience {name:?} is filled by the steps of journey {}; a segment audience needs a name of its own",
            journeys.join(", ")
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ValidationError { problems })
    }
}

/// The id an audience row names a profile by: its first userId, else its first anonymousId.
pub(crate) fn person_of(p: &Profile) -> Option<String> {
    p.user_ids.first().or(p.anonymous_ids.first()).cloned()
}

/// An `add` of `p` to `audience`, with their match keys.
pub(crate) fn add(audience: &str, p: &Profile, at: Millis) -> Option<AudienceChange> {
    Some(AudienceChange {
        seq: 0,
        audience: audience.to_string(),
        person: person_of(p)?,
        op: AudienceOp::Add,
        at,
        match_keys: MatchKeys::of(p).map(|k| k.to_json()),
    })
}

/// A `remove` of `person` from `audience` (it carries the membership's match keys).
pub(crate) fn remove(audience: &str, person: &str, at: Millis) -> AudienceChange {
    AudienceChange {
        seq: 0,
        audience: audience.to_string(),
        person: person.to_string(),
        op: AudienceOp::Remove,
        at,
        match_keys: None,
    }
}

/// Whether the message states consent choices (any event may carry them).
pub(crate) fn states_consent(m: &tailor_core::Message) -> bool {
    m.context
        .get("consent")
        .and_then(|c| c.get("categoryPreferences"))
        .is_some()
}

impl Journeys {
    pub(crate) fn audience_book(&self) -> std::sync::Arc<AudienceBook> {
        self.audiences.read().clone()
    }

    /// Whether `p` belongs in the segment audiences, given the attribute document: the
    /// condition holds and they allow advertising.
    pub(crate) fn may_advertise(&self, p: &Profile) -> bool {
        self.consent
            .policy()
            .may(Some(p), Purpose::Advertising)
            .allowed
    }

    /// The writer's part (see the module): who entered or left a segment audience with this
    /// profile change.
    pub(crate) fn audience_transitions(
        &self,
        p: &Profile,
        doc: &Value,
        now: Millis,
    ) -> Vec<AudienceChange> {
        let book = self.audience_book();
        if book.is_empty() {
            return Vec::new();
        }
        let allowed = self.may_advertise(p);
        let mut members = self.audience_members.lock();
        let mut changes = Vec::new();
        for (name, stored) in book.iter() {
            let holds = allowed
                && tailor_core::condition::eval_condition(doc, &stored.definition.condition);
            let set = members.entry(name.clone()).or_default();
            if holds && set.insert(p.id) {
                changes.extend(add(name, p, now));
            } else if !holds && set.remove(&p.id) {
                changes.extend(p.ids().map(|id| remove(name, id, now)));
            }
        }
        changes
    }

    /// Whether some segment audience's condition reads predictions.
    pub(crate) fn audiences_read_predictions(&self) -> bool {
        self.audience_book()
            .values()
            .any(|a| tailor_core::condition::reads_predictions(&a.definition.condition))
    }

    fn save_audiences(
        &self,
        store: &dyn tailor_store::Store,
        book: AudienceBook,
    ) -> Result<(), EngineError> {
        crate::meta::save(store, AUDIENCES_META, &book)?;
        *self.audiences.write() = std::sync::Arc::new(book);
        // The scheduler computes the members from all profiles on its next pass.
        self.scan_now
            .store(true, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }
}

/// The audiences admin API.
impl JourneyParts {
    /// Journeys whose steps add to or remove from each audience.
    fn audience_steps(&self) -> BTreeMap<String, Vec<String>> {
        let mut steps: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (id, stored) in self.journeys.book().iter() {
            let names: HashSet<&String> = stored
                .versions
                .iter()
                .flat_map(|v| v.steps.iter())
                .filter_map(|s| match &s.action {
                    Action::Audience { audience, .. } => Some(audience),
                    _ => None,
                })
                .collect();
            for name in names {
                steps.entry(name.clone()).or_default().push(id.clone());
            }
        }
        steps
    }

    /// Every audience: the segment ones, the ones journey steps fill, and any with members
    /// or changes left from journeys since deleted.
    pub fn audiences(&self) -> Result<Vec<AudienceSummary>, EngineError> {
        let book = self.journeys.audience_book();
        let mut steps = self.audience_steps();
        let mut counts: BTreeMap<String, u64> = self.store.audience_names()?.into_iter().collect();
        let mut names: Vec<String> = book.keys().cloned().collect();
        names.extend(steps.keys().cloned());
        names.extend(counts.keys().cloned());
        names.sort();
        names.dedup();
        Ok(names
            .into_iter()
            .map(|name| {
                let definition = book.get(&name).map(|a| a.definition.clone());
                AudienceSummary {
                    kind: if definition.is_some() {
                        "segment"
                    } else {
                        "journey"
                    },
                    definition,
                    journeys: steps.remove(&name).unwrap_or_default(),
                    members: counts.remove(&name).unwrap_or(0),
                    name,
                }
            })
            .collect())
    }

    /// Defines (or redefines) a segment audience; its members follow within one scheduler
    /// pass, as `add`s and `remove`s in its stream.
    pub fn put_audience(
        &self,
        name: &str,
        definition: AudienceDefinition,
    ) -> Result<AudienceSummary, EngineError> {
        let journeys = self.audience_steps().remove(name).unwrap_or_default();
        validate(name, &definition, &journeys)?;
        let mut book = (*self.journeys.audience_book()).clone();
        if !book.contains_key(name) && book.len() >= MAX_AUDIENCES {
            return Err(ValidationError::one(format!(
                "at most {MAX_AUDIENCES} segment audiences; delete one first"
            ))
            .into());
        }
        book.insert(
            name.to_string(),
            StoredAudience {
                definition: definition.clone(),
                updated_at: self.clock.now(),
            },
        );
        self.journeys.save_audiences(&*self.store, book)?;
        self.journeys.audience_members.lock().remove(name);
        let members = self.store.audience_members(name)?.len() as u64;
        Ok(AudienceSummary {
            name: name.to_string(),
            kind: "segment",
            definition: Some(definition),
            journeys: Vec::new(),
            members,
        })
    }

    /// Deletes a segment audience: each member gets a `remove`, so a sync empties it too.
    pub fn delete_audience(&self, name: &str) -> Result<(), EngineError> {
        let mut book = (*self.journeys.audience_book()).clone();
        if book.remove(name).is_none() {
            return Err(EngineError::NotFound(format!("segment audience {name:?}")));
        }
        self.journeys.save_audiences(&*self.store, book)?;
        self.journeys.audience_members.lock().remove(name);
        let now = self.clock.now();
        let audience = self
            .store
            .audience_members(name)?
            .into_iter()
            .map(|(person, _)| remove(name, &person, now))
            .collect();
        self.write_audience(audience)
    }

    /// Writes membership changes, dropping any that name an erased person (as the
    /// scheduler's commit does).
    pub(crate) fn write_audience(
        &self,
        mut audience: Vec<AudienceChange>,
    ) -> Result<(), EngineError> {
        let _gate = self.suppression.hold_for_write();
        audience.retain(|c| !self.suppression.blocks_id(&c.person));
        if audience.is_empty() {
            return Ok(());
        }
        self.store.journey_write(&tailor_store::JourneyWrite {
            audience,
            ..Default::default()
        })?;
        Ok(())
    }

    fn known_audience(&self, name: &str) -> Result<(), EngineError> {
        let known = self.journeys.audience_book().contains_key(name)
            || self.audience_steps().contains_key(name)
            || self.store.audience_names()?.iter().any(|(n, _)| n == name);
        if known {
            Ok(())
        } else {
            Err(EngineError::NotFound(format!("audience {name:?}")))
        }
    }

    /// An audience's members who may be used for advertising now.
    pub fn audience(&self, name: &str) -> Result<Audience, EngineError> {
        self.known_audience(name)?;
        let (members, left_out) = self.audience_people(name)?;
        let value = self.predicted_values(&members);
        let members = members
            .into_iter()
            .zip(value)
            .map(|((person, added_at), predicted_value)| AudienceMember {
                person,
                added_at,
                predicted_value,
            })
            .collect();
        Ok(Audience {
            audience: name.to_string(),
            definition: self
                .journeys
                .audience_book()
                .get(name)
                .map(|a| a.definition.clone()),
            members,
            without_consent: left_out,
        })
    }

    /// The audience's add/remove stream after position `after`, for an ad platform sync.
    pub fn audience_changes(
        &self,
        name: &str,
        after: i64,
        limit: usize,
    ) -> Result<AudienceChanges, EngineError> {
        self.known_audience(name)?;
        let changes = self.store.audience_changes(name, after, limit)?;
        let next = changes.last().map_or(after, |c| c.seq);
        let changes = changes
            .into_iter()
            .map(|c| AudienceChangeView {
                seq: c.seq,
                person: (!c.person.is_empty()).then_some(c.person),
                op: c.op,
                at: c.at,
                match_keys: MatchKeys::parse(c.match_keys.as_deref()),
            })
            .collect();
        Ok(AudienceChanges {
            audience: name.to_string(),
            changes,
            next,
        })
    }

    /// The audience as an upload file in the platform's columns (see `audiences`): one row
    /// per member with advertising consent and an email or phone.
    pub fn audience_export(&self, name: &str, format: ExportFormat) -> Result<String, EngineError> {
        self.known_audience(name)?;
        let (members, _) = self.audience_people(name)?;
        let values = self.predicted_values(&members);
        let mut csv = String::from(format.header());
        let registry = self.live.registry();
        for ((person, _), value) in members.into_iter().zip(values) {
            let Some(keys) = registry.find(&person).and_then(|p| MatchKeys::of(p)) else {
                continue;
            };
            if let Some(row) = format.row(&keys, value) {
                csv.push_str(&row);
            }
        }
        Ok(csv)
    }

    /// Each member's predicted value, if a model is trained.
    fn predicted_values(&self, members: &[(String, Millis)]) -> Vec<Option<f64>> {
        let models = self.predictions.current();
        let registry = self.live.registry();
        let now = self.clock.now();
        members
            .iter()
            .map(|(person, _)| {
                let (models, p) = (models.as_ref()?, registry.find(person)?);
                models.predict(p, now, None).predicted_value
            })
            .collect()
    }

    /// Members with advertising consent now, and how many were left out for lack of it.
    fn audience_people(&self, name: &str) -> Result<(Vec<(String, Millis)>, usize), EngineError> {
        let all = self.store.audience_members(name)?;
        let policy = self.consent.policy();
        let registry = self.live.registry();
        let total = all.len();
        let kept: Vec<(String, Millis)> = all
            .into_iter()
            .filter(|(person, _)| {
                policy
                    .may(
                        registry.find(person).map(|p| p.as_ref()),
                        Purpose::Advertising,
                    )
                    .allowed
            })
            .collect();
        let left_out = total - kept.len();
        Ok((kept, left_out))
    }
}
