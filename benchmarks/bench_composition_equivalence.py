"""Today's cell as a membrane-model composition reproduces the hand-written solver.

For ohmic/GHK leaks × fixed/osmotic volume, a scrambled Sobol design of 2^17 points
(log-uniform over two decades or more of every leak, the pump density, the pump's
K_Na, [K]o 1–40 mM and the activity load 0–20 pA) is solved by

* :func:`iongrad.models.solve_steady_state` — the solver generated from the membrane
  model's rate laws (:mod:`iongrad.models.steady_core`), and
* the frozen hand-written solver of iongrad 0.1 (``benchmarks/reference``).

Printed per combination: feasibility flags and reason codes that differ (counts), the
largest relative difference of every output over the points both solve, and the solve
rate of each (one call, this process, one core). Potentials are compared relative to
max(|V|, 1 mV), as they cross 0; the impermeant concentration of an osmotic cell
(``osm_o - ΣC``, a difference of terms ~300 mM that can be small) and the volume that
follows from it relative to their value at the bath osmolarity, the accuracy the
subtraction allows. PASS: every output within 1e-10 and no point the hand-written
solver solves that the composed one does not; a point only the composed solver solves
is listed with its independently recomputed residuals (it must be physical: every
concentration positive, every balance's relative residual <= 1e-9).

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
    osm = 2.0 * (145.0 + params["k_o_mM"][both])
    for name in OUTPUTS:
        if name == "feasible":
            continue
        a, b = getattr(new, name)[both], getattr(old, name)[both]
        floor = 1.0 if name in POTENTIALS else 0.0
        if volume == "osmotic" and name == "a_i_mM":
            floor = osm
        if volume == "osmotic" and name == "volume_pL":
            # volume = V0 a_i0 / a_i: its relative error is a_i's, judged on osm as above
            rel = np.abs(a - b) / np.abs(b) * old.a_i_mM[both] / osm
            worst[name] = float(np.max(rel))
            continue
        worst[name] = float(np.max(np.abs(a - b) / np.maximum(np.abs(b), floor)))
    only_new = np.flatnonzero(new.feasible & ~old.feasible)
    only_old = np.flatnonzero(old.feasible & ~new.feasible)
    extra = []
    for i in only_new:
        res = max(float(r[i]) for r in new.residuals.values())
        conc = [float(getattr(new, c)[i]) for c in ("na_i_mM", "k_i_mM", "cl_i_mM", "a_i_mM")]
        extra.append({"index": int(i), "reference_reason": int(old.reason[i]),
                      "worst_residual": res, "physical": min(conc) > 0 and res <= 1e-9,
                      "v_rest_mV": float(new.v_rest_mV[i]), "na_k_cl_a_mM": conc})
    return {"n": n, "feasible": float(new.feasible.mean()),
            "flag_mismatch": int(np.sum(new.feasible != old.feasible)),
            "reason_mismatch": int(np.sum(new.reason != old.reason)),
            "only_reference_solves": int(only_old.size), "only_composed_solves": extra,
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
            good = (w <= TOL and r["only_reference_solves"] == 0
                    and all(e["physical"] for e in r["only_composed_solves"]))
            ok &= good
            top = max(r["worst"], key=r["worst"].get)
            print(f"{leak:5s} {volume:8s} n={r['n']} feasible {r['feasible']:.4f} | flags "
                  f"differ {r['flag_mismatch']}, reasons differ {r['reason_mismatch']} | "
                  f"worst relative difference {w:.1e} ({top}) | composed "
                  f"{r['rate_new']:,.0f}/s, hand-written {r['rate_old']:,.0f}/s "
                  f"({r['rate_new'] / r['rate_old']:.2f}x) {'PASS' if good else 'FAIL'}")
            for e in r["only_composed_solves"]:
                print(f"    solved only by the composed solver (reference reason "
                      f"{e['reference_reason']}): point {e['index']}, V = "
                      f"{e['v_rest_mV']:.2f} mV, Na/K/Cl/A = "
                      f"{', '.join(f'{c:.4g}' for c in e['na_k_cl_a_mM'])} mM, worst "
                      f"residual {e['worst_residual']:.1e}, physical: {e['physical']}")
    print(f"every output within {TOL:g}, nothing the reference solves lost: "
          f"{'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
