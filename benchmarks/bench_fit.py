"""Inference benchmarks: NUTS (implicit gradients) vs a gradient-free sampler, and
compile-once-swap-data vs rebuilding the model for a series of single-cell fits.

Run: ``python benchmarks/bench_fit.py [--part ess|swap|all] [--cells 20]``

1. ESS per second (minimum bulk ESS over every free parameter's population and
   per-cell values) of NUTS on the multi-cell hierarchical fit of the shipped
   ``synthetic_vrest_ko`` dataset (8 cells, 30 free dimensions), against
   DEMetropolisZ on the same model, data and chain count; also the 3-parameter
   single-cell case, where a gradient-free sampler is competitive.
2. Fitting N single-cell datasets one after another: build and compile once, swap
   the data with ``pm.set_data`` and reuse the NUTS step, against rebuilding the
   model (and recompiling) for every cell. Prints both totals.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
import warnings

import arviz as az
import numpy as np
import pymc as pm

from iongrad.data import load_shipped
from iongrad.infer.model import FitSpec, ObservationNoise, build_model

warnings.filterwarnings("ignore")
SPEC = FitSpec(fixed={"g_cl_nS": 0.3, "k_na_mM": 12.0},
               noise={"na_i_mM": ObservationNoise(sigma=0.5),
                      "r_in_MOhm": ObservationNoise(scale="log", sigma=0.05)})
PARAMS = ("g_na_nS", "g_k_nS", "pump_density_per_um2")


def _min_ess(idata) -> float:
    names = [n for p in PARAMS for n in (p, f"{p}_cell") if n in idata.posterior]
    return float(az.ess(idata, var_names=names).to_array().min())


def _run(model, step_factory, *, draws, tune, seed):
    with model:
        t = time.perf_counter()
        idata = pm.sample(draws=draws, tune=tune, chains=2, cores=1, step=step_factory(),
                          random_seed=seed, progressbar=False, compute_convergence_checks=False)
        dt = time.perf_counter() - t
    ess = _min_ess(idata)
    return ess, dt, float(az.rhat(idata).to_array().max())


def ess_part(seed: int) -> None:
    ds = load_shipped("synthetic_vrest_ko")
    one = dataclasses.replace(ds, frame=ds.frame[ds.frame["cell"] == ds.cells[0]])
    for label, data, spec in (("8 cells, partial pooling", ds, SPEC),
                              ("1 cell, 3 parameters", one,
                               dataclasses.replace(SPEC, pooling="complete"))):
        model, _ = build_model(data, spec)
        ess_n, t_n, r_n = _run(model, lambda: pm.NUTS(target_accept=0.9), draws=500,
                               tune=500, seed=seed)
        ess_d, t_d, r_d = _run(model, pm.DEMetropolisZ, draws=5000, tune=5000, seed=seed)
        print(f"[{label}] NUTS: min bulk ESS {ess_n:.0f} in {t_n:.1f} s = "
              f"{ess_n / t_n:.2f} ESS/s (max R-hat {r_n:.3f})")
        print(f"[{label}] DEMetropolisZ: min bulk ESS {ess_d:.0f} in {t_d:.1f} s = "
              f"{ess_d / t_d:.2f} ESS/s (max R-hat {r_d:.3f})")
        counted = r_n < 1.01 and r_d < 1.01
        print(f"[{label}] ratio NUTS / DEMetropolisZ: {(ess_n / t_n) / (ess_d / t_d):.1f}x"
              + ("" if counted else "  (not counted: a run has R-hat >= 1.01, its ESS "
                                    "measures nothing)"))


def swap_part(n_cells: int, seed: int) -> None:
    """Single-cell fits of n_cells synthetic cells (shipped cells, cycled, with fresh noise)."""
    ds = load_shipped("synthetic_vrest_ko")
    rng = np.random.default_rng(seed)
    cells = []
    for i in range(n_cells):
        frame = ds.frame[ds.frame["cell"] == ds.cells[i % len(ds.cells)]].copy()
        frame["v_rest_mV"] = frame["v_rest_mV"] + rng.normal(0, 0.5, len(frame))
        frame["cell"] = "cell"
        cells.append(dataclasses.replace(ds, frame=frame))
    spec = dataclasses.replace(SPEC, pooling="complete")
    kw = {"draws": 300, "tune": 300, "chains": 2, "cores": 1, "progressbar": False,
          "compute_convergence_checks": False}

    t0 = time.perf_counter()
    for i, d in enumerate(cells):
        model, _ = build_model(d, spec)
        with model:  # the same NUTS settings as the swap arm below
            pm.sample(step=pm.NUTS(target_accept=0.9), random_seed=seed + i, **kw)
    t_rebuild = time.perf_counter() - t0

    t0 = time.perf_counter()
    model, info = build_model(cells[0], spec)
    with model:
        step = pm.NUTS(target_accept=0.9)
        for i, d in enumerate(cells):
            # every cell has the same design (rows in the same order), only values differ
            pm.set_data({f"{o}_data": d.frame[o].dropna().to_numpy(float)
                         for o in info["observables"]})
            step.reset_tuning()
            pm.sample(step=step, random_seed=seed + i, **kw)
    t_swap = time.perf_counter() - t0
    print(f"{n_cells} single-cell fits: rebuild each time {t_rebuild:.1f} s, compile once and "
          f"swap data {t_swap:.1f} s (ratio {t_rebuild / t_swap:.2f}x)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", choices=("ess", "swap", "all"), default="all")
    ap.add_argument("--cells", type=int, default=20)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    if args.part in ("ess", "all"):
        ess_part(args.seed)
    if args.part in ("swap", "all"):
        swap_part(args.cells, args.seed)


if __name__ == "__main__":
    main()
