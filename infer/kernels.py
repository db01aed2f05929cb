"""Compiled per-sample steady-state kernels, generated from a membrane model.

In a fit, every log-density evaluation solves the steady state of a short vector
(cells × conditions), where the vectorised NumPy solver's cost is call overhead, not
arithmetic. For membrane models whose reduction is fully explicit (every step in
closed form: ohmic leaks), this module prints the solver's generated expressions
(:class:`iongrad.models.steady_core.SteadyPlan`) as scalar Python, compiles it with
numba and runs Newton per sample, with the same iteration, the same damping and the
same acceptance test as the NumPy solver: a sample counts as solved only if Newton
converged, every balance's relative residual is <= ``rtol_check``, no concentration
exceeds ``max_conc_mM`` and (osmotic) impermeant anions remain. Anything else is
reported unsolved and handed to the NumPy solver, which decides its ``reason``.

Nothing here is written by hand: the kernel's text is printed from the same SymPy
expressions that the NumPy and PyTensor code are generated from.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import sympy as sp
from sympy.printing.pycode import PythonCodePrinter

from iongrad.models.codegen import EXP_CLAMP
from iongrad.models.mechanisms.base import ghk_phi, ghk_phi_d1, ghk_phi_d2
from iongrad.models.membrane import Membrane
from iongrad.models.steady_core import plan_for

__all__ = ["compiled_solver", "kernel_source"]


class _ScalarPrinter(PythonCodePrinter):
    """Scalar code for numba: math functions, exp clamped like the NumPy code."""

    def _print_exp(self, e):
        return f"math.exp(min({self._print(e.args[0])}, {EXP_CLAMP!r}))"

    def _print_log(self, e):
        return f"math.log({self._print(e.args[0])})"

    def _print_Abs(self, e):
        return f"abs({self._print(e.args[0])})"

    def _print_Min(self, e):
        return "min(" + ", ".join(self._print(a) for a in e.args) + ")"

    def _print_Max(self, e):
        return "max(" + ", ".join(self._print(a) for a in e.args) + ")"

    def _print_Function(self, e):
        if isinstance(e, ghk_phi | ghk_phi_d1 | ghk_phi_d2):
            raise NotImplementedError("GHK leaks have no compiled kernel yet")
        return super()._print_Function(e)


def _lines(pairs, printer, indent):
    return [f"{indent}{s} = {printer.doprint(e)}" for s, e in pairs]


_RIDDERS = """
def _ridders(lo, hi, flo, fhi, max_iter, {prep}):
    # the scalar form of iongrad.models._roots.ridders (xtol 1e-14, ftol 1e-15)
    x = lo if abs(flo) < abs(fhi) else hi
    done = flo == 0.0 or fhi == 0.0
    if flo == 0.0:
        x = lo
    elif fhi == 0.0:
        x = hi
    it = 0
    while not done and it < max_iter:
        it += 1
        mid = 0.5 * (lo + hi)
        fmid = _h(mid, {prep})
        sq = math.sqrt(max(fmid * fmid - flo * fhi, 0.0))
        if sq > 0:
            sgn = -1.0 if flo < fhi else (1.0 if flo > fhi else 0.0)
            new = mid + (mid - lo) * sgn * fmid / sq
        else:
            new = mid
        new = min(max(new, min(lo, hi)), max(lo, hi))
        fnew = _h(new, {prep})
        if mid <= new:
            a, b, fa, fb = mid, new, fmid, fnew
        else:
            a, b, fa, fb = new, mid, fnew, fmid
        if fa >= 0:
            hi, fhi = a, fa
        elif fb <= 0:
            lo, flo = b, fb
        else:
            lo, hi, flo, fhi = a, b, fa, fb
        x_prev = x
        x = new if abs(fnew) <= abs(fmid) else mid
        tol = 1e-14 * max(1.0, abs(x))
        if (abs(fnew) <= 1e-15 or abs(fmid) <= 1e-15 or (hi - lo) <= tol
                or abs(x - x_prev) <= tol):
            done = True
    return x, done, it
"""

_BRACKET = """
def _bracket(x0, {prep}):
    # the scalar form of iongrad.models._roots.expand_bracket (start x0 +- 0.5, step 0.5)
    lo, hi = x0 - 0.5, x0 + 0.5
    flo, fhi = _h(lo, {prep}), _h(hi, {prep})
    width = 0.5
    for _ in range(60):
        need_lo = flo > 0
        need_hi = fhi < 0 and not need_lo
        if not (need_lo or need_hi):
            break
        if need_lo:
            hi, fhi = lo, flo
            lo = lo - width
            flo = _h(lo, {prep})
        else:
            lo, flo = hi, fhi
            hi = hi + width
            fhi = _h(hi, {prep})
        width *= 2.0
    ok = flo <= 0 and fhi >= 0 and math.isfinite(flo) and math.isfinite(fhi)
    return lo, hi, flo, fhi, ok
"""


def kernel_source(membrane: Membrane) -> str | None:
    """Python source of the compiled solver of ``membrane`` (None: not fully explicit).

    The same algorithm as :func:`iongrad.models.steady_core.solve_membrane` for one
    sample at a time: damped Newton on the master unknown with the generated slope,
    then (where Newton does not settle) bracket expansion and Ridders on the
    normalised residual, then the same checks and ``reason`` codes.
    """
    plan = plan_for(membrane)
    if plan.numeric_steps:
        return None
    pr = _ScalarPrinter({"fully_qualified_modules": False, "strict": False})
    params = [s.name for s in plan.param_symbols]
    fin = plan.final
    x = plan.reduced_vars[0]
    prep_names = [str(sym) for sym, _ in fin.prepared]
    prep = ", ".join(prep_names) if prep_names else "_unused"
    ind1, ind2, ind3 = " " * 4, " " * 8, " " * 12
    resid = [f"def _resid({x}, {prep}):", *_lines(fin.dependent, pr, ind1),
             f"{ind1}return ({pr.doprint(fin.outputs[0])}, {pr.doprint(fin.outputs[1])}, "
             f"{pr.doprint(fin.outputs[-1])})",
             "", f"def _h({x}, {prep}):", f"{ind1}r, _dr, sc = _resid({x}, {prep})",
             f"{ind1}return r / sc"]
    # state, impermeant, checks: one cse over all of them
    svars = [*plan.membrane.state_symbols()]
    state_subs = dict(zip(svars, plan.state_exprs, strict=True))
    a_expr = plan.membrane.impermeant().xreplace(state_subs)
    post = [*plan.state_exprs, a_expr, *(c.xreplace(state_subs) for c in plan.check_exprs)]
    reps, post_red = sp.cse(post, symbols=sp.numbered_symbols("_s"), optimizations=None)
    n_state = len(plan.state_exprs)
    conc = [f"({pr.doprint(e)})" for e in post_red[:n_state - 1]]
    src = [
        *resid, _BRACKET.format(prep=prep), _RIDDERS.format(prep=prep),
        "def kernel(x0, " + ", ".join(f"P_{p}" for p in params)
        + ", max_iter_newton, max_iter, rtol_check, max_conc, osmotic, osm_o):",
        f"{ind1}m = x0.shape[0]",
        f"{ind1}x_out = np.empty(m)",
        f"{ind1}reason = np.zeros(m, dtype=np.int64)",
        f"{ind1}iters = np.zeros(m, dtype=np.int64)",
        f"{ind1}for i in range(m):",
        *(f"{ind2}{p} = P_{p}[i]" for p in params),
        *_lines(fin.prepared, pr, ind2),
        *([] if prep_names else [f"{ind2}_unused = 0.0"]),
        f"{ind2}x_cold = {pr.doprint(plan.x0_expr)}",
        f"{ind2}{x} = x0[i] if math.isfinite(x0[i]) else x_cold",
        f"{ind2}conv = False",
        f"{ind2}for _it in range(max_iter_newton):",
        f"{ind3}r, dr, _sc = _resid({x}, {prep})",
        f"{ind3}if not (dr > 0 and math.isfinite(r) and math.isfinite(dr)):",
        f"{ind3}    break  # overflow far from the root: r/inf = 0 is not convergence",
        f"{ind3}step = min(max(r / dr, -1.0), 1.0)  # damp: at most a factor e per step",
        f"{ind3}{x} = {x} - step",
        f"{ind3}if abs(step) <= 1e-13 * max(1.0, abs({x})):",
        f"{ind3}    conv = math.isfinite({x})",
        f"{ind3}    break",
        f"{ind2}bracketed = True",
        f"{ind2}if not conv:",
        f"{ind3}lo, hi, flo, fhi, bracketed = _bracket(x_cold, {prep})",
        f"{ind3}if not bracketed:",
        f"{ind3}    flo, fhi = -1.0, 1.0",
        f"{ind3}{x}, conv, iters[i] = _ridders(lo, hi, flo, fhi, max_iter, {prep})",
        f"{ind3}conv = conv and bracketed",
        f"{ind2}x_out[i] = {x}",
        f"{ind2}code = 0",
        f"{ind2}if not conv:",
        f"{ind2}    code = 2",
        f"{ind2}if not bracketed:",
        f"{ind2}    code = 1",
        *_lines(reps, pr, ind2),
        f"{ind2}v = {pr.doprint(post_red[n_state - 1])}",
        f"{ind2}a_i = {pr.doprint(post_red[n_state])}",
        f"{ind2}if code == 0 and osmotic and not a_i > 1e-9 * osm_o[i]:",
        f"{ind2}    code = 4",
        f"{ind2}if code == 0 and ({' or '.join(f'{c} > max_conc' for c in conc)}):",
        f"{ind2}    code = 5",
        f"{ind2}valid = math.isfinite(v) and "
        + " and ".join(f"math.isfinite{c} and {c} > 0" for c in conc),
        f"{ind2}if code == 0:",
        f"{ind3}if not valid:",
        f"{ind3}    code = 3",
        f"{ind3}else:",
        f"{ind3}    worst = 0.0",
        *(f"{ind3}    worst = max(worst, {pr.doprint(c)})" for c in post_red[n_state + 1:]),
        f"{ind3}    if not worst <= rtol_check:",
        f"{ind3}        code = 3",
        f"{ind2}reason[i] = code",
        f"{ind1}return x_out, reason, iters",
    ]
    return "\n".join(src) + "\n"


_COMPILED: dict[int, tuple[Membrane, Callable | None]] = {}


def compiled_solver(membrane: Membrane) -> Callable | None:
    """``solve(p, x0) -> (x, reason, iterations)`` compiled for ``membrane``, or None.

    ``p`` maps the membrane's parameters to 1-D float arrays (osmotic: ``osm_o_mOsm``
    filled in), valid by construction; ``x0`` warm-starts the master unknown (None:
    the plan's cold start). The same answers and ``reason`` codes as the NumPy solver.
    Compiled once per membrane model and process (a few seconds).
    """
    kern = compiled_kernel(membrane)
    if kern is None:
        return None
    plan = plan_for(membrane)
    osmotic = membrane.volume == "osmotic"

    def solve(p, x0):
        pv = [np.ascontiguousarray(p[k], dtype=np.float64) for k in plan.params]
        cold = x0 is None
        x0 = np.full(pv[0].shape, np.nan) if cold else np.ascontiguousarray(x0, np.float64)
        osm = p["osm_o_mOsm"] if osmotic else pv[0]
        return kern(x0, *pv, 25 if cold else 12, 100, 1e-9, 2000.0, osmotic,
                    np.ascontiguousarray(osm, dtype=np.float64))

    return solve


def compiled_kernel(membrane: Membrane) -> Callable | None:
    """The numba-compiled ``kernel`` of :func:`kernel_source` (None: no kernel)."""
    hit = _COMPILED.get(id(membrane))
    if hit is not None and hit[0] is membrane:
        return hit[1]
    src = kernel_source(membrane)
    if src is None:
        _COMPILED[id(membrane)] = (membrane, None)
        return None
    from numba import njit

    namespace = {"math": math, "np": np}
    code = compile(src, f"<iongrad kernel {membrane.name}>", "exec")
    exec(code, namespace)
    for name in ("_resid", "_h", "_bracket", "_ridders"):
        namespace[name] = njit(namespace[name], cache=False)
    kern = njit(namespace["kernel"], cache=False)
    _COMPILED[id(membrane)] = (membrane, kern)
    return kern


def op_implementation(membrane: Membrane, positive: tuple[str, ...], nonneg: tuple[str, ...],
                      fallback_x: float) -> Callable | None:
    """A numba function ``(P_1, ..., P_n) -> (x, feasible)`` for the steady-state Op.

    What :meth:`iongrad.infer.steady_op.SteadyStateOp.perform` does, compiled: the
    domain check, the default bath osmolarity, the compiled solver (cold start) and the
    placeholder state where there is no steady state. Registered with PyTensor's numba
    backend so that a model compiled in numba mode (PyMC's ``compile_kwargs``, nutpie)
    runs the Op without object mode. None when the membrane has no compiled solver.
    """
    kern = compiled_kernel(membrane)
    if kern is None:
        return None
    from numba import njit

    plan = plan_for(membrane)
    names = list(plan.params)
    osmotic = membrane.volume == "osmotic"
    arg = {k: f"P{j}" for j, k in enumerate(names)}
    lines = [f"def op_impl({', '.join(arg.values())}):",
             f"    n = {arg[names[0]]}.shape[0]",
             "    ok = np.ones(n, dtype=np.bool_)",
             "    for i in range(n):"]
    for k in names:
        if k == "osm_o_mOsm":
            continue
        cond = f"math.isfinite({arg[k]}[i])"
        if k in positive:
            cond += f" and {arg[k]}[i] > 0"
        elif k in nonneg:
            cond += f" and {arg[k]}[i] >= 0"
        lines.append(f"        if not ({cond}):")
        lines.append("            ok[i] = False")
    if osmotic:
        o, na, ko = arg["osm_o_mOsm"], arg["na_o_mM"], arg["k_o_mM"]
        lines += [f"    osm = np.where(np.isnan({o}), 2.0 * ({na} + {ko}), {o})",
                  "    for i in range(n):",
                  "        if not osm[i] > 0:",
                  "            ok[i] = False"]
    else:
        lines.append(f"    osm = {arg[names[0]]}")
    defaults = membrane.defaults()
    safe = []
    for k in names:
        if k == "osm_o_mOsm":
            safe.append("np.where(ok, osm, 300.0)")
        else:
            d = defaults[k]
            safe.append(f"np.where(ok, {arg[k]}, {float(d)!r})")
    lines += [
        "    x0 = np.full(n, np.nan)",
        f"    x, reason, _ = kern(x0, {', '.join(safe)}, 25, 100, 1e-9, 2000.0, "
        f"{osmotic}, np.where(ok, osm, 300.0))",
        "    feasible = ok & (reason == 0)",
        f"    x = np.where(feasible, x, {fallback_x!r})",
        "    return x, feasible.astype(np.int8)",
    ]
    namespace = {"math": math, "np": np, "kern": kern}
    exec(compile("\n".join(lines) + "\n", f"<iongrad op {membrane.name}>", "exec"),
         namespace)
    return njit(namespace["op_impl"], cache=False)
