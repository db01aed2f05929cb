"""Electroneutral loads on the ion gradients."""

from __future__ import annotations

from iongrad.models.mechanisms.base import Mechanism, param

__all__ = ["activity_load"]


def activity_load() -> Mechanism:
    """Na+ in and K+ out at ``activity_load_pA`` each (pA-equivalents), no net current.

    The average ion exchange of electrical activity, which the pump must undo.
    """
    load = param("activity_load_pA")
    return Mechanism(name="activity_load", fluxes={"na": -load, "k": load},
                     flux_scales={"na": load, "k": load}, current_scale=0 * load,
                     description="activity load (Na+ in, K+ out, electroneutral)")
