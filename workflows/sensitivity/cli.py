"""The ``iongrad sensitivity`` command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from iongrad.workflows.config import load_toml, print_report_paths
from iongrad.workflows.sensitivity.runner import run_into


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
