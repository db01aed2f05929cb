"""The report of a run folder, by the kind its ``run.json`` records."""

from __future__ import annotations

from pathlib import Path

from iongrad.models.errors import ConfigError
from iongrad.workflows.report.document import _render
from iongrad.workflows.report.files import _read_json
from iongrad.workflows.report.fit import _fit_doc
from iongrad.workflows.report.sensitivity import _sens_doc


def write_report(run_dir: str | Path, out_dir: str | Path | None = None, *,
                 run_folder: str | Path | None = None,
                 progress: bool = False) -> tuple[Path, Path]:
    """Write ``report.html`` and ``report.md`` for a fit or sensitivity run folder.

    Parameters
    ----------
    run_dir : str or Path
        A run folder with ``run.json`` (``kind`` "fit", "sensitivity" or "compare")
        and the files that kind writes.
    out_dir : str or Path, optional
        Where to write the report (default: ``run_dir``). The Markdown figures go to
        ``out_dir/report_files/``.
    run_folder : str or Path, optional
        The run folder the report names (default: ``run_dir``). A command that writes
        its results into a temporary folder and renames it at the end passes the final
        folder here, so that the report never names the temporary one.
    progress : bool
        A progress bar on stderr over the sections of a fit report.

    Returns
    -------
    (html_path, md_path) : tuple of Path

    Raises
    ------
    ConfigError
        If the folder is not a run folder, or its kind is unknown.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ConfigError(f"run folder {str(run_dir)!r} does not exist")
    info = _read_json(run_dir / "run.json")
    kind = info.get("kind")
    shown = str(run_folder if run_folder is not None else run_dir)
    if kind == "fit":
        doc = _fit_doc(run_dir, shown, progress=progress)
    elif kind == "sensitivity":
        doc = _sens_doc(run_dir, shown)
    elif kind == "compare":
        from iongrad.workflows.compare import compare_doc

        doc = compare_doc(run_dir, shown)
    else:
        raise ConfigError(f"{str(run_dir / 'run.json')!r}: unknown run kind {kind!r}; "
                          "expected 'fit', 'sensitivity' or 'compare'")
    return _render(doc, Path(out_dir) if out_dir is not None else run_dir, "report")
