"""The fit pipeline of ``iongrad fit`` and :func:`iongrad.fit`, for every model kind:
resolve the config, fit into a new folder atomically, record the provenance, write the
report."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from iongrad.infer.model import build_model
from iongrad.models.errors import ConfigError, DataError
from iongrad.workflows.config import input_paths, run_into_folder
from iongrad.workflows.fit.config import (
    apply_overrides,
    fit_spec,
    load_dataset_ref,
    resolve_config,
    rundown_spec,
    select_rows,
)

__all__ = ["fit_into_folder", "rebuild_model", "run_config"]


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
    # PyMC is imported here, not when the command line starts
    if resolved.get("model") == "rundown":
        from iongrad.workflows.fit.rundown import run_rundown

        summary = run_rundown(resolved, load_dataset_ref(resolved["dataset"]), Path(out_dir),
                              progress=progress, overrides=overrides)
    else:
        from iongrad.workflows.fit.steady import run_steady

        summary = run_steady(resolved, Path(out_dir), progress=progress, overrides=overrides)
    return summary


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


def _try_report(run_dir: Path, final: Path, *, progress: bool = False) -> None:
    from iongrad.workflows.report import write_report  # matplotlib, jinja2

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
        from iongrad.infer.rundown_model import build_rundown_model  # PyTensor

        return build_rundown_model(dataset, rundown_spec(resolved))
    return build_model(select_rows(dataset, resolved["select"]), fit_spec(resolved))
