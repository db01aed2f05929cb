"""Fast simulation-based calibration of the multi-cell steady-state fit.

A reduced run of ``benchmarks/sbc.py`` (Talts et al. 2018): 20 replications of
prior draw -> simulated data -> NUTS fit, with the model compiled once and the
data swapped in with ``pm.set_data``. If the posterior is right, each 90 %
central interval covers the true value with probability 0.9, so over all
parameter-replication pairs the number covered is Binomial(n, 0.9); a two-sided
binomial test must not reject at the 1 % level.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from scipy import stats

_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "sbc.py"
_spec = importlib.util.spec_from_file_location("iongrad_bench_sbc", _PATH)
sbc = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(sbc)


def test_90_percent_intervals_cover_at_the_nominal_rate():
    res = sbc.run_sbc(20, seed=20250214, draws=200, tune=200, thin=4, n_cells=2, n_bins=5,
                      max_treedepth=6)
    assert not res["reps_failed"], res["reps_failed"]
    k = round(res["coverage_90_all"] * res["n_pairs"])
    assert res["n_pairs"] == 20 * len(sbc.quantities())
    p = stats.binomtest(k, res["n_pairs"], 0.9).pvalue
    assert p > 0.01, (k, res["n_pairs"], sbc.format_result(res))
