"""Astrocyte K+ spatial buffering.

Taking up ``n`` mol of K+ into an intracellular volume ``Vol`` raises K_i by
``n/Vol``; with a K+-dominated membrane the potential follows E_K, so it shifts by
``ΔV ≈ ΔE_K = -(RT/F) ln(K_i,after/K_i,before)`` (more negative).
"""

from __future__ import annotations

from numpy.typing import ArrayLike

from iongrad.models._backend import check, check_broadcast, namespace
from iongrad.models.constants import T_DEFAULT_K, rt_over_f_mV

__all__ = ["k_buffering"]


def k_buffering(
    k_uptake_mol: ArrayLike,
    volume_pL: ArrayLike,
    k_i_mM: ArrayLike,
    temperature_K: ArrayLike = T_DEFAULT_K,
) -> dict[str, ArrayLike]:
    """Change of K_i and of E_K after K+ uptake into an astrocyte.

    Parameters
    ----------
    k_uptake_mol : array_like
        K+ taken up, mol (>= 0).
    volume_pL : array_like
        Intracellular volume receiving it, pL (> 0).
    k_i_mM : array_like
        K_i before uptake, mM (> 0).
    temperature_K : array_like
        Temperature, K.

    Returns
    -------
    dict
        ``k_i_after_mM`` and ``delta_v_mV`` (ΔE_K, mV).
    """
    k_uptake_mol = check("k_uptake_mol", k_uptake_mol)
    volume_pL = check("volume_pL", volume_pL)
    k_i_mM = check("k_i_mM", k_i_mM)
    temperature_K = check("temperature_K", temperature_K)
    check_broadcast(k_uptake_mol=k_uptake_mol, volume_pL=volume_pL, k_i_mM=k_i_mM,
                    temperature_K=temperature_K)
    xp = namespace(k_uptake_mol, volume_pL, k_i_mM, temperature_K)
    # mol / (pL * 1e-12 L/pL) = mol/L; * 1e3 -> mM
    after = k_i_mM + k_uptake_mol / (volume_pL * 1e-12) * 1e3
    return {
        "k_i_after_mM": after,
        "delta_v_mV": -rt_over_f_mV(temperature_K) * xp.log(after / k_i_mM),
    }
