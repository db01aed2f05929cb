"""Na+ set point of the pump under FXYD regulation.

The steady intracellular Na+ is where the pump rate ``v(Na_i)`` equals the Na+
influx ``J``. For Hill kinetics ``v = V_max Na^n/(K_Na^n + Na^n)``::

    Na_i* = K_Na (J/(V_max - J))^(1/n)         (J < V_max; none otherwise)

FXYD subunits change K_Na. In the source chapter's hypothetical neuron,
phosphorylation lowers the affinity (K_Na 10 → 20 mM, Na_i* 5 → 10 mM); for
phospholemman (FXYD1) in cardiac myocytes, PKA phosphorylation is reported to
*relieve* inhibition (lower K_Na). The direction is therefore a parameter, never
assumed. A phosphorylated fraction ``phi`` gives a mixed pump population whose
rate is ``(1-phi) v(Na; K_u) + phi v(Na; K_p)``; its set point is found by a
vectorised bracketed root solve.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from iongrad.models._backend import check, check_broadcast, namespace
from iongrad.models.errors import ModelInputError
from iongrad.models.pump import hill_kernel

__all__ = ["mixed_pump_rate", "na_set_point_mM", "na_set_point_mixed_mM"]


def na_set_point_mM(
    influx: ArrayLike, v_max: ArrayLike, k_na_mM: ArrayLike, hill_na: ArrayLike = 1.0
) -> ArrayLike:
    """Steady intracellular Na+ where the pump rate balances the influx, mM.

    Parameters
    ----------
    influx : array_like
        Na+ influx J (any rate unit, the same as ``v_max``; >= 0).
    v_max : array_like
        Maximal pump Na+ extrusion rate (same unit as ``influx``; > 0).
    k_na_mM : array_like
        Half-activation constant of the pump by intracellular Na+, mM.
    hill_na : array_like
        Hill coefficient n.

    Returns
    -------
    na_i_mM : array_like
        ``K_Na (J/(V_max-J))^(1/n)``; ``inf`` where the influx reaches or exceeds
        the pump capacity (no steady state exists).
    """
    influx = check("influx", influx, quantity="influx_rate")
    v_max = check("v_max", v_max, quantity="v_max_rate")
    k_na_mM = check("k_na_mM", k_na_mM)
    hill_na = check("hill_na", hill_na)
    check_broadcast(influx=influx, v_max=v_max, k_na_mM=k_na_mM, hill_na=hill_na)
    xp = namespace(influx, v_max, k_na_mM, hill_na)
    frac = influx / v_max
    ok = frac < 1.0
    safe = xp.where(ok, frac, 0.5)
    val = k_na_mM * (safe / (1.0 - safe)) ** (1.0 / hill_na)
    return xp.where(ok, val, np.inf)


def mixed_pump_rate(
    na_i_mM: ArrayLike,
    v_max: ArrayLike,
    k_unphos_mM: ArrayLike,
    k_phos_mM: ArrayLike,
    phi: ArrayLike,
    hill_na: ArrayLike = 1.0,
) -> ArrayLike:
    """Pump rate of a population with phosphorylated fraction ``phi`` (same unit as v_max).

    Parameters
    ----------
    na_i_mM : array_like
        Intracellular Na+, mM.
    v_max : array_like
        Maximal pump rate (any rate unit; > 0).
    k_unphos_mM, k_phos_mM : array_like
        K_Na of unphosphorylated and phosphorylated pumps, mM.
    phi : array_like
        Phosphorylated fraction, in [0, 1].
    hill_na : array_like
        Hill coefficient.

    Returns
    -------
    array_like
        ``(1-phi) v(Na; K_u) + phi v(Na; K_p)``, in the unit of ``v_max``.
    """
    a = {"na_i_mM": check("na_i_mM", na_i_mM),
         "v_max": check("v_max", v_max, quantity="v_max_rate"),
         "k_unphos_mM": check("k_unphos_mM", k_unphos_mM),
         "k_phos_mM": check("k_phos_mM", k_phos_mM),
         "phi": check("phi", phi), "hill_na": check("hill_na", hill_na)}
    check_broadcast(**a)
    return _mixed_rate(*a.values())


def _mixed_rate(na_i_mM, v_max, k_unphos_mM, k_phos_mM, phi, hill_na):
    return v_max * (
        (1.0 - phi) * hill_kernel(na_i_mM, k_unphos_mM, hill_na)
        + phi * hill_kernel(na_i_mM, k_phos_mM, hill_na)
    )


def na_set_point_mixed_mM(
    influx: ArrayLike,
    v_max: ArrayLike,
    k_unphos_mM: ArrayLike,
    k_phos_mM: ArrayLike,
    phi: ArrayLike,
    hill_na: ArrayLike = 1.0,
    *,
    rtol: ArrayLike = 1e-12,
    max_iter: ArrayLike = 200,
) -> ArrayLike:
    """Set point for a mixture of unphosphorylated and phosphorylated pumps, mM.

    ``phi`` in [0, 1] is the phosphorylated fraction. Solved by a vectorised
    bisection on ln Na_i (the rate is strictly increasing in Na_i), so it always
    converges when ``influx < v_max``; returns ``inf`` otherwise.
    """
    influx = check("influx", influx, quantity="influx_rate")
    v_max = check("v_max", v_max, quantity="v_max_rate")
    k_u = check("k_unphos_mM", k_unphos_mM)
    k_p = check("k_phos_mM", k_phos_mM)
    phi = check("phi", phi)
    hill_na = check("hill_na", hill_na)
    rtol = float(check("rtol", rtol, "dimensionless", positive=True))
    if isinstance(max_iter, bool) or not isinstance(max_iter, int | np.integer) or max_iter < 1:
        raise ModelInputError(f"max_iter must be an int >= 1; got {max_iter!r}")
    check_broadcast(influx=influx, v_max=v_max, k_unphos_mM=k_u, k_phos_mM=k_p, phi=phi,
                    hill_na=hill_na)
    influx, v_max, k_u, k_p, phi, n = np.broadcast_arrays(influx, v_max, k_u, k_p, phi, hill_na)
    ok = influx < v_max
    frac = np.where(ok, influx / v_max, 0.5)
    kmin, kmax = np.minimum(k_u, k_p), np.maximum(k_u, k_p)
    # The mixture's rate lies between the two pure rates: bracket by their set points.
    lo = np.log(kmin * (frac / (1 - frac)) ** (1 / n)) - 1e-9
    hi = np.log(kmax * (frac / (1 - frac)) ** (1 / n)) + 1e-9
    lo = np.where(frac > 0, lo, -np.inf)
    for _ in range(max_iter):
        mid = 0.5 * (lo + hi)
        r = _mixed_rate(np.exp(mid), 1.0, k_u, k_p, phi, n) - frac
        lo = np.where(r < 0, mid, lo)
        hi = np.where(r < 0, hi, mid)
        if np.all(hi - lo < rtol):
            break
    out = np.exp(0.5 * (lo + hi))
    out = np.where(frac > 0, out, 0.0)
    return np.where(ok, out, np.inf)
