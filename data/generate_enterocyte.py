"""Generate the shipped synthetic enterocyte dataset (SGLT1 Na+ load) from documented truths.

Run ``python -m iongrad.data.generate_enterocyte [--out-dir DIR]`` to rewrite
``shipped/synthetic_enterocyte.csv`` and ``shipped/synthetic_enterocyte.json``. The
output is a deterministic function of :data:`SEED` (byte-identical on regeneration as
long as NumPy's PCG64 normal stream is unchanged).

Design
------
Four enterocyte-like cells of the ``enterocyte`` composition (ohmic Na+, K+ and Cl-
leaks, the Na+/K+ pump, SGLT1 with 2 Na+ per glucose; fixed volume,
:func:`iongrad.models.membrane.enterocyte`), each recorded in two baths
(:data:`CONDITIONS`): glucose-free and with 10 mM glucose on the outside. Every cell
has the same SGLT1 activity and Na+ leak (:data:`TRUTH`; the other parameters are the
composition's defaults, cytosolic glucose 1 mM). Each row has intracellular Na+ (SBFI
imaging), the resting potential and the O2 consumption per cell, with independent noise
(:data:`NOISE`: normal for Na_i and V, log-normal for O2).

Why this design identifies the two parameters: without glucose the cell's ATP (and so
O2) use is a third of the Na+ leak influx, which fixes ``g_na_nS``; adding glucose
switches SGLT1 on, and the rise of O2 use, Na_i and the depolarisation measure
``sglt1_jmax_pA`` (SGLT1 is 95 % saturated by 10 mM glucose, K_s 0.5 mM). In the
glucose-free bath SGLT1 runs backwards (it carries the 1 mM cytosolic glucose out with
2 Na+: the rate law is thermodynamically reversible), but at a negligible rate, as the
145 mM Na+ outside holds the carrier outward-loaded; the data include that.

The generator refuses (raises, writes nothing) if any steady state is infeasible or
any noisy value leaves its physical range.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from iongrad.data.shipped import write_datasets
from iongrad.models.membrane import composition
from iongrad.models.steady_state import steady_state_of

__all__ = ["BATH", "CONDITIONS", "MODEL_NAME", "NAME", "NOISE", "SEED", "TRUTH",
           "GenerationError", "generate", "main", "membrane", "write"]

NAME = "synthetic_enterocyte"
SEED = 20110733
GENERATOR_VERSION = "1"
_DATE = "2025-01-01"
#: The named composition of the dataset (``[model] composition`` in a config).
MODEL_NAME = "enterocyte"
#: The parameters that generated the data, common to every cell (the rest: the
#: composition's defaults, :meth:`iongrad.models.membrane.Membrane.defaults`).
TRUTH = {"sglt1_jmax_pA": 4.0, "g_na_nS": 0.2}
N_CELLS = 4
#: Extracellular glucose of the two baths, mM: glucose-free, and 10 mM glucose.
CONDITIONS = (0.0, 10.0)
#: The bath's other ions and the temperature (dataset-wide constants).
BATH = {"na_o_mM": 145.0, "k_o_mM": 4.0, "cl_o_mM": 123.0, "temperature_K": 310.0}
NOISE = {
    "na_i_mM": {"distribution": "normal", "sd": 1.0, "unit": "mM"},
    "v_rest_mV": {"distribution": "normal", "sd": 1.5, "unit": "mV"},
    "o2_per_s": {"distribution": "lognormal", "sigma_log": 0.1},
}
_FORMAT = {"glucose_o_mM": "{:.1f}", "na_i_mM": "{:.3f}", "v_rest_mV": "{:.2f}",
           "o2_per_s": "{:.5e}"}
_UNITS = {"glucose_o_mM": "mM", "na_i_mM": "mM", "v_rest_mV": "mV", "o2_per_s": "O2/s"}
_DESCRIPTIONS = {
    "cell": "cell id",
    "glucose_o_mM": "extracellular glucose of the bath (0: glucose-free)",
    "na_i_mM": "intracellular Na+ (SBFI imaging)",
    "v_rest_mV": "resting membrane potential",
    "o2_per_s": "O2 consumption, molecules per second per cell",
}


class GenerationError(RuntimeError):
    """The design produced an infeasible steady state or an implausible value."""


def membrane():
    """The composition of the dataset (``[model] composition = "enterocyte"``)."""
    return composition(MODEL_NAME)


def design() -> dict[str, np.ndarray]:
    """The rows of the dataset: ``cell`` index and ``glucose_o_mM`` per row."""
    return {"cell": np.repeat(np.arange(N_CELLS), len(CONDITIONS)),
            "glucose_o_mM": np.tile(np.asarray(CONDITIONS, dtype=float), N_CELLS)}


def noiseless(glucose_o_mM) -> dict[str, np.ndarray]:
    """The steady state at the documented truth in the baths ``glucose_o_mM`` (mM)."""
    with np.errstate(all="ignore"):
        return steady_state_of(membrane(), glucose_o_mM=np.asarray(glucose_o_mM, dtype=float),
                               **BATH, **TRUTH)


def _csv(columns: dict[str, list]) -> str:
    names = list(columns)
    lines = [",".join(names)]
    for i in range(len(columns["cell"])):
        lines.append(",".join(v if isinstance(v, str) else _FORMAT[k].format(v)
                              for k, v in ((k, columns[k][i]) for k in names)))
    return "\n".join(lines) + "\n"


def _noisy(rng: np.random.Generator, quantity: str, clean: np.ndarray) -> np.ndarray:
    spec = NOISE[quantity]
    z = rng.standard_normal(clean.shape)
    if spec["distribution"] == "normal":
        return clean + spec["sd"] * z
    return clean * np.exp(spec["sigma_log"] * z)


def generate(seed: int = SEED) -> tuple[str, str]:
    """The CSV text and the JSON sidecar text of the dataset."""
    rng = np.random.default_rng(seed)
    rows = design()
    ss = noiseless(rows["glucose_o_mM"])
    if not np.all(np.asarray(ss["feasible"]) == 1):
        raise GenerationError(f"{NAME}: infeasible steady state; refusing to write")
    na_clean = np.asarray(ss["na_i_mM"], dtype=float)
    if not np.all((na_clean > 3.0) & (na_clean < 40.0)):
        raise GenerationError(f"{NAME}: Na_i {na_clean} mM outside 3-40 mM (the pump cannot "
                              "carry the load); refusing to write")
    columns: dict[str, list] = {"cell": [f"e{i + 1:02d}" for i in rows["cell"]],
                                "glucose_o_mM": list(rows["glucose_o_mM"])}
    for q in NOISE:
        columns[q] = list(_noisy(rng, q, np.asarray(ss[q], dtype=float)))
    if min(columns["na_i_mM"]) <= 0:
        raise GenerationError(f"{NAME}: a noisy Na_i is not positive; refusing to write")
    cols = {"cell": {"role": "id", "quantity": "cell", "description": _DESCRIPTIONS["cell"]}}
    for c in list(columns)[1:]:
        cols[c] = {"role": "observable" if c in NOISE else "condition", "quantity": c,
                   "unit": _UNITS[c], "description": _DESCRIPTIONS[c]}
    defaults = {k: v for k, v in membrane().defaults().items()
                if k not in TRUTH and k not in BATH and k != "glucose_o_mM"}
    meta = {
        "name": NAME,
        "description": (
            f"Intracellular Na+, resting potential and O2 consumption of {N_CELLS} "
            "enterocyte-like cells in a glucose-free bath and with 10 mM glucose. "
            "Synthetic: steady state of the enterocyte composition (leaks, Na+/K+ pump, "
            "SGLT1) plus noise; the SGLT1 activity and the Na+ leak are common to all "
            "cells."),
        "provenance": {
            "generator": "iongrad.data.generate_enterocyte",
            "generator_version": GENERATOR_VERSION,
            "seed": seed,
            "date": _DATE,
            "licence": "CC0-1.0",
            "synthetic": True,
            "model": {"function": "iongrad.models.steady_state.steady_state_of",
                      "composition": {"name": MODEL_NAME}},
            "true_parameters": {
                "fixed": {k: float(v) for k, v in sorted(defaults.items())},
                "cells": {f"e{i + 1:02d}": dict(TRUTH) for i in range(N_CELLS)},
            },
            "noise_model": NOISE,
            "csv_rounding": _FORMAT,
        },
        "cell_column": "cell",
        "columns": cols,
        "constants": {k: {"value": v, "unit": "K" if k == "temperature_K" else "mM"}
                      for k, v in BATH.items()},
    }
    return _csv(columns), json.dumps(meta, indent=2, ensure_ascii=False) + "\n"


def write(out_dir: str | Path | None = None) -> list[Path]:
    """Write ``synthetic_enterocyte.csv`` and ``.json`` (default: the shipped folder)."""
    return write_datasets({NAME: generate()}, out_dir)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: ``python -m iongrad.data.generate_enterocyte [--out-dir DIR]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", default=None,
                        help="folder to write to (default: the package's shipped/ folder)")
    for path in write(parser.parse_args(argv).out_dir):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
