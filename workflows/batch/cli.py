"""The ``iongrad batch`` command line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from iongrad.models.errors import ConfigError
from iongrad.workflows.batch.driver import run_batch
from iongrad.workflows.batch.folders import check_task_folder
from iongrad.workflows.batch.tasks import expand_tasks


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the ``iongrad batch`` arguments on ``parser``."""
    parser.description = ("Run many configs (sensitivity, fit) as tasks, each into its own "
                          "result folder keyed by the hash of its resolved config. "
                          "Re-running skips complete tasks and redoes the rest.")
    parser.add_argument("configs", nargs="+", metavar="CONFIG",
                        help="task configs (TOML with a [sensitivity] or [fit] section) "
                             "or batch files ([batch] configs = [...], [batch.grid])")
    parser.add_argument("--out", required=True, metavar="DIR", help="batch folder")
    parser.add_argument("--grid", metavar="GRID.toml",
                        help="expand every config over the cartesian product of these "
                             "overrides (dotted keys -> arrays, or arrays of preset tables)")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="use an existing Dask cluster (tcp://host:port) instead of a "
                             "local one; DIR must be visible to its workers")
    parser.add_argument("--workers", type=int, default=None, metavar="N",
                        help="local Dask worker processes (default 2); 0 runs serially in "
                             "this process without Dask")
    parser.add_argument("--local", action="store_true",
                        help="run serially in this process (same as --workers 0)")
    parser.add_argument("--no-progress", action="store_true",
                        help="no progress bar / per-task lines on stderr")
    parser.add_argument("--dry-run", action="store_true",
                        help="validate and list the tasks; run and write nothing")


def run(args: argparse.Namespace) -> int:
    """Run ``iongrad batch``; return 0 if every task succeeded, 1 if any failed.

    Config and usage errors raise :class:`ConfigError` (exit code 2 via the CLI).
    """
    if args.scheduler is not None and (args.workers is not None or args.local):
        raise ConfigError("--scheduler uses the workers of that cluster; do not combine it "
                          "with --workers or --local")
    if args.local and args.workers not in (None, 0):
        raise ConfigError(f"--local runs serially; it contradicts --workers {args.workers}")
    workers = 0 if args.local else (2 if args.workers is None else args.workers)
    if workers < 0:
        raise ConfigError(f"--workers must be >= 0, got {workers}")
    tasks = expand_tasks(args.configs, grid=args.grid)
    if args.dry_run:
        out = Path(args.out)
        for task in tasks:
            state = ("complete" if check_task_folder(out / "tasks" / task.id,
                                                     expect_hash=task.hash) is None
                     else "to run")
            print(f"{task.id}  {state:8s}  {task.label}")
        print(f"iongrad batch: {len(tasks)} task(s), dry run, nothing written")
        return 0
    try:
        result = run_batch(tasks, args.out, workers=workers, scheduler=args.scheduler,
                           progress=not args.no_progress)
    except KeyboardInterrupt:
        # SIGINT and SIGTERM arrive here as KeyboardInterrupt (iongrad.workflows.cli)
        out = Path(args.out).expanduser().resolve()
        # sizes only: hashing every finished task again would delay the exit
        committed = sum(check_task_folder(out / "tasks" / t.id, expect_hash=t.hash,
                                          verify_sha256=False) is None for t in tasks)
        sys.stderr.write(f"iongrad batch: interrupted; {committed} of {len(tasks)} task(s) "
                         "committed, re-run to finish\n")
        return 130
    c = result.counts
    if result.index is not None:
        print(f"HTML index: {result.index[0].resolve()}")
        print(f"Markdown index: {result.index[1].resolve()}")
    print(f"iongrad batch: {len(tasks)} task(s): {c['done']} done, {c['skipped']} skipped, "
          f"{c['failed']} failed -> {result.out_dir}")
    if not result.ok:
        failed = [e for e in result.manifest["tasks"] if e["status"] == "failed"]
        for entry in failed:
            sys.stderr.write(f"iongrad batch: failed {entry['id']} ({entry['label']}): "
                             f"{entry['error']}\n")
        sys.stderr.write(f"iongrad batch: tracebacks in {result.out_dir / 'failed'}\n")
    return 0 if result.ok else 1
