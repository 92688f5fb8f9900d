//! The reward model q̂(x, a, k) that DM and DR lean on, as obp's `RegressionModel` with
//! `fitting_method="normal"`: one logistic regression per position, fitted on the rounds logged
//! at that position, over the round's context features next to the action's features; and its
//! K-fold cross-fitting (each round's q̂ comes from a model that never saw that round).
//!
//! Beyond obp, a third feature block describes the (round, action) pair — e.g. Open Bandit's
//! user–item affinity of this user for this item — which a linear model over context and action
//! blocks alone cannot express.

use super::logistic::{LogisticParams, LogisticRegression, dot};
use super::{LoggedBandit, OpeError, RewardEstimates};

/// Features of every (round, action) pair as three blocks, laid out so that a linear score
/// splits into `w_c·context[round] + w_a·action[action] + w_p·pair[round, action]`: predicting
/// all actions of all rounds then costs one context dot product per round.
#[derive(Clone, Debug)]
pub struct RewardFeatures {
    n_rounds: usize,
    n_actions: usize,
    /// `[round][context_dim]`
    context: Vec<f64>,
    context_dim: usize,
    /// `[action][action_dim]`
    action: Vec<f64>,
    action_dim: usize,
    /// `[round][action][pair_dim]`; empty when `pair_dim` is 0.
    pair: Vec<f64>,
    pair_dim: usize,
}

impl RewardFeatures {
    /// `context`: `n_rounds × context_dim` values; `action`: `n_actions × action_dim`;
    /// `pair`: `n_rounds × n_actions × pair_dim` (empty for no pair features).
    pub fn new(
        n_rounds: usize,
        n_actions: usize,
        (context, context_dim): (Vec<f64>, usize),
        (action, action_dim): (Vec<f64>, usize),
        (pair, pair_dim): (Vec<f64>, usize),
    ) -> Result<Self, OpeError> {
        let check = |name: &str, values: &[f64], expected: usize| {
            if values.len() == expected {
                Ok(())
            } else {
                Err(OpeError::Shape(format!(
                    "{name} features: expected {expected} values, got {}",
                    values.len()
                )))
            }
        };
        check("context", &context, n_rounds * context_dim)?;
        check("action", &action, n_actions * action_dim)?;
        check("pair", &pair, n_rounds * n_actions * pair_dim)?;
        Ok(Self {
            n_rounds,
            n_actions,
            context,
            context_dim,
            action,
            action_dim,
            pair,
            pair_dim,
        })
    }

    fn dim(&self) -> usize {
        self.context_dim + self.action_dim + self.pair_dim
    }

    fn context_of(&self, round: usize) -> &[f64] {
        &self.context[round * self.context_dim..(round + 1) * self.context_dim]
    }

    fn action_of(&self, action: usize) -> &[f64] {
        &self.action[action * self.action_dim..(action + 1) * self.action_dim]
    }

    fn pair_of(&self, round: usize, action: usize) -> &[f64] {
        let start = (round * self.n_actions + action) * self.pair_dim;
        &self.pair[start..start + self.pair_dim]
    }

    fn write_row(&self, round: usize, action: usize, out: &mut Vec<f64>) {
        out.extend_from_slice(self.context_of(round));
        out.extend_from_slice(self.action_of(action));
        out.extend_from_slice(self.pair_of(round, action));
    }

    fn check_fits(&self, data: &LoggedBandit) -> Result<(), OpeError> {
        if self.n_rounds != data.rounds().len() || self.n_actions != data.n_actions() {
            return Err(OpeError::Shape(format!(
                "features for {} rounds × {} actions, logs of {} rounds × {} actions",
                self.n_rounds,
                self.n_actions,
                data.rounds().len(),
                data.n_actions()
            )));
        }
        Ok(())
    }
}

/// One logistic regression per position, as obp's `RegressionModel` with `len_list > 1`.
#[derive(Clone, Debug)]
pub struct PositionwiseRewardModel {
    models: Vec<LogisticRegression>,
}

impl PositionwiseRewardModel {
    /// Fits on the logged rounds listed in `rounds` (indices into `data`).
    pub fn fit(
        data: &LoggedBandit,
        features: &RewardFeatures,
        rounds: &[usize],
        params: LogisticParams,
    ) -> Result<Self, OpeError> {
        features.check_fits(data)?;
        let dim = features.dim();
        let mut models = Vec::with_capacity(data.n_positions());
        for position in 0..data.n_positions() {
            let mut rows = Vec::new();
            let mut labels = Vec::new();
            for &index in rounds {
                let round = data.rounds()[index];
                if round.position == position {
                    features.write_row(index, round.action, &mut rows);
                    labels.push(round.reward);
                }
            }
            let model = LogisticRegression::fit(&rows, dim, &labels, params).map_err(|error| {
                OpeError::CannotFit(format!("reward model for position {position}: {error}"))
            })?;
            models.push(model);
        }
        Ok(Self { models })
    }

    /// Writes q̂(round, a, position) for every action a into `out` (length `n_actions`).
    pub fn predict_actions(
        &self,
        features: &RewardFeatures,
        round: usize,
        position: usize,
        out: &mut [f64],
    ) {
        let model = &self.models[position];
        let (context_weights, rest) = model.weights.split_at(features.context_dim);
        let (action_weights, pair_weights) = rest.split_at(features.action_dim);
        let base = dot(context_weights, features.context_of(round)) + model.intercept;
        for (action, q) in out.iter_mut().enumerate() {
            let z = base
                + dot(action_weights, features.action_of(action))
                + dot(pair_weights, features.pair_of(round, action));
            *q = super::logistic::sigmoid(z);
        }
    }
}

/// Assigns each of `n` rounds to one of `n_folds` folds of near-equal size, at random (seeded),
/// as scikit-learn's `KFold(shuffle=True)` does: shuffle the indices, cut them into consecutive
/// blocks. (The permutation differs from numpy's, so folds do not match obp's row for row.)
pub fn fold_assignment(n: usize, n_folds: usize, seed: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    let mut state = seed;
    for i in (1..n).rev() {
        let j = (split_mix_64(&mut state) % (i as u64 + 1)) as usize;
        order.swap(i, j);
    }
    let mut folds = vec![0; n];
    let n_folds = n_folds.max(1);
    for (rank, &index) in order.iter().enumerate() {
        // Blocks of ⌈n/k⌉ first, as KFold gives the first n mod k folds one extra round.
        folds[index] = fold_of_rank(rank, n, n_folds);
    }
    folds
}

fn fold_of_rank(rank: usize, n: usize, n_folds: usize) -> usize {
    let (base, extra) = (n / n_folds, n % n_folds);
    let big_block_end = extra * (base + 1);
    if rank < big_block_end {
        rank / (base + 1)
    } else {
        extra + (rank - big_block_end) / base.max(1)
    }
}

/// SplitMix64 (Steele, Lea & Flood 2014): a small, well-mixed seeded generator, enough for
/// shuffling folds without a `rand` dependency.
fn split_mix_64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Cross-fitting: for each fold, fits on the other folds and predicts q̂ for the fold's rounds,
/// every action and position (obp's `fit_predict(n_folds=…)`). `n_folds = 1` fits and predicts on
/// all rounds.
pub fn cross_fit(
    data: &LoggedBandit,
    features: &RewardFeatures,
    n_folds: usize,
    seed: u64,
    params: LogisticParams,
) -> Result<RewardEstimates, OpeError> {
    let mut estimates = vec![0.0; data.rounds().len() * data.n_positions() * data.n_actions()];
    for_each_fold(data, features, n_folds, seed, params, |round, model| {
        let per_position = data.n_positions() * data.n_actions();
        let table = &mut estimates[round * per_position..(round + 1) * per_position];
        for (position, out) in table.chunks_exact_mut(data.n_actions()).enumerate() {
            model.predict_actions(features, round, position, out);
        }
    })?;
    RewardEstimates::new(
        data.rounds().len(),
        data.n_actions(),
        data.n_positions(),
        estimates,
    )
}

/// Fits one model per fold on the other folds' rounds and hands it each held-out round.
pub(crate) fn for_each_fold(
    data: &LoggedBandit,
    features: &RewardFeatures,
    n_folds: usize,
    seed: u64,
    params: LogisticParams,
    mut held_out: impl FnMut(usize, &PositionwiseRewardModel),
) -> Result<(), OpeError> {
    let n = data.rounds().len();
    if n_folds == 0 || n_folds > n {
        return Err(OpeError::Shape(format!(
            "{n_folds} folds for {n} rounds: need between 1 and the number of rounds"
        )));
    }
    if n_folds == 1 {
        let all: Vec<usize> = (0..n).collect();
        let model = PositionwiseRewardModel::fit(data, features, &all, params)?;
        (0..n).for_each(|round| held_out(round, &model));
        return Ok(());
    }
    let folds = fold_assignment(n, n_folds, seed);
    for fold in 0..n_folds {
        let training: Vec<usize> = (0..n).filter(|&i| folds[i] != fold).collect();
        let model = PositionwiseRewardModel::fit(data, features, &training, params)
            .map_err(|error| OpeError::CannotFit(format!("fold {fold}: {error}")))?;
        (0..n)
            .filter(|&i| folds[i] == fold)
            .for_each(|round| held_out(round, &model));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ope::LoggedRound;

    #[test]
    fn folds_are_a_balanced_seeded_partition() {
        let folds = fold_assignment(10, 3, 7);
        let sizes: Vec<usize> = (0..3)
            .map(|f| folds.iter().filter(|&&x| x == f).count())
            .collect();
        assert_eq!(sizes, vec![4, 3, 3]);
        assert_eq!(folds, fold_assignment(10, 3, 7));
        assert_ne!(folds, fold_assignment(10, 3, 8));
    }

    /// Action 1 is clicked far more often than action 0 at both positions, and a pair feature
    /// marks rounds where action 0 is "liked".
    fn clicks_on_action_one() -> (LoggedBandit, RewardFeatures) {
        let mut rounds = Vec::new();
        for i in 0..400 {
            let action = i % 2;
            let clicked = if action == 1 { i % 8 != 1 } else { i % 16 == 0 };
            rounds.push(LoggedRound {
                action,
                position: (i / 16) % 2,
                reward: f64::from(u8::from(clicked)),
                propensity: 0.5,
            });
        }
        let n = rounds.len();
        let data = LoggedBandit::new(rounds, 2, 2).expect("valid");
        let features = RewardFeatures::new(
            n,
            2,
            (vec![1.0; n], 1),
            (vec![1.0, 0.0, 0.0, 1.0], 2),
            (vec![], 0),
        )
        .expect("shapes");
        (data, features)
    }

    #[test]
    fn cross_fitted_estimates_rank_the_better_action_first() {
        let (data, features) = clicks_on_action_one();
        let estimates = cross_fit(&data, &features, 3, 1, LogisticParams::default()).expect("fits");
        for round in [0, 17, 399] {
            for position in 0..2 {
                let q = estimates.at(round, position);
                assert!(q[1] > 0.6 && q[0] < 0.3, "round {round}: {q:?}");
            }
        }
    }

    #[test]
    fn mismatched_features_and_too_many_folds_are_errors() {
        let (data, _) = clicks_on_action_one();
        let short = RewardFeatures::new(3, 2, (vec![1.0; 3], 1), (vec![0.0; 2], 1), (vec![], 0))
            .expect("shapes");
        assert!(cross_fit(&data, &short, 3, 1, LogisticParams::default()).is_err());
        assert!(RewardFeatures::new(3, 2, (vec![1.0; 2], 1), (vec![], 0), (vec![], 0)).is_err());
        let (data, features) = clicks_on_action_one();
        assert!(cross_fit(&data, &features, 0, 1, LogisticParams::default()).is_err());
    }
}
