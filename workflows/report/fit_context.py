"""A fit run folder read into the context every fit-report section draws from
(run.json, config.resolved.json, posterior.nc, summary.csv), and the row and
summary helpers the sections share."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from iongrad.infer.priors import FITTABLE
from iongrad.models.errors import ConfigError
from iongrad.workflows.report.files import _read_json

#: Probability mass of every credible / predictive interval in the reports.
HDI_PROB = 0.94


def _flatten_row(row: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in row.items():
        if isinstance(v, Mapping):
            out.update(_flatten_row(v))
        else:
            out[k] = v
    return out


def _is_missing(v: Any) -> bool:
    if v is None:
        return True
    try:
        return math.isnan(float(v))
    except (TypeError, ValueError):
        return v == ""


def _varying(rows: list[dict[str, Any]], col: str) -> bool:
    return len({str(r.get(col)) for r in rows}) > 1


def _read_summary(path: Path):
    import pandas as pd

    if not path.is_file():
        raise ConfigError(f"{str(path)!r} does not exist (expected az.summary output)")
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    first = frame.columns[0]
    if first != "variable":
        frame = frame.rename(columns={first: "variable"})
    return frame


def _summary_lookup(summary) -> dict[str, dict[str, str]]:
    return {row["variable"]: row for row in summary.to_dict("records")}


def _hdi_columns(summary) -> tuple[str, str]:
    cols = [c for c in summary.columns if c.startswith("hdi_")]
    if len(cols) >= 2:
        return cols[0], cols[1]
    eti = [c for c in summary.columns if c.startswith("eti_")]
    if len(eti) >= 2:
        return eti[0], eti[1]
    raise ConfigError("summary.csv has no hdi_* (or eti_*) interval columns")


def _fit_context(run_dir: Path) -> dict[str, Any]:
    import arviz as az

    info = _read_json(run_dir / "run.json")
    config = {}
    if (run_dir / "config.resolved.json").is_file():
        config = _read_json(run_dir / "config.resolved.json")
    nc = run_dir / "posterior.nc"
    if not nc.is_file():
        raise ConfigError(f"{str(nc)!r} does not exist (a fit run folder has posterior.nc)")
    try:
        idata = az.from_netcdf(nc)
    except (OSError, ValueError, KeyError) as exc:
        raise ConfigError(f"{str(nc)!r} is not an ArviZ InferenceData NetCDF file "
                          f"({type(exc).__name__})") from None
    if "posterior" not in idata.groups():
        raise ConfigError(f"{str(nc)!r} has no 'posterior' group; groups: {idata.groups()}")
    summary = _read_summary(run_dir / "summary.csv")
    model = info.get("model") or {}
    post_vars = list(idata.posterior.data_vars)
    params = [p for p in (model.get("parameters") or config.get("parameters") or [])
              if p in post_vars]
    if not params:
        params = [p for p in FITTABLE if p in post_vars]
    observables = list(model.get("observables") or [])
    if not observables and hasattr(idata, "observed_data"):
        observables = [v[:-4] for v in idata.observed_data.data_vars if v.endswith("_obs")]
    rows = [_flatten_row(r) for r in (info.get("rows") or []) if isinstance(r, Mapping)]
    units = {}
    if "unit" in summary.columns:
        for r in summary.to_dict("records"):
            if r["unit"]:
                units[r["variable"].split("[", 1)[0]] = r["unit"]
    return {"info": info, "config": config, "idata": idata, "summary": summary,
            "params": params, "observables": observables, "rows": rows, "units": units,
            "model": model}


def _population_vars(ctx: dict[str, Any]) -> list[str]:
    """Posterior variables at the population level, in order: the fitted parameters, then
    the between-cell spreads and the noise scales (as the posterior lists them)."""
    post = ctx["idata"].posterior
    extra = [str(v) for v in post.data_vars
             if str(v).endswith("_cell_sd_log") or str(v).startswith("sigma_")]
    return [v for v in dict.fromkeys([*ctx["params"], *extra]) if v in post]
