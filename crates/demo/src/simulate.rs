//! The shopper simulation: turns each shopper's hidden preferences into the Segment
//! messages their browsers and the store's email tool would send over the simulated
//! days: visits at their own rhythm (and after email clicks), browsing and comparing in
//! favourite categories, carts, checkouts, orders, abandonments, refunds, sign-ups that
//! link browsers to a user id, second devices, and weekly email campaigns.
//!
//! It is deterministic: each shopper draws from its own stream of the seed, so the
//! same seed gives the same events whatever the number of threads. Message shapes
//! follow the Segment E-commerce Spec v2 and Email Spec.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};
use tailor_core::Millis;
use tailor_core::time::{DAY, HOUR, MINUTE, SECOND, format_timestamp};

use super::catalog::{Catalog, TREE};
use super::random::{self, DemoRng};
use super::shoppers::{NewInterest, Outcome, Shopper, round2};
use crate::error::Error;

const SITE: &str = "https://shop.example";
const UA_MOBILE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1";
const UA_DESKTOP: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";

/// Relative chance of a visit starting in each hour of the day (evenings peak).
const HOUR_WEIGHTS: [f64; 24] = [
    0.3, 0.2, 0.1, 0.1, 0.1, 0.2, 0.5, 1.0, 1.5, 1.8, 2.0, 2.2, 2.6, 2.4, 2.2, 2.2, 2.4, 2.8, 3.4,
    3.8, 4.0, 3.6, 2.4, 1.0,
];

/// Counts of messages by event name (`page`, `identify` and `alias` by type).
pub type Tally = BTreeMap<&'static str, u64>;

/// One message, serialized, with what orders it in the log.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub at: Millis,
    pub shopper: u32,
    pub seq: u32,
    pub json: String,
}

/// A weekly newsletter featuring one leaf category.
#[derive(Debug, Clone)]
pub struct Campaign {
    pub id: String,
    pub name: String,
    pub subject: String,
    pub at: Millis,
    pub leaf: usize,
}

/// The simulated span and what happens in it for everyone.
#[derive(Debug, Clone)]
pub struct Plan {
    pub seed: u64,
    pub start: Millis,
    /// "Now": nothing is sent at or after it.
    pub end: Millis,
    pub campaigns: Vec<Campaign>,
}

/// Where a history simulated at `now` ends: the last midnight (UTC) at or before it. Every
/// time in the simulation is a time of day on a day counted from the start, so a history
/// ending at a midnight holds the same events whenever it is built, only dated whole days
/// apart; one ending at `now` would cut the last day at a different hour on each run.
pub fn history_end(now: Millis) -> Millis {
    now - now.rem_euclid(DAY)
}

impl Plan {
    /// The plan of `days` days ending at [`history_end`]`(now)`.
    pub fn new(seed: u64, now: Millis, days: u32, catalog: &Catalog) -> Plan {
        let end = history_end(now);
        let start = end - i64::from(days) * DAY;
        let mut rng = random::stream(seed, random::CAMPAIGNS);
        let first_day = start - start.rem_euclid(DAY) + 2 * DAY;
        let campaigns = (0..)
            .map(|week: i64| first_day + week * 7 * DAY + 9 * HOUR)
            .take_while(|&at| at < end)
            .enumerate()
            .map(|(n, at)| {
                let leaf = random::between(&mut rng, 0, catalog.leaves.len() as u32 - 1) as usize;
                let path = catalog.leaf_path(leaf);
                Campaign {
                    id: format!("cmp-{:02}", n + 1),
                    name: format!("Weekly picks: {path}"),
                    subject: format!("New this week in {}", path.replace('/', " › ")),
                    at,
                    leaf,
                }
            })
            .collect();
        Plan {
            seed,
            start,
            end,
            campaigns,
        }
    }
}

/// One shopper's simulation result.
pub struct ShopperRun {
    pub shopper: Shopper,
    pub outcome: Outcome,
    pub events: Vec<Event>,
    pub tally: Tally,
}

/// Everyone's simulation, in shopper order, events sorted by time.
pub struct Simulation {
    pub shoppers: Vec<Shopper>,
    pub outcomes: Vec<Outcome>,
    pub events: Vec<Event>,
    pub tally: Tally,
}

/// Simulates shoppers `1..=count` on `threads` threads.
pub fn simulate(
    plan: &Plan,
    catalog: &Catalog,
    count: u32,
    threads: usize,
) -> Result<Simulation, Error> {
    let threads = threads.clamp(1, 16) as u32;
    let per_thread = count.div_ceil(threads).max(1);
    let runs: Vec<Vec<ShopperRun>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let first = 1 + t * per_thread;
                let last = count.min((t + 1) * per_thread);
                scope.spawn(move || {
                    (first..=last)
                        .map(|n| run_shopper(plan, catalog, n))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .map_err(|_| Error::Failed("a simulation thread panicked".into()))
            })
            .collect::<Result<_, Error>>()
    })?;
    let mut sim = Simulation {
        shoppers: Vec::with_capacity(count as usize),
        outcomes: Vec::with_capacity(count as usize),
        events: Vec::new(),
        tally: Tally::new(),
    };
    for run in runs.into_iter().flatten() {
        sim.shoppers.push(run.shopper);
        sim.outcomes.push(run.outcome);
        sim.events.extend(run.events);
        for (k, v) in run.tally {
            *sim.tally.entry(k).or_default() += v;
        }
    }
    // (time, shopper, seq) is unique, so the order is the same on every run.
    sim.events
        .sort_unstable_by_key(|e| (e.at, e.shopper, e.seq));
    Ok(sim)
}

/// Draws shopper `number`'s preferences and lives through their days.
pub fn run_shopper(plan: &Plan, catalog: &Catalog, number: u32) -> ShopperRun {
    let mut rng = random::stream(plan.seed, random::SHOPPERS + u64::from(number));
    let days = (plan.end - plan.start) as f64 / DAY as f64;
    let mut shopper = Shopper::generate(number, catalog, days, &mut rng);
    let mut habits_rng = random::stream(plan.seed, random::HABITS + u64::from(number));
    shopper.draw_habits(catalog, &mut habits_rng);
    let mut sim = Sim {
        plan,
        catalog,
        shopper: &shopper,
        rng,
        events: Vec::new(),
        tally: Tally::new(),
        seq: 0,
        logged_in: vec![false; shopper.devices.len()],
        cart: Vec::new(),
        cart_id: 1,
        subscribed: true,
        outcome: Outcome::default(),
        now: plan.start,
    };
    sim.live();
    let (events, tally, outcome) = (sim.events, sim.tally, sim.outcome);
    ShopperRun {
        shopper,
        outcome,
        events,
        tally,
    }
}

struct CartLine {
    product: usize,
    quantity: u32,
}

/// One browser visit in progress.
struct Visit {
    device: usize,
    t: Millis,
    /// Context for every browser message of the visit.
    context: Value,
    /// Context for page calls: the above plus consent and the campaign that brought them.
    page_context: Value,
}

struct Sim<'a> {
    plan: &'a Plan,
    catalog: &'a Catalog,
    shopper: &'a Shopper,
    rng: DemoRng,
    events: Vec<Event>,
    tally: Tally,
    seq: u32,
    /// Per device: has this browser been told who they are (so it sends `userId`)?
    logged_in: Vec<bool>,
    cart: Vec<CartLine>,
    cart_id: u32,
    subscribed: bool,
    outcome: Outcome,
    /// When the current visit started.
    now: Millis,
}

impl Sim<'_> {
    /// The shopper's whole timeline: own visits and email campaigns, in time order.
    fn live(&mut self) {
        let s = self.shopper;
        let first = self.plan.start + days(s.first_visit_day);
        let mut next_visit = Some(self.daytime(first, first));
        let mut campaigns = self.plan.campaigns.iter().peekable();
        loop {
            let campaign_at = campaigns.peek().map(|c| c.at);
            let visit_first = match (next_visit, campaign_at) {
                (Some(v), Some(c)) => v <= c,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => break,
            };
            if !visit_first {
                if let Some(c) = campaigns.next() {
                    self.email_campaign(c);
                }
                continue;
            }
            let Some(v) = next_visit.filter(|&v| v < self.plan.end) else {
                next_visit = None;
                continue;
            };
            let device = self.pick_device(v);
            self.session(v, device, None);
            next_visit = if random::chance(&mut self.rng, s.churn_per_visit) {
                None
            } else {
                let gap = random::exponential(&mut self.rng, s.visit_every_days).max(0.1);
                Some(self.daytime(v + days(gap), v + 30 * MINUTE))
            };
        }
    }

    /// A time on the day of `t` at a likely hour, no earlier than `not_before`.
    fn daytime(&mut self, t: Millis, not_before: Millis) -> Millis {
        let hour = random::weighted(&mut self.rng, HOUR_WEIGHTS.iter().copied()).unwrap_or(19);
        let minute = random::uniform(&mut self.rng, 0.0, HOUR as f64) as Millis;
        let at = t - t.rem_euclid(DAY) + hour as Millis * HOUR + minute;
        if at < not_before { at + DAY } else { at }
    }

    fn pick_device(&mut self, at: Millis) -> usize {
        let day = (at - self.plan.start) as f64 / DAY as f64;
        let usable = self
            .shopper
            .devices
            .iter()
            .filter(|d| d.from_day <= day)
            .count();
        if usable >= 2 && random::chance(&mut self.rng, 0.4) {
            1
        } else {
            0
        }
    }

    // ---- message plumbing ----

    /// Records a message unless it falls after "now". Returns whether it was kept.
    fn emit(&mut self, at: Millis, label: &'static str, mut msg: Map<String, Value>) -> bool {
        if at >= self.plan.end {
            return false;
        }
        self.seq += 1;
        msg.insert(
            "messageId".into(),
            json!(format!(
                "demo-{}-{}-{}",
                self.plan.seed, self.shopper.number, self.seq
            )),
        );
        msg.insert("timestamp".into(), json!(format_timestamp(at)));
        *self.tally.entry(label).or_default() += 1;
        let mut json = Value::Object(msg).to_string();
        // Hundreds of thousands are held until sent: drop the serializer's spare room.
        json.shrink_to_fit();
        self.events.push(Event {
            at,
            shopper: self.shopper.number,
            seq: self.seq,
            json,
        });
        true
    }

    /// A message from the visitor's browser: its anonymousId, and userId once known there.
    fn browser_message(&self, v: &Visit, kind: &str, context: &Value) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("type".into(), json!(kind));
        if let Some(d) = self.shopper.devices.get(v.device) {
            m.insert("anonymousId".into(), json!(d.anonymous_id));
        }
        if self.logged_in.get(v.device).copied().unwrap_or(false) {
            m.insert("userId".into(), json!(self.shopper.user_id()));
        }
        m.insert("context".into(), context.clone());
        m
    }

    /// Moves the visit's clock on by a human pause.
    fn pause(&mut self, v: &mut Visit, min_seconds: f64, max_seconds: f64) {
        v.t += (random::uniform(&mut self.rng, min_seconds, max_seconds) * SECOND as f64) as Millis;
    }

    fn track(&mut self, v: &mut Visit, event: &'static str, properties: Value) -> bool {
        self.pause(v, 4.0, 60.0);
        let mut m = self.browser_message(v, "track", &v.context);
        m.insert("event".into(), json!(event));
        m.insert("properties".into(), properties);
        self.emit(v.t, event, m)
    }

    fn page(&mut self, v: &mut Visit, name: &'static str, path: &str, title: &str) -> bool {
        self.pause(v, 5.0, 45.0);
        let mut m = self.browser_message(v, "page", &v.page_context);
        m.insert("name".into(), json!(name));
        m.insert(
            "properties".into(),
            json!({"path": path, "url": format!("{SITE}{path}"), "title": title}),
        );
        self.emit(v.t, "page", m)
    }

    /// A message from the store's back end or its email tool: server-side, by userId.
    fn server_event(&mut self, at: Millis, event: &'static str, properties: Value) -> bool {
        let mut m = Map::new();
        m.insert("type".into(), json!("track"));
        m.insert("userId".into(), json!(self.shopper.user_id()));
        m.insert("event".into(), json!(event));
        m.insert("properties".into(), properties);
        m.insert(
            "context".into(),
            json!({"traits": {"email": self.shopper.email()}}),
        );
        self.emit(at, event, m)
    }

    fn new_visit(&self, start: Millis, device: usize, via: Option<&Campaign>) -> Visit {
        let mobile = self.shopper.devices.get(device).is_some_and(|d| d.mobile);
        let context = json!({"userAgent": if mobile { UA_MOBILE } else { UA_DESKTOP }});
        let mut page_context = context.clone();
        if let Some(c) = self.shopper.consent {
            page_context["consent"] = json!({"categoryPreferences": {
                "Analytics": true,
                "Personalization": c.personalization,
                "Advertising": c.advertising,
                "Email": c.email,
            }});
        }
        if let Some(c) = via {
            page_context["campaign"] =
                json!({"name": c.id, "source": "newsletter", "medium": "email"});
        }
        Visit {
            device,
            t: start,
            context,
            page_context,
        }
    }

    // ---- shopping ----

    fn session(&mut self, start: Millis, device: usize, via: Option<&Campaign>) {
        self.now = start;
        let mut v = self.new_visit(start, device, via);
        let mut leaf = match via {
            Some(c) => {
                let path = self.category_url(c.leaf);
                let landing = format!(
                    "{path}?utm_source=newsletter&utm_medium=email&utm_campaign={}",
                    c.id
                );
                if !self.page(&mut v, "Category", &landing, self.catalog.leaf_path(c.leaf)) {
                    return;
                }
                c.leaf
            }
            None => {
                if !self.page(&mut v, "Home", "/", "Tailor Outfitters") {
                    return;
                }
                let promoted = self.hero_promotion(&mut v);
                promoted.unwrap_or_else(|| self.intent_leaf())
            }
        };
        self.outcome.visits += 1;
        self.outcome.devices_used = self.outcome.devices_used.max(device + 1);
        if self.shopper.signs_up_on_visit == Some(self.outcome.visits) && !self.outcome.signed_up {
            self.sign_up(&mut v);
        } else if self.outcome.signed_up
            && !self.logged_in[device]
            && random::chance(&mut self.rng, 0.3)
        {
            self.log_in(&mut v);
        }
        let bounce = random::chance(&mut self.rng, if via.is_some() { 0.15 } else { 0.25 });
        if bounce {
            if random::chance(&mut self.rng, 0.5) {
                self.view_product(&mut v, leaf);
            }
            return;
        }
        if random::chance(&mut self.rng, 0.3) {
            self.search(&mut v, leaf);
        }
        let categories = 1
            + u32::from(random::chance(&mut self.rng, 0.45))
            + u32::from(random::chance(&mut self.rng, 0.2));
        for _ in 0..categories {
            self.browse_category(&mut v, leaf);
            leaf = self.intent_leaf();
        }
        if !self.cart.is_empty() {
            self.cart_and_checkout(&mut v);
        }
    }

    /// The category taken up later, once it has been; else mostly a favourite category (by
    /// weight), sometimes anything.
    fn intent_leaf(&mut self) -> usize {
        if let Some((leaf, weight)) = self.new_interest().map(|n| (n.leaf, n.weight))
            && random::chance(&mut self.rng, weight)
        {
            return leaf;
        }
        let favourites = &self.shopper.favourites;
        if random::chance(&mut self.rng, 0.85)
            && let Some(i) = random::weighted(&mut self.rng, favourites.iter().map(|f| f.weight))
        {
            return favourites[i].leaf;
        }
        random::between(&mut self.rng, 0, self.catalog.leaves.len() as u32 - 1) as usize
    }

    /// The shopper's new interest, if they have taken it up by the current visit.
    fn new_interest(&self) -> Option<&NewInterest> {
        let day = (self.now - self.plan.start) as f64 / DAY as f64;
        self.shopper
            .habits
            .new_interest
            .as_ref()
            .filter(|n| day >= n.from_day)
    }

    fn is_favourite_top(&self, top: usize) -> bool {
        self.shopper
            .favourites
            .iter()
            .any(|f| self.catalog.leaves[f.leaf].top == top)
    }

    /// The home page's hero banner, seen and sometimes clicked. Returns the leaf the
    /// click leads to.
    fn hero_promotion(&mut self, v: &mut Visit) -> Option<usize> {
        if !random::chance(&mut self.rng, 0.5) {
            return None;
        }
        let top = if random::chance(&mut self.rng, 0.5) {
            let leaf = self.intent_leaf();
            self.catalog.leaves[leaf].top
        } else {
            random::between(&mut self.rng, 0, TREE.len() as u32 - 1) as usize
        };
        let spec = &TREE[top];
        let props = json!({
            "promotion_id": format!("hero-{}", spec.slug),
            "creative": format!("hero-{}.svg", spec.slug),
            "name": spec.hero.0,
            "position": "home.hero",
        });
        self.track(v, "Promotion Viewed", props.clone());
        let click = if self.is_favourite_top(top) {
            0.25
        } else {
            0.03
        };
        if !random::chance(&mut self.rng, click) {
            return None;
        }
        self.track(v, "Promotion Clicked", props);
        let in_top: Vec<usize> = (0..self.catalog.leaves.len())
            .filter(|&l| self.catalog.leaves[l].top == top)
            .collect();
        let favourite = self
            .shopper
            .favourites
            .iter()
            .find(|f| self.catalog.leaves[f.leaf].top == top)
            .map(|f| f.leaf);
        favourite.or_else(|| random::pick(&mut self.rng, &in_top).copied())
    }

    fn search(&mut self, v: &mut Visit, leaf: usize) {
        let spec = self.catalog.leaves[leaf].spec;
        let query = if random::chance(&mut self.rng, 0.2) {
            random::pick(&mut self.rng, self.catalog.top(leaf).brands)
                .map(|b| b.to_lowercase())
                .unwrap_or_default()
        } else {
            random::pick(&mut self.rng, spec.nouns)
                .map(|n| n.to_lowercase())
                .unwrap_or_default()
        };
        self.track(v, "Products Searched", json!({"query": query}));
    }

    fn category_url(&self, leaf: usize) -> String {
        let l = &self.catalog.leaves[leaf];
        format!("/c/{}/{}", TREE[l.top].slug, l.spec.name.to_lowercase())
    }

    /// A category page, then one or more product pages in it (a comparison when several).
    fn browse_category(&mut self, v: &mut Visit, leaf: usize) {
        let path = self.catalog.leaf_path(leaf).to_string();
        let url = self.category_url(leaf);
        self.page(v, "Category", &url, &path);
        let shown: Vec<Value> = self.catalog.by_leaf[leaf]
            .iter()
            .take(4)
            .enumerate()
            .map(|(i, &p)| {
                let product = &self.catalog.products[p];
                json!({"product_id": product.id, "price": product.price, "position": i + 1})
            })
            .collect();
        self.track(
            v,
            "Product List Viewed",
            json!({"list_id": url, "category": path, "products": shown}),
        );
        let mut views = 1;
        while views < 8 && random::chance(&mut self.rng, 0.6) {
            views += 1;
        }
        for _ in 0..views {
            self.view_product(v, leaf);
        }
    }

    /// Picks a product of the leaf as this shopper would: popular, at their price, of
    /// their brand.
    fn choose_product(&mut self, leaf: usize) -> Option<usize> {
        let favourite_brand = self
            .shopper
            .favourites
            .iter()
            .find(|f| f.leaf == leaf)
            .map(|f| f.brand);
        let median = self.catalog.leaves[leaf].spec.median_price;
        let candidates = &self.catalog.by_leaf[leaf];
        let weights = candidates.iter().map(|&p| {
            let product = &self.catalog.products[p];
            let brand = if Some(product.brand) == favourite_brand {
                1.0 + 4.0 * self.shopper.brand_loyalty
            } else {
                1.0
            };
            product.popularity * (0.1 + self.shopper.price_fit(product.price, median)) * brand
        });
        random::weighted(&mut self.rng, weights).map(|i| candidates[i])
    }

    fn product_props(&self, p: usize) -> Map<String, Value> {
        let product = &self.catalog.products[p];
        let mut m = Map::new();
        m.insert("product_id".into(), json!(product.id));
        m.insert("sku".into(), json!(product.id));
        m.insert("name".into(), json!(product.name));
        m.insert(
            "category".into(),
            json!(self.catalog.leaf_path(product.leaf)),
        );
        m.insert("brand".into(), json!(product.brand));
        m.insert("price".into(), json!(product.price));
        m
    }

    fn view_product(&mut self, v: &mut Visit, leaf: usize) {
        let Some(p) = self.choose_product(leaf) else {
            return;
        };
        let product = &self.catalog.products[p];
        let (url, name) = (product.url(), product.name.clone());
        self.page(v, "Product", &url, &name);
        let mut props = self.product_props(p);
        props.insert("currency".into(), json!("USD"));
        props.insert("url".into(), json!(url));
        self.track(v, "Product Viewed", Value::Object(props));
        if random::chance(&mut self.rng, 0.03) {
            self.track(
                v,
                "Product Added to Wishlist",
                Value::Object(self.product_props(p)),
            );
        }
        let add = self.add_probability(p);
        if random::chance(&mut self.rng, add) {
            self.add_to_cart(v, p);
        }
    }

    fn add_probability(&self, p: usize) -> f64 {
        let product = &self.catalog.products[p];
        if product.stock == 0 {
            return 0.0;
        }
        let median = self.catalog.leaves[product.leaf].spec.median_price;
        let favourite = self
            .shopper
            .favourites
            .iter()
            .any(|f| f.leaf == product.leaf)
            || self.new_interest().is_some_and(|n| n.leaf == product.leaf);
        let fit = self.shopper.price_fit(product.price, median) * if favourite { 1.0 } else { 0.5 };
        0.03 + 0.45 * self.shopper.buy_propensity * fit
    }

    fn add_to_cart(&mut self, v: &mut Visit, p: usize) {
        let quantity = if random::chance(&mut self.rng, 0.12) {
            2
        } else {
            1
        };
        let mut props = self.product_props(p);
        props.insert("quantity".into(), json!(quantity));
        props.insert("cart_id".into(), json!(self.cart_id_text()));
        if self.track(v, "Product Added", Value::Object(props)) {
            match self.cart.iter_mut().find(|l| l.product == p) {
                Some(line) => line.quantity += quantity,
                None => self.cart.push(CartLine {
                    product: p,
                    quantity,
                }),
            }
        }
    }

    fn cart_id_text(&self) -> String {
        format!("cart-{}-{}", self.shopper.number, self.cart_id)
    }

    fn cart_lines(&self) -> Vec<Value> {
        self.cart
            .iter()
            .map(|l| {
                let mut m = self.product_props(l.product);
                m.insert("quantity".into(), json!(l.quantity));
                Value::Object(m)
            })
            .collect()
    }

    fn cart_subtotal(&self) -> f64 {
        round2(
            self.cart
                .iter()
                .map(|l| self.catalog.products[l.product].price * f64::from(l.quantity))
                .sum(),
        )
    }

    /// Looks at the cart, maybe removes something, maybe checks out.
    fn cart_and_checkout(&mut self, v: &mut Visit) {
        if random::chance(&mut self.rng, 0.75) {
            let props = json!({"cart_id": self.cart_id_text(), "products": self.cart_lines()});
            self.page(v, "Cart", "/cart", "Your cart");
            self.track(v, "Cart Viewed", props);
        }
        if random::chance(&mut self.rng, 0.12) && !self.cart.is_empty() {
            let i = random::between(&mut self.rng, 0, self.cart.len() as u32 - 1) as usize;
            let line = self.cart.remove(i);
            let mut props = self.product_props(line.product);
            props.insert("quantity".into(), json!(line.quantity));
            props.insert("cart_id".into(), json!(self.cart_id_text()));
            self.track(v, "Product Removed", Value::Object(props));
        }
        if self.cart.is_empty() {
            return;
        }
        let p = self.shopper.buy_propensity;
        if random::chance(&mut self.rng, 0.25 + 0.45 * p) {
            self.checkout(v);
        }
    }

    fn checkout(&mut self, v: &mut Visit) {
        if !self.outcome.signed_up {
            if !self.shopper.signs_up_at_checkout {
                return; // would not create an account: the cart is abandoned
            }
            self.sign_up(v);
        } else if !self.logged_in[v.device] {
            self.log_in(v);
        }
        let checkout_id = format!("chk-{}-{}", self.shopper.number, self.seq + 1);
        let subtotal = self.cart_subtotal();
        self.page(v, "Checkout", "/checkout", "Checkout");
        self.track(
            v,
            "Checkout Started",
            json!({"checkout_id": checkout_id, "value": subtotal, "revenue": subtotal,
                   "currency": "USD", "products": self.cart_lines()}),
        );
        let shipping_method = if random::chance(&mut self.rng, 0.8) {
            "standard"
        } else {
            "express"
        };
        self.track(
            v,
            "Checkout Step Completed",
            json!({"checkout_id": checkout_id, "step": 1, "shipping_method": shipping_method}),
        );
        let p = self.shopper.buy_propensity;
        if !random::chance(&mut self.rng, 0.4 + 0.5 * p) {
            return; // abandoned at payment; the cart stays for another visit
        }
        let payment = if random::chance(&mut self.rng, 0.7) {
            "card"
        } else {
            "paypal"
        };
        self.track(
            v,
            "Payment Info Entered",
            json!({"checkout_id": checkout_id, "step": 2, "shipping_method": shipping_method, "payment_method": payment}),
        );
        self.complete_order(v, &checkout_id);
    }

    fn complete_order(&mut self, v: &mut Visit, checkout_id: &str) {
        let subtotal = self.cart_subtotal();
        let coupon = random::chance(&mut self.rng, 0.15).then_some("SAVE10");
        let discount = if coupon.is_some() {
            round2(subtotal * 0.1)
        } else {
            0.0
        };
        let revenue = round2(subtotal - discount);
        let shipping = if revenue >= 50.0 { 0.0 } else { 5.99 };
        let tax = round2(revenue * 0.08);
        let total = round2(revenue + shipping + tax);
        let order_id = format!(
            "ord-{}-{}-{}",
            self.plan.seed,
            self.shopper.number,
            self.outcome.orders + 1
        );
        let products = self.cart_lines();
        let mut props = json!({
            "checkout_id": checkout_id, "order_id": order_id, "affiliation": "Tailor Outfitters",
            "subtotal": subtotal, "discount": discount, "revenue": revenue, "shipping": shipping,
            "tax": tax, "total": total, "currency": "USD", "products": products,
        });
        if let Some(code) = coupon {
            props["coupon"] = json!(code);
        }
        if !self.track(v, "Order Completed", props) {
            return;
        }
        self.outcome.orders += 1;
        self.outcome.revenue += revenue;
        self.page(v, "Order Confirmation", "/checkout/thank-you", "Thank you");
        if random::chance(&mut self.rng, 0.05) {
            let later = v.t + days(random::uniform(&mut self.rng, 2.0, 14.0));
            self.server_event(
                later,
                "Order Refunded",
                json!({"order_id": order_id, "total": total, "currency": "USD", "products": products}),
            );
        }
        self.cart.clear();
        self.cart_id += 1;
    }

    // ---- identity ----

    /// Creates an account on this browser: `identify` (or `alias` then `identify`).
    fn sign_up(&mut self, v: &mut Visit) {
        let s = self.shopper;
        self.page(v, "Sign Up", "/account/new", "Create your account");
        self.pause(v, 20.0, 90.0);
        if self.shopper.links_by_alias {
            let mut m = self.browser_message(v, "alias", &v.context);
            m.insert("userId".into(), json!(s.user_id()));
            if let Some(d) = s.devices.get(v.device) {
                m.insert("previousId".into(), json!(d.anonymous_id));
            }
            self.emit(v.t, "alias", m);
            self.pause(v, 0.2, 1.0);
        }
        self.logged_in[v.device] = true;
        let mut m = self.browser_message(v, "identify", &v.context);
        m.insert(
            "traits".into(),
            json!({"email": s.email(), "name": s.name(), "first_name": s.first_name,
                   "last_name": s.last_name, "created_at": format_timestamp(v.t)}),
        );
        if self.emit(v.t, "identify", m) {
            self.outcome.signed_up = true;
        }
    }

    /// Signs in on a browser that does not know them yet: links its anonymousId.
    fn log_in(&mut self, v: &mut Visit) {
        self.page(v, "Sign In", "/account/login", "Sign in");
        self.pause(v, 10.0, 40.0);
        self.logged_in[v.device] = true;
        let mut m = self.browser_message(v, "identify", &v.context);
        m.insert("traits".into(), json!({"email": self.shopper.email()}));
        self.emit(v.t, "identify", m);
    }

    // ---- email ----

    /// The weekly newsletter: delivered to subscribers who consented, opened and
    /// clicked as they tend to, and a click brings them to the store.
    fn email_campaign(&mut self, c: &Campaign) {
        if !self.outcome.signed_up || !self.subscribed || !self.shopper.wants_email() {
            return;
        }
        let s = self.shopper;
        let base = json!({
            "email_id": format!("em-{}-{}", c.id, s.number),
            "email_subject": c.subject, "campaign_id": c.id, "campaign_name": c.name,
        });
        let sent = c.at + (random::uniform(&mut self.rng, 0.0, 2.0) * HOUR as f64) as Millis;
        if random::chance(&mut self.rng, 0.01) {
            self.server_event(sent, "Email Bounced", base);
            return;
        }
        if !self.server_event(sent, "Email Delivered", base.clone()) {
            return;
        }
        if !random::chance(&mut self.rng, s.email_open) {
            return;
        }
        let opened = self.open_time(sent);
        self.server_event(opened, "Email Opened", base.clone());
        let top = self.catalog.leaves[c.leaf].top;
        let relevance = if self.is_favourite_top(top) { 1.6 } else { 0.5 };
        if random::chance(&mut self.rng, s.email_click * relevance) {
            let clicked =
                opened + (random::uniform(&mut self.rng, 0.2, 5.0) * MINUTE as f64) as Millis;
            let mut props = base;
            props["link_id"] = json!("featured");
            props["link_url"] = json!(format!(
                "{SITE}{}?utm_source=newsletter&utm_medium=email&utm_campaign={}",
                self.category_url(c.leaf),
                c.id
            ));
            self.server_event(clicked, "Email Link Clicked", props);
            let device = self.pick_device(clicked);
            self.session(clicked + 10 * SECOND, device, Some(c));
        } else if random::chance(&mut self.rng, 0.02) {
            let at = opened + 2 * MINUTE;
            let props = json!({"email_id": format!("em-{}-{}", c.id, s.number), "campaign_id": c.id,
                               "campaign_name": c.name, "list_id": "newsletter"});
            if self.server_event(at, "Unsubscribed", props) {
                self.subscribed = false;
                self.outcome.unsubscribed = true;
            }
        }
    }
}

impl Sim<'_> {
    /// When a delivered email is opened: as it arrives, or at the shopper's reading hour
    /// (give or take half an hour) on the first day that hour comes after delivery.
    fn open_time(&mut self, delivered: Millis) -> Millis {
        let habits = &self.shopper.habits;
        if random::chance(&mut self.rng, habits.opens_on_arrival) {
            return delivered + (random::exponential(&mut self.rng, 1.0) * HOUR as f64) as Millis;
        }
        let hour = habits.email_hour + 0.5 * random::normal(&mut self.rng);
        let day_start = delivered - delivered.rem_euclid(DAY);
        let at = day_start + (hour * HOUR as f64) as Millis;
        if at < delivered { at + DAY } else { at }
    }
}

fn days(d: f64) -> Millis {
    (d * DAY as f64) as Millis
}

#[cfg(test)]
mod tests {
    use super::*;

    const END: Millis = 1_780_000_000_000;

    fn small(seed: u64, shoppers: u32, threads: usize) -> Simulation {
        let catalog = Catalog::generate(seed, 300);
        let plan = Plan::new(seed, END, 60, &catalog);
        simulate(&plan, &catalog, shoppers, threads).expect("simulation")
    }

    #[test]
    fn same_seed_gives_the_same_events_whatever_the_threads() {
        let a = small(42, 120, 1);
        let b = small(42, 120, 3);
        assert!(a.events.len() > 1_000, "{}", a.events.len());
        assert_eq!(a.events[..500], b.events[..500]);
        assert_eq!(a.events, b.events);
        assert_eq!(a.shoppers, b.shoppers);
        let c = small(43, 120, 2);
        assert_ne!(a.events[..50], c.events[..50]);
    }

    #[test]
    fn the_same_seed_gives_the_same_events_at_any_hour_and_on_any_day() {
        let catalog = Catalog::generate(42, 300);
        let run = |now: Millis| {
            let plan = Plan::new(42, now, 30, &catalog);
            simulate(&plan, &catalog, 150, 2).expect("simulation")
        };
        let base = run(END);
        let count = base.events.len();
        for now in [END + 5 * HOUR + 17 * MINUTE, END + 3 * DAY + 11 * HOUR] {
            let other = run(now);
            assert_eq!(other.events.len(), count, "at {now}");
            assert_eq!(other.tally, base.tally, "at {now}");
            let shift = history_end(now) - history_end(END);
            assert!(
                other
                    .events
                    .iter()
                    .zip(&base.events)
                    .all(|(a, b)| a.at == b.at + shift)
            );
        }
    }

    #[test]
    fn funnels_narrow_like_a_shop() {
        let sim = small(7, 400, 2);
        let n = |name: &str| sim.tally.get(name).copied().unwrap_or(0);
        let (views, adds, checkouts, orders) = (
            n("Product Viewed"),
            n("Product Added"),
            n("Checkout Started"),
            n("Order Completed"),
        );
        assert!(views > 5 * adds, "views {views}, adds {adds}");
        assert!(
            adds > checkouts * 3 / 2,
            "adds {adds}, checkouts {checkouts}"
        );
        assert!(
            checkouts > orders && orders > 0,
            "checkouts {checkouts}, orders {orders}"
        );
        assert!(n("identify") > 0 && n("alias") > 0 && n("Email Opened") > 0);
        assert!(
            n("Email Delivered") > n("Email Opened") && n("Email Opened") > n("Email Link Clicked")
        );
        assert!(n("Order Refunded") < orders);
        let signed_up = sim.outcomes.iter().filter(|o| o.signed_up).count();
        assert!(signed_up > sim.outcomes.len() / 2, "{signed_up}");
    }

    #[test]
    fn opens_follow_reading_hours_and_new_interests_draw_views_once_taken_up() {
        let catalog = Catalog::generate(5, 300);
        let plan = Plan::new(5, END, 60, &catalog);
        let sim = simulate(&plan, &catalog, 400, 2).expect("simulation");
        let (mut opens, mut near_reading_hour) = (0, 0);
        // Views of each shopper's new-interest category, before and after they take it up,
        // over all their views in the same periods.
        let (mut before, mut after) = ([0u32; 2], [0u32; 2]);
        for e in &sim.events {
            let s = &sim.shoppers[e.shopper as usize - 1];
            let hour = (e.at.rem_euclid(DAY)) as f64 / HOUR as f64;
            if e.json.contains("\"Email Opened\"") {
                opens += 1;
                let apart = (hour - s.habits.email_hour).abs();
                near_reading_hour += u32::from(apart.min(24.0 - apart) <= 1.5);
            }
            if let Some(new) = &s.habits.new_interest
                && e.json.contains("\"Product Viewed\"")
            {
                let day = (e.at - plan.start) as f64 / DAY as f64;
                let counts = if day >= new.from_day {
                    &mut after
                } else {
                    &mut before
                };
                counts[0] += 1;
                let category = format!("\"category\":\"{}\"", catalog.leaf_path(new.leaf));
                counts[1] += u32::from(e.json.contains(&category));
            }
        }
        assert!(opens > 100, "{opens}");
        assert!(
            near_reading_hour * 10 > opens * 6,
            "{near_reading_hour} of {opens}"
        );
        let share = |c: [u32; 2]| f64::from(c[1]) / f64::from(c[0].max(1));
        assert!(
            share(after) > 3.0 * share(before),
            "before {before:?}, after {after:?}"
        );
    }

    #[test]
    fn messages_are_valid_segment_messages_within_the_window() {
        let sim = small(3, 60, 1);
        let end = history_end(END);
        let plan_start = end - 60 * DAY;
        let mut ids = std::collections::HashSet::new();
        for e in &sim.events {
            assert!(e.at >= plan_start && e.at < end);
            assert!(e.json.len() < 32 * 1024);
            let v: Value = serde_json::from_str(&e.json).expect("json");
            let env = tailor_core::message::Envelope {
                received_at: END,
                ..Default::default()
            };
            let m = tailor_core::message::parse_message(v, None, &env, || "x".into())
                .unwrap_or_else(|err| panic!("{err}: {}", e.json));
            assert_eq!(m.timestamp, e.at);
            assert!(ids.insert(m.message_id));
        }
        assert!(sim.events.windows(2).all(|w| w[0].at <= w[1].at));
    }
}
