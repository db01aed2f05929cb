"""``iongrad report``: its arguments and what it runs."""

from __future__ import annotations

import argparse
from pathlib import Path

from iongrad.models.errors import ConfigError
from iongrad.workflows.config import RUN_MARKER, print_report_paths
from iongrad.workflows.report.batch_index import write_batch_index
from iongrad.workflows.report.write import write_report


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register ``iongrad report`` arguments on an argparse parser."""
    parser.add_argument("run_dir", metavar="RUN_DIR",
                        help="a fit or sensitivity run folder, or a batch folder "
                             "(with manifest.json)")
    parser.add_argument("--out", default=None,
                        help="folder for report.html/report.md (default: RUN_DIR)")


def _check_report_out(out: Path, run_dir: Path) -> None:
    """``--out`` of ``iongrad report``: a new folder, the run folder, a folder iongrad
    wrote, or one without report files of its own (which would be overwritten)."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out: {str(out)!r} exists and is not a folder")
    if not out.is_dir() or out.resolve() == run_dir.resolve() or (out / RUN_MARKER).is_file():
        return
    taken = [n for n in ("report.html", "report.md", "report_files") if (out / n).exists()]
    if taken:
        raise ConfigError(f"--out: {str(out)!r} already holds {', '.join(taken)}, not "
                          "written by iongrad; choose another folder")


def run(args: argparse.Namespace) -> int:
    """Run ``iongrad report``: write the report(s) and print their paths."""
    run_dir = Path(args.run_dir)
    if not run_dir.is_dir():
        raise ConfigError(f"RUN_DIR {str(run_dir)!r} is not a folder")
    if (run_dir / "manifest.json").is_file() and not (run_dir / "run.json").is_file():
        if args.out is not None:
            raise ConfigError("--out is not supported for a batch folder (the index is "
                              "written into it)")
        html, md = write_batch_index(run_dir)
    elif (run_dir / "run.json").is_file():
        if args.out is not None:
            _check_report_out(Path(args.out), run_dir)
        html, md = write_report(run_dir, args.out)
    else:
        raise ConfigError(f"{str(run_dir)!r} has neither run.json (a run folder) nor "
                          "manifest.json (a batch folder)")
    print_report_paths(html.resolve(), md.resolve())
    return 0
