//! Mergeable building blocks of a profile. Each can absorb an event at any time (events
//! arrive out of order) and merge with another of its kind (identity merges), and the
//! result does not depend on the order of either.

use serde::{Deserialize, Serialize};
use tailor_core::Millis;
use tailor_core::time::{DAY, MINUTE};

/// Inactivity that ends a session.
pub const SESSION_GAP: Millis = 30 * MINUTE;
/// Half-life of affinities: interest fades by half in two weeks without new signals.
pub const AFFINITY_HALF_LIFE: Millis = 14 * DAY;

/// A sum of weights that decay exponentially with age, kept as its value at a time.
/// Adding or merging rescales to the later of the two times, so the order of events
/// does not matter.
///
/// Eight bytes, as a profile holds up to 72 of them: the value as `f32` (7 digits; a
/// ranking's inputs) and the time in whole minutes (a minute of a 14-day half-life moves the
/// value by 3e-5 of itself). Checkpoints keep the wide form they always had.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(from = "DecayedWire", into = "DecayedWire")]
pub struct Decayed {
    value: f32,
    minute: i32,
}

#[derive(Serialize, Deserialize)]
struct DecayedWire {
    #[serde(rename = "v")]
    value: f64,
    #[serde(rename = "t")]
    at: Millis,
}

impl From<DecayedWire> for Decayed {
    fn from(w: DecayedWire) -> Self {
        Decayed::new(w.value, w.at)
    }
}

impl From<Decayed> for DecayedWire {
    fn from(d: Decayed) -> Self {
        DecayedWire {
            value: f64::from(d.value),
            at: d.at(),
        }
    }
}

fn decay(from: Millis, to: Millis) -> f64 {
    (-(to - from) as f64 * std::f64::consts::LN_2 / AFFINITY_HALF_LIFE as f64).exp()
}

impl Decayed {
    pub fn new(value: f64, at: Millis) -> Self {
        let minute = at
            .div_euclid(MINUTE)
            .clamp(i64::from(i32::MIN), i64::from(i32::MAX));
        Decayed {
            value: value as f32,
            minute: minute as i32,
        }
    }

    /// The time the value is kept at (to the minute).
    pub fn at(&self) -> Millis {
        i64::from(self.minute) * MINUTE
    }

    pub fn add(&mut self, weight: f64, at: Millis) {
        self.merge(&Decayed::new(weight, at));
    }

    pub fn merge(&mut self, other: &Decayed) {
        let (mine, theirs) = (f64::from(self.value), f64::from(other.value));
        if self.value == 0.0 {
            *self = *other;
        } else if other.minute > self.minute {
            self.value = (mine * decay(self.at(), other.at()) + theirs) as f32;
            self.minute = other.minute;
        } else {
            self.value = (mine + theirs * decay(other.at(), self.at())) as f32;
        }
    }

    /// The value as seen at `now` (never grows for times before it was kept at).
    pub fn value_at(&self, now: Millis) -> f64 {
        let (value, at) = (f64::from(self.value), self.at());
        if now <= at {
            value
        } else {
            value * decay(at, now)
        }
    }
}

/// Decayed scores per key (category, brand, price band), keeping the strongest `CAP`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Affinity(pub Vec<(Box<str>, Decayed)>);

impl Affinity {
    const CAP: usize = 24;

    pub fn add(&mut self, key: &str, weight: f64, at: Millis) {
        match self.0.iter_mut().find(|(k, _)| &**k == key) {
            Some((_, d)) => d.add(weight, at),
            None => push_exact(&mut self.0, (key.into(), Decayed::new(weight, at))),
        }
        self.trim();
    }

    pub fn merge(&mut self, other: &Affinity) {
        for (k, d) in &other.0 {
            match self.0.iter_mut().find(|(mine, _)| mine == k) {
                Some((_, mine)) => mine.merge(d),
                None => push_exact(&mut self.0, (k.clone(), *d)),
            }
        }
        self.trim();
    }

    fn trim(&mut self) {
        if self.0.len() > Self::CAP {
            let horizon = self.0.iter().map(|(_, d)| d.at()).max().unwrap_or(0);
            self.0.sort_by(|a, b| {
                b.1.value_at(horizon)
                    .total_cmp(&a.1.value_at(horizon))
                    .then(a.0.cmp(&b.0))
            });
            self.0.truncate(Self::CAP);
        }
    }

    /// Keys by score at `now`, strongest first.
    pub fn ranked(&self, now: Millis) -> Vec<(&str, f64)> {
        let mut v: Vec<_> = self
            .0
            .iter()
            .map(|(k, d)| (&**k, d.value_at(now)))
            .collect();
        v.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(b.0)));
        v
    }
}

/// Pushes growing the capacity by one, not doubling it: a profile's small lists stay their
/// length (doubling left about a sixth of a profile's bytes unused, `profile_memory`).
pub(crate) fn push_exact<T>(v: &mut Vec<T>, x: T) {
    v.reserve_exact(1);
    v.push(x);
}

/// One visit: activity with no gap longer than [`SESSION_GAP`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Session {
    pub start: Millis,
    pub end: Millis,
    pub events: u32,
    /// `(category, product)` pairs viewed in the session, hashed, for comparisons. Only
    /// the newest sessions keep them; older ones keep just [`Session::had_comparison`].
    /// Boxed, not a `Vec`: 8 bytes less for each of up to 32 sessions of a profile.
    #[serde(default)]
    pub views: Box<[(u32, u32)]>,
    /// A comparison was seen in views since dropped.
    #[serde(default)]
    pub had_comparison: bool,
}

impl Session {
    const MAX_VIEWS: usize = 16;

    /// Whether two or more products of one category were viewed in it.
    pub fn compared(&self) -> bool {
        self.had_comparison
            || self.views.iter().enumerate().any(|(i, (c, p))| {
                self.views[i + 1..]
                    .iter()
                    .any(|(c2, p2)| c == c2 && p != p2)
            })
    }

    fn absorb(&mut self, other: Session) {
        self.start = self.start.min(other.start);
        self.end = self.end.max(other.end);
        self.events += other.events;
        self.had_comparison |= other.had_comparison;
        if other.views.is_empty() {
            return;
        }
        let mut views = std::mem::take(&mut self.views).into_vec();
        for v in other.views {
            if views.len() < Self::MAX_VIEWS && !views.contains(&v) {
                views.push(v);
            }
        }
        self.views = views.into_boxed_slice();
    }
}

/// Sessions as sorted, disjoint intervals. The newest [`Sessions::KEEP`] are kept in
/// detail; older ones are folded into totals.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Sessions {
    pub recent: Vec<Session>,
    pub archived_count: u64,
    pub archived_duration: Millis,
    pub archived_comparisons: u64,
}

impl Sessions {
    const KEEP: usize = 32;
    /// Sessions ending within this time of the newest keep their views, so late events
    /// and identity merges of recent activity still find comparisons exactly; older ones
    /// keep only whether they had one.
    const VIEWS_HORIZON: Millis = 2 * DAY;

    pub fn record(&mut self, at: Millis, view: Option<(u32, u32)>) {
        self.insert(Session {
            start: at,
            end: at,
            events: 1,
            views: view.into_iter().collect(),
            had_comparison: false,
        });
    }

    pub fn merge(&mut self, other: &Sessions) {
        self.archived_count += other.archived_count;
        self.archived_duration += other.archived_duration;
        self.archived_comparisons += other.archived_comparisons;
        for s in &other.recent {
            self.insert(s.clone());
        }
    }

    fn insert(&mut self, s: Session) {
        // Sessions are sorted and disjoint, so the ones within the gap of the new one are
        // a contiguous run [lo, hi); they join it. Usually that run is the last session.
        let lo = self
            .recent
            .partition_point(|o| o.end + SESSION_GAP < s.start);
        let hi = self
            .recent
            .partition_point(|o| o.start - SESSION_GAP <= s.end);
        if lo + 1 == hi {
            self.recent[lo].absorb(s);
        } else {
            let mut joined = s;
            for o in self.recent.drain(lo..hi.max(lo)) {
                joined.absorb(o);
            }
            self.recent.reserve_exact(1);
            self.recent.insert(lo, joined);
        }
        // Older sessions trade their views for the one fact they yield (memory per profile).
        let newest = self.recent.last().map_or(Millis::MIN, |s| s.end);
        for old in self
            .recent
            .iter_mut()
            .take_while(|s| s.end < newest - Self::VIEWS_HORIZON)
        {
            if !old.views.is_empty() {
                old.had_comparison = old.compared();
                old.views = Box::default();
            }
        }
        while self.recent.len() > Self::KEEP {
            let old = self.recent.remove(0);
            self.archived_count += 1;
            self.archived_duration += old.end - old.start;
            self.archived_comparisons += u64::from(old.compared());
        }
    }

    pub fn count(&self) -> u64 {
        self.archived_count + self.recent.len() as u64
    }

    pub fn total_duration(&self) -> Millis {
        self.archived_duration + self.recent.iter().map(|s| s.end - s.start).sum::<Millis>()
    }

    pub fn comparisons(&self) -> u64 {
        self.archived_comparisons + self.recent.iter().filter(|s| s.compared()).count() as u64
    }

    /// Sessions that started in the `window` before `now`.
    pub fn started_within(&self, now: Millis, window: Millis) -> u64 {
        self.recent
            .iter()
            .filter(|s| s.start > now - window && s.start <= now)
            .count() as u64
    }

    pub fn last(&self) -> Option<&Session> {
        self.recent.last()
    }
}

/// One cart line, last writer wins by event time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CartLine {
    pub product_id: String,
    pub quantity: i64,
    pub price: f64,
    pub at: Millis,
}

/// The cart as a last-writer-wins map of lines plus the time it was last emptied by an
/// order; lines older than that are gone. Merges take the newer of everything.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Cart {
    pub lines: Vec<CartLine>,
    pub cleared_at: Millis,
}

impl Cart {
    const MAX_LINES: usize = 50;

    pub fn set(&mut self, line: CartLine) {
        if line.at < self.cleared_at {
            return;
        }
        match self
            .lines
            .iter_mut()
            .find(|l| l.product_id == line.product_id)
        {
            Some(l) if l.at <= line.at => *l = line,
            Some(_) => {}
            None => push_exact(&mut self.lines, line),
        }
        if self.lines.len() > Self::MAX_LINES {
            self.lines.sort_by_key(|l| std::cmp::Reverse(l.at));
            self.lines.truncate(Self::MAX_LINES);
        }
    }

    pub fn clear(&mut self, at: Millis) {
        self.cleared_at = self.cleared_at.max(at);
        self.lines.retain(|l| l.at >= at);
    }

    pub fn merge(&mut self, other: &Cart) {
        self.clear(other.cleared_at);
        for l in &other.lines {
            self.set(l.clone());
        }
    }

    /// Lines with a positive quantity.
    pub fn items(&self) -> impl Iterator<Item = &CartLine> {
        self.lines.iter().filter(|l| l.quantity > 0)
    }

    pub fn value(&self) -> f64 {
        self.items()
            .fold(0.0, |sum, l| sum + l.price * l.quantity as f64)
    }

    pub fn updated_at(&self) -> Option<Millis> {
        self.items().map(|l| l.at).max()
    }
}

/// Order history: totals plus the most recent orders.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Orders {
    pub count: u64,
    pub revenue: f64,
    pub first_at: Option<Millis>,
    pub last_at: Option<Millis>,
    /// `(time, value)` of the latest orders, oldest first.
    pub recent: Vec<(Millis, f64)>,
    pub refunds: u64,
    pub refunded: f64,
}

impl Orders {
    const KEEP: usize = 50;

    pub fn record(&mut self, at: Millis, value: f64) {
        self.count += 1;
        self.revenue += value;
        self.first_at = Some(self.first_at.map_or(at, |f| f.min(at)));
        self.last_at = Some(self.last_at.map_or(at, |l| l.max(at)));
        let pos = self.recent.partition_point(|(t, _)| *t <= at);
        self.recent.reserve_exact(1);
        self.recent.insert(pos, (at, value));
        if self.recent.len() > Self::KEEP {
            self.recent.remove(0);
        }
    }

    pub fn merge(&mut self, other: &Orders) {
        let (count, revenue) = (self.count + other.count, self.revenue + other.revenue);
        for &(t, v) in &other.recent {
            self.record(t, v);
        }
        // `record` counted the other's recent orders; totals come from both sides' totals.
        self.count = count;
        self.revenue = revenue;
        self.first_at = min_opt(self.first_at, other.first_at);
        self.last_at = self.last_at.max(other.last_at);
        self.refunds += other.refunds;
        self.refunded += other.refunded;
    }

    /// Mean days between consecutive recent orders.
    pub fn mean_gap_days(&self) -> Option<f64> {
        (self.recent.len() >= 2).then(|| {
            let span = self.recent[self.recent.len() - 1].0 - self.recent[0].0;
            span as f64 / DAY as f64 / (self.recent.len() - 1) as f64
        })
    }
}

fn min_opt(a: Option<Millis>, b: Option<Millis>) -> Option<Millis> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, y) => x.or(y),
    }
}

/// Email engagement counters (Email Spec events).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EmailEngagement {
    pub delivered: u64,
    pub opened: u64,
    pub clicked: u64,
    pub bounced: u64,
    pub unsubscribed: u64,
    pub last_opened_at: Option<Millis>,
}

impl EmailEngagement {
    pub fn merge(&mut self, o: &EmailEngagement) {
        self.delivered += o.delivered;
        self.opened += o.opened;
        self.clicked += o.clicked;
        self.bounced += o.bounced;
        self.unsubscribed += o.unsubscribed;
        self.last_opened_at = self.last_opened_at.max(o.last_opened_at);
    }
}

/// A value stamped with the event time that set it; the latest stamp wins.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stamped<T> {
    pub value: T,
    pub at: Millis,
}

/// Keeps `incoming` if it is newer than the current value (ties: the incoming one).
pub fn keep_latest<T>(slot: &mut Option<Stamped<T>>, incoming: Stamped<T>) {
    if slot.as_ref().is_none_or(|s| s.at <= incoming.at) {
        *slot = Some(incoming);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A profile holds up to 72 affinity sums and 32 sessions: their sizes are the budget's
    /// (2 KB per profile, `cargo run --release -p tailor-bench --example profile_memory`).
    #[test]
    fn the_per_profile_parts_stay_compact() {
        assert_eq!(std::mem::size_of::<Decayed>(), 8);
        assert_eq!(std::mem::size_of::<(Box<str>, Decayed)>(), 24);
        assert!(std::mem::size_of::<Session>() <= 40);
        let wire = serde_json::to_string(&Decayed::new(1.5, 3 * MINUTE)).unwrap();
        assert_eq!(
            wire, r#"{"v":1.5,"t":180000}"#,
            "checkpoints keep the wide form"
        );
        let back: Decayed = serde_json::from_str(r#"{"v":2.25,"t":120000}"#).unwrap();
        assert_eq!((back.value_at(0), back.at()), (2.25, 2 * MINUTE));
    }

    #[test]
    fn decayed_sums_are_order_independent_and_halve_per_half_life() {
        let mut a = Decayed::default();
        a.add(1.0, 0);
        a.add(2.0, 10 * DAY);
        let mut b = Decayed::default();
        b.add(2.0, 10 * DAY);
        b.add(1.0, 0);
        assert!(a.value == b.value && a.at() == b.at());
        let mut c = Decayed::default();
        c.add(4.0, 0);
        assert!((c.value_at(AFFINITY_HALF_LIFE) - 2.0).abs() < 1e-9);
    }

    #[test]
    fn sessions_split_on_gaps_and_join_late_events() {
        let mut s = Sessions::default();
        s.record(0, None);
        s.record(10 * MINUTE, None);
        s.record(2 * 60 * MINUTE, None);
        assert_eq!(s.count(), 2);
        // A late event in the gap bridges the two visits into one.
        s.record(40 * MINUTE, None);
        s.record(70 * MINUTE, None);
        s.record(100 * MINUTE, None);
        assert_eq!(s.count(), 1);
        assert_eq!(s.total_duration(), 120 * MINUTE);
    }

    #[test]
    fn session_merge_equals_recording_everything_in_one() {
        let times = [0, 5, 50, 51, 200, 201, 500].map(|m| m * MINUTE);
        let mut all = Sessions::default();
        let (mut odd, mut even) = (Sessions::default(), Sessions::default());
        for (i, &t) in times.iter().enumerate() {
            all.record(t, Some((1, i as u32)));
            if i % 2 == 0 {
                even.record(t, Some((1, i as u32)))
            } else {
                odd.record(t, Some((1, i as u32)))
            }
        }
        odd.merge(&even);
        assert_eq!(odd.count(), all.count());
        assert_eq!(odd.total_duration(), all.total_duration());
        assert_eq!(odd.comparisons(), all.comparisons());
        assert_eq!(all.comparisons(), 3);
    }

    #[test]
    fn old_sessions_keep_only_whether_they_compared() {
        let mut s = Sessions::default();
        s.record(0, Some((1, 1)));
        s.record(MINUTE, Some((1, 2)));
        s.record(MINUTE, Some((2, 3)));
        s.record(10 * DAY, None);
        assert!(s.recent[0].views.is_empty());
        assert!(s.recent[0].had_comparison);
        assert_eq!(s.comparisons(), 1);
        // A late view joining the settled session cannot pair with the dropped ones.
        s.record(2 * MINUTE, Some((2, 4)));
        assert_eq!(s.comparisons(), 1);
    }

    #[test]
    fn cart_is_last_writer_wins_and_orders_clear_it() {
        let line = |p: &str, q, at| CartLine {
            product_id: p.into(),
            quantity: q,
            price: 10.0,
            at,
        };
        let mut c = Cart::default();
        c.set(line("a", 1, 10));
        c.set(line("a", 0, 5)); // older removal loses
        c.set(line("b", 2, 20));
        assert_eq!(c.value(), 30.0);
        c.clear(25);
        assert_eq!(c.items().count(), 0);
        c.set(line("c", 1, 24)); // added before the order: gone with it
        assert_eq!(c.items().count(), 0);
        let mut other = Cart::default();
        other.set(line("d", 1, 30));
        c.merge(&other);
        assert_eq!(c.value(), 10.0);
    }

    #[test]
    fn orders_merge_keeps_totals() {
        let mut a = Orders::default();
        a.record(10, 5.0);
        let mut b = Orders::default();
        b.record(5, 7.0);
        b.record(20, 1.0);
        a.merge(&b);
        assert_eq!(a.count, 3);
        assert_eq!(a.revenue, 13.0);
        assert_eq!((a.first_at, a.last_at), (Some(5), Some(20)));
        assert_eq!(
            a.recent.iter().map(|r| r.0).collect::<Vec<_>>(),
            vec![5, 10, 20]
        );
    }
}
