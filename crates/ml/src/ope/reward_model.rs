//! The reward model q̂(x, a, k) that DM and DR lean on, as obp's `RegressionModel` with
//! `fitting_method="normal"`: one logistic regression per position, fitted on the rounds logged
//! at that position, over the round's context features next to the action's features; and its
//! K-fold cross-fitting (each round's q̂ comes from a model that never saw that round).
//!
//! Beyond obp, a third feature block describes the (round, action) pair — e.g. Open Bandit's
//! user–item affinity of this user for this item — which a linear model over context and action
//! blocks alone cannot express.

use super::{LoggedBandit, OpeError, RewardEstimates};
use crate::linear::algebra::dot;
use crate::linear::{LogisticParams, LogisticRegression, sigmoid};

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
            *q = sigmoid(z);
        }
    }
}

/// Assigns each of `n` rounds to one of `n_folds` folds exactly as scikit-learn's
/// `KFold(n_folds, shuffle=True, random_state=seed)` does — which is how obp's `fit_predict`
/// cross-fits — so that reward models see the same rounds as in obp: numpy's legacy
/// `RandomState(seed).shuffle` of `0..n`, cut into consecutive blocks, the first `n mod k` one
/// round longer.
pub fn fold_assignment(n: usize, n_folds: usize, seed: u32) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    let mut generator = Mt19937::new(seed);
    for i in (1..n).rev() {
        order.swap(i, generator.interval(i as u64) as usize);
    }
    let n_folds = n_folds.max(1);
    let mut folds = vec![0; n];
    for (rank, &index) in order.iter().enumerate() {
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

/// The Mersenne Twister MT19937 (Matsumoto & Nishimura 1998) seeded as numpy's legacy
/// `RandomState(int)` seeds it, with numpy's bounded-integer draw: only here to reproduce
/// obp's folds without a dependency.
struct Mt19937 {
    state: [u32; 624],
    index: usize,
}

impl Mt19937 {
    fn new(seed: u32) -> Self {
        let mut state = [0u32; 624];
        state[0] = seed;
        for i in 1..624 {
            let previous = state[i - 1];
            state[i] = 1_812_433_253u32
                .wrapping_mul(previous ^ (previous >> 30))
                .wrapping_add(i as u32);
        }
        Self { state, index: 624 }
    }

    fn next_u32(&mut self) -> u32 {
        if self.index >= 624 {
            for i in 0..624 {
                let y = (self.state[i] & 0x8000_0000) | (self.state[(i + 1) % 624] & 0x7fff_ffff);
                let mut next = self.state[(i + 397) % 624] ^ (y >> 1);
                if y & 1 == 1 {
                    next ^= 0x9908_b0df;
                }
                self.state[i] = next;
            }
            self.index = 0;
        }
        let mut y = self.state[self.index];
        self.index += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }

    /// A uniform integer in `0..=max`: numpy's `random_interval`, rejection sampling under the
    /// smallest all-ones bit mask covering `max`.
    fn interval(&mut self, max: u64) -> u64 {
        if max == 0 {
            return 0;
        }
        let mut mask = max;
        for shift in [1, 2, 4, 8, 16, 32] {
            mask |= mask >> shift;
        }
        loop {
            let value = if max <= u64::from(u32::MAX) {
                u64::from(self.next_u32()) & mask
            } else {
                ((u64::from(self.next_u32()) << 32) | u64::from(self.next_u32())) & mask
            };
            if value <= max {
                return value;
            }
        }
    }
}

/// Cross-fitting: for each fold, fits on the other folds and predicts q̂ for the fold's rounds,
/// every action and position (obp's `fit_predict(n_folds=…)`). `n_folds = 1` fits and predicts on
/// all rounds.
pub fn cross_fit(
    data: &LoggedBandit,
    features: &RewardFeatures,
    n_folds: usize,
    seed: u32,
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
    seed: u32,
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
    fn the_generator_is_numpys() {
        // MT19937's reference output for init_genrand(5489), its default seed.
        let mut generator = Mt19937::new(5489);
        assert_eq!(generator.next_u32(), 3_499_211_612);
        // numpy: np.random.RandomState(0).permutation(10) and RandomState(42).permutation(10).
        for (seed, permutation) in [
            (0, [2, 8, 4, 9, 1, 6, 7, 3, 0, 5]),
            (42, [8, 1, 5, 0, 7, 2, 9, 4, 3, 6]),
        ] {
            let mut order: Vec<usize> = (0..10).collect();
            let mut generator = Mt19937::new(seed);
            for i in (1..10).rev() {
                order.swap(i, generator.interval(i as u64) as usize);
            }
            assert_eq!(order, permutation, "seed {seed}");
        }
    }

    #[test]
    fn folds_are_kfold_blocks_of_the_shuffle() {
        // RandomState(0) shuffles 0..10 to [2, 8, 4, 9, 1, 6, 7, 3, 0, 5]; KFold(3) cuts it
        // into [2, 8, 4, 9], [1, 6, 7], [3, 0, 5].
        let folds = fold_assignment(10, 3, 0);
        assert_eq!(folds, vec![2, 1, 0, 2, 0, 2, 1, 1, 0, 0]);
        assert_ne!(folds, fold_assignment(10, 3, 1));
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
