"""Shapley effects on a joint posterior: 8 inputs, 4000 joint draws, model evaluations
included (target: under 60 s on 2 cores).

The "posterior" is a correlated log-normal over eight inputs of the ohmic pump–leak cell
(the leak conductances on a ridge of their ratio, as a fit of resting potentials leaves
them); the script times the steady-state evaluations of the 4000 rows, the
nearest-neighbour Shapley effects with 100 bootstrap replicates and the rank-based
first-order indices, and prints the effects of the resting potential and the ATP cost.

    python benchmarks/bench_shapley.py [--n 4000 --boot 100]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from iongrad.workflows.dependent import first_order_given_data, shapley_effects
from iongrad.workflows.registry import get_model

NAMES = ("g_na_nS", "g_k_nS", "g_cl_nS", "pump_density_per_um2", "k_na_mM",
         "turnover_max_per_s", "activity_load_pA", "k_o_mM")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=4000)
    ap.add_argument("--boot", type=int, default=100)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(1)
    model = get_model("pump_leak")
    centre = np.log([0.15, 0.6, 0.3, 1000.0, 12.0, 100.0, 2.0, 4.0])
    sd = np.array([0.3, 0.3, 0.3, 0.3, 0.2, 0.2, 0.5, 0.2])
    corr = np.eye(8)
    corr[0, 1] = corr[1, 0] = 0.95  # the g_Na/g_K ridge
    corr[3, 4] = corr[4, 3] = -0.5
    x = np.exp(rng.multivariate_normal(centre, corr * np.outer(sd, sd), args.n))
    t0 = time.perf_counter()
    out = model.evaluate({k: x[:, j] for j, k in enumerate(NAMES)})
    t_eval = time.perf_counter() - t0
    ok = out["feasible"]
    t1 = time.perf_counter()
    res = {}
    for o in ("v_rest_mV", "atp_per_s"):
        res[o] = (shapley_effects(x[ok], out[o][ok], k=3, n_boot=args.boot, seed=2),
                  first_order_given_data(x[ok], out[o][ok], n_boot=args.boot, seed=3))
    t_idx = time.perf_counter() - t1
    print(f"{args.n} joint draws x {len(NAMES)} inputs ({int(ok.sum())} feasible): "
          f"model evaluations {t_eval:.2f} s; Shapley + given-data S1 for 2 outputs "
          f"({args.boot} bootstrap replicates) {t_idx:.2f} s; total {t_eval + t_idx:.2f} s "
          f"(target < 60 s)")
    for o, (sh, s1) in res.items():
        print(f"\n{o}: input, Shapley [95% interval], given-data S1")
        for j in np.argsort(-sh["Sh"]):
            print(f"  {NAMES[j]:<22} {sh['Sh'][j]:6.3f} [{sh['Sh_low'][j]:6.3f}, "
                  f"{sh['Sh_high'][j]:6.3f}]   {s1['S1'][j]:6.3f}")
        print(f"  sum of Shapley effects {sh['Sh'].sum():.6f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
