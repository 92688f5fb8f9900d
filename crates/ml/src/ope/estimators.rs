//! The four estimators of a target policy's value — IPW, SNIPW, DM, DR — exactly as obp defines
//! them (`InverseProbabilityWeighting`, `SelfNormalizedInverseProbabilityWeighting`,
//! `DirectMethod`, `DoublyRobust`, without weight clipping), each with a standard error.
//!
//! Standard errors are closed-form where obp bootstraps: for IPW, DM and DR the estimate is the
//! mean of per-round values, so its standard error is their sample standard deviation over √n;
//! for SNIPW, a ratio of means, it is the delta-method (sandwich) error
//! √Σ wᵢ²(rᵢ − V̂)² / Σ wᵢ. For n in the thousands both agree with a bootstrap to within its noise.

use super::{ActionDistribution, LoggedBandit, OpeError, RewardEstimates};

/// z for a two-sided 95% normal interval.
const Z_95: f64 = 1.959_963_984_540_054;

/// An estimated policy value with its standard error.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Estimate {
    pub value: f64,
    pub standard_error: f64,
}

impl Estimate {
    /// The normal-approximation 95% confidence interval, `value ± 1.96 × standard_error`.
    pub fn confidence_interval_95(&self) -> (f64, f64) {
        let half_width = Z_95 * self.standard_error;
        (self.value - half_width, self.value + half_width)
    }

    /// |value − truth| / truth: how obp scores an estimator against an on-policy value.
    pub fn relative_error(&self, truth: f64) -> f64 {
        (self.value - truth).abs() / truth
    }

    /// The mean of per-round values with its standard error: how IPW, DM and DR are formed, and
    /// how a paired comparison of two estimates on the same rounds is (see [`ipw_round_values`]).
    pub fn of_round_values(values: impl IntoIterator<Item = f64>) -> Self {
        let (mut n, mut mean, mut sum_squares) = (0.0_f64, 0.0_f64, 0.0_f64);
        // Welford: one pass, no cancellation when values are tiny click rates.
        for value in values {
            n += 1.0;
            let delta = value - mean;
            mean += delta / n;
            sum_squares += delta * (value - mean);
        }
        let variance = if n > 1.0 {
            sum_squares / (n - 1.0)
        } else {
            0.0
        };
        Self {
            value: mean,
            standard_error: (variance / n).sqrt(),
        }
    }
}

/// π_e(aᵢ | xᵢ, kᵢ) / π_b(aᵢ | xᵢ, kᵢ) for every logged round.
fn importance_weights<'a>(
    data: &'a LoggedBandit,
    target: &'a ActionDistribution,
) -> impl Iterator<Item = f64> + 'a {
    data.rounds()
        .iter()
        .enumerate()
        .map(|(i, round)| target.at(i, round.position)[round.action] / round.propensity)
}

/// Inverse probability weighting: mean of wᵢ rᵢ. Unbiased when propensities are right.
pub fn ipw(data: &LoggedBandit, target: &ActionDistribution) -> Result<Estimate, OpeError> {
    Ok(Estimate::of_round_values(ipw_round_values(data, target)?))
}

/// IPW's per-round values wᵢ rᵢ. Subtracting each round's observed reward and averaging gives
/// the target's lift over the logging policy with a paired standard error — far tighter than
/// comparing two separate intervals, since both sides share the same clicks.
pub fn ipw_round_values(
    data: &LoggedBandit,
    target: &ActionDistribution,
) -> Result<Vec<f64>, OpeError> {
    target.0.check_fits(data, "the target distribution")?;
    let rewards = data.rounds().iter().map(|r| r.reward);
    Ok(importance_weights(data, target)
        .zip(rewards)
        .map(|(w, r)| w * r)
        .collect())
}

/// Self-normalized IPW: Σ wᵢ rᵢ / Σ wᵢ. Slightly biased, much less variable when weights are
/// large, and invariant to a constant shift of rewards.
pub fn snipw(data: &LoggedBandit, target: &ActionDistribution) -> Result<Estimate, OpeError> {
    target.0.check_fits(data, "the target distribution")?;
    let weights: Vec<f64> = importance_weights(data, target).collect();
    let weight_sum: f64 = weights.iter().sum();
    if weight_sum <= 0.0 {
        return Err(OpeError::NoOverlap);
    }
    let rounds = data.rounds();
    let value = weights
        .iter()
        .zip(rounds)
        .map(|(w, r)| w * r.reward)
        .sum::<f64>()
        / weight_sum;
    let sum_squared_deviations: f64 = weights
        .iter()
        .zip(rounds)
        .map(|(w, r)| (w * (r.reward - value)).powi(2))
        .sum();
    Ok(Estimate {
        value,
        standard_error: sum_squared_deviations.sqrt() / weight_sum,
    })
}

/// E_{a∼π_e(·|xᵢ,kᵢ)} q̂(xᵢ, a, kᵢ), normalized by the probabilities' sum as obp's
/// `np.average(q̂, weights=π_e)` is (it matters only for rounded distributions).
fn expected_reward_under_target(
    rewards: &RewardEstimates,
    target: &ActionDistribution,
    round: usize,
    position: usize,
) -> f64 {
    let probabilities = target.at(round, position);
    let predicted = rewards.at(round, position);
    let weighted: f64 = probabilities
        .iter()
        .zip(predicted)
        .map(|(p, q)| p * q)
        .sum();
    weighted / probabilities.iter().sum::<f64>()
}

/// The direct method: mean over rounds of the reward model's expected reward under the target
/// policy at the logged position. No weights, so low variance; biased as much as q̂ is.
pub fn dm(
    data: &LoggedBandit,
    target: &ActionDistribution,
    rewards: &RewardEstimates,
) -> Result<Estimate, OpeError> {
    target.0.check_fits(data, "the target distribution")?;
    rewards.0.check_fits(data, "the reward estimates")?;
    Ok(Estimate::of_round_values(
        data.rounds()
            .iter()
            .enumerate()
            .map(|(i, round)| expected_reward_under_target(rewards, target, i, round.position)),
    ))
}

/// Doubly robust: DM plus the importance-weighted residual of q̂ on the logged action,
/// `DMᵢ + wᵢ (rᵢ − q̂(xᵢ, aᵢ, kᵢ))`. Unbiased if either the propensities or q̂ are right.
pub fn dr(
    data: &LoggedBandit,
    target: &ActionDistribution,
    rewards: &RewardEstimates,
) -> Result<Estimate, OpeError> {
    Ok(Estimate::of_round_values(dr_round_values(
        data, target, rewards,
    )?))
}

/// DR's per-round values (see [`ipw_round_values`] for what they are good for).
pub fn dr_round_values(
    data: &LoggedBandit,
    target: &ActionDistribution,
    rewards: &RewardEstimates,
) -> Result<Vec<f64>, OpeError> {
    target.0.check_fits(data, "the target distribution")?;
    rewards.0.check_fits(data, "the reward estimates")?;
    Ok(data
        .rounds()
        .iter()
        .zip(importance_weights(data, target))
        .enumerate()
        .map(|(i, (round, weight))| {
            let direct = expected_reward_under_target(rewards, target, i, round.position);
            let factual = rewards.at(i, round.position)[round.action];
            direct + weight * (round.reward - factual)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ope::LoggedRound;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    /// Two actions, one position, four rounds logged by a uniform policy (propensity 0.5).
    /// Target: action 1 with probability 0.8.
    fn two_action_example() -> (LoggedBandit, ActionDistribution, RewardEstimates) {
        let round = |action, reward| LoggedRound {
            action,
            position: 0,
            reward,
            propensity: 0.5,
        };
        let data = LoggedBandit::new(
            vec![round(0, 1.0), round(1, 1.0), round(1, 0.0), round(0, 0.0)],
            2,
            1,
        )
        .expect("valid logs");
        let target = ActionDistribution::shared(2, 1, vec![0.2, 0.8]).expect("a distribution");
        // q̂ = (0.3, 0.6) in every round.
        let rewards = RewardEstimates::new(4, 2, 1, [0.3, 0.6].repeat(4)).expect("estimates");
        (data, target, rewards)
    }

    #[test]
    fn ipw_is_the_mean_of_weighted_rewards() {
        let (data, target, _) = two_action_example();
        // Weights 0.4, 1.6, 1.6, 0.4; weighted rewards 0.4, 1.6, 0, 0.
        let estimate = ipw(&data, &target).expect("ipw");
        assert!(close(estimate.value, 0.5), "{estimate:?}");
        // Sample variance of (0.4, 1.6, 0, 0) around 0.5: (0.01 + 1.21 + 0.25 + 0.25) / 3.
        let standard_error = (1.72_f64 / 3.0 / 4.0).sqrt();
        assert!(
            close(estimate.standard_error, standard_error),
            "{estimate:?}"
        );
        let (low, high) = estimate.confidence_interval_95();
        assert!(low < 0.5 && high > 0.5 && close(high - 0.5, 0.5 - low));
    }

    #[test]
    fn snipw_divides_by_the_weight_sum() {
        let (data, target, _) = two_action_example();
        // Σ w r = 2.0, Σ w = 4.0.
        let estimate = snipw(&data, &target).expect("snipw");
        assert!(close(estimate.value, 0.5), "{estimate:?}");
        // √(0.4²·0.5² + 1.6²·0.5² + 1.6²·0.5² + 0.4²·0.5²) / 4.
        let standard_error = (2.0 * (0.16 + 2.56) * 0.25_f64).sqrt() / 4.0;
        assert!(
            close(estimate.standard_error, standard_error),
            "{estimate:?}"
        );

        // Doubling every weight leaves SNIPW alone but doubles IPW.
        let half = |r: &LoggedRound| LoggedRound {
            propensity: r.propensity / 2.0,
            ..*r
        };
        let halved =
            LoggedBandit::new(data.rounds().iter().map(half).collect(), 2, 1).expect("valid");
        assert!(close(snipw(&halved, &target).expect("snipw").value, 0.5));
        assert!(close(ipw(&halved, &target).expect("ipw").value, 1.0));
    }

    #[test]
    fn dm_averages_the_reward_model_under_the_target() {
        let (data, target, rewards) = two_action_example();
        // 0.2 × 0.3 + 0.8 × 0.6 = 0.54 in every round.
        let estimate = dm(&data, &target, &rewards).expect("dm");
        assert!(close(estimate.value, 0.54), "{estimate:?}");
        assert!(close(estimate.standard_error, 0.0));
    }

    #[test]
    fn dr_corrects_the_direct_method_with_weighted_residuals() {
        let (data, target, rewards) = two_action_example();
        // Residuals r − q̂(a): 0.7, 0.4, −0.6, −0.3; weighted: 0.28, 0.64, −0.96, −0.12 (sum −0.16).
        let estimate = dr(&data, &target, &rewards).expect("dr");
        assert!(close(estimate.value, 0.54 - 0.04), "{estimate:?}");

        // With q̂ = 0 the correction is all there is: DR equals IPW.
        let zero = RewardEstimates::new(4, 2, 1, vec![0.0; 8]).expect("zeros");
        let dr_zero = dr(&data, &target, &zero).expect("dr");
        assert!(close(
            dr_zero.value,
            ipw(&data, &target).expect("ipw").value
        ));
    }

    #[test]
    fn lift_over_logging_is_a_paired_difference() {
        let (data, target, _) = two_action_example();
        let lift = |target: &ActionDistribution| {
            let values = ipw_round_values(&data, target).expect("values");
            Estimate::of_round_values(values.iter().zip(data.rounds()).map(|(v, r)| v - r.reward))
        };
        // wᵢ rᵢ − rᵢ: 0.4 − 1, 1.6 − 1, 0, 0 → mean 0, yet not without noise.
        let estimate = lift(&target);
        assert!(
            close(estimate.value, 0.0) && estimate.standard_error > 0.0,
            "{estimate:?}"
        );
        // The logging policy itself: every weight is 1, so its lift is exactly 0.
        let uniform = ActionDistribution::shared(2, 1, vec![0.5, 0.5]).expect("valid");
        assert_eq!(
            lift(&uniform),
            Estimate {
                value: 0.0,
                standard_error: 0.0
            }
        );
    }

    #[test]
    fn position_wise_weights_use_the_logged_position() {
        // Two positions; the target puts action 0 first and action 1 second.
        let data = LoggedBandit::new(
            vec![
                LoggedRound {
                    action: 0,
                    position: 0,
                    reward: 1.0,
                    propensity: 0.5,
                },
                LoggedRound {
                    action: 0,
                    position: 1,
                    reward: 1.0,
                    propensity: 0.5,
                },
            ],
            2,
            2,
        )
        .expect("valid");
        let target = ActionDistribution::shared(2, 2, vec![1.0, 0.0, 0.0, 1.0]).expect("valid");
        // Weights 2 and 0: only the first-position click counts.
        assert!(close(ipw(&data, &target).expect("ipw").value, 1.0));
    }

    #[test]
    fn shape_and_overlap_problems_are_errors() {
        let (data, _, rewards) = two_action_example();
        let three_actions = ActionDistribution::shared(3, 1, vec![0.2, 0.3, 0.5]).expect("valid");
        assert!(matches!(
            ipw(&data, &three_actions),
            Err(OpeError::Shape(_))
        ));
        let wrong_rounds =
            ActionDistribution::per_round(3, 2, 1, [0.5, 0.5].repeat(3)).expect("ok");
        assert!(matches!(
            dm(&data, &wrong_rounds, &rewards),
            Err(OpeError::Shape(_))
        ));

        let never_logged = LoggedBandit::new(
            vec![LoggedRound {
                action: 0,
                position: 0,
                reward: 1.0,
                propensity: 0.5,
            }],
            2,
            1,
        )
        .expect("valid");
        let only_action_1 = ActionDistribution::shared(2, 1, vec![0.0, 1.0]).expect("valid");
        assert_eq!(
            snipw(&never_logged, &only_action_1),
            Err(OpeError::NoOverlap)
        );
    }

    #[test]
    fn invalid_inputs_are_rejected_up_front() {
        let round = LoggedRound {
            action: 0,
            position: 0,
            reward: 1.0,
            propensity: 0.0,
        };
        let error = LoggedBandit::new(vec![round], 2, 1).expect_err("zero propensity");
        assert!(error.to_string().contains("propensity"), "{error}");
        let error = LoggedBandit::new(
            vec![LoggedRound {
                action: 2,
                propensity: 0.5,
                ..round
            }],
            2,
            1,
        )
        .expect_err("action out of range");
        assert!(error.to_string().contains("action 2"), "{error}");
        assert_eq!(
            LoggedBandit::new(vec![], 2, 1).unwrap_err(),
            OpeError::NoRounds
        );

        let error = ActionDistribution::shared(2, 1, vec![0.5, 0.6]).expect_err("sums to 1.1");
        assert!(
            matches!(error, OpeError::NotADistribution { .. }),
            "{error}"
        );
        assert!(ActionDistribution::shared(2, 1, vec![1.5, -0.5]).is_err());
        assert!(matches!(
            ActionDistribution::shared(2, 2, vec![0.5, 0.5]),
            Err(OpeError::Shape(_))
        ));
    }
}
