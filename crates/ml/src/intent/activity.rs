//! What a customer did, as the intent models read it: one [`Activity`] per relevant event,
//! and sessions (on-site activity with no gap longer than [`SESSION_GAP`]).

use std::ops::Range;

/// A dense category id (0, 1, 2, …), handed out by the caller.
pub type CategoryId = u32;

/// Segment's default: a visit ends after 30 minutes without activity.
pub const SESSION_GAP: f64 = 30.0 * 60.0;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActivityKind {
    /// Any other on-site event (pages, searches, list views, promotions, cart views).
    Page,
    ProductViewed,
    ProductAdded,
    ProductRemoved,
    CheckoutStarted,
    OrderCompleted,
    /// One line of an order (category and line value); follows its `OrderCompleted`.
    Purchased,
    EmailDelivered,
    EmailOpened,
    EmailClicked,
}

impl ActivityKind {
    /// Done by the customer on the site (emails happen in their inbox, not in a session).
    pub fn on_site(self) -> bool {
        !matches!(
            self,
            ActivityKind::EmailDelivered | ActivityKind::EmailOpened | ActivityKind::EmailClicked
        )
    }

    /// Shows interest in its category (what "engaged with a category" means).
    pub fn engages(self) -> bool {
        matches!(
            self,
            ActivityKind::ProductViewed | ActivityKind::ProductAdded | ActivityKind::Purchased
        )
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Activity {
    /// Seconds.
    pub time: f64,
    pub kind: ActivityKind,
    pub category: Option<CategoryId>,
    /// Money: price × quantity for adds, removes and order lines; revenue for orders.
    pub value: f64,
}

impl Activity {
    pub fn new(time: f64, kind: ActivityKind) -> Self {
        Self {
            time,
            kind,
            category: None,
            value: 0.0,
        }
    }

    pub fn in_category(mut self, category: CategoryId) -> Self {
        self.category = Some(category);
        self
    }

    pub fn worth(mut self, value: f64) -> Self {
        self.value = value;
        self
    }
}

/// The sessions of a time-ordered timeline, as index ranges into it. A range may contain
/// email activities that fell inside the visit; a session starts and ends with on-site ones.
pub fn sessions(timeline: &[Activity]) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut current: Option<(usize, usize, f64)> = None; // first, last index, last time
    for (i, a) in timeline.iter().enumerate() {
        if !a.kind.on_site() {
            continue;
        }
        current = match current {
            Some((first, _, last)) if a.time - last <= SESSION_GAP => Some((first, i, a.time)),
            Some((first, last_index, _)) => {
                out.push(first..last_index + 1);
                Some((i, i, a.time))
            }
            None => Some((i, i, a.time)),
        };
    }
    if let Some((first, last_index, _)) = current {
        out.push(first..last_index + 1);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ActivityKind::*;

    #[test]
    fn sessions_split_on_half_hour_gaps_and_skip_emails() {
        let timeline = [
            Activity::new(0.0, EmailOpened),
            Activity::new(10.0, Page),
            Activity::new(600.0, ProductViewed),
            Activity::new(700.0, EmailDelivered),
            Activity::new(600.0 + SESSION_GAP, Page),
            Activity::new(600.0 + 2.0 * SESSION_GAP + 1.0, Page),
        ];
        assert_eq!(sessions(&timeline), vec![1..5, 5..6]);
        assert!(sessions(&[Activity::new(0.0, EmailOpened)]).is_empty());
    }
}
