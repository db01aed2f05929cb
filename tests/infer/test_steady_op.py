"""The steady-state Op: value equals the NumPy model, gradient equals central differences."""

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

from iongrad.infer.steady_op import steady_state_graph
from iongrad.models import solve_steady_state

K_O = np.array([2.0, 4.0, 8.0, 16.0, 32.0])

CASES = {
    ("ohmic", "fixed"): {"g_na_nS": 0.15, "g_k_nS": 0.6, "pump_density_per_um2": 1000.0,
                         "k_na_mM": 12.0},
    ("ohmic", "osmotic"): {"g_na_nS": 0.15, "g_k_nS": 0.6, "pump_density_per_um2": 1000.0,
                           "k_na_mM": 12.0},
    ("ghk", "fixed"): {"p_na_cm_s": 4e-8, "p_k_cm_s": 6e-7, "pump_density_per_um2": 1000.0,
                       "k_na_mM": 12.0},
    ("ghk", "osmotic"): {"p_na_cm_s": 4e-8, "p_k_cm_s": 6e-7, "pump_density_per_um2": 1000.0,
                         "k_na_mM": 12.0},
}
OUTPUTS = ("v_rest_mV", "na_i_mM", "k_i_mM", "pump_current_pA", "o2_per_s", "r_in_MOhm")


def _compile(leak, volume, names):
    sym = {n: pt.dvector(n) for n in names}
    out = steady_state_graph({**sym, "k_o_mM": K_O, "activity_load_pA": 2.0}, n=K_O.size,
                             leak=leak, volume=volume)
    # a scalar that mixes every output with different weights
    w = np.linspace(0.5, 1.5, K_O.size)
    cost = ((out["v_rest_mV"] * w).sum() / 10 + (out["na_i_mM"] * w).sum()
            + pt.log(out["r_in_MOhm"] * w).sum() + (out["o2_per_s"] * w).sum() * 1e-7
            + (out["k_i_mM"] * w).sum() / 100)
    inputs = [sym[n] for n in names]
    f_out = pytensor.function(inputs, [out[k] for k in OUTPUTS])
    f_cost = pytensor.function(inputs, cost)
    f_grad = pytensor.function(inputs, pytensor.grad(cost, inputs))
    return f_out, f_cost, f_grad


@pytest.mark.parametrize(("leak", "volume"), list(CASES))
def test_op_value_matches_numpy_model(leak, volume):
    params = CASES[(leak, volume)]
    names = list(params)
    vals = [np.full(K_O.size, v) * np.linspace(0.9, 1.1, K_O.size) for v in params.values()]
    f_out, _, _ = _compile(leak, volume, names)
    got = f_out(*vals)
    ref = solve_steady_state(leak=leak, volume=volume, k_o_mM=K_O, activity_load_pA=2.0,
                             **dict(zip(names, vals, strict=True)))
    for name, g in zip(OUTPUTS, got, strict=True):
        np.testing.assert_allclose(g, getattr(ref, name), rtol=1e-10, err_msg=name)


@pytest.mark.parametrize(("leak", "volume"), list(CASES))
def test_op_gradient_matches_central_differences(leak, volume):
    params = CASES[(leak, volume)]
    names = list(params)
    rng = np.random.default_rng(0)
    vals = [np.full(K_O.size, v) * np.exp(rng.normal(0, 0.1, K_O.size))
            for v in params.values()]
    _, f_cost, f_grad = _compile(leak, volume, names)
    grads = f_grad(*vals)
    for i in range(len(names)):
        for j in (0, 2, 4):
            # five-point central difference: truncation O(h^4), so a step large enough
            # to keep round-off of the O(10^3) cost far below the gradient's size
            h = vals[i][j] * 1e-4

            def at(step, i=i, j=j):
                moved = [v.copy() for v in vals]
                moved[i][j] += step
                return f_cost(*moved)

            fd = (8 * (at(h) - at(-h)) - (at(2 * h) - at(-2 * h))) / (12 * h)
            np.testing.assert_allclose(grads[i][j], fd, rtol=1e-6,
                                       err_msg=f"d/d{names[i]}[{j}]")


def test_infeasible_sample_is_flagged_not_nan():
    g = pt.dvector("g")
    # 1000 pA of activity load against 10 pumps/µm²: no physical steady state
    out = steady_state_graph({"pump_density_per_um2": g,
                              "activity_load_pA": np.array([0.0, 1000.0])}, n=2)
    f = pytensor.function([g], [out["feasible"], out["v_rest_mV"]])
    feasible, v = f(np.array([1000.0, 10.0]))
    assert feasible.tolist() == [1, 0]
    assert np.all(np.isfinite(v))


@pytest.mark.parametrize("volume", ["fixed", "osmotic"])
def test_compiled_ohmic_path_agrees_with_numpy_solver_over_a_wide_design(volume):
    """The Op's compiled ohmic solve accepts exactly the samples the NumPy solver solves.

    4096 log-uniform parameter sets over two to three decades of every conductance, pump
    density, K_Na, [K]o and activity load, cold and warm started: feasibility flags equal,
    and ln Na_i and V equal to 1e-9 where feasible.
    """
    from iongrad.infer.kernels import compiled_solver
    from iongrad.infer.steady_op import SteadyStateOp
    from iongrad.models.steady_state import DEFAULT_PARAMS

    rng = np.random.default_rng(11)
    m = 4096

    def logu(lo, hi):
        return np.exp(rng.uniform(np.log(lo), np.log(hi), m))

    p = {k: np.full(m, float(v)) for k, v in DEFAULT_PARAMS.items()}
    p.update(g_na_nS=logu(0.01, 1.0), g_k_nS=logu(0.05, 5.0), g_cl_nS=logu(0.01, 1.0),
             pump_density_per_um2=logu(30.0, 3000.0), k_na_mM=logu(1.0, 100.0),
             k_o_mM=logu(1.0, 40.0), activity_load_pA=rng.uniform(0.0, 20.0, m))
    p["osm_o_mOsm"] = 2.0 * (p["na_o_mM"] + p["k_o_mM"])  # what steady_state_graph passes
    ref = solve_steady_state(leak="ohmic", volume=volume, **p)
    op = SteadyStateOp("ohmic", volume)
    assert compiled_solver(op.membrane) is not None  # the compiled path is what is tested
    names = op.param_names
    x_sym = [pt.dvector(k) for k in names]
    out = steady_state_graph(dict(zip(names, x_sym, strict=True)), n=m, op=op, leak="ohmic",
                             volume=volume)
    f = pytensor.function(x_sym, [out["x_ln_na"], out["v_rest_mV"], out["feasible"]])
    args = [p[k] for k in names]
    for _call in ("first", "second"):
        x, v, ok = f(*args)
        np.testing.assert_array_equal(ok.astype(bool), ref.feasible)
        assert 0 < ref.feasible.mean() < 1  # the design reaches infeasible corners
        fe = ref.feasible
        np.testing.assert_allclose(x[fe], np.log(ref.na_i_mM[fe]), rtol=0, atol=1e-9)
        np.testing.assert_allclose(v[fe], ref.v_rest_mV[fe], rtol=0, atol=1e-9)
        args = [a * (1 + 1e-6) if k == "g_na_nS" else a for k, a in zip(names, args,
                                                                       strict=True)]
        ref = solve_steady_state(leak="ohmic", volume=volume,
                                 **dict(p, g_na_nS=p["g_na_nS"] * (1 + 1e-6)))


def test_fit_compiles_in_numba_mode_without_object_mode():
    """PyMC's numba mode (and so nutpie's numba backend) runs the steady-state Op as
    compiled code: compiling a fit's log-density and gradient raises no object-mode
    warning, and both equal the default backend's at a random point. (One cell of the
    shipped K+ series, complete pooling: the same Op as the 8-cell fit, a smaller graph
    to compile; ``benchmarks/bench_nutpie.py`` samples the 8-cell fit with nutpie.)"""
    import dataclasses
    import warnings

    import pymc as pm

    from iongrad.data import load_shipped
    from iongrad.infer.model import FitSpec, build_model

    ds = load_shipped("synthetic_vrest_ko")
    one = dataclasses.replace(ds, frame=ds.frame[ds.frame["cell"] == ds.cells[0]])
    model, _ = build_model(one, FitSpec(fixed={"g_cl_nS": 0.3, "k_na_mM": 12.0},
                                        pooling="complete"))
    ip = model.initial_point()
    rng = np.random.default_rng(3)
    point = {k: v + rng.normal(0, 0.05, np.shape(v)) for k, v in ip.items()}
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*object mode.*")
        warnings.filterwarnings("error", message="(?i).*fallback.*")
        f_numba = model.logp_dlogp_function(ravel_inputs=True, mode="NUMBA")
    f_c = model.logp_dlogp_function(ravel_inputs=True)
    for f in (f_numba, f_c):
        f.set_extra_values({})
    x = pm.blocking.DictToArrayBijection.map({v.name: point[v.name]
                                              for v in model.value_vars})
    lp_n, g_n = f_numba(x.data)
    lp_c, g_c = f_c(x.data)
    assert np.isfinite(lp_c)
    np.testing.assert_allclose(lp_n, lp_c, rtol=1e-10)
    np.testing.assert_allclose(g_n, g_c, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("leak", ["ohmic", "ghk"])
def test_op_output_depends_on_its_inputs_alone(leak):
    """The default Op starts every call from the same guess, never from the previous
    call's solution: the same inputs give bit for bit the same answer whatever was
    solved before (so sampled chains do not depend on whether they ran in parallel
    processes or one after the other in one process); a warm-started Op agrees to 1e-9."""
    from iongrad.infer.steady_op import SteadyStateOp
    from iongrad.models.steady_state import DEFAULT_PARAMS

    rng = np.random.default_rng(5)
    m = 512
    p = {k: np.full(m, float(v)) for k, v in DEFAULT_PARAMS.items()}
    p["osm_o_mOsm"] = 2.0 * (p["na_o_mM"] + p["k_o_mM"])
    for k in ("g_na_nS", "g_k_nS", "p_na_cm_s", "p_k_cm_s", "pump_density_per_um2"):
        p[k] = p[k] * np.exp(rng.uniform(-1.0, 1.0, m))
    other = {**p, "k_o_mM": p["k_o_mM"] * 4.0, "g_na_nS": p["g_na_nS"] * 3.0,
             "p_na_cm_s": p["p_na_cm_s"] * 3.0, "k_na_mM": p["k_na_mM"] * 2.0}
    op = SteadyStateOp(leak, "fixed")
    names = op.param_names
    x_sym = [pt.dvector(k) for k in names]
    cold = pytensor.function(x_sym, op(*x_sym))
    warm = pytensor.function(x_sym, SteadyStateOp(leak, "fixed", warm_start=True)(*x_sym))
    args, other_args = [p[k] for k in names], [other[k] for k in names]
    fresh = cold(*args)
    assert fresh[-1].all()  # every set has a steady state
    cold(*other_args)
    again = cold(*args)
    for a, b in zip(fresh, again, strict=True):
        np.testing.assert_array_equal(a, b)
    warm(*other_args)
    *ys, ok = warm(*args)  # warm-started from the other inputs' solution
    np.testing.assert_array_equal(ok, fresh[-1])
    for y, y0 in zip(ys, fresh[:-1], strict=True):
        np.testing.assert_allclose(y, y0, rtol=0, atol=1e-9)
