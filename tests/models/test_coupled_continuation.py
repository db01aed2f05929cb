"""The coupled Newton solver's continuation fallback: parameter sets that no starting
point reaches are solved by continuation from the composition's defaults, and the
answer is the steady state an independent solver finds."""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import root

from iongrad.models.mechanisms import ION
from iongrad.models.membrane import composition
from iongrad.models.steady_core import full_system, plan_for, solve_membrane
from iongrad.models.steady_coupled import _STARTS_MV

# A myocyte of the robustness benchmark's design (2^17 points, seed 27, point 12241):
# a small Ca2+ leak against a strong NCX and a dense pump, K+-dominated and
# hyperpolarised. Damped Newton from every start stalls here.
HARD = {"g_na_nS": 0.14824427406781582, "g_k_nS": 13.716310582379396,
        "g_cl_nS": 0.1529428142593423, "g_ca_nS": 0.03541368942436205,
        "ncx_k_pA": 577725.0684478194, "pmca_max_pA": 191.15463719754845,
        "pump_density_per_um2": 4567.491145538566, "k_na_mM": 74.01342026275904,
        "k_o_mM": 2.71688223167761, "ca_o_mM": 1.383379059558337}


def _params(m, n=1, **over):
    p = {k: np.full(n, float(v)) for k, v in m.defaults().items()}
    p.update({k: np.broadcast_to(np.asarray(v, dtype=float), (n,)).copy()
              for k, v in over.items()})
    return p


def test_starts_alone_miss_the_hard_myocyte():
    m = composition("cardiac_myocyte")
    plan = plan_for(m)
    p = _params(m, **HARD)
    pv = [p[k] for k in plan.params]
    for v0 in _STARTS_MV:
        start = [np.broadcast_to(s, (1,)).astype(float)
                 for s in plan._start_fn(np.full(1, v0), *pv)]
        _z, conv = plan.newton([*start, np.full(1, v0)], pv, max_iter=300)
        assert not conv[0], v0  # so what solves it below is the continuation


def test_continuation_finds_the_steady_state_an_independent_solver_finds():
    m = composition("cardiac_myocyte")
    p = _params(m, **HARD)
    sol = solve_membrane(m, p)
    assert sol.feasible[0], sol.reason
    assert max(float(r[0]) for r in sol.residuals.values()) <= 1e-9
    # scipy's hybrid Powell on the unreduced equations, from the Nernst start at -90 mV
    _names, f = full_system(m, scalar=True)
    pi = [float(p[k][0]) for k in m.parameters]
    vt = 8.314462618 * float(p["temperature_K"][0]) / 96485.33212 * 1e3
    found = None
    for v0 in (-90.0, -120.0, -70.0):
        z0 = [math.log(float(p[ION[x].outside][0])) + ION[x].z * v0 / vt for x in m.ions]
        r = root(lambda z: f(z, *pi), [*z0, v0], method="hybr", options={"xtol": 1e-14})
        if r.success:
            found = r.x
            break
    assert found is not None
    for x, lnc in zip(m.ions, found[:-1], strict=True):
        np.testing.assert_allclose(sol.state[f"{x}_i_mM"][0], math.exp(lnc), rtol=1e-7,
                                   err_msg=x)
    np.testing.assert_allclose(sol.state["v_mV"][0], found[-1], atol=1e-6)


def test_continuation_leaves_the_sets_the_starts_solve_alone():
    """Sets the starts solve come out bit-identical whether or not a hard set is in the
    same batch (the continuation only sees the sets no start reached)."""
    m = composition("cardiac_myocyte")
    easy = _params(m, 3, g_na_nS=[0.5, 1.0, 2.0])
    alone = solve_membrane(m, easy)
    mixed = _params(m, 4)
    for k in mixed:
        mixed[k][:3] = easy[k]
    for k, v in HARD.items():
        mixed[k][3] = v
    both = solve_membrane(m, mixed)
    assert alone.feasible.all()
    for k, v in alone.state.items():
        np.testing.assert_array_equal(both.state[k][:3], v, err_msg=k)
    assert both.feasible.all()
