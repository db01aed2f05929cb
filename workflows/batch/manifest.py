"""The driver's record of a batch: ``manifest.json`` and its journal, rebuilt from the task
folders at start-up, and the batch index report."""

from __future__ import annotations

import contextlib
import importlib
import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from iongrad.workflows.batch.folders import (
    DONE_NAME,
    TMP_PREFIX,
    UNTRACKED_DIR,
    _first_error_line,
    _is_ours,
    _remove_failed,
    _remove_tree,
    _set_aside,
    check_task_folder,
)
from iongrad.workflows.batch.messages import _now, _one_line, _warn
from iongrad.workflows.batch.tasks import Task
from iongrad.workflows.config import write_json_atomic

MANIFEST_SCHEMA = "iongrad.batch.manifest/1"


JOURNAL_NAME = "journal.jsonl"


_MANIFEST_EVERY_S = 2.0
STATUSES = ("pending", "running", "done", "failed", "skipped")


class _Manifest:
    """The driver's view of every task; the only writer of ``manifest.json``.

    Task events (start, end) are appended to ``journal.jsonl`` (constant cost per
    task); ``manifest.json`` is rewritten at the start, at the end and at most every
    :data:`_MANIFEST_EVERY_S` seconds in between. Both are rebuilt from the task
    folders at every start, so neither can claim a task that is not complete.
    """

    def __init__(self, out_dir: Path, tasks: Sequence[Task], executor: str):
        self.out_dir = out_dir
        self.path = out_dir / "manifest.json"
        self.journal_path = out_dir / JOURNAL_NAME
        self.executor = executor
        self.created_at = _now()
        self.entries: dict[str, dict[str, Any]] = {}
        self.untracked: list[str] = []
        self.foreign: list[str] = []
        self.moved_aside: list[str] = []
        self.warnings: list[str] = []
        self._journal: Any = None
        self._written = 0.0
        for task in tasks:
            self.entries[task.id] = {
                "id": task.id, "kind": task.kind, "label": task.label,
                "config": task.config_path, "overrides": task.overrides,
                "hash": task.hash, "folder": f"tasks/{task.id}", "status": "pending",
                "attempts": 0, "started_at": None, "finished_at": None,
                "duration_s": None, "error": None, "results": None}

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(STATUSES, 0)
        for entry in self.entries.values():
            counts[entry["status"]] += 1
        return counts

    def write(self) -> None:
        """Rewrite ``manifest.json`` (atomically) and start a new journal."""
        write_json_atomic(self.path, {
            "schema": MANIFEST_SCHEMA, "batch_dir": str(self.out_dir),
            "run_started_at": self.created_at, "updated_at": _now(),
            "executor": self.executor, "counts": self.counts(),
            "tasks": list(self.entries.values()), "untracked_folders": self.untracked,
            "foreign_folders": self.foreign, "moved_aside": self.moved_aside,
            "warnings": self.warnings, "journal": JOURNAL_NAME})
        self._written = time.monotonic()
        self.close_journal()
        # the manifest now holds every event: the journal restarts empty
        self._journal = open(self.journal_path, "w", encoding="utf-8")

    def event(self, entry: Mapping[str, Any]) -> None:
        """Record a task's new state: one journal line; the manifest now and then."""
        if self._journal is None:
            self.write()
            return
        self._journal.write(json.dumps({
            "at": _now(), "id": entry["id"], "status": entry["status"],
            "attempts": entry["attempts"], "error": entry["error"]},
            default=str) + "\n")
        self._journal.flush()
        if time.monotonic() - self._written >= _MANIFEST_EVERY_S:
            self.write()

    def close_journal(self) -> None:
        if self._journal is not None:
            with contextlib.suppress(OSError):
                self._journal.close()
            self._journal = None


def _previous_attempts(path: Path, journal: Path | None = None) -> dict[str, int]:
    """Attempt counts from an earlier manifest and the journal of events after it
    (whatever of them is readable; counts only)."""
    counts: dict[str, int] = {}
    with contextlib.suppress(OSError, ValueError, TypeError, KeyError, AttributeError):
        old = json.loads(path.read_text(encoding="utf-8"))
        counts = {t["id"]: int(t.get("attempts", 0)) for t in old.get("tasks", [])}
    if journal is not None:
        with contextlib.suppress(OSError, UnicodeDecodeError):
            for line in journal.read_text(encoding="utf-8").splitlines():
                try:
                    event = json.loads(line)
                    counts[event["id"]] = max(counts.get(event["id"], 0),
                                              int(event["attempts"]))
                except (ValueError, TypeError, KeyError):
                    continue  # a line cut short by a kill
    return counts


def _scan(out_dir: Path, tasks: Sequence[Task], manifest: _Manifest) -> None:
    """Rebuild task states from the folders; remove leftovers of killed attempts.

    Only folders iongrad wrote (:func:`_is_ours`) are ever removed; before one is
    removed, any file in it that iongrad did not write is moved to
    ``DIR/untracked/<folder>/``. Anything else in ``DIR/tasks`` (a folder of the
    user's, a symbolic link, a file) is left alone and listed as a foreign entry.
    """
    tasks_dir = out_dir / "tasks"
    for stray in out_dir.glob(".manifest.json.*.tmp"):
        if stray.is_file() and not stray.is_symlink():
            stray.unlink(missing_ok=True)
    by_id = {task.id: task for task in tasks}
    previous = _previous_attempts(manifest.path, manifest.journal_path)
    removed = 0
    for folder in sorted(tasks_dir.iterdir()):
        rel = f"tasks/{folder.name}"
        if folder.name.startswith(TMP_PREFIX) and not folder.is_symlink() \
                and folder.is_dir():
            if _is_ours(folder):  # an attempt that never committed
                _remove_tree(folder)
                removed += 1
                continue
            with contextlib.suppress(OSError):  # killed between mkdir and its marker
                folder.rmdir()
                removed += 1
                continue
        task = by_id.get(folder.name)
        if folder.is_symlink() or not folder.is_dir() or not _is_ours(folder):
            manifest.foreign.append(rel)
            if task is not None:
                manifest.entries[task.id].update(
                    status="failed", error=f"{rel} exists and was not written by iongrad; "
                                           "move it away to run this task")
            continue
        reason = check_task_folder(folder, expect_hash=task.hash if task else None)
        if reason is not None:
            moved = _set_aside(folder, out_dir)
            if moved:
                manifest.moved_aside += moved
                manifest.warnings.append(
                    f"moved {len(moved)} file(s) iongrad did not write out of {rel} to "
                    f"{UNTRACKED_DIR}/{folder.name}/ before redoing it")
            _remove_tree(folder)
            removed += 1
            continue
        if task is None:
            manifest.untracked.append(rel)
            continue
        done = json.loads((folder / DONE_NAME).read_text(encoding="utf-8"))
        manifest.entries[task.id].update(
            status="skipped", attempts=max(int(done.get("attempt", 1)), 1),
            started_at=done.get("started_at"), finished_at=done.get("finished_at"),
            duration_s=done.get("duration_s"), results=done.get("results"))
        _remove_failed(out_dir, task.hash)
    for task_id, entry in manifest.entries.items():
        if entry["status"] == "pending":
            entry["attempts"] = previous.get(task_id, 0)
            error_file = out_dir / "failed" / entry["hash"] / "error.txt"
            if error_file.is_file():
                entry["error"] = _first_error_line(error_file)
    if manifest.foreign:
        manifest.warnings.append(
            f"left alone {len(manifest.foreign)} entr(y/ies) in {tasks_dir} that iongrad "
            f"did not write: {', '.join(manifest.foreign[:5])}"
            + (" ..." if len(manifest.foreign) > 5 else ""))
    for message in manifest.warnings:
        _warn(message)
    if removed:
        _warn(f"removed {removed} incomplete task folder(s) left by an earlier run")


def _reconcile_interrupted(out_dir: Path, manifest: _Manifest, *,
                           remove_attempts: bool = False) -> None:
    """After an interruption: a running task whose folder got committed is done,
    any other running task is pending again (and, with ``remove_attempts``, its
    temporary attempt folders are removed)."""
    for entry in manifest.entries.values():
        if entry["status"] != "running":
            continue
        if remove_attempts:
            for stray in (out_dir / "tasks").glob(f"{TMP_PREFIX}{entry['hash']}-*"):
                if _is_ours(stray):
                    _remove_tree(stray)
        folder = out_dir / entry["folder"]
        if check_task_folder(folder, expect_hash=entry["hash"]) is None:
            done = json.loads((folder / DONE_NAME).read_text(encoding="utf-8"))
            entry.update(status="done", started_at=done.get("started_at"),
                         finished_at=done.get("finished_at"),
                         duration_s=done.get("duration_s"), results=done.get("results"),
                         error=None)
            _remove_failed(out_dir, entry["hash"])
        else:
            entry["status"] = "pending"


def _write_batch_index(out_dir: Path, manifest: _Manifest) -> tuple[Path, Path] | None:
    """Call ``iongrad.workflows.report.write_batch_index`` if that exists; its
    ``(html, md)`` paths, or ``None`` when no index was written."""
    name = "iongrad.workflows.report"
    try:
        report = importlib.import_module(name)
    except ImportError as exc:
        if getattr(exc, "name", None) == name:
            return None  # no report module in this build
        manifest.warnings.append(f"batch index report not written: {_one_line(exc)}")
        return None
    writer = getattr(report, "write_batch_index", None)
    if writer is None:
        return None
    try:
        written = writer(out_dir)
    except Exception as exc:  # the results are complete; a report failure must not hide it
        manifest.warnings.append(f"batch index report failed: {_one_line(exc)}")
        return None
    if isinstance(written, tuple) and len(written) == 2:  # (html, md), as the report's
        return Path(written[0]), Path(written[1])
    return None
