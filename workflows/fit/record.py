"""``run.json`` of a fit: the provenance every fit records, whatever its model kind."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from iongrad.workflows.config import package_versions, write_json_atomic

__all__ = ["VERSIONED", "add_config_record", "dataset_digests", "run_record"]

#: Packages whose versions every fit records.
VERSIONED = ("iongrad", "numpy", "scipy", "pymc", "pytensor", "arviz", "pandas")


def run_record(resolved: Mapping[str, Any], sampler: Mapping[str, Any], *,
               dataset: Mapping[str, Any], model: Mapping[str, Any],
               diagnostics: Mapping[str, Any], identifiability: Mapping[str, Any],
               chain_note: str | None = None, **rest: Any) -> dict[str, Any]:
    """The ``run.json`` of a fit: what every fit records, then the kind's own ``rest``.

    :func:`add_config_record` adds the effective config, the overrides and the data
    files' digests once the fit is written.
    """
    return {
        "kind": "fit", "seed": sampler["seed"],
        "description": resolved.get("description", ""),
        "versions": package_versions(VERSIONED),
        "dataset": dict(dataset),
        "model": dict(model),
        "sampler": dict(sampler),
        **({"chain_execution": chain_note} if chain_note else {}),
        "diagnostics": diagnostics,
        "identifiability": identifiability,
        **rest,
    }


def _sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def dataset_digests(dataset_record: Mapping[str, Any]) -> dict[str, str]:
    """SHA-256 of the files a fit read its data from (``run.json``'s ``dataset`` entry)."""
    return {role: _sha256(dataset_record[role]) for role in ("csv", "sidecar")
            if dataset_record.get(role) and Path(dataset_record[role]).is_file()}


def add_config_record(out_dir: Path, resolved: Mapping[str, Any],
                      overrides: Mapping[str, Any]) -> None:
    """Add the effective config, the overridden keys and the data's digests to run.json."""
    path = Path(out_dir) / "run.json"
    run = json.loads(path.read_text(encoding="utf-8"))
    run["config"] = resolved
    run["overrides"] = dict(overrides)
    run.setdefault("dataset", {})["sha256"] = dataset_digests(run.get("dataset", {}))
    write_json_atomic(path, run)
