#!/usr/bin/env python3
"""Reference values from the Python package `lifetimes` for Tailor's CLV models.

Fits BG/NBD, Pareto/NBD and Gamma-Gamma with lifetimes on the CDNOW cohort summary
(../shared/data/cdnow/cdnow_customers_summary_with_transactions.csv) and writes the fitted
parameters plus predictions for 200 customers spread across the cohort (every 12th ID and the
last) to crates/ml/tests/data/lifetimes_cdnow.json, which crates/ml/tests/lifetimes_cdnow.rs
compares number for number.

lifetimes 0.11.3 breaks with pandas 3 / numpy 2 ("Some values in recency vector are larger
than T vector"); run it in a venv with the last versions it supports:
    python3 -m venv /tmp/lt-venv
    /tmp/lt-venv/bin/pip install lifetimes==0.11.3 numpy==1.26.4 scipy==1.11.4 pandas==1.5.3 autograd==1.6.2
    /tmp/lt-venv/bin/python scripts/clv/lifetimes_reference.py
"""
import json
import os
import sys

import lifetimes
import numpy as np
import pandas as pd
from lifetimes import BetaGeoFitter, GammaGammaFitter, ParetoNBDFitter

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = os.path.join(ROOT, "..", "shared", "data", "cdnow", "cdnow_customers_summary_with_transactions.csv")
OUT = os.path.join(ROOT, "crates", "ml", "tests", "data", "lifetimes_cdnow.json")
HORIZON_WEEKS = 52.0


def main():
    summary = pd.read_csv(DATA)
    x, t_x, T, m = summary["x"], summary["t_x"], summary["T"], summary["zbar"]

    bgnbd = BetaGeoFitter().fit(x, t_x, T)
    pareto = ParetoNBDFitter().fit(x, t_x, T)
    spenders = summary[summary["x"] > 0]
    gamma_gamma = GammaGammaFitter().fit(spenders["x"], spenders["zbar"])

    picked = summary.iloc[list(range(0, len(summary), 12)) + [len(summary) - 1]]
    px, pt_x, pT, pm = picked["x"], picked["t_x"], picked["T"], picked["zbar"]
    predictions = pd.DataFrame({
        "id": picked["ID"],
        "x": px,
        "t_x": pt_x,
        "T": pT,
        "zbar": pm,
        "bgnbd_p_alive": bgnbd.conditional_probability_alive(px, pt_x, pT),
        "bgnbd_expected_52": bgnbd.conditional_expected_number_of_purchases_up_to_time(HORIZON_WEEKS, px, pt_x, pT),
        "pareto_p_alive": pareto.conditional_probability_alive(px, pt_x, pT),
        "pareto_expected_52": pareto.conditional_expected_number_of_purchases_up_to_time(HORIZON_WEEKS, px, pt_x, pT),
        "expected_spend": gamma_gamma.conditional_expected_average_profit(px, pm),
        "clv_bgnbd_12_months": gamma_gamma.customer_lifetime_value(
            bgnbd, px, pt_x, pT, pm, time=12, discount_rate=0.01, freq="W"),
    })

    def params(fitter, names):
        return {name: float(fitter.params_[name]) for name in names}

    reference = {
        "generated_by": "scripts/clv/lifetimes_reference.py",
        "versions": {"lifetimes": lifetimes.__version__, "numpy": np.__version__, "pandas": pd.__version__},
        "bgnbd": {**params(bgnbd, ["r", "alpha", "a", "b"]),
                  "loglik": float(-BetaGeoFitter._negative_log_likelihood(
                      np.log(bgnbd.params_[["r", "alpha", "a", "b"]].values), x, t_x, T, np.ones(len(x)), 0.0)
                                 * len(summary))},
        "pareto_nbd": {**params(pareto, ["r", "alpha", "s", "beta"]),
                       "loglik": float(ParetoNBDFitter._conditional_log_likelihood(
                           pareto.params_[["r", "alpha", "s", "beta"]].values, x, t_x, T).sum())},
        "gamma_gamma": params(gamma_gamma, ["p", "q", "v"]),
        "horizon_weeks": HORIZON_WEEKS,
        "customers": [
            {k: (int(v) if k in ("id", "x") else float(v)) for k, v in row.items()}
            for row in predictions.to_dict(orient="records")
        ],
    }
    with open(OUT, "w") as f:
        json.dump(reference, f, indent=1)
        f.write("\n")
    print(f"wrote {OUT}: {len(reference['customers'])} customers", file=sys.stderr)
    print(json.dumps({k: reference[k] for k in ("bgnbd", "pareto_nbd", "gamma_gamma")}), file=sys.stderr)


if __name__ == "__main__":
    main()
