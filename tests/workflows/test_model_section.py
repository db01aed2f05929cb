"""The ``[model]`` config table: a named composition, or one declared as data.

``[model] composition = <name>`` must give exactly the model ``[fit] leak``/``volume``
give (their shorthand); a declaration of the mechanisms of a named composition must give
the same numbers; every composition is a sensitivity model; every bad input is one line
naming the key, the value and the valid choices.
"""

from __future__ import annotations

import copy
import json
import tomllib
from importlib.resources import files
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from iongrad.models.errors import ConfigError
from iongrad.models.membrane import (
    COMPOSITIONS,
    composition,
    composition_record,
    mechanism_specs,
    membrane_from_spec,
    membrane_of,
)
from iongrad.models.steady_state import steady_state_of
from iongrad.workflows import batch, fit, sensitivity
from iongrad.workflows.cli import main
from iongrad.workflows.config import config_hash
from iongrad.workflows.registry import MODELS, model_of

EXAMPLES = Path(str(files("iongrad.workflows") / "examples"))
FIT = tomllib.loads((EXAMPLES / "fit_vrest_ko.toml").read_text(encoding="utf-8"))
RUNDOWN = tomllib.loads((EXAMPLES / "fit_rundown.toml").read_text(encoding="utf-8"))
#: a GHK fit of the example data (the example's fixed g_cl_nS as a Cl- permeability)
GHK_FIT = {**copy.deepcopy(FIT), "fixed": {"p_cl_cm_s": 1e-7, "k_na_mM": 12.0}}
GHK_FIT["fit"] = {**GHK_FIT["fit"], "parameters": ["p_na_cm_s", "p_k_cm_s",
                                                   "pump_density_per_um2"]}
SENS = {"sensitivity": {"method": "sobol", "n": 64, "seed": 3},
        "inputs": {"k_o_mM": {"bounds": [3.0, 8.0]},
                   "pump_density_per_um2": {"bounds": [500.0, 2000.0], "dist": "loguniform"}}}
#: the mechanisms of pump_leak_ghk, in its order
GHK_SPECS = ["ghk_leak:na", "ghk_leak:k", "ghk_leak:cl", "na_k_pump", "activity_load"]


def _with_model(base: dict, **model) -> dict:
    cfg = copy.deepcopy(base)
    cfg["model"] = model
    return cfg


# ---- the catalogue ----------------------------------------------------------------------------
def test_every_named_composition_is_its_own_record():
    """The record of a composition (run.json) names catalogue specs that rebuild the same
    mechanisms, in the same order."""
    for name in COMPOSITIONS:
        m = composition(name)
        rec = composition_record(m)
        assert rec["name"] == name and rec["volume"] == m.volume
        assert set(rec["mechanisms"]) <= set(mechanism_specs())
        again = membrane_from_spec("copy_of_" + name, rec["mechanisms"], rec["volume"])
        assert again.mechanisms == m.mechanisms and again.ions == m.ions
        assert again.parameters == m.parameters
        assert membrane_of({"composition": name}) is m
        assert membrane_of(rec).mechanisms == m.mechanisms
    assert composition_record(composition("pump_leak_hco3"))["mechanisms"] == [
        "ohmic_leak:na", "ohmic_leak:k", "ohmic_leak:cl", "ohmic_leak:hco3", "na_k_pump",
        "activity_load"]
    # one declaration, one object (and so one generated solver)
    assert membrane_from_spec("c", GHK_SPECS) is membrane_from_spec("c", tuple(GHK_SPECS))


def test_catalogue_errors_name_the_value_and_the_choices():
    with pytest.raises(ValueError) as info:
        membrane_from_spec("c", ["ghk_leak:na", "ohmic_leek:k"])
    msg = str(info.value)
    assert "'ohmic_leek:k'" in msg and "did you mean 'ohmic_leak:k'" in msg
    assert "ghk_leak:hco3" in msg and "activity_load" in msg
    with pytest.raises(ValueError, match="unknown volume 'osmotc'; did you mean 'osmotic'"):
        membrane_from_spec("c", GHK_SPECS, "osmotc")
    with pytest.raises(ValueError, match=r"\['na_leak'\] appear more than once"):
        membrane_from_spec("c", ["ghk_leak:na", "ohmic_leak:na", "na_k_pump"])


def test_mixed_leaks_reach_the_chloride_equilibrium():
    """The README's mixed cell (GHK Na+/K+, ohmic Cl-): Cl- moves only through its leak,
    so at every steady state V = E_Cl; Na+ and K+ are pumped, so V sits between E_Na
    and E_K."""
    m = membrane_from_spec("my_cell", ["ghk_leak:na", "ghk_leak:k", "ohmic_leak:cl",
                                       "na_k_pump", "activity_load"])
    assert m.parameters[:4] == ("g_cl_nS", "p_na_cm_s", "p_k_cm_s", "pump_density_per_um2")
    ss = steady_state_of(m, k_o_mM=np.linspace(2.0, 20.0, 7), g_cl_nS=0.5)
    assert ss["feasible"].all()
    np.testing.assert_allclose(ss["v_rest_mV"], ss["e_cl_mV"], rtol=0, atol=1e-9)
    assert (ss["e_k_mV"] < ss["v_rest_mV"]).all() and (ss["v_rest_mV"] < ss["e_na_mV"]).all()


# ---- fits -------------------------------------------------------------------------------------
def _model_of_config(raw: dict):
    from iongrad.infer.model import build_model

    resolved = fit.resolve_config(raw, EXAMPLES)
    ds = fit.select_rows(fit.load_dataset_ref(resolved["dataset"]), resolved["select"])
    model, info = build_model(ds, fit.fit_spec(resolved))
    return resolved, model, info


def test_model_composition_is_the_fit_leak_shorthand():
    shorthand = copy.deepcopy(GHK_FIT)
    shorthand["fit"]["leak"] = "ghk"
    r_a, a, info_a = _model_of_config(shorthand)
    r_b, b, info_b = _model_of_config(_with_model(GHK_FIT, composition="pump_leak_ghk"))
    assert r_b["membrane"] == {"composition": "pump_leak_ghk"} and "leak" not in r_b
    assert r_a["leak"] == "ghk" and "membrane" not in r_a
    assert info_a["op"].membrane is info_b["op"].membrane is composition("pump_leak_ghk")
    assert [v.name for v in a.free_RVs] == [v.name for v in b.free_RVs]
    assert [v.name for v in a.deterministics] == [v.name for v in b.deterministics]
    ip = a.initial_point()
    assert ip.keys() == b.initial_point().keys()
    logp_a, logp_b = a.compile_logp()(ip), b.compile_logp()(ip)
    assert np.isfinite(logp_a) and logp_a == logp_b
    # not the same logp as the ohmic model of the same data: the membrane is used
    _, c, _ = _model_of_config(_with_model(
        {**GHK_FIT, "fixed": {"g_cl_nS": 0.3, "k_na_mM": 12.0},
         "fit": {**GHK_FIT["fit"], "parameters": FIT["fit"]["parameters"]}},
        composition="pump_leak"))
    assert c.compile_logp()(c.initial_point()) != logp_a


def test_legacy_fit_config_resolves_as_before():
    res = fit.resolve_config(copy.deepcopy(FIT), EXAMPLES)
    assert (res["leak"], res["volume"]) == ("ohmic", "fixed") and "membrane" not in res


@pytest.mark.slow
def test_four_ion_fit_runs_end_to_end_on_synthetic_data(tmp_path):
    """pump_leak_hco3 fitted to the shipped synthetic data, with the HCO3- conductance as
    a free parameter: run.json records the composition, and the derived input
    resistance of a draw is the NumPy steady state of the four-ion cell at that draw."""
    raw = _with_model(FIT, composition="pump_leak_hco3")
    raw["fit"].update(parameters=["g_na_nS", "g_k_nS", "pump_density_per_um2", "g_hco3_nS"],
                      pooling="complete")
    raw["sampler"].update(draws=30, tune=30, chains=1, cores=1, prior_draws=10)
    resolved = fit.resolve_config(raw, EXAMPLES)
    out = tmp_path / "fit"
    out.mkdir()
    fit.run_config(resolved, out)
    run = json.loads((out / "run.json").read_text())
    assert run["model"]["composition"] == composition_record(composition("pump_leak_hco3"))
    import arviz as az

    post = az.from_netcdf(out / "posterior.nc").posterior
    draw = {k: float(post[k].values[0, 5]) for k in raw["fit"]["parameters"]}
    assert draw["g_hco3_nS"] > 0
    ref = {k: v for k, v in run["derived"]["reference"].items()
           if k in composition("pump_leak_hco3").parameters}
    ss = steady_state_of(composition("pump_leak_hco3"), **{**ref, **draw})
    for name in ("r_in_MOhm", "v_rest_mV", "na_i_mM"):
        np.testing.assert_allclose(float(post[name].values[0, 5]), float(ss[name]),
                                   rtol=1e-8)
    # a three-ion cell at the same draw has another input resistance (HCO3- leak in R_in)
    three = steady_state_of(composition("pump_leak"),
                            **{k: v for k, v in {**ref, **draw}.items() if k != "g_hco3_nS"})
    assert abs(float(three["r_in_MOhm"]) - float(ss["r_in_MOhm"])) > 1e-3 * float(
        ss["r_in_MOhm"])
    from iongrad.workflows.report import write_report

    _html, md = write_report(out)
    assert ("pump_leak_hco3: ohmic_leak:na, ohmic_leak:k, ohmic_leak:cl, ohmic_leak:hco3, "
            "na_k_pump, activity_load; fixed volume") in md.read_text(encoding="utf-8")


# ---- sensitivity ------------------------------------------------------------------------------
def _sens(**model) -> dict:
    cfg = copy.deepcopy(SENS)
    cfg["sensitivity"]["outputs"] = ["v_rest_mV", "na_i_mM", "r_in_MOhm"]
    cfg["model"] = model
    return cfg


def test_declared_composition_gives_the_named_compositions_outputs(tmp_path):
    declared = sensitivity.resolve_config(_sens(name="my_ghk", mechanisms=GHK_SPECS),
                                          tmp_path)
    named = sensitivity.resolve_config(_sens(composition="pump_leak_ghk"), tmp_path)
    assert declared["model"] == "my_ghk" and named["model"] == "pump_leak_ghk"
    assert declared["membrane"] == {"name": "my_ghk", "mechanisms": GHK_SPECS,
                                    "volume": "fixed"}
    a, b = model_of(declared), model_of(named)
    assert b is MODELS["pump_leak_ghk"]
    assert a.parameter_names == b.parameter_names and a.output_names == b.output_names
    rng = np.random.default_rng(11)
    sample = {"k_o_mM": rng.uniform(2.0, 12.0, 200),
              "p_na_cm_s": np.exp(rng.uniform(np.log(1e-8), np.log(2e-7), 200)),
              "activity_load_pA": rng.uniform(0.0, 10.0, 200)}
    ya, yb = a.evaluate(sample), b.evaluate(sample)
    assert yb["feasible"].sum() > 150
    for k in a.output_names:
        np.testing.assert_array_equal(ya[k], yb[k])
    # the whole run: identical indices
    runs = []
    for k, res in enumerate((declared, named)):
        out = tmp_path / f"run{k}"
        sensitivity.run_config(res, out)
        runs.append(pd.read_csv(out / "indices.csv"))
    cols = ["output", "method", "index", "parameter", "value", "conf"]
    pd.testing.assert_frame_equal(runs[0][cols], runs[1][cols], check_exact=True)


def test_every_composition_is_a_sensitivity_model():
    for name in COMPOSITIONS:
        entry = MODELS[name]
        m = composition(name)
        assert entry.parameter_names == m.parameters
        assert entry.output_names[:1 + len(m.ions)] == (
            "v_rest_mV", *(f"{x}_i_mM" for x in m.ions))
    # the three historical entries keep their outputs (names, order, units)
    assert MODELS["pump_leak"].output_names == (
        "v_rest_mV", "na_i_mM", "k_i_mM", "cl_i_mM", "pump_current_pA", "atp_per_s",
        "o2_per_s", "r_in_MOhm", "feasible")
    assert MODELS["pump_leak_ghk"].output_names == MODELS["pump_leak"].output_names
    assert MODELS["pump_leak_osmotic"].output_names == (
        *MODELS["pump_leak"].output_names[:-1], "volume_pL", "feasible")
    assert MODELS["pump_leak"].output_unit("r_in_MOhm") == "MOhm"


def test_hco3_sensitivity_runs_and_ranks_its_leak(tmp_path):
    """HCO3- moves only through its leak, so it is at equilibrium (E_HCO3 = V) and its
    conductance cannot move the resting potential, only the input resistance."""
    cfg = {"sensitivity": {"method": "sobol", "n": 256, "seed": 5,
                           "outputs": ["v_rest_mV", "r_in_MOhm", "hco3_i_mM"]},
           "model": {"composition": "pump_leak_hco3"},
           "inputs": {"g_hco3_nS": {"bounds": [0.05, 5.0], "dist": "loguniform"},
                      "g_k_nS": {"bounds": [2.0, 8.0]},
                      "hco3_o_mM": {"bounds": [15.0, 30.0]}}}
    res = sensitivity.resolve_config(cfg, tmp_path)
    assert res["model"] == "pump_leak_hco3"
    sensitivity.run_config(res, tmp_path / "run")
    idx = pd.read_csv(tmp_path / "run" / "indices.csv")
    st = idx[(idx["method"] == "sobol") & (idx["index"] == "ST")].set_index(
        ["output", "parameter"])["value"]
    assert set(idx["parameter"]) >= {"g_hco3_nS", "g_k_nS", "hco3_o_mM"}
    assert abs(st["v_rest_mV", "g_hco3_nS"]) < 1e-12 < st["v_rest_mV", "g_k_nS"]
    assert st["r_in_MOhm", "g_hco3_nS"] > 0.2
    assert st["hco3_i_mM", "hco3_o_mM"] > 0.5


# ---- batch ------------------------------------------------------------------------------------
def test_batch_passes_model_through_and_grids_over_it(tmp_path):
    cfg = tmp_path / "sens.toml"
    cfg.write_text("""
[sensitivity]
method = "sobol"
n = 64
seed = 1
outputs = ["v_rest_mV"]
[model]
composition = "pump_leak"
[inputs.k_o_mM]
bounds = [3.0, 8.0]
""", encoding="utf-8")
    grid = tmp_path / "grid.toml"
    grid.write_text('"model.composition" = ["pump_leak", "pump_leak_hco3"]\n',
                    encoding="utf-8")
    tasks = batch.expand_tasks([cfg], grid=grid)
    assert [t.resolved["membrane"] for t in tasks] == [{"composition": "pump_leak"},
                                                       {"composition": "pump_leak_hco3"}]
    assert [t.resolved["model"] for t in tasks] == ["pump_leak", "pump_leak_hco3"]
    assert len({t.hash for t in tasks}) == 2
    assert tasks[0].hash == config_hash(sensitivity.resolve_config(
        tomllib.loads(cfg.read_text()), tmp_path))
    grid.write_text('"model.composition" = ["pump_leak", "pump_leak_hco4"]\n',
                    encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        batch.expand_tasks([cfg], grid=grid)
    msg = str(info.value)
    assert "\n" not in msg and "model.composition" in msg and "pump_leak_hco4" in msg
    assert "did you mean 'pump_leak_hco3'" in msg


# ---- bad input --------------------------------------------------------------------------------
_DECLARED = {"name": "c", "mechanisms": GHK_SPECS}
BAD = [
    ("fit-unknown-composition", "fit", {"composition": "pump_leak_ghkk"},
     ("model.composition", '"pump_leak_ghkk"', "did you mean 'pump_leak_ghk'",
      "pump_leak_hco3")),
    ("fit-unknown-mechanism", "fit", {"name": "c", "mechanisms": ["ghk_leak:na", "na_k_pmp"]},
     ("model.mechanisms", "'na_k_pmp'", "did you mean 'na_k_pump'", "ohmic_leak:hco3")),
    ("fit-unknown-ion", "fit", {"name": "c", "mechanisms": ["ghk_leak:mg", "na_k_pump"]},
     ("model.mechanisms", "'ghk_leak:mg'", "valid: ohmic_leak:na")),
    ("fit-unknown-key", "fit", {"composition": "pump_leak", "leak": "ghk"},
     ("model.leak", "unknown key", "allowed: composition, name, mechanisms, volume")),
    ("fit-composition-and-mechanisms", "fit",
     {"composition": "pump_leak_ghk", "mechanisms": GHK_SPECS},
     ("model.mechanisms", "either composition", "not both")),
    ("fit-neither", "fit", {"volume": "fixed"},
     ("model", "composition", "mechanisms")),
    ("fit-no-name", "fit", {"mechanisms": GHK_SPECS}, ("model", "missing required key 'name'")),
    ("fit-bad-volume", "fit", {**_DECLARED, "volume": "swelling"},
     ("model.volume", '"swelling"', "fixed, osmotic")),
    ("fit-duplicate-leak", "fit", {"name": "c", "mechanisms": ["ghk_leak:na", "ohmic_leak:na",
                                                               "na_k_pump"]},
     ("model.mechanisms", "'na_leak'", "more than once")),
    ("fit-no-pump", "fit", {"name": "c", "mechanisms": ["ghk_leak:na", "ghk_leak:k"]},
     ("model.mechanisms", "needs the Na+/K+ pump", "na_k_pump")),
    ("fit-parameter-of-another-membrane", "fit", {"composition": "pump_leak_ghk"},
     ("fit.parameters", "'g_na_nS' is not a parameter", "'pump_leak_ghk'", "p_na_cm_s")),
    ("fit-name-taken", "fit", {"name": "pump_leak", "mechanisms": GHK_SPECS},
     ("model.name", '"pump_leak"', "composition = \"pump_leak\"")),
    ("sens-unknown-composition", "sens", {"composition": "pumpleak"},
     ("model.composition", '"pumpleak"', "did you mean 'pump_leak'")),
    ("sens-unknown-mechanism", "sens", {"name": "c", "mechanisms": ["ghk_leak:na", "leak:k"]},
     ("model.mechanisms", "'leak:k'", "valid:")),
    ("sens-unknown-key", "sens", {"composition": "pump_leak", "ions": ["na"]},
     ("model.ions", "unknown key")),
    ("sens-composition-and-volume", "sens", {"composition": "pump_leak", "volume": "osmotic"},
     ("model.volume", "either composition", "not both")),
    ("sens-input-not-of-the-membrane", "sens", _DECLARED,
     ("fixed.g_na_nS", "unknown parameter 'g_na_nS' of model 'c'", "p_na_cm_s")),
]


def _bad_config(base: str, model: dict) -> tuple[dict, object]:
    if base == "fit":
        return _with_model(FIT, **model), fit
    cfg = _with_model(SENS, **model)
    if model is _DECLARED:  # a parameter the declared GHK membrane does not have
        cfg["fixed"] = {"g_na_nS": 0.2}
    return cfg, sensitivity


@pytest.mark.parametrize(("base", "model", "fragments"), [c[1:] for c in BAD],
                         ids=[c[0] for c in BAD])
def test_bad_model_table_is_one_line_naming_key_value_and_choices(tmp_path, base, model,
                                                                  fragments):
    cfg, module = _bad_config(base, model)
    with pytest.raises(ConfigError) as info:
        module.resolve_config(cfg, EXAMPLES)
    msg = str(info.value)
    assert "\n" not in msg, msg
    for frag in fragments:
        assert frag in msg, (frag, msg)


@pytest.mark.parametrize(("mutate", "fragments"), [
    (lambda c: c["fit"].update(leak="ghk"),
     ("fit.leak", '"ghk"', "[model] and [fit] leak both choose", "shorthand")),
    (lambda c: c["fit"].update(volume="osmotic"), ("fit.volume", "[model] and [fit] volume")),
])
def test_model_and_fit_leak_together_is_an_error(mutate, fragments):
    cfg = _with_model(GHK_FIT, composition="pump_leak_ghk")
    mutate(cfg)
    with pytest.raises(ConfigError) as info:
        fit.resolve_config(cfg, EXAMPLES)
    for frag in fragments:
        assert frag in str(info.value), (frag, str(info.value))


def test_rundown_fit_refuses_an_osmotic_model():
    cfg = _with_model(RUNDOWN, composition="pump_leak_ghk_osmotic")
    with pytest.raises(ConfigError) as info:
        fit.resolve_config(cfg, EXAMPLES)
    msg = str(info.value)
    assert msg.startswith("model:") and "needs a fixed-volume membrane" in msg
    assert "'pump_leak_ghk_osmotic'" in msg


def test_sensitivity_needs_exactly_one_model(tmp_path):
    both = _sens(composition="pump_leak")
    both["sensitivity"]["model"] = "pump_leak"
    with pytest.raises(ConfigError, match=r"sensitivity.model = \"pump_leak\": \[sensitivity\] "
                                          r"model and \[model\] both choose the model"):
        sensitivity.resolve_config(both, tmp_path)
    neither = copy.deepcopy(SENS)
    with pytest.raises(ConfigError) as info:
        sensitivity.resolve_config(neither, tmp_path)
    msg = str(info.value)
    assert msg.startswith("sensitivity: missing required key 'model'")
    assert "pump_leak_hco3" in msg and "[model] table" in msg


@pytest.mark.parametrize(("kind", "body", "fragment"), [
    ("fit", '[fit]\ndataset = "synthetic_vrest_ko"\n[model]\ncomposition = "pump_lek"\n'
            '[sampler]\nseed = 1\n', "did you mean 'pump_leak'"),
    ("fit", '[fit]\ndataset = "synthetic_vrest_ko"\nleak = "ghk"\n[model]\n'
            'composition = "pump_leak_ghk"\n[sampler]\nseed = 1\n', "[model] and [fit] leak"),
    ("sensitivity", '[sensitivity]\nseed = 1\nn = 64\n[model]\nname = "c"\n'
                    'mechanisms = ["ghk_leak:na", "na_k_pmp"]\n[inputs.k_o_mM]\n'
                    'bounds = [3.0, 6.0]\n', "did you mean 'na_k_pump'"),
])
def test_cli_bad_model_table_exits_2_with_one_line(tmp_path, capsys, kind, body, fragment):
    cfg = tmp_path / "c.toml"
    cfg.write_text(body, encoding="utf-8")
    out = tmp_path / "out"
    assert main([kind, str(cfg), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and fragment in err, err
    assert str(cfg) in err and "Traceback" not in err
    assert not out.exists()
