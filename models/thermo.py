"""Equilibrium and electrodiffusion: Nernst, GHK, electrochemical free energy, Mullins–Noda.

All functions are vectorised over broadcastable inputs and work on NumPy arrays
or PyTensor variables (the namespace is taken from the inputs).

Sign conventions: membrane potential is inside minus outside; membrane current
is positive outward (a cation leaving the cell).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from iongrad.models._backend import check, check_broadcast, is_symbolic, namespace
from iongrad.models.constants import (
    F_C_PER_MOL,
    PUMP_COUPLING_RATIO,
    R_J_PER_MOL_K,
    T_DEFAULT_K,
    rt_over_f_mV,
)
from iongrad.models.errors import ModelInputError
from iongrad.models.quantities import first_bad

__all__ = [
    "dg_in_kernel_kJ_mol",
    "electrochemical_dg_kJ_mol",
    "ghk_current_kernel_pA",
    "ghk_current_pA",
    "ghk_flux_term_mM",
    "ghk_phi_d1",
    "ghk_phi_d2",
    "ghk_phi_family_np",
    "ghk_voltage_mV",
    "mullins_noda_ghk_mV",
    "mullins_noda_ohmic_mV",
    "nernst_mV",
    "ohmic_current_kernel_pA",
    "ohmic_current_pA",
    "pump_cycle_dg_kJ_mol",
    "u_over_one_minus_exp_neg_u",
]

_SERIES_CUTOFF = 1e-3
#: Below this |u| the first derivative is taken from its Taylor series (the closed
#: form loses ~eps/u to cancellation).
_SERIES_CUTOFF_D1 = 1e-2


def nernst_mV(
    c_out_mM: ArrayLike,
    c_in_mM: ArrayLike,
    z: ArrayLike = 1,
    temperature_K: ArrayLike = T_DEFAULT_K,
) -> ArrayLike:
    """Nernst (equilibrium) potential ``E = (RT/zF) ln(c_out/c_in)``.

    Parameters
    ----------
    c_out_mM, c_in_mM : array_like
        Extracellular and intracellular concentrations, mM (> 0).
    z : int or array_like
        Valence (non-zero), e.g. +1 for K+, -1 for Cl-.
    temperature_K : array_like
        Absolute temperature, K (> 0).

    Returns
    -------
    E_mV : array_like
        Equilibrium potential, mV.
    """
    c_out_mM = check("c_out_mM", c_out_mM)
    c_in_mM = check("c_in_mM", c_in_mM)
    z = check("z", z)
    temperature_K = check("temperature_K", temperature_K)
    check_broadcast(c_out_mM=c_out_mM, c_in_mM=c_in_mM, z=z, temperature_K=temperature_K)
    if not is_symbolic(z) and (z == 0).any():
        _, where = first_bad(z, z == 0)
        raise ModelInputError("z must be a non-zero valence (elementary charges) for a Nernst "
                              f"potential; got 0{where}")
    xp = namespace(c_out_mM, c_in_mM, z, temperature_K)
    return rt_over_f_mV(temperature_K) / z * xp.log(c_out_mM / c_in_mM)


def u_over_one_minus_exp_neg_u(u: ArrayLike) -> ArrayLike:
    """``Φ(u) = u / (1 - exp(-u))``, exact through ``u = 0`` (Φ(0) = 1).

    The GHK flux is ``c_in Φ(w) - c_out Φ(-w)`` with ``w = zFV/RT``. With
    ``a = |u|``: ``Φ(a) = a/(1 - e^{-a})`` and ``Φ(-a) = a e^{-a}/(1 - e^{-a})``,
    which never overflow; a Taylor series replaces the quotient near zero, so
    values and gradients are finite everywhere.
    """
    xp = namespace(u)
    small = xp.abs(u) < _SERIES_CUTOFF
    a = xp.where(small, 1.0, xp.abs(u))
    m = -xp.expm1(-a)
    series = 1.0 + u / 2.0 + u * u / 12.0 - u**4 / 720.0
    return xp.where(small, series, xp.where(u >= 0, a / m, a * xp.exp(-a) / m))


def ghk_phi_d1(u: ArrayLike) -> ArrayLike:
    """Derivative ``Φ'(u)`` of ``Φ(u) = u/(1 - e^{-u})``, exact through ``u = 0``.

    With ``a = |u|``, ``t = e^{-a}`` and ``m = 1 - t``: ``Φ'(a) = (m - a t)/m^2`` and
    ``Φ'(-a) = t (a - m)/m^2`` — no overflow for large ``|u|``; a Taylor series covers
    ``|u| < 1e-2``, where the closed form loses ~eps/|u| to cancellation.
    """
    xp = namespace(u)
    a = xp.abs(u)
    small = a < _SERIES_CUTOFF_D1
    a_s = xp.where(small, 1.0, a)
    t = xp.exp(-a_s)
    m = -xp.expm1(-a_s)
    m2 = m * m
    closed = xp.where(u >= 0, (m - a_s * t) / m2, t * (a_s - m) / m2)
    u2 = u * u
    series = 0.5 + u / 6.0 - u2 * u / 180.0 + u2 * u2 * u / 5040.0
    return xp.where(small, series, closed)


#: Below this |u| the second derivative is taken from its Taylor series (the closed
#: form loses ~eps/u^2 to cancellation).
_SERIES_CUTOFF_D2 = 0.25


def ghk_phi_d2(u: ArrayLike) -> ArrayLike:
    """Second derivative ``Φ''(u)``, exact through ``u = 0`` (Φ''(0) = 1/6).

    With ``t = e^{-u}`` and ``m = 1 - t``: ``Φ'' = t (2u - 2m - u m)/m^3`` for
    ``u > 0``; for ``u < 0``, with ``s = e^{u}``:
    ``Φ'' = s (2u s - (2 + u)(s - 1))/(s - 1)^3`` (no overflow).
    """
    xp = namespace(u)
    small = xp.abs(u) < _SERIES_CUTOFF_D2
    pos = u > 0
    u_safe = xp.where(small, 1.0, u)
    up = xp.where(pos, u_safe, 1.0)
    un = xp.where(pos, -1.0, u_safe)
    t = xp.exp(-up)
    m = -xp.expm1(-up)
    f_pos = t * (2.0 * up - 2.0 * m - up * m) / (m * m * m)
    s = xp.exp(un)
    sm1 = xp.expm1(un)
    f_neg = s * (2.0 * un * s - (2.0 + un) * sm1) / (sm1 * sm1 * sm1)
    u2 = u * u
    u4 = u2 * u2
    series = (1.0 / 6.0 - u2 / 60.0 + u4 / 1008.0 - u4 * u2 / 21600.0 + u4 * u4 / 532224.0
              - 691.0 * u4 * u4 * u2 / 9906624000.0)
    return xp.where(small, series, xp.where(pos, f_pos, f_neg))


def ghk_phi_family_np(u: np.ndarray, order: int = 0) -> tuple[np.ndarray, ...]:
    """NumPy: ``Φ(u), Φ(-u)`` and, for ``order >= 1``, ``Φ'(u), Φ'(-u)`` (``order 2``:
    also ``Φ''(u), Φ''(-u)``), sharing two transcendental calls.

    Same values as :func:`u_over_one_minus_exp_neg_u`, :func:`ghk_phi_d1` and
    :func:`ghk_phi_d2` (same formulas and series cut-offs): with ``a = |u|``, ``t = e^{-a}``,
    ``m = 1 - t``: ``Φ(a) = a/m``, ``Φ(-a) = a t/m``, ``Φ'(a) = (m - a t)/m^2``,
    ``Φ'(-a) = t (a - m)/m^2``, ``Φ''(±a) = ±t (2a - 2m - a m)/m^3 + (terms)``.
    """
    u = np.asarray(u, dtype=float)
    a = np.abs(u)
    small = a < _SERIES_CUTOFF
    a_s = np.where(small, 1.0, a)
    t = np.exp(-a_s)
    m = -np.expm1(-a_s)
    pos = u >= 0
    phi_a, phi_ma = a_s / m, a_s * t / m
    u2 = u * u
    ser = 1.0 + u / 2.0 + u2 / 12.0 - u2 * u2 / 720.0
    ser_m = 1.0 - u / 2.0 + u2 / 12.0 - u2 * u2 / 720.0
    out = [np.where(small, ser, np.where(pos, phi_a, phi_ma)),
           np.where(small, ser_m, np.where(pos, phi_ma, phi_a))]
    if order >= 1:
        # below the (larger) series cut-off of Φ' the series is used, so t and m from
        # a_s serve wherever the closed form is taken
        small1 = a < _SERIES_CUTOFF_D1
        m2 = m * m
        d_a, d_ma = (m - a_s * t) / m2, t * (a_s - m) / m2
        u5 = u2 * u2 * u
        dser = 0.5 + u / 6.0 - u2 * u / 180.0 + u5 / 5040.0
        dser_m = 0.5 - u / 6.0 + u2 * u / 180.0 - u5 / 5040.0
        out += [np.where(small1, dser, np.where(pos, d_a, d_ma)),
                np.where(small1, dser_m, np.where(pos, d_ma, d_a))]
    if order >= 2:
        out += [ghk_phi_d2(u), ghk_phi_d2(-u)]
    return tuple(out)


def ghk_flux_term_mM(
    v_mV: ArrayLike,
    c_in_mM: ArrayLike,
    c_out_mM: ArrayLike,
    z: ArrayLike = 1,
    temperature_K: ArrayLike = T_DEFAULT_K,
) -> ArrayLike:
    """Dimensionless-voltage GHK flux term ``(c_in - c_out e^{-w}) w/(1 - e^{-w})``, mM.

    With ``w = z V F/RT`` this equals ``c_in Φ(w) - c_out Φ(-w)``; at ``V = 0`` it is
    ``c_in - c_out`` (pure diffusion). Positive means net outward movement.
    """
    w = z * v_mV / rt_over_f_mV(temperature_K)
    return c_in_mM * u_over_one_minus_exp_neg_u(w) - c_out_mM * u_over_one_minus_exp_neg_u(-w)


def ghk_current_pA(
    v_mV: ArrayLike,
    c_in_mM: ArrayLike,
    c_out_mM: ArrayLike,
    permeability_cm_s: ArrayLike,
    area_um2: ArrayLike,
    z: ArrayLike = 1,
    temperature_K: ArrayLike = T_DEFAULT_K,
) -> ArrayLike:
    """GHK current equation, pA (positive outward), numerically exact through V = 0.

    ``I = z F P A (c_in Φ(w) - c_out Φ(-w))`` with ``w = zFV/RT``.

    Parameters
    ----------
    v_mV : array_like
        Membrane potential, mV.
    c_in_mM, c_out_mM : array_like
        Intracellular and extracellular concentrations, mM (> 0).
    permeability_cm_s : array_like
        Membrane permeability, cm/s (>= 0).
    area_um2 : array_like
        Membrane area, µm^2 (> 0).
    z : int
        Valence.
    temperature_K : array_like
        Temperature, K.

    Returns
    -------
    I_pA : array_like
        Current carried by the ion, pA, positive outward.
    """
    v_mV = check("v_mV", v_mV)
    c_in_mM = check("c_in_mM", c_in_mM)
    c_out_mM = check("c_out_mM", c_out_mM)
    permeability_cm_s = check("permeability_cm_s", permeability_cm_s)
    area_um2 = check("area_um2", area_um2)
    z = check("z", z)
    temperature_K = check("temperature_K", temperature_K)
    check_broadcast(v_mV=v_mV, c_in_mM=c_in_mM, c_out_mM=c_out_mM,
                    permeability_cm_s=permeability_cm_s, area_um2=area_um2, z=z,
                    temperature_K=temperature_K)
    return ghk_current_kernel_pA(v_mV, c_in_mM, c_out_mM, permeability_cm_s, area_um2, z,
                                 temperature_K)


def ghk_current_kernel_pA(v_mV, c_in_mM, c_out_mM, permeability_cm_s, area_um2, z=1,
                          temperature_K=T_DEFAULT_K):
    """:func:`ghk_current_pA` without input checks (for solvers on validated inputs)."""
    # P[cm/s]*1e-2 -> m/s; A[µm²]*1e-12 -> m²; c[mM] = mol/m³; A -> pA: *1e12.
    flux = ghk_flux_term_mM(v_mV, c_in_mM, c_out_mM, z, temperature_K)
    return z * F_C_PER_MOL * permeability_cm_s * area_um2 * 1e-2 * flux


def ohmic_current_pA(v_mV: ArrayLike, e_rev_mV: ArrayLike, g_nS: ArrayLike) -> ArrayLike:
    """Ohmic leak current ``g (V - E)``, pA (nS × mV = pA), positive outward.

    Parameters
    ----------
    v_mV : array_like
        Membrane potential, mV.
    e_rev_mV : array_like
        Reversal potential, mV.
    g_nS : array_like
        Conductance, nS (>= 0).

    Returns
    -------
    I_pA : array_like
        Current, pA, positive outward.
    """
    v_mV = check("v_mV", v_mV)
    e_rev_mV = check("e_rev_mV", e_rev_mV)
    g_nS = check("g_nS", g_nS)
    check_broadcast(v_mV=v_mV, e_rev_mV=e_rev_mV, g_nS=g_nS)
    return ohmic_current_kernel_pA(v_mV, e_rev_mV, g_nS)


def ohmic_current_kernel_pA(v_mV, e_rev_mV, g_nS):
    """:func:`ohmic_current_pA` without input checks (for solvers on validated inputs)."""
    return g_nS * (v_mV - e_rev_mV)


def ghk_voltage_mV(
    k_o_mM: ArrayLike,
    k_i_mM: ArrayLike,
    na_o_mM: ArrayLike,
    na_i_mM: ArrayLike,
    cl_o_mM: ArrayLike | None = None,
    cl_i_mM: ArrayLike | None = None,
    *,
    p_k: ArrayLike = 1.0,
    p_na: ArrayLike = 0.05,
    p_cl: ArrayLike = 0.0,
    temperature_K: ArrayLike = T_DEFAULT_K,
) -> ArrayLike:
    """Goldman–Hodgkin–Katz voltage equation for K+, Na+ and Cl-, mV.

    ``V = (RT/F) ln((P_K K_o + P_Na Na_o + P_Cl Cl_i)/(P_K K_i + P_Na Na_i + P_Cl Cl_o))``.

    Permeabilities may be absolute (cm/s) or relative (dimensionless); only their
    ratios matter. Cl- terms are dropped when ``p_cl`` is 0 or the Cl-
    concentrations are not given.
    """
    k_o_mM = check("k_o_mM", k_o_mM)
    k_i_mM = check("k_i_mM", k_i_mM)
    na_o_mM = check("na_o_mM", na_o_mM)
    na_i_mM = check("na_i_mM", na_i_mM)
    p_k = check("p_k", p_k, quantity="p_rel")
    p_na = check("p_na", p_na, quantity="p_rel")
    p_cl = check("p_cl", p_cl, quantity="p_rel")
    temperature_K = check("temperature_K", temperature_K)
    with_cl = cl_o_mM is not None and cl_i_mM is not None
    if with_cl:
        cl_o_mM = check("cl_o_mM", cl_o_mM)
        cl_i_mM = check("cl_i_mM", cl_i_mM)
    check_broadcast(k_o_mM=k_o_mM, k_i_mM=k_i_mM, na_o_mM=na_o_mM, na_i_mM=na_i_mM,
                    cl_o_mM=cl_o_mM if with_cl else None, cl_i_mM=cl_i_mM if with_cl else None,
                    p_k=p_k, p_na=p_na, p_cl=p_cl, temperature_K=temperature_K)
    xp = namespace(k_o_mM, k_i_mM, na_o_mM, na_i_mM, p_k, p_na, p_cl, cl_o_mM, cl_i_mM,
                   temperature_K)
    num = p_k * k_o_mM + p_na * na_o_mM
    den = p_k * k_i_mM + p_na * na_i_mM
    if with_cl:
        num = num + p_cl * cl_i_mM
        den = den + p_cl * cl_o_mM
    if not xp.symbolic and not np.all(np.asarray(den) > 0):
        raise ModelInputError("p_k, p_na (and p_cl) are all 0 at some index; the GHK voltage "
                              "needs at least one permeant ion (permeabilities >= 0, in cm/s "
                              "or relative)")
    return rt_over_f_mV(temperature_K) * xp.log(num / den)


def electrochemical_dg_kJ_mol(
    c_in_mM: ArrayLike,
    c_out_mM: ArrayLike,
    z: ArrayLike,
    v_mV: ArrayLike,
    temperature_K: ArrayLike = T_DEFAULT_K,
) -> ArrayLike:
    """Free energy of moving 1 mol of ion *inward*, ``ΔG = RT ln(c_in/c_out) + zFV``, kJ/mol.

    Negative values mean inward movement releases energy (e.g. Na+ entry at rest).
    Moving the ion outward costs ``-ΔG``.
    """
    c_in_mM = check("c_in_mM", c_in_mM)
    c_out_mM = check("c_out_mM", c_out_mM)
    z = check("z", z)
    v_mV = check("v_mV", v_mV)
    temperature_K = check("temperature_K", temperature_K)
    check_broadcast(c_in_mM=c_in_mM, c_out_mM=c_out_mM, z=z, v_mV=v_mV,
                    temperature_K=temperature_K)
    return dg_in_kernel_kJ_mol(c_in_mM, c_out_mM, z, v_mV, temperature_K)


def dg_in_kernel_kJ_mol(c_in, c_out, z, v_mV, temperature_K=T_DEFAULT_K):
    """:func:`electrochemical_dg_kJ_mol` without input checks (``c_in/c_out`` may be
    any positive ratio)."""
    xp = namespace(c_in, c_out, z, v_mV, temperature_K)
    rt = R_J_PER_MOL_K * temperature_K
    return (rt * xp.log(c_in / c_out) + z * F_C_PER_MOL * v_mV * 1e-3) * 1e-3


def pump_cycle_dg_kJ_mol(
    na_i_mM: ArrayLike,
    na_o_mM: ArrayLike,
    k_i_mM: ArrayLike,
    k_o_mM: ArrayLike,
    v_mV: ArrayLike,
    temperature_K: ArrayLike = T_DEFAULT_K,
) -> ArrayLike:
    """Minimum free energy per mol of Na+/K+ pump cycles, kJ/mol.

    ``3 ΔG(Na+ out) + 2 ΔG(K+ in) = -3 ΔG_in(Na+) + 2 ΔG_in(K+)``. Compare with the
    free energy of ATP hydrolysis in cells, about 50–60 kJ/mol.
    """
    na_i_mM, na_o_mM = check("na_i_mM", na_i_mM), check("na_o_mM", na_o_mM)
    k_i_mM, k_o_mM = check("k_i_mM", k_i_mM), check("k_o_mM", k_o_mM)
    v_mV = check("v_mV", v_mV)
    temperature_K = check("temperature_K", temperature_K)
    check_broadcast(na_i_mM=na_i_mM, na_o_mM=na_o_mM, k_i_mM=k_i_mM, k_o_mM=k_o_mM,
                    v_mV=v_mV, temperature_K=temperature_K)
    dg_na_in = dg_in_kernel_kJ_mol(na_i_mM, na_o_mM, 1, v_mV, temperature_K)
    dg_k_in = dg_in_kernel_kJ_mol(k_i_mM, k_o_mM, 1, v_mV, temperature_K)
    return -3.0 * dg_na_in + 2.0 * dg_k_in


def mullins_noda_ohmic_mV(
    g_na_nS: ArrayLike,
    g_k_nS: ArrayLike,
    e_na_mV: ArrayLike,
    e_k_mV: ArrayLike,
    r: ArrayLike = PUMP_COUPLING_RATIO,
) -> ArrayLike:
    """Mullins–Noda steady potential with ohmic leaks, mV.

    With Na+ and K+ each in flux balance against a pump that moves ``r`` Na+ per K+
    (r = 3/2): ``V = (g_Na E_Na + r g_K E_K)/(g_Na + r g_K)``, i.e.
    ``(2 g_Na E_Na + 3 g_K E_K)/(2 g_Na + 3 g_K)`` for the 3:2 pump.
    """
    g_na_nS = check("g_na_nS", g_na_nS)
    g_k_nS = check("g_k_nS", g_k_nS)
    e_na_mV = check("e_na_mV", e_na_mV)
    e_k_mV = check("e_k_mV", e_k_mV)
    r = check("r", r, quantity="coupling_ratio")
    check_broadcast(g_na_nS=g_na_nS, g_k_nS=g_k_nS, e_na_mV=e_na_mV, e_k_mV=e_k_mV, r=r)
    total = g_na_nS + r * g_k_nS
    if not is_symbolic(total) and not np.all(total > 0):
        g_na, g_k = np.broadcast_arrays(g_na_nS, g_k_nS)
        i = np.argwhere(~(np.broadcast_to(total, g_na.shape) > 0))[0] if g_na.ndim else ()
        where = f" at index {tuple(int(j) for j in i)}" if g_na.ndim else ""
        raise ModelInputError(
            "g_na_nS and g_k_nS are both 0 (nS); the Mullins-Noda potential needs a leak "
            f"(got g_na_nS = {float(g_na[tuple(i)])!r}, g_k_nS = {float(g_k[tuple(i)])!r}"
            f"{where})")
    return (g_na_nS * e_na_mV + r * g_k_nS * e_k_mV) / total


def mullins_noda_ghk_mV(
    p_k: ArrayLike,
    p_na: ArrayLike,
    k_o_mM: ArrayLike,
    k_i_mM: ArrayLike,
    na_o_mM: ArrayLike,
    na_i_mM: ArrayLike,
    r: ArrayLike = PUMP_COUPLING_RATIO,
    temperature_K: ArrayLike = T_DEFAULT_K,
) -> ArrayLike:
    """Mullins–Noda steady potential with GHK leaks, mV.

    ``V = (RT/F) ln((r P_K K_o + P_Na Na_o)/(r P_K K_i + P_Na Na_i))`` with r = 3/2.
    Permeabilities may be absolute (cm/s) or relative.
    """
    p_k = check("p_k", p_k, quantity="p_rel")
    r = check("r", r, quantity="coupling_ratio")
    check_broadcast(p_k=p_k, r=r)
    return ghk_voltage_mV(
        k_o_mM,
        k_i_mM,
        na_o_mM,
        na_i_mM,
        p_k=r * p_k,
        p_na=p_na,
        temperature_K=temperature_K,
    )
