//! Next-category interest: which categories will a customer engage with in the coming weeks
//! that they have not engaged with yet — interest before it is explicit.
//!
//! Two signals, blended:
//! - **transitions**: from past snapshots, how often customers who had engaged with category
//!   `a` (and not `b`) went on to engage with `b` in the following window — category order
//!   and co-purchase structure in one estimate, smoothed toward `b`'s base rate;
//! - **similar customers**: the share of the customer's nearest neighbours (cosine similarity
//!   of category engagement) who already engaged with `b`.
//!
//! Engagement vectors are dense per category: views count 1, adds 2, purchases 3
//! ([`engagement_weight`]).
//!
//! [`ServedModel`] is what Tailor serves (`predictions.next_categories`, navigation's "new
//! for you"): transitions blended with popularity, the blend chosen on validation by
//! [`fit_and_validate`] — the one protocol `tailor train` (on profile snapshots) and `tailor
//! eval intent` (on the event log) both run, so the figure either prints is the served
//! model's. The similar-customers signal needs every customer at prediction time, so it is
//! not served; `eval intent` reports it beside the served model for comparison.

use super::{ActivityKind, CategoryId};

/// How much one activity says about interest in its category.
pub fn engagement_weight(kind: ActivityKind) -> f64 {
    match kind {
        ActivityKind::ProductViewed => 1.0,
        ActivityKind::ProductAdded => 2.0,
        ActivityKind::Purchased => 3.0,
        _ => 0.0,
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NextCategoryParams {
    /// Pseudo-count pulling a transition estimate toward the base rate.
    pub smoothing: f64,
    /// Neighbours consulted for the similar-customers signal.
    pub neighbours: usize,
    /// Weight of the similar-customers signal (0 = transitions only, 1 = neighbours only).
    pub blend: f64,
}

/// Smoothing and neighbours were set once, not tuned; the blend is meant to be chosen on
/// validation data from [`BLENDS`].
impl Default for NextCategoryParams {
    fn default() -> Self {
        Self {
            smoothing: 20.0,
            neighbours: 50,
            blend: 0.5,
        }
    }
}

/// P(new engagement with `b` | engaged with `a` before), learned from past windows.
#[derive(Debug, Clone, PartialEq)]
pub struct Transitions {
    categories: usize,
    /// Row-major `a × b`.
    probability: Vec<f64>,
}

impl Transitions {
    /// Learns from examples `(engagement before a snapshot, categories newly engaged in the
    /// window after it)`.
    pub fn fit<'a>(
        examples: impl IntoIterator<Item = (&'a [f64], &'a [CategoryId])>,
        categories: usize,
        smoothing: f64,
    ) -> Self {
        let c = categories;
        let mut exposed = vec![0.0; c * c]; // a engaged, b not yet
        let mut moved = vec![0.0; c * c]; // … and then b engaged
        let mut base_exposed = vec![0.0; c];
        let mut base_moved = vec![0.0; c];
        let mut is_new = vec![false; c];
        let mut engaged: Vec<usize> = Vec::new();
        for (before, after) in examples {
            is_new.iter_mut().for_each(|x| *x = false);
            for &b in after {
                if let Some(slot) = is_new.get_mut(b as usize) {
                    *slot = true;
                }
            }
            engaged.clear();
            engaged.extend((0..c).filter(|&a| before.get(a).copied().unwrap_or(0.0) > 0.0));
            // Cost per example: categories × engaged ones, not categories².
            for b in 0..c {
                if before.get(b).copied().unwrap_or(0.0) > 0.0 {
                    continue;
                }
                let moved_to_b = f64::from(u8::from(is_new[b]));
                base_exposed[b] += 1.0;
                base_moved[b] += moved_to_b;
                for &a in &engaged {
                    exposed[a * c + b] += 1.0;
                    moved[a * c + b] += moved_to_b;
                }
            }
        }
        let base: Vec<f64> = (0..c)
            .map(|b| (base_moved[b] + 1.0) / (base_exposed[b] + 2.0))
            .collect();
        let probability = (0..c * c)
            .map(|i| (moved[i] + smoothing * base[i % c]) / (exposed[i] + smoothing))
            .collect();
        Self {
            categories: c,
            probability,
        }
    }

    /// Engagement-weighted mean of P(b | a) over the customer's categories, per category `b`.
    pub fn scores(&self, engagement: &[f64]) -> Vec<f64> {
        let c = self.categories;
        let total: f64 = engagement.iter().take(c).sum();
        let mut out = vec![0.0; c];
        if total <= 0.0 {
            return out;
        }
        for (a, &w) in engagement.iter().take(c).enumerate() {
            if w <= 0.0 {
                continue;
            }
            for (b, score) in out.iter_mut().enumerate() {
                *score += w / total * self.probability[a * c + b];
            }
        }
        out
    }
}

/// Every customer's engagement, normalized for cosine similarity.
#[derive(Debug, Clone)]
pub struct Neighbourhood {
    unit: Vec<Vec<f64>>,
    engaged: Vec<Vec<bool>>,
}

impl Neighbourhood {
    pub fn new(engagement: &[Vec<f64>]) -> Self {
        let unit = engagement
            .iter()
            .map(|v| {
                let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
                v.iter()
                    .map(|x| if norm > 0.0 { x / norm } else { 0.0 })
                    .collect()
            })
            .collect();
        let engaged = engagement
            .iter()
            .map(|v| v.iter().map(|&x| x > 0.0).collect())
            .collect();
        Self { unit, engaged }
    }

    /// For each category, the similarity-weighted share of the `k` most similar customers
    /// (other than `me`, an index into the customers this was built from) who engaged with it.
    pub fn scores(&self, engagement: &[f64], me: Option<usize>, k: usize) -> Vec<f64> {
        let c = engagement.len();
        let norm = engagement.iter().map(|x| x * x).sum::<f64>().sqrt();
        let mut out = vec![0.0; c];
        if norm <= 0.0 || k == 0 {
            return out;
        }
        let mut similar: Vec<(f64, usize)> = self
            .unit
            .iter()
            .enumerate()
            .filter(|&(i, _)| Some(i) != me)
            .map(|(i, v)| {
                let s: f64 = v.iter().zip(engagement).map(|(a, b)| a * b).sum::<f64>() / norm;
                (s, i)
            })
            .filter(|&(s, _)| s > 0.0)
            .collect();
        let k = k.min(similar.len());
        if k == 0 {
            return out;
        }
        similar.select_nth_unstable_by(k - 1, |a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        let total: f64 = similar[..k].iter().map(|s| s.0).sum();
        for &(s, i) in &similar[..k] {
            for (b, score) in out.iter_mut().enumerate() {
                if self.engaged[i].get(b).copied().unwrap_or(false) {
                    *score += s / total;
                }
            }
        }
        out
    }
}

/// The blended model.
#[derive(Debug, Clone)]
pub struct NextCategory {
    pub transitions: Transitions,
    pub neighbourhood: Neighbourhood,
    pub params: NextCategoryParams,
}

impl NextCategory {
    /// Categories the customer has not engaged with, best first.
    pub fn rank(&self, engagement: &[f64], me: Option<usize>) -> Vec<CategoryId> {
        let transitions = self.transitions.scores(engagement);
        let neighbours = self
            .neighbourhood
            .scores(engagement, me, self.params.neighbours);
        blend_rank(&transitions, &neighbours, self.params.blend, engagement)
    }
}

/// Blends the two signals (each scaled so its best category scores 1) with weight `blend` on
/// the neighbours, and ranks the categories the customer has not engaged with.
pub fn blend_rank(
    transitions: &[f64],
    neighbours: &[f64],
    blend: f64,
    engagement: &[f64],
) -> Vec<CategoryId> {
    rank_unengaged(&blended(transitions, neighbours, blend), engagement)
}

fn blended(transitions: &[f64], neighbours: &[f64], blend: f64) -> Vec<f64> {
    let transitions = normalized(transitions.to_vec());
    let neighbours = normalized(neighbours.to_vec());
    transitions
        .iter()
        .zip(&neighbours)
        .map(|(t, n)| (1.0 - blend) * t + blend * n)
        .collect()
}

/// Examples of one window: per customer, (engagement per category at a snapshot, the
/// categories first engaged between it and the next snapshot).
pub type Window = Vec<(Vec<f64>, Vec<CategoryId>)>;

/// The served next-category model: transitions blended with popularity.
#[derive(Debug, Clone, PartialEq)]
pub struct ServedModel {
    pub transitions: Transitions,
    /// Share of the customers of the newest snapshot engaged with each category.
    pub popularity: Vec<f64>,
    /// Weight of popularity in the blend.
    pub blend: f64,
}

impl ServedModel {
    /// Transitions from the windows in `learn`; popularity from the snapshot `now` starts
    /// (what is known when the model predicts).
    pub fn fit(
        learn: &[Window],
        now: &Window,
        categories: usize,
        smoothing: f64,
        blend: f64,
    ) -> Self {
        let transitions = Transitions::fit(
            learn
                .iter()
                .flatten()
                .map(|(b, a)| (b.as_slice(), a.as_slice())),
            categories,
            smoothing,
        );
        let mut popularity = vec![0.0; categories];
        let rows = now.len().max(1) as f64;
        for (before, _) in now {
            for (p, &x) in popularity.iter_mut().zip(before) {
                *p += f64::from(u8::from(x > 0.0)) / rows;
            }
        }
        Self {
            transitions,
            popularity,
            blend,
        }
    }

    /// Categories the customer has not engaged with, best first.
    pub fn rank(&self, engagement: &[f64]) -> Vec<CategoryId> {
        self.rank_with_blend(engagement, self.blend)
    }

    /// The first `k` of [`ServedModel::rank`], ranked without sorting the rest.
    pub fn rank_top(&self, engagement: &[f64], k: usize) -> Vec<CategoryId> {
        let scores = blended(
            &self.transitions.scores(engagement),
            &self.popularity,
            self.blend,
        );
        rank_unengaged_top(&scores, engagement, k)
    }

    /// [`ServedModel::rank`] with another blend (1: popularity alone, the baseline).
    pub fn rank_with_blend(&self, engagement: &[f64], blend: f64) -> Vec<CategoryId> {
        blend_rank(
            &self.transitions.scores(engagement),
            &self.popularity,
            blend,
            engagement,
        )
    }

    /// Mean recall@`k` over the window's customers who had engaged with something (the
    /// served model predicts only for them) and newly engaged with something, and how many
    /// they were.
    fn recall(&self, window: &Window, blend: f64, k: usize) -> (f64, usize) {
        let (mut sum, mut scored) = (0.0, 0usize);
        let scorable =
            |(b, a): &&(Vec<f64>, Vec<CategoryId>)| !a.is_empty() && b.iter().any(|&x| x > 0.0);
        for (before, actual) in window.iter().filter(scorable) {
            let ranked = self.rank_with_blend(before, blend);
            sum += super::metrics::recall_at_k(&ranked, actual, k).unwrap_or(0.0);
            scored += 1;
        }
        (sum / scored.max(1) as f64, scored)
    }
}

/// The served model and how it scored.
#[derive(Debug, Clone)]
pub struct Validated {
    /// Fitted on every window, with the chosen blend: what is served.
    pub model: ServedModel,
    /// Recall@3 of each blend tried on the validation window (the one before the test
    /// window, with the windows before it to learn from); empty with fewer than 3 windows
    /// (then the blend is 0: transitions only).
    pub validation: Vec<(f64, f64)>,
    /// On the newest window, learned from the windows before it: the model with the chosen
    /// blend, popularity alone (blend 1), and the customers scored.
    pub test_recall: f64,
    pub popularity_recall: f64,
    pub scored: usize,
    /// The model tested (learned from every window but the newest), to rank its customers.
    pub tested: ServedModel,
}

/// The served model's protocol: `windows` oldest first, the newest is the test window. The
/// blend is chosen on the window before it, learned from those before that; the test
/// window's recall@3 is learned from every earlier one; the model served learns from all.
/// Popularity is always that of the snapshot predicted from (the newest, when serving).
/// `None` with fewer than 2 windows or nobody to score in the test window.
pub fn fit_and_validate(
    windows: &[Window],
    categories: usize,
    smoothing: f64,
) -> Option<Validated> {
    const K: usize = 3;
    let n = windows.len();
    if n < 2 {
        return None;
    }
    let mut validation = Vec::new();
    let mut blend = 0.0;
    if n >= 3 {
        let model = ServedModel::fit(
            &windows[..n - 2],
            &windows[n - 2],
            categories,
            smoothing,
            0.0,
        );
        let mut best = f64::NEG_INFINITY;
        for w in BLENDS {
            let recall = model.recall(&windows[n - 2], w, K).0;
            validation.push((w, recall));
            if recall > best {
                (best, blend) = (recall, w);
            }
        }
    }
    let tested = ServedModel::fit(
        &windows[..n - 1],
        &windows[n - 1],
        categories,
        smoothing,
        blend,
    );
    let (test_recall, scored) = tested.recall(&windows[n - 1], blend, K);
    if scored == 0 {
        return None;
    }
    let (popularity_recall, _) = tested.recall(&windows[n - 1], 1.0, K);
    Some(Validated {
        model: ServedModel::fit(windows, &windows[n - 1], categories, smoothing, blend),
        validation,
        test_recall,
        popularity_recall,
        scored,
        tested,
    })
}

/// Blends validation chooses from.
pub const BLENDS: [f64; 5] = [0.0, 0.25, 0.5, 0.75, 1.0];

/// The popularity baseline: categories the customer has not engaged with, by how many
/// customers engaged with them.
pub fn popularity_rank(customers_per_category: &[f64], engagement: &[f64]) -> Vec<CategoryId> {
    rank_unengaged(customers_per_category, engagement)
}

/// Scaled so the best is 1, which puts two signals on one footing before blending.
fn normalized(mut scores: Vec<f64>) -> Vec<f64> {
    let max = scores.iter().copied().fold(0.0, f64::max);
    if max > 0.0 {
        scores.iter_mut().for_each(|s| *s /= max);
    }
    scores
}

/// Unengaged categories by descending score (ties: lower id first).
pub fn rank_unengaged(scores: &[f64], engagement: &[f64]) -> Vec<CategoryId> {
    rank_unengaged_top(scores, engagement, usize::MAX)
}

/// The first `k` of [`rank_unengaged`], without sorting the rest: serving shows three of
/// what may be a thousand categories.
pub fn rank_unengaged_top(scores: &[f64], engagement: &[f64], k: usize) -> Vec<CategoryId> {
    let mut candidates: Vec<CategoryId> = (0..scores.len() as CategoryId)
        .filter(|&b| engagement.get(b as usize).copied().unwrap_or(0.0) <= 0.0)
        .collect();
    // A total order (score, then id), so the top k are the same as a full sort's.
    let order = |a: &CategoryId, b: &CategoryId| {
        scores[*b as usize]
            .total_cmp(&scores[*a as usize])
            .then(a.cmp(b))
    };
    if k < candidates.len() {
        if k == 0 {
            return Vec::new();
        }
        candidates.select_nth_unstable_by(k - 1, order);
        candidates.truncate(k);
    }
    candidates.sort_by(order);
    candidates
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_top_k_are_the_full_rankings_first_k() {
        // Ties (equal scores) and engaged categories included.
        let scores: Vec<f64> = (0..200).map(|i| f64::from((i * 37) % 11)).collect();
        let engagement: Vec<f64> = (0..200).map(|i| f64::from(u8::from(i % 7 == 0))).collect();
        let full = rank_unengaged(&scores, &engagement);
        for k in [0, 1, 3, 10, 171, 172, 500] {
            let top = rank_unengaged_top(&scores, &engagement, k);
            assert_eq!(top, full[..k.min(full.len())], "k = {k}");
        }
    }

    #[test]
    fn transitions_learn_which_category_follows_which() {
        // 3 categories. Customers in 0 move on to 1; customers in 2 move on to nothing.
        let before0 = [1.0, 0.0, 0.0];
        let before2 = [0.0, 0.0, 1.0];
        let mut examples: Vec<(&[f64], &[CategoryId])> = Vec::new();
        for _ in 0..10 {
            examples.push((&before0, &[1]));
            examples.push((&before2, &[]));
        }
        let t = Transitions::fit(examples, 3, 0.0);
        let from0 = t.scores(&before0);
        assert_eq!(from0[1], 1.0);
        let from2 = t.scores(&before2);
        assert_eq!(from2[1], 0.0);
        // Smoothing pulls toward the base rate of 1: 10 moved of 20 exposed, (10+1)/(20+2).
        let smoothed = Transitions::fit(
            (0..10).flat_map(|_| [(&before0[..], &[1u32][..]), (&before2[..], &[][..])]),
            3,
            10.0,
        );
        let from2 = smoothed.scores(&before2);
        assert!((from2[1] - 10.0 * 0.5 / 20.0).abs() < 1e-12, "{}", from2[1]);
    }

    #[test]
    fn neighbours_vote_for_what_they_engaged_with() {
        let people = vec![
            vec![2.0, 0.0, 0.0, 0.0],
            vec![1.0, 1.0, 0.0, 0.0],
            vec![1.0, 0.0, 0.0, 1.0],
            vec![0.0, 0.0, 1.0, 0.0],
        ];
        let hood = Neighbourhood::new(&people);
        let scores = hood.scores(&people[0], Some(0), 2);
        // Neighbours 1 and 2 (equally similar); 3 shares nothing with 0.
        assert!((scores[1] - 0.5).abs() < 1e-12 && (scores[3] - 0.5).abs() < 1e-12);
        assert_eq!(scores[2], 0.0);
    }

    #[test]
    fn the_served_model_chooses_its_blend_on_the_window_before_the_test() {
        // 4 categories. Everyone in 0 moves on to 2, never to 1 (the most popular): the
        // transitions win validation, so the blend is 0, and the test recall is 1.
        let window = |n: usize| -> Window {
            let mut w: Window = Vec::new();
            for _ in 0..n {
                w.push((vec![1.0, 0.0, 0.0, 0.0], vec![2]));
                w.push((vec![0.0, 1.0, 0.0, 0.0], vec![]));
                w.push((vec![0.0, 1.0, 0.0, 1.0], vec![]));
            }
            w
        };
        let windows = vec![window(20), window(20), window(10)];
        let v = fit_and_validate(&windows, 4, 5.0).expect("validated");
        assert_eq!(v.validation.len(), BLENDS.len());
        assert_eq!(v.model.blend, 0.0);
        assert_eq!(v.scored, 10);
        assert_eq!(v.test_recall, 1.0);
        // Popularity alone ranks 1 first, then 3: 2 is third, still within the top 3.
        assert_eq!(
            v.tested.rank_with_blend(&[1.0, 0.0, 0.0, 0.0], 1.0),
            vec![1, 3, 2]
        );
        assert_eq!(v.model.rank(&[1.0, 0.0, 0.0, 0.0])[0], 2);
        // Two windows: no validation, transitions only; one window: nothing to test on.
        let two = fit_and_validate(&windows[1..], 4, 5.0).expect("two windows");
        assert!(two.validation.is_empty() && two.model.blend == 0.0);
        assert!(fit_and_validate(&windows[2..], 4, 5.0).is_none());
    }

    #[test]
    fn rankings_leave_out_what_is_already_engaged() {
        assert_eq!(
            popularity_rank(&[5.0, 9.0, 7.0, 1.0], &[0.0, 1.0, 0.0, 0.0]),
            vec![2, 0, 3]
        );
        let model = NextCategory {
            transitions: Transitions::fit([(&[1.0, 0.0, 0.0][..], &[2u32][..])], 3, 0.0),
            neighbourhood: Neighbourhood::new(&[vec![1.0, 1.0, 0.0]]),
            params: NextCategoryParams {
                blend: 0.0,
                ..Default::default()
            },
        };
        assert_eq!(model.rank(&[1.0, 0.0, 0.0], None), vec![2, 1]);
    }
}
