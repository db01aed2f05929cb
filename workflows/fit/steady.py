"""A steady-state fit (one or many cells, any composition): build, sample, summarise, write."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from iongrad.infer.diagnostics import count_nan_draws, diagnose, identifiability, summary_table
from iongrad.infer.model import (
    FEASIBLE_FLAG,
    build_model,
    derived_quantities,
    membrane_for_spec,
    model_inputs,
    unit_of,
)
from iongrad.models.membrane import composition_record
from iongrad.workflows.config import write_json_atomic
from iongrad.workflows.fit.config import fit_spec, load_dataset_ref, select_rows
from iongrad.workflows.fit.record import run_record
from iongrad.workflows.fit.sampling import sample

__all__ = ["run_steady"]


def run_steady(resolved: dict, out_dir: Path, *, progress: bool = False,
               overrides: Mapping[str, Any] | None = None) -> dict:
    """Fit a steady-state config and write ``posterior.nc``, ``summary.csv``, ``run.json``
    and ``config.resolved.json`` into ``out_dir``; the summary dict of ``iongrad fit``."""
    t0 = time.perf_counter()
    dataset = select_rows(load_dataset_ref(resolved["dataset"]), resolved["select"])
    spec = fit_spec(resolved)
    model, info = build_model(dataset, spec)
    t_build = time.perf_counter()
    s = resolved["sampler"]
    idata, timings = sample(model, info["obs_rows"], s, progress=progress)
    chain_note = timings.pop("chain_execution", None)
    n_prior_infeasible = _mask_infeasible_prior_predictive(idata)
    names = _summary_vars(idata, spec)
    # a derived quantity the fitted parameters do not move (r_in_MOhm of a K_Na-only
    # fit) is the same in every draw: its R-hat is undefined (NaN, left out of the
    # verdict), which is no reason for ArviZ's division warnings
    with np.errstate(invalid="ignore", divide="ignore"):
        summ = summary_table(idata, names)
        diag = diagnose(idata, [n for n in names if n in idata.posterior])
    summ.index.name = "variable"
    summ.insert(0, "unit", [unit_of(v) for v in summ.index])
    summ.to_csv(out_dir / "summary.csv")
    idata.to_netcdf(str(out_dir / "posterior.nc"))
    ident = identifiability(idata, list(spec.parameters), info["priors"])
    rows = info["rows"].reset_index()
    keep = [c for c in rows.columns if c in ("data_row", "cell", *info["observables"])
            or c in dataset.conditions]
    run = run_record(
        resolved, s, overrides=overrides, chain_note=chain_note, diagnostics=diag,
        identifiability=ident,
        dataset={"name": dataset.name, "csv": dataset.source.csv,
                 "sidecar": dataset.source.sidecar, "provenance": dataset.provenance,
                 "observables": list(dataset.observables),
                 "conditions": list(dataset.conditions), "cells": list(info["cells"])},
        model={**({"leak": spec.leak, "volume": spec.volume} if spec.membrane is None
                     else {}),
                  "composition": composition_record(membrane_for_spec(spec)),
                  "pooling": spec.pooling,
                  "parameterization": spec.parameterization,
                  "parameters": list(spec.parameters), "observables": list(info["observables"]),
                  "fxyd_states": list(info["fxyd_states"]), "fixed": spec.fixed,
                  "inputs": model_inputs(spec, info["rows"]),
                  "reference": spec.reference,
                  "noise": {o: {"family": n.family, "scale": n.scale, "sigma": n.sigma}
                            for o, n in info["noise"].items()},
                  "priors": {p: {"median": pr.median, "sd_log": pr.sd_log, "unit": pr.unit,
                                 "source": pr.source} for p, pr in info["priors"].items()}},
        derived={**info["derived"],
                    "note": "Steady state per cell and for the population at the reference "
                            "condition, at the reference condition in each FXYD state "
                            "(<name>_fxyd, <name>_cell_fxyd) and at each condition of the "
                            "data (<name>_condition, <name>_cell_condition); parameters the "
                            "fit does not estimate take their fixed or default values."},
        infeasible_draws=_infeasible_draws(
            idata, [n for n in names if not n.endswith(("_fxyd", "_condition"))],
            n_prior_infeasible, spec.reference),
        timings={"build_s": t_build - t0, **timings, "total_s": time.perf_counter() - t0},
        rows=json.loads(rows[keep].to_json(orient="records")),
        units={v: unit_of(v) for v in summ.index},
    )
    write_json_atomic(out_dir / "run.json", run)
    write_json_atomic(out_dir / "config.resolved.json", resolved)
    key = {n: float(summ.loc[n, "mean"]) for n in summ.index
           if n in spec.parameters or n in ("v_rest_mV", "na_i_mM", "atp_per_s", "o2_per_s")}
    return {"out_dir": str(out_dir), "verdict": diag["verdict"], "diagnostics": diag,
            "posterior_means": key, "warnings": ident["warnings"],
            "infeasible_draws": run["infeasible_draws"],
            "n_divergences": int(np.asarray(idata.sample_stats["diverging"]).sum())}


def _mask_infeasible_prior_predictive(idata) -> int:
    """Set the prior-predictive draws of prior draws without a physical steady state to
    NaN (the solver's placeholder state must never look like a prediction); return how
    many prior draws that was."""
    if not hasattr(idata, "prior") or FEASIBLE_FLAG not in idata.prior:
        return 0
    bad = np.asarray(idata.prior[FEASIBLE_FLAG].values) == 0
    if not bad.any():
        return 0
    if hasattr(idata, "prior_predictive"):
        for name in list(idata.prior_predictive.data_vars):
            da = idata.prior_predictive[name]
            extra = (None,) * (da.ndim - 2)
            idata.prior_predictive[name] = da.where(~bad[(..., *extra)])
    return int(bad.sum())


def _infeasible_draws(idata, names: list[str], n_prior: int, reference: dict) -> dict:
    """Counts of draws without a physical steady state (stored as NaN, never imputed)."""
    post = idata.posterior
    n_draws = int(post.sizes["chain"] * post.sizes["draw"])
    n_prior_draws = int(idata.prior.sizes["chain"] * idata.prior.sizes["draw"]) \
        if hasattr(idata, "prior") else 0
    derived = count_nan_draws(idata, names)
    draws_any = 0
    derived_vars = [n for n in names if n in post and np.isnan(post[n].values).any()]
    if derived_vars:
        holes = np.zeros((post.sizes["chain"], post.sizes["draw"]), bool)
        for n in derived_vars:
            v = np.asarray(post[n].values, dtype=float)
            holes |= np.isnan(v).reshape(v.shape[0], v.shape[1], -1).any(axis=2)
        draws_any = int(holes.sum())
    return {
        "posterior_draws": n_draws,
        "derived_at_reference": {"reference": dict(reference), "draws_with_nan": draws_any,
                                 "by_variable": derived},
        "prior_draws": n_prior_draws, "prior_draws_without_steady_state": n_prior,
        "note": "A derived quantity of a draw that has no physical steady state at the "
                "reference condition is stored as NaN and left out of its summary (column "
                "n_nan_draws of summary.csv); prior draws without a steady state at the data's "
                "conditions predict nothing (NaN in prior_predictive).",
    }


def _summary_vars(idata, spec) -> list[str]:
    post = idata.posterior
    names = []
    for p in spec.parameters:
        names += [n for n in (p, f"{p}_cell") if n in post]
    names += [n for n in ("k_na_shift_mM",) if n in post]
    derived = derived_quantities(membrane_for_spec(spec))
    names += [n for n in derived if n in post]
    # population level per FXYD state and per condition of the data (per cell: posterior.nc)
    names += [f"{n}{s}" for s in ("_fxyd", "_condition") for n in derived if f"{n}{s}" in post]
    names += [n for n in post.data_vars if n.startswith("sigma_") or n.endswith("_cell_sd_log")]
    return names


