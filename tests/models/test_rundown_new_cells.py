"""Ouabain run-down of the example cells with cotransporters, NCX/PMCA and SGLT1: the
run-down ODE of any composition starts at its steady state, conserves the internal
charge (the potential is quasi-steady: no net current), and moves each cell's Cl- and
Ca2+ the way its transporters' driving forces say."""

from __future__ import annotations

import numpy as np
import pytest

from iongrad.models.membrane import composition
from iongrad.models.rundown import simulate_rundown
from iongrad.models.steady_state import steady_state_of

T = np.linspace(0.0, 1800.0, 7)
CELLS = ("mature_neuron", "immature_neuron", "cardiac_myocyte", "enterocyte")


@pytest.fixture(scope="module")
def runs():
    return {name: simulate_rundown(T, membrane=composition(name), mode="ouabain")
            for name in CELLS}


@pytest.mark.parametrize("name", CELLS)
def test_starts_at_the_steady_state_and_conserves_charge(runs, name):
    r = runs[name]
    assert r.success, r.message
    ss = steady_state_of(composition(name))
    st = r.states_mM
    for key in st:
        if key.endswith("_i_mM"):
            np.testing.assert_allclose(st[key][0], ss[key], rtol=1e-8, err_msg=key)
    np.testing.assert_allclose(r.v_mV[0], ss["v_rest_mV"], atol=1e-6)
    charge = st["na_i_mM"] + st["k_i_mM"] - st["cl_i_mM"] + 2.0 * st.get("ca_i_mM", 0.0)
    np.testing.assert_allclose(charge, charge[0], rtol=1e-12, atol=1e-9)
    # with the pump blocked, Na+ runs up and K+ runs down, monotonically
    assert np.all(np.diff(st["na_i_mM"]) > 0) and np.all(np.diff(st["k_i_mM"]) < 0)


def test_kcc2_cell_loads_cl_and_nkcc1_cell_loses_it(runs):
    """KCC2's drive ln(K_i Cl_i / K_o Cl_o) falls with K_i: less Cl- extruded, Cl_i rises.
    NKCC1's drive ln(Na_o K_o Cl_o² / Na_i K_i Cl_i²) falls as Na_i rises and K_i falls:
    less Cl- loaded, Cl_i falls."""
    mature, immature = runs["mature_neuron"].states_mM, runs["immature_neuron"].states_mM
    assert np.all(np.diff(mature["cl_i_mM"]) > 0)
    assert immature["cl_i_mM"][-1] < immature["cl_i_mM"][0] - 2.0


def test_ouabain_raises_myocyte_calcium_through_the_exchanger(runs):
    """The cardiac-glycoside mechanism: a higher Na_i slows Ca2+ extrusion by NCX
    (3 Na+ in per Ca2+ out), so Ca_i rises several-fold."""
    heart = runs["cardiac_myocyte"].states_mM
    assert heart["ca_i_mM"][-1] > 5.0 * heart["ca_i_mM"][0]
    assert np.all(np.diff(heart["ca_i_mM"]) > 0)


def test_sglt1_speeds_the_enterocytes_na_rise(runs):
    off = simulate_rundown(T, membrane=composition("enterocyte"), mode="ouabain",
                           sglt1_jmax_pA=0.0).states_mM
    on = runs["enterocyte"].states_mM
    gain_on = on["na_i_mM"][1:] - on["na_i_mM"][0]
    gain_off = off["na_i_mM"][1:] - off["na_i_mM"][0]
    assert np.all(gain_on > gain_off)
