//! Consent. `PUT /v1/consent`: record a person's consent per purpose; the change travels
//! through the event log as Segment's own `Segment Consent Preference Updated` event, so it
//! is durable, replayable and part of the person's history (the ledger) like any other event.
//! `GET /v1/consent/{id}`: what each purpose may do now and why, and the ledger.
//! `GET`/`PUT /v1/consent/policy`: the store's defaults per purpose and region.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use serde_json::{Map, Value, json};
use tailor_core::message::{Envelope, parse_message};
use tailor_core::{MessageType, Purpose};
use tailor_engine::Scope;
use tailor_engine::consent::ConsentPolicy;

use crate::AppState;
use crate::auth::authorize;
use crate::body::read_limited;
use crate::error::{ApiError, json_error};

pub async fn put(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    authorize(state.engine.keys(), &headers, None, Scope::Admin)?;
    let bytes = read_limited(&headers, body, 32 * 1024).await?;
    let v: Value = serde_json::from_slice(&bytes).map_err(json_error)?;
    let Some(purposes) = v.get("purposes").and_then(Value::as_object) else {
        return Err(ApiError::bad_request(
            "invalid_request",
            "send {\"userId\" or \"anonymousId\": …, \"purposes\": {\"email\": true, \"advertising\": false, …}}",
        ));
    };
    let mut prefs = Map::new();
    let mut problems = Vec::new();
    for (k, granted) in purposes {
        match (Purpose::parse(k), granted) {
            (Some(_), Value::Bool(_)) => {
                prefs.insert(k.clone(), granted.clone());
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
    let source = v.get("source").and_then(Value::as_str).unwrap_or("api");
    let policy_version = state.engine.consent_policy().version.clone();
    let mut event = json!({
        "event": "Segment Consent Preference Updated",
        "properties": {"consentSource": source, "policyVersion": policy_version},
        "context": {"consent": {"categoryPreferences": prefs}},
    });
    for k in ["userId", "anonymousId", "timestamp"] {
        if let Some(x) = v.get(k) {
            event[k] = x.clone();
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
    Ok(Json(json!({"success": true, "consent": consent})))
}

pub async fn get(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    authorize(state.engine.keys(), &headers, None, Scope::Admin)?;
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
    let purposes: Map<String, Value> = purposes
        .into_iter()
        .map(|(p, permission)| {
            let mut v = json!(permission);
            v["reason"] = json!(permission.describe());
            (p.as_str().to_string(), v)
        })
        .collect();
    Ok(Json(json!({
        "purposes": purposes,
        "policyVersion": state.engine.consent_policy().version,
        "ledger": ledger,
    })))
}

pub async fn get_policy(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    authorize(state.engine.keys(), &headers, None, Scope::Admin)?;
    Ok(Json(json!(*state.engine.consent_policy())))
}

pub async fn put_policy(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    authorize(state.engine.keys(), &headers, None, Scope::Admin)?;
    let bytes = read_limited(&headers, body, 64 * 1024).await?;
    let policy: ConsentPolicy = serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::bad_request(
            "invalid_request",
            format!(
                "not a consent policy ({e}); expected {{\"version\": \"2\", \"defaults\": {{\"analytics\": \"opt-out\", …}}, \"regions\": [{{\"name\", \"countries\": [\"DE\"], \"defaults\"}}]}}"
            ),
        )
    })?;
    let saved = policy.clone();
    state
        .blocking(move |engine| engine.put_consent_policy(policy))
        .await?;
    Ok(Json(json!({"success": true, "policy": saved})))
}
