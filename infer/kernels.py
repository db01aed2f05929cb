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
Membrane models with coupled balances (:class:`iongrad.models.steady_coupled.CoupledPlan`)
get the compiled form of their multidimensional damped Newton instead
(:mod:`iongrad.infer.coupled_kernel`), with the same ``(x, reason, iterations, nums)``.

Nothing here is written by hand: the kernel's text is printed from the same SymPy
expressions that the NumPy and PyTensor code are generated from.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import types
from collections.abc import Callable
from pathlib import Path

import numpy as np
import sympy as sp
from sympy.printing.pycode import PythonCodePrinter

from iongrad.models.codegen import EXP_CLAMP
from iongrad.models.mechanisms.base import ghk_phi, ghk_phi_d1, ghk_phi_d2, voltage
from iongrad.models.membrane import Membrane, default_bath_osmolarity
from iongrad.models.steady_core import SteadyPlan, plan_for
from iongrad.models.steady_coupled import CoupledPlan, continuation_anchor

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
        if isinstance(e, ghk_phi):
            return f"_phi({self._print(e.args[0])})"
        if isinstance(e, ghk_phi_d1):
            return f"_phi_d1({self._print(e.args[0])})"
        if isinstance(e, ghk_phi_d2):
            raise NotImplementedError("no compiled Φ'' (not needed by the steady state)")
        return super()._print_Function(e)


def _lines(pairs, printer, indent):
    return [f"{indent}{s} = {printer.doprint(e)}" for s, e in pairs]


_RIDDERS = """
def {name}(lo, hi, flo, fhi, max_iter, {args}):
    # the scalar form of iongrad.models._roots.ridders (xtol 1e-14, ftol {ftol})
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
        fmid = {fn}(mid, {args})
        sq = math.sqrt(max(fmid * fmid - flo * fhi, 0.0))
        if sq > 0:
            sgn = -1.0 if flo < fhi else (1.0 if flo > fhi else 0.0)
            new = mid + (mid - lo) * sgn * fmid / sq
        else:
            new = mid
        new = min(max(new, min(lo, hi)), max(lo, hi))
        fnew = {fn}(new, {args})
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
        if (abs(fnew) <= {ftol} or abs(fmid) <= {ftol} or (hi - lo) <= tol
                or abs(x - x_prev) <= tol):
            done = True
    return x, done, it
"""

_BRACKET = """
def {name}(x0, {args}):
    # the scalar form of iongrad.models._roots.expand_bracket (start x0 +- {step}, step {step})
    lo, hi = x0 - {step}, x0 + {step}
    flo, fhi = {fn}(lo, {args}), {fn}(hi, {args})
    width = {step}
    for _ in range(60):
        need_lo = flo > 0
        need_hi = fhi < 0 and not need_lo
        if not (need_lo or need_hi):
            break
        if need_lo:
            hi, fhi = lo, flo
            lo = lo - width
            flo = {fn}(lo, {args})
        else:
            lo, flo = hi, fhi
            hi = hi + width
            fhi = {fn}(hi, {args})
        width *= 2.0
    ok = flo <= 0 and fhi >= 0 and math.isfinite(flo) and math.isfinite(fhi)
    return lo, hi, flo, fhi, ok
"""


def kernel_source(membrane: Membrane) -> str | None:
    """Python source of the compiled solver of ``membrane`` (None: no compiled solver).

    The same algorithm as :func:`iongrad.models.steady_core.solve_membrane` for one
    sample at a time: damped Newton on the master unknown with the generated slope,
    then (where Newton does not settle) bracket expansion and Ridders on the
    normalised residual, then the same checks and ``reason`` codes. For coupled
    balances (:class:`iongrad.models.steady_coupled.CoupledPlan`): the source of
    :func:`iongrad.infer.coupled_kernel.coupled_kernel_source`.
    """
    plan = plan_for(membrane)
    if isinstance(plan, CoupledPlan):
        from iongrad.infer.coupled_kernel import coupled_kernel_source

        return coupled_kernel_source(plan)
    if not isinstance(plan, SteadyPlan):
        return None
    pr = _ScalarPrinter({"fully_qualified_modules": False, "strict": False})
    params = [s.name for s in plan.param_symbols]
    x = plan.reduced_vars[0]
    ind1, ind2, ind3 = " " * 4, " " * 8, " " * 12
    k = len(plan.numeric_exprs)
    nums = [str(nv) for nv, *_ in plan.numeric_exprs]
    guesses = [f"g_{j}" for j in range(k)]
    if k == 0:
        fin = plan.final
        prep_names = [str(sym) for sym, _ in fin.prepared]
        prep = ", ".join(prep_names) if prep_names else "_unused"
        prepared_lines = _lines(fin.prepared, pr, ind2)
        resid = [f"def _resid({x}, {prep}):", *_lines(fin.dependent, pr, ind1),
                 f"{ind1}return ({pr.doprint(fin.outputs[0])}, "
                 f"{pr.doprint(fin.outputs[1])}, {pr.doprint(fin.outputs[-1])}, True)"]
        call = f"_resid({x}, {prep})"
    else:
        # numeric steps: a 1-D Newton per step inside the residual (as the NumPy
        # solver's reduced_residual does), derivatives chained through the steps
        prep = ", ".join(params)
        prepared_lines = []
        resid = [f"def _resid({x}, {', '.join(guesses)}, {prep}):", f"{ind1}ok = True"]
        inner = []
        dnames = []
        for j, (nv, b, db, dearlier, g) in enumerate(plan.numeric_exprs):
            earlier = [x, *plan.reduced_vars[1:1 + j]]
            args = ", ".join([f"sgn_{j}", *(str(e) for e in earlier), prep])
            # where Newton does not settle: bracket from its start outward and Ridders on
            # the balance made increasing (steady_core._bracketed_1d, step 10 mV for V)
            inner += [f"def _g_{j}({nv}, {args}):",
                      f"{ind1}return sgn_{j} * ({pr.doprint(b)})",
                      _BRACKET.format(name=f"_bracket_{j}", fn=f"_g_{j}", args=args,
                                      step="10.0" if nv == voltage() else "1.0"),
                      _RIDDERS.format(name=f"_ridders_{j}", fn=f"_g_{j}", args=args,
                                      ftol="0.0")]
            resid += [
                f"{ind1}{nv} = {guesses[j]} if math.isfinite({guesses[j]}) else "
                f"{pr.doprint(g)}",
                f"{ind1}start_{j} = {nv} if math.isfinite({nv}) else 0.0",
                f"{ind1}ok_{j} = False",
                f"{ind1}for _k in range(100):",
                f"{ind1}    st = ({pr.doprint(b)}) / ({pr.doprint(db)})",
                f"{ind1}    {nv} = {nv} - st",
                f"{ind1}    if abs(st) <= 1e-13 * max(1.0, abs({nv})):",
                f"{ind1}        ok_{j} = True",
                f"{ind1}        break",
                f"{ind1}    if not math.isfinite(st):",
                f"{ind1}        break",
                f"{ind1}if not ok_{j}:",
                f"{ind2}y_n = {nv}",
                f"{ind2}{nv} = start_{j}",
                f"{ind2}db_s = {pr.doprint(db)}",
                f"{ind2}sgn_{j} = -1.0 if (math.isfinite(db_s) and db_s < 0) else 1.0",
                f"{ind2}lo, hi, flo, fhi, br = _bracket_{j}(start_{j}, {args})",
                f"{ind2}if not br:",
                f"{ind2}    flo, fhi = -1.0, 1.0",
                f"{ind2}root, conv_r, _it = _ridders_{j}(lo, hi, flo, fhi, 200, {args})",
                f"{ind2}if conv_r and br and math.isfinite(root):",
                f"{ind2}    {nv} = root",
                f"{ind2}    ok_{j} = True",
                f"{ind2}else:",
                f"{ind2}    {nv} = y_n",
                f"{ind1}ok = ok and ok_{j}",
                f"{ind1}db_{j} = {pr.doprint(db)}",
            ]
            terms = [f"({pr.doprint(dearlier[0])})"]
            for i, _e in enumerate(earlier[1:]):
                terms.append(f"({pr.doprint(dearlier[1 + i])}) * {dnames[i]}")
            resid.append(f"{ind1}d_{j} = -({' + '.join(terms)}) / db_{j}")
            dnames.append(f"d_{j}")
        fe = plan.final_exprs
        dr = [f"({pr.doprint(fe[1])})"] + [f"({pr.doprint(fe[2 + j])}) * d_{j}"
                                           for j in range(k)]
        resid += [f"{ind1}return ({pr.doprint(fe[0])}, {' + '.join(dr)}, "
                  f"{pr.doprint(fe[-1])}, ok, {', '.join(nums)})"]
        resid = [*inner, *resid]
        call = f"_resid({x}, {', '.join(guesses)}, {prep})"
    cold = ", ".join(["np.nan"] * k)
    h_call = f"_resid({x}, {cold + ', ' if k else ''}{prep})"
    resid += ["", f"def _h({x}, {prep}):", f"{ind1}out = {h_call}",
              f"{ind1}return out[0] / out[2] if out[3] else np.nan"]
    # state, impermeant, checks: one cse over all of them
    svars = [*plan.membrane.state_symbols()]
    state_subs = dict(zip(svars, plan.state_exprs, strict=True))
    a_expr = plan.membrane.impermeant().xreplace(state_subs)
    post = [*plan.state_exprs, a_expr, *(c.xreplace(state_subs) for c in plan.check_exprs)]
    reps, post_red = sp.cse(post, symbols=sp.numbered_symbols("_s"), optimizations=None)
    n_state = len(plan.state_exprs)
    conc = [f"({pr.doprint(e)})" for e in post_red[:n_state - 1]]
    src = [
        *resid,
        _BRACKET.format(name="_bracket", fn="_h", args=prep, step="0.5"),
        _RIDDERS.format(name="_ridders", fn="_h", args=prep, ftol="1e-15"),
        "def kernel(x0, " + ", ".join(f"P_{p}" for p in params)
        + ", max_iter_newton, max_iter, rtol_check, max_conc, osmotic, osm_o):",
        f"{ind1}m = x0.shape[0]",
        f"{ind1}x_out = np.empty(m)",
        f"{ind1}reason = np.zeros(m, dtype=np.int64)",
        f"{ind1}iters = np.zeros(m, dtype=np.int64)",
        f"{ind1}nums_out = np.empty(({k}, m))",
        f"{ind1}for i in range(m):",
        *(f"{ind2}{p} = P_{p}[i]" for p in params),
        *prepared_lines,
        *([] if k or prep_names else [f"{ind2}_unused = 0.0"]),
        *(f"{ind2}{g} = np.nan" for g in guesses),
        f"{ind2}x_cold = {pr.doprint(plan.x0_expr)}",
        f"{ind2}{x} = x0[i] if math.isfinite(x0[i]) else x_cold",
        f"{ind2}conv = False",
        f"{ind2}for _it in range(max_iter_newton):",
        f"{ind3}out = {call}",
        f"{ind3}r, dr, ok = out[0], out[1], out[3]",
        *(f"{ind3}{g} = out[{4 + j}]" for j, g in enumerate(guesses)),
        f"{ind3}if not (ok and dr > 0 and math.isfinite(r) and math.isfinite(dr)):",
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
        *([f"{ind2}out = _resid({x}, {cold}, {prep})",
           f"{ind2}ok_inner = out[3]"] if k else [f"{ind2}ok_inner = True"]),
        *(f"{ind2}{nums[j]} = out[{4 + j}]" for j in range(k)),
        *(f"{ind2}nums_out[{j}, i] = {nums[j]}" for j in range(k)),
        f"{ind2}code = 0",
        f"{ind2}if not conv or not ok_inner:",
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
        f"{ind1}return x_out, reason, iters, nums_out",
    ]
    return "\n".join(src) + "\n"


_COMPILED: dict[int, tuple[Membrane, Callable | None]] = {}


def compiled_solver(membrane: Membrane) -> Callable | None:
    """``solve(p, x0) -> (x, reason, iterations, nums)`` compiled for ``membrane``, or
    None.

    ``p`` maps the membrane's parameters to 1-D float arrays (osmotic: ``osm_o_mOsm``
    filled in), valid by construction; ``x0`` warm-starts the master unknown (None:
    the plan's cold start). ``x`` and the rows of ``nums`` are the plan's reduced
    unknowns (``plan.reduced_vars``). The same answers and ``reason`` codes as the
    NumPy solver (for coupled balances, its starts and its parameter continuation;
    ``x0`` is not used).
    Compiled once per membrane model and process (a few seconds).
    """
    kern = compiled_kernel(membrane)
    if kern is None:
        return None
    plan = plan_for(membrane)
    osmotic = membrane.volume == "osmotic"
    if isinstance(plan, CoupledPlan):
        anchor = continuation_anchor(plan)

        def solve_coupled(p, x0):
            # x0 unused: the coupled solver always runs its starts (as the NumPy one)
            pv = [np.ascontiguousarray(p[k], dtype=np.float64) for k in plan.params]
            osm = p["osm_o_mOsm"] if osmotic else pv[0]
            return kern(*pv, anchor, 1e-9, 2000.0, osmotic,
                        np.ascontiguousarray(osm, np.float64))

        return solve_coupled

    def solve(p, x0):
        pv = [np.ascontiguousarray(p[k], dtype=np.float64) for k in plan.params]
        cold = x0 is None
        x0 = np.full(pv[0].shape, np.nan) if cold else np.ascontiguousarray(x0, np.float64)
        osm = p["osm_o_mOsm"] if osmotic else pv[0]
        return kern(x0, *pv, 25 if cold else 12, 100, 1e-9, 2000.0, osmotic,
                    np.ascontiguousarray(osm, dtype=np.float64))

    return solve


_HEADER = """# Generated by iongrad.infer.kernels from the rate laws of membrane model {name!r}.
import math

import numpy as np
from numba import njit

from iongrad.models.codegen import phi_d1_scalar, phi_scalar

_phi = njit(cache=True, error_model="numpy")(phi_scalar)
_phi_d1 = njit(cache=True, error_model="numpy")(phi_d1_scalar)
"""


def _cache_dir() -> Path | None:
    """Where generated kernels are kept so numba can cache their machine code
    (``$IONGRAD_CACHE_DIR``, else ``$XDG_CACHE_HOME/iongrad/kernels``, else
    ``~/.cache/iongrad/kernels``); None when it cannot be created."""
    base = os.environ.get("IONGRAD_CACHE_DIR")
    if not base:
        xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"),
                                                               ".cache")
        base = os.path.join(xdg, "iongrad", "kernels")
    path = Path(base)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return path if os.access(path, os.W_OK) else None


def _load(src: str, tag: str):
    """Import generated source as a module: from a file in the cache directory (numba
    then caches the compiled code next to it, so later processes load it in a
    fraction of a second), or in memory when there is no writable cache."""
    import numba

    digest = hashlib.sha256((src + numba.__version__).encode()).hexdigest()[:20]
    name = f"iongrad_{tag}_{digest}"
    if name in sys.modules:
        return sys.modules[name]
    folder = _cache_dir()
    if folder is not None:
        path = folder / f"{name}.py"
        if not path.exists():
            tmp = folder / f".{name}.{os.getpid()}.tmp"
            tmp.write_text(src)
            os.replace(tmp, path)  # atomic: a concurrent process sees all or nothing
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        return module
    module = types.ModuleType(name)
    exec(compile(src.replace("cache=True", "cache=False"), f"<{name}>", "exec"),
         module.__dict__)
    sys.modules[name] = module
    return module


#: numba's default ("python") raises ZeroDivisionError on a float division by zero; an
#: extreme draw must give inf/NaN instead, which the solver's checks report as "no steady
#: state" (a rejected draw), as the NumPy solver does.
_NJIT = '@njit(cache=True, error_model="numpy")'


def _decorated(src: str) -> str:
    """Every top-level function of ``src`` compiled by numba (with an on-disk cache and
    IEEE division: x/0 is ±inf or NaN, never an exception)."""
    return "\n".join((_NJIT + "\n" + line) if line.startswith("def ") else line
                     for line in src.split("\n"))


def compiled_kernel(membrane: Membrane) -> Callable | None:
    """The numba-compiled ``kernel`` of :func:`kernel_source` (None: no kernel)."""
    hit = _COMPILED.get(id(membrane))
    if hit is not None and hit[0] is membrane:
        return hit[1]
    src = kernel_source(membrane)
    if src is None:
        _COMPILED[id(membrane)] = (membrane, None)
        return None
    module = _load(_HEADER.format(name=membrane.name) + "\n" + _decorated(src), "kernel")
    _COMPILED[id(membrane)] = (membrane, module.kernel)
    return module.kernel


def placeholder_values(membrane: Membrane) -> dict[str, float]:
    """In-domain values solved in place of out-of-domain samples (whose outputs are then
    masked): the registry defaults, with a plain 300 mOsm bath (its default is nan)."""
    return {k: 300.0 if k == "osm_o_mOsm" else float(d)
            for k, d in membrane.defaults().items()}


def op_implementation(membrane: Membrane, positive: tuple[str, ...], nonneg: tuple[str, ...],
                      fallback: tuple[float, ...]) -> Callable | None:
    """A numba function ``(P_1, ..., P_n) -> (y_1, ..., y_d, feasible)`` for the Op.

    What :meth:`iongrad.infer.steady_op.SteadyStateOp.perform` does, compiled: the
    domain check, the default bath osmolarity, the compiled solver (cold start) and the
    placeholder state where there is no steady state. Registered with PyTensor's numba
    backend so that a model compiled in numba mode (PyMC's ``compile_kwargs``, nutpie)
    runs the Op without object mode. None when the membrane has no compiled solver.

    For coupled balances the compiled solver runs the NumPy solver's starts and its
    parameter continuation, as in the Python path.
    """
    kern = compiled_kernel(membrane)
    if kern is None:
        return None
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
        o = arg["osm_o_mOsm"]
        default = default_bath_osmolarity(sp.Symbol(arg["na_o_mM"]), sp.Symbol(arg["k_o_mM"]))
        lines += [f"    osm = np.where(np.isnan({o}), {default}, {o})",
                  "    for i in range(n):",
                  "        if not osm[i] > 0:",
                  "            ok[i] = False"]
    else:
        lines.append(f"    osm = {arg[names[0]]}")
    placeholder = placeholder_values(membrane)
    safe = [f"np.where(ok, {'osm' if k == 'osm_o_mOsm' else arg[k]}, {placeholder[k]!r})"
            for k in names]
    # a coupled plan's kernel takes no start and no budgets (it runs its own starts)
    coupled = isinstance(plan, CoupledPlan)
    head = "" if coupled else "x0, "
    budgets = "anchor, " if coupled else "25, 100, "
    lines += [
        *(["    anchor = np.array(["
           + ", ".join(repr(float(a)) if np.isfinite(a) else "np.nan"
                       for a in continuation_anchor(plan)) + "])"]
          if coupled else ["    x0 = np.full(n, np.nan)"]),
        f"    x, reason, _, nums = kern({head}{', '.join(safe)}, {budgets}1e-9, 2000.0, "
        f"{osmotic}, np.where(ok, osm, {placeholder.get('osm_o_mOsm', 300.0)!r}))",
        "    feasible = ok & (reason == 0)",
        f"    x = np.where(feasible, x, {fallback[0]!r})",
        *(f"    y{j} = np.where(feasible, nums[{j - 1}], {fallback[j]!r})"
          for j in range(1, len(fallback))),
        "    return (x, " + "".join(f"y{j}, " for j in range(1, len(fallback)))
        + "feasible.astype(np.int8))",
    ]
    src = (_HEADER.format(name=membrane.name)
           + f"from {kern.__module__} import kernel as kern\n\n\n")
    module = _load(src + _decorated("\n".join(lines) + "\n"), "op")
    return module.op_impl
