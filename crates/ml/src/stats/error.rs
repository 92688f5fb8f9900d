//! [`StatsError`]: input the statistics refuse to compute on.
//!
//! Only malformed input is an error. Data that is well-formed but cannot support a
//! comparison (an arm with no units, zero variance, a zero baseline) is not: it yields a
//! [`TestResult`](super::TestResult) with an [`TestIssue`](super::TestIssue), as gbstats does.

use std::fmt;

/// Why a statistics call refused its input. Every variant is the caller's fault (a 4xx at the
/// HTTP edge), except [`StatsError::NonFiniteResult`], which means the numbers overflowed.
#[derive(Clone, Debug, PartialEq)]
pub enum StatsError {
    /// An input number is NaN or infinite; `field` names it.
    NonFinite { field: &'static str },
    /// A binomial sum (units that converted) is negative or larger than the number of units.
    BinomialSumOutOfRange { sum: f64, n: u64 },
    /// A sum of squares is negative, or smaller than sum²/n, which no real data can give.
    InconsistentSums { field: &'static str },
    /// Control and treatment are different kinds of statistic, or a ratio/CUPED component is
    /// binomial in one arm and continuous in the other.
    MismatchedStatistics,
    /// The significance level must be in (0, 1).
    InvalidAlpha(f64),
    /// The sequential tuning parameter (a planned sample size) must be positive.
    InvalidTuningParameter(f64),
    /// A proper prior needs a positive, finite variance.
    InvalidPriorVariance(f64),
    /// SRM: counts and weights have different lengths.
    WeightCountMismatch { observed: usize, weights: usize },
    /// SRM: an experiment needs at least two variations.
    TooFewVariations(usize),
    /// SRM: a weight is negative or not finite.
    InvalidWeight(f64),
    /// SRM: the weights must sum to 1 (within [`WEIGHT_SUM_TOLERANCE`](super::WEIGHT_SUM_TOLERANCE)).
    WeightsDoNotSumToOne(f64),
    /// SRM: no unit was exposed to any variation, so there is no split to check.
    NoTraffic,
    /// The computation overflowed (inputs of absurd magnitude); no number would be honest.
    NonFiniteResult,
}

impl fmt::Display for StatsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NonFinite { field } => write!(f, "{field} must be a finite number"),
            Self::BinomialSumOutOfRange { sum, n } => {
                write!(
                    f,
                    "binomial sum {sum} is outside 0..={n} (the number of units)"
                )
            }
            Self::InconsistentSums { field } => {
                write!(f, "{field} is inconsistent with the sum and unit count")
            }
            Self::MismatchedStatistics => {
                write!(
                    f,
                    "control and treatment must be the same kind of statistic"
                )
            }
            Self::InvalidAlpha(alpha) => write!(f, "alpha must be in (0, 1), got {alpha}"),
            Self::InvalidTuningParameter(value) => {
                write!(
                    f,
                    "sequential tuning parameter must be positive, got {value}"
                )
            }
            Self::InvalidPriorVariance(value) => {
                write!(f, "prior variance must be positive and finite, got {value}")
            }
            Self::WeightCountMismatch { observed, weights } => write!(
                f,
                "{observed} observed counts but {weights} weights; need one weight per variation"
            ),
            Self::TooFewVariations(count) => {
                write!(f, "an experiment needs at least 2 variations, got {count}")
            }
            Self::InvalidWeight(weight) => {
                write!(f, "weights must be finite and non-negative, got {weight}")
            }
            Self::WeightsDoNotSumToOne(sum) => {
                write!(f, "weights must sum to 1, they sum to {sum}")
            }
            Self::NoTraffic => write!(f, "no units were exposed to any variation"),
            Self::NonFiniteResult => write!(f, "the result overflowed; inputs are out of range"),
        }
    }
}

impl std::error::Error for StatsError {}
