"""Resolving and validating a sensitivity config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from iongrad.models.errors import ConfigError
from iongrad.workflows.schema import (
    DEFAULT_N,
    InputSection,
    SensitivityConfig,
    named_source,
    source_of,
    validate,
)
from iongrad.workflows.sensitivity.posterior import _fit_context, _resolve_posterior

FAILURE_MODES = ("feasible_region", "indicator")


_DEFAULT_N = DEFAULT_N


def _resolve_input(name: str, spec: InputSection, model) -> dict:
    """The resolved entry of ``[inputs.<name>]`` (validated by the schema)."""
    param = model.parameter(name)
    where = f"inputs.{name}"
    dist = spec.dist
    if dist == "normal" and param.support != "real":
        raise ConfigError(f"{where}.dist = 'normal': unbounded, but {name} must be "
                          f"{param.support_text()}; use 'truncnorm' or 'lognormal'")
    if dist == "lognormal" and param.support == "fraction":
        raise ConfigError(f"{where}.dist = 'lognormal': unbounded above, but {name} "
                          f"must be {param.support_text()}; use 'truncnorm'")
    out: dict[str, Any] = {"name": name, "source": "distribution", "dist": dist,
                           "unit": param.unit}
    if dist in ("uniform", "loguniform", "truncnorm"):
        out["bounds"] = list(spec.bounds)
    if dist in ("normal", "truncnorm"):
        out["mean"] = float(spec.mean)
        out["sd"] = float(spec.sd)
    if dist == "lognormal":
        out["log_mean"] = float(spec.log_mean)
        out["log_sd"] = float(spec.log_sd)
    return out


def resolve_config(raw: dict, base_dir: Path) -> dict:
    """Validate a sensitivity config and fill its defaults.

    Parameters
    ----------
    raw : dict
        Parsed TOML (sections ``[sensitivity]``, ``[fixed]``, ``[inputs.<param>]``,
        ``[posterior]``).
    base_dir : pathlib.Path
        Folder relative paths (the posterior file) are resolved against.

    Returns
    -------
    dict
        JSON-serialisable resolved config: every default filled in, paths absolute,
        inputs as an ordered list.

    Raises
    ------
    ConfigError
        Naming the key and the value, for unknown sections, keys, models, methods,
        parameters or outputs, bad bounds, missing seed, or an unreadable posterior.
    """
    with named_source(source_of(raw)):
        return _resolve(raw, Path(base_dir))


def _resolve(raw: dict, base_dir: Path) -> dict:
    cfg = validate(SensitivityConfig, raw, source="")
    sec = cfg.sensitivity
    model = cfg.entry()
    numeric = [o for o in model.output_names if o != "feasible"]
    inputs = [_resolve_input(name, spec, model) for name, spec in cfg.inputs.items()]
    fit_context = None
    fixed = {k: float(v) for k, v in cfg.fixed.items()}
    if cfg.posterior is not None:
        inputs += _resolve_posterior(cfg.posterior, base_dir, model)
        fit_context = _fit_context(inputs, model, fixed)
        if fit_context is not None:
            fixed = {**fit_context["inherited"], **fixed}
    if not inputs:
        raise ConfigError("config: no inputs; add [inputs.<parameter>] tables or [posterior]")
    target = sec.target_ci_halfwidth
    n = sec.n_effective
    max_n = sec.max_n_effective
    return {
        "kind": "sensitivity",
        "schema_version": 1,
        "description": sec.description,
        "model": model.name,
        **({"membrane": cfg.model.resolved()} if cfg.model is not None else {}),
        "method": sec.method,
        "n": n,
        "seed": sec.seed,
        "outputs": list(sec.outputs) if sec.outputs is not None else numeric,
        "second_order": sec.second_order,
        "chunk_size": sec.chunk_size,
        "num_resamples": sec.num_resamples,
        "conf_level": float(sec.conf_level),
        "target_ci_halfwidth": float(target) if target is not None else None,
        "max_n": max_n,
        "failure_handling": sec.failure_handling,
        "fallback_n": sec.fallback_n,
        "min_feasible_samples": sec.min_feasible_samples,
        "num_levels": sec.num_levels,
        "efast_m": sec.efast_m,
        "pawn_slices": sec.pawn_slices,
        "fixed": fixed,
        "inputs": inputs,
        **({"fit_context": fit_context} if fit_context is not None else {}),
        **({"joint": {"n": int(cfg.posterior.joint_n),
                      "methods": list(dict.fromkeys(cfg.posterior.joint_methods))}}
           if cfg.posterior is not None and cfg.posterior.joint else {}),
    }
