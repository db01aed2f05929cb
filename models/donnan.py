"""Gibbs–Donnan equilibrium with an impermeant intracellular anion.

For permeant K+ and Cl- (and optionally Na+) at equilibrium with impermeant
intracellular anions of concentration ``a_mM`` and mean valence ``-z_a``::

    K_i / K_o = Na_i / Na_o = Cl_o / Cl_i = ρ    (product rule K_i Cl_i = K_o Cl_o)
    ρ (K_o + Na_o) = Cl_o / ρ + z_a a              (intracellular electroneutrality)

so ``ρ = (z_a a + sqrt((z_a a)^2 + 4 C Cl_o)) / (2 C)`` with ``C = K_o + Na_o``; the
Donnan potential is ``V = -(RT/F) ln ρ``.
"""

from __future__ import annotations

from numpy.typing import ArrayLike

from iongrad.models._backend import check, check_broadcast, namespace
from iongrad.models.constants import T_DEFAULT_K, rt_over_f_mV

__all__ = ["donnan_equilibrium"]


def donnan_equilibrium(
    a_mM: ArrayLike,
    cl_o_mM: ArrayLike,
    k_o_mM: ArrayLike,
    na_o_mM: ArrayLike = 0.0,
    z_a: ArrayLike = 1.0,
    temperature_K: ArrayLike = T_DEFAULT_K,
) -> dict[str, ArrayLike]:
    """Gibbs–Donnan equilibrium concentrations and potential.

    Parameters
    ----------
    a_mM : array_like
        Impermeant intracellular anion concentration, mM (>= 0).
    cl_o_mM, k_o_mM : array_like
        Extracellular Cl- and K+, mM (> 0). Extracellular electroneutrality is
        the caller's business (e.g. K_o = Cl_o for a pure KCl bath).
    na_o_mM : array_like
        Extracellular permeant Na+, mM (>= 0; 0 for a K+-only system).
    z_a : array_like
        Magnitude of the mean valence of the impermeant anion (> 0).
    temperature_K : array_like
        Temperature, K.

    Returns
    -------
    dict
        ``k_i_mM``, ``na_i_mM``, ``cl_i_mM``, ``ratio`` (ρ) and ``v_donnan_mV``.
    """
    a_mM = check("a_mM", a_mM)
    cl_o_mM = check("cl_o_mM", cl_o_mM)
    k_o_mM = check("k_o_mM", k_o_mM)
    na_o_mM = check("na_o_mM", na_o_mM, quantity="na_o_permeant_mM")
    z_a = check("z_a", z_a)
    temperature_K = check("temperature_K", temperature_K)
    check_broadcast(a_mM=a_mM, cl_o_mM=cl_o_mM, k_o_mM=k_o_mM, na_o_mM=na_o_mM, z_a=z_a,
                    temperature_K=temperature_K)
    xp = namespace(a_mM, cl_o_mM, k_o_mM, na_o_mM, z_a, temperature_K)
    cat = k_o_mM + na_o_mM
    za = z_a * a_mM
    rho = (za + xp.sqrt(za * za + 4.0 * cat * cl_o_mM)) / (2.0 * cat)
    return {
        "k_i_mM": rho * k_o_mM,
        "na_i_mM": rho * na_o_mM,
        "cl_i_mM": cl_o_mM / rho,
        "ratio": rho,
        "v_donnan_mV": -rt_over_f_mV(temperature_K) * xp.log(rho),
    }
