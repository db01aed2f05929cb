"""One log-density + gradient evaluation of the steady-state fits, per backend.

Models: the SBC model (``benchmarks/sbc.py``: 4 cells × 5 rows, partial pooling), the
8-cell hierarchical fit of ``synthetic_vrest_ko`` and the chloride SBC model
(``sbc.py --design chloride``: 2 cells × 3 baths, KCC2 and NKCC1, coupled balances).
Each is compiled with PyTensor's default (C) backend and with its numba backend (the
steady-state Op runs its generated numba implementation there), and one logp+gradient
is timed at points drawn around the initial point (median of ``--reps`` calls after a
warm-up; the two backends must agree). The chloride model is also timed with the Op on
the vectorised NumPy solver (no compiled kernel: ``perform`` calls ``solve_membrane``,
numba mode falls back to object mode), in the same process.

Then the steady-state solves per second of the compiled coupled solver and of the NumPy
solver on ``--points`` parameter sets of ``mature_neuron`` and ``cardiac_myocyte``
(defaults, rates and conductances varied log-uniformly by e^±0.7).

    python benchmarks/bench_logp.py [--reps 2000] [--models all|sbc|8cell|chloride]
        [--points 10000]
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pymc as pm

sys.path.insert(0, str(Path(__file__).parent))

from iongrad.data import load_shipped
from iongrad.infer.model import FitSpec, build_model


def _models(which: str):
    """``(label, model, also on the NumPy solver)`` of the models ``which`` selects."""
    import sbc

    if which in ("all", "sbc"):
        des = sbc.design_of("pump_leak")
        yield ("SBC model (4 cells x 5 rows)",
               build_model(des.make_dataset(4), des.fit_spec())[0], False)
    if which in ("all", "8cell"):
        yield "8-cell fit (synthetic_vrest_ko)", build_model(
            load_shipped("synthetic_vrest_ko"),
            FitSpec(fixed={"g_cl_nS": 0.3, "k_na_mM": 12.0}))[0], False
    if which in ("all", "chloride"):
        des = sbc.design_of("chloride")
        n = des.default_cells
        yield (f"chloride SBC model ({n} cells x {len(des.conditions)} baths, coupled)",
               build_model(des.make_dataset(n), des.fit_spec())[0], True)


@contextlib.contextmanager
def _numpy_solver():
    """The steady-state Op without compiled kernels: ``perform`` on the vectorised NumPy
    solver, and no numba implementation (PyTensor's object-mode fallback)."""
    from iongrad.infer import steady_op

    saved = steady_op.compiled_solver, steady_op.op_implementation
    steady_op.compiled_solver = lambda membrane: None
    steady_op.op_implementation = lambda *args, **kwargs: None
    try:
        yield
    finally:
        steady_op.compiled_solver, steady_op.op_implementation = saved


def _time(f, xs, reps):
    for x in xs[:20]:
        f(x)
    ts = []
    for i in range(reps):
        x = xs[i % len(xs)]
        t = time.perf_counter()
        f(x)
        ts.append(time.perf_counter() - t)
    return float(np.median(ts))


def _compile_and_time(model, mode, x0, xs, reps, *, strict=True):
    with warnings.catch_warnings():
        if strict:
            warnings.filterwarnings("error", message="(?i).*object mode.*")
        else:
            warnings.filterwarnings("ignore", message="(?i).*object mode.*")
        t = time.perf_counter()
        f = model.logp_dlogp_function(ravel_inputs=True,
                                      **({"mode": "NUMBA"} if mode == "NUMBA" else {}))
        f.set_extra_values({})
        f(x0)
        t_c = time.perf_counter() - t
        return _time(f, xs, reps), t_c, f(xs[1])


def _design(m, n, rng):
    """Defaults of ``m``, rates and conductances varied log-uniformly by e^±0.7."""
    p = {k: np.full(n, float(v)) for k, v in m.defaults().items()}
    for k in p:
        if k.startswith(("g_", "kcc2_", "nkcc1_", "ncx_k_pA", "pmca_max", "pump_density")) \
                and p[k][0] > 0:
            p[k] = p[k] * np.exp(rng.uniform(-0.7, 0.7, n))
    p["k_o_mM"] = p["k_o_mM"] * np.exp(rng.uniform(-0.4, 0.4, n))
    return p


def _coupled_solves(n: int) -> None:
    from iongrad.infer.kernels import compiled_solver
    from iongrad.infer.steady_op import _solve
    from iongrad.models.membrane import composition
    from iongrad.models.steady_core import solve_membrane

    rng = np.random.default_rng(1)
    for name in ("mature_neuron", "cardiac_myocyte"):
        m = composition(name)
        p = _design(m, n, rng)
        solve = compiled_solver(m)
        solve({k: v[:8] for k, v in p.items()}, None)  # compile (or load) first
        t = time.perf_counter()
        _x, reason, _it, _nums = solve(p, None)
        t_k = time.perf_counter() - t
        t = time.perf_counter()
        _red, reason_op = _solve(m, p, None)  # the Op's path
        t_op = time.perf_counter() - t
        t = time.perf_counter()
        sol = solve_membrane(m, p)
        t_np = time.perf_counter() - t
        same = bool(np.array_equal(reason_op, sol.reason))
        print(f"{name}, {n} sets: compiled {n / t_k:.3g} solves/s ({np.mean(reason == 0):.3f} "
              f"solved) | Op path {n / t_op:.3g} solves/s | NumPy {n / t_np:.3g} "
              f"solves/s ({np.mean(sol.reason == 0):.3f} solved) | compiled/NumPy "
              f"{t_np / t_k:.1f}x | same reasons: {same}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=2000)
    ap.add_argument("--models", choices=("all", "sbc", "8cell", "chloride", "none"),
                    default="all")
    ap.add_argument("--points", type=int, default=10_000)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    for label, model, numpy_too in _models(args.models):
        ip = model.initial_point()
        bij = pm.blocking.DictToArrayBijection
        x0 = bij.map({v.name: ip[v.name] for v in model.value_vars}).data
        xs = [x0 + rng.normal(0, 0.02, x0.size) for _ in range(50)]
        res = {}
        for mode in ("C", "NUMBA"):
            res[mode] = _compile_and_time(model, mode, x0, xs, args.reps)
        agree = np.allclose(res["C"][2][0], res["NUMBA"][2][0], rtol=1e-10)
        print(f"{label}: {x0.size} dims | logp+grad C {res['C'][0] * 1e3:.3f} ms (compile "
              f"{res['C'][1]:.1f} s) | numba {res['NUMBA'][0] * 1e3:.3f} ms (compile "
              f"{res['NUMBA'][1]:.1f} s) | values agree: {agree}")
        if numpy_too:
            reps = max(args.reps // 10, 20)
            with _numpy_solver():
                for mode in ("C", "NUMBA"):
                    res[f"np {mode}"] = _compile_and_time(model, mode, x0, xs, reps,
                                                          strict=False)
            agree = all(np.allclose(res[f"np {mode}"][2][0], res["C"][2][0], rtol=1e-10)
                        for mode in ("C", "NUMBA"))
            print(f"{label}, Op on the NumPy solver: logp+grad C "
                  f"{res['np C'][0] * 1e3:.3f} ms | numba (object mode) "
                  f"{res['np NUMBA'][0] * 1e3:.3f} ms | compiled kernel speed-up C "
                  f"{res['np C'][0] / res['C'][0]:.1f}x, numba "
                  f"{res['np NUMBA'][0] / res['NUMBA'][0]:.1f}x | values agree: {agree}")
    if args.points:
        _coupled_solves(args.points)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
