//! Reads over everyone at once, for the console: people by lifecycle stage, orders and
//! revenue per day, a search by id, e-mail or trait, and who a targeting condition matches
//! (with the attribute document `decide` gives conditions, so a segment counts exactly the
//! people a placement or journey with that condition would see). Each read holds the
//! registry's read lock for one pass over the profiles.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};
use tailor_core::Millis;
use tailor_core::time::DAY;

use crate::decide::visitor;
use crate::learn::predictions::Models;
use crate::live::Live;
use crate::profile::Profile;

/// At most this many people answer a search.
pub const SEARCH_LIMIT: usize = 50;

/// One person in a list: enough to recognise them and open their page (personal data:
/// admin only).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PersonRow {
    /// The internal id (`p_12`).
    pub id: String,
    pub user_id: Option<String>,
    pub anonymous_id: Option<String>,
    pub email: Option<String>,
    pub lifecycle_stage: &'static str,
    pub orders: u64,
    pub revenue: f64,
    pub last_seen: Millis,
}

/// The store at a glance.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Overview {
    pub profiles: usize,
    pub identified: usize,
    pub customers: usize,
    pub orders: u64,
    pub revenue: f64,
    /// Profiles per lifecycle stage, in the stages' order.
    pub lifecycle: Vec<(&'static str, usize)>,
    /// Orders and revenue per day over the last `days` days (from each profile's latest
    /// orders: a profile keeps its 50 newest), oldest first: (day start, orders, revenue).
    pub daily: Vec<(Millis, u64, f64)>,
}

/// Who a condition matches.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConditionMatch {
    pub matching: usize,
    pub total: usize,
    pub sample: Vec<PersonRow>,
}

const STAGES: [&str; 6] = [
    "discovery",
    "evaluation",
    "purchase",
    "repeat",
    "at-risk",
    "lapsed",
];

pub(crate) fn row(p: &Profile, now: Millis) -> PersonRow {
    PersonRow {
        id: format!("p_{}", p.id),
        user_id: p.user_ids.first().cloned(),
        anonymous_id: p.anonymous_ids.last().cloned(),
        email: p
            .traits
            .get("email")
            .and_then(|t| t.value.as_str())
            .map(str::to_string),
        lifecycle_stage: p.lifecycle_stage(now).as_str(),
        orders: p.orders.count,
        revenue: (p.orders.revenue * 100.0).round() / 100.0,
        last_seen: p.last_seen,
    }
}

pub(crate) fn overview(live: &Live, now: Millis, days: u32) -> Overview {
    let days = days.clamp(1, 366) as Millis;
    let today = now - now.rem_euclid(DAY);
    let start = today - (days - 1) * DAY;
    let mut daily: Vec<(Millis, u64, f64)> = (0..days).map(|d| (start + d * DAY, 0, 0.0)).collect();
    let mut lifecycle: BTreeMap<&'static str, usize> = BTreeMap::new();
    let (mut profiles, mut identified, mut customers, mut orders, mut revenue) = (0, 0, 0, 0, 0.0);
    live.with_registry(|r| {
        for p in r.profiles() {
            profiles += 1;
            identified += usize::from(!p.user_ids.is_empty());
            customers += usize::from(p.orders.count > 0);
            orders += p.orders.count;
            revenue += p.orders.revenue;
            *lifecycle
                .entry(p.lifecycle_stage(now).as_str())
                .or_default() += 1;
            for &(at, value) in &p.orders.recent {
                if at >= start && at < today + DAY {
                    let slot = &mut daily[((at - start) / DAY) as usize];
                    slot.1 += 1;
                    slot.2 += value;
                }
            }
        }
    });
    Overview {
        profiles,
        identified,
        customers,
        orders,
        revenue: (revenue * 100.0).round() / 100.0,
        lifecycle: STAGES
            .iter()
            .map(|s| (*s, lifecycle.get(s).copied().unwrap_or(0)))
            .collect(),
        daily,
    }
}

/// People whose id is `query`, or whose e-mail or any trait's text contains it (case
/// insensitive): exact id matches first, at most [`SEARCH_LIMIT`].
pub(crate) fn search(live: &Live, query: &str, now: Millis) -> Vec<PersonRow> {
    let query = query.trim();
    if query.is_empty() {
        return Vec::new();
    }
    let needle = query.to_lowercase();
    live.with_registry(|r| {
        let exact = r.find(query).map(|p| p.id);
        let mut rows: Vec<PersonRow> = exact
            .and_then(|id| r.get(id))
            .map(|p| row(p, now))
            .into_iter()
            .collect();
        let mut found: Vec<&Profile> = Vec::new();
        for p in r.profiles() {
            if Some(p.id) == exact {
                continue;
            }
            let hit = p.ids().any(|id| id.to_lowercase().contains(&needle))
                || p.traits.values().any(|t| match &t.value {
                    Value::String(s) => s.to_lowercase().contains(&needle),
                    Value::Number(n) => n.to_string() == needle,
                    Value::Bool(b) => b.to_string() == needle,
                    _ => false,
                });
            if hit {
                found.push(p);
            }
        }
        // Shortest ids first (`user-1` before `user-12`), then by id: a stable order.
        found.sort_by_key(|p| {
            let id = p
                .user_ids
                .first()
                .or(p.anonymous_ids.last())
                .cloned()
                .unwrap_or_default();
            (id.len(), id, p.id)
        });
        let room = SEARCH_LIMIT.saturating_sub(rows.len());
        rows.extend(found.into_iter().take(room).map(|p| row(p, now)));
        rows
    })
}

/// Who `condition` (validated by the caller) matches now, with up to `sample` of them.
pub(crate) fn matching(
    live: &Live,
    condition: &Value,
    models: Option<&Models>,
    sample: usize,
    now: Millis,
) -> ConditionMatch {
    let context = Map::new();
    live.with_registry(|r| {
        let mut out = ConditionMatch {
            matching: 0,
            total: 0,
            sample: Vec::new(),
        };
        for p in r.profiles() {
            out.total += 1;
            let attributes = visitor::attributes(Some(p), &context, now, models);
            if tailor_core::condition::eval_condition(&attributes, condition) {
                out.matching += 1;
                if out.sample.len() < sample {
                    out.sample.push(row(p, now));
                }
            }
        }
        out
    })
}

/// How a numeric prediction is spread over people: `bins` equal-width bins from `min` to
/// `max`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Distribution {
    pub name: String,
    pub people: usize,
    pub min: f64,
    pub max: f64,
    pub mean: f64,
    pub counts: Vec<usize>,
}

/// The distribution of every numeric prediction over at most `sample` profiles (those with
/// at least one event), in `bins` bins.
pub(crate) fn prediction_distributions(
    live: &Live,
    models: &Models,
    sample: usize,
    bins: usize,
    now: Millis,
) -> Vec<Distribution> {
    let bins = bins.clamp(2, 100);
    let mut values: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    live.with_registry(|r| {
        for p in r.profiles().filter(|p| p.events > 0).take(sample) {
            let Ok(Value::Object(fields)) = serde_json::to_value(models.predict(p, now, None))
            else {
                continue;
            };
            for (name, v) in fields {
                if name == "model_version" || name == "modelVersion" {
                    continue;
                }
                if let Some(x) = v.as_f64().filter(|x| x.is_finite()) {
                    values.entry(name).or_default().push(x);
                }
            }
        }
    });
    values
        .into_iter()
        .map(|(name, xs)| {
            let min = xs.iter().copied().fold(f64::INFINITY, f64::min);
            let max = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let width = (max - min) / bins as f64;
            let mut counts = vec![0; bins];
            for x in &xs {
                let i = if width > 0.0 {
                    (((x - min) / width) as usize).min(bins - 1)
                } else {
                    0
                };
                counts[i] += 1;
            }
            Distribution {
                name,
                people: xs.len(),
                min,
                max,
                mean: xs.iter().sum::<f64>() / xs.len().max(1) as f64,
                counts,
            }
        })
        .collect()
}

/// Consent of everyone for one purpose, now: allowed in all, and by what.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsentRate {
    pub purpose: tailor_core::Purpose,
    pub people: usize,
    pub allowed: usize,
    pub granted: usize,
    pub withdrawn: usize,
    pub by_default_allowed: usize,
    pub by_default_refused: usize,
    /// Latest choices per day over the window, oldest first: (day, granted, withdrawn).
    pub daily: Vec<(Millis, u64, u64)>,
}

/// Per purpose, how many people it may use now and why, with the days their latest
/// choices were made on over the last `days` days.
pub(crate) fn consent_rates(
    live: &Live,
    policy: &crate::govern::consent::ConsentPolicy,
    days: u32,
    now: Millis,
) -> Vec<ConsentRate> {
    use crate::govern::consent::Basis;
    let days = days.clamp(1, 366) as Millis;
    let today = now - now.rem_euclid(DAY);
    let start = today - (days - 1) * DAY;
    let mut rates: Vec<ConsentRate> = tailor_core::Purpose::ALL
        .into_iter()
        .map(|purpose| ConsentRate {
            purpose,
            people: 0,
            allowed: 0,
            granted: 0,
            withdrawn: 0,
            by_default_allowed: 0,
            by_default_refused: 0,
            daily: (0..days).map(|d| (start + d * DAY, 0, 0)).collect(),
        })
        .collect();
    live.with_registry(|r| {
        for p in r.profiles() {
            for rate in rates.iter_mut() {
                let permission = policy.may(Some(p), rate.purpose);
                rate.people += 1;
                rate.allowed += usize::from(permission.allowed);
                match (&permission.basis, permission.allowed) {
                    (Basis::Choice { at, .. }, allowed) => {
                        if allowed {
                            rate.granted += 1;
                        } else {
                            rate.withdrawn += 1;
                        }
                        if *at >= start && *at < today + DAY {
                            let slot = &mut rate.daily[((at - start) / DAY) as usize];
                            if allowed {
                                slot.1 += 1;
                            } else {
                                slot.2 += 1;
                            }
                        }
                    }
                    (Basis::Default { .. }, true) => rate.by_default_allowed += 1,
                    (Basis::Default { .. }, false) => rate.by_default_refused += 1,
                }
            }
        }
    });
    rates
}
