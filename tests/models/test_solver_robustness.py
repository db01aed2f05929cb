"""The steady-state solver over a wide Sobol design (reduced benchmarks/bench_solver_robustness.py).

2^12 scrambled Sobol points (seeded) spanning two decades of every leak
conductance/permeability, the pump density and K_Na, and [K]o 1-40 mM, for all
four leak/volume combinations: every point converges (relative balance residuals
< 1e-9, recomputed independently; concentrations > 0) or is flagged infeasible
with a documented reason, and a flagged point has no physical root (residual scan);
no NaN or negative concentration among converged points.
Five converged points are checked against the end state of the run-down ODE with
the pump on (an independent time integration, :mod:`iongrad.models.rundown`).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_solver_robustness.py"
_spec = importlib.util.spec_from_file_location("bench_solver_robustness", _PATH)
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


@pytest.fixture(scope="module", params=["ohmic", "ghk"])
def design(request):
    return request.param, bench.design(request.param, 12, seed=11)


@pytest.mark.parametrize("volume", ["fixed", "osmotic"])
def test_every_point_converges_or_is_flagged(design, volume):
    leak, params = design
    r = bench.check(params, leak, volume)
    assert r["n"] == 4096
    assert r["neither_converged_nor_flagged"] == 0
    assert r["flagged_with_physical_root"] == 0  # flagged points really have no steady state
    assert r["feasible_but_residual_above_tol"] == 0
    assert r["nan_in_converged"] == 0 and r["negative_in_converged"] == 0
    assert r["converged"] + r["infeasible"] == r["n"]
    assert r["converged_fraction"] > 0.9  # the design is mostly physiological
    assert r["worst_residual_converged"] < bench.RESID_TOL


def test_steady_state_is_the_end_point_of_the_pump_on_ode(design):
    leak, params = design
    mask = bench.check(params, leak, "fixed")["_converged_mask"]
    rng = np.random.default_rng(5)
    n = 3 if leak == "ohmic" else 2  # five points in all
    idx = rng.choice(np.flatnonzero(mask), size=n, replace=False)
    r = bench.ode_agreement(params, leak, idx)
    assert not r["failures"], r["failures"]
    assert r["worst_rel_conc"] < bench.ODE_RTOL


@pytest.mark.parametrize("name", list(bench.FOUR_ION))
def test_four_ion_composition_converges_or_is_flagged_with_no_physical_root(name):
    """Na+, K+, Cl-, HCO3-: six mechanisms composed, the same guarantees."""
    r = bench.check_composition(name, 11, seed=23)
    assert r["ions"] == ("na", "k", "cl", "hco3") and len(r["mechanisms"]) == 6
    assert 0.5 < r["converged_fraction"] < 1.0  # the design reaches infeasible corners
    assert r["flagged_with_physical_root"] == 0
    assert r["nan_in_converged"] == 0 and r["negative_in_converged"] == 0
    assert r["worst_residual_converged"] <= 1e-9
