//! gbstats' current Bayesian test (`EffectBayesianABTest`): the lift's normal
//! approximation combined with a Gaussian prior on the effect (flat unless one is given),
//! read as chance to win, risk (expected loss) and a credible interval.

use super::distributions::{normal_cdf, normal_pdf, normal_quantile};
use super::lift;
use super::result::{Inference, Risk, TestIssue, TestResult, Uplift};
use super::statistic::ArmMoments;
use super::{DifferenceType, EffectPrior};

pub(crate) fn bayesian_test(
    control: &ArmMoments,
    treatment: &ArmMoments,
    difference: DifferenceType,
    alpha: f64,
    prior: Option<EffectPrior>,
    inverse: bool,
) -> TestResult {
    let relative = difference == DifferenceType::Relative;
    // gbstats' order: baseline (relative lifts only), empty arm, zero variance.
    if relative && lift::baseline_unusable(control, difference) {
        return TestResult::bayesian_default(TestIssue::BaselineZeroOrNegative);
    }
    if control.n == 0 || treatment.n == 0 {
        return TestResult::bayesian_default(TestIssue::NoUnits);
    }
    if control.has_zero_variance() || treatment.has_zero_variance() {
        return TestResult::bayesian_default(TestIssue::ZeroVariance);
    }
    let prior = match prior.map(|p| rescale(p, difference, control.unadjusted_mean)) {
        // A relative prior cannot be put on an absolute scale around a zero control mean
        // (gbstats divides by zero there).
        Some(p) if !(p.variance > 0.0 && p.variance.is_finite()) => {
            return TestResult::bayesian_default(TestIssue::BaselineZeroOrNegative);
        }
        other => other,
    };

    let data_mean = lift::estimate(control, treatment, difference);
    let data_variance = lift::variance(control, treatment, difference);
    let (mean, stddev) = match prior {
        None => (data_mean, data_variance.sqrt()),
        Some(prior) => {
            let precision = 1.0 / data_variance + 1.0 / prior.variance;
            let mean = (data_mean / data_variance + prior.mean / prior.variance) / precision;
            (mean, (1.0 / precision).sqrt())
        }
    };

    let better = normal_cdf(mean / stddev);
    let chance_to_win = if inverse { 1.0 - better } else { better };
    let risk = expected_losses(mean, stddev);
    let risk = if inverse {
        Risk {
            control: risk.treatment,
            treatment: risk.control,
        }
    } else {
        risk
    };
    TestResult {
        expected: mean,
        ci: [
            mean + stddev * normal_quantile(alpha / 2.0),
            mean + stddev * normal_quantile(1.0 - alpha / 2.0),
        ],
        uplift: Uplift { mean, stddev },
        inference: Inference::Bayesian {
            chance_to_win,
            risk,
        },
        issue: None,
    }
}

/// Puts the prior on the test's scale: relative ↔ absolute is a factor of the control mean.
fn rescale(prior: EffectPrior, difference: DifferenceType, control_mean: f64) -> EffectPrior {
    let (mean, variance) = match (prior.scale, difference) {
        (DifferenceType::Absolute, DifferenceType::Relative) => (
            prior.mean / control_mean.abs(),
            prior.variance / (control_mean * control_mean),
        ),
        (DifferenceType::Relative, DifferenceType::Absolute) => (
            prior.mean * control_mean.abs(),
            prior.variance * control_mean * control_mean,
        ),
        _ => (prior.mean, prior.variance),
    };
    EffectPrior {
        mean,
        variance,
        scale: difference,
    }
}

/// For a lift X ~ N(μ, σ²): keeping control loses E[max(X, 0)], shipping treatment loses
/// E[max(−X, 0)]. Closed forms (μΦ(μ/σ) + σφ(μ/σ) and its mirror) equal gbstats'
/// probability × truncated-normal mean, without 0 × ∞ when a probability underflows.
fn expected_losses(mean: f64, stddev: f64) -> Risk {
    let z = mean / stddev;
    let density_term = stddev * normal_pdf(z);
    Risk {
        control: mean * normal_cdf(z) + density_term,
        treatment: -mean * normal_cdf(-z) + density_term,
    }
}
