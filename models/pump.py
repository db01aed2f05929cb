"""Na+/K+-ATPase kinetics and its electrogenic current.

One pump cycle moves 3 Na+ out and 2 K+ in (one net charge out) and hydrolyses
one ATP. The cycle rate per pump is::

    turnover = turnover_max × f(Na_i) × g(K_o) × h(ATP)
    f = Na_i^n / (Na_i^n + K_Na^n)         (Hill; K_Na = half-activation by Na_i)
    g = K_o^m / (K_o^m + K_K^m)            (Hill; K_K = half-activation by K_o)
    h = ATP / (ATP + K_ATP)                (Michaelis)

Default constants (documented in :data:`PUMP_DEFAULTS`): K_Na = 12 mM and n = 3
(α1, Zahler et al. 1997 J Gen Physiol 110:201; Hill ~3 as in energy-budget
models), K_K = 1.5 mM (α1, Han et al. 2009 Am J Physiol Cell), K_ATP = 0.2 mM,
turnover_max = 100 cycles/s (red-cell transport rate ÷ ouabain sites,
J Physiol 1975, 251:671).
"""

from __future__ import annotations

import sympy as sp
from numpy.typing import ArrayLike

from iongrad.models._backend import check, check_broadcast
from iongrad.models.codegen import Evaluator
from iongrad.models.mechanisms import pump as _mech
from iongrad.models.quantities import defaults

__all__ = [
    "PUMP_DEFAULTS",
    "electrogenic_dv_mV",
    "hill_activation",
    "hill_kernel",
    "pump_current_pA",
    "pump_turnover_per_s",
    "sphere_area_um2",
    "sphere_volume_pL",
]

#: Default pump constants (units in the names), from :mod:`iongrad.models.quantities`.
PUMP_DEFAULTS: dict[str, float] = defaults(
    ("turnover_max_per_s", "k_na_mM", "hill_na", "k_k_mM", "hill_k", "atp_mM", "k_atp_mM"))


_TURNOVER_ARGS = ("na_i_mM", "k_o_mM", "atp_mM", "turnover_max_per_s", "k_na_mM", "hill_na",
                  "k_k_mM", "hill_k", "k_atp_mM")
_sym = {n: sp.Symbol(n, positive=True) for n in
        (*_TURNOVER_ARGS, "density_per_um2", "area_um2", "turnover_per_s")}
#: the pump's rate law (:func:`iongrad.models.mechanisms.pump.pump_cycle_rate`), the
#: same expression the membrane models are generated from
_TURNOVER = Evaluator(
    [_sym[n] for n in _TURNOVER_ARGS],
    [_mech.pump_cycle_rate(_sym["na_i_mM"], _sym["k_o_mM"], _sym["atp_mM"],
                           turnover_max=_sym["turnover_max_per_s"]).xreplace(
        {_mech.param(n): _sym[n] for n in ("k_na_mM", "hill_na", "k_k_mM", "hill_k",
                                           "k_atp_mM")})])
_CURRENT = Evaluator([_sym["density_per_um2"], _sym["area_um2"], _sym["turnover_per_s"]],
                     [_mech.pump_current(_sym["density_per_um2"], _sym["area_um2"],
                                         _sym["turnover_per_s"])])


def hill_kernel(c_mM: ArrayLike, k_half_mM: ArrayLike, n: ArrayLike = 1.0) -> ArrayLike:
    """:func:`hill_activation` without input checks (solvers, graphs)."""
    return 1.0 / (1.0 + (k_half_mM / c_mM) ** n)


def hill_activation(c_mM: ArrayLike, k_half_mM: ArrayLike, n: ArrayLike = 1.0) -> ArrayLike:
    """Hill activation ``c^n/(c^n + K^n) = 1/(1 + (K/c)^n)``, dimensionless in [0, 1].

    Parameters
    ----------
    c_mM : array_like
        Ligand concentration, mM.
    k_half_mM : array_like
        Half-activation constant, mM.
    n : array_like
        Hill coefficient.

    Returns
    -------
    array_like
        Fractional activation.
    """
    c_mM = check("c_mM", c_mM)
    k_half_mM = check("k_half_mM", k_half_mM)
    n = check("n", n, quantity="hill_n")
    check_broadcast(c_mM=c_mM, k_half_mM=k_half_mM, n=n)
    return hill_kernel(c_mM, k_half_mM, n)


def pump_turnover_per_s(
    na_i_mM: ArrayLike,
    k_o_mM: ArrayLike,
    *,
    atp_mM: ArrayLike = PUMP_DEFAULTS["atp_mM"],
    turnover_max_per_s: ArrayLike = PUMP_DEFAULTS["turnover_max_per_s"],
    k_na_mM: ArrayLike = PUMP_DEFAULTS["k_na_mM"],
    hill_na: ArrayLike = PUMP_DEFAULTS["hill_na"],
    k_k_mM: ArrayLike = PUMP_DEFAULTS["k_k_mM"],
    hill_k: ArrayLike = PUMP_DEFAULTS["hill_k"],
    k_atp_mM: ArrayLike = PUMP_DEFAULTS["k_atp_mM"],
) -> ArrayLike:
    """Pump cycle rate per pump molecule, cycles/s.

    Parameters
    ----------
    na_i_mM : array_like
        Intracellular Na+, mM (> 0).
    k_o_mM : array_like
        Extracellular K+, mM (> 0).
    atp_mM : array_like
        Intracellular ATP, mM (>= 0; 0 stops the pump).
    turnover_max_per_s : array_like
        Maximal turnover at saturating substrates, 1/s (>= 0).
    k_na_mM, hill_na : array_like
        Half-activation constant (mM) and Hill coefficient for intracellular Na+.
    k_k_mM, hill_k : array_like
        Half-activation constant (mM) and Hill coefficient for extracellular K+.
    k_atp_mM : array_like
        Michaelis constant for ATP, mM.
    """
    args = {"na_i_mM": na_i_mM, "k_o_mM": k_o_mM, "atp_mM": atp_mM,
            "turnover_max_per_s": turnover_max_per_s, "k_na_mM": k_na_mM, "hill_na": hill_na,
            "k_k_mM": k_k_mM, "hill_k": hill_k, "k_atp_mM": k_atp_mM}
    a = {k: check(k, v) for k, v in args.items()}
    check_broadcast(**a)
    return _TURNOVER(*(a[k] for k in _TURNOVER_ARGS))[0]


def pump_current_pA(
    density_per_um2: ArrayLike, area_um2: ArrayLike, turnover_per_s: ArrayLike
) -> ArrayLike:
    """Electrogenic pump current ``I = (density × area) × turnover × e``, pA (outward).

    One net elementary charge leaves the cell per cycle.

    Parameters
    ----------
    density_per_um2 : array_like
        Pump sites per µm^2 of membrane (>= 0).
    area_um2 : array_like
        Membrane area, µm^2 (> 0).
    turnover_per_s : array_like
        Cycles per second per pump (>= 0).
    """
    density_per_um2 = check("density_per_um2", density_per_um2,
                            quantity="pump_density_per_um2")
    area_um2 = check("area_um2", area_um2)
    turnover_per_s = check("turnover_per_s", turnover_per_s)
    check_broadcast(density_per_um2=density_per_um2, area_um2=area_um2,
                    turnover_per_s=turnover_per_s)
    return _CURRENT(density_per_um2, area_um2, turnover_per_s)[0]


def electrogenic_dv_mV(i_pump_pA: ArrayLike, r_m_ohm: ArrayLike) -> ArrayLike:
    """Direct hyperpolarisation by the pump current, ``ΔV = I × R_m``, mV (pA × Ω → mV)."""
    i_pump_pA = check("i_pump_pA", i_pump_pA)
    r_m_ohm = check("r_m_ohm", r_m_ohm)
    check_broadcast(i_pump_pA=i_pump_pA, r_m_ohm=r_m_ohm)
    return i_pump_pA * 1e-12 * r_m_ohm * 1e3


def sphere_area_um2(radius_um: ArrayLike) -> ArrayLike:
    """Surface area of a sphere, µm^2, from its radius in µm."""
    radius_um = check("radius_um", radius_um)
    return 4.0 * 3.141592653589793 * radius_um**2


def sphere_volume_pL(radius_um: ArrayLike) -> ArrayLike:
    """Volume of a sphere, pL (1 µm^3 = 1e-3 pL), from its radius in µm."""
    radius_um = check("radius_um", radius_um)
    return 4.0 / 3.0 * 3.141592653589793 * radius_um**3 * 1e-3
