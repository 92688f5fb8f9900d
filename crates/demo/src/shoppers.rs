//! The demo's shoppers and their HIDDEN preferences: favourite leaf categories with
//! weights, price position and tolerance, visit rhythm, email responsiveness, brand
//! loyalty, propensity to buy, devices, consent choices and whether they ever sign up; and
//! their habits ([`Habits`]): the hour they read email, and a category they take up later.
//!
//! The server never sees these; they only shape the events. They are written to
//! `demo-truth.json` so models built from the events can be scored against them.

use serde_json::{Value, json};
use tailor_core::Millis;
use tailor_core::time::{DAY, format_timestamp};

use super::catalog::Catalog;
use super::random::{self, DemoRng};

const FIRST_NAMES: &[&str] = &[
    "Olivia", "Liam", "Emma", "Noah", "Ava", "Elijah", "Sophia", "Lucas", "Mia", "Mateo",
    "Isabella", "Leo", "Amelia", "Ethan", "Harper", "James", "Chloe", "Aiden", "Zoe", "Samuel",
    "Nora", "Omar", "Priya", "Kenji", "Fatima", "Diego", "Ingrid", "Tomás", "Aisha", "Wei",
    "Hannah", "Yusuf", "Camille", "Mateus", "Sara", "Jonas", "Lena", "Ravi", "Maya", "Felix",
];
const LAST_NAMES: &[&str] = &[
    "Smith", "Johnson", "Garcia", "Brown", "Miller", "Davis", "Martinez", "Lopez", "Wilson",
    "Anderson", "Thomas", "Moore", "Jackson", "Lee", "Nguyen", "Patel", "Kim", "Schmidt", "Rossi",
    "Dubois", "Silva", "Kowalski", "Hansen", "Tanaka", "Okafor", "Haddad", "Novak", "Larsen",
    "Costa", "Murphy", "Chen", "Ali", "Fischer", "Moreau", "Santos", "Berg", "Ivanova", "Reyes",
    "Walsh", "Sato",
];

/// A browser the shopper uses; the second one comes into use later.
#[derive(Debug, Clone, PartialEq)]
pub struct Device {
    pub anonymous_id: String,
    pub mobile: bool,
    /// Day of the simulation from which it is used.
    pub from_day: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Favourite {
    pub leaf: usize,
    /// Share of this shopper's attention (the weights sum to 1).
    pub weight: f64,
    /// The brand they lean to in this category.
    pub brand: &'static str,
}

/// What the shopper answered the consent banner, sent as Segment's
/// `context.consent.categoryPreferences`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConsentChoices {
    pub personalization: bool,
    pub advertising: bool,
    pub email: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Shopper {
    /// 1-based; the shopper's user id is `user-<number>` once they sign up.
    pub number: u32,
    pub first_name: &'static str,
    pub last_name: &'static str,
    pub devices: Vec<Device>,
    pub favourites: Vec<Favourite>,
    /// Preferred price relative to a category's median, on a log scale: -1 budget, +1 premium.
    pub price_position: f64,
    /// How far from that position they still buy (log scale); small = price-sensitive.
    pub price_tolerance: f64,
    pub visit_every_days: f64,
    pub email_open: f64,
    /// Chance of clicking a link in an email they opened.
    pub email_click: f64,
    /// Chance of picking their favourite brand when it is on offer.
    pub brand_loyalty: f64,
    pub buy_propensity: f64,
    /// Chance of never coming back on their own after a visit.
    pub churn_per_visit: f64,
    pub first_visit_day: f64,
    /// The visit on which they sign up, if they ever do of their own accord.
    pub signs_up_on_visit: Option<u32>,
    /// Signs up at checkout when not yet signed up (else abandons the checkout).
    pub signs_up_at_checkout: bool,
    /// Their signup links the browser id with `alias` instead of `identify`.
    pub links_by_alias: bool,
    pub consent: Option<ConsentChoices>,
    pub habits: Habits,
}

/// Hidden habits the intent models should find, drawn from a stream of their own so adding
/// them left every other preference of the same seed as it was.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Habits {
    /// Hour of the day (UTC, fractional) they read email when they wait for their moment.
    pub email_hour: f64,
    /// Chance of opening an email as it arrives instead of at `email_hour`.
    pub opens_on_arrival: f64,
    pub new_interest: Option<NewInterest>,
}

/// A category the shopper takes up partway through: a follow-on of their top favourite.
#[derive(Debug, Clone, PartialEq)]
pub struct NewInterest {
    pub leaf: usize,
    /// Day of the simulation from which it draws their attention.
    pub from_day: f64,
    /// Share of their category choices it takes from then on.
    pub weight: f64,
}

impl Shopper {
    pub fn user_id(&self) -> String {
        format!("user-{}", self.number)
    }
    pub fn email(&self) -> String {
        format!("user{}@example.com", self.number)
    }
    pub fn name(&self) -> String {
        format!("{} {}", self.first_name, self.last_name)
    }
    pub fn wants_email(&self) -> bool {
        self.consent.is_none_or(|c| c.email)
    }

    /// Draws a shopper's hidden preferences. `days` is the simulated span.
    pub fn generate(number: u32, catalog: &Catalog, days: f64, rng: &mut DemoRng) -> Shopper {
        let first_visit_day = random::uniform(rng, 0.0, days * 0.9);
        let primary_mobile = random::chance(rng, 0.55);
        let mut devices = vec![Device {
            anonymous_id: random::uuid(rng),
            mobile: primary_mobile,
            from_day: first_visit_day,
        }];
        if random::chance(rng, 0.3) {
            devices.push(Device {
                anonymous_id: random::uuid(rng),
                mobile: !primary_mobile,
                from_day: first_visit_day + random::uniform(rng, 2.0, 30.0),
            });
        }
        let will_sign_up = random::chance(rng, 0.8);
        Shopper {
            number,
            first_name: random::pick(rng, FIRST_NAMES).copied().unwrap_or("Alex"),
            last_name: random::pick(rng, LAST_NAMES).copied().unwrap_or("Doe"),
            devices,
            favourites: favourites(catalog, rng),
            price_position: (random::normal(rng) * 0.45).clamp(-1.0, 1.0),
            price_tolerance: random::uniform(rng, 0.25, 0.7),
            visit_every_days: random::log_normal(rng, 5.0, 0.7).clamp(1.0, 30.0),
            email_open: 0.03 + 0.57 * random::uniform(rng, 0.0, 1.0).powf(1.5),
            email_click: random::uniform(rng, 0.05, 0.45),
            brand_loyalty: 0.85 * random::uniform(rng, 0.0, 1.0).powf(0.8),
            buy_propensity: random::log_normal(rng, 0.2, 0.6).clamp(0.02, 0.8),
            churn_per_visit: random::uniform(rng, 0.02, 0.2),
            first_visit_day,
            signs_up_on_visit: (will_sign_up && random::chance(rng, 0.85))
                .then(|| random::between(rng, 1, 3)),
            signs_up_at_checkout: will_sign_up,
            links_by_alias: random::chance(rng, 0.1),
            consent: random::chance(rng, 0.7).then(|| ConsentChoices {
                personalization: !random::chance(rng, 0.05),
                advertising: !random::chance(rng, 0.3),
                email: !random::chance(rng, 0.1),
            }),
            habits: Habits::default(),
        }
    }

    /// Draws [`Habits`]. Email hours follow the main device: phones are read on the commute
    /// or in the evening, desktops during office hours, so a segment by device carries part
    /// of the signal for customers with few opens.
    pub fn draw_habits(&mut self, catalog: &Catalog, rng: &mut DemoRng) {
        let mobile = self.devices.first().is_some_and(|d| d.mobile);
        let center = if !mobile {
            13.0 + 2.5 * random::normal(rng)
        } else if random::chance(rng, 0.4) {
            7.5 + random::normal(rng)
        } else {
            20.5 + 1.2 * random::normal(rng)
        };
        self.habits.email_hour = center.rem_euclid(24.0);
        self.habits.opens_on_arrival = random::uniform(rng, 0.05, 0.35);
        let takes_up = random::chance(rng, 0.6);
        let next = self
            .favourites
            .first()
            .map(|f| catalog.follow_ons(f.leaf))
            .unwrap_or_default();
        let fresh: Vec<usize> = next
            .into_iter()
            .filter(|&l| self.favourites.iter().all(|f| f.leaf != l))
            .collect();
        let pick = if fresh.len() > 1 && random::chance(rng, 0.3) {
            1
        } else {
            0
        };
        let from_day = self.first_visit_day + random::uniform(rng, 5.0, 35.0);
        let weight = random::uniform(rng, 0.25, 0.5);
        self.habits.new_interest = fresh
            .get(pick)
            .filter(|_| takes_up)
            .map(|&leaf| NewInterest {
                leaf,
                from_day,
                weight,
            });
    }

    /// Preferred price range in one category, in USD.
    pub fn price_range(&self, median: f64) -> (f64, f64) {
        let lo = median * (self.price_position - self.price_tolerance).exp();
        let hi = median * (self.price_position + self.price_tolerance).exp();
        (round2(lo), round2(hi))
    }

    /// How well a price suits the shopper, 0..=1.
    pub fn price_fit(&self, price: f64, median: f64) -> f64 {
        if price <= 0.0 || median <= 0.0 {
            return 0.0;
        }
        let d = (price / median).ln() - self.price_position;
        (-(d * d) / (2.0 * self.price_tolerance * self.price_tolerance)).exp()
    }

    pub fn price_label(&self) -> &'static str {
        if self.price_position < -0.25 {
            "budget"
        } else if self.price_position > 0.25 {
            "premium"
        } else {
            "mid"
        }
    }
}

/// 1 to 3 favourite leaves; the second and third often share the first's department.
fn favourites(catalog: &Catalog, rng: &mut DemoRng) -> Vec<Favourite> {
    let n_leaves = catalog.leaves.len() as u32;
    let count = match random::uniform(rng, 0.0, 1.0) {
        x if x < 0.35 => 1,
        x if x < 0.75 => 2,
        _ => 3,
    };
    let mut leaves: Vec<usize> = Vec::with_capacity(count);
    while leaves.len() < count {
        let candidate = match leaves.first() {
            Some(&first) if random::chance(rng, 0.6) => {
                let top = catalog.leaves[first].top;
                let siblings: Vec<usize> = (0..catalog.leaves.len())
                    .filter(|&l| catalog.leaves[l].top == top)
                    .collect();
                random::pick(rng, &siblings).copied().unwrap_or(first)
            }
            _ => random::between(rng, 0, n_leaves.saturating_sub(1)) as usize,
        };
        if !leaves.contains(&candidate) {
            leaves.push(candidate);
        }
    }
    let mut raw: Vec<f64> = (0..count).map(|_| random::uniform(rng, 0.2, 1.0)).collect();
    raw.sort_by(|a, b| b.total_cmp(a));
    if let Some(first) = raw.first_mut() {
        *first *= 2.0;
    }
    let total: f64 = raw.iter().sum();
    leaves
        .into_iter()
        .zip(raw)
        .map(|(leaf, w)| Favourite {
            leaf,
            weight: round3(w / total),
            brand: random::pick(rng, catalog.top(leaf).brands)
                .copied()
                .unwrap_or("Tailor"),
        })
        .collect()
}

/// What happened to a shopper in the simulation, for the truth file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    pub signed_up: bool,
    pub devices_used: usize,
    pub visits: u32,
    pub orders: u32,
    pub revenue: f64,
    pub unsubscribed: bool,
}

/// One shopper's entry in `demo-truth.json`.
pub fn truth_json(s: &Shopper, outcome: &Outcome, catalog: &Catalog, start: Millis) -> Value {
    let anonymous_ids: Vec<&str> = s
        .devices
        .iter()
        .take(outcome.devices_used)
        .map(|d| d.anonymous_id.as_str())
        .collect();
    let favourites: Vec<Value> = s
        .favourites
        .iter()
        .map(|f| {
            let median = catalog.leaves[f.leaf].spec.median_price;
            let (lo, hi) = s.price_range(median);
            json!({
                "category": catalog.leaf_path(f.leaf),
                "weight": f.weight,
                "favourite_brand": f.brand,
                "preferred_price_usd": [lo, hi],
            })
        })
        .collect();
    json!({
        "shopper": s.number,
        "userId": outcome.signed_up.then(|| s.user_id()),
        "email": outcome.signed_up.then(|| s.email()),
        "anonymousIds": anonymous_ids,
        "favourite_categories": favourites,
        "price": {
            "band": s.price_label(),
            "position": round3(s.price_position),
            "tolerance": round3(s.price_tolerance),
        },
        "visit_every_days": round3(s.visit_every_days),
        "email": {
            "open": round3(s.email_open),
            "click_given_open": round3(s.email_click),
            "reading_hour_utc": round3(s.habits.email_hour),
            "opens_on_arrival": round3(s.habits.opens_on_arrival),
        },
        "new_interest": s.habits.new_interest.as_ref().map(|n| json!({
            "category": catalog.leaf_path(n.leaf),
            "from": format_timestamp(start + (n.from_day * DAY as f64) as Millis),
            "weight": round3(n.weight),
        })),
        "brand_loyalty": round3(s.brand_loyalty),
        "buy_propensity": round3(s.buy_propensity),
        "churn_per_visit": round3(s.churn_per_visit),
        "consent": s.consent.map(|c| json!({
            "personalization": c.personalization, "advertising": c.advertising, "email": c.email
        })),
        "outcome": {
            "visits": outcome.visits,
            "orders": outcome.orders,
            "revenue": round2(outcome.revenue),
            "unsubscribed": outcome.unsubscribed,
        },
    })
}

pub fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

pub fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn favourite_weights_sum_to_one_and_leaves_are_distinct() {
        let catalog = Catalog::generate(1, 100);
        for n in 0..200 {
            let mut rng = random::stream(1, random::SHOPPERS + n);
            let s = Shopper::generate(n as u32 + 1, &catalog, 60.0, &mut rng);
            let total: f64 = s.favourites.iter().map(|f| f.weight).sum();
            assert!((total - 1.0).abs() < 0.01, "{total}");
            let mut leaves: Vec<usize> = s.favourites.iter().map(|f| f.leaf).collect();
            leaves.sort_unstable();
            leaves.dedup();
            assert_eq!(leaves.len(), s.favourites.len());
            let (lo, hi) = s.price_range(100.0);
            assert!(lo < hi);
            assert!(s.price_fit(100.0 * s.price_position.exp(), 100.0) > 0.99);
        }
    }
}
