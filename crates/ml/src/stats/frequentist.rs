//! The fixed-horizon two-sided Welch t-test (gbstats' `TwoSidedTTest`): unequal variances,
//! Welch–Satterthwaite degrees of freedom, intervals on the relative or absolute lift.

use super::DifferenceType;
use super::distributions::{student_t_quantile, student_t_survival};
use super::lift;
use super::result::{Inference, TestIssue, TestResult, Uplift};
use super::statistic::ArmMoments;

pub(crate) fn welch_t_test(
    control: &ArmMoments,
    treatment: &ArmMoments,
    difference: DifferenceType,
    alpha: f64,
) -> TestResult {
    if let Some(issue) = frequentist_issue(control, treatment, difference) {
        return TestResult::frequentist_default(issue);
    }
    let estimate = lift::estimate(control, treatment, difference);
    let stddev = lift::variance(control, treatment, difference).sqrt();
    let degrees_of_freedom = welch_degrees_of_freedom(control, treatment);
    let t = estimate / stddev;
    let p_value = 2.0 * student_t_survival(t.abs(), degrees_of_freedom);
    let half_width = student_t_quantile(1.0 - alpha / 2.0, degrees_of_freedom) * stddev;
    TestResult {
        expected: estimate,
        ci: [estimate - half_width, estimate + half_width],
        uplift: Uplift {
            mean: estimate,
            stddev,
        },
        inference: Inference::PValue(p_value),
        issue: None,
    }
}

/// The checks gbstats' frequentist tests make before computing, in its order. An arm
/// without units has zero variance, so it is reported as such.
pub(crate) fn frequentist_issue(
    control: &ArmMoments,
    treatment: &ArmMoments,
    difference: DifferenceType,
) -> Option<TestIssue> {
    if lift::baseline_unusable(control, difference) {
        Some(TestIssue::BaselineZeroOrNegative)
    } else if control.has_zero_variance() || treatment.has_zero_variance() {
        Some(TestIssue::ZeroVariance)
    } else {
        None
    }
}

/// Welch–Satterthwaite. Both arms have ≥ 2 units here: fewer means zero variance, which
/// [`frequentist_issue`] has already turned away.
fn welch_degrees_of_freedom(control: &ArmMoments, treatment: &ArmMoments) -> f64 {
    let per_arm = |arm: &ArmMoments| {
        let n = arm.n as f64;
        (
            arm.variance / n,
            arm.variance * arm.variance / (n * n * (n - 1.0)),
        )
    };
    let (a, a_denominator) = per_arm(control);
    let (b, b_denominator) = per_arm(treatment);
    (a + b).powi(2) / (a_denominator + b_denominator)
}
