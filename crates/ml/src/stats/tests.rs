//! Behaviour of [`compare`](super::compare) that the gbstats cases do not pin down: input
//! validation, Tailor's departures, and properties every result must have.

use super::*;

fn revenue_arm(values: &[f64]) -> Statistic {
    Statistic::sample_mean(
        values.len() as u64,
        values.iter().sum(),
        values.iter().map(|v| v * v).sum(),
    )
}

fn all_configs() -> Vec<TestConfig> {
    let prior = EffectPrior {
        mean: 0.0,
        variance: 0.09,
        scale: DifferenceType::Relative,
    };
    let bayesian_with_prior = TestConfig {
        method: Method::Bayesian {
            prior: Some(prior),
            inverse: false,
        },
        ..TestConfig::bayesian()
    };
    [
        TestConfig::frequentist(),
        TestConfig::sequential(),
        TestConfig::bayesian(),
        bayesian_with_prior,
    ]
    .into_iter()
    .flat_map(|config| [config, config.absolute()])
    .collect()
}

#[test]
fn malformed_input_is_a_typed_error() {
    let conversion = Statistic::proportion(100, 10.0);
    let revenue = Statistic::sample_mean(100, 500.0, 9_000.0);
    let config = TestConfig::frequentist();
    assert_eq!(
        compare(&conversion, &revenue, &config),
        Err(StatsError::MismatchedStatistics)
    );
    assert_eq!(
        compare(
            &conversion,
            &conversion,
            &TestConfig {
                alpha: 1.5,
                ..config
            }
        ),
        Err(StatsError::InvalidAlpha(1.5))
    );
    let impatient = TestConfig {
        method: Method::Sequential {
            tuning_parameter: 0.0,
        },
        ..config
    };
    assert_eq!(
        compare(&conversion, &conversion, &impatient),
        Err(StatsError::InvalidTuningParameter(0.0))
    );
    let flat_is_not_proper = TestConfig {
        method: Method::Bayesian {
            prior: Some(EffectPrior {
                mean: 0.0,
                variance: 0.0,
                scale: DifferenceType::Relative,
            }),
            inverse: false,
        },
        ..config
    };
    assert_eq!(
        compare(&conversion, &conversion, &flat_is_not_proper),
        Err(StatsError::InvalidPriorVariance(0.0))
    );
    assert!(matches!(
        compare(&Statistic::proportion(10, 12.0), &conversion, &config),
        Err(StatsError::BinomialSumOutOfRange { .. })
    ));
}

#[test]
fn relative_lift_over_a_negative_baseline_is_an_issue_but_absolute_lift_is_computed() {
    // Net revenue after refunds: control loses 2 per visitor, treatment 1.
    let control = revenue_arm(&[-6.0, 1.0, -3.0, 0.0, -2.0]);
    let treatment = revenue_arm(&[-2.0, 0.0, 1.0, -4.0, 0.0]);
    for config in [
        TestConfig::frequentist(),
        TestConfig::sequential(),
        TestConfig::bayesian(),
    ] {
        let relative = compare(&control, &treatment, &config).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(relative.issue, Some(TestIssue::BaselineZeroOrNegative));
        assert_eq!(relative.expected, 0.0);
        let absolute =
            compare(&control, &treatment, &config.absolute()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(absolute.issue, None);
        assert!((absolute.expected - 1.0).abs() < 1e-12);
    }
}

#[test]
fn no_result_ever_holds_a_nan_or_infinity() {
    // Degenerate and extreme arms, every pairing, every method: Ok means finite numbers.
    let arms = [
        Statistic::proportion(0, 0.0),
        Statistic::proportion(1, 1.0),
        Statistic::proportion(2, 1.0),
        Statistic::proportion(1_000, 0.0),
        Statistic::proportion(1_000, 1_000.0),
        Statistic::proportion(u32::MAX as u64, 12_345.0),
        Statistic::sample_mean(0, 0.0, 0.0),
        Statistic::sample_mean(1, 5.0, 25.0),
        Statistic::sample_mean(3, 0.0, 2.0),
        Statistic::sample_mean(10, 10.0, 10.0),
        Statistic::sample_mean(10, -50.0, 900.0),
        Statistic::sample_mean(10, 1e150, 1e299),
    ];
    for config in all_configs() {
        for control in &arms {
            for treatment in &arms {
                match compare(control, treatment, &config) {
                    Ok(result) => {
                        assert!(result.is_finite(), "{control:?} {treatment:?} {result:?}")
                    }
                    Err(StatsError::MismatchedStatistics | StatsError::NonFiniteResult) => {}
                    Err(other) => panic!("{control:?} {treatment:?}: {other}"),
                }
            }
        }
    }
}

#[test]
fn peeking_costs_width_the_sequential_interval_contains_the_fixed_one() {
    let control = Statistic::proportion(20_000, 1_000.0);
    let treatment = Statistic::proportion(20_000, 1_100.0);
    let fixed =
        compare(&control, &treatment, &TestConfig::frequentist()).unwrap_or_else(|e| panic!("{e}"));
    let sequential =
        compare(&control, &treatment, &TestConfig::sequential()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(fixed.expected, sequential.expected);
    assert!(sequential.ci[0] < fixed.ci[0] && fixed.ci[1] < sequential.ci[1]);
    let (Inference::PValue(fixed_p), Inference::PValue(sequential_p)) =
        (fixed.inference, sequential.inference)
    else {
        panic!("frequentist tests report p-values");
    };
    assert!(fixed_p < sequential_p);
}

#[test]
fn cuped_narrows_the_interval_when_the_pre_period_predicts_the_post_period() {
    // Per visitor: spend before exposure, and after it the same habit plus noise.
    let arm = |shift: f64, seed: u64| {
        let mut state = seed;
        let mut next = move || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let units: Vec<(f64, f64)> = (0..2_000)
            .map(|_| {
                let pre = 100.0 * next();
                (pre, 0.8 * pre + 20.0 * next() + shift)
            })
            .collect();
        let post = UnitSums::Continuous {
            sum: units.iter().map(|u| u.1).sum(),
            sum_squares: units.iter().map(|u| u.1 * u.1).sum(),
        };
        let pre = UnitSums::Continuous {
            sum: units.iter().map(|u| u.0).sum(),
            sum_squares: units.iter().map(|u| u.0 * u.0).sum(),
        };
        let sum_of_products = units.iter().map(|u| u.0 * u.1).sum();
        (
            Statistic::Mean {
                n: 2_000,
                value: post,
            },
            Statistic::RegressionAdjusted {
                n: 2_000,
                post,
                pre,
                sum_of_products,
            },
        )
    };
    let (plain_a, cuped_a) = arm(0.0, 1);
    let (plain_b, cuped_b) = arm(2.0, 2);
    let config = TestConfig::frequentist().absolute();
    let plain = compare(&plain_a, &plain_b, &config).unwrap_or_else(|e| panic!("{e}"));
    let cuped = compare(&cuped_a, &cuped_b, &config).unwrap_or_else(|e| panic!("{e}"));
    // Pre explains ~(0.8·29)² / ((0.8·29)² + 5.8²) ≈ 94 % of the variance: ≥ 3× narrower.
    assert!(
        cuped.uplift.stddev * 3.0 < plain.uplift.stddev,
        "{cuped:?} vs {plain:?}"
    );
}

#[test]
fn a_proper_prior_shrinks_the_lift_towards_its_mean() {
    let control = Statistic::proportion(200, 20.0);
    let treatment = Statistic::proportion(200, 30.0);
    let flat =
        compare(&control, &treatment, &TestConfig::bayesian()).unwrap_or_else(|e| panic!("{e}"));
    let sceptical = TestConfig {
        method: Method::Bayesian {
            prior: Some(EffectPrior {
                mean: 0.0,
                variance: 0.01,
                scale: DifferenceType::Relative,
            }),
            inverse: false,
        },
        ..TestConfig::bayesian()
    };
    let shrunk = compare(&control, &treatment, &sceptical).unwrap_or_else(|e| panic!("{e}"));
    assert!((flat.expected - 0.5).abs() < 1e-12);
    assert!(0.0 < shrunk.expected && shrunk.expected < flat.expected);
    assert!(shrunk.uplift.stddev < flat.uplift.stddev);
}

/// A small deterministic generator (PCG-style LCG) so the sweep needs no `rand`.
struct Lcg(u64);

impl Lcg {
    fn unit(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }

    fn below(&mut self, bound: u64) -> u64 {
        (self.unit() * bound as f64) as u64
    }

    /// Sums of `n` per-unit values, binomial or continuous (possibly negative, possibly all
    /// equal), built from actual values so they are consistent.
    fn unit_sums(&mut self, n: u64, binomial: bool) -> (UnitSums, Vec<f64>) {
        let style = self.below(4);
        let values: Vec<f64> = (0..n)
            .map(|_| match (binomial, style) {
                (true, 0) => 0.0,
                (true, _) => f64::from(self.unit() < 0.3),
                (false, 0) => 7.0,
                (false, 1) => self.unit() * 200.0 - 50.0,
                (false, _) => (self.unit() * 3.0).floor(),
            })
            .collect();
        let sum = values.iter().sum();
        let sums = if binomial {
            UnitSums::Binomial { sum }
        } else {
            UnitSums::Continuous {
                sum,
                sum_squares: values.iter().map(|v| v * v).sum(),
            }
        };
        (sums, values)
    }

    fn statistic(&mut self, kind: u64, binomial: bool) -> Statistic {
        let n = [0, 1, 2, 3, 10, 57][self.below(6) as usize];
        let (first, first_values) = self.unit_sums(n, binomial);
        let (second, second_values) = self.unit_sums(n, binomial);
        let sum_of_products = first_values
            .iter()
            .zip(&second_values)
            .map(|(a, b)| a * b)
            .sum();
        match kind {
            0 => Statistic::Mean { n, value: first },
            1 => Statistic::Ratio {
                n,
                numerator: first,
                denominator: second,
                sum_of_products,
            },
            _ => Statistic::RegressionAdjusted {
                n,
                post: first,
                pre: second,
                sum_of_products,
            },
        }
    }
}

#[test]
fn random_small_and_degenerate_arms_never_produce_nan() {
    let mut random = Lcg(7);
    let configs = all_configs();
    let mut computed = 0;
    for _ in 0..3_000 {
        let kind = random.below(3);
        let binomial = random.unit() < 0.5;
        let control = random.statistic(kind, binomial);
        let treatment = random.statistic(kind, binomial);
        let config = configs[random.below(configs.len() as u64) as usize];
        let result = compare(&control, &treatment, &config)
            .unwrap_or_else(|e| panic!("{control:?} {treatment:?} {config:?}: {e}"));
        assert!(
            result.is_finite(),
            "{control:?} {treatment:?} {config:?}: {result:?}"
        );
        let [lower, upper] = result.ci;
        assert!(
            lower <= result.expected && result.expected <= upper,
            "{result:?}"
        );
        computed += usize::from(result.issue.is_none());
    }
    // The sweep must exercise real computations, not only the default answers.
    assert!(computed > 500, "only {computed} non-default results");
}
