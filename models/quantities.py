"""The quantity registry: every named parameter, condition and output of iongrad.

One entry per name, with its canonical unit, its domain (the values that mean
something physically, in that unit), its default and a description. Configs,
datasets, the model API, the sampler's priors and the reports all read units and
domains from here; nothing else keeps a table of them.

Names carry their unit (``g_na_nS``, ``k_o_mM``, ``v_rest_mV``). A domain is an
interval ``low .. high`` with open or closed ends; ``dimension`` keys the unit
conversions a dataset sidecar may use (:data:`iongrad.data.vocabulary.UNITS`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from iongrad.models.constants import T_DEFAULT_K

__all__ = [
    "QUANTITIES",
    "CONC_MAX_mM",
    "Quantity",
    "V_MAX_mV",
    "defaults",
    "domain_text",
    "first_bad",
    "get",
    "hint_for",
    "names",
    "quantity",
    "register",
    "unit_of",
    "violation",
]

_INF = math.inf
#: 2 M: above this a "mM" value is almost surely in µM (or a typing slip).
CONC_MAX_mM = 2000.0


@dataclass(frozen=True)
class Quantity:
    """One named quantity.

    Attributes
    ----------
    name : str
        Canonical name, unit in the name where it is not obvious.
    unit : str
        Canonical unit, as shown to users (``"mM"``, ``"sites/µm^2"``).
    dimension : str
        Physical dimension (``"concentration"``, ``"potential"``, ...), which decides
        the units a dataset may declare.
    low, high : float
        Domain bounds in ``unit``.
    low_inclusive, high_inclusive : bool
        Whether the bounds themselves belong to the domain.
    default : float or None
        Default value (``nan`` where a default is computed from other quantities, see
        ``description``); ``None`` for outputs and observables.
    roles : tuple of str
        Any of ``"parameter"`` (a model input that can be fixed, sampled or fitted),
        ``"condition"`` (an experimental setting in a dataset), ``"observable"`` (a
        measured value in a dataset), ``"output"`` (computed by a model),
        ``"argument"`` (an argument of a function of :mod:`iongrad.models` that is
        not a model parameter, e.g. a valence or a radius).
    description : str
        One line, used in messages, docs and reports.
    """

    name: str
    unit: str
    dimension: str
    low: float = -_INF
    high: float = _INF
    low_inclusive: bool = False
    high_inclusive: bool = False
    default: float | None = None
    roles: tuple[str, ...] = ("parameter",)
    description: str = ""
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def contains(self, value: Any) -> np.ndarray:
        """Boolean mask of the values inside the domain (NaN is outside)."""
        arr = np.asarray(value, dtype=float)
        lo = arr >= self.low if self.low_inclusive else arr > self.low
        hi = arr <= self.high if self.high_inclusive else arr < self.high
        return lo & hi

    def domain_text(self) -> str:
        """The domain in words, e.g. ``"> 0 and < 2000 mM"``."""
        parts = []
        if self.low > -_INF:
            parts.append((">= " if self.low_inclusive else "> ") + _g(self.low))
        if self.high < _INF:
            parts.append(("<= " if self.high_inclusive else "< ") + _g(self.high))
        if not parts:
            return f"finite, in {self.unit}" if self.unit else "finite"
        return " and ".join(parts) + (f" {self.unit}" if self.unit else "")


def _g(x: float) -> str:
    return f"{x:g}"


def _q(name, unit, dimension, low=-_INF, high=_INF, *, lo_in=False, hi_in=False,
       default=None, roles=("parameter",), description="", **extra) -> Quantity:
    return Quantity(name, unit, dimension, float(low), float(high), lo_in, hi_in,
                    None if default is None else float(default), tuple(roles), description,
                    extra)


_NEURON_AREA_um2 = 4.0 * math.pi * 10.0**2
_NEURON_VOLUME_pL = 4.0 / 3.0 * math.pi * 10.0**3 * 1e-3
_P, _C, _O, _OUT, _A = "parameter", "condition", "observable", "output", "argument"
#: Largest potential argument accepted by the thermodynamic functions, mV.
V_MAX_mV = 1000.0

_ENTRIES: tuple[Quantity, ...] = (
    # ---- leaks ------------------------------------------------------------------------
    _q("g_na_nS", "nS", "conductance", 0, 1e6, lo_in=True, default=0.15,
       description="Na+ leak conductance (ohmic)"),
    _q("g_k_nS", "nS", "conductance", 0, 1e6, lo_in=True, default=0.6,
       description="K+ leak conductance (ohmic)"),
    _q("g_cl_nS", "nS", "conductance", 0, 1e6, lo_in=True, default=0.3,
       description="Cl- leak conductance (ohmic)"),
    _q("p_na_cm_s", "cm/s", "permeability", 0, 1.0, lo_in=True, default=4.0e-8,
       description="Na+ permeability (GHK)"),
    _q("p_k_cm_s", "cm/s", "permeability", 0, 1.0, lo_in=True, default=6.0e-7,
       description="K+ permeability (GHK)"),
    _q("p_cl_cm_s", "cm/s", "permeability", 0, 1.0, lo_in=True, default=1.0e-7,
       description="Cl- permeability (GHK)"),
    _q("g_hco3_nS", "nS", "conductance", 0, 1e6, lo_in=True, default=0.06,
       description="HCO3- leak conductance (ohmic)"),
    _q("p_hco3_cm_s", "cm/s", "permeability", 0, 1.0, lo_in=True, default=2.0e-8,
       description="HCO3- permeability (GHK)"),
    _q("g_ca_nS", "nS", "conductance", 0, 1e6, lo_in=True, default=0.002,
       description="Ca2+ leak conductance (ohmic; background Ca2+ entry)"),
    _q("p_ca_cm_s", "cm/s", "permeability", 0, 1.0, lo_in=True, default=1.0e-10,
       description="Ca2+ permeability (GHK; background Ca2+ entry)"),
    # ---- cation-chloride cotransporters (iongrad.models.mechanisms.transporters) ------
    _q("kcc2_u_pA", "pA", "current", 0, 1e6, lo_in=True, default=2.0,
       description="KCC2 K+-Cl- flux per unit of ln(K_i Cl_i / K_o Cl_o) (driving-force "
                   "form), pA-equivalents"),
    _q("kcc2_jmax_pA", "pA", "current", 0, 1e6, lo_in=True, default=20.0,
       description="KCC2 maximal K+-Cl- flux (saturable form), pA-equivalents"),
    _q("kcc2_k_k_mM", "mM", "concentration", 0, CONC_MAX_mM, default=5.2,
       description="KCC2 apparent affinity for K+ (saturable form)"),
    _q("kcc2_k_cl_mM", "mM", "concentration", 0, CONC_MAX_mM, default=6.8,
       description="KCC2 apparent affinity for Cl- (saturable form)"),
    _q("nkcc1_u_pA", "pA", "current", 0, 1e6, lo_in=True, default=2.0,
       description="NKCC1 Na+-K+-2Cl- cycle flux per unit of ln(Na_o K_o Cl_o^2 / Na_i K_i "
                   "Cl_i^2) (driving-force form), pA-equivalents"),
    _q("nkcc1_jmax_pA", "pA", "current", 0, 1e6, lo_in=True, default=20.0,
       description="NKCC1 maximal cycle flux (saturable form), pA-equivalents"),
    _q("nkcc1_k_na_mM", "mM", "concentration", 0, CONC_MAX_mM, default=20.0,
       description="NKCC1 apparent affinity for Na+ (saturable form)"),
    _q("nkcc1_k_k_mM", "mM", "concentration", 0, CONC_MAX_mM, default=1.5,
       description="NKCC1 apparent affinity for K+ (saturable form)"),
    _q("nkcc1_k_cl_mM", "mM", "concentration", 0, CONC_MAX_mM, default=30.0,
       description="NKCC1 apparent affinity for Cl- (saturable form)"),
    _q("bumetanide_uM", "µM", "concentration_uM", 0, 1e5, lo_in=True, hi_in=True,
       default=0.0, roles=(_P, _C),
       description="bumetanide in the bath (blocks NKCC1; 10 µM is the usual dose)"),
    _q("nkcc1_bumetanide_ic50_uM", "µM", "concentration_uM", 0, 1e5, hi_in=True,
       default=1.0,
       description="bumetanide IC50 of NKCC1 (about 4x azosemide's 0.2-0.25 µM on human "
                   "NKCC1A/B in oocytes: Hampel et al. 2018, Sci Rep 8:9877, "
                   "doi:10.1038/s41598-018-27995-w)"),
    # ---- Na+/Ca2+ exchanger and Ca2+ pump ---------------------------------------------
    _q("ncx_k_pA", "pA", "current", 0, 1e8, lo_in=True, default=3.0e5,
       description="NCX scaling current (Luo-Rudy k_NaCa times the membrane capacitance)"),
    _q("ncx_gamma", "dimensionless", "fraction", 0, 1, lo_in=True, hi_in=True, default=0.35,
       description="NCX position of the energy barrier in the membrane field (Luo-Rudy eta)"),
    _q("ncx_k_sat", "dimensionless", "dimensionless", 0, 100, lo_in=True, default=0.1,
       description="NCX saturation factor at negative potentials (Luo-Rudy k_sat)"),
    _q("ncx_k_m_na_mM", "mM", "concentration", 0, CONC_MAX_mM, default=87.5,
       description="NCX half-saturation for extracellular Na+ (Luo-Rudy K_mNa)"),
    _q("ncx_k_m_ca_mM", "mM", "concentration", 0, CONC_MAX_mM, default=1.38,
       description="NCX half-saturation for extracellular Ca2+ (Luo-Rudy K_mCa)"),
    _q("pmca_max_pA", "pA", "current", 0, 1e6, lo_in=True, default=5.0,
       description="PMCA maximal Ca2+ extrusion, as the Ca2+ current it moves (2 charges "
                   "per Ca2+)"),
    _q("pmca_k_ca_nM", "nM", "concentration_nM", 0, 1e9, default=500.0,
       description="PMCA half-activation by intracellular Ca2+"),
    _q("pmca_hill", "dimensionless", "dimensionless", 0, 10, hi_in=True, default=1.0,
       description="Hill coefficient of PMCA activation by intracellular Ca2+"),
    _q("dg_atp_mag_kJ_mol", "kJ/mol", "molar_energy", 0, 100, hi_in=True, default=55.0,
       description="magnitude of the free energy of ATP hydrolysis that drives the "
                   "Ca2+ pump"),
    _q("ph_i", "pH", "dimensionless", 0, 14, default=7.2, roles=(_P, _C),
       description="intracellular pH (sets HCO3-_i at the bath's pCO2)"),
    _q("ph_o", "pH", "dimensionless", 0, 14, default=7.4, roles=(_P, _C),
       description="extracellular pH"),
    # ---- Na+-coupled substrate uptake ---------------------------------------------------
    _q("sglt1_jmax_pA", "pA", "current", 0, 1e6, lo_in=True, default=10.0,
       description="SGLT1 maximal cycle flux (2 Na+ + 1 glucose), pA-equivalents"),
    _q("sglt1_k_na_mM", "mM", "concentration", 0, CONC_MAX_mM, default=10.0,
       description="SGLT1 apparent affinity for Na+"),
    _q("sglt1_k_s_mM", "mM", "concentration", 0, CONC_MAX_mM, default=0.5,
       description="SGLT1 apparent affinity for glucose"),
    _q("glucose_o_mM", "mM", "concentration", 0, CONC_MAX_mM, lo_in=True, default=5.0,
       roles=(_P, _C), description="extracellular glucose"),
    _q("glucose_i_mM", "mM", "concentration", 0, CONC_MAX_mM, lo_in=True, default=1.0,
       roles=(_P, _C), description="intracellular glucose (held by metabolism and GLUT2 "
                                   "efflux)"),
    _q("gat1_jmax_pA", "pA", "current", 0, 1e6, lo_in=True, default=2.0,
       description="GAT1 maximal cycle flux (2 Na+ + 1 Cl- + 1 GABA), pA-equivalents"),
    _q("gat1_k_na_mM", "mM", "concentration", 0, CONC_MAX_mM, default=70.0,
       description="GAT1 apparent affinity for Na+"),
    _q("gat1_k_cl_mM", "mM", "concentration", 0, CONC_MAX_mM, default=40.0,
       description="GAT1 apparent affinity for Cl-"),
    _q("gat1_k_s_mM", "mM", "concentration", 0, CONC_MAX_mM, default=0.008,
       description="GAT1 apparent affinity for GABA"),
    _q("gaba_o_mM", "mM", "concentration", 0, CONC_MAX_mM, lo_in=True, default=0.0005,
       roles=(_P, _C), description="extracellular (ambient) GABA"),
    _q("gaba_i_mM", "mM", "concentration", 0, CONC_MAX_mM, lo_in=True, default=2.0,
       roles=(_P, _C), description="cytosolic GABA"),
    # ---- GABA-A receptor reversal -----------------------------------------------------
    _q("p_hco3_over_p_cl", "dimensionless", "dimensionless", 0, 10, lo_in=True, hi_in=True,
       default=0.2, description="HCO3-/Cl- permeability ratio of GABA-A receptors"),
    # ---- pump -------------------------------------------------------------------------
    _q("pump_density_per_um2", "sites/µm^2", "density", 0, 1e6, lo_in=True, default=1000.0,
       description="Na+/K+-ATPase density"),
    _q("turnover_max_per_s", "1/s", "rate", 0, 1e5, lo_in=True, default=100.0,
       description="maximal pump turnover per site"),
    _q("k_na_mM", "mM", "concentration", 0, CONC_MAX_mM, default=12.0,
       roles=(_P, _O),
       description="apparent half-activation of the pump by intracellular Na+"),
    _q("k_na_unphos_mM", "mM", "concentration", 0, CONC_MAX_mM, default=12.0,
       description="pump K_Na with the FXYD subunit unphosphorylated"),
    _q("k_na_phos_mM", "mM", "concentration", 0, CONC_MAX_mM, default=12.0,
       description="pump K_Na with the FXYD subunit phosphorylated"),
    _q("hill_na", "dimensionless", "dimensionless", 0, 10, hi_in=True, default=3.0,
       description="Hill coefficient of pump activation by intracellular Na+"),
    _q("k_k_mM", "mM", "concentration", 0, CONC_MAX_mM, default=1.5,
       description="apparent half-activation of the pump by extracellular K+"),
    _q("hill_k", "dimensionless", "dimensionless", 0, 10, hi_in=True, default=1.0,
       description="Hill coefficient of pump activation by extracellular K+"),
    _q("atp_mM", "mM", "concentration", 0, 100, lo_in=True, hi_in=True, default=2.0,
       description="intracellular ATP"),
    _q("k_atp_mM", "mM", "concentration", 0, 100, hi_in=True, default=0.2,
       description="apparent half-activation of the pump by ATP"),
    _q("atp_per_o2", "ATP per O2", "dimensionless", 0, 20, hi_in=True, default=5.0,
       description="ATP made per O2 consumed (P/O ratio x 2)"),
    # ---- cell geometry and contents ---------------------------------------------------
    _q("area_um2", "µm^2", "area", 0, 1e9, hi_in=True, default=_NEURON_AREA_um2,
       description="membrane area (default: a sphere of radius 10 µm)"),
    _q("volume_pL", "pL", "volume", 0, 1e7, hi_in=True, default=_NEURON_VOLUME_pL,
       roles=(_P, _OUT), description="cell volume (default: a sphere of radius 10 µm)"),
    _q("a_i_mM", "mM", "concentration", 0, CONC_MAX_mM, default=155.0,
       description="impermeant intracellular anions"),
    _q("z_a", "elementary charges", "dimensionless", 0, 10, hi_in=True, default=1.0,
       description="mean negative charge of the impermeant anions"),
    _q("activity_load_pA", "pA", "current", 0, 1e5, lo_in=True, hi_in=True, default=0.0,
       roles=(_P, _C), description="Na+ load from activity (as an inward Na+ current)"),
    # ---- bath and temperature ---------------------------------------------------------
    _q("na_o_mM", "mM", "concentration", 0, CONC_MAX_mM, default=145.0, roles=(_P, _C),
       description="extracellular Na+"),
    _q("k_o_mM", "mM", "concentration", 0, CONC_MAX_mM, default=4.0, roles=(_P, _C),
       description="extracellular K+"),
    _q("cl_o_mM", "mM", "concentration", 0, CONC_MAX_mM, default=123.0, roles=(_P, _C),
       description="extracellular Cl-"),
    _q("hco3_o_mM", "mM", "concentration", 0, CONC_MAX_mM, default=24.0, roles=(_P, _C),
       description="extracellular HCO3- (a CO2/HCO3- buffered bath)"),
    _q("ca_o_mM", "mM", "concentration", 0, CONC_MAX_mM, default=2.0, roles=(_P, _C),
       description="extracellular Ca2+"),
    _q("osm_o_mOsm", "mOsm", "osmolarity", 0, 2 * CONC_MAX_mM, default=math.nan,
       description="bath osmolarity (default nan: 2 (Na_o + K_o), an electroneutral "
                   "monovalent bath)"),
    _q("temperature_K", "K", "temperature", 250, 350, lo_in=True, hi_in=True,
       default=T_DEFAULT_K, roles=(_P, _C), description="absolute temperature"),
    # ---- run-down ---------------------------------------------------------------------
    _q("onset_s", "s", "time", 0, _INF, lo_in=True, default=0.0,
       description="onset of anoxia or ouabain (finite; beyond the end time: never)"),
    _q("tau_atp_s", "s", "time", 0, 1e7, hi_in=True, default=45.0,
       description="time constant of ATP loss after anoxia onset"),
    _q("tau_block_s", "s", "time", 0, 1e7, lo_in=True, hi_in=True, default=30.0,
       description="time constant of ouabain binding (0: an instant block)"),
    _q("ouabain_uM", "µM", "concentration_uM", 0, 1e5, lo_in=True, hi_in=True, default=10.0,
       description="ouabain dose (the run-down model also takes inf: saturating)"),
    _q("ouabain_ic50_uM", "µM", "concentration_uM", 0, 1e5, hi_in=True, default=0.1,
       description="ouabain IC50"),
    _q("extracellular_fraction", "dimensionless", "fraction", 0, 1, default=math.nan,
       description="extracellular volume fraction (default nan: an infinite bath)"),
    _q("c_m_uF_cm2", "µF/cm^2", "capacitance", 0, 100, hi_in=True, default=1.0,
       description="specific membrane capacitance"),
    # ---- FXYD set-point model ---------------------------------------------------------
    _q("na_influx_mM_per_s", "mM/s", "concentration_rate", 0, 1e4, lo_in=True, default=1.0,
       description="Na+ influx the pump must balance"),
    _q("v_max_mM_per_s", "mM/s", "concentration_rate", 0, 1e4, default=3.0,
       description="maximal pump Na+ extrusion rate"),
    _q("k_unphos_mM", "mM", "concentration", 0, CONC_MAX_mM, default=10.0,
       description="K_Na of unphosphorylated pumps"),
    _q("k_phos_mM", "mM", "concentration", 0, CONC_MAX_mM, default=20.0,
       description="K_Na of phosphorylated pumps"),
    _q("phi", "fraction phosphorylated", "fraction", 0, 1, lo_in=True, hi_in=True,
       default=0.5, description="fraction of FXYD subunits phosphorylated"),
    # ---- observables and outputs ------------------------------------------------------
    _q("v_rest_mV", "mV", "potential", -200, 200, roles=(_O, _OUT),
       description="resting membrane potential"),
    _q("r_in_MOhm", "MOhm", "resistance", 0, 1e6, roles=(_O, _OUT),
       description="input resistance"),
    _q("na_i_mM", "mM", "concentration", 0, CONC_MAX_mM, roles=(_O, _OUT),
       description="intracellular Na+"),
    _q("k_i_mM", "mM", "concentration", 0, CONC_MAX_mM, roles=(_O, _OUT),
       description="intracellular K+"),
    _q("cl_i_mM", "mM", "concentration", 0, CONC_MAX_mM, roles=(_O, _OUT),
       description="intracellular Cl-"),
    _q("hco3_i_mM", "mM", "concentration", 0, CONC_MAX_mM, roles=(_OUT,),
       description="intracellular HCO3-"),
    _q("ca_i_mM", "mM", "concentration", 0, CONC_MAX_mM, roles=(_OUT,),
       description="intracellular free Ca2+ (the solver's state, mM)"),
    _q("ca_i_nM", "nM", "concentration_nM", 0, 2e9, roles=(_O, _OUT),
       description="intracellular free Ca2+"),
    _q("e_cl_mV", "mV", "potential", -V_MAX_mV, V_MAX_mV, roles=(_O, _OUT),
       description="Cl- Nernst potential"),
    _q("e_ca_mV", "mV", "potential", -V_MAX_mV, V_MAX_mV, roles=(_OUT,),
       description="Ca2+ Nernst potential"),
    _q("e_gaba_mV", "mV", "potential", -V_MAX_mV, V_MAX_mV, roles=(_O, _OUT),
       description="GABA-A reversal potential (GHK with the HCO3-/Cl- permeability ratio)"),
    _q("ncx_current_pA", "pA", "current", -1e6, 1e6, roles=(_O, _OUT),
       description="Na+/Ca2+ exchanger current, outward positive (forward mode: inward)"),
    _q("pump_current_pA", "pA", "current", -1e5, 1e5, roles=(_O, _OUT),
       description="ouabain-sensitive pump current, outward positive"),
    _q("atp_per_s", "ATP/s", "molecular_rate", 0, 1e15, roles=(_O, _OUT),
       description="ATP consumption per cell (molecules per second)"),
    _q("o2_per_s", "O2/s", "molecular_rate", 0, 1e14, roles=(_O, _OUT),
       description="O2 consumption per cell (molecules per second)"),
    _q("k_na_shift_mM", "mM", "concentration", -CONC_MAX_mM, CONC_MAX_mM, roles=(_OUT,),
       description="shift of K_Na on FXYD phosphorylation"),
    _q("na_set_point_mM", "mM", "concentration", 0, _INF, roles=(_OUT,),
       description="Na+ set point of a pump population"),
    _q("pump_load_fraction", "J/V_max", "dimensionless", 0, _INF, lo_in=True, roles=(_OUT,),
       description="Na+ influx as a fraction of the maximal pump rate"),
    _q("time_s", "s", "time", 0, 1e7, lo_in=True, hi_in=True, roles=(_C,),
       description="time since onset (time courses)"),
    _q("time_to_threshold_s", "s", "time", 0, _INF, lo_in=True, roles=(_OUT,),
       description="time from the onset to the threshold potential"),
    _q("v_end_mV", "mV", "potential", -200, 200, roles=(_OUT,),
       description="membrane potential at the end time"),
    _q("na_i_end_mM", "mM", "concentration", 0, CONC_MAX_mM, roles=(_OUT,),
       description="intracellular Na+ at the end time"),
    _q("k_i_end_mM", "mM", "concentration", 0, CONC_MAX_mM, roles=(_OUT,),
       description="intracellular K+ at the end time"),
    _q("k_o_end_mM", "mM", "concentration", 0, CONC_MAX_mM, roles=(_OUT,),
       description="extracellular K+ at the end time"),

    # ---- arguments of the functions of iongrad.models ---------------------------------
    _q("c_in_mM", "mM", "concentration", 0, CONC_MAX_mM, roles=(_A,),
       description="intracellular concentration of an ion"),
    _q("c_out_mM", "mM", "concentration", 0, CONC_MAX_mM, roles=(_A,),
       description="extracellular concentration of an ion"),
    _q("c_mM", "mM", "concentration", 0, CONC_MAX_mM, roles=(_A,),
       description="concentration of an activating ligand"),
    _q("k_half_mM", "mM", "concentration", 0, CONC_MAX_mM, roles=(_A,),
       description="half-activation constant"),
    _q("hill_n", "dimensionless", "dimensionless", 0, 10, hi_in=True, default=1.0,
       roles=(_A,), description="Hill coefficient"),
    _q("z", "elementary charges", "dimensionless", -10, 10, lo_in=True, hi_in=True,
       default=1.0, roles=(_A,),
       description="valence of an ion (non-zero where a Nernst potential is taken)"),
    _q("z_s", "elementary charges", "dimensionless", -10, 10, lo_in=True, hi_in=True,
       default=0.0, roles=(_A,), description="charge of a cotransported substrate"),
    _q("n_na", "ions per cycle", "dimensionless", 0, 10, hi_in=True, default=2.0,
       roles=(_A,), description="Na+ ions cotransported per substrate molecule"),
    _q("s_ratio_in_out", "dimensionless", "dimensionless", 0, 1e15, roles=(_A,),
       description="substrate concentration ratio S_i/S_o"),
    _q("v_mV", "mV", "potential", -V_MAX_mV, V_MAX_mV, lo_in=True, hi_in=True,
       roles=(_A,), description="membrane potential, inside minus outside"),
    _q("e_rev_mV", "mV", "potential", -V_MAX_mV, V_MAX_mV, lo_in=True, hi_in=True,
       roles=(_A,), description="reversal potential"),
    _q("e_na_mV", "mV", "potential", -V_MAX_mV, V_MAX_mV, lo_in=True, hi_in=True,
       roles=(_A, _OUT), description="Na+ Nernst potential"),
    _q("e_k_mV", "mV", "potential", -V_MAX_mV, V_MAX_mV, lo_in=True, hi_in=True,
       roles=(_A, _OUT), description="K+ Nernst potential"),
    _q("threshold_mV", "mV", "potential", -V_MAX_mV, V_MAX_mV, lo_in=True, hi_in=True,
       roles=(_A,), description="threshold potential of a depolarisation"),
    _q("g_nS", "nS", "conductance", 0, 1e6, lo_in=True, roles=(_A,),
       description="leak conductance (ohmic)"),
    _q("permeability_cm_s", "cm/s", "permeability", 0, 1.0, lo_in=True, roles=(_A,),
       description="membrane permeability of an ion (GHK)"),
    _q("p_rel", "cm/s or relative", "permeability", 0, _INF, lo_in=True, roles=(_A,),
       description="permeability, absolute (cm/s) or relative (only ratios matter)"),
    _q("coupling_ratio", "Na+ per K+", "dimensionless", 0, 10, hi_in=True, default=1.5,
       roles=(_A,), description="Na+ moved per K+ by the pump (Mullins-Noda r)"),
    _q("turnover_per_s", "1/s", "rate", 0, 1e5, lo_in=True, roles=(_A,),
       description="pump cycles per second per site"),
    _q("i_pump_pA", "pA", "current", 0, 1e5, lo_in=True, roles=(_A,),
       description="electrogenic pump current (outward, one charge per cycle)"),
    _q("r_m_ohm", "Ω", "resistance_ohm", 0, 1e15, roles=(_A,),
       description="membrane (input) resistance"),
    _q("radius_um", "µm", "length", 0, 1e5, hi_in=True, roles=(_A,),
       description="radius of a spherical cell"),
    _q("atp_flux_per_s", "ATP/s", "molecular_rate", 0, 1e15, lo_in=True,
       roles=(_A,), description="ATP hydrolysed per second by a cell"),
    _q("dg_atp_kJ_mol", "kJ/mol", "molar_energy", 0, 100, hi_in=True, default=55.0,
       roles=(_A,), description="free energy of ATP hydrolysis in the cell"),
    _q("power_W", "W", "power", 0, 1e6, lo_in=True, roles=(_A, _OUT),
       description="free-energy dissipation of pumping"),
    _q("budget_W", "W", "power", 0, 1e6, hi_in=True, roles=(_A,),
       description="energy budget the pumping cost is compared with"),
    _q("a_mM", "mM", "concentration", 0, CONC_MAX_mM, lo_in=True, roles=(_A,),
       description="impermeant intracellular anions of a Donnan system"),
    _q("na_o_permeant_mM", "mM", "concentration", 0, CONC_MAX_mM, lo_in=True, default=0.0,
       roles=(_A,), description="extracellular permeant Na+ of a Donnan system "
                                "(0 for a K+-only system)"),
    _q("k_uptake_mol", "mol", "amount", 0, 1e-3, lo_in=True, roles=(_A,),
       description="K+ taken up by an astrocyte"),
    _q("influx_rate", "rate unit of v_max", "rate", 0, _INF, lo_in=True, roles=(_A,),
       description="Na+ influx the pump must balance (same unit as v_max)"),
    _q("v_max_rate", "rate unit of influx", "rate", 0, _INF, roles=(_A,),
       description="maximal pump Na+ extrusion rate (same unit as influx)"),
    _q("t_eval_s", "s", "time", roles=(_A,),
       description="output times of a simulation"),
    _q("state_conc_mM", "mM", "concentration", 0, CONC_MAX_mM, roles=(_A,),
       description="a concentration of the run-down state vector"),
)

#: Every quantity, by name.
QUANTITIES: dict[str, Quantity] = {q.name: q for q in _ENTRIES}
if len(QUANTITIES) != len(_ENTRIES):  # pragma: no cover - a slip in the table above
    raise RuntimeError("duplicate name in the quantity registry")


def get(name: str) -> Quantity:
    """The registry entry of ``name``; a KeyError lists close matches."""
    try:
        return QUANTITIES[name]
    except KeyError:
        import difflib

        near = difflib.get_close_matches(name, list(QUANTITIES), n=3)
        hint = f"; did you mean {', '.join(map(repr, near))}?" if near else ""
        raise KeyError(f"unknown quantity {name!r}{hint}") from None


def register(quantity: Quantity) -> Quantity:
    """Add a quantity (e.g. the parameter of a new mechanism) to the registry.

    Registering the same definition again is a no-op; a different definition under a
    registered name is refused.
    """
    old = QUANTITIES.get(quantity.name)
    if old is not None:
        if old == quantity:
            return old
        raise ValueError(f"quantity {quantity.name!r} is already registered with a "
                         f"different definition ({old.unit}, {old.domain_text()})")
    QUANTITIES[quantity.name] = quantity
    return quantity


def quantity(name: str, unit: str, dimension: str, low: float = -_INF, high: float = _INF,
             *, low_inclusive: bool = False, high_inclusive: bool = False,
             default: float | None = None, description: str = "") -> Quantity:
    """A parameter :class:`Quantity` (for :func:`register`)."""
    return _q(name, unit, dimension, low, high, lo_in=low_inclusive, hi_in=high_inclusive,
              default=default, description=description)


def names(role: str | None = None) -> tuple[str, ...]:
    """Names of all quantities, or of those with ``role``."""
    return tuple(n for n, q in QUANTITIES.items() if role is None or role in q.roles)


def unit_of(name: str) -> str:
    """Canonical unit of ``name`` (``""`` if the name is not registered). A mechanism's
    share of the ATP use, ``<mechanism>_atp_per_s``, has the unit of ``atp_per_s``."""
    q = QUANTITIES.get(name)
    if q is None and name.endswith("_atp_per_s"):
        q = QUANTITIES.get("atp_per_s")
    return q.unit if q is not None else ""


def domain_text(name: str) -> str:
    """The domain of ``name`` in words, with its unit."""
    return get(name).domain_text()


def hint_for(name: str, value: float) -> str:
    """A likely reason for an out-of-domain value (wrong unit), or ``""``."""
    q = QUANTITIES.get(name)
    if q is None or not math.isfinite(value):
        return ""
    if q.dimension == "temperature" and -50.0 < value < 100.0:
        return f"{value:g} looks like °C; give kelvin ({value + 273.15:g} K)"
    if q.dimension == "potential" and 0 < abs(value) < 0.3:
        return f"{value:g} looks like volts; give mV ({value * 1e3:g} mV)"
    if q.dimension == "concentration" and q.high == CONC_MAX_mM and value >= q.high:
        return f"{value:g} mM is above 2 M; is it in µM ({value * 1e-3:g} mM)?"
    return ""


def first_bad(arr: np.ndarray, bad: np.ndarray) -> tuple[float, str]:
    """The first value of ``arr`` where ``bad`` is True, and ``" at index (i, ...)"``
    for an array (``""`` for a scalar)."""
    if not np.ndim(arr):
        return float(arr), ""
    idx = np.argwhere(bad)[0]
    return float(arr[tuple(idx)]), f" at index {tuple(int(i) for i in idx)}"


def violation(name: str, value: Any, *, label: str | None = None,
              allow_inf: bool = False) -> str | None:
    """Why ``value`` is outside the domain of ``name``, or ``None`` if it is inside.

    ``value`` may be an array; NaN is outside every domain except where the default
    itself is NaN (a computed default). The message names the quantity (or ``label``,
    e.g. a function argument), the first bad value (with its index for arrays), the
    domain with its unit and, where one is likely, the unit slip behind it.
    ``allow_inf`` also accepts ``+inf`` (a model convention, e.g. a saturating dose).
    """
    q = get(name)
    arr = np.asarray(value, dtype=float)
    ok = q.contains(arr)
    if q.default is not None and math.isnan(q.default):
        ok = ok | np.isnan(arr)
    if allow_inf:
        ok = ok | np.isposinf(arr)
    if bool(np.all(ok)):
        return None
    v, where = first_bad(arr, ~ok)
    hint = hint_for(name, v)
    domain = q.domain_text() + (" (or inf)" if allow_inf else "")
    return (f"{label or name} must be {domain}; got {v!r}{where}"
            + (f" ({hint})" if hint else ""))


def defaults(selected: Iterable[str]) -> dict[str, float]:
    """Defaults of the ``selected`` names (each must have one)."""
    out = {}
    for n in selected:
        d = get(n).default
        if d is None:
            raise KeyError(f"{n!r} has no default")
        out[n] = d
    return out
