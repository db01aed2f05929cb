"""Shipped datasets: they load, match their sidecars, regenerate byte-identically,
agree with the forward model at their documented true parameters, and the literature
datasets hold the published numbers."""

from __future__ import annotations

import json
from importlib import resources

import numpy as np
import pytest

from iongrad.data import generate_synthetic as gen
from iongrad.data import list_shipped, load_shipped
from iongrad.models.errors import DataError
from iongrad.models.steady_state import solve_steady_state

SYNTHETIC = ("synthetic_nai_fxyd", "synthetic_vrest_ko", "synthetic_vrest_nao")
LITERATURE = ("literature_despa2005_plm", "literature_zahler1997_isoforms",
              "literature_lombardi2018_cl", "literature_despa2002_hf",
              "literature_mueller1983_egaba")
RUNDOWN = ("synthetic_rundown",)  # written by iongrad.data.generate_rundown
CHLORIDE = ("synthetic_chloride", "synthetic_chloride_bumetanide")  # generate_chloride
ENTEROCYTE = ("synthetic_enterocyte",)  # written by iongrad.data.generate_enterocyte


def _raw(name: str, suffix: str) -> bytes:
    return resources.files("iongrad.data").joinpath("shipped", name + suffix).read_bytes()


def test_list_shipped():
    assert set(list_shipped()) == set(SYNTHETIC + LITERATURE + RUNDOWN + CHLORIDE + ENTEROCYTE)


def test_unknown_shipped_name():
    with pytest.raises(DataError, match=r"no shipped dataset named 'nope'.*synthetic_vrest_ko"):
        load_shipped("nope")


@pytest.mark.parametrize("name", SYNTHETIC + LITERATURE + RUNDOWN + CHLORIDE + ENTEROCYTE)
def test_shipped_content_matches_sidecar(name):
    ds = load_shipped(name)
    meta = json.loads(_raw(name, ".json"))
    csv_lines = _raw(name, ".csv").decode("utf-8").splitlines()
    assert ds.name == name == meta["name"]
    assert len(ds.frame) == len(csv_lines) - 1
    declared_obs = {c["quantity"] for c in meta["columns"].values() if c["role"] == "observable"}
    declared_cond = {c["quantity"] for c in meta["columns"].values() if c["role"] == "condition"}
    assert set(ds.observables) == declared_obs
    assert set(ds.conditions) == declared_cond | set(meta.get("constants", {}))
    if "cell_column" in meta:
        cell_col = meta["columns"][meta["cell_column"]]
        assert cell_col["role"] == "id"
        header = csv_lines[0].split(",")
        ids = {line.split(",")[header.index(meta["cell_column"])] for line in csv_lines[1:]}
        assert set(ds.cells) == ids
    else:  # one cell (e.g. the rundown recordings of a single preparation)
        assert len(ds.cells) == 1
    for q in ds.observables:  # every declared observable has data
        assert ds.frame[q].notna().any()


@pytest.mark.parametrize("name", SYNTHETIC)
def test_synthetic_provenance_is_complete(name):
    prov = load_shipped(name).provenance
    assert prov["generator"] == "iongrad.data.generate_synthetic"
    assert prov["generator_version"] == gen.GENERATOR_VERSION
    assert prov["seed"] == gen.SYNTHETIC[name][1]
    assert prov["synthetic"] is True
    truth = prov["true_parameters"]
    assert set(truth["cells"]) == set(load_shipped(name).cells)
    assert set(truth["population_median"]) == {"g_na_nS", "g_k_nS", "pump_density_per_um2"}
    for q in load_shipped(name).observables:
        assert q in prov["noise_model"]


@pytest.mark.parametrize("name", SYNTHETIC)
def test_regeneration_is_byte_identical(name):
    csv_text, sidecar_text = gen.generate(name)
    assert csv_text.encode("utf-8") == _raw(name, ".csv")
    assert sidecar_text.encode("utf-8") == _raw(name, ".json")
    # ... and the seed matters (so the identity above is not trivially true).
    other, _ = gen.generate(name, seed=gen.SYNTHETIC[name][1] + 1)
    assert other != csv_text


def test_main_writes_the_shipped_files(tmp_path):
    assert gen.main(["--out-dir", str(tmp_path)]) == 0
    for name in SYNTHETIC:
        assert (tmp_path / f"{name}.csv").read_bytes() == _raw(name, ".csv")


def _standardised_residuals(name: str, scale: dict[str, float] | None = None):
    """(observed - model)/noise at the documented true parameters, per observable.

    ``scale`` multiplies true parameters, to show that wrong parameters are detected.
    """
    ds = load_shipped(name)
    prov = ds.provenance
    truth = prov["true_parameters"]
    f = ds.frame
    params = {k: np.full(len(f), v) for k, v in truth["fixed"].items()}
    for k in truth["population_median"]:
        params[k] = f["cell"].map(lambda c, k=k: truth["cells"][c][k]).to_numpy(dtype=float)
    if "k_na_mM_by_fxyd_state" in truth:
        params["k_na_mM"] = f["fxyd_state"].map(truth["k_na_mM_by_fxyd_state"]).to_numpy(
            dtype=float)
    for cond in ds.conditions:
        if cond != "fxyd_state":
            params[cond] = f[cond].to_numpy(dtype=float)
    for k, factor in (scale or {}).items():
        params[k] = params[k] * factor
    ss = solve_steady_state(leak=prov["model"]["leak"], volume=prov["model"]["volume"],
                            **params)
    assert np.all(ss.feasible)
    out = {}
    for q in ds.observables:
        obs = f[q].to_numpy()
        present = ~np.isnan(obs)
        pred = np.asarray(getattr(ss, q))[present]
        noise = prov["noise_model"][q]
        if noise["distribution"] == "normal":
            out[q] = (obs[present] - pred) / noise["sd"]
        else:
            out[q] = np.log(obs[present] / pred) / noise["sigma_log"]
    return out


@pytest.mark.parametrize("name", SYNTHETIC)
def test_synthetic_data_agree_with_forward_model(name):
    z_by_q = _standardised_residuals(name)
    z_all = np.concatenate(list(z_by_q.values()))
    # Each value within 4.5 noise sd of the model (P(|z| > 4.5) ~ 7e-6 per value).
    assert np.max(np.abs(z_all)) < 4.5, {q: np.abs(z).max() for q, z in z_by_q.items()}
    # Overall spread consistent with the stated noise: mean z^2 ~ chi2/n with n >= 28.
    assert 0.4 < np.mean(z_all**2) < 2.0


def test_forward_model_check_detects_wrong_parameters():
    # 30 % more Na+ leak depolarises every cell by several noise sd.
    z = _standardised_residuals("synthetic_vrest_ko", scale={"g_na_nS": 1.3})
    assert np.max(np.abs(z["v_rest_mV"])) > 4.5
    assert np.mean(z["v_rest_mV"] ** 2) > 5.0


def test_generator_refuses_implausible_steady_state():
    # A 1 nA Na+ load on a cell with 10 pumps/µm^2: no physiological steady state.
    with pytest.raises(gen.GenerationError, match="refusing to write"):
        gen._solve("overload", {"activity_load_pA": np.array([0.0, 1000.0]),
                                "pump_density_per_um2": np.array([1000.0, 10.0])})


def test_write_all_writes_nothing_when_a_dataset_is_refused(tmp_path, monkeypatch):
    def refuse(seed):
        raise gen.GenerationError("refused")
    monkeypatch.setitem(gen.SYNTHETIC, "zz_refused", (refuse, 1))
    with pytest.raises(gen.GenerationError):
        gen.write_all(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_despa2005_values_as_published():
    # Despa et al. 2005 (Circ Res 97:252), abstract: Km(Na) 18.8 ± 1.4 (WT) -> 13.6 ± 1.5
    # (WT + ISO); [Na]i 12.5 ± 1.8 -> 10.5 ± 1.4; PLM-KO Km 14.2 ± 1.5; vesicle ATPase
    # Km(Na) 12.9 ± 0.9 (PLM-KO) vs 16.2 ± 1.5 (WT). All mmol/L.
    ds = load_shipped("literature_despa2005_plm")
    f = ds.frame.set_index("cell")
    expected_km = {"wt_myocyte_control": (18.8, 1.4), "wt_myocyte_iso": (13.6, 1.5),
                   "plmko_myocyte_control": (14.2, 1.5), "wt_vesicle": (16.2, 1.5),
                   "plmko_vesicle": (12.9, 0.9)}
    for group, (km, pm) in expected_km.items():
        assert f.loc[group, "k_na_mM"] == km
        assert f.loc[group, ds.uncertainty["k_na_mM"]] == pm
    assert f.loc["wt_myocyte_control", "na_i_mM"] == 12.5
    assert f.loc["wt_myocyte_iso", "na_i_mM"] == 10.5
    assert f.loc["wt_myocyte_control", ds.uncertainty["na_i_mM"]] == 1.8
    assert f.loc["wt_myocyte_iso", ds.uncertainty["na_i_mM"]] == 1.4
    assert f["na_i_mM"].notna().sum() == 2
    # The abstract does not say SEM or SD: the dataset must not pretend it does.
    assert ds.uncertainty_kind == {"k_na_mM": "unstated", "na_i_mM": "unstated"}
    assert list(f["fxyd_state"]) == ["unphosphorylated", "phosphorylated", "absent",
                                     "unphosphorylated", "absent"]


def test_zahler1997_values_as_published():
    # Zahler et al. 1997 (J Gen Physiol 110:201, doi:10.1085/jgp.110.2.201), abstract:
    # apparent Km(Na) 12 mM (native human alpha1), 22 mM (rat alpha2), 33 mM (rat alpha3).
    ds = load_shipped("literature_zahler1997_isoforms")
    assert dict(zip(ds.frame["cell"], ds.frame["k_na_mM"], strict=True)) == {
        "alpha1_native": 12.0, "alpha2": 22.0, "alpha3": 33.0}
    assert ds.uncertainty == {}
    assert ds.provenance["doi"] == "10.1085/jgp.110.2.201"


@pytest.mark.parametrize("name", LITERATURE)
def test_literature_provenance(name):
    prov = load_shipped(name).provenance
    assert prov["synthetic"] is False
    assert prov["citation"] and prov["url"].startswith("https://")
    assert prov["location_in_source"] == "abstract"


def test_rundown_dataset_regenerates_byte_identically():
    from iongrad.data import generate_rundown

    csv_text, json_text = generate_rundown.generate()
    assert csv_text.encode() == _raw("synthetic_rundown", ".csv")
    assert json_text.encode() == _raw("synthetic_rundown", ".json")


def test_chloride_dataset_regenerates_byte_identically():
    from iongrad.data import generate_chloride

    csv_text, json_text = generate_chloride.generate()
    assert csv_text.encode() == _raw("synthetic_chloride", ".csv")
    assert json_text.encode() == _raw("synthetic_chloride", ".json")
    other, _ = generate_chloride.generate(seed=generate_chloride.SEED + 1)
    assert other != csv_text
    bum = generate_chloride.BUMETANIDE
    csv_text, json_text = generate_chloride.generate(design=bum)
    assert csv_text.encode() == _raw(bum.name, ".csv")
    assert json_text.encode() == _raw(bum.name, ".json")


def test_bumetanide_lowers_cl_i_to_the_kcc2_and_leak_balance():
    """The bumetanide design's blocked bath: the generated steady state is the one with
    NKCC1 scaled by 1/(1 + 10/IC50) (IC50 1 µM), and its Cl_i lies between the KCC2
    floor (K_o Cl_o / K_i) and the control Cl_i, closer to the floor."""
    from iongrad.data import generate_chloride as gc
    from iongrad.models.steady_state import steady_state_of

    f = load_shipped("synthetic_chloride_bumetanide").frame
    blocked = f[f["bumetanide_uM"] == 10.0]
    control = f[(f["bumetanide_uM"] == 0.0) & (f["cl_o_mM"] == 123.0) & (f["k_o_mM"] == 4.0)]
    assert len(blocked) == len(control) == gc.N_CELLS
    kw = dict(k_o_mM=4.0, cl_o_mM=123.0, na_o_mM=145.0, temperature_K=310.0)
    on = steady_state_of(gc.membrane(), **kw, **gc.TRUTH)
    off = steady_state_of(gc.membrane(), **kw, kcc2_u_pA=gc.TRUTH["kcc2_u_pA"],
                          nkcc1_u_pA=gc.TRUTH["nkcc1_u_pA"] / 11.0)
    drug = steady_state_of(gc.membrane(), **kw, bumetanide_uM=10.0, **gc.TRUTH)
    np.testing.assert_allclose(float(drug["cl_i_mM"]), float(off["cl_i_mM"]), rtol=1e-9)
    floor = 4.0 * 123.0 / float(drug["k_i_mM"])
    assert floor < float(drug["cl_i_mM"]) < float(on["cl_i_mM"])
    assert float(drug["cl_i_mM"]) - floor < 0.5 * (float(on["cl_i_mM"]) - floor)
    # the recorded values show it: every cell's Cl_i drops by more than 4 noise SDs
    drop = control["cl_i_mM"].to_numpy() - blocked["cl_i_mM"].to_numpy()
    assert np.all(drop > 4 * gc.NOISE["cl_i_mM"]["sd"]), drop


def test_chloride_dataset_is_the_steady_state_plus_its_noise():
    """Each value lies within 4 noise SDs of the documented composition's steady state,
    and the residuals' spread matches the documented SD (12 values per observable)."""
    from iongrad.data import generate_chloride as gc
    from iongrad.models.steady_state import steady_state_of

    ds = load_shipped("synthetic_chloride")
    f = ds.frame
    ss = steady_state_of(gc.membrane(), k_o_mM=f["k_o_mM"].to_numpy(),
                         cl_o_mM=f["cl_o_mM"].to_numpy(), na_o_mM=145.0, temperature_K=310.0,
                         **gc.TRUTH)
    for q, spec in gc.NOISE.items():
        resid = f[q].to_numpy() - np.asarray(ss[q])
        assert np.all(np.abs(resid) < 4 * spec["sd"]), (q, resid)
        assert 0.4 * spec["sd"] < resid.std() < 1.8 * spec["sd"], (q, resid.std())
