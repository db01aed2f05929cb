"""Secondary active transport and Ca2+ handling: each mechanism one rate law.

Every rate law here is thermodynamically consistent: its cycle flux is zero exactly
where the free-energy change of one cycle vanishes and has the sign of ``-ΔG``
whatever the kinetic parameters. Each mechanism carries ``free_energy`` (``ΔG/RT`` of
one cycle in the direction of a positive ``cycle_flux``, built from
:func:`~iongrad.models.mechanisms.base.delta_mu`) so that this can be checked.

Fluxes are outward, in pA-equivalents (see :mod:`iongrad.models.mechanisms.base`).

Mechanisms
----------
* :func:`kcc2` — K+-Cl- cotransport (1:1, electroneutral), the Cl- extruder of mature
  neurons. Driving-force form ``J = U ln(K_i Cl_i / K_o Cl_o)`` as in Doyon et al.
  2011 (PLoS Comput Biol 7:e1002149) and Wei, Ullah & Schiff 2014 (J Neurosci
  34:11733); saturable form with the apparent affinities of Payne 1997 (Am J Physiol
  273:C1516: K+ 5.2 mM, Cl- 6.8 mM).
* :func:`nkcc1` — Na+-K+-2Cl- cotransport (electroneutral), the Cl- loader of immature
  neurons and of secretory epithelia; driving-force form as for KCC2, saturable form
  with apparent affinities of the order reviewed by Russell 2000 (Physiol Rev 80:211;
  Na+ ~20 mM, K+ ~1.5 mM, Cl- ~30 mM); both blocked by bath bumetanide (``bumetanide_uM``,
  a condition; one-site block with IC50 ``nkcc1_bumetanide_ic50_uM``, about 1 µM:
  Hampel et al. 2018, Sci Rep 8:9877). Bumetanide's block of KCC2 (tens of µM and
  above) is not modelled.
* :func:`ncx` — Na+/Ca2+ exchanger, 3 Na+ : 1 Ca2+, one net charge per cycle; the
  current of Luo & Rudy 1994 (Circ Res 74:1071, their I_NaCa with η = 0.35, k_sat = 0.1,
  K_mNa = 87.5 mM, K_mCa = 1.38 mM). It reverses at ``E_NCX = 3 E_Na - 2 E_Ca``.
* :func:`pmca` — plasma-membrane Ca2+-ATPase: one Ca2+ out and one ATP per cycle,
  Hill activation by Ca_i (K ~0.5 µM: the sarcolemmal pump of Luo & Rudy 1994), times
  the thermodynamic factor ``1 - exp(ΔG/RT)`` with ΔG including ATP hydrolysis;
  electrogenic (the Ca2+ charge; see its docstring for the H+ it exchanges).
* :func:`na_coupled_uptake` — n Na+ (and m Cl-) with one neutral substrate into the
  cell: SGLT1 (2 Na+ + glucose; Wright, Loo & Hirayama 2011, Physiol Rev 91:733) and
  GAT1 (2 Na+ + 1 Cl- + GABA; Kanner 1994, J Exp Biol 196:237; Mager et al. 1993,
  Neuron 10:177), a Na+ load on the pump. Substrate concentrations are parameters
  (conditions) of the cell.

:func:`gaba_reversal` is not a mechanism but an output: the GABA-A receptor reversal
potential from the GHK equation for its two permeant anions, Cl- and HCO3-
(``P_HCO3/P_Cl`` ≈ 0.2, Bormann, Hamill & Sakmann 1987, J Physiol 385:243; Kaila 1994,
Prog Neurobiol 42:489).
"""

from __future__ import annotations

import sympy as sp

from iongrad.models.constants import R_J_PER_MOL_K
from iongrad.models.mechanisms.base import (
    Mechanism,
    bath,
    conc,
    delta_mu,
    pa_per_ion_per_s,
    param,
    temperature,
    thermal_voltage,
    voltage,
)
from iongrad.models.mechanisms.pump import hill

__all__ = [
    "gaba_reversal",
    "gat1",
    "kcc2",
    "kcc2_kinetic",
    "na_coupled_uptake",
    "ncx",
    "nkcc1",
    "nkcc1_kinetic",
    "pmca",
    "sglt1",
]

def _product(ions: dict[str, int], side) -> sp.Expr:
    return sp.Mul(*(side(x) ** n for x, n in ions.items()))


def _bumetanide_available() -> sp.Expr:
    """Fraction of NKCC1 not blocked by bath bumetanide (one-site block, IC50)."""
    return 1 / (1 + param("bumetanide_uM") / param("nkcc1_bumetanide_ic50_uM"))


def _cotransport_driving_force(name: str, ions: dict[str, int], strength: str,
                               description: str, available: sp.Expr = sp.S.One
                               ) -> Mechanism:
    """Electroneutral cotransport of ``ions`` (ion -> stoichiometry) outward at
    ``U ln(Π c_i^ν / Π c_o^ν)`` cycles (pA-equivalents): ``U × (-ΔG/RT)``, times the
    unblocked fraction ``available`` (a positive factor: the sign and the zero of the
    flux are unchanged)."""
    u = param(strength) * available
    dg = sp.Add(*(n * delta_mu(x) for x, n in ions.items()))
    drive = sp.log(_product(ions, conc)) - sp.log(_product(ions, bath))
    j = u * drive
    gross = u * (1 + sp.Abs(drive))
    return Mechanism(name, fluxes={x: n * j for x, n in ions.items()},
                     flux_scales={x: n * gross for x, n in ions.items()},
                     current_scale=0 * gross, free_energy=dg, cycle_flux=j,
                     description=description)


def _cotransport_kinetic(name: str, ions: dict[str, int], jmax: str,
                         affinities: dict[str, str], description: str,
                         available: sp.Expr = sp.S.One) -> Mechanism:
    """Electroneutral cotransport outward at ``J_max (a_i - a_o)/(1 + a_i + a_o)``
    cycles, ``a = Π (c/K_c)^ν`` on each side: a minimal symmetric carrier (loaded
    and empty carriers cross, binding at rapid equilibrium). Positive denominator, so
    the sign is that of ``a_i - a_o``, i.e. of ``-ΔG``."""
    def act(side):
        return sp.Mul(*((side(x) / param(affinities[x])) ** n for x, n in ions.items()))

    a_i, a_o = act(conc), act(bath)
    den = 1 + a_i + a_o
    j = param(jmax) * available * (a_i - a_o) / den
    gross = param(jmax) * available * (a_i + a_o) / den
    dg = sp.Add(*(n * delta_mu(x) for x, n in ions.items()))
    return Mechanism(name, fluxes={x: n * j for x, n in ions.items()},
                     flux_scales={x: n * gross for x, n in ions.items()},
                     current_scale=0 * gross, free_energy=dg, cycle_flux=j,
                     description=description)


def kcc2() -> Mechanism:
    """KCC2, K+:Cl- 1:1, driving-force form: outward ``kcc2_u_pA ln(K_i Cl_i/K_o Cl_o)``."""
    return _cotransport_driving_force(
        "kcc2", {"k": 1, "cl": 1}, "kcc2_u_pA",
        "KCC2 K+-Cl- cotransport (driving-force form, kcc2_u_pA)")


def kcc2_kinetic() -> Mechanism:
    """KCC2, saturable form (``kcc2_jmax_pA``, ``kcc2_k_k_mM``, ``kcc2_k_cl_mM``)."""
    return _cotransport_kinetic(
        "kcc2", {"k": 1, "cl": 1}, "kcc2_jmax_pA",
        {"k": "kcc2_k_k_mM", "cl": "kcc2_k_cl_mM"},
        "KCC2 K+-Cl- cotransport (saturable form, kcc2_jmax_pA)")


def nkcc1() -> Mechanism:
    """NKCC1, Na+:K+:2Cl-, driving-force form:
    outward cycles ``nkcc1_u_pA ln(Na_i K_i Cl_i² / Na_o K_o Cl_o²)``, times the fraction
    ``1 / (1 + bumetanide_uM / nkcc1_bumetanide_ic50_uM)`` not blocked by bumetanide."""
    return _cotransport_driving_force(
        "nkcc1", {"na": 1, "k": 1, "cl": 2}, "nkcc1_u_pA",
        "NKCC1 Na+-K+-2Cl- cotransport (driving-force form, nkcc1_u_pA)",
        _bumetanide_available())


def nkcc1_kinetic() -> Mechanism:
    """NKCC1, saturable form (``nkcc1_jmax_pA`` and its three affinities)."""
    return _cotransport_kinetic(
        "nkcc1", {"na": 1, "k": 1, "cl": 2}, "nkcc1_jmax_pA",
        {"na": "nkcc1_k_na_mM", "k": "nkcc1_k_k_mM", "cl": "nkcc1_k_cl_mM"},
        "NKCC1 Na+-K+-2Cl- cotransport (saturable form, nkcc1_jmax_pA)",
        _bumetanide_available())


def ncx() -> Mechanism:
    """Na+/Ca2+ exchanger (Luo & Rudy 1994), current outward positive, pA::

        I = k (e^{γu} Na_i³ Ca_o - e^{(γ-1)u} Na_o³ Ca_i)
            / ((K_mNa³ + Na_o³)(K_mCa + Ca_o)(1 + k_sat e^{(γ-1)u})),   u = V/(RT/F)

    One cycle moves 3 Na+ out and 1 Ca2+ in when ``I > 0`` (reverse mode); the forward
    (Ca2+-extruding) mode is an inward current. ``I = 0`` exactly at
    ``V = 3 E_Na - 2 E_Ca``.
    """
    u = voltage() / thermal_voltage()
    g = param("ncx_gamma")
    na_i, na_o, ca_i, ca_o = conc("na"), bath("na"), conc("ca"), bath("ca")
    den = ((param("ncx_k_m_na_mM") ** 3 + na_o ** 3) * (param("ncx_k_m_ca_mM") + ca_o)
           * (1 + param("ncx_k_sat") * sp.exp((g - 1) * u)))
    k = param("ncx_k_pA")
    fwd = sp.exp(g * u) * na_i ** 3 * ca_o
    rev = sp.exp((g - 1) * u) * na_o ** 3 * ca_i
    i = k * (fwd - rev) / den
    gross = k * (fwd + rev) / den
    return Mechanism(
        "ncx", fluxes={"na": 3 * i, "ca": -i},
        flux_scales={"na": 3 * gross, "ca": gross}, current_scale=gross,
        free_energy=3 * delta_mu("na") - delta_mu("ca"), cycle_flux=i,
        description="Na+/Ca2+ exchanger, 3 Na+ : 1 Ca2+ (Luo-Rudy 1994)")


def pmca() -> Mechanism:
    """Plasma-membrane Ca2+-ATPase: one Ca2+ out and one ATP per cycle.

    Ca2+ extruded (pA-equivalents; ``pmca_max_pA`` is the Ca2+ current at saturation,
    2 charges per ion)::

        J = (I_max/2) h(Ca_i) (1 - e^{ΔG/RT}),   h = 1/(1 + (K/Ca_i)^n)
        ΔG/RT = ln(Ca_o/Ca_i) - 2V/(RT/F) - ΔG_ATP/RT

    Far from equilibrium (``|ΔG_ATP|`` ≈ 55 kJ/mol) the factor is 1 and this is the
    electrogenic sarcolemmal Ca2+ pump of Luo & Rudy 1994 (a Ca2+ current, K_m 0.5 µM);
    it still stops, and reverses, where the Ca2+ gradient would outweigh ATP. The
    pump counter-transports H+ (2 H+ per Ca2+, which makes it electroneutral: Thomas
    2009, J Physiol 587:315); with pH not a state of the model, that H+ would have to be
    re-extruded by pH regulation the model does not hold, so the pump is modelled with
    the Ca2+ charge only, as Luo & Rudy do.
    """
    ca_i_nm = conc("ca") * sp.Float(1e6)
    h = hill(ca_i_nm, param("pmca_k_ca_nM"), param("pmca_hill"))
    dg_atp = param("dg_atp_mag_kJ_mol") * sp.Float(1e3 / R_J_PER_MOL_K) / temperature()
    dg = sp.expand(delta_mu("ca") - dg_atp)
    j = param("pmca_max_pA") / 2 * h * (1 - sp.exp(dg))
    gross = param("pmca_max_pA") / 2 * h * (1 + sp.exp(dg))
    return Mechanism(
        "pmca", fluxes={"ca": j}, atp_per_s=j / pa_per_ion_per_s,
        flux_scales={"ca": gross}, free_energy=dg, cycle_flux=j,
        # the solver's start: Ca_i where the pump runs at a sixth of its maximum
        guess={"ca": param("pmca_k_ca_nM") * sp.Float(1e-6) / 5},
        description="plasma-membrane Ca2+-ATPase (1 Ca2+ out, 1 ATP per cycle)")


def na_coupled_uptake(name: str, n_na: int, n_cl: int, substrate: str) -> Mechanism:
    """``n_na`` Na+, ``n_cl`` Cl- and one neutral substrate molecule into the cell per
    cycle; net charge ``q = n_na - n_cl`` inward.

    Inward cycle rate (pA-equivalents): the ions (with the membrane field) and the
    substrate saturate independently on each side::

        J = J_max (f - r) / D,   f = c_o s_o,   r = c_i s_i
        D = (1 + c_o)(1 + s_o) + (1 + c_i)(1 + s_i) - 1
        c = (Na/K_Na)^n (Cl/K_Cl)^m e^{∓qu/2} (outside -, inside +),   s = S/K_S,
        u = V/(RT/F)

    zero exactly at ``ΔG/RT = -ln(f/r) = 0`` (the denominator is positive, so the sign
    of J is that of -ΔG whatever the affinities); ``|J| < J_max`` at every V (the SGLT1
    current saturates at hyperpolarised potentials: Parent et al. 1992, J Membr Biol
    125:49). With the ions saturating (145 mM Na+ outside at rest) the substrate's
    apparent affinity is ``K_S`` itself: for SGLT1 about 0.5 mM glucose (Wright, Loo &
    Hirayama 2011, Physiol Rev 91:733). Parameters
    ``<name>_jmax_pA``, ``<name>_k_na_mM``, ``<name>_k_cl_mM`` (with Cl-),
    ``<name>_k_s_mM`` and the substrate's ``<substrate>_o_mM``, ``<substrate>_i_mM``.
    """
    u = voltage() / thermal_voltage()
    q = n_na - n_cl

    def ions(side):
        c = (side("na") / param(f"{name}_k_na_mM")) ** n_na
        if n_cl:
            c = c * (side("cl") / param(f"{name}_k_cl_mM")) ** n_cl
        return c

    c_o = ions(bath) * sp.exp(-q * u / 2)
    c_i = ions(conc) * sp.exp(q * u / 2)
    s_o = param(f"{substrate}_o_mM") / param(f"{name}_k_s_mM")
    s_i = param(f"{substrate}_i_mM") / param(f"{name}_k_s_mM")
    jmax = param(f"{name}_jmax_pA")
    fwd, rev = c_o * s_o, c_i * s_i
    den = (1 + c_o) * (1 + s_o) + (1 + c_i) * (1 + s_i) - 1
    j = jmax * (fwd - rev) / den
    gross = jmax * (fwd + rev) / den
    dg_in = -(n_na * delta_mu("na") + n_cl * delta_mu("cl")
              + sp.log(param(f"{substrate}_o_mM") / param(f"{substrate}_i_mM")))
    fluxes = {"na": -n_na * j}
    scales = {"na": n_na * gross}
    if n_cl:
        fluxes["cl"] = -n_cl * j
        scales["cl"] = n_cl * gross
    return Mechanism(name, fluxes=fluxes, flux_scales=scales,
                     current_scale=abs(q) * gross, free_energy=dg_in, cycle_flux=j,
                     description=f"{name}: {n_na} Na+"
                                 + (f" + {n_cl} Cl-" if n_cl else "")
                                 + f" + {substrate} uptake (Na+ load)")


def sglt1() -> Mechanism:
    """SGLT1: 2 Na+ + 1 glucose in (electrogenic, 2 charges in per cycle)."""
    return na_coupled_uptake("sglt1", 2, 0, "glucose")


def gat1() -> Mechanism:
    """GAT1: 2 Na+ + 1 Cl- + 1 GABA in (electrogenic, 1 charge in per cycle)."""
    return na_coupled_uptake("gat1", 2, 1, "gaba")


def gaba_reversal(hco3_i: sp.Expr | None = None) -> sp.Expr:
    """GABA-A reversal potential, mV (GHK for two anions)::

        E_GABA = (RT/F) ln((Cl_i + r HCO3_i) / (Cl_o + r HCO3_o)),  r = P_HCO3/P_Cl

    ``hco3_i`` defaults to the CO2/HCO3- equilibrium at the bath's pCO2,
    ``HCO3_o 10^(pH_i - pH_o)`` (Henderson–Hasselbalch); pass ``conc("hco3")`` for a
    model with HCO3- as a state.
    """
    r = param("p_hco3_over_p_cl")
    if hco3_i is None:
        hco3_i = bath("hco3") * 10 ** (param("ph_i") - param("ph_o"))
    return thermal_voltage() * sp.log((conc("cl") + r * hco3_i) / (bath("cl") + r * bath("hco3")))


def gaba_a_reversal() -> Mechanism:
    """A reporter, not a transport process: no flux, the output ``e_gaba_mV``
    (:func:`gaba_reversal`). Declared with the mechanisms (spec ``"gaba_a_reversal"``)
    so that a composition's record says that it reports E_GABA."""
    return Mechanism("gaba_a_reversal", fluxes={}, outputs={"e_gaba_mV": gaba_reversal()},
                     description="GABA-A reversal potential (Cl- and HCO3-, GHK)")
