//! [`TestConfig`]: which comparison to run and at what confidence.

/// gbstats' default for the sequential test: the total sample size (both arms) at which the
/// always-valid interval is tightest. Larger values give wider intervals early and narrower
/// ones late.
pub const DEFAULT_SEQUENTIAL_TUNING_PARAMETER: f64 = 5000.0;

/// How a lift is expressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DifferenceType {
    /// (treatment − control) / control: "+4 %". Needs a positive control mean.
    Relative,
    /// treatment − control, in the metric's unit: "+0.92 € per visitor".
    Absolute,
}

/// A Gaussian prior on the effect, for [`Method::Bayesian`]. Without one the prior is flat
/// (gbstats' `proper: false`) and the posterior is the data's normal approximation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EffectPrior {
    pub mean: f64,
    pub variance: f64,
    /// The scale `mean` and `variance` are on; rescaled by the control mean when it differs
    /// from the test's [`DifferenceType`]. GrowthBook's metric priors are relative.
    pub scale: DifferenceType,
}

/// The inference method.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Method {
    /// Two-sided Welch t-test with a fixed horizon: valid when read once, at the planned
    /// sample size.
    Frequentist,
    /// Always-valid two-sided test (Waudby-Smith et al. 2023, asymptotic confidence
    /// sequences): p-values and intervals stay valid however often the results are looked at.
    Sequential { tuning_parameter: f64 },
    /// Gaussian posterior on the effect: chance to win, risk (expected loss), credible
    /// interval. `inverse` is for metrics where lower is better (e.g. bounce rate).
    Bayesian {
        prior: Option<EffectPrior>,
        inverse: bool,
    },
}

/// What [`compare`](super::compare) should compute.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TestConfig {
    pub difference: DifferenceType,
    pub method: Method,
    /// 1 − confidence (or credibility) level of the interval, and the frequentist threshold.
    pub alpha: f64,
}

impl TestConfig {
    pub const DEFAULT_ALPHA: f64 = 0.05;

    /// Fixed-horizon Welch t-test on the relative lift, 95 % intervals.
    pub fn frequentist() -> Self {
        Self {
            difference: DifferenceType::Relative,
            method: Method::Frequentist,
            alpha: Self::DEFAULT_ALPHA,
        }
    }

    /// Sequential test on the relative lift, 95 % always-valid intervals, gbstats' tuning.
    pub fn sequential() -> Self {
        Self {
            difference: DifferenceType::Relative,
            method: Method::Sequential {
                tuning_parameter: DEFAULT_SEQUENTIAL_TUNING_PARAMETER,
            },
            alpha: Self::DEFAULT_ALPHA,
        }
    }

    /// Bayesian test on the relative lift with a flat prior, 95 % credible intervals.
    pub fn bayesian() -> Self {
        Self {
            difference: DifferenceType::Relative,
            method: Method::Bayesian {
                prior: None,
                inverse: false,
            },
            alpha: Self::DEFAULT_ALPHA,
        }
    }

    /// The same test on the absolute difference.
    pub fn absolute(self) -> Self {
        Self {
            difference: DifferenceType::Absolute,
            ..self
        }
    }
}
