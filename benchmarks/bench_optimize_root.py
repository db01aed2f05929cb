"""NUTS on the 8-cell fit: the steady-state Op vs the same model on ``optimize.root``.

Builds the 8-cell hierarchical fit of ``synthetic_vrest_ko`` twice — with the
steady-state Op (:class:`iongrad.infer.steady_op.SteadyStateOp`: generated solver,
implicit-function gradient) and with the same reduced equations solved by
``pytensor.tensor.optimize.root`` (:class:`iongrad.infer.steady_root.RootStateSolver`:
``hybr``, all rows stacked into one system, started from the default cell's steady
state, ``optimize.root``'s implicit gradient) — and prints:

(a) one log-density + gradient per evaluation for both, in this process, and the ratio;
(b) ``pm.sample`` NUTS for both (same draws, tune, target_accept; 2 chains), per seed:
    compile time (building the NUTS step: the log-density and gradient), sampling time
    (``pm.sample``, tuning included), min bulk ESS over the model's free parameters,
    max R-hat, divergences, mean leapfrog steps per draw, ESS/s over sampling time and
    over wall time (compile + sampling), and the Op/root ratio of each. A ratio is
    counted only when both runs reach R-hat < 1.01.

    python benchmarks/bench_optimize_root.py [--draws 2000 --tune 1000 --seeds 1 2
                                              --target-accept 0.8 --cores 2 --arms Op root]

The defaults are the shortest run at which both seeds' Op arm reaches R-hat < 1.01
(at 1000 tune + 2000 draws: 1.004 / 1.005; at 500 + 1000: 1.015 / 1.018); the root arm
takes ~10 min per seed on 2 cores. ``--arms Op`` finds that length cheaply.
"""

from __future__ import annotations

import argparse
import time

import arviz as az
import numpy as np
import pymc as pm

from iongrad.data import load_shipped
from iongrad.infer.model import FitSpec, build_model
from iongrad.infer.steady_root import RootStateSolver

SPEC = FitSpec(fixed={"g_cl_nS": 0.3, "k_na_mM": 12.0})
ARMS = ("Op", "root")


def _per_eval(model, seconds: float = 3.0) -> float:
    """Seconds per log-density + gradient at the initial point (after compilation)."""
    from pymc.blocking import DictToArrayBijection

    fn = model.logp_dlogp_function(ravel_inputs=True)
    fn.set_extra_values({})
    q = DictToArrayBijection.map(model.initial_point()).data
    lp, _ = fn(q)
    if not np.isfinite(lp):
        raise RuntimeError("log-density not finite at the initial point")
    k, t = 0, time.perf_counter()
    while time.perf_counter() - t < seconds:
        fn(q)
        k += 1
    return (time.perf_counter() - t) / k


def _run(model, names, args, seed):
    with model:
        t = time.perf_counter()
        step = pm.NUTS(target_accept=args.target_accept)
        t_compile = time.perf_counter() - t
        t = time.perf_counter()
        idata = pm.sample(draws=args.draws, tune=args.tune, chains=2, cores=args.cores,
                          step=step, random_seed=seed, progressbar=False,
                          compute_convergence_checks=False)
        t_sample = time.perf_counter() - t
    ess = float(az.ess(idata, var_names=names).to_array().min())
    rhat = float(az.rhat(idata, var_names=names).to_array().max())
    stats = idata.sample_stats
    return {"compile": t_compile, "sample": t_sample, "ess": ess, "rhat": rhat,
            "div": int(stats["diverging"].sum()),
            "steps": float(stats["n_steps"].mean()),
            "ess_s": ess / t_sample, "ess_wall": ess / (t_sample + t_compile)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=2000)
    ap.add_argument("--tune", type=int, default=1000)
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--target-accept", type=float, default=0.8)
    ap.add_argument("--cores", type=int, default=2, choices=(1, 2))
    ap.add_argument("--arms", nargs="+", choices=ARMS, default=list(ARMS),
                    help="sample only these arms (a ratio needs both)")
    ap.add_argument("--skip-sampling", action="store_true",
                    help="print the per-evaluation comparison only")
    args = ap.parse_args(argv)

    ds = load_shipped("synthetic_vrest_ko")
    models = {"Op": build_model(ds, SPEC)[0],
              "root": build_model(ds, SPEC, state_solver=RootStateSolver())[0]}
    names = [v.name for v in models["Op"].free_RVs]
    dims = sum(np.size(v) for v in models["Op"].initial_point().values())
    print(f"8-cell fit: {dims} dimensions, {len(names)} parameter arrays, "
          f"{len(ds.frame)} data rows")
    per = {a: _per_eval(m) for a, m in models.items()}
    print(f"(a) logp+grad per evaluation: Op {per['Op'] * 1e3:.3f} ms, root "
          f"{per['root'] * 1e3:.2f} ms, ratio {per['root'] / per['Op']:.1f}x")
    if args.skip_sampling:
        return 0
    print(f"(b) pm.sample NUTS, 2 chains x ({args.tune} tune + {args.draws} draws), "
          f"cores={args.cores}, target_accept={args.target_accept} on both arms")
    ok = True
    for seed in args.seeds:
        res = {a: _run(models[a], names, args, seed) for a in args.arms}
        for a in args.arms:
            r = res[a]
            print(f"  seed {seed} {a:>4}: compile {r['compile']:.1f} s, sampling "
                  f"{r['sample']:.1f} s, min bulk ESS {r['ess']:.0f}, max R-hat "
                  f"{r['rhat']:.3f}, divergences {r['div']}, {r['steps']:.1f} steps/draw, "
                  f"ESS/s sampling {r['ess_s']:.3f}, wall {r['ess_wall']:.3f}")
        if len(res) < 2:
            ok &= all(r["rhat"] < 1.01 for r in res.values())
            continue
        both = res["Op"]["rhat"] < 1.01 and res["root"]["rhat"] < 1.01
        ok &= both
        print(f"  seed {seed} ratio Op/root: sampling "
              f"{res['Op']['ess_s'] / res['root']['ess_s']:.1f}x, wall "
              f"{res['Op']['ess_wall'] / res['root']['ess_wall']:.1f}x"
              + ("  (counted: both R-hat < 1.01)" if both
                 else "  (NOT counted: an R-hat >= 1.01)"))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
