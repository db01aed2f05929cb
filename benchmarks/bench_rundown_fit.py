"""ESS per second of the run-down fit: sensitivity Op against pymc.ode.DifferentialEquation.

Same model (:func:`iongrad.infer.rundown_model.build_rundown_model`), same data
(shipped ``synthetic_rundown``), same priors and the same NUTS settings; only the
gradient method differs. Prints per-evaluation cost of logp+gradient, compile time,
sampling wall time, min bulk/tail ESS over the fitted parameters, ESS/s, R-hat,
divergences, whether the true parameters lie inside the 94% HDI, and the ratio.

Run: ``python benchmarks/bench_rundown_fit.py [--draws N --tune N --only op|ode]``.
``--part evals`` instead times one logp+gradient for every integrator of the Op
(``odeint``, ``solve_ivp`` LSODA and BDF), with the compiled kernel and with it
interpreted (``NUMBA_DISABLE_JIT=1`` in a subprocess). Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings

import numpy as np


def _build_and_time(spec, repeats: int):
    """Build the model of ``spec`` on the shipped data; time compile and one logp+gradient.

    Returns ``(model, dataset, compile_s, logp_dlogp_ms)``.
    """
    from iongrad.data import load_shipped
    from iongrad.infer.rundown_model import build_rundown_model

    ds = load_shipped("synthetic_rundown")
    t0 = time.perf_counter()
    model, _info = build_rundown_model(ds, spec)
    fn = model.logp_dlogp_function(ravel_inputs=True)
    fn.set_extra_values({})
    x0 = model.initial_point()
    vec = np.concatenate([np.ravel(x0[v.name]) for v in fn._grad_vars])
    fn(vec)
    t_compile = time.perf_counter() - t0
    t1 = time.perf_counter()
    for i in range(repeats):
        fn(vec * (1 + 1e-4 * i))
    return model, ds, t_compile, (time.perf_counter() - t1) / repeats * 1e3


def run(method: str, draws: int, tune: int, seed: int) -> dict:
    import pymc as pm

    from iongrad.infer.diagnostics import summary_table
    from iongrad.infer.rundown_model import RundownSpec

    model, ds, t_compile, per_eval_ms = _build_and_time(RundownSpec(method=method), 10)
    truth = ds.provenance["true_parameters"]["fitted"]
    t2 = time.perf_counter()
    with model, warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The effect of Potentials")
        # keep the tuning draws' statistics: the wall time includes tuning, so the
        # leapfrog steps it is divided by must too
        idata = pm.sample(draws=draws, tune=tune, chains=2, cores=2, target_accept=0.9,
                          random_seed=seed, progressbar=False, discard_tuned_samples=False,
                          compute_convergence_checks=False)
    wall = time.perf_counter() - t2
    names = list(truth)
    summ = summary_table(idata, names)
    ess_bulk = float(summ["ess_bulk"].min())
    ess_tail = float(summ["ess_tail"].min())
    inside = {n: bool(summ.loc[n, "hdi_3%"] <= truth[n] <= summ.loc[n, "hdi_97%"])
              for n in names}
    steps = int(np.asarray(idata.sample_stats["n_steps"]).sum()
                + np.asarray(idata.warmup_sample_stats["n_steps"]).sum())
    return {"method": method, "compile_s": t_compile, "logp_dlogp_ms": per_eval_ms,
            "sample_wall_s": wall, "leapfrog_steps": steps,
            "ms_per_leapfrog": wall * 2 / steps * 1e3,  # two chains on two cores, tuning too
            "min_ess_bulk": ess_bulk, "min_ess_tail": ess_tail,
            "ess_bulk_per_s": ess_bulk / wall,
            "max_rhat": float(summ["r_hat"].max()),
            "divergences": int(np.asarray(idata.sample_stats["diverging"]).sum()),
            "truth_in_94_hdi": inside,
            "means": {n: float(summ.loc[n, "mean"]) for n in names}}


def time_evals(ode_method: str, repeats: int = 30) -> dict:
    """Compile time and mean wall time of one logp+gradient of the sensitivity-Op model."""
    from iongrad.infer.rundown_model import RundownSpec

    _, _, t_compile, ms = _build_and_time(RundownSpec(ode_method=ode_method), repeats)
    return {"ode_method": ode_method, "compile_s": t_compile, "logp_dlogp_ms": ms}


def part_evals() -> None:
    import os
    import subprocess
    import sys

    rows = [dict(time_evals(m), kernel="compiled") for m in ("odeint", "LSODA", "BDF")]
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    code = ("import json, sys; sys.path.insert(0, 'benchmarks'); import bench_rundown_fit as b; "
            "print(json.dumps(b.time_evals('odeint', 10)))")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True, cwd=root).stdout.strip().splitlines()[-1]
    rows.append(dict(json.loads(out), kernel="interpreted"))
    base = rows[0]["logp_dlogp_ms"]
    for r in rows:
        print(f"{r['ode_method']:<7} {r['kernel']:<12} compile {r['compile_s']:6.1f} s   "
              f"logp+grad {r['logp_dlogp_ms']:7.2f} ms   ({r['logp_dlogp_ms'] / base:.1f}x "
              "the compiled odeint)")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=300)
    ap.add_argument("--tune", type=int, default=300)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--only", choices=("op", "ode"), default=None)
    ap.add_argument("--part", choices=("ess", "evals"), default="ess")
    args = ap.parse_args(argv)
    if args.part == "evals":
        part_evals()
        return
    methods = {"op": "sensitivity_op", "ode": "pm_ode"}
    results = {}
    for key, method in methods.items():
        if args.only and key != args.only:
            continue
        r = run(method, args.draws, args.tune, args.seed)
        results[key] = r
        print(json.dumps(r, indent=1), flush=True)
    if len(results) == 2:
        a, b = results["op"], results["ode"]
        print(f"ESS_bulk/s: sensitivity Op {a['ess_bulk_per_s']:.3g}, pm.ode "
              f"{b['ess_bulk_per_s']:.3g}, ratio {a['ess_bulk_per_s'] / b['ess_bulk_per_s']:.2f}x"
              f"; per logp+grad {b['logp_dlogp_ms'] / a['logp_dlogp_ms']:.2f}x; "
              f"compile {a['compile_s']:.1f} s vs {b['compile_s']:.1f} s")


if __name__ == "__main__":
    main()
