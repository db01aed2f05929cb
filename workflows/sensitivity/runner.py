"""Running a resolved sensitivity config into a folder."""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

from iongrad.models.errors import ConfigError, IongradError
from iongrad.workflows.config import config_hash, input_paths, run_into_folder, write_json_atomic
from iongrad.workflows.sensitivity.analysis import _analysis_seed
from iongrad.workflows.sensitivity.indices import (
    _MAIN_INDEX,
    _joint_notes,
    _max_st_halfwidth,
    _outcome,
    _resolution_notes,
    ranking_resolution,
)
from iongrad.workflows.sensitivity.outputs import _plots, _versions, _write_indices, _write_samples
from iongrad.workflows.sensitivity.passes import _joint_pass, _one_pass
from iongrad.workflows.sensitivity.posterior import fit_context_notes
from iongrad.workflows.sensitivity.resolve import resolve_config


class InsufficientFeasibleError(IongradError):
    """Raised when the convergence loop cannot analyse any output."""


def run_config(resolved: dict, out_dir: Path, *, progress: bool = False) -> dict:
    """Run a resolved sensitivity config and write its results into ``out_dir``.

    Parameters
    ----------
    resolved : dict
        Output of :func:`resolve_config`.
    out_dir : pathlib.Path
        Folder for ``indices.csv``, ``samples.nc`` (and ``samples_fallback.nc``),
        ``run.json`` and ``<method>_<output>.png``; created if missing.
    progress : bool
        Show a tqdm progress bar on stderr during evaluation.

    Returns
    -------
    dict
        Small JSON-serialisable summary: model, method, n, evaluations, failure
        fraction, per-output handling and top-ranked parameters, files written.
    """
    from iongrad.workflows.registry import model_of

    if resolved.get("kind") != "sensitivity":
        raise ConfigError(f"run_config: expected a resolved sensitivity config "
                          f"(kind 'sensitivity'), got kind {resolved.get('kind')!r}")
    t_start = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model = model_of(resolved)
    rng = np.random.default_rng(resolved["seed"])  # the only Generator of the run
    timings: dict[str, float] = {}
    history = []
    n = resolved["n"]
    n_total = 0
    target = resolved["target_ci_halfwidth"]
    while True:
        t0 = time.perf_counter()
        res = _one_pass(model, resolved, n, rng, progress=progress, timings=timings)
        timings["pass_s"] = timings.get("pass_s", 0.0) + time.perf_counter() - t0
        n_total += res["n_evaluations"]
        hw = _max_st_halfwidth(res["rows"])
        worst = max(hw.values()) if hw else float("nan")
        history.append({"n": n, "n_evaluations": res["n_evaluations"],
                        "max_st_ci_halfwidth": worst, "per_output": hw})
        if target is None or (hw and worst < target) or 2 * n > resolved["max_n"]:
            break
        if not hw:
            raise InsufficientFeasibleError(
                "target_ci_halfwidth: no output could be analysed on the full design, so "
                "the CI target cannot be checked")
        n *= 2
    # analysis time = pass time minus sampling and evaluation
    timings["analyze_s"] = timings.pop("pass_s") - timings["sample_s"] - timings["evaluate_s"]
    converged = None if target is None else bool(hw) and worst < target

    joint = None
    if resolved.get("joint"):
        t_j = time.perf_counter()
        joint = _joint_pass(model, resolved, rng, progress=progress, timings=timings)
        timings["joint_s"] = time.perf_counter() - t_j
        n_total += joint["x"].shape[0]

    rule = None
    if 0 < res["failures"]["n_infeasible"] < res["failures"]["n_samples"]:
        from iongrad.workflows.failure_rule import failure_rule

        rule = failure_rule(res["x"], res["outs"]["feasible"],
                            [i["name"] for i in resolved["inputs"]],
                            seed=_analysis_seed(rng))

    t_w = time.perf_counter()
    rows = res["rows"] + (joint["rows"] if joint else [])
    _write_indices(out_dir / "indices.csv", rows)
    h = config_hash(resolved)
    attrs = {"model": resolved["model"], "method": resolved["method"], "n": n,
             "seed": resolved["seed"], "config_hash": h, "design": "main",
             "note": "inputs in physical units; design drawn in the unit hypercube"}
    _write_samples(out_dir / "samples.nc", model, resolved, res["x"], res["outs"], attrs)
    files = ["indices.csv", "samples.nc"]
    if res["fallback"] is not None:
        fb = res["fallback"]
        _write_samples(out_dir / "samples_fallback.nc", model, resolved, fb["x"], fb["outs"],
                       {**attrs, "design": "latin hypercube fallback (feasible_region)"})
        files.append("samples_fallback.nc")
    if joint is not None:
        _write_samples(out_dir / "samples_joint.nc", model, resolved, joint["x"],
                       joint["outs"], {**attrs, "design": "joint posterior draws"})
        files.append("samples_joint.nc")
    files += _plots(out_dir, rows)
    if rule is not None:
        from iongrad.workflows.failure_rule import plot_failure_region

        plot_failure_region(out_dir / "failure_region.png", res["x"], res["outs"]["feasible"],
                            [i["name"] for i in resolved["inputs"]], rule,
                            {i["name"]: i["unit"] for i in resolved["inputs"]})
        files.append("failure_region.png")
    timings["write_s"] = time.perf_counter() - t_w
    timings["total_s"] = time.perf_counter() - t_start

    ci = {}
    for r in rows:
        if r["index"] in ("S1", "ST", "mu_star", "delta") and not math.isnan(r["conf"]):
            ci.setdefault(r["output"], {}).setdefault(r["index"], {})[r["parameter"]] = r["conf"]
    notes = [
        "Design drawn in the unit hypercube and mapped through each input's quantile "
        "function; Morris mu*/sigma and PAWN slices are in quantile units.",
        "Confidence intervals are SALib's bootstrap: value +/- z * bootstrap sd "
        f"(conf_level {resolved['conf_level']}).",
    ]
    if resolved["method"] == "efast":
        notes.append("eFAST bootstrap confidence intervals are indicative only (SALib issue "
                     "#649); the convergence criterion uses them as such.")
    if any(i["source"] == "posterior" for i in resolved["inputs"]):
        notes.append(f"The {resolved['method']} indices sample posterior inputs independently "
                     "through each variable's empirical marginal quantile function "
                     "(independent marginals): posterior correlations between parameters are "
                     "ignored there.")
    if joint is not None:
        notes.append(
            "Joint-posterior indices (design 'joint_posterior') use the posterior draws as "
            "drawn, with their correlations. A Shapley effect (Sh) is the share of the "
            "output's variance an input accounts for, sharing every interaction and every "
            "dependence fairly among the inputs involved (the effects sum to 1). A "
            "given-data first-order index (given_data S1) is Var(E[Y | X_i])/Var(Y): with "
            "dependent inputs it includes the effect of X_i's correlated partners, so these "
            "can sum to more than 1. Estimators: nearest-neighbour Shapley (Broto, Bachoc & "
            "Depecker 2020) and rank-based S1 (Gamboa, Klein & Lagnoux 2018); intervals are "
            "bootstrap percentiles over the draws. PAWN (and delta, when listed in "
            "[posterior] joint_methods) on the joint draws are moment-independent: how far "
            "the output's whole distribution moves when one input is known, which with "
            "dependent inputs also includes what that input says about its partners.")
        notes += _joint_notes(res["rows"], joint["rows"])
    fc = resolved.get("fit_context")
    if fc:
        notes += fit_context_notes(fc)
    if res["failures"]["n_infeasible"]:
        notes.append(
            f"{res['failures']['n_infeasible']} of {res['failures']['n_samples']} samples of "
            f"the main design had no physical steady state; handling per output is in "
            f"'failure_handling' (mode {resolved['failure_handling']!r}). Infeasible samples "
            "were never passed to SALib and never imputed.")
    if rule is not None:
        notes.append(
            f"Where there is no steady state: {rule.text} (a depth-2 decision tree on the "
            f"main design, in log units; right on {rule.accuracy:.0%} of {rule.n_test} "
            f"held-out samples, against {rule.baseline_accuracy:.0%} for always guessing the "
            f"majority; the most decisive inputs: {', '.join(rule.decisive)}; plot "
            "failure_region.png).")
    n_by_design = {"main": n}
    if res["fallback"] is not None:
        n_by_design["fallback_feasible_rows"] = resolved["fallback_n"]
    if joint is not None:
        n_by_design["joint_posterior"] = int(joint["x"].shape[0])
    resolution = ranking_resolution(rows, n_by_design)
    notes += _resolution_notes(resolution)
    outcome = _outcome(resolved, res)
    if outcome["message"]:
        notes.insert(0, outcome["message"])
    run_info = {
        "kind": "sensitivity",
        "outcome": outcome,
        "config": resolved,
        "config_hash": h,
        "seed": resolved["seed"],
        "model": resolved["model"],
        "method": resolved["method"],
        "n_final": n,
        "n_evaluations": n_total,
        "n_evaluations_final_pass": res["n_evaluations"],
        "timings_s": timings,
        "throughput_eval_per_s": n_total / timings["evaluate_s"] if timings["evaluate_s"]
        else None,
        "failures": res["failures"],
        "failure_handling": {"mode": resolved["failure_handling"], "outputs": res["handling"]},
        **({"joint_posterior": {"n_rows": int(joint["x"].shape[0]),
                                "outputs": joint["handling"]}} if joint else {}),
        "ci_halfwidths": ci,
        "ranking_resolution": resolution,
        **({"failure_rule": rule.as_dict()} if rule is not None else {}),
        "convergence": {"target_ci_halfwidth": target, "max_n": resolved["max_n"],
                        "converged": converged, "history": history},
        "files": files,
        "notes": notes,
        "versions": _versions(),
    }
    write_json_atomic(out_dir / "run.json", run_info)

    summary_outputs = {}
    for o, hnd in res["handling"].items():
        entry = {"status": hnd["status"], "method": hnd.get("method")}

        method_used = (hnd.get("method") or "").split("+")[0]
        idx = _MAIN_INDEX.get(method_used)
        ranked = sorted((r for r in rows if r["output"] == o and r["index"] == idx
                         and r["method"] == method_used),
                        key=lambda r: -r["value"])
        entry["ranking"] = [r["parameter"] for r in ranked]
        entry["index"] = idx
        summary_outputs[o] = entry
    return {
        "kind": "sensitivity", "out_dir": str(out_dir), "config_hash": h, "outcome": outcome,
        "model": resolved["model"], "method": resolved["method"], "n": n,
        "n_evaluations": n_total,
        "infeasible_fraction": res["failures"]["infeasible_fraction"],
        "converged": converged, "outputs": summary_outputs, "files": files,
        "total_s": timings["total_s"],
    }


def run_into(raw: dict, base_dir: Path, out: str | Path, *, config_path: Path | None = None,
             force: bool = False, progress: bool = False,
             report: bool = True) -> tuple[dict, dict, Path]:
    """Resolve a sensitivity config, run it into ``out`` (atomically), write its report.

    The pipeline of ``iongrad sensitivity`` and :func:`iongrad.sensitivity`.

    Returns
    -------
    (summary, resolved, out) : tuple
        :func:`run_config`'s summary (``out_dir`` the final folder), the resolved
        config and the absolute output folder.
    """
    resolved = resolve_config(raw, Path(base_dir).resolve())
    final = Path(out).resolve()

    def work(tmp: Path) -> dict:
        result = run_config(resolved, tmp, progress=progress)
        if report:
            from iongrad.workflows.report import write_report

            # written before the rename: the report names the final folder, not tmp
            write_report(tmp, run_folder=final)
        return result

    extra = (config_path,) if config_path is not None else ()
    summary = run_into_folder(out,  # as given: a symbolic link is refused
                              work, force=force, inputs=input_paths(resolved, *extra))
    summary["out_dir"] = str(final)
    return summary, resolved, final
