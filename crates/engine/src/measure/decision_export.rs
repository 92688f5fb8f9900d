//! The decision log of one placement in the Open Bandit Dataset's format, so the
//! off-policy estimators of `tailor eval ope` evaluate a candidate policy against the live
//! one before it ships (`GET /v1/decisions/export?placement=…`).
//!
//! One row per logged decision that showed something: `timestamp` (ms), `item_id` (the
//! shown candidate's index in the returned item list), `position` (1), `click` (1 when a
//! reward was joined to the decision: a click naming the shown item, or an order),
//! `propensity_score` (the logged propensity), and `user_feature_*`: the learning policy's
//! features when the placement learns, else whether the decision was personalized.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::error::EngineError;

/// A placement's decisions as Open Bandit CSV, and the item ids behind the indexes.
pub struct DecisionExport {
    pub items: Vec<String>,
    pub csv: String,
    pub rows: usize,
}

impl super::Measure {
    /// The newest `limit` decisions' rows for `placement` (which the caller checked
    /// exists). Blocks on disk.
    pub fn export_decisions(
        &self,
        placement: &str,
        limit: usize,
    ) -> Result<DecisionExport, EngineError> {
        self.decisions.flush();
        let decisions = self.store.recent_decisions(limit)?;
        let mut items: BTreeMap<String, usize> = BTreeMap::new();
        let mut rows = Vec::new();
        let mut width = 0;
        for (d, rewards) in &decisions {
            let Some(entry) = d.placements.iter().find(|p| p.placement == placement) else {
                continue;
            };
            let Some(chosen) = entry.chosen.as_deref() else {
                continue;
            };
            let propensity = entry.propensity;
            let features: Vec<f64> = if entry.features.is_empty() {
                vec![if d.personalized { 1.0 } else { 0.0 }]
            } else {
                entry.features.clone()
            };
            width = width.max(features.len());
            let click = rewards.iter().any(|r| {
                r.event == "Order Completed"
                    || matches!(r.event.as_str(), "Promotion Clicked" | "Product Clicked")
            });
            let next = items.len();
            let index = *items.entry(chosen.to_string()).or_insert(next);
            rows.push((d.at, index, click, propensity, features));
        }
        let mut csv = String::from("timestamp,item_id,position,click,propensity_score");
        for i in 0..width {
            let _ = write!(csv, ",user_feature_{i}");
        }
        csv.push('\n');
        for (at, item, click, propensity, features) in &rows {
            let _ = write!(csv, "{at},{item},1,{},{propensity}", u8::from(*click));
            for i in 0..width {
                let _ = write!(csv, ",{}", features.get(i).copied().unwrap_or(0.0));
            }
            csv.push('\n');
        }
        let mut ids: Vec<(usize, String)> = items.into_iter().map(|(id, i)| (i, id)).collect();
        ids.sort();
        Ok(DecisionExport {
            items: ids.into_iter().map(|(_, id)| id).collect(),
            csv,
            rows: rows.len(),
        })
    }
}
