"""Parameter recovery on the shipped synthetic datasets, and a fit to published values.

Each example config is fitted exactly as ``iongrad fit`` would; the true
population parameters (recorded in each dataset's sidecar by the generator) must
lie inside their 94% HDIs, with R-hat <= 1.01 and no divergent transitions.
"""

import json
from importlib.resources import files
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from iongrad.data import load_shipped
from iongrad.workflows.config import load_toml
from iongrad.workflows.fit import resolve_config, run_config

EXAMPLES = Path(str(files("iongrad.workflows") / "examples"))


_CACHE: dict = {}


def _fit(name, tmp_path_factory):
    """Fit an example config once per test session (several tests read the same fit)."""
    if name not in _CACHE:
        cfg = EXAMPLES / f"{name}.toml"
        resolved = resolve_config(load_toml(cfg), cfg.parent)
        out = tmp_path_factory.mktemp(name)
        summary = run_config(resolved, out)
        _CACHE[name] = (resolved, out, summary)
    return _CACHE[name]


def _truth(dataset_name):
    prov = load_shipped(dataset_name).provenance["true_parameters"]
    truth = dict(prov["population_median"])
    for state, k in prov.get("k_na_mM_by_fxyd_state", {}).items():
        truth[f"k_na_mM[{state}]"] = k
    return truth


def _check_recovery(out, summary, truth, fitted):
    summ = pd.read_csv(out / "summary.csv", index_col="variable")
    checked = set()
    for name, value in truth.items():
        if name.split("[")[0] not in fitted:
            continue
        lo, hi = summ.loc[name, "hdi_3%"], summ.loc[name, "hdi_97%"]
        assert lo <= value <= hi, f"{name}: truth {value} outside 94% HDI [{lo}, {hi}]"
        checked.add(name.split("[")[0])
    assert checked == set(fitted), f"no truth checked for {set(fitted) - checked}"
    assert summary["n_divergences"] == 0
    rhat = summ["r_hat"].to_numpy(dtype=float)
    assert np.nanmax(rhat) <= 1.01, summ["r_hat"].idxmax()


@pytest.mark.parametrize(("config", "dataset"), [
    ("fit_vrest_ko", "synthetic_vrest_ko"),
    ("fit_vrest_nao", "synthetic_vrest_nao"),
    ("fit_nai_fxyd", "synthetic_nai_fxyd"),
])
def test_recovery_on_synthetic_data(config, dataset, tmp_path_factory):
    resolved, out, summary = _fit(config, tmp_path_factory)
    _check_recovery(out, summary, _truth(dataset), resolved["parameters"])
    run = json.loads((out / "run.json").read_text())
    assert run["diagnostics"]["checks"][3]["name"] == "divergences"


def test_fxyd_shift_and_identifiability_reported(tmp_path_factory):
    _, out, _ = _fit("fit_nai_fxyd", tmp_path_factory)
    summ = pd.read_csv(out / "summary.csv", index_col="variable")
    # phosphorylation doubles K_Na in this synthetic cell (10 -> 20 mM)
    lo, hi = summ.loc["k_na_shift_mM", "hdi_3%"], summ.loc["k_na_shift_mM", "hdi_97%"]
    assert lo <= 10.0 <= hi and lo > 0
    run = json.loads((out / "run.json").read_text())
    pairs = {(a, b) for a, b, _ in run["identifiability"]["correlations"]}
    assert ("k_na_mM[unphosphorylated]", "k_na_mM[phosphorylated]") in pairs


def test_published_values_fit(tmp_path_factory):
    """Despa et al. 2005: K_Na 18.8 ± 1.4 (control) vs 13.6 ± 1.5 mM (isoproterenol)."""
    _, out, summary = _fit("fit_literature_plm", tmp_path_factory)
    summ = pd.read_csv(out / "summary.csv", index_col="variable")
    assert summary["n_divergences"] == 0
    assert summ["r_hat"].max() <= 1.01
    for state, mean, pm_ in (("unphosphorylated", 18.8, 1.4), ("phosphorylated", 13.6, 1.5),
                             ("absent", 14.2, 1.5)):
        row = summ.loc[f"k_na_mM[{state}]"]
        # a wide prior and one published mean: the posterior sits within 1 SEM of it
        assert abs(row["mean"] - mean) < pm_, state
        assert row["hdi_3%"] < mean < row["hdi_97%"]
    shift = summ.loc["k_na_shift_mM"]
    assert shift["hdi_97%"] < 0  # phosphorylation lowers K_Na for FXYD1
