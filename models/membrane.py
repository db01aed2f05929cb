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

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache, cached_property

import sympy as sp

from iongrad.models import quantities as _quantities
from iongrad.models.constants import PUMP_NA_PER_CYCLE
from iongrad.models.mechanisms import (
    ION,
    Mechanism,
    activity_load,
    conc,
    gaba_a_reversal,
    gat1,
    ghk_leak,
    kcc2,
    kcc2_kinetic,
    na_k_pump,
    ncx,
    nkcc1,
    nkcc1_kinetic,
    ohmic_leak,
    param,
    pmca,
    sglt1,
    voltage,
)
from iongrad.models.mechanisms.base import pa_per_ion_per_s
from iongrad.models.mechanisms.leaks import nernst

__all__ = [
    "ATP_SHARE_SUFFIX",
    "COMPOSITIONS",
    "MECHANISMS",
    "PUMP",
    "Membrane",
    "cardiac_myocyte",
    "composition",
    "composition_record",
    "default_bath_osmolarity",
    "enterocyte",
    "immature_neuron",
    "mature_neuron",
    "mechanism_from_spec",
    "mechanism_specs",
    "membrane_from_spec",
    "membrane_of",
    "pump_leak_cell",
]

_VOLUMES = ("fixed", "osmotic")
#: The Na+/K+ pump, whose ATP use the others' Na+ influx is attributed to.
PUMP = "na_k_pump"
#: Name suffix of a mechanism's share of the ATP use (``kcc2_atp_per_s``).
ATP_SHARE_SUFFIX = "_atp_per_s"
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
    default_values : mapping, optional
        Defaults of this cell that differ from the registry's (a cardiac myocyte's
        area and bath), by parameter name; :meth:`defaults` applies them.
    extra_outputs : mapping, optional
        Further steady-state outputs as expressions of the state and parameters
        (``e_gaba_mV``); their parameters become the model's. With Ca2+ among the ions,
        ``ca_i_nM`` is always an output.
    """

    name: str
    mechanisms: tuple[Mechanism, ...]
    volume: str = "fixed"
    description: str = ""
    default_values: Mapping[str, float] = field(default_factory=dict)
    extra_outputs: Mapping[str, sp.Expr] = field(default_factory=dict)

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
        state = {conc(x).name for x in self.ions} | {voltage().name}
        for m in self.mechanisms:
            for out_name, e in m.outputs.items():
                missing = sorted(s.name for s in e.free_symbols
                                 if s.name in {conc(x).name for x in ION} - state)
                if missing:
                    raise ValueError(f"mechanism {m.name!r} of membrane {self.name!r} "
                                     f"reports {out_name} from {missing}, which no "
                                     f"mechanism of the membrane moves")
        object.__setattr__(self, "default_values", dict(self.default_values))
        object.__setattr__(self, "extra_outputs", dict(self.extra_outputs))
        unknown = sorted(set(self.default_values) - set(self.parameters))
        if unknown:
            raise ValueError(f"default_values of membrane {self.name!r} name(s) {unknown} "
                             f"that are not among its parameters")
        for k, v in self.default_values.items():
            msg = _quantities.violation(k, v)
            if msg:
                raise ValueError(f"default of membrane {self.name!r}: {msg}")

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
        used |= {s.name for e in self.extra_outputs.values() for s in e.free_symbols}
        used -= {conc(x).name for x in ION} | {voltage().name}
        used |= {ION[x].outside for x in self.ions} | set(_CELL_PARAMETERS)
        if self.volume == "osmotic":
            used |= {"osm_o_mOsm", "na_o_mM", "k_o_mM"}
        return tuple(n for n in _quantities.QUANTITIES if n in used)

    def defaults(self) -> dict[str, float]:
        """Defaults of :attr:`parameters`: the registry's, updated by
        :attr:`default_values` (the cell's own)."""
        out = _quantities.defaults(self.parameters)
        out.update(self.default_values)
        return out

    def output_expressions(self) -> dict[str, sp.Expr]:
        """Outputs beyond the state, the Nernst potentials and the mechanisms' currents:
        ``ca_i_nM`` with Ca2+ among the ions, the mechanisms' own outputs
        (``e_gaba_mV`` of ``gaba_a_reversal``), then :attr:`extra_outputs`."""
        out = {}
        if "ca" in self.ions:
            out["ca_i_nM"] = conc("ca") * sp.Float(1e6)
        for m in self.mechanisms:
            out.update(m.outputs)
        out.update(self.extra_outputs)
        return out

    @cached_property
    def has_atp_budget(self) -> bool:
        """Whether the cell's ATP use is worth attributing to its mechanisms: it has the
        Na+/K+ pump and a transporter besides it (not only leaks and a fixed load)."""
        names = {m.name for m in self.mechanisms}
        return PUMP in names and any(
            m.fluxes and m.name not in (PUMP, "activity_load") and not m.name.endswith("_leak")
            for m in self.mechanisms)

    @cached_property
    def atp_shares(self) -> dict[str, sp.Expr]:
        """Who spends the ATP: ``<mechanism>_atp_per_s`` of every mechanism but the
        Na+/K+ pump (molecules/s), as expressions of the state and the parameters.

        At a steady state the pump extrudes every Na+ that enters, at 3 Na+ per ATP, so
        a mechanism's share is the net Na+ influx it causes divided by 3, plus the ATP it
        hydrolyses itself (the Ca2+ pump). The Na+ balance closes, so the shares add up
        to the cell's ``atp_per_s``; a mechanism that extrudes Na+ has a negative share.
        Mechanisms that move no Na+ and use no ATP (a K+ leak, KCC2) have no share.
        ValueError without the pump.
        """
        if all(m.name != PUMP for m in self.mechanisms):
            raise ValueError(f"membrane {self.name!r} has no {PUMP!r}: an ATP budget "
                             "attributes the pump's work to the mechanisms that load it")
        out = {}
        for m in self.mechanisms:
            if m.name != PUMP and ("na" in m.fluxes or sp.sympify(m.atp_per_s) != 0):
                na_in = -m.fluxes.get("na", sp.S.Zero) / pa_per_ion_per_s
                out[f"{m.name}{ATP_SHARE_SUFFIX}"] = (na_in / PUMP_NA_PER_CYCLE
                                                      + sp.sympify(m.atp_per_s))
        return out

    def reported_outputs(self) -> tuple[str, ...]:
        """What the steady state of this cell reports beyond the pump-leak quantities
        (V, the concentrations, pump current, ATP/s, O2/s, R_in): E_Cl where Cl- is not
        simply at equilibrium with V (a cotransporter moves it, or the cell reports
        E_GABA), the currents of mechanisms that are registry quantities
        (``ncx_current_pA``), :meth:`output_expressions` (``ca_i_nM``, ``e_gaba_mV``)
        and, with :attr:`has_atp_budget`, the :attr:`atp_shares`."""
        extra = self.output_expressions()
        names = []
        if "cl" in self.ions and ("e_gaba_mV" in extra or any(
                "cl" in m.fluxes and not m.name.endswith("_leak") for m in self.mechanisms)):
            names.append("e_cl_mV")
        names += [f"{m.name}_current_pA" for m in self.mechanisms
                  if f"{m.name}_current_pA" in _quantities.QUANTITIES]
        names += list(extra)
        if self.has_atp_budget:
            names += list(self.atp_shares)
        return tuple(names)

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


#: The mechanisms a membrane model can be declared from, by name (``[model] mechanisms``
#: in configs). A leak is per ion: its spec is ``"<kind>:<ion>"`` (``"ghk_leak:na"``).
MECHANISMS = {
    "ohmic_leak": ohmic_leak,
    "ghk_leak": ghk_leak,
    "na_k_pump": na_k_pump,
    "activity_load": activity_load,
    "kcc2": kcc2,
    "kcc2_kinetic": kcc2_kinetic,
    "nkcc1": nkcc1,
    "nkcc1_kinetic": nkcc1_kinetic,
    "ncx": ncx,
    "pmca": pmca,
    "sglt1": sglt1,
    "gat1": gat1,
    "gaba_a_reversal": gaba_a_reversal,
}
#: Catalogue entries that take an ion (``"<kind>:<ion>"``).
_PER_ION = ("ohmic_leak", "ghk_leak")


def mechanism_specs() -> tuple[str, ...]:
    """Every valid mechanism spec: ``"<leak>:<ion>"`` for each leak kind and ion of
    :data:`~iongrad.models.mechanisms.ION`, and the name of each other mechanism."""
    out = []
    for kind in MECHANISMS:
        out += [f"{kind}:{x}" for x in ION] if kind in _PER_ION else [kind]
    return tuple(out)


def _unknown(what: str, value: str, valid) -> str:
    import difflib

    near = difflib.get_close_matches(str(value), list(valid), n=1)
    hint = f"; did you mean {near[0]!r}?" if near else ""
    return f"unknown {what} {value!r}{hint} (valid: {', '.join(valid)})"


def mechanism_from_spec(spec: str) -> Mechanism:
    """The mechanism of a spec of :func:`mechanism_specs` (``"ohmic_leak:hco3"``,
    ``"na_k_pump"``). ValueError names the spec and the valid ones."""
    if not isinstance(spec, str):
        raise ValueError(f"a mechanism spec is a string such as 'ghk_leak:na'; got {spec!r}")
    kind, sep, ion = spec.partition(":")
    if spec not in mechanism_specs():
        raise ValueError(_unknown("mechanism", spec, mechanism_specs()))
    return MECHANISMS[kind](ion) if sep else MECHANISMS[kind]()


_DECLARED: dict[tuple, Membrane] = {}


def membrane_from_spec(name: str, mechanisms: Sequence[str], volume: str = "fixed", *,
                       description: str = "",
                       defaults: Mapping[str, float] | None = None) -> Membrane:
    """A membrane model declared as data: a name, mechanism specs, a volume rule.

    Parameters
    ----------
    name : str
        Identifier (reports, configs).
    mechanisms : sequence of str
        Specs of :func:`mechanism_specs`, e.g. ``["ghk_leak:na", "ghk_leak:k",
        "ohmic_leak:cl", "na_k_pump", "activity_load"]``; one mechanism per ion and
        kind (two leaks of one ion would share the name ``<ion>_leak``).
    volume : {"fixed", "osmotic"}
        As in :class:`Membrane`.
    defaults : mapping, optional
        :attr:`Membrane.default_values` (the cell's own defaults).

    The same declaration gives the same object (built once per process), so its
    generated solver is built once too.

    Raises
    ------
    ValueError
        For an unknown spec or volume (naming the valid ones), no mechanisms, or two
        mechanisms with one name.
    """
    if isinstance(mechanisms, str):
        raise ValueError(f"mechanisms must be a list of specs, not the string {mechanisms!r}")
    mechanisms = tuple(mechanisms)
    if volume not in _VOLUMES:
        raise ValueError(_unknown("volume", volume, _VOLUMES))
    defaults = {k: float(v) for k, v in (defaults or {}).items()}
    key = (name, mechanisms, volume, description, tuple(sorted(defaults.items())))
    if key not in _DECLARED:
        built = tuple(mechanism_from_spec(m) for m in mechanisms)
        _DECLARED[key] = Membrane(name, built, volume, description=description,
                                  default_values=defaults)
    return _DECLARED[key]


@cache
def _catalogue() -> dict[str, list[tuple[str, Mechanism]]]:
    """Every catalogue mechanism with its spec, by mechanism name."""
    out: dict[str, list[tuple[str, Mechanism]]] = {}
    for spec in mechanism_specs():
        m = mechanism_from_spec(spec)
        out.setdefault(m.name, []).append((spec, m))
    return out


def composition_record(membrane: Membrane) -> dict:
    """``{"name", "mechanisms", "volume", "defaults"}`` of a membrane model, the
    mechanisms as specs of :func:`mechanism_specs` (a mechanism not in the catalogue by
    its name) and the defaults of every parameter (registry defaults updated by the
    cell's own), as recorded in run.json; :func:`membrane_from_spec` rebuilds a
    catalogue-only model from it."""
    specs = []
    for m in membrane.mechanisms:
        found = [s for s, c in _catalogue().get(m.name, ()) if c == m]
        specs.append(found[0] if found else m.name)
    return {"name": membrane.name, "mechanisms": specs, "volume": membrane.volume,
            "defaults": {k: (None if math.isnan(v) else v)
                         for k, v in membrane.defaults().items()}}


def membrane_of(record) -> Membrane:
    """The membrane model of a ``[model]`` table (as resolved configs hold it):
    ``{"composition": name}`` or ``{"name", "mechanisms", "volume"}``."""
    if record.get("composition") is not None:
        return composition(record["composition"])
    own = {k: v for k, v in (record.get("defaults") or {}).items()
           if v is not None and v != _quantities.get(k).default}
    return membrane_from_spec(record["name"], record["mechanisms"],
                              record.get("volume", "fixed"), defaults=own)


def pump_leak_cell(leak: str = "ohmic", volume: str = "fixed", *,
                   ions: Sequence[str] = ("na", "k", "cl")) -> Membrane:
    """The chapter's cell: a leak per ion, the Na+/K+ pump and the activity load."""
    if leak not in ("ohmic", "ghk"):
        raise ValueError(f"leak must be 'ohmic' or 'ghk'; got {leak!r}")
    kind = "ohmic_leak" if leak == "ohmic" else "ghk_leak"
    mechanisms = (*(f"{kind}:{x}" for x in ions), "na_k_pump", "activity_load")
    name = "pump_leak" + ("_ghk" if leak == "ghk" else "") + (
        "_osmotic" if volume == "osmotic" else "") + (
        "" if tuple(ions) == ("na", "k", "cl") else "_" + "_".join(
            x for x in ions if x not in ("na", "k", "cl")))
    return membrane_from_spec(name, mechanisms, volume,
                              description=f"{leak} leaks of {', '.join(ions)}, Na+/K+ pump, "
                                          f"activity load, {volume} volume")


_NEURON_LEAKS = ("ohmic_leak:na", "ohmic_leak:k", "ohmic_leak:cl")


def mature_neuron() -> Membrane:
    """A mature neuron: Cl- set by KCC2 against a Cl- leak (driving-force KCC2).

    Cl_i ≈ 4–7 mM and E_GABA below the resting potential, as in mature cortical and
    hippocampal neurons (Rivera et al. 1999, Nature 397:251; Ben-Ari 2002, Nat Rev
    Neurosci 3:728; Doyon et al. 2011, PLoS Comput Biol 7:e1002149 for the KCC2 form).
    Outputs E_Cl and E_GABA (HCO3-/Cl- permeability ratio 0.2, HCO3_i from pH_i).

    Basis of the defaults: the driving-force coefficient ``kcc2_u_pA`` has no direct
    measurement (it lumps transporter density and turnover). It is calibrated, not
    measured: 10 pA with g_Cl 0.1 nS puts the default cell at Cl_i 3.96 mM, E_GABA
    -77.6 mV, V_rest -75.4 mV (the low end of the cited Cl_i range, GABA
    hyperpolarising by about 2 mV). Fit it to a cell's own Cl_i or E_GABA.
    """
    return membrane_from_spec(
        "mature_neuron", (*_NEURON_LEAKS, "na_k_pump", "activity_load", "kcc2",
                          "gaba_a_reversal"), "fixed",
        description="mature neuron: ohmic leaks, Na+/K+ pump, KCC2 Cl- extrusion",
        defaults={"g_cl_nS": 0.1, "kcc2_u_pA": 10.0})


def immature_neuron() -> Membrane:
    """An immature neuron: Cl- loaded by NKCC1 (driving-force form) against a Cl- leak.

    Cl_i ≈ 20–30 mM and E_GABA above the resting potential (depolarising GABA), as in
    neonatal neurons before the KCC2 switch (Ben-Ari 2002, Nat Rev Neurosci 3:728;
    Yamada et al. 2004, J Physiol 557:829).

    Basis of the defaults: ``nkcc1_u_pA`` is calibrated, not measured (as KCC2's in
    :func:`mature_neuron`): 1 pA with g_Cl 0.1 nS gives Cl_i 27.7 mM, E_GABA -38.0 mV,
    V_rest -72.7 mV."""
    return membrane_from_spec(
        "immature_neuron", (*_NEURON_LEAKS, "na_k_pump", "activity_load", "nkcc1",
                            "gaba_a_reversal"), "fixed",
        description="immature neuron: ohmic leaks, Na+/K+ pump, NKCC1 Cl- loading",
        defaults={"g_cl_nS": 0.1, "nkcc1_u_pA": 1.0})


#: Ventricular myocyte (rat/guinea pig scale): C_m 150 pF at 1 µF/cm² (15,000 µm²),
#: 30 pL; Tyrode bath of Luo & Rudy 1994 (Na_o 140, K_o 5.4, Ca_o 1.8 mM); Bers 2001
#: (Excitation-Contraction Coupling, 2nd ed.) for the scale of cell and currents.
_MYOCYTE_DEFAULTS = {
    "area_um2": 15000.0, "volume_pL": 30.0, "na_o_mM": 140.0, "k_o_mM": 5.4,
    "ca_o_mM": 1.8, "cl_o_mM": 120.0, "g_na_nS": 1.0, "g_k_nS": 10.0, "g_cl_nS": 1.0,
    "g_ca_nS": 0.3, "pump_density_per_um2": 1000.0, "ncx_k_pA": 3.0e5, "pmca_max_pA": 170.0,
}


def cardiac_myocyte() -> Membrane:
    """A resting ventricular myocyte: Na+, K+, Cl- and Ca2+ leaks, the Na+/K+ pump, the
    Na+/Ca2+ exchanger and the sarcolemmal Ca2+ pump (Luo & Rudy 1994 forms and
    scales: k_NaCa 2000 µA/µF × 150 pF = 3e5 pA, I_pCa,max 1.15 µA/µF × 150 pF ≈ 170 pA).
    Resting Na_i ≈ 10 mM and Ca_i ≈ 100 nM (Despa et al. 2002, Circulation 105:2543;
    Bers 2001)."""
    return membrane_from_spec(
        "cardiac_myocyte", ("ohmic_leak:na", "ohmic_leak:k", "ohmic_leak:cl",
                            "ohmic_leak:ca", "na_k_pump", "ncx", "pmca"), "fixed",
        description="cardiac myocyte: ohmic leaks of Na+, K+, Cl-, Ca2+, Na+/K+ pump, "
                    "NCX, PMCA", defaults=_MYOCYTE_DEFAULTS)


def enterocyte() -> Membrane:
    """An enterocyte-like epithelial cell: SGLT1 (2 Na+ per glucose) as a Na+ load on the
    pump (Wright, Loo & Hirayama 2011, Physiol Rev 91:733), glucose 5 mM outside and
    1 mM inside (one bath for both membranes: a simplification).

    Basis of the defaults: ``sglt1_jmax_pA`` 1 pA is an illustrative load, not a
    measured enterocyte current: at 5 mM glucose it brings in 8 % of the Na+ the pump
    extrudes (SGLT1 share 3.8e6 of 4.6e7 ATP/s) and raises Na_i from 12.4 to 13.0 mM.
    The SGLT1 affinities (K_Na 10 mM; K_glucose 0.5 mM, the apparent affinity at
    saturating Na+) are of the order reported for the human transporter (Wright, Loo &
    Hirayama 2011)."""
    return membrane_from_spec(
        "enterocyte", (*_NEURON_LEAKS, "na_k_pump", "sglt1"), "fixed",
        description="enterocyte-like cell: ohmic leaks, Na+/K+ pump, SGLT1 Na+ load",
        defaults={"sglt1_jmax_pA": 1.0})


#: Named compositions (``[model]`` names in configs).
COMPOSITIONS = {
    "mature_neuron": mature_neuron,
    "immature_neuron": immature_neuron,
    "cardiac_myocyte": cardiac_myocyte,
    "enterocyte": enterocyte,
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

