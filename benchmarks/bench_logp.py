"""One log-density + gradient evaluation of the steady-state fits, per backend.

Models: the SBC model (``benchmarks/sbc.py``: 4 cells × 5 rows, partial pooling) and
the 8-cell hierarchical fit of ``synthetic_vrest_ko``. Each is compiled with PyTensor's
default (C) backend and with its numba backend (the steady-state Op runs its generated
numba implementation there), and one logp+gradient is timed at points drawn around the
initial point (median of ``--reps`` calls after a warm-up; the two backends must agree).

    python benchmarks/bench_logp.py [--reps 2000]
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pymc as pm

sys.path.insert(0, str(Path(__file__).parent))

from iongrad.data import load_shipped
from iongrad.infer.model import FitSpec, build_model


def _models():
    import sbc

    yield "SBC model (4 cells x 5 rows)", build_model(sbc.make_dataset(4), sbc.fit_spec())[0]
    yield "8-cell fit (synthetic_vrest_ko)", build_model(
        load_shipped("synthetic_vrest_ko"),
        FitSpec(fixed={"g_cl_nS": 0.3, "k_na_mM": 12.0}))[0]


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


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=2000)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    for label, model in _models():
        ip = model.initial_point()
        bij = pm.blocking.DictToArrayBijection
        x0 = bij.map({v.name: ip[v.name] for v in model.value_vars}).data
        xs = [x0 + rng.normal(0, 0.02, x0.size) for _ in range(50)]
        res = {}
        for mode in ("C", "NUMBA"):
            with warnings.catch_warnings():
                warnings.filterwarnings("error", message="(?i).*object mode.*")
                t = time.perf_counter()
                f = model.logp_dlogp_function(ravel_inputs=True,
                                              **({"mode": "NUMBA"} if mode == "NUMBA" else {}))
                f.set_extra_values({})
                f(x0)
                t_c = time.perf_counter() - t
            res[mode] = (_time(f, xs, args.reps), t_c, f(xs[1]))
        agree = np.allclose(res["C"][2][0], res["NUMBA"][2][0], rtol=1e-10)
        print(f"{label}: {x0.size} dims | logp+grad C {res['C'][0] * 1e3:.3f} ms (compile "
              f"{res['C'][1]:.1f} s) | numba {res['NUMBA'][0] * 1e3:.3f} ms (compile "
              f"{res['NUMBA'][1]:.1f} s) | values agree: {agree}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
