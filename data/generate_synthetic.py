"""Generate the shipped synthetic datasets from documented true parameters.

Run ``python -m iongrad.data.generate_synthetic`` (or ``python data/generate_synthetic.py``)
to rewrite ``shipped/synthetic_*.csv`` and their JSON sidecars. The output is a
deterministic function of the seeds below: regenerating gives byte-identical CSVs
(as long as NumPy's PCG64 normal stream is unchanged).

Model and noise
---------------
Every value is the fixed-volume, ohmic-leak pump–leak steady state
(:func:`iongrad.models.steady_state.solve_steady_state`) of one cell under one
condition, plus measurement noise. Cell-to-cell variation: each cell's ``g_na_nS``,
``g_k_nS`` and ``pump_density_per_um2`` is the population median times
``exp(sigma_log * z)``, ``z ~ N(0, 1)``; cell-level values are rounded to 6
significant digits *before* solving, so the values recorded in the sidecar are
exactly those used. Noise (independent per value):

* ``v_rest_mV``: normal, sd 1 mV
* ``r_in_MOhm``: log-normal, sigma_log 0.05 (~5 %)
* ``pump_current_pA``: normal, sd 0.5 pA
* ``o2_per_s``: log-normal, sigma_log 0.10 (~10 %)
* ``na_i_mM``: normal, sd 0.5 mM

The generator refuses (raises, writes nothing) if any steady state is infeasible or
implausible (outside the loader's ranges, e.g. Na_i > 2 M) or any noisy Na_i is not
positive.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from iongrad.data.loader import _in_range
from iongrad.data.shipped import write_datasets
from iongrad.data.vocabulary import QUANTITIES, UNITS
from iongrad.models.quantities import get as get_quantity
from iongrad.models.steady_state import DEFAULT_PARAMS, solve_steady_state

__all__ = ["FIXED_PARAMS", "GENERATOR_VERSION", "NOISE", "SYNTHETIC", "GenerationError",
           "generate", "main", "write_all"]

GENERATOR_VERSION = "1"
_GENERATOR = "iongrad.data.generate_synthetic"
_DATE = "2025-01-01"  # fixed so that regenerated sidecars are byte-identical
_MODEL = {"function": "iongrad.models.steady_state.solve_steady_state",
          "leak": "ohmic", "volume": "fixed"}

#: Model parameters that vary from cell to cell (log-normal around the median).
_VARIED = ("g_na_nS", "g_k_nS", "pump_density_per_um2")
_BATH = {"na_o_mM": 145.0, "k_o_mM": 4.0, "cl_o_mM": 123.0, "temperature_K": 310.0,
         "activity_load_pA": 0.0}

NOISE: dict[str, dict[str, Any]] = {
    "v_rest_mV": {"distribution": "normal", "sd": 1.0, "unit": "mV"},
    "r_in_MOhm": {"distribution": "lognormal", "sigma_log": 0.05},
    "pump_current_pA": {"distribution": "normal", "sd": 0.5, "unit": "pA"},
    "o2_per_s": {"distribution": "lognormal", "sigma_log": 0.10},
    "na_i_mM": {"distribution": "normal", "sd": 0.5, "unit": "mM"},
}
#: Decimal places (or significant digits, for o2) written to the CSV.
_FORMAT = {"k_o_mM": "{:.1f}", "na_o_mM": "{:.1f}", "activity_load_pA": "{:.1f}",
           "v_rest_mV": "{:.2f}", "r_in_MOhm": "{:.1f}", "pump_current_pA": "{:.3f}",
           "o2_per_s": "{:.5e}", "na_i_mM": "{:.3f}"}
#: Unit written to the sidecar for each column: the plain canonical unit of the
#: registry dimension of the quantity ("molecules/s" for o2_per_s).
_UNITS = {c: next(iter(UNITS[get_quantity(c).dimension]))
          for c in ("k_o_mM", "na_o_mM", "activity_load_pA", "v_rest_mV", "r_in_MOhm",
                    "pump_current_pA", "o2_per_s", "na_i_mM")}
_UNITS["fxyd_state"] = ""  # categorical
_DESCRIPTIONS = {
    "cell": "cell id",
    "k_o_mM": "extracellular K+ of the bath",
    "na_o_mM": "extracellular Na+ of the bath (Na+ replaced by an impermeant cation)",
    "activity_load_pA": "Na+ load from activity, as a current",
    "fxyd_state": "state of the FXYD subunit",
    "v_rest_mV": "resting membrane potential",
    "r_in_MOhm": "input resistance (measured once per cell)",
    "pump_current_pA": "ouabain-sensitive pump current, outward positive (once per cell)",
    "o2_per_s": "O2 consumption, molecules per second per cell (once per cell)",
    "na_i_mM": "intracellular Na+ (e.g. SBFI imaging)",
}


class GenerationError(RuntimeError):
    """The synthetic design produced an infeasible steady state or an invalid value."""


def _round_sig(x: np.ndarray, digits: int = 6) -> np.ndarray:
    return np.array([float(f"{v:.{digits - 1}e}") for v in np.ravel(x)]).reshape(np.shape(x))


def _cells(rng: np.random.Generator, n_cells: int, median: dict[str, float],
           sigma_log: dict[str, float]) -> dict[str, np.ndarray]:
    z = rng.standard_normal((len(_VARIED), n_cells))
    return {k: _round_sig(median[k] * np.exp(sigma_log[k] * z[i]))
            for i, k in enumerate(_VARIED)}


def _solve(name: str, params: dict[str, Any]):
    ss = solve_steady_state(leak="ohmic", volume="fixed", **params)
    if not np.all(ss.feasible):
        bad = np.flatnonzero(~np.asarray(ss.feasible))
        raise GenerationError(f"{name}: {len(bad)} infeasible steady state(s) (first at design "
                              f"row {int(bad[0])}, reason code {int(ss.reason[bad[0]])}); "
                              "refusing to write the dataset")
    # The solver can report convergence for a state no cell could be in (e.g. a Na+ load
    # beyond the pump's capacity drives Na_i to absurd values): check plausibility too.
    for q in ("v_rest_mV", "na_i_mM", "k_i_mM", "r_in_MOhm"):
        values = np.asarray(getattr(ss, q), dtype=float)
        ok = np.isfinite(values) & _in_range(values, QUANTITIES[q])
        if not ok.all():
            first = int(np.flatnonzero(~ok)[0])
            raise GenerationError(f"{name}: implausible steady state at design row {first}: "
                                  f"{q} = {values[first]:.6g}, expected "
                                  f"{QUANTITIES[q].range_text()}; refusing to write the dataset")
    return ss


def _noisy(rng: np.random.Generator, quantity: str, clean: np.ndarray) -> np.ndarray:
    spec = NOISE[quantity]
    if spec["distribution"] == "normal":
        return clean + spec["sd"] * rng.standard_normal(clean.shape)
    return clean * np.exp(spec["sigma_log"] * rng.standard_normal(clean.shape))


#: Fixed model parameters of every synthetic cell, pinned here (not read from the model's
#: defaults) so that the documented truth cannot drift: a soma of radius 10 µm.
FIXED_PARAMS: dict[str, float] = {
    "g_cl_nS": 0.3, "area_um2": 4.0 * np.pi * 10.0**2,
    "volume_pL": 4.0 / 3.0 * np.pi * 10.0**3 * 1e-3, "turnover_max_per_s": 100.0,
    "hill_na": 3.0, "k_k_mM": 1.5, "hill_k": 1.0, "atp_mM": 2.0, "k_atp_mM": 0.2,
    "a_i_mM": 155.0, "z_a": 1.0, "atp_per_o2": 5.0,
}


def _fixed() -> dict[str, float]:
    unknown = set(FIXED_PARAMS) - set(DEFAULT_PARAMS)
    if unknown:  # the model's parameter names changed: the design must be revisited
        raise GenerationError(f"solve_steady_state has no parameter(s) {sorted(unknown)}")
    return dict(FIXED_PARAMS)


def _csv(columns: dict[str, list]) -> str:
    names = list(columns)
    n = len(columns[names[0]])
    lines = [",".join(names)]
    for i in range(n):
        cells = []
        for k in names:
            v = columns[k][i]
            if v is None or (isinstance(v, float) and np.isnan(v)):
                cells.append("")
            elif isinstance(v, str):
                cells.append(v)
            else:
                cells.append(_FORMAT[k].format(v))
        lines.append(",".join(cells))
    return "\n".join(lines) + "\n"


def _sidecar(name: str, description: str, columns: list[str], constants: dict[str, float],
             seed: int, truth: dict[str, Any], noise: list[str], notes: str = "") -> dict:
    cols: dict[str, Any] = {"cell": {"role": "id", "quantity": "cell",
                                     "description": _DESCRIPTIONS["cell"]}}
    for c in columns:
        if c == "cell":
            continue
        role = "observable" if c in NOISE else "condition"
        entry = {"role": role, "quantity": c, "unit": _UNITS[c],
                 "description": _DESCRIPTIONS[c]}
        if c == "fxyd_state":
            entry.pop("unit")
        cols[c] = entry
    const_units = {"na_o_mM": "mM", "k_o_mM": "mM", "cl_o_mM": "mM", "temperature_K": "K",
                   "activity_load_pA": "pA"}
    meta = {
        "name": name,
        "description": description,
        "provenance": {
            "generator": _GENERATOR,
            "generator_version": GENERATOR_VERSION,
            "seed": seed,
            "date": _DATE,
            "licence": "CC0-1.0",
            "synthetic": True,
            "model": _MODEL,
            "true_parameters": truth,
            "noise_model": {k: NOISE[k] for k in noise},
            "csv_rounding": {k: _FORMAT[k] for k in columns if k in _FORMAT},
        },
        "cell_column": "cell",
        "columns": cols,
        "constants": {k: {"value": v, "unit": const_units[k]} for k, v in constants.items()},
    }
    if notes:
        meta["notes"] = notes
    return meta


def _truth(median, sigma_log, fixed, cells, extra=None) -> dict[str, Any]:
    ids = [f"c{i + 1:02d}" for i in range(len(next(iter(cells.values()))))]
    out = {
        "population_median": median,
        "cell_to_cell_sigma_log": sigma_log,
        "fixed": fixed,
        "cells": {cid: {k: float(cells[k][i]) for k in _VARIED} for i, cid in enumerate(ids)},
    }
    if extra:
        out.update(extra)
    return out


# --------------------------------------------------------------------------------------
# The datasets
# --------------------------------------------------------------------------------------
def _vrest_ko(seed: int) -> tuple[str, dict]:
    name = "synthetic_vrest_ko"
    rng = np.random.default_rng(seed)
    n_cells, k_o = 8, np.array([2.0, 4.0, 8.0, 16.0, 32.0])
    median = {"g_na_nS": 0.15, "g_k_nS": 0.6, "pump_density_per_um2": 1000.0}
    sigma = {"g_na_nS": 0.2, "g_k_nS": 0.2, "pump_density_per_um2": 0.2}
    fixed = {**_fixed(), "k_na_mM": 12.0}
    cells = _cells(rng, n_cells, median, sigma)
    bath = {k: v for k, v in _BATH.items() if k != "k_o_mM"}
    # Design: every cell at every K_o (cells x K_o, K_o fastest).
    ci = np.repeat(np.arange(n_cells), k_o.size)
    ko = np.tile(k_o, n_cells)
    ss = _solve(name, {**fixed, **bath, **{k: v[ci] for k, v in cells.items()}, "k_o_mM": ko})
    once = ko == 4.0
    v = _noisy(rng, "v_rest_mV", ss.v_rest_mV)
    r = _noisy(rng, "r_in_MOhm", ss.r_in_MOhm[once])
    ip = _noisy(rng, "pump_current_pA", ss.pump_current_pA[once])
    o2 = _noisy(rng, "o2_per_s", ss.o2_per_s[once])
    na = _noisy(rng, "na_i_mM", ss.na_i_mM[once])
    nan = np.full(ko.size, np.nan)
    r_col, ip_col, o2_col, na_col = nan.copy(), nan.copy(), nan.copy(), nan.copy()
    r_col[once], ip_col[once], o2_col[once], na_col[once] = r, ip, o2, na
    columns = {"cell": [f"c{i + 1:02d}" for i in ci], "k_o_mM": list(ko), "v_rest_mV": list(v),
               "r_in_MOhm": list(r_col), "pump_current_pA": list(ip_col),
               "o2_per_s": list(o2_col), "na_i_mM": list(na_col)}
    meta = _sidecar(
        name,
        "Resting potential of 8 cells at [K]o = 2, 4, 8, 16, 32 mM, with input resistance, "
        "ouabain-sensitive pump current, O2 consumption and intracellular Na+ (SBFI) of each "
        "cell at [K]o = 4 mM. "
        "Synthetic: pump-leak steady state plus noise; the multi-observable, multi-cell "
        "example that the demo fits.",
        list(columns), bath, seed, _truth(median, sigma, fixed, cells),
        ["v_rest_mV", "r_in_MOhm", "pump_current_pA", "o2_per_s", "na_i_mM"],
        "R_in, pump current, O2 and Na_i are measured once per cell, in the [K]o = 4 mM row; "
        "empty cells elsewhere mean 'not measured'.")
    return _csv(columns), meta


def _vrest_nao(seed: int) -> tuple[str, dict]:
    name = "synthetic_vrest_nao"
    rng = np.random.default_rng(seed)
    n_cells, na_o = 8, np.array([145.0, 100.0, 50.0, 25.0])
    median = {"g_na_nS": 0.15, "g_k_nS": 0.6, "pump_density_per_um2": 1000.0}
    # Resting potentials carry almost no information on pump density, so this dataset
    # keeps it common to all cells (a fit pools it completely, correctly specified).
    sigma = {"g_na_nS": 0.2, "g_k_nS": 0.2, "pump_density_per_um2": 0.0}
    fixed = {**_fixed(), "k_na_mM": 12.0}
    cells = _cells(rng, n_cells, median, sigma)
    bath = {k: v for k, v in _BATH.items() if k != "na_o_mM"}
    ci = np.repeat(np.arange(n_cells), na_o.size)
    nao = np.tile(na_o, n_cells)
    ss = _solve(name, {**fixed, **bath, **{k: v[ci] for k, v in cells.items()},
                       "na_o_mM": nao})
    once = nao == 145.0
    v = _noisy(rng, "v_rest_mV", ss.v_rest_mV)
    r_col = np.full(nao.size, np.nan)
    r_col[once] = _noisy(rng, "r_in_MOhm", ss.r_in_MOhm[once])
    columns = {"cell": [f"c{i + 1:02d}" for i in ci], "na_o_mM": list(nao),
               "v_rest_mV": list(v), "r_in_MOhm": list(r_col)}
    meta = _sidecar(
        name,
        "Resting potential of 8 cells while extracellular Na+ is replaced by an impermeant "
        "cation ([Na]o = 145, 100, 50, 25 mM; [Cl]o unchanged), with each cell's input "
        "resistance at [Na]o = 145 mM. Synthetic: pump-leak steady state plus noise; leak "
        "conductances vary from cell to cell, pump density is common to all cells.",
        list(columns), bath, seed, _truth(median, sigma, fixed, cells),
        ["v_rest_mV", "r_in_MOhm"],
        "R_in is measured once per cell, in the [Na]o = 145 mM row.")
    return _csv(columns), meta


def _nai_fxyd(seed: int) -> tuple[str, dict]:
    name = "synthetic_nai_fxyd"
    rng = np.random.default_rng(seed)
    n_cells = 6
    states = ("unphosphorylated", "phosphorylated")
    k_na_by_state = {"unphosphorylated": 10.0, "phosphorylated": 20.0}
    loads = np.array([0.0, 10.0])
    median = {"g_na_nS": 0.15, "g_k_nS": 0.6, "pump_density_per_um2": 1000.0}
    # No potentials are recorded here, so g_K is hardly identifiable: it is common to
    # all cells (a fit may hold it at its true value without misspecification).
    sigma = {"g_na_nS": 0.2, "g_k_nS": 0.0, "pump_density_per_um2": 0.2}
    fixed = _fixed()
    cells = _cells(rng, n_cells, median, sigma)
    bath = {k: v for k, v in _BATH.items() if k != "activity_load_pA"}
    # Design: cell x state x load (load fastest).
    ci = np.repeat(np.arange(n_cells), len(states) * loads.size)
    si = np.tile(np.repeat(np.arange(len(states)), loads.size), n_cells)
    load = np.tile(loads, n_cells * len(states))
    k_na = np.array([k_na_by_state[s] for s in states])[si]
    ss = _solve(name, {**fixed, **bath, **{k: v[ci] for k, v in cells.items()},
                       "k_na_mM": k_na, "activity_load_pA": load})
    once = (si == 0) & (load == 0.0)
    na = _noisy(rng, "na_i_mM", ss.na_i_mM)
    ip_col = np.full(load.size, np.nan)
    ip_col[once] = _noisy(rng, "pump_current_pA", ss.pump_current_pA[once])
    if np.any(na <= 0):
        raise GenerationError(f"{name}: a noisy Na_i is not positive; refusing to write")
    columns = {"cell": [f"c{i + 1:02d}" for i in ci],
               "fxyd_state": [states[i] for i in si], "activity_load_pA": list(load),
               "na_i_mM": list(na), "pump_current_pA": list(ip_col)}
    meta = _sidecar(
        name,
        "Intracellular Na+ of 6 cells at two activity levels (Na+ load 0 and 10 pA) with "
        "the FXYD subunit unphosphorylated and phosphorylated, plus each cell's pump "
        "current (unphosphorylated, no load) to pin the pump density. Synthetic: pump-leak "
        "steady state plus noise, K_Na set by the FXYD state; g_Na and pump density vary "
        "from cell to cell, g_K is common to all cells.",
        list(columns), bath, seed,
        _truth(median, sigma, fixed, cells, {"k_na_mM_by_fxyd_state": k_na_by_state}),
        ["na_i_mM", "pump_current_pA"],
        "K_Na follows the source chapter's hypothetical neuron (phosphorylation raises K_Na "
        "10 -> 20 mM). For phospholemman (FXYD1) in cardiac myocytes the reported direction "
        "is the opposite (see the shipped literature_despa2005_plm dataset).")
    return _csv(columns), meta


#: name -> (builder, seed)
SYNTHETIC: dict[str, tuple[Any, int]] = {
    "synthetic_vrest_ko": (_vrest_ko, 20250101),
    "synthetic_vrest_nao": (_vrest_nao, 20250102),
    "synthetic_nai_fxyd": (_nai_fxyd, 20250103),
}


def generate(name: str, seed: int | None = None) -> tuple[str, str]:
    """Generate one synthetic dataset in memory.

    Parameters
    ----------
    name : str
        A key of :data:`SYNTHETIC`.
    seed : int, optional
        Override the documented seed (the shipped files use the default).

    Returns
    -------
    (csv_text, sidecar_text) : tuple of str
        The CSV (``\\n`` line endings) and the JSON sidecar text.

    Raises
    ------
    GenerationError
        If any steady state of the design is infeasible.
    KeyError
        For an unknown name.
    """
    builder, default_seed = SYNTHETIC[name]
    csv_text, meta = builder(default_seed if seed is None else int(seed))
    return csv_text, json.dumps(meta, indent=2, ensure_ascii=False) + "\n"


def write_all(out_dir: str | Path | None = None) -> list[Path]:
    """Generate every synthetic dataset and write ``<name>.csv`` and ``<name>.json``.

    All datasets are generated before anything is written, so a refusal leaves the
    folder untouched.

    Parameters
    ----------
    out_dir : str or Path, optional
        Target folder; default: the package's ``shipped/`` folder.

    Returns
    -------
    list of Path
        The files written.
    """
    return write_datasets({name: generate(name) for name in SYNTHETIC}, out_dir)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: ``python -m iongrad.data.generate_synthetic [--out-dir DIR]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", default=None,
                        help="folder to write to (default: the package's shipped/ folder)")
    args = parser.parse_args(argv)
    for path in write_all(args.out_dir):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
