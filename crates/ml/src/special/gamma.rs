//! ln Γ and its derivative ψ, and their tables along integer steps, which the likelihoods
//! read at every row.

use std::f64::consts::PI;

/// Lanczos approximation (g = 7, 9 terms), the one used by many numeric libraries.
const LANCZOS_G: f64 = 7.0;
const LANCZOS: [f64; 9] = [
    0.999_999_999_999_809_9,
    676.520_368_121_885_1,
    -1_259.139_216_722_402_8,
    771.323_428_777_653_1,
    -176.615_029_162_140_6,
    12.507_343_278_686_905,
    -0.138_571_095_265_720_12,
    9.984_369_578_019_572e-6,
    1.505_632_735_149_311_6e-7,
];

/// ln |Γ(x)|: the Lanczos approximation (relative error ≈ 1e-15) for x ≥ ½, the reflection
/// formula below, so small shape parameters stay accurate. Negative non-integer x give
/// ln |Γ(x)|, which Pareto/NBD's connection formula needs.
pub(crate) fn ln_gamma(x: f64) -> f64 {
    if x < 0.5 {
        // Γ(x) Γ(1 − x) = π / sin(πx)
        return (PI / (PI * x).sin()).abs().ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut sum = LANCZOS[0];
    for (i, c) in LANCZOS.iter().enumerate().skip(1) {
        sum += c / (x + i as f64);
    }
    let t = x + LANCZOS_G + 0.5;
    0.5 * (2.0 * PI).ln() + (x + 0.5) * t.ln() - t + sum.ln()
}

/// ln Γ(base + k) for k = 0..=max_k by the recurrence Γ(x + 1) = x Γ(x): one logarithm per
/// entry instead of a Lanczos sum, since the likelihoods need ln Γ(r + x) for integer counts x
/// at every row of every evaluation.
pub(crate) fn ln_gamma_steps(base: f64, max_k: usize) -> Vec<f64> {
    let mut table = Vec::with_capacity(max_k + 1);
    let mut value = ln_gamma(base);
    for k in 0..=max_k {
        table.push(value);
        value += (base + k as f64).ln();
    }
    table
}

/// The digamma function ψ(x) = d ln Γ(x)/dx for x > 0: the recurrence ψ(x) = ψ(x + 1) − 1/x
/// up to x ≥ 10, then the asymptotic series (truncation error < 1e-15 there).
pub(crate) fn digamma(mut x: f64) -> f64 {
    let mut shift = 0.0;
    while x < 10.0 {
        shift -= 1.0 / x;
        x += 1.0;
    }
    let inverse_square = 1.0 / (x * x);
    // ln x − 1/(2x) − Σ B₂ₖ/(2k x²ᵏ), k = 1..6
    let series = inverse_square
        * (1.0 / 12.0
            - inverse_square
                * (1.0 / 120.0
                    - inverse_square
                        * (1.0 / 252.0
                            - inverse_square
                                * (1.0 / 240.0
                                    - inverse_square
                                        * (1.0 / 132.0 - inverse_square * 691.0 / 32_760.0)))));
    shift + x.ln() - 0.5 / x - series
}

/// ψ(base + k) for k = 0..=max_k by the recurrence ψ(x + 1) = ψ(x) + 1/x, like
/// [`ln_gamma_steps`] for the gradients.
pub(crate) fn digamma_steps(base: f64, max_k: usize) -> Vec<f64> {
    let mut table = Vec::with_capacity(max_k + 1);
    let mut value = digamma(base);
    for k in 0..=max_k {
        table.push(value);
        value += 1.0 / (base + k as f64);
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(actual: f64, expected: f64, relative: f64) -> bool {
        (actual - expected).abs() <= relative * expected.abs().max(1e-300)
    }

    fn assert_close(actual: f64, expected: f64, tolerance: f64) {
        assert!(
            (actual - expected).abs() <= tolerance * expected.abs().max(1.0),
            "{actual} != {expected}"
        );
    }

    #[test]
    fn ln_gamma_matches_known_values() {
        // Γ(1) = Γ(2) = 1, Γ(0.5) = √π, Γ(10) = 9!, Γ(0.1) (tabulated).
        assert!(ln_gamma(1.0).abs() < 1e-14);
        assert!(ln_gamma(2.0).abs() < 1e-14);
        assert!(close(ln_gamma(0.5), PI.sqrt().ln(), 1e-14));
        assert!(close(ln_gamma(10.0), 362_880f64.ln(), 1e-14));
        assert!(close(ln_gamma(0.1), 9.513_507_698_668_732f64.ln(), 1e-13));
        // scipy.special.gammaln(1000.5)
        assert!(close(ln_gamma(1000.5), 5_908.674_175_848_678, 1e-13));
    }

    #[test]
    fn ln_gamma_matches_factorials_and_half_integers() {
        assert_close(ln_gamma(1.0), 0.0, 1e-14);
        assert_close(ln_gamma(5.0), 24f64.ln(), 1e-14);
        assert_close(ln_gamma(0.5), PI.sqrt().ln(), 1e-14);
        assert_close(ln_gamma(101.0), 363.739_375_555_563_47, 1e-14);
    }

    #[test]
    fn ln_gamma_steps_follow_ln_gamma() {
        let table = ln_gamma_steps(0.2426, 200);
        for (k, value) in table.iter().enumerate() {
            assert!(close(*value, ln_gamma(0.2426 + k as f64), 1e-12), "k = {k}");
        }
    }

    #[test]
    fn digamma_matches_known_values() {
        // ψ(1) = −γ, ψ(½) = −γ − 2 ln 2, ψ(10) = H₉ − γ; scipy.special.digamma(0.2426).
        let euler = 0.577_215_664_901_532_9;
        assert!(close(digamma(1.0), -euler, 1e-14));
        assert!(close(digamma(0.5), -euler - 2.0 * 2f64.ln(), 1e-14));
        let harmonic_9: f64 = (1..=9).map(|k| 1.0 / f64::from(k)).sum();
        assert!(close(digamma(10.0), harmonic_9 - euler, 1e-14));
        assert!(close(digamma(0.2426), -4.358_361_853_222_514, 1e-13));
        let table = digamma_steps(0.2426, 50);
        for (k, value) in table.iter().enumerate() {
            assert!(close(*value, digamma(0.2426 + k as f64), 1e-13), "k = {k}");
        }
    }
}
