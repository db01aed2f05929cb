"""``run_batch``: run tasks into a batch folder, skipping the complete ones."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # not POSIX
    fcntl = None

from iongrad.models.errors import ConfigError
from iongrad.workflows.batch.executors import Outcome, _quiet_dask, _run_dask, _run_serial
from iongrad.workflows.batch.folders import (
    TMP_PREFIX,
    UNTRACKED_DIR,
    _is_ours,
    _remove_failed,
    _remove_tree,
    _write_error,
)
from iongrad.workflows.batch.manifest import (
    JOURNAL_NAME,
    _Manifest,
    _reconcile_interrupted,
    _scan,
    _write_batch_index,
)
from iongrad.workflows.batch.messages import _now, _warn
from iongrad.workflows.batch.tasks import Task

#: Entries of a batch folder that iongrad writes (anything else: not a batch folder).
_BATCH_ENTRIES = ("manifest.json", ".batch.lock", "tasks", "failed", UNTRACKED_DIR,
                  JOURNAL_NAME)


@dataclass
class BatchResult:
    """Outcome of :func:`run_batch`.

    Attributes
    ----------
    out_dir : Path
        The batch folder.
    counts : dict
        Number of tasks per status (``done``, ``skipped``, ``failed``, ...).
    manifest : dict
        The final manifest (as written to ``out_dir/manifest.json``).
    warnings : list of str
        Non-fatal problems (e.g. the batch index report failed).
    index : tuple of Path or None
        ``(index.html, index.md)`` written for this run, or ``None`` if none was.
    """

    out_dir: Path
    counts: dict[str, int]
    manifest: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    index: tuple[Path, Path] | None = None

    @property
    def ok(self) -> bool:
        """True if no task failed."""
        return self.counts.get("failed", 0) == 0


@contextlib.contextmanager
def _batch_lock(out_dir: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``out_dir`` (released by the OS if we are killed)."""
    if fcntl is None:  # not POSIX: run without a lock
        yield
        return
    fh = open(out_dir / ".batch.lock", "a+b")  # held for the whole run
    try:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigError(f"another 'iongrad batch' is running in {out_dir}") from None
        yield
    finally:
        fh.close()


class _Progress:
    """tqdm bar on a terminal; one line per finished task otherwise."""

    def __init__(self, total: int, enabled: bool):
        self.total, self.enabled, self.n = total, enabled, 0
        self.bar = None
        if enabled and total and sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc="batch", unit="task", file=sys.stderr,
                            dynamic_ncols=True)

    def update(self, entry: Mapping[str, Any],
               counts: Callable[[], Mapping[str, int]]) -> None:
        self.n += 1
        if self.bar is not None:
            now = counts()  # O(tasks): only for the bar
            self.bar.set_postfix_str(f"done={now['done']} failed={now['failed']}",
                                     refresh=False)
            self.bar.update(1)
        elif self.enabled:
            duration = entry.get("duration_s")
            took = f" in {duration:.1f} s" if isinstance(duration, float | int) else ""
            tail = f": {entry['error']}" if entry["status"] == "failed" else ""
            sys.stderr.write(f"[{self.n}/{self.total}] {entry['status']} {entry['id']} "
                             f"({entry['label']}){took}{tail}\n")
            sys.stderr.flush()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _prepare_out_dir(out_dir: str | Path) -> Path:
    """Create the batch folder, or check that an existing one is a batch folder."""
    out_dir = Path(out_dir).expanduser().resolve()
    try:
        if out_dir.exists() and not out_dir.is_dir():
            raise ConfigError(f"--out {out_dir} exists and is not a folder")
        if out_dir.is_dir():
            names = {p.name for p in out_dir.iterdir()}
            if names and not names & {"manifest.json", ".batch.lock"}:
                raise ConfigError(
                    f"--out {out_dir} is not empty and is not a batch folder (no "
                    "manifest.json); give a new or empty folder, or an earlier batch's")
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--out {out_dir}: {exc.strerror or exc}") from None
    return out_dir


def _check_subfolders(out_dir: Path) -> None:
    """``tasks``, ``failed`` and ``untracked`` must be real folders (or absent): the
    runner never works through a symbolic link."""
    for name in ("tasks", "failed", UNTRACKED_DIR):
        sub = out_dir / name
        if sub.is_symlink():
            raise ConfigError(f"--out {out_dir}: {name!r} is a symbolic link (to "
                              f"{os.readlink(sub)}); iongrad batch does not work through "
                              "links; replace it by a folder")
        if os.path.lexists(sub) and not sub.is_dir():
            raise ConfigError(f"--out {out_dir}: {name!r} is not a folder")
    (out_dir / "tasks").mkdir(exist_ok=True)


def run_batch(tasks: Sequence[Task], out_dir: str | Path, *, workers: int = 2,
              scheduler: str | None = None, progress: bool = True) -> BatchResult:
    """Run tasks into ``out_dir``, skipping complete ones.

    Parameters
    ----------
    tasks : sequence of Task
        From :func:`expand_tasks`.
    out_dir : str or Path
        Batch folder (created if missing). With ``scheduler``, it must be a path
        the workers see too (a shared file system).
    workers : int, default 2
        Worker processes of the local Dask cluster; ``0`` runs the tasks serially
        in this process, without Dask. Ignored with ``scheduler``.
    scheduler : str, optional
        Address of an existing Dask scheduler (``tcp://host:port``).
    progress : bool, default True
        Show progress on stderr.

    Returns
    -------
    BatchResult
        Counts per status, the manifest and warnings.

    Raises
    ------
    ConfigError
        If ``out_dir`` is not usable or another batch is running in it.
    KeyboardInterrupt
        Propagated after the manifest has been written and the cluster closed.
    """
    if workers < 0:
        raise ConfigError(f"--workers must be >= 0, got {workers}")
    out_dir = _prepare_out_dir(out_dir)
    if scheduler is not None:
        executor = f"dask scheduler {scheduler}"
    elif workers == 0:
        executor = "serial"
    else:
        executor = f"dask LocalCluster, {workers} worker process(es)"
    with _batch_lock(out_dir):
        _check_subfolders(out_dir)
        manifest = _Manifest(out_dir, tasks, executor)
        _scan(out_dir, tasks, manifest)
        n_scan_warnings = len(manifest.warnings)
        manifest.write()
        by_id = {task.id: task for task in tasks}
        specs = []
        for task in tasks:
            entry = manifest.entries[task.id]
            if entry["status"] != "pending":
                continue
            specs.append({"task_id": task.id, "kind": task.kind, "hash": task.hash,
                          "module": task.module, "resolved": task.resolved,
                          "tasks_dir": str(out_dir / "tasks"),
                          "attempt": entry["attempts"] + 1})

        def on_start(task_id: str) -> None:
            entry = manifest.entries[task_id]
            entry.update(status="running", attempts=entry["attempts"] + 1,
                         started_at=_now(), finished_at=None, duration_s=None)
            manifest.event(entry)

        bar = _Progress(len(specs), progress)
        runner: Iterator[tuple[dict[str, Any], Outcome]]
        if not specs:
            runner = _run_serial([], on_start)
        elif workers == 0 and scheduler is None:
            runner = _run_serial(specs, on_start)
        else:
            runner = _run_dask(specs, on_start, workers=workers, scheduler=scheduler)
        try:
            for spec, outcome in runner:
                task = by_id[spec["task_id"]]
                entry = manifest.entries[task.id]
                entry.update(status=outcome["status"], duration_s=outcome["duration_s"],
                             finished_at=outcome["finished_at"])
                if outcome.get("started_at"):
                    entry["started_at"] = outcome["started_at"]
                if outcome["status"] == "done":
                    entry.update(error=None, results=outcome["results"])
                    _remove_failed(out_dir, task.hash)
                else:
                    entry.update(error=outcome["error"], results=None)
                    _write_error(out_dir, task, outcome)
                    # a worker that died mid-task leaves its temporary folder behind
                    for stray in (out_dir / "tasks").glob(f"{TMP_PREFIX}{task.hash}-*"):
                        if _is_ours(stray):
                            _remove_tree(stray)
                manifest.event(entry)
                bar.update(entry, manifest.counts)
        except BaseException:
            # stop the executor first (closing the cluster lets running tasks end),
            # then record what actually got committed
            with _quiet_dask():
                with contextlib.suppress(BaseException):
                    runner.close()
                # the local cluster is gone: its attempts will never finish (an external
                # cluster's workers may still be running theirs; the next run cleans up)
                _reconcile_interrupted(out_dir, manifest,
                                       remove_attempts=scheduler is None)
                manifest.write()
                manifest.close_journal()
            raise
        finally:
            with contextlib.suppress(Exception):
                runner.close()
            bar.close()
        index = _write_batch_index(out_dir, manifest)
        for message in manifest.warnings[n_scan_warnings:]:
            _warn(message)
        manifest.write()
        manifest.close_journal()
    return BatchResult(out_dir=out_dir, counts=manifest.counts(),
                       manifest=json.loads(manifest.path.read_text(encoding="utf-8")),
                       warnings=list(manifest.warnings), index=index)
