//! [`TestResult`]: what a comparison of two arms says, shaped like gbstats'
//! `FrequentistTestResult` / `BayesianTestResult` so numbers can be checked field by field.

/// The lift of treatment over control for one metric.
///
/// Every number is finite. When the data cannot support a comparison, `issue` says why and
/// the numbers are gbstats' uninformative defaults: `expected` 0, `ci` [0, 0], uplift 0 ± 0,
/// p-value 1, chance to win 0.5, risk [0, 0].
///
/// Field mapping: gbstats' `p_value` / `chance_to_win` / `risk` live in [`Inference`], its
/// `error_message` is [`TestIssue::code`], and its `risk_type` is not repeated: it is the
/// configured [`DifferenceType`](super::DifferenceType).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TestResult {
    /// The estimated lift (relative or absolute, as configured); the posterior mean for the
    /// Bayesian test, so a proper prior shrinks it.
    pub expected: f64,
    /// Confidence interval (frequentist), always-valid confidence interval (sequential) or
    /// credible interval (Bayesian), at level 1 − alpha: [lower, upper].
    pub ci: [f64; 2],
    /// The normal distribution the lift was modelled with (gbstats' `uplift`, `dist: normal`).
    pub uplift: Uplift,
    pub inference: Inference,
    /// Why the numbers are defaults, if they are (gbstats' `error_message`).
    pub issue: Option<TestIssue>,
}

/// A normal distribution over the lift.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Uplift {
    pub mean: f64,
    pub stddev: f64,
}

/// The method-specific part of a result.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Inference {
    /// Frequentist and sequential tests.
    PValue(f64),
    Bayesian {
        /// P(treatment is better than control); "better" is "lower" for inverse metrics.
        chance_to_win: f64,
        risk: Risk,
    },
}

/// Expected loss, in the units of the lift: how much is given up, on average, by shipping
/// the arm that turns out worse. gbstats' `risk` is `[control, treatment]`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Risk {
    /// The expected loss of keeping control.
    pub control: f64,
    /// The expected loss of shipping treatment.
    pub treatment: f64,
}

/// Why a comparison returned default numbers. Not an error: the data are valid but do not
/// (yet) allow a comparison; the UI should show the reason instead of a lift.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TestIssue {
    /// The control mean is zero (frequentist: always; Bayesian: for relative lifts) or, for
    /// relative lifts, negative: a relative change from it is meaningless.
    BaselineZeroOrNegative,
    /// An arm has no units yet (Bayesian test; the frequentist tests report such an arm
    /// as [`TestIssue::ZeroVariance`], as gbstats does).
    NoUnits,
    /// An arm's metric has no variance (every unit has the same value, or fewer than 2 units).
    ZeroVariance,
}

impl TestIssue {
    /// gbstats' message constant, for the wire format and the conformance tests.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BaselineZeroOrNegative => "ZERO_NEGATIVE_BASELINE_VARIATION",
            Self::NoUnits => "NO_UNITS_IN_VARIATION",
            Self::ZeroVariance => "ZERO_NEGATIVE_VARIANCE",
        }
    }
}

impl TestResult {
    pub(crate) fn frequentist_default(issue: TestIssue) -> Self {
        Self {
            expected: 0.0,
            ci: [0.0, 0.0],
            uplift: Uplift {
                mean: 0.0,
                stddev: 0.0,
            },
            inference: Inference::PValue(1.0),
            issue: Some(issue),
        }
    }

    pub(crate) fn bayesian_default(issue: TestIssue) -> Self {
        Self {
            inference: Inference::Bayesian {
                chance_to_win: 0.5,
                risk: Risk {
                    control: 0.0,
                    treatment: 0.0,
                },
            },
            ..Self::frequentist_default(issue)
        }
    }

    pub(crate) fn is_finite(&self) -> bool {
        let inference = match self.inference {
            Inference::PValue(p) => p.is_finite(),
            Inference::Bayesian {
                chance_to_win,
                risk,
            } => {
                chance_to_win.is_finite() && risk.control.is_finite() && risk.treatment.is_finite()
            }
        };
        inference
            && self.expected.is_finite()
            && self.ci.iter().all(|x| x.is_finite())
            && self.uplift.mean.is_finite()
            && self.uplift.stddev.is_finite()
    }
}
