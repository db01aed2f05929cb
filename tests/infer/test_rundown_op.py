"""The run-down sensitivity Op: value equals simulate_rundown, right-hand side and Jacobian
equal rundown_rhs / rundown_jac, gradient equals central differences, the pump-block
initial rate equals the GHK closed form, and failed solves are -inf and counted.

Reference values: :func:`iongrad.models.rundown.simulate_rundown` (an independent
integration through ``solve_ivp``), the GHK voltage and current equations
(:mod:`iongrad.models.thermo`), and central finite differences of the Op's own value.
"""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

from iongrad.infer.rundown_op import RundownOp, RundownSensitivitySolver, SolveFailed
from iongrad.models.constants import F_C_PER_MOL
from iongrad.models.rundown import rundown_jac, rundown_params, rundown_rhs, simulate_rundown
from iongrad.models.steady_state import DEFAULT_PARAMS as P
from iongrad.models.steady_state import solve_steady_state
from iongrad.models.thermo import ghk_current_pA, ghk_voltage_mV

FREE = ("tau_atp_s", "p_na_cm_s", "p_k_cm_s", "pump_density_per_um2",
        "extracellular_fraction")
THETA = np.array([40.0, 5e-8, 6e-7, 1000.0, 0.2])
TIMES = np.array([-30.0, 0.0, 3.7, 20.0, 61.0, 150.0, 333.0, 600.0, 901.5])
MM_PER_S_PER_PA = 1e3 / (F_C_PER_MOL * P["volume_pL"])


@pytest.mark.parametrize("ecs", [True, False])
def test_value_matches_simulate_rundown(ecs):
    free = FREE if ecs else FREE[:4]
    theta = THETA if ecs else THETA[:4]
    solver = RundownSensitivitySolver(free, ecs=ecs, rtol=1e-11, atol=1e-12)
    out, sens = solver.solve(theta, TIMES)
    onset = 100.0
    kw = dict(zip(free, theta, strict=True))
    alpha = kw.pop("extracellular_fraction", None)
    ref = simulate_rundown(TIMES + onset, onset_s=onset, extracellular_fraction=alpha,
                           rtol=1e-12, atol=1e-13, **kw)
    assert ref.success, ref.message
    np.testing.assert_allclose(out[:, 0], ref.v_mV, rtol=0, atol=1e-7)
    for j, name in enumerate(("na_i_mM", "k_i_mM", "cl_i_mM", "na_o_mM", "k_o_mM",
                              "cl_o_mM"), start=1):
        np.testing.assert_allclose(out[:, j], getattr(ref, name), rtol=1e-8, atol=1e-9,
                                   err_msg=name)
    assert sens.shape == (TIMES.size, 7, len(free))


@pytest.mark.parametrize("t", [None, 0.0, 57.0, 400.0])
@pytest.mark.parametrize("mode", ["anoxia", "ouabain"])
def test_rhs_and_jacobian_match_model(t, mode):
    free = ("tau_atp_s",) if mode == "anoxia" else ("tau_block_s",)
    solver = RundownSensitivitySolver(free + FREE[1:], ecs=True, mode=mode)
    theta = np.concatenate([[40.0], THETA[1:]])
    p = solver._setup(theta)
    y = np.array([18.0, 140.0, 11.0, 138.0, 12.0, 118.0])
    f, _w, jac, _, _, _ = solver.evaluate(t, y, p)
    pp = rundown_params(**dict(zip(free + FREE[1:], theta, strict=True)))
    tt = -1.0 if t is None else t
    np.testing.assert_allclose(f, rundown_rhs(tt, y, pp, mode=mode), rtol=1e-12, atol=1e-16)
    ref_j = rundown_jac(tt, y, pp, mode=mode)
    np.testing.assert_allclose(jac, ref_j, rtol=1e-10, atol=1e-12 * np.abs(ref_j).max())


def _cost_fn(op, weights):
    th = pt.dvector("th")
    out, _, ok = op(th)
    cost = (out * weights).sum()
    return (pytensor.function([th], [cost, ok]),
            pytensor.function([th], pytensor.grad(cost, th)))


@pytest.mark.parametrize("mode", ["anoxia", "ouabain"])
def test_gradient_matches_central_differences(mode):
    free = FREE if mode == "anoxia" else ("tau_block_s", *FREE[1:])
    fixed = {} if mode == "anoxia" else {"ouabain_uM": 0.3}
    theta = THETA if mode == "anoxia" else np.concatenate([[25.0], THETA[1:]])
    op = RundownOp(free, TIMES, fixed, mode=mode, ecs=True, rtol=1e-11, atol=1e-12)
    weights = np.random.default_rng(3).uniform(0.5, 1.5, (TIMES.size, 7))
    f, g = _cost_fn(op, weights)
    grad = g(theta)
    for q in range(theta.size):
        h = 1e-4 * theta[q]
        up, dn = theta.copy(), theta.copy()
        up[q] += h
        dn[q] -= h
        fd = (f(up)[0] - f(dn)[0]) / (2 * h)
        np.testing.assert_allclose(grad[q], fd, rtol=2e-6, err_msg=free[q])


def test_pump_block_initial_rate_is_resting_influx_plus_jump():
    """Instant full ouabain block at t = 0.

    Before the onset dNa_i/dt = 0: the pump extrudes exactly the resting Na+ influx,
    3 I_p = -I_Na(V_rest). Blocking the pump removes its outward current, and the
    zero-current potential jumps at once to the pump-free GHK potential V+ (the model
    has no membrane capacitance). So the exact initial rate is
    ``dNa_i/dt(0+) = -I_Na(V+)/(F vol) = [3 I_p - (I_Na(V+) - I_Na(V_rest))]/(F vol)``:
    the resting influx plus the extra influx the jump drives, not the resting influx
    alone. The Op's trajectory reproduces it (a quadratic fit of Na_i over the first
    0.2 s gives the slope at 0+).
    """
    ss = solve_steady_state(leak="ghk")
    na, k, cl = float(ss.na_i_mM), float(ss.k_i_mM), float(ss.cl_i_mM)
    kw = {"area_um2": P["area_um2"], "temperature_K": P["temperature_K"]}
    v_rest = float(ss.v_rest_mV)
    v_plus = float(ghk_voltage_mV(P["k_o_mM"], k, P["na_o_mM"], na, P["cl_o_mM"], cl,
                                  p_k=P["p_k_cm_s"], p_na=P["p_na_cm_s"],
                                  p_cl=P["p_cl_cm_s"]))
    i_na_rest = float(ghk_current_pA(v_rest, na, P["na_o_mM"], P["p_na_cm_s"], z=1, **kw))
    i_na_plus = float(ghk_current_pA(v_plus, na, P["na_o_mM"], P["p_na_cm_s"], z=1, **kw))
    i_p = float(ss.pump_current_pA)
    assert -i_na_rest == pytest.approx(3 * i_p, rel=1e-9)  # resting balance
    expected = (3 * i_p - (i_na_plus - i_na_rest)) * MM_PER_S_PER_PA
    assert expected == pytest.approx(-i_na_plus * MM_PER_S_PER_PA, rel=1e-12)

    fixed = {"ouabain_uM": np.inf, "tau_block_s": 0.0}
    solver = RundownSensitivitySolver(("p_na_cm_s",), fixed, mode="ouabain", ecs=False,
                                      rtol=1e-12, atol=1e-13)
    p = solver._setup(np.array([P["p_na_cm_s"]]))
    y0, _ = solver.steady_state(p)
    np.testing.assert_allclose(y0, [na, k, cl], rtol=1e-10)
    assert abs(solver.evaluate(None, y0, p)[0][0]) < 1e-12  # nothing moves before
    f0, v0 = solver.evaluate(0.0, y0, p)[:2]
    assert f0[0] == pytest.approx(expected, rel=1e-9)
    assert v0 == pytest.approx(v_plus, abs=1e-9)
    t = np.array([-1.0, 0.0, 0.05, 0.1, 0.15, 0.2])
    out, _ = solver.solve(np.array([P["p_na_cm_s"]]), t)
    assert out[0, 0] == pytest.approx(v_rest, abs=1e-9)
    assert out[1, 0] == pytest.approx(v_plus, abs=1e-9)  # the jump at the onset
    slope = np.polyfit(t[1:], out[1:, 1], 2)[1]
    assert slope == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize(("theta", "reason"), [
    (np.array([40.0, -5e-8, 6e-7, 1000.0, 0.2]), "domain"),
    (np.array([40.0, 5e-8, 6e-7, 1000.0, 1.5]), "domain"),
    (np.array([1e-9, 5e-8, 6e-7, 1000.0, 0.2]), None),  # absurdly fast ATP loss
    (np.array([40.0, 5e-3, 6e-7, 1000.0, 0.2]), None),  # leak 1e5-fold: extreme
])
def test_failed_or_extreme_solves_are_counted_never_raised(theta, reason):
    op = RundownOp(FREE, TIMES, ecs=True, max_rhs_calls=3000)
    f, g = _cost_fn(op, np.ones((TIMES.size, 7)))
    cost, ok = f(theta)
    grad = g(theta)
    assert np.all(np.isfinite(grad)) and np.isfinite(cost)
    assert op.n_calls == 2
    if ok:
        assert op.n_failed == 0
    else:
        assert op.n_failed == 2 and sum(op.failures.values()) == 2
    if reason is not None:
        assert not ok and set(op.failures) == {reason}


def test_failed_solve_gives_minus_inf_logp_and_sampling_survives():
    import pymc as pm

    from iongrad.data import load_shipped
    from iongrad.infer.rundown_model import RundownSpec, build_rundown_model

    model, info = build_rundown_model(load_shipped("synthetic_rundown"),
                                      RundownSpec(rtol=1e-6, atol=1e-6))
    op = info["op"]
    logp = model.compile_logp()
    point = model.initial_point()
    assert np.isfinite(logp(point))
    # a draw whose solve exceeds the step budget (what an absurdly stiff draw does)
    op.solver.max_rhs_calls = 20
    assert logp(point) == -np.inf
    assert op.n_failed == 1 and op.failures == {"budget": 1}
    op.solver.max_rhs_calls = 3000
    n_failed = op.n_failed
    # a few NUTS steps from a point far out in the tail: no exception, failures counted
    with model:
        pm.sample(draws=3, tune=3, chains=1, cores=1, random_seed=1, progressbar=False,
                  compute_convergence_checks=False,
                  initvals={"p_na_cm_s_log": np.log(3e-6), "tau_atp_s_log": np.log(0.5)})
    assert op.n_calls > 10
    assert op.n_failed >= n_failed


def test_solver_rejects_bad_configuration():
    from iongrad.models.errors import ModelInputError

    with pytest.raises(ModelInputError, match="cannot differentiate"):
        RundownSensitivitySolver(("g_na_nS",))
    with pytest.raises(ModelInputError, match="ecs=False"):
        RundownSensitivitySolver(("extracellular_fraction",), ecs=False)
    with pytest.raises(ModelInputError, match="strictly increasing"):
        RundownOp(FREE, [0.0, 0.0, 1.0])
    solver = RundownSensitivitySolver(FREE)
    with pytest.raises(SolveFailed, match="domain"):
        solver.solve(np.array([np.nan, 1, 1, 1, 0.2]), TIMES)


@pytest.mark.parametrize("y", [[18.0, 140.0, 11.0, 138.0, 12.0, 118.0],
                               [95.0, 60.0, 50.0, 60.0, 90.0, 80.0],
                               [6.0, 150.0, 4.0, 150.0, 3.0, 125.0]])
def test_pm_ode_baseline_is_the_generated_system(y):
    """The pm.ode baseline's right-hand side (PyTensor graphs translated from the same
    generated system, V by unrolled Newton steps from -60 mV) equals rundown_rhs and the
    bracketed potential root, from a resting to a run-down (depolarised) state."""
    from iongrad.infer.rundown_model import _pt_rates
    from iongrad.models.rundown import membrane_potential_mV, pump_drive

    p = rundown_params(extracellular_fraction=0.2, p_na_cm_s=5e-8, onset_s=0.0)
    pp = {k: float(v) for k, v in p.items()}
    rates, v = _pt_rates([pt.constant(x) for x in y], 57.0, pp, mode="anoxia", ecs=True)
    f = pytensor.function([], [*rates, v])()
    np.testing.assert_allclose(f[:-1], rundown_rhs(57.0, np.array(y), p), rtol=1e-10,
                               atol=1e-14)
    names = ("na_i_mM", "k_i_mM", "cl_i_mM", "na_o_mM", "k_o_mM", "cl_o_mM")
    atp, avail = pump_drive(57.0, p)
    v_ref, ok = membrane_potential_mV(dict(zip(names, y, strict=True)), p, atp_mM=atp,
                                      available=avail)
    assert ok
    assert f[-1] == pytest.approx(float(v_ref), abs=1e-9)
