//! The three distributions the tests read probabilities from: the standard normal (Bayesian
//! posteriors), Student's t (Welch's test) and chi-square (the sample-ratio-mismatch check).
//!
//! Each function works in the tail it is asked about (`*_survival` rather than `1 − cdf`) so
//! small p-values and chances to win near 0 or 1 keep their digits.

use std::f64::consts::{PI, SQRT_2};

use crate::special::{erfc, ln_gamma, regularized_incomplete_beta, regularized_upper_gamma};

/// Above this many degrees of freedom Student's t is the normal to within ~1e-8, and the
/// incomplete beta function would need many iterations for nothing.
const T_AS_NORMAL_DEGREES_OF_FREEDOM: f64 = 1e7;

/// Φ(x), the standard normal CDF.
pub fn normal_cdf(x: f64) -> f64 {
    0.5 * erfc(-x / SQRT_2)
}

/// φ(x), the standard normal density.
pub fn normal_pdf(x: f64) -> f64 {
    (-0.5 * x * x).exp() / (2.0 * PI).sqrt()
}

/// Φ⁻¹(p) for 0 < p < 1: Acklam's rational approximation (relative error 1.2e-9) polished
/// by one Halley step against [`normal_cdf`], which brings it to ~1e-15.
pub fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    const P_LOW: f64 = 0.024_25;

    if p <= 0.0 {
        return f64::NEG_INFINITY;
    }
    if p >= 1.0 {
        return f64::INFINITY;
    }
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    let x = if p < P_LOW {
        tail((-2.0 * p.ln()).sqrt())
    } else if p <= 1.0 - P_LOW {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    };
    let error = normal_cdf(x) - p;
    let u = error * (2.0 * PI).sqrt() * (0.5 * x * x).exp();
    x - u / (1.0 + 0.5 * x * u)
}

/// P(T > t) for Student's t with `degrees_of_freedom` > 0 (not necessarily an integer:
/// Welch's approximation gives fractional ones).
pub fn student_t_survival(t: f64, degrees_of_freedom: f64) -> f64 {
    if degrees_of_freedom > T_AS_NORMAL_DEGREES_OF_FREEDOM {
        return normal_cdf(-t);
    }
    let x = degrees_of_freedom / (degrees_of_freedom + t * t);
    let tail = 0.5 * regularized_incomplete_beta(degrees_of_freedom / 2.0, 0.5, x);
    if t >= 0.0 { tail } else { 1.0 - tail }
}

/// The density of Student's t.
fn student_t_pdf(t: f64, degrees_of_freedom: f64) -> f64 {
    let nu = degrees_of_freedom;
    let ln_norm = ln_gamma((nu + 1.0) / 2.0) - ln_gamma(nu / 2.0) - 0.5 * (nu * PI).ln();
    (ln_norm - (nu + 1.0) / 2.0 * (1.0 + t * t / nu).ln()).exp()
}

/// The p-quantile of Student's t, for 0 < p < 1.
///
/// Newton's method on the CDF, kept inside a bracket by bisection: the t quantile has no
/// closed form, and the bracket makes heavy tails (one or two degrees of freedom) safe.
pub fn student_t_quantile(p: f64, degrees_of_freedom: f64) -> f64 {
    if degrees_of_freedom > T_AS_NORMAL_DEGREES_OF_FREEDOM {
        return normal_quantile(p);
    }
    if p < 0.5 {
        return -student_t_quantile(1.0 - p, degrees_of_freedom);
    }
    if p == 0.5 {
        return 0.0;
    }
    // Work with the upper tail q = 1 − p, where the digits are.
    let target_tail = 1.0 - p;
    let mut low = 0.0;
    let mut high = normal_quantile(p).max(1.0);
    while student_t_survival(high, degrees_of_freedom) > target_tail {
        low = high;
        high *= 2.0;
        if !high.is_finite() {
            return f64::INFINITY;
        }
    }
    let mut x = normal_quantile(p).clamp(low, high);
    for _ in 0..200 {
        let excess = target_tail - student_t_survival(x, degrees_of_freedom);
        if excess > 0.0 {
            high = x;
        } else {
            low = x;
        }
        let newton = x - excess / student_t_pdf(x, degrees_of_freedom);
        let next = if newton > low && newton < high {
            newton
        } else {
            0.5 * (low + high)
        };
        if (next - x).abs() <= 1e-14 * x.abs().max(1.0) {
            return next;
        }
        x = next;
    }
    x
}

/// P(X > x) for chi-square with `degrees_of_freedom` > 0.
pub fn chi_square_survival(x: f64, degrees_of_freedom: f64) -> f64 {
    regularized_upper_gamma(degrees_of_freedom / 2.0, x / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Reference values from scipy.stats (norm, t, chi2), printed with 17 digits.
    fn assert_close(actual: f64, expected: f64, tolerance: f64) {
        assert!(
            (actual - expected).abs() <= tolerance * expected.abs().max(1.0),
            "{actual} != {expected}"
        );
    }

    #[test]
    fn normal_quantile_inverts_the_cdf_everywhere() {
        assert_close(normal_quantile(0.975), 1.959_963_984_540_054, 1e-13);
        assert_close(normal_quantile(0.5), 0.0, 1e-15);
        for p in [1e-12, 1e-6, 0.01, 0.3, 0.7, 0.99, 1.0 - 1e-9] {
            assert_close(normal_cdf(normal_quantile(p)), p, 1e-12);
        }
    }

    #[test]
    fn student_t_matches_tables() {
        // t.ppf(0.975, df) for df = 1, 5, 30 and a Welch-like fractional df.
        assert_close(
            student_t_quantile(0.975, 1.0),
            12.706_204_736_174_698,
            1e-11,
        );
        assert_close(student_t_quantile(0.975, 5.0), 2.570_581_835_636_314, 1e-12);
        assert_close(
            student_t_quantile(0.975, 30.0),
            2.042_272_456_301_238,
            1e-12,
        );
        assert_close(
            student_t_quantile(0.025, 30.0),
            -2.042_272_456_301_238,
            1e-12,
        );
        // For df = 1 (Cauchy), P(T > t) = 1/2 − atan(t)/π.
        for t in [-3.0, 0.5, 40.0] {
            let cauchy = 0.5 - f64::atan(t) / PI;
            assert_close(student_t_survival(t, 1.0), cauchy, 1e-13);
        }
        // Large df is the normal.
        assert_close(student_t_survival(1.5, 2e5), normal_cdf(-1.5), 1e-5);
    }

    #[test]
    fn chi_square_survival_matches_closed_forms() {
        // With 2 degrees of freedom, P(X > x) = e^(−x/2).
        assert_close(chi_square_survival(3.0, 2.0), (-1.5f64).exp(), 1e-13);
        // With 1 degree of freedom, P(X > z²) = 2Φ(−z).
        assert_close(
            chi_square_survival(1.96f64.powi(2), 1.0),
            2.0 * normal_cdf(-1.96),
            1e-12,
        );
    }
}
