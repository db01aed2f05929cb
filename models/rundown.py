"""Run-down of the ion gradients after anoxia or ouabain (SPEC item 9).

Model
-----
A cell of fixed volume ``volume_pL`` and membrane area ``area_um2`` with Na+, K+
and Cl- leaks (GHK permeabilities ``p_*_cm_s``, or ohmic conductances ``g_*_nS``)
and the Na+/K+ pump of :mod:`iongrad.models.pump` (3 Na+ out, 2 K+ in, one net
charge out and one ATP per cycle). The state is ``Na_i, K_i, Cl_i`` (mM) and,
with a finite extracellular space, also ``Na_o, K_o, Cl_o`` (mM). Per ion, with
currents in pA (positive outward) and volumes in pL::

    dNa_i/dt = -(I_Na + 3 I_p) k        k = 1e3 / (F vol_i)   (pA/pL -> mM/s)
    dK_i/dt  = -(I_K  - 2 I_p) k
    dCl_i/dt = +I_Cl k                  (z = -1)
    dX_o/dt  = -dX_i/dt × vol_i/vol_o   vol_o = alpha/(1 - alpha) × vol_i

``I_Na`` and ``I_K`` include the activity load of the steady-state model
(``activity_load_pA``: Na+ in and K+ out, electroneutral), so the pump–leak
steady state of :func:`iongrad.models.steady_state.solve_steady_state` is an
exact fixed point of these equations.

Pump drive (time ``t`` in s, onset ``t0``)::

    I_p = N A turnover_max e × f(Na_i) g(K_o) h(ATP(t)) × (1 - b(t))
    anoxia:  ATP(t) = ATP0 exp(-(t - t0)/tau_atp) for t > t0, ATP0 before; b = 0
    ouabain: b(t) = occ (1 - exp(-(t - t0)/tau_block)) for t > t0, 0 before,
             occ = dose/(dose + IC50); tau_block = 0 is a step at t0 (t >= t0);
             ATP stays at ATP0.

Membrane potential
------------------
V is not a state. It is the quasi-steady potential at which the total membrane
current vanishes, ``I_Na + I_K + I_Cl + I_p = 0`` (GHK current equation for each
ion, exact through V = 0). The total current is strictly increasing in V, so
this is a monotone 1-D root; it is solved by a bracketed, safeguarded Newton
iteration on ``w = FV/RT`` for all samples at once (closed form for ohmic
leaks). Why not the charge-difference formula ``V = F vol Σ z c / C_m``: the
membrane time constant ``R_in C_m`` is tens of ms while the run-down takes
minutes to hours, and the charge that sets V is tiny (charging 12.6 pF by 70 mV
moves 2e-3 mM of monovalent ions in 4.2 pL, against gradients of ~100 mM). The
zero-current condition makes ``Na_i + K_i - Cl_i`` exactly constant, so the
initial electroneutrality is kept for the whole run; the charge that the
capacitor would hold is reported as ``capacitive_charge_mM`` so that the
neglect can be checked. One consequence: a step change of the pump current (an
instantaneous ouabain block) moves V at once by about ``I_p R_in`` (the real
membrane does this within ``R_in C_m``).

End state
---------
Once the pump has stopped, every permeant ion relaxes to electrochemical
equilibrium, and with impermeant anions inside (fixed volume) the end state is
the Gibbs–Donnan equilibrium ``Na_i/Na_o = K_i/K_o = Cl_o/Cl_i = exp(-FV/RT)``
with ``Na_i + K_i - Cl_i`` at its initial value. For the default neuron this is
about -12 mV: the potential "decays towards 0 mV" up to this Donnan offset
(the offset vanishes as the impermeant anion content does; a cell free to swell
would dilute it).

Backends
--------
The current and flux expressions (:func:`pump_drive`, :func:`rundown_currents_pA`,
:func:`zero_current_residual_pA`, :func:`concentration_rates_mM_s`) are written
once and take their array namespace from the inputs, so they build PyTensor
graphs when given PyTensor variables (for an implicit integrator inside a
likelihood). :func:`membrane_potential_mV`, :func:`rundown_rhs`,
:func:`rundown_jac` and :func:`simulate_rundown` are NumPy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

import numpy as np
from scipy.integrate import solve_ivp
from scipy.optimize import brentq

from iongrad.models import quantities as _quantities
from iongrad.models._backend import check, namespace
from iongrad.models.constants import (
    F_C_PER_MOL,
    PUMP_K_PER_CYCLE,
    PUMP_NA_PER_CYCLE,
    rt_over_f_mV,
)
from iongrad.models.errors import ModelInputError
from iongrad.models.mechanisms.base import pa_per_ion_per_s
from iongrad.models.pump import hill_kernel as hill_activation
from iongrad.models.steady_state import (
    _resolve_params,
    ghk_slope_factor,
    solve_steady_state,
)
from iongrad.models.thermo import u_over_one_minus_exp_neg_u

__all__ = [
    "RUNDOWN_DEFAULTS",
    "STATE_NAMES",
    "DepolarisationTime",
    "RundownResult",
    "concentration_rates_mM_s",
    "membrane_potential_mV",
    "pump_drive",
    "rundown_currents_pA",
    "rundown_jac",
    "rundown_params",
    "rundown_rhs",
    "simulate_rundown",
    "time_to_depolarisation_s",
    "zero_current_residual_pA",
]

Mode = Literal["anoxia", "ouabain"]
Leak = Literal["ghk", "ohmic"]

#: Run-down parameters added to :data:`iongrad.models.steady_state.DEFAULT_PARAMS`.
#: ``tau_atp_s``: 30–60 s is the usual range of ATP loss in anoxic brain tissue
#: models; the ouabain values are placeholders of the right order for
#: ouabain-sensitive isoforms (human α1, rodent α2/α3; rodent α1 is ~100-fold
#: less sensitive). ``c_m_uF_cm2`` (1 µF/cm², the usual specific capacitance) is
#: used only for the ``capacitive_charge_mM`` diagnostic.
RUNDOWN_DEFAULTS: dict[str, float] = _quantities.defaults(
    ("onset_s", "tau_atp_s", "tau_block_s", "ouabain_uM", "ouabain_ic50_uM",
     "extracellular_fraction", "c_m_uF_cm2"))  # extracellular_fraction nan: infinite bath

_RUNDOWN_UNITS = {k: _quantities.unit_of(k) for k in RUNDOWN_DEFAULTS}

#: Names of the state variables, in order (the last three only with a finite ECS).
STATE_NAMES = ("na_i_mM", "k_i_mM", "cl_i_mM", "na_o_mM", "k_o_mM", "cl_o_mM")

_MODES = ("anoxia", "ouabain")
_LEAKS = ("ghk", "ohmic")


# The run-down right-hand side below is still written out by hand (its generation from
# the membrane model's rate laws is the next step of the mechanism core); these two
# helpers are its leak prefactor and its saturated pump current.
def _leak_scale(p, leak, ion):
    """Conductance-like prefactor: g (nS) for ohmic, z F P A 1e-2 (pA/mM) for GHK."""
    if leak == "ohmic":
        return p[{"na": "g_na_nS", "k": "g_k_nS", "cl": "g_cl_nS"}[ion]]
    key = {"na": "p_na_cm_s", "k": "p_k_cm_s", "cl": "p_cl_cm_s"}[ion]
    return F_C_PER_MOL * p[key] * p["area_um2"] * 1e-2


def _max_pump_current_pA(p):
    """Pump current at the given K_o and ATP with Na+ sites saturated, pA."""
    return (p["pump_density_per_um2"] * p["area_um2"] * p["turnover_max_per_s"]
            * float(pa_per_ion_per_s) * hill_activation(p["k_o_mM"], p["k_k_mM"], p["hill_k"])
            * p["atp_mM"] / (p["atp_mM"] + p["k_atp_mM"]))


# --------------------------------------------------------------------------------------
# Parameters
# --------------------------------------------------------------------------------------
def rundown_params(*, leak: Leak = "ghk", **overrides: Any) -> dict[str, np.ndarray]:
    """Validated parameter dict for :func:`rundown_rhs` (defaults filled in).

    Parameters
    ----------
    leak : {"ghk", "ohmic"}
        Which leak parameters must be positive (``p_na_cm_s``/``p_k_cm_s`` or
        ``g_na_nS``/``g_k_nS``).
    **overrides
        Any key of :data:`iongrad.models.steady_state.DEFAULT_PARAMS` or
        :data:`RUNDOWN_DEFAULTS` (units in the names); arrays broadcast together.

    Returns
    -------
    dict
        Every parameter as a float array.

    Raises
    ------
    ModelInputError
        Naming the argument, the bad value and its unit.
    """
    if leak not in _LEAKS:
        raise ModelInputError(f"leak must be 'ghk' or 'ohmic'; got {leak!r}")
    rd = {k: overrides.pop(k) for k in list(overrides) if k in RUNDOWN_DEFAULTS}
    p = _resolve_params(leak, "fixed", overrides)
    full = dict(RUNDOWN_DEFAULTS)
    full.update(rd)
    # Domains from the registry; model rule: a dose of inf means saturating ouabain.
    for k in RUNDOWN_DEFAULTS:
        p[k] = check(k, full[k], allow_inf=k == "ouabain_uM")
    return p


# --------------------------------------------------------------------------------------
# Building blocks, generic over NumPy / PyTensor
# --------------------------------------------------------------------------------------
def pump_drive(t_s, p, *, mode: Mode = "anoxia", after_onset=None):
    """ATP and the unblocked pump fraction at time ``t_s``.

    Parameters
    ----------
    t_s : array_like
        Time, s.
    p : mapping
        Parameters (:func:`rundown_params`): ``atp_mM``, ``onset_s``, ``tau_atp_s``,
        ``tau_block_s``, ``ouabain_uM``, ``ouabain_ic50_uM``.
    mode : {"anoxia", "ouabain"}
        Anoxia: ``ATP = ATP0 exp(-(t - t0)/tau_atp)`` after onset. Ouabain: ATP
        stays at ATP0 and a fraction ``occ (1 - exp(-(t - t0)/tau_block))`` of the
        pumps is blocked, ``occ = dose/(dose + IC50)``; ``tau_block_s = 0`` blocks
        at once from ``t >= t0``.
    after_onset : bool, optional
        Force the pre-onset (False) or post-onset (True) branch, used to integrate
        across the onset in two pieces. Default: decided by ``t_s >= onset_s``.

    Returns
    -------
    atp_mM : array_like
        Intracellular ATP, mM.
    available : array_like
        Fraction of pumps not blocked, dimensionless in [0, 1].
    """
    xp = namespace(t_s, *p.values())
    dt = xp.maximum(t_s - p["onset_s"], 0.0)
    if after_onset is False:
        dt = 0.0 * dt
    if mode == "anoxia":
        return p["atp_mM"] * xp.exp(-dt / p["tau_atp_s"]), 1.0 + 0.0 * dt
    if mode != "ouabain":
        raise ModelInputError(f"mode must be 'anoxia' or 'ouabain'; got {mode!r}")
    dose, ic50 = p["ouabain_uM"], p["ouabain_ic50_uM"]
    occ = xp.where(dose > 0, 1.0 / (1.0 + ic50 / xp.where(dose > 0, dose, 1.0)), 0.0)
    tau = p["tau_block_s"]
    tau_safe = xp.where(tau > 0, tau, 1.0)
    if after_onset is None:
        started = xp.where(t_s >= p["onset_s"], 1.0, 0.0)
    else:
        started = 1.0 if after_onset else 0.0
    progress = xp.where(tau > 0, -xp.expm1(-dt / tau_safe), 1.0) * started
    return p["atp_mM"] + 0.0 * dt, 1.0 - occ * progress


def _outside(conc, p):
    """Extracellular concentrations: state entries if present, else bath parameters."""
    return (conc.get("na_o_mM", p["na_o_mM"]), conc.get("k_o_mM", p["k_o_mM"]),
            conc.get("cl_o_mM", p["cl_o_mM"]))


def rundown_currents_pA(v_mV, conc, p, *, atp_mM, available=1.0, leak: Leak = "ghk"):
    """Membrane currents at potential ``v_mV``, pA (positive outward).

    Parameters
    ----------
    v_mV : array_like
        Membrane potential, mV.
    conc : mapping
        ``na_i_mM``, ``k_i_mM``, ``cl_i_mM`` and, with a finite extracellular
        space, ``na_o_mM``, ``k_o_mM``, ``cl_o_mM`` (mM); missing outside values
        come from ``p``.
    p : mapping
        Parameters (:func:`rundown_params`).
    atp_mM : array_like
        Intracellular ATP, mM.
    available : array_like
        Unblocked pump fraction, dimensionless.
    leak : {"ghk", "ohmic"}
        GHK current equation (``p_*_cm_s``) or ohmic leaks (``g_*_nS``).

    Returns
    -------
    dict
        ``i_na_pA`` and ``i_k_pA`` (leak plus activity load), ``i_cl_pA``,
        ``i_pump_pA`` (net pump current, 1 charge out per cycle) and ``i_total_pA``.
    """
    xp = namespace(v_mV, *conc.values(), *p.values(), atp_mM, available)
    na_i, k_i, cl_i = conc["na_i_mM"], conc["k_i_mM"], conc["cl_i_mM"]
    na_o, k_o, cl_o = _outside(conc, p)
    vt = rt_over_f_mV(p["temperature_K"])
    if leak == "ghk":
        w = v_mV / vt
        phi_p, phi_m = u_over_one_minus_exp_neg_u(w), u_over_one_minus_exp_neg_u(-w)
        i_na = _leak_scale(p, "ghk", "na") * (na_i * phi_p - na_o * phi_m)
        i_k = _leak_scale(p, "ghk", "k") * (k_i * phi_p - k_o * phi_m)
        i_cl = _leak_scale(p, "ghk", "cl") * (cl_o * phi_p - cl_i * phi_m)
    elif leak == "ohmic":
        i_na = p["g_na_nS"] * (v_mV - vt * xp.log(na_o / na_i))
        i_k = p["g_k_nS"] * (v_mV - vt * xp.log(k_o / k_i))
        i_cl = p["g_cl_nS"] * (v_mV + vt * xp.log(cl_o / cl_i))
    else:
        raise ModelInputError(f"leak must be 'ghk' or 'ohmic'; got {leak!r}")
    load = p["activity_load_pA"]
    i_na = i_na - load
    i_k = i_k + load
    i_p = (_max_pump_current_pA({**p, "k_o_mM": k_o, "atp_mM": atp_mM})
           * hill_activation(na_i, p["k_na_mM"], p["hill_na"]) * available)
    return {"i_na_pA": i_na, "i_k_pA": i_k, "i_cl_pA": i_cl, "i_pump_pA": i_p,
            "i_total_pA": i_na + i_k + i_cl + i_p}


def zero_current_residual_pA(v_mV, conc, p, *, atp_mM, available=1.0, leak: Leak = "ghk"):
    """Total membrane current, pA; V(t) is its root (strictly increasing in ``v_mV``).

    Generic over NumPy and PyTensor, so an implicit solve (e.g.
    ``pytensor.tensor.optimize.root``) can differentiate through it.
    """
    return rundown_currents_pA(v_mV, conc, p, atp_mM=atp_mM, available=available,
                               leak=leak)["i_total_pA"]


def concentration_rates_mM_s(currents, p, *, extracellular: bool = False):
    """Concentration rates from the membrane currents, mM/s.

    ``dX_i/dt = -(I_X,leak ± n I_p) × 1e3 / (z F vol_i)`` (pA/pL → mM/s) and, with
    ``extracellular=True``, ``dX_o/dt = -dX_i/dt × (1 - alpha)/alpha``.

    Parameters
    ----------
    currents : mapping
        Output of :func:`rundown_currents_pA`, pA.
    p : mapping
        Parameters; ``volume_pL`` (pL) and, for a finite extracellular space,
        ``extracellular_fraction`` (alpha).
    extracellular : bool
        Return the extracellular rates too.

    Returns
    -------
    dict
        ``d<state>_dt`` for every state in :data:`STATE_NAMES` that is present, mM/s.
    """
    k = 1e3 / (F_C_PER_MOL * p["volume_pL"])
    i_p = currents["i_pump_pA"]
    out = {
        "dna_i_mM_dt": -k * (currents["i_na_pA"] + PUMP_NA_PER_CYCLE * i_p),
        "dk_i_mM_dt": -k * (currents["i_k_pA"] - PUMP_K_PER_CYCLE * i_p),
        "dcl_i_mM_dt": k * currents["i_cl_pA"],
    }
    if extracellular:
        alpha = p["extracellular_fraction"]
        ratio = (1.0 - alpha) / alpha
        for ion in ("na", "k", "cl"):
            out[f"d{ion}_o_mM_dt"] = -ratio * out[f"d{ion}_i_mM_dt"]
    return out


# --------------------------------------------------------------------------------------
# Membrane potential (NumPy, vectorised)
# --------------------------------------------------------------------------------------
def _ghk_coefficients(conc, p):
    """``A, B`` (pA) such that total leak current = ``A Φ(w) - B Φ(-w)``."""
    na_o, k_o, cl_o = _outside(conc, p)
    a_na, a_k, a_cl = (_leak_scale(p, "ghk", ion) for ion in ("na", "k", "cl"))
    a = a_na * conc["na_i_mM"] + a_k * conc["k_i_mM"] + a_cl * cl_o
    b = a_na * na_o + a_k * k_o + a_cl * conc["cl_i_mM"]
    return a, b


def membrane_potential_mV(conc, p, *, i_pump_pA, leak: Leak = "ghk", max_iter: int = 60,
                          xtol: float = 1e-15):
    """Zero-total-current membrane potential for given concentrations (NumPy), mV.

    Solves ``Σ_X I_X(V) + I_p = 0``. For GHK leaks, with ``w = FV/RT`` the total
    leak current is ``A Φ(w) - B Φ(-w) = (A - B) Φ(w) + B w``, where
    ``A = Σ a_X c_X,in`` (cations; ``Cl_o`` for Cl-) and ``B`` its outside twin,
    ``a_X = F P_X area``. It is strictly increasing in ``w`` (slope > A > 0), is
    zero at the GHK potential ``w = ln(B/A)`` and is ``<= 0`` at
    ``w = -(max(A - B, 0) + I_p)/B``, which bracket the root; a Newton iteration
    safeguarded by bisection then converges for every sample. For ohmic leaks
    ``V = (Σ g_X E_X - I_p) / Σ g_X`` in closed form.

    Parameters
    ----------
    conc : mapping
        Concentrations, mM (see :func:`rundown_currents_pA`); arrays broadcast.
    p : mapping
        Parameters (:func:`rundown_params`).
    i_pump_pA : array_like
        Net pump current, pA (>= 0, independent of V in this model).
    leak : {"ghk", "ohmic"}
        Leak model.
    max_iter : int
        Iteration limit.
    xtol : float
        Relative step size (in ``w``) taken as converged.

    Returns
    -------
    v_mV : ndarray
        Membrane potential, mV.
    converged : ndarray of bool
        False where the iteration did not converge (V is then the best bracketed
        estimate; callers must not use it silently).
    """
    vt = rt_over_f_mV(p["temperature_K"])
    if leak == "ohmic":
        na_o, k_o, cl_o = _outside(conc, p)
        g_na, g_k, g_cl = p["g_na_nS"], p["g_k_nS"], p["g_cl_nS"]
        num = (g_na * vt * np.log(na_o / conc["na_i_mM"])
               + g_k * vt * np.log(k_o / conc["k_i_mM"])
               - g_cl * vt * np.log(cl_o / conc["cl_i_mM"]) - i_pump_pA)
        v = num / (g_na + g_k + g_cl)
        return v, np.ones(np.shape(v), dtype=bool)
    a, b = _ghk_coefficients(conc, p)
    a, b, i_p = np.broadcast_arrays(np.asarray(a, float), np.asarray(b, float),
                                    np.asarray(i_pump_pA, float))
    amb = a - b
    hi = np.log(b / a)
    lo = np.minimum(-(np.maximum(amb, 0.0) + i_p) / b, hi)
    w = hi.copy()
    done = np.zeros(w.shape, dtype=bool)
    for _ in range(max_iter):
        f = amb * u_over_one_minus_exp_neg_u(w) + b * w + i_p
        lo = np.where(f < 0, w, lo)
        hi = np.where(f > 0, w, hi)
        done = done | (f == 0)
        w_new = w - f / (amb * ghk_slope_factor(w) + b)
        outside = ~((w_new > lo) & (w_new < hi))
        w_new = np.where(outside & ~done, 0.5 * (lo + hi), w_new)
        step = np.abs(w_new - w)
        w = np.where(done, w, w_new)
        done = done | (step <= xtol * np.maximum(1.0, np.abs(w))) | (hi - lo <= 0)
        if done.all():
            break
    f = amb * u_over_one_minus_exp_neg_u(w) + b * w + i_p
    scale = np.abs(amb * u_over_one_minus_exp_neg_u(w)) + np.abs(b * w) + i_p + b
    converged = done & (np.abs(f) <= 1e-9 * scale) & np.isfinite(w)
    return w * vt, converged


# --------------------------------------------------------------------------------------
# Right-hand side and Jacobian (NumPy)
# --------------------------------------------------------------------------------------
class _PotentialError(ArithmeticError):
    """The zero-current potential could not be found (caught by simulate_rundown)."""


def _unpack(y):
    y = np.asarray(y, dtype=float)
    n = y.shape[0]
    if n not in (3, 6):
        raise ModelInputError(
            f"y must have 3 (Na_i, K_i, Cl_i) or 6 (plus Na_o, K_o, Cl_o) rows, in mM; "
            f"got shape {y.shape}")
    return {name: y[i] for i, name in enumerate(STATE_NAMES[:n])}, n == 6


def _evaluate(t, y, p, mode, leak, after_onset=None):
    conc, ecs = _unpack(y)
    atp, avail = pump_drive(t, p, mode=mode, after_onset=after_onset)
    i_p = rundown_currents_pA(0.0, conc, p, atp_mM=atp, available=avail,
                              leak=leak)["i_pump_pA"]
    v, ok = membrane_potential_mV(conc, p, i_pump_pA=i_p, leak=leak)
    if not np.all(ok):
        raise _PotentialError(f"zero-current potential did not converge at t = {t!r} s")
    cur = rundown_currents_pA(v, conc, p, atp_mM=atp, available=avail, leak=leak)
    return conc, ecs, atp, avail, v, cur


def rundown_rhs(t: float, y, params, *, mode: Mode = "anoxia", leak: Leak = "ghk",
                after_onset: bool | None = None) -> np.ndarray:
    """Right-hand side ``dy/dt`` of the run-down ODE, mM/s (NumPy, vectorised).

    Parameters
    ----------
    t : float
        Time, s.
    y : array_like, shape (3, ...) or (6, ...)
        State in mM, rows in the order of :data:`STATE_NAMES`; 6 rows mean a
        finite extracellular space (``params["extracellular_fraction"]``). Any
        trailing batch shape broadcasts against the parameter arrays (one column
        per parameter set, or ``solve_ivp(..., vectorized=True)`` columns).
    params : mapping
        Validated parameters, see :func:`rundown_params`.
    mode : {"anoxia", "ouabain"}
        Pump drive, see :func:`pump_drive`.
    leak : {"ghk", "ohmic"}
        Leak model.
    after_onset : bool, optional
        Force the pre- or post-onset branch of the drive (see :func:`pump_drive`).

    Returns
    -------
    ndarray
        ``dy/dt`` in mM/s, shape of ``y`` broadcast with the parameters.
    """
    _, ecs, _, _, _, cur = _evaluate(t, y, params, mode, leak, after_onset)
    rates = concentration_rates_mM_s(cur, params, extracellular=ecs)
    return np.stack(np.broadcast_arrays(*rates.values()))


def rundown_jac(t: float, y, params, *, mode: Mode = "anoxia", leak: Leak = "ghk",
                after_onset: bool | None = None) -> np.ndarray:
    """Analytic Jacobian ``∂(dy/dt)/∂y`` of :func:`rundown_rhs`, 1/s.

    V depends on the state through the zero-current condition ``I(w, y) = 0``;
    its derivative comes from the implicit function theorem,
    ``∂w/∂y = -(∂I/∂y)/(∂I/∂w)``, and every ion current is differentiated at
    constant ``w`` plus ``∂I_X/∂w ∂w/∂y``.

    Parameters
    ----------
    t, y, params, mode, leak, after_onset
        As for :func:`rundown_rhs`, with ``y`` of shape (n,) (one state).

    Returns
    -------
    ndarray, shape (n, n)
        Jacobian, 1/s.
    """
    y = np.asarray(y, dtype=float)
    if y.ndim != 1:
        raise ModelInputError(f"rundown_jac needs one state of shape (3,) or (6,); "
                              f"got shape {y.shape}")
    conc, ecs, _, _, v, cur = _evaluate(t, y, params, mode, leak, after_onset)
    p = params
    n = y.size
    na_o, k_o, cl_o = _outside(conc, p)
    vt = float(rt_over_f_mV(p["temperature_K"]))
    w = float(v) / vt
    # partial derivatives at constant w: rows Na, K, Cl, pump; columns = states
    part = np.zeros((4, n))
    didw = np.zeros(4)
    ions = (("na", conc["na_i_mM"], na_o, 1.0), ("k", conc["k_i_mM"], k_o, 1.0),
            ("cl", conc["cl_i_mM"], cl_o, -1.0))
    if leak == "ghk":
        phi_p, phi_m = u_over_one_minus_exp_neg_u(w), u_over_one_minus_exp_neg_u(-w)
        d_p, d_m = ghk_slope_factor(w), ghk_slope_factor(-w)
        for row, (ion, ci, co, z) in enumerate(ions):
            a = float(_leak_scale(p, "ghk", ion))
            if z > 0:  # a (c_i Φ(w) - c_o Φ(-w))
                part[row, row] = a * phi_p
                if ecs:
                    part[row, row + 3] = -a * phi_m
                didw[row] = a * (ci * d_p + co * d_m)
            else:  # a (c_o Φ(w) - c_i Φ(-w))
                part[row, row] = -a * phi_m
                if ecs:
                    part[row, row + 3] = a * phi_p
                didw[row] = a * (co * d_p + ci * d_m)
    else:
        for row, (ion, ci, co, z) in enumerate(ions):
            g = float(p[f"g_{ion}_nS"])
            part[row, row] = g * vt / (z * ci)
            if ecs:
                part[row, row + 3] = -g * vt / (z * co)
            didw[row] = g * vt
    i_p = float(cur["i_pump_pA"])
    f_na = float(hill_activation(conc["na_i_mM"], p["k_na_mM"], p["hill_na"]))
    part[3, 0] = i_p * float(p["hill_na"]) * (1.0 - f_na) / float(conc["na_i_mM"])
    if ecs:
        g_k = float(hill_activation(k_o, p["k_k_mM"], p["hill_k"]))
        part[3, 4] = i_p * float(p["hill_k"]) * (1.0 - g_k) / float(k_o)
    dwdy = -part.sum(axis=0) / didw.sum()
    total = part + np.outer(didw, dwdy)
    k = 1e3 / (F_C_PER_MOL * float(p["volume_pL"]))
    jac = np.zeros((n, n))
    jac[0] = -k * (total[0] + PUMP_NA_PER_CYCLE * total[3])
    jac[1] = -k * (total[1] - PUMP_K_PER_CYCLE * total[3])
    jac[2] = k * total[2]
    if ecs:
        alpha = float(p["extracellular_fraction"])
        jac[3:] = -(1.0 - alpha) / alpha * jac[:3]
    return jac


# --------------------------------------------------------------------------------------
# Simulation
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RundownResult:
    """Time course of a run-down (:func:`simulate_rundown`).

    Arrays are sampled at ``time_s`` (s). Concentrations in mM, potential in mV,
    currents in pA. Where the solve failed (``success`` False) the samples it did
    not reach are NaN and ``message`` says why.

    Attributes
    ----------
    time_s, v_mV, na_i_mM, k_i_mM, cl_i_mM, na_o_mM, k_o_mM, cl_o_mM : ndarray
        Time, zero-current potential and concentrations (outside ones constant
        unless a finite extracellular space was simulated).
    atp_mM, pump_available : ndarray
        ATP (mM) and unblocked pump fraction.
    pump_current_pA, i_na_pA, i_k_pA, i_cl_pA : ndarray
        Net pump current and ion currents (leak plus activity load), pA.
    capacitive_charge_mM : ndarray
        ``C_m (V(t) - V_0) / (F vol)`` with ``V_0`` the potential of the initial
        state before the onset: the change of net intracellular
        charge a real capacitor would need, mM. It measures the error of the
        zero-current (electroneutral) potential and should be << the
        concentration changes.
    success : bool
    message : str
    onset_s : float
    mode, leak : str
    extracellular_fraction : float or None
    nfev, njev : int
        Right-hand side and Jacobian evaluations.
    """

    time_s: np.ndarray
    v_mV: np.ndarray
    na_i_mM: np.ndarray
    k_i_mM: np.ndarray
    cl_i_mM: np.ndarray
    na_o_mM: np.ndarray
    k_o_mM: np.ndarray
    cl_o_mM: np.ndarray
    atp_mM: np.ndarray
    pump_available: np.ndarray
    pump_current_pA: np.ndarray
    i_na_pA: np.ndarray
    i_k_pA: np.ndarray
    i_cl_pA: np.ndarray
    capacitive_charge_mM: np.ndarray
    success: bool
    message: str
    onset_s: float
    mode: str
    leak: str
    extracellular_fraction: float | None
    nfev: int
    njev: int
    _params: dict = field(repr=False)
    _pieces: tuple = field(repr=False)

    def state_at(self, t_s) -> np.ndarray:
        """State (mM, rows as :data:`STATE_NAMES`) at times ``t_s`` from the dense output."""
        t = np.atleast_1d(np.asarray(t_s, dtype=float))
        out = None
        for t_lo, t_hi, sol, _ in self._pieces:
            sel = (t >= t_lo) & (t <= t_hi)
            if out is None:
                out = np.full((sol(t_lo).shape[0], t.size), np.nan)
            if sel.any():
                out[:, sel] = sol(t[sel])
        if out is None:
            raise ModelInputError("no dense output: the solve did not start")
        return out

    def v_at(self, t_s) -> np.ndarray:
        """Zero-current membrane potential at times ``t_s``, mV (dense output)."""
        t = np.atleast_1d(np.asarray(t_s, dtype=float))
        y = self.state_at(t)
        v = np.full(t.size, np.nan)
        for t_lo, t_hi, _, after in self._pieces:
            sel = (t >= t_lo) & (t <= t_hi) & np.all(np.isfinite(y), axis=0)
            for j in np.flatnonzero(sel):
                v[j] = _evaluate(t[j], y[:, j], self._params, self.mode, self.leak,
                                 after)[4]
        return v


class DepolarisationTime(NamedTuple):
    """Result of :func:`time_to_depolarisation_s`.

    ``time_s`` is the first time (s, on the simulation clock) at which V reaches
    the threshold, ``inf`` if it never does within the simulated span;
    ``since_onset_s`` is the same measured from the onset; ``reached`` flags it.
    """

    time_s: float
    since_onset_s: float
    reached: bool


def _check_times(t_eval_s) -> np.ndarray:
    t = check("t_eval_s", t_eval_s)
    if t.ndim != 1:
        raise ModelInputError(f"t_eval_s must be 1-D (in s); got shape {t.shape}")
    if t.size >= 2 and np.any(np.diff(t) <= 0):
        i = int(np.flatnonzero(np.diff(t) <= 0)[0])
        raise ModelInputError(
            f"t_eval_s must be strictly increasing (in s); got {t[i]!r} then "
            f"{t[i + 1]!r} at index {i + 1}")
    return t


def simulate_rundown(t_eval_s, *, onset_s: float = 0.0, mode: Mode = "anoxia",
                     tau_atp_s: float = RUNDOWN_DEFAULTS["tau_atp_s"],
                     tau_block_s: float = RUNDOWN_DEFAULTS["tau_block_s"],
                     ouabain_uM: float = RUNDOWN_DEFAULTS["ouabain_uM"],
                     ouabain_ic50_uM: float = RUNDOWN_DEFAULTS["ouabain_ic50_uM"],
                     extracellular_fraction: float | None = None, leak: Leak = "ghk",
                     initial_state=None, rtol: float = 1e-8, atol: float = 1e-10,
                     method: str = "LSODA", use_jac: bool = True,
                     max_step: float = np.inf, **params: Any) -> RundownResult:
    """Simulate the run-down of the ion gradients after anoxia or ouabain.

    Parameters
    ----------
    t_eval_s : array_like, shape (m,)
        Output times, s, strictly increasing.
    onset_s : float
        Onset of anoxia / ouabain application, s.
    mode : {"anoxia", "ouabain"}
        ATP decay (``tau_atp_s``) or ouabain block (``tau_block_s``, ``ouabain_uM``,
        ``ouabain_ic50_uM``); see :func:`pump_drive`.
    tau_atp_s : float
        Time constant of ATP loss, s (> 0).
    tau_block_s : float
        Time constant of ouabain binding, s (>= 0; 0 is an instant block).
    ouabain_uM, ouabain_ic50_uM : float
        Ouabain dose (>= 0; ``inf`` blocks every pump) and its IC50, µM.
    extracellular_fraction : float, optional
        Extracellular volume fraction alpha in (0, 1); extracellular volume is
        ``alpha/(1 - alpha) × volume_pL`` and Na_o, K_o, Cl_o become states
        starting at the bath values. None (default): an infinite bath.
    leak : {"ghk", "ohmic"}
        Leak model (GHK permeabilities ``p_*_cm_s`` or conductances ``g_*_nS``).
    initial_state : array_like, optional
        State (mM, order of :data:`STATE_NAMES`, 3 or 6 entries) at
        ``t_start = min(t_eval_s[0], onset_s)``. Default: the pump–leak steady
        state of :func:`iongrad.models.steady_state.solve_steady_state` (which
        holds for every ``t < onset_s``) and the bath outside.
    rtol, atol : float
        Integrator tolerances (``atol`` in mM).
    method : {"LSODA", "BDF", "Radau"}
        Stiff-safe :func:`scipy.integrate.solve_ivp` method.
    use_jac : bool
        Pass the analytic Jacobian :func:`rundown_jac` to the integrator.
    max_step : float
        Largest integrator step, s.
    **params
        Cell parameters, any key of
        :data:`iongrad.models.steady_state.DEFAULT_PARAMS` (units in the names);
        scalars only.

    Returns
    -------
    RundownResult

    Raises
    ------
    ModelInputError
        For invalid inputs (non-positive time constants, volume or
        concentrations, ``t_eval_s`` not increasing, alpha outside (0, 1), unknown
        parameters, an infeasible initial steady state), naming the argument.

    Notes
    -----
    The integration is split at the onset, so the integrator never steps across
    the kink of ATP(t) or the step of an instant block. A solve that fails (the
    integrator or the potential root) returns ``success=False`` and NaN where no
    solution exists; it never returns unverified numbers.
    """
    if mode not in _MODES:
        raise ModelInputError(f"mode must be 'anoxia' or 'ouabain'; got {mode!r}")
    if method not in ("LSODA", "BDF", "Radau"):
        raise ModelInputError(f"method must be 'LSODA', 'BDF' or 'Radau'; got {method!r}")
    t_eval = _check_times(t_eval_s)
    rtol = float(check("rtol", rtol, "dimensionless", positive=True))
    atol = float(check("atol", atol, "mM", positive=True))
    if extracellular_fraction is None:
        alpha = float("nan")
    else:
        alpha = extracellular_fraction
    p = rundown_params(leak=leak, onset_s=onset_s, tau_atp_s=tau_atp_s,
                       tau_block_s=tau_block_s, ouabain_uM=ouabain_uM,
                       ouabain_ic50_uM=ouabain_ic50_uM, extracellular_fraction=alpha,
                       **params)
    nonscalar = sorted(k for k, v in p.items() if np.ndim(v) != 0)
    if nonscalar:
        raise ModelInputError(f"simulate_rundown takes scalar parameters; got arrays for "
                              f"{nonscalar} (use rundown_rhs for batches)")
    p = {k: float(v) for k, v in p.items()}
    ecs = extracellular_fraction is not None
    n = 6 if ecs else 3
    t0 = float(p["onset_s"])
    t_start = min(float(t_eval[0]), t0)
    t_end = float(t_eval[-1])

    if initial_state is None:
        ss_keys = {k: v for k, v in p.items() if k not in RUNDOWN_DEFAULTS}
        ss = solve_steady_state(leak=leak, volume="fixed", **ss_keys)
        if not bool(ss.feasible):
            raise ModelInputError("the parameters have no pump–leak steady state to start "
                                  f"from (reason code {int(ss.reason)}); pass initial_state")
        y0 = [float(ss.na_i_mM), float(ss.k_i_mM), float(ss.cl_i_mM)]
        if ecs:
            y0 += [p["na_o_mM"], p["k_o_mM"], p["cl_o_mM"]]
        y0 = np.array(y0)
    else:
        y0 = check("initial_state", initial_state, quantity="state_conc_mM").astype(float)
        if y0.shape != (n,):
            raise ModelInputError(f"initial_state must have {n} entries ({STATE_NAMES[:n]}, "
                                  f"mM); got shape {y0.shape}")

    # Segments: before the onset (drive at rest) and after it.
    segments = []
    if t_start < t0:
        segments.append((t_start, min(t0, t_end), False))
    if t_end > t0 or (t_end >= t0 and not segments):
        segments.append((max(t_start, t0), t_end, True))

    pieces = []
    y_cur = y0
    success, message = True, "ok"
    nfev = njev = 0
    for a, b, after in segments:
        if b <= a:
            pieces.append((a, b, _Constant(y_cur), after))
            continue

        def fun(t, y, after=after):
            return rundown_rhs(t, y, p, mode=mode, leak=leak, after_onset=after)

        def jac(t, y, after=after):
            return rundown_jac(t, y, p, mode=mode, leak=leak, after_onset=after)

        kwargs = {"jac": jac} if use_jac else {}
        try:
            sol = solve_ivp(fun, (a, b), y_cur, method=method, rtol=rtol, atol=atol,
                            dense_output=True, max_step=max_step, **kwargs)
        except _PotentialError as exc:
            success, message = False, f"potential root failed: {exc}"
            break
        nfev += sol.nfev
        njev += sol.njev
        if sol.status != 0:
            success, message = False, f"integrator failed on [{a}, {b}] s: {sol.message}"
            break
        pieces.append((a, b, sol.sol, after))
        y_cur = sol.y[:, -1]

    m = t_eval.size
    y_out = np.full((n, m), np.nan)
    after_mask = np.zeros(m, dtype=bool)
    for a, b, sol, after in pieces:
        sel = (t_eval >= a) & (t_eval <= b)
        if sel.any():
            y_out[:, sel] = sol(t_eval[sel])
            after_mask[sel] = after
    if success and not np.all(np.isfinite(y_out)):
        success, message = False, "solution not finite"
    if success and np.any(y_out <= 0):
        success, message = False, "a concentration became non-positive"
    good = np.all(np.isfinite(y_out), axis=0) & np.all(y_out > 0, axis=0)

    out = {name: np.full(m, np.nan) for name in
           ("v_mV", "atp_mM", "pump_available", "pump_current_pA", "i_na_pA", "i_k_pA",
            "i_cl_pA")}
    for after in (False, True):
        sel = good & (after_mask == after)
        if not sel.any():
            continue
        try:
            _, _, atp, avail, v, cur = _evaluate(t_eval[sel], y_out[:, sel], p, mode,
                                                 leak, after)
        except _PotentialError as exc:
            success, message = False, f"potential root failed: {exc}"
            break
        out["v_mV"][sel] = v
        out["atp_mM"][sel] = atp
        out["pump_available"][sel] = avail
        out["pump_current_pA"][sel] = cur["i_pump_pA"]
        for key in ("i_na_pA", "i_k_pA", "i_cl_pA"):
            out[key][sel] = cur[key]
    if ecs:
        outside = y_out[3:]
    else:
        outside = np.array([[p["na_o_mM"]], [p["k_o_mM"]], [p["cl_o_mM"]]]) * np.where(
            good, 1.0, np.nan)
    # Q = C_m ΔV: c_m [µF/cm²] 1e-6 × area [µm²] 1e-8 × ΔV [mV] 1e-3 (C); ÷ F (mol);
    # ÷ vol [pL] 1e-12 (M); × 1e3 (mM): overall factor 1e-2.
    v0 = _evaluate(t_start, y0, p, mode, leak, False)[4]  # the cell before the onset
    cap = (p["c_m_uF_cm2"] * p["area_um2"] * (out["v_mV"] - float(v0))
           / (F_C_PER_MOL * p["volume_pL"]) * 1e-2)
    return RundownResult(
        time_s=t_eval, v_mV=out["v_mV"], na_i_mM=y_out[0], k_i_mM=y_out[1],
        cl_i_mM=y_out[2], na_o_mM=outside[0], k_o_mM=outside[1], cl_o_mM=outside[2],
        atp_mM=out["atp_mM"], pump_available=out["pump_available"],
        pump_current_pA=out["pump_current_pA"], i_na_pA=out["i_na_pA"],
        i_k_pA=out["i_k_pA"], i_cl_pA=out["i_cl_pA"], capacitive_charge_mM=cap,
        success=bool(success), message=message, onset_s=t0, mode=mode, leak=leak,
        extracellular_fraction=None if not ecs else float(alpha), nfev=int(nfev),
        njev=int(njev), _params=p, _pieces=tuple(pieces))


class _Constant:
    """Dense output of a zero-length segment."""

    def __init__(self, y):
        self.y = np.asarray(y, dtype=float)

    def __call__(self, t):
        t = np.asarray(t, dtype=float)
        if t.ndim == 0:
            return self.y.copy()
        return np.repeat(self.y[:, None], t.size, axis=1)


def time_to_depolarisation_s(result: RundownResult, threshold_mV: float
                             ) -> DepolarisationTime:
    """First time at which V(t) rises to ``threshold_mV``.

    The first output sample at or above the threshold is located on
    ``result.time_s`` and the crossing is refined on the dense output with
    Brent's method (so a crossing and recrossing between two samples is not
    seen; sample finely enough).

    Parameters
    ----------
    result : RundownResult
        A successful simulation.
    threshold_mV : float
        Threshold potential, mV.

    Returns
    -------
    DepolarisationTime
        ``(time_s, since_onset_s, reached)``; ``time_s = inf`` and
        ``reached = False`` when V stays below the threshold over the run (never
        NaN). If V already starts at or above it, ``time_s`` is the first sample.

    Raises
    ------
    ModelInputError
        If ``result`` is from a failed solve or the threshold is not finite.
    """
    thr = check("threshold_mV", threshold_mV)
    if thr.ndim:
        raise ModelInputError(f"threshold_mV must be a scalar (in mV); got shape {thr.shape}")
    thr = float(thr)
    if not result.success:
        raise ModelInputError(f"result is from a failed solve ({result.message}); "
                              "no depolarisation time")
    v = result.v_mV
    above = np.flatnonzero(v >= thr)
    if above.size == 0:
        return DepolarisationTime(np.inf, np.inf, False)
    k = int(above[0])
    if k == 0:
        t = float(result.time_s[0])
    else:
        t_a, t_b = float(result.time_s[k - 1]), float(result.time_s[k])
        t = brentq(lambda s: float(result.v_at(s)[0]) - thr, t_a, t_b, xtol=1e-10,
                   rtol=1e-12)
    return DepolarisationTime(t, t - result.onset_s, True)
