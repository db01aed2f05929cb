"""Running one task into a temporary folder and committing it (the worker side)."""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import secrets
import socket
import time
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from iongrad.workflows.batch.folders import (
    DONE_NAME,
    DONE_SCHEMA,
    TASK_MARKER,
    TMP_PREFIX,
    _done_digest,
    _is_ours,
    _list_files,
    _remove_tree,
    _set_aside,
    _sha256,
    check_task_folder,
)
from iongrad.workflows.batch.messages import _now, _one_line, _warn
from iongrad.workflows.config import write_json_atomic


def _jsonable(obj: Any, rename: tuple[str, str] | None = None) -> Any:
    """Make numpy scalars/arrays and paths JSON-friendly (recursively); in strings,
    replace the prefix ``rename[0]`` by ``rename[1]``."""
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v, rename) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v, rename) for v in obj]
    if hasattr(obj, "tolist"):  # numpy arrays and scalars
        return obj.tolist()
    if isinstance(obj, bool | int | float) or obj is None:
        return obj
    text = str(obj)
    if rename is not None and text.startswith(rename[0]):
        text = rename[1] + text[len(rename[0]):]
    return text


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _short_posterior(folder: Path, resolved: Mapping[str, Any]) -> str | None:
    """Why ``folder/posterior.nc`` holds fewer chains or draws than the config asked
    for, or ``None`` (also when there is no posterior or no sampler settings)."""
    sampler = resolved.get("sampler") if isinstance(resolved, Mapping) else None
    path = folder / "posterior.nc"
    if not isinstance(sampler, Mapping) or not path.is_file():
        return None
    want = (sampler.get("chains"), sampler.get("draws"))
    import netCDF4

    with netCDF4.Dataset(path) as nc:
        if "posterior" not in nc.groups:
            return "posterior.nc has no posterior group"
        dims = nc.groups["posterior"].dimensions
        got = (len(dims["chain"]) if "chain" in dims else 0,
               len(dims["draw"]) if "draw" in dims else 0)
    if got != want:
        return (f"posterior.nc holds {got[0]} chain(s) x {got[1]} draw(s), the config "
                f"asks for {want[0]} x {want[1]}: sampling was cut short")
    return None


def execute_task(spec: Mapping[str, Any]) -> dict[str, Any]:
    """Run one task into a temporary folder and commit it atomically (worker side).

    Imports ``spec["module"]``, calls its ``run_config(resolved, tmp_dir)``, writes
    ``DONE.json`` last and renames the folder to ``spec["final_dir"]``. Exceptions
    from the task are returned, not raised, so that the executor sees a result
    either way; the temporary folder of a failed attempt is removed.

    Parameters
    ----------
    spec : mapping
        ``task_id, kind, hash, module, resolved, tasks_dir, attempt`` (as built by
        the driver; plain data so that it travels to Dask workers).

    Returns
    -------
    dict
        ``status`` (``"done"`` or ``"failed"``), ``started_at``, ``finished_at``,
        ``duration_s``, ``host``, ``pid`` and either ``results`` and ``files`` or
        ``error`` (one line) and ``traceback``.
    """
    tasks_dir = Path(spec["tasks_dir"])
    final = tasks_dir / spec["task_id"]
    tmp = tasks_dir / f"{TMP_PREFIX}{spec['hash']}-{secrets.token_hex(4)}"
    started_at, t0 = _now(), time.perf_counter()
    info: dict[str, Any] = {"started_at": started_at, "host": socket.gethostname(),
                            "pid": os.getpid()}
    try:
        tmp.mkdir()
        (tmp / TASK_MARKER).write_text(spec["hash"] + "\n", encoding="utf-8")
        module = importlib.import_module(spec["module"])
        results = module.run_config(json.loads(json.dumps(spec["resolved"])), tmp,
                                    progress=False)
        short = _short_posterior(tmp, spec["resolved"])
        if short is not None:
            raise RuntimeError(short)
        # results may name the folder they were written to: name the final one
        results = _jsonable(results if results is not None else {}, (str(tmp), str(final)))
        if DONE_NAME in {p.name for p in tmp.iterdir()}:
            raise RuntimeError(f"{spec['module']}.run_config wrote {DONE_NAME}, a name "
                               "reserved for the batch runner")
        files = [{"path": p.relative_to(tmp).as_posix(), "size": p.stat().st_size,
                  "sha256": _sha256(p)} for p in _list_files(tmp)
                 if p.relative_to(tmp).as_posix() != TASK_MARKER]
        finished_at = _now()
        duration = time.perf_counter() - t0
        done = {"schema": DONE_SCHEMA, "status": "done", "task_id": spec["task_id"],
                "kind": spec["kind"], "hash": spec["hash"], "attempt": spec["attempt"],
                **info, "finished_at": finished_at, "duration_s": round(duration, 6),
                "results": results, "files": files, "config": spec["resolved"]}
        done["digest"] = _done_digest(json.loads(json.dumps(done, default=str)))
        write_json_atomic(tmp / DONE_NAME, done)
        _fsync_dir(tmp)
        existing = _commit(tmp, final, spec["hash"])
        _fsync_dir(tasks_dir)
        if existing is not None:  # another attempt committed first: report that one
            done = existing
        return {"status": "done", "started_at": done["started_at"], "host": done["host"],
                "pid": done["pid"], "finished_at": done["finished_at"],
                "duration_s": done["duration_s"], "results": done["results"],
                "files": done["files"], "attempt": done["attempt"]}
    except BaseException as exc:
        _remove_tree(tmp)
        if not isinstance(exc, Exception):  # KeyboardInterrupt, SystemExit: stop
            raise
        return {"status": "failed", **info, "finished_at": _now(),
                "duration_s": time.perf_counter() - t0, "error": _one_line(exc),
                "traceback": traceback.format_exc(), "attempt": spec["attempt"]}


def _commit(tmp: Path, final: Path, expect_hash: str) -> dict[str, Any] | None:
    """Rename ``tmp`` to ``final``.

    If ``final`` already exists and is complete (another attempt of the same task
    committed first: a task Dask recomputed after losing a worker, or a worker of
    an earlier, killed driver on a shared cluster), that one is kept, ``tmp`` is
    discarded and the existing ``DONE.json`` is returned. An incomplete ``final``
    is replaced. Returns ``None`` when ``tmp`` was committed.
    """
    try:
        os.rename(tmp, final)
        return None
    except OSError:
        if not final.exists():
            raise
    if check_task_folder(final, expect_hash=expect_hash) is None:
        _remove_tree(tmp)
        return json.loads((final / DONE_NAME).read_text(encoding="utf-8"))
    if not _is_ours(final):
        raise RuntimeError(f"{final} exists and was not written by iongrad; move it away "
                           "to run this task")
    for rel in _set_aside(final, final.parent.parent):
        _warn(f"moved {rel} (not written by iongrad) out of {final.name} before redoing it")
    stale = final.with_name(f"{TMP_PREFIX}{expect_hash}-stale-{secrets.token_hex(4)}")
    os.rename(final, stale)
    _remove_tree(stale)
    os.rename(tmp, final)
    return None
