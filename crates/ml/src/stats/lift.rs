//! The lift estimate and its variance, shared by every test: the difference of means, and
//! for relative lifts the delta-method variance of (b − a)/a.

use super::DifferenceType;
use super::statistic::ArmMoments;

/// The estimated lift. Relative lifts divide by the *unadjusted* control mean, so CUPED
/// changes the estimate's noise but not its scale (as gbstats' `frequentist_diff`).
pub(crate) fn estimate(
    control: &ArmMoments,
    treatment: &ArmMoments,
    difference: DifferenceType,
) -> f64 {
    let delta = treatment.mean - control.mean;
    match difference {
        DifferenceType::Relative => delta / control.unadjusted_mean,
        DifferenceType::Absolute => delta,
    }
}

/// The variance of [`estimate`]. For relative lifts, the delta method on
/// g(a, b) = b/a − 1: Var ≈ σ_b²/(a² n_b) + σ_a² b²/(a⁴ n_a).
pub(crate) fn variance(
    control: &ArmMoments,
    treatment: &ArmMoments,
    difference: DifferenceType,
) -> f64 {
    let n_a = control.n as f64;
    let n_b = treatment.n as f64;
    match difference {
        DifferenceType::Relative => {
            let a = control.unadjusted_mean;
            let b = treatment.unadjusted_mean;
            treatment.variance / (a * a * n_b) + control.variance * b * b / (a.powi(4) * n_a)
        }
        DifferenceType::Absolute => treatment.variance / n_b + control.variance / n_a,
    }
}

/// A relative lift needs a positive control mean; every test needs a non-zero one (gbstats
/// refuses a zero control mean even for absolute lifts in its frequentist tests).
pub(crate) fn baseline_unusable(control: &ArmMoments, difference: DifferenceType) -> bool {
    control.mean == 0.0
        || control.unadjusted_mean == 0.0
        || (difference == DifferenceType::Relative && control.unadjusted_mean < 0.0)
}
