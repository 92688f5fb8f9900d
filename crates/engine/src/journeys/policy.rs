//! Rules every message obeys at send time, whatever journey queued it: frequency caps per
//! channel and across channels per calendar day and week (Monday first) in the person's
//! time zone, quiet hours in that time zone, and the best send hour. Time zones are fixed
//! offsets or IANA names (`Europe/Paris`, through `chrono-tz`), so days and hours follow
//! daylight saving time. (Consent and holdouts are asked in `delivery`, through `ConsentPolicy::may` and
//! `Experiments::in_holdout`.)

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tailor_core::Millis;
use tailor_core::ValidationError;
use tailor_core::time::{DAY, HOUR, MINUTE};
use tailor_core::validate::Problems;

use crate::profile::Profile;

/// A person's time zone: a fixed offset from UTC, or a named zone whose offset changes
/// with daylight saving time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zone {
    Fixed(Millis),
    Named(chrono_tz::Tz),
}

impl Zone {
    pub const UTC: Zone = Zone::Fixed(0);

    /// The person's zone: trait `timezone` as an IANA name (`"Europe/Paris"`), `"+02:00"`,
    /// `"-0530"`, `"UTC"` or `"Etc/GMT-2"`, or trait `utcOffset` in minutes; UTC otherwise.
    pub fn of(profile: Option<&Profile>) -> Zone {
        let Some(p) = profile else {
            return Zone::UTC;
        };
        if let Some(m) = p.traits.get("utcOffset").and_then(|v| v.value.as_f64()) {
            return Zone::Fixed((m.clamp(-14.0 * 60.0, 14.0 * 60.0) * MINUTE as f64) as Millis);
        }
        p.traits
            .get("timezone")
            .and_then(|v| v.value.as_str())
            .and_then(Zone::parse)
            .unwrap_or(Zone::UTC)
    }

    pub fn parse(tz: &str) -> Option<Zone> {
        if let Some(offset) = parse_offset(tz) {
            return Some(Zone::Fixed(offset));
        }
        tz.trim().parse::<chrono_tz::Tz>().ok().map(Zone::Named)
    }

    /// Local time minus UTC at the instant `at`.
    pub fn offset_at(self, at: Millis) -> Millis {
        match self {
            Zone::Fixed(o) => o,
            Zone::Named(tz) => {
                use chrono::{Offset, TimeZone};
                let Some(utc) = chrono::DateTime::from_timestamp_millis(at) else {
                    return 0;
                };
                let offset = tz.offset_from_utc_datetime(&utc.naive_utc()).fix();
                Millis::from(offset.local_minus_utc()) * tailor_core::time::SECOND
            }
        }
    }

    /// The local wall-clock time at `at`, as milliseconds since the local epoch.
    pub fn local(self, at: Millis) -> Millis {
        at + self.offset_at(at)
    }

    /// The instant the local clock shows `local`. A time skipped by a daylight-saving jump
    /// maps to the instant the jump lands on (02:30 → 03:30 summer time); a repeated one
    /// to its first occurrence.
    pub fn to_utc(self, local: Millis) -> Millis {
        match self {
            Zone::Fixed(o) => local - o,
            Zone::Named(tz) => {
                use chrono::TimeZone;
                use chrono::offset::LocalResult;
                let Some(naive) = chrono::DateTime::from_timestamp_millis(local) else {
                    return local;
                };
                match tz.from_local_datetime(&naive.naive_utc()) {
                    LocalResult::Single(t) => t.timestamp_millis(),
                    LocalResult::Ambiguous(first, _) => first.timestamp_millis(),
                    // In the gap: with the offset from before it.
                    LocalResult::None => local - self.offset_at(local - DAY),
                }
            }
        }
    }

    /// When the local day containing `at` began.
    pub fn day_start(self, at: Millis) -> Millis {
        let local = self.local(at);
        self.to_utc(local - local.rem_euclid(DAY))
    }

    /// When the local week (Monday 00:00) containing `at` began.
    pub fn week_start(self, at: Millis) -> Millis {
        let local = self.local(at);
        let day = local.div_euclid(DAY);
        // 1970-01-01 was a Thursday (Monday = 0).
        let weekday = (day + 3).rem_euclid(7);
        self.to_utc((day - weekday) * DAY)
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cap {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub day: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub week: Option<u32>,
}

/// Local hours `[start, end)` in which nothing is sent; wraps past midnight when
/// `start > end` (21 → 8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuietHours {
    pub start: u32,
    pub end: u32,
}

/// The global send policy (`GET`/`PUT /v1/journeys/policy`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SendPolicy {
    /// Per channel (`email`, `sms`, `push`, `webhook`, `onsite`).
    #[serde(default)]
    pub caps: BTreeMap<String, Cap>,
    /// Across all channels.
    #[serde(default)]
    pub total_cap: Cap,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quiet_hours: Option<QuietHours>,
}

impl Default for SendPolicy {
    fn default() -> Self {
        SendPolicy {
            caps: BTreeMap::new(),
            total_cap: Cap {
                day: Some(4),
                week: Some(12),
            },
            quiet_hours: None,
        }
    }
}

impl SendPolicy {
    pub fn validate(&self) -> Result<(), ValidationError> {
        let mut problems = Problems::default();
        for name in self.caps.keys() {
            if super::channels::Channel::parse(name).is_none() {
                problems.push(format!(
                    "caps: unknown channel {name:?}; channels are email, sms, push, webhook, onsite"
                ));
            }
        }
        if let Some(q) = self.quiet_hours
            && (q.start > 23 || q.end > 23 || q.start == q.end)
        {
            problems.push("quietHours: `start` and `end` are different hours 0-23");
        }
        problems.into_result(())
    }

    /// Which cap, if any, one more message on `channel` would break, given the times of
    /// messages already sent (`sent`: channel and time, at least since the start of the
    /// person's local week). Days and weeks are the person's calendar ones. On-site messages
    /// count only against their own channel's cap: they interrupt no one.
    pub fn cap_reached(
        &self,
        channel: &str,
        sent: &[(String, Millis)],
        now: Millis,
        zone: Zone,
    ) -> Option<String> {
        let (day, week) = (zone.day_start(now), zone.week_start(now));
        let count = |on: Option<&str>, since: Millis| {
            sent.iter()
                .filter(|(c, at)| {
                    on.map_or(c != "onsite", |on| c == on) && *at >= since && *at <= now
                })
                .count() as u32
        };
        let check = |cap: &Cap, on: Option<&str>, label: &str| {
            if cap.day.is_some_and(|n| count(on, day) >= n) {
                return Some(format!("frequency_cap:{label}:day"));
            }
            if cap.week.is_some_and(|n| count(on, week) >= n) {
                return Some(format!("frequency_cap:{label}:week"));
            }
            None
        };
        let own = self
            .caps
            .get(channel)
            .and_then(|cap| check(cap, Some(channel), channel));
        if channel == "onsite" {
            return own;
        }
        own.or_else(|| check(&self.total_cap, None, "all"))
    }

    /// When a message due `now` may go out: `now`, or the end of the quiet hours.
    pub fn after_quiet_hours(&self, now: Millis, zone: Zone) -> Millis {
        let Some(q) = self.quiet_hours else {
            return now;
        };
        let hour = local_hour(now, zone);
        let quiet = if q.start < q.end {
            hour >= q.start && hour < q.end
        } else {
            hour >= q.start || hour < q.end
        };
        if quiet {
            next_local_hour(now, zone, q.end)
        } else {
            now
        }
    }
}

fn parse_offset(tz: &str) -> Option<Millis> {
    let tz = tz.trim();
    if tz.eq_ignore_ascii_case("utc") || tz.eq_ignore_ascii_case("gmt") || tz == "Z" {
        return Some(0);
    }
    // POSIX-style names invert the sign: Etc/GMT-2 is two hours ahead of UTC.
    if let Some(rest) = tz.strip_prefix("Etc/GMT") {
        let h: i64 = rest.parse().ok()?;
        return (h.abs() <= 14).then_some(-h * HOUR);
    }
    let sign = match tz.chars().next()? {
        '+' => 1,
        '-' => -1,
        _ => return None,
    };
    let digits: String = tz[1..].chars().filter(char::is_ascii_digit).collect();
    let (h, m) = match digits.len() {
        1 | 2 => (digits.parse::<i64>().ok()?, 0),
        4 => (digits[..2].parse().ok()?, digits[2..].parse().ok()?),
        _ => return None,
    };
    (h <= 14 && m < 60).then_some(sign * (h * HOUR + m * MINUTE))
}

pub fn local_hour(at: Millis, zone: Zone) -> u32 {
    (zone.local(at).rem_euclid(DAY) / HOUR) as u32
}

/// The next instant at or after `now` at which the local clock shows `hour`:00 (or `now`
/// itself during that hour). On a day whose `hour` is skipped by daylight saving time, the
/// instant the clock jumps to.
pub fn next_local_hour(now: Millis, zone: Zone, hour: u32) -> Millis {
    if local_hour(now, zone) == hour {
        return now;
    }
    let local = zone.local(now);
    let day_start = local - local.rem_euclid(DAY);
    for day in 0..3 {
        let target = zone.to_utc(day_start + day * DAY + hour as Millis * HOUR);
        if target > now {
            return target;
        }
    }
    now + DAY
}

/// Picks a person's best send hour from their own opens: the fallback the scheduler uses
/// before a send-time model is trained (`predictions`, which also shrinks toward the
/// person's lifecycle stage and everyone's pattern, so it answers for people with no opens).
pub trait SendTimeModel: Send + Sync {
    /// From the local hours of the person's past email opens; `None`: no opinion.
    fn best_hour(&self, open_hours: &[u32]) -> Option<u32>;
}

/// The hour they opened most emails in (the earliest such hour on ties).
pub struct MostOpenedHour;

impl SendTimeModel for MostOpenedHour {
    fn best_hour(&self, open_hours: &[u32]) -> Option<u32> {
        let mut counts = [0u32; 24];
        for &h in open_hours {
            counts[(h % 24) as usize] += 1;
        }
        let best = (0..24).max_by_key(|&h| (counts[h], std::cmp::Reverse(h)))?;
        (counts[best] > 0).then_some(best as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_parse() {
        assert_eq!(parse_offset("+02:00"), Some(2 * HOUR));
        assert_eq!(parse_offset("-0530"), Some(-(5 * HOUR + 30 * MINUTE)));
        assert_eq!(parse_offset("Etc/GMT-2"), Some(2 * HOUR));
        assert_eq!(parse_offset("UTC"), Some(0));
        assert_eq!(parse_offset("Europe/Paris"), None);
        assert_eq!(
            Zone::parse("Europe/Paris"),
            Some(Zone::Named(chrono_tz::Europe::Paris))
        );
        assert_eq!(Zone::parse("+02:00"), Some(Zone::Fixed(2 * HOUR)));
        assert_eq!(Zone::parse("Mars/Olympus"), None);
        assert_eq!(parse_offset("+99"), None);
        assert_eq!(parse_offset("Etc/GMT+99"), None);
    }

    #[test]
    fn quiet_hours_wrap_midnight_in_local_time() {
        let p = SendPolicy {
            quiet_hours: Some(QuietHours { start: 21, end: 8 }),
            ..SendPolicy::default()
        };
        let day = 100 * DAY;
        // 22:00 UTC is quiet; it may go at 08:00 UTC the next day.
        assert_eq!(
            p.after_quiet_hours(day + 22 * HOUR, Zone::UTC),
            day + DAY + 8 * HOUR
        );
        // 03:00 UTC is quiet too, until 08:00 the same day.
        assert_eq!(
            p.after_quiet_hours(day + 3 * HOUR, Zone::UTC),
            day + 8 * HOUR
        );
        assert_eq!(
            p.after_quiet_hours(day + 12 * HOUR, Zone::UTC),
            day + 12 * HOUR
        );
        // 12:00 UTC is 21:00 at UTC+9: quiet until 08:00 local = 23:00 UTC.
        assert_eq!(
            p.after_quiet_hours(day + 12 * HOUR, Zone::Fixed(9 * HOUR)),
            day + 23 * HOUR
        );
    }

    #[test]
    fn caps_count_per_channel_and_in_total() {
        let p = SendPolicy {
            caps: [(
                "email".to_string(),
                Cap {
                    day: Some(1),
                    week: None,
                },
            )]
            .into(),
            total_cap: Cap {
                day: None,
                week: Some(2),
            },
            quiet_hours: None,
        };
        // Day 10 after the epoch is a Sunday; noon UTC.
        let utc = Zone::UTC;
        let now = 10 * DAY + 12 * HOUR;
        let sent = vec![("email".to_string(), now - HOUR)];
        assert_eq!(
            p.cap_reached("email", &sent, now, utc).as_deref(),
            Some("frequency_cap:email:day")
        );
        assert_eq!(p.cap_reached("push", &sent, now, utc), None);
        assert_eq!(p.cap_reached("email", &sent, now + DAY, utc), None);
        // Calendar days: 23:30 and 00:30 are different days in UTC, the same one in UTC-5.
        let late = vec![("email".to_string(), 10 * DAY + 23 * HOUR + 30 * MINUTE)];
        let early = 11 * DAY + 30 * MINUTE;
        assert_eq!(p.cap_reached("email", &late, early, utc), None);
        assert!(
            p.cap_reached("email", &late, early, Zone::Fixed(-5 * HOUR))
                .is_some()
        );
        let sent = vec![
            ("email".to_string(), now - 3 * DAY),
            ("push".to_string(), now - HOUR),
        ];
        assert_eq!(
            p.cap_reached("push", &sent, now, utc).as_deref(),
            Some("frequency_cap:all:week")
        );
        // A new week starts on Monday: the same sends no longer count.
        assert_eq!(p.cap_reached("push", &sent, now + DAY, utc), None);
        // On-site messages count only against an on-site cap.
        let onsite = vec![("onsite".to_string(), now - HOUR); 5];
        assert_eq!(p.cap_reached("email", &onsite, now, utc), None);
    }

    #[test]
    fn send_hours() {
        let day = 100 * DAY;
        let utc = Zone::UTC;
        assert_eq!(next_local_hour(day + 9 * HOUR, utc, 10), day + 10 * HOUR);
        assert_eq!(
            next_local_hour(day + 10 * HOUR + 5, utc, 10),
            day + 10 * HOUR + 5
        );
        assert_eq!(
            next_local_hour(day + 11 * HOUR, utc, 10),
            day + DAY + 10 * HOUR
        );
        assert_eq!(
            next_local_hour(day, Zone::Fixed(2 * HOUR), 10),
            day + 8 * HOUR
        );
        assert_eq!(MostOpenedHour.best_hour(&[7, 19, 19, 7, 20]), Some(7));
        assert_eq!(MostOpenedHour.best_hour(&[]), None);
    }

    fn at(s: &str) -> Millis {
        tailor_core::time::parse_timestamp(s).unwrap()
    }

    #[test]
    fn named_zones_follow_daylight_saving_time() {
        let paris = Zone::parse("Europe/Paris").unwrap();
        let ny = Zone::parse("America/New_York").unwrap();
        // Paris: UTC+1 in winter, UTC+2 from 2031-03-30 01:00 UTC.
        assert_eq!(paris.offset_at(at("2031-03-29T12:00:00Z")), HOUR);
        assert_eq!(paris.offset_at(at("2031-03-30T12:00:00Z")), 2 * HOUR);
        assert_eq!(local_hour(at("2031-03-30T07:00:00Z"), paris), 9);
        // 08:00 local is 07:00 UTC the day before the switch and 06:00 UTC the day after.
        assert_eq!(
            next_local_hour(at("2031-03-29T03:00:00Z"), paris, 8),
            at("2031-03-29T07:00:00Z")
        );
        assert_eq!(
            next_local_hour(at("2031-03-30T03:00:00Z"), paris, 8),
            at("2031-03-30T06:00:00Z")
        );
        // 02:00 does not exist on the switch day: the clock jumps to 03:00 (01:00 UTC).
        assert_eq!(
            next_local_hour(at("2031-03-29T23:30:00Z"), paris, 2),
            at("2031-03-30T01:00:00Z")
        );
        // Quiet hours 21-8 across the switch night end at 08:00 summer time.
        let p = SendPolicy {
            quiet_hours: Some(QuietHours { start: 21, end: 8 }),
            ..SendPolicy::default()
        };
        assert_eq!(
            p.after_quiet_hours(at("2031-03-29T22:00:00Z"), paris),
            at("2031-03-30T06:00:00Z")
        );
        // New York falls back on 2031-11-02: that local day is 25 hours long.
        let day = ny.day_start(at("2031-11-02T20:00:00Z"));
        assert_eq!(day, at("2031-11-02T04:00:00Z"));
        assert_eq!(
            ny.day_start(at("2031-11-03T12:00:00Z")),
            at("2031-11-03T05:00:00Z")
        );
        // Monday 2031-11-03 starts a new local week.
        assert_eq!(
            ny.week_start(at("2031-11-05T12:00:00Z")),
            at("2031-11-03T05:00:00Z")
        );
        assert_eq!(
            ny.week_start(at("2031-11-02T12:00:00Z")),
            at("2031-10-27T04:00:00Z")
        );
    }
}
