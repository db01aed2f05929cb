"""Loading valid datasets: canonical names, unit conversion, API and round trips."""

from __future__ import annotations

import dataclasses
import io
import pickle

import numpy as np
import pandas as pd
import pandas.testing as pdt
import pytest
from _data_helpers import BASE_CSV, BASE_SIDECAR, sidecar, write

from iongrad.data import Dataset, load_dataset, save_dataset
from iongrad.data.vocabulary import to_canonical
from iongrad.models.constants import N_A_PER_MOL
from iongrad.models.errors import DataError


def test_canonical_frame(tmp_path):
    ds = load_dataset(write(tmp_path))
    f = ds.frame
    assert isinstance(ds, Dataset)
    assert ds.name == "tiny"
    assert ds.observables == ("v_rest_mV", "r_in_MOhm", "na_i_mM")
    assert ds.conditions == ("k_o_mM", "temperature_K")
    assert ds.cells == ("a", "b")
    assert list(f.index) == [1, 2, 3] and f.index.name == "data_row"
    assert list(f["v_rest_mV"]) == [-70.1, -60.2, -71.0]
    # Empty observable cells mean "not measured".
    assert np.isnan(f.loc[2, "r_in_MOhm"]) and np.isnan(f.loc[2, "na_i_mM"])
    assert ds.uncertainty == {"na_i_mM": "na_i_mM_sem"}
    assert ds.uncertainty_kind == {"na_i_mM": "sem"}
    assert list(f["na_i_mM_sem"].dropna()) == [0.5, 0.4]
    assert ds.provenance["lab"] == "test lab"
    assert ds.source.csv.endswith("tiny.csv") and ds.source.sidecar.endswith("tiny.json")


def test_observations_selects_measured_rows(tmp_path):
    ds = load_dataset(write(tmp_path))
    rin = ds.observations("r_in_MOhm")
    assert list(rin.index) == [1, 3]
    assert list(rin["cell"]) == ["a", "b"]
    assert "k_o_mM" in rin.columns and "temperature_K" in rin.columns
    na = ds.observations("na_i_mM")
    assert list(na["na_i_mM_sem"]) == [0.5, 0.4]
    with pytest.raises(DataError, match="no observable 'k_i_mM'"):
        ds.observations("k_i_mM")


def test_units_are_converted(tmp_path):
    """The same data in other units loads to the same canonical frame."""
    csv = """\
cell,k_o,temp,v,rin,na,na_sem,ip,o2
a,0.004,36.85,-0.0701,0.5,12000,500,0.0050,1.5
b,0.008,36.85,-0.0602,0.45,11000,400,0.0048,1.25
"""
    meta = sidecar()
    cols = meta["columns"]
    cols["k_o"]["unit"] = "M"
    cols["temp"]["unit"] = "degC"
    cols["v"]["unit"] = "V"
    cols["rin"]["unit"] = "GOhm"
    cols["na"]["unit"] = "uM"
    cols["na_sem"]["unit"] = "uM"
    cols["ip"] = {"role": "observable", "quantity": "pump_current_pA", "unit": "nA"}
    cols["o2"] = {"role": "observable", "quantity": "o2_per_s", "unit": "fmol/s"}
    f = load_dataset(write(tmp_path, csv, meta)).frame
    np.testing.assert_allclose(f["k_o_mM"], [4.0, 8.0], rtol=1e-12)
    np.testing.assert_allclose(f["temperature_K"], [310.0, 310.0], rtol=1e-12)
    np.testing.assert_allclose(f["v_rest_mV"], [-70.1, -60.2], rtol=1e-12)
    np.testing.assert_allclose(f["r_in_MOhm"], [500.0, 450.0], rtol=1e-12)
    np.testing.assert_allclose(f["na_i_mM"], [12.0, 11.0], rtol=1e-12)
    np.testing.assert_allclose(f["na_i_mM_sem"], [0.5, 0.4], rtol=1e-12)
    np.testing.assert_allclose(f["pump_current_pA"], [5.0, 4.8], rtol=1e-12)
    # 1 fmol/s = 1e-15 mol/s * N_A molecules/mol (CODATA 2018 exact N_A).
    np.testing.assert_allclose(f["o2_per_s"], [1.5e-15 * N_A_PER_MOL, 1.25e-15 * N_A_PER_MOL],
                               rtol=1e-12)


def test_dispersion_conversion_has_no_offset():
    # A 2 °C spread is a 2 K spread; a 37 °C value is 310.15 K.
    assert to_canonical(2.0, "temperature_K", "degC", dispersion=True) == 2.0
    assert to_canonical(37.0, "temperature_K", "degC") == pytest.approx(310.15)


def test_constants_single_cell_and_sample_sizes(tmp_path):
    csv = "v,k_o,n_v,comment\n-70,4,5,first\n-61,8,7,second\n"
    meta = {
        "name": "one cell",
        "provenance": {"citation": "a made-up test citation"},
        "columns": {
            "v": {"role": "observable", "quantity": "v_rest_mV", "unit": "mV"},
            "k_o": {"role": "condition", "quantity": "k_o_mM", "unit": "mM"},
            "n_v": {"role": "n", "of": "v_rest_mV"},
            "comment": {"role": "note"},
        },
        "constants": {"temperature_K": {"value": 22.0, "unit": "degC"},
                      "fxyd_state": {"value": "phosphorylated"}},
    }
    ds = load_dataset(write(tmp_path, csv, meta))
    f = ds.frame
    assert ds.cells == ("cell_1",)
    assert ds.conditions == ("k_o_mM", "temperature_K", "fxyd_state")
    np.testing.assert_allclose(f["temperature_K"], [295.15, 295.15])
    assert list(f["fxyd_state"]) == ["phosphorylated", "phosphorylated"]
    assert list(f["n_v_rest_mV"]) == [5.0, 7.0]
    assert list(f["comment"]) == ["first", "second"]


def test_whitespace_bom_and_case_tolerated(tmp_path):
    csv = "\ufeffcell , k_o,temp,v,rin,na,na_sem\n a ,4, 310 ,-70.1,500,12.0,0.5\n"
    f = load_dataset(write(tmp_path, csv)).frame
    assert list(f["cell"]) == ["a"]
    assert f.loc[1, "temperature_K"] == 310.0


def test_explicit_sidecar_path(tmp_path):
    csv_path = write(tmp_path)
    other = tmp_path / "elsewhere.json"
    (tmp_path / "tiny.json").rename(other)
    assert load_dataset(csv_path, other).name == "tiny"


def test_round_trip_through_save(tmp_path):
    ds = load_dataset(write(tmp_path))
    out = tmp_path / "out"
    out.mkdir()
    csv_path, side_path = save_dataset(ds, out / "copy.csv")
    back = load_dataset(csv_path)
    pdt.assert_frame_equal(ds.frame, back.frame)
    assert back.observables == ds.observables and back.conditions == ds.conditions
    assert back.uncertainty == ds.uncertainty
    assert back.provenance == ds.provenance
    assert side_path.name == "copy.json"


def test_dataset_is_frozen_and_picklable(tmp_path):
    ds = load_dataset(write(tmp_path))
    with pytest.raises(dataclasses.FrozenInstanceError):
        ds.name = "other"  # type: ignore[misc]
    clone = pickle.loads(pickle.dumps(ds))
    pdt.assert_frame_equal(clone.frame, ds.frame)


def test_summary_mentions_content(tmp_path):
    text = load_dataset(write(tmp_path)).summary()
    assert "'tiny'" in text and "3 rows, 2 cell(s)" in text
    assert "v_rest_mV [mV]: 3 values" in text
    assert "na_i_mM [mM]: 2 values" in text and "sem" in text
    assert "test lab" in text


def test_base_fixture_is_valid():
    # Guard: the bad-input table mutates this base; it must itself be valid text.
    assert BASE_CSV.count("\n") == 4
    assert set(BASE_SIDECAR["columns"]) == set(BASE_CSV.splitlines()[0].split(","))
    assert pd.read_csv(io.StringIO(BASE_CSV)).shape == (3, 7)
