"""A test-only task kind, ``selftest``, for the batch runner.

Config::

    [selftest]
    name = "a"          # required; also the key of the result content
    seed = 1            # default 0
    sleep_s = 0.2       # default 0
    fail = false        # raise after writing a partial file
    log = "calls.log"   # optional; relative to the config; one line per invocation
    n_files = 2         # result files to write (default 2)
    param = 1.0         # scales the draws; a key for grid tests
    crash = false       # kill the process running the task (Dask worker tests only)

``run_config`` appends ``start <name> <token>`` to the log when it starts and
``end <name> <token>`` just before it returns; ``token`` is random per
invocation (not seeded) so that tests can tell which invocation's result was
committed. The result content depends only on ``name`` and ``seed``.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from pathlib import Path
from typing import Any

import numpy as np

from iongrad.models.errors import ConfigError
from iongrad.workflows.config import check_keys, require

KIND = "selftest"
MODULE = "_batch_selftest"
_KEYS = ("name", "seed", "sleep_s", "fail", "log", "n_files", "param", "crash")


def resolve_config(raw: dict[str, Any], base_dir: Path) -> dict[str, Any]:
    """Validate a selftest config and fill defaults."""
    check_keys(raw, [KIND, "notes"], "config")  # [notes]: free text, ignored
    sec = raw[KIND]
    check_keys(sec, _KEYS, f"[{KIND}]")
    name = require(sec, "name", f"[{KIND}]", str)
    out = {"name": name, "seed": 0, "sleep_s": 0.0, "fail": False, "log": None,
           "n_files": 2, "param": 1.0, "crash": False}
    for key, types in (("seed", int), ("sleep_s", (int, float)), ("fail", bool),
                       ("crash", bool),
                       ("log", str), ("n_files", int), ("param", (int, float))):
        if key in sec:
            out[key] = require(sec, key, f"[{KIND}]", types)
    if out["sleep_s"] < 0:
        raise ConfigError(f"[{KIND}].sleep_s: must be >= 0, got {out['sleep_s']}")
    if out["log"] is not None:
        out["log"] = str((base_dir / out["log"]).resolve())
    return {KIND: out}


def _log(path: str | None, line: str) -> None:
    if path is None:
        return
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


def run_config(resolved: dict[str, Any], out_dir: Path, *,
               progress: bool = False) -> dict[str, Any]:
    """Write ``result_<i>.json`` + ``draws.npy``; sleep; optionally fail."""
    cfg = resolved[KIND]
    token = secrets.token_hex(8)
    _log(cfg["log"], f"start {cfg['name']} {token} {os.getpid()}")
    rng = np.random.default_rng(cfg["seed"])
    draws = rng.normal(size=64) * cfg["param"]
    np.save(out_dir / "draws.npy", draws)
    deadline = time.monotonic() + cfg["sleep_s"]
    for i in range(cfg["n_files"]):
        (out_dir / f"result_{i}.json").write_text(json.dumps(
            {"name": cfg["name"], "seed": cfg["seed"], "i": i, "mean": float(draws.mean())}))
        # spread the sleep over the writes so that a kill can land between files
        time.sleep(max(0.0, deadline - time.monotonic()) / (cfg["n_files"] - i))
    (out_dir / "token.txt").write_text(token)
    if cfg["crash"]:
        os._exit(13)
    if cfg["fail"]:
        raise RuntimeError(f"selftest task {cfg['name']!r} failed as asked")
    _log(cfg["log"], f"end {cfg['name']} {token} {os.getpid()}")
    return {"name": cfg["name"], "mean": float(draws.mean()), "token": token}


# ---------------------------------------------------------------------------------------
# helpers shared by the batch tests
# ---------------------------------------------------------------------------------------


def write_config(folder: Path, name: str, **values: Any) -> Path:
    """Write ``folder/<name>.toml`` with a ``[selftest]`` section."""
    lines = ["[selftest]", f"name = {json.dumps(name)}"]
    for key, value in values.items():
        lines.append(f"{key} = {json.dumps(value)}")
    path = folder / f"{name}.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def read_manifest(out: Path) -> dict[str, Any]:
    """The manifest as a dict."""
    return json.loads((out / "manifest.json").read_text())


def log_lines(path: Path, what: str = "start") -> list[tuple[str, str]]:
    """``(name, token)`` of every ``what`` line of a selftest log."""
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        parts = line.split()
        if parts and parts[0] == what:
            out.append((parts[1], parts[2]))
    return out


def assert_manifest_matches_folders(out: Path) -> dict[str, Any]:
    """Check that every done/skipped task has a complete folder and nothing else does."""
    from iongrad.workflows.batch import check_task_folder

    manifest = read_manifest(out)
    tasks_dir = out / "tasks"
    complete = {p.name for p in tasks_dir.iterdir()
                if not p.name.startswith(".") and check_task_folder(p) is None}
    finished = {t["id"] for t in manifest["tasks"] if t["status"] in ("done", "skipped")}
    assert finished == complete - {Path(u).name for u in manifest["untracked_folders"]}
    for t in manifest["tasks"]:
        assert t["status"] in ("done", "skipped", "failed", "pending")
        failed_dir = out / "failed" / t["hash"]
        if t["status"] == "failed":
            assert t["error"]
            assert (failed_dir / "error.txt").is_file()
        if t["status"] in ("done", "skipped"):
            assert not failed_dir.exists()
            assert t["attempts"] >= 1
    assert not [p for p in tasks_dir.iterdir() if p.name.startswith(".tmp-")]
    return manifest
