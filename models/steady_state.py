"""Pump–leak steady state of a cell.

Two forms:

* **Closed forms** (internal concentrations given): :func:`closed_form_steady_state`
  returns the Mullins–Noda potential (ohmic or GHK leaks, coupling ratio r = 3/2),
  the pump current that balances the leaks and its ATP/s.
* **The full model** (Na_i, K_i, Cl_i and V unknown): :func:`solve_steady_state`.

Full model
----------
Leaks of Na+, K+ and Cl- (ohmic ``g (V - E)`` or GHK with permeabilities), the
Na+/K+ pump (3 Na+ out, 2 K+ in, kinetics of :mod:`iongrad.models.pump`) and
impermeant intracellular anions (concentration ``a_i_mM``, mean valence ``-z_a``).
At steady state::

    I_Na,leak + 3 I_p = 0           (Na+ balance)
    I_K,leak  - 2 I_p = 0           (K+ balance)
    I_Cl,leak         = 0           (Cl- at equilibrium: Cl_i = Cl_o e^{FV/RT})
    Na_i + K_i - Cl_i - z_a A_i = 0 (electroneutrality)

and the total current ``I_Na + I_K + I_Cl + I_p`` is then zero. With
``volume="fixed"`` the impermeant concentration is ``a_i_mM``; with
``volume="osmotic"`` the cell volume (and so A_i) adjusts until the internal
osmolarity ``Na_i + K_i + Cl_i + A_i`` equals ``osm_o_mOsm``.

Solution method
---------------
The cell is the composition ``pump_leak`` (ohmic leaks; ``pump_leak_ghk`` for GHK
leaks, ``_osmotic`` for osmotic volume) of :mod:`iongrad.models.membrane`, and it is
solved by the generated solver of :mod:`iongrad.models.steady_core`: given
``x = ln Na_i`` the pump current is explicit; the Na+ balance then fixes V
(explicitly for ohmic leaks, by a monotone 1-D solve for GHK leaks); the K+
balance gives K_i and the Cl- equilibrium gives Cl_i explicitly. What is left is
one scalar equation in ``x`` — electroneutrality — whose residual is strictly
increasing in ``x``; Newton with its exact (generated) derivative, then a
bracketed Ridders iteration where Newton does not settle. Concentrations are
positive by construction. Every result is checked against all balance equations
(relative residual <= ``rtol_check``); samples that fail, or with no physical
steady state (in osmotic mode, a pump too weak to stop Donnan swelling), come
back with ``feasible=False`` and a ``reason``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike

from iongrad.models import quantities as _quantities
from iongrad.models._backend import NP, check, check_broadcast
from iongrad.models.constants import (
    T_DEFAULT_K,
)
from iongrad.models.energy import ATP_PER_O2_DEFAULT, atp_per_s_kernel, o2_per_s_kernel
from iongrad.models.errors import ModelInputError
from iongrad.models.membrane import Membrane, composition, default_bath_osmolarity
from iongrad.models.steady_core import REASONS, plan_for, solve_membrane
from iongrad.models.thermo import (
    ghk_current_kernel_pA,
    ghk_phi_d1,
    mullins_noda_ghk_mV,
    mullins_noda_ohmic_mV,
    nernst_mV,
    ohmic_current_kernel_pA,
)

__all__ = [
    "DEFAULT_PARAMS",
    "REASONS",
    "SteadyState",
    "closed_form_steady_state",
    "ghk_slope_factor",
    "solve_steady_state",
    "steady_state_of",
    "steady_state_residuals",
]

#: Names of the steady-state parameters, in the order of :data:`DEFAULT_PARAMS`.
_PARAM_NAMES = (
    "g_na_nS", "g_k_nS", "g_cl_nS", "p_na_cm_s", "p_k_cm_s", "p_cl_cm_s",
    "pump_density_per_um2", "area_um2", "volume_pL", "turnover_max_per_s", "k_na_mM",
    "hill_na", "k_k_mM", "hill_k", "atp_mM", "k_atp_mM", "na_o_mM", "k_o_mM", "cl_o_mM",
    "a_i_mM", "activity_load_pA", "z_a", "osm_o_mOsm", "temperature_K", "atp_per_o2",
)

#: A typical small mammalian neuron (soma as a 10 µm-radius sphere). Units in the names.
#: Values are the defaults of :mod:`iongrad.models.quantities`; ``osm_o_mOsm`` is nan
#: (computed: 2 (Na_o + K_o), an electroneutral monovalent bath).
DEFAULT_PARAMS: dict[str, float] = _quantities.defaults(_PARAM_NAMES)

#: Units of every parameter (from the registry), used in error messages and reports.
PARAM_UNITS: dict[str, str] = {k: _quantities.unit_of(k) for k in _PARAM_NAMES}

_LEAK_PARAMS = {"ohmic": ("g_na_nS", "g_k_nS", "g_cl_nS"),
                "ghk": ("p_na_cm_s", "p_k_cm_s", "p_cl_cm_s")}
#: Model rule (not a domain): the Na+ and K+ leaks carry the pump's fluxes, so they must
#: be > 0 although their registry domains include 0.
LEAKS_POSITIVE = _LEAK_PARAMS["ohmic"][:2] + _LEAK_PARAMS["ghk"][:2]


def domain_classes(names, *, positive=()) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The names that must be > 0 and those that must be >= 0, from the registry
    (lower bound 0 excluded -> positive; 0 included -> nonnegative); ``positive`` adds
    names a model rule makes positive."""
    pos, nonneg = [], []
    for k in names:
        q = _quantities.get(k)
        if k in positive or q.low > 0 or (q.low == 0 and not q.low_inclusive):
            pos.append(k)
        elif q.low == 0:
            nonneg.append(k)
    return tuple(pos), tuple(nonneg)


_POSITIVE, _NONNEG = (set(c) for c in domain_classes(_PARAM_NAMES))


#: ``Φ'(w)`` of the GHK function (kept under its old name).
ghk_slope_factor = ghk_phi_d1


def _osm_o(p, xp):
    osm = p["osm_o_mOsm"]
    if xp.symbolic:
        return osm
    return np.where(np.isnan(osm), default_bath_osmolarity(p["na_o_mM"], p["k_o_mM"]), osm)


# --------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------
def _resolve_params(leak: str, volume: str, overrides: dict) -> dict:
    if leak not in _LEAK_PARAMS:
        raise ModelInputError(f"leak must be 'ohmic' or 'ghk'; got {leak!r}")
    if volume not in ("fixed", "osmotic"):
        raise ModelInputError(f"volume must be 'fixed' or 'osmotic'; got {volume!r}")
    unknown = sorted(set(overrides) - set(DEFAULT_PARAMS))
    if unknown:
        raise ModelInputError(
            f"unknown steady-state parameter(s) {unknown}; known: {sorted(DEFAULT_PARAMS)}")
    p = dict(DEFAULT_PARAMS)
    p.update(overrides)
    # model rule: the Na+ and K+ leaks of the chosen leak model must be > 0
    leak_positive = set(_LEAK_PARAMS[leak][:2])
    out = {name: check(name, value, positive=name in leak_positive)
           for name, value in p.items()}
    check_broadcast(**out)
    return out


# --------------------------------------------------------------------------------------
# Full steady state (NumPy)
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SteadyState:
    """Result of :func:`solve_steady_state`; every field is an array of the broadcast shape.

    Concentrations in mM, potentials in mV, currents in pA, resistance in MΩ,
    volume in pL, rates in molecules/s. ``feasible`` is True where a physical
    steady state was found and verified; elsewhere every numeric field is NaN and
    ``reason`` (see :data:`REASONS`) says why.
    """

    na_i_mM: np.ndarray
    k_i_mM: np.ndarray
    cl_i_mM: np.ndarray
    a_i_mM: np.ndarray
    v_rest_mV: np.ndarray
    e_na_mV: np.ndarray
    e_k_mV: np.ndarray
    e_cl_mV: np.ndarray
    pump_current_pA: np.ndarray
    atp_per_s: np.ndarray
    o2_per_s: np.ndarray
    r_in_MOhm: np.ndarray
    volume_pL: np.ndarray
    feasible: np.ndarray
    reason: np.ndarray
    iterations: np.ndarray
    residuals: dict = field(repr=False)

    @property
    def converged(self) -> np.ndarray:
        """Alias of ``feasible``."""
        return self.feasible

    def as_dict(self) -> dict[str, np.ndarray]:
        """Named outputs (no residuals) as a plain dict."""
        return {k: getattr(self, k) for k in OUTPUTS}


#: Names of the numeric outputs of :func:`solve_steady_state`.
OUTPUTS = ("na_i_mM", "k_i_mM", "cl_i_mM", "a_i_mM", "v_rest_mV", "e_na_mV", "e_k_mV",
           "e_cl_mV", "pump_current_pA", "atp_per_s", "o2_per_s", "r_in_MOhm", "volume_pL",
           "feasible")


#: The membrane model of each (leak, volume) choice.
_COMPOSITION = {("ohmic", "fixed"): "pump_leak", ("ghk", "fixed"): "pump_leak_ghk",
                ("ohmic", "osmotic"): "pump_leak_osmotic",
                ("ghk", "osmotic"): "pump_leak_ghk_osmotic"}


def membrane_for(leak: str = "ohmic", volume: str = "fixed") -> Membrane:
    """The composition (:mod:`iongrad.models.membrane`) that this module solves."""
    return composition(_COMPOSITION[(leak, volume)])


def _membrane_params(m: Membrane, p: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    q = {k: p[k] for k in m.parameters}
    if "osm_o_mOsm" in q:
        q["osm_o_mOsm"] = _osm_o(p, NP)
    return q


def steady_state_residuals(na_i_mM: ArrayLike, k_i_mM: ArrayLike, cl_i_mM: ArrayLike,
                           v_mV: ArrayLike, a_i_mM: ArrayLike, p: Mapping[str, ArrayLike],
                           *, leak: str = "ohmic") -> dict[str, np.ndarray]:
    """Relative residuals of every balance equation at a candidate steady state.

    Returns a dict of ``na``, ``k``, ``cl`` (flux balances), ``current`` (total
    membrane current) and ``electroneutrality``, each ``|sum| / scale`` where the
    scale of a mechanism is its gross (unidirectional) magnitude — ``g (|V| + |E| +
    RT/F)`` for an ohmic leak, the sum of both unidirectional GHK fluxes — so that a
    balance at equilibrium (no pump) is judged against the fluxes it balances, not
    zero. ``a_i_mM`` is the impermeant concentration at this state. Generated from
    the membrane model's rate laws (:mod:`iongrad.models.steady_core`).
    """
    m = membrane_for(leak, "fixed")
    plan = plan_for(m)
    q = dict(p)
    q["a_i_mM"] = a_i_mM
    res = plan._checks(na_i_mM, k_i_mM, cl_i_mM, v_mV, *(q[k] for k in plan.params))
    return dict(zip(plan.check_names, res, strict=True))


def solve_core(p: dict, *, leak: str = "ohmic", volume: str = "fixed", x0=None,
               rtol_check: float = 1e-9, max_iter: int = 100, max_conc_mM: float = 2000.0):
    """Solver kernel on validated, flattened parameter vectors (no input checks).

    ``p`` maps every name of :data:`DEFAULT_PARAMS` to a 1-D float array of one
    common length. ``x0`` optionally warm-starts ``ln Na_i``. Used by
    :func:`solve_steady_state` and by the PyTensor Op, which supplies parameters
    that are valid by construction. Returns ``x, v, state, reason, residuals,
    iterations`` (``state``: concentrations, ``a_i_mM`` and ``pump_current_pA``).
    """
    sol = _solve(p, leak, volume, x0=x0, rtol_check=rtol_check, max_iter=max_iter,
                 max_conc_mM=max_conc_mM)
    st = dict(sol.state)
    st["pump_current_pA"] = sol.outputs["na_k_pump_current_pA"]
    return sol.x, sol.state["v_mV"], st, sol.reason, sol.residuals, sol.iterations


def _solve(p, leak, volume, **kw):
    m = membrane_for(leak, volume)
    return solve_membrane(m, _membrane_params(m, p), **kw)


def solve_steady_state(*, leak: str = "ohmic", volume: str = "fixed", rtol_check: float = 1e-9,
                       max_iter: int = 100, max_conc_mM: float = 2000.0,
                       **params) -> SteadyState:
    """Solve the full pump–leak steady state for every broadcast parameter set at once.

    Parameters
    ----------
    leak : {"ohmic", "ghk"}
        Leak model: ohmic conductances ``g_*_nS`` or GHK permeabilities ``p_*_cm_s``.
    volume : {"fixed", "osmotic"}
        Fixed volume with impermeant anions ``a_i_mM``, or osmotic volume where
        ``a_i_mM`` is the impermeant concentration at the reference ``volume_pL``
        and the cell swells or shrinks until internal and external osmolarity match.
    rtol_check : float
        Largest relative residual of any balance equation accepted as converged.
    max_iter : int
        Iteration limit of the root finder.
    max_conc_mM : float
        A solution that needs an intracellular concentration above this (mM) is
        reported as unphysical (reason 5): the pump cannot balance leaks and load.
    **params
        Any of :data:`DEFAULT_PARAMS` (units in the names); arrays broadcast together.

    Returns
    -------
    SteadyState
        Concentrations, potentials, pump current, ATP/s, O2/s, input resistance,
        volume, ``feasible`` and ``reason`` per parameter set.

    Raises
    ------
    ModelInputError
        For unknown parameters, non-positive concentrations, temperature or
        volume, negative conductances/densities/rates, or shapes that do not
        broadcast.

    Examples
    --------
    >>> ss = solve_steady_state(g_na_nS=0.5, g_k_nS=5.0, k_o_mM=[2.5, 4.0, 10.0])
    >>> ss.v_rest_mV.round(1)  # doctest: +SKIP
    """
    p = _resolve_params(leak, volume, params)
    out, feasible, reason, iters, res = _solve_outputs(
        membrane_for(leak, volume), p, rtol_check=rtol_check, max_iter=max_iter,
        max_conc_mM=max_conc_mM)
    return SteadyState(**{k: out[k] for k in OUTPUTS if k != "feasible"}, feasible=feasible,
                       reason=reason, iterations=iters, residuals=res)


def membrane_params(membrane: Membrane, params: Mapping) -> dict[str, np.ndarray]:
    """Every parameter of ``membrane``: its defaults updated by ``params``, each checked
    against its registry domain (the Na+ and K+ leaks > 0) and broadcast-compatible."""
    unknown = sorted(set(params) - set(membrane.parameters))
    if unknown:
        raise ModelInputError(f"unknown parameter(s) {unknown} of membrane model "
                              f"{membrane.name!r}; it takes {', '.join(membrane.parameters)}")
    p = membrane.defaults()
    p.update(params)
    p = {name: check(name, value, positive=name in LEAKS_POSITIVE) for name, value in p.items()}
    check_broadcast(**p)
    return p


def steady_state_of(membrane: Membrane, *, rtol_check: float = 1e-9, max_iter: int = 100,
                    max_conc_mM: float = 2000.0, **params) -> dict[str, np.ndarray]:
    """Steady state of any membrane model (:mod:`iongrad.models.membrane`), every
    broadcast parameter set at once.

    Parameters
    ----------
    membrane : Membrane
        A composition, e.g. ``composition("pump_leak_hco3")`` or one built by
        :func:`~iongrad.models.membrane.membrane_from_spec`.
    rtol_check, max_iter, max_conc_mM
        As in :func:`solve_steady_state`.
    **params
        Any of ``membrane.parameters`` (units in the names); the others take their
        registry defaults. Arrays broadcast together.

    Returns
    -------
    dict of str to numpy.ndarray
        ``<ion>_i_mM`` of every ion of the model, ``a_i_mM``, ``v_rest_mV``,
        ``e_<ion>_mV``, ``pump_current_pA`` (with the mechanism ``na_k_pump``),
        ``atp_per_s``, ``o2_per_s``, ``r_in_MOhm``, ``volume_pL`` (NaN where
        ``feasible`` is False), ``feasible``, ``reason`` and ``iterations``. For the
        compositions :func:`solve_steady_state` solves, the same numbers as its fields.

    Raises
    ------
    ModelInputError
        For a parameter the model does not take, values outside their domain, or
        shapes that do not broadcast.
    """
    p = membrane_params(membrane, params)
    out, feasible, reason, iters, _res = _solve_outputs(
        membrane, p, rtol_check=rtol_check, max_iter=max_iter, max_conc_mM=max_conc_mM)
    return {**out, "feasible": feasible, "reason": reason, "iterations": iters}


def _solve_outputs(m: Membrane, p: dict, **kw):
    """Named outputs of membrane ``m`` for validated (broadcastable) parameters ``p``:
    ``(outputs, feasible, reason, iterations, residuals)``, each of the broadcast shape."""
    shape = np.broadcast_shapes(*(np.shape(v) for v in p.values()))
    p = {k: np.broadcast_to(v, shape).astype(float).ravel() for k, v in p.items()}
    sol = solve_membrane(m, _membrane_params(m, p), **kw)
    st, reason, res, iters, o = sol.state, sol.reason, sol.residuals, sol.iterations, sol.outputs
    v = st["v_mV"]
    feasible = reason == 0
    if m.volume == "osmotic":
        vol = p["volume_pL"] * p["a_i_mM"] / np.where(st["a_i_mM"] > 0, st["a_i_mM"], np.nan)
    else:
        vol = p["volume_pL"]
    with np.errstate(all="ignore"):
        out = {f"{x}_i_mM": st[f"{x}_i_mM"] for x in m.ions}
        out["a_i_mM"] = st["a_i_mM"]
        out["v_rest_mV"] = v
        out.update({f"e_{x}_mV": o[f"e_{x}_mV"] for x in m.ions})
        if "na_k_pump_current_pA" in o:
            out["pump_current_pA"] = o["na_k_pump_current_pA"]
        for mech in m.mechanisms:  # currents that are quantities of their own (NCX)
            name = f"{mech.name}_current_pA"
            if name in _quantities.QUANTITIES:
                out[name] = o[name]
        out.update({k: o[k] for k in m.output_expressions()})
        if m.has_atp_budget:  # who spends the ATP (Membrane.atp_shares)
            out.update({k: o[k] for k in m.atp_shares})
        out["atp_per_s"] = o["atp_per_s"]
        out["o2_per_s"] = o2_per_s_kernel(o["atp_per_s"], p["atp_per_o2"])
        out["r_in_MOhm"] = 1e3 / o["slope_conductance_nS"]
        out["volume_pL"] = np.broadcast_to(vol, v.shape).astype(float)
    out = {k: np.where(feasible, val, np.nan).reshape(shape) for k, val in out.items()}
    return (out, feasible.reshape(shape), reason.reshape(shape), iters.reshape(shape),
            {k: r.reshape(shape) for k, r in res.items()})


# --------------------------------------------------------------------------------------
# Closed forms (internal concentrations given)
# --------------------------------------------------------------------------------------
def closed_form_steady_state(na_i_mM: ArrayLike, k_i_mM: ArrayLike, na_o_mM: ArrayLike,
                             k_o_mM: ArrayLike, *, leak: str = "ohmic",
                             g_na_nS: ArrayLike | None = None,
                             g_k_nS: ArrayLike | None = None,
                             p_na_cm_s: ArrayLike | None = None,
                             p_k_cm_s: ArrayLike | None = None,
                             area_um2: ArrayLike = DEFAULT_PARAMS["area_um2"],
                             temperature_K: ArrayLike = T_DEFAULT_K,
                             atp_per_o2: ArrayLike = ATP_PER_O2_DEFAULT) -> dict[str, ArrayLike]:
    """Mullins–Noda potential and the pump that balances the leaks (concentrations given).

    With Na+ and K+ each in flux balance against a 3:2 pump, the potential is the
    Mullins–Noda potential (ohmic or GHK form, r = 3/2) and the pump current is
    ``I_p = -I_Na/3 = I_K/2``.

    Parameters
    ----------
    na_i_mM, k_i_mM, na_o_mM, k_o_mM : array_like
        Concentrations, mM.
    leak : {"ohmic", "ghk"}
        Ohmic leaks need ``g_na_nS`` and ``g_k_nS`` (nS); GHK leaks need
        ``p_na_cm_s`` and ``p_k_cm_s`` (cm/s) and ``area_um2``.

    Returns
    -------
    dict
        ``v_rest_mV``, ``pump_current_pA``, ``atp_per_s``, ``o2_per_s``.
    """
    if leak not in _LEAK_PARAMS:
        raise ModelInputError(f"leak must be 'ohmic' or 'ghk'; got {leak!r}")
    a = {"na_i_mM": na_i_mM, "k_i_mM": k_i_mM, "na_o_mM": na_o_mM, "k_o_mM": k_o_mM,
         "temperature_K": temperature_K, "atp_per_o2": atp_per_o2}
    if leak == "ohmic":
        if g_na_nS is None or g_k_nS is None:
            raise ModelInputError("ohmic closed form needs g_na_nS and g_k_nS (nS)")
        a.update(g_na_nS=g_na_nS, g_k_nS=g_k_nS)
    else:
        if p_na_cm_s is None or p_k_cm_s is None:
            raise ModelInputError("GHK closed form needs p_na_cm_s and p_k_cm_s (cm/s)")
        a.update(p_na_cm_s=p_na_cm_s, p_k_cm_s=p_k_cm_s, area_um2=area_um2)
    # Model rule (not a domain): both leaks carry the pump's fluxes, so both are > 0.
    leak_positive = _LEAK_PARAMS[leak][:2]
    a = {k: check(k, v, positive=k in leak_positive) for k, v in a.items()}
    check_broadcast(**a)
    t = a["temperature_K"]
    if leak == "ohmic":
        e_na = nernst_mV(a["na_o_mM"], a["na_i_mM"], 1, t)
        e_k = nernst_mV(a["k_o_mM"], a["k_i_mM"], 1, t)
        v = mullins_noda_ohmic_mV(a["g_na_nS"], a["g_k_nS"], e_na, e_k)
        i_p = ohmic_current_kernel_pA(v, e_k, a["g_k_nS"]) / 2.0
    else:
        v = mullins_noda_ghk_mV(a["p_k_cm_s"], a["p_na_cm_s"], a["k_o_mM"], a["k_i_mM"],
                                a["na_o_mM"], a["na_i_mM"], temperature_K=t)
        i_p = ghk_current_kernel_pA(v, a["k_i_mM"], a["k_o_mM"], a["p_k_cm_s"], a["area_um2"],
                                    1, t) / 2.0
    atp_per_o2 = a["atp_per_o2"]
    atp = atp_per_s_kernel(i_p)
    return {"v_rest_mV": v, "pump_current_pA": i_p, "atp_per_s": atp,
            "o2_per_s": o2_per_s_kernel(atp, atp_per_o2)}
