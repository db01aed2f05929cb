"""Global sensitivity analysis: ``iongrad sensitivity CONFIG.toml --out DIR``.

A TOML config names a registered model (:mod:`iongrad.workflows.registry`) or
declares a membrane model in a ``[model]`` table, a SALib method, the inputs
(bounds, distributions or a fitted posterior), fixed parameter values and the
outputs to analyse. The whole config is resolved and
validated by :func:`resolve_config` before any work is done; :func:`run_config`
then samples, evaluates the model on the whole sample matrix in chunks, analyses
it with SALib and writes ``indices.csv``, ``samples.nc``, ``run.json`` and plots.

Design in the unit hypercube
----------------------------
Every SALib design is drawn in the unit hypercube ``[0, 1]^D`` and each column is
mapped to its physical input through that input's quantile function (uniform,
log-uniform, normal, log-normal, truncated normal, or the empirical quantile
function of posterior draws). Variance-based indices (Sobol, eFAST) and the delta
index are invariant under such per-input monotone maps, so this equals sampling
the physical distributions directly; it also lets posterior draws be used, which
SALib's ``dists`` do not support. Morris elementary effects and PAWN slices are
therefore measured in quantile units (``mu_star`` has the unit of the output per
unit change of the input's quantile; PAWN slices hold equal probability).

Infeasible samples
------------------
A sample is *failed* for an output when the model reports ``feasible=False`` or
the value is not finite. Failures are counted per output and located (input
statistics of failed vs feasible samples) in ``run.json``; they are never
dropped silently and never passed to SALib as NaN.

``failure_handling = "feasible_region"`` (default)
    Sobol, eFAST and Morris need their complete structured design, so an output
    with any failed sample is *not* analysed with them. Instead it is analysed
    with the moment-independent delta and PAWN indices on the feasible rows of a
    separate Latin hypercube sample of size ``fallback_n``: sensitivity *within the
    feasible region*. Conditioning on feasibility makes the inputs dependent,
    which these estimators do not model; run.json says so. With delta or PAWN as
    the chosen method, the feasible rows of the main design are used directly.
    An output with fewer than ``min_feasible_samples`` feasible rows is not
    analysed and is listed as skipped.
``failure_handling = "indicator"``
    Outputs with failed samples are not analysed at all (listed as skipped).

In both modes, whenever any sample is infeasible, the ``feasible`` indicator
(1 = steady state exists) is analysed as an output of its own on the full design
with the chosen method (PAWN when the method is delta, as a binary output has no
density).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import sys
import time
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from iongrad.models.errors import ConfigError, IongradError
from iongrad.models.quantities import QUANTITIES, violation
from iongrad.workflows.config import (
    config_hash,
    input_paths,
    load_toml,
    package_versions,
    print_report_paths,
    run_into_folder,
    write_json_atomic,
)
from iongrad.workflows.schema import (
    DEFAULT_N,
    DISTS,  # noqa: F401 (part of this module's namespace)
    METHODS,  # noqa: F401
    InputSection,
    PosteriorSection,
    SensitivityConfig,
    named_source,
    source_of,
    validate,
)

__all__ = ["InsufficientFeasibleError", "add_arguments", "resolve_config", "run", "run_config",
           "run_into"]

FAILURE_MODES = ("feasible_region", "indicator")
_STRUCTURED = ("sobol", "morris", "efast")
_DEFAULT_N = DEFAULT_N
#: Unbounded distributions are cut at these quantiles on Morris grids, whose levels
#: include 0 and 1 exactly (Saltelli et al. 2008, Global Sensitivity Analysis: The Primer).
_MORRIS_TAIL = 0.005


class InsufficientFeasibleError(IongradError):
    """Raised when the convergence loop cannot analyse any output."""


# ======================================================================================
# Config resolution
# ======================================================================================
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


# ======================================================================================
# Sampling
# ======================================================================================
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


def _quantile_functions(resolved: dict, cache: dict | None = None) -> list:
    """One vectorised quantile function ``u -> x`` per input (physical units);
    ``cache`` shares posterior draws with :func:`_joint_sample`."""
    from scipy import stats

    cache = {} if cache is None else cache
    funcs = []
    for inp in resolved["inputs"]:
        d = inp["dist"]
        if d == "uniform":
            lo, hi = inp["bounds"]
            funcs.append(lambda u, lo=lo, hi=hi: lo + u * (hi - lo))
        elif d == "loguniform":
            lo, hi = np.log(inp["bounds"])
            funcs.append(lambda u, lo=lo, hi=hi: np.exp(lo + u * (hi - lo)))
        elif d == "normal":
            funcs.append(lambda u, m=inp["mean"], s=inp["sd"]: stats.norm.ppf(u, m, s))
        elif d == "lognormal":
            funcs.append(lambda u, m=inp["log_mean"], s=inp["log_sd"]:
                         np.exp(m + s * stats.norm.ppf(u)))
        elif d == "truncnorm":
            m, s = inp["mean"], inp["sd"]
            a, b = ((np.array(inp["bounds"]) - m) / s).tolist()
            funcs.append(lambda u, a=a, b=b, m=m, s=s: stats.truncnorm.ppf(u, a, b, m, s))
        else:  # empirical quantile function of posterior draws (linear interpolation)
            srt = np.sort(_draws_of(inp, cache))
            grid = np.arange(srt.size, dtype=float)
            funcs.append(lambda u, srt=srt, grid=grid: np.interp(u * (srt.size - 1), grid, srt))
    return funcs


def _problem(resolved: dict) -> dict:
    names = [i["name"] for i in resolved["inputs"]]
    return {"num_vars": len(names), "names": names, "bounds": [[0.0, 1.0]] * len(names)}


def _design(method: str, resolved: dict, n: int, rng: np.random.Generator) -> np.ndarray:
    """SALib design in the unit hypercube, shape (rows, D)."""
    problem = _problem(resolved)
    if method == "sobol":
        from SALib.sample import sobol

        return sobol.sample(problem, n, calc_second_order=resolved["second_order"],
                            scramble=True, seed=rng)
    if method == "morris":
        from SALib.sample import morris

        return morris.sample(problem, n, num_levels=resolved["num_levels"], seed=rng)
    if method == "efast":
        from SALib.sample import fast_sampler

        return fast_sampler.sample(problem, n, M=resolved["efast_m"], seed=rng)
    from SALib.sample import latin

    return latin.sample(problem, n, seed=rng)


def _to_physical(u: np.ndarray, resolved: dict, funcs: list, method: str) -> np.ndarray:
    x = np.empty_like(u)
    for j, (inp, f) in enumerate(zip(resolved["inputs"], funcs, strict=True)):
        col = u[:, j]
        if method == "morris" and inp["dist"] in ("normal", "lognormal"):
            col = _MORRIS_TAIL + (1.0 - 2.0 * _MORRIS_TAIL) * col
        x[:, j] = f(col)
    return x


def _evaluate(model, resolved: dict, x: np.ndarray, *, progress: bool,
              desc: str) -> dict[str, np.ndarray]:
    """Evaluate the model on the whole matrix, ``chunk_size`` rows per vectorised call."""
    from tqdm import tqdm

    names = [i["name"] for i in resolved["inputs"]]
    fixed = {k: np.float64(v) for k, v in resolved["fixed"].items()}
    rows = x.shape[0]
    step = resolved["chunk_size"]
    parts: dict[str, list[np.ndarray]] = {o: [] for o in model.output_names}
    with tqdm(total=rows, disable=not progress, file=sys.stderr, desc=desc,
              unit="eval") as bar:
        for start in range(0, rows, step):
            chunk = x[start:start + step]
            params = dict(fixed)
            params.update({name: chunk[:, j] for j, name in enumerate(names)})
            out = model.evaluate(params)
            for o in model.output_names:
                parts[o].append(np.broadcast_to(out[o], (chunk.shape[0],)))
            bar.update(chunk.shape[0])
    return {o: np.concatenate(v) for o, v in parts.items()}


# ======================================================================================
# Analysis
# ======================================================================================
@contextlib.contextmanager
def _global_numpy_state() -> Iterator[None]:
    """Restore NumPy's global RNG after SALib analyzers that call ``np.random.seed``."""
    state = np.random.get_state()  # noqa: NPY002 (protecting, not using, the global RNG)
    try:
        yield
    finally:
        np.random.set_state(state)  # noqa: NPY002


def _rows(output, method, index, names, values, conf=None, *, design, n_rows):
    out = []
    for j, name in enumerate(names):
        v = float(values[j])
        c = float(conf[j]) if conf is not None else float("nan")
        out.append({"output": output, "method": method, "index": index, "parameter": name,
                    "parameter2": "", "value": v, "conf": c,
                    "ci_low": v - c if conf is not None else float("nan"),
                    "ci_high": v + c if conf is not None else float("nan"),
                    "design": design, "n_rows": n_rows})
    return out


def _analyze(method: str, resolved: dict, u: np.ndarray, y: np.ndarray, output: str,
             seed: int, *, design: str) -> list[dict]:
    """Run one SALib analyzer; return tidy rows. ``y`` must be finite everywhere."""
    if not np.all(np.isfinite(y)):
        raise RuntimeError("internal error: non-finite model output reached SALib")
    problem = _problem(resolved)
    names = problem["names"]
    kw = {"design": design, "n_rows": int(y.size)}
    nr, cl = resolved["num_resamples"], resolved["conf_level"]
    with _global_numpy_state(), np.errstate(all="ignore"):
        if method == "sobol":
            from SALib.analyze import sobol

            si = sobol.analyze(problem, y, calc_second_order=resolved["second_order"],
                               num_resamples=nr, conf_level=cl, seed=seed)
            rows = (_rows(output, method, "S1", names, si["S1"], si["S1_conf"], **kw)
                    + _rows(output, method, "ST", names, si["ST"], si["ST_conf"], **kw))
            if resolved["second_order"]:
                for a in range(len(names)):
                    for b in range(a + 1, len(names)):
                        r = _rows(output, method, "S2", [names[a]], [si["S2"][a, b]],
                                  [si["S2_conf"][a, b]], **kw)[0]
                        r["parameter2"] = names[b]
                        rows.append(r)
            return rows
        if method == "efast":
            from SALib.analyze import fast

            with warnings.catch_warnings():
                # SALib warns on every call that eFAST bootstrap intervals are indicative
                # only; run.json's notes say so for every eFAST run (_failure_report)
                warnings.filterwarnings("ignore", category=UserWarning,
                                        message="FAST confidence intervals are estimated")
                si = fast.analyze(problem, y, M=resolved["efast_m"], num_resamples=nr,
                                  conf_level=cl, seed=seed)
            return (_rows(output, method, "S1", names, si["S1"], si["S1_conf"], **kw)
                    + _rows(output, method, "ST", names, si["ST"], si["ST_conf"], **kw))
        if method == "morris":
            from SALib.analyze import morris

            si = morris.analyze(problem, u, y, num_resamples=nr, conf_level=cl,
                                num_levels=resolved["num_levels"], seed=seed)
            return (_rows(output, method, "mu_star", names, si["mu_star"], si["mu_star_conf"],
                          **kw)
                    + _rows(output, method, "mu", names, si["mu"], **kw)
                    + _rows(output, method, "sigma", names, si["sigma"], **kw))
        if method == "delta":
            from SALib.analyze import delta

            si = delta.analyze(problem, u, y, num_resamples=nr, conf_level=cl, seed=seed)
            return (_rows(output, method, "delta", names, si["delta_raw"],
                          si["delta_raw_conf"], **kw)
                    + _rows(output, method, "delta_balanced", names, si["delta_balanced"],
                            si["delta_balanced_conf"], **kw)
                    + _rows(output, method, "S1", names, si["S1"], si["S1_conf"], **kw))
        from SALib.analyze import pawn

        si = pawn.analyze(problem, u, y, S=resolved["pawn_slices"], seed=seed)
        return (_rows(output, method, "PAWN", names, si["median"], **kw)
                + _rows(output, method, "PAWN_max", names, si["maximum"], **kw))


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


def _analysis_seed(rng: np.random.Generator) -> int:
    # SALib analyzers test ``if seed:``; a positive draw keeps them deterministic.
    return int(rng.integers(1, 2**31 - 1))


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


#: The index a ranking is made by, per method.
_MAIN_INDEX = {"sobol": "ST", "efast": "ST", "morris": "mu_star", "delta": "delta",
               "pawn": "PAWN", "shapley": "Sh", "given_data": "S1"}


def _joint_sample(resolved: dict, rng: np.random.Generator) -> np.ndarray:
    """Rows of the joint posterior (the fitted variables of one draw together, thinned
    evenly to ``joint.n``), with every other input drawn independently from its stated
    distribution; shape (rows, D) in the order of ``resolved["inputs"]``."""
    inputs = resolved["inputs"]
    cache: dict = {}
    cols = {j: _draws_of(inp, cache) for j, inp in enumerate(inputs)
            if inp["source"] == "posterior"}
    total = min(c.size for c in cols.values())
    n = min(resolved["joint"]["n"], total)
    pick = np.unique(np.linspace(0, total - 1, n).round().astype(int))
    funcs = _quantile_functions(resolved, cache)
    x = np.empty((pick.size, len(inputs)))
    for j in range(len(inputs)):
        x[:, j] = cols[j][pick] if j in cols else funcs[j](rng.random(pick.size))
    return x


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


def _joint_notes(rows: list[dict], joint_rows: list[dict]) -> list[str]:
    """Plain-words comparison of the top input on the joint posterior (Shapley) and on
    the independent marginals (the SALib method's main index)."""
    notes = []
    for o in dict.fromkeys(r["output"] for r in joint_rows):
        sh = sorted((r for r in joint_rows if r["output"] == o and r["method"] == "shapley"),
                    key=lambda r: -r["value"])
        ind = sorted((r for r in rows if r["output"] == o and r["design"] == "main"
                      and r["index"] == _MAIN_INDEX.get(r["method"]) and not r["parameter2"]),
                     key=lambda r: -r["value"])
        if not sh or not ind:
            continue
        if sh[0]["parameter"] == ind[0]["parameter"]:
            notes.append(f"{o}: {sh[0]['parameter']} ranks first both on the joint posterior "
                         f"(Shapley {sh[0]['value']:.3g}) and on the independent marginals "
                         f"({ind[0]['method']} {ind[0]['index']} {ind[0]['value']:.3g}).")
        else:
            notes.append(
                f"{o}: on the joint posterior {sh[0]['parameter']} ranks first (Shapley "
                f"{sh[0]['value']:.3g}); on the independent marginals "
                f"{ind[0]['parameter']} does ({ind[0]['method']} {ind[0]['index']} "
                f"{ind[0]['value']:.3g}). The marginals combine parameter values the "
                "posterior rules out (its correlations, e.g. a ridge along a ratio that the "
                "data identify), so the joint ranking describes the cell the data support.")
    return notes


def ranking_resolution(rows: list[dict], n_by_design: dict[str, int]) -> list[dict]:
    """Whether each printed ranking's top two inputs are separated by their intervals.

    Per output, method and design: the two inputs with the largest main index, whether
    their intervals overlap, and — when they do — the sample size at which they would
    not, assuming the half-widths shrink as ``1/sqrt(n)`` (``n_needed``; ``None`` when
    the two values are equal).
    """
    out = []
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        if r["parameter2"] or r["index"] != _MAIN_INDEX.get(r["method"]):
            continue
        groups.setdefault((r["output"], r["method"], r["design"]), []).append(r)
    for (output, method, design), rs in groups.items():
        rs = sorted(rs, key=lambda r: -r["value"])
        if len(rs) < 2:
            continue
        a, b = rs[0], rs[1]
        lo_a = a["ci_low"] if math.isfinite(a["ci_low"]) else a["value"]
        hi_b = b["ci_high"] if math.isfinite(b["ci_high"]) else b["value"]
        resolved_ = lo_a > hi_b
        gap = a["value"] - b["value"]
        hw = (max(a["value"] - lo_a, 0.0) + max(hi_b - b["value"], 0.0))
        n = n_by_design.get(design)
        need = None
        if not resolved_ and gap > 0 and hw > 0 and n:
            need = math.ceil(n * (hw / gap) ** 2)
        out.append({"output": output, "method": method, "design": design,
                    "first": a["parameter"], "second": b["parameter"],
                    "gap": gap, "resolved": bool(resolved_), "n": n, "n_needed": need})
    return out


def _resolution_notes(res: list[dict]) -> list[str]:
    notes = []
    for r in res:
        if r["resolved"]:
            continue
        more = (f"about n = {r['n_needed']} would separate them (intervals shrinking as "
                "1/sqrt(n))" if r["n_needed"] else "their values are equal")
        notes.append(f"{r['output']} ({r['method']}, {r['design']}): the intervals do not "
                     f"separate {r['first']} from {r['second']} at n = {r['n']}, so their "
                     f"order in the ranking is not resolved; {more}.")
    return notes


def _outcome(resolved: dict, res: dict) -> dict:
    """Which requested outputs were analysed, which were not and why, in one message.

    ``status`` is ``"complete"`` (every requested output analysed), ``"partial"`` or
    ``"nothing_analysed"``.
    """
    handling = res["handling"]
    failures = res["failures"]
    requested = list(resolved["outputs"])
    analysed = [o for o in requested if handling.get(o, {}).get("status", "").startswith(
        "analysed")]
    skipped = {o: handling.get(o, {}).get("reason", "not analysed") for o in requested
               if o not in analysed}
    n, n_bad = failures["n_samples"], failures["n_infeasible"]
    if not skipped:
        return {"status": "complete", "analysed": analysed, "skipped": {}, "message": ""}
    if n_bad == n:
        why = (f"none of the {n} samples of the design has a physical steady state, so no "
               "index could be computed for any output. The inputs' bounds and [fixed] values "
               "describe a cell whose pump cannot balance its leaks (or whose volume cannot "
               "be stable) anywhere in the design: check units and ranges against the "
               "parameter table (run.json 'failures.where' lists what was sampled).")
    else:
        why = (f"{len(skipped)} of {len(requested)} requested output(s) could not be "
               f"analysed ({n_bad} of {n} samples infeasible): "
               + "; ".join(f"{o}: {r}" for o, r in skipped.items()))
    status = "nothing_analysed" if not analysed else "partial"
    return {"status": status, "analysed": analysed, "skipped": skipped, "message": why}


def _max_st_halfwidth(rows: list[dict]) -> dict[str, float]:
    out: dict[str, float] = {}
    for r in rows:
        if r["index"] == "ST" and r["design"] == "main" and r["output"] != "feasible":
            out[r["output"]] = max(out.get(r["output"], 0.0), r["conf"])
    return out


# ======================================================================================
# Writing
# ======================================================================================
_CSV_COLUMNS = ("output", "method", "index", "parameter", "parameter2", "value", "conf",
                "ci_low", "ci_high", "design", "n_rows")


def _write_indices(path: Path, rows: list[dict]) -> None:
    import csv

    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(_CSV_COLUMNS)
        for r in rows:
            w.writerow([repr(r[c]) if isinstance(r[c], float) else r[c] for c in _CSV_COLUMNS])


def _write_samples(path: Path, model, resolved: dict, x: np.ndarray, outs: dict,
                   attrs: dict) -> None:
    import xarray as xr

    data = {}
    for j, inp in enumerate(resolved["inputs"]):
        data[inp["name"]] = ("sample", x[:, j], {"units": inp["unit"], "role": "input",
                                                 "distribution": inp["dist"]})
    for o in model.output_names:
        arr = outs[o].astype(np.int8) if o == "feasible" else outs[o]
        a = {"units": model.output_unit(o), "role": "output"}
        if o == "feasible":
            a["description"] = "1 = a physical steady state was found and verified"
        data[o] = ("sample", arr, a)
    ds = xr.Dataset(data, coords={"sample": np.arange(x.shape[0])}, attrs=attrs)
    for k, v in resolved["fixed"].items():
        ds.attrs[f"fixed_{k}"] = v
    ds.to_netcdf(path)


def _plots(out_dir: Path, rows: list[dict]) -> list[str]:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    written = []
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in rows:
        groups.setdefault((r["output"], r["method"]), []).append(r)
    for (output, method), rs in groups.items():
        fig, ax = plt.subplots(figsize=(6.4, 4.0))
        if method == "morris":
            mu = {r["parameter"]: r for r in rs if r["index"] == "mu_star"}
            sg = {r["parameter"]: r["value"] for r in rs if r["index"] == "sigma"}
            for p, r in mu.items():
                ax.errorbar(r["value"], sg[p], xerr=r["conf"], fmt="o", capsize=3)
                ax.annotate(p, (r["value"], sg[p]), fontsize=8, xytext=(3, 3),
                            textcoords="offset points")
            ax.set_xlabel("mu* (output unit per unit quantile)")
            ax.set_ylabel("sigma")
        else:
            kinds = [k for k in ("S1", "ST", "Sh", "delta", "PAWN") if any(r["index"] == k
                                                                           for r in rs)]
            params = list(dict.fromkeys(r["parameter"] for r in rs if r["index"] == kinds[0]))
            width = 0.8 / max(len(kinds), 1)
            pos = np.arange(len(params))
            for k, kind in enumerate(kinds):
                vals = {r["parameter"]: r for r in rs if r["index"] == kind}
                v = [vals[p]["value"] for p in params]
                e = [0.0 if math.isnan(vals[p]["conf"]) else vals[p]["conf"] for p in params]
                ax.bar(pos + k * width, v, width, yerr=e, capsize=3, label=kind)
            ax.set_xticks(pos + width * (len(kinds) - 1) / 2, params, rotation=45, ha="right",
                          fontsize=8)
            ax.set_ylabel("index")
            ax.legend()
        ax.set_title(f"{output}: {method}")
        fig.tight_layout()
        name = f"{method}_{output}.png"
        fig.savefig(out_dir / name, dpi=100)
        plt.close(fig)
        written.append(name)
    written += _joint_plots(out_dir, rows)
    return written


def _joint_plots(out_dir: Path, rows: list[dict]) -> list[str]:
    """Per output: Shapley effects on the joint posterior next to the independent-marginal
    indices of the SALib method, with their intervals."""
    import matplotlib.pyplot as plt

    written = []
    for output in dict.fromkeys(r["output"] for r in rows if r["method"] == "shapley"):
        sh = {r["parameter"]: r for r in rows if r["output"] == output
              and r["method"] == "shapley"}
        ind = {r["parameter"]: r for r in rows if r["output"] == output
               and r["design"] == "main" and r["index"] in ("ST", "delta", "PAWN")
               and not r["parameter2"]}
        params = sorted(sh, key=lambda p: -sh[p]["value"])
        fig, ax = plt.subplots(figsize=(6.4, 4.0))
        pos = np.arange(len(params))
        for k, (label, table) in enumerate(
                (("joint posterior: Shapley effect", sh),
                 ("independent marginals: " + (next(iter(ind.values()))["method"] + " "
                                               + next(iter(ind.values()))["index"]
                                               if ind else ""), ind))):
            if not table:
                continue
            v = np.array([table[p]["value"] if p in table else np.nan for p in params])
            lo = np.array([table[p]["ci_low"] if p in table else np.nan for p in params])
            hi = np.array([table[p]["ci_high"] if p in table else np.nan for p in params])
            err = np.vstack([np.clip(v - lo, 0, None), np.clip(hi - v, 0, None)])
            err = np.where(np.isfinite(err), err, 0.0)
            ax.bar(pos + 0.4 * k, v, 0.4, yerr=err, capsize=3, label=label)
        ax.set_xticks(pos + 0.2, params, rotation=45, ha="right", fontsize=8)
        ax.set_ylabel("share of the output variance")
        ax.set_title(f"{output}: joint posterior vs independent marginals")
        ax.legend(fontsize=8)
        fig.tight_layout()
        name = f"joint_vs_independent_{output}.png"
        fig.savefig(out_dir / name, dpi=100)
        plt.close(fig)
        written.append(name)
    return written


def _versions() -> dict[str, str]:
    return package_versions(("iongrad", "numpy", "scipy", "SALib", "xarray", "matplotlib"))


# ======================================================================================
# Public entry point
# ======================================================================================
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


# ======================================================================================
# CLI
# ======================================================================================
def add_arguments(parser) -> None:
    """Register ``iongrad sensitivity`` arguments on an argparse parser."""
    parser.add_argument("config", help="sensitivity config (TOML)")
    parser.add_argument("--out", required=True, help="output folder (created; must be empty)")
    parser.add_argument("--force", action="store_true",
                        help="replace an existing non-empty output folder")
    parser.add_argument("--strict", action="store_true",
                        help="exit with code 1 when a requested output could not be analysed")
    parser.add_argument("--no-report", action="store_true", help="skip the HTML/MD report")
    bar = parser.add_mutually_exclusive_group()
    bar.add_argument("--progress", dest="progress", action="store_true", default=None,
                     help="show a progress bar on stderr (default: when stderr is a terminal)")
    bar.add_argument("--no-progress", dest="progress", action="store_false",
                     help="no progress bar")


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


def run(args) -> int:
    """Run ``iongrad sensitivity``: resolve, run into a temporary folder, rename into place."""
    cfg_path = Path(args.config)
    raw = load_toml(cfg_path)
    progress = sys.stderr.isatty() if args.progress is None else args.progress
    summary, _, out = run_into(raw, cfg_path.resolve().parent, args.out,
                               config_path=cfg_path, force=args.force, progress=progress,
                               report=not args.no_report)
    print(json.dumps({k: summary[k] for k in ("out_dir", "model", "method", "n",
                                              "n_evaluations", "infeasible_fraction")}))
    outcome = summary["outcome"]
    for o, e in summary["outputs"].items():
        if e["status"] == "skipped":
            print(f"  {o}: not analysed: {outcome['skipped'].get(o, 'see run.json')}")
        else:
            print(f"  {o}: {e['status']} ({e['method']}); ranking by {e['index']}: "
                  f"{', '.join(e['ranking'][:5])}")
    if not args.no_report:
        print_report_paths(out / "report.html", out / "report.md")
    if outcome["message"]:
        sys.stderr.write(f"iongrad sensitivity: warning: {outcome['message']}\n")
    if args.strict and outcome["status"] != "complete":
        return 1
    return 0
