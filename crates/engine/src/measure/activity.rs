//! How busy the store is: events accepted and decisions made per minute, over the last day,
//! counted in memory as they happen (the writer counts events, the decider decisions). The
//! console's overview plots it. Nothing of it is persisted: after a restart the history
//! starts again, as a Prometheus counter's would.
//!
//! Its lock is a leaf (see the lock order in ARCHITECTURE.md): taken for a few
//! nanoseconds to add to the current minute, never while asking for another.

use std::collections::VecDeque;

use parking_lot::Mutex;
use serde::Serialize;
use tailor_core::Millis;

const MINUTE: Millis = 60_000;
/// Minutes kept: one day.
const KEPT: usize = 24 * 60;

/// The per-minute counts.
#[derive(Default)]
pub struct Activity {
    minutes: Mutex<VecDeque<Minute>>,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Minute {
    /// The minute's start (ms since the epoch).
    pub at: Millis,
    pub events: u64,
    pub decisions: u64,
}

impl Activity {
    pub fn new() -> Activity {
        Activity::default()
    }

    pub fn events(&self, n: u64, now: Millis) {
        if n > 0 {
            self.add(now, |m| m.events += n);
        }
    }

    pub fn decision(&self, now: Millis) {
        self.add(now, |m| m.decisions += 1);
    }

    fn add(&self, now: Millis, f: impl FnOnce(&mut Minute)) {
        let at = now - now.rem_euclid(MINUTE);
        let mut minutes = self.minutes.lock();
        match minutes.back_mut() {
            Some(last) if last.at == at => f(last),
            // A clock moved back (tests): count it in the newest minute.
            Some(last) if last.at > at => f(last),
            _ => {
                let mut m = Minute {
                    at,
                    events: 0,
                    decisions: 0,
                };
                f(&mut m);
                minutes.push_back(m);
                while minutes.len() > KEPT {
                    minutes.pop_front();
                }
            }
        }
    }

    /// The counts of the last `minutes` minutes up to `now`, oldest first, one per minute
    /// (quiet minutes as zeros).
    pub fn last(&self, minutes: usize, now: Millis) -> Vec<Minute> {
        let minutes = minutes.clamp(1, KEPT);
        let end = now - now.rem_euclid(MINUTE);
        let start = end - (minutes as Millis - 1) * MINUTE;
        let mut out: Vec<Minute> = (0..minutes)
            .map(|i| Minute {
                at: start + i as Millis * MINUTE,
                events: 0,
                decisions: 0,
            })
            .collect();
        for m in self
            .minutes
            .lock()
            .iter()
            .filter(|m| m.at >= start && m.at <= end)
        {
            let slot = ((m.at - start) / MINUTE) as usize;
            out[slot].events += m.events;
            out[slot].decisions += m.decisions;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_land_in_their_minute_and_quiet_minutes_are_zero() {
        let a = Activity::new();
        let t0 = 1_000 * MINUTE;
        a.events(5, t0 + 10);
        a.decision(t0 + 20);
        a.events(2, t0 + 2 * MINUTE + 5);
        let last = a.last(4, t0 + 2 * MINUTE + 30);
        assert_eq!(last.len(), 4);
        assert_eq!(
            last.iter().map(|m| m.events).collect::<Vec<_>>(),
            [0, 5, 0, 2]
        );
        assert_eq!(
            last.iter().map(|m| m.decisions).collect::<Vec<_>>(),
            [0, 1, 0, 0]
        );
        assert_eq!(last[1].at, t0);
    }
}
