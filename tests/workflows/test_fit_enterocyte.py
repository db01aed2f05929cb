"""The enterocyte fit example (``fit_enterocyte_sglt1.toml``): SGLT1 activity and Na+
leak of the shipped synthetic cells (``iongrad.data.generate_enterocyte``) from Na_i,
V_rest and O2 use in a glucose-free bath and with 10 mM glucose.

The fast test builds the example's model and checks that its log-density is highest
near the documented truth; the fit (``slow``: about 35-50 s on 2 cores, most of it
compiling) recovers the truth and the ATP that SGLT1's Na+ load costs.
"""

from __future__ import annotations

import tomllib
from importlib.resources import files
from pathlib import Path

import arviz as az
import numpy as np
import pytest

import iongrad
from iongrad.data import generate_enterocyte as ge
from iongrad.workflows.fit.config import resolve_config
from iongrad.workflows.fit.pipeline import rebuild_model

EXAMPLE = Path(str(files("iongrad.workflows") / "examples")) / "fit_enterocyte_sglt1.toml"


def _config() -> dict:
    return tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))


def test_example_matches_the_dataset_and_builds():
    cfg = _config()
    assert cfg["model"]["composition"] == ge.MODEL_NAME
    assert cfg["fit"]["dataset"] == ge.NAME
    assert set(cfg["fit"]["parameters"]) == set(ge.TRUTH)
    # the noise the example assumes is the noise the generator added
    assert cfg["noise"]["na_i_mM"]["sigma"] == ge.NOISE["na_i_mM"]["sd"]
    assert cfg["noise"]["v_rest_mV"]["sigma"] == ge.NOISE["v_rest_mV"]["sd"]
    assert cfg["noise"]["o2_per_s"]["sigma"] == ge.NOISE["o2_per_s"]["sigma_log"]
    resolved = resolve_config(cfg, EXAMPLE.parent)
    model, info = rebuild_model(resolved)
    assert set(info["observables"]) == {"na_i_mM", "v_rest_mV", "o2_per_s"}
    # the glucose bath is a per-row condition of the likelihood, and a derived condition
    conds = [c["label"] for c in info["derived"]["conditions"]]
    assert conds == ["glucose_o_mM=0", "glucose_o_mM=10"], conds
    # the log-density is larger at the truth than at half or twice either parameter
    logp = model.compile_logp()
    point = model.initial_point()

    def at(**values):
        p = dict(point)
        p.update({f"{k}_log__" if f"{k}_log__" in p else f"{k}_log": np.log(v)
                  for k, v in values.items()})
        return float(logp(p))

    best = at(**ge.TRUTH)
    assert np.isfinite(best)
    for name in ge.TRUTH:
        for factor in (0.5, 2.0):
            assert at(**{**ge.TRUTH, name: ge.TRUTH[name] * factor}) < best - 5.0, name


@pytest.mark.slow
def test_fit_recovers_sglt1_and_the_leak_and_the_sglt1_atp_share():
    result = iongrad.fit(_config())
    idata = result.idata
    names = [*ge.TRUTH, "sglt1_atp_per_s", "atp_per_s"]
    s = az.summary(idata, var_names=names, hdi_prob=0.94)
    assert int(idata.sample_stats["diverging"].sum()) == 0
    assert (s["r_hat"] < 1.01).all(), s["r_hat"]
    assert (s["ess_bulk"] > 400).all(), s["ess_bulk"]
    for name, truth in ge.TRUTH.items():
        assert s.loc[name, "hdi_3%"] < truth < s.loc[name, "hdi_97%"], (name, s.loc[name])
    # the Na+ leak is pinned by the glucose-free O2 use (there the pump pays for the leak
    # alone, so log O2 moves one for one with log g_na): 4 cells at sigma_log 0.1 would
    # give a 94% width of 2 x 1.88 x 0.1 / sqrt(4) = 19% of the value; Na_i and V_rest
    # narrow it further, to below two thirds of that
    width = s.loc["g_na_nS", "hdi_97%"] - s.loc["g_na_nS", "hdi_3%"]
    o2_alone = 2 * 1.88 * ge.NOISE["o2_per_s"]["sigma_log"] / np.sqrt(ge.N_CELLS)
    assert width < 2 / 3 * o2_alone * ge.TRUTH["g_na_nS"], (width, o2_alone)
    # the ATP the pump spends on SGLT1's Na+ at the reference (10 mM glucose), and the
    # cell's total, are covered; the truth is the noiseless steady state
    clean = ge.noiseless([10.0])
    for name in ("sglt1_atp_per_s", "atp_per_s"):
        truth = float(clean[name][0])
        assert s.loc[name, "hdi_3%"] < truth < s.loc[name, "hdi_97%"], (name, truth, s.loc[name])
    # SGLT1's share is resolved away from zero: glucose absorption costs ATP
    share = (idata.posterior["sglt1_atp_per_s"] / idata.posterior["atp_per_s"]).to_numpy()
    assert np.quantile(share, 0.03) > 0.1
