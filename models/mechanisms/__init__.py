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
    delta_mu,
    ghk_phi,
    param,
    thermal_voltage,
    voltage,
)
from iongrad.models.mechanisms.leaks import ghk_leak, nernst, ohmic_leak
from iongrad.models.mechanisms.loads import activity_load
from iongrad.models.mechanisms.pump import hill, na_k_pump, pump_cycle_rate
from iongrad.models.mechanisms.transporters import (
    gaba_a_reversal,
    gaba_reversal,
    gat1,
    kcc2,
    kcc2_kinetic,
    na_coupled_uptake,
    ncx,
    nkcc1,
    nkcc1_kinetic,
    pmca,
    sglt1,
)

__all__ = [
    "ION", "Ion", "Mechanism", "activity_load", "bath", "conc", "delta_mu",
    "gaba_a_reversal", "gaba_reversal", "gat1", "ghk_leak", "ghk_phi", "hill", "kcc2",
    "kcc2_kinetic", "na_coupled_uptake",
    "na_k_pump", "ncx", "nernst", "nkcc1", "nkcc1_kinetic", "ohmic_leak", "param", "pmca",
    "pump_cycle_rate", "sglt1", "thermal_voltage", "voltage",
]
