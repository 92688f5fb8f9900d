"""Generates crates/ml/tests/data/gbstats_cases.json: inputs and GrowthBook gbstats' outputs.

The Rust test crates/ml/tests/gbstats.rs replays every case through `tailor_ml::stats` and
checks the numbers agree. Inputs are sufficient statistics (n, sums, sums of squares, sums of
products) computed here from seeded simulated per-unit data, so they are internally consistent,
plus a few hand-written edge cases (no units, zero variance, zero baseline, no traffic).

Run (gbstats pins its own numpy/scipy/pandas):
    python3 -m venv /tmp/gbvenv && /tmp/gbvenv/bin/pip install gbstats==0.8.0
    /tmp/gbvenv/bin/python scripts/stats/gbstats_reference.py
"""

import importlib.metadata
import json
from dataclasses import asdict
from pathlib import Path

import numpy as np

from gbstats.bayesian.tests import EffectBayesianABTest, EffectBayesianConfig, GaussianPrior
from gbstats.frequentist.tests import (
    FrequentistConfig,
    SequentialConfig,
    SequentialTwoSidedTTest,
    TwoSidedTTest,
)
from gbstats.models.statistics import (
    ProportionStatistic,
    RatioStatistic,
    RegressionAdjustedStatistic,
    SampleMeanStatistic,
)
from gbstats.utils import check_srm

OUT = Path(__file__).resolve().parents[2] / "crates/ml/tests/data/gbstats_cases.json"
rng = np.random.default_rng(20261129)


# --- sufficient statistics from simulated units, as JSON and as gbstats objects ---------------


def binomial(values):
    return {"type": "binomial", "sum": float(np.sum(values))}


def count(values):
    return {
        "type": "count",
        "sum": float(np.sum(values)),
        "sum_squares": float(np.sum(np.square(values))),
    }


def proportion_stat(n, conversions):
    return {"type": "proportion", "n": int(n), "sum": float(conversions)}


def mean_stat(values):
    values = np.asarray(values, dtype=float)
    return {"type": "mean", "n": len(values), **{k: v for k, v in count(values).items() if k != "type"}}


def ratio_stat(numerator, denominator, denominator_binomial=False):
    numerator = np.asarray(numerator, dtype=float)
    denominator = np.asarray(denominator, dtype=float)
    return {
        "type": "ratio",
        "n": len(numerator),
        "numerator": count(numerator),
        "denominator": binomial(denominator) if denominator_binomial else count(denominator),
        "sum_of_products": float(np.sum(numerator * denominator)),
    }


def cuped_stat(post, pre, binomial_metric=False):
    post = np.asarray(post, dtype=float)
    pre = np.asarray(pre, dtype=float)
    component = binomial if binomial_metric else count
    return {
        "type": "regression_adjusted",
        "n": len(post),
        "post": component(post),
        "pre": component(pre),
        "sum_of_products": float(np.sum(post * pre)),
    }


def component_to_gbstats(c, n):
    if c["type"] == "binomial":
        return ProportionStatistic(n=n, sum=c["sum"])
    return SampleMeanStatistic(n=n, sum=c["sum"], sum_squares=c["sum_squares"])


def to_gbstats(s):
    if s["type"] == "proportion":
        return ProportionStatistic(n=s["n"], sum=s["sum"])
    if s["type"] == "mean":
        return SampleMeanStatistic(n=s["n"], sum=s["sum"], sum_squares=s["sum_squares"])
    if s["type"] == "ratio":
        return RatioStatistic(
            n=s["n"],
            m_statistic=component_to_gbstats(s["numerator"], s["n"]),
            d_statistic=component_to_gbstats(s["denominator"], s["n"]),
            m_d_sum_of_products=s["sum_of_products"],
        )
    if s["type"] == "regression_adjusted":
        return RegressionAdjustedStatistic(
            n=s["n"],
            post_statistic=component_to_gbstats(s["post"], s["n"]),
            pre_statistic=component_to_gbstats(s["pre"], s["n"]),
            post_pre_sum_of_products=s["sum_of_products"],
            theta=0,  # gbstats computes theta from both arms, as Tailor does
        )
    raise ValueError(s["type"])


# --- simulated arms ----------------------------------------------------------------------------


def revenue(n, buy_rate, mean_order):
    bought = rng.random(n) < buy_rate
    return np.where(bought, rng.lognormal(np.log(mean_order), 0.8, n), 0.0)


def orders_and_revenue(n, buy_rate, mean_order):
    orders = np.where(rng.random(n) < buy_rate, rng.poisson(1.0, n) + 1, 0)
    rev = np.array([rng.lognormal(np.log(mean_order), 0.6, k).sum() if k else 0.0 for k in orders])
    return rev, orders


def pre_post(n, lift, correlation=0.7):
    pre = rng.gamma(2.0, 20.0, n)
    noise = rng.gamma(2.0, 20.0, n)
    post = correlation * pre + (1 - correlation) * noise + lift
    return post, pre


def retention_pre_post(n, base, lift):
    pre = rng.random(n) < base
    post = np.where(pre, rng.random(n) < 0.6 + lift, rng.random(n) < 0.15 + lift)
    return post.astype(float), pre.astype(float)


# --- the cases ---------------------------------------------------------------------------------

cases = []


def run_test(name, engine, control, treatment, difference_type="relative", **options):
    a, b = to_gbstats(control), to_gbstats(treatment)
    alpha = options.get("alpha", 0.05)
    if engine == "frequentist":
        test = TwoSidedTTest(a, b, FrequentistConfig(difference_type=difference_type, alpha=alpha))
    elif engine == "sequential":
        tuning = options.get("sequential_tuning_parameter", 5000)
        test = SequentialTwoSidedTTest(
            a,
            b,
            SequentialConfig(
                difference_type=difference_type, alpha=alpha, sequential_tuning_parameter=tuning
            ),
        )
    else:
        prior = options.get("prior", {"mean": 0.0, "variance": 1.0, "proper": False})
        test = EffectBayesianABTest(
            a,
            b,
            EffectBayesianConfig(
                difference_type=difference_type,
                alpha=alpha,
                inverse=options.get("inverse", False),
                prior_effect=GaussianPrior(**prior),
                prior_type=options.get("prior_type", "relative"),
            ),
        )
    result = asdict(test.compute_result())
    cases.append(
        {
            "name": name,
            "kind": "test",
            "engine": engine,
            "difference_type": difference_type,
            "options": options,
            "control": control,
            "treatment": treatment,
            "gbstats": result,
        }
    )


def run_srm(name, users, weights):
    cases.append(
        {
            "name": name,
            "kind": "srm",
            "users": users,
            "weights": weights,
            "gbstats": {"p_value": float(check_srm(users, weights))},
        }
    )


conv_small = (proportion_stat(100, 10), proportion_stat(100, 15))
conv_large = (proportion_stat(100_000, 5_000), proportion_stat(100_500, 5_230))
rpv = (mean_stat(revenue(2_000, 0.05, 60)), mean_stat(revenue(2_050, 0.06, 62)))
rpv_tiny = (mean_stat([0, 12.5, 0, 40, 7]), mean_stat([3, 0, 55.0, 20, 0, 9]))
aov = tuple(ratio_stat(*orders_and_revenue(3_000, rate, 45)) for rate in (0.08, 0.09))
cuped = tuple(cuped_stat(*pre_post(1_500, lift)) for lift in (0.0, 1.5))
retention = tuple(cuped_stat(*retention_pre_post(4_000, 0.3, lift), binomial_metric=True) for lift in (0.0, 0.03))
clv = (mean_stat(rng.gamma(1.5, 80.0, 800)), mean_stat(rng.gamma(1.5, 86.0, 790)))
net_revenue = (mean_stat(rng.normal(5.0, 30.0, 600)), mean_stat(rng.normal(7.5, 30.0, 610)))
negative_baseline = (mean_stat(rng.normal(-4.0, 10.0, 300)), mean_stat(rng.normal(-2.0, 10.0, 300)))
decisive = (proportion_stat(50_000, 2_000), proportion_stat(50_000, 2_600))
zero_variance = (proportion_stat(1_000, 50), proportion_stat(1_000, 0))
zero_baseline = (proportion_stat(1_000, 0), proportion_stat(1_000, 12))
no_units = (proportion_stat(1_000, 40), proportion_stat(0, 0))
no_units_mean = (mean_stat(revenue(500, 0.1, 30)), {"type": "mean", "n": 0, "sum": 0.0, "sum_squares": 0.0})
cuped_constant_pre = (
    cuped_stat(revenue(400, 0.2, 30), np.ones(400)),
    cuped_stat(revenue(410, 0.22, 30), np.ones(410)),
)

for engine in ("frequentist", "sequential", "bayesian"):
    run_test(f"{engine} conversion small relative", engine, *conv_small)
    run_test(f"{engine} conversion large relative", engine, *conv_large)
    run_test(f"{engine} conversion large absolute", engine, *conv_large, difference_type="absolute")
    run_test(f"{engine} revenue per visitor relative", engine, *rpv)
    run_test(f"{engine} revenue per visitor absolute", engine, *rpv, difference_type="absolute")
    run_test(f"{engine} average order value (ratio) relative", engine, *aov)
    run_test(f"{engine} CUPED revenue relative", engine, *cuped)
    run_test(f"{engine} CUPED retention absolute", engine, *retention, difference_type="absolute")
    run_test(f"{engine} zero-variance arm", engine, *zero_variance)
    run_test(f"{engine} zero baseline relative", engine, *zero_baseline)
    run_test(f"{engine} no units in treatment", engine, *no_units)

run_test("frequentist revenue per visitor tiny samples", "frequentist", *rpv_tiny)
run_test("frequentist average order value (ratio) absolute", "frequentist", *aov, difference_type="absolute")
run_test("frequentist CUPED revenue absolute", "frequentist", *cuped, difference_type="absolute")
run_test("frequentist CUPED with constant pre-period (theta 0)", "frequentist", *cuped_constant_pre)
run_test("frequentist predicted CLV relative alpha 0.1", "frequentist", *clv, alpha=0.1)
run_test("frequentist net revenue absolute (negative values)", "frequentist", *net_revenue, difference_type="absolute")
run_test("frequentist negative baseline absolute", "frequentist", *negative_baseline, difference_type="absolute")
run_test("frequentist decisive conversion", "frequentist", *decisive)
run_test("frequentist zero baseline absolute", "frequentist", *zero_baseline, difference_type="absolute")
run_test("frequentist no units in treatment (mean)", "frequentist", *no_units_mean)

run_test("sequential predicted CLV absolute tuning 1000", "sequential", *clv, difference_type="absolute", sequential_tuning_parameter=1000)
run_test("sequential decisive conversion", "sequential", *decisive)
run_test("sequential revenue per visitor tiny samples", "sequential", *rpv_tiny)
run_test("sequential CUPED revenue absolute alpha 0.1", "sequential", *cuped, difference_type="absolute", alpha=0.1)

revenue_per_buyer = tuple(
    ratio_stat(*(lambda r, o: (r, o > 0))(*orders_and_revenue(2_500, rate, 50)), denominator_binomial=True)
    for rate in (0.1, 0.11)
)
run_test("frequentist revenue per buyer (ratio, binomial denominator)", "frequentist", *revenue_per_buyer)
run_test("bayesian revenue per buyer (ratio, binomial denominator) absolute", "bayesian", *revenue_per_buyer, difference_type="absolute")
run_test("sequential retention 30 days CUPED relative alpha 0.01", "sequential", *retention, alpha=0.01)
run_test("bayesian retention 30 days CUPED relative alpha 0.01", "bayesian", *retention, alpha=0.01)

# Tailor departs here (relative lift over a negative mean): gbstats' numbers are recorded to
# show the difference; the Rust test expects ZERO_NEGATIVE_BASELINE_VARIATION instead.
run_test("frequentist negative baseline relative (Tailor departs)", "frequentist", *negative_baseline)
run_test("bayesian negative baseline relative (Tailor departs)", "bayesian", *negative_baseline)

proper = {"mean": 0.0, "variance": 0.3**2, "proper": True}
run_test("bayesian conversion small proper prior", "bayesian", *conv_small, prior=proper)
run_test("bayesian conversion large proper prior", "bayesian", *conv_large, prior=proper)
run_test("bayesian revenue absolute, relative proper prior rescaled", "bayesian", *rpv, difference_type="absolute", prior={"mean": 0.02, "variance": 0.01, "proper": True})
run_test("bayesian revenue relative, absolute proper prior rescaled", "bayesian", *rpv, prior={"mean": 0.1, "variance": 4.0, "proper": True}, prior_type="absolute")
run_test("bayesian inverse metric", "bayesian", *conv_large, inverse=True)
run_test("bayesian predicted CLV relative alpha 0.1", "bayesian", *clv, alpha=0.1)
run_test("bayesian net revenue absolute (negative values)", "bayesian", *net_revenue, difference_type="absolute")
run_test("bayesian revenue per visitor tiny samples", "bayesian", *rpv_tiny)
run_test("bayesian decisive conversion", "bayesian", *decisive)
run_test("bayesian zero baseline absolute", "bayesian", *zero_baseline, difference_type="absolute")
run_test("bayesian no units in treatment (mean)", "bayesian", *no_units_mean)
run_test("bayesian CUPED with constant pre-period (theta 0)", "bayesian", *cuped_constant_pre)

run_srm("srm two arms balanced", [5_012, 4_988], [0.5, 0.5])
run_srm("srm two arms slight imbalance", [10_200, 9_800], [0.5, 0.5])
run_srm("srm two arms broken", [10_500, 9_500], [0.5, 0.5])
run_srm("srm two arms unequal weights", [2_010, 7_990], [0.2, 0.8])
run_srm("srm three arms unequal weights fine", [5_030, 2_480, 2_490], [0.5, 0.25, 0.25])
run_srm("srm three arms broken", [5_000, 2_900, 2_100], [0.5, 0.25, 0.25])
run_srm("srm four arms large", [250_400, 249_100, 250_900, 249_600], [0.25, 0.25, 0.25, 0.25])
run_srm("srm small counts", [3, 9], [0.5, 0.5])
run_srm("srm one arm empty", [1_000, 0], [0.5, 0.5])
run_srm("srm traffic in a zero-weight arm", [4_950, 5_050, 120], [0.5, 0.5, 0.0])
run_srm("srm no traffic", [0, 0], [0.5, 0.5])

OUT.parent.mkdir(parents=True, exist_ok=True)
document = {
    "generator": "scripts/stats/gbstats_reference.py",
    "gbstats_version": importlib.metadata.version("gbstats"),
    "cases": cases,
}
OUT.write_text(json.dumps(document, indent=1, allow_nan=False) + "\n")
print(f"{len(cases)} cases -> {OUT}")
