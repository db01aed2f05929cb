"""Files of a report: atomic writes, run-folder JSON and PNG headers."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

from iongrad.models.errors import ConfigError

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _read_json(path: Path) -> dict[str, Any]:
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{str(path)!r} does not exist") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{str(path)!r} is not valid JSON ({exc})") from None
    if not isinstance(obj, dict):
        raise ConfigError(f"{str(path)!r}: expected a JSON object, got {type(obj).__name__}")
    return obj


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height of a PNG image, read from its IHDR chunk.

    Parameters
    ----------
    data : bytes
        The PNG file contents.

    Returns
    -------
    (width, height) : tuple of int
        In pixels.

    Raises
    ------
    ValueError
        If ``data`` does not start with a PNG signature and an IHDR chunk.
    """
    if len(data) < 24 or data[:8] != _PNG_MAGIC or data[12:16] != b"IHDR":
        raise ValueError("not a PNG image (missing signature or IHDR chunk)")
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)
