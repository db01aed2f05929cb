"""Steady state of any membrane model, for many parameter sets at once (NumPy).

Method
------
The unknowns are the intracellular concentration of every ion a mechanism moves and
the membrane potential V; the equations are the flux balance of each ion and
electroneutrality (:class:`iongrad.models.membrane.Membrane`). A *reduction plan* is
derived from the structure of the equations, once per membrane model:

1. a *master* unknown ``x`` is chosen (the log of the concentration a mechanism gives
   a starting value for, e.g. ``ln Na_i`` for the pump; otherwise the first ion);
2. the balances are ordered so that each, given ``x`` and the unknowns before it,
   leaves exactly one new unknown. That unknown is then explicit when the balance is
   linear in it or in its logarithm (an ohmic leak in V or in ln c, a GHK leak in c),
   and otherwise found by a one-dimensional Newton iteration with the generated
   derivative;
3. what is left is one scalar equation in ``x`` — electroneutrality, with its total
   derivative from the chain rule through the steps (all partial derivatives are
   generated symbolically). It is solved by damped Newton for all parameter sets at
   once, and where Newton does not settle, by a bracketed Ridders iteration on the
   normalised residual.

For the chapter's cell this is the monotone one-dimensional reduction in ``ln Na_i``
(the residual is strictly increasing), so a unique steady state is found whenever one
exists. Concentrations are positive by construction (log coordinates). Every answer
is checked against every balance equation (relative residual ≤ ``rtol_check``, each
judged against the gross fluxes it balances), the total current and
electroneutrality; failures come back with a ``reason`` code (:data:`REASONS`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sympy as sp

from iongrad.models._roots import expand_bracket, ridders
from iongrad.models.codegen import HoistedFunction, numpy_function, scalar_function
from iongrad.models.mechanisms import ION, conc, param, voltage
from iongrad.models.mechanisms.base import ghk_phi
from iongrad.models.membrane import Membrane

__all__ = ["REASONS", "SteadyPlan", "plan_for", "solve_membrane"]

#: Codes of the ``reason`` output.
REASONS = {
    0: "ok",
    1: "no sign change of the electroneutrality residual (no steady state)",
    2: "iteration limit reached",
    3: "balance residual above tolerance",
    4: "osmotic volume: impermeant content would be negative (pump cannot stop swelling)",
    5: "unphysical: an intracellular concentration above max_conc_mM (pump cannot balance "
       "the leaks and the activity load)",
}

_TINY = 1e-300


@dataclass
class _Step:
    ion: str                    # whose balance this step uses
    unknown: sp.Symbol          # conc(ion') or V
    explicit: sp.Expr | None    # closed-form value, or None (1-D Newton)
    newton_var: sp.Symbol | None = None  # ln c or V, for a numeric step


def _linear_solution(expr: sp.Expr, y: sp.Symbol) -> sp.Expr | None:
    """``y`` with ``expr(y) = 0`` when ``expr`` is affine in ``y``, else None."""
    if expr.has(y) and sp.diff(expr, y, 2) == 0:
        slope = sp.diff(expr, y)
        if slope.has(y):
            return None
        return -expr.subs(y, 0) / slope
    return None


def _phi_ratios(e: sp.Expr) -> sp.Expr:
    """Rewrite ``Φ(u)/Φ(-u)`` as ``e^u`` (an identity of the GHK function), so that a
    Cl- equilibrium is computed as ``Cl_o e^{w}`` and not as a ratio that underflows."""
    def fix(m):
        if not isinstance(m, sp.Mul):
            return m
        num = [a for a in m.args if isinstance(a, ghk_phi)]
        den = [a.base for a in m.args
               if isinstance(a, sp.Pow) and a.exp == -1 and isinstance(a.base, ghk_phi)]
        for f in num:
            for g in den:
                if sp.simplify(f.args[0] + g.args[0]) == 0:
                    rest = list(m.args)
                    rest.remove(f)
                    rest.remove(g**-1)
                    return sp.Mul(*rest, sp.exp(f.args[0]))
        return m
    return e.replace(lambda a: isinstance(a, sp.Mul), fix)


def _explicit(expr: sp.Expr, y: sp.Symbol) -> sp.Expr | None:
    """Closed form of the root of ``expr`` in ``y``: affine in ``y``, or (for a
    concentration) affine in ``ln y``."""
    sol = _linear_solution(expr, y)
    if sol is not None:
        return _phi_ratios(sp.factor_terms(sol))
    if y.is_positive:
        s = sp.Symbol(f"_ln_{y.name}", real=True)
        e = sp.expand_log(expr.subs(y, sp.exp(s)), force=True)
        sol = _linear_solution(e, s)
        if sol is not None and not sol.has(s):
            return sp.exp(sol)
    return None


class SteadyPlan:
    """The generated steady-state solver of one membrane model (see the module docstring).

    Built once per membrane model (:func:`plan_for`); holds the generated NumPy
    functions. ``params`` are the model's parameter names in the order every
    generated function takes them.
    """

    def __init__(self, membrane: Membrane):
        self.membrane = membrane
        self.params = membrane.parameters
        self._psyms = [param(n) for n in self.params]
        v = voltage()
        balances = {x: membrane.flux(x) for x in membrane.ions}
        unknowns = [conc(x) for x in membrane.ions] + [v]
        self.master_ion, self.steps = self._plan(balances, unknowns)
        ion_of = {conc(xi): xi for xi in membrane.ions}
        x = sp.Symbol("_x", real=True)
        master_sym = conc(self.master_ion)
        sub: dict[sp.Symbol, sp.Expr] = {master_sym: sp.exp(x)}
        numeric: list[sp.Symbol] = []
        reduced_residuals: list[sp.Expr] = []
        #: per numeric step, symbolically: (unknown, residual, d/d unknown,
        #: [d/d earlier unknowns], cold guess)
        self.numeric_exprs: list[tuple] = []
        self._numeric_steps: list[tuple[_Step, HoistedFunction, Any, Any]] = []
        for st in self.steps:
            b = balances[st.ion].xreplace(sub)
            if st.explicit is not None:
                sub[st.unknown] = st.explicit.xreplace(sub)
                continue
            nv = st.newton_var
            b_n = b.xreplace({st.unknown: sp.exp(nv)}) if st.unknown != v else b
            earlier = [x, *numeric]
            reduced_residuals.append(b_n)
            # hoisted per outer iteration: everything but the step's own unknown is fixed
            # while its 1-D Newton runs (the pump current at this Na_i, ...)
            inner = HoistedFunction([nv], [*earlier, *self._psyms], [b_n, sp.diff(b_n, nv)])
            partials = numpy_function([nv, *earlier, *self._psyms],
                                      [sp.diff(b_n, s) for s in earlier])
            if st.unknown == v:  # start at the Nernst potential of the balance's ion
                g = membrane.nernst(st.ion).xreplace(sub)
            else:
                g = sp.log(param(ION[ion_of[st.unknown]].outside))
            guess = numpy_function([*earlier, *self._psyms], [g])
            self._numeric_steps.append((st, inner, partials, guess))
            self.numeric_exprs.append((nv, b_n, sp.diff(b_n, nv),
                                       [sp.diff(b_n, e) for e in earlier], g))
            if st.unknown != v:
                sub[st.unknown] = sp.exp(nv)
            numeric.append(nv)
        en = membrane.electroneutrality.xreplace(sub)
        en_scale = membrane.electroneutrality_scale.xreplace(sub)
        variables = [x, *numeric]
        self.final_exprs = [en, *(sp.diff(en, s) for s in variables), en_scale]
        #: the electroneutrality residual, its partials and its scale, split into the
        #: parameter-only part (``final.prepare``) and the part evaluated per iteration
        self.final = HoistedFunction(variables, self._psyms, self.final_exprs)
        state = [sub.get(conc(xi), conc(xi)) for xi in membrane.ions] + [sub.get(v, v)]
        self._state = numpy_function([*variables, *self._psyms], state)
        #: the reduced system, symbolically: unknowns ``(x, numeric...)``, the residuals
        #: that vanish at the steady state (numeric steps' balances, then
        #: electroneutrality) and the full state ``(c_X..., V)`` as expressions of them
        self.reduced_vars = tuple(variables)
        self.numeric_steps = tuple(st for st, *_ in self._numeric_steps)
        self.reduced_residuals = (*reduced_residuals, en)
        self.state_exprs = tuple(state)
        self.param_symbols = tuple(self._psyms)
        g0 = membrane.guess(self.master_ion)
        if g0 is None:
            g0 = param(ION[self.master_ion].outside) / 10
        self.x0_expr = sp.log(g0)
        self._x0 = numpy_function(self._psyms, [self.x0_expr])
        _add_checks_and_outputs(self, membrane)

    # ---- planning ------------------------------------------------------------------
    def _plan(self, balances, unknowns):
        v = voltage()
        ions = list(balances)
        order = sorted(ions, key=lambda i: 0 if self.membrane.guess(i) is not None else 1)
        for master in order:
            known = {conc(master)}
            remaining = dict(balances)
            steps = []
            while remaining:
                for ion, b in remaining.items():
                    free = (b.free_symbols & set(unknowns)) - known
                    if len(free) == 1:
                        y = free.pop()
                        ex = _explicit(b, y)
                        nv = None
                        if ex is None:
                            nv = y if y == v else sp.Symbol(f"_ln_{y.name}", real=True)
                        steps.append(_Step(ion, y, ex, nv))
                        known.add(y)
                        del remaining[ion]
                        break
                else:
                    break
            if not remaining and known == set(unknowns):
                return master, steps
        raise _NoReduction(
            "no one-dimensional reduction of this membrane model: no ordering of its "
            "balances leaves one new unknown per balance")

    # ---- evaluation ----------------------------------------------------------------
    def reduced_residual(self, x, pv, prepared, n_guess=None):
        """Electroneutrality residual ``r(x)``, ``dr/dx``, its scale, the numeric
        unknowns and ``ok`` (every inner solve converged).

        ``prepared`` is :meth:`prepare` of the same parameters (sliced alike); a numeric
        step hoists its own invariants once per call, as they depend on ``x``."""
        nums = []
        dnums = []
        ok = np.ones(np.shape(x), dtype=bool)
        for j, (_st, inner, partials, guess) in enumerate(self._numeric_steps):
            earlier = [x, *nums]
            y = (guess(*earlier, *pv)[0] if n_guess is None or n_guess[j] is None
                 else n_guess[j])
            prep_j = inner.prepare(*earlier, *pv)
            y_start = y
            y, ok_j = _newton_1d(inner, y, np.shape(x), prep_j)
            if not ok_j.all():
                y, ok_j = _bracketed_1d(inner, y_start, y, ok_j, prep_j,
                                        10.0 if _st.unknown == voltage() else 1.0)
            ok &= ok_j
            b_vals = inner(y, *prep_j)
            parts = partials(y, *earlier, *pv)
            # dy/dx = -(∂B/∂x + Σ ∂B/∂n_i dn_i/dx) / ∂B/∂y
            total = parts[0] + sum(p * d for p, d in zip(parts[1:], dnums, strict=True))
            dnums.append(-total / b_vals[1])
            nums.append(y)
        vals = self.final(x, *nums, *prepared)
        r, dr_parts, scale = vals[0], vals[1:-1], vals[-1]
        dr = dr_parts[0] + sum(p * d for p, d in zip(dr_parts[1:], dnums, strict=True))
        return r, dr, scale, nums, ok

    def prepare(self, pv, n: int | None = None) -> tuple:
        """The parameter-only values of the final residual, broadcast to ``n`` samples
        when given (so that they can be sliced with the samples)."""
        vals = self.final.prepare(*pv)
        if n is None:
            return vals
        return tuple(np.broadcast_to(v, (n,)) if np.ndim(v) else v for v in vals)

    def state_at(self, x, pv, prepared=None, n_guess=None):
        """The reduction at ``x``: ``h = r/scale``, the full state ``(c_X..., V)``, the
        numeric unknowns and ``ok`` (NumPy warnings off: any ``x`` may be asked)."""
        with np.errstate(all="ignore"):
            if prepared is None:
                prepared = self.prepare(pv)
            r, _dr, scale, nums, ok = self.reduced_residual(x, pv, prepared, n_guess)
            state = self._state(x, *nums, *pv)
            h = r / scale
        return h, state, nums, ok


def _add_checks_and_outputs(plan, membrane: Membrane) -> None:
    """Generated checks (every balance, current, electroneutrality), impermeant anions
    and outputs, as functions of the full state ``(c_X..., V)`` and the parameters."""
    psyms = list(plan.param_symbols)
    svars = list(membrane.state_symbols())
    checks = []
    for xi in membrane.ions:
        checks.append(sp.Abs(membrane.flux(xi)) / (membrane.flux_scale(xi) + _TINY))
    checks.append(sp.Abs(membrane.current) / (membrane.current_scale + _TINY))
    checks.append(sp.Abs(membrane.electroneutrality) / membrane.electroneutrality_scale)
    plan.check_names = (*membrane.ions, "current", "electroneutrality")
    plan._checks = numpy_function([*svars, *psyms], checks)
    plan.check_exprs = tuple(checks)
    plan._impermeant = numpy_function([*svars, *psyms], [membrane.impermeant()])
    outs = {f"e_{xi}_mV": membrane.nernst(xi) for xi in membrane.ions}
    for mech in membrane.mechanisms:
        outs[f"{mech.name}_current_pA"] = mech.current
    outs["atp_per_s"] = membrane.atp_per_s
    outs["slope_conductance_nS"] = membrane.slope_conductance
    outs.update(membrane.output_expressions())
    if membrane.has_atp_budget:  # who spends the ATP (Membrane.atp_shares)
        outs.update(membrane.atp_shares)
    plan.output_names = tuple(outs)
    plan.output_exprs = dict(outs)
    plan._outputs = numpy_function([*svars, *psyms], list(outs.values()))


def _newton_1d(fn: HoistedFunction, y0, shape, prepared, max_iter=100):
    """Vectorised Newton on one unknown (numeric step of a plan). Returns ``y, ok``."""
    y = np.array(np.broadcast_to(y0, shape), dtype=float)
    ok = np.zeros(y.shape, dtype=bool)
    idx = np.arange(y.size)
    yf, okf = y.ravel(), ok.ravel()
    prep = [np.broadcast_to(p, y.shape).ravel() for p in prepared]
    with np.errstate(all="ignore"):
        for _ in range(max_iter):
            yi = yf[idx]
            b, db = fn(yi, *(p[idx] for p in prep))
            step = b / db
            yi = yi - step
            yf[idx] = yi
            done = np.abs(step) <= 1e-13 * np.maximum(1.0, np.abs(yi))
            okf[idx[done]] = True
            idx = idx[~done & np.isfinite(step)]
            if idx.size == 0:
                break
    return yf.reshape(y.shape), okf.reshape(y.shape)


def _bracketed_1d(fn: HoistedFunction, y0, y, ok, prepared, step):
    """Where the 1-D Newton of a numeric step did not settle (a sigmoidal balance, a
    carrier's flux that saturates in V, can throw it far off), bracket the root from
    the starting value outward and solve by Ridders. Samples Newton solved keep its
    answer. Returns ``y, ok``."""
    shape = np.shape(y)
    y, ok = np.array(y, dtype=float).ravel(), np.array(ok).ravel()
    idx = np.flatnonzero(~ok)
    start = np.broadcast_to(y0, shape).ravel()[idx].astype(float)
    start = np.where(np.isfinite(start), start, 0.0)
    prep = [np.broadcast_to(p, shape).ravel()[idx] for p in prepared]
    with np.errstate(all="ignore"):
        _b, db = fn(start, *prep)
        sign = np.where(np.isfinite(db) & (db < 0), -1.0, 1.0)  # make the balance increasing

        def g(yy):
            return sign * fn(yy, *prep)[0]

        lo, hi, f_lo, f_hi, bracketed = expand_bracket(g, start - step, start + step,
                                                       step=step)
        root, conv, _it = ridders(g, lo, hi, np.where(bracketed, f_lo, -1.0),
                                  np.where(bracketed, f_hi, 1.0), xtol=1e-14, max_iter=200)
    good = conv & bracketed & np.isfinite(root)
    y[idx[good]] = root[good]
    ok[idx[good]] = True
    return y.reshape(shape), ok.reshape(shape)


_PLANS: dict[int, SteadyPlan] = {}


def plan_for(membrane: Membrane) -> SteadyPlan:
    """The (cached) generated solver of ``membrane``."""
    key = id(membrane)
    plan = _PLANS.get(key)
    if plan is None or plan.membrane is not membrane:
        try:
            plan = SteadyPlan(membrane)
        except _NoReduction:
            from iongrad.models.steady_coupled import CoupledPlan

            plan = CoupledPlan(membrane)
        _PLANS[key] = plan
    return plan


class _NoReduction(NotImplementedError):
    """No ordering of the balances leaves one new unknown per balance."""


@dataclass
class SteadySolution:
    """Raw result of :func:`solve_membrane` (1-D arrays of one length)."""

    state: dict[str, np.ndarray]
    outputs: dict[str, np.ndarray]
    reason: np.ndarray
    iterations: np.ndarray
    residuals: dict[str, np.ndarray] = field(repr=False)
    x: np.ndarray = field(repr=False, default=None)
    #: values of the plan's reduced unknowns ``(x, numeric...)`` (see
    #: :attr:`SteadyPlan.reduced_vars`)
    reduced: tuple = field(repr=False, default=())

    @property
    def feasible(self) -> np.ndarray:
        return self.reason == 0


def solve_membrane(membrane: Membrane, p: dict[str, np.ndarray], *, x0=None,
                   rtol_check: float = 1e-9, max_iter: int = 100,
                   max_conc_mM: float = 2000.0) -> SteadySolution:
    """Steady state of ``membrane`` for validated, flattened parameter vectors.

    ``p`` maps every name of ``membrane.parameters`` to a 1-D float array (one common
    length). ``x0`` optionally warm-starts the master unknown (its log). No input
    checks: the public functions validate.
    """
    plan = plan_for(membrane)
    pv = [p[k] for k in plan.params]
    n = pv[0].size
    if not isinstance(plan, SteadyPlan):
        return _solve_coupled(plan, pv, rtol_check, max_conc_mM)
    cold = x0 is None
    if cold:
        x0 = np.broadcast_to(plan._x0(*pv)[0], (n,)).astype(float)
    x, conv = _newton(plan, x0, pv, plan.prepare(pv, n), max_iter=25 if cold else 12)
    iters = np.zeros(n, dtype=np.int64)
    bracketed = np.ones(n, dtype=bool)
    if not conv.all():
        idx = np.flatnonzero(~conv)
        sub = [v[idx] for v in pv]
        xs, cs, its, bs = _bracketed(plan, sub, max_iter)
        x[idx], conv[idx], iters[idx], bracketed[idx] = xs, cs, its, bs
    sol = _finish(plan, x, pv, conv & bracketed, bracketed, iters, rtol_check, max_conc_mM)
    retry = np.flatnonzero(np.isin(sol.reason, (1, 2, 3)))
    if retry.size:
        _scan_physical(plan, sol, pv, retry, conv, bracketed, iters, rtol_check, max_conc_mM)
    return sol


#: Grid of the master unknown (ln mM) scanned for a physical root where the iteration
#: ended in an unphysical state.
_SCAN = np.linspace(np.log(1e-4), np.log(2000.0), 97)


def _scan_grid(plan, pv, idx, grid, max_conc_mM):
    """``h`` and the physical mask on a per-sample grid ``grid`` (rows × points)."""
    rows, m = grid.shape
    sub = [np.repeat(v[idx], m) if np.ndim(v) else v for v in pv]
    h, state, _nums, ok = plan.state_at(grid.ravel(), sub)
    with np.errstate(invalid="ignore"):
        phys = ok & np.isfinite(h) & np.isfinite(state[-1]) & np.logical_and.reduce(
            [np.isfinite(c) & (c > 0) & (c <= max_conc_mM) for c in state[:-1]])
    return h.reshape(rows, m), phys.reshape(rows, m)


def _scan_physical(plan, sol, pv, idx, conv, bracketed, iters, rtol_check, max_conc_mM):
    """Where Newton and the bracket ended in no root or an unphysical one (a negative
    concentration from an explicit step can make a spurious sign change of the
    residual), scan the master unknown for a sign change between two *physical*
    states and solve inside it; samples so solved replace their entries in ``sol``.

    A coarse grid over Na_i 1e-4–2000 mM first; where it finds physical states but no
    sign change, the span of those states (± one grid step) is scanned again finely, as
    the physical range can be a narrow window (a weak pump against a large load)."""
    grid = np.broadcast_to(_SCAN, (idx.size, _SCAN.size))
    h, phys = _scan_grid(plan, pv, idx, grid, max_conc_mM)
    change = (h[:, :-1] <= 0) & (h[:, 1:] >= 0) & phys[:, :-1] & phys[:, 1:]
    refine = phys.any(axis=1) & ~change.any(axis=1)
    if refine.any():
        r_rows = np.flatnonzero(refine)
        step = _SCAN[1] - _SCAN[0]
        p_r = phys[r_rows]
        first = np.argmax(p_r, axis=1)
        last = _SCAN.size - 1 - np.argmax(p_r[:, ::-1], axis=1)
        lo_x = _SCAN[first] - step
        hi_x = _SCAN[last] + step
        fine = lo_x[:, None] + (hi_x - lo_x)[:, None] * np.linspace(0.0, 1.0, 97)[None, :]
        h_f, p_f = _scan_grid(plan, pv, idx[r_rows], fine, max_conc_mM)
        c_f = (h_f[:, :-1] <= 0) & (h_f[:, 1:] >= 0) & p_f[:, :-1] & p_f[:, 1:]
        ok_f = c_f.any(axis=1)
        # rows refined successfully: carry their fine bracket into the coarse arrays
        grid = np.array(grid)
        for j_local, row in enumerate(r_rows):
            if ok_f[j_local]:
                grid[row] = fine[j_local]
                h[row], phys[row] = h_f[j_local], p_f[j_local]
        change = (h[:, :-1] <= 0) & (h[:, 1:] >= 0) & phys[:, :-1] & phys[:, 1:]
    found = change.any(axis=1)
    if not found.any():
        return
    rows = np.flatnonzero(found)
    first = np.argmax(change[rows], axis=1)
    lo, hi = grid[rows, first], grid[rows, first + 1]
    f_lo, f_hi = h[rows, first], h[rows, first + 1]
    samples = idx[rows]
    pv_s = [v[samples] if np.ndim(v) else v for v in pv]
    with np.errstate(all="ignore"):
        prep_s = plan.prepare(pv_s)

    def hfun(xx):
        hh, _state, _nums, okk = plan.state_at(xx, pv_s, prep_s)
        return np.where(okk, hh, np.nan)

    with np.errstate(all="ignore"):
        xs, cs, its = ridders(hfun, lo, hi, f_lo, f_hi, xtol=1e-14, ftol=1e-15, max_iter=100)
    new = _finish(plan, xs, pv_s, cs, np.ones(xs.size, dtype=bool), its, rtol_check,
                  max_conc_mM)
    better = new.reason == 0
    if not better.any():
        return
    take = samples[better]
    sol.reason[take] = 0
    sol.iterations[take] = new.iterations[better]
    sol.x[take] = new.x[better]
    for k in sol.state:
        sol.state[k][take] = new.state[k][better]
    for k in sol.outputs:
        sol.outputs[k][take] = new.outputs[k][better]
    for k in sol.residuals:
        sol.residuals[k][take] = new.residuals[k][better]
    for a, b in zip(sol.reduced, new.reduced, strict=True):
        a[take] = b[better]


def _newton(plan, x0, pv, prepared, *, max_iter):
    """Damped Newton on the master unknown, exact slope; active-set compaction."""
    x = np.array(x0, dtype=float, copy=True)
    conv = np.zeros(x.shape, dtype=bool)
    idx = np.arange(x.size)
    sub = list(pv)
    prep = prepared  # broadcast to the samples: sliced with them below
    guess = None
    with np.errstate(all="ignore"):
        for it in range(max_iter):
            xi = x[idx]
            r, dr, _scale, nums, ok = plan.reduced_residual(xi, sub, prep, guess)
            good = ok & (dr > 0) & np.isfinite(r) & np.isfinite(dr)
            step = np.where(good, r / np.where(good, dr, 1.0), np.nan)
            step = np.clip(step, -1.0, 1.0)  # damp: at most a factor e per step
            xi = xi - step
            x[idx] = xi
            done = np.abs(step) <= 1e-13 * np.maximum(1.0, np.abs(xi))
            bad = ~np.isfinite(step)
            conv[idx[done]] = True
            keep = ~(done | bad)
            if not keep.any() or it == max_iter - 1:
                break
            if keep.sum() <= 0.7 * keep.size:
                idx = idx[keep]
                if plan.numeric_steps:  # parameters are read by the numeric steps only
                    sub = [v[keep] if np.ndim(v) else v for v in sub]
                prep = tuple(v[keep] if np.ndim(v) else v for v in prep)
                guess = [y[keep] for y in nums] if nums else None
            else:
                conv[idx[done]] = False  # still in the active set: iterate again
                guess = list(nums) if nums else None
    return x, conv & np.isfinite(x)


def _bracketed(plan, pv, max_iter):
    """Bracket + Ridders on the normalised residual (the always-convergent path)."""
    n = pv[0].size
    prepared = plan.prepare(pv, n)
    cache = {}

    def h(x):
        # x has the length of the samples still being iterated by the root finder;
        # expand_bracket/ridders always pass full-length vectors
        hh, _state, nums, ok = plan.state_at(x, pv, prepared, cache.get("g"))
        if nums:
            cache["g"] = [np.where(np.isfinite(y), y, 0.0) for y in nums]
        return np.where(ok, hh, np.nan)

    x0 = np.broadcast_to(plan._x0(*pv)[0], (n,)).astype(float)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        lo, hi, f_lo, f_hi, bracketed = expand_bracket(h, x0 - 0.5, x0 + 0.5, step=0.5)
        x, conv, iters = ridders(h, lo, hi, np.where(bracketed, f_lo, -1.0),
                                 np.where(bracketed, f_hi, 1.0), xtol=1e-14, ftol=1e-15,
                                 max_iter=max_iter)
    return x, conv & bracketed, iters, bracketed


def _solve_coupled(plan, pv, rtol_check, max_conc_mM):
    from iongrad.models.steady_coupled import solve_coupled

    z, conv = solve_coupled(plan, pv, rtol_check=rtol_check, max_conc_mM=max_conc_mM)
    n = pv[0].size
    with np.errstate(all="ignore"):
        state = [np.broadcast_to(s, (n,)).astype(float) for s in plan._state(*z, *pv)]
    return _classify(plan, z[0], pv, state, conv, np.ones(n, dtype=bool),
                     np.zeros(n, dtype=np.int64), rtol_check, max_conc_mM, tuple(z))


def _finish(plan, x, pv, conv, bracketed, iters, rtol_check, max_conc_mM):
    """The state at the root, its outputs, and a ``reason`` for every sample."""
    n = x.size
    _h, state, nums, ok_inner = plan.state_at(x, pv)
    state = [np.broadcast_to(s, (n,)).astype(float) for s in state]
    reduced = (x, *(np.broadcast_to(y, (n,)).astype(float) for y in nums))
    return _classify(plan, x, pv, state, conv & ok_inner, bracketed, iters, rtol_check,
                     max_conc_mM, reduced)


def _classify(plan, x, pv, state, conv, bracketed, iters, rtol_check, max_conc_mM, reduced):
    """Reason codes, residuals and outputs of candidate states (any plan)."""
    m = plan.membrane
    n = x.size
    conc_vals, v = state[:-1], state[-1]
    reason = np.zeros(n, dtype=np.int64)
    reason[~conv] = 2
    reason[~bracketed] = 1
    with np.errstate(all="ignore"):
        a_i = np.broadcast_to(plan._impermeant(*conc_vals, v, *pv)[0], (n,))
    if m.volume == "osmotic":
        osm = pv[plan.params.index("osm_o_mOsm")]
        no_room = ~(a_i > 1e-9 * osm)
        reason[(reason == 0) & no_room] = 4
    too_high = np.logical_or.reduce([c > max_conc_mM for c in conc_vals])
    reason[(reason == 0) & too_high] = 5
    valid = np.isfinite(v) & np.logical_and.reduce(
        [np.isfinite(c) & (c > 0) for c in conc_vals])
    safe = [np.where(valid, c, 1.0) for c in conc_vals]
    with np.errstate(all="ignore"):
        res = plan._checks(*safe, np.where(valid, v, 0.0), *pv)
    residuals = {k: np.where(valid, np.broadcast_to(r, (n,)), np.inf)
                 for k, r in zip(plan.check_names, res, strict=True)}
    worst = np.max(np.stack(list(residuals.values())), axis=0)
    reason[(reason == 0) & ~((worst <= rtol_check) & valid)] = 3
    with np.errstate(all="ignore"):
        outs = plan._outputs(*conc_vals, v, *pv)
    outputs = {k: np.broadcast_to(o, (n,)).astype(float)
               for k, o in zip(plan.output_names, outs, strict=True)}
    st = {ION[xi].inside: c for xi, c in zip(m.ions, conc_vals, strict=True)}
    st["v_mV"] = v
    st["a_i_mM"] = a_i.astype(float)
    return SteadySolution(st, outputs, reason, iters, residuals, x, reduced)


def reduced_state(membrane: Membrane, p: dict[str, np.ndarray], x: np.ndarray) -> dict:
    """The reduction at given values of the master unknown (a diagnostic).

    Returns the normalised electroneutrality residual ``h = r/scale``, the state
    (every concentration, V, impermeant anions) the reduction implies at ``x`` and
    ``ok`` (inner solves converged). Used to show that a flagged parameter set has no
    physical steady state: scan ``x`` and look for a sign change of ``h`` between
    physical states.
    """
    plan = plan_for(membrane)
    pv = [np.broadcast_to(p[k], np.shape(x)) for k in plan.params]
    h, state, _nums, ok = plan.state_at(x, pv)
    conc_vals, v = state[:-1], state[-1]
    with np.errstate(all="ignore"):
        a_i = plan._impermeant(*conc_vals, v, *pv)[0]
    out = {ION[xi].inside: np.broadcast_to(c, np.shape(x))
           for xi, c in zip(membrane.ions, conc_vals, strict=True)}
    out.update(v_mV=np.broadcast_to(v, np.shape(x)), a_i_mM=np.broadcast_to(a_i, np.shape(x)),
               h=h, ok=ok, master=membrane.ions.index(plan.master_ion))
    return out


def full_system(membrane: Membrane, *, scalar: bool = False):
    """The steady-state equations of ``membrane`` in all unknowns, unreduced.

    Returns ``(unknowns, f)``: ``unknowns`` names ``ln c_X`` for every ion and
    ``v_mV``; ``f(z, *params) -> list`` evaluates every ion's flux balance (pA-eq)
    and electroneutrality (mM) at ``z`` (parameters in ``membrane.parameters``
    order). ``scalar=True`` generates code on Python floats (for per-sample
    reference solvers such as ``scipy.optimize.root``), else NumPy.
    """
    logs = [sp.Symbol(f"ln_{x}_i", real=True) for x in membrane.ions]
    sub = {conc(x): sp.exp(s) for x, s in zip(membrane.ions, logs, strict=True)}
    eqs = [membrane.flux(x).xreplace(sub) for x in membrane.ions]
    eqs.append(membrane.electroneutrality.xreplace(sub))
    args = [*logs, voltage(), *(param(k) for k in membrane.parameters)]
    gen = scalar_function(args, eqs) if scalar else numpy_function(args, eqs)

    def f(z, *params):
        return gen(*z, *params)

    return (*(f"ln_{x}_i" for x in membrane.ions), "v_mV"), f
