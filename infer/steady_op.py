"""The pump–leak steady state as a differentiable PyTensor Op.

Forward: the vectorised NumPy solver (:func:`iongrad.models.solve_steady_state`)
solves every (cell, condition) at once. Backward: the implicit function theorem.
The state ``y = (ln Na_i, V)`` satisfies ``R(y, θ) = 0`` with the two residuals
of :func:`iongrad.models.steady_state.pump_leak_state` (Na+ balance and
electroneutrality; K_i and Cl_i are explicit). Each sample's residual depends on
its own state only, so the Jacobian ``∂R/∂y`` is a batch of 2×2 matrices whose
entries are ``grad(sum(R_i), y_j)``. The vector–Jacobian product is::

    λ = (∂R/∂y)^{-T} ḡ,      θ̄ = -(∂R/∂θ)^T λ = -grad(sum(λ·R), θ)   (λ held constant)

All partial derivatives come from the same symbolic residual that the NumPy
solver satisfies — one source of truth, no finite differences.
"""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.gradient import DisconnectedType
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op

from iongrad.models.steady_state import (
    _LEAK_PARAMS,
    _NONNEG,
    _POSITIVE,
    DEFAULT_PARAMS,
    pump_leak_state,
    solve_core,
)

__all__ = ["PARAM_ORDER", "SteadyStateOp", "steady_state_graph"]

#: Order of the Op's inputs: every steady-state parameter.
PARAM_ORDER: tuple[str, ...] = tuple(DEFAULT_PARAMS)

#: Where a sample has no steady state the Op returns this placeholder state
#: (finite, so downstream graphs stay finite) and ``feasible = 0``.
_FALLBACK_X = float(np.log(10.0))
_FALLBACK_V = -70.0


def _domain_classes() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Names that must be > 0 and names that must be >= 0 (osm_o_mOsm: NaN = default)."""
    pos, nonneg = [], []
    for k in PARAM_ORDER:
        if k == "osm_o_mOsm":
            continue
        if k in _POSITIVE or k in _LEAK_PARAMS["ohmic"][:2] or k in _LEAK_PARAMS["ghk"][:2]:
            pos.append(k)
        elif k in _NONNEG or k in _LEAK_PARAMS["ohmic"] or k in _LEAK_PARAMS["ghk"]:
            nonneg.append(k)
    return tuple(pos), tuple(nonneg)


_MUST_BE_POSITIVE, _MUST_BE_NONNEG = _domain_classes()


def _in_domain(p: dict) -> np.ndarray:
    """Samples whose parameters lie in the model's domain (positive where required)."""
    ok = np.all([p[k] > 0 for k in _MUST_BE_POSITIVE], axis=0)
    if _MUST_BE_NONNEG:
        ok &= np.all([p[k] >= 0 for k in _MUST_BE_NONNEG], axis=0)
    return ok


def _solve_ohmic(p: dict, volume: str, x0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Compiled per-sample solve; samples it cannot verify go to :func:`solve_core`."""
    from iongrad.infer._steady_kernel import solve_ohmic

    cold = x0 is None
    if cold:
        x0 = np.log(np.minimum(p["k_na_mM"], 0.5 * p["na_o_mM"]))
    osm = p["osm_o_mOsm"]
    if volume == "osmotic":
        osm = np.where(np.isnan(osm), 2.0 * (p["na_o_mM"] + p["k_o_mM"]), osm)
    x, v, solved = solve_ohmic(
        np.ascontiguousarray(x0, dtype=np.float64), p["g_na_nS"], p["g_k_nS"], p["g_cl_nS"],
        p["pump_density_per_um2"], p["area_um2"], p["turnover_max_per_s"], p["k_na_mM"],
        p["hill_na"], p["k_k_mM"], p["hill_k"], p["atp_mM"], p["k_atp_mM"], p["na_o_mM"],
        p["k_o_mM"], p["cl_o_mM"], p["a_i_mM"], p["z_a"], p["temperature_K"],
        p["activity_load_pA"], osm, volume == "osmotic", 25 if cold else 12, 1e-9, 2000.0)
    reason = np.zeros(x.shape, dtype=np.int64)
    if not solved.all():
        idx = np.flatnonzero(~solved)
        sub = {k: val[idx] for k, val in p.items()}
        xs, vs, _, rs, _, _ = solve_core(sub, leak="ohmic", volume=volume,
                                         x0=None if cold else np.asarray(x0)[idx])
        x[idx], v[idx], reason[idx] = xs, vs, rs
    return x, v, reason


class SteadyStateOp(Op):
    """``(θ_1, ..., θ_P) -> (ln Na_i, V_mV, feasible)`` for vectors of equal length n.

    Inputs are float64 vectors, one per name in :data:`PARAM_ORDER`. Outputs are
    float64 vectors ``x = ln(Na_i / mM)``, ``v_mV`` and an int8 vector
    ``feasible``. Gradients flow to every input through the implicit function
    theorem; ``feasible`` has no gradient.
    """

    __props__ = ("leak", "volume", "warm_start")

    def __init__(self, leak: str = "ohmic", volume: str = "fixed", warm_start: bool = True):
        self.leak = leak
        self.volume = volume
        # warm_start: start each solve from the previous call's solution (per vector
        # length; NUTS moves in small steps). The answer then agrees with a cold solve to
        # the solver's tolerance, not bit for bit, and depends on what was solved before;
        # warm_start=False gives a function of the inputs alone (used for the derived
        # quantities, so that they do not depend on the order draws are recorded in).
        self.warm_start = bool(warm_start)
        self.n_calls = 0
        self.n_infeasible = 0
        self._last_x: dict[int, np.ndarray] = {}

    def make_node(self, *params):
        if len(params) != len(PARAM_ORDER):
            raise TypeError(f"SteadyStateOp takes {len(PARAM_ORDER)} inputs")
        inputs = [pt.as_tensor_variable(p).astype("float64") for p in params]
        for name, p in zip(PARAM_ORDER, inputs, strict=True):
            if p.ndim != 1:
                raise TypeError(f"input {name} must be a vector, got ndim={p.ndim}")
        outputs = [pt.dvector(), pt.dvector(), pt.bvector()]
        return Apply(self, inputs, outputs)

    def perform(self, node, inputs, output_storage):
        self.n_calls += 1
        n = inputs[0].shape[0]
        p = {k: np.asarray(v, dtype=np.float64) for k, v in zip(PARAM_ORDER, inputs,
                                                                strict=True)}
        finite = np.all([np.isfinite(v) for v in p.values()], axis=0)
        in_domain = finite & _in_domain(p)
        if self.volume == "osmotic":
            p["osm_o_mOsm"] = np.where(np.isnan(p["osm_o_mOsm"]),
                                       2.0 * (p["na_o_mM"] + p["k_o_mM"]), p["osm_o_mOsm"])
        safe = p if in_domain.all() else {k: np.where(in_domain, v, DEFAULT_PARAMS[k])
                                          for k, v in p.items()}
        x0 = self._last_x.get(n) if self.warm_start else None
        if self.leak == "ohmic":
            x, v, reason = _solve_ohmic(safe, self.volume, x0)
        else:
            x, v, _, reason, _, _ = solve_core(safe, leak=self.leak, volume=self.volume, x0=x0)
        ok = in_domain & (reason == 0)
        self.n_infeasible += int((~ok).sum())
        x = np.where(ok, x, _FALLBACK_X)
        v = np.where(ok, v, _FALLBACK_V)
        if ok.all() and self.warm_start:
            self._last_x[n] = x.copy()
        output_storage[0][0] = x.astype(np.float64)
        output_storage[1][0] = v.astype(np.float64)
        output_storage[2][0] = ok.astype(np.int8)

    def infer_shape(self, fgraph, node, input_shapes):
        n = input_shapes[0]
        return [n, n, n]

    def L_op(self, inputs, outputs, output_grads):
        x, v, _ = outputs
        g_x, g_v = output_grads[0], output_grads[1]
        if isinstance(g_x.type, DisconnectedType):
            g_x = pt.zeros_like(x)
        if isinstance(g_v.type, DisconnectedType):
            g_v = pt.zeros_like(v)
        p = dict(zip(PARAM_ORDER, inputs, strict=True))
        st = pump_leak_state(x, v, p, leak=self.leak, volume=self.volume)
        r1, r2 = st["r_na_pA"], st["r_en_mM"]
        const = [x, v]
        j11 = pytensor.grad(r1.sum(), x, consider_constant=[v])
        j12 = pytensor.grad(r1.sum(), v, consider_constant=[x])
        j21 = pytensor.grad(r2.sum(), x, consider_constant=[v])
        j22 = pytensor.grad(r2.sum(), v, consider_constant=[x])
        det = j11 * j22 - j12 * j21
        lam1 = (g_x * j22 - j21 * g_v) / det
        lam2 = (j11 * g_v - j12 * g_x) / det
        lam1 = pytensor.gradient.disconnected_grad(lam1)
        lam2 = pytensor.gradient.disconnected_grad(lam2)
        cost = (lam1 * r1 + lam2 * r2).sum()
        grads = pytensor.grad(cost, list(inputs), consider_constant=const,
                              disconnected_inputs="ignore", return_disconnected="zero")
        return [-g for g in grads]

    def connection_pattern(self, node):
        return [[True, True, False] for _ in node.inputs]


def steady_state_graph(params: dict, n: int | None = None, *, leak: str = "ohmic",
                       volume: str = "fixed", op: SteadyStateOp | None = None):
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

    Returns
    -------
    dict
        ``na_i_mM``, ``k_i_mM``, ``cl_i_mM``, ``v_rest_mV``, ``pump_current_pA``,
        ``atp_per_s``, ``o2_per_s``, ``r_in_MOhm`` and ``feasible`` (int8).
    """
    from iongrad.models.constants import E_CHARGE_C
    from iongrad.models.steady_state import input_resistance_MOhm

    full = dict(DEFAULT_PARAMS)
    full.update(params)
    if np.isnan(full["osm_o_mOsm"]) if isinstance(full["osm_o_mOsm"], float) else False:
        full["osm_o_mOsm"] = 2.0 * (pt.as_tensor_variable(full["na_o_mM"])
                                    + pt.as_tensor_variable(full["k_o_mM"]))
    tensors = [pt.as_tensor_variable(full[k]).astype("float64") for k in PARAM_ORDER]
    if n is None:
        shapes = [np.shape(full[k]) for k in PARAM_ORDER if not hasattr(full[k], "type")]
        n = int(np.prod(np.broadcast_shapes(*shapes))) if shapes else 1
    ones = pt.ones((n,), dtype="float64")
    vecs = [t * ones if t.ndim == 0 else t for t in tensors]
    op = op or SteadyStateOp(leak, volume)
    x, v, feasible = op(*vecs)
    p = dict(zip(PARAM_ORDER, vecs, strict=True))
    st = pump_leak_state(x, v, p, leak=leak, volume=volume)
    atp = st["pump_current_pA"] * 1e-12 / E_CHARGE_C
    return {
        "na_i_mM": st["na_i_mM"], "k_i_mM": st["k_i_mM"], "cl_i_mM": st["cl_i_mM"],
        "v_rest_mV": v, "pump_current_pA": st["pump_current_pA"], "atp_per_s": atp,
        "o2_per_s": atp / p["atp_per_o2"],
        "r_in_MOhm": input_resistance_MOhm(v, st["na_i_mM"], st["k_i_mM"], st["cl_i_mM"], p,
                                           leak=leak),
        "feasible": feasible, "x_ln_na": x,
    }
