"""Generate the shipped synthetic anoxic run-down dataset from documented true parameters.

Run ``python -m iongrad.data.generate_rundown [--out-dir DIR]`` to rewrite
``shipped/synthetic_rundown.csv`` and ``shipped/synthetic_rundown.json``. The output is
a deterministic function of :data:`SEED` (byte-identical on regeneration as long as
NumPy's PCG64 streams are unchanged).

Design
------
One cell type (the parameters below, shared by every recording), three recordings
of an anoxic run-down with different anoxia onsets on the recording clock
(:data:`RECORDINGS`), a finite extracellular space (fraction ``alpha``) so that K_o
rises. Per recording:

* membrane potential at uneven times (a jittered grid, about every 25 s);
* intracellular Na+ (ratiometric imaging) at about every 60 s, on a subset of those rows;
* extracellular K+ (ion-selective electrode) on another subset of rows.

Values are :func:`iongrad.models.rundown.simulate_rundown` (GHK leaks, anoxia mode,
``rtol = 1e-10``) plus independent normal noise (:data:`NOISE`).

Vocabulary
----------
The dataset vocabulary (:mod:`iongrad.data.vocabulary`) has no time-course potential
and no extracellular K+ *observable*, and no onset-time quantity. This file therefore
stores V(t) in ``v_rest_mV`` (the zero-current potential, which is what the model
predicts), and the K_o measurements and the per-recording onset in note columns
``k_o_obs_mM`` and ``onset_s`` (numeric text; blank where K_o was not measured).
:func:`iongrad.infer.rundown_model.build_rundown_model` reads both.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from iongrad.data.shipped import write_datasets
from iongrad.models.rundown import simulate_rundown

__all__ = ["FIXED", "NAME", "NOISE", "RECORDINGS", "SEED", "TRUE", "generate", "main",
           "write"]

NAME = "synthetic_rundown"
SEED = 20250201
GENERATOR_VERSION = "1"
_DATE = "2025-01-01"

#: Fitted parameters at their true values (units in the names).
TRUE: dict[str, float] = {
    "tau_atp_s": 40.0,
    "p_na_cm_s": 5e-8,
    "p_k_cm_s": 6e-7,
    "pump_density_per_um2": 1000.0,
    "extracellular_fraction": 0.2,
}
#: Fixed parameters (a soma of radius 10 µm, default pump kinetics, bath).
FIXED: dict[str, float] = {
    "p_cl_cm_s": 1e-7, "area_um2": 4.0 * np.pi * 10.0**2,
    "volume_pL": 4.0 / 3.0 * np.pi * 10.0**3 * 1e-3, "turnover_max_per_s": 100.0,
    "k_na_mM": 12.0, "hill_na": 3.0, "k_k_mM": 1.5, "hill_k": 1.0, "atp_mM": 2.0,
    "k_atp_mM": 0.2, "a_i_mM": 155.0, "z_a": 1.0, "na_o_mM": 145.0, "k_o_mM": 4.0,
    "cl_o_mM": 123.0, "temperature_K": 310.0, "activity_load_pA": 0.0,
}
#: Recordings: onset of anoxia and end of the recording, both on the recording clock (s).
RECORDINGS: dict[str, dict[str, float]] = {
    "r1": {"onset_s": 60.0, "end_s": 840.0},
    "r2": {"onset_s": 150.0, "end_s": 960.0},
    "r3": {"onset_s": 100.0, "end_s": 720.0},
}
NOISE: dict[str, dict[str, Any]] = {
    "v_rest_mV": {"distribution": "normal", "sd": 1.0, "unit": "mV"},
    "na_i_mM": {"distribution": "normal", "sd": 0.5, "unit": "mM"},
    "k_o_obs_mM": {"distribution": "normal", "sd": 0.5, "unit": "mM"},
}
_FORMAT = {"time_s": "{:.1f}", "onset_s": "{:.1f}", "v_rest_mV": "{:.2f}",
           "na_i_mM": "{:.3f}", "k_o_obs_mM": "{:.3f}"}


def _times(rng: np.random.Generator, end_s: float, step_s: float) -> np.ndarray:
    """Jittered grid on [0, end]: uneven, strictly increasing, one decimal."""
    base = np.arange(0.0, end_s, step_s)
    t = base + rng.uniform(0.0, 0.8 * step_s, base.size)
    return np.unique(np.round(t[t <= end_s], 1))


def _rows(rng: np.random.Generator) -> list[dict[str, Any]]:
    rows = []
    for rec, r in RECORDINGS.items():
        t = _times(rng, r["end_s"], 25.0)
        res = simulate_rundown(t, onset_s=r["onset_s"], mode="anoxia",
                               tau_atp_s=TRUE["tau_atp_s"],
                               extracellular_fraction=TRUE["extracellular_fraction"],
                               leak="ghk", rtol=1e-10, atol=1e-12,
                               **{k: v for k, v in TRUE.items()
                                  if k not in ("tau_atp_s", "extracellular_fraction")},
                               **FIXED)
        if not res.success:
            raise RuntimeError(f"{rec}: simulation failed: {res.message}")
        # Na+ imaging every ~60 s and K+ electrode readings on other rows (~every 75 s)
        na_rows = np.zeros(t.size, bool)
        na_rows[::2] = True
        na_rows &= rng.uniform(size=t.size) < 0.85
        ko_rows = np.zeros(t.size, bool)
        ko_rows[1::3] = True
        v = res.v_mV + NOISE["v_rest_mV"]["sd"] * rng.standard_normal(t.size)
        na = res.na_i_mM + NOISE["na_i_mM"]["sd"] * rng.standard_normal(t.size)
        ko = res.k_o_mM + NOISE["k_o_obs_mM"]["sd"] * rng.standard_normal(t.size)
        for i in range(t.size):
            rows.append({"recording": rec, "time_s": t[i], "onset_s": r["onset_s"],
                         "v_rest_mV": v[i], "na_i_mM": na[i] if na_rows[i] else None,
                         "k_o_obs_mM": ko[i] if ko_rows[i] else None})
    return rows


def _csv(rows: list[dict[str, Any]]) -> str:
    names = ["recording", "time_s", "onset_s", "v_rest_mV", "na_i_mM", "k_o_obs_mM"]
    lines = [",".join(names)]
    for row in rows:
        cells = []
        for k in names:
            v = row[k]
            cells.append("" if v is None else v if isinstance(v, str) else _FORMAT[k].format(v))
        lines.append(",".join(cells))
    return "\n".join(lines) + "\n"


def _sidecar(seed: int) -> dict[str, Any]:
    return {
        "name": NAME,
        "description": (
            "Anoxic run-down of the ion gradients in one cell type: membrane potential, "
            "intracellular Na+ and extracellular K+ after the onset of anoxia, three "
            "recordings with different onsets, uneven sampling. Synthetic: the run-down "
            "ODE of iongrad.models.rundown (GHK leaks, finite extracellular space) plus "
            "normal noise."),
        "provenance": {
            "generator": "iongrad.data.generate_rundown",
            "generator_version": GENERATOR_VERSION,
            "seed": seed,
            "date": _DATE,
            "licence": "CC0-1.0",
            "synthetic": True,
            "model": {"function": "iongrad.models.rundown.simulate_rundown",
                      "mode": "anoxia", "leak": "ghk", "rtol": 1e-10, "atol_mM": 1e-12},
            "true_parameters": {"fitted": TRUE, "fixed": FIXED,
                                "recordings": RECORDINGS},
            "noise_model": NOISE,
            "csv_rounding": _FORMAT,
        },
        "columns": {
            "recording": {"role": "id", "quantity": "recording",
                          "description": "recording id (same cell type, one run-down each)"},
            "time_s": {"role": "condition", "quantity": "time_s", "unit": "s",
                       "description": "time on the recording clock"},
            "onset_s": {"role": "note",
                        "description": "onset of anoxia on the recording clock, s"},
            "v_rest_mV": {"role": "observable", "quantity": "v_rest_mV", "unit": "mV",
                          "description": "membrane potential V(t) (zero-current potential)"},
            "na_i_mM": {"role": "observable", "quantity": "na_i_mM", "unit": "mM",
                        "description": "intracellular Na+ (ratiometric imaging)"},
            "k_o_obs_mM": {"role": "note",
                           "description": "extracellular K+ (ion-selective electrode), mM; "
                                          "blank where not measured"},
        },
        "constants": {
            "na_o_mM": {"value": FIXED["na_o_mM"], "unit": "mM",
                        "description": "bath Na+ (initial extracellular Na+)"},
            "k_o_mM": {"value": FIXED["k_o_mM"], "unit": "mM",
                       "description": "bath K+ (initial extracellular K+)"},
            "cl_o_mM": {"value": FIXED["cl_o_mM"], "unit": "mM",
                        "description": "bath Cl- (initial extracellular Cl-)"},
            "temperature_K": {"value": FIXED["temperature_K"], "unit": "K"},
        },
        "notes": ("The vocabulary has no time-course potential, no extracellular K+ "
                  "observable and no onset quantity: V(t) is stored as v_rest_mV, and "
                  "K_o(t) and the onset as the note columns k_o_obs_mM and onset_s."),
    }


def generate(seed: int | None = None) -> tuple[str, str]:
    """The dataset in memory: ``(csv_text, sidecar_text)``.

    Parameters
    ----------
    seed : int, optional
        Override :data:`SEED` (the shipped files use the default).
    """
    seed = SEED if seed is None else int(seed)
    rng = np.random.default_rng(seed)
    csv_text = _csv(_rows(rng))
    return csv_text, json.dumps(_sidecar(seed), indent=2, ensure_ascii=False) + "\n"


def write(out_dir: str | Path | None = None) -> list[Path]:
    """Write ``synthetic_rundown.csv`` and ``.json`` (default: the shipped folder)."""
    return write_datasets({NAME: generate()}, out_dir)


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m iongrad.data.generate_rundown [--out-dir DIR]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", default=None)
    args = parser.parse_args(argv)
    for path in write(args.out_dir):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
