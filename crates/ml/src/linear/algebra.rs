//! Dense linear algebra on the few dozen dimensions the models here have: dot products,
//! matrix–vector products and the Cholesky factorization of symmetric positive definite
//! matrices with its solves. Matrices are row-major `n × n` slices.
//!
//! Hand-written to keep `tailor-ml` free of dependencies; the sizes (a Newton step over tens
//! of features, a LinUCB arm's ridge regression) do not need blocking or SIMD.

/// a · b over the shorter of the two.
pub(crate) fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The `n × n` identity matrix.
pub(crate) fn identity(n: usize) -> Vec<f64> {
    (0..n * n)
        .map(|k| if k / n == k % n { 1.0 } else { 0.0 })
        .collect()
}

/// M x for a row-major `n × n` matrix M, n = `x.len()`.
pub(crate) fn matrix_vector(matrix: &[f64], x: &[f64]) -> Vec<f64> {
    let n = x.len();
    (0..n)
        .map(|i| dot(&matrix[i * n..(i + 1) * n], x))
        .collect()
}

/// The Cholesky factor L of a symmetric positive definite A = L Lᵀ (lower triangle, row-major
/// `n × n`; the upper triangle is zero).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Cholesky {
    lower: Vec<f64>,
    n: usize,
}

impl Cholesky {
    /// Factors A, reading only its lower triangle (so a caller may fill just that half).
    /// `None` when A is not positive definite, or not finite.
    pub(crate) fn factor(a: &[f64], n: usize) -> Option<Self> {
        let mut lower = vec![0.0; n * n];
        for j in 0..n {
            let mut diagonal = a[j * n + j];
            for k in 0..j {
                diagonal -= lower[j * n + k] * lower[j * n + k];
            }
            if diagonal <= 0.0 || !diagonal.is_finite() {
                return None;
            }
            let diagonal = diagonal.sqrt();
            lower[j * n + j] = diagonal;
            for i in j + 1..n {
                let mut value = a[i * n + j];
                for k in 0..j {
                    value -= lower[i * n + k] * lower[j * n + k];
                }
                lower[i * n + j] = value / diagonal;
            }
        }
        Some(Self { lower, n })
    }

    /// Solves A x = b: L y = b, then Lᵀ x = y.
    pub(crate) fn solve(&self, b: &[f64]) -> Vec<f64> {
        let (l, n) = (&self.lower, self.n);
        let mut x = b.to_vec();
        for i in 0..n {
            for k in 0..i {
                x[i] -= l[i * n + k] * x[k];
            }
            x[i] /= l[i * n + i];
        }
        for i in (0..n).rev() {
            for k in i + 1..n {
                x[i] -= l[k * n + i] * x[k];
            }
            x[i] /= l[i * n + i];
        }
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cholesky_solves_a_known_system() {
        // A = [[4, 2, 0], [2, 5, 1], [0, 1, 3]] (its upper triangle deliberately wrong: only
        // the lower one is read); A x = b for x = (1, −2, 3).
        let a = [4.0, 99.0, 99.0, 2.0, 5.0, 99.0, 0.0, 1.0, 3.0];
        let b = [0.0, -5.0, 7.0];
        let x = Cholesky::factor(&a, 3)
            .expect("positive definite")
            .solve(&b);
        for (value, expected) in x.iter().zip([1.0, -2.0, 3.0]) {
            assert!((value - expected).abs() < 1e-14, "{x:?}");
        }
    }

    #[test]
    fn cholesky_refuses_what_is_not_positive_definite() {
        assert!(Cholesky::factor(&[1.0, 0.0, 2.0, 1.0], 2).is_none());
        assert!(Cholesky::factor(&[f64::NAN], 1).is_none());
        assert!(Cholesky::factor(&[0.0], 1).is_none());
    }

    #[test]
    fn products_follow_their_definitions() {
        assert_eq!(dot(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0]), 32.0);
        assert_eq!(identity(2), vec![1.0, 0.0, 0.0, 1.0]);
        assert_eq!(
            matrix_vector(&[1.0, 2.0, 3.0, 4.0], &[1.0, -1.0]),
            vec![-1.0, -1.0]
        );
    }
}
