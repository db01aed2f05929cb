"""Full pump–leak steady states solved per second: one vectorised call vs a scipy loop.

Run: ``python benchmarks/bench_steady_state.py [--n 100000] [--loop 300]``

Prints solves/s of :func:`iongrad.models.solve_steady_state` on ``n`` random
parameter sets (two decades of g_Na, g_K, pump density and K_Na) in one call, on
one core, and of a per-sample ``scipy.optimize.root(method="hybr")`` on
(ln Na_i, ln K_i, ln Cl_i, V) over a subsample, with the ratio. Both solve the same
equations; the loop's answers are checked against the vectorised ones, and its
failures (``success=False``) are counted.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from _root_loop import parameter_rows, root_loop

from iongrad.models.steady_state import solve_steady_state


def design(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "g_na_nS": 10 ** rng.uniform(np.log10(0.03), np.log10(3.0), n),
        "g_k_nS": 10 ** rng.uniform(np.log10(0.1), np.log10(10.0), n),
        "pump_density_per_um2": 10 ** rng.uniform(2.0, 4.0, n),
        "k_na_mM": 10 ** rng.uniform(np.log10(3.0), np.log10(50.0), n),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--loop", type=int, default=300)
    args = ap.parse_args()
    d = design(args.n)
    solve_steady_state(**{k: v[:100] for k, v in d.items()})  # warm-up
    t = time.perf_counter()
    ss = solve_steady_state(**d)
    dt = time.perf_counter() - t
    rate = args.n / dt
    print(f"vectorised: {args.n} steady states in {dt:.3f} s = {rate:,.0f} solves/s "
          f"(feasible {ss.feasible.mean():.4f}; max relative residual "
          f"{max(float(np.nanmax(r[ss.feasible])) for r in ss.residuals.values()):.2e})")
    t_ghk = time.perf_counter()
    ghk = solve_steady_state(leak="ghk", pump_density_per_um2=d["pump_density_per_um2"],
                             k_na_mM=d["k_na_mM"],
                             p_na_cm_s=d["g_na_nS"] * 4e-8 / 0.15,
                             p_k_cm_s=d["g_k_nS"] * 6e-7 / 0.6)
    dt_ghk = time.perf_counter() - t_ghk
    print(f"vectorised, GHK leaks: {args.n / dt_ghk:,.0f} solves/s "
          f"(feasible {ghk.feasible.mean():.4f})")
    m = args.loop
    dt_loop, xs, success = root_loop(parameter_rows({k: v[:m] for k, v in d.items()}))
    fails = int(np.sum(~success))
    errs = list(np.abs(np.exp(xs[success, 0]) / ss.na_i_mM[:m][success] - 1))
    loop_rate = m / dt_loop
    print(f"scipy.optimize.root loop: {m} samples in {dt_loop:.3f} s = {loop_rate:,.0f} "
          f"solves/s; {fails} returned success=False; max |Na_i rel. diff| on the rest "
          f"{max(errs) if errs else float('nan'):.1e}")
    print(f"ratio vectorised / loop: {rate / loop_rate:,.0f}x   "
          f"(targets: >= 1e5 solves/s and >= 200x)")


if __name__ == "__main__":
    main()
