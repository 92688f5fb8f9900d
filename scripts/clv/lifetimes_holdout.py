#!/usr/bin/env python3
"""BG/NBD and MBG/NBD with the Python package `lifetimes` on the split `tailor eval clv` uses:
transactions (CDNOW_master.txt's format) → calibration summary through CALIBRATION_END (days,
then weeks) → BetaGeoFitter and ModifiedBetaGeoFitter → expected repeat purchases in the
hold-out (calibration end to the last date), scored against the actual ones for everyone, for
one-time buyers (no repeat purchase in calibration) and for repeat buyers. Prints one JSON
object.

`tailor eval clv --lifetimes PYTHON` runs this file (built into the binary) with PYTHON and
prints its numbers beside its own. Needs lifetimes 0.11.3 with numpy 1.26 / scipy 1.11 /
pandas 1.5 (see lifetimes_reference.py for the venv).

Usage: lifetimes_holdout.py TRANSACTIONS CALIBRATION_END
"""
import json
import sys
import time

import numpy as np
import pandas as pd
from lifetimes import BetaGeoFitter, ModifiedBetaGeoFitter
from lifetimes.utils import calibration_and_holdout_data


def read_transactions(path):
    transactions = pd.read_csv(path, sep=r"\s+", skiprows=1, header=None,
                               names=["customer_id", "date", "quantity", "amount"],
                               dtype={"customer_id": str, "date": str})
    transactions["date"] = pd.to_datetime(transactions["date"], format="%Y%m%d")
    return transactions


def score(actual, predicted):
    return {"customers": int(len(actual)), "actual_total": float(actual.sum()),
            "predicted_total": float(predicted.sum()),
            "mae": float(np.abs(actual - predicted).mean()) if len(actual) else None}


def main():
    path, calibration_end = sys.argv[1], sys.argv[2]
    started = time.perf_counter()
    transactions = read_transactions(path)
    data = calibration_and_holdout_data(
        transactions, "customer_id", "date", calibration_period_end=calibration_end,
        observation_period_end=transactions["date"].max(), freq="D")
    x = data["frequency_cal"]
    t_x, T = data["recency_cal"] / 7.0, data["T_cal"] / 7.0
    weeks = float(data["duration_holdout"].iloc[0]) / 7.0
    actual = data["frequency_holdout"]
    one_time = (x == 0).values
    report = {"customers": int(len(data)), "weeks": weeks}
    for name, fitter in (("bgnbd", BetaGeoFitter()), ("mbgnbd", ModifiedBetaGeoFitter())):
        fitter.fit(x, t_x, T)
        predicted = fitter.conditional_expected_number_of_purchases_up_to_time(weeks, x, t_x, T)
        p_alive = np.asarray(fitter.conditional_probability_alive(x, t_x, T))
        report[name] = {
            **{k: float(v) for k, v in fitter.params_.items()},
            # lifetimes minimises the mean negative log-likelihood per customer in rescaled
            # time; evaluated here in weeks, the unit tailor reports.
            "loglik": float(-fitter._negative_log_likelihood(
                np.log(fitter.params_[["r", "alpha", "a", "b"]].values), x.values.astype(int),
                t_x.values, T.values, np.ones(len(data)), 0.0) * len(data)),
            "all": score(actual, predicted),
            "one_time": {**score(actual[one_time], predicted[one_time]),
                         "mean_p_alive": float(p_alive[one_time].mean())},
            "repeat": {**score(actual[~one_time], predicted[~one_time]),
                       "mean_p_alive": float(p_alive[~one_time].mean())},
        }
    report["seconds"] = time.perf_counter() - started
    print(json.dumps(report))


if __name__ == "__main__":
    main()
