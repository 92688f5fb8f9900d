//! Tailor's learned list policy: a position-wise reward model (see [`super::reward_model`]) ranks
//! the actions for a round, position k shows the best action not already placed above it, and an
//! exploration floor ε spreads probability ε over all actions so that every action keeps a
//! non-zero propensity — the logs it produces stay usable for evaluating the next policy.
//!
//! Trained on logged data and evaluated on the same logs without peeking: [`cross_fitted_policy`]
//! fits a model on all folds but one and turns it into the policy for the held-out fold, so each
//! round's action distribution comes from a model that never saw that round.

use super::reward_model::{RewardFeatures, for_each_fold};
use super::{ActionDistribution, LoggedBandit, OpeError, RewardEstimates};
use crate::linear::LogisticParams;

/// The policy's knobs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GreedyListParams {
    /// ε: the share of probability spread uniformly over all actions at every position.
    pub exploration: f64,
    pub reward_model: LogisticParams,
}

impl Default for GreedyListParams {
    fn default() -> Self {
        Self {
            exploration: 0.1,
            reward_model: LogisticParams::default(),
        }
    }
}

/// For one round: `q` is `[position][action]` predicted rewards; writes `[position][action]`
/// probabilities into `out`. Position k's greedy choice is the action with the highest q̂ at k
/// among those not chosen for positions above it (ties go to the lower action index).
pub fn greedy_list_distribution(q: &[f64], n_actions: usize, exploration: f64, out: &mut [f64]) {
    let floor = exploration / n_actions as f64;
    out.fill(floor);
    let mut placed: Vec<usize> = Vec::new();
    for (position, predicted) in q.chunks_exact(n_actions).enumerate() {
        let best = predicted
            .iter()
            .enumerate()
            .filter(|(action, _)| !placed.contains(action))
            .fold(
                None,
                |best: Option<(usize, f64)>, (action, &value)| match best {
                    Some((_, best_value)) if best_value >= value => best,
                    _ => Some((action, value)),
                },
            );
        if let Some((action, _)) = best {
            out[position * n_actions + action] += 1.0 - exploration;
            placed.push(action);
        } else {
            // More positions than actions: nothing left to place, stay uniform.
            out[position * n_actions..(position + 1) * n_actions].fill(1.0 / n_actions as f64);
        }
    }
}

/// Cross-fits the greedy list policy on `data`: returns each round's action distribution (from
/// the model that did not see the round) and that model's q̂ for the round, for DR.
pub fn cross_fitted_policy(
    data: &LoggedBandit,
    features: &RewardFeatures,
    n_folds: usize,
    seed: u32,
    params: GreedyListParams,
) -> Result<(ActionDistribution, RewardEstimates), OpeError> {
    if !(0.0..=1.0).contains(&params.exploration) {
        return Err(OpeError::CannotFit(format!(
            "exploration {} is not in [0, 1]",
            params.exploration
        )));
    }
    let (n, n_actions, n_positions) = (data.rounds().len(), data.n_actions(), data.n_positions());
    let per_round = n_actions * n_positions;
    let mut estimates = vec![0.0; n * per_round];
    let mut probabilities = vec![0.0; n * per_round];
    for_each_fold(
        data,
        features,
        n_folds,
        seed,
        params.reward_model,
        |round, model| {
            let range = round * per_round..(round + 1) * per_round;
            let q = &mut estimates[range.clone()];
            for (position, out) in q.chunks_exact_mut(n_actions).enumerate() {
                model.predict_actions(features, round, position, out);
            }
            greedy_list_distribution(q, n_actions, params.exploration, &mut probabilities[range]);
        },
    )?;
    Ok((
        ActionDistribution::per_round(n, n_actions, n_positions, probabilities)?,
        RewardEstimates::new(n, n_actions, n_positions, estimates)?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_position_gets_the_best_action_not_yet_placed() {
        // Three actions, two positions; action 2 is best at both positions.
        let q = [0.1, 0.2, 0.9, 0.3, 0.1, 0.8];
        let mut out = [0.0; 6];
        greedy_list_distribution(&q, 3, 0.3, &mut out);
        let expected = [0.1, 0.1, 0.8, 0.8, 0.1, 0.1];
        for (got, want) in out.iter().zip(expected) {
            assert!((got - want).abs() < 1e-12, "{out:?}");
        }
        // Without exploration it is deterministic.
        greedy_list_distribution(&q, 3, 0.0, &mut out);
        assert_eq!(out, [0.0, 0.0, 1.0, 1.0, 0.0, 0.0]);
    }

    #[test]
    fn more_positions_than_actions_stay_distributions() {
        let q = [0.5, 0.7, 0.1, 0.2, 0.3, 0.3];
        let mut out = [0.0; 6];
        greedy_list_distribution(&q, 2, 0.0, &mut out);
        assert_eq!(out, [0.0, 1.0, 1.0, 0.0, 0.5, 0.5]);
    }
}
