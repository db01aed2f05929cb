"""Run-down fit: spec validation, config dispatch, and a short recovery fit.

The recovery fit is the shipped example config (``workflows/examples/fit_rundown.toml``:
five parameters, three recordings, 2 chains x (500 + 1000) NUTS iterations), run end to end
as ``iongrad fit`` runs it; the true values are in the dataset's provenance (written by
:mod:`iongrad.data.generate_rundown`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from iongrad.data import load_shipped
from iongrad.infer.rundown_model import RundownSpec, build_rundown_model, prepare
from iongrad.models.errors import ConfigError
from iongrad.models.membrane import composition

EXAMPLE = Path(__file__).resolve().parents[2] / "workflows" / "examples" / "fit_rundown.toml"


@pytest.fixture(scope="module")
def dataset():
    return load_shipped("synthetic_rundown")


def test_prepare_maps_recordings_to_one_time_axis(dataset):
    prep = prepare(dataset, RundownSpec())
    assert prep["obs"] == ("v_rest_mV", "na_i_mM", "k_o_mM")
    assert prep["ecs"]
    assert set(prep["recordings"]) == {"r1", "r2", "r3"}
    frame = dataset.frame
    since = frame["time_s"].to_numpy() - frame["onset_s"].astype(float).to_numpy()
    np.testing.assert_array_equal(prep["grid"][prep["grid_idx"]], since)
    assert (since < 0).any() and (since > 0).any()  # baselines and run-downs


@pytest.mark.parametrize(("spec", "match"), [
    (RundownSpec(parameters=("g_na_nS",)), "cannot be fitted"),
    (RundownSpec(mode="anoxia", parameters=("tau_block_s",)), "no effect"),
    (RundownSpec(observables=("o2_per_s",)), "not predicted"),
    (RundownSpec(parameters=("tau_atp_s",)), "needs a finite extracellular space"),
    (RundownSpec(fixed={"nonsense": 1.0}), "unknown parameter"),
    (RundownSpec(priors={"tau_atp_s": {"median": -1.0}}), "median must be"),
    (RundownSpec(method="euler"), "method must be"),
])
def test_spec_errors_name_the_field(dataset, spec, match):
    with pytest.raises(ConfigError, match=match):
        build_rundown_model(dataset, spec)


def test_fit_config_dispatches_to_rundown():
    from iongrad.workflows.config import load_toml
    from iongrad.workflows.fit import resolve_config

    raw = load_toml(EXAMPLE)
    resolved = resolve_config(raw, EXAMPLE.parent)
    assert resolved["model"] == "rundown" and resolved["kind"] == "fit"
    raw["fit"]["mode"] = "sideways"
    with pytest.raises(ConfigError, match="mode"):
        resolve_config(raw, EXAMPLE.parent)


def _logp_at_start(model):
    fn = model.compile_logp()
    return float(fn(model.initial_point()))


def test_model_table_chooses_the_membrane_that_runs_down(dataset):
    """``[model]`` in a run-down fit: the default cell named explicitly gives the very same
    log-density; a four-ion cell (an HCO3- leak added) builds, predicts the same
    observables from its own generated system, and differs; a volume-changing or
    pm.ode-baseline choice is refused with the field named."""
    from iongrad.workflows.config import load_toml
    from iongrad.workflows.fit import resolve_config

    raw = load_toml(EXAMPLE)
    base = build_rundown_model(dataset, RundownSpec(fixed={"p_cl_cm_s": 1e-7}))[0]
    same = build_rundown_model(dataset, RundownSpec(
        fixed={"p_cl_cm_s": 1e-7}, membrane=composition("pump_leak_ghk")))[0]
    assert _logp_at_start(same) == _logp_at_start(base)
    four = composition("pump_leak_ghk_hco3")
    model, info = build_rundown_model(dataset, RundownSpec(fixed={"p_cl_cm_s": 1e-7},
                                                           membrane=four))
    assert info["op"].outputs == ("v_mV", "na_i_mM", "k_i_mM", "cl_i_mM", "hco3_i_mM",
                                  "na_o_mM", "k_o_mM", "cl_o_mM", "hco3_o_mM")
    lp = _logp_at_start(model)
    assert np.isfinite(lp) and lp != _logp_at_start(base)
    # the config route, recorded in the resolved config
    raw["model"] = {"composition": "pump_leak_ghk_hco3"}
    resolved = resolve_config(raw, EXAMPLE.parent)
    assert resolved["raw"]["model"] == {"composition": "pump_leak_ghk_hco3"}
    raw["fit"]["parameters"] = ["tau_atp_s", "p_hco3_cm_s", "extracellular_fraction"]
    resolve_config(raw, EXAMPLE.parent)  # the HCO3- permeability is fittable here
    for bad, match in (({"composition": "pump_leak_osmotic"}, "fixed-volume"),
                       ({"composition": "pump_leak_ghk"}, "pm_ode")):
        raw["model"] = bad
        raw["fit"]["method"] = "pm_ode" if match == "pm_ode" else "sensitivity_op"
        with pytest.raises(ConfigError, match=match):
            resolve_config(raw, EXAMPLE.parent)


@pytest.fixture(scope="module")
def example_fit(tmp_path_factory):
    """The shipped example config, fitted end to end as ``iongrad fit`` does it."""
    from iongrad.workflows.config import load_toml
    from iongrad.workflows.fit import resolve_config, run_config
    from iongrad.workflows.report import write_report

    out = tmp_path_factory.mktemp("rundown_fit")
    resolved = resolve_config(load_toml(EXAMPLE), EXAMPLE.parent)
    result = run_config(resolved, out)
    write_report(out)
    return out, result


def test_example_fit_recovers_the_generating_parameters(example_fit, dataset):
    """Five parameters from three recordings: all truths inside a joint 94% credible region,
    converged.

    Five separate 94% HDIs all contain their truths with probability 0.94^5 = 0.73 even for
    a perfectly calibrated posterior, so that check fails one correct fit in four. The joint
    check uses Bonferroni's correction: each truth inside its 1 - 0.06/5 = 98.8% HDI (family-wise
    miss rate <= 6%). Calibration itself is tested by SBC (``test_sbc_fast.py``).
    """
    import arviz as az
    import pandas as pd

    out, result = example_fit
    truth = dataset.provenance["true_parameters"]["fitted"]
    summ = pd.read_csv(out / "summary.csv", index_col="variable")
    post = az.from_netcdf(out / "posterior.nc").posterior
    prob = 1.0 - 0.06 / len(truth)
    for name, value in truth.items():
        row = summ.loc[name]
        lo, hi = az.hdi(np.asarray(post[name].values).ravel(), hdi_prob=prob)
        assert lo <= value <= hi, (name, value, prob, lo, hi, row.to_dict())
        # and not merely inside a wide interval: within 3 posterior SDs of the mean
        assert abs(row["mean"] - value) < 3 * row["sd"], (name, value, row.to_dict())
    assert float(summ["r_hat"].max()) <= 1.01, summ["r_hat"]
    assert result["n_divergences"] == 0
    assert result["verdict"] == "pass"


def test_example_fit_writes_derived_quantities_and_bands(example_fit, dataset):
    """Time to -40 mV, end state and trajectory bands are physically consistent."""
    import json

    import pandas as pd

    out, _ = example_fit
    summ = pd.read_csv(out / "summary.csv", index_col="variable")
    run = json.loads((out / "run.json").read_text())
    assert run["model"]["kind"] == "rundown" and run["derived"]["n_failed"] == 0
    assert run["derived"]["fraction_reached"] == 1.0
    # the observed V of every recording crosses -40 mV; its time since onset brackets the
    # posterior time to threshold (observations are noisy: within 60 s)
    rows = pd.DataFrame(run["rows"])
    for _, rec in rows.groupby("recording"):
        v = rec.dropna(subset=["v_rest_mV"]).sort_values("time_since_onset_s")
        first = v[v["v_rest_mV"] >= -40.0]["time_since_onset_s"].iloc[0]
        assert abs(first - summ.loc["time_to_threshold_s", "mean"]) < 60.0
    # run-down: Na_i rises, K_i falls, K_o rises, V depolarises but stays below 0 mV
    assert summ.loc["na_i_end_mM", "mean"] > 30.0
    assert summ.loc["k_o_end_mM", "mean"] > 4.0 * 5
    assert -40.0 < summ.loc["v_end_mV", "mean"] < 0.0
    bands = pd.read_csv(out / "trajectory_bands.csv")
    assert set(bands["quantity"]) >= {"v_rest_mV", "na_i_mM", "k_o_mM"}
    assert (bands["q03"] <= bands["q50"]).all() and (bands["q50"] <= bands["q97"]).all()
    # predictive bands contain the model bands (noise only widens)
    m = bands[bands["band"] == "model"].set_index(["quantity", "time_since_onset_s"])
    pp = bands[bands["band"] == "predictive"].set_index(["quantity", "time_since_onset_s"])
    assert (pp["q97"] - pp["q03"] >= m["q97"] - m["q03"]).mean() > 0.95
    # before the onset every trajectory sits at its steady state: the band is flat
    pre = m.reset_index()
    pre = pre[(pre["quantity"] == "v_rest_mV") & (pre["time_since_onset_s"] < 0)]
    assert pre["q50"].max() - pre["q50"].min() < 1e-6


def test_example_fit_report_shows_the_time_courses(example_fit):
    out, _ = example_fit
    md = (out / "report.md").read_text(encoding="utf-8")
    for heading in ("## Data", "## Model, observables and priors", "## Sampler diagnostics",
                    "## Derived quantities: time to depolarisation and end state",
                    "## Time courses and posterior predictive checks"):
        assert heading in md, heading
    assert "time_courses.png" in md and "logit-normal" in md
    assert "Diagnostics: PASS" in md
    png = (out / "report_files" / "time_courses.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000


def test_example_fit_stores_the_log_likelihood_per_recording_and_time(example_fit):
    """The pointwise log-likelihood (for ``iongrad compare``) is on named row dimensions
    whose coordinates are the data rows, with the recording and time of each row."""
    import json

    import arviz as az

    out, _ = example_fit
    idata = az.from_netcdf(out / "posterior.nc")
    rows = json.loads((out / "run.json").read_text())["rows"]
    ll = idata.log_likelihood
    assert sorted(ll.data_vars) == sorted(f"{o}_obs" for o in ("v_rest_mV", "na_i_mM",
                                                                "k_o_mM"))
    for name in ll.data_vars:
        o = name[: -len("_obs")]
        dim = f"{name}_row"
        assert ll[name].dims == ("chain", "draw", dim)
        want = [r for r in rows if r.get(o) is not None]
        assert ll[dim].values.tolist() == [r["data_row"] for r in want]
        assert ll[f"{name}_recording"].values.tolist() == [r["recording"] for r in want]
        np.testing.assert_array_equal(ll[f"{name}_time_s"].values,
                                      [r["time_s"] for r in want])
        np.testing.assert_array_equal(idata.observed_data[name].values,
                                      [r[o] for r in want])
        assert np.isfinite(ll[name].values).all()
