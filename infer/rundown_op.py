"""The anoxia / ouabain run-down as a differentiable PyTensor Op (forward sensitivities).

What it computes
----------------
For one parameter vector ``θ`` (the names in ``free``, natural units) the Op
returns, on a fixed grid of times *since the onset* ``τ_k`` (s; negative = before
the onset), the observables

    ``v_mV, na_i_mM, k_i_mM, cl_i_mM, na_o_mM, k_o_mM, cl_o_mM``     (:data:`OUTPUTS`)

(for another membrane model: V, then each ion inside, then outside; ``solver.outputs``)
of the run-down model of :mod:`iongrad.models.rundown` (GHK leaks), their
derivatives ``d out / d θ`` and a success flag. Before the onset the cell sits
at its pump–leak steady state, so the trajectory after the onset depends only on
the time since the onset: every recording of a dataset, whatever its onset
time, reads from the same single solve.

How
---
* The model: any fixed-volume membrane model (``membrane=``; default the pump–leak
  cell with GHK leaks) as a :class:`~iongrad.models.rundown_system.RundownSystem`,
  whose rates, total current and every derivative are generated from the rate laws.
* Initial state: the pump–leak steady state (Newton on the generated rates with the
  last inside balance replaced by electroneutrality, warm-started from the previous
  call; fallback :func:`iongrad.models.steady_core.solve_membrane`). Its sensitivity
  ``dy0/dθ`` comes from the implicit function theorem on the same equations.
* Trajectory: ``y' = f(t, y, θ)`` together with the forward sensitivities
  ``S' = J S + ∂f/∂θ`` (``S = dy/d ln θ``, so that every column is in mM and the
  error control treats all of them alike), integrated by LSODA (``odeint``:
  ODEPACK's own driver, or :func:`scipy.integrate.solve_ivp` with ``LSODA`` /
  ``BDF``) with the block-diagonal Jacobian ``I ⊗ J`` of the augmented system.
* ``f``, ``J = ∂f/∂y`` and ``∂f/∂θ``: V is the root of the total membrane current
  ``I(V, y, θ) = 0`` (bracketed, safeguarded scalar Newton, warm-started), and its
  derivatives come from the implicit function theorem, ``∂V/∂x = -(∂I/∂x)/(∂I/∂V)``.
  Every partial derivative is ``sympy.diff`` of the rate laws, printed as scalar code
  and compiled with numba (:mod:`iongrad.infer.rundown_kernel`; the vectorised NumPy
  versions take ~0.5 ms per call on a single state, which would dominate an
  integration with sensitivities); the tests check value and Jacobian against
  :func:`iongrad.models.rundown.rundown_rhs` / :func:`~iongrad.models.rundown.rundown_jac`
  and the whole gradient against central differences.
* Backward: ``θ̄ = Σ_k ḡ_k · (d out_k / d θ)``, a plain PyTensor contraction of the
  sensitivity output, so the value and the gradient of one NUTS step share one solve.

Failures
--------
A parameter set outside the domain, an infeasible steady state, a potential
root that does not converge, an integrator failure, a step budget exceeded
(``max_rhs_calls``, which bounds the time spent on absurdly stiff draws) or a
non-positive concentration gives ``ok = 0``, finite placeholder outputs and
zero sensitivities; the likelihood turns ``ok = 0`` into ``-inf``. Every call
and every failure is counted (``n_calls``, ``n_failed``, ``failures`` by reason).
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Mapping, Sequence

import numpy as np
import pytensor.tensor as pt
from pytensor.gradient import DisconnectedType
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op
from scipy.integrate import odeint, solve_ivp

from iongrad.infer import rundown_kernel as _kernel
from iongrad.infer.rundown_kernel import compiled_rundown
from iongrad.models._backend import check
from iongrad.models.errors import ModelInputError
from iongrad.models.membrane import Membrane
from iongrad.models.rundown import RUNDOWN_DEFAULTS
from iongrad.models.rundown_system import rundown_system
from iongrad.models.steady_core import solve_membrane
from iongrad.models.steady_state import DEFAULT_PARAMS, membrane_for

__all__ = ["FREE_PARAMETERS", "OUTPUTS", "RundownOp", "RundownSensitivitySolver",
           "SolveFailed"]

#: Output columns of the Op, in order (units in the names).
OUTPUTS: tuple[str, ...] = ("v_mV", "na_i_mM", "k_i_mM", "cl_i_mM", "na_o_mM", "k_o_mM",
                            "cl_o_mM")

#: Parameters a run-down fit of the pump–leak cell may free (the solver itself can
#: differentiate with respect to any input of the generated system).
FREE_PARAMETERS: tuple[str, ...] = (
    "tau_atp_s", "tau_block_s", "p_na_cm_s", "p_k_cm_s", "p_cl_cm_s",
    "pump_density_per_um2", "turnover_max_per_s", "k_na_mM", "extracellular_fraction")

_MODES = ("anoxia", "ouabain")


class SolveFailed(ArithmeticError):
    """A solve could not produce verified numbers (caught and counted by the Op)."""


def _check_status(status: int) -> None:
    if status == _kernel.BAD_STATE:
        raise SolveFailed("state: a concentration became non-positive")
    if status == _kernel.BAD_POTENTIAL:
        raise SolveFailed("potential: zero-current root did not converge")


# --------------------------------------------------------------------------------------
# The NumPy solver
# --------------------------------------------------------------------------------------
class RundownSensitivitySolver:
    """Run-down trajectory and its parameter sensitivities (SciPy integrator, generated
    numba kernel).

    Parameters
    ----------
    free : sequence of str
        Differentiated parameters: any positive input of the generated system
        (for the pump–leak fit: :data:`FREE_PARAMETERS`).
    fixed : mapping, optional
        Other model parameters (any parameter of the membrane model — for the
        default cell any key of :data:`iongrad.models.steady_state.DEFAULT_PARAMS` —
        or of :data:`iongrad.models.rundown.RUNDOWN_DEFAULTS`, units in the names);
        missing ones take their defaults.
    mode : {"anoxia", "ouabain"}
        ATP decay after the onset, or ouabain block (see
        :func:`iongrad.models.rundown.pump_drive`).
    ecs : bool
        Model a finite extracellular space (``extracellular_fraction`` from
        ``free`` or ``fixed``); otherwise the bath is infinite.
    method : {"odeint", "LSODA", "BDF"}
        ``odeint`` runs ODEPACK's LSODA driver (fewest Python round trips);
        ``LSODA``/``BDF`` go through :func:`scipy.integrate.solve_ivp`.
    rtol, atol : float
        Integrator tolerances (``atol`` in mM, for states and for ``dy/d ln θ``).
    max_rhs_calls : int
        Budget of right-hand-side evaluations per solve; beyond it the solve fails.
    membrane : Membrane, optional
        Any fixed-volume membrane model (default: the pump–leak cell with GHK leaks).
    """

    def __init__(self, free: Sequence[str], fixed: Mapping[str, float] | None = None, *,
                 mode: str = "anoxia", ecs: bool = True, method: str = "odeint",
                 rtol: float = 1e-7, atol: float = 1e-8, max_rhs_calls: int = 20_000,
                 membrane: Membrane | None = None):
        free = tuple(free)
        if len(set(free)) != len(free):
            raise ModelInputError(f"free parameters repeated: {list(free)}")
        if mode not in _MODES:
            raise ModelInputError(f"mode must be 'anoxia' or 'ouabain'; got {mode!r}")
        if method not in ("odeint", "LSODA", "BDF"):
            raise ModelInputError(f"method must be 'odeint', 'LSODA' or 'BDF'; got {method!r}")
        if "extracellular_fraction" in free and not ecs:
            raise ModelInputError("extracellular_fraction is free but ecs=False")
        if mode == "anoxia" and "tau_block_s" in free:
            raise ModelInputError("tau_block_s has no effect in mode 'anoxia'")
        if mode == "ouabain" and "tau_atp_s" in free:
            raise ModelInputError("tau_atp_s has no effect in mode 'ouabain'")
        default = membrane is None
        membrane = membrane_for("ghk", "fixed") if default else membrane
        system = rundown_system(membrane, mode, ecs)
        bad = [f for f in free if f not in system.param_names]
        if bad:
            raise ModelInputError(f"cannot differentiate with respect to {bad}; "
                                  f"supported: {list(system.param_names)}")
        fixed = dict(fixed or {})
        known = set(membrane.parameters) | set(RUNDOWN_DEFAULTS) | (
            set(DEFAULT_PARAMS) if default else set())
        unknown = sorted(set(fixed) - known)
        if unknown:
            raise ModelInputError(f"unknown fixed parameter(s) {unknown}")
        both = sorted(set(fixed) & set(free))
        if both:
            raise ModelInputError(f"parameter(s) {both} are both free and fixed")
        base = {**(DEFAULT_PARAMS if default else membrane.defaults()), **RUNDOWN_DEFAULTS,
                **fixed}
        base["onset_s"] = 0.0
        if ecs and "extracellular_fraction" not in free and not (
                0.0 < float(base["extracellular_fraction"]) < 1.0):
            got = base["extracellular_fraction"]
            raise ModelInputError("ecs=True needs extracellular_fraction in (0, 1) as a "
                                  f"fixed or free parameter; got {got!r}")
        self.membrane, self.system = membrane, system
        self.free, self.mode, self.ecs, self.method = free, mode, bool(ecs), method
        self.rtol, self.atol, self.max_rhs_calls = float(rtol), float(atol), int(max_rhs_calls)
        self.base = {k: float(v) for k, v in base.items()}
        self.n = system.n
        self.n_inside = system.n_inside
        self.P = len(free)
        self.inside = system.state_names[:self.n_inside]
        self.outside = tuple(f"{x}_o_mM" for x in membrane.ions)
        #: output columns: V, the inside and the outside concentrations
        self.outputs = ("v_mV", *self.inside, *self.outside)
        self._kernel = compiled_rundown(system, free)
        self._vbuf = np.array([np.nan])  # warm start of the potential root
        self._y0_inside = None  # warm start of the steady state
        self._scratch = np.empty(2 * self.n + self.P)
        self.nfev = 0

    # ---------------------------------------------------------------- parameters
    def _setup(self, theta: np.ndarray) -> dict[str, float]:
        theta = np.asarray(theta, dtype=float)
        if theta.shape != (self.P,):
            raise ModelInputError(f"theta must have shape ({self.P},) for {list(self.free)}; "
                                  f"got {theta.shape}")
        if not np.all(np.isfinite(theta)) or np.any(theta <= 0):
            raise SolveFailed("domain: parameters must be finite and > 0")
        p = dict(self.base)
        p.update({k: float(v) for k, v in zip(self.free, theta, strict=True)})
        if self.ecs and not 0.0 < p["extracellular_fraction"] < 1.0:
            raise SolveFailed("domain: extracellular_fraction outside (0, 1)")
        p["_q"] = np.array([float(x) for x in self.system.values(p)])
        return p

    # ---------------------------------------------------------------- one state
    def evaluate(self, t: float | None, y, p, *, derivatives: bool = True):
        """Rates, potential and (optionally) their derivatives at one state.

        Parameters
        ----------
        t : float or None
            Time since the onset, s; None (or < 0) is the drive before the onset.
        y : array_like, shape (n,)
            State, mM.
        p : dict
            Output of ``_setup``.
        derivatives : bool
            Also return ``J = ∂f/∂y`` (n, n), ``Fθ = ∂f/∂ln θ`` (n, P),
            ``∂V/∂y`` (n,) and ``∂V/∂ln θ`` (P,).

        Returns
        -------
        tuple
            ``(f, v)`` or ``(f, v, J, Fθ, dvdy, dvdθ)``; ``v`` in mV.
        """
        self._count()
        n, big_p = self.n, self.P
        f, jac, fth = np.empty(n), np.empty((n, n)), np.empty((n, big_p))
        dvdy, dvdth = np.empty(n), np.empty(big_p)
        status, v = self._kernel.evaluate(-1.0 if t is None or t < 0 else float(t),
                                          np.asarray(y, dtype=np.float64), p["_q"],
                                          self._vbuf, f, jac, fth, dvdy, dvdth, derivatives,
                                          self._scratch)
        _check_status(status)
        if not derivatives:
            return f, v
        return f, v, jac, fth, dvdy, dvdth

    def _count(self) -> None:
        self.nfev += 1
        if self.nfev > self.max_rhs_calls:
            raise SolveFailed("budget: too many right-hand-side evaluations (stiff draw)")

    # ---------------------------------------------------------------- steady state
    def _newton(self, y_in, out, p, max_iter):
        """Compiled Newton for the steady state from ``y_in``; returns ``(y, converged,
        jac, fth, m)`` (``m``: inside balances but the last, and electroneutrality)."""
        n, k, big_p = self.n, self.n_inside, self.P
        y = np.array(y_in, dtype=float)
        full, f = np.empty(n), np.empty(n)
        jac, fth = np.empty((n, n)), np.empty((n, big_p))
        dvdy, dvdth, m = np.empty(n), np.empty(big_p), np.empty((k, k))
        outside = out if out is not None else np.empty(0)
        self.nfev += max_iter + 1
        status, ok = self._kernel.steady(y, outside, p["_q"], self._vbuf, max_iter, full, f,
                                         jac, fth, dvdy, dvdth, self._scratch, m)
        return y, status == 0 and ok, jac, fth, m

    def steady_state(self, p) -> tuple[np.ndarray, np.ndarray]:
        """Pre-onset state ``y0`` (n,) and ``dy0/d ln θ`` (n, P)."""
        k = self.n_inside
        out = np.array([p[name] for name in self.outside]) if self.ecs else None
        ok = False
        if self._y0_inside is not None:
            y_in, ok, jac, fth, m = self._newton(self._y0_inside, out, p, 30)
        if not ok:
            values = {}
            try:
                for name in self.membrane.parameters:
                    values[name] = np.atleast_1d(check(name, p[name])).astype(float)
            except ModelInputError as exc:  # a draw outside a registry domain
                raise SolveFailed(f"domain: {exc}") from None
            sol = solve_membrane(self.membrane, values)
            if not bool(sol.feasible[0]):
                raise SolveFailed("steady state: no pump–leak steady state")
            start = np.array([float(sol.state[name][0]) for name in self.inside])
            # polish on the same equations as the trajectory (and get the matrices)
            y_in, ok, jac, fth, m = self._newton(start, out, p, 5)
            if not ok:
                raise SolveFailed("steady state: Newton on the run-down equations failed")
        self._y0_inside = y_in.copy()
        y0 = y_in if out is None else np.concatenate([y_in, out])
        s0 = np.zeros((self.n, self.P))
        if self.ecs:  # the outside starts at the bath values: d/dln θ of a bath value
            for j, name in enumerate(self.free):
                if name in self.outside:
                    s0[k + self.outside.index(name), j] = p[name]
        rhs = -(fth[:k - 1] + jac[:k - 1, k:] @ s0[k:])
        rhs = np.vstack([rhs, np.zeros((1, self.P))])
        s0[:k] = np.linalg.solve(m, rhs)
        return y0, s0

    # ---------------------------------------------------------------- trajectory
    def solve(self, theta, times_since_onset_s, *, sensitivities: bool = True):
        """States, potential and sensitivities on a time grid.

        Parameters
        ----------
        theta : array_like, shape (P,)
            Values of ``free`` (natural units).
        times_since_onset_s : array_like, shape (m,)
            Strictly increasing times since the onset, s (negative: before it).
        sensitivities : bool
            Compute ``d out/d θ`` (otherwise the returned array is None).

        Returns
        -------
        out : ndarray, shape (m, len(outputs))
            Columns :attr:`outputs` (mV, mM).
        sens : ndarray, shape (m, len(outputs), P) or None
            ``d out / d θ`` (per natural unit of each parameter).

        Raises
        ------
        SolveFailed
            With a reason prefix (``domain``, ``steady state``, ``potential``,
            ``integrator``, ``budget``, ``state``).
        """
        tau = np.asarray(times_since_onset_s, dtype=float)
        theta = np.asarray(theta, dtype=float)
        self.nfev = 0
        p = self._setup(theta)
        y0, s0 = self.steady_state(p)
        n, big_p = self.n, self.P
        pos = tau >= 0
        t_pos = tau[pos]
        ys = np.empty((tau.size, n))
        ss = np.empty((tau.size, n, big_p))
        ys[~pos] = y0
        ss[~pos] = s0
        if t_pos.size:
            aug = n * (1 + big_p) if sensitivities else n
            kern, q, vbuf = self._kernel, p["_q"], self._vbuf
            f, jac = np.empty(aug), np.empty((n, n))
            fth, dvdy, dvdth = np.empty((n, big_p)), np.empty(n), np.empty(big_p)
            big, f_scratch, scratch = np.empty((aug, aug)), np.empty(n), self._scratch
            count = self._count

            if sensitivities:
                def rhs(t, yy):
                    count()
                    status = kern.rhs_augmented(t, yy, q, vbuf, f, jac, fth, dvdy, dvdth,
                                                scratch)
                    if status:
                        _check_status(status)
                    return f.copy()

                def jac_aug(t, yy):
                    count()
                    status = kern.jac_augmented(t, yy, q, vbuf, big, f_scratch, jac, fth,
                                                dvdy, dvdth, scratch)
                    if status:
                        _check_status(status)
                    return big.copy()
            else:
                def rhs(t, yy):
                    return self.evaluate(t, yy, p, derivatives=False)[0]

                def jac_aug(t, yy):
                    return self.evaluate(t, yy, p)[2]

            start = np.concatenate([y0, s0.ravel()]) if sensitivities else y0.copy()
            sol = self._integrate(rhs, jac_aug, start, t_pos, aug)
            ys[pos] = sol[:, :n]
            if sensitivities:
                ss[pos] = sol[:, n:].reshape(-1, n, big_p)
        if not np.all(np.isfinite(ys)) or np.any(ys <= 0):
            raise SolveFailed("state: solution not finite or not positive")
        k = self.n_inside
        out = np.empty((tau.size, len(self.outputs)))
        sens = np.zeros((tau.size, len(self.outputs), big_p)) if sensitivities else None
        v, dvdy, dvdth = self._potential(tau, ys, p)
        out[:, 0] = v
        out[:, 1:1 + k] = ys[:, :k]
        if self.ecs:
            out[:, 1 + k:] = ys[:, k:]
        else:
            out[:, 1 + k:] = [p[name] for name in self.outside]
        if sensitivities:
            sens[:, 0] = np.einsum("kj,kjq->kq", dvdy, ss) + dvdth
            sens[:, 1:1 + n] = ss
            sens /= theta  # d/d ln θ -> d/d θ
            if not np.all(np.isfinite(sens)):
                raise SolveFailed("integrator: sensitivities not finite")
        return out, sens

    def _potential(self, tau: np.ndarray, ys: np.ndarray, p):
        """``V`` (mV), ``∂V/∂y`` (m, n) and ``∂V/∂ln θ`` (m, P) at many states."""
        m = tau.shape[0]
        v, dvdy, dvdth = np.empty(m), np.empty((m, self.n)), np.empty((m, self.P))
        status = self._kernel.potentials(np.where(tau >= 0, tau, -1.0),
                                         np.ascontiguousarray(ys), p["_q"], self._vbuf, v,
                                         dvdy, dvdth)
        _check_status(status)
        return v, dvdy, dvdth

    def _integrate(self, rhs, jac, start, t_pos, aug):
        try:
            if self.method == "odeint":
                grid = np.concatenate([[0.0], t_pos]) if t_pos[0] > 0 else t_pos
                with warnings.catch_warnings():  # failures are reported via SolveFailed
                    warnings.simplefilter("ignore")
                    sol, info = odeint(rhs, start, grid, Dfun=jac, tfirst=True,
                                       rtol=self.rtol, atol=self.atol, full_output=True,
                                       mxstep=5000, printmessg=False)
                if info["message"] != "Integration successful.":
                    raise SolveFailed(f"integrator: {info['message']}")
                return sol[1:] if t_pos[0] > 0 else sol
            res = solve_ivp(rhs, (0.0, float(t_pos[-1])), start, method=self.method,
                            t_eval=t_pos, rtol=self.rtol, atol=self.atol, jac=jac)
            if res.status != 0:
                raise SolveFailed(f"integrator: {res.message}")
            return res.y.T
        except SolveFailed:
            raise
        except (ArithmeticError, ValueError, np.linalg.LinAlgError) as exc:
            raise SolveFailed(f"integrator: {exc}") from None


# --------------------------------------------------------------------------------------
# The Op
# --------------------------------------------------------------------------------------
class RundownOp(Op):
    """``θ (P,) -> (out (m, 7), d out/dθ (m, 7, P), ok (int8 scalar))``.

    ``out`` has the columns :data:`OUTPUTS` at the fixed ``times_since_onset_s``.
    The gradient of ``out`` is the contraction of its output gradient with the
    sensitivity output; ``d out/dθ`` itself has no gradient (NUTS needs first
    derivatives only) and ``ok`` has none.

    Attributes
    ----------
    n_calls, n_failed : int
        Solves attempted and failed (failed ones give ``ok = 0``).
    failures : collections.Counter
        Failures by reason (the text before the first colon of the message).
    """

    __props__ = ("free", "times", "mode", "ecs", "method", "rtol", "atol", "fixed_items",
                 "membrane")

    def __init__(self, free: Sequence[str], times_since_onset_s, fixed=None, *,
                 mode: str = "anoxia", ecs: bool = True, method: str = "odeint",
                 rtol: float = 1e-7, atol: float = 1e-8, max_rhs_calls: int = 20_000,
                 membrane: Membrane | None = None):
        t = np.asarray(times_since_onset_s, dtype=float)
        if t.ndim != 1 or t.size == 0 or np.any(np.diff(t) <= 0) or not np.all(np.isfinite(t)):
            raise ModelInputError("times_since_onset_s must be a non-empty, strictly "
                                  "increasing 1-D array of finite times (s)")
        self.free = tuple(free)
        self.times = tuple(float(x) for x in t)
        self.mode, self.ecs, self.method = mode, bool(ecs), method
        self.rtol, self.atol = float(rtol), float(atol)
        self.fixed_items = tuple(sorted((k, float(v)) for k, v in dict(fixed or {}).items()))
        self.solver = RundownSensitivitySolver(self.free, dict(self.fixed_items), mode=mode,
                                               ecs=ecs, method=method, rtol=rtol, atol=atol,
                                               max_rhs_calls=max_rhs_calls, membrane=membrane)
        self.membrane = self.solver.membrane
        self.outputs = self.solver.outputs
        self.n_calls = 0
        self.n_failed = 0
        self.failures: Counter = Counter()
        self._fallback_out = None

    def make_node(self, theta):
        theta = pt.as_tensor_variable(theta).astype("float64")
        if theta.ndim != 1:
            raise TypeError(f"RundownOp takes a vector of {len(self.free)} parameters "
                            f"({list(self.free)}); got ndim={theta.ndim}")
        return Apply(self, [theta], [pt.dmatrix(), pt.dtensor3(), pt.bscalar()])

    def perform(self, node, inputs, output_storage):
        self.n_calls += 1
        theta = np.asarray(inputs[0], dtype=float)
        m, big_p = len(self.times), len(self.free)
        try:
            out, sens = self.solver.solve(theta, np.asarray(self.times))
            ok = 1
            self._fallback_out = out
        except SolveFailed as exc:
            self.n_failed += 1
            self.failures[str(exc).split(":")[0]] += 1
            out = (self._fallback_out if self._fallback_out is not None
                   else np.tile(self._placeholder(), (m, 1)))
            sens = np.zeros((m, len(self.outputs), big_p))
            ok = 0
        output_storage[0][0] = np.asarray(out, dtype=np.float64)
        output_storage[1][0] = np.asarray(sens, dtype=np.float64)
        output_storage[2][0] = np.asarray(ok, dtype=np.int8)

    def infer_shape(self, fgraph, node, input_shapes):
        m, big_p = len(self.times), len(self.free)
        return [(m, len(self.outputs)), (m, len(self.outputs), big_p), ()]

    def _placeholder(self) -> np.ndarray:
        """Finite outputs for a failed first solve (masked by ``ok = 0``): -70 mV, the
        bath values outside and 10 mM inside."""
        base = self.solver.base
        return np.array([-70.0, *(base.get(k, 10.0) for k in self.outputs[1:])], dtype=float)

    def L_op(self, inputs, outputs, output_grads):
        g_out = output_grads[0]
        if isinstance(g_out.type, DisconnectedType):
            return [pt.zeros_like(inputs[0])]
        if not isinstance(output_grads[1].type, DisconnectedType):
            raise NotImplementedError("RundownOp: second derivatives are not implemented")
        sens = outputs[1]
        return [pt.tensordot(g_out, sens, axes=[[0, 1], [0, 1]])]

    def connection_pattern(self, node):
        return [[True, True, False]]

    def failure_report(self) -> dict:
        """Counters as a plain dict (for run.json)."""
        return {"n_calls": int(self.n_calls), "n_failed": int(self.n_failed),
                "by_reason": dict(self.failures)}
