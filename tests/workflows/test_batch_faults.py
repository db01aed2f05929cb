"""Fault test of ``iongrad batch``: SIGKILL the whole run at random times, re-run.

``iongrad batch`` runs as a subprocess in its own session on six ``selftest``
tasks (0.4-0.8 s each). The process group is killed with SIGKILL after a seeded
random delay, possibly several times, then the batch is re-run to completion.
After every kill and after every completed run we check that

* every task folder outside ``.tmp-*`` is complete (a killed attempt never
  leaves a folder that looks finished), and the manifest never calls a task
  done whose folder is not complete;
* a task seen complete is never run again (its result token, random per
  invocation, never changes, and no invocation of it is logged afterwards);
* at the end every task completed exactly once, its files open, its content is
  its own, and the manifest agrees with the folders;
* no process of the killed group (driver, Dask nannies and workers) survives.

Most trials use the serial executor (``--workers 0``); one uses 2 Dask workers.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from _batch_selftest import assert_manifest_matches_folders, log_lines, read_manifest

from iongrad.workflows.batch import check_task_folder

pytestmark = pytest.mark.skipif(not hasattr(os, "killpg"), reason="needs POSIX process groups")

HERE = Path(__file__).resolve().parent
N_TASKS = 6
DRIVER = ("import sys\n"
          "from iongrad.workflows import batch\n"
          "batch.KINDS['selftest'] = '_batch_selftest'\n"
          "from iongrad.workflows.cli import main\n"
          "raise SystemExit(main(sys.argv[1:]))\n")


def _write_configs(folder: Path, rng: random.Random) -> list[Path]:
    folder.mkdir()
    paths = []
    for i in range(N_TASKS):
        path = folder / f"task{i}.toml"
        path.write_text(f'[selftest]\nname = "task{i}"\nseed = {1000 + i}\n'
                        f"sleep_s = {rng.uniform(0.4, 0.8):.3f}\nn_files = 3\n"
                        'log = "calls.log"\n')
        paths.append(path)
    return paths


def _start(paths: list[Path], out: Path, workers: int) -> subprocess.Popen:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), env.get("PYTHONPATH")]))
    log = open(out.parent / "driver.log", "ab")
    proc = subprocess.Popen(
        [sys.executable, "-c", DRIVER, "batch", *map(str, paths), "--out", str(out),
         "--workers", str(workers), "--no-progress"],
        stdout=log, stderr=log, stdin=subprocess.DEVNULL, env=env, start_new_session=True)
    proc.log = log  # type: ignore[attr-defined]
    return proc


def _group_alive(pgid: int) -> list[int]:
    """Live (non-zombie) processes of a process group."""
    try:
        import psutil
    except ImportError:
        psutil = None
    alive = []
    if psutil is not None:
        for p in psutil.process_iter(["pid", "status"]):
            try:
                if os.getpgid(p.pid) == pgid and p.info["status"] != psutil.STATUS_ZOMBIE:
                    alive.append(p.pid)
            except (ProcessLookupError, PermissionError):
                continue
        return alive
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            alive.append(int(entry.name))
    return alive


def _kill_group(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):  # the run may have finished already
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    proc.log.close()
    _assert_group_gone(proc.pid)


def _assert_group_gone(pgid: int, timeout: float = 10.0) -> None:
    """Every process of the group exits within ``timeout`` (helpers such as
    multiprocessing's resource tracker may take a moment after the driver)."""
    deadline = time.monotonic() + timeout
    while alive := _group_alive(pgid):
        if time.monotonic() > deadline:
            cmds = [Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")[:200]
                    for pid in alive if Path(f"/proc/{pid}/cmdline").exists()]
            raise AssertionError(f"processes left behind: {alive} {cmds}")
        time.sleep(0.05)


def _finish(proc: subprocess.Popen, out: Path) -> None:
    rc = proc.wait(timeout=60)
    proc.log.close()
    assert rc == 0, (out.parent / "driver.log").read_text()[-3000:]
    _assert_group_gone(proc.pid)


def _complete_tokens(out: Path) -> dict[str, str]:
    """``{task name: token}`` of the complete task folders; every other folder in
    tasks/ must be a .tmp folder (an uncommitted attempt)."""
    tokens = {}
    tasks_dir = out / "tasks"
    if not tasks_dir.exists():
        return tokens
    for folder in tasks_dir.iterdir():
        if folder.name.startswith(".tmp-"):
            continue
        reason = check_task_folder(folder)
        assert reason is None, f"{folder.name} looks finished but is not: {reason}"
        name = json.loads((folder / "result_0.json").read_text())["name"]
        assert name not in tokens, f"{name} committed twice"
        tokens[name] = (folder / "token.txt").read_text()
    return tokens


def _check_after_kill(out: Path, calls: Path, seen: dict[str, str]) -> dict[str, str]:
    tokens = _complete_tokens(out)
    started = set(log_lines(calls))
    for name, token in tokens.items():
        assert (name, token) in started  # the committed result came from a real run
        if name in seen:
            assert token == seen[name], f"{name} was recomputed"
    assert set(seen) <= set(tokens), "a complete task disappeared"
    if (out / "manifest.json").exists():  # written atomically: always parseable
        manifest = read_manifest(out)
        for entry in manifest["tasks"]:
            if entry["status"] in ("done", "skipped"):
                assert check_task_folder(out / entry["folder"]) is None
    return tokens


def _check_final(out: Path, calls: Path, seen: dict[str, str], n_calls_at_kill: int) -> None:
    manifest = assert_manifest_matches_folders(out)
    assert manifest["counts"]["done"] + manifest["counts"]["skipped"] == N_TASKS
    tokens = _check_after_kill(out, calls, seen)
    assert sorted(tokens) == [f"task{i}" for i in range(N_TASKS)]
    # tasks complete before the last kill were not invoked again
    rerun = {name for name, _ in log_lines(calls)[n_calls_at_kill:]}
    assert not rerun & set(seen)
    status = {e["label"].removesuffix(".toml"): e["status"] for e in manifest["tasks"]}
    assert all(status[name] == "skipped" for name in seen)
    # every file opens; contents are unique per task and are what the seed gives
    means = set()
    for entry in manifest["tasks"]:
        folder = out / entry["folder"]
        draws = np.load(folder / "draws.npy")
        seed = json.loads((folder / "result_0.json").read_text())["seed"]
        np.testing.assert_array_equal(draws, np.random.default_rng(seed).normal(size=64))
        for i in range(3):
            result = json.loads((folder / f"result_{i}.json").read_text())
            assert result["i"] == i and result["name"] == entry["results"]["name"]
        means.add(float(draws.mean()))
    assert len(means) == N_TASKS


@pytest.mark.slow
def test_sigkill_at_random_times_then_rerun(tmp_path):
    rng = random.Random(20241125)
    trials = [("serial", 0, 2)] * 5 + [("dask", 2, 1)]
    kills_that_hit = 0
    for trial, (name, workers, n_kills) in enumerate(trials):
        root = tmp_path / f"trial{trial}-{name}"
        root.mkdir()
        paths = _write_configs(root / "cfg", rng)
        calls = root / "cfg" / "calls.log"
        out = root / "out"
        seen: dict[str, str] = {}
        n_calls = 0
        for _ in range(n_kills):
            proc = _start(paths, out, workers)
            time.sleep(rng.uniform(0.3, 3.5) if workers == 0 else rng.uniform(1.5, 3.5))
            kills_that_hit += proc.poll() is None
            _kill_group(proc)
            seen = _check_after_kill(out, calls, seen)
            n_calls = len(log_lines(calls))
        proc = _start(paths, out, workers)
        _finish(proc, out)
        _check_final(out, calls, seen, n_calls)
        # one more run: everything is skipped, nothing is invoked
        n_calls = len(log_lines(calls))
        proc = _start(paths, out, 0)
        _finish(proc, out)
        assert len(log_lines(calls)) == n_calls
        assert {e["status"] for e in read_manifest(out)["tasks"]} == {"skipped"}
        assert len(log_lines(calls)) == len(set(log_lines(calls)))  # tokens are unique
        ends = log_lines(calls, "end")
        assert {n for n, _ in ends} == {f"task{i}" for i in range(N_TASKS)}
    assert kills_that_hit >= 8  # the kills landed while the batch was running
