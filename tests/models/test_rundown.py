"""Tests of the anoxia / ouabain run-down model (SPEC item 9).

Reference values come from closed forms written here from the equations (GHK
voltage and current equations, Gibbs–Donnan equilibrium, conservation laws) and
from an independent ``solve_ivp`` integration of the model equations that does
not call :mod:`iongrad.models.rundown`.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.integrate import solve_ivp
from scipy.optimize import brentq

from iongrad.models.constants import E_CHARGE_C, F_C_PER_MOL, R_J_PER_MOL_K
from iongrad.models.errors import ModelInputError
from iongrad.models.rundown import (
    membrane_potential_mV,
    pump_drive,
    rundown_jac,
    rundown_params,
    rundown_rhs,
    simulate_rundown,
    time_to_depolarisation_s,
    zero_current_residual_pA,
)
from iongrad.models.steady_state import DEFAULT_PARAMS, solve_steady_state
from iongrad.models.thermo import ghk_current_pA, ghk_voltage_mV

P = DEFAULT_PARAMS
VT_MV = R_J_PER_MOL_K * P["temperature_K"] / F_C_PER_MOL * 1e3
MM_PER_S_PER_PA = 1e3 / (F_C_PER_MOL * P["volume_pL"])  # pA/pL -> mM/s


def _ghk_leaks(v, na_i, k_i, cl_i, na_o=P["na_o_mM"], k_o=P["k_o_mM"], cl_o=P["cl_o_mM"]):
    kw = {"area_um2": P["area_um2"], "temperature_K": P["temperature_K"]}
    return (ghk_current_pA(v, na_i, na_o, P["p_na_cm_s"], z=1, **kw),
            ghk_current_pA(v, k_i, k_o, P["p_k_cm_s"], z=1, **kw),
            ghk_current_pA(v, cl_i, cl_o, P["p_cl_cm_s"], z=-1, **kw))


# --------------------------------------------------------------------------------------
# Steady state before the onset
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("leak", ["ghk", "ohmic"])
@pytest.mark.parametrize("mode", ["anoxia", "ouabain"])
def test_nothing_changes_before_onset(leak, mode):
    ss = solve_steady_state(leak=leak)
    t = np.linspace(0.0, 300.0, 31)
    res = simulate_rundown(t, onset_s=300.0, mode=mode, leak=leak)
    assert res.success, res.message
    for name in ("na_i_mM", "k_i_mM", "cl_i_mM"):
        expected = float(getattr(ss, name))
        np.testing.assert_allclose(getattr(res, name), expected, rtol=1e-9, atol=0)
    np.testing.assert_allclose(res.v_mV, float(ss.v_rest_mV), rtol=1e-9)
    np.testing.assert_allclose(res.pump_current_pA, float(ss.pump_current_pA), rtol=1e-9)


# --------------------------------------------------------------------------------------
# Instant full block: initial rates from the GHK equations
# --------------------------------------------------------------------------------------
def test_instant_full_block_initial_rates():
    """With the pump gone at t = 0, V jumps to the pump-free GHK potential.

    The zero-current potential has no capacitor, so removing the outward pump
    current depolarises the cell at once by about I_p R_in (a real membrane does
    this in R_in C_m, ~10 ms). The first Na+ gain is then the Na+ leak influx at
    that potential, ``dNa_i/dt = -I_Na(V+)/(F vol)``, with V+ from the GHK
    voltage equation (closed form) and I_Na from the GHK current equation.
    """
    ss = solve_steady_state(leak="ghk")
    y0 = np.array([float(ss.na_i_mM), float(ss.k_i_mM), float(ss.cl_i_mM)])
    p = rundown_params(ouabain_uM=np.inf, tau_block_s=0.0, onset_s=0.0)

    # Just before the onset nothing moves: the pump exactly balances the resting leaks.
    rest = rundown_rhs(-1e-9, y0, p, mode="ouabain")
    i_na_rest = _ghk_leaks(float(ss.v_rest_mV), *y0)[0]
    assert np.all(np.abs(rest) <= 1e-9 * abs(i_na_rest) * MM_PER_S_PER_PA)

    rate = rundown_rhs(0.0, y0, p, mode="ouabain")
    v_plus = float(ghk_voltage_mV(P["k_o_mM"], y0[1], P["na_o_mM"], y0[0], P["cl_o_mM"],
                                  y0[2], p_k=P["p_k_cm_s"], p_na=P["p_na_cm_s"],
                                  p_cl=P["p_cl_cm_s"]))
    i_na, i_k, i_cl = (float(i) for i in _ghk_leaks(v_plus, *y0))
    np.testing.assert_allclose(rate[0], -i_na * MM_PER_S_PER_PA, rtol=1e-6)
    np.testing.assert_allclose(rate[1], -i_k * MM_PER_S_PER_PA, rtol=1e-6)
    np.testing.assert_allclose(rate[2], i_cl * MM_PER_S_PER_PA, rtol=1e-6)
    # zero net current: net intracellular charge does not change
    assert abs(rate[0] + rate[1] - rate[2]) <= 1e-9 * abs(rate[0])
    # The jump is I_p × R_in to first order (R_in from a central difference of the
    # leak current); the quadratic term of the GHK I-V is a few percent at 6 mV.
    h = 1e-3
    g_nS = (sum(_ghk_leaks(float(ss.v_rest_mV) + h, *y0))
            - sum(_ghk_leaks(float(ss.v_rest_mV) - h, *y0))) / (2 * h)
    dv_linear = float(ss.pump_current_pA) / g_nS
    assert v_plus - float(ss.v_rest_mV) == pytest.approx(dv_linear, rel=0.1)
    # Na+ influx after the block = resting influx (3 I_p) + the extra driven by the jump.
    extra = -(i_na - i_na_rest) * MM_PER_S_PER_PA
    np.testing.assert_allclose(rate[0], 3 * float(ss.pump_current_pA) * MM_PER_S_PER_PA
                               + extra, rtol=1e-6)


# --------------------------------------------------------------------------------------
# Conservation with a finite extracellular space
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("leak", ["ghk", "ohmic"])
def test_finite_ecs_conserves_amounts(leak):
    alpha = 0.2
    t = np.linspace(0.0, 600.0, 61)
    res = simulate_rundown(t, extracellular_fraction=alpha, tau_atp_s=30.0, leak=leak)
    assert res.success, res.message
    vol_i = P["volume_pL"]
    vol_o = alpha / (1 - alpha) * vol_i
    for ion in ("na", "k", "cl"):
        total = getattr(res, f"{ion}_i_mM") * vol_i + getattr(res, f"{ion}_o_mM") * vol_o
        np.testing.assert_allclose(total, total[0], rtol=1e-8)
    # K+ accumulates outside and depolarises more than with an infinite bath.
    assert res.k_o_mM[-1] > 3 * P["k_o_mM"]
    bath = simulate_rundown(t, tau_atp_s=30.0, leak=leak)
    assert res.v_mV[-1] > bath.v_mV[-1] + 5.0
    np.testing.assert_array_equal(bath.k_o_mM, P["k_o_mM"])


def test_net_charge_and_capacitive_error_small():
    t = np.linspace(0.0, 600.0, 61)
    res = simulate_rundown(t, tau_atp_s=45.0)
    charge = res.na_i_mM + res.k_i_mM - res.cl_i_mM
    np.testing.assert_allclose(charge, charge[0], rtol=1e-10)
    # The charge a 1 µF/cm² membrane would hold is < 1e-4 of the Na+ change.
    assert np.max(np.abs(res.capacitive_charge_mM)) < 1e-4 * (res.na_i_mM[-1] - res.na_i_mM[0])


# --------------------------------------------------------------------------------------
# Time course and end state
# --------------------------------------------------------------------------------------
def test_depolarises_over_minutes_then_reaches_donnan_end_state():
    # Minutes: a typical neuron (defaults), ATP lost with tau = 45 s.
    t = np.linspace(0.0, 600.0, 121)
    res = simulate_rundown(t, tau_atp_s=45.0)
    assert res.success, res.message
    assert np.all(np.diff(res.v_mV) > 0)
    assert res.v_mV[-1] - res.v_mV[0] > 5.0
    np.testing.assert_allclose(res.atp_mM, P["atp_mM"] * np.exp(-t / 45.0), rtol=1e-12)

    # Long run: the pump has stopped, every ion relaxes to equilibrium. The end
    # state is the Gibbs–Donnan equilibrium with the conserved net charge
    # Q = Na_i + K_i - Cl_i: r = Na_i/Na_o = K_i/K_o = Cl_o/Cl_i solves
    # (Na_o + K_o) r² - Q r - Cl_o = 0 and V = -(RT/F) ln r.
    t = np.concatenate([np.linspace(0.0, 600.0, 61), np.geomspace(700.0, 4e5, 200)])
    res = simulate_rundown(t, tau_atp_s=45.0)
    assert res.success, res.message
    # Non-decreasing up to the integrator's error near the end state.
    assert np.all(np.diff(res.v_mV) > -1e-6)
    q = res.na_i_mM[0] + res.k_i_mM[0] - res.cl_i_mM[0]
    s = P["na_o_mM"] + P["k_o_mM"]
    r = (q + math.sqrt(q * q + 4 * s * P["cl_o_mM"])) / (2 * s)
    v_donnan = -VT_MV * math.log(r)
    assert -20.0 < v_donnan < 0.0  # "towards 0 mV", offset by the impermeant anions
    assert res.v_mV[-1] == pytest.approx(v_donnan, abs=1e-4)
    # Each ion's GHK current ~0: after ~40 slowest relaxation times (the slowest
    # mode, Na+, has tau ~ 1e4 s) it is bounded by the integration tolerance
    # (atol 1e-10 mM ~ 5e-12 pA of leak); 1e-6 pA is 1e-7 of the resting Na+ current.
    i_na, i_k, i_cl = _ghk_leaks(res.v_mV[-1], res.na_i_mM[-1], res.k_i_mM[-1],
                                 res.cl_i_mM[-1])
    for i in (i_na, i_k, i_cl, res.i_na_pA[-1], res.i_k_pA[-1], res.i_cl_pA[-1]):
        assert abs(float(i)) < 1e-6
    assert res.atp_mM[-1] < 1e-100 and res.pump_current_pA[-1] < 1e-100


# --------------------------------------------------------------------------------------
# Solvers and an independent reference
# --------------------------------------------------------------------------------------
def _reference(t_eval, onset_s, tau_atp_s, y0):
    """The model written from its equations alone (GHK leaks, brentq for V)."""
    a = {ion: F_C_PER_MOL * P[f"p_{ion}_cm_s"] * P["area_um2"] * 1e-2 for ion in
         ("na", "k", "cl")}  # pA/mM
    i_max = (P["pump_density_per_um2"] * P["area_um2"] * P["turnover_max_per_s"]
             * E_CHARGE_C * 1e12 * P["k_o_mM"] / (P["k_o_mM"] + P["k_k_mM"]))

    def phi(u):
        return 1.0 + u / 2 if abs(u) < 1e-10 else u / (-math.expm1(-u))

    def currents(v, y, t):
        na, k, cl = y
        u = v / VT_MV
        i_na = a["na"] * (na * phi(u) - P["na_o_mM"] * phi(-u))
        i_k = a["k"] * (k * phi(u) - P["k_o_mM"] * phi(-u))
        i_cl = -a["cl"] * (cl * phi(-u) - P["cl_o_mM"] * phi(u))
        atp = P["atp_mM"] * math.exp(-max(t - onset_s, 0.0) / tau_atp_s)
        i_p = i_max * atp / (atp + P["k_atp_mM"]) / (1 + (P["k_na_mM"] / na) ** 3)
        return i_na, i_k, i_cl, i_p

    def f(t, y):
        v = brentq(lambda v: sum(currents(v, y, t)), -200.0, 100.0, xtol=1e-13, rtol=1e-15)
        i_na, i_k, i_cl, i_p = currents(v, y, t)
        return [-(i_na + 3 * i_p) * MM_PER_S_PER_PA, -(i_k - 2 * i_p) * MM_PER_S_PER_PA,
                i_cl * MM_PER_S_PER_PA]

    sol = solve_ivp(f, (onset_s, t_eval[-1]), y0, method="Radau", t_eval=t_eval,
                    rtol=1e-10, atol=1e-12)
    assert sol.success
    return sol.y


def test_matches_independent_reference_and_methods_agree():
    t = np.linspace(20.0, 600.0, 30)
    ss = solve_steady_state(leak="ghk")
    y0 = [float(ss.na_i_mM), float(ss.k_i_mM), float(ss.cl_i_mM)]
    ref = _reference(t, 20.0, 40.0, y0)
    runs = {m: simulate_rundown(t, onset_s=20.0, tau_atp_s=40.0, method=m)
            for m in ("LSODA", "BDF", "Radau")}
    runs["BDF-nojac"] = simulate_rundown(t, onset_s=20.0, tau_atp_s=40.0, method="BDF",
                                         use_jac=False)
    for name, res in runs.items():
        assert res.success, (name, res.message)
        got = np.stack([res.na_i_mM, res.k_i_mM, res.cl_i_mM])
        np.testing.assert_allclose(got, ref, rtol=1e-6, err_msg=name)
    base = runs["LSODA"]
    for name in ("BDF", "Radau"):
        np.testing.assert_allclose(runs[name].v_mV, base.v_mV, rtol=1e-6)
        np.testing.assert_allclose(runs[name].na_i_mM, base.na_i_mM, rtol=1e-6)


# --------------------------------------------------------------------------------------
# Building blocks
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("leak", ["ghk", "ohmic"])
@pytest.mark.parametrize("alpha", [None, 0.15])
@pytest.mark.parametrize("mode", ["anoxia", "ouabain"])
def test_jacobian_matches_central_differences(leak, alpha, mode):
    p = rundown_params(leak=leak, extracellular_fraction=np.nan if alpha is None else alpha)
    y = np.array([25.0, 130.0, 18.0] + ([150.0, 9.0, 118.0] if alpha else []))
    jac = rundown_jac(12.0, y, p, mode=mode, leak=leak)
    fd = np.empty_like(jac)
    for j in range(y.size):
        h = 1e-6 * y[j]
        e = np.zeros_like(y)
        e[j] = h
        fd[:, j] = (rundown_rhs(12.0, y + e, p, mode=mode, leak=leak)
                    - rundown_rhs(12.0, y - e, p, mode=mode, leak=leak)) / (2 * h)
    np.testing.assert_allclose(jac, fd, rtol=1e-6, atol=1e-7 * np.abs(jac).max())


def test_potential_is_zero_current_root_and_batched():
    p = rundown_params(p_na_cm_s=np.array([1e-8, 4e-8, 2e-7, 5e-6]))
    conc = {"na_i_mM": np.array([5.0, 12.0, 60.0, 140.0]), "k_i_mM": 140.0,
            "cl_i_mM": np.array([5.0, 8.0, 30.0, 120.0])}
    # the pump current written out here (N A turnover e f(Na_i) g(K_o) h(ATP)), with
    # a quarter of the pumps blocked
    avail = 0.75
    i_p = avail * (P["pump_density_per_um2"] * P["area_um2"] * P["turnover_max_per_s"]
                   * E_CHARGE_C * 1e12 / (1 + (P["k_na_mM"] / conc["na_i_mM"]) ** P["hill_na"])
                   / (1 + (P["k_k_mM"] / P["k_o_mM"]) ** P["hill_k"])
                   * P["atp_mM"] / (P["atp_mM"] + P["k_atp_mM"]))
    v, ok = membrane_potential_mV(conc, p, available=avail)
    assert ok.all()
    # fully blocked: the GHK voltage equation in closed form
    v0, ok0 = membrane_potential_mV(conc, p, available=0.0)
    assert ok0.all()
    np.testing.assert_allclose(v0, ghk_voltage_mV(
        P["k_o_mM"], 140.0, P["na_o_mM"], conc["na_i_mM"], P["cl_o_mM"], conc["cl_i_mM"],
        p_k=P["p_k_cm_s"], p_na=p["p_na_cm_s"], p_cl=P["p_cl_cm_s"],
        temperature_K=P["temperature_K"]), rtol=1e-12)
    leaks = sum(ghk_current_pA(v, conc[f"{ion}_i_mM"], P[f"{ion}_o_mM"],
                               p[f"p_{ion}_cm_s"], P["area_um2"], z)
                for ion, z in (("na", 1), ("k", 1), ("cl", -1)))
    np.testing.assert_allclose(leaks + i_p, 0.0, atol=1e-9 * np.max(np.abs(leaks)))
    # batch of parameter sets in rundown_rhs equals one call per set
    y = np.array([[20.0] * 4, [140.0] * 4, [15.0] * 4])
    batched = rundown_rhs(30.0, y, p)
    for j, pna in enumerate([1e-8, 4e-8, 2e-7, 5e-6]):
        single = rundown_rhs(30.0, y[:, j], rundown_params(p_na_cm_s=pna))
        np.testing.assert_allclose(batched[:, j], single, rtol=1e-13)


def test_pump_drive_laws():
    p = rundown_params(onset_s=10.0, tau_atp_s=20.0, tau_block_s=5.0, ouabain_uM=0.3,
                       ouabain_ic50_uM=0.1)
    t = np.array([0.0, 10.0, 15.0, 30.0])
    atp, avail = pump_drive(t, p, mode="anoxia")
    np.testing.assert_allclose(atp, P["atp_mM"] * np.exp(-np.maximum(t - 10, 0) / 20))
    np.testing.assert_array_equal(avail, 1.0)
    atp, avail = pump_drive(t, p, mode="ouabain")
    occ = 0.3 / (0.3 + 0.1)
    np.testing.assert_allclose(avail, 1 - occ * (1 - np.exp(-np.maximum(t - 10, 0) / 5)))
    np.testing.assert_array_equal(atp, P["atp_mM"])


def test_pytensor_graph_matches_numpy():
    pt = pytest.importorskip("pytensor.tensor")
    import pytensor

    p = rundown_params()
    v = pt.dscalar("v")
    na = pt.dscalar("na")
    conc = {"na_i_mM": na, "k_i_mM": 140.0, "cl_i_mM": 10.0}
    atp, avail = pump_drive(pt.as_tensor_variable(40.0), p, mode="anoxia")
    r = zero_current_residual_pA(v, conc, p, atp_mM=atp, available=avail)
    fn = pytensor.function([v, na], [r, pt.grad(r, v)], mode="FAST_COMPILE")
    got, dgot = fn(-55.0, 22.0)

    def numpy_r(vv):
        a, b = pump_drive(40.0, p, mode="anoxia")
        return zero_current_residual_pA(vv, {"na_i_mM": 22.0, "k_i_mM": 140.0,
                                             "cl_i_mM": 10.0}, p, atp_mM=a, available=b)

    np.testing.assert_allclose(got, numpy_r(-55.0), rtol=1e-12)
    np.testing.assert_allclose(dgot, (numpy_r(-55.0 + 1e-4) - numpy_r(-55.0 - 1e-4)) / 2e-4,
                               rtol=1e-7)


# --------------------------------------------------------------------------------------
# Time to depolarisation
# --------------------------------------------------------------------------------------
def test_time_to_depolarisation_monotone_and_inf():
    t = np.linspace(0.0, 1800.0, 361)
    thr = -60.0
    by_tau = [time_to_depolarisation_s(simulate_rundown(t, tau_atp_s=tau), thr)
              for tau in (20.0, 45.0, 90.0)]
    assert all(d.reached for d in by_tau)
    assert by_tau[0].time_s < by_tau[1].time_s < by_tau[2].time_s
    by_pna = [time_to_depolarisation_s(simulate_rundown(t, p_na_cm_s=pna), thr)
              for pna in (3.0e-8, 4.0e-8, 5.0e-8)]
    assert all(d.reached for d in by_pna)
    assert by_pna[0].time_s > by_pna[1].time_s > by_pna[2].time_s
    # the crossing is on the dense output: V there equals the threshold
    res = simulate_rundown(t, onset_s=100.0)
    d = time_to_depolarisation_s(res, thr)
    assert d.since_onset_s == pytest.approx(d.time_s - 100.0)
    assert float(res.v_at(d.time_s)[0]) == pytest.approx(thr, abs=1e-8)
    never = time_to_depolarisation_s(res, -5.0)  # above the Donnan end state
    assert never == (math.inf, math.inf, False)


# --------------------------------------------------------------------------------------
# Validation and failure reporting
# --------------------------------------------------------------------------------------
T = np.linspace(0.0, 10.0, 3)


@pytest.mark.parametrize(("kwargs", "name"), [
    ({"tau_atp_s": 0.0}, "tau_atp_s"),
    ({"tau_atp_s": -5.0}, "tau_atp_s"),
    ({"tau_block_s": -1.0}, "tau_block_s"),
    ({"volume_pL": 0.0}, "volume_pL"),
    ({"area_um2": -1.0}, "area_um2"),
    ({"k_o_mM": 0.0}, "k_o_mM"),
    ({"na_o_mM": -3.0}, "na_o_mM"),
    ({"extracellular_fraction": 0.0}, "extracellular_fraction"),
    ({"extracellular_fraction": 1.0}, "extracellular_fraction"),
    ({"extracellular_fraction": 1.5}, "extracellular_fraction"),
    ({"ouabain_uM": -1.0}, "ouabain_uM"),
    ({"ouabain_ic50_uM": 0.0}, "ouabain_ic50_uM"),
    ({"initial_state": [10.0, -140.0, 5.0]}, "initial_state"),
    ({"initial_state": [10.0, 140.0]}, "initial_state"),
    ({"p_nak": 1.0}, "p_nak"),
    ({"mode": "hypoxia"}, "mode"),
    ({"method": "RK45"}, "method"),
    ({"leak": "linear"}, "leak"),
])
def test_bad_inputs_name_the_argument(kwargs, name):
    with pytest.raises(ModelInputError, match=name):
        simulate_rundown(T, **kwargs)


@pytest.mark.parametrize("t_eval", [[0.0, 2.0, 1.0], [0.0, 1.0, 1.0], [0.0, np.nan]])
def test_bad_times(t_eval):
    with pytest.raises(ModelInputError, match="t_eval_s"):
        simulate_rundown(t_eval)


def test_failed_potential_solve_is_reported(monkeypatch):
    import iongrad.models.rundown as rd

    real = rd.membrane_potential_mV

    def flaky(conc, p, **kw):
        v, ok = real(conc, p, **kw)
        return v, ok & (np.asarray(conc["na_i_mM"]) < 13.0)

    monkeypatch.setattr(rd, "membrane_potential_mV", flaky)
    res = simulate_rundown(np.linspace(0.0, 600.0, 61))
    assert not res.success
    assert "potential" in res.message
    assert np.isnan(res.na_i_mM[-1]) and np.isnan(res.v_mV[-1])
    with pytest.raises(ModelInputError, match="failed"):
        time_to_depolarisation_s(res, -60.0)
