"""TOML configuration loading and checking shared by every workflow.

Configs are parsed as data only (``tomllib``), never evaluated. Every error is a
:class:`~iongrad.models.errors.ConfigError` naming the file, the key and the value.
"""

from __future__ import annotations

import hashlib
import json
import math
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from iongrad.models.errors import ConfigError

__all__ = ["check_keys", "config_hash", "load_toml", "require", "write_json_atomic"]


def load_toml(path: str | Path) -> dict[str, Any]:
    """Read a TOML file into a dict; a missing, empty or malformed file is a ConfigError."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"config file {str(path)!r} does not exist")
    if path.is_dir():
        raise ConfigError(f"config path {str(path)!r} is a directory, expected a .toml file")
    raw = path.read_bytes()
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
    return data


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
