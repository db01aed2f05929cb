"""Task folders on disk: what makes one complete, and removing or setting aside what
iongrad wrote (task folders and ``DIR/failed``)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from iongrad.workflows.batch.messages import _one_line
from iongrad.workflows.batch.tasks import Task
from iongrad.workflows.config import config_hash, write_atomic

DONE_SCHEMA = "iongrad.batch.done/1"
DONE_NAME = "DONE.json"
#: Written into a task folder the moment it is created; only folders carrying it (or a
#: valid ``DONE.json`` naming the folder) are ever removed by the batch runner.
TASK_MARKER = ".iongrad-task"
TMP_PREFIX = ".tmp-"


UNTRACKED_DIR = "untracked"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _list_files(folder: Path) -> list[Path]:
    """Every file and symbolic link under ``folder`` (links are listed, never followed)."""
    found = []
    for root, dirs, files in os.walk(folder, followlinks=False):
        base = Path(root)
        found += [base / name for name in files]
        found += [base / name for name in dirs if (base / name).is_symlink()]
    return sorted(found)


def _done_digest(done: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical JSON of what ``DONE.json`` vouches for."""
    body = {k: done.get(k) for k in ("schema", "status", "kind", "hash", "results",
                                     "config", "files")}
    blob = json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=True,
                      default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def check_task_folder(folder: str | Path, *, expect_hash: str | None = None,
                      verify_sha256: bool = True) -> str | None:
    """Say why a task folder is not complete, or ``None`` if it is.

    A folder is complete when its ``DONE.json`` parses, has status ``done``, names
    the folder's hash (and ``expect_hash`` if given), and lists exactly the other
    files of the folder with matching sizes (and SHA-256 digests).

    Parameters
    ----------
    folder : str or Path
        A task folder, ``DIR/tasks/<kind>-<hash>``.
    expect_hash : str, optional
        The config hash the folder must belong to.
    verify_sha256 : bool, default True
        Also compare file contents (digests), not only sizes.

    Returns
    -------
    str or None
        The reason the folder is incomplete, or ``None`` if complete.
    """
    folder = Path(folder)
    done_path = folder / DONE_NAME
    if not folder.is_dir():
        return "not a folder"
    if not done_path.is_file():
        return f"no {DONE_NAME}"
    try:
        done = json.loads(done_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return f"{DONE_NAME} unreadable ({_one_line(exc)})"
    if not isinstance(done, dict) or done.get("schema") != DONE_SCHEMA:
        return f"{DONE_NAME} has the wrong schema"
    if done.get("status") != "done":
        return f"{DONE_NAME} status is {done.get('status')!r}"
    task_id = f"{done.get('kind')}-{done.get('hash')}"
    if folder.name != task_id:
        return f"{DONE_NAME} belongs to {task_id!r}"
    if expect_hash is not None and done.get("hash") != expect_hash:
        return f"hash {done.get('hash')!r} != expected {expect_hash!r}"
    if not isinstance(done.get("config"), dict) or config_hash(done["config"]) != done["hash"]:
        return "stored config does not match its hash"
    files = done.get("files")
    if not isinstance(files, list):
        return f"{DONE_NAME} has no file list"
    if done.get("digest") != _done_digest(done):
        return f"{DONE_NAME} was changed after it was written (digest mismatch)"
    listed = {}
    for entry in files:
        if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
            return f"{DONE_NAME} file list is malformed"
        listed[entry["path"]] = entry
    present = ({p.relative_to(folder).as_posix() for p in _list_files(folder)}
               - {DONE_NAME, TASK_MARKER})
    if present != set(listed):
        missing = sorted(set(listed) - present)
        extra = sorted(present - set(listed))
        return f"file list mismatch (missing {missing}, unlisted {extra})"
    for rel, entry in listed.items():
        path = folder / rel
        if path.is_symlink():
            return f"{rel}: is a symbolic link"
        try:
            size = path.stat().st_size
        except OSError as exc:
            return f"{rel}: {_one_line(exc)}"
        if size != entry.get("size"):
            return f"{rel}: size {size} != {entry.get('size')}"
        if verify_sha256 and _sha256(path) != entry.get("sha256"):
            return f"{rel}: content differs from its SHA-256"
    return None


def _remove_tree(path: Path) -> None:
    """Remove a folder iongrad wrote. A symbolic link is unlinked, never followed (and
    ``shutil.rmtree`` unlinks the links inside a folder without following them)."""
    if path.is_symlink() or (os.path.lexists(path) and not path.is_dir()):
        path.unlink(missing_ok=True)
        return
    # what makes the folder recognisably ours goes last, so that a kill in the middle
    # leaves a folder the next run still recognises (and removes)
    last = (DONE_NAME, TASK_MARKER)
    for _ in range(2):  # e.g. something still writing into it: try once more
        with contextlib.suppress(OSError):
            for entry in os.scandir(path):
                if entry.name in last:
                    continue
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path, ignore_errors=True)
                else:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(entry.path)
            for name in last:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path / name)
            path.rmdir()
        if not os.path.lexists(path):
            return


def _is_ours(folder: Path) -> bool:
    """True if the batch runner wrote ``folder``: a real folder (not a link) holding
    the task marker, or a ``DONE.json`` of this schema naming the folder."""
    if folder.is_symlink() or not folder.is_dir():
        return False
    marker = folder / TASK_MARKER
    if marker.is_file() and not marker.is_symlink():
        return True
    done_path = folder / DONE_NAME
    if done_path.is_symlink() or not done_path.is_file():
        return False
    try:
        done = json.loads(done_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return (isinstance(done, dict) and done.get("schema") == DONE_SCHEMA
            and folder.name == f"{done.get('kind')}-{done.get('hash')}")


def _listed_files(folder: Path) -> set[str]:
    """Paths ``DONE.json`` lists (empty if it is missing or unreadable)."""
    try:
        done = json.loads((folder / DONE_NAME).read_text(encoding="utf-8"))
        return {e["path"] for e in done["files"] if isinstance(e.get("path"), str)}
    except (OSError, UnicodeDecodeError, ValueError, TypeError, KeyError, AttributeError):
        return set()


def _free_name(path: Path) -> Path:
    """``path``, or ``path.1``, ``path.2``, ... whichever does not exist yet."""
    if not os.path.lexists(path):
        return path
    i = 1
    while os.path.lexists(path.with_name(f"{path.name}.{i}")):
        i += 1
    return path.with_name(f"{path.name}.{i}")


def _set_aside(folder: Path, out_dir: Path) -> list[str]:
    """Move every file of a task folder that iongrad did not write (not listed in its
    ``DONE.json``, not the marker) to ``out_dir/untracked/<folder name>/<path>``,
    never overwriting; returns the new paths relative to ``out_dir``."""
    listed = _listed_files(folder) | {DONE_NAME, TASK_MARKER}
    moved = []
    for path in _list_files(folder):
        rel = path.relative_to(folder).as_posix()
        if rel in listed:
            continue
        dest = _free_name(out_dir / UNTRACKED_DIR / folder.name / rel)
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.rename(path, dest)
        moved.append(dest.relative_to(out_dir).as_posix())
    return moved


def _remove_failed(out_dir: Path, task_hash: str) -> None:
    """Remove ``DIR/failed/<hash>``: only the files iongrad writes there; the folder
    goes only if nothing else is in it."""
    folder = out_dir / "failed" / task_hash
    if folder.is_symlink() or not folder.is_dir():
        return
    for path in folder.iterdir():
        if (path.name == "error.txt" or (path.name.startswith(".error.txt.")
                                         and path.name.endswith(".tmp"))) \
                and (path.is_symlink() or path.is_file()):
            path.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        folder.rmdir()


def _first_error_line(path: Path) -> str | None:
    with contextlib.suppress(OSError, UnicodeDecodeError):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith("error: "):
                return "previous attempt: " + line[len("error: "):]
    return None


def _write_error(out_dir: Path, task: Task, outcome: Mapping[str, Any]) -> None:
    folder = out_dir / "failed" / task.hash
    folder.mkdir(parents=True, exist_ok=True)
    text = (f"task: {task.id}\nlabel: {task.label}\nconfig: {task.config_path}\n"
            f"overrides: {json.dumps(task.overrides, default=str)}\n"
            f"attempt: {outcome.get('attempt')}\nhost: {outcome.get('host')}\n"
            f"started_at: {outcome.get('started_at')}\n"
            f"finished_at: {outcome.get('finished_at')}\n"
            f"error: {outcome.get('error')}\n\n{outcome.get('traceback') or ''}")
    write_atomic(folder / "error.txt", text)
