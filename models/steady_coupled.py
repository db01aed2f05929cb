"""Steady state of a membrane model whose balances are coupled (no 1-D reduction).

When no ordering leaves one new unknown per balance (a cotransporter moving Na+, K+
and Cl- together, say), :func:`iongrad.models.steady_core.plan_for` builds this plan:
all unknowns ``z = (ln c_X..., V)`` at once, the flux balance of every ion and
electroneutrality as the equations, the Jacobian generated symbolically. Each
parameter set is solved by damped Newton with a backtracking line search on the
normalised residual (every balance divided by the gross fluxes it balances), steps
capped in ``ln c`` and V, from several starting points in turn for the sets that have
not converged (each first with 60 iterations, then with 300), and the sets no start
reaches by parameter continuation from the composition's defaults (a stiff cell: a
small Ca2+ leak against a strong exchanger); every answer is then
checked exactly as the reduced solver's are
(relative residual of every balance, current and electroneutrality ≤ ``rtol_check``)
and failures are flagged (reason 2: no convergence; 3, 4, 5 as there). Unlike the
monotone reduction, this method can miss a steady state that exists: a flagged set is
"not found", not "proven absent".
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from iongrad.models.codegen import numpy_function
from iongrad.models.mechanisms import ION, conc, param, voltage
from iongrad.models.membrane import Membrane
from iongrad.models.steady_core import _add_checks_and_outputs

__all__ = ["CoupledPlan", "continuation_anchor", "solve_coupled"]

#: Starting membrane potentials tried in turn (mV), with each ion at the mechanism's
#: guess where one gives it (Na_i of the pump, Ca_i of the Ca2+ pump), else at its
#: Nernst concentration for that V. -90 mV last: a K+-dominated cell (a myocyte) whose
#: Newton from -70 mV stalls.
_STARTS_MV = (-70.0, -30.0, -120.0, 0.0, -90.0)
_MAX_STEP_LN = 2.0
_MAX_STEP_MV = 40.0
#: Newton budgets of :func:`solve_coupled` (every start with the first, then with the
#: second); the line search (halvings, Armijo factor) and convergence tests (step,
#: merit) of :meth:`CoupledPlan.newton`, and the guard of its normalised residual
_BUDGETS = (60, 300)
_HALVINGS = 30
_ARMIJO = 1e-4
_STEP_TOL = 1e-13
_MERIT_TOL = 1e-30
_TINY = 1e-300
#: :func:`_continuation`: rounds, smallest, first and largest step in ``s``, the Newton
#: budget of each step and of the solve at the composition's defaults
_MAX_ROUNDS = 80
_MIN_DS = 1.0 / 4096
_DS0 = 0.125
_DS_MAX = 0.5
_CONT_ITER = 40
_ANCHOR_ITER = 300


class CoupledPlan:
    """Generated Newton solver over every unknown of ``membrane``."""

    numeric_steps = ("coupled",)  # compiled: iongrad.infer.coupled_kernel
    numeric_exprs = ()
    master_ion = None

    def __init__(self, membrane: Membrane):
        self.membrane = membrane
        self.params = membrane.parameters
        self.param_symbols = tuple(param(n) for n in self.params)
        ions = membrane.ions
        logs = [sp.Symbol(f"_ln_{x}", real=True) for x in ions]
        v = voltage()
        sub = {conc(x): sp.exp(s) for x, s in zip(ions, logs, strict=True)}
        eqs = [membrane.flux(x).xreplace(sub) for x in ions]
        eqs.append(membrane.electroneutrality.xreplace(sub))
        scales = [membrane.flux_scale(x).xreplace(sub) for x in ions]
        scales.append(membrane.electroneutrality_scale.xreplace(sub))
        z = [*logs, v]
        jac = [sp.diff(e, s) for e in eqs for s in z]
        self.reduced_vars = tuple(z)
        self.reduced_residuals = tuple(eqs)
        #: each balance's gross-flux scale (electroneutrality's last) and the Jacobian
        #: of the residuals, row-major: what the compiled kernel prints
        self.reduced_scales = tuple(scales)
        self.reduced_jacobian = tuple(jac)
        self.state_exprs = (*(sp.exp(s) for s in logs), v)
        self._fun = numpy_function([*z, *self.param_symbols], [*eqs, *scales])
        self._jac = numpy_function([*z, *self.param_symbols], jac)
        self._state = numpy_function([*z, *self.param_symbols], list(self.state_exprs))
        self.dim = len(z)
        # starting concentrations at a given V: Nernst for the bath, the guess if any
        self._start = []
        for x in ions:
            g = membrane.guess(x)
            e = (sp.log(g) if g is not None else
                 sp.log(param(ION[x].outside)) + ION[x].z * v / (
                     sp.Float(8.314462618 / 96485.33212 * 1e3) * param("temperature_K")))
            self._start.append(e)
        self._start_fn = numpy_function([v, *self.param_symbols], self._start)
        _add_checks_and_outputs(self, membrane)

    def merit(self, z, pv):
        vals = self._fun(*z, *pv)
        d = self.dim
        f = [vals[i] / (vals[d + i] + _TINY) for i in range(d)]
        return np.sum(np.square(np.stack(np.broadcast_arrays(*f))), axis=0), vals[:d]

    def newton(self, z, pv, max_iter=_BUDGETS[0]):
        """Damped Newton from ``z`` (list of arrays); returns ``z, converged``."""
        d = self.dim
        n = z[0].size
        conv = np.zeros(n, dtype=bool)
        with np.errstate(all="ignore"):
            m0, f = self.merit(z, pv)
            for _ in range(max_iter):
                jv = self._jac(*z, *pv)
                jm = np.stack([np.broadcast_to(j, (n,)) for j in jv], axis=-1).reshape(n, d, d)
                rhs = -np.stack(np.broadcast_arrays(*f), axis=-1)
                good = np.all(np.isfinite(jm), axis=(1, 2)) & np.all(np.isfinite(rhs), axis=1)
                step = np.zeros((n, d))
                if good.any():
                    try:
                        step[good] = np.linalg.solve(jm[good], rhs[good][..., None])[..., 0]
                    except np.linalg.LinAlgError:
                        for i in np.flatnonzero(good):
                            try:
                                step[i] = np.linalg.solve(jm[i], rhs[i])
                            except np.linalg.LinAlgError:
                                good[i] = False
                # cap the step: a factor e^2 in a concentration, 40 mV in V
                cap = np.maximum(np.max(np.abs(step[:, :-1]), axis=1) / _MAX_STEP_LN,
                                 np.abs(step[:, -1]) / _MAX_STEP_MV)
                step /= np.maximum(cap, 1.0)[:, None]
                alpha = np.ones(n)
                accepted = np.zeros(n, dtype=bool)
                z_new = z
                for _ls in range(_HALVINGS):
                    trial = [z[i] + alpha * step[:, i] for i in range(d)]
                    m1, f1 = self.merit(trial, pv)
                    ok = good & ~accepted & np.isfinite(m1) & (m1 <= (1 - _ARMIJO * alpha) * m0)
                    z_new = [np.where(ok, t, zz) for t, zz in zip(trial, z_new, strict=True)]
                    f = [np.where(ok, a, b) for a, b in zip(f1, f, strict=True)]
                    m0 = np.where(ok, m1, m0)
                    accepted |= ok
                    if (accepted | ~good).all():
                        break
                    alpha = np.where(accepted, alpha, alpha * 0.5)
                moved = np.max(np.abs(step) * alpha[:, None], axis=1)
                scale = np.maximum(1.0, np.max(np.abs(np.stack(z, axis=-1)), axis=1))
                z = z_new
                conv |= accepted & (moved <= _STEP_TOL * scale)
                conv |= m0 <= _MERIT_TOL
                if (conv | ~good | ~accepted).all():
                    break
        return z, conv


def solve_coupled(plan: CoupledPlan, pv, *, rtol_check, max_conc_mM):
    """Solve every parameter set; returns ``z`` (list of arrays) and ``converged``."""
    n = pv[0].size
    z = None
    conv = np.zeros(n, dtype=bool)
    # every start with a short iteration budget, then, for the sets still open, every
    # start again with a long one (a Newton path can wander far, e.g. through a Ca2+
    # concentration of 1e-40 mM, and still reach the steady state)
    for v0, max_iter in [*((v, _BUDGETS[0]) for v in _STARTS_MV),
                         *((v, _BUDGETS[1]) for v in _STARTS_MV)]:
        todo = np.flatnonzero(~conv)
        if todo.size == 0:
            break
        sub = [p[todo] if np.ndim(p) else p for p in pv]
        with np.errstate(all="ignore"):
            start = [np.broadcast_to(s, (todo.size,)).astype(float)
                     for s in plan._start_fn(np.full(todo.size, v0), *sub)]
        zt, ct = plan.newton([*start, np.full(todo.size, v0)], sub, max_iter=max_iter)
        if z is None:
            z = [np.full(n, np.nan) for _ in range(plan.dim)]
        for i in range(plan.dim):
            z[i][todo] = zt[i]
        conv[todo] = ct
    todo = np.flatnonzero(~conv)
    if todo.size:
        sub = [p[todo] if np.ndim(p) else p for p in pv]
        zt, ct = _continuation(plan, sub)
        for i in range(plan.dim):
            z[i][todo] = np.where(ct, zt[i], z[i][todo])
        conv[todo] = ct
    return z, conv


def continuation_anchor(plan: CoupledPlan) -> np.ndarray:
    """Where the parameter continuation starts: the composition's defaults in
    ``plan.params`` order (NaN: no default, each set starts at its own value)."""
    defaults = plan.membrane.defaults()
    return np.array([float(defaults.get(k, np.nan)) for k in plan.params])


def _continuation(plan: CoupledPlan, pv, *, max_rounds=_MAX_ROUNDS, min_ds=_MIN_DS):
    """Parameter continuation for the sets no start reached: from the composition's
    defaults (solved from the starts) to each set along ``θ(s) = θ_d^(1-s) θ^s``
    (linear in ``s`` for a parameter that is zero at either end), Newton from the last
    solution at each step, the step in ``s`` doubled after a success and halved after
    a failure. Returns ``z, converged``; a set whose step falls below ``min_ds`` is
    not converged."""
    n = np.broadcast_arrays(*pv)[0].size
    target = [np.broadcast_to(np.asarray(p, dtype=float), (n,)) for p in pv]
    anchor = [np.where(np.isfinite(d), d, t)  # no default: the set's own value
              for d, t in zip(continuation_anchor(plan), target, strict=True)]
    a0 = [a[:1] for a in anchor]
    start = None
    for v0 in _STARTS_MV:
        with np.errstate(all="ignore"):
            s0 = [np.broadcast_to(q, (1,)).astype(float)
                  for q in plan._start_fn(np.full(1, v0), *a0)]
        z1, c1 = plan.newton([*s0, np.full(1, v0)], a0, max_iter=_ANCHOR_ITER)
        if c1[0]:
            start = z1
            break
    if start is None:  # the composition's own defaults have no steady state found
        return [np.full(n, np.nan) for _ in range(plan.dim)], np.zeros(n, dtype=bool)
    pos = [(a > 0) & (t > 0) for a, t in zip(anchor, target, strict=True)]

    def theta(s):
        with np.errstate(all="ignore"):
            return [np.where(ok, a * (t / np.where(ok, a, 1.0)) ** s, a + (t - a) * s)
                    for a, t, ok in zip(anchor, target, pos, strict=True)]

    z = [np.broadcast_to(c, (n,)).astype(float) for c in start]
    s = np.zeros(n)
    ds = np.full(n, _DS0)
    done = np.zeros(n, dtype=bool)
    failed = np.zeros(n, dtype=bool)
    for _ in range(max_rounds):
        act = np.flatnonzero(~done & ~failed)
        if act.size == 0:
            break
        s_new = np.minimum(s[act] + ds[act], 1.0)
        s_full = s.copy()
        s_full[act] = s_new
        pa = [q[act] for q in theta(s_full)]
        zt, ct = plan.newton([q[act] for q in z], pa, max_iter=_CONT_ITER)
        ok = ct & np.logical_and.reduce([np.isfinite(q) for q in zt])
        for i in range(plan.dim):
            z[i][act] = np.where(ok, zt[i], z[i][act])
        s[act] = np.where(ok, s_new, s[act])
        ds[act] = np.where(ok, np.minimum(2.0 * ds[act], _DS_MAX), 0.5 * ds[act])
        done[act] |= ok & (s_new >= 1.0)
        failed[act] |= ~ok & (ds[act] < min_ds)
    return z, done
