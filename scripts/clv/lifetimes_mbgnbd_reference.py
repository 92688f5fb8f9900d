#!/usr/bin/env python3
"""Reference values from `lifetimes`' ModifiedBetaGeoFitter (MBG/NBD) on the CDNOW cohort
summary, for crates/ml/tests/lifetimes_cdnow.rs: the fitted parameters with their
log-likelihood, and P(alive) and expected purchases over 52 weeks for the same 198 customers
as lifetimes_reference.py (every 12th ID and the last). Writes
crates/ml/tests/data/lifetimes_mbgnbd_cdnow.json. Same venv as lifetimes_reference.py:
    /tmp/lt-venv/bin/python scripts/clv/lifetimes_mbgnbd_reference.py
"""
import json
import os

import lifetimes
import numpy as np
import pandas as pd
from lifetimes import ModifiedBetaGeoFitter

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = os.path.join(ROOT, "..", "shared", "data", "cdnow", "cdnow_customers_summary_with_transactions.csv")
OUT = os.path.join(ROOT, "crates", "ml", "tests", "data", "lifetimes_mbgnbd_cdnow.json")
HORIZON_WEEKS = 52.0


def main():
    summary = pd.read_csv(DATA)
    x, t_x, T = summary["x"], summary["t_x"], summary["T"]
    model = ModifiedBetaGeoFitter().fit(x, t_x, T)
    picked = summary.iloc[list(range(0, len(summary), 12)) + [len(summary) - 1]]
    px, pt_x, pT = picked["x"], picked["t_x"], picked["T"]
    params = model.params_[["r", "alpha", "a", "b"]]
    reference = {
        "generated_by": "scripts/clv/lifetimes_mbgnbd_reference.py",
        "versions": {"lifetimes": lifetimes.__version__, "numpy": np.__version__, "pandas": pd.__version__},
        "mbgnbd": {**{k: float(v) for k, v in params.items()},
                   "loglik": float(-ModifiedBetaGeoFitter._negative_log_likelihood(
                       np.log(params.values), x.values, t_x.values, T.values, np.ones(len(x)), 0.0) * len(x))},
        "horizon_weeks": HORIZON_WEEKS,
        "customers": [
            {"id": int(i), "x": int(a), "t_x": float(b), "T": float(c), "p_alive": float(p), "expected_52": float(e)}
            for i, a, b, c, p, e in zip(
                picked["ID"], px, pt_x, pT,
                np.asarray(model.conditional_probability_alive(px, pt_x, pT)),
                np.asarray(model.conditional_expected_number_of_purchases_up_to_time(HORIZON_WEEKS, px, pt_x, pT)))
        ],
    }
    with open(OUT, "w") as f:
        json.dump(reference, f, indent=1)
        f.write("\n")
    print(json.dumps(reference["mbgnbd"]))


if __name__ == "__main__":
    main()
