"""nutpie vs ``pm.sample`` on the 8-cell hierarchical fit of ``synthetic_vrest_ko``.

The steady-state Op has a numba implementation generated from the membrane model
(:func:`iongrad.infer.kernels.op_implementation`), so nutpie's numba backend compiles
the whole log-density with no object-mode fallback; this script checks that (it fails
if any object-mode warning is raised) and prints, for each sampler and each of two
seeds: compile time, sampling time, min bulk ESS over the model's parameters, max
R-hat, and ESS/s over sampling time and over wall time (compile + sampling). A ratio is
counted only when both runs reach R-hat < 1.01.

    python benchmarks/bench_nutpie.py [--draws 1000 --tune 1000 --seeds 1 2]
"""

from __future__ import annotations

import argparse
import time
import warnings

import arviz as az
import numpy as np
import pymc as pm

from iongrad.data import load_shipped
from iongrad.infer.model import FitSpec, build_model

SPEC = FitSpec(fixed={"g_cl_nS": 0.3, "k_na_mM": 12.0})


def _stats(idata, names):
    ess = float(az.ess(idata, var_names=names).to_array().min())
    rhat = float(az.rhat(idata, var_names=names).to_array().max())
    return ess, rhat


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--tune", type=int, default=1000)
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    args = ap.parse_args(argv)
    import nutpie

    model, _ = build_model(load_shipped("synthetic_vrest_ko"), SPEC)
    names = [v.name for v in model.free_RVs]
    dims = sum(np.size(v) for v in model.initial_point().values())
    print(f"8-cell fit: {dims} dimensions, {len(names)} parameter arrays")
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="(?i).*object mode.*")
        t = time.perf_counter()
        compiled = nutpie.compile_pymc_model(model)
        t_compile_nutpie = time.perf_counter() - t
    t = time.perf_counter()
    with model:
        pm.sample(draws=5, tune=5, chains=1, progressbar=False, random_seed=0,
                  compute_convergence_checks=False)
    t_compile_pm = time.perf_counter() - t  # compile + a few steps
    print(f"compile: nutpie (numba, no object mode) {t_compile_nutpie:.1f} s; pm.sample "
          f"(C backend, incl. 10 steps) {t_compile_pm:.1f} s")
    ok = True
    for seed in args.seeds:
        t = time.perf_counter()
        idata_n = nutpie.sample(compiled, draws=args.draws, tune=args.tune, chains=2,
                                seed=seed, progress_bar=False)
        s_n = time.perf_counter() - t
        with model:
            t = time.perf_counter()
            idata_p = pm.sample(draws=args.draws, tune=args.tune, chains=2, cores=1,
                                target_accept=0.8, random_seed=seed, progressbar=False,
                                compute_convergence_checks=False)
            s_p = time.perf_counter() - t
        (e_n, r_n), (e_p, r_p) = _stats(idata_n, names), _stats(idata_p, names)
        both = r_n < 1.01 and r_p < 1.01
        ok &= both
        print(f"seed {seed}: nutpie ESS {e_n:.0f} R-hat {r_n:.3f} sampling {s_n:.1f} s "
              f"({e_n / s_n:.1f} ESS/s; wall {e_n / (s_n + t_compile_nutpie):.1f} ESS/s) | "
              f"pm.sample ESS {e_p:.0f} R-hat {r_p:.3f} sampling {s_p:.1f} s "
              f"({e_p / s_p:.1f} ESS/s; wall {e_p / (s_p + t_compile_pm):.1f} ESS/s) | "
              f"ratio sampling {e_n / s_n / (e_p / s_p):.2f}x, wall "
              f"{(e_n / (s_n + t_compile_nutpie)) / (e_p / (s_p + t_compile_pm)):.2f}x"
              + ("" if both else "  (not counted: R-hat >= 1.01)"))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
