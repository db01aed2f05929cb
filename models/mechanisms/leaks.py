"""Passive leaks: ohmic conductances and GHK permeabilities, for any ion."""

from __future__ import annotations

import sympy as sp

from iongrad.models.constants import F_C_PER_MOL
from iongrad.models.mechanisms.base import (
    ION,
    Mechanism,
    bath,
    conc,
    ghk_phi,
    param,
    thermal_voltage,
    voltage,
)

__all__ = ["ghk_leak", "nernst", "ohmic_leak"]


def nernst(ion: str) -> sp.Expr:
    """Nernst potential of ``ion``, mV: ``(RT/zF) ln(c_o/c_i)``."""
    return thermal_voltage() / ION[ion].z * sp.log(bath(ion) / conc(ion))


def ohmic_leak(ion: str, conductance: str | None = None) -> Mechanism:
    """Ohmic leak ``I = g (V - E_X)`` (pA, nS × mV), flux ``I/z``.

    ``conductance`` names the registry parameter (default ``g_<ion>_nS``). Its gross
    magnitude is ``g (|V| + |E| + RT/F)``, so that a balance at equilibrium is judged
    against the fluxes it balances.
    """
    z = ION[ion].z
    g = param(conductance or f"g_{ion}_nS")
    v, e, vt = voltage(), nernst(ion), thermal_voltage()
    current = g * (v - e)
    return Mechanism(
        name=f"{ion}_leak", fluxes={ion: current / z},
        flux_scales={ion: g * (sp.Abs(v) + sp.Abs(e) + vt) / abs(z)},
        current_scale=g * (sp.Abs(v) + sp.Abs(e) + vt),
        description=f"ohmic {ion} leak, {g.name}")


def ghk_leak(ion: str, permeability: str | None = None) -> Mechanism:
    """GHK leak ``I = z F P A (c_i Φ(w) - c_o Φ(-w))``, ``w = zV/(RT/F)``, pA.

    ``permeability`` names the registry parameter (default ``p_<ion>_cm_s``, cm/s);
    the membrane area is ``area_um2``. (P[cm/s] 1e-2 → m/s, A[µm²] 1e-12 → m²,
    c[mM] = mol/m³, A → pA ×1e12.) Its gross magnitude is the sum of the two
    unidirectional fluxes.
    """
    z = ION[ion].z
    p = param(permeability or f"p_{ion}_cm_s")
    w = z * voltage() / thermal_voltage()
    a = sp.Float(F_C_PER_MOL * 1e-2) * p * param("area_um2")
    ci, co = conc(ion), bath(ion)
    current = z * a * (ci * ghk_phi(w) - co * ghk_phi(-w))
    gross = a * (ci * ghk_phi(w) + co * ghk_phi(-w))
    return Mechanism(
        name=f"{ion}_leak", fluxes={ion: current / z},
        flux_scales={ion: gross}, current_scale=abs(z) * gross,
        description=f"GHK {ion} leak, {p.name}")
