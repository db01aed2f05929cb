"""Bumetanide block of NKCC1: a bath condition that scales the one NKCC1 rate law (both
forms) by the unblocked fraction, leaving its equilibrium and sign untouched; with
NKCC1 blocked, the immature neuron's Cl- falls to its passive distribution."""

from __future__ import annotations

import json

import numpy as np
import pytest

from iongrad.data import load_dataset_bytes
from iongrad.models.codegen import numpy_function
from iongrad.models.mechanisms import nkcc1, nkcc1_kinetic, param
from iongrad.models.membrane import composition
from iongrad.models.steady_state import steady_state_of


@pytest.mark.parametrize("form", [nkcc1, nkcc1_kinetic])
def test_block_scales_the_flux_by_the_unblocked_fraction(form):
    mech = form()
    syms = sorted({s for e in mech.fluxes.values() for s in e.free_symbols},
                  key=lambda s: s.name)
    assert param("bumetanide_uM") in syms and param("nkcc1_bumetanide_ic50_uM") in syms
    rng = np.random.default_rng(7)
    n = 500
    x = {s.name: np.exp(rng.uniform(np.log(0.5), np.log(150.0), n)) for s in syms}
    f = numpy_function(syms, [mech.fluxes["cl"], mech.cycle_flux])
    free = dict(x, bumetanide_uM=np.zeros(n))
    j0, c0 = f(*(free[s.name] for s in syms))
    j, c = f(*(x[s.name] for s in syms))
    frac = 1.0 / (1.0 + x["bumetanide_uM"] / x["nkcc1_bumetanide_ic50_uM"])
    np.testing.assert_allclose(j, j0 * frac, rtol=1e-12)
    np.testing.assert_allclose(c, c0 * frac, rtol=1e-12)
    np.testing.assert_array_equal(np.sign(c), np.sign(c0))  # same direction as ΔG says


def test_saturating_bumetanide_leaves_cl_at_its_passive_distribution():
    """Immature neuron: NKCC1 is its only active Cl- path, so with NKCC1 blocked the
    Cl- leak alone sets Cl_i: E_Cl = V_rest. The dose-response is monotone."""
    m = composition("immature_neuron")
    doses = np.array([0.0, 0.3, 1.0, 3.0, 10.0, 1e5])
    r = steady_state_of(m, bumetanide_uM=doses)
    assert np.all(r["feasible"])
    assert np.all(np.diff(r["cl_i_mM"]) < 0)
    assert abs(r["e_cl_mV"][-1] - r["v_rest_mV"][-1]) < 0.01
    # E_GABA falls with Cl_i but stays above E_Cl (the HCO3- efflux through the channel)
    assert np.all(np.diff(r["e_gaba_mV"]) < 0) and np.all(r["e_gaba_mV"] > r["e_cl_mV"])
    # at the IC50, NKCC1 moves half its unblocked flux at the same state
    half = steady_state_of(m, bumetanide_uM=1.0, nkcc1_u_pA=2.0)
    twice = steady_state_of(m, nkcc1_u_pA=1.0)
    np.testing.assert_allclose(half["cl_i_mM"], twice["cl_i_mM"], rtol=1e-10)
    # a cell without NKCC1 does not take the condition
    assert "bumetanide_uM" not in composition("mature_neuron").parameters


def test_dataset_takes_bumetanide_in_um_or_nm():
    def load(unit, values):
        csv = "cell,bumetanide_uM,cl_i_mM\n" + "".join(
            f"c1,{v},20.0\n" for v in values)
        meta = {"name": "bum", "description": "bumetanide doses", "cell_column": "cell",
                "provenance": {"generator": "test", "date": "2025-01-01",
                               "licence": "CC0-1.0", "synthetic": True},
                "columns": {"cell": {"role": "id", "quantity": "cell"},
                            "bumetanide_uM": {"role": "condition", "quantity": "bumetanide_uM",
                                              "unit": unit},
                            "cl_i_mM": {"role": "observable", "quantity": "cl_i_mM",
                                        "unit": "mM"}}}
        return load_dataset_bytes(csv.encode(), json.dumps(meta).encode(),
                                  csv_label="b.csv", sidecar_label="b.json")

    a = load("uM", [0, 10])
    b = load("nM", [0, 10000])
    for ds in (a, b):
        np.testing.assert_allclose(ds.frame["bumetanide_uM"].to_numpy(), [0.0, 10.0])
    with pytest.raises(Exception, match="bumetanide_uM") as info:
        load("uM", [0, -1])
    assert "µM" in str(info.value) or "uM" in str(info.value)
