"""Generate the shipped synthetic chloride-homeostasis dataset from documented truths.

Run ``python -m iongrad.data.generate_chloride [--out-dir DIR]`` to rewrite the two
shipped designs, ``shipped/synthetic_chloride.{csv,json}`` and
``shipped/synthetic_chloride_bumetanide.{csv,json}``. Each output is a deterministic
function of its design's seed (byte-identical on regeneration as long as NumPy's PCG64
normal stream is unchanged).

Design
------
Four neurons of one type whose Cl- is set by both cation-chloride cotransporters: the
declared composition :data:`MECHANISMS` (ohmic Na+, K+ and Cl- leaks, the Na+/K+ pump,
KCC2 and NKCC1 in their driving-force forms, the GABA-A reversal reporter) with the
fixed volume. Every cell has the same KCC2 and NKCC1 activities (:data:`TRUTH`; the
other parameters are the composition's defaults, :data:`DEFAULTS`), recorded at three
baths (:data:`CONDITIONS`): control, low [Cl]o (Cl- replaced by an impermeant anion)
and raised [K]o. Each row has intracellular Cl- (e.g. MQAE or SuperClomeleon imaging),
E_GABA (gramicidin-perforated patch) and the resting potential, with independent normal
noise (:data:`NOISE`).

The second design (:data:`BUMETANIDE`) records the same cells with NKCC1 blocked by
10 µM bumetanide as a fourth bath (IC50 about 1 µM, ``nkcc1_bumetanide_ic50_uM``): the
block removes the Cl- loading, so the Cl_i that remains is set by KCC2 against the leak
alone, which separates the two activities that Cl_i and E_GABA in the first design pin
mostly as a ratio.

The generator refuses (raises, writes nothing) if any steady state is infeasible.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from iongrad.data.shipped import write_datasets
from iongrad.models.membrane import membrane_from_spec
from iongrad.models.steady_state import steady_state_of

__all__ = ["BUMETANIDE", "CONDITIONS", "DEFAULTS", "DESIGNS", "MECHANISMS", "NAME", "NOISE",
           "SEED", "TRUTH", "Design", "generate", "main", "membrane", "write"]

NAME = "synthetic_chloride"
SEED = 20251202
GENERATOR_VERSION = "1"
_DATE = "2025-01-01"
#: The composition, as a ``[model]`` table declares it.
MECHANISMS = ("ohmic_leak:na", "ohmic_leak:k", "ohmic_leak:cl", "na_k_pump", "activity_load",
              "kcc2", "nkcc1", "gaba_a_reversal")
MODEL_NAME = "neuron_kcc2_nkcc1"
#: Parameters of the composition set for this cell type (the rest: registry defaults).
DEFAULTS = {"g_cl_nS": 0.1}
#: The activities that generated the data, common to every cell.
TRUTH = {"kcc2_u_pA": 8.0, "nkcc1_u_pA": 1.5}
N_CELLS = 4
#: Baths: (k_o_mM, cl_o_mM); Na_o 145 mM, 310 K throughout.
CONDITIONS = ((4.0, 123.0), (4.0, 60.0), (10.0, 123.0))
NOISE = {
    "cl_i_mM": {"distribution": "normal", "sd": 0.5, "unit": "mM"},
    "e_gaba_mV": {"distribution": "normal", "sd": 1.0, "unit": "mV"},
    "v_rest_mV": {"distribution": "normal", "sd": 1.0, "unit": "mV"},
}
_FORMAT = {"k_o_mM": "{:.1f}", "cl_o_mM": "{:.1f}", "bumetanide_uM": "{:.1f}",
           "cl_i_mM": "{:.3f}", "e_gaba_mV": "{:.2f}", "v_rest_mV": "{:.2f}"}
_UNITS = {"k_o_mM": "mM", "cl_o_mM": "mM", "bumetanide_uM": "µM", "cl_i_mM": "mM",
          "e_gaba_mV": "mV", "v_rest_mV": "mV"}
_DESCRIPTIONS = {
    "cell": "cell id",
    "k_o_mM": "extracellular K+ of the bath",
    "cl_o_mM": "extracellular Cl- of the bath (Cl- replaced by an impermeant anion)",
    "bumetanide_uM": "bumetanide in the bath (NKCC1 block)",
    "cl_i_mM": "intracellular Cl- (imaging)",
    "e_gaba_mV": "GABA-A reversal potential (gramicidin-perforated patch)",
    "v_rest_mV": "resting membrane potential",
}


@dataclass(frozen=True)
class Design:
    """One shipped dataset of the same cells: its name, seed, bath columns and baths
    (one tuple of column values per bath), and the sentence that describes it."""

    name: str
    seed: int
    columns: tuple[str, ...]
    baths: tuple[tuple[float, ...], ...]
    description: str


_CHLORIDE = Design(
    NAME, SEED, ("k_o_mM", "cl_o_mM"), CONDITIONS,
    f"Intracellular Cl-, E_GABA and resting potential of {N_CELLS} neurons in three baths "
    "(control; [Cl]o 60 mM; [K]o 10 mM). Synthetic: steady state of a neuron with both "
    "KCC2 and NKCC1 plus noise; the cotransporter activities are common to all cells.")
#: The same cells with NKCC1 blocked by 10 µM bumetanide as a fourth bath.
BUMETANIDE = Design(
    "synthetic_chloride_bumetanide", 20251203, ("k_o_mM", "cl_o_mM", "bumetanide_uM"),
    ((4.0, 123.0, 0.0), (4.0, 123.0, 10.0), (4.0, 60.0, 0.0), (10.0, 123.0, 0.0)),
    f"Intracellular Cl-, E_GABA and resting potential of {N_CELLS} neurons in four baths "
    "(control; control with 10 µM bumetanide, which blocks NKCC1; [Cl]o 60 mM; [K]o "
    "10 mM). Synthetic: steady state of a neuron with both KCC2 and NKCC1 plus noise; the "
    "cotransporter activities are common to all cells.")
#: The shipped designs by dataset name.
DESIGNS = {d.name: d for d in (_CHLORIDE, BUMETANIDE)}


class GenerationError(RuntimeError):
    """The design produced an infeasible steady state."""


def membrane():
    """The composition of the dataset (also declared by the example config)."""
    return membrane_from_spec(MODEL_NAME, MECHANISMS, "fixed", defaults=DEFAULTS,
                              description="neuron: ohmic leaks, Na+/K+ pump, KCC2 and NKCC1")


def _csv(columns: dict[str, list]) -> str:
    names = list(columns)
    lines = [",".join(names)]
    for i in range(len(columns["cell"])):
        lines.append(",".join(v if isinstance(v, str) else _FORMAT[k].format(v)
                              for k, v in ((k, columns[k][i]) for k in names)))
    return "\n".join(lines) + "\n"


def generate(seed: int | None = None, design: Design = _CHLORIDE) -> tuple[str, str]:
    """The CSV text and the JSON sidecar text of a design (default: ``synthetic_chloride``
    at its own seed)."""
    seed = design.seed if seed is None else seed
    rng = np.random.default_rng(seed)
    ci = np.repeat(np.arange(N_CELLS), len(design.baths))
    bath = {c: np.tile([b[j] for b in design.baths], N_CELLS)
            for j, c in enumerate(design.columns)}
    ss = steady_state_of(membrane(), **bath, na_o_mM=145.0, temperature_K=310.0, **TRUTH)
    if not np.all(ss["feasible"]):
        raise GenerationError(f"{design.name}: infeasible steady state; refusing to write")
    columns: dict[str, list] = {"cell": [f"c{i + 1:02d}" for i in ci],
                                **{c: list(v) for c, v in bath.items()}}
    for q, spec in NOISE.items():
        clean = np.asarray(ss[q], dtype=float)
        columns[q] = list(clean + spec["sd"] * rng.standard_normal(clean.shape))
    if min(columns["cl_i_mM"]) <= 0:
        raise GenerationError(f"{design.name}: a noisy Cl_i is not positive; refusing to "
                              "write")
    cols = {"cell": {"role": "id", "quantity": "cell", "description": _DESCRIPTIONS["cell"]}}
    for c in list(columns)[1:]:
        cols[c] = {"role": "observable" if c in NOISE else "condition", "quantity": c,
                   "unit": _UNITS[c], "description": _DESCRIPTIONS[c]}
    meta = {
        "name": design.name,
        "description": design.description,
        "provenance": {
            "generator": "iongrad.data.generate_chloride",
            "generator_version": GENERATOR_VERSION,
            "seed": seed,
            "date": _DATE,
            "licence": "CC0-1.0",
            "synthetic": True,
            "model": {"function": "iongrad.models.steady_state.steady_state_of",
                      "composition": {"name": MODEL_NAME, "mechanisms": list(MECHANISMS),
                                      "volume": "fixed"}},
            "true_parameters": {
                "fixed": DEFAULTS,
                "cells": {f"c{i + 1:02d}": dict(TRUTH) for i in range(N_CELLS)},
            },
            "noise_model": NOISE,
            "csv_rounding": {c: f for c, f in _FORMAT.items() if c in columns},
        },
        "cell_column": "cell",
        "columns": cols,
        "constants": {"na_o_mM": {"value": 145.0, "unit": "mM"},
                      "temperature_K": {"value": 310.0, "unit": "K"}},
    }
    return _csv(columns), json.dumps(meta, indent=2, ensure_ascii=False) + "\n"


def write(out_dir: str | Path | None = None) -> list[Path]:
    """Write every design's ``.csv`` and ``.json`` (default: the shipped folder); every
    design is generated before anything is written."""
    return write_datasets({d.name: generate(design=d) for d in DESIGNS.values()}, out_dir)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: ``python -m iongrad.data.generate_chloride [--out-dir DIR]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", default=None,
                        help="folder to write to (default: the package's shipped/ folder)")
    for path in write(parser.parse_args(argv).out_dir):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
