"""Bayesian fit of the pump–leak steady state: ``iongrad fit CONFIG.toml --out DIR``.

Config (TOML, parsed as data only)::

    [fit]
    dataset = "synthetic_vrest_ko"      # a shipped dataset name, or a CSV path
    sidecar = "my_data.json"            # optional; default: the CSV's stem + .json
    parameters = ["g_na_nS", "g_k_nS", "pump_density_per_um2"]
    observables = ["v_rest_mV", "r_in_MOhm"]   # optional; default: all the model predicts
    pooling = "partial"                 # or "complete", "none", or a table per parameter
    parameterization = "centered"       # or "noncentered"
    leak = "ohmic"                      # or "ghk"   (shorthand for [model] composition)
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

    [model]            # instead of leak/volume: a named composition ...
    composition = "pump_leak_hco3"
    # ... or one declared as data:
    # name = "my_cell"
    # mechanisms = ["ghk_leak:na", "ghk_leak:k", "ohmic_leak:cl", "na_k_pump",
    #               "activity_load"]
    # volume = "fixed"

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
log_likelihood (pointwise, per data row: :mod:`iongrad.infer.loglik`), observed_data,
constant_data, sample_stats), ``summary.csv`` (94% HDI, units),
``config.resolved.json`` and ``run.json`` (metadata, diagnostics verdict,
identifiability, the effective config, the data files' SHA-256), and prints the
diagnostics verdict. ``--strict`` turns a failed verdict into exit code 1.
``--seed N`` and ``--draws N`` replace ``[sampler] seed`` and ``draws`` for one run;
``run.json`` records them under ``overrides``.
"""

from __future__ import annotations

import copy
import hashlib
import json
import sys
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from iongrad.models.errors import ConfigError, DataError
from iongrad.workflows.config import (
    input_paths,
    load_toml,
    package_versions,
    print_report_paths,
    run_into_folder,
    write_json_atomic,
)
from iongrad.workflows.schema import (
    DEFAULT_FIT_PARAMETERS,
    FitConfig,
    RundownFitConfig,
    close_match,
    named_source,
    source_of,
    validate,
)

__all__ = ["OVERRIDES", "add_arguments", "apply_overrides", "check_override",
           "dataset_digests", "fit_into_folder", "rebuild_model", "resolve_config", "run",
           "run_config"]

#: Sampler defaults (the schema, :class:`iongrad.workflows.schema.SamplerSection`,
#: declares the types and caps).
_SAMPLER = {"seed": None, "draws": 500, "tune": 500, "chains": 2, "cores": 1,
            "target_accept": 0.9, "prior_draws": 500, "init": "jitter+adapt_diag",
            "backend": "pymc"}


#: Sampler keys a command-line option or an API argument may set over the config:
#: name -> (config key, lowest allowed value, what it is).
OVERRIDES: dict[str, tuple[str, int, str]] = {
    "seed": ("sampler.seed", 0, "random seed of the sampler"),
    "draws": ("sampler.draws", 1, "posterior draws per chain"),
}


def check_override(name: str, value: Any) -> int:
    """Check a ``--seed``/``--draws`` value; return it as an int.

    Raises
    ------
    ConfigError
        Naming the option, the value and what is allowed.
    """
    from iongrad.infer.limits import SAMPLER_CAPS, SEED_LIMIT

    _, lowest, what = OVERRIDES[name]
    # the schema's own bounds (infer/limits.py), named after the option, not the key
    allowed = (f"an integer >= {lowest} and < {SEED_LIMIT}" if name == "seed"
               else f"an integer >= {lowest} and <= {SAMPLER_CAPS[name]}")
    if isinstance(value, str):
        try:
            value = int(value.strip(), 10)
        except ValueError:
            raise ConfigError(f"--{name}: expected {allowed} ({what}), got "
                              f"{value!r}") from None
    if isinstance(value, bool) or not isinstance(value, int) or value < lowest \
            or (name == "seed" and value >= SEED_LIMIT) \
            or (name != "seed" and value > SAMPLER_CAPS[name]):
        raise ConfigError(f"--{name}: expected {allowed} ({what}), got {value!r}")
    return value


def apply_overrides(raw: Mapping[str, Any], **values: Any) -> tuple[dict, dict]:
    """The config with ``seed``/``draws`` overrides set, and the record of what changed.

    Parameters
    ----------
    raw : mapping
        A parsed config (left unchanged).
    **values
        ``seed=`` and/or ``draws=``; ``None`` leaves the config's value.

    Returns
    -------
    (config, overrides) : tuple of dict
        ``config`` a copy of ``raw`` (a ``TomlConfig`` keeps its file name) with the
        values set; ``overrides`` maps each overridden key (``"sampler.seed"``) to
        ``{"config": value in the file or None, "value": value used}``.
    """
    unknown = sorted(set(values) - set(OVERRIDES))
    if unknown:
        raise TypeError(f"no override {unknown[0]!r}; allowed: {', '.join(OVERRIDES)}")
    config = copy.deepcopy(raw)
    record: dict[str, dict[str, Any]] = {}
    for name, value in values.items():
        if value is None:
            continue
        value = check_override(name, value)
        section, key = OVERRIDES[name][0].split(".")
        table = config.get(section)
        if table is None:
            table = config[section] = {}
        elif not isinstance(table, Mapping):
            raise ConfigError(f"[{section}]: expected a table, got {table!r}")
        record[f"{section}.{key}"] = {"config": table.get(key), "value": value}
        table[key] = value
    return config, record


def _dataset_ref(fit: dict, base_dir: Path) -> dict:
    """Where the dataset of ``[fit]`` lives: a shipped name, or a CSV (and sidecar) path."""
    from iongrad.data import list_shipped

    ds = fit["dataset"]
    if ds in list_shipped():
        return {"shipped": ds}
    path = (base_dir / ds).resolve()
    if not path.exists():
        raise ConfigError(f"fit.dataset = {ds!r}: neither a shipped dataset "
                          f"({', '.join(list_shipped())}{close_match(ds, list_shipped())}) "
                          f"nor an existing file (looked for {str(path)!r})")
    out = {"csv": str(path)}
    if fit.get("sidecar") is not None:
        side = (base_dir / fit["sidecar"]).resolve()
        if not side.exists():
            raise ConfigError(f"fit.sidecar = {fit['sidecar']!r}: {str(side)!r} does not exist")
        out["sidecar"] = str(side)
    return out


def load_dataset_ref(ref: dict):
    """Load the dataset a resolved config points at."""
    from iongrad.data import load_dataset, load_shipped

    if "shipped" in ref:
        return load_shipped(ref["shipped"])
    return load_dataset(ref["csv"], ref.get("sidecar"))


def _is_rundown(raw: Any) -> bool:
    return (isinstance(raw, Mapping) and isinstance(raw.get("fit"), Mapping)
            and raw["fit"].get("model") == "rundown")


def resolve_config(raw: dict, base_dir: Path) -> dict:
    """Validate a fit config and fill defaults; raises ConfigError naming the key.

    The config is checked against its declared schema
    (:class:`iongrad.workflows.schema.FitConfig`, or ``RundownFitConfig`` for
    ``[fit] model = "rundown"``): types, registry domains, caps and table names.
    The dataset is then loaded and the model spec checked against it, so every
    error surfaces before any sampling starts. The resolved dict holds the values
    as given (defaults filled), so its hash does not change with this check.

    Parameters
    ----------
    raw : dict
        Parsed TOML (a :class:`~iongrad.workflows.schema.TomlConfig` names its file
        in errors).
    base_dir : pathlib.Path
        Folder relative dataset paths are resolved against.

    Returns
    -------
    dict
        The resolved config :func:`run_config` takes.

    Raises
    ------
    ConfigError
        One line naming the file, the section.key, the value and what is expected.
    """
    with named_source(source_of(raw)):
        return _resolve(raw, Path(base_dir))


def _resolve(raw: dict, base_dir: Path) -> dict:
    if _is_rundown(raw):
        from iongrad.infer.rundown_model import resolve_rundown_config

        validate(RundownFitConfig, raw, source="")
        ref = _dataset_ref(raw["fit"], base_dir)
        return resolve_rundown_config(raw, ref, load_dataset_ref(ref))
    cfg = validate(FitConfig, raw, source="")
    fit = raw["fit"]
    ref = _dataset_ref(fit, base_dir)
    sampler_raw = raw["sampler"]
    sampler = {k: sampler_raw.get(k, v) for k, v in _SAMPLER.items()}
    resolved = {
        "kind": "fit",
        "description": raw.get("description", ""),
        "dataset": ref,
        "parameters": fit.get("parameters", list(DEFAULT_FIT_PARAMETERS)),
        "observables": fit.get("observables"),
        "pooling": fit.get("pooling", "partial"),
        "parameterization": fit.get("parameterization", "centered"),
        **({"membrane": cfg.model.resolved()} if cfg.model is not None else
           {"leak": fit.get("leak", "ohmic"), "volume": fit.get("volume", "fixed")}),
        "cell_sd_scale": float(fit.get("cell_sd_scale", 0.2)),
        "select": fit.get("select", {}), "fixed": raw.get("fixed", {}),
        "priors": raw.get("priors", {}), "noise": raw.get("noise", {}),
        "reference": raw.get("reference", {"k_o_mM": 4.0}), "sampler": sampler,
    }
    dataset = _select(load_dataset_ref(ref), resolved["select"])
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
    membrane = None
    if resolved.get("membrane") is not None:
        from iongrad.models.membrane import membrane_of

        membrane = membrane_of(resolved["membrane"])
    return FitSpec(parameters=tuple(resolved["parameters"]),
                   observables=tuple(resolved["observables"]) if resolved["observables"]
                   else None,
                   pooling=resolved["pooling"], leak=resolved.get("leak", "ohmic"),
                   volume=resolved.get("volume", "fixed"), membrane=membrane,
                   fixed=dict(resolved["fixed"]),
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
    # population level per FXYD state and per condition of the data (per cell: posterior.nc)
    names += [f"{n}{s}" for s in ("_fxyd", "_condition") for n in DERIVED if f"{n}{s}" in post]
    names += [n for n in post.data_vars if n.startswith("sigma_") or n.endswith("_cell_sd_log")]
    return names


def _backend_kwargs(s: Mapping) -> dict:
    """``pm.sample`` arguments of the chosen NUTS implementation."""
    if s.get("backend", "pymc") == "pymc":
        return {"init": s["init"]}
    try:
        import nutpie  # noqa: F401
    except ImportError:
        raise ConfigError("sampler.backend = 'nutpie' needs nutpie: pip install "
                          "'iongrad[nutpie]' (or choose backend = 'pymc')") from None
    # nutpie adapts its own mass matrix (no `init`); the model is compiled by
    # PyTensor's numba backend, where the steady-state Op runs compiled code
    return {"nuts_sampler": "nutpie", "nuts_sampler_kwargs": {"backend": "numba"}}


def run_config(resolved: dict, out_dir: Path, *, progress: bool = False,
               overrides: Mapping[str, Any] | None = None) -> dict:
    """Fit with NUTS and write every output into ``out_dir`` (which must exist).

    Parameters
    ----------
    resolved : dict
        Output of :func:`resolve_config`.
    out_dir : pathlib.Path
        Folder for ``posterior.nc``, ``summary.csv``, ``run.json`` and
        ``config.resolved.json``.
    progress : bool
        Progress bars on stderr (sampling and posterior predictive) and PyMC's own log
        lines; without it PyMC's INFO lines are held back
        (:func:`iongrad.infer.sampler_log.sampler_log`).
    overrides : mapping, optional
        Config keys set from outside the config (``--seed``/``--draws``), recorded in
        ``run.json`` (see :func:`apply_overrides`).

    Returns
    -------
    dict
        Summary: ``out_dir``, ``verdict``, ``diagnostics``, ``posterior_means``,
        ``warnings``, ``n_divergences``.
    """
    if resolved.get("model") == "rundown":
        from iongrad.infer.rundown_model import run_rundown_config

        summary = run_rundown_config(resolved, load_dataset_ref(resolved["dataset"]),
                                     out_dir, progress=progress)
    else:
        summary = _run_steady(resolved, Path(out_dir), progress=progress)
    _record_config(Path(out_dir), resolved, overrides or {})
    return summary


def _sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def dataset_digests(dataset_record: Mapping[str, Any]) -> dict[str, str]:
    """SHA-256 of the files a fit read its data from (``run.json``'s ``dataset`` entry)."""
    return {role: _sha256(dataset_record[role]) for role in ("csv", "sidecar")
            if dataset_record.get(role) and Path(dataset_record[role]).is_file()}


def _record_config(out_dir: Path, resolved: dict, overrides: Mapping[str, Any]) -> None:
    """Add the effective config, the overridden keys and the data's digests to run.json."""
    path = out_dir / "run.json"
    run = json.loads(path.read_text(encoding="utf-8"))
    run["config"] = resolved
    run["overrides"] = dict(overrides)
    run.setdefault("dataset", {})["sha256"] = dataset_digests(run.get("dataset", {}))
    write_json_atomic(path, run)


def _run_steady(resolved: dict, out_dir: Path, *, progress: bool) -> dict:
    import numpy as np
    import pymc as pm

    from iongrad.infer.chains import sampler_cores
    from iongrad.infer.diagnostics import diagnose, identifiability, summary_table
    from iongrad.infer.interrupts import check_complete_posterior, sampling_guard
    from iongrad.infer.loglik import add_log_likelihood
    from iongrad.infer.model import (
        build_model,
        membrane_for_spec,
        model_inputs,
        prior_terms,
        unit_of,
    )
    from iongrad.infer.sampler_log import sample_posterior_predictive, sampler_log
    from iongrad.models.membrane import composition_record

    t0 = time.perf_counter()
    dataset = _select(load_dataset_ref(resolved["dataset"]), resolved["select"])
    spec = fit_spec(resolved)
    model, info = build_model(dataset, spec)
    t_build = time.perf_counter()
    s = resolved["sampler"]
    seed = s["seed"]
    cores, chain_note = sampler_cores(s["cores"], s["chains"])
    with model, warnings.catch_warnings(), sampler_log(progress):
        # The feasibility Potential only rules out parameter sets without a steady state;
        # predictive draws come from posterior draws, which all have one.
        warnings.filterwarnings("ignore", message="The effect of Potentials")
        try:
            with sampling_guard():
                idata = pm.sample(draws=s["draws"], tune=s["tune"], chains=s["chains"],
                                  cores=cores, target_accept=s["target_accept"],
                                  random_seed=seed, progressbar=progress,
                                  compute_convergence_checks=False, **_backend_kwargs(s))
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
        sample_posterior_predictive(model, idata, seed=seed + 2, progress=progress,
                                    extend=True)
        # the log density of the top-level priors in every draw, for power-scaling prior
        # sensitivity (az.psens); the cell-level terms of a hierarchy are part of the
        # model's structure, not a prior to be power-scaled (Kallioinen et al. 2023)
        pm.compute_log_prior(idata, var_names=prior_terms(model), progressbar=False)
        # pointwise, per data row with its cell and condition (for `iongrad compare`)
        add_log_likelihood(idata, model, info["obs_rows"])
    t_pp = time.perf_counter()
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
        "model": {**({"leak": spec.leak, "volume": spec.volume} if spec.membrane is None
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
        "sampler": dict(s),
        **({"chain_execution": chain_note} if chain_note else {}),
        "diagnostics": diag,
        "identifiability": ident,
        "derived": {**info["derived"],
                    "note": "Steady state per cell and for the population at the reference "
                            "condition, at the reference condition in each FXYD state "
                            "(<name>_fxyd, <name>_cell_fxyd) and at each condition of the "
                            "data (<name>_condition, <name>_cell_condition); parameters the "
                            "fit does not estimate take their fixed or default values."},
        "infeasible_draws": _infeasible_draws(
            idata, [n for n in names if not n.endswith(("_fxyd", "_condition"))],
            n_prior_infeasible, spec.reference),
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
            "infeasible_draws": run["infeasible_draws"],
            "n_divergences": int(np.asarray(idata.sample_stats["diverging"]).sum())}


def _mask_infeasible_prior_predictive(idata) -> int:
    """Set the prior-predictive draws of prior draws without a physical steady state to
    NaN (the solver's placeholder state must never look like a prediction); return how
    many prior draws that was."""
    import numpy as np

    from iongrad.infer.model import FEASIBLE_FLAG

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
    import numpy as np

    from iongrad.infer.diagnostics import count_nan_draws

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


def format_verdict(diag: dict) -> str:
    """Multi-line human-readable diagnostics verdict."""
    lines = [f"diagnostics: {diag['verdict'].upper()}"]
    for c in diag["checks"]:
        val = c["value"]
        shown = f"{val:.4g}" if isinstance(val, float) else str(val)
        mark = "ok  " if c["passed"] else "FAIL"
        worst = f" (worst: {c['worst']})" if c["worst"] and not c["passed"] else ""
        need = f"{c.get('comparison', '')} {c['threshold']:g}".strip() \
            if isinstance(c["threshold"], int | float) else str(c["threshold"])
        lines.append(f"  [{mark}] {c['name']:<11} {shown:>10}  needs {need}{worst}")
        if not c["passed"]:
            lines.append(f"         {c['advice']}")
    return "\n".join(lines)


def _override_type(name: str):
    import argparse

    def parse(text: str) -> int:
        try:
            return check_override(name, text)
        except ConfigError as exc:
            # argparse prefixes the option name itself
            raise argparse.ArgumentTypeError(str(exc).split(": ", 1)[1]) from None

    parse.__name__ = name  # argparse names the type in its messages
    return parse


def add_arguments(parser) -> None:
    """Register ``iongrad fit`` arguments."""
    parser.add_argument("config", help="fit config (TOML)")
    parser.add_argument("--out", required=True, help="output folder (created; must be empty)")
    parser.add_argument("--force", action="store_true", help="replace a non-empty --out")
    parser.add_argument("--strict", action="store_true",
                        help="exit with code 1 when the diagnostics verdict fails")
    parser.add_argument("--no-report", action="store_true", help="skip the HTML/MD report")
    parser.add_argument("--seed", type=_override_type("seed"), metavar="N",
                        help="random seed (integer >= 0) instead of [sampler] seed; recorded "
                             "in run.json under 'overrides'")
    parser.add_argument("--draws", type=_override_type("draws"), metavar="N",
                        help="posterior draws per chain (integer >= 1) instead of [sampler] "
                             "draws; recorded in run.json under 'overrides'")
    bar = parser.add_mutually_exclusive_group()
    bar.add_argument("--progress", dest="progress", action="store_true", default=None,
                     help="progress bars on stderr through sampling, posterior predictive "
                          "draws and the report, with PyMC's log lines (default: when stderr "
                          "is a terminal)")
    bar.add_argument("--no-progress", dest="progress", action="store_false",
                     help="no progress bars, and none of PyMC's INFO log lines")


def fit_into_folder(raw: Mapping[str, Any], base_dir: Path, out: str | Path, *,
                    config_path: Path | None = None, force: bool = False,
                    progress: bool = False, report: bool = True,
                    seed: int | None = None, draws: int | None = None
                    ) -> tuple[dict[str, Any], dict[str, Any], Path]:
    """Resolve a fit config, fit it into ``out`` (atomically) and write its report.

    The pipeline of ``iongrad fit`` and :func:`iongrad.fit`.

    Parameters
    ----------
    raw : mapping
        Parsed config.
    base_dir : pathlib.Path
        Folder relative dataset paths are resolved against.
    out : str or Path
        Output folder (new or empty; an iongrad run folder with ``force``).
    config_path : pathlib.Path, optional
        The config file, an input ``out`` may not hold.
    force, progress, report : bool
        As ``--force``, ``--progress`` and not ``--no-report``.
    seed, draws : int, optional
        Overrides of ``[sampler] seed`` and ``draws`` (:func:`apply_overrides`).

    Returns
    -------
    (summary, resolved, out) : tuple
        :func:`run_config`'s summary, the resolved config and the absolute output folder.
    """
    raw, overrides = apply_overrides(raw, seed=seed, draws=draws)
    try:
        resolved = resolve_config(raw, Path(base_dir).resolve())
    except DataError as exc:
        raise ConfigError(f"fit.dataset: {exc}") from None
    final = Path(out).resolve()

    def work(tmp: Path) -> dict[str, Any]:
        summary = run_config(resolved, tmp, progress=progress, overrides=overrides)
        if report:
            # written before the rename: the report names the final folder, not tmp
            _try_report(tmp, final, progress=progress)
        return summary

    extra = (config_path,) if config_path is not None else ()
    inputs = input_paths(resolved, *extra)
    summary = run_into_folder(out, work, force=force, inputs=inputs)
    return summary, resolved, final


def run(args) -> int:
    """Run ``iongrad fit``."""
    cfg = Path(args.config)
    raw = load_toml(cfg)
    progress = sys.stderr.isatty() if args.progress is None else args.progress
    summary, _, out = fit_into_folder(raw, cfg.resolve().parent, args.out, config_path=cfg,
                                      force=args.force, progress=progress,
                                      report=not args.no_report, seed=args.seed,
                                      draws=args.draws)
    print(f"fit written to {out}")
    if not args.no_report and (out / "report.html").is_file():
        print_report_paths(out / "report.html", out / "report.md")
    print(format_verdict(summary["diagnostics"]))
    for w in summary["warnings"]:
        print(f"  warning: {w}")
    counts = summary.get("infeasible_draws") or {}
    holes = counts.get("derived_at_reference") or {}
    if holes.get("draws_with_nan"):
        print(f"  warning: {holes['draws_with_nan']} of "
              f"{counts['posterior_draws']} posterior draws have no "
              f"physical steady state at the reference condition {holes['reference']}; their "
              "derived quantities are NaN and left out of summary.csv (column n_nan_draws)")
    if args.strict and summary["verdict"] != "pass":
        return 1
    return 0


def _try_report(run_dir: Path, final: Path, *, progress: bool = False) -> None:
    try:
        from iongrad.workflows.report import write_report
    except ImportError:
        return
    write_report(run_dir, run_folder=final, progress=progress)


def rebuild_model(resolved: Mapping[str, Any]):
    """The PyMC model of a resolved fit config (as recorded in ``config.resolved.json``).

    Returns
    -------
    (model, info) : tuple
        The :class:`pymc.Model` the fit sampled and the builder's info dict.
    """
    dataset = load_dataset_ref(resolved["dataset"])
    if resolved.get("model") == "rundown":
        from iongrad.infer.rundown_model import build_rundown_model, spec_from_config

        return build_rundown_model(dataset, spec_from_config(resolved["raw"]))
    from iongrad.infer.model import build_model

    return build_model(_select(dataset, resolved["select"]), fit_spec(resolved))
