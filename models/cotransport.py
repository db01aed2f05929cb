"""Secondary active transport driven by the Na+ gradient.

For a symporter moving ``n`` Na+ with one substrate S (charge ``z_s``) inward::

    ΔG_net = ΔG_S + n ΔG_Na,   ΔG_X = RT ln(X_i/X_o) + z_X F V

Transport proceeds inward while ΔG_net < 0; at ΔG_net = 0 the substrate reaches
its maximum accumulation ratio ``S_i/S_o = exp(-(n ΔG_Na + z_s F V)/RT)``.
Examples: SGLT1 (2 Na+ + glucose, z_s = 0), GAT1 (2 Na+ + GABA, z_s = 0 for the
zwitterion; the Cl- GAT1 also carries is ignored here as in the source chapter).
"""

from __future__ import annotations

from numpy.typing import ArrayLike

from iongrad.models._backend import check, check_broadcast, namespace
from iongrad.models.constants import F_C_PER_MOL, R_J_PER_MOL_K, T_DEFAULT_K
from iongrad.models.thermo import dg_in_kernel_kJ_mol

__all__ = ["cotransport_dg_kJ_mol", "max_accumulation_ratio"]


def cotransport_dg_kJ_mol(
    s_ratio_in_out: ArrayLike,
    na_i_mM: ArrayLike,
    na_o_mM: ArrayLike,
    v_mV: ArrayLike,
    n_na: ArrayLike = 2,
    z_s: ArrayLike = 0,
    temperature_K: ArrayLike = T_DEFAULT_K,
) -> ArrayLike:
    """Net free energy per transport cycle (1 S + n Na+ inward), kJ/mol.

    Parameters
    ----------
    s_ratio_in_out : array_like
        Substrate concentration ratio S_i/S_o (> 0).
    na_i_mM, na_o_mM : array_like
        Na+ concentrations, mM.
    v_mV : array_like
        Membrane potential, mV.
    n_na : array_like
        Na+ ions per substrate.
    z_s : array_like
        Substrate charge.
    """
    s_ratio_in_out = check("s_ratio_in_out", s_ratio_in_out)
    a = _checked(na_i_mM, na_o_mM, v_mV, n_na, z_s, temperature_K, s_ratio_in_out=s_ratio_in_out)
    # the substrate term is the electrochemical ΔG of S with c_in/c_out = the ratio
    dg_s = dg_in_kernel_kJ_mol(s_ratio_in_out, 1.0, a["z_s"], a["v_mV"], a["temperature_K"])
    return dg_s + a["n_na"] * dg_in_kernel_kJ_mol(a["na_i_mM"], a["na_o_mM"], 1, a["v_mV"],
                                                  a["temperature_K"])


def _checked(na_i_mM, na_o_mM, v_mV, n_na, z_s, temperature_K, **extra):
    a = {"na_i_mM": check("na_i_mM", na_i_mM), "na_o_mM": check("na_o_mM", na_o_mM),
         "v_mV": check("v_mV", v_mV), "n_na": check("n_na", n_na), "z_s": check("z_s", z_s),
         "temperature_K": check("temperature_K", temperature_K)}
    check_broadcast(**extra, **a)
    return a


def max_accumulation_ratio(
    na_i_mM: ArrayLike,
    na_o_mM: ArrayLike,
    v_mV: ArrayLike,
    n_na: ArrayLike = 2,
    z_s: ArrayLike = 0,
    temperature_K: ArrayLike = T_DEFAULT_K,
) -> ArrayLike:
    """Largest S_i/S_o a symporter can sustain (ΔG_net = 0), dimensionless.

    Parameters are those of :func:`cotransport_dg_kJ_mol` (without the ratio).
    """
    a = _checked(na_i_mM, na_o_mM, v_mV, n_na, z_s, temperature_K)
    xp = namespace(*a.values())
    t, v = a["temperature_K"], a["v_mV"]
    dg_na = dg_in_kernel_kJ_mol(a["na_i_mM"], a["na_o_mM"], 1, v, t) * 1e3
    dg_charge = a["z_s"] * F_C_PER_MOL * v * 1e-3
    return xp.exp(-(a["n_na"] * dg_na + dg_charge) / (R_J_PER_MOL_K * t))
