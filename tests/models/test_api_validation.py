"""Every public function of iongrad.models refuses what it cannot mean.

Each bad call must raise :class:`ModelInputError` whose one-line message names the
argument and the offending value (and the unit, domain or unit-slip hint where one
applies). Good calls still give the textbook values, and symbolic PyTensor inputs
pass through the checks unchanged.
"""

from __future__ import annotations

import datetime

import numpy as np
import pytest

from iongrad.models import (
    ModelInputError,
    atp_per_s,
    budget_share,
    closed_form_steady_state,
    cotransport_dg_kJ_mol,
    donnan_equilibrium,
    electrochemical_dg_kJ_mol,
    electrogenic_dv_mV,
    ghk_current_pA,
    ghk_voltage_mV,
    hill_activation,
    k_buffering,
    max_accumulation_ratio,
    mixed_pump_rate,
    mullins_noda_ghk_mV,
    mullins_noda_ohmic_mV,
    na_set_point_mixed_mM,
    na_set_point_mM,
    nernst_mV,
    o2_per_s,
    ohmic_current_pA,
    power_W,
    pump_current_pA,
    pump_cycle_dg_kJ_mol,
    pump_turnover_per_s,
    solve_steady_state,
    sphere_area_um2,
    sphere_volume_pL,
)
from iongrad.models.rundown import simulate_rundown

NA_I, NA_O, K_I, K_O, V = 15.0, 145.0, 140.0, 5.0, -70.0
MASKED = np.ma.masked_array([4.0, 5.0], mask=[False, True])
CLOSED = {"na_i_mM": NA_I, "k_i_mM": K_I, "na_o_mM": NA_O, "k_o_mM": K_O}


def _cases():
    """(id, call, fragments the message must contain)."""
    return [
        # temperature in K
        ("nernst-celsius", lambda: nernst_mV(4, 155, temperature_K=37),
         ("temperature_K", "37", "K", "looks like °C", "310.15 K")),
        ("ss-celsius", lambda: solve_steady_state(temperature_K=37),
         ("temperature_K", "37", "310.15 K")),
        ("ss-1e6-K", lambda: solve_steady_state(temperature_K=1e6),
         ("temperature_K", "1000000", "<= 350 K")),
        ("dg-celsius", lambda: electrochemical_dg_kJ_mol(NA_I, NA_O, 1, V, temperature_K=20.0),
         ("temperature_K", "20", "293.15 K")),
        ("donnan-celsius", lambda: donnan_equilibrium(120, 125, 4, temperature_K=25),
         ("temperature_K", "25", "298.15 K")),
        ("glia-celsius", lambda: k_buffering(1e-16, 1.0, 100.0, temperature_K=36),
         ("temperature_K", "36", "309.15 K")),
        # types that are not real numbers
        ("bool", lambda: nernst_mV(True, 155.0), ("c_out_mM", "bool", "True")),
        ("bool-in-list", lambda: solve_steady_state(k_o_mM=[4.0, True]),
         ("k_o_mM", "bool", "True", "index (1,)")),
        ("bool-array", lambda: pump_turnover_per_s(np.array([True, False]), 4.0),
         ("na_i_mM", "bool")),
        ("datetime64", lambda: solve_steady_state(k_o_mM=np.datetime64("2020-01-01")),
         ("k_o_mM", "date/time", "2020-01-01")),
        ("datetime64-array",
         lambda: nernst_mV(np.array(["2020-01-01"], dtype="datetime64[D]"), 155.0),
         ("c_out_mM", "date/time", "2020-01-01")),
        ("datetime", lambda: electrochemical_dg_kJ_mol(datetime.datetime(2020, 1, 1), NA_O, 1, V),
         ("c_in_mM", "date/time", "2020")),
        ("complex", lambda: nernst_mV(4 + 1j, 155.0), ("c_out_mM", "complex", "(4+1j)")),
        ("complex-array", lambda: ghk_voltage_mV(np.array([4 + 0j]), 140, 145, 15),
         ("k_o_mM", "complex")),
        ("masked", lambda: solve_steady_state(k_o_mM=MASKED),
         ("k_o_mM", "masked array", "1 masked value")),
        ("masked-thermo", lambda: nernst_mV(MASKED, 155.0), ("c_out_mM", "masked")),
        ("huge-int", lambda: nernst_mV(10**400, 155.0),
         ("c_out_mM", "1e400", "too large for a float")),
        ("huge-int-ss", lambda: solve_steady_state(g_k_nS=10**400), ("g_k_nS", "1e400")),
        ("string", lambda: pump_current_pA("200", 1000.0, 100.0),
         ("density_per_um2", "string", "'200'")),
        # shapes
        ("shape-nernst", lambda: nernst_mV(np.ones(2), np.ones(3)),
         ("c_out_mM shape (2,)", "c_in_mM shape (3,)")),
        ("shape-ss", lambda: solve_steady_state(k_o_mM=np.ones(3), g_na_nS=np.ones(2)),
         ("g_na_nS shape (2,)", "k_o_mM shape (3,)")),
        ("shape-pump", lambda: pump_turnover_per_s(np.ones(4), np.ones(5)),
         ("na_i_mM shape (4,)", "k_o_mM shape (5,)")),
        ("shape-donnan", lambda: donnan_equilibrium(np.ones(2) * 100, np.ones(3) * 120, 4.0),
         ("a_mM shape (2,)", "cl_o_mM shape (3,)")),
        # values outside the domain
        ("closed-zero-g", lambda: closed_form_steady_state(**CLOSED, g_na_nS=0, g_k_nS=0),
         ("g_na_nS", "0.0", "> 0", "nS")),
        ("closed-negative-g", lambda: closed_form_steady_state(**CLOSED, g_na_nS=0.1,
                                                               g_k_nS=-1.0),
         ("g_k_nS", "-1.0", "nS")),
        ("mn-zero-leaks", lambda: mullins_noda_ohmic_mV(0.0, 0.0, 60.0, -90.0),
         ("g_na_nS", "g_k_nS", "both 0")),
        ("negative-n_na", lambda: max_accumulation_ratio(NA_I, NA_O, V, n_na=-2),
         ("n_na", "-2", "> 0")),
        ("cotransport-zero-ratio", lambda: cotransport_dg_kJ_mol(0.0, NA_I, NA_O, V),
         ("s_ratio_in_out", "0.0")),
        ("z-out-of-range", lambda: nernst_mV(4.0, 155.0, z=50), ("z", "50", "<= 10")),
        ("z-zero", lambda: nernst_mV(4.0, 155.0, z=0), ("z", "non-zero", "0")),
        ("nan", lambda: nernst_mV(np.nan, 155.0), ("c_out_mM", "nan")),
        ("nan-array-index", lambda: solve_steady_state(k_o_mM=np.array([4.0, 5.0, np.nan])),
         ("k_o_mM", "nan", "index (2,)")),
        ("inf", lambda: ghk_current_pA(V, 15.0, 145.0, np.inf, 1000.0),
         ("permeability_cm_s", "inf", "cm/s")),
        ("inf-potential", lambda: ohmic_current_pA(np.inf, 0.0, 1.0), ("v_mV", "inf", "mV")),
        ("negative-concentration", lambda: ghk_voltage_mV(-4.0, 140, 145, 15),
         ("k_o_mM", "-4.0", "> 0", "mM")),
        ("above-2M", lambda: solve_steady_state(na_o_mM=145000.0),
         ("na_o_mM", "145000", "< 2000 mM", "µM")),
        ("above-2M-dg", lambda: pump_cycle_dg_kJ_mol(15000.0, NA_O, K_I, K_O, V),
         ("na_i_mM", "15000", "2000")),
        ("negative-hill", lambda: hill_activation(10.0, 12.0, -3.0), ("n", "-3.0")),
        ("phi-above-1", lambda: na_set_point_mixed_mM(1.0, 3.0, 10.0, 20.0, 1.5),
         ("phi", "1.5", "<= 1")),
        ("mixed-negative-phi", lambda: mixed_pump_rate(10.0, 3.0, 10.0, 20.0, -0.1),
         ("phi", "-0.1")),
        ("negative-influx", lambda: na_set_point_mM(-1.0, 3.0, 10.0), ("influx", "-1.0")),
        ("negative-atp-rate", lambda: o2_per_s(-1.0), ("atp_per_s", "-1.0", "ATP/s")),
        ("negative-pump-current", lambda: atp_per_s(-5.0), ("i_pump_pA", "-5.0", "pA")),
        ("zero-budget", lambda: budget_share(1e-10, 0.0), ("budget_W", "0.0", "W")),
        ("zero-dg-atp", lambda: power_W(1e9, 0.0), ("dg_atp_kJ_mol", "0.0", "kJ/mol")),
        ("zero-resistance", lambda: electrogenic_dv_mV(4.0, 0.0), ("r_m_ohm", "0.0")),
        ("negative-radius", lambda: sphere_volume_pL(-10.0), ("radius_um", "-10.0", "µm")),
        ("radius-zero-area", lambda: sphere_area_um2(0.0), ("radius_um", "0.0")),
        ("negative-uptake", lambda: k_buffering(-1e-16, 1.0, 100.0), ("k_uptake_mol", "-1e-16")),
        ("ghk-all-zero-p", lambda: ghk_voltage_mV(4, 140, 145, 15, p_k=0.0, p_na=0.0),
         ("p_k", "p_na", "all 0")),
        ("mn-ghk-coupling", lambda: mullins_noda_ghk_mV(1.0, 0.05, 4, 140, 145, 15, r=-1.5),
         ("r", "-1.5")),
        ("rundown-celsius", lambda: simulate_rundown([0.0, 1.0], temperature_K=37.0),
         ("temperature_K", "37", "310.15 K")),
        ("rundown-alpha", lambda: simulate_rundown([0.0, 1.0], extracellular_fraction=1.5),
         ("extracellular_fraction", "1.5", "< 1")),
        ("rundown-nan-dose", lambda: simulate_rundown([0.0, 1.0], mode="ouabain",
                                                      ouabain_uM=np.nan),
         ("ouabain_uM", "nan", "µM")),
    ]


CASES = _cases()


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_call_raises_model_input_error_naming_argument_and_value(case):
    _, call, fragments = case
    with pytest.raises(ModelInputError) as info:
        call()
    msg = str(info.value)
    assert "\n" not in msg, msg
    for frag in fragments:
        assert frag in msg, (frag, msg)


def test_there_are_enough_bad_calls():
    assert len(CASES) >= 25


# ---- good calls keep their values -------------------------------------------------------------
def test_good_calls_give_the_published_values():
    # E_K at 310 K for 4/155 mM is -97.70 mV, E_Na for 145/15 mM +60.61 mV
    assert nernst_mV(4, 155) == pytest.approx(-97.70, abs=0.005)
    assert nernst_mV(145.0, 15.0) == pytest.approx(60.61, abs=0.005)
    # the temperature dependence is still there for kelvin input (20 °C)
    assert nernst_mV(4, 155, temperature_K=293.15) == pytest.approx(-92.39, abs=0.005)
    # Python ints, NumPy ints and lists are numbers
    assert nernst_mV(np.int64(4), [155, 155]) == pytest.approx([-97.70, -97.70], abs=0.005)
    # a large but representable int is accepted
    assert np.isfinite(sphere_area_um2(10**3))
    # Cl- with z = -1: E_Cl for 123/7 mM
    assert nernst_mV(123.0, 7.0, z=-1) == pytest.approx(-76.57, abs=0.005)
    # a symporter with 2 Na+ accumulates glucose about 10^3-10^4 fold at -70 mV
    ratio = max_accumulation_ratio(NA_I, NA_O, V, n_na=2)
    assert 1e3 < float(ratio) < 1e5


def test_closed_form_and_steady_state_still_agree_on_the_default_cell():
    ss = solve_steady_state()
    assert bool(ss.feasible)
    cf = closed_form_steady_state(float(ss.na_i_mM), float(ss.k_i_mM), 145.0, 4.0,
                                  g_na_nS=0.15, g_k_nS=0.6)
    assert float(cf["v_rest_mV"]) == pytest.approx(float(ss.v_rest_mV), abs=1e-6)
    assert float(cf["pump_current_pA"]) == pytest.approx(float(ss.pump_current_pA), rel=1e-6)


def test_nan_default_osmolarity_and_saturating_ouabain_are_still_accepted():
    # osm_o_mOsm = nan is the computed default (2 (Na_o + K_o)), not a missing value
    ss = solve_steady_state(volume="osmotic", osm_o_mOsm=np.nan)
    assert bool(ss.feasible)
    # inf is the documented saturating ouabain dose of the run-down model
    res = simulate_rundown([0.0, 5.0], mode="ouabain", ouabain_uM=np.inf, tau_block_s=0.0)
    assert res.success


def test_the_first_bad_value_of_an_array_is_reported_with_its_index():
    with pytest.raises(ModelInputError, match=r"k_o_mM .* got -1\.0 at index \(1, 0\)"):
        solve_steady_state(k_o_mM=np.array([[4.0], [-1.0]]))


def test_symbolic_inputs_pass_through_unchecked():
    pt = pytest.importorskip("pytensor.tensor")
    import pytensor

    c = pt.dscalar("c")
    t = pt.dscalar("t")
    e = nernst_mV(c, 155.0, temperature_K=t)
    dg = electrochemical_dg_kJ_mol(c, 145.0, 1, -70.0, temperature_K=t)
    fn = pytensor.function([c, t], [e, dg, pt.grad(e, c)], mode="FAST_COMPILE")
    e_val, dg_val, de = fn(4.0, 310.0)
    assert e_val == pytest.approx(float(nernst_mV(4.0, 155.0)), rel=1e-12)
    assert dg_val == pytest.approx(float(electrochemical_dg_kJ_mol(4.0, 145.0, 1, -70.0)),
                                   rel=1e-12)
    # dE/dc_out = (RT/F) / c_out, mV per mM
    assert de == pytest.approx(8.314462618 * 310.0 / 96485.33212 * 1e3 / 4.0, rel=1e-9)
