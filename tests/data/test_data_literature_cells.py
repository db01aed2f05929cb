"""Shipped literature datasets of the neuron and myocyte compositions: loaded through the
normal loader, they hold the published numbers in the published units, and their
metadata names the source (citation, DOI, where the numbers are printed)."""

from __future__ import annotations

import pytest

from iongrad.data import load_shipped
from iongrad.data.vocabulary import CANONICAL_UNITS


def _rows(name):
    ds = load_shipped(name)
    return ds, ds.frame.set_index("cell")


def test_lombardi2018_values_as_published():
    # Lombardi et al. 2018 (Front Cell Neurosci 12:420, doi:10.3389/fncel.2018.00420),
    # abstract: [Cl-]i of immature (P4-7) mouse CA3 pyramidal neurons 38.1 ± 3.2 mM
    # (n = 36); with CNQX 24.7 ± 2.9 mM (n = 8).
    ds, f = _rows("literature_lombardi2018_cl")
    assert list(f.index) == ["ca3_control", "ca3_cnqx"]
    assert ds.observables == ("cl_i_mM",)
    for group, (mean, pm, n) in {"ca3_control": (38.1, 3.2, 36),
                                 "ca3_cnqx": (24.7, 2.9, 8)}.items():
        assert f.loc[group, "cl_i_mM"] == mean
        assert f.loc[group, ds.uncertainty["cl_i_mM"]] == pm
        assert f.loc[group, "n_cl_i_mM"] == n
    # the abstract does not say SEM or SD: the dataset must not pretend it does
    assert ds.uncertainty_kind == {"cl_i_mM": "unstated"}
    assert ds.meta["columns"]["cl_i_mM"]["unit"] == "mM" == CANONICAL_UNITS["cl_i_mM"]
    assert ds.provenance["doi"] == "10.3389/fncel.2018.00420"
    assert "Lombardi A" in ds.provenance["citation"]
    assert "12:420" in ds.provenance["citation"]


def test_despa2002_values_as_published():
    # Despa et al. 2002 (Circulation 105:2543, doi:10.1161/01.cir.0000016701.85760.97),
    # abstract: resting [Na]i 9.7 ± 0.7 (HF) vs 6.6 ± 0.5 mmol/L (control); pump Km(Na)
    # 9.2 ± 1.0 vs 9.9 ± 0.8 mmol/L; Vmax 8.3 ± 0.7 vs 8.0 ± 0.8 mmol/L/min; resting Na+
    # influx 2.3 ± 0.3 vs 1.1 ± 0.2 mmol/L/min.
    ds, f = _rows("literature_despa2002_hf")
    assert list(f.index) == ["control", "heart_failure"]
    assert set(ds.observables) == {"na_i_mM", "k_na_mM"}
    published = {"control": {"na_i_mM": (6.6, 0.5), "k_na_mM": (9.9, 0.8)},
                 "heart_failure": {"na_i_mM": (9.7, 0.7), "k_na_mM": (9.2, 1.0)}}
    for group, values in published.items():
        for q, (mean, pm) in values.items():
            assert f.loc[group, q] == mean, (group, q)
            assert f.loc[group, ds.uncertainty[q]] == pm, (group, q)
    notes = {"control": (8.0, 0.8, 1.1, 0.2), "heart_failure": (8.3, 0.7, 2.3, 0.3)}
    for group, (vmax, vmax_pm, influx, influx_pm) in notes.items():
        assert float(f.loc[group, "pump_vmax_mM_per_min"]) == vmax
        assert float(f.loc[group, "pump_vmax_pm_mM_per_min"]) == vmax_pm
        assert float(f.loc[group, "na_influx_mM_per_min"]) == influx
        assert float(f.loc[group, "na_influx_pm_mM_per_min"]) == influx_pm
    assert ds.uncertainty_kind == {"na_i_mM": "unstated", "k_na_mM": "unstated"}
    for q in ("na_i_mM", "k_na_mM"):
        assert ds.meta["columns"][q]["unit"] == "mM" == CANONICAL_UNITS[q]
    assert ds.provenance["doi"] == "10.1161/01.cir.0000016701.85760.97"
    assert "Despa S" in ds.provenance["citation"] and "105" in ds.provenance["citation"]


def test_mueller1983_values_as_published():
    # Mueller, Chesnut & Schwartzkroin 1983 (Neurosci Lett, 193-198), abstract: Erev of the
    # GABA response of rabbit CA1 pyramidal neurons approximately -70 mV at 1 month and
    # approximately -54 mV at 7-10 days.
    ds, f = _rows("literature_mueller1983_egaba")
    assert dict(zip(f.index, f["e_gaba_mV"], strict=True)) == {
        "ca1_mature": -70.0, "ca1_immature": -54.0}
    assert ds.meta["columns"]["e_gaba_mV"]["unit"] == "mV" == CANONICAL_UNITS["e_gaba_mV"]
    # approximate values without a printed dispersion: none is invented
    assert ds.uncertainty == {}
    prov = ds.provenance
    assert "Mueller AL" in prov["citation"] and "193-198" in prov["citation"]
    assert prov["url"].startswith("https://") and prov["location_in_source"] == "abstract"
    assert "doi" not in prov  # not shown by the source used, so not recorded


@pytest.mark.parametrize("name", ["literature_lombardi2018_cl", "literature_despa2002_hf"])
def test_sources_are_recorded(name):
    ds = load_shipped(name)
    prov = ds.provenance
    assert prov["synthetic"] is False
    assert prov["url"] == f"https://doi.org/{prov['doi']}"
    assert prov["location_in_source"] == "abstract"
    assert prov["verified_against"] and prov["dispersion"] and ds.meta["notes"]
    # every row says where its numbers are printed
    assert set(ds.frame["source_location"]) == {"abstract"}

