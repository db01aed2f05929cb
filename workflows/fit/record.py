"""``run.json`` of a fit: the provenance every fit records, whatever its model kind."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from iongrad.workflows.config import package_versions

__all__ = ["VERSIONED", "dataset_digests", "run_record"]

#: Packages whose versions every fit records.
VERSIONED = ("iongrad", "numpy", "scipy", "pymc", "pytensor", "arviz", "pandas")


def run_record(resolved: Mapping[str, Any], sampler: Mapping[str, Any], *,
               dataset: Mapping[str, Any], model: Mapping[str, Any],
               diagnostics: Mapping[str, Any], identifiability: Mapping[str, Any],
               overrides: Mapping[str, Any] | None = None, chain_note: str | None = None,
               **rest: Any) -> dict[str, Any]:
    """The ``run.json`` of a fit: what every fit records, then the kind's own ``rest``.

    Every fit records its effective config (``resolved``), the keys set from outside it
    (``overrides``: ``--seed``/``--draws``) and the SHA-256 of the data files it read.
    """
    return {
        "kind": "fit", "seed": sampler["seed"],
        "description": resolved.get("description", ""),
        "versions": package_versions(VERSIONED),
        "dataset": {**dataset, "sha256": dataset_digests(dataset)},
        "model": dict(model),
        "sampler": dict(sampler),
        **({"chain_execution": chain_note} if chain_note else {}),
        "diagnostics": diagnostics,
        "identifiability": identifiability,
        **rest,
        "config": resolved,
        "overrides": dict(overrides or {}),
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
