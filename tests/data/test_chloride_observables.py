"""Datasets of chloride homeostasis: Cl_i, E_Cl, E_GABA, Ca_i and the NCX current."""

from __future__ import annotations

import numpy as np
import pytest
from _data_helpers import write

from iongrad.data import load_dataset
from iongrad.models.errors import DataError

CSV = """\
cell,k_o,cl,cl_sem,egaba,ecl,ca,incx
a,4,6.0,0.5,-78.0,-85.0,0.1,-2.0
a,8,7.5,0.6,-72.0,-79.0,0.12,-2.5
b,4,5.0,0.4,-80.0,-88.0,0.09,-1.8
"""


def _meta(**units) -> dict:
    u = {"cl": "mM", "egaba": "mV", "ecl": "mV", "ca": "uM", "incx": "pA", **units}
    return {
        "name": "chloride",
        "description": "Cl- homeostasis observables",
        "provenance": {"lab": "test lab", "date": "2025-01-01", "licence": "CC0-1.0"},
        "cell_column": "cell",
        "columns": {
            "cell": {"role": "id", "quantity": "cell"},
            "k_o": {"role": "condition", "quantity": "k_o_mM", "unit": "mM"},
            "cl": {"role": "observable", "quantity": "cl_i_mM", "unit": u["cl"]},
            "cl_sem": {"role": "uncertainty", "of": "cl", "kind": "sem", "unit": u["cl"]},
            "egaba": {"role": "observable", "quantity": "e_gaba_mV", "unit": u["egaba"]},
            "ecl": {"role": "observable", "quantity": "e_cl_mV", "unit": u["ecl"]},
            "ca": {"role": "observable", "quantity": "ca_i_nM", "unit": u["ca"]},
            "incx": {"role": "observable", "quantity": "ncx_current_pA", "unit": u["incx"]},
        },
    }


def test_chloride_observables_load_in_canonical_units(tmp_path):
    ds = load_dataset(write(tmp_path, CSV, _meta(), stem="chloride"))
    assert {"cl_i_mM", "e_gaba_mV", "e_cl_mV", "ca_i_nM",
            "ncx_current_pA"} <= set(ds.observables)
    f = ds.frame
    np.testing.assert_allclose(f["cl_i_mM"], [6.0, 7.5, 5.0])
    np.testing.assert_allclose(f["e_gaba_mV"], [-78.0, -72.0, -80.0])
    # 0.1 µM is 100 nM
    np.testing.assert_allclose(f["ca_i_nM"], [100.0, 120.0, 90.0])
    np.testing.assert_allclose(f[ds.uncertainty["cl_i_mM"]], [0.5, 0.6, 0.4])


def test_potential_in_volts_is_converted(tmp_path):
    csv = CSV.replace("-78.0", "-0.078").replace("-72.0", "-0.072").replace("-80.0", "-0.080")
    ds = load_dataset(write(tmp_path, csv, _meta(egaba="V"), stem="chloride"))
    np.testing.assert_allclose(ds.frame["e_gaba_mV"], [-78.0, -72.0, -80.0])


def test_negative_cl_i_is_refused(tmp_path):
    csv = CSV.replace("a,8,7.5", "a,8,-7.5")
    with pytest.raises(DataError) as info:
        load_dataset(write(tmp_path, csv, _meta(), stem="chloride"))
    msg = str(info.value)
    assert "column 'cl'" in msg and "-7.5" in msg and "> 0" in msg and "mM" in msg, msg


@pytest.mark.parametrize("column,unit", [("cl", "mV"), ("egaba", "mM"), ("ca", "pA"),
                                         ("incx", "nS")])
def test_wrong_unit_is_refused(tmp_path, column, unit):
    with pytest.raises(DataError) as info:
        load_dataset(write(tmp_path, CSV, _meta(**{column: unit}), stem="chloride"))
    msg = str(info.value)
    assert f"columns.{column}" in msg and f"unknown unit {unit!r}" in msg, msg


def test_sem_of_cl_i_in_wrong_unit_is_refused(tmp_path):
    meta = _meta()
    meta["columns"]["cl_sem"]["unit"] = "nM"
    with pytest.raises(DataError) as info:
        load_dataset(write(tmp_path, CSV, meta, stem="chloride"))
    assert "cl_i_mM" in str(info.value), str(info.value)
