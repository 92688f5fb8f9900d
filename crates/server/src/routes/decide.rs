//! `POST /v1/decide`: what each placement shows this visitor, with explanations.
//! Placements are managed under `/v1/placements`; logged decisions and their rewards are
//! under `/v1/decisions/{id}` (admin).

use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value, json};
use tailor_core::Millis;
use tailor_engine::decide::{Answer, Placement};
use tailor_engine::policies::PolicySummary;
use tailor_engine::{DecideInput, DecisionFilter, LoggingPolicy, UserProof};
use utoipa::{IntoParams, ToSchema};

use crate::AppState;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Admin, Analyst, ApiJson, ApiQuery, Authorized, Write};
use crate::routes::{Deleted, Upserted};

/// Room for a ranking's list: 5,000 product ids (`decide::MAX_LISTED`) of up to ~40 bytes.
const MAX_DECIDE_BYTES: usize = 256 * 1024;
/// The rest of the context (user agent, page, cart…: what targeting conditions and their
/// regexes read) at most, as JSON: a ranking's long list does not make every condition's
/// input longer. Past it the request is refused before any work (413).
const MAX_CONTEXT_BYTES: usize = 32 * 1024;

/// The context's size as JSON, a ranking's `productIds` left out.
fn context_bytes(context: &Map<String, Value>) -> usize {
    context
        .iter()
        .filter(|(k, _)| k.as_str() != "productIds")
        .map(|(k, v)| k.len() + 4 + serde_json::to_vec(v).map_or(0, |b| b.len()))
        .sum()
}

/// What to decide, and for whom.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DecideRequest {
    /// The visitor's userId (a string; a number is taken as its digits).
    #[serde(default, deserialize_with = "id")]
    #[schema(value_type = Option<String>)]
    user_id: Option<String>,
    /// Or their anonymousId.
    #[serde(default, deserialize_with = "id")]
    #[schema(value_type = Option<String>)]
    anonymous_id: Option<String>,
    /// Placement ids, e.g. `["home.hero", "recs.home"]`.
    #[serde(default, deserialize_with = "placement_ids")]
    #[schema(value_type = Vec<String>)]
    placements: Option<Vec<String>>,
    /// Page context (`page`, `locale`, `cart`, `productId`, and `productIds`: the list a
    /// ranking placement orders, at most 5,000), as Segment's `context`.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    context: Option<Map<String, Value>>,
    /// With a public key: proof that the caller is `userId`, made by the store's backend
    /// (`hex(HMAC-SHA256(identity secret, userId))`). Without proof, a browser is the
    /// visitor of its `anonymousId` only.
    #[serde(default)]
    user_hash: Option<String>,
    /// Or a profile token for `userId` (`POST /v1/tokens`).
    #[serde(default)]
    profile_token: Option<String>,
}

/// An id: a string (blank is none) or a number (its digits).
fn id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    struct Id;
    impl<'de> serde::de::Visitor<'de> for Id {
        type Value = Option<String>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a string")
        }
        fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Self::Value, E> {
            Ok((!s.trim().is_empty()).then(|| s.to_string()))
        }
        fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<Self::Value, E> {
            Ok(Some(n.to_string()))
        }
        fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<Self::Value, E> {
            Ok(Some(n.to_string()))
        }
        fn visit_f64<E: serde::de::Error>(self, n: f64) -> Result<Self::Value, E> {
            Ok(serde_json::Number::from_f64(n).map(|n| n.to_string()))
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
    }
    d.deserialize_any(Id)
}

/// An array of placement ids (`null`: none given).
fn placement_ids<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    struct Ids;
    impl<'de> serde::de::Visitor<'de> for Ids {
        type Value = Option<Vec<String>>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an array of placement ids")
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> Result<Self::Value, A::Error> {
            let mut ids = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
            while let Some(id) = seq.next_element::<String>()? {
                ids.push(id);
            }
            Ok(Some(ids))
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
    }
    d.deserialize_any(Ids)
}

/// Decides what each placement shows this visitor, with an explanation per placement. Without
/// personalization consent the answer is the non-personalized one, and `reason` says so.
#[utoipa::path(post, path = "/v1/decide", tag = "decide", security(("write_key" = [])),
    request_body = DecideRequest, responses((status = 200, body = DecideReply)))]
pub async fn decide(
    who: Authorized<Write>,
    State(state): State<AppState>,
    ApiJson(request): ApiJson<DecideRequest, MAX_DECIDE_BYTES>,
) -> Result<Json<DecideReply>, ApiError> {
    let DecideRequest {
        user_id,
        anonymous_id,
        placements,
        context,
        user_hash,
        profile_token,
    } = request;
    if user_id.is_none() && anonymous_id.is_none() {
        return Err(ApiError::bad_request(
            "no_user_anon_id",
            "decide needs a `userId` or an `anonymousId`",
        ));
    }
    let Some(placements) = placements else {
        return Err(ApiError::bad_request(
            "invalid_request",
            "`placements` is required: an array such as [\"home.hero\", \"recs.home\"]",
        ));
    };
    if let Some(c) = &context
        && context_bytes(c) > MAX_CONTEXT_BYTES
    {
        return Err(ApiError::too_large(format!(
            "the context (without `productIds`) is at most {MAX_CONTEXT_BYTES} bytes"
        )));
    }
    let proof = profile_token
        .map(UserProof::Token)
        .or(user_hash.map(UserProof::Hash));
    let out = state.engine.decide(DecideInput {
        user_id,
        anonymous_id,
        placements,
        context: context.unwrap_or_default(),
        origin: who.caller.origin(),
        proof,
    })?;
    Ok(Json(DecideReply {
        decision_id: out.decision_id,
        personalized: out.personalized,
        reason: out.reason,
        decisions: Decisions(out.answers),
    }))
}

/// The reply of `decide`, serialized straight from the answers: no intermediate JSON tree on
/// the hottest path.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DecideReply {
    /// Send it back with events about what was shown (`decisionId` in properties).
    decision_id: String,
    personalized: bool,
    /// Why not personalized, when it is not.
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
    /// Placement id → what to show and why.
    #[schema(value_type = Object)]
    decisions: Decisions,
}

/// Placement id → answer, as a JSON object in request order.
pub struct Decisions(Vec<(String, Answer)>);

impl Serialize for Decisions {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(id, a)| (id, a)))
    }
}

#[derive(Serialize, ToSchema)]
pub struct Placements {
    #[schema(value_type = Vec<Object>)]
    placements: Vec<Placement>,
}

/// The placements and their settings.
#[utoipa::path(get, path = "/v1/placements", tag = "decide", security(("write_key" = [])),
    responses((status = 200, body = Placements)))]
pub async fn list_placements(
    _: Authorized<Write>,
    State(state): State<AppState>,
) -> Json<Placements> {
    Json(Placements {
        placements: state.engine.placements(),
    })
}

/// Creates or replaces placements: one object or an array. One invalid placement and
/// nothing is stored (`invalid_placement`, every problem in `details`).
#[utoipa::path(put, path = "/v1/placements", tag = "decide", security(("admin_key" = [])),
    request_body(content = Vec<Object>, description = "Placements (`id`, `kind`, `policy`, `limit`, …)"),
    responses((status = 200, body = Upserted)))]
pub async fn put_placements(
    _: Authorized<Admin>,
    State(state): State<AppState>,
    ApiJson(body): ApiJson<Value, { 1024 * 1024 }>,
) -> Result<Json<Upserted>, ApiError> {
    let items = match body {
        Value::Array(items) => items,
        v @ Value::Object(_) => vec![v],
        _ => {
            return Err(ApiError::bad_request(
                "invalid_request",
                "send a placement object or an array of them",
            ));
        }
    };
    let mut placements = Vec::with_capacity(items.len());
    let mut problems = Vec::new();
    for (index, item) in items.into_iter().enumerate() {
        match Placement::from_json(item) {
            Ok(p) => placements.push(p),
            Err(e) => problems.push(json!({"index": index, "problems": e.problems})),
        }
    }
    if !problems.is_empty() {
        return Err(ApiError::bad_request(
            "invalid_placement",
            "some placements are invalid and nothing was stored",
        )
        .with_details(Value::Array(problems)));
    }
    let n = state
        .blocking(move |engine| engine.put_placements(placements))
        .await?;
    Ok(Json(Upserted { upserted: n }))
}

/// Deletes a placement.
#[utoipa::path(delete, path = "/v1/placements/{id}", tag = "decide", security(("admin_key" = [])),
    params(("id" = String, Path)), responses((status = 200, body = Deleted)))]
pub async fn delete_placement(
    _: Authorized<Admin>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Deleted>, ApiError> {
    let id2 = id.clone();
    state
        .blocking(move |engine| engine.delete_placement(&id2))
        .await?;
    Ok(Json(Deleted { deleted: id }))
}

/// A logged decision with what it was based on and the rewards attributed to it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LoggedDecision {
    decision_id: String,
    at: String,
    user_id: Option<String>,
    anonymous_id: Option<String>,
    personalized: bool,
    /// Candidates shown.
    shown: Vec<String>,
    #[schema(value_type = Object)]
    model_version: Value,
    /// The profile features the decision read.
    #[schema(value_type = Object)]
    profile: Value,
    /// Per placement: candidates, propensities, explanation.
    #[schema(value_type = Object)]
    placements: Value,
    #[schema(value_type = Object)]
    context: Value,
    rewards: Vec<RewardView>,
}

#[derive(Serialize, ToSchema)]
pub struct RewardView {
    event: String,
    value: f64,
    seq: i64,
    at: String,
}

/// A logged decision (admin).
#[utoipa::path(get, path = "/v1/decisions/{id}", tag = "decide", security(("admin_key" = [])),
    params(("id" = String, Path)), responses((status = 200, body = LoggedDecision)))]
pub async fn get_decision(
    _: Authorized<Admin>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<LoggedDecision>, ApiError> {
    let id2 = id.clone();
    let found = state.blocking(move |engine| engine.decision(&id2)).await?;
    let Some((record, rewards)) = found else {
        return Err(ApiError::not_found(format!(
            "no decision {id:?} in the log (decisions are written within a second)"
        )));
    };
    let mut body = record.body();
    let shown = record.shown();
    let mut take = |k: &str| body.get_mut(k).map(Value::take).unwrap_or(Value::Null);
    Ok(Json(LoggedDecision {
        model_version: take("modelVersion"),
        profile: take("profile"),
        placements: take("placements"),
        context: take("context"),
        decision_id: record.id,
        at: tailor_core::time::format_timestamp(record.at),
        user_id: record.user_id,
        anonymous_id: record.anonymous_id,
        personalized: record.personalized,
        shown,
        rewards: rewards
            .into_iter()
            .map(|r| RewardView {
                event: r.event,
                value: r.value,
                seq: r.seq,
                at: tailor_core::time::format_timestamp(r.at),
            })
            .collect(),
    }))
}

/// What a learning placement has learned: per candidate, showings and rewards.
#[utoipa::path(get, path = "/v1/placements/{id}/policy", tag = "decide", security(("analyst_key" = [])),
    params(("id" = String, Path)), responses((status = 200, body = PolicySummary)))]
pub async fn get_policy(
    _: Authorized<Analyst>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<PolicySummary>, ApiError> {
    state
        .engine
        .policy_summary(&id)
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no placement {id:?}")))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct ExportQuery {
    /// The placement (required).
    placement: Option<String>,
    /// Only decisions made at or after this time (RFC 3339, or `YYYY-MM-DD` for its midnight
    /// UTC).
    since: Option<String>,
    /// Only decisions made before this time (same forms).
    until: Option<String>,
    /// Only answers of this logging policy: `rules` (deterministic, propensity 1), `bandit`
    /// (a learning policy) or `experiment` (an experiment's variation). Off-policy
    /// estimators assume one.
    policy: Option<String>,
    /// Only decisions made with this model version (`modelVersion` of the decision log).
    model_version: Option<String>,
    /// At most this many decisions, the newest (default 100,000, at most 1,000,000).
    limit: Option<usize>,
}

/// Turns the query into the engine's filter, or says what is wrong with it (400
/// `invalid_request`, one message per problem, all at once).
fn export_filter(q: ExportQuery) -> Result<DecisionFilter, ApiError> {
    let mut problems = Vec::new();
    let time = |name: &str, value: &Option<String>, problems: &mut Vec<String>| {
        value.as_deref().and_then(|text| {
            let parsed = tailor_core::time::parse_timestamp(text);
            if parsed.is_none() {
                problems.push(format!(
                    "`{name}` {text:?} is not a time: RFC 3339 (2026-05-01T00:00:00Z) or a day (2026-05-01)"
                ));
            }
            parsed
        })
    };
    let since = time("since", &q.since, &mut problems);
    let until = time("until", &q.until, &mut problems);
    if let (Some(since), Some(until)) = (since, until)
        && since >= until
    {
        problems.push("`since` must be before `until`".to_string());
    }
    let policy = q.policy.as_deref().and_then(|name| {
        let parsed = LoggingPolicy::parse(name);
        if parsed.is_none() {
            problems.push(format!(
                "`policy` {name:?} is not a logging policy: rules, bandit or experiment"
            ));
        }
        parsed
    });
    if q.model_version
        .as_deref()
        .is_some_and(|v| v.trim().is_empty())
    {
        problems.push("`modelVersion` is empty: name a version, or leave it out".to_string());
    }
    if q.limit == Some(0) {
        problems.push("`limit` must be at least 1".to_string());
    }
    let placement = match q.placement {
        Some(p) if !p.is_empty() => Some(p),
        _ => {
            problems.push(
                "name the placement: /v1/decisions/export?placement=promo.banner".to_string(),
            );
            None
        }
    };
    match placement {
        Some(placement) if problems.is_empty() => Ok(DecisionFilter {
            placement,
            during: since.unwrap_or(Millis::MIN)..until.unwrap_or(Millis::MAX),
            policy,
            model_version: q.model_version,
            limit: q.limit.unwrap_or(100_000).min(1_000_000),
        }),
        _ => Err(ApiError::bad_request(
            "invalid_request",
            problems.join("; "),
        )),
    }
}

/// One placement's decision log in the Open Bandit Dataset's CSV format (analyst or admin
/// key), for `tailor eval ope --logs`, filtered by time range, logging policy and model
/// version. Each row names its `logging_policy` and `model_version`; the `x-tailor-items`
/// header lists the item ids behind the `item_id` indexes (a JSON array), and
/// `x-tailor-logging-policies` / `x-tailor-model-versions` count the rows of each (JSON
/// objects): more than one of either is a log the estimators should not be given whole.
#[utoipa::path(get, path = "/v1/decisions/export", tag = "decide", security(("analyst_key" = [])),
    params(ExportQuery),
    responses((status = 200, content_type = "text/csv", body = String,
        headers(("x-tailor-items" = String, description = "The item ids behind `item_id`, a JSON array"),
            ("x-tailor-logging-policies" = String, description = "Rows per logging policy, a JSON object"),
            ("x-tailor-model-versions" = String, description = "Rows per model version, a JSON object"))),
        (status = 400, body = ErrorBody, description = "A bad filter: unknown policy, unreadable or empty time range, no placement"),
        (status = 404, body = ErrorBody, description = "No such placement")))]
pub async fn export(
    _: Authorized<Analyst>,
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<ExportQuery>,
) -> Result<axum::response::Response, ApiError> {
    use axum::http::{HeaderName, HeaderValue, header};
    use axum::response::IntoResponse;
    let filter = export_filter(q)?;
    let export = state
        .blocking(move |engine| engine.export_decisions(&filter))
        .await?;
    let header_json = |value: String| {
        HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static("[]"))
    };
    let items = header_json(serde_json::to_string(&export.items).unwrap_or_default());
    let policies = header_json(serde_json::to_string(&export.policies).unwrap_or_default());
    let versions = header_json(serde_json::to_string(&export.model_versions).unwrap_or_default());
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            ),
            (HeaderName::from_static("x-tailor-items"), items),
            (
                HeaderName::from_static("x-tailor-logging-policies"),
                policies,
            ),
            (HeaderName::from_static("x-tailor-model-versions"), versions),
        ],
        export.csv,
    )
        .into_response())
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DailyQuery {
    /// The first day (`YYYY-MM-DD`); default: all kept.
    since: Option<String>,
}

/// One day's retired decisions of one placement that showed one item.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DecisionDayView {
    /// `YYYY-MM-DD` (UTC).
    day: String,
    placement: String,
    /// The item chosen; empty when the placement chose nothing.
    item: String,
    decisions: u64,
    /// Decisions with at least one reward joined.
    rewarded: u64,
    /// The rewards' value.
    value: f64,
}

/// Daily rollups of the decisions retention deleted (`TAILOR_RETAIN_DECISIONS_DAYS`), per
/// placement and item shown, oldest first.
#[utoipa::path(get, path = "/v1/decisions/daily", tag = "decide", security(("analyst_key" = [])),
    params(DailyQuery), responses((status = 200, body = Vec<DecisionDayView>)))]
pub async fn daily(
    _: Authorized<Analyst>,
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<DailyQuery>,
) -> Result<Json<Vec<DecisionDayView>>, ApiError> {
    let since = match q.since.as_deref() {
        None => 0,
        Some(day) => tailor_core::time::parse_timestamp(day).ok_or_else(|| {
            ApiError::bad_request("invalid_request", "`since` is a day: YYYY-MM-DD")
        })?,
    };
    let days = state
        .blocking(move |engine| engine.decision_days(since))
        .await?;
    Ok(Json(
        days.into_iter()
            .map(|d| DecisionDayView {
                day: tailor_core::time::format_timestamp(d.day)[..10].to_string(),
                placement: d.placement,
                item: d.item,
                decisions: d.decisions,
                rewarded: d.rewarded,
                value: d.value,
            })
            .collect(),
    ))
}
