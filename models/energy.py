"""Energy cost of maintaining the gradients: ATP/s, O2/s, power.

One pump cycle hydrolyses one ATP and exports one net charge, so at steady state
``ATP/s = I_pump / e``. Oxygen use follows from the ATP yield per O2
(``atp_per_o2``, default 5, i.e. P/O ≈ 2.5; textbook oxidative phosphorylation
gives about 5–6).
"""

from __future__ import annotations

from numpy.typing import ArrayLike

from iongrad.models._backend import check, check_broadcast
from iongrad.models.constants import N_A_PER_MOL
from iongrad.models.mechanisms.base import pa_per_ion_per_s
from iongrad.models.quantities import get

__all__ = [
    "ATP_PER_O2_DEFAULT",
    "DG_ATP_KJ_MOL_DEFAULT",
    "atp_per_s",
    "budget_share",
    "o2_per_s",
    "power_W",
]

#: ATP molecules made per O2 molecule consumed (P/O ≈ 2.5).
ATP_PER_O2_DEFAULT: float = get("atp_per_o2").default
#: Free energy of ATP hydrolysis in cells, kJ/mol (typical 50–60).
DG_ATP_KJ_MOL_DEFAULT: float = get("dg_atp_kJ_mol").default


def atp_per_s_kernel(i_pump_pA):
    """ATP/s of a pump current, unchecked (arrays with NaN, PyTensor graphs): one ATP
    per net charge, i.e. per Na+/K+ pump cycle."""
    return i_pump_pA / float(pa_per_ion_per_s)


def o2_per_s_kernel(atp_per_s_, atp_per_o2):
    """O2/s that resupplies ``atp_per_s_``, unchecked (arrays with NaN, PyTensor graphs)."""
    return atp_per_s_ / atp_per_o2


def atp_per_s(i_pump_pA: ArrayLike) -> ArrayLike:
    """ATP molecules hydrolysed per second by pumps carrying ``i_pump_pA`` (pA)."""
    i_pump_pA = check("i_pump_pA", i_pump_pA)
    return atp_per_s_kernel(i_pump_pA)


def o2_per_s(atp_per_s_: ArrayLike, atp_per_o2: ArrayLike = ATP_PER_O2_DEFAULT) -> ArrayLike:
    """O2 molecules consumed per second to resupply ``atp_per_s_`` ATP/s."""
    atp_per_s_ = check("atp_per_s", atp_per_s_, quantity="atp_flux_per_s")
    atp_per_o2 = check("atp_per_o2", atp_per_o2)
    check_broadcast(atp_per_s=atp_per_s_, atp_per_o2=atp_per_o2)
    return o2_per_s_kernel(atp_per_s_, atp_per_o2)


def power_W(atp_per_s_: ArrayLike, dg_atp_kJ_mol: ArrayLike = DG_ATP_KJ_MOL_DEFAULT) -> ArrayLike:
    """Free-energy dissipation (J/s = W) of hydrolysing ``atp_per_s_`` ATP/s."""
    atp_per_s_ = check("atp_per_s", atp_per_s_, quantity="atp_flux_per_s")
    dg_atp_kJ_mol = check("dg_atp_kJ_mol", dg_atp_kJ_mol)
    check_broadcast(atp_per_s=atp_per_s_, dg_atp_kJ_mol=dg_atp_kJ_mol)
    return atp_per_s_ / N_A_PER_MOL * dg_atp_kJ_mol * 1e3


def budget_share(power_W_: ArrayLike, budget_W: ArrayLike) -> ArrayLike:
    """Fraction of an energy budget (W) spent on pumping (dimensionless)."""
    power_W_ = check("power_W", power_W_)
    budget_W = check("budget_W", budget_W)
    check_broadcast(power_W=power_W_, budget_W=budget_W)
    return power_W_ / budget_W
