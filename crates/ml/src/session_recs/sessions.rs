//! Training clicks grouped into sessions, with the indexes the models share: each session's
//! click sequence and item set, its end time, and for each item the sessions that contain it.

use super::{Click, ItemId};

/// Training sessions, ordered by end time (index 0 is the session that ended first), so "the
/// most recent sessions" of a set are simply its largest indexes.
#[derive(Clone, Debug, Default)]
pub struct TrainingSessions {
    /// Session `s` clicked `clicks[click_starts[s]..click_starts[s + 1]]`, oldest first.
    click_starts: Vec<usize>,
    clicks: Vec<ItemId>,
    /// Session `s`'s distinct items, ascending: `items[item_starts[s]..item_starts[s + 1]]`.
    item_starts: Vec<usize>,
    items: Vec<ItemId>,
    end_times: Vec<f64>,
    /// The sessions containing item `i`, ascending: `postings[posting_starts[i]..posting_starts[i + 1]]`.
    posting_starts: Vec<usize>,
    postings: Vec<u32>,
    /// How many training clicks each item has.
    item_clicks: Vec<u32>,
}

impl TrainingSessions {
    /// Groups `train` by session; within a session clicks are ordered by time (ties keep their
    /// input order), and sessions by end time (ties by session id).
    ///
    /// # Panics
    /// With more than `u32::MAX` sessions.
    pub fn new(train: &[Click]) -> Self {
        let mut order: Vec<usize> = (0..train.len()).collect();
        // Stable: equal times keep their input order, as session-rec's pandas sorts do.
        order.sort_by(|&a, &b| {
            let (a, b) = (&train[a], &train[b]);
            a.session.cmp(&b.session).then(a.time.total_cmp(&b.time))
        });

        // Runs of one session in `order`: (session id, end time, start, end).
        let mut runs: Vec<(u64, f64, usize, usize)> = Vec::new();
        let mut start = 0;
        while start < order.len() {
            let session = train[order[start]].session;
            let mut end = start + 1;
            while end < order.len() && train[order[end]].session == session {
                end += 1;
            }
            runs.push((session, train[order[end - 1]].time, start, end));
            start = end;
        }
        runs.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
        u32::try_from(runs.len()).expect("fewer than 2^32 training sessions");

        let item_count = train.iter().map(|c| c.item as usize + 1).max().unwrap_or(0);
        let mut sessions = Self {
            click_starts: Vec::with_capacity(runs.len() + 1),
            clicks: Vec::with_capacity(train.len()),
            item_starts: Vec::with_capacity(runs.len() + 1),
            items: Vec::with_capacity(train.len()),
            end_times: Vec::with_capacity(runs.len()),
            posting_starts: Vec::new(),
            postings: Vec::new(),
            item_clicks: vec![0; item_count],
        };
        sessions.click_starts.push(0);
        sessions.item_starts.push(0);
        for &(_, end_time, start, end) in &runs {
            let first_item = sessions.items.len();
            for &index in &order[start..end] {
                let item = train[index].item;
                sessions.clicks.push(item);
                sessions.items.push(item);
                sessions.item_clicks[item as usize] += 1;
            }
            sessions.items[first_item..].sort_unstable();
            let distinct = dedup_in_place(&mut sessions.items[first_item..]);
            sessions.items.truncate(first_item + distinct);
            sessions.click_starts.push(sessions.clicks.len());
            sessions.item_starts.push(sessions.items.len());
            sessions.end_times.push(end_time);
        }

        // Postings by counting sort: sessions are visited in index order, so each list ascends.
        let mut counts = vec![0usize; item_count + 1];
        for &item in &sessions.items {
            counts[item as usize + 1] += 1;
        }
        for i in 1..counts.len() {
            counts[i] += counts[i - 1];
        }
        let mut next = counts.clone();
        let mut postings = vec![0; sessions.items.len()];
        for session in 0..sessions.len() {
            for &item in sessions.items(session) {
                postings[next[item as usize]] = session as u32;
                next[item as usize] += 1;
            }
        }
        sessions.postings = postings;
        sessions.posting_starts = counts;
        sessions
    }

    /// Number of sessions.
    pub fn len(&self) -> usize {
        self.end_times.len()
    }

    pub fn is_empty(&self) -> bool {
        self.end_times.is_empty()
    }

    /// One more than the largest item id in training.
    pub fn item_count(&self) -> usize {
        self.item_clicks.len()
    }

    /// Session `session`'s clicks, oldest first (repeats included).
    pub fn clicks(&self, session: usize) -> &[ItemId] {
        &self.clicks[self.click_starts[session]..self.click_starts[session + 1]]
    }

    /// Session `session`'s distinct items, ascending.
    pub fn items(&self, session: usize) -> &[ItemId] {
        &self.items[self.item_starts[session]..self.item_starts[session + 1]]
    }

    /// Where session `session`'s distinct items start in the concatenation of every
    /// session's [`TrainingSessions::items`] (so a model can keep a value per session item
    /// in one flat array).
    pub fn items_offset(&self, session: usize) -> usize {
        self.item_starts[session]
    }

    /// The total number of (session, distinct item) pairs.
    pub fn items_total(&self) -> usize {
        self.items.len()
    }

    /// The time of session `session`'s last click.
    pub fn end_time(&self, session: usize) -> f64 {
        self.end_times[session]
    }

    /// The end time of the last training session.
    pub fn last_time(&self) -> f64 {
        self.end_times.last().copied().unwrap_or(0.0)
    }

    /// The sessions that clicked `item`, ascending (oldest first); empty for unknown items.
    pub fn sessions_with(&self, item: ItemId) -> &[u32] {
        let item = item as usize;
        if item >= self.item_count() {
            return &[];
        }
        &self.postings[self.posting_starts[item]..self.posting_starts[item + 1]]
    }

    /// How many training clicks `item` has (0 for unknown items).
    pub fn item_clicks(&self, item: ItemId) -> u32 {
        self.item_clicks.get(item as usize).copied().unwrap_or(0)
    }

    /// Whether `item` was clicked in training.
    pub fn contains(&self, item: ItemId) -> bool {
        self.item_clicks(item) > 0
    }
}

/// Moves the distinct values of a sorted slice to its front; returns how many there are.
fn dedup_in_place(sorted: &mut [ItemId]) -> usize {
    if sorted.is_empty() {
        return 0;
    }
    let mut kept = 1;
    for i in 1..sorted.len() {
        if sorted[i] != sorted[kept - 1] {
            sorted[kept] = sorted[i];
            kept += 1;
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    fn click(session: u64, item: ItemId, time: f64) -> Click {
        Click {
            session,
            item,
            time,
        }
    }

    #[test]
    fn groups_sorts_and_indexes() {
        let train = [
            click(7, 3, 30.0),
            click(2, 1, 5.0),
            click(7, 1, 10.0),
            click(2, 1, 6.0),
            click(2, 0, 50.0),
            click(7, 3, 20.0),
        ];
        let sessions = TrainingSessions::new(&train);
        assert_eq!(sessions.len(), 2);
        assert_eq!(sessions.item_count(), 4);
        // Session 7 ends at 30, session 2 at 50: 7 comes first.
        assert_eq!(sessions.clicks(0), &[1, 3, 3]);
        assert_eq!(sessions.items(0), &[1, 3]);
        assert_eq!(sessions.end_time(0), 30.0);
        assert_eq!(sessions.clicks(1), &[1, 1, 0]);
        assert_eq!(sessions.items(1), &[0, 1]);
        assert_eq!(sessions.last_time(), 50.0);
        assert_eq!(sessions.sessions_with(1), &[0, 1]);
        assert_eq!(sessions.sessions_with(0), &[1]);
        assert_eq!(sessions.sessions_with(2), &[] as &[u32]);
        assert_eq!(sessions.sessions_with(99), &[] as &[u32]);
        assert_eq!(sessions.item_clicks(1), 3);
        assert!(!sessions.contains(2));
    }

    #[test]
    fn empty_training_set() {
        let sessions = TrainingSessions::new(&[]);
        assert!(sessions.is_empty());
        assert_eq!(sessions.item_count(), 0);
        assert_eq!(sessions.sessions_with(0), &[] as &[u32]);
    }
}
