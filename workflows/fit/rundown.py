"""A run-down fit (anoxia, ouabain): build, sample, derive, and write its outputs."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from iongrad.infer.diagnostics import diagnose, identifiability, summary_table
from iongrad.infer.rundown_model import (
    add_derived,
    build_rundown_model,
    model_inputs,
    trajectory_bands,
)
from iongrad.models.membrane import composition_record
from iongrad.models.quantities import unit_of
from iongrad.workflows.config import write_json_atomic
from iongrad.workflows.fit.config import rundown_spec
from iongrad.workflows.fit.record import run_record
from iongrad.workflows.fit.sampling import sample

__all__ = ["run_rundown"]

#: The derived quantities of a run-down fit (:func:`~iongrad.infer.rundown_model.add_derived`).
DERIVED = ("time_to_threshold_s", "v_end_mV", "na_i_end_mM", "k_i_end_mM", "k_o_end_mM")


def run_rundown(resolved: dict, dataset, out_dir: Path, *, progress: bool = False,
                overrides: Mapping[str, Any] | None = None) -> dict:
    """Fit a run-down config and write ``posterior.nc``, ``summary.csv``,
    ``trajectory_bands.csv``, ``run.json`` and ``config.resolved.json`` into ``out_dir``;
    the summary dict of ``iongrad fit``."""
    out_dir = Path(out_dir)
    t0 = time.perf_counter()
    spec = rundown_spec(resolved)
    model, info = build_rundown_model(dataset, spec)
    t_build = time.perf_counter()
    sampler = resolved["sampler"]
    idata, timings = sample(model, info["obs_rows"], sampler, progress=progress)
    chain_note = timings.pop("chain_execution", None)
    t_derived = time.perf_counter()
    derived = add_derived(idata, info)
    bands, bands_failed = trajectory_bands(idata, info, seed=int(sampler["seed"]) + 3)
    bands.to_csv(out_dir / "trajectory_bands.csv", index=False, float_format="%.6g")
    timings["derived_s"] = time.perf_counter() - t_derived
    names = [*spec.parameters, *(f"sigma_{o}" for o in info["observables"]), *DERIVED]
    names = [n for n in names if n in idata.posterior]
    summ = summary_table(idata, names)
    summ.index.name = "variable"
    summ.insert(0, "unit", [unit_of(v[6:] if v.startswith("sigma_") else v) for v in summ.index])
    summ.to_csv(out_dir / "summary.csv")
    idata.to_netcdf(str(out_dir / "posterior.nc"))
    diag = diagnose(idata, [n for n in names if n != "time_to_threshold_s"
                            or derived["fraction_reached"] == 1.0])
    ident = identifiability(idata, [p for p in spec.parameters
                                    if p != "extracellular_fraction"], info["priors"])
    op = info["op"]
    solves = op.failure_report() if op is not None else None
    n_div = int(np.asarray(idata.sample_stats["diverging"]).sum())
    run = run_record(
        resolved, sampler, overrides=overrides, chain_note=chain_note, diagnostics=diag,
        identifiability=ident,
        dataset={"name": dataset.name, "csv": dataset.source.csv,
                 "sidecar": dataset.source.sidecar, "provenance": dataset.provenance,
                 "observables": list(info["observables"]),
                 "recordings": sorted(set(info["prep"]["recordings"]))},
        model={"kind": "rundown", "composition": composition_record(spec.cell()),
               "mode": spec.mode, "method": spec.method,
               "ode_method": spec.ode_method, "rtol": spec.rtol, "atol": spec.atol,
               "parameters": list(spec.parameters), "fixed": info["fixed"],
               "inputs": model_inputs(spec, info),
               "ecs": info["ecs"], "observables": list(info["observables"]),
               "noise": {o: {"family": "normal", "scale": "linear",
                             "sigma": "estimate"} for o in info["observables"]},
               "priors": {p: {"median": pr.median, "sd_log": pr.sd_log, "unit": pr.unit,
                              "source": pr.source} for p, pr in info["priors"].items()}},
        # In the sampling processes the Op's counters are per process; solves that failed
        # during sampling show as divergent (-inf) transitions. The derived-quantity pass
        # and predictive draws below run here and are counted exactly.
        solve_failures={"main_process_op": solves, "derived": derived["n_failed"],
                        "divergent_transitions": n_div},
        derived=derived,
        trajectory_bands={"file": "trajectory_bands.csv", "n_failed": bands_failed},
        rows=_rows(info),
        timings={"build_s": t_build - t0, **timings, "total_s": time.perf_counter() - t0},
        units={v: summ.loc[v, "unit"] for v in summ.index},
    )
    write_json_atomic(out_dir / "run.json", run)
    write_json_atomic(out_dir / "config.resolved.json", resolved)
    key = {n: float(summ.loc[n, "mean"]) for n in summ.index if n in spec.parameters}
    return {"out_dir": str(out_dir), "verdict": diag["verdict"], "diagnostics": diag,
            "posterior_means": key, "warnings": ident["warnings"], "n_divergences": n_div}


def _rows(info: dict) -> list[dict[str, Any]]:
    """The data rows of run.json: recording, times and every fitted observable."""
    prep = info["prep"]
    out = []
    for i in range(len(prep["time_s"])):
        row = {"data_row": i + 1, "recording": str(prep["recordings"][i]),
               "time_s": float(prep["time_s"][i]), "onset_s": float(prep["onset_s"][i]),
               "time_since_onset_s": float(prep["since"][i])}
        for o in info["observables"]:
            v = float(prep["values"][o][i])
            row[o] = v if np.isfinite(v) else None
        out.append(row)
    return out
