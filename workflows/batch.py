"""``iongrad batch``: run many workflow configs, locally or on a Dask cluster.

A batch turns config files (optionally expanded over a grid of overrides) into
*tasks*. Each task is one resolved config of one kind (``sensitivity``, ``fit``)
and owns one result folder ``DIR/tasks/<kind>-<hash>/`` keyed by
:func:`~iongrad.workflows.config.config_hash` of its resolved config, so the same
config (same seed) always maps to the same folder.

Guarantees
----------
* Everything is validated (every task's config resolved) before any folder is
  created; a problem is one :class:`~iongrad.models.errors.ConfigError` naming
  the file and the key.
* A task runs into ``DIR/tasks/.tmp-<hash>-<random>/`` (marked ``.iongrad-task`` as
  soon as it exists), writes ``DONE.json`` (status, timings, key results, every file
  with its size and SHA-256, and a digest of all that) last and is then renamed into
  place. A folder counts as complete only if its ``DONE.json`` is valid and its file
  list matches the folder byte for byte; an incomplete folder of iongrad's is removed
  and redone on the next run (files in it that iongrad did not write are first moved
  to ``DIR/untracked/<task id>/``). A killed attempt can therefore never be mistaken
  for a finished result, and a task whose posterior is short is never committed.
* Nothing iongrad did not write is removed: other entries of ``DIR/tasks`` are left
  alone and reported; symbolic links are never followed.
* ``DIR/manifest.json`` is written atomically by the driver only (at the start, at
  the end and at most every 2 s; every task event is a line of ``journal.jsonl``)
  and is rebuilt from the folders at the start of each run.
* Re-running skips complete tasks, redoes incomplete ones and retries failed
  ones. A failing task is recorded (one line in the manifest, the traceback in
  ``DIR/failed/<hash>/error.txt``) and the others continue.

Tasks are executed by a Dask ``LocalCluster`` of ``--workers`` single-threaded
processes (default 2), by an existing cluster (``--scheduler ADDRESS``), or
serially in this process (``--workers 0`` / ``--local``). A task's random
numbers come only from its config's seed, so results do not depend on the
executor, the number of workers or the order of completion.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import datetime as _dt
import hashlib
import importlib
import itertools
import json
import math
import os
import secrets
import shutil
import socket
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from iongrad.models.errors import ConfigError
from iongrad.workflows.config import check_keys, config_hash, load_toml, write_json_atomic

__all__ = [
    "KINDS",
    "BatchResult",
    "Task",
    "add_arguments",
    "check_task_folder",
    "execute_task",
    "expand_tasks",
    "load_grid",
    "run",
    "run_batch",
]

#: Task kinds: name of the top-level config section -> module providing
#: ``resolve_config(raw, base_dir)`` and ``run_config(resolved, out_dir, *, progress)``.
#: Tests and plugins may register more kinds here (in the driver process; workers
#: only receive the module name).
KINDS: dict[str, str] = {
    "sensitivity": "iongrad.workflows.sensitivity",
    "fit": "iongrad.workflows.fit",
}

MANIFEST_SCHEMA = "iongrad.batch.manifest/1"
DONE_SCHEMA = "iongrad.batch.done/1"
DONE_NAME = "DONE.json"
#: Written into a task folder the moment it is created; only folders carrying it (or a
#: valid ``DONE.json`` naming the folder) are ever removed by the batch runner.
TASK_MARKER = ".iongrad-task"
TMP_PREFIX = ".tmp-"
JOURNAL_NAME = "journal.jsonl"
UNTRACKED_DIR = "untracked"
#: Entries of a batch folder that iongrad writes (anything else: not a batch folder).
_BATCH_ENTRIES = ("manifest.json", ".batch.lock", "tasks", "failed", UNTRACKED_DIR,
                  JOURNAL_NAME)
_MANIFEST_EVERY_S = 2.0
STATUSES = ("pending", "running", "done", "failed", "skipped")
_BATCH_KEYS = ("configs", "grid", "description")
_PRESET_NAME = "name"
_MAX_ERROR_CHARS = 500


# --------------------------------------------------------------------------------------
# Tasks and their expansion
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Task:
    """One unit of work: a resolved config of one kind.

    Attributes
    ----------
    kind : str
        Config kind (a key of :data:`KINDS`).
    module : str
        Module that runs it (``resolve_config`` / ``run_config``).
    config_path : str
        Absolute path of the config file the task came from.
    overrides : dict
        Dotted-key overrides applied to that file (empty without a grid).
    label : str
        Short human-readable description (file name and grid point).
    resolved : dict
        The resolved, JSON-serialisable config.
    hash : str
        ``config_hash(resolved)``; names the task folder.
    """

    kind: str
    module: str
    config_path: str
    overrides: dict[str, Any]
    label: str
    resolved: dict[str, Any] = field(repr=False)
    hash: str

    @property
    def id(self) -> str:
        """Task id and folder name, ``<kind>-<hash>``."""
        return f"{self.kind}-{self.hash}"


def _flatten(table: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten nested tables into dotted keys (``{"a": {"b": 1}}`` -> ``{"a.b": 1}``)."""
    out: dict[str, Any] = {}
    for key, value in table.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(_flatten(value, path + "."))
        else:
            out[path] = value
    return out


def _axis_from(name: str, values: Any, where: str) -> list[tuple[str, dict[str, Any]]]:
    """One grid axis as a list of ``(label, {dotted_key: value})`` points."""
    if not isinstance(values, list) or not values:
        raise ConfigError(f"{where}.{name}: expected a non-empty array of values or of "
                          f"tables (presets), got {values!r}")
    n_tables = sum(isinstance(v, Mapping) for v in values)
    if n_tables not in (0, len(values)):
        raise ConfigError(f"{where}.{name}: mixes tables and values; use either an array of "
                          "values or an array of preset tables")
    points: list[tuple[str, dict[str, Any]]] = []
    if n_tables == 0:  # a value axis: one dotted key, several values
        short = name.rsplit(".", 1)[-1]
        for value in values:
            points.append((f"{short}={_short_repr(value)}", {name: value}))
        return points
    for i, preset in enumerate(values):  # a preset axis: each table sets several keys
        preset = dict(preset)
        label = preset.pop(_PRESET_NAME, None)
        if label is not None and not isinstance(label, str):
            raise ConfigError(f"{where}.{name}[{i}].{_PRESET_NAME}: expected a string, "
                              f"got {label!r}")
        overrides = _flatten(preset)
        if not overrides:
            raise ConfigError(f"{where}.{name}[{i}]: preset sets no keys")
        points.append((f"{name}={label if label is not None else i}", overrides))
    return points


def _short_repr(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 40 else text[:37] + "..."


def _parse_grid(grid: Any, where: str) -> list[list[tuple[str, dict[str, Any]]]]:
    """Parse a grid table into axes; see :func:`load_grid`."""
    if not isinstance(grid, Mapping) or not grid:
        raise ConfigError(f"{where}: expected a non-empty table of grid axes, got {grid!r}")
    axes = []
    for name, values in _grid_items(grid):
        axes.append(_axis_from(name, values, where))
    return axes


def _grid_items(grid: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    # unquoted dotted TOML keys arrive as nested tables: walk them down to the arrays
    for key, value in grid.items():
        if isinstance(value, Mapping):
            yield from _grid_items(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def load_grid(path: str | Path) -> list[list[tuple[str, dict[str, Any]]]]:
    """Read a grid file (``--grid GRID.toml``).

    The file holds a ``[grid]`` table, or the axes at its top level. Each axis is
    either a dotted key with an array of values, ``"fixed.k_o_mM" = [2.5, 4, 10]``,
    or a name with an array of preset tables (``[[grid.cell_type]]``), each table
    setting several dotted keys together and optionally naming itself with ``name``.
    The batch runs the cartesian product of the axes.

    Parameters
    ----------
    path : str or Path
        The grid TOML file.

    Returns
    -------
    list of list of (str, dict)
        The axes; each point is ``(label, {dotted_key: value})``.
    """
    path = Path(path)
    raw = load_toml(path)
    if "grid" in raw:
        check_keys(raw, ["grid"], str(path))
        return _parse_grid(raw["grid"], f"{path}: grid")
    return _parse_grid(raw, f"{path}: grid")


#: Most tasks one batch may expand to. Counted before anything is expanded or resolved
#: (a four-line grid of 40 values per axis is 2.56 million tasks); split a larger study
#: into several batches.
MAX_TASKS = 10_000


def _count_points(axes: Sequence[list[tuple[str, dict[str, Any]]]]) -> int:
    return math.prod(len(axis) for axis in axes) if axes else 1


def _check_task_count(n_before: int, axes: Sequence[list[tuple[str, dict[str, Any]]]],
                      path: Path, where: str) -> None:
    n = _count_points(axes)
    if n_before + n > MAX_TASKS:
        sizes = " x ".join(str(len(axis)) for axis in axes) or "1"
        raise ConfigError(
            f"{where}: the grid expands {path.name} to {n:,} task(s) ({sizes}), "
            f"{n_before + n:,} in all; a batch may have at most {MAX_TASKS:,} tasks: split it "
            "into several batches or use fewer grid values")


def _grid_points(axes: Sequence[list[tuple[str, dict[str, Any]]]],
                 where: str) -> list[tuple[str, dict[str, Any]]]:
    """Cartesian product of axes -> ``[(label, merged_overrides)]``."""
    if not axes:
        return [("", {})]
    points = []
    for combo in itertools.product(*axes):
        merged: dict[str, Any] = {}
        for _label, overrides in combo:
            for key, value in overrides.items():
                if key in merged:
                    raise ConfigError(f"{where}: key {key!r} is set by two grid axes")
                merged[key] = value
        points.append((", ".join(label for label, _ in combo), merged))
    return points


def _has_path(table: Mapping[str, Any], dotted: str) -> bool:
    node: Any = table
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False
        node = node[part]
    return True


def _set_path(table: dict[str, Any], dotted: str, value: Any, where: str) -> None:
    parts = dotted.split(".")
    node = table
    for i, part in enumerate(parts[:-1]):
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"{where}: grid key {dotted!r}: "
                              f"{'.'.join(parts[: i + 1])!r} is not a table")
        node = child
    if isinstance(node.get(parts[-1]), dict):
        raise ConfigError(f"{where}: grid key {dotted!r} names a table; override its keys "
                          "one by one")
    node[parts[-1]] = value


def _keys_near(table: Mapping[str, Any], dotted: str) -> str:
    """List the keys that exist next to a missing dotted key, for error messages."""
    node: Any = table
    parts = dotted.split(".")
    for part in parts[:-1]:
        if isinstance(node, Mapping) and isinstance(node.get(part), Mapping):
            node = node[part]
        else:
            break
    if not isinstance(node, Mapping):
        return "(none)"
    return ", ".join(sorted(map(str, node))) or "(none)"


def _kind_of(raw: Mapping[str, Any], path: Path) -> str:
    kinds = [k for k in KINDS if isinstance(raw.get(k), Mapping)]
    if len(kinds) != 1:
        found = ", ".join(kinds) if kinds else "none"
        raise ConfigError(f"{path}: a task config needs exactly one top-level section naming "
                          f"its kind ({', '.join(f'[{k}]' for k in KINDS)}); found {found}")
    return kinds[0]


def _import_kind(kind: str, path: Path):
    module_name = KINDS[kind]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        raise ConfigError(f"{path}: kind {kind!r} needs module {module_name!r}, which is "
                          "not available in this build") from None
    for attr in ("resolve_config", "run_config"):
        if not callable(getattr(module, attr, None)):
            raise ConfigError(f"{path}: module {module_name!r} (kind {kind!r}) has no "
                              f"{attr}() function")
    return module


def _is_batch_file(raw: Mapping[str, Any]) -> bool:
    if any(isinstance(raw.get(k), Mapping) for k in KINDS):
        return False
    return isinstance(raw.get("batch"), Mapping) or "configs" in raw


def _tasks_for_config(path: Path, raw: dict[str, Any],
                      axes: Sequence[list[tuple[str, dict[str, Any]]]],
                      where: str) -> list[Task]:
    kind = _kind_of(raw, path)
    module = _import_kind(kind, path)
    points = _grid_points(axes, where)
    _check_grid_keys(module, raw, path, points, where)
    tasks = []
    for label, overrides in points:
        cfg = copy.deepcopy(raw)
        for key, value in overrides.items():
            _set_path(cfg, key, value, f"{where} ({path})")
        resolved = _resolve(module, cfg, path, label if overrides else None, where)
        try:
            json.dumps(resolved, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{path}: resolved config is not JSON-serialisable ({exc}); "
                              f"fix {KINDS[kind]}.resolve_config") from None
        tasks.append(Task(kind=kind, module=KINDS[kind], config_path=str(path),
                          overrides=dict(overrides),
                          label=path.name + (f" [{label}]" if label else ""),
                          resolved=resolved, hash=config_hash(resolved)))
    return tasks


def _check_grid_keys(module, raw: dict[str, Any], path: Path,
                     points: Sequence[tuple[str, dict[str, Any]]], where: str) -> None:
    """Every grid key must name something: a key of the config file, a key of its
    resolved config, or a key the kind accepts and that changes the resolved config
    (e.g. a model parameter added to ``[fixed]``). A misspelt key is an error, never
    an override that silently does nothing."""
    base: dict[str, Any] | None = None
    seen: set[str] = set()
    for _label, overrides in points:
        for key, value in overrides.items():
            if _has_path(raw, key) or (key, repr(value)) in seen:
                continue
            seen.add((key, repr(value)))
            if base is None:
                base = _resolve(module, copy.deepcopy(raw), path, None, where)
            if _has_path(base, key):
                continue
            missing = (f"{where}: grid key {key!r} does not exist in {path}; keys there: "
                       f"{_keys_near(raw, key)}")
            cfg = copy.deepcopy(raw)
            _set_path(cfg, key, value, f"{where} ({path})")
            try:
                resolved = module.resolve_config(cfg, path.parent)
            except ConfigError as exc:
                raise ConfigError(f"{missing} ({exc})") from None
            if config_hash(resolved) == config_hash(base):
                raise ConfigError(f"{missing} (setting it has no effect)")


def _resolve(module, cfg: dict[str, Any], path: Path, grid_point: str | None,
             where: str) -> dict[str, Any]:
    """``module.resolve_config`` with the file (and grid point) named in any error."""
    try:
        return module.resolve_config(cfg, path.parent)
    except ConfigError as exc:
        msg = str(exc)
        if str(path) not in msg:
            msg = f"{path}: {msg}"
        if grid_point is not None:
            msg += f" (grid point: {grid_point}; from {where})"
        raise ConfigError(msg) from None


def expand_tasks(paths: Sequence[str | Path], *,
                 grid: str | Path | None = None) -> list[Task]:
    """Turn config and batch files into tasks, validating everything.

    Parameters
    ----------
    paths : sequence of str or Path
        Task configs (a TOML file with one kind section, e.g. ``[sensitivity]``) or
        batch files (a ``[batch]`` table with ``configs = [...]``, paths relative to
        the batch file, and an optional ``[batch.grid]``; the flat form with
        top-level ``configs`` and ``[grid]`` is accepted too).
    grid : str or Path, optional
        A grid file (see :func:`load_grid`) applied to every config; combined
        (cartesian product) with a batch file's own grid.

    Returns
    -------
    list of Task
        In input order; tasks that resolve to the same config (same hash) are
        merged into the first.

    Raises
    ------
    ConfigError
        On any problem, naming the file and the key. Nothing is written.
    """
    if not paths:
        raise ConfigError("no config files given")
    cli_axes = load_grid(grid) if grid is not None else []
    where_cli = f"{grid}: grid" if grid is not None else "grid"
    tasks: list[Task] = []
    for given in paths:
        path = Path(given).expanduser().resolve()
        raw = load_toml(path)
        if not _is_batch_file(raw):
            _check_task_count(len(tasks), cli_axes, path, where_cli)
            tasks.extend(_tasks_for_config(path, raw, cli_axes, where_cli))
            continue
        if isinstance(raw.get("batch"), Mapping):
            check_keys(raw, ["batch"], str(path))
            section, where = raw["batch"], f"{path}: [batch]"
        else:
            section, where = raw, str(path)
        check_keys(section, _BATCH_KEYS, where)
        configs = section.get("configs")
        if (not isinstance(configs, list) or not configs
                or not all(isinstance(c, str) for c in configs)):
            raise ConfigError(f"{where}.configs: expected a non-empty array of file paths, "
                              f"got {configs!r}")
        axes = list(cli_axes)
        if "grid" in section:
            axes += _parse_grid(section["grid"], f"{where}.grid")
        for rel in configs:
            sub = (path.parent / rel).resolve()
            if not sub.exists():
                raise ConfigError(f"{where}.configs: file {rel!r} does not exist "
                                  f"(looked for {sub})")
            sub_raw = load_toml(sub)
            if _is_batch_file(sub_raw):
                raise ConfigError(f"{where}.configs: {rel!r} is itself a batch file; "
                                  "batch files do not nest")
            _check_task_count(len(tasks), axes, sub, f"{where}.grid")
            tasks.extend(_tasks_for_config(sub, sub_raw, axes, f"{where}.grid"))
    unique: dict[str, Task] = {}
    for task in tasks:
        unique.setdefault(task.id, task)
    if len(unique) < len(tasks):
        _warn(f"{len(tasks) - len(unique)} task(s) resolve to the same config as an earlier "
              "one and were merged")
    return list(unique.values())


# --------------------------------------------------------------------------------------
# Task folders: execution (worker side) and verification
# --------------------------------------------------------------------------------------


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="milliseconds")


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


def _one_line(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {' '.join(str(exc).split())}"
    return text if len(text) <= _MAX_ERROR_CHARS else text[: _MAX_ERROR_CHARS - 3] + "..."


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


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


# --------------------------------------------------------------------------------------
# Driver: scan folders, keep the manifest, run the executor
# --------------------------------------------------------------------------------------


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


def _warn(message: str) -> None:
    sys.stderr.write(f"iongrad batch: warning: {message}\n")


@contextlib.contextmanager
def _batch_lock(out_dir: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``out_dir`` (released by the OS if we are killed)."""
    try:
        import fcntl
    except ImportError:  # not POSIX: run without a lock
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
    tmp = folder / f".error.txt.{secrets.token_hex(4)}.tmp"
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, folder / "error.txt")


Outcome = dict[str, Any]


def _run_serial(specs: list[dict[str, Any]],
                on_start: Callable[[str], None]) -> Iterator[tuple[dict[str, Any], Outcome]]:
    """Run tasks one after the other in this process."""
    for spec in specs:
        on_start(spec["task_id"])
        yield spec, execute_task(spec)


def _run_on_client(client, specs: list[dict[str, Any]], on_start: Callable[[str], None],
                   ) -> Iterator[tuple[dict[str, Any], Outcome]]:
    """Submit every task to a Dask client and yield outcomes as they complete."""
    from distributed import as_completed

    run_token = secrets.token_hex(3)
    futures = {}
    for spec in specs:
        # key by task hash (+ a run token, so a shared scheduler never hands us the
        # result of another client's or an earlier run's future)
        key = f"iongrad-batch-{spec['task_id']}-{run_token}"
        futures[client.submit(execute_task, spec, key=key, pure=False)] = spec
        on_start(spec["task_id"])
    try:
        for future in as_completed(futures):
            spec = futures[future]
            try:
                # waits if Dask lost the result with a worker and is recomputing it
                outcome = future.result()
            except Exception as exc:  # the worker died (KilledWorker) or was cancelled
                outcome = {"status": "failed", "started_at": None, "finished_at": _now(),
                           "duration_s": None, "host": None, "pid": None,
                           "attempt": spec["attempt"], "error": _one_line(exc),
                           "traceback": "".join(traceback.format_exception(exc))}
            future.release()
            yield spec, outcome
    finally:
        for future in futures:
            if not future.done():
                future.cancel()


def _run_dask(specs: list[dict[str, Any]], on_start: Callable[[str], None], *,
              workers: int, scheduler: str | None,
              ) -> Iterator[tuple[dict[str, Any], Outcome]]:
    from distributed import Client, LocalCluster

    # on an interruption the cluster is torn down while the exception propagates:
    # silence Dask's logging from then on (its records are about the cancelled tasks)
    quiet = contextlib.ExitStack()
    with quiet:
        if scheduler is not None:
            with Client(scheduler, timeout="30s") as client:
                try:
                    yield from _run_on_client(client, specs, on_start)
                except BaseException:
                    quiet.enter_context(_quiet_dask())
                    raise
            return
        # worker processes log at "error" and above unless the user configured otherwise
        # (a cancelled task after Ctrl-C is not worth a warning per worker)
        os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "error")
        # dashboard_address=None turns the dashboard off, but the scheduler still serves
        # its HTTP routes on 8787 unless told otherwise: keep that on a free loopback port
        with (LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                           dashboard_address=None, host="127.0.0.1",
                           scheduler_kwargs={"dashboard_address": "127.0.0.1:0"}) as cluster,
              Client(cluster) as client):
            try:
                yield from _run_on_client(client, specs, on_start)
            except BaseException:
                quiet.enter_context(_quiet_dask())
                raise


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


@contextlib.contextmanager
def _quiet_dask() -> Iterator[None]:
    """Silence Dask's log records while a cluster is torn down after an interruption
    (they are tracebacks of tasks that were cancelled on purpose)."""
    import logging

    names = [n for n in list(logging.root.manager.loggerDict)
             if n.split(".")[0] in ("distributed", "tornado", "asyncio")]
    loggers = [logging.getLogger(n) for n in {"distributed", "tornado", "asyncio", *names}]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


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


# --------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------


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
