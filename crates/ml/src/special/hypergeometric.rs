//! The Gauss hypergeometric function ₂F₁ on [0, 1) by its power series, and the form
//! ₂F₁(a, b; a + 1; z) of Pareto/NBD's likelihood with its parameter derivatives and a
//! connection formula for z near 1.

use super::gamma::ln_gamma;

/// Largest argument the power series is trusted with: at 0.99 it needs ~4,000 terms. The
/// likelihoods' arguments near a sensible optimum stay far below (CDNOW's are ≤ 0.25); beyond
/// it Pareto/NBD's form uses a 1 − z transformation ([`hyp2f1_shifted`]), and the general
/// function returns NaN, which bounds the cost of an optimizer exploring degenerate
/// parameters.
const MAX_ARGUMENT: f64 = 0.99;
/// Most series terms ₂F₁ may sum before giving up (enough for z ≤ [`MAX_ARGUMENT`]).
const MAX_SERIES_TERMS: usize = 6_000;

/// The Gauss hypergeometric function ₂F₁(a, b; c; z) for 0 ≤ z < 1 by its power series, which
/// every call in these models can use: their arguments keep z in [0, 1) and, in the
/// likelihoods, a, b, c > 0 so all terms are positive and nothing cancels. Returns NaN outside
/// that domain or if the series has not converged after [`MAX_SERIES_TERMS`] terms, so the
/// optimizer treats the point as infeasible instead of trusting a wrong value.
pub(crate) fn hyp2f1(a: f64, b: f64, c: f64, z: f64) -> f64 {
    if !(0.0..=MAX_ARGUMENT).contains(&z) || c <= 0.0 && c.fract() == 0.0 {
        return f64::NAN;
    }
    let positive = a > 0.0 && b > 0.0 && c > 0.0;
    let mut term = 1.0;
    let mut sum = 1.0;
    for n in 0..MAX_SERIES_TERMS {
        let n = n as f64;
        term *= (a + n) * (b + n) / ((c + n) * (n + 1.0)) * z;
        sum += term;
        // Stop at a negligible term only once the rest cannot add up to more: once terms
        // shrink geometrically (n past a, b, c) or, with positive a, b, c, as soon as
        // `tail_ratio` ≤ ½ — each later term is the previous one times z (a+m)/(c+m) (b+m)/(m+1),
        // m > n, both fractions moving monotonically towards 1, so it bounds every later step
        // and the tail is at most the current term. For a customer with x purchases the first
        // rule waits until n > 2x + 5 although the small z of the likelihoods has long made the
        // terms negligible.
        // With every later ratio at most ρ < 1 the tail is at most term · ρ / (1 − ρ).
        let settled = if positive {
            let rho = tail_ratio(a, b, c, z, n + 1.0);
            rho < 1.0 && term.abs() * rho / (1.0 - rho) <= 1e-17 * sum.abs()
        } else {
            false
        };
        if settled || term.abs() <= 1e-17 * sum.abs() && n > (a.abs() + b.abs() + c.abs()) {
            return sum;
        }
        if !sum.is_finite() {
            return f64::NAN;
        }
    }
    f64::NAN
}

/// ₂F₁(a, b; a + 1; z), the form in Pareto/NBD's likelihood, for a, b > 0 and 0 ≤ z < 1: the
/// power series up to [`MAX_ARGUMENT`], beyond it (where the series would need thousands of
/// terms) the 1 − z connection formula, which for c = a + 1 reduces to
/// Γ(a+1) Γ(1−b)/Γ(a+1−b) · z^−a + a/(b−1) · (1−z)^(1−b) · ₂F₁(1, a+1−b; 2−b; 1−z)
/// (DLMF 15.8.4 with ₂F₁(a, b; b; 1−z) = z^−a): one short series of argument 1 − z. At an
/// integer b ≥ 1 both terms have poles that cancel; within [`NEAR_INTEGER`] of one the value
/// is interpolated between b = k ± [`NEAR_INTEGER`] (error ~1e-9 relative).
pub(crate) fn hyp2f1_shifted(a: f64, b: f64, z: f64) -> f64 {
    if z <= MAX_ARGUMENT || z.is_nan() {
        return hyp2f1(a, b, a + 1.0, z);
    }
    if z >= 1.0 || a <= 0.0 || b <= 0.0 {
        return f64::NAN;
    }
    let nearest = b.round();
    if nearest >= 1.0 && (b - nearest).abs() < NEAR_INTEGER {
        let (low, high) = (nearest - NEAR_INTEGER, nearest + NEAR_INTEGER);
        let (at_low, at_high) = (shifted_near_one(a, low, z), shifted_near_one(a, high, z));
        return at_low + (b - low) / (high - low) * (at_high - at_low);
    }
    shifted_near_one(a, b, z)
}

/// How close to an integer b may come before [`hyp2f1_shifted`] interpolates: the two terms
/// of the connection formula grow like 1/|b − k| and cancel, losing ~1e-16/|b − k|.
const NEAR_INTEGER: f64 = 1e-5;

/// The connection formula of [`hyp2f1_shifted`] (b not an integer; a + 1 − b > 0 in every use,
/// since a = r + s + x there).
fn shifted_near_one(a: f64, b: f64, z: f64) -> f64 {
    let w = 1.0 - z;
    let one_minus_b = 1.0 - b;
    // ln |Γ(1 − b)| (ln_gamma reflects below ½); Γ has the sign of sin(π(1 − b)) there.
    let sign = if one_minus_b > 0.0 {
        1.0
    } else {
        (std::f64::consts::PI * one_minus_b).sin().signum()
    };
    let first = sign
        * (ln_gamma(a + 1.0) - ln_gamma(a + 1.0 - b) + ln_gamma(one_minus_b) - a * z.ln()).exp();
    let second = a / (b - 1.0) * w.powf(one_minus_b) * hyp2f1(1.0, a + 1.0 - b, 2.0 - b, w);
    first + second
}

/// ₂F₁(a, b; a + 1; z) — the form in Pareto/NBD's likelihood — with its derivatives with
/// respect to a (c = a + 1 moving with it), b and z, as `[F, ∂F/∂a, ∂F/∂b, ∂F/∂z]`, for
/// a, b > 0 and 0 ≤ z ≤ [`MAX_ARGUMENT`] (NaN otherwise). The n-th series term
/// tₙ = a/(a + n) · (b)ₙ/n! · zⁿ has ∂ ln tₙ/∂a = n/(a(a + n)), ∂ ln tₙ/∂b = Σ_{k<n} 1/(b + k)
/// and ∂tₙ/∂z = n tₙ/z, so the four series are summed together, stopping where [`hyp2f1`]
/// does.
pub(crate) fn hyp2f1_shifted_with_derivatives(a: f64, b: f64, z: f64) -> [f64; 4] {
    if z > MAX_ARGUMENT {
        // The value by the connection formula, without derivatives: a fit that gets here
        // continues with Nelder–Mead, which needs only values.
        return [hyp2f1_shifted(a, b, z), f64::NAN, f64::NAN, f64::NAN];
    }
    if !(0.0..=MAX_ARGUMENT).contains(&z) || a <= 0.0 || b <= 0.0 {
        return [f64::NAN; 4];
    }
    let c = a + 1.0;
    let (mut term, mut sum) = (1.0, 1.0);
    let (mut by_a, mut by_b, mut by_z) = (0.0, 0.0, 0.0);
    // tₙ / z, so that z = 0 needs no division; and Σ_{k<n} 1/(b + k).
    let mut term_over_z = 1.0;
    let mut harmonic_b = 0.0;
    for n in 0..MAX_SERIES_TERMS {
        let n = n as f64;
        let ratio = (a + n) * (b + n) / ((c + n) * (n + 1.0));
        term_over_z = if n == 0.0 {
            ratio
        } else {
            term_over_z * ratio * z
        };
        term *= ratio * z;
        let m = n + 1.0;
        harmonic_b += 1.0 / (b + n);
        sum += term;
        by_a += term * m / (a * (a + m));
        by_b += term * harmonic_b;
        by_z += m * term_over_z;
        if term <= 1e-17 * sum && (tail_ratio(a, b, c, z, m) <= 0.5 || n > a + b + c) {
            return [sum, by_a, by_b, by_z];
        }
        if !sum.is_finite() {
            break;
        }
    }
    [f64::NAN; 4]
}

/// An upper bound on the ratio of consecutive ₂F₁ series terms from term m on (a, b, c > 0):
/// the ratio is z (a+m)(b+m) / ((c+m)(m+1)), and either pairing of the fractions bounds it;
/// the tighter one matters when b is huge (BG/NBD fits where a, b → ∞ with a/b fixed).
fn tail_ratio(a: f64, b: f64, c: f64, z: f64, m: f64) -> f64 {
    let bound = |p: f64, q: f64| z * ((p + m) / (c + m)).max(1.0) * ((q + m) / (m + 1.0)).max(1.0);
    bound(a, b).min(bound(b, a))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(actual: f64, expected: f64, relative: f64) -> bool {
        (actual - expected).abs() <= relative * expected.abs().max(1e-300)
    }

    #[test]
    fn hyp2f1_converges_when_b_and_c_are_huge_and_nearly_equal() {
        // ₂F₁(a, b; b; z) = (1 − z)^(−a); the term ratio tends to z (a+n)/(n+1) > z, so the
        // tail bound never drops to ½ at z > ½ although the series converges.
        let (a, b, z): (f64, f64, f64) = (1.697, 1_384_822.7, 0.75);
        let value = hyp2f1(a, b, b - 1e-6, z);
        let exact = (1.0 - z).powf(-a);
        assert!((value / exact - 1.0).abs() < 1e-9, "{value} vs {exact}");
    }

    #[test]
    fn hyp2f1_converges_with_a_huge_second_parameter() {
        // ₂F₁(a, b; c; z) → (1 − z b/c)^(−a) as b, c → ∞ with b/c fixed.
        let (a, b, c, z): (f64, f64, f64, f64) = (0.67, 1.0e6, 2.0e6, 0.3);
        let limit = (1.0 - z * b / c).powf(-a);
        let value = hyp2f1(a, b, c, z);
        assert!((value - limit).abs() < 1e-5, "{value} vs {limit}");
    }

    #[test]
    fn hyp2f1_matches_closed_forms() {
        // ₂F₁(1, 1; 2; z) = −ln(1 − z)/z and ₂F₁(a, b; b; z) = (1 − z)^(−a).
        for z in [0.0, 0.1, 0.5, 0.9, 0.99] {
            let expected = if z == 0.0 {
                1.0
            } else {
                -(1.0_f64 - z).ln() / z
            };
            assert!(close(hyp2f1(1.0, 1.0, 2.0, z), expected, 1e-13), "z = {z}");
            assert!(close(
                hyp2f1(0.7, 3.2, 3.2, z),
                (1.0_f64 - z).powf(-0.7),
                1e-13
            ));
        }
        // scipy.special.hyp2f1(1.5533, 1.6062, 2.5533, 0.3) (scipy 1.11.4).
        assert!(close(
            hyp2f1(1.5533, 1.6062, 2.5533, 0.3),
            1.407_848_166_223_123_5,
            1e-13
        ));
        assert!(hyp2f1(1.0, 1.0, 2.0, 1.0).is_nan());
        assert!(
            hyp2f1(1.0, 1.0, 2.0, 0.995).is_nan(),
            "beyond the trusted range"
        );
        assert!(hyp2f1(1.0, 1.0, 2.0, -0.1).is_nan());
    }

    #[test]
    fn hyp2f1_shifted_goes_past_the_series_limit() {
        // mpmath.hyp2f1(a, b, a + 1, z) at 40 digits.
        for (a, b, z, expected) in [
            (1.6, 1.52, 0.995, 43.597_864_439_989_17),
            (30.4, 1.52, 0.9999, 6_442.027_850_214_285_8),
            (0.6, 0.6, 0.999, 1.888_438_466_812_147_7),
            (1.6, 2.0, 0.995, 315.550_322_490_550_96),
            (1.6, 2.000_001, 0.995, 315.551_696_839_465_23),
            (5.3, 3.7, 0.99999, 62_073_389_932_373.414),
            (0.9, 1.000_003, 0.9995, 7.003_937_540_727_269),
        ] {
            let value = hyp2f1_shifted(a, b, z);
            assert!(close(value, expected, 1e-8), "({a}, {b}, {z}): {value}");
        }
        // Where both apply, the transformation agrees with the series.
        assert!(close(
            shifted_near_one(1.6, 1.52, 0.98),
            19.157_230_403_432_027,
            1e-12
        ));
        assert!(close(
            hyp2f1_shifted(1.6, 1.52, 0.98),
            19.157_230_403_432_027,
            1e-13
        ));
        assert!(hyp2f1_shifted(1.6, 1.52, 1.0).is_nan());
        let [value, by_a, ..] = hyp2f1_shifted_with_derivatives(1.6, 1.52, 0.995);
        assert!(close(value, 43.597_864_439_989_17, 1e-8) && by_a.is_nan());
    }

    #[test]
    fn hyp2f1_derivatives_match_differences() {
        for (a, b, z) in [
            (1.6, 1.5, 0.24),
            (30.4, 1.5, 0.07),
            (0.9, 12.3, 0.5),
            (2.0, 0.7, 0.0),
        ] {
            let [value, by_a, by_b, by_z] = hyp2f1_shifted_with_derivatives(a, b, z);
            assert!(close(value, hyp2f1(a, b, a + 1.0, z), 1e-14));
            let h = 1e-6;
            let at = |a: f64, b: f64, z: f64| hyp2f1(a, b, a + 1.0, z);
            let numerical = [
                (at(a + h, b, z) - at(a - h, b, z)) / (2.0 * h),
                (at(a, b + h, z) - at(a, b - h, z)) / (2.0 * h),
                if z == 0.0 {
                    a * b / (a + 1.0) // the first term's coefficient
                } else {
                    (at(a, b, z + h) - at(a, b, z - h)) / (2.0 * h)
                },
            ];
            for (analytic, numerical) in [by_a, by_b, by_z].iter().zip(numerical) {
                assert!(
                    (analytic - numerical).abs() <= 1e-7 * numerical.abs().max(1.0),
                    "({a}, {b}, {z}): {analytic} vs {numerical}"
                );
            }
        }
    }
}
