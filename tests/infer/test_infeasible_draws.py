"""Draws without a physical steady state are NaN and counted, never a placeholder.

The steady-state Op returns a finite placeholder state (ln Na_i = ln 10, V = -70 mV)
where a parameter set has no steady state, so that graphs stay finite. That state must
never reach a derived quantity, a summary table or a report.
"""

from __future__ import annotations

import json
from pathlib import Path

import arviz as az
import numpy as np
import pandas as pd
import pytest

from iongrad.infer.diagnostics import count_nan_draws, summary_table


def _idata_with_holes():
    rng = np.random.default_rng(3)
    x = rng.normal(5.0, 2.0, size=(2, 300, 3))
    x[0, :17, 1] = np.nan
    x[1, 250:, 1] = np.nan
    y = rng.normal(size=(2, 300))
    return az.from_dict(posterior={"a": x, "b": y}, coords={"cell": ["c1", "c2", "c3"]},
                        dims={"a": ["cell"]}), x


def test_summary_leaves_nan_draws_out_and_counts_them():
    idata, x = _idata_with_holes()
    summ = summary_table(idata, ["b", "a"])
    assert list(summ.index) == ["b", "a[c1]", "a[c2]", "a[c3]"]
    assert summ.loc["a[c2]", "n_nan_draws"] == 17 + 50
    assert summ.loc["a[c1]", "n_nan_draws"] == 0 and summ.loc["b", "n_nan_draws"] == 0
    finite = x[:, :, 1][np.isfinite(x[:, :, 1])]
    assert summ.loc["a[c2]", "mean"] == pytest.approx(finite.mean(), rel=1e-5)
    assert summ.loc["a[c2]", "sd"] == pytest.approx(finite.std(ddof=1), rel=1e-5)
    lo, hi = az.hdi(finite, hdi_prob=0.94)
    assert summ.loc["a[c2]", "hdi_3%"] == pytest.approx(lo, rel=1e-5)
    assert summ.loc["a[c2]", "hdi_97%"] == pytest.approx(hi, rel=1e-5)
    # chains with holes cannot be assessed: no ESS or R-hat is invented for them
    assert np.isnan(summ.loc["a[c2]", "r_hat"]) and np.isnan(summ.loc["a[c2]", "ess_bulk"])
    # elements without holes keep ArviZ's diagnostics
    ref = az.summary(idata, var_names=["b"], round_to="none")
    assert summ.loc["b", "ess_bulk"] == pytest.approx(ref.loc["b", "ess_bulk"], rel=1e-5)
    assert np.isfinite(summ.loc["a[c1]", "r_hat"])
    assert count_nan_draws(idata, ["a", "b"]) == {"a[c2]": 67}


@pytest.mark.slow
def test_fit_with_an_infeasible_reference_reports_nan_not_the_placeholder(tmp_path):
    """Reference: a 100 pA Na+ load, which no plausible pump of this cell can carry."""
    from iongrad.workflows.fit import resolve_config, run_config
    from iongrad.workflows.report import write_report

    raw = {"fit": {"dataset": "synthetic_vrest_ko",
                   "parameters": ["g_na_nS", "g_k_nS", "pump_density_per_um2"],
                   "pooling": "complete"},
           "fixed": {"g_cl_nS": 0.3, "k_na_mM": 12.0},
           "noise": {"na_i_mM": {"sigma": 0.5}, "r_in_MOhm": {"sigma": 0.05}},
           "reference": {"k_o_mM": 4.0, "activity_load_pA": 100.0},
           "sampler": {"seed": 5, "draws": 40, "tune": 40, "chains": 1, "cores": 1,
                       "prior_draws": 20}}
    resolved = resolve_config(raw, Path("."))
    out = tmp_path / "fit"
    out.mkdir()
    summary = run_config(resolved, out)
    run = json.loads((out / "run.json").read_text())
    holes = run["infeasible_draws"]["derived_at_reference"]
    assert run["infeasible_draws"]["posterior_draws"] == 40
    assert holes["draws_with_nan"] == 40
    assert holes["by_variable"]["v_rest_mV"] == 40
    assert summary["infeasible_draws"] == run["infeasible_draws"]
    idata = az.from_netcdf(out / "posterior.nc")
    v = np.asarray(idata.posterior["v_rest_mV"].values)
    assert np.isnan(v).all()
    assert not np.any(np.asarray(idata.posterior["v_rest_mV_cell"].values) == -70.0)
    table = pd.read_csv(out / "summary.csv", index_col=0)
    assert np.isnan(table.loc["v_rest_mV", "mean"])
    assert table.loc["v_rest_mV", "n_nan_draws"] == 40
    assert table.loc["na_i_mM", "n_nan_draws"] == 40
    # parameters are untouched by the reference condition
    assert table.loc["g_na_nS", "n_nan_draws"] == 0 and np.isfinite(table.loc["g_na_nS", "mean"])
    # every posterior draw fits the data, so no posterior predictive draw is missing
    assert np.isfinite(np.asarray(idata.posterior_predictive["v_rest_mV_obs"].values)).all()
    write_report(out)
    md = (out / "report.md").read_text()
    assert "40 of 40 posterior draws have no physical steady state" in md
    assert "-70.0" not in md.split("## Derived")[-1][:2000]
