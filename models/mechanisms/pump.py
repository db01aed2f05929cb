"""The Na+/K+-ATPase: 3 Na+ out, 2 K+ in, one net charge out and one ATP per cycle.

Cycle rate of the pumps of a cell (cycles/s)::

    N A turnover_max f(Na_i) g(K_o) h(ATP)
    f = 1/(1 + (K_Na/Na_i)^n),  g = 1/(1 + (K_K/K_o)^m),  h = ATP/(ATP + K_ATP)

with N the density (sites/µm²) and A the area (µm²). Defaults and sources:
:mod:`iongrad.models.pump`.
"""

from __future__ import annotations

import sympy as sp

from iongrad.models.constants import PUMP_K_PER_CYCLE, PUMP_NA_PER_CYCLE
from iongrad.models.mechanisms.base import Mechanism, bath, conc, pa_per_ion_per_s, param

__all__ = ["hill", "na_k_pump", "pump_current", "pump_cycle_rate"]


def hill(c: sp.Expr, k_half: sp.Expr, n: sp.Expr) -> sp.Expr:
    """Hill activation ``1/(1 + (K/c)^n)``."""
    return 1 / (1 + (k_half / c) ** n)


def pump_cycle_rate(na_i=None, k_o=None, atp=None, *, turnover_max=None) -> sp.Expr:
    """Cycles per second per pump site, as an expression (defaults: the cell's symbols)."""
    na_i = conc("na") if na_i is None else na_i
    k_o = bath("k") if k_o is None else k_o
    atp = param("atp_mM") if atp is None else atp
    turnover_max = param("turnover_max_per_s") if turnover_max is None else turnover_max
    return (turnover_max * hill(na_i, param("k_na_mM"), param("hill_na"))
            * hill(k_o, param("k_k_mM"), param("hill_k"))
            * atp / (atp + param("k_atp_mM")))


def pump_current(density, area, cycle_rate) -> sp.Expr:
    """Electrogenic pump current, pA: one net charge out per cycle, ``N A rate e``."""
    return pa_per_ion_per_s * density * area * cycle_rate


def na_k_pump() -> Mechanism:
    """The Na+/K+ pump of the cell as a mechanism (fluxes in pA-equivalents)."""
    cycles = param("pump_density_per_um2") * param("area_um2") * pump_cycle_rate()
    i_p = pump_current(param("pump_density_per_um2"), param("area_um2"), pump_cycle_rate())
    return Mechanism(
        name="na_k_pump",
        fluxes={"na": PUMP_NA_PER_CYCLE * i_p, "k": -PUMP_K_PER_CYCLE * i_p},
        atp_per_s=cycles,
        flux_scales={"na": PUMP_NA_PER_CYCLE * i_p, "k": PUMP_K_PER_CYCLE * i_p},
        current_scale=i_p,
        guess={"na": sp.Min(param("k_na_mM"), bath("na") / 2)},
        blocked_by=("ouabain",),
        description="Na+/K+-ATPase (3 Na+ out, 2 K+ in, 1 ATP per cycle)")
