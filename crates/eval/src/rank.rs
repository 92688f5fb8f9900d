//! `tailor eval rank`: the ranking placement offline. For every next click of a test session
//! (session-rec's "next item" cases), the clicked item's list — the items of its category
//! seen in training — is ordered four ways and the clicked item's rank scored (NDCG@10, MRR):
//!
//! - **catalog**: the store's own order, the order items were first seen in training (what a
//!   "newest first" or unmerchandised category page shows);
//! - **popularity**: most training clicks first;
//! - **viewed, then popularity**: the session's own items first (newest first), then the rest
//!   by popularity: how far going back to what the shopper looked at gets without any model;
//! - **tailor**: the ranking placement's rule (`tailor_ml::rerank::order`) over the signals the
//!   engine gathers that the click files hold: the session model's next items after the
//!   session so far (the engine's model, `session_recs::Tailor`, same candidates and the
//!   prefix's own items left out as the engine's `SessionModel::next` does), what is viewed
//!   together with the session's newest five items (pairs within 30 minutes, each click with
//!   its five previous, the strongest 50 per item, as the engine's `Recs`), and popularity;
//!   the catalog order underneath.
//!
//! Categories: session-rec's prepared YOOCHOOSE files carry none (the raw challenge file's
//! category column is mostly 0), so two kinds of list stand in, both reported: `catalog` (one
//! list of every training item: a search for everything, the longest list) and `clusters`
//! (communities of the training co-click graph by label propagation: items shoppers browse
//! together, as a category's are). Interest, declared preferences, predictions and the
//! store's rules are not in the data and are not exercised here.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use serde_json::{Value, json};
use tailor_ml::rerank::{self, Listed, Signals, ndcg_at};
use tailor_ml::session_recs::protocol;
use tailor_ml::session_recs::{Click, ItemId, ItemIndex, NextItem, Tailor};

use crate::error::{Error, invalid};

/// NDCG's cut-off: a first screen of a category page.
const CUTOFF: usize = 10;
/// As the engine's ranking placement (`decide/rank.rs`).
const SESSION_CANDIDATES: usize = 200;
const SESSION_PREFIX: usize = 10;
const TOGETHER_FROM: usize = 5;
/// As the engine's co-views (`learn/recs.rs`).
const MAX_NEIGHBOURS: usize = 50;
const PAIR_WITH: usize = 5;
const CO_VIEW_WINDOW: f64 = 30.0 * 60.0;
/// Label propagation rounds for the co-click clusters.
const PROPAGATION_ROUNDS: usize = 20;

/// What to evaluate on.
#[derive(Debug, Clone)]
pub struct RankOptions {
    /// Training clicks: tab-separated `SessionId ItemId Time` after a header line.
    pub train: PathBuf,
    /// Test clicks, same format.
    pub test: PathBuf,
    /// Evaluate only the first N test sessions (after session-rec's filtering), for a quick run.
    pub sessions: Option<usize>,
}

/// NDCG@10 and MRR sums of one ordering.
#[derive(Debug, Clone, Copy, Default)]
struct Scores {
    ndcg: f64,
    reciprocal_rank: f64,
}

impl Scores {
    fn add(&mut self, rank: usize) {
        self.ndcg += ndcg_at(rank, CUTOFF);
        self.reciprocal_rank += 1.0 / rank as f64;
    }
}

/// One kind of list's results.
#[derive(Debug, Clone)]
pub struct ListResults {
    pub name: &'static str,
    pub lists: usize,
    pub mean_list_length: f64,
    pub cases: usize,
    tailor: Scores,
    popularity: Scores,
    viewed_popularity: Scores,
    catalog: Scores,
}

impl ListResults {
    fn mean(&self, s: Scores) -> (f64, f64) {
        let n = self.cases.max(1) as f64;
        (s.ndcg / n, s.reciprocal_rank / n)
    }

    /// (NDCG@10, MRR) of Tailor's order, popularity order and catalog order.
    pub fn tailor(&self) -> (f64, f64) {
        self.mean(self.tailor)
    }
    pub fn popularity(&self) -> (f64, f64) {
        self.mean(self.popularity)
    }
    pub fn viewed_popularity(&self) -> (f64, f64) {
        self.mean(self.viewed_popularity)
    }
    pub fn catalog(&self) -> (f64, f64) {
        self.mean(self.catalog)
    }
}

pub struct RankReport {
    pub training_clicks: usize,
    pub trained_items: usize,
    pub test_sessions: usize,
    pub results: Vec<ListResults>,
    pub seconds: f64,
}

/// The trained state every ordering reads.
struct Trained {
    model: Tailor,
    /// Training clicks per item.
    clicks: Vec<f64>,
    /// Co-viewed items per item, strongest first (at most [`MAX_NEIGHBOURS`]).
    neighbours: Vec<Vec<(ItemId, f64)>>,
}

pub fn evaluate(options: &RankOptions) -> Result<RankReport, Error> {
    let started = Instant::now();
    let mut items = ItemIndex::new();
    let train = crate::recs::read_clicks(&options.train, &mut items)?;
    let test = crate::recs::read_clicks(&options.test, &mut items)?;
    if train.is_empty() {
        invalid!("no training clicks");
    }
    let mut sessions = protocol::next_item_sessions(&train, &test);
    if let Some(n) = options.sessions {
        if n == 0 {
            invalid!("--sessions must be at least 1");
        }
        sessions.truncate(n);
    }
    let item_count = train.iter().map(|c| c.item as usize + 1).max().unwrap_or(0);
    let trained = Trained {
        model: Tailor::fit(&train),
        clicks: click_counts(&train, item_count),
        neighbours: co_views(&train, item_count),
    };
    // The store's order: first seen in training (ItemIndex hands out ids in reading order,
    // and the training file is read first).
    let catalog_order: Vec<ItemId> = {
        let mut seen = vec![false; item_count];
        let mut order = Vec::new();
        for c in &train {
            if !std::mem::replace(&mut seen[c.item as usize], true) {
                order.push(c.item);
            }
        }
        order
    };
    let everything = vec![catalog_order.clone()];
    let clusters = clusters(&catalog_order, &trained.neighbours, item_count);
    let results = vec![
        score_lists("catalog", &everything, &sessions, &trained, item_count),
        score_lists("clusters", &clusters, &sessions, &trained, item_count),
    ];
    Ok(RankReport {
        training_clicks: train.len(),
        trained_items: catalog_order.len(),
        test_sessions: sessions.len(),
        results,
        seconds: started.elapsed().as_secs_f64(),
    })
}

fn click_counts(train: &[Click], item_count: usize) -> Vec<f64> {
    let mut counts = vec![0.0; item_count];
    for c in train {
        counts[c.item as usize] += 1.0;
    }
    counts
}

/// Co-views as the engine learns them: each click pairs with up to [`PAIR_WITH`] earlier
/// distinct items of its session within [`CO_VIEW_WINDOW`]; the strongest
/// [`MAX_NEIGHBOURS`] per item are kept.
fn co_views(train: &[Click], item_count: usize) -> Vec<Vec<(ItemId, f64)>> {
    let mut sorted: Vec<&Click> = train.iter().collect();
    sorted.sort_by(|a, b| a.session.cmp(&b.session).then(a.time.total_cmp(&b.time)));
    let mut pairs: Vec<HashMap<ItemId, f64>> = vec![HashMap::new(); item_count];
    for session in sorted.chunk_by(|a, b| a.session == b.session) {
        for (i, c) in session.iter().enumerate() {
            let mut earlier: Vec<ItemId> = Vec::new();
            for e in session[..i].iter().rev() {
                if earlier.len() == PAIR_WITH || c.time - e.time > CO_VIEW_WINDOW {
                    break;
                }
                if e.item != c.item && !earlier.contains(&e.item) {
                    earlier.push(e.item);
                }
            }
            for e in earlier {
                *pairs[c.item as usize].entry(e).or_default() += 1.0;
                *pairs[e as usize].entry(c.item).or_default() += 1.0;
            }
        }
    }
    pairs
        .into_iter()
        .map(|m| {
            let mut list: Vec<(ItemId, f64)> = m.into_iter().collect();
            list.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            list.truncate(MAX_NEIGHBOURS);
            list
        })
        .collect()
}

/// Communities of the co-view graph by label propagation (each item takes the label its
/// neighbours carry the most weight of; ties to the smallest label; items in catalog order;
/// a fixed number of rounds): deterministic stand-ins for categories.
fn clusters(
    catalog: &[ItemId],
    neighbours: &[Vec<(ItemId, f64)>],
    item_count: usize,
) -> Vec<Vec<ItemId>> {
    let mut label: Vec<u32> = (0..item_count as u32).collect();
    for _ in 0..PROPAGATION_ROUNDS {
        let mut changed = false;
        for &item in catalog {
            let mut weight: HashMap<u32, f64> = HashMap::new();
            for &(other, w) in &neighbours[item as usize] {
                *weight.entry(label[other as usize]).or_default() += w;
            }
            let best = weight
                .into_iter()
                .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)));
            if let Some((l, _)) = best
                && l != label[item as usize]
            {
                label[item as usize] = l;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    let mut by_label: HashMap<u32, Vec<ItemId>> = HashMap::new();
    for &item in catalog {
        by_label.entry(label[item as usize]).or_default().push(item);
    }
    let mut lists: Vec<Vec<ItemId>> = by_label.into_values().collect();
    lists.sort_by_key(|l| l[0]);
    lists
}

fn score_lists(
    name: &'static str,
    lists: &[Vec<ItemId>],
    sessions: &[Vec<ItemId>],
    trained: &Trained,
    item_count: usize,
) -> ListResults {
    // Which list (and where in it) each item is.
    let mut list_of = vec![usize::MAX; item_count];
    for (l, list) in lists.iter().enumerate() {
        for &item in list {
            list_of[item as usize] = l;
        }
    }
    let mut results = ListResults {
        name,
        lists: lists.len(),
        mean_list_length: 0.0,
        cases: 0,
        tailor: Scores::default(),
        popularity: Scores::default(),
        viewed_popularity: Scores::default(),
        catalog: Scores::default(),
    };
    let mut length_sum = 0usize;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = sessions.len().div_ceil(threads).max(1);
    let parts: Vec<(ListResults, usize)> = std::thread::scope(|scope| {
        let handles: Vec<_> = sessions
            .chunks(chunk)
            .map(|part| {
                let list_of = &list_of;
                let mut partial = results.clone();
                scope.spawn(move || {
                    let mut lengths = 0;
                    let mut out = Vec::new();
                    for session in part {
                        for t in 1..session.len() {
                            let target = session[t];
                            let l = list_of[target as usize];
                            if l == usize::MAX || lists[l].len() < 2 {
                                continue;
                            }
                            let list = &lists[l];
                            lengths += list.len();
                            partial.cases += 1;
                            partial
                                .catalog
                                .add(1 + list.iter().position(|&i| i == target).unwrap_or(0));
                            partial
                                .popularity
                                .add(popularity_rank(list, target, trained));
                            partial.viewed_popularity.add(viewed_popularity_rank(
                                list,
                                &session[..t],
                                target,
                                trained,
                            ));
                            partial.tailor.add(tailor_rank(
                                list,
                                &session[..t],
                                target,
                                trained,
                                &mut out,
                            ));
                        }
                    }
                    (partial, lengths)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a scoring thread does not panic"))
            .collect()
    });
    for (part, lengths) in parts {
        results.cases += part.cases;
        length_sum += lengths;
        for (sum, add) in [
            (&mut results.tailor, part.tailor),
            (&mut results.popularity, part.popularity),
            (&mut results.viewed_popularity, part.viewed_popularity),
            (&mut results.catalog, part.catalog),
        ] {
            sum.ndcg += add.ndcg;
            sum.reciprocal_rank += add.reciprocal_rank;
        }
    }
    results.mean_list_length = length_sum as f64 / results.cases.max(1) as f64;
    results
}

/// The target's rank by training clicks, ties in catalog order.
fn popularity_rank(list: &[ItemId], target: ItemId, trained: &Trained) -> usize {
    let clicks = |i: ItemId| trained.clicks[i as usize];
    let at = list.iter().position(|&i| i == target).unwrap_or(0);
    let t = clicks(target);
    1 + list
        .iter()
        .enumerate()
        .filter(|&(j, &i)| clicks(i) > t || (clicks(i) == t && j < at))
        .count()
}

/// The target's rank with the session's own listed items first (newest first), then the rest
/// by popularity.
fn viewed_popularity_rank(
    list: &[ItemId],
    prefix: &[ItemId],
    target: ItemId,
    trained: &Trained,
) -> usize {
    let mut newest: Vec<ItemId> = Vec::new();
    for &i in prefix.iter().rev() {
        if !newest.contains(&i) && list.contains(&i) {
            newest.push(i);
        }
    }
    match newest.iter().position(|&i| i == target) {
        Some(at) => at + 1,
        None => {
            let in_session = |i: ItemId| newest.contains(&i);
            let clicks = |i: ItemId| trained.clicks[i as usize];
            let at = list.iter().position(|&i| i == target).unwrap_or(0);
            let t = clicks(target);
            1 + newest.len()
                + list
                    .iter()
                    .enumerate()
                    .filter(|&(j, &i)| {
                        !in_session(i) && (clicks(i) > t || (clicks(i) == t && j < at))
                    })
                    .count()
        }
    }
}

/// The target's rank in the ranking placement's order after the session `prefix`.
fn tailor_rank(
    list: &[ItemId],
    prefix: &[ItemId],
    target: ItemId,
    trained: &Trained,
    out: &mut Vec<(ItemId, f32)>,
) -> usize {
    let position: HashMap<ItemId, usize> = list.iter().enumerate().map(|(j, &i)| (i, j)).collect();
    let mut listed = vec![Listed::default(); list.len()];
    let most_popular = list
        .iter()
        .map(|&i| trained.clicks[i as usize])
        .fold(0.0, f64::max);
    for (j, &i) in list.iter().enumerate() {
        listed[j].signals = Signals {
            popularity: trained.clicks[i as usize] / most_popular.max(1.0),
            ..Signals::default()
        };
    }
    // The session as the engine keeps it: distinct items, each at its newest click.
    let mut distinct: Vec<ItemId> = Vec::with_capacity(prefix.len());
    for &i in prefix {
        distinct.retain(|&d| d != i);
        distinct.push(i);
    }
    let prefix = &distinct[distinct.len().saturating_sub(SESSION_PREFIX)..];
    // The session model, as `SessionModel::next`: the prefix's own items left out.
    trained
        .model
        .recommend(prefix, SESSION_CANDIDATES + prefix.len(), out);
    out.retain(|(item, score)| !prefix.contains(item) && *score > 0.0);
    out.truncate(SESSION_CANDIDATES);
    let best = out.first().map_or(1.0, |(_, s)| f64::from(*s));
    for &(item, score) in out.iter() {
        if let Some(&j) = position.get(&item) {
            listed[j].signals.session = f64::from(score) / best;
        }
    }
    // The session's own items, the newest first.
    for (rank, &i) in prefix.iter().rev().enumerate() {
        if let Some(&j) = position.get(&i) {
            listed[j].signals.viewed = 1.0 / (rank as f64 + 1.0);
        }
    }
    // Co-views of the newest items, the newest counting most.
    let mut together: HashMap<usize, f64> = HashMap::new();
    for (rank, &i) in prefix.iter().rev().take(TOGETHER_FROM).enumerate() {
        for &(other, w) in &trained.neighbours[i as usize] {
            if let Some(&j) = position.get(&other) {
                let w = w / (rank as f64 + 1.0);
                let e = together.entry(j).or_default();
                *e = e.max(w);
            }
        }
    }
    let best = together.values().copied().fold(0.0, f64::max);
    if best > 0.0 {
        for (j, w) in together {
            listed[j].signals.together = w / best;
        }
    }
    let order = rerank::order(&mut listed);
    let at = position[&target];
    1 + order.iter().position(|&j| j == at).unwrap_or(0)
}

impl RankReport {
    pub fn to_json(&self) -> Value {
        let lists: serde_json::Map<String, Value> = self
            .results
            .iter()
            .map(|r| {
                let pair = |(ndcg, mrr): (f64, f64)| json!({"ndcg@10": ndcg, "mrr": mrr});
                (
                    r.name.to_string(),
                    json!({
                        "lists": r.lists,
                        "mean_list_length": r.mean_list_length,
                        "cases": r.cases,
                        "tailor": pair(r.tailor()),
                        "popularity": pair(r.popularity()),
                        "viewed_then_popularity": pair(r.viewed_popularity()),
                        "catalog": pair(r.catalog()),
                    }),
                )
            })
            .collect();
        json!({
            "training_clicks": self.training_clicks,
            "trained_items": self.trained_items,
            "test_sessions": self.test_sessions,
            "lists": lists,
            "seconds": self.seconds,
        })
    }

    pub fn table(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = self.write_table(&mut out);
        out
    }

    fn write_table(&self, out: &mut String) -> std::fmt::Result {
        writeln!(
            out,
            "{} training clicks, {} items; {} test sessions (session-rec's filtering)",
            self.training_clicks, self.trained_items, self.test_sessions
        )?;
        for r in &self.results {
            writeln!(
                out,
                "lists: {} ({} lists, {:.1} items on average per case); {} next clicks ranked",
                r.name, r.lists, r.mean_list_length, r.cases
            )?;
            writeln!(out, "  {:<11} {:>8} {:>8}", "order", "NDCG@10", "MRR")?;
            for (name, (ndcg, mrr)) in [
                ("tailor", r.tailor()),
                ("popularity", r.popularity()),
                ("viewed+pop", r.viewed_popularity()),
                ("catalog", r.catalog()),
            ] {
                writeln!(out, "  {name:<11} {ndcg:>8.4} {mrr:>8.4}")?;
            }
        }
        writeln!(out, "{:.2} s in all", self.seconds)
    }
}
