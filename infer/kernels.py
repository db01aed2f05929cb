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


def kernel_source(membrane: Membrane) -> str | None:
    """Python source of the compiled kernel of ``membrane`` (None: not fully explicit)."""
    plan = plan_for(membrane)
    if plan.numeric_steps:
        return None
    pr = _ScalarPrinter({"fully_qualified_modules": False, "strict": False})
    params = [s.name for s in plan.param_symbols]
    fin = plan.final
    x = plan.reduced_vars[0]
    ind2, ind3 = " " * 8, " " * 12
    # state, impermeant, checks: one cse over all of them
    svars = [*plan.membrane.state_symbols()]
    state_subs = dict(zip(svars, plan.state_exprs, strict=True))
    a_expr = plan.membrane.impermeant().xreplace(state_subs)
    post = [*plan.state_exprs, a_expr, *(c.xreplace(state_subs) for c in plan.check_exprs)]
    reps, post_red = sp.cse(post, symbols=sp.numbered_symbols("_s"), optimizations=None)
    n_state = len(plan.state_exprs)
    src = [
        "def kernel(x0, " + ", ".join(f"P_{p}" for p in params)
        + ", max_iter, rtol_check, max_conc, osmotic, osm_o):",
        "    m = x0.shape[0]",
        "    x_out = np.empty(m)",
        "    solved = np.zeros(m, dtype=np.bool_)",
        "    for i in range(m):",
        *(f"{ind2}{p} = P_{p}[i]" for p in params),
        *_lines(fin.prepared, pr, ind2),
        f"{ind2}{x} = x0[i]",
        f"{ind2}conv = False",
        f"{ind2}for _it in range(max_iter):",
        *_lines(fin.dependent, pr, ind3),
        f"{ind3}r = {pr.doprint(fin.outputs[0])}",
        f"{ind3}dr = {pr.doprint(fin.outputs[1])}",
        f"{ind3}if not (dr > 0 and math.isfinite(r) and math.isfinite(dr)):",
        f"{ind3}    break",
        f"{ind3}step = min(max(r / dr, -1.0), 1.0)",
        f"{ind3}{x} = {x} - step",
        f"{ind3}if abs(step) <= 1e-13 * max(1.0, abs({x})):",
        f"{ind3}    conv = True",
        f"{ind3}    break",
        f"{ind2}x_out[i] = {x}",
        f"{ind2}if not (conv and math.isfinite({x})):",
        f"{ind2}    continue",
        *_lines(reps, pr, ind2),
    ]
    conc = [f"({pr.doprint(e)})" for e in post_red[:n_state - 1]]
    v = pr.doprint(post_red[n_state - 1])
    a_i = pr.doprint(post_red[n_state])
    checks = [pr.doprint(e) for e in post_red[n_state + 1:]]
    src += [
        f"{ind2}v = {v}",
        f"{ind2}if not math.isfinite(v):",
        f"{ind2}    continue",
        f"{ind2}ok = True",
    ]
    for c in conc:
        src += [f"{ind2}if not (math.isfinite{c} and {c} > 0 and {c} <= max_conc):",
                f"{ind2}    ok = False"]
    src += [
        f"{ind2}if not ok:",
        f"{ind2}    continue",
        f"{ind2}if osmotic and not ({a_i}) > 1e-9 * osm_o[i]:",
        f"{ind2}    continue",
        f"{ind2}worst = 0.0",
    ]
    for c in checks:
        src += [f"{ind2}worst = max(worst, {c})"]
    src += [f"{ind2}solved[i] = worst <= rtol_check", "    return x_out, solved"]
    return "\n".join(src) + "\n"


_COMPILED: dict[int, tuple[Membrane, Callable | None]] = {}


def compiled_solver(membrane: Membrane) -> Callable | None:
    """``solve(p, x0) -> (x, solved)`` compiled for ``membrane``, or None.

    ``p`` maps the membrane's parameters to 1-D float arrays (osmotic: ``osm_o_mOsm``
    filled in); ``x0`` warm-starts the master unknown (None: the plan's cold start).
    Compiled once per membrane model and process (a few seconds).
    """
    hit = _COMPILED.get(id(membrane))
    if hit is not None and hit[0] is membrane:
        return hit[1]
    src = kernel_source(membrane)
    if src is None:
        _COMPILED[id(membrane)] = (membrane, None)
        return None
    from numba import njit

    namespace = {"math": math, "np": np}
    exec(compile(src, f"<iongrad kernel {membrane.name}>", "exec"), namespace)
    kern = njit(namespace["kernel"], cache=False)
    plan = plan_for(membrane)
    osmotic = membrane.volume == "osmotic"

    def solve(p, x0):
        pv = [np.ascontiguousarray(p[k], dtype=np.float64) for k in plan.params]
        cold = x0 is None
        if cold:
            x0 = np.broadcast_to(plan._x0(*pv)[0], pv[0].shape)
        osm = p["osm_o_mOsm"] if osmotic else pv[0]
        return kern(np.ascontiguousarray(x0, dtype=np.float64), *pv, 25 if cold else 12,
                    1e-9, 2000.0, osmotic, np.ascontiguousarray(osm, dtype=np.float64))

    _COMPILED[id(membrane)] = (membrane, solve)
    return solve
