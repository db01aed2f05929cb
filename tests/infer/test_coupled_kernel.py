"""The compiled solver of coupled balances (:mod:`iongrad.infer.coupled_kernel`): the
same answers and reason codes as the NumPy solver on random designs, generated from
the plan (a rate-law parameter moves both alike; a composition declared here gets its
own kernel), and the steady-state Op of a coupled membrane compiled in numba mode."""

from __future__ import annotations

import warnings

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from _designs import random_design

from iongrad.infer.kernels import compiled_solver, kernel_source
from iongrad.infer.steady_op import SteadyStateOp, _solve
from iongrad.models.mechanisms import (
    activity_load,
    kcc2,
    na_k_pump,
    nkcc1,
    ohmic_leak,
)
from iongrad.models.membrane import (
    Membrane,
    composition,
    default_bath_osmolarity,
    membrane_from_spec,
)
from iongrad.models.steady_core import plan_for, solve_membrane
from iongrad.models.steady_coupled import _STARTS_MV, CoupledPlan

COUPLED = ("mature_neuron", "immature_neuron", "cardiac_myocyte")

# A myocyte no start of the damped Newton reaches (tests/models/test_coupled_continuation
# .py): only the parameter continuation solves it.
HARD = {"g_na_nS": 0.14824427406781582, "g_k_nS": 13.716310582379396,
        "g_cl_nS": 0.1529428142593423, "g_ca_nS": 0.03541368942436205,
        "ncx_k_pA": 577725.0684478194, "pmca_max_pA": 191.15463719754845,
        "pump_density_per_um2": 4567.491145538566, "k_na_mM": 74.01342026275904,
        "k_o_mM": 2.71688223167761, "ca_o_mM": 1.383379059558337}


def _params(m, n=1, **over):
    p = {k: np.full(n, float(v)) for k, v in m.defaults().items()}
    p.update({k: np.broadcast_to(np.asarray(v, dtype=float), (n,)).copy()
              for k, v in over.items()})
    return p


def _assert_same(m, p, kernel_out, sol):
    """Compiled and NumPy: identical reasons; the reduced unknowns
    and the state within relative 1e-10 where there is a steady state."""
    reduced, reason = kernel_out
    np.testing.assert_array_equal(reason, sol.reason)
    f = sol.feasible
    for y, y_np in zip(reduced, sol.reduced, strict=True):
        np.testing.assert_allclose(y[f], y_np[f], rtol=1e-10, atol=0)
    plan = plan_for(m)
    state = plan._state(*[np.asarray(y)[f] for y in reduced], *[p[k][f] for k in plan.params])
    for c, name in zip(state[:-1], m.ions, strict=True):
        np.testing.assert_allclose(c, sol.state[f"{name}_i_mM"][f], rtol=1e-10, err_msg=name)
    np.testing.assert_allclose(state[-1], sol.state["v_mV"][f], rtol=1e-10)


@pytest.mark.parametrize("name", COUPLED)
def test_compiled_solver_agrees_with_numpy_on_a_random_design(name):
    m = composition(name)
    assert isinstance(plan_for(m), CoupledPlan)
    p = random_design(m, 300, np.random.default_rng(20))
    sol = solve_membrane(m, p)
    assert sol.feasible.mean() > 0.9
    x, reason, iters, nums = compiled_solver(m)(p, None)
    assert nums.shape == (plan_for(m).dim - 1, 300)
    assert (iters > 0).all()
    # the kernel alone, and the Op's solve through it: the NumPy reasons and answers
    _assert_same(m, p, ((x, *nums), reason), sol)
    _assert_same(m, p, _solve(m, p, None), sol)


def _loaded_cell():
    """A declared osmotic cell with GHK leaks and both cotransporters (kinetic forms)."""
    return membrane_from_spec(
        "test_loaded_ghk_cotransport",
        ["ghk_leak:na", "ghk_leak:k", "ghk_leak:cl", "na_k_pump", "activity_load",
         "nkcc1_kinetic", "kcc2_kinetic"], "osmotic")


def test_reason_codes_on_a_loaded_design():
    """Pumps too weak and loads too large for many sets: reasons 2 and 4 appear, and
    the compiled solver (alone, and through the Op's solve) assigns the
    NumPy solver's codes and answers."""
    m = _loaded_cell()
    rng = np.random.default_rng(21)
    n = 300
    p = random_design(m, n, rng)
    p["pump_density_per_um2"] = p["pump_density_per_um2"] * np.exp(rng.uniform(-9, 0, n))
    p["activity_load_pA"] = np.exp(rng.uniform(0.0, 9.0, n))
    p["osm_o_mOsm"] = default_bath_osmolarity(p["na_o_mM"], p["k_o_mM"])
    sol = solve_membrane(m, p)
    x, reason, _it, nums = compiled_solver(m)(p, None)
    assert {0, 2, 4} <= set(np.unique(sol.reason).tolist())
    _assert_same(m, p, ((x, *nums), reason), sol)
    _assert_same(m, p, _solve(m, p, None), sol)


def test_continuation_solves_what_the_starts_miss_as_numpy_does():
    """A declared Na+/Ca2+ cell under heavy loads: many sets no start reaches that the
    continuation solves (NumPy's), and the compiled solver solves the same ones."""
    m = membrane_from_spec("test_loaded_ncx_cell",
                           ["ohmic_leak:na", "ohmic_leak:k", "ohmic_leak:ca", "na_k_pump",
                            "activity_load", "ncx", "pmca"], "fixed")
    rng = np.random.default_rng(24)
    n = 300
    p = random_design(m, n, rng)
    p["pump_density_per_um2"] = p["pump_density_per_um2"] * np.exp(rng.uniform(-9, 0, n))
    p["activity_load_pA"] = np.exp(rng.uniform(0.0, 9.0, n))
    plan = plan_for(m)
    sol = solve_membrane(m, p)
    pv = [p[k] for k in plan.params]
    starts_only = np.zeros(n, dtype=bool)
    for v0 in _STARTS_MV:
        start = [np.broadcast_to(s, (n,)).astype(float)
                 for s in plan._start_fn(np.full(n, v0), *pv)]
        _z, conv = plan.newton([*start, np.full(n, v0)], pv, max_iter=300)
        starts_only |= conv
    rescued = sol.feasible & ~starts_only
    assert rescued.sum() >= 10
    x, reason, _it, nums = compiled_solver(m)(p, None)
    assert (reason[rescued] == 0).all()
    _assert_same(m, p, ((x, *nums), reason), sol)


def test_hard_myocyte_is_solved_by_the_compiled_continuation():
    m = composition("cardiac_myocyte")
    p = _params(m, 3, **HARD)
    p["g_na_nS"][:2] = [0.5, 2.0]  # two sets the starts solve beside the hard one
    x, reason, _it, nums = compiled_solver(m)(p, None)
    sol = solve_membrane(m, p)
    assert sol.feasible.all() and reason.tolist() == [0, 0, 0]
    _assert_same(m, p, ((x, *nums), reason), sol)


def test_a_rate_law_parameter_moves_compiled_and_numpy_alike():
    """KCC2's coefficient enters the kernel only through the printed rate law: over a
    hundredfold range it moves Cl_i by more than half, and compiled and NumPy move
    identically."""
    m = composition("mature_neuron")
    u = np.geomspace(1.0, 100.0, 25)
    p = _params(m, u.size, kcc2_u_pA=u)
    sol = solve_membrane(m, p)
    assert sol.feasible.all()
    cl = sol.state["cl_i_mM"]
    assert (np.diff(cl) < 0).all() and cl[0] / cl[-1] > 1.5
    _assert_same(m, p, _solve(m, p, None), sol)
    ln_cl = compiled_solver(m)(p, None)[3][1]  # rows of nums: ln K_i, ln Cl_i, V
    np.testing.assert_allclose(np.exp(ln_cl), cl, rtol=1e-10)


def test_a_composition_declared_here_gets_its_own_kernel():
    """Two cells that differ in one cotransporter get different generated kernels, each
    agreeing with its own NumPy solver; KCC2 alone with no Cl- leak puts K_i Cl_i at
    K_o Cl_o, an identity the kernel does not contain."""
    leaks = (ohmic_leak("na"), ohmic_leak("k"), na_k_pump(), activity_load())
    cells = {"kcc2": Membrane("test_toy_kcc2", (*leaks, kcc2())),
             "nkcc1": Membrane("test_toy_nkcc1", (*leaks, ohmic_leak("cl"), nkcc1()))}
    sources = {}
    for key, m in cells.items():
        assert isinstance(plan_for(m), CoupledPlan)
        sources[key] = kernel_source(m)
        assert "def kernel(" in sources[key]
        for s in plan_for(m).param_symbols:
            assert s.name in sources[key]
        p = random_design(m, 200, np.random.default_rng(22))
        sol = solve_membrane(m, p)
        assert sol.feasible.mean() > 0.9
        _assert_same(m, p, _solve(m, p, None), sol)
    assert "kcc2_u_pA" in sources["kcc2"] and "kcc2_u_pA" not in sources["nkcc1"]
    assert "nkcc1_u_pA" in sources["nkcc1"] and "nkcc1_u_pA" not in sources["kcc2"]
    m = cells["kcc2"]
    p = random_design(m, 200, np.random.default_rng(23))
    (_ln_na, ln_k, ln_cl, _v), reason = _solve(m, p, None)
    f = reason == 0
    assert f.mean() > 0.9
    np.testing.assert_allclose(np.exp(ln_k + ln_cl)[f], (p["k_o_mM"] * p["cl_o_mM"])[f],
                               rtol=1e-8)


def _op_functions(m, mode):
    op = SteadyStateOp(membrane=m)
    names = op.param_names
    inputs = [pt.dvector(k) for k in names]
    outs = op(*inputs)
    w = [np.linspace(0.5, 1.5, 4) * (j + 1) for j in range(op.n_reduced)]
    cost = sum((y * wj).sum() for y, wj in zip(outs[:-1], w, strict=True))
    grads = pytensor.grad(cost, [inputs[names.index(k)] for k in ("g_na_nS", "kcc2_u_pA",
                                                                   "k_o_mM")])
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*object mode.*")
        warnings.filterwarnings("error", message="(?i).*fallback.*")
        return names, pytensor.function(inputs, [*outs, *grads], mode=mode)


def test_op_in_numba_mode_equals_the_default_mode():
    """The Op of a coupled membrane compiles in numba mode without object mode, with
    the default mode's values and gradients (an out-of-domain set infeasible in both)."""
    m = composition("mature_neuron")
    names, f_numba = _op_functions(m, "NUMBA")
    _names, f_default = _op_functions(m, "FAST_RUN")
    p = _params(m, 4, kcc2_u_pA=[3.0, 10.0, 30.0, 10.0], g_na_nS=[0.1, 0.2, 0.3, -1.0])
    args = [p[k] for k in names]
    out_n = f_numba(*args)
    out_d = f_default(*args)
    assert out_d[len(plan_for(m).reduced_vars)].tolist() == [1, 1, 1, 0]  # g < 0: no state
    for a, b in zip(out_n, out_d, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    assert all(np.isfinite(g).all() and np.abs(g).max() > 0 for g in out_d[-3:])


def test_numba_op_solves_a_continuation_only_set():
    """The hard myocyte (no start reaches it) is feasible in numba mode too, with the
    default mode's state: the continuation is part of the compiled code."""
    m = composition("cardiac_myocyte")
    op_n = SteadyStateOp(membrane=m)
    names = op_n.param_names
    inputs = [pt.dvector(k) for k in names]
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*object mode.*")
        f_numba = pytensor.function(inputs, op_n(*inputs), mode="NUMBA")
    f_default = pytensor.function(inputs, SteadyStateOp(membrane=m)(*inputs), mode="FAST_RUN")
    p = _params(m, 2, **HARD)
    p["g_na_nS"][0] = 1.0
    args = [p[k] for k in names]
    out_d = f_default(*args)
    out_n = f_numba(*args)
    assert out_d[-1].tolist() == [1, 1] and out_n[-1].tolist() == [1, 1]
    for a, b in zip(out_n, out_d, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12)
