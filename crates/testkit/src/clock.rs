//! The clock a test moves: the system clock plus an offset that only grows (what
//! `tailor serve --test-clock` runs on), or a clock that stands still until told to move.

use std::sync::Arc;

use tailor_core::{Clock, ManualClock, Millis, OffsetClock};

pub enum TestClock {
    /// Real time, moved ahead by the test; `POST /v1/test/clock` moves the same clock.
    Offset(Arc<OffsetClock>),
    /// Stands still between moves.
    Manual(ManualClock),
}

impl TestClock {
    /// Moves the clock ahead by a duration written as journeys write them (`"90m"`, `"2d"`).
    pub fn advance(&self, by: &str) {
        let ms = tailor_engine::journeys::definition::parse_duration(by)
            .unwrap_or_else(|| panic!("{by:?} is not a duration like \"90m\" or \"2d\""));
        self.advance_ms(ms);
    }

    pub fn advance_ms(&self, by: Millis) {
        match self {
            TestClock::Offset(c) => c.advance(by),
            TestClock::Manual(c) => c.advance(by.max(0)),
        }
    }

    /// Moves the clock ahead to an ISO-8601 time; panics if that is in its past.
    pub fn to(&self, at: &str) {
        let to = tailor_core::time::parse_timestamp(at)
            .unwrap_or_else(|| panic!("{at:?} is not an ISO-8601 time"));
        let now = self.now();
        assert!(
            to >= now,
            "the test clock only moves forward ({at} is in its past)"
        );
        self.advance_ms(to - now);
    }

    /// The offset clock, for `AppState::with_test_clock`; `None` for a manual clock.
    pub fn offset_clock(&self) -> Option<Arc<OffsetClock>> {
        match self {
            TestClock::Offset(c) => Some(c.clone()),
            TestClock::Manual(_) => None,
        }
    }
}

impl Clock for TestClock {
    fn now(&self) -> Millis {
        match self {
            TestClock::Offset(c) => c.now(),
            TestClock::Manual(c) => c.now(),
        }
    }
}
