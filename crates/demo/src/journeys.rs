//! The demo's journeys: the ready-made templates as they ship, plus an on-site cart
//! reminder, installed after the history is loaded (so only the live phase's shoppers
//! enter). The demo has no email or push provider: those messages wait on their timers
//! (an hour and more) and, when due, end in the dead letters saying what to configure
//! (`TAILOR_SMTP_URL`, `TAILOR_PUSH_URL`); on-site messages need none and show in the
//! storefront through the `onsite.message` placement.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::client::Api;
use crate::error::Error;

/// The demo's own journey: a cart reminder on the website, at once, with a control group.
pub const ONSITE_CART: &str = "demo-onsite-cart";
/// Longest the summary waits for the on-site messages to be delivered.
const DRAIN: Duration = Duration::from_secs(3);

/// Installs the journeys; returns their ids.
pub async fn install(api: &Api) -> Result<Vec<String>, Error> {
    let templates = api.admin_get("/v1/journeys/templates").await?;
    let mut ids = Vec::new();
    let mut all: Vec<Value> = templates["journeys"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    all.push(json!({
        "id": ONSITE_CART,
        "name": "Cart reminder on the website, with the same recommendations as the email",
        "trigger": {"event": "Checkout Started"},
        "goal": {"event": "Order Completed"},
        "reentry": {"policy": "afterExit", "cooldown": "1d"},
        "priority": 9,
        "control": {"percent": 10},
        "steps": [
            {"id": "banner", "type": "send", "channel": "onsite", "template": "cart-onsite", "ttl": "2d", "maxViews": 5}
        ]
    }));
    for j in all {
        let Some(id) = j["id"].as_str().map(str::to_string) else {
            continue;
        };
        api.admin_put(&format!("/v1/journeys/{id}"), &j).await?;
        ids.push(id);
    }
    Ok(ids)
}

/// Entries per journey and messages per channel and status, once the on-site messages
/// are out (or [`DRAIN`] has passed).
pub async fn summary(engine: &tailor_engine::Engine, ids: &[String]) -> Value {
    let started = Instant::now();
    let outbox = loop {
        let all = engine.outbox(None, None, 1_000_000).unwrap_or_default();
        let pending = all.iter().any(|m| m.status.as_str() == "pending");
        if !pending || started.elapsed() > DRAIN {
            break all;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mut messages: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    for m in &outbox {
        *messages
            .entry(m.channel.clone())
            .or_default()
            .entry(m.status.to_string())
            .or_default() += 1;
    }
    let mut entries = BTreeMap::new();
    let mut waiting = 0;
    for id in ids {
        let stats = engine.journey_stats(id).ok();
        let n = |k: &str| {
            stats
                .as_ref()
                .and_then(|s| s.journey.get(k))
                .map_or(0, |&n| n.max(0) as u64)
        };
        let ended = n("completed") + n("converted") + n("stopped");
        waiting += n("entered").saturating_sub(ended);
        entries.insert(id.clone(), n("entered"));
    }
    // The cart reminder against its control group: the live phase's carts come back and
    // order in both (`live`), so the report has conversions on each side.
    let cart = engine.journey_report(ONSITE_CART).ok().map(|r| {
        json!({"sent": {"people": r.arms.sent.people, "conversions": r.arms.sent.conversions},
               "control": {"people": r.arms.control.people, "conversions": r.arms.control.conversions}})
    });
    json!({"running": ids.len(), "entries": entries, "waiting": waiting, "messages": messages,
           "cart_reminder": cart})
}

/// One line for the printed summary.
pub fn line(s: &Value) -> String {
    let entries: u64 = s["entries"]
        .as_object()
        .map_or(0, |e| e.values().filter_map(Value::as_u64).sum());
    let mut parts = Vec::new();
    if let Some(channels) = s["messages"].as_object() {
        for (channel, statuses) in channels {
            let counts: Vec<String> = statuses
                .as_object()
                .into_iter()
                .flatten()
                .map(|(status, n)| format!("{n} {status}"))
                .collect();
            parts.push(format!("{channel} {}", counts.join(", ")));
        }
    }
    let messages = if parts.is_empty() {
        "no messages yet".to_string()
    } else {
        format!("messages: {}", parts.join("; "))
    };
    let arm = |a: &Value| format!("{} of {}", a["conversions"], a["people"]);
    let cart = &s["cart_reminder"];
    let reminder = if cart["sent"]["people"].as_u64().unwrap_or(0) > 0 {
        format!(
            "; {ONSITE_CART} conversions: {} reminded, {} in the control group",
            arm(&cart["sent"]),
            arm(&cart["control"])
        )
    } else {
        String::new()
    };
    format!(
        "{} running, {entries} entries, {} waiting on timers; {messages}{reminder}; email and push have no provider in the demo (dead letters at /v1/outbox/dead)",
        s["running"], s["waiting"]
    )
}
