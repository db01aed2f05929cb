"""Transport mechanisms, each one rate law written once as a SymPy expression.

Membrane models (:mod:`iongrad.models.membrane`) are compositions of these; every
evaluation and derivative is generated from the expressions
(:mod:`iongrad.models.codegen`).
"""

from iongrad.models.mechanisms.base import (
    ION,
    Ion,
    Mechanism,
    bath,
    conc,
    ghk_phi,
    param,
    thermal_voltage,
    voltage,
)
from iongrad.models.mechanisms.leaks import ghk_leak, nernst, ohmic_leak
from iongrad.models.mechanisms.loads import activity_load
from iongrad.models.mechanisms.pump import hill, na_k_pump, pump_cycle_rate

__all__ = [
    "ION", "Ion", "Mechanism", "activity_load", "bath", "conc", "ghk_leak", "ghk_phi",
    "hill", "na_k_pump", "nernst", "ohmic_leak", "param", "pump_cycle_rate",
    "thermal_voltage", "voltage",
]
