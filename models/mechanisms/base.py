"""Building blocks of a transport mechanism: ions, symbols of the cell, the GHK function.

A mechanism is written once, as a SymPy expression of named symbols; every
numerical evaluation and every derivative is generated from that expression
(:mod:`iongrad.models.codegen`). The symbols are:

* parameters and bath concentrations: one symbol per quantity of the registry
  (:mod:`iongrad.models.quantities`), named as there (``g_na_nS``, ``k_o_mM``);
* the state: the intracellular concentration of each ion (``na_i_mM``) and the
  membrane potential ``v_mV`` (inside minus outside);
* the thermal voltage ``RT/F`` in mV, an expression of ``temperature_K``.

Flux convention
---------------
A mechanism gives the *outward* flux of each ion it moves in **pA-equivalents**:
the current a monovalent cation moving at that rate would carry
(1 pA-equivalent = 1e-12/e ≈ 6.24e6 ions/s). An ion of valence ``z`` moving
outward at flux ``J`` carries the current ``z J``; the membrane current of a
mechanism is ``Σ z_X J_X`` (positive outward). With this unit, ``J/(F vol)``
gives the rate of change of a concentration (pA/pL → ×1e3 mM/s).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import sympy as sp

from iongrad.models import quantities as _quantities
from iongrad.models.constants import E_CHARGE_C, F_C_PER_MOL, R_J_PER_MOL_K

__all__ = [
    "ION",
    "Ion",
    "Mechanism",
    "bath",
    "conc",
    "delta_mu",
    "ghk_phi",
    "ghk_phi_d1",
    "ghk_phi_d2",
    "pa_per_ion_per_s",
    "param",
    "temperature",
    "thermal_voltage",
    "voltage",
]


@dataclass(frozen=True)
class Ion:
    """An ion of a membrane model: a short name and its valence.

    The intracellular concentration is the registry quantity ``<name>_i_mM`` and the
    bath concentration ``<name>_o_mM``.
    """

    name: str
    z: int

    @property
    def inside(self) -> str:
        return f"{self.name}_i_mM"

    @property
    def outside(self) -> str:
        return f"{self.name}_o_mM"


#: The ions iongrad knows, by name.
ION: dict[str, Ion] = {"na": Ion("na", 1), "k": Ion("k", 1), "cl": Ion("cl", -1),
                       "hco3": Ion("hco3", -1), "ca": Ion("ca", 2)}


def _symbol(name: str) -> sp.Symbol:
    """The symbol of a registry quantity (positive where its domain is)."""
    q = _quantities.get(name)
    if q.low >= 0:
        return sp.Symbol(name, positive=True)
    return sp.Symbol(name, real=True)


def param(name: str) -> sp.Symbol:
    """The symbol of the parameter ``name`` (a registry quantity; KeyError lists near names)."""
    return _symbol(name)


def conc(ion: str) -> sp.Symbol:
    """Intracellular concentration of ``ion``, mM (a state variable)."""
    return sp.Symbol(ION[ion].inside, positive=True)


def bath(ion: str) -> sp.Symbol:
    """Bath (extracellular) concentration of ``ion``, mM."""
    return _symbol(ION[ion].outside)


def voltage() -> sp.Symbol:
    """Membrane potential, mV (inside minus outside)."""
    return sp.Symbol("v_mV", real=True)


def temperature() -> sp.Symbol:
    return _symbol("temperature_K")


def thermal_voltage() -> sp.Expr:
    """``RT/F`` in mV as an expression of ``temperature_K``."""
    return sp.Float(R_J_PER_MOL_K / F_C_PER_MOL * 1e3) * temperature()


def delta_mu(ion: str) -> sp.Expr:
    """Free-energy change of moving one ``ion`` from inside to outside, in units of RT:
    ``ln(c_o/c_i) - z V/(RT/F)`` (V inside minus outside). A mechanism whose cycle moves
    ``ν_X`` ions of each ``X`` outward has ``ΔG/RT = Σ ν_X delta_mu(X)`` (plus any
    chemical term, such as ATP hydrolysis)."""
    return sp.log(bath(ion) / conc(ion)) - ION[ion].z * voltage() / thermal_voltage()


#: pA carried by one elementary charge per second (e × 1e12).
pa_per_ion_per_s = sp.Float(E_CHARGE_C * 1e12)


class ghk_phi(sp.Function):
    """``Φ(u) = u/(1 - e^{-u})`` (Φ(0) = 1), the GHK flux function.

    The GHK flux of an ion is ``c_in Φ(w) - c_out Φ(-w)`` with ``w = zV/(RT/F)``.
    Numerically it is evaluated by :func:`iongrad.models.thermo.ghk_phi_np` and its
    derivatives, which are exact through ``u = 0`` and never overflow.
    """

    nargs = 1

    @classmethod
    def eval(cls, u):
        if u.is_zero:
            return sp.S.One
        return None

    def fdiff(self, argindex=1):
        return ghk_phi_d1(self.args[0])


class ghk_phi_d1(sp.Function):
    """``Φ'(u)``."""

    nargs = 1

    @classmethod
    def eval(cls, u):
        if u.is_zero:
            return sp.Rational(1, 2)
        return None

    def fdiff(self, argindex=1):
        return ghk_phi_d2(self.args[0])


class ghk_phi_d2(sp.Function):
    """``Φ''(u)``."""

    nargs = 1

    @classmethod
    def eval(cls, u):
        if u.is_zero:
            return sp.Rational(1, 6)
        return None

    def fdiff(self, argindex=1):  # pragma: no cover - no generated code needs Φ'''
        raise NotImplementedError("the third derivative of the GHK function is not "
                                  "implemented")


#: SymPy functions with their own numerical implementations (name -> function).
SPECIAL_FUNCTIONS = (ghk_phi, ghk_phi_d1, ghk_phi_d2)


@dataclass(frozen=True)
class Mechanism:
    """One transport process: its rate law, written once.

    Attributes
    ----------
    name : str
        Identifier within a membrane model (``"na_leak"``, ``"na_k_pump"``).
    fluxes : mapping of ion name to sympy expression
        Outward flux of each ion the mechanism moves, in pA-equivalents (see the
        module docstring), as an expression of the symbols of this module.
    atp_per_s : sympy expression
        ATP hydrolysed per second (0 for passive mechanisms).
    flux_scales : mapping, optional
        Gross (unidirectional) magnitude of each flux, pA-equivalents, used to judge
        a balance relative to the fluxes it balances. Default ``|J|``.
    current_scale : sympy expression, optional
        Gross magnitude of the mechanism's membrane current, pA. Default
        ``Σ |z| scale``.
    guess : mapping, optional
        A starting value (mM) for an intracellular concentration that this
        mechanism sets (the pump: Na_i near its K_Na), used to start the solver.
    blocked_by : tuple of str
        Drugs that block the mechanism in a run-down experiment (``"ouabain"`` for
        the Na+/K+ pump): their block scales every flux and the ATP use.
    description : str
        One line, shown in reports.
    free_energy : sympy expression, optional
        ``ΔG/RT`` of one cycle in the direction of a positive ``cycle_flux`` (see
        :func:`delta_mu`); a thermodynamically consistent rate law has a cycle flux of
        the sign of ``-ΔG`` and zero exactly where ``ΔG = 0``.
    cycle_flux : sympy expression, optional
        The cycle rate (pA-equivalents) whose sign ``free_energy`` governs.
    outputs : mapping, optional
        Steady-state outputs the mechanism reports (name -> expression of the state and
        parameters), e.g. the GABA-A reversal potential ``e_gaba_mV``.
    """

    name: str
    fluxes: Mapping[str, sp.Expr]
    atp_per_s: sp.Expr = sp.S.Zero
    flux_scales: Mapping[str, sp.Expr] | None = None
    current_scale: sp.Expr | None = None
    guess: Mapping[str, sp.Expr] = field(default_factory=dict)
    blocked_by: tuple[str, ...] = ()
    description: str = ""
    free_energy: sp.Expr | None = None
    cycle_flux: sp.Expr | None = None
    outputs: Mapping[str, sp.Expr] = field(default_factory=dict)

    def __post_init__(self):
        unknown = sorted(set(self.fluxes) - set(ION))
        if unknown:
            raise ValueError(f"mechanism {self.name!r} moves unknown ion(s) {unknown}; "
                             f"known: {sorted(ION)}")
        for expr in (*self.fluxes.values(), sp.sympify(self.atp_per_s),
                     *self.outputs.values()):
            for s in sp.sympify(expr).free_symbols:
                if s.name not in _state_names():
                    _quantities.get(s.name)  # a KeyError names the unknown symbol

    @property
    def ions(self) -> tuple[str, ...]:
        return tuple(self.fluxes)

    @property
    def current(self) -> sp.Expr:
        """Membrane current, pA, positive outward: ``Σ z_X J_X``."""
        return sp.Add(*(ION[x].z * j for x, j in self.fluxes.items()))

    def scale_of(self, ion: str) -> sp.Expr:
        if self.flux_scales is not None and ion in self.flux_scales:
            return self.flux_scales[ion]
        return sp.Abs(self.fluxes[ion])

    def current_magnitude(self) -> sp.Expr:
        if self.current_scale is not None:
            return self.current_scale
        return sp.Add(*(abs(ION[x].z) * self.scale_of(x) for x in self.fluxes))

    @property
    def parameters(self) -> tuple[str, ...]:
        """Registry names of the parameters and bath concentrations the rate law uses."""
        syms = set()
        for expr in (*self.fluxes.values(), sp.sympify(self.atp_per_s),
                     *self.outputs.values()):
            syms |= {s.name for s in sp.sympify(expr).free_symbols}
        return tuple(sorted(syms - _state_names()))


def _state_names() -> set[str]:
    return {ion.inside for ion in ION.values()} | {"v_mV"}
