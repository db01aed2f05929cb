"""TOML configuration loading and checking shared by every workflow.

Configs are parsed as data only (``tomllib``), never evaluated. Every error is a
:class:`~iongrad.models.errors.ConfigError` naming the file, the key and the value.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import math
import os
import platform
import shutil
import stat
import tempfile
import tomllib
from collections.abc import Iterable, Mapping
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np

from iongrad.models.errors import ConfigError

__all__ = [
    "RUN_MARKER",
    "check_keys",
    "check_out_folder",
    "config_hash",
    "current_umask",
    "input_paths",
    "load_toml",
    "print_report_paths",
    "require",
    "run_into_folder",
    "write_atomic",
    "write_json_atomic",
]


def load_toml(path: str | Path) -> dict[str, Any]:
    """Read a TOML config file into a dict, refusing anything that is not a small text file.

    Parameters
    ----------
    path : str or Path
        The config file.

    Returns
    -------
    dict
        The parsed config, a :class:`~iongrad.workflows.schema.TomlConfig` (a dict that
        remembers ``path`` so that schema errors name the file).

    Raises
    ------
    ConfigError
        One line for: a missing path, a directory, a FIFO/device/socket, a symlink
        loop, an unreadable file, a file over 1 MiB, non-UTF-8 or empty text,
        invalid TOML, or tables/arrays nested more than 32 levels deep.
    """
    from iongrad.workflows.schema import MAX_CONFIG_BYTES, MAX_CONFIG_DEPTH, TomlConfig

    path = Path(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        if path.is_symlink():
            raise ConfigError(f"config file {str(path)!r} is a dangling symlink") from None
        raise ConfigError(f"config file {str(path)!r} does not exist") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ConfigError(f"config path {str(path)!r} is a symlink loop") from None
        raise ConfigError(f"config path {str(path)!r}: cannot read it "
                          f"({exc.strerror or type(exc).__name__})") from None
    if stat.S_ISDIR(st.st_mode):
        raise ConfigError(f"config path {str(path)!r} is a directory, expected a .toml file")
    if not stat.S_ISREG(st.st_mode):
        raise ConfigError(f"config path {str(path)!r} is not a regular file (a FIFO, device "
                          "or socket); give a .toml file")
    if st.st_size > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: {st.st_size} bytes; a config may be at most "
                          f"{MAX_CONFIG_BYTES} bytes (1 MiB)")
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"config file {str(path)!r}: cannot read it "
                          f"({exc.strerror or type(exc).__name__})") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: a config may be at most {MAX_CONFIG_BYTES} bytes (1 MiB)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start}); save it as UTF-8") from None
    if not text.strip():
        raise ConfigError(f"{path}: file is empty")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    except RecursionError:
        data = None
    if data is None or _depth(data, MAX_CONFIG_DEPTH + 1) > MAX_CONFIG_DEPTH:
        raise ConfigError(f"{path}: tables or arrays nested more than {MAX_CONFIG_DEPTH} "
                          "levels deep")
    out = TomlConfig(data)
    out.source = str(path)
    return out


def _depth(obj: Any, limit: int) -> int:
    """Nesting depth of dicts and lists in ``obj``, counted up to ``limit``."""
    stack = [(obj, 0)]
    deepest = 0
    while stack:
        node, d = stack.pop()
        if isinstance(node, dict | list):
            d += 1
            deepest = max(deepest, d)
            if deepest >= limit:
                return deepest
            stack.extend((v, d) for v in (node.values() if isinstance(node, dict) else node))
    return deepest


def check_keys(section: Mapping[str, Any], allowed: Iterable[str], where: str) -> None:
    """Raise if ``section`` has keys outside ``allowed``; name them and list what exists."""
    allowed = set(allowed)
    unknown = sorted(set(section) - allowed)
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; "
            f"allowed: {', '.join(sorted(allowed))}")


def require(section: Mapping[str, Any], key: str, where: str, types: type | tuple = object):
    """Return ``section[key]``, raising a ConfigError if missing or of the wrong type."""
    if key not in section:
        raise ConfigError(f"{where}: missing required key {key!r}")
    value = section[key]
    if not isinstance(value, types) or (isinstance(value, bool) and types in (int, float)):
        raise ConfigError(f"{where}.{key}: expected {_type_name(types)}, got {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{where}.{key}: must be finite, got {value!r}")
    return value


def _type_name(types) -> str:
    if isinstance(types, tuple):
        return " or ".join(t.__name__ for t in types)
    return types.__name__


def config_hash(resolved: Mapping[str, Any]) -> str:
    """Stable short hash (16 hex digits) of a resolved config (canonical JSON)."""
    blob = json.dumps(resolved, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def current_umask() -> int:
    """The process umask (read without changing it where the OS allows)."""
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_atomic(path: str | Path, data: bytes | str) -> None:
    """Write ``data`` to ``path`` atomically (temporary file in the same folder, then rename).

    The file gets the permissions a plain ``open()`` would give it (``0666`` minus the
    umask), not the ``0600`` of the temporary file. On any error (or an interrupt) the
    temporary file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    if isinstance(data, str):
        data = data.encode("utf-8")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fchmod(fh.fileno(), 0o666 & ~current_umask())
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _json_default(x: Any) -> Any:
    """NumPy scalars and arrays as Python numbers and lists; anything else as its text."""
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    return str(x)


def write_json_atomic(path: str | Path, obj: Any) -> None:
    """Write ``obj`` as indented JSON (sorted keys) to ``path`` with :func:`write_atomic`."""
    write_atomic(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default))


def package_versions(packages: Iterable[str]) -> dict[str, str]:
    """Installed versions of ``packages`` plus the Python version (for run metadata)."""
    out = {"python": platform.python_version()}
    for pkg in packages:
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "unknown"
    return out


#: Marker file written into every folder :func:`run_into_folder` creates; ``--force``
#: replaces only folders that carry it.
RUN_MARKER = ".iongrad-run"


def print_report_paths(html: Path, md: Path) -> None:
    """The two lines every command that writes a report prints (HTML, then Markdown)."""
    print(f"HTML report: {html}")
    print(f"Markdown report: {md}")


def input_paths(resolved: Any, *extra: str | Path) -> list[Path]:
    """Files a resolved config reads: every absolute path of an existing file in it.

    Parameters
    ----------
    resolved : dict
        A resolved config (dataset ``csv``/``sidecar``, ``[posterior] path``, ...).
    *extra : str or Path
        More inputs, e.g. the config file itself.

    Returns
    -------
    list of Path
        Resolved paths, without duplicates. A dataset CSV brings its default sidecar
        (same stem, ``.json``) if that exists.
    """
    found: list[Path] = []

    def add(p: Path) -> None:
        p = p.resolve()
        if p not in found:
            found.append(p)

    def walk(node: Any) -> None:
        if isinstance(node, Mapping):
            for value in node.values():
                walk(value)
        elif isinstance(node, list | tuple):
            for value in node:
                walk(value)
        elif isinstance(node, str) and node.startswith("/") and len(node) < 4096:
            with contextlib.suppress(OSError, ValueError):
                p = Path(node)
                if p.is_file():
                    add(p)
                    side = p.with_suffix(".json")
                    if p.suffix.lower() == ".csv" and side.is_file():
                        add(side)

    walk(resolved)
    for p in extra:
        add(Path(p))
    return found


def _out_problem(exc: OSError, out: Path) -> ConfigError:
    reason = exc.strerror or os.strerror(exc.errno or 0) or str(exc)
    return ConfigError(f"--out: cannot use {str(out)!r}: {reason}")


def check_out_folder(out: str | Path, *, force: bool = False,
                     inputs: Iterable[str | Path] = ()) -> Path:
    """Check that ``out`` may receive a run; return it as an absolute path.

    Parameters
    ----------
    out : str or Path
        The ``--out`` folder.
    force : bool
        Allow replacing a non-empty ``out``, but only one that iongrad wrote (it holds
        the :data:`RUN_MARKER` file).
    inputs : iterable of path
        Files the run reads (config, dataset, posterior). ``out`` may not be one of
        them nor a folder holding any of them, with or without ``force``.

    Raises
    ------
    ConfigError
        Naming the folder and why it cannot be used.
    """
    out = Path(os.path.abspath(Path(out).expanduser()))
    try:
        real = out.resolve()
        for given in inputs:
            p = Path(given).resolve()
            if p == real or real in p.parents:
                raise ConfigError(
                    f"--out: {str(out)!r} holds {str(p)!r}, an input of this run; "
                    "choose a new or empty folder elsewhere")
        if out.is_symlink():
            raise ConfigError(f"--out: {str(out)!r} is a symbolic link; give a real folder")
        if out.exists() and not out.is_dir():
            raise ConfigError(f"--out: {str(out)!r} exists and is not a folder")
        if out.is_dir() and any(out.iterdir()):
            if not force:
                raise ConfigError(f"--out: folder {str(out)!r} is not empty; use --force "
                                  "to replace it")
            marker = out / RUN_MARKER
            if marker.is_symlink() or not marker.is_file():
                raise ConfigError(
                    f"--out: folder {str(out)!r} was not written by iongrad (no "
                    f"{RUN_MARKER} file); --force replaces only iongrad run folders; "
                    "choose another folder or empty it yourself")
        parent = out.parent
        while not parent.exists():
            parent = parent.parent
        if not parent.is_dir():
            raise ConfigError(f"--out: {str(parent)!r} is a file, not a folder")
        if len(out.name.encode()) > 200:  # leaves room for the temporary sibling's name
            raise ConfigError(f"--out: folder name {out.name[:40]!r}... is too long "
                              f"({len(out.name.encode())} bytes; at most 200)")
    except OSError as exc:
        raise _out_problem(exc, out) from None
    return out


def _remove_run_folder(path: Path) -> None:
    """Remove a folder this process created or that carries the run marker, never
    following a symbolic link."""
    if path.is_symlink():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.lexists(path):
        path.unlink()


def run_into_folder(out: str | Path, work, *, force: bool = False,
                    inputs: Iterable[str | Path] = ()):
    """Run ``work(tmp_dir)`` in a temporary sibling of ``out``, then rename it to ``out``.

    Nothing half-written is ever left at ``out``: on any error or interruption the
    temporary folder is removed and ``out`` is untouched. A non-empty existing ``out``
    is refused unless ``force``, and even then only if iongrad wrote it (it holds the
    :data:`RUN_MARKER` file, which every folder made here gets). ``out`` may never be,
    or contain, one of ``inputs``.

    Parameters
    ----------
    out : str or Path
        Final folder.
    work : callable
        ``work(tmp_dir) -> result``; writes the outputs into ``tmp_dir``.
    force : bool
        Replace an existing iongrad run folder.
    inputs : iterable of path
        Files the run reads (see :func:`input_paths`).

    Returns
    -------
    object
        Whatever ``work`` returns.

    Raises
    ------
    ConfigError
        If ``out`` cannot be used (checked before ``work`` runs).
    """
    inputs = list(inputs)
    out = check_out_folder(out, force=force, inputs=inputs)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.tmp-"))
    except OSError as exc:
        raise _out_problem(exc, out) from None
    try:
        tmp.chmod(0o777 & ~current_umask())  # mkdtemp creates 0700
        result = work(tmp)
        (tmp / RUN_MARKER).write_text("written by iongrad; 'iongrad ... --force' may "
                                      "replace this folder\n", encoding="utf-8")
        old = None
        if out.exists():
            check_out_folder(out, force=force, inputs=inputs)  # still ours?
            old = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.old-"))
            try:
                os.replace(out, old / "previous")
            except BaseException:
                old.rmdir()
                raise
        try:
            os.replace(tmp, out)
        except BaseException:
            if old is not None:
                os.replace(old / "previous", out)
                old.rmdir()
            raise
        if old is not None:
            _remove_run_folder(old)
    except BaseException:
        _remove_run_folder(tmp)
        raise
    return result
