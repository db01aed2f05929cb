"""One analysis pass (design, evaluation, indices, infeasible samples) and the joint-posterior
pass."""

from __future__ import annotations

import time

import numpy as np

from iongrad.workflows.sensitivity.analysis import _analysis_seed, _analyze
from iongrad.workflows.sensitivity.design import (
    _design,
    _joint_sample,
    _quantile_functions,
    _to_physical,
)
from iongrad.workflows.sensitivity.evaluate import _evaluate

_STRUCTURED = ("sobol", "morris", "efast")


def _failure_report(resolved: dict, x: np.ndarray, outs: dict, outputs: list[str]) -> dict:
    feasible = outs["feasible"]
    per_output = {}
    for o in outputs:
        if o == "feasible":
            continue
        failed = ~feasible | ~np.isfinite(outs[o])
        per_output[o] = {"n_failed": int(failed.sum()), "fraction": float(failed.mean())}
    infeasible = ~feasible
    where = {}
    if infeasible.any():
        for j, inp in enumerate(resolved["inputs"]):
            col = x[:, j]

            def stats(v):
                if v.size == 0:
                    return None
                q = np.quantile(v, [0.05, 0.5, 0.95])
                return {"n": int(v.size), "mean": float(v.mean()), "q05": float(q[0]),
                        "median": float(q[1]), "q95": float(q[2])}

            where[inp["name"]] = {"unit": inp["unit"], "feasible": stats(col[feasible]),
                                  "infeasible": stats(col[infeasible])}
    return {"n_samples": int(feasible.size), "n_infeasible": int(infeasible.sum()),
            "infeasible_fraction": float(infeasible.mean()), "per_output": per_output,
            "where": where}


def _one_pass(model, resolved: dict, n: int, rng: np.random.Generator, *, progress: bool,
              timings: dict) -> dict:
    """Sample, evaluate and analyse once at base size ``n``."""
    method = resolved["method"]
    funcs = _quantile_functions(resolved)
    t0 = time.perf_counter()
    u = _design(method, resolved, n, rng)
    x = _to_physical(u, resolved, funcs, method)
    t1 = time.perf_counter()
    outs = _evaluate(model, resolved, x, progress=progress, desc=f"{method} n={n}")
    t2 = time.perf_counter()
    timings["sample_s"] = timings.get("sample_s", 0.0) + t1 - t0
    timings["evaluate_s"] = timings.get("evaluate_s", 0.0) + t2 - t1

    outputs = list(resolved["outputs"])
    report = _failure_report(resolved, x, outs, outputs)
    any_infeasible = report["n_infeasible"] > 0
    if any_infeasible and "feasible" not in outputs:
        outputs.append("feasible")
    rows: list[dict] = []
    handling: dict[str, dict] = {}
    fallback = None
    n_evals = x.shape[0]
    for o in outputs:
        seed = _analysis_seed(rng)
        if o == "feasible":
            y = outs["feasible"].astype(float)
            m = "pawn" if method == "delta" else method
            if np.ptp(y) == 0:
                handling[o] = {"status": "skipped", "reason": "feasible indicator is constant"}
                continue
            rows += _analyze(m, resolved, u, y, o, seed, design="main")
            handling[o] = {"status": "analysed", "method": m, "design": "main",
                           "note": "binary indicator of a physical steady state (1 = exists)"}
            continue
        y = outs[o]
        ok = outs["feasible"] & np.isfinite(y)
        if ok.all():
            if np.ptp(y) == 0:
                handling[o] = {"status": "skipped", "reason": "output constant over the design"}
                continue
            rows += _analyze(method, resolved, u, y, o, seed, design="main")
            handling[o] = {"status": "analysed", "method": method, "design": "main"}
            continue
        n_fail = int((~ok).sum())
        if resolved["failure_handling"] == "indicator":
            handling[o] = {"status": "skipped", "n_failed": n_fail,
                           "reason": "failure_handling='indicator': an output with infeasible "
                                     "samples is not analysed; see the 'feasible' indicator"}
            continue
        if method in ("delta", "pawn"):
            uu, yy, design, methods = u[ok], y[ok], "main_feasible_rows", [method]
        else:
            if fallback is None:
                t3 = time.perf_counter()
                fu = _design("latin", resolved, resolved["fallback_n"], rng)
                fx = _to_physical(fu, resolved, funcs, "latin")
                fo = _evaluate(model, resolved, fx, progress=progress, desc="fallback LHS")
                timings["evaluate_s"] += time.perf_counter() - t3
                n_evals += fx.shape[0]
                fallback = {"u": fu, "x": fx, "outs": fo}
            fo = fallback["outs"]
            fok = fo["feasible"] & np.isfinite(fo[o])
            uu, yy, design, methods = fallback["u"][fok], fo[o][fok], "fallback_feasible_rows", \
                ["delta", "pawn"]
        if yy.size < resolved["min_feasible_samples"] or np.ptp(yy) == 0:
            handling[o] = {"status": "skipped", "n_failed": n_fail,
                           "reason": f"only {yy.size} feasible samples (or constant output); "
                                     f"min_feasible_samples = {resolved['min_feasible_samples']}"}
            continue
        for m in methods:
            rows += _analyze(m, resolved, uu, yy, o, seed, design=design)
        handling[o] = {
            "status": "analysed_feasible_region", "method": "+".join(methods),
            "design": design, "n_failed_main": n_fail, "n_rows": int(yy.size),
            "note": (f"{method} needs its complete design, so it was not used for this output; "
                     "indices are conditional on feasibility (inputs restricted to the feasible "
                     "region, where they are no longer independent)")
            if method in _STRUCTURED else
            "indices computed on the feasible rows only (conditional on feasibility)",
        }
    return {"n": n, "u": u, "x": x, "outs": outs, "rows": rows, "handling": handling,
            "failures": report, "fallback": fallback, "n_evaluations": n_evals}


def _joint_pass(model, resolved: dict, rng: np.random.Generator, *, progress: bool,
                timings: dict) -> dict:
    """Shapley effects and given-data first-order indices on the joint posterior."""
    from iongrad.workflows.dependent import first_order_given_data, shapley_effects

    t0 = time.perf_counter()
    x = _joint_sample(resolved, rng)
    outs = _evaluate(model, resolved, x, progress=progress, desc="joint posterior")
    timings["evaluate_s"] = timings.get("evaluate_s", 0.0) + time.perf_counter() - t0
    names = [i["name"] for i in resolved["inputs"]]
    level = resolved["conf_level"]
    rows, handling = [], {}
    for o in resolved["outputs"]:
        if o == "feasible":
            continue
        y = outs[o]
        ok = outs["feasible"] & np.isfinite(y)
        if ok.sum() < 50 or np.ptp(y[ok]) == 0:
            handling[o] = {"status": "skipped",
                           "reason": f"{int(ok.sum())} feasible joint rows (or constant)"}
            continue
        xx, yy = x[ok], y[ok]
        n_rows = int(ok.sum())
        methods = resolved["joint"].get("methods", ("shapley", "given_data"))
        estimates = []
        if "shapley" in methods:
            estimates.append(("shapley", "Sh", shapley_effects(
                xx, yy, k=3, n_boot=resolved["num_resamples"], seed=_analysis_seed(rng),
                level=level)))
        if "given_data" in methods:
            estimates.append(("given_data", "S1", first_order_given_data(
                xx, yy, n_boot=resolved["num_resamples"], seed=_analysis_seed(rng),
                level=level)))
        # moment-independent indices need only a sample and its outputs: SALib's own
        # estimators, on the joint draws as drawn (dependent inputs included)
        # (given ranks in (0, 1), like the main design's unit hypercube: both indices
        # condition on quantile classes of each input, so ranks change nothing)
        if "pawn" in methods or "delta" in methods:
            from scipy.stats import rankdata

            uu = (rankdata(xx, axis=0) - 0.5) / xx.shape[0]
        for method in ("pawn", "delta"):
            if method in methods:
                rows += _analyze(method, resolved, uu, yy, o, _analysis_seed(rng),
                                 design="joint_posterior")
        for method, index, est in estimates:
            v, lo, hi = est[index], est[f"{index}_low"], est[f"{index}_high"]
            rows += [{"output": o, "method": method, "index": index, "parameter": nm,
                      "parameter2": "", "value": float(v[j]),
                      "conf": float((hi[j] - lo[j]) / 2), "ci_low": float(lo[j]),
                      "ci_high": float(hi[j]), "design": "joint_posterior",
                      "n_rows": n_rows} for j, nm in enumerate(names)]
        handling[o] = {"status": "analysed", "method": "+".join(methods),
                       "design": "joint_posterior", "n_rows": n_rows,
                       "n_infeasible": int((~ok).sum())}
    return {"x": x, "outs": outs, "rows": rows, "handling": handling}
