"""Today's cell as a membrane-model composition reproduces the hand-written solver.

For ohmic/GHK leaks × fixed/osmotic volume, a scrambled Sobol design of 2^17 points
(log-uniform over two decades or more of every leak, the pump density, the pump's
K_Na, [K]o 1–40 mM and the activity load 0–20 pA) is solved by

* :func:`iongrad.models.solve_steady_state` — the solver generated from the membrane
  model's rate laws (:mod:`iongrad.models.steady_core`), and
* the frozen hand-written solver of iongrad 0.1 (``benchmarks/reference``).

Printed per combination: identical feasibility flags and reason codes (counts of
disagreements, must be 0), the largest relative difference of every output over the
points both solve (potentials relative to max(|V|, 1 mV), as they cross 0), and the
solve rate of each (one call, this process, one core).

    python benchmarks/bench_composition_equivalence.py [--log2n 17]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
from scipy.stats import qmc

sys.path.insert(0, str(Path(__file__).parent / "reference"))
import steady_state_v0_1 as reference

from iongrad.models import solve_steady_state
from iongrad.models.steady_state import OUTPUTS

RANGES = {
    "ohmic": {"g_na_nS": (0.01, 1.0), "g_k_nS": (0.05, 5.0), "g_cl_nS": (0.01, 1.0)},
    "ghk": {"p_na_cm_s": (4e-9, 4e-7), "p_k_cm_s": (6e-8, 6e-6), "p_cl_cm_s": (1e-8, 1e-6)},
    "common": {"pump_density_per_um2": (30.0, 3000.0), "k_na_mM": (1.0, 100.0),
               "k_o_mM": (1.0, 40.0)},
}
POTENTIALS = ("v_rest_mV", "e_na_mV", "e_k_mV", "e_cl_mV")
TOL = 1e-10


def design(leak: str, log2n: int, seed: int) -> dict[str, np.ndarray]:
    names = [*RANGES[leak], *RANGES["common"]]
    u = qmc.Sobol(d=len(names) + 1, scramble=True, seed=seed).random_base2(log2n)
    out = {}
    for j, name in enumerate(names):
        lo, hi = RANGES[leak].get(name) or RANGES["common"][name]
        out[name] = np.exp(np.log(lo) + u[:, j] * (np.log(hi) - np.log(lo)))
    out["activity_load_pA"] = 20.0 * u[:, -1]
    return out


def compare(leak: str, volume: str, params: dict) -> dict:
    solve_steady_state(leak=leak, volume=volume, **{k: v[:64] for k, v in params.items()})
    t0 = time.perf_counter()
    new = solve_steady_state(leak=leak, volume=volume, **params)
    t_new = time.perf_counter() - t0
    t0 = time.perf_counter()
    old = reference.solve_steady_state(leak=leak, volume=volume, **params)
    t_old = time.perf_counter() - t0
    n = new.feasible.size
    both = new.feasible & old.feasible
    worst = {}
    for name in OUTPUTS:
        if name == "feasible":
            continue
        a, b = getattr(new, name)[both], getattr(old, name)[both]
        floor = 1.0 if name in POTENTIALS else 0.0
        worst[name] = float(np.max(np.abs(a - b) / np.maximum(np.abs(b), floor)))
    return {"n": n, "feasible": float(new.feasible.mean()),
            "flag_mismatch": int(np.sum(new.feasible != old.feasible)),
            "reason_mismatch": int(np.sum(new.reason != old.reason)),
            "worst": worst, "rate_new": n / t_new, "rate_old": n / t_old}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--log2n", type=int, default=17)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args(argv)
    ok = True
    for j, leak in enumerate(("ohmic", "ghk")):
        params = design(leak, args.log2n, args.seed + j)
        for volume in ("fixed", "osmotic"):
            r = compare(leak, volume, params)
            w = max(r["worst"].values())
            good = r["flag_mismatch"] == 0 and w <= TOL
            ok &= good
            top = max(r["worst"], key=r["worst"].get)
            print(f"{leak:5s} {volume:8s} n={r['n']} feasible {r['feasible']:.4f} | flags "
                  f"differ {r['flag_mismatch']}, reasons differ {r['reason_mismatch']} | "
                  f"worst relative difference {w:.1e} ({top}) | composed "
                  f"{r['rate_new']:,.0f}/s, hand-written {r['rate_old']:,.0f}/s "
                  f"({r['rate_new'] / r['rate_old']:.2f}x) {'PASS' if good else 'FAIL'}")
    print(f"every output within {TOL:g} and identical flags: {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
