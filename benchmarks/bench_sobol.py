"""Benchmark: Sobol' analysis of the full pump–leak steady state, end to end.

Eight inputs, N = 2^14 base samples with second-order terms: N (2D + 2) =
294,912 steady-state solves. Prints wall time per stage (sample, evaluate,
analyse), evaluation throughput, the speed-up over a per-sample
``scipy.optimize.root`` loop (``benchmarks/_root_loop.py``, the same baseline as
``bench_steady_state.py``; timed on a subsample and scaled) and peak memory.

    python benchmarks/bench_sobol.py [--n 16384] [--loop-samples 300]
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from _root_loop import parameter_rows, root_loop

from iongrad.workflows.sensitivity import resolve_config, run_config

INPUTS = {
    "g_k_nS": {"bounds": [0.3, 3.0], "dist": "loguniform"},
    "g_na_nS": {"bounds": [0.05, 0.5], "dist": "loguniform"},
    "g_cl_nS": {"bounds": [0.1, 1.0], "dist": "loguniform"},
    "k_o_mM": {"bounds": [2.5, 10.0]},
    "pump_density_per_um2": {"bounds": [250.0, 2500.0], "dist": "loguniform"},
    "turnover_max_per_s": {"bounds": [60.0, 140.0]},
    "k_na_mM": {"bounds": [8.0, 33.0]},
    "a_i_mM": {"bounds": [130.0, 170.0]},
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2**14)
    ap.add_argument("--loop-samples", type=int, default=300)
    ap.add_argument("--tracemalloc", action="store_true",
                    help="also trace Python allocations (slows the run ~1.5-2x)")
    args = ap.parse_args()
    cfg = {"sensitivity": {"model": "pump_leak", "method": "sobol", "n": args.n, "seed": 2024,
                           "outputs": ["v_rest_mV", "na_i_mM", "atp_per_s"],
                           "second_order": True, "chunk_size": 100_000,
                           "num_resamples": 100},
           "inputs": INPUTS}
    with tempfile.TemporaryDirectory() as tmp:
        resolved = resolve_config(cfg, Path(tmp))
        if args.tracemalloc:
            tracemalloc.start()
        t0 = time.perf_counter()
        res = run_config(resolved, Path(tmp) / "out")
        wall = time.perf_counter() - t0
        peak_py = tracemalloc.get_traced_memory()[1] if args.tracemalloc else None
        tracemalloc.stop()
        import json

        info = json.loads((Path(tmp) / "out" / "run.json").read_text())
        # Input matrix for the loop comparison: the first rows of the saved design.
        import xarray as xr

        with xr.open_dataset(Path(tmp) / "out" / "samples.nc") as ds:
            names = list(INPUTS)
            x = np.column_stack([ds[nm].values[: args.loop_samples] for nm in names])
    t = info["timings_s"]
    n_eval = info["n_evaluations"]
    thr = n_eval / t["evaluate_s"]
    loop_s, _x, success = root_loop(parameter_rows(dict(zip(names, x.T, strict=True))))
    loop_n, loop_failed = x.shape[0], int(np.sum(~success))
    loop_rate = loop_n / loop_s
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"Sobol' pump-leak, D = {len(INPUTS)}, N = {args.n}, second order: "
          f"{n_eval} evaluations, {res['infeasible_fraction']:.2%} infeasible")
    print(f"  wall time end to end (incl. writing files): {wall:.2f} s "
          f"(target < 30 s)")
    print(f"  sample {t['sample_s']:.2f} s | evaluate {t['evaluate_s']:.2f} s | "
          f"analyse {t['analyze_s']:.2f} s | write {t['write_s']:.2f} s")
    print(f"  vectorised throughput: {thr:,.0f} steady states/s")
    print(f"  per-sample scipy.optimize.root (hybr): {loop_rate:,.0f} solves/s on {loop_n} "
          f"samples ({loop_failed} reported success=False); scaled to {n_eval}: "
          f"{n_eval / loop_rate:,.1f} s")
    print(f"  evaluation speed-up vs root loop: {thr / loop_rate:,.0f}x")
    traced = (f"Python allocations {peak_py / 2**20:,.0f} MiB (tracemalloc; timings above "
              "include its overhead), " if peak_py is not None else "")
    print(f"  peak memory: {traced}process max RSS {peak_rss_mb:,.0f} MiB")


if __name__ == "__main__":
    main()
