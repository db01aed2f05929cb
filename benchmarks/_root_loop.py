"""The per-sample ``scipy.optimize.root`` baseline of the steady-state benchmarks.

One loop for every script that compares the vectorised solver with a per-sample root
finder (``bench_steady_state.py``, ``bench_sobol.py``), so that their baselines differ
only in the parameter sets they are given. Each sample solves the unreduced equations
(every ion's flux balance and electroneutrality, in ln Na_i, ln K_i, ln Cl_i and V),
generated once as scalar code from the membrane model, by MINPACK's hybrid Powell method
(``hybr``) from one start, to the precision the vectorised solver reaches (relative step
tolerance 1e-12; SciPy's default 1.5e-8 stops short of it). The fluxes are divided by
10 so that they and electroneutrality weigh alike. Parameters are resolved before the
clock starts: only the root finding is timed.
"""

from __future__ import annotations

import time

import numpy as np
from scipy.optimize import root

from iongrad.models.steady_core import full_system
from iongrad.models.steady_state import membrane_for

#: The start of every sample: a typical cell (ln Na_i, ln K_i, ln Cl_i, V).
START = (np.log(12.0), np.log(140.0), np.log(10.0), -70.0)
TOL = 1e-12

_MEMBRANE = membrane_for("ohmic", "fixed")
_UNKNOWNS, _F = full_system(_MEMBRANE, scalar=True)


def parameter_rows(params: dict[str, np.ndarray]) -> np.ndarray:
    """``(n, P)`` parameter vectors of the ohmic, fixed-volume cell (the membrane's
    parameter order), from arrays of some parameters and defaults for the rest."""
    from iongrad.models.steady_state import _resolve_params

    n = len(next(iter(params.values())))
    rows = np.empty((n, len(_MEMBRANE.parameters)))
    for i in range(n):
        p = _resolve_params("ohmic", "fixed", {k: float(v[i]) for k, v in params.items()})
        rows[i] = [float(p[k]) for k in _MEMBRANE.parameters]
    return rows


def root_loop(rows: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Solve each row; returns ``(seconds, x, success)`` with ``x`` of shape ``(n, 4)``."""
    x = np.empty((rows.shape[0], 4))
    ok = np.zeros(rows.shape[0], dtype=bool)
    t0 = time.perf_counter()
    for i, pv in enumerate(rows):
        pv = list(pv)

        def f(z, pv=pv):
            b_na, b_k, b_cl, en = _F(z, *pv)
            return [b_na / 10.0, b_k / 10.0, b_cl / 10.0, en]

        sol = root(f, x0=START, method="hybr", tol=TOL)
        x[i], ok[i] = sol.x, sol.success
    return time.perf_counter() - t0, x, ok
