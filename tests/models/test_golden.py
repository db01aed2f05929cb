"""The worked examples of the source chapter (SPEC.md golden-value table), T = 310 K.

Each expected value is the chapter's, to the digits it gives; the tolerance is
half a unit in the last digit shown.
"""

import numpy as np
import pytest

from iongrad.models import (
    cotransport_dg_kJ_mol,
    donnan_equilibrium,
    electrochemical_dg_kJ_mol,
    electrogenic_dv_mV,
    k_buffering,
    max_accumulation_ratio,
    na_set_point_mixed_mM,
    na_set_point_mM,
    pump_current_pA,
    pump_cycle_dg_kJ_mol,
    sphere_area_um2,
)

V = -70.0
NA_I, NA_O, K_I, K_O = 15.0, 145.0, 140.0, 5.0


def test_electrogenic_pump_current_and_dv():
    # sphere r = 10.0 µm, 200 pumps/µm², 100 cycles/s, R_m = 5.00e8 Ω
    i = pump_current_pA(200.0, sphere_area_um2(10.0), 100.0)
    assert i == pytest.approx(4.03, abs=0.005)
    assert electrogenic_dv_mV(i, 5.00e8) == pytest.approx(2.01, abs=0.005)


def test_pump_cycle_cost():
    assert pump_cycle_dg_kJ_mol(NA_I, NA_O, K_I, K_O, V) == pytest.approx(41.5, abs=0.05)


def test_na_influx_releases_energy():
    dg = electrochemical_dg_kJ_mol(NA_I, NA_O, 1, V)
    assert dg < 0
    assert -dg == pytest.approx(12.6, abs=0.05)


def test_sglt_accumulation():
    ratio = max_accumulation_ratio(NA_I, NA_O, V, n_na=2)
    assert ratio == pytest.approx(1.76e4, rel=0.005 / 1.76)
    # at that ratio the net free energy is zero (the definition)
    assert cotransport_dg_kJ_mol(ratio, NA_I, NA_O, V, n_na=2) == pytest.approx(0, abs=1e-9)


def test_gat_net_dg():
    assert cotransport_dg_kJ_mol(500.0, NA_I, NA_O, V, n_na=2) == pytest.approx(-9.18, abs=0.005)


def test_donnan_chloride():
    out = donnan_equilibrium(a_mM=150.0, cl_o_mM=110.0, k_o_mM=110.0)
    assert out["cl_i_mM"] == pytest.approx(58.1, abs=0.05)
    assert out["k_i_mM"] == pytest.approx(out["cl_i_mM"] + 150.0, rel=1e-12)


@pytest.mark.parametrize(("k_na", "expected"), [(10.0, 5.0), (20.0, 10.0)])
def test_fxyd_set_point(k_na, expected):
    assert na_set_point_mM(1.0, 3.0, k_na, hill_na=1) == pytest.approx(expected, abs=0.05)
    # a pure population (phi = 0 or 1) through the mixed solver gives the same
    phi = 0.0 if k_na == 10.0 else 1.0
    assert na_set_point_mixed_mM(1.0, 3.0, 10.0, 20.0, phi) == pytest.approx(expected, rel=1e-9)


def test_astrocyte_buffering():
    out = k_buffering(4.0e-14, 2.0, 140.0)
    assert out["k_i_after_mM"] == pytest.approx(160.0, rel=1e-12)
    assert out["delta_v_mV"] == pytest.approx(-3.57, abs=0.005)


def test_set_point_no_steady_state_when_influx_exceeds_capacity():
    out = na_set_point_mM(np.array([1.0, 3.0, 4.0]), 3.0, 10.0)
    assert np.isfinite(out[0]) and np.isinf(out[1]) and np.isinf(out[2])
