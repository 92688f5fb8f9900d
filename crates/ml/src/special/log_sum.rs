//! Sums of exponentials in log space, for likelihoods that add probabilities too small to
//! hold as plain floats.

/// ln(eᵃ + eᵇ) without overflow.
pub(crate) fn log_add_exp(a: f64, b: f64) -> f64 {
    let high = a.max(b);
    if high == f64::NEG_INFINITY {
        return high;
    }
    // One exponential: the larger term's is e⁰ = 1.
    // ln(1 + e) rather than ln_1p: glibc's log1p costs several logarithms, and the absolute
    // error it would save (< 1e-16) is below that of `high` itself.
    high + (1.0 + (-(a - b).abs()).exp()).ln()
}

/// [`log_add_exp`] and the share eᵇ / (eᵃ + eᵇ) of its second term, the weight of b's
/// derivative in the sum's: from the same exponential.
pub(crate) fn log_add_exp_with_share(a: f64, b: f64) -> (f64, f64) {
    let high = a.max(b);
    if high == f64::NEG_INFINITY {
        return (high, 0.5);
    }
    let small = (-(a - b).abs()).exp();
    let sum = 1.0 + small;
    let share = if b > a { 1.0 / sum } else { small / sum };
    (high + sum.ln(), share)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(actual: f64, expected: f64, relative: f64) -> bool {
        (actual - expected).abs() <= relative * expected.abs().max(1e-300)
    }

    #[test]
    fn log_sums_do_not_overflow() {
        assert!(close(
            log_add_exp(1000.0, 1000.0),
            1000.0 + 2f64.ln(),
            1e-15
        ));
        assert_eq!(log_add_exp(f64::NEG_INFINITY, 3.0), 3.0);
    }
}
