//! Popularity: the same list for every session, the items with the most training clicks.
//! session-rec's `algorithms/baselines/pop.py` with its defaults (support = click count,
//! score `count / (count + 1)`, no top-n cut).

use super::{Click, ItemId, NextItem};

#[derive(Clone, Debug)]
pub struct Pop {
    /// Every training item with its score, best first (ties: lower item id first).
    ranked: Vec<(ItemId, f32)>,
}

impl NextItem for Pop {
    fn fit(train: &[Click]) -> Self {
        let item_count = train.iter().map(|c| c.item as usize + 1).max().unwrap_or(0);
        let mut clicks = vec![0u32; item_count];
        for click in train {
            clicks[click.item as usize] += 1;
        }
        let mut ranked: Vec<(ItemId, u32)> =
            (0..).zip(clicks).filter(|&(_, count)| count > 0).collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let ranked = ranked
            .into_iter()
            .map(|(item, count)| (item, count as f32 / (count as f32 + 1.0)))
            .collect();
        Self { ranked }
    }

    fn recommend(&self, _session_prefix: &[ItemId], k: usize, out: &mut Vec<(ItemId, f32)>) {
        out.clear();
        out.extend_from_slice(&self.ranked[..k.min(self.ranked.len())]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_by_click_count() {
        let clicks = [(1, 4), (1, 2), (2, 2), (2, 9), (3, 2), (3, 9), (3, 4)];
        let train: Vec<Click> = clicks
            .iter()
            .enumerate()
            .map(|(t, &(session, item))| Click {
                session,
                item,
                time: t as f64,
            })
            .collect();
        let pop = Pop::fit(&train);
        let mut out = Vec::new();
        pop.recommend(&[4], 2, &mut out);
        // Item 2: 3 clicks; items 4 and 9: 2 each, the tie going to the lower id.
        assert_eq!(out, vec![(2, 0.75), (4, 2.0 / 3.0)]);
        pop.recommend(&[], 10, &mut out);
        assert_eq!(
            out.iter().map(|&(i, _)| i).collect::<Vec<_>>(),
            vec![2, 4, 9]
        );
    }
}
