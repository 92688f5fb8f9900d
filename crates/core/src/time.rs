//! Time as milliseconds since the Unix epoch, the clock trait, and lenient ISO-8601 parsing.

use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, Utc};

/// Milliseconds since the Unix epoch, UTC.
pub type Millis = i64;

pub const SECOND: Millis = 1_000;
pub const MINUTE: Millis = 60 * SECOND;
pub const HOUR: Millis = 60 * MINUTE;
pub const DAY: Millis = 24 * HOUR;

/// Where "now" comes from. Production uses [`SystemClock`]; tests and the demo's
/// simulated days use [`ManualClock`].
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Millis;
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Millis {
        Utc::now().timestamp_millis()
    }
}

/// A clock that moves only when told to.
#[derive(Debug, Default)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn new(now: Millis) -> Self {
        Self(AtomicI64::new(now))
    }
    pub fn set(&self, now: Millis) {
        self.0.store(now, Ordering::SeqCst);
    }
    pub fn advance(&self, by: Millis) {
        self.0.fetch_add(by, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Millis {
        self.0.load(Ordering::SeqCst)
    }
}

/// The system clock plus an offset that only grows: `tailor serve --test-clock` uses it so
/// end-to-end tests can move a running server days ahead (`POST /v1/test/clock`) and watch
/// journeys fire, without ever turning time back under the stores' feet.
#[derive(Debug, Default)]
pub struct OffsetClock(AtomicI64);

impl OffsetClock {
    pub fn new() -> Self {
        Self::default()
    }
    /// Moves the clock ahead by `by` (negative values are ignored).
    pub fn advance(&self, by: Millis) {
        self.0.fetch_add(by.max(0), Ordering::SeqCst);
    }
    /// Moves the clock ahead to `to`, if that is later than now. Returns the new now.
    pub fn advance_to(&self, to: Millis) -> Millis {
        let now = self.now();
        if to > now {
            self.advance(to - now);
        }
        self.now()
    }
    pub fn offset(&self) -> Millis {
        self.0.load(Ordering::SeqCst)
    }
}

impl Clock for OffsetClock {
    fn now(&self) -> Millis {
        Utc::now().timestamp_millis() + self.0.load(Ordering::SeqCst)
    }
}

/// Parses the timestamps Segment libraries send: RFC 3339 / ISO 8601 with or without
/// offset or fraction, a bare date, and the unpadded forms Segment's own docs show
/// (`2015-2-02T00:30:08.276Z`). Naive times are taken as UTC.
pub fn parse_timestamp(s: &str) -> Option<Millis> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_millis());
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f%:z",
        "%Y-%m-%dT%H:%M:%S%.f%z",
        "%Y-%m-%d %H:%M:%S%.f%:z",
    ] {
        if let Ok(t) = DateTime::parse_from_str(s, fmt) {
            return Some(t.timestamp_millis());
        }
    }
    let naive = s.strip_suffix('Z').unwrap_or(s);
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(naive, fmt) {
            return Some(t.and_utc().timestamp_millis());
        }
    }
    NaiveDate::parse_from_str(naive, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp_millis())
}

/// Formats milliseconds as RFC 3339 UTC with millisecond precision.
pub fn format_timestamp(ms: Millis) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_segment_timestamp_forms() {
        let base = parse_timestamp("2012-12-02T00:30:08.276Z").unwrap();
        assert_eq!(format_timestamp(base), "2012-12-02T00:30:08.276Z");
        assert_eq!(parse_timestamp("2012-12-02T01:30:08.276+01:00"), Some(base));
        assert_eq!(parse_timestamp("2012-12-02T00:30:08.276"), Some(base));
        assert_eq!(
            parse_timestamp("2015-2-02T00:30:08.276Z"),
            parse_timestamp("2015-02-02T00:30:08.276Z")
        );
        assert_eq!(
            parse_timestamp("2012-12-02"),
            parse_timestamp("2012-12-02T00:00:00Z")
        );
        assert_eq!(parse_timestamp("yesterday"), None);
        assert_eq!(parse_timestamp(""), None);
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let c = ManualClock::new(5);
        assert_eq!(c.now(), 5);
        c.advance(DAY);
        assert_eq!(c.now(), 5 + DAY);
    }
}
