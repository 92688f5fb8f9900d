//! A journey's report (`GET /v1/journeys/{id}/report`): the people who entered, split into
//! the arm that was sent messages and the control group that was not, and per arm the
//! conversions, revenue and unsubscribes within the control window after entry, compared
//! with the statistics engine (`tailor_ml::stats`, through `experiment_results`).
//!
//! Units are people: a person's runs are joined through their profile and the first one
//! counts (its entry time and arm). A conversion is the journey's goal event or an
//! `Order Completed`; revenue is the `revenue` (or `total`, `value`) of orders; an
//! unsubscribe is an `Unsubscribed` event. Only counts leave: no ids.

use std::collections::HashMap;

use serde::Serialize;
use tailor_core::Millis;
use tailor_core::time::format_timestamp;
use tailor_ml::stats::{self, Statistic, TestConfig};

use super::JourneyParts;
use super::definition::Control;
use super::runner::state_of;
use crate::error::EngineError;
use crate::measure::experiment_results::{Comparison, Srm, comparison, round};

/// One arm's sums over its people.
#[derive(Debug, Default, Clone, Copy)]
struct Arm {
    people: u64,
    converted: f64,
    revenue: f64,
    revenue_sq: f64,
    unsubscribed: f64,
}

impl Arm {
    fn view(&self) -> ArmReport {
        let rate = |x: f64| {
            if self.people == 0 {
                0.0
            } else {
                round(x / self.people as f64)
            }
        };
        ArmReport {
            people: self.people,
            conversions: self.converted,
            conversion_rate: rate(self.converted),
            revenue: round(self.revenue),
            revenue_per_person: rate(self.revenue),
            unsubscribes: self.unsubscribed,
            unsubscribe_rate: rate(self.unsubscribed),
        }
    }
}

/// A journey's report: sent vs control.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct JourneyReport {
    pub journey: String,
    pub computed_at: String,
    /// The control group, if the journey has one.
    pub control: Option<ControlView>,
    /// How long after entry conversions count.
    pub window_ms: Millis,
    pub arms: Arms,
    pub comparisons: Comparisons,
    /// The sample-ratio check, with a control group.
    pub srm: Option<Srm>,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ControlView {
    pub percent: f64,
    pub window: String,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Arms {
    pub sent: ArmReport,
    pub control: ArmReport,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ArmReport {
    pub people: u64,
    pub conversions: f64,
    pub conversion_rate: f64,
    pub revenue: f64,
    pub revenue_per_person: f64,
    pub unsubscribes: f64,
    pub unsubscribe_rate: f64,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Comparisons {
    pub conversion: Comparison,
    pub revenue_per_person: Comparison,
    pub unsubscribes: Comparison,
}

pub(super) fn report(parts: &JourneyParts, id: &str) -> Result<JourneyReport, EngineError> {
    let book = parts.journeys.book();
    let stored = book
        .get(id)
        .ok_or_else(|| EngineError::NotFound(format!("journey {id:?}")))?;
    let current = stored.current();
    let control = current.control.clone();
    let window = control
        .as_ref()
        .map_or(Control::DEFAULT_WINDOW, Control::window);
    let now = parts.clock.now();
    let runs = parts.store.journey_runs_in(id)?;
    // People, not runs: (entered at, in control, every id of theirs), from their first run.
    let mut people: HashMap<String, (Millis, bool, Vec<String>)> = HashMap::new();
    parts.live.with_registry(|registry| {
        for run in &runs {
            let (key, ids) = match registry.find(&run.person) {
                Some(p) => (format!("p_{}", p.id), p.id_list()),
                None => (format!("id:{}", run.person), vec![run.person.clone()]),
            };
            let in_control = state_of(run).control;
            let entry = people
                .entry(key)
                .or_insert((run.entered_at, in_control, ids));
            if run.entered_at < entry.0 {
                entry.0 = run.entered_at;
                entry.1 = in_control;
            }
        }
    });
    let goal = current.goal.as_ref().map(|g| g.event.as_str());
    let (mut sent, mut held) = (Arm::default(), Arm::default());
    for (entered, in_control, ids) in people.values() {
        let events = parts.store.events_of(ids, usize::MAX)?;
        let (mut converted, mut revenue, mut unsubscribed) = (false, 0.0, false);
        for e in &events {
            let t = e.message.timestamp;
            if t < *entered || t > entered + window {
                continue;
            }
            let name = e.message.event.as_deref();
            if name == Some("Order Completed") {
                converted = true;
                revenue += e.message.order_value().unwrap_or(0.0);
            }
            converted |= name.is_some() && name == goal;
            unsubscribed |= name == Some("Unsubscribed");
        }
        let arm = if *in_control { &mut held } else { &mut sent };
        arm.people += 1;
        arm.converted += f64::from(u8::from(converted));
        arm.revenue += revenue;
        arm.revenue_sq += revenue * revenue;
        arm.unsubscribed += f64::from(u8::from(unsubscribed));
    }
    let compare = |c: Statistic, t: Statistic| comparison(&c, &t, TestConfig::frequentist());
    let comparisons = Comparisons {
        conversion: compare(
            Statistic::proportion(held.people, held.converted),
            Statistic::proportion(sent.people, sent.converted),
        ),
        revenue_per_person: compare(
            Statistic::sample_mean(held.people, held.revenue, held.revenue_sq),
            Statistic::sample_mean(sent.people, sent.revenue, sent.revenue_sq),
        ),
        unsubscribes: compare(
            Statistic::proportion(held.people, held.unsubscribed),
            Statistic::proportion(sent.people, sent.unsubscribed),
        ),
    };
    let srm = control.as_ref().map(|c| {
        let share = c.percent / 100.0;
        Srm::of(stats::srm(
            &[held.people, sent.people],
            &[share, 1.0 - share],
        ))
    });
    Ok(JourneyReport {
        journey: id.to_string(),
        computed_at: format_timestamp(now),
        control: control.as_ref().map(|c| ControlView {
            percent: c.percent,
            window: c.window.clone().unwrap_or_else(|| "7d".into()),
        }),
        window_ms: window,
        arms: Arms {
            sent: sent.view(),
            control: held.view(),
        },
        comparisons,
        srm,
    })
}
