"""The steady state of a membrane model as a differentiable PyTensor Op.

Forward: the generated, vectorised solver of :mod:`iongrad.models.steady_core`
solves every (cell, condition) at once (where the membrane has one, a compiled
per-sample kernel first: :mod:`iongrad.infer.kernels`). Backward: the implicit
function theorem on the solver's *reduced system*
(:attr:`iongrad.models.steady_core.SteadyPlan.reduced_vars`): the unknowns
``y = (ln Na_i[, V])`` satisfy ``R(y, θ) = 0`` — the balances solved by a numeric
step and electroneutrality — with every other state variable explicit. Each
sample's residual depends on its own state only, so ``∂R/∂y`` is a batch of small
matrices whose entries are ``grad(sum(R_i), y_j)``. The vector–Jacobian product is::

    λ = (∂R/∂y)^{-T} ḡ,      θ̄ = -(∂R/∂θ)^T λ = -grad(sum(λ·R), θ)   (λ held constant)

The residual graph is generated from the membrane's rate laws
(:func:`iongrad.models.codegen.pytensor_graph`) — the expressions the NumPy solver
satisfies; no derivative is written by hand and none is a finite difference.
"""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.gradient import DisconnectedType
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op
from pytensor.link.numba.dispatch import basic as numba_basic

from iongrad.infer.kernels import compiled_solver, op_implementation, placeholder_values
from iongrad.models.codegen import pytensor_graph
from iongrad.models.energy import o2_per_s_kernel
from iongrad.models.mechanisms import conc, voltage
from iongrad.models.membrane import Membrane, default_bath_osmolarity
from iongrad.models.steady_core import plan_for, solve_membrane
from iongrad.models.steady_state import (
    DEFAULT_PARAMS,
    LEAKS_POSITIVE,
    domain_classes,
    membrane_for,
)

__all__ = ["PARAM_ORDER", "SteadyStateOp", "steady_state_graph"]

#: Every steady-state parameter of the chapter's cell (the inputs of
#: :func:`steady_state_graph`); an Op takes the subset its membrane uses
#: (:attr:`SteadyStateOp.param_names`).
PARAM_ORDER: tuple[str, ...] = tuple(DEFAULT_PARAMS)

#: Where a sample has no steady state the Op returns this placeholder state
#: (finite, so downstream graphs stay finite) and ``feasible = 0``.
_FALLBACK_X = float(np.log(10.0))
_FALLBACK_V = -70.0
def _domain_classes(names) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Names that must be > 0 and names that must be >= 0 (osm_o_mOsm: NaN = default)."""
    return domain_classes([k for k in names if k != "osm_o_mOsm"], positive=LEAKS_POSITIVE)


def _in_domain(p: dict, positive, nonneg) -> np.ndarray:
    """Samples whose parameters lie in the model's domain (positive where required)."""
    ok = np.all([p[k] > 0 for k in positive], axis=0)
    if nonneg:
        ok &= np.all([p[k] >= 0 for k in nonneg], axis=0)
    return ok


def _solve(membrane: Membrane, p: dict, x0) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    """Reduced unknowns and reason codes for validated parameter vectors.

    The compiled per-sample solver when the membrane has one (the same algorithm and
    reason codes as the NumPy solver: for coupled balances its starts and its parameter
    continuation too), else the vectorised NumPy solver.
    """
    kernel = compiled_solver(membrane)
    if kernel is None:
        sol = solve_membrane(membrane, p, x0=x0)
        return sol.reduced, sol.reason
    x, reason, _, nums = kernel(p, x0)
    return (x, *nums), reason


class SteadyStateOp(Op):
    """``(θ_1, ..., θ_P) -> (y_1, ..., y_d, feasible)`` for vectors of equal length n.

    Inputs are float64 vectors, one per name in :attr:`param_names` (the membrane
    model's parameters). Outputs are the reduced unknowns of the membrane's solver
    (:attr:`iongrad.models.steady_core.SteadyPlan.reduced_vars`: ``ln Na_i`` and, with
    GHK leaks, V in mV) and an int8 vector ``feasible``. Gradients flow to every input
    through the implicit function theorem; ``feasible`` has no gradient.
    """

    __props__ = ("membrane", "warm_start")

    def __init__(self, leak: str = "ohmic", volume: str = "fixed", *,
                 membrane: Membrane | None = None, warm_start: bool = False):
        self.membrane = membrane if membrane is not None else membrane_for(leak, volume)
        self.plan = plan_for(self.membrane)
        self.param_names = self.plan.params
        self._positive, self._nonneg = _domain_classes(self.param_names)
        self.n_reduced = len(self.plan.reduced_vars)
        self._placeholder = placeholder_values(self.membrane)
        # warm_start=False (default): every solve starts from the same guess, so the
        # output is a function of the inputs alone — a sampler's draws do not depend on
        # whether its chains ran in parallel processes or one after the other (a batch
        # worker), the numba implementation (always cold) gives the same numbers, and
        # derived quantities do not depend on the order draws are recorded in.
        # warm_start=True starts from the previous call's solution (per vector length).
        self.warm_start = bool(warm_start)
        self.n_calls = 0
        self.n_infeasible = 0
        self._last_x: dict[int, np.ndarray] = {}

    def __getstate__(self):
        # the generated plan holds compiled functions: rebuilt where the Op is unpickled
        # (PyMC's chain processes), from the membrane model, which pickles as data
        state = dict(self.__dict__)
        state.pop("plan", None)
        state["_last_x"] = {}
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self.plan = plan_for(self.membrane)

    def make_node(self, *params):
        if len(params) != len(self.param_names):
            raise TypeError(f"SteadyStateOp({self.membrane.name}) takes "
                            f"{len(self.param_names)} inputs: {', '.join(self.param_names)}")
        inputs = [pt.as_tensor_variable(p).astype("float64") for p in params]
        for name, p in zip(self.param_names, inputs, strict=True):
            if p.ndim != 1:
                raise TypeError(f"input {name} must be a vector, got ndim={p.ndim}")
        outputs = [pt.dvector() for _ in range(self.n_reduced)] + [pt.bvector()]
        return Apply(self, inputs, outputs)

    def perform(self, node, inputs, output_storage):
        self.n_calls += 1
        n = inputs[0].shape[0]
        p = {k: np.asarray(v, dtype=np.float64) for k, v in zip(self.param_names, inputs,
                                                                strict=True)}
        finite = np.all([np.isfinite(v) for k, v in p.items() if k != "osm_o_mOsm"], axis=0)
        in_domain = finite & _in_domain(p, self._positive, self._nonneg)
        if "osm_o_mOsm" in p:
            p["osm_o_mOsm"] = np.where(np.isnan(p["osm_o_mOsm"]),
                                       default_bath_osmolarity(p["na_o_mM"], p["k_o_mM"]),
                                       p["osm_o_mOsm"])
            in_domain &= p["osm_o_mOsm"] > 0
        safe = p if in_domain.all() else {k: np.where(in_domain, v, self._placeholder[k])
                                          for k, v in p.items()}
        x0 = self._last_x.get(n) if self.warm_start else None
        reduced, reason = _solve(self.membrane, safe, x0)
        ok = in_domain & (reason == 0)
        self.n_infeasible += int((~ok).sum())
        fallback = (_FALLBACK_X, *([_FALLBACK_V] * (self.n_reduced - 1)))
        reduced = [np.where(ok, y, f) for y, f in zip(reduced, fallback, strict=True)]
        if ok.all() and self.warm_start:
            self._last_x[n] = reduced[0].copy()
        for j, y in enumerate(reduced):
            output_storage[j][0] = np.asarray(y, dtype=np.float64)
        output_storage[-1][0] = ok.astype(np.int8)

    def infer_shape(self, fgraph, node, input_shapes):
        n = input_shapes[0]
        return [n] * (self.n_reduced + 1)

    def L_op(self, inputs, outputs, output_grads):
        ys = list(outputs[:-1])
        gs = [pt.zeros_like(y) if isinstance(g.type, DisconnectedType) else g
              for y, g in zip(ys, output_grads[:-1], strict=True)]
        env = dict(zip(self.plan.param_symbols, inputs, strict=True))
        env.update(zip(self.plan.reduced_vars, ys, strict=True))
        res = pytensor_graph(self.plan.reduced_residuals, env)
        d = len(ys)
        # (electroneutrality does not involve V: a disconnected entry is a zero)
        jac = [[pytensor.grad(r.sum(), y, consider_constant=ys, disconnected_inputs="ignore",
                              return_disconnected="zero") for y in ys] for r in res]
        lam = _solve_transposed(jac, gs, d)
        lam = [pytensor.gradient.disconnected_grad(v) for v in lam]
        cost = sum((v * r).sum() for v, r in zip(lam, res, strict=True))
        grads = pytensor.grad(cost, list(inputs), consider_constant=ys,
                              disconnected_inputs="ignore", return_disconnected="zero")
        return [-g for g in grads]

    def connection_pattern(self, node):
        return [[True] * self.n_reduced + [False] for _ in node.inputs]


def _register_numba() -> None:
    """Give :class:`SteadyStateOp` a numba implementation (membranes with a compiled
    solver; others keep PyTensor's object-mode fallback)."""
    def _funcify(op, node=None, storage_map=None, **kwargs):
        impl = op_implementation(op.membrane, op._positive, op._nonneg,
                                 (_FALLBACK_X, *([_FALLBACK_V] * (op.n_reduced - 1))))
        if impl is None:
            return numba_basic.generate_fallback_impl(op, node, storage_map, **kwargs), None
        # the implementation's module is named by a hash of its generated source (and of
        # numba's version), which identifies the compiled function for PyTensor's cache
        return impl, impl.__module__

    register = getattr(numba_basic, "register_funcify_and_cache_key", None)
    if register is not None:
        register(SteadyStateOp)(_funcify)
    else:  # older PyTensor: no cache keys
        @numba_basic.numba_funcify.register(SteadyStateOp)
        def _legacy(op, node=None, storage_map=None, **kwargs):
            return _funcify(op, node, storage_map, **kwargs)[0]


def _solve_transposed(jac, g, d):
    """λ with ``J^T λ = g`` per sample, for a d×d Jacobian given entry by entry."""
    if d == 1:
        return [g[0] / jac[0][0]]
    if d == 2:
        (a, b), (c, e) = jac
        det = a * e - b * c
        # J^T = [[a, c], [b, e]]
        return [(e * g[0] - c * g[1]) / det, (a * g[1] - b * g[0]) / det]
    jt = pt.stack([pt.stack([jac[i][j] for i in range(d)], axis=-1) for j in range(d)],
                  axis=-2)  # (n, d, d): jt[:, j, i] = J[i][j]
    lam = pt.linalg.solve(jt, pt.stack(g, axis=-1)[..., None], b_ndim=2)[..., 0]
    return [lam[..., i] for i in range(d)]


#: Outputs of a composition's steady state beyond the state and the pump's outputs that
#: :func:`steady_state_graph` returns where the composition has them.
EXTRA_OUTPUTS = ("e_cl_mV", "e_gaba_mV", "ca_i_nM", "ncx_current_pA")


def steady_state_graph(params: dict, n: int | None = None, *, leak: str = "ohmic",
                       volume: str = "fixed", op: SteadyStateOp | None = None,
                       state_solver=None):
    """Build the steady state and every derived quantity as PyTensor expressions.

    Parameters
    ----------
    params : dict
        Any of :data:`iongrad.models.DEFAULT_PARAMS` (units in the names) as
        PyTensor expressions or numbers; missing ones take their defaults. All
        are broadcast to a common vector length ``n``.
    n : int, optional
        Vector length; inferred from the NumPy inputs when omitted.
    leak, volume : str
        As in :func:`iongrad.models.solve_steady_state`.
    op : SteadyStateOp, optional
        Reuse an Op instance (to read its call and failure counters).
    state_solver : callable, optional
        Another solver of the reduced system: called as ``state_solver(plan, vecs, n)``
        with the Op's plan and one vector per name of ``op.param_names``, it returns
        ``(ys, feasible)`` (one vector per reduced unknown, an int8 vector); e.g.
        :class:`iongrad.infer.steady_root.RootStateSolver`. Default: the Op.

    Returns
    -------
    dict
        ``na_i_mM``, ``k_i_mM``, ``cl_i_mM``, ``v_rest_mV``, ``pump_current_pA``,
        ``atp_per_s``, ``o2_per_s``, ``r_in_MOhm``, those of :data:`EXTRA_OUTPUTS` the
        membrane has (``e_cl_mV``, ``e_gaba_mV`` ...), each mechanism's share of the ATP
        use (``<mechanism>_atp_per_s``, where the membrane has an ATP budget) and
        ``feasible`` (int8), every one generated from the membrane's rate laws.
    """
    op = op or SteadyStateOp(leak, volume)
    plan = op.plan
    full = op.membrane.defaults()
    unknown = sorted(set(params) - set(full) - set(DEFAULT_PARAMS))
    if unknown:
        raise ValueError(f"unknown parameter(s) {unknown} for membrane model "
                         f"{op.membrane.name!r}; it takes {', '.join(op.param_names)}")
    full.update({k: v for k, v in params.items() if k in full})
    if "osm_o_mOsm" in full and isinstance(full["osm_o_mOsm"], float) and np.isnan(
            full["osm_o_mOsm"]):
        full["osm_o_mOsm"] = default_bath_osmolarity(pt.as_tensor_variable(full["na_o_mM"]),
                                                     pt.as_tensor_variable(full["k_o_mM"]))
    names = op.param_names
    tensors = [pt.as_tensor_variable(full[k]).astype("float64") for k in names]
    if n is None:
        shapes = [np.shape(full[k]) for k in names if not hasattr(full[k], "type")]
        n = int(np.prod(np.broadcast_shapes(*shapes))) if shapes else 1
    ones = pt.ones((n,), dtype="float64")
    vecs = [t * ones if t.ndim == 0 else t for t in tensors]
    if state_solver is None:
        *ys, feasible = op(*vecs)
    else:
        ys, feasible = state_solver(plan, vecs, n)
    env = dict(zip(plan.param_symbols, vecs, strict=True))
    env.update(zip(plan.reduced_vars, ys, strict=True))
    state = pytensor_graph(plan.state_exprs, env)
    ions = op.membrane.ions
    env.update(zip([*(conc(x) for x in ions), voltage()], state, strict=True))
    out_names = ("na_k_pump_current_pA", "atp_per_s", "slope_conductance_nS")
    i_p, atp, g_in = pytensor_graph([plan.output_exprs[k] for k in out_names], env)
    conc_out = {f"{x}_i_mM": c for x, c in zip(ions, state[:-1], strict=True)}
    extra_names = [k for k in (*EXTRA_OUTPUTS, *op.membrane.reported_outputs())
                   if k in plan.output_exprs]
    extra_names = list(dict.fromkeys(extra_names))
    extra = dict(zip(extra_names, pytensor_graph([plan.output_exprs[k] for k in extra_names],
                                                 env), strict=True)) if extra_names else {}
    return {
        **conc_out, **extra, "v_rest_mV": state[-1], "pump_current_pA": i_p,
        "atp_per_s": atp,
        "o2_per_s": o2_per_s_kernel(atp, env[plan.param_symbols[names.index("atp_per_o2")]]),
        "r_in_MOhm": 1e3 / g_in, "feasible": feasible, "x_ln_na": ys[0],
    }


_register_numba()
