"""Posterior inputs: draws of a fit's posterior variables and what a run over them keeps of the
fit."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from iongrad.models.errors import ConfigError
from iongrad.models.quantities import QUANTITIES, violation
from iongrad.workflows.schema import PosteriorSection


def _posterior_draws(path: Path, variable: str, cell: Any, where: str) -> np.ndarray:
    """Flattened draws of one posterior variable (per-cell variables reduced by ``cell``)."""
    import xarray as xr

    try:
        ds = xr.open_dataset(path, group="posterior")
    except Exception as exc:  # any reader failure means "not an InferenceData file"
        raise ConfigError(f"{where}.path: {str(path)!r} is not an ArviZ InferenceData NetCDF "
                          f"with a 'posterior' group ({type(exc).__name__})") from None
    with ds:
        if variable not in ds.data_vars:
            raise ConfigError(f"{where}.variables: {variable!r} is not in the posterior of "
                              f"{str(path)!r}; it has: {', '.join(map(str, ds.data_vars))}")
        da = ds[variable].load()
    sample_dims = [d for d in ("chain", "draw") if d in da.dims]
    if not sample_dims:
        raise ConfigError(f"{where}: posterior variable {variable!r} has no chain/draw "
                          f"dimensions (dims {da.dims})")
    extra = [d for d in da.dims if d not in sample_dims]
    if extra:
        if cell == "mean":
            da = da.mean(dim=extra)
        else:
            if len(extra) > 1:
                raise ConfigError(f"{where}.cell: {variable!r} has several extra dimensions "
                                  f"{extra}; only 'mean' is supported for it")
            dim = extra[0]
            coords = [c.item() for c in da[dim].values] if dim in da.coords else []
            if cell in coords:
                da = da.sel({dim: cell})
            elif isinstance(cell, int) and 0 <= cell < da.sizes[dim]:
                da = da.isel({dim: cell})
            else:
                raise ConfigError(f"{where}.cell: {cell!r} is neither a label nor an index of "
                                  f"dimension {dim!r} (size {da.sizes[dim]}) of {variable!r}")
    draws = np.asarray(da.values, dtype=float).ravel()
    if draws.size < 2 or not np.all(np.isfinite(draws)):
        raise ConfigError(f"{where}: posterior variable {variable!r} needs >= 2 finite draws")
    return draws


def _resolve_posterior(spec: PosteriorSection, base_dir: Path, model) -> list[dict]:
    """Resolved entries of the ``[posterior]`` variables (validated by the schema)."""
    where = "posterior"
    path = Path(spec.path)
    if not path.is_absolute():
        path = (base_dir / path).resolve()
    if not path.is_file():
        raise ConfigError(f"{where}.path = {spec.path!r}: posterior file {str(path)!r} "
                          "does not exist or is not a regular file")
    cell = spec.cell
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    out = []
    for var in spec.variables:
        draws = _posterior_draws(path, var, cell, where)
        param = model.parameter(var)
        lo, hi = float(draws.min()), float(draws.max())
        bad = not param.contains(lo, hi) or any(
            var in QUANTITIES and violation(var, v) for v in (lo, hi))
        if bad:
            raise ConfigError(f"{where}.variables: draws of {var!r} ({lo:g} .. {hi:g}) leave "
                              f"its domain ({_domain(var, param)})")
        out.append({"name": var, "source": "posterior", "dist": "empirical",
                    "unit": param.unit, "path": str(path), "variable": var, "cell": cell,
                    "n_draws": int(draws.size), "sha256": digest})
    return out


def _fit_context(inputs: list[dict], model, user_fixed: Mapping[str, float]) -> dict | None:
    """What a sensitivity run over a fit's posterior keeps of the fit.

    The posterior is conditional on the values the fit held fixed and on the condition
    where it evaluated its derived quantities (run.json ``derived.reference``: its
    ``[fixed]``, the data's reference bath and the reference condition) and on the
    defaults it used (run.json ``model.inputs``). Those values are inherited as fixed
    values unless the config fixes or varies the parameter
    itself; varying one the fit held fixed is allowed (a what-if) but warned about.
    Returns None when the posterior file is not in a fit's run folder.
    """
    post = [i for i in inputs if i["source"] == "posterior"]
    run_json = Path(post[0]["path"]).parent / "run.json"
    try:
        info = json.loads(run_json.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(info, dict) or info.get("kind") != "fit":
        return None
    fm = info.get("model") or {}
    # every input the fit did not estimate (model.inputs: its [fixed] values and the
    # defaults it used), at the condition of its derived quantities (derived.reference)
    held = {r["name"]: r["value"] for r in fm.get("inputs") or []
            if isinstance(r, dict) and r.get("source") in ("fixed", "default")
            and isinstance(r.get("value"), int | float)}
    held.update(fm.get("fixed") or {})
    ref = (info.get("derived") or {}).get("reference")
    if isinstance(ref, dict):
        held.update(ref)
    fitted = set(fm.get("parameters") or [])
    varied = {i["name"] for i in inputs}
    inherited, overridden, warnings_ = {}, [], []
    for name, value in sorted(held.items()):
        if name in fitted or not isinstance(value, int | float):
            continue
        if name not in model.parameter_names:
            continue  # a condition of the fit's model that this model does not take
        if name in varied:
            spec = next(i for i in inputs if i["name"] == name)
            overridden.append({"name": name, "fit_value": float(value), "now": "varied"})
            if spec["source"] != "posterior":
                lo, hi = (spec.get("bounds") or [None, None])[:2]
                span = f" over {lo:g}–{hi:g}" if lo is not None and hi is not None else ""
                warnings_.append(
                    f"inputs.{name} varies {name}{span} {model.parameter(name).unit}, but the "
                    f"fit held it at {float(value):g}: the posterior draws are conditional on "
                    f"{name} = {float(value):g}, so these indices mix the fitted uncertainty "
                    f"with a what-if over {name} the data never constrained")
        elif name in user_fixed:
            if float(user_fixed[name]) != float(value):
                overridden.append({"name": name, "fit_value": float(value),
                                   "now": float(user_fixed[name])})
                warnings_.append(
                    f"fixed.{name} = {float(user_fixed[name]):g} differs from the fit's "
                    f"{float(value):g}: the posterior was fitted at {name} = {float(value):g}")
        else:
            inherited[name] = float(value)
    fit_params = [i["variable"] for i in post]
    for name in sorted(fitted - set(fit_params)):
        if name in model.parameter_names and name not in varied and name not in user_fixed:
            warnings_.append(
                f"the fit also estimated {name}, which [posterior].variables does not list: "
                "it takes this model's default instead of its posterior")
    ident = (info.get("identifiability") or {}).get("warnings") or []
    diag = info.get("diagnostics") or {}
    return {"run_dir": str(run_json.parent), "inherited": inherited,
            "overridden": overridden, "warnings": warnings_,
            "fit_verdict": diag.get("verdict"),
            "fit_failed_checks": [c.get("label") or c.get("name")
                                  for c in diag.get("checks") or []
                                  if isinstance(c, dict) and not c.get("passed")],
            "fit_identifiability_warnings": [str(w) for w in ident],
            "fit_composition": (fm.get("composition") or {}).get("name")}


def fit_context_notes(fc: Mapping[str, Any]) -> list[str]:
    """Plain-words notes of a run's fit context (:func:`_fit_context`): the fit's
    verdict and identifiability warnings, the values inherited and the warnings."""
    notes = []
    if fc.get("fit_verdict") == "fail":
        notes.append("The fit whose posterior this run samples FAILED its sampler diagnostics ("
                     + ", ".join(map(str, fc.get("fit_failed_checks") or [])) + "): its "
                     "draws may not represent the posterior, and neither may these indices.")
    for w in fc.get("fit_identifiability_warnings") or []:
        notes.append(f"From the fit: {w}")
    if fc.get("inherited"):
        notes.append("Kept from the fit (its fixed values and reference condition): "
                     + ", ".join(f"{k} = {v:g}" for k, v in fc["inherited"].items()) + ".")
    notes += [f"Warning: {w}." for w in fc.get("warnings") or []]
    return notes


def _domain(name: str, param) -> str:
    if name in QUANTITIES:
        return QUANTITIES[name].domain_text()
    return f"{param.support_text()}, in {param.unit}"


def _draws_of(inp: dict, cache: dict) -> np.ndarray:
    """Flattened posterior draws of a posterior input (chain, draw order), read once per
    run; the file must be the one the config was resolved against."""
    key = (inp["path"], inp["name"])
    if key not in cache:
        if inp["path"] not in cache:
            digest = hashlib.sha256(Path(inp["path"]).read_bytes()).hexdigest()
            if digest != inp["sha256"]:
                raise ConfigError(f"posterior.path: {inp['path']!r} changed since the "
                                  "config was resolved (sha256 differs)")
            cache[inp["path"]] = digest
        cache[key] = _posterior_draws(Path(inp["path"]), inp["variable"], inp["cell"],
                                      "posterior")
    return cache[key]
