"""The Python API: fit, reload and analyse from a script or a notebook.

The same pipelines as ``iongrad fit`` and ``iongrad sensitivity`` (run into a
temporary sibling of the output folder, then renamed into place), returning the
results as Python objects instead of printing them. Importable as ``iongrad.fit``,
``iongrad.load_fit`` and ``iongrad.sensitivity``.

Examples
--------
Fit the shipped published-means example (K½ for Na+ by FXYD1 state) with short
chains, then reload the run folder and draw the posterior predictive again:

>>> import tempfile
>>> from pathlib import Path
>>> import iongrad
>>> from iongrad.workflows.api import example_config
>>> config = example_config("fit_literature_plm")
>>> config["sampler"].update(draws=50, tune=50, chains=2, cores=1, prior_draws=20)
>>> folder = Path(tempfile.mkdtemp()) / "plm"
>>> result = iongrad.fit(config, out=folder, seed=5)
>>> "k_na_mM" in result.idata.posterior
True
>>> again = iongrad.load_fit(folder)
>>> again.overrides["sampler.seed"]["value"]
5
>>> pp = again.posterior_predictive(seed=5 + 2)
>>> bool((pp.posterior_predictive["k_na_mM_obs"]
...       == result.idata.posterior_predictive["k_na_mM_obs"]).all())
True
"""

from __future__ import annotations

import json
import tempfile
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from iongrad.models.errors import ConfigError, DataError
from iongrad.workflows import fit as _fit
from iongrad.workflows.config import load_toml, run_into_folder
from iongrad.workflows.schema import close_match

__all__ = ["CompareResult", "FitResult", "SensitivityResult", "compare", "example_config",
           "fit", "load_fit", "sensitivity"]


def example_config(name: str) -> dict[str, Any]:
    """A shipped example config (``workflows/examples/<name>.toml``) as a dict.

    Parameters
    ----------
    name : str
        The example's file name, with or without ``.toml`` (e.g. ``"fit_vrest_ko"``).

    Returns
    -------
    dict
        The parsed config, ready to change and pass to :func:`fit` or
        :func:`sensitivity`.

    Examples
    --------
    >>> from iongrad.workflows.api import example_config
    >>> example_config("sens_morris")["sensitivity"]["method"]
    'morris'
    """
    stem = name.removesuffix(".toml")
    folder = resources.files("iongrad.workflows").joinpath("examples")
    names = sorted(p.name.removesuffix(".toml") for p in folder.iterdir()
                   if p.name.endswith(".toml"))
    if stem not in names:
        raise ConfigError(f"example {name!r}: no such shipped example"
                          f"{close_match(stem, names)}; examples: {', '.join(names)}")
    return tomllib.loads(folder.joinpath(f"{stem}.toml").read_text(encoding="utf-8"))


def _config(config_or_path: str | Path | Mapping[str, Any]) -> tuple[dict, Path, Path | None]:
    """(parsed config, base folder of relative paths, config file or None)."""
    if isinstance(config_or_path, Mapping):
        return dict(config_or_path), Path.cwd(), None
    if isinstance(config_or_path, str | Path):
        path = Path(config_or_path)
        return load_toml(path), path.resolve().parent, path
    raise ConfigError(f"config: expected a path to a TOML file or a dict, got "
                      f"{type(config_or_path).__name__}")


def _out(out: str | Path | None, prefix: str) -> Path:
    if out is not None:
        return Path(out)
    return Path(tempfile.mkdtemp(prefix=f"iongrad-{prefix}-")) / "run"


@dataclass
class FitResult:
    """A fit's results, in memory and in its run folder.

    Attributes
    ----------
    idata : arviz.InferenceData
        posterior, prior, posterior_predictive, observed_data, sample_stats, ...
        (``posterior.nc``).
    summary : pandas.DataFrame
        ``summary.csv``: one row per variable (mean, sd, HDI, ``r_hat``, ESS, unit).
    diagnostics : dict
        The diagnostics verdict of the fit (``verdict`` "pass"/"fail" and each check).
    run_dir : pathlib.Path
        The run folder.
    config : dict
        The resolved config the fit ran (``config.resolved.json``).
    overrides : dict
        Config keys set by ``seed=``/``draws=`` (``--seed``/``--draws``): key ->
        ``{"config": value in the config, "value": value used}``.
    """

    idata: Any
    summary: Any
    diagnostics: dict[str, Any]
    run_dir: Path
    config: dict[str, Any]
    overrides: dict[str, Any] = field(default_factory=dict)
    _model: Any = field(default=None, repr=False, compare=False)

    def model(self):
        """The PyMC model of the fit, rebuilt from the recorded config (built once).

        Returns
        -------
        pymc.Model
        """
        if self._model is None:
            self._model, _ = _fit.rebuild_model(self.config)
        return self._model

    def posterior_predictive(self, seed: int, *, progress: bool = False):
        """Draw the posterior predictive of the observed variables again.

        Parameters
        ----------
        seed : int
            Random seed (integer >= 0). The fit itself drew with its sampler seed + 2:
            that seed gives the stored ``posterior_predictive`` group again.
        progress : bool
            PyMC's progress bar on stderr.

        Returns
        -------
        arviz.InferenceData
            With a ``posterior_predictive`` group (shapes as in ``idata``).
        """
        from iongrad.infer.sampler_log import sample_posterior_predictive

        seed = _fit.check_override("seed", seed)
        return sample_posterior_predictive(self.model(), self.idata, seed=seed,
                                           progress=progress)


@dataclass
class SensitivityResult:
    """A sensitivity analysis's results.

    Attributes
    ----------
    indices : pandas.DataFrame
        ``indices.csv``: one row per (output, method, index, parameter) with value and
        confidence half-width ``conf``.
    run_dir : pathlib.Path
        The run folder.
    summary : dict
        The run's summary (model, method, n, evaluations, ranking per output).
    config : dict
        The resolved config.
    """

    indices: Any
    run_dir: Path
    summary: dict[str, Any]
    config: dict[str, Any]


def _read_idata(path: Path):
    """``posterior.nc`` read into memory (the file is not kept open)."""
    import arviz as az

    with az.rc_context({"data.load": "eager"}):
        return az.from_netcdf(str(path))


def _read_result(run_dir: Path) -> FitResult:
    import pandas as pd

    run = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    if "config" in run:
        config = run["config"]
    else:  # a run folder written before run.json recorded the config
        config = json.loads((run_dir / "config.resolved.json").read_text(encoding="utf-8"))
    summary = pd.read_csv(run_dir / "summary.csv", index_col=0)
    return FitResult(idata=_read_idata(run_dir / "posterior.nc"), summary=summary,
                     diagnostics=run["diagnostics"], run_dir=run_dir, config=config,
                     overrides=run.get("overrides", {}))


def fit(config_or_path: str | Path | Mapping[str, Any], *, out: str | Path | None = None,
        seed: int | None = None, draws: int | None = None, progress: bool = False,
        force: bool = False, report: bool = False) -> FitResult:
    """Fit a model to a dataset with NUTS, as ``iongrad fit`` does.

    Parameters
    ----------
    config_or_path : str, Path or dict
        A fit config file (TOML) or the parsed config (relative dataset paths in a dict
        are taken relative to the working folder).
    out : str or Path, optional
        Run folder (new or empty). Default: a new temporary folder.
    seed, draws : int, optional
        Instead of ``[sampler] seed`` (>= 0) and ``draws`` (>= 1); recorded in
        ``run.json`` under ``overrides``.
    progress : bool
        Progress bars on stderr (and PyMC's log lines).
    force : bool
        Replace an existing iongrad run folder at ``out``.
    report : bool
        Also write ``report.html`` and ``report.md``.

    Returns
    -------
    FitResult

    Raises
    ------
    ConfigError
        A bad config or override, naming the key and the value.

    Examples
    --------
    >>> import iongrad
    >>> from iongrad.workflows.api import example_config
    >>> config = example_config("fit_literature_plm")
    >>> config["sampler"].update(draws=40, tune=40, chains=2, cores=1, prior_draws=20)
    >>> result = iongrad.fit(config, seed=1)
    >>> sorted(result.idata.posterior["k_na_mM"].dims)
    ['chain', 'draw', 'fxyd_state']
    >>> result.idata.posterior.sizes["draw"]
    40
    >>> "r_hat" in result.summary.columns
    True
    >>> (result.run_dir / "run.json").is_file()
    True
    """
    raw, base, path = _config(config_or_path)
    _, _, final = _fit.fit_into_folder(raw, base, _out(out, "fit"), config_path=path,
                                       force=force, progress=progress, report=report,
                                       seed=seed, draws=draws)
    return _read_result(final)


def load_fit(run_dir: str | Path) -> FitResult:
    """A fit's run folder as a :class:`FitResult`, its model rebuilt on demand.

    The data files the fit read are checked against the SHA-256 digests in
    ``run.json`` (where it has them), so that a rebuilt model is the one that was
    fitted.

    Parameters
    ----------
    run_dir : str or Path
        A folder written by ``iongrad fit`` or :func:`fit`.

    Returns
    -------
    FitResult
        ``model()`` rebuilds the PyMC model; ``posterior_predictive(seed)`` draws again.

    Raises
    ------
    ConfigError
        Not a fit run folder.
    DataError
        The data changed since the fit (digest mismatch) or can no longer be read.

    Examples
    --------
    >>> import iongrad
    >>> from iongrad.workflows.api import example_config
    >>> config = example_config("fit_literature_plm")
    >>> config["sampler"].update(draws=30, tune=30, chains=2, cores=1, prior_draws=10)
    >>> folder = iongrad.fit(config).run_dir
    >>> again = iongrad.load_fit(folder)
    >>> again.config["sampler"]["draws"]
    30
    >>> pp = again.posterior_predictive(seed=11)
    >>> pp.posterior_predictive["k_na_mM_obs"].shape
    (2, 30, 3)
    """
    run_dir = Path(run_dir)
    run_json = run_dir / "run.json"
    if not run_json.is_file():
        raise ConfigError(f"run folder {str(run_dir)!r}: no run.json; not a fit run folder")
    run = json.loads(run_json.read_text(encoding="utf-8"))
    if run.get("kind") != "fit":
        raise ConfigError(f"{str(run_json)!r}: a {run.get('kind')!r} run, not a fit")
    for name in ("posterior.nc", "summary.csv"):
        if not (run_dir / name).is_file():
            raise ConfigError(f"run folder {str(run_dir)!r}: no {name}")
    recorded = (run.get("dataset") or {}).get("sha256") or {}
    if recorded:
        now = _fit.dataset_digests(run["dataset"])
        for role, digest in recorded.items():
            where = run["dataset"].get(role)
            if role not in now:
                raise DataError(f"{str(run_json)!r}: dataset.{role} {where!r} no longer "
                                "exists; the fit's model cannot be rebuilt")
            if now[role] != digest:
                raise DataError(f"{str(run_json)!r}: dataset.{role} {where!r} changed since "
                                f"the fit (SHA-256 {now[role][:12]}..., the fit read "
                                f"{digest[:12]}...)")
    return _read_result(run_dir)


def sensitivity(config_or_path: str | Path | Mapping[str, Any], *,
                out: str | Path | None = None, progress: bool = False, force: bool = False,
                report: bool = False) -> SensitivityResult:
    """Run a global sensitivity analysis, as ``iongrad sensitivity`` does.

    Parameters
    ----------
    config_or_path : str, Path or dict
        A sensitivity config file (TOML) or the parsed config.
    out : str or Path, optional
        Run folder (new or empty). Default: a new temporary folder.
    progress : bool
        A progress bar on stderr during the model evaluations.
    force : bool
        Replace an existing iongrad run folder at ``out``.
    report : bool
        Also write ``report.html`` and ``report.md``.

    Returns
    -------
    SensitivityResult

    Examples
    --------
    >>> import iongrad
    >>> from iongrad.workflows.api import example_config
    >>> config = example_config("sens_morris")
    >>> config["sensitivity"]["n"] = 8
    >>> result = iongrad.sensitivity(config)
    >>> sorted(set(result.indices["output"]))
    ['na_i_mM', 'v_rest_mV']
    >>> result.summary["n_evaluations"]  # 8 trajectories x (12 inputs + 1)
    104
    """
    import pandas as pd

    from iongrad.workflows import sensitivity as _sens

    raw, base, path = _config(config_or_path)
    summary, resolved, final = _sens.run_into(raw, base, _out(out, "sensitivity"),
                                              config_path=path, force=force,
                                              progress=progress, report=report)
    return SensitivityResult(indices=pd.read_csv(final / "indices.csv"), run_dir=final,
                             summary=summary, config=resolved)


@dataclass
class CompareResult:
    """A model comparison's results (``iongrad compare``).

    Attributes
    ----------
    table : pandas.DataFrame
        ``comparison.csv``: one row per fit, ranked by ELPD (PSIS-LOO), with its
        standard error, the difference to the best fit and its standard error, the
        stacking weight and the number of observations with Pareto k > 0.7.
    pointwise : pandas.DataFrame
        ``pointwise.csv``: per observation (with its cell and condition), the pointwise
        ELPD and Pareto k of each fit (columns ``elpd_loo_i[<run>]``, ``pareto_k[<run>]``).
    run_dir : pathlib.Path
        The output folder (tables, plots, report).
    flagged : dict
        Per fit, the observations whose PSIS-LOO is unreliable (Pareto k > 0.7).
    """

    table: Any
    pointwise: Any
    run_dir: Path
    flagged: dict[str, Any]


def compare(run_dirs, *, out: str | Path | None = None, force: bool = False
            ) -> CompareResult:
    """Compare fits of the same data by PSIS-LOO, as ``iongrad compare`` does.

    Parameters
    ----------
    run_dirs : sequence of str or Path
        Two or more fit run folders (fitted to the same observations).
    out : str or Path, optional
        Output folder (new or empty). Default: a new temporary folder.
    force : bool
        Replace an existing iongrad output folder at ``out``.

    Returns
    -------
    CompareResult

    Raises
    ------
    ConfigError
        Fewer than two runs, a folder that is not a fit run, a fit without a
        ``log_likelihood`` group, or fits of different data.
    """
    import pandas as pd

    from iongrad.workflows import compare as _cmp

    dirs = [Path(d) for d in run_dirs]
    if len(dirs) < 2:
        raise ConfigError(f"compare needs at least two run folders; got {len(dirs)}")
    final = _out(out, "compare").resolve()
    result = _cmp.compare_runs(dirs)
    inputs = [Path(d) / name for d in result["dirs"] for name in ("posterior.nc", "run.json")]
    run_into_folder(final, lambda tmp: _cmp.write_outputs(result, tmp, run_folder=final),
                    force=force, inputs=inputs)
    return CompareResult(table=pd.read_csv(final / "comparison.csv"),
                         pointwise=pd.read_csv(final / "pointwise.csv"), run_dir=final,
                         flagged=result["flagged"])
