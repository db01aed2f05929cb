"""The optimize.root baseline solves the same equations as the steady-state Op: the same
steady state, and the same log-density and gradient of the 8-cell fit."""

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

from iongrad.infer.steady_op import steady_state_graph
from iongrad.infer.steady_root import RootStateSolver

K_O = np.array([2.0, 4.0, 8.0, 16.0, 32.0])
OUTPUTS = ("v_rest_mV", "na_i_mM", "k_i_mM", "pump_current_pA", "r_in_MOhm")
CASES = {
    "ohmic": {"g_na_nS": 0.15, "g_k_nS": 0.6, "pump_density_per_um2": 1000.0},
    "ghk": {"p_na_cm_s": 4e-8, "p_k_cm_s": 6e-7, "pump_density_per_um2": 1000.0},
}


@pytest.mark.parametrize("leak", list(CASES))
def test_root_steady_state_equals_op(leak):
    names = list(CASES[leak])
    sym = {k: pt.dvector(k) for k in names}
    params = {**sym, "k_o_mM": K_O}
    graphs = [steady_state_graph(params, n=K_O.size, leak=leak, state_solver=solver)
              for solver in (None, RootStateSolver())]
    f = pytensor.function([sym[k] for k in names],
                          [g[k] for g in graphs for k in (*OUTPUTS, "feasible")])
    rng = np.random.default_rng(3)
    for _ in range(3):
        vals = [v * np.exp(rng.normal(0.0, 0.3, K_O.size)) for v in CASES[leak].values()]
        out = f(*vals)
        op_out, root_out = out[:len(OUTPUTS) + 1], out[len(OUTPUTS) + 1:]
        np.testing.assert_array_equal(op_out[-1], 1)
        np.testing.assert_array_equal(root_out[-1], 1)
        for name, a, b in zip(OUTPUTS, op_out, root_out, strict=False):
            np.testing.assert_allclose(b, a, rtol=1e-9, err_msg=name)


@pytest.mark.slow
def test_root_model_logp_and_gradient_equal_op_model():
    from pymc.blocking import DictToArrayBijection

    from iongrad.data import load_shipped
    from iongrad.infer.model import FitSpec, build_model

    spec = FitSpec(fixed={"g_cl_nS": 0.3, "k_na_mM": 12.0})
    ds = load_shipped("synthetic_vrest_ko")
    models = [build_model(ds, spec, state_solver=s)[0] for s in (None, RootStateSolver())]
    fns = [m.logp_dlogp_function(ravel_inputs=True) for m in models]
    for fn in fns:
        fn.set_extra_values({})
    q0 = DictToArrayBijection.map(models[0].initial_point()).data
    rng = np.random.default_rng(7)
    for _ in range(3):
        q = q0 + rng.normal(0.0, 0.2, q0.size)
        (lp_op, g_op), (lp_root, g_root) = fns[0](q), fns[1](q)
        assert np.isfinite(lp_op)
        np.testing.assert_allclose(lp_root, lp_op, rtol=1e-6)
        np.testing.assert_allclose(g_root, g_op, rtol=1e-6, atol=1e-6 * np.abs(g_op).max())
