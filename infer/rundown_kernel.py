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
    # zero-current V (mV): bracket by expanding steps from v0, then Newton safeguarded
    # by bisection (the current is strictly increasing in V)
    x = v0 if math.isfinite(v0) else -60.0
    lo, hi = x - 1.0, x + 1.0
    flo = _current(lo, y, tau, started, q)[0]
    fhi = _current(hi, y, tau, started, q)[0]
    width = 20.0
    for _ in range(60):
        if flo > 0:
            hi, fhi = lo, flo
            lo = lo - width
            flo = _current(lo, y, tau, started, q)[0]
        elif fhi < 0:
            lo, flo = hi, fhi
            hi = hi + width
            fhi = _current(hi, y, tau, started, q)[0]
        else:
            break
        width *= 2.0
    if not (flo <= 0 and fhi >= 0 and math.isfinite(flo) and math.isfinite(fhi)):
        return x, False
    if flo == 0:
        return lo, True
    if fhi == 0:
        return hi, True
    x = min(max(x, lo), hi)
    for _ in range(100):
        i, di = _current(x, y, tau, started, q)
        if i == 0:
            return x, True
        if i < 0:
            lo = x
        else:
            hi = x
        xn = x - i / di if di > 0 else 0.5 * (lo + hi)
        if not (xn > lo and xn < hi):
            xn = 0.5 * (lo + hi)
        tol = 1e-13 * max(1.0, abs(xn))
        if abs(xn - x) <= tol or hi - lo <= tol:
            return xn, math.isfinite(xn)
        x = xn
    return x, False


def evaluate(t, y, q, vbuf, f, jac, fth, dvdy, dvdth, derivatives):
    # rates f (and J, dF/dln theta, dV/dy, dV/dln theta) at one state; returns (status, V)
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
    fv = np.empty(n)
    iy = np.empty(n)
    ith = np.empty(npar)
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


def rhs_augmented(t, yy, q, vbuf, f, jac, fth, dvdy, dvdth):
    # d/dt of (y, S) with S = dy/dln theta (n x P, row-major): (f, J S + F_theta)
    n = jac.shape[0]
    npar = fth.shape[1]
    status, _ = evaluate(t, yy[:n], q, vbuf, f[:n], jac, fth, dvdy, dvdth, True)
    if status != 0:
        return status
    for i in range(n):
        for k in range(npar):
            acc = fth[i, k]
            for j in range(n):
                acc += jac[i, j] * yy[n + j * npar + k]
            f[n + i * npar + k] = acc
    return 0


def jac_augmented(t, yy, q, vbuf, big, f_scratch, jac, fth, dvdy, dvdth):
    # Jacobian of the augmented system for the integrator's Newton matrix: I (x) J
    n = jac.shape[0]
    npar = fth.shape[1]
    status, _ = evaluate(t, yy[:n], q, vbuf, f_scratch, jac, fth, dvdy, dvdth, True)
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
    for r in range(m):
        status, v = evaluate(taus[r], ys[r], q, vbuf, f, jac, fth, dvdy[r], dvdth[r], True)
        if status != 0:
            return status
        v_out[r] = v
    return 0
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
