//! session-rec's "next item" evaluation protocol (its `evaluation/loader.py` `load_data` and
//! `evaluation/evaluation.py` `evaluate_sessions`, with the `accuracy.HitRate` and
//! `accuracy.MRR` metrics):
//!
//! - test clicks on items that never occur in training are dropped, then test sessions left
//!   with fewer than 2 clicks are dropped;
//! - each remaining session is replayed in time order: after each of its first `n - 1` clicks
//!   the model sees the clicks so far and recommends `cutoff` items; the actual next click is
//!   a hit if it is among them (HR@cutoff) and scores 1/rank (MRR@cutoff, 0 if absent).
//!
//! Also the time split session-rec prepares data with, for carving a validation set out of a
//! training set.

use std::collections::HashMap;

use super::{Click, ItemId, NextItem};

/// Seconds in a day, for [`split_last_days`].
pub const DAY: f64 = 86_400.0;

/// The test sessions as session-rec evaluates them: clicks on items unseen in `train`
/// removed, each session's items in time order (ties keep input order), sessions with at
/// least 2 clicks, ordered by session id.
pub fn next_item_sessions(train: &[Click], test: &[Click]) -> Vec<Vec<ItemId>> {
    let item_count = train.iter().map(|c| c.item as usize + 1).max().unwrap_or(0);
    let mut known = vec![false; item_count];
    for click in train {
        known[click.item as usize] = true;
    }
    let mut kept: Vec<&Click> = test
        .iter()
        .filter(|c| known.get(c.item as usize).copied().unwrap_or(false))
        .collect();
    kept.sort_by(|a, b| a.session.cmp(&b.session).then(a.time.total_cmp(&b.time)));
    let mut sessions = Vec::new();
    for run in kept.chunk_by(|a, b| a.session == b.session) {
        if run.len() >= 2 {
            sessions.push(run.iter().map(|c| c.item).collect());
        }
    }
    sessions
}

/// Splits clicks by session end time as session-rec's preprocessing does: sessions whose last
/// click is within `days` of the very last click go to the second part (the holdout), the
/// others to the first. Click order is kept.
pub fn split_last_days(clicks: &[Click], days: f64) -> (Vec<Click>, Vec<Click>) {
    let mut session_end: HashMap<u64, f64> = HashMap::new();
    for click in clicks {
        let end = session_end.entry(click.session).or_insert(click.time);
        *end = end.max(click.time);
    }
    let last = session_end
        .values()
        .copied()
        .fold(f64::NEG_INFINITY, f64::max);
    let threshold = last - days * DAY;
    clicks
        .iter()
        .partition(|click| session_end[&click.session] < threshold)
}

/// Hit rate and mean reciprocal rank over a set of predictions.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Accuracy {
    pub predictions: usize,
    pub hits: usize,
    pub reciprocal_rank_sum: f64,
}

impl Accuracy {
    /// Records one prediction: `recommended` (best first, already cut to the cutoff) for the
    /// actual next item `target`.
    pub fn add(&mut self, recommended: &[(ItemId, f32)], target: ItemId) {
        self.predictions += 1;
        if let Some(rank) = rank_of(recommended, target) {
            self.hits += 1;
            self.reciprocal_rank_sum += 1.0 / rank as f64;
        }
    }

    /// Adds the predictions of another part of the evaluation.
    pub fn merge(&mut self, other: &Accuracy) {
        self.predictions += other.predictions;
        self.hits += other.hits;
        self.reciprocal_rank_sum += other.reciprocal_rank_sum;
    }

    /// Share of predictions whose next item was recommended (HR@cutoff); 0 without predictions.
    pub fn hit_rate(&self) -> f64 {
        if self.predictions == 0 {
            return 0.0;
        }
        self.hits as f64 / self.predictions as f64
    }

    /// Mean of 1/rank of the next item, 0 where it was not recommended (MRR@cutoff).
    pub fn mrr(&self) -> f64 {
        if self.predictions == 0 {
            return 0.0;
        }
        self.reciprocal_rank_sum / self.predictions as f64
    }
}

/// 1-based rank of `target` in `recommended`, if present.
pub fn rank_of(recommended: &[(ItemId, f32)], target: ItemId) -> Option<usize> {
    recommended
        .iter()
        .position(|&(item, _)| item == target)
        .map(|index| index + 1)
}

/// Replays every session (see the module documentation): one prediction per click after the
/// first, `cutoff` items each. Sessions are split over `threads` threads (at least one).
pub fn evaluate<M>(model: &M, sessions: &[Vec<ItemId>], cutoff: usize, threads: usize) -> Accuracy
where
    M: NextItem + Sync + ?Sized,
{
    let evaluate_part = |part: &[Vec<ItemId>]| {
        let mut accuracy = Accuracy::default();
        let mut recommended = Vec::with_capacity(cutoff);
        for session in part {
            for next in 1..session.len() {
                model.recommend(&session[..next], cutoff, &mut recommended);
                recommended.truncate(cutoff);
                accuracy.add(&recommended, session[next]);
            }
        }
        accuracy
    };
    let threads = threads.clamp(1, sessions.len().max(1));
    if threads == 1 {
        return evaluate_part(sessions);
    }
    // Interleaved chunks keep the threads' loads similar without measuring them.
    let chunk = sessions.len().div_ceil(threads * 8).max(1);
    let chunks: Vec<&[Vec<ItemId>]> = sessions.chunks(chunk).collect();
    let mut total = Accuracy::default();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let chunks = &chunks;
                let evaluate_part = &evaluate_part;
                scope.spawn(move || {
                    let mut accuracy = Accuracy::default();
                    for part in chunks.iter().skip(t).step_by(threads) {
                        accuracy.merge(&evaluate_part(part));
                    }
                    accuracy
                })
            })
            .collect();
        for handle in handles {
            match handle.join() {
                Ok(part) => total.merge(&part),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
    });
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session_recs::Pop;

    fn click(session: u64, item: ItemId, time: f64) -> Click {
        Click {
            session,
            item,
            time,
        }
    }

    #[test]
    fn rank_hit_rate_and_mrr() {
        let list = [(4, 0.9), (7, 0.5), (1, 0.1)];
        assert_eq!(rank_of(&list, 4), Some(1));
        assert_eq!(rank_of(&list, 1), Some(3));
        assert_eq!(rank_of(&list, 2), None);

        let mut accuracy = Accuracy::default();
        assert_eq!(accuracy.hit_rate(), 0.0);
        assert_eq!(accuracy.mrr(), 0.0);
        accuracy.add(&list, 7); // rank 2
        accuracy.add(&list, 4); // rank 1
        accuracy.add(&list, 9); // miss
        accuracy.add(&list, 1); // rank 3
        assert_eq!(accuracy.predictions, 4);
        assert_eq!(accuracy.hit_rate(), 0.75);
        assert!((accuracy.mrr() - (0.5 + 1.0 + 0.0 + 1.0 / 3.0) / 4.0).abs() < 1e-12);
    }

    #[test]
    fn filters_unknown_items_then_short_sessions() {
        let train = [click(1, 0, 1.0), click(1, 1, 2.0), click(2, 2, 3.0)];
        let test = [
            click(20, 1, 12.0),
            click(10, 0, 10.0),
            click(20, 0, 11.0),
            click(10, 9, 11.0), // unknown item: dropped, and session 10 with it
            click(30, 9, 5.0),
            click(30, 2, 6.0),
            click(30, 5, 7.0), // item 5 is beyond training's items: dropped
            click(40, 1, 1.0),
            click(40, 1, 2.0),
            click(40, 2, 3.0),
        ];
        let sessions = next_item_sessions(&train, &test);
        assert_eq!(sessions, vec![vec![0, 1], vec![1, 1, 2]]);
    }

    #[test]
    fn evaluates_every_prefix() {
        // Pop recommends [1, 0, 2] to everyone.
        let train = [
            click(1, 1, 0.0),
            click(1, 1, 1.0),
            click(2, 0, 2.0),
            click(3, 2, 0.5),
        ];
        let train = [&train[..], &[click(3, 1, 0.7), click(3, 0, 0.8)]].concat();
        let pop = Pop::fit(&train);
        let sessions = vec![vec![2, 1, 0], vec![0, 2]];
        // Predictions: after [2] → 1 (rank 1), after [2,1] → 0 (rank 2), after [0] → 2 (rank 3).
        let one = evaluate(&pop, &sessions, 20, 1);
        assert_eq!(one.predictions, 3);
        assert_eq!(one.hit_rate(), 1.0);
        assert!((one.mrr() - (1.0 + 0.5 + 1.0 / 3.0) / 3.0).abs() < 1e-12);
        // A cutoff of 2 misses the rank-3 item; threads do not change the result.
        let two = evaluate(&pop, &sessions, 2, 4);
        assert_eq!(two.predictions, 3);
        assert_eq!(two.hits, 2);
        let three = evaluate(&pop, &sessions, 20, 3);
        assert_eq!((three.predictions, three.hits), (one.predictions, one.hits));
        assert!((three.mrr() - one.mrr()).abs() < 1e-12);
        assert_eq!(evaluate(&pop, &[], 20, 2).predictions, 0);
    }

    #[test]
    fn splits_by_session_end_time() {
        let clicks = [
            click(1, 0, 0.0),
            click(2, 0, DAY * 0.5),
            click(2, 1, DAY * 2.5), // session 2 ends within the last day
            click(3, 1, DAY * 1.4),
            click(4, 2, DAY * 3.0),
        ];
        let (train, holdout) = split_last_days(&clicks, 1.0);
        assert_eq!(
            train.iter().map(|c| c.session).collect::<Vec<_>>(),
            vec![1, 3]
        );
        assert_eq!(
            holdout.iter().map(|c| c.session).collect::<Vec<_>>(),
            vec![2, 2, 4]
        );
    }
}
