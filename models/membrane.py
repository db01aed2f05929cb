"""Membrane models: a cell described as data — ions, transport mechanisms, volume rule.

A :class:`Membrane` is a composition of :class:`~iongrad.models.mechanisms.Mechanism`
objects. From their rate laws it assembles, symbolically and once:

* the flux balance of every ion that a mechanism moves, ``Σ_m J_m,X = 0`` (pA-eq);
* electroneutrality with impermeant intracellular anions (concentration ``A``,
  mean charge ``-z_a``): ``Σ_X z_X c_X - z_a A = 0``. With ``volume="fixed"``,
  ``A = a_i_mM``; with ``volume="osmotic"`` the cell swells or shrinks until its
  osmolarity equals the bath's, ``A = osm_o - Σ_X c_X``, and the volume is
  ``volume_pL × a_i_mM / A`` (``a_i_mM`` is the content at the reference volume);
* the membrane current, the ATP use and the slope conductance ``∂I/∂V`` at fixed
  concentrations (the input conductance), each by symbolic differentiation.

Solvers (:mod:`iongrad.models.steady_core`) and generated code work from these
expressions only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import sympy as sp

from iongrad.models import quantities as _quantities
from iongrad.models.mechanisms import (
    ION,
    Mechanism,
    activity_load,
    conc,
    ghk_leak,
    na_k_pump,
    ohmic_leak,
    param,
    voltage,
)
from iongrad.models.mechanisms.leaks import nernst

__all__ = ["COMPOSITIONS", "Membrane", "composition", "default_bath_osmolarity",
           "pump_leak_cell"]

_VOLUMES = ("fixed", "osmotic")
#: Cell-level quantities every membrane model has (besides its mechanisms' parameters).
_CELL_PARAMETERS = ("area_um2", "volume_pL", "a_i_mM", "z_a", "temperature_K", "atp_per_o2")


def default_bath_osmolarity(na_o, k_o):
    """Bath osmolarity (mOsm) when ``osm_o_mOsm`` is not given (nan):
    ``2 (Na_o + K_o)``, an electroneutral monovalent bath. Works on NumPy arrays,
    PyTensor variables and SymPy symbols alike."""
    return 2.0 * (na_o + k_o)


@dataclass(frozen=True, eq=False)
class Membrane:
    """A membrane model: mechanisms (each ion they move becomes a state variable),
    impermeant anions and a volume rule.

    Parameters
    ----------
    name : str
        Identifier (shown in reports and configs).
    mechanisms : sequence of Mechanism
        Transport processes; names must be unique.
    volume : {"fixed", "osmotic"}
        Fixed volume, or osmotic swelling/shrinking to the bath osmolarity
        ``osm_o_mOsm`` (default nan: ``2 (Na_o + K_o)``, an electroneutral
        monovalent bath).
    description : str
        One line.
    """

    name: str
    mechanisms: tuple[Mechanism, ...]
    volume: str = "fixed"
    description: str = ""

    def __post_init__(self):
        object.__setattr__(self, "mechanisms", tuple(self.mechanisms))
        if self.volume not in _VOLUMES:
            raise ValueError(f"volume must be 'fixed' or 'osmotic'; got {self.volume!r}")
        names = [m.name for m in self.mechanisms]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"mechanism name(s) {dup} appear more than once in membrane "
                             f"{self.name!r}")
        if not self.mechanisms:
            raise ValueError(f"membrane {self.name!r} has no mechanisms")

    # ---- structure -----------------------------------------------------------------
    @cached_property
    def ions(self) -> tuple[str, ...]:
        """Ions with at least one mechanism (the state), in the order of :data:`ION`."""
        moved = {x for m in self.mechanisms for x in m.fluxes}
        return tuple(x for x in ION if x in moved)

    @cached_property
    def parameters(self) -> tuple[str, ...]:
        """Every input of the model (registry names), in registry order."""
        used = {p for m in self.mechanisms for p in m.parameters}
        used |= {ION[x].outside for x in self.ions} | set(_CELL_PARAMETERS)
        if self.volume == "osmotic":
            used |= {"osm_o_mOsm", "na_o_mM", "k_o_mM"}
        return tuple(n for n in _quantities.QUANTITIES if n in used)

    def defaults(self) -> dict[str, float]:
        """Registry defaults of :attr:`parameters`."""
        return _quantities.defaults(self.parameters)

    def mechanism(self, name: str) -> Mechanism:
        for m in self.mechanisms:
            if m.name == name:
                return m
        raise KeyError(f"membrane {self.name!r} has no mechanism {name!r}; it has "
                       f"{[m.name for m in self.mechanisms]}")

    # ---- symbolic system -----------------------------------------------------------
    def flux(self, ion: str) -> sp.Expr:
        """Net outward flux of ``ion`` through all mechanisms, pA-equivalents."""
        return sp.Add(*(m.fluxes[ion] for m in self.mechanisms if ion in m.fluxes))

    def flux_scale(self, ion: str) -> sp.Expr:
        return sp.Add(*(m.scale_of(ion) for m in self.mechanisms if ion in m.fluxes))

    @cached_property
    def current(self) -> sp.Expr:
        """Total membrane current, pA, positive outward."""
        return sp.Add(*(m.current for m in self.mechanisms))

    @cached_property
    def current_scale(self) -> sp.Expr:
        return sp.Add(*(m.current_magnitude() for m in self.mechanisms))

    @cached_property
    def atp_per_s(self) -> sp.Expr:
        return sp.Add(*(sp.sympify(m.atp_per_s) for m in self.mechanisms))

    @cached_property
    def slope_conductance(self) -> sp.Expr:
        """``∂I/∂V`` at fixed concentrations, nS (the input conductance)."""
        return sp.diff(self.current, voltage())

    def bath_osmolarity(self) -> sp.Expr:
        return param("osm_o_mOsm")

    def impermeant(self) -> sp.Expr:
        """Impermeant anion concentration ``A`` (mM) as an expression of the state."""
        if self.volume == "fixed":
            return param("a_i_mM")
        return self.bath_osmolarity() - sp.Add(*(conc(x) for x in self.ions))

    @cached_property
    def electroneutrality(self) -> sp.Expr:
        """``Σ z_X c_X - z_a A`` (mM); zero at every steady state."""
        z_a = param("z_a")
        if self.volume == "fixed":
            return sp.Add(*(ION[x].z * conc(x) for x in self.ions)) - z_a * param("a_i_mM")
        # collected per ion, so that a term with zero weight (z_X + z_a = 0) vanishes
        # exactly instead of cancelling numerically
        return (sp.Add(*((ION[x].z + z_a) * conc(x) for x in self.ions))
                - z_a * self.bath_osmolarity())

    @cached_property
    def electroneutrality_scale(self) -> sp.Expr:
        z_a = param("z_a")
        if self.volume == "fixed":
            return sp.Add(*(abs(ION[x].z) * conc(x) for x in self.ions)) + z_a * param("a_i_mM")
        return (sp.Add(*(sp.Abs(ION[x].z + z_a) * conc(x) for x in self.ions))
                + z_a * self.bath_osmolarity())

    def nernst(self, ion: str) -> sp.Expr:
        return nernst(ion)

    def state_symbols(self) -> tuple[sp.Symbol, ...]:
        return (*(conc(x) for x in self.ions), voltage())

    def guess(self, ion: str) -> sp.Expr | None:
        """A starting value (mM) for ``ion`` given by one of the mechanisms, if any."""
        for m in self.mechanisms:
            if ion in m.guess:
                return m.guess[ion]
        return None

    def __repr__(self) -> str:
        mech = ", ".join(m.name for m in self.mechanisms)
        return f"Membrane({self.name!r}, ions={self.ions}, volume={self.volume!r}, [{mech}])"


def pump_leak_cell(leak: str = "ohmic", volume: str = "fixed", *,
                   ions: Sequence[str] = ("na", "k", "cl")) -> Membrane:
    """The chapter's cell: a leak per ion, the Na+/K+ pump and the activity load."""
    if leak not in ("ohmic", "ghk"):
        raise ValueError(f"leak must be 'ohmic' or 'ghk'; got {leak!r}")
    make = ohmic_leak if leak == "ohmic" else ghk_leak
    mechanisms = (*(make(x) for x in ions), na_k_pump(), activity_load())
    name = "pump_leak" + ("_ghk" if leak == "ghk" else "") + (
        "_osmotic" if volume == "osmotic" else "") + (
        "" if tuple(ions) == ("na", "k", "cl") else "_" + "_".join(
            x for x in ions if x not in ("na", "k", "cl")))
    return Membrane(name, mechanisms, volume,
                    description=f"{leak} leaks of {', '.join(ions)}, Na+/K+ pump, "
                                f"activity load, {volume} volume")


#: Named compositions (``[model]`` names in configs).
COMPOSITIONS = {
    # four ions, six mechanisms: HCO3- (the other anion of GABA-A channels) as a leak
    "pump_leak_hco3": lambda: pump_leak_cell("ohmic", "fixed", ions=("na", "k", "cl", "hco3")),
    "pump_leak_ghk_hco3": lambda: pump_leak_cell("ghk", "fixed",
                                                 ions=("na", "k", "cl", "hco3")),
    "pump_leak": lambda: pump_leak_cell("ohmic", "fixed"),
    "pump_leak_ghk": lambda: pump_leak_cell("ghk", "fixed"),
    "pump_leak_osmotic": lambda: pump_leak_cell("ohmic", "osmotic"),
    "pump_leak_ghk_osmotic": lambda: pump_leak_cell("ghk", "osmotic"),
}

_BUILT: dict[str, Membrane] = {}


def composition(name: str) -> Membrane:
    """The named composition (built once per process)."""
    if name not in COMPOSITIONS:
        import difflib

        near = difflib.get_close_matches(name, list(COMPOSITIONS), n=1)
        hint = f"; did you mean {near[0]!r}?" if near else ""
        raise KeyError(f"unknown membrane model {name!r}{hint} (known: "
                       f"{', '.join(COMPOSITIONS)})")
    if name not in _BUILT:
        _BUILT[name] = COMPOSITIONS[name]()
    return _BUILT[name]

