"""Measured cost of the run-down model: one 10-minute simulation per method, the
analytic Jacobian against finite-difference Jacobians, and batched RHS throughput.

Run: ``python benchmarks/bench_rundown_solve.py``. Prints wall times (best of
``REPEATS``) and ratios; nothing is asserted.
"""

from __future__ import annotations

import time

import numpy as np

from iongrad.models.rundown import rundown_params, rundown_rhs, simulate_rundown

REPEATS = 5


def best_of(fn, repeats=REPEATS):
    times = []
    out = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main() -> None:
    t_eval = np.linspace(0.0, 600.0, 601)
    print("10-minute anoxic run-down (tau_atp 45 s, default neuron, rtol 1e-8)")
    base = None
    for method in ("LSODA", "BDF", "Radau"):
        for use_jac in (True, False):
            sec, res = best_of(lambda m=method, j=use_jac: simulate_rundown(
                t_eval, tau_atp_s=45.0, method=m, use_jac=j))
            base = base or sec
            print(f"  {method:6s} jac={'analytic' if use_jac else 'fd      '}  "
                  f"{sec * 1e3:8.1f} ms  ({sec / base:4.2f}× LSODA+jac)  nfev={res.nfev:5d} "
                  f"njev={res.njev:3d}  V(600 s)={res.v_mV[-1]:.6f} mV  ok={res.success}")
    sec, res = best_of(lambda: simulate_rundown(t_eval, tau_atp_s=45.0,
                                                extracellular_fraction=0.2))
    print(f"  LSODA with finite ECS (alpha 0.2): {sec * 1e3:.1f} ms, "
          f"K_o(600 s)={res.k_o_mM[-1]:.2f} mM")

    print("RHS throughput (one call, batch of parameter sets)")
    for n in (1, 100, 10_000):
        rng = np.random.default_rng(0)
        p = rundown_params(p_na_cm_s=rng.uniform(2e-8, 8e-8, n))
        y = np.tile(np.array([[15.0], [145.0], [9.0]]), (1, n))
        sec, _ = best_of(lambda p=p, y=y: rundown_rhs(100.0, y, p))
        print(f"  n={n:6d}: {sec * 1e3:8.3f} ms per call, {sec / n * 1e6:8.3f} µs per sample")


if __name__ == "__main__":
    main()
