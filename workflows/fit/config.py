"""A fit config: overrides, schema validation, the dataset it names, and the model spec.

:func:`resolve_config` turns a parsed TOML config (steady-state or run-down) into the
resolved dict every later step reads; :func:`fit_spec` and :func:`rundown_spec` turn a
resolved config into the model builders' specs.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from iongrad.infer.limits import SAMPLER_CAPS, SEED_LIMIT
from iongrad.infer.model import NOISE_DEFAULTS, FitSpec, ObservationNoise, _check_spec
from iongrad.models.errors import ConfigError
from iongrad.models.membrane import membrane_of
from iongrad.workflows.schema import (
    DEFAULT_FIT_PARAMETERS,
    FitConfig,
    RundownFitConfig,
    close_match,
    named_source,
    source_of,
    validate,
)

__all__ = ["OVERRIDES", "apply_overrides", "check_override", "fit_spec", "load_dataset_ref",
           "resolve_config", "rundown_spec", "select_rows"]


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
    from iongrad.data import list_shipped  # pandas: not at command-line start-up

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
    from iongrad.data import load_dataset, load_shipped  # pandas: not at start-up

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
        return _resolve_rundown(raw, base_dir)
    cfg = validate(FitConfig, raw, source="")
    fit = raw["fit"]
    ref = _dataset_ref(fit, base_dir)
    sampler = sampler_table(cfg.sampler)
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
    dataset = select_rows(load_dataset_ref(ref), resolved["select"])
    _check_spec(fit_spec(resolved), dataset)
    return resolved


def select_rows(dataset, select: Mapping[str, Any]):
    """Keep the rows whose columns equal the given values (``[fit] select``)."""
    if not select:
        return dataset
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
    noise = {}
    for o, nz in resolved["noise"].items():
        base = NOISE_DEFAULTS.get(o, {"scale": "linear", "prior_sigma": 1.0})
        noise[o] = ObservationNoise(family=nz.get("family", "normal"),
                                    scale=nz.get("scale", base["scale"]),
                                    sigma=nz.get("sigma", "estimate"),
                                    prior_sigma=nz.get("prior_sigma", base["prior_sigma"]),
                                    nu=nz.get("nu", 4.0))
    membrane = None
    if resolved.get("membrane") is not None:
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


def sampler_table(section) -> dict[str, Any]:
    """The resolved ``[sampler]`` table: every key the fit kind allows, defaults filled
    in by the schema (:class:`~iongrad.workflows.schema.SamplerSection` or
    ``RundownSamplerSection``), the one place they are declared."""
    return {k: getattr(section, k) for k in type(section).allowed_keys({})}


def _resolve_rundown(raw: dict, base_dir: Path) -> dict:
    """Resolve a run-down fit config (``[fit] model = "rundown"``) against its dataset."""
    from iongrad.infer.rundown_model import prepare  # PyTensor: not at start-up

    cfg = validate(RundownFitConfig, raw, source="")
    ref = _dataset_ref(raw["fit"], base_dir)
    resolved = {"kind": "fit", "model": "rundown", "description": raw.get("description", ""),
                "dataset": ref, "raw": {k: v for k, v in raw.items() if k != "sampler"},
                "sampler": sampler_table(cfg.sampler)}
    prep = prepare(load_dataset_ref(ref), rundown_spec(resolved))
    for name in raw.get("noise", {}):
        if name not in prep["obs"]:
            raise ConfigError(f"noise.{name}: not an observable of this fit"
                              f"{close_match(name, list(prep['obs']))} "
                              f"(observables in the data: {', '.join(prep['obs'])})")
    return resolved


def rundown_spec(resolved: Mapping[str, Any]):
    """The :class:`~iongrad.infer.rundown_model.RundownSpec` of a resolved run-down config.

    The config was validated against its schema
    (:class:`~iongrad.workflows.schema.RundownFitConfig`) when it was resolved: types,
    domains, fittable parameters, prior and noise names.
    """
    from iongrad.infer.rundown_model import RundownSpec  # PyTensor: not at start-up

    raw = resolved["raw"]
    fit = raw["fit"]
    kw: dict[str, Any] = {k: tuple(fit[k]) for k in ("parameters", "observables")
                          if fit.get(k) is not None}
    kw.update({k: fit[k] for k in ("mode", "method", "ode_method", "rtol", "atol",
                                   "threshold_mV", "end_time_s", "onset_column",
                                   "k_o_column") if k in fit})
    for key in ("rtol", "atol", "threshold_mV", "end_time_s"):
        if key in kw:
            kw[key] = float(kw[key])
    noise = {o: float(nz["prior_sigma"]) for o, nz in raw.get("noise", {}).items()
             if nz.get("prior_sigma") is not None}
    membrane = None
    if raw.get("model") is not None:
        try:
            membrane = membrane_of(raw["model"])
        except (KeyError, ValueError) as exc:
            raise ConfigError(f"model: {exc}") from None
    return RundownSpec(fixed=dict(raw.get("fixed", {})), priors=dict(raw.get("priors", {})),
                       noise=noise, membrane=membrane, **kw)
