"""Text of table cells and sentences: numbers, durations, units, slugs."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from iongrad.infer.model import unit_of as _unit_of


def _fmt(x: Any, digits: int = 3) -> str:
    """A number with ``digits`` significant digits (scientific when very large/small)."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return str(x)
    if math.isnan(v):
        return "n/a"
    if math.isinf(v):
        return "∞" if v > 0 else "-∞"
    if v == 0:
        return "0"
    if 10**digits <= abs(v) < 1e5:
        return str(round(v))
    if abs(v) >= 1e5 or abs(v) < 1e-3:
        text = f"{v:.{digits - 1}e}"
        mant, exp = text.split("e")
        return f"{mant}e{int(exp)}"
    return f"{v:.{digits}g}"


def _fmt_duration(seconds: Any) -> str:
    try:
        s = float(seconds)
    except (TypeError, ValueError):
        return ""
    if not math.isfinite(s):
        return ""
    if s < 60:
        return f"{s:.1f} s"
    return f"{int(s // 60)} min {s % 60:.0f} s"


def _short(value: Any, limit: int = 120) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str, sort_keys=True)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def unit_of(name: str, units: Mapping[str, str] | None = None) -> str:
    """The unit of a variable or summary label; see :func:`iongrad.infer.model.unit_of`."""
    return _unit_of(name, dict(units) if units else None)


def _as_float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", str(text)).strip("-") or "x"
