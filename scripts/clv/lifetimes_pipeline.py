#!/usr/bin/env python3
"""The CLV pipeline of `tailor eval clv`, done with the Python package `lifetimes`: the
benchmark peer of scripts/clv/bench_vs_lifetimes.sh.

transactions (CDNOW_master.txt) → calibration summary through CALIBRATION_END (days, then
weeks) → BG/NBD, Pareto/NBD and Gamma-Gamma fits → for every customer P(alive), expected
purchases over 52 weeks, expected spend and 12-month CLV; with --holdout also the hold-out
totals tailor reports (to check the two agree).

Usage: lifetimes_pipeline.py CDNOW_master.txt 1997-09-30 [--holdout]
Needs lifetimes 0.11.3 with numpy 1.26 / scipy 1.11 / pandas 1.5 (see lifetimes_reference.py).
"""
import json
import sys
import time

import pandas as pd
from lifetimes import BetaGeoFitter, GammaGammaFitter, ParetoNBDFitter
from lifetimes.utils import calibration_and_holdout_data, summary_data_from_transaction_data


def read_transactions(path):
    transactions = pd.read_csv(path, sep=r"\s+", skiprows=1, header=None,
                               names=["customer_id", "date", "quantity", "amount"],
                               dtype={"customer_id": str, "date": str})
    transactions["date"] = pd.to_datetime(transactions["date"], format="%Y%m%d")
    return transactions


def main():
    path, calibration_end = sys.argv[1], sys.argv[2]
    started = time.perf_counter()
    transactions = read_transactions(path)
    calibration = transactions[transactions["date"] <= calibration_end]
    summary = summary_data_from_transaction_data(
        calibration, "customer_id", "date", monetary_value_col="amount",
        observation_period_end=calibration_end, freq="D")
    # Weeks, the CDNOW convention (and tailor's unit).
    summary["recency"] /= 7.0
    summary["T"] /= 7.0
    x, t_x, T, m = summary["frequency"], summary["recency"], summary["T"], summary["monetary_value"]

    bgnbd = BetaGeoFitter().fit(x, t_x, T)
    pareto = ParetoNBDFitter().fit(x, t_x, T)
    spenders = summary[(summary["frequency"] > 0) & (summary["monetary_value"] > 0)]
    gamma_gamma = GammaGammaFitter().fit(spenders["frequency"], spenders["monetary_value"])

    p_alive = bgnbd.conditional_probability_alive(x, t_x, T)
    expected = bgnbd.conditional_expected_number_of_purchases_up_to_time(52.0, x, t_x, T)
    spend = gamma_gamma.conditional_expected_average_profit(x, m)
    clv = gamma_gamma.customer_lifetime_value(bgnbd, x, t_x, T, m, time=12, discount_rate=0.01, freq="W")
    report = {
        "customers": len(summary),
        "bgnbd": dict(bgnbd.params_),
        "pareto_nbd": dict(pareto.params_),
        "gamma_gamma": dict(gamma_gamma.params_),
        "expected_alive": float(p_alive.sum()),
        "expected_purchases_52_weeks": float(expected.sum()),
        "mean_expected_spend": float(spend.mean()),
        "clv_12_months": float(clv.sum()),
        "seconds": time.perf_counter() - started,
    }
    if "--holdout" in sys.argv:
        holdout = calibration_and_holdout_data(
            transactions, "customer_id", "date", calibration_period_end=calibration_end,
            observation_period_end=transactions["date"].max(), freq="D")
        weeks = holdout["duration_holdout"].iloc[0] / 7.0
        predicted = bgnbd.conditional_expected_number_of_purchases_up_to_time(
            weeks, holdout["frequency_cal"], holdout["recency_cal"] / 7.0, holdout["T_cal"] / 7.0)
        report["holdout"] = {"weeks": float(weeks), "actual_total": float(holdout["frequency_holdout"].sum()),
                             "predicted_total": float(predicted.sum())}
    print(json.dumps(report))


if __name__ == "__main__":
    main()
