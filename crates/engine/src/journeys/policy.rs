//! Rules every message obeys at send time, whatever journey queued it: frequency caps per
//! channel and across channels, quiet hours in the person's time zone, and the best send
//! hour. (Consent and holdouts are asked in `delivery`, through `ConsentPolicy::may` and
//! `Experiments::in_holdout`.)

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tailor_core::Millis;
use tailor_core::ValidationError;
use tailor_core::time::{DAY, HOUR, MINUTE};
use tailor_core::validate::Problems;

use crate::Profile;

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
    /// Per channel (`email`, `push`, `webhook`).
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
            if !["email", "push", "webhook"].contains(&name.as_str()) {
                problems.push(format!(
                    "caps: unknown channel {name:?}; channels are email, push, webhook"
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
    /// messages already sent (`sent`: channel and time, the past week).
    pub fn cap_reached(
        &self,
        channel: &str,
        sent: &[(String, Millis)],
        now: Millis,
    ) -> Option<String> {
        let count = |on: Option<&str>, window: Millis| {
            sent.iter()
                .filter(|(c, at)| on.is_none_or(|on| c == on) && *at > now - window)
                .count() as u32
        };
        let check = |cap: &Cap, on: Option<&str>, label: &str| {
            if cap.day.is_some_and(|n| count(on, DAY) >= n) {
                return Some(format!("frequency_cap:{label}:day"));
            }
            if cap.week.is_some_and(|n| count(on, 7 * DAY) >= n) {
                return Some(format!("frequency_cap:{label}:week"));
            }
            None
        };
        self.caps
            .get(channel)
            .and_then(|cap| check(cap, Some(channel), channel))
            .or_else(|| check(&self.total_cap, None, "all"))
    }

    /// When a message due `now` may go out: `now`, or the end of the quiet hours.
    pub fn after_quiet_hours(&self, now: Millis, offset: Millis) -> Millis {
        let Some(q) = self.quiet_hours else {
            return now;
        };
        let hour = local_hour(now, offset);
        let quiet = if q.start < q.end {
            hour >= q.start && hour < q.end
        } else {
            hour >= q.start || hour < q.end
        };
        if quiet {
            next_local_hour(now, offset, q.end)
        } else {
            now
        }
    }
}

/// The person's offset from UTC: trait `timezone` as `"+02:00"`, `"-0530"`, `"UTC"` or
/// `"Etc/GMT-2"`, or trait `utcOffset` in minutes. Named zones (`"Europe/Paris"`) are not
/// resolved (no time zone database is bundled) and count as UTC.
pub fn utc_offset(profile: Option<&Profile>) -> Millis {
    let Some(p) = profile else { return 0 };
    if let Some(m) = p.traits.get("utcOffset").and_then(|v| v.value.as_f64()) {
        return (m.clamp(-14.0 * 60.0, 14.0 * 60.0) * MINUTE as f64) as Millis;
    }
    p.traits
        .get("timezone")
        .and_then(|v| v.value.as_str())
        .and_then(parse_offset)
        .unwrap_or(0)
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

pub fn local_hour(at: Millis, offset: Millis) -> u32 {
    ((at + offset).rem_euclid(DAY) / HOUR) as u32
}

/// The next instant at or after `now` at which the local clock shows `hour`:00 (or `now`
/// itself during that hour).
pub fn next_local_hour(now: Millis, offset: Millis, hour: u32) -> Millis {
    let local = now + offset;
    let day_start = local - local.rem_euclid(DAY);
    let mut target = day_start + hour as Millis * HOUR;
    if local >= target + HOUR {
        target += DAY;
    } else if local >= target {
        return now;
    }
    target - offset
}

/// Picks a person's best send hour. A helper is building a proper model; this interface
/// is where it plugs in.
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
            p.after_quiet_hours(day + 22 * HOUR, 0),
            day + DAY + 8 * HOUR
        );
        // 03:00 UTC is quiet too, until 08:00 the same day.
        assert_eq!(p.after_quiet_hours(day + 3 * HOUR, 0), day + 8 * HOUR);
        assert_eq!(p.after_quiet_hours(day + 12 * HOUR, 0), day + 12 * HOUR);
        // 12:00 UTC is 21:00 at UTC+9: quiet until 08:00 local = 23:00 UTC.
        assert_eq!(
            p.after_quiet_hours(day + 12 * HOUR, 9 * HOUR),
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
        let now = 10 * DAY;
        let sent = vec![("email".to_string(), now - HOUR)];
        assert_eq!(
            p.cap_reached("email", &sent, now).as_deref(),
            Some("frequency_cap:email:day")
        );
        assert_eq!(p.cap_reached("push", &sent, now), None);
        assert_eq!(p.cap_reached("email", &sent, now + DAY), None);
        let sent = vec![
            ("email".to_string(), now - 3 * DAY),
            ("push".to_string(), now - HOUR),
        ];
        assert_eq!(
            p.cap_reached("push", &sent, now).as_deref(),
            Some("frequency_cap:all:week")
        );
    }

    #[test]
    fn send_hours() {
        let day = 100 * DAY;
        assert_eq!(next_local_hour(day + 9 * HOUR, 0, 10), day + 10 * HOUR);
        assert_eq!(
            next_local_hour(day + 10 * HOUR + 5, 0, 10),
            day + 10 * HOUR + 5
        );
        assert_eq!(
            next_local_hour(day + 11 * HOUR, 0, 10),
            day + DAY + 10 * HOUR
        );
        assert_eq!(next_local_hour(day, 2 * HOUR, 10), day + 8 * HOUR);
        assert_eq!(MostOpenedHour.best_hour(&[7, 19, 19, 7, 20]), Some(7));
        assert_eq!(MostOpenedHour.best_hour(&[]), None);
    }
}
