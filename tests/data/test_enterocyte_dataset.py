"""The shipped synthetic enterocyte dataset (``iongrad.data.generate_enterocyte``): it
regenerates byte-identically, its documented truths reproduce its values through the
enterocyte composition's steady state, and glucose is a bath condition that loads
and is checked like the others."""

from __future__ import annotations

import json
from importlib import resources

import numpy as np
import pytest

from iongrad.data import generate_enterocyte as ge
from iongrad.data import load_dataset, load_shipped
from iongrad.infer.model import FitSpec, build_model
from iongrad.models.errors import ConfigError, DataError
from iongrad.models.membrane import composition
from iongrad.models.steady_state import steady_state_of

NAME = "synthetic_enterocyte"


def _raw(suffix: str) -> bytes:
    return resources.files("iongrad.data").joinpath("shipped", NAME + suffix).read_bytes()


def test_regenerates_byte_identically_and_the_seed_matters(tmp_path):
    csv_text, json_text = ge.generate()
    assert csv_text.encode() == _raw(".csv")
    assert json_text.encode() == _raw(".json")
    other, _ = ge.generate(seed=ge.SEED + 1)
    assert other != csv_text
    assert ge.main(["--out-dir", str(tmp_path)]) == 0
    assert (tmp_path / f"{NAME}.csv").read_bytes() == _raw(".csv")
    assert (tmp_path / f"{NAME}.json").read_bytes() == _raw(".json")


def test_sidecar_documents_the_truth_and_the_design():
    ds = load_shipped(NAME)
    prov = ds.provenance
    assert prov["generator"] == "iongrad.data.generate_enterocyte"
    assert prov["seed"] == ge.SEED and prov["synthetic"] is True
    assert prov["model"]["composition"]["name"] == "enterocyte"
    assert prov["true_parameters"]["cells"] == {c: ge.TRUTH for c in ds.cells}
    assert set(ds.observables) == set(prov["noise_model"]) == set(ge.NOISE)
    assert "glucose_o_mM" in ds.conditions
    assert sorted(set(ds.frame["glucose_o_mM"])) == list(ge.CONDITIONS)
    # every cell in every bath, once
    assert len(ds.frame) == len(ds.cells) * len(ge.CONDITIONS)
    assert (ds.frame.groupby("cell")["glucose_o_mM"].nunique() == len(ge.CONDITIONS)).all()


def _residuals(scale: dict[str, float] | None = None) -> dict[str, np.ndarray]:
    """(observed - model)/noise at the truths written in the sidecar (not the module's),
    per observable; ``scale`` multiplies true parameters."""
    ds = load_shipped(NAME)
    prov = ds.provenance
    f = ds.frame
    params = dict(prov["true_parameters"]["fixed"])
    params.update({k: f["cell"].map(lambda c, k=k: prov["true_parameters"]["cells"][c][k])
                   .to_numpy(dtype=float) for k in ge.TRUTH})
    params.update({c: f[c].to_numpy(dtype=float) for c in ds.conditions})
    for k, factor in (scale or {}).items():
        params[k] = params[k] * factor
    ss = steady_state_of(composition(prov["model"]["composition"]["name"]), **params)
    assert np.all(ss["feasible"] == 1)
    out = {}
    for q, noise in prov["noise_model"].items():
        obs, pred = f[q].to_numpy(), np.asarray(ss[q])
        out[q] = ((obs - pred) / noise["sd"] if noise["distribution"] == "normal"
                  else np.log(obs / pred) / noise["sigma_log"])
    return out


def test_values_are_the_steady_state_at_the_truth_plus_the_documented_noise():
    z = _residuals()
    z_all = np.concatenate(list(z.values()))
    # each value within 4 noise SDs (P(|z| > 4) ~ 6e-5 per value, 24 values) ...
    assert np.max(np.abs(z_all)) < 4.0, z
    # ... and the spread is the stated one: mean z^2 of 24 values in [0.4, 2]
    assert 0.4 < np.mean(z_all ** 2) < 2.0, np.mean(z_all ** 2)


def test_per_bath_means_match_the_noiseless_steady_state():
    """The documented means: the mean over the 4 cells of each observable in each bath
    lies within 3 standard errors of the noiseless steady state at the truth."""
    f = load_shipped(NAME).frame
    clean = ge.noiseless(np.asarray(ge.CONDITIONS))
    for j, glc in enumerate(ge.CONDITIONS):
        rows = f[f["glucose_o_mM"] == glc]
        for q, noise in ge.NOISE.items():
            if noise["distribution"] == "normal":
                err = (rows[q].mean() - clean[q][j]) / (noise["sd"] / np.sqrt(len(rows)))
            else:
                err = (np.log(rows[q]).mean() - np.log(clean[q][j])) / (
                    noise["sigma_log"] / np.sqrt(len(rows)))
            assert abs(err) < 3.0, (glc, q, err)
    # the physiology the design rests on: glucose loads the cell with Na+ through SGLT1,
    # depolarises it and raises its ATP use, in the noiseless model
    assert clean["na_i_mM"][1] > clean["na_i_mM"][0] + 3.0
    assert clean["v_rest_mV"][1] > clean["v_rest_mV"][0] + 5.0
    assert clean["o2_per_s"][1] > 1.2 * clean["o2_per_s"][0]
    # every ATP is spent on some Na+ entry: the leak's and SGLT1's shares add up
    np.testing.assert_allclose(clean["na_leak_atp_per_s"] + clean["sglt1_atp_per_s"],
                               clean["atp_per_s"], rtol=1e-9)


def test_wrong_sglt1_activity_is_detected():
    # twice the SGLT1 activity: Na_i and V in glucose move by several noise SDs
    z = _residuals(scale={"sglt1_jmax_pA": 2.0})
    assert np.max(np.abs(z["na_i_mM"])) > 4.0 and np.max(np.abs(z["v_rest_mV"])) > 4.0


def test_generator_refuses_an_overloaded_cell(monkeypatch):
    # an SGLT1 load far beyond the pump's capacity: Na_i would leave any physiological range
    monkeypatch.setitem(ge.TRUTH, "sglt1_jmax_pA", 200.0)
    with pytest.raises(ge.GenerationError, match="refusing to write"):
        ge.generate()


def test_negative_glucose_is_refused_by_name(tmp_path):
    csv = _raw(".csv").decode().replace("e01,10.0,", "e01,-10.0,", 1)
    (tmp_path / "d.csv").write_text(csv, encoding="utf-8")
    (tmp_path / "d.json").write_bytes(_raw(".json"))
    with pytest.raises(DataError) as info:
        load_dataset(tmp_path / "d.csv", tmp_path / "d.json")
    msg = str(info.value)
    assert "glucose_o_mM" in msg and "'-10.0'" in msg and "mM" in msg, msg


def test_glucose_condition_on_a_cell_without_sglt1_is_a_config_error():
    ds = load_shipped(NAME)
    spec = FitSpec(parameters=("g_na_nS",), observables=("na_i_mM",),
                   membrane=composition("mature_neuron"))
    with pytest.raises(ConfigError) as info:
        build_model(ds, spec)
    msg = str(info.value)
    assert "'glucose_o_mM'" in msg and "mM" in msg and "'mature_neuron'" in msg, msg


def test_sidecar_units_are_canonical():
    meta = json.loads(_raw(".json"))
    assert meta["columns"]["glucose_o_mM"]["unit"] == "mM"
    assert meta["columns"]["o2_per_s"]["unit"] == "O2/s"
    assert {k: v["value"] for k, v in meta["constants"].items()} == ge.BATH
