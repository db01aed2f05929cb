"""Extreme draws give "no steady state", never an exception from compiled code.

A sampler (or a prior draw) may propose parameters far outside any physiology; the
compiled kernel then divides by numbers that underflow to zero. Such a draw must be
rejected (feasible = 0, log-density -inf), as the NumPy solver rejects it, instead of
stopping the fit with ZeroDivisionError (numba's default division semantics).
"""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

from iongrad.infer.kernels import compiled_solver, placeholder_values
from iongrad.infer.steady_op import SteadyStateOp, steady_state_graph
from iongrad.models.steady_core import plan_for
from iongrad.models.steady_state import membrane_for

# found by a random search over 20 000 log-uniform draws: the kernel compiled with
# numba's default error model raised ZeroDivisionError here (a bath at 2.6e-299 K)
EXTREME = {"g_k_nS": 2.436928443955079e-69, "cl_o_mM": 1.5084570217449536e-13,
           "temperature_K": 2.554536649043961e-299}


def _params(membrane, n_typical: int = 1) -> dict[str, np.ndarray]:
    base = placeholder_values(membrane)
    out = {k: np.full(n_typical + 1, float(base[k])) for k in plan_for(membrane).params}
    for k, v in EXTREME.items():
        out[k][-1] = v  # the last sample is the extreme one; the others are typical
    return out


def test_compiled_kernel_reports_an_extreme_draw_unsolved():
    membrane = membrane_for("ohmic", "fixed")
    solve = compiled_solver(membrane)
    assert solve is not None
    x, reason, _, _ = solve(_params(membrane), None)
    assert reason[-1] != 0  # no steady state claimed for the extreme draw
    assert reason[0] == 0 and np.isfinite(x[0])  # the typical draw beside it is solved


@pytest.mark.parametrize("mode", ["FAST_RUN", "NUMBA"])
def test_extreme_draw_has_minus_infinite_log_density(mode):
    """In PyTensor's C/Python mode (``perform``) and in numba mode (nutpie), the model's
    feasibility potential is -inf for the extreme draw and 0 for a typical one."""
    membrane = membrane_for("ohmic", "fixed")
    p = _params(membrane)
    names = list(plan_for(membrane).params)
    inputs = [pt.dvector(k) for k in names]
    out = steady_state_graph(dict(zip(names, inputs, strict=True)), n=2,
                             op=SteadyStateOp(membrane=membrane))
    potential = pt.switch(pt.eq(out["feasible"], 1), 0.0, -np.inf)
    f = pytensor.function(inputs, [potential, out["feasible"]], mode=mode)
    logp, feasible = f(*[p[k] for k in names])
    assert feasible.tolist() == [1, 0]
    assert logp[0] == 0.0 and logp[1] == -np.inf
