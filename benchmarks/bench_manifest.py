"""Cost per task of the batch driver's manifest bookkeeping, before and after the journal.

Before (reimplemented here from the earlier ``iongrad.workflows.batch``): the whole
``manifest.json`` was rewritten atomically (temporary file, fsync, rename) twice per
task (task started, task finished), so the cost per task grew with the number of
tasks. After: each event is one line appended to ``journal.jsonl`` and the manifest
is rewritten at the start, at the end and at most every 2 s
(``iongrad.workflows.batch.manifest._Manifest.event``).

Both run on the same ``_Manifest`` of N trivial tasks (a ``trivial`` kind registered
in ``KINDS``) in a temporary folder. The old approach at large N is timed on the
first ``--old-sample`` tasks only (its per-task cost depends on N, the manifest
size, not on how many tasks have run) and reported per task.

    python benchmarks/bench_manifest.py                # N = 300, 1200, 10000
    python benchmarks/bench_manifest.py --n 300 --full # also a whole run_batch at N=300
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from iongrad.workflows import batch
from iongrad.workflows.batch.manifest import _Manifest
from iongrad.workflows.batch.messages import _now
from iongrad.workflows.config import config_hash, write_json_atomic


def resolve_config(raw: dict[str, Any], base_dir: Path) -> dict[str, Any]:
    """Trivial kind: the config is its own resolved form."""
    return dict(raw)


def run_config(resolved: dict[str, Any], out_dir: Path, *,
               progress: bool = False) -> dict[str, Any]:
    """Trivial kind: one tiny file."""
    (Path(out_dir) / "x.txt").write_text(str(resolved["trivial"]["i"]))
    return {"i": resolved["trivial"]["i"]}


def _tasks(n: int) -> list[batch.Task]:
    tasks = []
    for i in range(n):
        resolved = {"trivial": {"i": i}}
        tasks.append(batch.Task(kind="trivial", module=__name__, config_path=f"/cfg/{i}.toml",
                                overrides={}, label=f"t{i}.toml", resolved=resolved,
                                hash=config_hash(resolved)))
    return tasks


def _old_write(m: _Manifest) -> None:
    """The manifest write of the earlier driver (no journal)."""
    write_json_atomic(m.path, {
        "schema": batch.MANIFEST_SCHEMA, "batch_dir": str(m.out_dir),
        "run_started_at": m.created_at, "updated_at": _now(),
        "executor": m.executor, "counts": m.counts(),
        "tasks": list(m.entries.values()), "untracked_folders": m.untracked,
        "warnings": m.warnings})


def _events(m: _Manifest, tasks: list[batch.Task], record) -> float:
    """Start + finish of every task, ``record(entry)`` after each; ms per task."""
    t0 = time.perf_counter()
    for task in tasks:
        entry = m.entries[task.id]
        entry.update(status="running", attempts=entry["attempts"] + 1,
                     started_at=_now())
        record(entry)
        entry.update(status="done", finished_at=_now(), duration_s=0.001,
                     results={"i": 0})
        record(entry)
    return 1e3 * (time.perf_counter() - t0) / len(tasks)


def bookkeeping(n: int, old_sample: int) -> tuple[float, float]:
    """(old, new) ms per task at N tasks."""
    tasks = _tasks(n)
    with tempfile.TemporaryDirectory() as tmp:
        old_dir, new_dir = Path(tmp, "old"), Path(tmp, "new")
        old_dir.mkdir()
        new_dir.mkdir()
        m_old = _Manifest(old_dir, tasks, "serial")
        _old_write(m_old)
        old = _events(m_old, tasks[:old_sample], lambda _e: _old_write(m_old))
        m_new = _Manifest(new_dir, tasks, "serial")
        m_new.write()
        new = _events(m_new, tasks, m_new.event)
        t0 = time.perf_counter()
        m_new.write()  # the final write, spread over the tasks
        m_new.close_journal()
        new += 1e3 * (time.perf_counter() - t0) / n
    return old, new


def full_run(n: int) -> float:
    """ms per task of a whole serial ``run_batch`` of N trivial tasks."""
    tasks = _tasks(n)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        result = batch.run_batch(tasks, Path(tmp, "out"), workers=0, progress=False)
        dt = time.perf_counter() - t0
        assert result.counts["done"] == n, result.counts
    return 1e3 * dt / n


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[300, 1200, 10000])
    parser.add_argument("--old-sample", type=int, default=None,
                        help="tasks timed with the old approach (per-task cost; default "
                             "300, fewer at large N: 90000 / N, at least 20)")
    parser.add_argument("--full", action="store_true",
                        help="also time a whole serial run_batch (new code) per N")
    args = parser.parse_args(argv)
    batch.KINDS["trivial"] = __name__
    sys.modules.setdefault(__name__, sys.modules["__main__"])
    print(f"{'tasks':>7} {'before ms/task':>15} {'after ms/task':>14} {'ratio':>7}"
          + ("  run_batch ms/task" if args.full else ""))
    for n in args.n:
        sample = args.old_sample or max(20, min(300, 90000 // n))
        old, new = bookkeeping(n, min(n, sample))
        line = f"{n:>7} {old:>15.3f} {new:>14.3f} {old / new:>6.0f}x"
        if args.full:
            line += f"  {full_run(n):>17.2f}"
        print(line, flush=True)
    print("(before: the earlier driver's two full manifest rewrites per task, "
          "reimplemented in this script and timed on the first --old-sample tasks of "
          "each N; after: iongrad.workflows.batch.manifest._Manifest.event)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
