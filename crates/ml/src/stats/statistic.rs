//! What an arm of an experiment measured, as sufficient statistics ([`Statistic`]), and the
//! mean and variance each kind implies — gbstats' `ProportionStatistic`,
//! `SampleMeanStatistic`, `RatioStatistic` and `RegressionAdjustedStatistic`.
//!
//! Sums rather than raw values: the engine keeps running sums per arm, and sums merge across
//! nodes and days. Which statistic fits which metric:
//! - conversion rate, retention within 7 or 30 days: [`Statistic::proportion`];
//! - revenue per visitor, predicted CLV: [`Statistic::sample_mean`] (values may be negative,
//!   e.g. net revenue after refunds; only the relative lift needs a positive baseline);
//! - average order value (revenue / orders, per visitor): [`Statistic::Ratio`], delta method;
//! - any of the above with CUPED: [`Statistic::RegressionAdjusted`] with the same metric
//!   measured before exposure.

use super::StatsError;

/// Sums of one per-unit value over the units of an arm (the unit count lives in the
/// [`Statistic`], so the parts of a ratio or CUPED statistic cannot disagree about it).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum UnitSums {
    /// A 0/1 value per unit (converted, retained); `sum` counts the ones. The variance is
    /// p(1 − p), so no sum of squares is needed.
    Binomial { sum: f64 },
    /// Any real value per unit (revenue, order count, predicted CLV).
    Continuous { sum: f64, sum_squares: f64 },
}

impl UnitSums {
    pub fn sum(&self) -> f64 {
        match *self {
            Self::Binomial { sum } | Self::Continuous { sum, .. } => sum,
        }
    }

    fn mean(&self, n: u64) -> f64 {
        if n == 0 { 0.0 } else { self.sum() / n as f64 }
    }

    /// The sample variance (n − 1 denominator) for continuous values, p(1 − p) for binomial
    /// ones, as gbstats computes them.
    fn variance(&self, n: u64) -> f64 {
        match *self {
            Self::Binomial { .. } => {
                let p = self.mean(n);
                p * (1.0 - p)
            }
            Self::Continuous { sum, sum_squares } => {
                if n <= 1 {
                    return 0.0;
                }
                let n = n as f64;
                (sum_squares - sum * sum / n) / (n - 1.0)
            }
        }
    }

    /// Both arms pooled, for CUPED's θ.
    fn pooled(&self, other: &Self) -> Result<Self, StatsError> {
        match (*self, *other) {
            (Self::Binomial { sum: a }, Self::Binomial { sum: b }) => {
                Ok(Self::Binomial { sum: a + b })
            }
            (
                Self::Continuous {
                    sum: a,
                    sum_squares: a2,
                },
                Self::Continuous {
                    sum: b,
                    sum_squares: b2,
                },
            ) => Ok(Self::Continuous {
                sum: a + b,
                sum_squares: a2 + b2,
            }),
            _ => Err(StatsError::MismatchedStatistics),
        }
    }

    fn same_kind(&self, other: &Self) -> bool {
        matches!(
            (self, other),
            (Self::Binomial { .. }, Self::Binomial { .. })
                | (Self::Continuous { .. }, Self::Continuous { .. })
        )
    }

    fn validate(&self, n: u64, field: &'static str) -> Result<(), StatsError> {
        match *self {
            Self::Binomial { sum } => {
                finite(sum, field)?;
                if sum < 0.0 || sum > n as f64 {
                    return Err(StatsError::BinomialSumOutOfRange { sum, n });
                }
            }
            Self::Continuous { sum, sum_squares } => {
                finite(sum, field)?;
                finite(sum_squares, field)?;
                // Cauchy–Schwarz: n·Σx² ≥ (Σx)². Allow rounding in sums built by adding floats.
                let slack = 1e-9 * sum_squares.abs().max(1.0);
                let impossible = if n == 0 {
                    sum != 0.0 || sum_squares != 0.0
                } else {
                    let n = n as f64;
                    sum_squares < 0.0 || (sum_squares + slack) * n < sum * sum
                };
                if impossible {
                    return Err(StatsError::InconsistentSums { field });
                }
            }
        }
        Ok(())
    }
}

/// What one arm measured for one metric.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Statistic {
    /// The mean of a per-unit value over `n` units.
    Mean { n: u64, value: UnitSums },
    /// Σnumerator / Σdenominator over `n` units (e.g. revenue / orders = AOV), with the
    /// delta-method variance; `sum_of_products` is Σ(numerator·denominator) per unit.
    Ratio {
        n: u64,
        numerator: UnitSums,
        denominator: UnitSums,
        sum_of_products: f64,
    },
    /// CUPED: the `post`-exposure metric adjusted by the same metric before exposure (`pre`);
    /// `sum_of_products` is Σ(post·pre) per unit. θ is estimated from both arms pooled.
    RegressionAdjusted {
        n: u64,
        post: UnitSums,
        pre: UnitSums,
        sum_of_products: f64,
    },
}

impl Statistic {
    /// A conversion-style rate: `conversions` of `n` units.
    pub fn proportion(n: u64, conversions: f64) -> Self {
        Self::Mean {
            n,
            value: UnitSums::Binomial { sum: conversions },
        }
    }

    /// The mean of a real-valued per-unit metric from its sum and sum of squares.
    pub fn sample_mean(n: u64, sum: f64, sum_squares: f64) -> Self {
        Self::Mean {
            n,
            value: UnitSums::Continuous { sum, sum_squares },
        }
    }

    /// The number of units (visitors) in the arm.
    pub fn units(&self) -> u64 {
        match *self {
            Self::Mean { n, .. } | Self::Ratio { n, .. } | Self::RegressionAdjusted { n, .. } => n,
        }
    }

    pub(crate) fn validate(&self) -> Result<(), StatsError> {
        match self {
            Self::Mean { n, value } => value.validate(*n, "value sums"),
            Self::Ratio {
                n,
                numerator,
                denominator,
                sum_of_products,
            } => {
                numerator.validate(*n, "numerator sums")?;
                denominator.validate(*n, "denominator sums")?;
                finite(*sum_of_products, "numerator-denominator sum of products")
            }
            Self::RegressionAdjusted {
                n,
                post,
                pre,
                sum_of_products,
            } => {
                post.validate(*n, "post-exposure sums")?;
                pre.validate(*n, "pre-exposure sums")?;
                finite(*sum_of_products, "post-pre sum of products")
            }
        }
    }

    pub(crate) fn same_kind(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Mean { value: a, .. }, Self::Mean { value: b, .. }) => a.same_kind(b),
            (
                Self::Ratio {
                    numerator: an,
                    denominator: ad,
                    ..
                },
                Self::Ratio {
                    numerator: bn,
                    denominator: bd,
                    ..
                },
            ) => an.same_kind(bn) && ad.same_kind(bd),
            (
                Self::RegressionAdjusted {
                    post: a_post,
                    pre: a_pre,
                    ..
                },
                Self::RegressionAdjusted {
                    post: b_post,
                    pre: b_pre,
                    ..
                },
            ) => a_post.same_kind(b_post) && a_pre.same_kind(b_pre),
            _ => false,
        }
    }
}

/// An arm reduced to what the tests use. For CUPED, `mean` is adjusted and `unadjusted_mean`
/// is not: relative lifts divide by the unadjusted control mean, as in gbstats.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct ArmMoments {
    pub n: u64,
    pub mean: f64,
    pub unadjusted_mean: f64,
    pub variance: f64,
}

impl ArmMoments {
    /// gbstats treats a variance ≤ 0 as "cannot test".
    pub fn has_zero_variance(&self) -> bool {
        self.variance <= 0.0
    }
}

/// Reduces both arms to [`ArmMoments`], estimating CUPED's θ from the arms pooled. When
/// either pooled period has no variance θ is 0 and the plain post-exposure means are used,
/// as gbstats does.
pub(crate) fn arm_moments(
    control: &Statistic,
    treatment: &Statistic,
) -> Result<(ArmMoments, ArmMoments), StatsError> {
    let theta = match (control, treatment) {
        (
            Statistic::RegressionAdjusted {
                n: n_a,
                post: post_a,
                pre: pre_a,
                sum_of_products: sp_a,
            },
            Statistic::RegressionAdjusted {
                n: n_b,
                post: post_b,
                pre: pre_b,
                sum_of_products: sp_b,
            },
        ) => {
            let n = n_a + n_b;
            let post = post_a.pooled(post_b)?;
            let pre = pre_a.pooled(pre_b)?;
            if pre.variance(n) == 0.0 || post.variance(n) == 0.0 {
                0.0
            } else {
                covariance(n, post.sum(), pre.sum(), sp_a + sp_b) / pre.variance(n)
            }
        }
        _ => 0.0,
    };
    Ok((moments(control, theta), moments(treatment, theta)))
}

fn moments(statistic: &Statistic, theta: f64) -> ArmMoments {
    let plain = |n: u64, value: &UnitSums| ArmMoments {
        n,
        mean: value.mean(n),
        unadjusted_mean: value.mean(n),
        variance: value.variance(n),
    };
    match statistic {
        Statistic::Mean { n, value } => plain(*n, value),
        Statistic::Ratio {
            n,
            numerator,
            denominator,
            sum_of_products,
        } => {
            let n = *n;
            let mean = if denominator.sum() == 0.0 {
                0.0
            } else {
                numerator.sum() / denominator.sum()
            };
            let numerator_mean = numerator.mean(n);
            let denominator_mean = denominator.mean(n);
            let variance = if denominator_mean == 0.0 || n <= 1 {
                0.0
            } else {
                let cov = covariance(n, numerator.sum(), denominator.sum(), *sum_of_products);
                numerator.variance(n) / denominator_mean.powi(2)
                    - 2.0 * cov * numerator_mean / denominator_mean.powi(3)
                    + numerator_mean.powi(2) * denominator.variance(n) / denominator_mean.powi(4)
            };
            ArmMoments {
                n,
                mean,
                unadjusted_mean: mean,
                variance,
            }
        }
        Statistic::RegressionAdjusted { n, post, .. } if theta == 0.0 => plain(*n, post),
        Statistic::RegressionAdjusted {
            n,
            post,
            pre,
            sum_of_products,
        } => {
            let n = *n;
            let variance = if n <= 1 {
                0.0
            } else {
                post.variance(n) + theta * theta * pre.variance(n)
                    - 2.0 * theta * covariance(n, post.sum(), pre.sum(), *sum_of_products)
            };
            ArmMoments {
                n,
                mean: post.mean(n) - theta * pre.mean(n),
                unadjusted_mean: post.mean(n),
                variance,
            }
        }
    }
}

/// Sample covariance of two per-unit values from their sums and sum of products.
fn covariance(n: u64, sum_x: f64, sum_y: f64, sum_of_products: f64) -> f64 {
    if n <= 1 {
        return 0.0;
    }
    let n = n as f64;
    (sum_of_products - sum_x * sum_y / n) / (n - 1.0)
}

fn finite(value: f64, field: &'static str) -> Result<(), StatsError> {
    if value.is_finite() {
        Ok(())
    } else {
        Err(StatsError::NonFinite { field })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sums(values: &[f64]) -> UnitSums {
        UnitSums::Continuous {
            sum: values.iter().sum(),
            sum_squares: values.iter().map(|v| v * v).sum(),
        }
    }

    #[test]
    fn sample_variance_uses_n_minus_one() {
        let (a, _) = arm_moments(
            &Statistic::Mean {
                n: 4,
                value: sums(&[1.0, 2.0, 3.0, 4.0]),
            },
            &Statistic::proportion(10, 5.0),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(a.mean, 2.5);
        assert!((a.variance - 5.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn cuped_with_a_perfect_covariate_removes_all_variance() {
        // post = pre + 1 for every unit: θ = 1 and the adjusted variance is 0.
        let arm = |pre: &[f64]| {
            let post: Vec<f64> = pre.iter().map(|x| x + 1.0).collect();
            Statistic::RegressionAdjusted {
                n: pre.len() as u64,
                post: sums(&post),
                pre: sums(pre),
                sum_of_products: pre.iter().zip(&post).map(|(a, b)| a * b).sum(),
            }
        };
        let (a, b) = arm_moments(&arm(&[1.0, 5.0, 2.0]), &arm(&[3.0, 4.0, 9.0]))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(a.variance.abs() < 1e-9 && b.variance.abs() < 1e-9);
        assert!((a.unadjusted_mean - 11.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn impossible_sums_are_rejected() {
        assert_eq!(
            Statistic::proportion(10, 11.0).validate(),
            Err(StatsError::BinomialSumOutOfRange { sum: 11.0, n: 10 })
        );
        // Σx = 10 over 2 units needs Σx² ≥ 50.
        assert!(matches!(
            Statistic::sample_mean(2, 10.0, 40.0).validate(),
            Err(StatsError::InconsistentSums { .. })
        ));
        assert!(matches!(
            Statistic::sample_mean(3, f64::NAN, 1.0).validate(),
            Err(StatsError::NonFinite { .. })
        ));
        // Negative values (refunds) are fine.
        assert_eq!(Statistic::sample_mean(2, -10.0, 58.0).validate(), Ok(()));
    }
}
