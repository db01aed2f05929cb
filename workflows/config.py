"""TOML configuration loading and checking shared by every workflow.

Configs are parsed as data only (``tomllib``), never evaluated. Every error is a
:class:`~iongrad.models.errors.ConfigError` naming the file, the key and the value.
"""

from __future__ import annotations

import errno
import hashlib
import json
import math
import stat
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from iongrad.models.errors import ConfigError

__all__ = ["check_keys", "config_hash", "load_toml", "require", "write_json_atomic"]


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


def write_json_atomic(path: str | Path, obj: Any) -> None:
    """Write JSON to ``path`` atomically (temporary file in the same folder, then rename)."""
    import os
    import tempfile

    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(obj, fh, indent=2, sort_keys=True, default=str)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def package_versions(packages: Iterable[str]) -> dict[str, str]:
    """Installed versions of ``packages`` plus the Python version (for run metadata)."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for pkg in packages:
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "unknown"
    return out


def run_into_folder(out: str | Path, work, *, force: bool = False):
    """Run ``work(tmp_dir)`` in a temporary sibling of ``out``, then rename it to ``out``.

    Nothing half-written is ever left at ``out``: on any error the temporary folder
    is removed and ``out`` is untouched. A non-empty existing ``out`` is refused
    unless ``force``. Returns whatever ``work`` returns.
    """
    import os
    import shutil
    import tempfile

    out = Path(out).resolve()
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out: {str(out)!r} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise ConfigError(f"--out: folder {str(out)!r} is not empty; use --force to replace it")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.tmp-"))
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o777 & ~umask)  # mkdtemp creates 0700; give the final folder normal rights
    try:
        result = work(tmp)
        old = None
        if out.exists():
            old = out.parent / f".{out.name}.old-{os.getpid()}"
            os.replace(out, old)
        os.replace(tmp, out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return result
