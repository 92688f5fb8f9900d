//! Off-policy evaluation (OPE): how well would a *target* policy have done on traffic that a
//! different *logging* policy served? Owns the logged-bandit data ([`LoggedBandit`]), the target
//! policy's action distribution ([`ActionDistribution`]), the estimators — inverse probability
//! weighting ([`ipw`]), its self-normalized form ([`snipw`]), the direct method ([`dm`]) and
//! doubly robust ([`dr`]) — the reward model they lean on ([`reward_model`]) and a learned policy
//! ([`policy`]).
//!
//! Definitions follow obp (Saito et al., "Open Bandit Dataset and Pipeline", NeurIPS 2021), in
//! its position-wise form for lists of `n_positions` slots: a round is one (action, position)
//! impression, and its importance weight is `π_e(action | round, position) / propensity`.
//!
//! Layout of every per-round table: `[round][position][action]`, so the distribution over actions
//! at one position of one round is a contiguous slice.

mod estimators;
pub mod policy;
pub mod reward_model;

use std::fmt;

pub use estimators::{Estimate, dm, dr, dr_round_values, ipw, ipw_round_values, snipw};

/// One logged impression: the logging policy showed `action` at `position`, with probability
/// `propensity`, and observed `reward` (a click is 1.0).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LoggedRound {
    pub action: usize,
    pub position: usize,
    pub reward: f64,
    pub propensity: f64,
}

/// Validated logged-bandit feedback: every action and position in range, every propensity in
/// (0, 1] (a zero propensity would make importance weights infinite), every reward finite.
#[derive(Clone, Debug)]
pub struct LoggedBandit {
    rounds: Vec<LoggedRound>,
    n_actions: usize,
    n_positions: usize,
}

impl LoggedBandit {
    pub fn new(
        rounds: Vec<LoggedRound>,
        n_actions: usize,
        n_positions: usize,
    ) -> Result<Self, OpeError> {
        if rounds.is_empty() {
            return Err(OpeError::NoRounds);
        }
        for (index, round) in rounds.iter().enumerate() {
            let problem = if round.action >= n_actions {
                Some(format!("action {} is not below {n_actions}", round.action))
            } else if round.position >= n_positions {
                Some(format!(
                    "position {} is not below {n_positions}",
                    round.position
                ))
            } else if !(round.propensity > 0.0 && round.propensity <= 1.0) {
                Some(format!(
                    "propensity {} is not in (0, 1]: importance weights need a positive one",
                    round.propensity
                ))
            } else if !round.reward.is_finite() {
                Some(format!("reward {} is not finite", round.reward))
            } else {
                None
            };
            if let Some(problem) = problem {
                return Err(OpeError::InvalidRound { index, problem });
            }
        }
        Ok(Self {
            rounds,
            n_actions,
            n_positions,
        })
    }

    pub fn rounds(&self) -> &[LoggedRound] {
        &self.rounds
    }

    pub fn n_actions(&self) -> usize {
        self.n_actions
    }

    pub fn n_positions(&self) -> usize {
        self.n_positions
    }

    /// The logging policy's own value: the mean observed reward (the on-policy estimate).
    pub fn mean_reward(&self) -> f64 {
        self.rounds.iter().map(|r| r.reward).sum::<f64>() / self.rounds.len() as f64
    }
}

/// A per-round table of `n_positions × n_actions` numbers, either one table shared by every round
/// (a context-free policy such as Bernoulli Thompson sampling) or one per round.
#[derive(Clone, Debug)]
struct RoundTable {
    /// `None`: one table for every round.
    n_rounds: Option<usize>,
    n_actions: usize,
    n_positions: usize,
    values: Vec<f64>,
}

impl RoundTable {
    fn new(
        n_rounds: Option<usize>,
        n_actions: usize,
        n_positions: usize,
        values: Vec<f64>,
    ) -> Result<Self, OpeError> {
        let expected = n_rounds.unwrap_or(1) * n_actions * n_positions;
        if values.len() != expected || n_actions == 0 || n_positions == 0 {
            return Err(OpeError::Shape(format!(
                "expected {} rounds × {n_positions} positions × {n_actions} actions = {expected} values, got {}",
                n_rounds.map_or("1 shared".to_string(), |n| n.to_string()),
                values.len()
            )));
        }
        Ok(Self {
            n_rounds,
            n_actions,
            n_positions,
            values,
        })
    }

    fn at(&self, round: usize, position: usize) -> &[f64] {
        let table = if self.n_rounds.is_some() { round } else { 0 };
        let start = (table * self.n_positions + position) * self.n_actions;
        &self.values[start..start + self.n_actions]
    }

    /// Checks that the table covers `data`'s rounds, actions and positions.
    fn check_fits(&self, data: &LoggedBandit, what: &str) -> Result<(), OpeError> {
        let rounds_fit = self.n_rounds.is_none_or(|n| n == data.rounds.len());
        if !rounds_fit || self.n_actions != data.n_actions || self.n_positions != data.n_positions {
            return Err(OpeError::Shape(format!(
                "{what} has {} rounds × {} positions × {} actions, the logs {} rounds × {} positions × {} actions",
                self.n_rounds
                    .map_or("shared".to_string(), |n| n.to_string()),
                self.n_positions,
                self.n_actions,
                data.rounds.len(),
                data.n_positions,
                data.n_actions
            )));
        }
        Ok(())
    }
}

/// The target policy: the probability of showing each action at each position, per round.
#[derive(Clone, Debug)]
pub struct ActionDistribution(RoundTable);

/// How far a position's probabilities may sum from 1: distributions exported with 5 decimals
/// (as obp's BTS fixture is) drift by up to `n_actions × 5e-6`.
const SUM_TOLERANCE: f64 = 1e-3;

impl ActionDistribution {
    /// One distribution for every round; `probabilities` is `[position][action]`.
    pub fn shared(
        n_actions: usize,
        n_positions: usize,
        probabilities: Vec<f64>,
    ) -> Result<Self, OpeError> {
        Self::checked(RoundTable::new(
            None,
            n_actions,
            n_positions,
            probabilities,
        )?)
    }

    /// One distribution per round; `probabilities` is `[round][position][action]`.
    pub fn per_round(
        n_rounds: usize,
        n_actions: usize,
        n_positions: usize,
        probabilities: Vec<f64>,
    ) -> Result<Self, OpeError> {
        Self::checked(RoundTable::new(
            Some(n_rounds),
            n_actions,
            n_positions,
            probabilities,
        )?)
    }

    fn checked(table: RoundTable) -> Result<Self, OpeError> {
        for (index, slice) in table.values.chunks(table.n_actions).enumerate() {
            let sum: f64 = slice.iter().sum();
            let in_range = slice.iter().all(|p| (0.0..=1.0).contains(p));
            if !in_range || (sum - 1.0).abs() > SUM_TOLERANCE {
                return Err(OpeError::NotADistribution {
                    round: table.n_rounds.map(|_| index / table.n_positions),
                    position: index % table.n_positions,
                    sum,
                });
            }
        }
        Ok(Self(table))
    }

    /// π_e(· | round, position), one probability per action.
    pub fn at(&self, round: usize, position: usize) -> &[f64] {
        self.0.at(round, position)
    }

    pub fn n_actions(&self) -> usize {
        self.0.n_actions
    }

    pub fn n_positions(&self) -> usize {
        self.0.n_positions
    }
}

/// A reward model's predictions q̂(round, action, position): the expected reward of showing each
/// action at each position of each round.
#[derive(Clone, Debug)]
pub struct RewardEstimates(RoundTable);

impl RewardEstimates {
    /// `values` is `[round][position][action]`.
    pub fn new(
        n_rounds: usize,
        n_actions: usize,
        n_positions: usize,
        values: Vec<f64>,
    ) -> Result<Self, OpeError> {
        let table = RoundTable::new(Some(n_rounds), n_actions, n_positions, values)?;
        if let Some(bad) = table.values.iter().find(|v| !v.is_finite()) {
            return Err(OpeError::Shape(format!(
                "reward estimates must be finite, found {bad}"
            )));
        }
        Ok(Self(table))
    }

    /// q̂(round, ·, position), one expected reward per action.
    pub fn at(&self, round: usize, position: usize) -> &[f64] {
        self.0.at(round, position)
    }
}

/// Why an estimate could not be computed. The crate has no dependencies, so this implements
/// `std::error::Error` by hand rather than through `thiserror`.
#[derive(Clone, Debug, PartialEq)]
pub enum OpeError {
    NoRounds,
    InvalidRound {
        index: usize,
        problem: String,
    },
    Shape(String),
    NotADistribution {
        round: Option<usize>,
        position: usize,
        sum: f64,
    },
    /// The target policy gives zero probability to every logged (action, position): no logged
    /// round says anything about it, so self-normalized weighting is undefined.
    NoOverlap,
    /// A model could not be fitted to the data given, e.g. rewards all of one kind.
    CannotFit(String),
}

impl fmt::Display for OpeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoRounds => write!(f, "no logged rounds"),
            Self::InvalidRound { index, problem } => write!(f, "logged round {index}: {problem}"),
            Self::Shape(message) => write!(f, "shape mismatch: {message}"),
            Self::CannotFit(message) => write!(f, "cannot fit the model: {message}"),
            Self::NoOverlap => write!(
                f,
                "the target policy never shows a logged action at its logged position (all importance weights are 0)"
            ),
            Self::NotADistribution {
                round,
                position,
                sum,
            } => {
                let round = round.map_or(String::new(), |r| format!("round {r}, "));
                write!(
                    f,
                    "target distribution at {round}position {position} is not a probability distribution (probabilities must lie in [0, 1] and sum to 1, they sum to {sum})"
                )
            }
        }
    }
}

impl std::error::Error for OpeError {}
