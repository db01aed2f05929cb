"""Compiled right-hand side of a run-down ODE and its derivatives, printed from the rate laws.

An ODE integrator asks for one state at a time, so the cost is the call, not the
arithmetic: the kernel is compiled with numba (about a microsecond per evaluation of
``f``, ``J = ∂f/∂y`` and ``∂f/∂ln θ`` instead of tens of microseconds of vectorised
NumPy on one state). Its text is printed from the symbolic system of
:class:`iongrad.models.rundown_system.RundownSystem` — the rates, the total current
and their ``sympy.diff`` derivatives — for one set of differentiated parameters; the
driver around it (the potential root, the implicit-function-theorem chain rule, the
sensitivity-augmented system) is the same for every membrane model.

Parameters reach the kernel as one float vector ``q`` in the order of
``system.params``; ``t < 0`` is the drive before the onset.
"""

from __future__ import annotations

from collections.abc import Sequence

import sympy as sp

from iongrad.infer.kernels import _HEADER, _decorated, _load, _ScalarPrinter
from iongrad.models.rundown_system import STARTED, TAU, RundownSystem

__all__ = ["BAD_POTENTIAL", "BAD_STATE", "OK", "compiled_rundown"]

OK, BAD_STATE, BAD_POTENTIAL = 0, 1, 2

_DRIVER = """
def potential(y, tau, started, q, v0):
    # zero-current V (mV) by Newton's method from v0 (the last root: two or three steps),
    # safeguarded by bisection once the root is bracketed (the current is strictly
    # increasing in V, so every evaluation moves one end of the bracket) and with steps
    # of at most 100 mV before that
    x = v0 if math.isfinite(v0) else -60.0
    lo, hi = -math.inf, math.inf
    for _ in range(200):
        i, di = _current(x, y, tau, started, q)
        if not (math.isfinite(i) and math.isfinite(di)):
            return x, False
        if i == 0:
            return x, True
        if i < 0:
            lo = x
        else:
            hi = x
        xn = x - i / di if di > 0 else math.nan
        if not (xn > lo and xn < hi):
            if math.isfinite(lo) and math.isfinite(hi):
                xn = 0.5 * (lo + hi)
            elif i < 0:
                xn = x + 100.0
            else:
                xn = x - 100.0
        elif abs(xn - x) > 100.0:
            xn = x + (100.0 if xn > x else -100.0)
        tol = 1e-13 * max(1.0, abs(xn))
        if abs(xn - x) <= tol or hi - lo <= tol:
            return xn, True
        x = xn
    return x, False


def evaluate(t, y, q, vbuf, f, jac, fth, dvdy, dvdth, derivatives, scratch):
    # rates f (and J, dF/dln theta, dV/dy, dV/dln theta) at one state; returns (status, V);
    # scratch: 2 n + P floats
    n = y.shape[0]
    for i in range(n):
        if not y[i] > 0:
            return 1, 0.0
    tau = t if t >= 0 else 0.0
    started = 1.0 if t >= 0 else 0.0
    v, ok = potential(y, tau, started, q, vbuf[0])
    if not ok:
        return 2, v
    vbuf[0] = v
    if not derivatives:
        _rates(v, y, tau, started, q, f)
        return 0, v
    npar = fth.shape[1]
    fv = scratch[:n]
    iy = scratch[n:2 * n]
    ith = scratch[2 * n:2 * n + npar]
    iv = _parts(v, y, tau, started, q, f, jac, fv, iy, fth, ith)
    for j in range(n):
        dvdy[j] = -iy[j] / iv
    for k in range(npar):
        dvdth[k] = -ith[k] / iv
    for i in range(n):
        for j in range(n):
            jac[i, j] += fv[i] * dvdy[j]
        for k in range(npar):
            fth[i, k] += fv[i] * dvdth[k]
    return 0, v


def rhs_augmented(t, yy, q, vbuf, f, jac, fth, dvdy, dvdth, scratch):
    # d/dt of (y, S) with S = dy/dln theta (n x P, row-major): (f, J S + F_theta)
    n = jac.shape[0]
    npar = fth.shape[1]
    status, _ = evaluate(t, yy[:n], q, vbuf, f[:n], jac, fth, dvdy, dvdth, True, scratch)
    if status != 0:
        return status
    for i in range(n):
        for k in range(npar):
            acc = fth[i, k]
            for j in range(n):
                acc += jac[i, j] * yy[n + j * npar + k]
            f[n + i * npar + k] = acc
    return 0


def jac_augmented(t, yy, q, vbuf, big, f_scratch, jac, fth, dvdy, dvdth, scratch):
    # Jacobian of the augmented system for the integrator's Newton matrix: I (x) J
    n = jac.shape[0]
    npar = fth.shape[1]
    status, _ = evaluate(t, yy[:n], q, vbuf, f_scratch, jac, fth, dvdy, dvdth, True,
                         scratch)
    if status != 0:
        return status
    big[:, :] = 0.0
    for i in range(n):
        for j in range(n):
            big[i, j] = jac[i, j]
            for k in range(npar):
                big[n + i * npar + k, n + j * npar + k] = jac[i, j]
    return 0


def potentials(taus, ys, q, vbuf, v_out, dvdy, dvdth):
    # V, dV/dy and dV/dln theta at many states (rows of ys; taus < 0: before the onset)
    m, n = ys.shape
    npar = dvdth.shape[1]
    f = np.empty(n)
    jac = np.empty((n, n))
    fth = np.empty((n, npar))
    scratch = np.empty(2 * n + npar)
    for r in range(m):
        status, v = evaluate(taus[r], ys[r], q, vbuf, f, jac, fth, dvdy[r], dvdth[r], True,
                             scratch)
        if status != 0:
            return status
        v_out[r] = v
    return 0

def steady(y_in, y_out, q, vbuf, max_iter, full, f, jac, fth, dvdy, dvdth, scratch, m):
    # the pump-leak steady state before the onset by Newton's method from y_in (in place):
    # every inside balance but the last, closed by electroneutrality (the rates obey
    # sum z_X f_X = 0 at zero current). Returns (status, converged); on success full,
    # jac, fth and m (the Newton matrix) hold the values at the converged state.
    k = y_in.shape[0]
    g = np.empty(k)
    res = np.empty(k)
    converged = False
    for it in range(max_iter + 1):
        full[:k] = y_in
        full[k:] = y_out
        status, _ = evaluate(-1.0, full, q, vbuf, f, jac, fth, dvdy, dvdth, True, scratch)
        if status != 0:
            return status, False
        c = _closing(full, q, g)
        for i in range(k - 1):
            res[i] = f[i]
            for j in range(k):
                m[i, j] = jac[i, j]
        res[k - 1] = c
        for j in range(k):
            m[k - 1, j] = g[j]
        if converged or it == max_iter:
            return 0, converged
        step = np.linalg.solve(m, -res)
        small = True
        for i in range(k):
            new = y_in[i] + step[i]
            if not new > 0:
                return 0, False
            if abs(step[i]) > 1e-12 * abs(new):
                small = False
            y_in[i] = new
        converged = small
    return 0, False
"""


def kernel_source(system: RundownSystem, free: Sequence[str]) -> str:
    """Python source of the kernel of ``system`` differentiated in ``free``."""
    printer = _ScalarPrinter()
    d = system.partials(free)
    v, n = system.voltage, system.n
    unpack = [f"    {s.name} = y[{i}]" for i, s in enumerate(system.states)]
    unpack += [f"    {s.name} = q[{j}]" for j, s in enumerate(system.params)]
    args = "v_mV, y, tau_s, started, q"
    assert TAU.name == "tau_s" and STARTED.name == "started" and v.name == "v_mV"

    def body(targets, exprs):
        reps, red = sp.cse(list(exprs), symbols=sp.numbered_symbols("_c"))
        lines = [f"    {s} = {printer.doprint(e)}" for s, e in reps]
        lines += [f"    {t} = {printer.doprint(e)}" for t, e in zip(targets, red, strict=True)]
        return lines

    src = [f"def _current({args}):", *unpack,
           *body(["_i", "_di"], [system.current, system.current_dv]),
           "    return _i, _di", "",
           f"def _rates({args}, f):", *unpack,
           *body([f"f[{i}]" for i in range(n)], d["f"]), "", ""]
    targets, exprs = [], []
    for i in range(n):
        targets.append(f"f[{i}]")
        exprs.append(d["f"][i])
        for j in range(n):
            targets.append(f"fy[{i}, {j}]")
            exprs.append(d["fy"][i][j])
        targets.append(f"fv[{i}]")
        exprs.append(d["fv"][i])
        for k in range(len(free)):
            targets.append(f"fth[{i}, {k}]")
            exprs.append(d["fth"][i][k])
    for j in range(n):
        targets.append(f"iy[{j}]")
        exprs.append(d["iy"][j])
    for k in range(len(free)):
        targets.append(f"ith[{k}]")
        exprs.append(d["ith"][k])
    targets.append("_iv")
    exprs.append(d["iv"][0])
    src += [f"def _parts({args}, f, fy, fv, iy, fth, ith):", *unpack,
            *body(targets, exprs), "    return _iv", ""]
    cons, grad = system.conservation
    src += ["def _closing(y, q, g):", *unpack,
            *body([f"g[{i}]" for i in range(len(grad))] + ["_c"], [*grad, cons]),
            "    return _c", ""]
    return "\n".join(src) + _DRIVER


_COMPILED: dict[tuple, tuple[RundownSystem, object]] = {}


def compiled_rundown(system: RundownSystem, free: Sequence[str]):
    """The compiled kernel module of ``system`` for the parameters ``free``
    (functions ``evaluate``, ``rhs_augmented``, ``jac_augmented``, ``potentials``,
    ``potential``); compiled once per process and cached on disk."""
    key = (id(system), tuple(free))
    hit = _COMPILED.get(key)
    if hit is not None and hit[0] is system:
        return hit[1]
    src = _HEADER.format(name=system.membrane.name) + "\n" + _decorated(
        kernel_source(system, free))
    module = _load(src, "rundown")
    _COMPILED[key] = (system, module)
    return module

