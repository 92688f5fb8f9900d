//! The always-valid two-sided test (gbstats' `SequentialTwoSidedTTest`): asymptotic
//! confidence sequences from Waudby-Smith et al., "Time-uniform central limit theory and
//! asymptotic confidence sequences" (2023, arXiv:2103.06476v7), eqs. 9, 155 and 161.
//! Results may be read after every visitor without inflating the false-positive rate; the
//! price is wider intervals than the fixed-horizon test.

use super::DifferenceType;
use super::frequentist::frequentist_issue;
use super::lift;
use super::result::{Inference, TestResult, Uplift};
use super::statistic::ArmMoments;

pub(crate) fn sequential_test(
    control: &ArmMoments,
    treatment: &ArmMoments,
    difference: DifferenceType,
    alpha: f64,
    tuning_parameter: f64,
) -> TestResult {
    if let Some(issue) = frequentist_issue(control, treatment, difference) {
        return TestResult::frequentist_default(issue);
    }
    let estimate = lift::estimate(control, treatment, difference);
    let variance = lift::variance(control, treatment, difference);
    let total_units = (control.n + treatment.n) as f64;
    let rho = mixing_parameter(alpha, tuning_parameter);
    let rho_squared_n_plus_one = total_units * rho * rho + 1.0;

    // Eq. 9: the half-width of the confidence sequence.
    let half_width = (variance * total_units).sqrt()
        * (2.0 * rho_squared_n_plus_one * (rho_squared_n_plus_one.sqrt() / alpha).ln()
            / (total_units * rho).powi(2))
        .sqrt();

    // Eq. 155: p = min(1, 1/e-value), computed in logs so a huge e-value gives 0, not inf.
    let standardized_squared = estimate * estimate * total_units / variance;
    let ln_e_value = rho * rho * standardized_squared / (2.0 * rho_squared_n_plus_one)
        - 0.5 * rho_squared_n_plus_one.ln();
    let p_value = (-ln_e_value).exp().min(1.0);

    TestResult {
        expected: estimate,
        ci: [estimate - half_width, estimate + half_width],
        uplift: Uplift {
            mean: estimate,
            stddev: variance.sqrt(),
        },
        inference: Inference::PValue(p_value),
        issue: None,
    }
}

/// Eq. 161: ρ chosen so the sequence is tightest at `tuning_parameter` total units.
fn mixing_parameter(alpha: f64, tuning_parameter: f64) -> f64 {
    let ln_alpha = alpha.ln();
    ((-2.0 * ln_alpha + (-2.0 * ln_alpha + 1.0).ln()) / tuning_parameter).sqrt()
}
