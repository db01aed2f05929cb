"""Deterministic crash points: kill a batch run after each file-system change.

Random SIGKILLs (``test_batch_faults.py``) rarely land in the short windows
that matter (between writing a result and committing it). Here a forked child
runs the batch with an audit hook (:func:`sys.addaudithook`) that counts every
file-system mutation (an open for writing, mkdir, rename, replace, remove,
rmtree) and calls ``os._exit`` at the k-th one, as a SIGKILL would: no cleanup,
no ``finally``. This is repeated for every k of a full run. After each crash the
folders and the manifest must not claim anything unfinished, and a re-run must
complete every task exactly once without recomputing what was complete.
"""

from __future__ import annotations

import os
import sys

import pytest
from _batch_selftest import (
    KIND,
    MODULE,
    assert_manifest_matches_folders,
    log_lines,
    read_manifest,
    write_config,
)

from iongrad.workflows import batch

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")

_MUTATIONS = {"os.mkdir", "os.rename", "os.replace", "os.remove", "os.rmdir",
              "shutil.rmtree", "os.truncate", "os.link", "os.symlink"}
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC


def _is_mutation(event: str, args: tuple) -> bool:
    if event in _MUTATIONS:
        return True
    if event == "open":
        _path, mode, flags = args
        if isinstance(mode, str):
            return any(c in mode for c in "wax+")
        return bool((flags or 0) & _WRITE_FLAGS)
    return False


def _run_and_crash_at(k: int, tasks, out) -> int:
    """Run the batch in a forked child that dies at the k-th mutation; return its
    exit code (137: crashed, 0: finished before reaching k)."""
    pid = os.fork()
    if pid == 0:  # child: never returns
        code = 2
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 2)
            count = 0

            def hook(event, args):
                nonlocal count
                if _is_mutation(event, args):
                    count += 1
                    if count == k:
                        os._exit(137)

            sys.addaudithook(hook)
            code = 0 if batch.run_batch(tasks, out, workers=0, progress=False).ok else 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def _complete(out) -> dict[str, str]:
    """``{task id: token}`` of complete folders; any other non-.tmp folder fails."""
    tokens = {}
    tasks_dir = out / "tasks"
    for folder in tasks_dir.iterdir() if tasks_dir.exists() else ():
        if folder.name.startswith(".tmp-") or folder.name.startswith("."):
            continue
        assert batch.check_task_folder(folder) is None, folder
        tokens[folder.name] = (folder / "token.txt").read_text()
    return tokens


def test_crash_after_every_file_system_change(tmp_path, monkeypatch):
    monkeypatch.setitem(batch.KINDS, KIND, MODULE)
    cfg = tmp_path / "cfg"
    cfg.mkdir()
    paths = [write_config(cfg, f"c{i}", seed=i, log="calls.log") for i in range(3)]
    paths.append(write_config(cfg, "bad", fail=True, log="calls.log"))
    tasks = batch.expand_tasks(paths)
    crashed = 0
    k = 0
    while True:
        k += 1
        assert k < 400, "the crash points never ran out"
        out = tmp_path / f"out{k}"
        (cfg / "calls.log").unlink(missing_ok=True)
        code = _run_and_crash_at(k, tasks, out)
        if code != 137:
            assert code == 1  # ran to the end: the "bad" task failed, the others did not
            break
        crashed += 1
        before = _complete(out)
        if (out / "manifest.json").exists():
            for entry in read_manifest(out)["tasks"]:
                if entry["status"] in ("done", "skipped"):
                    assert entry["id"] in before
        n_calls = len(log_lines(cfg / "calls.log"))
        result = batch.run_batch(tasks, out, workers=0, progress=False)
        manifest = assert_manifest_matches_folders(out)
        after = _complete(out)
        assert result.counts["failed"] == 1
        assert len(after) == 3 and all(after[t] == before[t] for t in before)
        rerun = {name for name, _ in log_lines(cfg / "calls.log")[n_calls:]}
        assert rerun == {t.label.removesuffix(".toml") for t in tasks
                         if t.id not in before}
        assert {e["id"] for e in manifest["tasks"] if e["status"] == "skipped"} == set(before)
    assert crashed >= 30  # every step of a 4-task run was a crash point
