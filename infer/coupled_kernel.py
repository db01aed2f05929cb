"""Compiled per-sample steady-state solver of a membrane model with coupled balances.

The scalar form of :func:`iongrad.models.steady_coupled.solve_coupled` for
:class:`iongrad.models.steady_coupled.CoupledPlan` (a cotransporter moving Na+, K+ and
Cl- together, an exchanger coupling Na+ and Ca2+): the unknowns ``z = (ln c_X..., V)``,
the flux balance of every ion and electroneutrality as the equations, each sample
solved by the same damped Newton as :meth:`CoupledPlan.newton` (steps capped by
``_MAX_STEP_LN`` in ``ln c`` and ``_MAX_STEP_MV`` in V, an Armijo line search on the
normalised residual), from the starts of ``_STARTS_MV`` in turn (every start with a
short iteration budget, then every start again with a long one), followed by the same
checks and ``reason`` codes as :func:`iongrad.models.steady_core.solve_membrane`
(0, 2, 3, 4, 5). The small linear system of each Newton step (3 to 5 unknowns) is
solved by Gaussian elimination with partial pivoting.

The sets no start reaches are solved, as by the NumPy solver, by parameter
continuation (``_continuation``) from the composition's defaults, the anchor taken from
the first such set of the batch; a set the continuation does not reach either comes
back with reason 2 (:func:`iongrad.infer.steady_op._solve` then asks the NumPy solver
for it).

Every expression in the generated text is printed from the plan's SymPy expressions
(``reduced_residuals``, the balance scales, their Jacobian, the starts, the state and
the checks); the iteration itself is the template below.
"""

from __future__ import annotations

import sympy as sp

from iongrad.models.steady_coupled import (
    _ANCHOR_ITER,
    _ARMIJO,
    _BUDGETS,
    _CONT_ITER,
    _DS0,
    _DS_MAX,
    _HALVINGS,
    _MAX_ROUNDS,
    _MAX_STEP_LN,
    _MAX_STEP_MV,
    _MERIT_TOL,
    _MIN_DS,
    _STARTS_MV,
    _STEP_TOL,
    _TINY,
    CoupledPlan,
)

__all__ = ["coupled_exprs", "coupled_kernel_source"]

def coupled_exprs(plan: CoupledPlan) -> dict:
    """The plan's system, symbolically: unknowns, residuals, their scales and Jacobian
    (row-major), as :class:`CoupledPlan` built them for its NumPy solver."""
    return {"z": list(plan.reduced_vars), "residuals": list(plan.reduced_residuals),
            "scales": list(plan.reduced_scales), "jacobian": list(plan.reduced_jacobian)}


def _unpack(plan, ind, with_z=True):
    lines = [f"{ind}{s.name} = _pp[{j}]" for j, s in enumerate(plan.param_symbols)]
    if with_z:
        lines += [f"{ind}{s.name} = _z[{i}]" for i, s in enumerate(plan.reduced_vars)]
    return lines


def _assignments(exprs, targets, pr, ind):
    """``target = expr`` lines, common subexpressions shared."""
    reps, red = sp.cse(list(exprs), symbols=sp.numbered_symbols("_c"), optimizations=None)
    return ([f"{ind}{s} = {pr.doprint(e)}" for s, e in reps]
            + [f"{ind}{t} = {pr.doprint(e)}" for t, e in zip(targets, red, strict=True)])


_TEMPLATE = """
def _merit(_z, _pp, _f, _s):
    _resid(_z, _pp, _f, _s)
    total = 0.0
    for r in range(_f.shape[0]):
        q = _f[r] / (_s[r] + {tiny!r})
        total += q * q
    return total


def _lin_solve(a, b, out):
    # Gaussian elimination with partial pivoting of a (d, d) system, in place in a and
    # b; False where a pivot is exactly zero (a singular matrix, as LAPACK reports it)
    d = b.shape[0]
    for c in range(d):
        piv = c
        big = abs(a[c, c])
        for r in range(c + 1, d):
            if abs(a[r, c]) > big:
                big = abs(a[r, c])
                piv = r
        if big == 0.0:
            return False
        if piv != c:
            for k in range(d):
                t = a[c, k]
                a[c, k] = a[piv, k]
                a[piv, k] = t
            t = b[c]
            b[c] = b[piv]
            b[piv] = t
        for r in range(c + 1, d):
            fac = a[r, c] / a[c, c]
            for k in range(c + 1, d):
                a[r, k] -= fac * a[c, k]
            b[r] -= fac * b[c]
    for c in range(d - 1, -1, -1):
        acc = b[c]
        for k in range(c + 1, d):
            acc -= a[c, k] * out[k]
        out[c] = acc / a[c, c]
    return True


def _newton(_z, _pp, max_iter, f, s, jm, rhs, step, trial, f1, s1):
    # CoupledPlan.newton for one sample; returns (converged, iterations)
    d = _z.shape[0]
    m0 = _merit(_z, _pp, f, s)
    conv = False
    it = 0
    while it < max_iter:
        it += 1
        _jac(_z, _pp, jm)
        good = True
        for r in range(d):
            if not math.isfinite(f[r]):
                good = False
            for c in range(d):
                if not math.isfinite(jm[r, c]):
                    good = False
        if good:
            for r in range(d):
                rhs[r] = -f[r]
            good = _lin_solve(jm, rhs, step)
        accepted = False
        alpha = 1.0
        m1 = m0
        if good:
            cap = 0.0
            finite = True
            for r in range(d):
                if not math.isfinite(step[r]):
                    finite = False
                q = abs(step[r]) / ({step_mv!r} if r == d - 1 else {step_ln!r})
                if q > cap:
                    cap = q
            if finite:
                if cap > 1.0:
                    for r in range(d):
                        step[r] /= cap
                for _ls in range({halvings}):
                    for r in range(d):
                        trial[r] = _z[r] + alpha * step[r]
                    m1 = _merit(trial, _pp, f1, s1)
                    if math.isfinite(m1) and m1 <= (1 - {armijo!r} * alpha) * m0:
                        accepted = True
                        break
                    alpha *= 0.5
            if accepted:
                moved = 0.0
                scale = 1.0
                for r in range(d):
                    moved = max(moved, abs(step[r]) * alpha)
                    scale = max(scale, abs(_z[r]))
                for r in range(d):
                    _z[r] = trial[r]
                    f[r] = f1[r]
                    s[r] = s1[r]
                m0 = m1
                if moved <= {step_tol!r} * scale:
                    conv = True
        if m0 <= {merit_tol!r}:
            conv = True
        if conv or not good or not accepted:
            break
    return conv, it


def _continue(zc, start, anchor, target, th, zt, f, s, jm, rhs, step, trial, f1, s1):
    # _continuation for one sample: from the defaults' solution ``start`` (parameters
    # ``anchor``) to ``target`` along theta(s) = anchor^(1-s) target^s (linear where
    # either end is not positive); True when s = 1 was reached
    d = zc.shape[0]
    for r in range(d):
        zc[r] = start[r]
    sc = 0.0
    ds = {ds0!r}
    for _round in range({max_rounds}):
        sn = min(sc + ds, 1.0)
        for j in range(target.shape[0]):
            a = anchor[j]
            t = target[j]
            if a > 0 and t > 0:
                th[j] = a * (t / a) ** sn
            else:
                th[j] = a + (t - a) * sn
        for r in range(d):
            zt[r] = zc[r]
        ct, _it = _newton(zt, th, {cont_iter}, f, s, jm, rhs, step, trial, f1, s1)
        ok = ct
        for r in range(d):
            if not math.isfinite(zt[r]):
                ok = False
        if ok:
            for r in range(d):
                zc[r] = zt[r]
            sc = sn
            ds = min(2.0 * ds, {ds_max!r})
            if sn >= 1.0:
                return True
        else:
            ds = 0.5 * ds
            if ds < {min_ds!r}:
                return False
    return False
"""


def coupled_kernel_source(plan: CoupledPlan) -> str:
    """Python source of the compiled solver of a coupled plan (see the module docstring).

    ``kernel(P_1, ..., P_n, anchor, rtol_check, max_conc, osmotic, osm_o)`` returns
    ``(x, reason, iterations, nums)``: ``x`` the first unknown (``ln`` of the first
    ion's concentration), ``nums`` the others (rows), ``iterations`` the Newton
    iterations taken over all starts (the continuation's not counted), ``reason`` the
    NumPy solver's codes. ``anchor``: :func:`iongrad.models.steady_coupled.continuation_anchor`.
    """
    from iongrad.infer.kernels import _ScalarPrinter

    pr = _ScalarPrinter({"fully_qualified_modules": False, "strict": False})
    ex = coupled_exprs(plan)
    d = plan.dim
    params = [s.name for s in plan.param_symbols]
    ind1, ind2, ind3 = " " * 4, " " * 8, " " * 12
    resid = ["def _resid(_z, _pp, _f, _s):", *_unpack(plan, ind1),
             *_assignments([*ex["residuals"], *ex["scales"]],
                           [*(f"_f[{i}]" for i in range(d)), *(f"_s[{i}]" for i in range(d))],
                           pr, ind1)]
    jac = ["def _jac(_z, _pp, _j):", *_unpack(plan, ind1),
           *_assignments(ex["jacobian"], [f"_j[{i // d}, {i % d}]" for i in range(d * d)],
                         pr, ind1)]
    v = plan.reduced_vars[-1]
    start = [f"def _start({v.name}, _pp, _z):", *_unpack(plan, ind1, with_z=False),
             *_assignments(plan._start, [f"_z[{i}]" for i in range(d - 1)], pr, ind1),
             f"{ind1}_z[{d - 1}] = {v.name}"]
    # state, impermeant, checks: one cse over all of them
    m = plan.membrane
    svars = [*m.state_symbols()]
    state_subs = dict(zip(svars, plan.state_exprs, strict=True))
    a_expr = m.impermeant().xreplace(state_subs)
    post = [*plan.state_exprs, a_expr, *(c.xreplace(state_subs) for c in plan.check_exprs)]
    reps, post_red = sp.cse(post, symbols=sp.numbered_symbols("_c"), optimizations=None)
    n_state = len(plan.state_exprs)
    concs = [f"({pr.doprint(e)})" for e in post_red[:n_state - 1]]
    classify = [
        "def _reason(_z, _pp, conv, rtol_check, max_conc, osmotic, osm_o):",
        *_unpack(plan, ind1),
        f"{ind1}code = 0 if conv else 2",
        *(f"{ind1}{s} = {pr.doprint(e)}" for s, e in reps),
        f"{ind1}v = {pr.doprint(post_red[n_state - 1])}",
        f"{ind1}a_i = {pr.doprint(post_red[n_state])}",
        f"{ind1}if code == 0 and osmotic and not a_i > 1e-9 * osm_o:",
        f"{ind1}    code = 4",
        f"{ind1}if code == 0 and ({' or '.join(f'{c} > max_conc' for c in concs)}):",
        f"{ind1}    code = 5",
        f"{ind1}valid = math.isfinite(v) and "
        + " and ".join(f"math.isfinite{c} and {c} > 0" for c in concs),
        f"{ind1}if code == 0:",
        f"{ind2}if not valid:",
        f"{ind2}    code = 3",
        f"{ind2}else:",
        f"{ind2}    worst = 0.0",
        *(f"{ind2}    worst = max(worst, {pr.doprint(c)})" for c in post_red[n_state + 1:]),
        f"{ind2}    if not worst <= rtol_check:",
        f"{ind2}        code = 3",
        f"{ind1}return code",
    ]
    kernel = [
        "def kernel(" + ", ".join(f"P_{p}" for p in params)
        + ", anchor, rtol_check, max_conc, osmotic, osm_o):",
        f"{ind1}n = P_{params[0]}.shape[0]",
        f"{ind1}x_out = np.empty(n)",
        f"{ind1}reason = np.zeros(n, dtype=np.int64)",
        f"{ind1}iters = np.zeros(n, dtype=np.int64)",
        f"{ind1}nums_out = np.empty(({d - 1}, n))",
        f"{ind1}zs = np.empty(({d}, n))",
        f"{ind1}conv_all = np.zeros(n, dtype=np.bool_)",
        f"{ind1}_pp = np.empty({len(params)})",
        f"{ind1}_z = np.empty({d})",
        *(f"{ind1}{a} = np.empty({d})"
          for a in ("f", "s", "rhs", "step", "trial", "f1", "s1", "zt", "z0")),
        f"{ind1}jm = np.empty(({d}, {d}))",
        f"{ind1}first = -1",
        f"{ind1}for i in range(n):",
        *(f"{ind2}_pp[{j}] = P_{p}[i]" for j, p in enumerate(params)),
        f"{ind2}conv = False",
        f"{ind2}total = 0",
        f"{ind2}for max_iter in _BUDGETS:",
        f"{ind3}for v0 in _STARTS_MV:",
        f"{ind3}    _start(v0, _pp, _z)",
        f"{ind3}    conv, it = _newton(_z, _pp, max_iter, f, s, jm, rhs, step, trial, f1, s1)",
        f"{ind3}    total += it",
        f"{ind3}    if conv:",
        f"{ind3}        break",
        f"{ind3}if conv:",
        f"{ind3}    break",
        f"{ind2}zs[:, i] = _z",
        f"{ind2}conv_all[i] = conv",
        f"{ind2}iters[i] = total",
        f"{ind2}if not conv and first < 0:",
        f"{ind2}    first = i",
        f"{ind1}if first >= 0:",
        f"{ind2}# continuation: the anchor of the first open set, as the NumPy solver takes",
        f"{ind2}# (its own value where a parameter has no default), solved from the starts",
        f"{ind2}a0 = np.empty({len(params)})",
        f"{ind2}anc = np.empty({len(params)})",
        f"{ind2}th = np.empty({len(params)})",
        *(f"{ind2}a0[{j}] = anchor[{j}] if math.isfinite(anchor[{j}]) else P_{p}[first]"
          for j, p in enumerate(params)),
        f"{ind2}found = False",
        f"{ind2}for v0 in _STARTS_MV:",
        f"{ind2}    _start(v0, a0, z0)",
        f"{ind2}    found, _it = _newton(z0, a0, {_ANCHOR_ITER}, f, s, jm, rhs, step, trial, "
        "f1, s1)",
        f"{ind2}    if found:",
        f"{ind2}        break",
        f"{ind2}if found:",
        f"{ind3}for i in range(first, n):",
        f"{ind3}    if conv_all[i]:",
        f"{ind3}        continue",
        *(f"{ind3}    _pp[{j}] = P_{p}[i]" for j, p in enumerate(params)),
        f"{ind3}    for j in range({len(params)}):",
        f"{ind3}        anc[j] = anchor[j] if math.isfinite(anchor[j]) else _pp[j]",
        f"{ind3}    if _continue(_z, z0, anc, _pp, th, zt, f, s, jm, rhs, step, trial, f1, s1):",
        f"{ind3}        zs[:, i] = _z",
        f"{ind3}        conv_all[i] = True",
        f"{ind1}for i in range(n):",
        *(f"{ind2}_pp[{j}] = P_{p}[i]" for j, p in enumerate(params)),
        f"{ind2}_z[:] = zs[:, i]",
        f"{ind2}x_out[i] = _z[0]",
        *(f"{ind2}nums_out[{j - 1}, i] = _z[{j}]" for j in range(1, d)),
        f"{ind2}reason[i] = _reason(_z, _pp, conv_all[i], rtol_check, max_conc, osmotic, "
        "osm_o[i])",
        f"{ind1}return x_out, reason, iters, nums_out",
    ]
    consts = [f"_STARTS_MV = {tuple(float(v) for v in _STARTS_MV)!r}",
              f"_BUDGETS = {tuple(int(b) for b in _BUDGETS)!r}"]
    template = _TEMPLATE.format(tiny=_TINY, step_ln=float(_MAX_STEP_LN),
                                step_mv=float(_MAX_STEP_MV), halvings=_HALVINGS,
                                ds0=_DS0, ds_max=_DS_MAX, max_rounds=int(_MAX_ROUNDS),
                                min_ds=float(_MIN_DS), cont_iter=_CONT_ITER,
                                armijo=_ARMIJO, step_tol=_STEP_TOL, merit_tol=_MERIT_TOL)
    parts = [*consts, "", "", *resid, "", "", *jac, "", "", *start, template, "",
             *classify, "", "", *kernel]
    return "\n".join(parts) + "\n"
