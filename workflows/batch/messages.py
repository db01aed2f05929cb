"""Timestamps and one-line messages of the batch runner (manifest, journal, stderr)."""

from __future__ import annotations

import datetime as _dt
import sys

_MAX_ERROR_CHARS = 500


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="milliseconds")


def _one_line(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {' '.join(str(exc).split())}"
    return text if len(text) <= _MAX_ERROR_CHARS else text[: _MAX_ERROR_CHARS - 3] + "..."


def _warn(message: str) -> None:
    sys.stderr.write(f"iongrad batch: warning: {message}\n")
