//! The demo's hidden truth (`demo-truth.json`), read only to score predictions against what the
//! shoppers were simulated from — never to fit anything. Any store but a demo has none, and then
//! this part of the report is left out.
//!
//! Two checks: is a shopper's predicted send hour (hour of day) within ±1 hour of the hour they
//! read email; and for shoppers who take up a new category in the 14 days after the cut, is it
//! among the 3 categories predicted for them.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;

use serde_json::{Value, json};
use tailor_core::time::parse_timestamp;

use super::log::EventLog;
use super::next_category::NextCategoryReport;
use super::send_time::SendTimeReport;
use crate::error::{Error, Invalid};

const TRUTH_FILE: &str = "demo-truth.json";
/// Hours either side of the true reading hour that count as right.
const HOUR_TOLERANCE: f64 = 1.0;

/// What one simulated shopper was, and which customer of the log they became.
struct Shopper {
    customer: usize,
    reading_hour: Option<f64>,
    /// The category taken up partway through, and when (seconds).
    new_interest: Option<(String, f64)>,
}

/// Share of `shoppers` where the model / the baseline got it right.
pub struct Check {
    pub shoppers: usize,
    pub model: f64,
    pub baseline: f64,
}

pub struct TruthReport {
    pub send_hour: Check,
    pub new_category: Check,
}

fn read(dir: &Path, log: &EventLog) -> Result<Option<Vec<Shopper>>, Error> {
    let path = dir.join(TRUTH_FILE);
    if !path.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path).map_err(|source| Error::File {
        action: "cannot read",
        path: path.clone(),
        source,
    })?;
    let truth: Value = serde_json::from_str(&text).map_err(|e| {
        Invalid::caused(
            format!("{} is not what `tailor demo` writes", path.display()),
            e,
        )
    })?;
    let shoppers = truth["shoppers"].as_array().cloned().unwrap_or_default();
    Ok(Some(
        shoppers
            .iter()
            .filter_map(|s| {
                // Email is sent by userId, so that customer is the one whose opens were seen.
                let user = s["userId"].as_str().map(|id| format!("user:{id}"));
                let anonymous = s["anonymousIds"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .map(|id| format!("anon:{id}"));
                let customer = user
                    .into_iter()
                    .chain(anonymous)
                    .find_map(|key| log.ids.get(&key).copied())?;
                let new_interest = s["new_interest"].as_object().and_then(|n| {
                    let category = n.get("category")?.as_str()?.to_string();
                    let from = parse_timestamp(n.get("from")?.as_str()?)?;
                    Some((category, from as f64 / 1000.0))
                });
                Some(Shopper {
                    customer,
                    reading_hour: s["email"]["reading_hour_utc"].as_f64(),
                    new_interest,
                })
            })
            .collect(),
    ))
}

/// Scores the reports' predictions against the truth file in `dir`, if there is one.
pub fn evaluate(
    dir: &Path,
    log: &EventLog,
    cut: f64,
    send_time: &SendTimeReport,
    next_category: &NextCategoryReport,
) -> Result<Option<TruthReport>, Error> {
    let Some(shoppers) = read(dir, log)? else {
        return Ok(None);
    };
    let within = |predicted_hour_of_week: usize, truth: f64| {
        // The predicted hour covers [h, h + 1): compare its middle.
        let middle = (predicted_hour_of_week % 24) as f64 + 0.5;
        let apart = (middle - truth).rem_euclid(24.0);
        apart.min(24.0 - apart) <= HOUR_TOLERANCE + 0.5
    };
    let (mut send, mut send_model, mut send_baseline) = (0usize, 0usize, 0usize);
    for s in &shoppers {
        let (Some(truth), Some(Some(hour))) =
            (s.reading_hour, send_time.predicted_hours.get(s.customer))
        else {
            continue;
        };
        send += 1;
        send_model += usize::from(within(*hour, truth));
        send_baseline += usize::from(within(send_time.population_best_hour, truth));
    }

    let index: HashMap<&str, u32> = log
        .categories
        .iter()
        .enumerate()
        .map(|(i, name)| (name.as_str(), i as u32))
        .collect();
    let (mut taken_up, mut category_model, mut category_baseline) = (0usize, 0usize, 0usize);
    for s in &shoppers {
        let Some((name, from)) = &s.new_interest else {
            continue;
        };
        let (Some(&category), Some(ranked)) = (
            index.get(name.as_str()),
            next_category.rankings.get(&s.customer),
        ) else {
            continue;
        };
        // Taken up within the window, and not yet engaged with at the cut (the rankings
        // leave out what was engaged, so a miss there would not be the model's).
        let in_window = *from >= cut && *from < cut + next_category.window;
        if !in_window || ranked.engaged.contains(&category) {
            continue;
        }
        taken_up += 1;
        category_model += usize::from(ranked.model.contains(&category));
        category_baseline += usize::from(ranked.popularity.contains(&category));
    }
    let share = |hits: usize, n: usize| if n == 0 { 0.0 } else { hits as f64 / n as f64 };
    Ok(Some(TruthReport {
        send_hour: Check {
            shoppers: send,
            model: share(send_model, send),
            baseline: share(send_baseline, send),
        },
        new_category: Check {
            shoppers: taken_up,
            model: share(category_model, taken_up),
            baseline: share(category_baseline, taken_up),
        },
    }))
}

impl Check {
    fn to_json(&self) -> Value {
        json!({"shoppers": self.shoppers, "model": self.model, "baseline": self.baseline})
    }
}

impl TruthReport {
    pub fn to_json(&self) -> Value {
        json!({
            "send_hour_within_1h_of_reading_hour": self.send_hour.to_json(),
            "new_interest_in_top_3": self.new_category.to_json(),
        })
    }

    pub fn write(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "Against the demo's hidden truth ({TRUTH_FILE}; read only to score)"
        );
        let _ = writeln!(out, "    {:<58} {:>9} {:>9}", "check", "tailor", "baseline");
        let _ = writeln!(
            out,
            "    {:<58} {:>9.4} {:>9.4}",
            format!(
                "send hour within ±1 h of their reading hour ({} shoppers)",
                self.send_hour.shoppers
            ),
            self.send_hour.model,
            self.send_hour.baseline
        );
        let _ = writeln!(
            out,
            "    {:<58} {:>9.4} {:>9.4}",
            format!(
                "category taken up after the cut in top 3 ({} shoppers)",
                self.new_category.shoppers
            ),
            self.new_category.model,
            self.new_category.baseline
        );
    }
}
