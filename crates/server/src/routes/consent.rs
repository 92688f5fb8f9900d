//! Consent. `PUT /v1/consent`: record a person's consent per purpose; the change travels
//! through the event log as Segment's own `Segment Consent Preference Updated` event, so it
//! is durable, replayable and part of the person's history (the ledger) like any other event.
//! `GET /v1/consent/{id}`: what each purpose may do now and why, and the ledger.
//! `GET`/`PUT /v1/consent/policy`: the store's defaults per purpose and region.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tailor_core::message::{Envelope, parse_message};
use tailor_core::{MessageType, Purpose};
use tailor_engine::consent::{ConsentPolicy, LedgerEntry, Permission};
use utoipa::ToSchema;

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{Admin, ApiJson, Authorized};

/// A person's consent, as the store's backend records it.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConsentRequest {
    /// Who: a userId…
    #[schema(value_type = Option<String>)]
    user_id: Option<Value>,
    /// …or an anonymousId.
    #[schema(value_type = Option<String>)]
    anonymous_id: Option<Value>,
    /// When it was given (ISO-8601); now if absent.
    #[schema(value_type = Option<String>)]
    timestamp: Option<Value>,
    /// Purpose (analytics, personalization, email, push, sms, advertising) → granted.
    #[schema(value_type = Object)]
    purposes: Option<Map<String, Value>>,
    /// Where it was given; `api` if absent.
    source: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ConsentRecorded {
    success: bool,
    /// The person's consent per purpose now.
    #[schema(value_type = Object)]
    consent: Value,
}

/// Records a person's consent per purpose (as a `Segment Consent Preference Updated` event).
#[utoipa::path(put, path = "/v1/consent", tag = "consent", security(("admin_key" = [])),
    request_body = ConsentRequest, responses((status = 200, body = ConsentRecorded)))]
pub async fn put(
    _: Authorized<Admin>,
    State(state): State<AppState>,
    ApiJson(request): ApiJson<ConsentRequest>,
) -> Result<Json<ConsentRecorded>, ApiError> {
    let Some(purposes) = request.purposes else {
        return Err(ApiError::bad_request(
            "invalid_request",
            "send {\"userId\" or \"anonymousId\": …, \"purposes\": {\"email\": true, \"advertising\": false, …}}",
        ));
    };
    let mut prefs = Map::new();
    let mut problems = Vec::new();
    for (k, granted) in purposes {
        match (Purpose::parse(&k), granted) {
            (Some(_), granted @ Value::Bool(_)) => {
                prefs.insert(k, granted);
            }
            (None, _) => problems.push(format!(
                "unknown purpose {k:?}: expected analytics, personalization, email, push, sms or advertising"
            )),
            (Some(_), _) => problems.push(format!("purpose {k:?} must be true or false")),
        }
    }
    if !problems.is_empty() {
        return Err(
            ApiError::bad_request("invalid_request", problems.join("; "))
                .with_details(json!(problems)),
        );
    }
    let source = request.source.as_deref().unwrap_or("api");
    let policy_version = state.engine.consent_policy().version.clone();
    let mut event = json!({
        "event": "Segment Consent Preference Updated",
        "properties": {"consentSource": source, "policyVersion": policy_version},
        "context": {"consent": {"categoryPreferences": prefs}},
    });
    for (k, v) in [
        ("userId", request.user_id),
        ("anonymousId", request.anonymous_id),
        ("timestamp", request.timestamp),
    ] {
        if let Some(v) = v {
            event[k] = v;
        }
    }
    let envelope = Envelope {
        received_at: state.engine.now(),
        ..Default::default()
    };
    let message = parse_message(event, Some(MessageType::Track), &envelope, || {
        state.new_message_id()
    })
    .map_err(|e| ApiError::bad_request(e.code, e.message))?;
    let id = message
        .user_id
        .clone()
        .or(message.anonymous_id.clone())
        .unwrap_or_default();
    state.engine.ingest(vec![message]).await?;
    let consent = state
        .engine
        .profile(&id)
        .map(|p| json!(p.consent))
        .unwrap_or(Value::Null);
    Ok(Json(ConsentRecorded {
        success: true,
        consent,
    }))
}

/// What one purpose may do now, and why.
#[derive(Serialize, ToSchema)]
pub struct PurposeState {
    #[serde(flatten)]
    #[schema(value_type = Object)]
    permission: Permission,
    /// For people: "granted", "withdrawn", "opt-in required in Europe", …
    reason: String,
}

impl From<Permission> for PurposeState {
    fn from(permission: Permission) -> Self {
        PurposeState {
            reason: permission.describe(),
            permission,
        }
    }
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConsentState {
    /// Purpose → what it may do now and why.
    purposes: BTreeMap<&'static str, PurposeState>,
    policy_version: String,
    /// Every grant and withdrawal, oldest first.
    ledger: Vec<LedgerEntry>,
}

/// A person's consent per purpose and its ledger (audit-logged).
#[utoipa::path(get, path = "/v1/consent/{id}", tag = "consent", security(("admin_key" = [])),
    params(("id" = String, Path)), responses((status = 200, body = ConsentState)))]
pub async fn get(
    _: Authorized<Admin>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ConsentState>, ApiError> {
    let purposes = state
        .engine
        .consent_state(&id)
        .ok_or_else(|| ApiError::not_found(format!("no profile is known by {id:?}")))?;
    super::profiles::audit_read(&state, "read_consent", &id).await?;
    let id2 = id.clone();
    let ledger = state
        .blocking(move |engine| engine.consent_ledger(&id2))
        .await?
        .unwrap_or_default();
    Ok(Json(ConsentState {
        purposes: purposes
            .into_iter()
            .map(|(p, permission)| (p.as_str(), permission.into()))
            .collect(),
        policy_version: state.engine.consent_policy().version.clone(),
        ledger,
    }))
}

/// The consent policy: defaults per purpose and region.
#[utoipa::path(get, path = "/v1/consent/policy", tag = "consent", security(("admin_key" = [])),
    responses((status = 200, body = Object)))]
pub async fn get_policy(
    _: Authorized<Admin>,
    State(state): State<AppState>,
) -> Json<Arc<ConsentPolicy>> {
    Json(state.engine.consent_policy())
}

#[derive(Serialize, ToSchema)]
pub struct SavedPolicy<T> {
    success: bool,
    #[schema(value_type = Object)]
    policy: T,
}

impl<T> SavedPolicy<T> {
    pub fn new(policy: T) -> Self {
        SavedPolicy {
            success: true,
            policy,
        }
    }
}

/// Replaces the consent policy: `{"version": "2", "defaults": {"analytics": "opt-out", …},
/// "regions": [{"name", "countries": ["DE"], "defaults"}]}`.
#[utoipa::path(put, path = "/v1/consent/policy", tag = "consent", security(("admin_key" = [])),
    request_body = Object, responses((status = 200, body = Object)))]
pub async fn put_policy(
    _: Authorized<Admin>,
    State(state): State<AppState>,
    ApiJson(policy): ApiJson<ConsentPolicy, { 64 * 1024 }>,
) -> Result<Json<SavedPolicy<ConsentPolicy>>, ApiError> {
    let saved = policy.clone();
    state
        .blocking(move |engine| engine.put_consent_policy(policy))
        .await?;
    Ok(Json(SavedPolicy::new(saved)))
}
