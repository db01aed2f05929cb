"""Bayesian fit of the pump–leak steady state: ``iongrad fit CONFIG.toml --out DIR``.

Config (TOML, parsed as data only)::

    [fit]
    dataset = "synthetic_vrest_ko"      # a shipped dataset name, or a CSV path
    sidecar = "my_data.json"            # optional; default: the CSV's stem + .json
    parameters = ["g_na_nS", "g_k_nS", "pump_density_per_um2"]
    observables = ["v_rest_mV", "r_in_MOhm"]   # optional; default: all the model predicts
    pooling = "partial"                 # or "complete", "none", or a table per parameter
    parameterization = "centered"       # or "noncentered"
    leak = "ohmic"                      # or "ghk"
    volume = "fixed"                    # or "osmotic"
    cell_sd_scale = 0.2                 # median cell-to-cell SD of log parameters
    select = { preparation = "isolated ventricular myocytes" }   # optional row filter

    [fixed]            # model parameters held fixed (units in the names)
    g_cl_nS = 0.3

    [priors.g_na_nS]   # override a default prior (log-normal)
    median = 0.15
    sd_log = 1.0

    [noise.na_i_mM]    # observation noise: family, scale, sigma ("estimate"|"known"|number)
    sigma = 0.5

    [reference]        # condition at which derived quantities are reported
    k_o_mM = 4.0

    [sampler]
    seed = 1           # required
    draws = 500
    tune = 500
    chains = 2
    cores = 2
    target_accept = 0.9
    prior_draws = 500
    init = "jitter+adapt_diag"   # "jitter+adapt_full" learns a dense mass matrix:
                                 # faster when parameters are strongly correlated

Writes ``posterior.nc`` (InferenceData: posterior, prior, posterior_predictive,
observed_data, constant_data, sample_stats), ``summary.csv`` (94% HDI, units),
``config.resolved.json`` and ``run.json`` (metadata, diagnostics verdict,
identifiability), and prints the diagnostics verdict. ``--strict`` turns a failed
verdict into exit code 1.
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from pathlib import Path
from typing import Any

from iongrad.models.errors import ConfigError, DataError
from iongrad.workflows.config import (
    check_keys,
    input_paths,
    load_toml,
    package_versions,
    require,
    run_into_folder,
    write_json_atomic,
)

__all__ = ["add_arguments", "resolve_config", "run", "run_config"]

_TOP = ("fit", "fixed", "priors", "noise", "reference", "sampler", "kind", "description")
_FIT = ("dataset", "sidecar", "parameters", "observables", "pooling", "parameterization",
        "leak", "volume", "cell_sd_scale", "select")
_SAMPLER = {"seed": None, "draws": 500, "tune": 500, "chains": 2, "cores": 1,
            "target_accept": 0.9, "prior_draws": 500, "init": "jitter+adapt_diag"}
_INITS = ("jitter+adapt_diag", "adapt_diag", "jitter+adapt_full", "adapt_full")
_NOISE = ("family", "scale", "sigma", "prior_sigma", "nu")


def _dataset_ref(fit: dict, base_dir: Path) -> dict:
    from iongrad.data import list_shipped

    ds = require(fit, "dataset", "fit", str)
    if ds in list_shipped():
        return {"shipped": ds}
    path = (base_dir / ds).resolve()
    if not path.exists():
        raise ConfigError(f"fit.dataset: {ds!r} is neither a shipped dataset "
                          f"({', '.join(list_shipped())}) nor an existing file "
                          f"(looked for {str(path)!r})")
    out = {"csv": str(path)}
    if "sidecar" in fit:
        side = (base_dir / require(fit, "sidecar", "fit", str)).resolve()
        if not side.exists():
            raise ConfigError(f"fit.sidecar: {str(side)!r} does not exist")
        out["sidecar"] = str(side)
    return out


def load_dataset_ref(ref: dict):
    """Load the dataset a resolved config points at."""
    from iongrad.data import load_dataset, load_shipped

    if "shipped" in ref:
        return load_shipped(ref["shipped"])
    return load_dataset(ref["csv"], ref.get("sidecar"))


def _positive_int(section, key, where, default):
    val = section.get(key, default)
    if not isinstance(val, int) or isinstance(val, bool) or val < 1:
        raise ConfigError(f"{where}.{key}: expected an integer >= 1, got {val!r}")
    return val


def resolve_config(raw: dict, base_dir: Path) -> dict:
    """Validate a fit config and fill defaults; raises ConfigError naming the key.

    The dataset is loaded and the model spec checked against it here, so every
    error surfaces before any sampling starts.
    """
    if isinstance(raw.get("fit"), dict) and raw["fit"].get("model") == "rundown":
        from iongrad.infer.rundown_model import resolve_rundown_config

        ref = _dataset_ref(raw["fit"], Path(base_dir))
        return resolve_rundown_config(raw, ref, load_dataset_ref(ref))
    check_keys(raw, _TOP, "config")
    if "fit" not in raw or not isinstance(raw["fit"], dict):
        raise ConfigError("config: missing [fit] section")
    fit = raw["fit"]
    check_keys(fit, _FIT, "fit")
    ref = _dataset_ref(fit, Path(base_dir))
    params = fit.get("parameters", ["g_na_nS", "g_k_nS", "pump_density_per_um2"])
    if not isinstance(params, list) or not all(isinstance(p, str) for p in params):
        raise ConfigError(f"fit.parameters: expected a list of names, got {params!r}")
    obs = fit.get("observables")
    if obs is not None and (not isinstance(obs, list) or not all(isinstance(o, str)
                                                                 for o in obs)):
        raise ConfigError(f"fit.observables: expected a list of names, got {obs!r}")
    pooling = fit.get("pooling", "partial")
    if not isinstance(pooling, str | dict):
        raise ConfigError(f"fit.pooling: expected a string or a table, got {pooling!r}")
    select = fit.get("select", {})
    if not isinstance(select, dict):
        raise ConfigError(f"fit.select: expected a table column = value, got {select!r}")
    fixed = raw.get("fixed", {})
    priors = raw.get("priors", {})
    noise = raw.get("noise", {})
    for name, sec in (("fixed", fixed), ("priors", priors), ("noise", noise)):
        if not isinstance(sec, dict):
            raise ConfigError(f"[{name}] must be a table, got {sec!r}")
    for o, nz in noise.items():
        if not isinstance(nz, dict):
            raise ConfigError(f"noise.{o}: expected a table, got {nz!r}")
        check_keys(nz, _NOISE, f"noise.{o}")
    for p, pr in priors.items():
        if not isinstance(pr, dict):
            raise ConfigError(f"priors.{p}: expected a table with median, sd_log; got {pr!r}")
    reference = raw.get("reference", {"k_o_mM": 4.0})
    sampler_raw = raw.get("sampler", {})
    check_keys(sampler_raw, _SAMPLER, "sampler")
    seed = require(sampler_raw, "seed", "sampler", int)
    if seed < 0:
        raise ConfigError(f"sampler.seed: must be >= 0, got {seed!r}")
    sampler = {k: sampler_raw.get(k, v) for k, v in _SAMPLER.items()}
    for k in ("draws", "tune", "chains", "cores", "prior_draws"):
        sampler[k] = _positive_int(sampler_raw, k, "sampler", _SAMPLER[k])
    ta = sampler["target_accept"]
    if not isinstance(ta, float) or not 0.5 <= ta < 1.0:
        raise ConfigError(f"sampler.target_accept: expected a number in [0.5, 1), got {ta!r}")
    if sampler["init"] not in _INITS:
        raise ConfigError(f"sampler.init: expected one of {_INITS}, got {sampler['init']!r}")
    resolved = {
        "kind": "fit",
        "description": raw.get("description", ""),
        "dataset": ref,
        "parameters": params, "observables": obs, "pooling": pooling,
        "parameterization": fit.get("parameterization", "centered"),
        "leak": fit.get("leak", "ohmic"), "volume": fit.get("volume", "fixed"),
        "cell_sd_scale": float(fit.get("cell_sd_scale", 0.2)),
        "select": select, "fixed": fixed, "priors": priors, "noise": noise,
        "reference": reference, "sampler": sampler,
    }
    dataset = _select(load_dataset_ref(ref), select)
    from iongrad.infer.model import _check_spec

    _check_spec(fit_spec(resolved), dataset)
    return resolved


def _select(dataset, select: dict):
    """Keep the rows whose columns equal the given values (``[fit] select``)."""
    if not select:
        return dataset
    import dataclasses

    frame = dataset.frame
    mask = None
    for col, val in select.items():
        if col not in frame.columns:
            raise ConfigError(f"fit.select.{col}: dataset {dataset.name!r} has no column "
                              f"{col!r}; columns: {list(frame.columns)}")
        m = frame[col] == val
        mask = m if mask is None else mask & m
    if not mask.any():
        raise ConfigError(f"fit.select: no row of {dataset.name!r} matches {select!r}")
    return dataclasses.replace(dataset, frame=frame.loc[mask].copy())


def fit_spec(resolved: dict):
    """The :class:`~iongrad.infer.model.FitSpec` of a resolved config."""
    from iongrad.infer.model import FitSpec, ObservationNoise

    noise = {}
    for o, nz in resolved["noise"].items():
        from iongrad.infer.model import NOISE_DEFAULTS

        base = NOISE_DEFAULTS.get(o, {"scale": "linear", "prior_sigma": 1.0})
        noise[o] = ObservationNoise(family=nz.get("family", "normal"),
                                    scale=nz.get("scale", base["scale"]),
                                    sigma=nz.get("sigma", "estimate"),
                                    prior_sigma=nz.get("prior_sigma", base["prior_sigma"]),
                                    nu=nz.get("nu", 4.0))
    return FitSpec(parameters=tuple(resolved["parameters"]),
                   observables=tuple(resolved["observables"]) if resolved["observables"]
                   else None,
                   pooling=resolved["pooling"], leak=resolved["leak"],
                   volume=resolved["volume"], fixed=dict(resolved["fixed"]),
                   priors=dict(resolved["priors"]), noise=noise,
                   cell_sd_scale=resolved["cell_sd_scale"],
                   parameterization=resolved["parameterization"],
                   reference=dict(resolved["reference"]))


def _summary_vars(idata, spec) -> list[str]:
    post = idata.posterior
    names = []
    for p in spec.parameters:
        names += [n for n in (p, f"{p}_cell") if n in post]
    names += [n for n in ("k_na_shift_mM",) if n in post]
    from iongrad.infer.model import DERIVED

    names += [n for n in DERIVED if n in post]
    names += [n for n in post.data_vars if n.startswith("sigma_") or n.endswith("_cell_sd_log")]
    return names


def run_config(resolved: dict, out_dir: Path, *, progress: bool = False) -> dict:
    """Fit with NUTS and write every output into ``out_dir`` (which must exist)."""
    import numpy as np
    import pymc as pm

    from iongrad.infer.diagnostics import diagnose, identifiability, summary_table
    from iongrad.infer.interrupts import check_complete_posterior, sampling_guard
    from iongrad.infer.model import build_model, unit_of

    if resolved.get("model") == "rundown":
        from iongrad.infer.rundown_model import run_rundown_config

        return run_rundown_config(resolved, load_dataset_ref(resolved["dataset"]), out_dir,
                                  progress=progress)
    out_dir = Path(out_dir)
    t0 = time.perf_counter()
    dataset = _select(load_dataset_ref(resolved["dataset"]), resolved["select"])
    spec = fit_spec(resolved)
    model, info = build_model(dataset, spec)
    t_build = time.perf_counter()
    s = resolved["sampler"]
    seed = s["seed"]
    with model, warnings.catch_warnings():
        # The feasibility Potential only rules out parameter sets without a steady state;
        # predictive draws come from posterior draws, which all have one.
        warnings.filterwarnings("ignore", message="The effect of Potentials")
        try:
            with sampling_guard():
                idata = pm.sample(draws=s["draws"], tune=s["tune"], chains=s["chains"],
                                  cores=s["cores"], target_accept=s["target_accept"],
                                  init=s["init"], random_seed=seed, progressbar=progress,
                                  compute_convergence_checks=False)
            # PyMC returns the draws so far when interrupted: never keep those
            check_complete_posterior(idata, draws=s["draws"], chains=s["chains"])
        except pm.exceptions.SamplingError as exc:
            bad = ", ".join(f"{k}={v}" for k, v in
                            getattr(exc, "initial_point", {}).items()) or "see [fixed]"
            raise ConfigError(
                "the model cannot be evaluated at its starting point (log-probability "
                f"not finite); check the [fixed] values and priors ({bad})") from None
        t_sample = time.perf_counter()
        prior = pm.sample_prior_predictive(draws=s["prior_draws"], random_seed=seed + 1)
        idata.extend(prior)
        pm.sample_posterior_predictive(idata, random_seed=seed + 2, extend_inferencedata=True,
                                       progressbar=False)
    t_pp = time.perf_counter()
    names = _summary_vars(idata, spec)
    summ = summary_table(idata, names)
    summ.index.name = "variable"
    summ.insert(0, "unit", [unit_of(v) for v in summ.index])
    summ.to_csv(out_dir / "summary.csv")
    idata.to_netcdf(str(out_dir / "posterior.nc"))
    diag = diagnose(idata, [n for n in names if n in idata.posterior])
    ident = identifiability(idata, list(spec.parameters), info["priors"])
    rows = info["rows"].reset_index()
    keep = [c for c in rows.columns if c in ("data_row", "cell", *info["observables"])
            or c in dataset.conditions]
    run = {
        "kind": "fit", "seed": seed,
        "description": resolved.get("description", ""),
        "versions": package_versions(("iongrad", "numpy", "scipy", "pymc", "pytensor",
                                      "arviz", "pandas")),
        "dataset": {"name": dataset.name, "csv": dataset.source.csv,
                    "sidecar": dataset.source.sidecar,
                    "provenance": dataset.provenance,
                    "observables": list(dataset.observables),
                    "conditions": list(dataset.conditions), "cells": list(info["cells"])},
        "model": {"leak": spec.leak, "volume": spec.volume, "pooling": spec.pooling,
                  "parameterization": spec.parameterization,
                  "parameters": list(spec.parameters), "observables": list(info["observables"]),
                  "fxyd_states": list(info["fxyd_states"]), "fixed": spec.fixed,
                  "reference": spec.reference,
                  "noise": {o: {"family": n.family, "scale": n.scale, "sigma": n.sigma}
                            for o, n in info["noise"].items()},
                  "priors": {p: {"median": pr.median, "sd_log": pr.sd_log, "unit": pr.unit,
                                 "source": pr.source} for p, pr in info["priors"].items()}},
        "sampler": dict(s),
        "diagnostics": diag,
        "identifiability": ident,
        "timings": {"build_s": t_build - t0, "sample_s": t_sample - t_build,
                    "predictive_s": t_pp - t_sample, "total_s": time.perf_counter() - t0},
        "rows": json.loads(rows[keep].to_json(orient="records")),
        "units": {v: unit_of(v) for v in summ.index},
    }
    write_json_atomic(out_dir / "run.json", run)
    write_json_atomic(out_dir / "config.resolved.json", resolved)
    key = {n: float(summ.loc[n, "mean"]) for n in summ.index
           if n in spec.parameters or n in ("v_rest_mV", "na_i_mM", "atp_per_s", "o2_per_s")}
    return {"out_dir": str(out_dir), "verdict": diag["verdict"], "diagnostics": diag,
            "posterior_means": key, "warnings": ident["warnings"],
            "n_divergences": int(np.asarray(idata.sample_stats["diverging"]).sum())}


def format_verdict(diag: dict) -> str:
    """Multi-line human-readable diagnostics verdict."""
    lines = [f"diagnostics: {diag['verdict'].upper()}"]
    for c in diag["checks"]:
        val = c["value"]
        shown = f"{val:.4g}" if isinstance(val, float) else str(val)
        mark = "ok  " if c["passed"] else "FAIL"
        worst = f" (worst: {c['worst']})" if c["worst"] and not c["passed"] else ""
        lines.append(f"  [{mark}] {c['name']:<11} {shown:>10}  needs {c['threshold']}{worst}")
        if not c["passed"]:
            lines.append(f"         {c['advice']}")
    return "\n".join(lines)


def add_arguments(parser) -> None:
    """Register ``iongrad fit`` arguments."""
    parser.add_argument("config", help="fit config (TOML)")
    parser.add_argument("--out", required=True, help="output folder (created; must be empty)")
    parser.add_argument("--force", action="store_true", help="replace a non-empty --out")
    parser.add_argument("--strict", action="store_true",
                        help="exit with code 1 when the diagnostics verdict fails")
    parser.add_argument("--no-report", action="store_true", help="skip the HTML/MD report")
    bar = parser.add_mutually_exclusive_group()
    bar.add_argument("--progress", dest="progress", action="store_true", default=None)
    bar.add_argument("--no-progress", dest="progress", action="store_false")


def run(args) -> int:
    """Run ``iongrad fit``."""
    cfg = Path(args.config)
    raw = load_toml(cfg)
    try:
        resolved = resolve_config(raw, cfg.resolve().parent)
    except DataError as exc:
        raise ConfigError(f"fit.dataset: {exc}") from None
    progress = sys.stderr.isatty() if args.progress is None else args.progress

    def work(tmp: Path) -> dict[str, Any]:
        summary = run_config(resolved, tmp, progress=progress)
        if not args.no_report:
            _try_report(tmp)
        return summary

    inputs = input_paths(resolved, cfg)
    summary = run_into_folder(args.out, work, force=args.force, inputs=inputs)
    out = Path(args.out).resolve()
    print(f"fit written to {out}")
    print(format_verdict(summary["diagnostics"]))
    for w in summary["warnings"]:
        print(f"  warning: {w}")
    if args.strict and summary["verdict"] != "pass":
        return 1
    return 0


def _try_report(run_dir: Path) -> None:
    try:
        from iongrad.workflows.report import write_report
    except ImportError:
        return
    write_report(run_dir)
