"""The steady state as a root of PyTensor residual equations (``pytensor.tensor.optimize.root``).

A baseline for :class:`iongrad.infer.steady_op.SteadyStateOp`: the same membrane model
written the way a PyMC user would without a dedicated solver. The residuals are the
plan's reduced system (:attr:`iongrad.models.steady_core.SteadyPlan.reduced_residuals`
in :attr:`~iongrad.models.steady_core.SteadyPlan.reduced_vars`), translated from the
membrane's rate laws by :func:`iongrad.models.codegen.pytensor_graph` — no rate law is
written here. The residuals of every row are stacked into one system of ``d·n``
equations (``d`` reduced unknowns per row) solved by ``scipy.optimize.root``
(``hybr``, MINPACK's Powell hybrid method) with the PyTensor Jacobian; the gradient is
``optimize.root``'s implicit-function gradient (a dense ``d·n × d·n`` solve). Every row
starts from the steady state of the membrane's default cell.

Use it as the ``state_solver`` of :func:`iongrad.infer.steady_op.steady_state_graph`
or :func:`iongrad.infer.model.build_model`::

    model, info = build_model(dataset, spec, state_solver=RootStateSolver())
"""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt
from pytensor.graph.basic import Constant
from pytensor.graph.replace import graph_replace

from iongrad.models.codegen import pytensor_graph
from iongrad.models.steady_core import solve_membrane

__all__ = ["RootStateSolver"]


class RootStateSolver:
    """Reduced steady-state unknowns from ``pytensor.tensor.optimize.root``.

    Parameters
    ----------
    method : str
        ``scipy.optimize.root`` method (default ``"hybr"``).
    tol : float
        Passed to ``scipy.optimize.root`` (for ``hybr``: the relative step tolerance
        ``xtol``). The default, 1e-12, resolves the steady state to the precision the
        dedicated solver reaches; SciPy's own default (1.5e-8) does not.
    use_vectorized_jac : bool
        Build the Jacobians by vectorising the residual graph instead of a scan.

    Calling the solver with ``(plan, vecs)`` — a steady-state plan and one PyTensor
    vector per name of ``plan.params`` — returns ``(ys, feasible)``: one vector per
    reduced unknown and an int8 vector, 1 on every row when the root finder reports
    success and the solution is finite, else 0 on every row (the rows are one system).
    """

    def __init__(self, method: str = "hybr", *, tol: float = 1e-12,
                 use_vectorized_jac: bool = True):
        self.method = method
        self.tol = float(tol)
        self.use_vectorized_jac = bool(use_vectorized_jac)

    def initial_guess(self, plan) -> np.ndarray:
        """The reduced unknowns of the membrane's default cell (one per reduced variable)."""
        p = {k: np.array([v]) for k, v in plan.membrane.defaults().items()}
        sol = solve_membrane(plan.membrane, p)
        if not bool(sol.feasible[0]):
            raise ValueError(f"membrane model {plan.membrane.name!r}: the default cell has "
                             "no steady state to start the root finder from")
        return np.array([float(y[0]) for y in sol.reduced])

    def _options(self, size: int) -> dict:
        if self.method != "hybr":
            return {"tol": self.tol}
        # unit scale of every unknown (log concentrations and mV are O(1)-O(100)):
        # MINPACK's default scaling by the Jacobian's column norms lets one stiff row
        # shrink the trust region of the whole stacked system until it stalls ("not
        # making good progress") from the default cell's state at a third of the
        # prior's points
        return {"tol": self.tol, "options": {"diag": np.ones(size)}}

    def __call__(self, plan, vecs, n: int):
        d = len(plan.reduced_vars)
        guess = self.initial_guess(plan)
        z = pt.dvector("steady_state_unknowns")
        ys = [z[j * n:(j + 1) * n] for j in range(d)]
        # the system is written in one fresh input per parameter vector (constants stay
        # inline): optimize.root cannot take a model's shared data as its own inputs
        inputs = {}
        env = {}
        for sym, v in zip(plan.param_symbols, vecs, strict=True):
            if isinstance(v, Constant):
                env[sym] = v
            else:
                env[sym] = inputs[v] = pt.dvector(sym.name)
        env.update(zip(plan.reduced_vars, ys, strict=True))
        residuals = pt.concatenate(pytensor_graph(plan.reduced_residuals, env))
        solution, success = pt.optimize.root(
            residuals, z, method=self.method, jac=True,
            use_vectorized_jac=self.use_vectorized_jac, optimizer_kwargs=self._options(d * n))
        # start every row from the default cell's steady state, at the model's parameters
        replace = {x: v for v, x in inputs.items()}
        replace[z] = pt.constant(np.repeat(guess, n), dtype="float64")
        solution, success = graph_replace([solution, success], replace, strict=False)
        ok = success & ~pt.any(pt.isinf(solution) | pt.isnan(solution))
        feasible = pt.cast(ok, "int8") * pt.ones((n,), dtype="int8")
        return [solution[j * n:(j + 1) * n] for j in range(d)], feasible
