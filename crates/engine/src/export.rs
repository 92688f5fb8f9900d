//! The export document (`GET /v1/profiles/{id}/export`): everything Tailor keeps about one
//! person, assembled from the profile, the log, the decision log, experiments and journeys.

use crate::govern::privacy::event_json;

/// What the export document holds besides the profile view.
pub struct ExportParts<'a> {
    pub events: &'a [tailor_store::StoredEvent],
    pub decisions: &'a [tailor_store::DecisionRecord],
    /// Experiment assignments (first exposures) under any of their ids.
    pub exposures: &'a [tailor_store::Exposure],
    /// Journeys they are or were in, as `Engine::journey_runs` shows them.
    pub journeys: Vec<crate::journeys::RunView>,
    /// Journey messages for them, whatever their status (queued, sent, skipped, dead).
    pub messages: &'a [tailor_store::OutboxItem],
}

/// The export document (`GET /v1/profiles/{id}/export`; format version 1, documented in the
/// README): the profile as Tailor sees it (identities, traits, consent, features, lifecycle
/// stage), the consent history, every stored event, every logged decision shown to them, their
/// experiment assignments, their journeys and every journey message for them.
pub fn export_document(
    profile: crate::profile::ProfileView,
    parts: ExportParts<'_>,
    now: tailor_core::Millis,
) -> ExportDocument {
    use tailor_core::time::format_timestamp;
    let consent_history = crate::govern::consent::ledger(parts.events);
    // What the models say about them now (`null` before a model version is trained).
    let predictions = profile.predictions.clone();
    let decisions = parts
        .decisions
        .iter()
        .map(|d| ExportedDecision {
            decision_id: d.id.clone(),
            at: format_timestamp(d.at),
            personalized: d.personalized,
            shown: d.shown(),
            logged: d.body(),
        })
        .collect();
    let experiment_assignments = parts
        .exposures
        .iter()
        .map(|e| Assignment {
            experiment: e.experiment.clone(),
            id: e.id.clone(),
            variation: e.variation,
            first_exposed_at: format_timestamp(e.at),
        })
        .collect();
    ExportDocument {
        format: "tailor-export/1",
        exported_at: format_timestamp(now),
        profile,
        consent_history,
        events: parts.events.iter().map(event_json).collect(),
        decisions,
        predictions,
        experiment_assignments,
        journeys: parts.journeys,
        messages_sent: parts
            .messages
            .iter()
            .map(crate::journeys::outbox_json)
            .collect(),
    }
}

/// Everything Tailor keeps about one person (see [`export_document`]).
#[derive(Debug, Clone, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ExportDocument {
    /// `tailor-export/1`.
    pub format: &'static str,
    pub exported_at: String,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub profile: crate::profile::ProfileView,
    pub consent_history: Vec<crate::govern::consent::LedgerEntry>,
    /// Every stored event (see [`event_json`]).
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>))]
    pub events: Vec<serde_json::Value>,
    pub decisions: Vec<ExportedDecision>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub predictions: Option<crate::profile::Predictions>,
    pub experiment_assignments: Vec<Assignment>,
    pub journeys: Vec<crate::journeys::RunView>,
    pub messages_sent: Vec<crate::journeys::OutboxMessage>,
}

/// A logged decision shown to the person.
#[derive(Debug, Clone, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ExportedDecision {
    pub decision_id: String,
    pub at: String,
    pub personalized: bool,
    pub shown: Vec<String>,
    /// The decision log's record: placements, explanations, context.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub logged: serde_json::Value,
}

/// An experiment assignment (first exposure).
#[derive(Debug, Clone, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Assignment {
    pub experiment: String,
    pub id: String,
    pub variation: u32,
    pub first_exposed_at: String,
}
