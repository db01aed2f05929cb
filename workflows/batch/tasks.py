"""Batch tasks: config and batch files, grids of overrides, and their expansion into tasks."""

from __future__ import annotations

import copy
import importlib
import itertools
import json
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from iongrad.models.errors import ConfigError
from iongrad.workflows.batch.messages import _warn
from iongrad.workflows.config import check_keys, config_hash, load_toml

#: Task kinds: name of the top-level config section -> module providing
#: ``resolve_config(raw, base_dir)`` and ``run_config(resolved, out_dir, *, progress)``.
#: Tests and plugins may register more kinds here (in the driver process; workers
#: only receive the module name).
KINDS: dict[str, str] = {
    "sensitivity": "iongrad.workflows.sensitivity",
    "fit": "iongrad.workflows.fit",
}


_BATCH_KEYS = ("configs", "grid", "description")
_PRESET_NAME = "name"


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
