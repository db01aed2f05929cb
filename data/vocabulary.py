"""The canonical vocabulary of datasets: quantities, roles, units and plausible ranges.

Every dataset column is mapped onto one *canonical quantity* whose name carries its
unit (``v_rest_mV``, ``k_o_mM`` ...). These are the same names that configs,
InferenceData variables and reports use. This module is pure data plus two small
helpers; it imports nothing from pandas or the file system.

Quantities
----------
Observables (what was measured)
    ``v_rest_mV`` (mV), ``r_in_MOhm`` (MΩ), ``na_i_mM`` (mM), ``k_i_mM`` (mM),
    ``pump_current_pA`` (pA; ouabain-sensitive pump current, outward positive),
    ``o2_per_s`` (O2 molecules/s per cell), ``atp_per_s`` (ATP molecules/s per cell),
    ``k_na_mM`` (mM; apparent half-activation of the pump by intracellular Na+, for
    literature summaries), ``cl_i_mM`` (mM; intracellular Cl-), ``e_cl_mV`` (mV; Cl-
    Nernst potential), ``e_gaba_mV`` (mV; GABA-A reversal potential), ``ca_i_nM`` (nM;
    intracellular free Ca2+), ``ncx_current_pA`` (pA; Na+/Ca2+ exchanger current,
    outward positive).
Conditions (what was set)
    ``k_o_mM``, ``na_o_mM``, ``cl_o_mM`` (mM), ``temperature_K`` (K),
    ``activity_load_pA`` (pA, Na+ load from activity, >= 0), ``glucose_o_mM`` (mM;
    extracellular glucose, the SGLT1 substrate, >= 0: 0 for a glucose-free bath),
    ``bumetanide_uM`` (µM; NKCC1 block, >= 0), ``fxyd_state`` (categorical),
    ``time_s`` (s, reserved for time courses).
Identifiers
    ``cell`` (cell/preparation id), ``recording`` (recording id).
"""

from __future__ import annotations

from dataclasses import dataclass

from iongrad.models import quantities as _registry
from iongrad.models.constants import N_A_PER_MOL

__all__ = [
    "CANONICAL_UNITS",
    "CONDITIONS",
    "FXYD_STATES",
    "ID_QUANTITIES",
    "OBSERVABLES",
    "QUANTITIES",
    "ROLES",
    "UNCERTAINTY_KINDS",
    "UNITS",
    "Quantity",
    "accepted_units",
    "to_canonical",
]

#: Column roles a sidecar may declare.
ROLES: tuple[str, ...] = ("observable", "condition", "id", "uncertainty", "n", "note")

#: Kinds of a published dispersion. ``"unstated"`` is for a source that prints
#: ``mean ± x`` without saying whether x is an SEM or an SD.
UNCERTAINTY_KINDS: tuple[str, ...] = ("sem", "sd", "unstated")

#: Accepted values of the categorical condition ``fxyd_state``. ``"absent"`` is a
#: preparation without the FXYD subunit (e.g. a knockout).
FXYD_STATES: tuple[str, ...] = ("unphosphorylated", "phosphorylated", "absent")

#: Multiplicative factors to the canonical unit of each dimension (canonical unit first).
#: Temperature is affine and handled separately.
UNITS: dict[str, dict[str, float]] = {
    "potential": {"mV": 1.0, "V": 1e3, "uV": 1e-3, "µV": 1e-3, "μV": 1e-3},
    "concentration": {
        "mM": 1.0, "M": 1e3, "uM": 1e-3, "µM": 1e-3, "μM": 1e-3,
        "mmol/L": 1.0, "mol/L": 1e3, "umol/L": 1e-3, "µmol/L": 1e-3,
    },
    "concentration_nM": {
        "nM": 1.0, "uM": 1e3, "µM": 1e3, "μM": 1e3, "mM": 1e6, "pM": 1e-3,
        "nmol/L": 1.0, "umol/L": 1e3, "µmol/L": 1e3,
    },
    "concentration_uM": {
        "µM": 1.0, "uM": 1.0, "μM": 1.0, "nM": 1e-3, "mM": 1e3, "umol/L": 1.0,
        "µmol/L": 1.0,
    },
    "current": {"pA": 1.0, "A": 1e12, "nA": 1e3, "fA": 1e-3},
    "resistance": {
        "MOhm": 1.0, "MΩ": 1.0, "Ohm": 1e-6, "Ω": 1e-6, "kOhm": 1e-3, "kΩ": 1e-3,
        "GOhm": 1e3, "GΩ": 1e3,
    },
    "temperature": {"K": 1.0, "degC": 1.0, "°C": 1.0},
    "molecular_rate": {
        "molecules/s": 1.0, "1/s": 1.0, "amol/s": 1e-18 * N_A_PER_MOL,
        "fmol/s": 1e-15 * N_A_PER_MOL, "pmol/s": 1e-12 * N_A_PER_MOL,
        # the registry's canonical units of atp_per_s and o2_per_s
        "ATP/s": 1.0, "O2/s": 1.0,
    },
    "time": {"s": 1.0, "ms": 1e-3, "min": 60.0, "h": 3600.0},
    "categorical": {"": 1.0},
    "count": {"": 1.0},
}

#: Units whose conversion to canonical adds an offset (canonical = value + offset).
_OFFSETS: dict[str, float] = {"degC": 273.15, "°C": 273.15}


@dataclass(frozen=True)
class Quantity:
    """One canonical quantity of a dataset (a view of its registry entry).

    Attributes
    ----------
    name : str
        Canonical name, unit in the name (``"v_rest_mV"``).
    role : str
        ``"observable"``, ``"condition"`` or ``"id"``.
    dimension : str
        Key of :data:`UNITS`.
    unit : str
        Canonical unit (values in the loaded frame are in this unit).
    low, high : float
        Plausible range in the canonical unit (the registry domain).
    low_inclusive : bool
        Whether ``low`` itself is allowed (``False`` for quantities that must be > 0).
    description : str
        Human-readable meaning, used in error messages and docs.
    high_inclusive : bool
        Whether ``high`` itself is allowed.
    """

    name: str
    role: str
    dimension: str
    unit: str
    low: float = float("-inf")
    high: float = float("inf")
    low_inclusive: bool = False
    description: str = ""
    high_inclusive: bool = False

    def range_text(self) -> str:
        """The allowed range as text, e.g. ``"> 0 and < 2000 mM"``."""
        parts = []
        if self.low > float("-inf"):
            parts.append((">= " if self.low_inclusive else "> ") + f"{self.low:g}")
        if self.high < float("inf"):
            parts.append(("<= " if self.high_inclusive else "< ") + f"{self.high:g}")
        return f"{' and '.join(parts) or 'any value'} {self.unit}".strip()


def _from_registry(name: str, role: str) -> Quantity:
    q = _registry.get(name)
    return Quantity(q.name, role, q.dimension, q.unit, q.low, q.high, q.low_inclusive,
                    q.description, q.high_inclusive)


#: Observables a dataset may hold, in this order; units and ranges from the registry.
_OBSERVABLE_NAMES = ("v_rest_mV", "r_in_MOhm", "na_i_mM", "k_i_mM", "pump_current_pA",
                     "o2_per_s", "atp_per_s", "k_na_mM", "cl_i_mM", "e_cl_mV", "e_gaba_mV",
                     "ca_i_nM", "ncx_current_pA")
#: Numeric conditions a dataset may hold; units and ranges from the registry.
_CONDITION_NAMES = ("k_o_mM", "na_o_mM", "cl_o_mM", "temperature_K", "activity_load_pA",
                    "glucose_o_mM", "bumetanide_uM", "time_s")

OBSERVABLES: dict[str, Quantity] = {n: _from_registry(n, "observable")
                                    for n in _OBSERVABLE_NAMES}

CONDITIONS: dict[str, Quantity] = {
    **{n: _from_registry(n, "condition") for n in _CONDITION_NAMES[:-1]},
    # categorical: not a numeric quantity, so not in the registry
    "fxyd_state": Quantity("fxyd_state", "condition", "categorical", "",
                           description="FXYD subunit state: " + ", ".join(FXYD_STATES)),
    "time_s": _from_registry("time_s", "condition"),
}

ID_QUANTITIES: tuple[str, ...] = ("cell", "recording")

#: All canonical quantities by name.
QUANTITIES: dict[str, Quantity] = {**OBSERVABLES, **CONDITIONS}

#: Canonical units, by canonical name (for messages and docs).
CANONICAL_UNITS: dict[str, str] = {k: q.unit for k, q in QUANTITIES.items()}


def accepted_units(quantity: str) -> tuple[str, ...]:
    """Unit strings accepted for ``quantity`` (canonical unit first).

    Parameters
    ----------
    quantity : str
        Canonical quantity name.

    Returns
    -------
    tuple of str
    """
    return tuple(UNITS[QUANTITIES[quantity].dimension])


def to_canonical(values, quantity: str, unit: str, *, dispersion: bool = False):
    """Convert numeric values from ``unit`` to the canonical unit of ``quantity``.

    Parameters
    ----------
    values : array_like
        Values in ``unit``.
    quantity : str
        Canonical quantity name.
    unit : str
        A unit from :func:`accepted_units`.
    dispersion : bool
        True for an SEM/SD: only the scale factor applies, never an offset
        (a 1 °C spread is a 1 K spread).

    Returns
    -------
    array_like
        Values in the canonical unit.
    """
    factor = UNITS[QUANTITIES[quantity].dimension][unit]
    offset = 0.0 if dispersion else _OFFSETS.get(unit, 0.0)
    return values * factor + offset
