"""A small valid dataset, written to a temporary folder by the tests."""

from __future__ import annotations

import copy
import json
from pathlib import Path

#: Two cells; V at two [K]o values for cell a; R_in and Na_i (with SEM) once per cell.
BASE_CSV = """\
cell,k_o,temp,v,rin,na,na_sem
a,4,310,-70.1,500,12.0,0.5
a,8,310,-60.2,,,
b,4,310,-71.0,450,11.0,0.4
"""

BASE_SIDECAR = {
    "name": "tiny",
    "description": "two cells, for the loader tests",
    "provenance": {"lab": "test lab", "date": "2025-01-01", "licence": "CC0-1.0"},
    "cell_column": "cell",
    "columns": {
        "cell": {"role": "id", "quantity": "cell"},
        "k_o": {"role": "condition", "quantity": "k_o_mM", "unit": "mM"},
        "temp": {"role": "condition", "quantity": "temperature_K", "unit": "K"},
        "v": {"role": "observable", "quantity": "v_rest_mV", "unit": "mV"},
        "rin": {"role": "observable", "quantity": "r_in_MOhm", "unit": "MOhm"},
        "na": {"role": "observable", "quantity": "na_i_mM", "unit": "mM"},
        "na_sem": {"role": "uncertainty", "of": "na", "kind": "sem", "unit": "mM"},
    },
}


def sidecar(**changes) -> dict:
    """A deep copy of :data:`BASE_SIDECAR` with top-level keys replaced."""
    meta = copy.deepcopy(BASE_SIDECAR)
    meta.update(changes)
    return meta


def write(folder: Path, csv_text: str | bytes = BASE_CSV, meta: dict | str | None = None,
          stem: str = "tiny") -> Path:
    """Write ``<stem>.csv`` and ``<stem>.json`` into ``folder``; return the CSV path."""
    meta = BASE_SIDECAR if meta is None else meta
    csv_path = folder / f"{stem}.csv"
    data = csv_text.encode("utf-8") if isinstance(csv_text, str) else csv_text
    csv_path.write_bytes(data)
    text = meta if isinstance(meta, str) else json.dumps(meta, indent=2)
    (folder / f"{stem}.json").write_text(text, encoding="utf-8")
    return csv_path
