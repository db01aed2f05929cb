"""Derived steady-state quantities exist for every fit: per cell, per FXYD state and per
condition of the data, and they are the forward model evaluated at the draw's parameters.

The K½-summaries fit (``fit_literature_plm.toml``: K_Na per FXYD1 state, no observable
that needs a steady state) is sampled with short chains; the per-condition variables of a
multi-condition fit (``fit_vrest_ko.toml``, five [K]o) are checked on prior draws of its
model, which carry the same deterministics without sampling.
"""

from __future__ import annotations

import json
import tomllib
from importlib import resources
from pathlib import Path

import arviz as az
import numpy as np
import pandas as pd
import pymc as pm
import pytest

from iongrad.infer.model import DERIVED, build_model
from iongrad.models.steady_state import solve_steady_state
from iongrad.workflows import fit

STATES = ["unphosphorylated", "phosphorylated", "absent"]


def _example(name: str) -> dict:
    text = resources.files("iongrad.workflows").joinpath("examples", name) \
        .read_text(encoding="utf-8")
    return tomllib.loads(text)


@pytest.fixture(scope="module")
def plm_fit(tmp_path_factory) -> Path:
    raw = _example("fit_literature_plm.toml")
    raw["sampler"].update(draws=60, tune=60, prior_draws=40, cores=1)
    out = tmp_path_factory.mktemp("plm") / "run"
    out.mkdir()
    fit.run_config(fit.resolve_config(raw, out), out, progress=False)
    return out


def test_k_half_fit_has_derived_quantities_per_cell_and_fxyd_state(plm_fit):
    post = az.from_netcdf(plm_fit / "posterior.nc").posterior
    cells = list(post["cell"].values)
    assert cells == ["wt_myocyte_control", "wt_myocyte_iso", "plmko_myocyte_control"]
    assert list(post["fxyd_state"].values) == STATES
    for k in DERIVED:
        assert post[k].dims == ("chain", "draw")
        assert post[f"{k}_cell"].dims == ("chain", "draw", "cell")
        assert post[f"{k}_fxyd"].dims == ("chain", "draw", "fxyd_state")
        assert post[f"{k}_cell_fxyd"].dims == ("chain", "draw", "cell", "fxyd_state")
        # the data's only condition is the FXYD state: no separate condition dimension
        assert f"{k}_condition" not in post and f"{k}_cell_condition" not in post
        # the reference state is "unphosphorylated"; complete pooling: every cell alike
        np.testing.assert_array_equal(post[k].values,
                                      post[f"{k}_fxyd"].sel(fxyd_state=STATES[0]).values)
        for c in cells:
            np.testing.assert_array_equal(post[f"{k}_cell_fxyd"].sel(cell=c).values,
                                          post[f"{k}_fxyd"].values)
    run = json.loads((plm_fit / "run.json").read_text())
    assert run["derived"]["fxyd_states"] == STATES
    assert run["derived"]["reference_fxyd_state"] == STATES[0]
    assert run["derived"]["reference"] == {"k_o_mM": 4.0} and run["derived"]["conditions"] == []
    summary = pd.read_csv(plm_fit / "summary.csv", index_col="variable")
    for s in STATES:
        assert summary.loc[f"na_i_mM_fxyd[{s}]", "unit"] == "mM"
        assert summary.loc[f"v_rest_mV_fxyd[{s}]", "unit"] == "mV"


def test_na_i_per_fxyd_state_is_the_steady_state_of_the_draw(plm_fit):
    post = az.from_netcdf(plm_fit / "posterior.nc").posterior
    k_na = post["k_na_mM"].transpose("chain", "draw", "fxyd_state").values
    na_i = post["na_i_mM_fxyd"].transpose("chain", "draw", "fxyd_state").values
    assert np.isfinite(na_i).all()
    # one draw: the forward model at its K_Na per state, every other parameter at its
    # default, the reference condition ([K]o = 4 mM)
    ss = solve_steady_state(k_na_mM=k_na[1, 7], k_o_mM=4.0)
    assert ss.feasible.all()
    np.testing.assert_allclose(na_i[1, 7], ss.na_i_mM, rtol=1e-9)
    for k in ("v_rest_mV", "pump_current_pA", "atp_per_s"):
        np.testing.assert_allclose(post[f"{k}_fxyd"].values[1, 7], getattr(ss, k), rtol=1e-9)
    # in every draw, a lower K_Na gives a lower Na+ set point (same leaks and pump)
    assert (np.argsort(k_na, axis=-1) == np.argsort(na_i, axis=-1)).all()
    assert not np.allclose(na_i[..., 0], na_i[..., 1])


@pytest.mark.filterwarnings("ignore:The effect of Potentials")  # prior draws, not the fit
def test_multi_condition_fit_has_derived_quantities_per_condition():
    raw = _example("fit_vrest_ko.toml")
    resolved = fit.resolve_config(raw, Path("."))
    dataset = fit.load_dataset_ref(resolved["dataset"])
    spec = fit.fit_spec(resolved)
    model, info = build_model(dataset, spec)
    labels = [f"k_o_mM={v:g}" for v in (2, 4, 8, 16, 32)]
    conds = info["derived"]["conditions"]
    assert [c["label"] for c in conds] == labels
    with model:
        prior = pm.sample_prior_predictive(draws=4, random_seed=5).prior
    for k in DERIVED:
        assert prior[f"{k}_condition"].dims == ("chain", "draw", "condition")
        assert prior[f"{k}_cell_condition"].dims == ("chain", "draw", "cell", "condition")
        assert list(prior[f"{k}_condition"]["condition"].values) == labels
    cells = list(prior["cell"].values)
    assert cells == sorted(set(dataset.frame["cell"]), key=list(dataset.frame["cell"]).index)
    checked = 0
    for d in range(4):
        g = {p: prior[f"{p}_cell"].values[0, d] for p in spec.parameters}
        for j, c in enumerate(conds):
            assert c["values"]["k_o_mM"] == float(labels[j].split("=")[1])
            ss = solve_steady_state(**{**c["values"], **g})
            got = prior["v_rest_mV_cell_condition"].values[0, d, :, j]
            np.testing.assert_allclose(got[ss.feasible], ss.v_rest_mV[ss.feasible], rtol=1e-9)
            assert np.isnan(got[~ss.feasible]).all()
            checked += int(ss.feasible.sum())
    assert checked > 20
