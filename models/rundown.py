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
Nothing here is written by hand: the rates, the currents, the drive and every
derivative are generated from the membrane model's rate laws by
:class:`iongrad.models.rundown_system.RundownSystem`, so any fixed-volume membrane
model (``membrane=``) runs down the same way as the pump–leak cell. The current
and drive functions (:func:`pump_drive`, :func:`rundown_currents_pA`,
:func:`zero_current_residual_pA`) build PyTensor graphs when given PyTensor
variables; :func:`membrane_potential_mV`, :func:`rundown_rhs`, :func:`rundown_jac`
and :func:`simulate_rundown` are NumPy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

import numpy as np
import sympy as sp
from scipy.integrate import solve_ivp
from scipy.optimize import brentq

from iongrad.models import quantities as _quantities
from iongrad.models._backend import NP, check, is_symbolic, namespace
from iongrad.models.codegen import Evaluator
from iongrad.models.constants import F_C_PER_MOL
from iongrad.models.errors import ModelInputError
from iongrad.models.mechanisms import voltage
from iongrad.models.membrane import Membrane
from iongrad.models.rundown_system import (
    ATP,
    AVAILABLE,
    STARTED,
    TAU,
    currents_at_drive,
    drive,
    drive_inputs,
    rundown_system,
    zero_current_potential,
)
from iongrad.models.steady_core import solve_membrane
from iongrad.models.steady_state import (
    _resolve_params,
    membrane_for,
    membrane_params,
    solve_steady_state,
)

__all__ = [
    "RUNDOWN_DEFAULTS",
    "STATE_NAMES",
    "DepolarisationTime",
    "RundownResult",
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


# --------------------------------------------------------------------------------------
# Parameters
# --------------------------------------------------------------------------------------
def _membrane(leak: Leak, membrane: Membrane | None) -> Membrane:
    if membrane is not None:
        if membrane.volume != "fixed":
            raise ModelInputError(
                f"the run-down model needs a fixed-volume membrane; {membrane.name!r} has "
                f"volume = {membrane.volume!r}")
        return membrane
    if leak not in _LEAKS:
        raise ModelInputError(f"leak must be 'ghk' or 'ohmic'; got {leak!r}")
    return membrane_for(leak, "fixed")


def rundown_params(*, leak: Leak = "ghk", membrane: Membrane | None = None,
                   **overrides: Any) -> dict[str, np.ndarray]:
    """Validated parameter dict for :func:`rundown_rhs` (defaults filled in).

    Parameters
    ----------
    leak : {"ghk", "ohmic"}
        Which leak parameters must be positive (``p_na_cm_s``/``p_k_cm_s`` or
        ``g_na_nS``/``g_k_nS``).
    membrane : Membrane, optional
        Any fixed-volume membrane model (:mod:`iongrad.models.membrane`) instead of the
        pump–leak cell of ``leak``; its parameters (registry defaults) are the keys.
    **overrides
        Any key of :data:`iongrad.models.steady_state.DEFAULT_PARAMS` (or of the
        membrane's parameters) or :data:`RUNDOWN_DEFAULTS` (units in the names);
        arrays broadcast together.

    Returns
    -------
    dict
        Every parameter as a float array.

    Raises
    ------
    ModelInputError
        Naming the argument, the bad value and its unit.
    """
    rd = {k: overrides.pop(k) for k in list(overrides) if k in RUNDOWN_DEFAULTS}
    if membrane is None:
        if leak not in _LEAKS:
            raise ModelInputError(f"leak must be 'ghk' or 'ohmic'; got {leak!r}")
        p = _resolve_params(leak, "fixed", overrides)
    else:
        p = membrane_params(_membrane(leak, membrane), overrides)
    full = dict(RUNDOWN_DEFAULTS)
    full.update(rd)
    # Domains from the registry; model rule: a dose of inf means saturating ouabain.
    for k in RUNDOWN_DEFAULTS:
        p[k] = check(k, full[k], allow_inf=k == "ouabain_uM")
    return p


# --------------------------------------------------------------------------------------
# Building blocks, generic over NumPy / PyTensor (generated from the rate laws)
# --------------------------------------------------------------------------------------
def _clock(t_s, p, after_onset, xp):
    """Time since the onset (0 before it) and the 0/1 "started" flag."""
    dt = xp.maximum(t_s - p["onset_s"], 0.0)
    if after_onset is False:
        dt = 0.0 * dt
    if after_onset is None:
        started = xp.where(t_s >= p["onset_s"], 1.0, 0.0)
    else:
        started = 1.0 + 0.0 * dt if after_onset else 0.0 * dt
    return dt, started


_DRIVES: dict[str, tuple] = {}


def _drive_evaluator(mode: str):
    if mode not in _DRIVES:
        atp, avail = drive(mode)
        syms = sorted((atp.free_symbols | sp.sympify(avail).free_symbols) - {TAU, STARTED},
                      key=lambda s: s.name)
        _DRIVES[mode] = (Evaluator([TAU, STARTED, *syms], [atp, avail]),
                         tuple(s.name for s in syms))
    return _DRIVES[mode]


def _inputs(p, names):
    if any(is_symbolic(p[k]) for k in names):
        return [p[k] for k in names]
    q = drive_inputs({k: p[k] for k in names})
    return [q[k] for k in names]


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
        at once from ``t >= t0``. The laws are those of
        :func:`iongrad.models.rundown_system.drive`.
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
    if mode not in _MODES:
        raise ModelInputError(f"mode must be 'anoxia' or 'ouabain'; got {mode!r}")
    xp = namespace(t_s, *p.values())
    dt, started = _clock(t_s, p, after_onset, xp)
    ev, names = _drive_evaluator(mode)
    with np.errstate(all="ignore"):
        atp, avail = ev(dt, started, *_inputs(p, names))
    return atp + 0.0 * dt, avail + 0.0 * dt


_CURRENTS: dict[int, tuple] = {}


def _current_evaluator(m: Membrane):
    hit = _CURRENTS.get(id(m))
    if hit is None or hit[0] is not m:
        cur = currents_at_drive(m)
        total = cur["i_total_pA"]
        exprs = [*cur.values(), sp.diff(total, voltage())]
        syms = sorted(set().union(*(e.free_symbols for e in exprs)) - {voltage(), ATP, AVAILABLE},
                      key=lambda s: s.name)
        hit = (m, Evaluator([voltage(), ATP, AVAILABLE, *syms], exprs),
               tuple(s.name for s in syms), tuple(cur))
        _CURRENTS[id(m)] = hit
    return hit[1:]


def _currents(v_mV, conc, p, atp_mM, available, m):
    ev, names, keys = _current_evaluator(m)
    values = [conc[k] if k in conc else p[k] for k in names]
    with np.errstate(all="ignore"):
        out = ev(v_mV, atp_mM, available, *values)
    return dict(zip(keys, out[:-1], strict=True)), out[-1]


def rundown_currents_pA(v_mV, conc, p, *, atp_mM, available=1.0, leak: Leak = "ghk",
                        membrane: Membrane | None = None):
    """Membrane currents at potential ``v_mV``, pA (positive outward).

    Parameters
    ----------
    v_mV : array_like
        Membrane potential, mV.
    conc : mapping
        ``<ion>_i_mM`` for every ion of the membrane model and, with a finite
        extracellular space, ``<ion>_o_mM`` (mM); missing outside values come from ``p``.
    p : mapping
        Parameters (:func:`rundown_params`).
    atp_mM : array_like
        Intracellular ATP, mM.
    available : array_like
        Unblocked fraction of the ouabain-sensitive mechanisms, dimensionless.
    leak : {"ghk", "ohmic"}
        GHK current equation (``p_*_cm_s``) or ohmic leaks (``g_*_nS``) of the
        pump–leak cell.
    membrane : Membrane, optional
        Any fixed-volume membrane model instead.

    Returns
    -------
    dict
        ``i_<ion>_pA`` carried by the passive mechanisms (for the pump–leak cell: the
        leak plus the activity load), ``i_pump_pA`` (the ATP-driven mechanisms: the
        net pump current, 1 charge out per cycle) and ``i_total_pA``.
    """
    m = _membrane(leak, membrane)
    out, _ = _currents(v_mV, conc, p, atp_mM, available, m)
    xp = namespace(v_mV, *conc.values())
    zero = 0.0 * v_mV
    for c in conc.values():
        zero = zero + 0.0 * c
    return {k: val + zero if not xp.symbolic else val for k, val in out.items()}


def zero_current_residual_pA(v_mV, conc, p, *, atp_mM, available=1.0, leak: Leak = "ghk",
                             membrane: Membrane | None = None):
    """Total membrane current, pA; V(t) is its root (strictly increasing in ``v_mV``).

    Generic over NumPy and PyTensor, so an implicit solve (e.g.
    ``pytensor.tensor.optimize.root``) can differentiate through it.
    """
    return rundown_currents_pA(v_mV, conc, p, atp_mM=atp_mM, available=available,
                               leak=leak, membrane=membrane)["i_total_pA"]


# --------------------------------------------------------------------------------------
# Membrane potential (NumPy, vectorised)
# --------------------------------------------------------------------------------------
def membrane_potential_mV(conc, p, *, atp_mM=None, available=1.0, leak: Leak = "ghk",
                          membrane: Membrane | None = None):
    """Zero-total-current membrane potential for given concentrations (NumPy), mV.

    Solves ``I_total(V) = 0`` (the total current is strictly increasing in V): a
    bracket expanded from -60 mV, then Newton's method safeguarded by bisection
    (:func:`iongrad.models.rundown_system.zero_current_potential`), for all samples
    at once.

    Parameters
    ----------
    conc : mapping
        Concentrations, mM (see :func:`rundown_currents_pA`); arrays broadcast.
    p : mapping
        Parameters (:func:`rundown_params`).
    atp_mM : array_like, optional
        Intracellular ATP, mM (default ``p["atp_mM"]``).
    available : array_like
        Unblocked pump fraction.
    leak, membrane
        The membrane model (see :func:`rundown_currents_pA`).

    Returns
    -------
    v_mV : ndarray
        Membrane potential, mV.
    converged : ndarray of bool
        False where the iteration did not converge (callers must not use V there).
    """
    m = _membrane(leak, membrane)
    atp = p["atp_mM"] if atp_mM is None else atp_mM
    ev, names, _ = _current_evaluator(m)
    values = [np.asarray(conc[k] if k in conc else p[k], dtype=float) for k in names]
    shape = np.broadcast(*values, np.asarray(atp), np.asarray(available)).shape

    def current(v):
        out = ev(v, atp, available, *values)
        return out[-2], out[-1]

    return zero_current_potential(current, shape)


# --------------------------------------------------------------------------------------
# Right-hand side and Jacobian (NumPy)
# --------------------------------------------------------------------------------------
class _PotentialError(ArithmeticError):
    """The zero-current potential could not be found (caught by simulate_rundown)."""


def _unpack(y, m: Membrane):
    y = np.asarray(y, dtype=float)
    n = y.shape[0]
    k = len(m.ions)
    if n not in (k, 2 * k):
        inside = tuple(f"{x}_i_mM" for x in m.ions)
        raise ModelInputError(
            f"y must have {k} rows ({', '.join(inside)}) or {2 * k} (plus the outside "
            f"concentrations), in mM; got shape {y.shape}")
    names = [f"{x}_i_mM" for x in m.ions] + [f"{x}_o_mM" for x in m.ions]
    return {name: y[i] for i, name in enumerate(names[:n])}, n == 2 * k


def _potential(t, y, p, mode, after_onset, m):
    """State, drive and zero-current potential at time ``t`` (raises on no root)."""
    conc, ecs = _unpack(y, m)
    atp, avail = pump_drive(t, p, mode=mode, after_onset=after_onset)
    v, ok = membrane_potential_mV(conc, p, atp_mM=atp, available=avail, membrane=m)
    if not np.all(ok):
        raise _PotentialError(f"zero-current potential did not converge at t = {t!r} s")
    return conc, ecs, atp, avail, v


def _evaluate(t, y, p, mode, leak, after_onset=None, membrane=None):
    m = _membrane(leak, membrane)
    conc, ecs, atp, avail, v = _potential(t, y, p, mode, after_onset, m)
    cur = rundown_currents_pA(v, conc, p, atp_mM=atp, available=avail, membrane=m)
    return conc, ecs, atp, avail, v, cur


def _system_inputs(t, y, p, mode, leak, after_onset, membrane):
    m = _membrane(leak, membrane)
    conc, ecs, _, _, v = _potential(t, y, p, mode, after_onset, m)
    system = rundown_system(m, mode, ecs)
    tau, started = _clock(np.asarray(t, dtype=float), p, after_onset, NP)
    return system, v, [conc[k] for k in system.state_names], tau, started, system.values(p)


def rundown_rhs(t: float, y, params, *, mode: Mode = "anoxia", leak: Leak = "ghk",
                after_onset: bool | None = None, membrane: Membrane | None = None
                ) -> np.ndarray:
    """Right-hand side ``dy/dt`` of the run-down ODE, mM/s (NumPy, vectorised).

    Generated from the membrane model's rate laws
    (:class:`iongrad.models.rundown_system.RundownSystem`).

    Parameters
    ----------
    t : float
        Time, s.
    y : array_like, shape (k, ...) or (2k, ...)
        State in mM: the inside concentration of each of the membrane's ``k`` ions
        (order of :data:`STATE_NAMES` for the pump–leak cell), then with ``2k`` rows
        the outside ones (a finite extracellular space,
        ``params["extracellular_fraction"]``). Any trailing batch shape broadcasts
        against the parameter arrays.
    params : mapping
        Validated parameters, see :func:`rundown_params`.
    mode : {"anoxia", "ouabain"}
        Pump drive, see :func:`pump_drive`.
    leak : {"ghk", "ohmic"}
        Leak model of the pump–leak cell.
    after_onset : bool, optional
        Force the pre- or post-onset branch of the drive (see :func:`pump_drive`).
    membrane : Membrane, optional
        Any fixed-volume membrane model instead of the pump–leak cell.

    Returns
    -------
    ndarray
        ``dy/dt`` in mM/s, shape of ``y`` broadcast with the parameters.
    """
    system, v, y, tau, started, pv = _system_inputs(t, y, params, mode, leak, after_onset,
                                                    membrane)
    return system.rates_at(v, y, tau, started, pv)


def rundown_jac(t: float, y, params, *, mode: Mode = "anoxia", leak: Leak = "ghk",
                after_onset: bool | None = None, membrane: Membrane | None = None
                ) -> np.ndarray:
    """Jacobian ``∂(dy/dt)/∂y`` of :func:`rundown_rhs`, 1/s.

    V depends on the state through the zero-current condition ``I(V, y) = 0``; the
    implicit function theorem gives ``∂V/∂y = -(∂I/∂y)/(∂I/∂V)``, and every partial
    derivative is ``sympy.diff`` of the rate laws.

    Parameters
    ----------
    t, y, params, mode, leak, after_onset, membrane
        As for :func:`rundown_rhs`, with ``y`` of shape (n,) (one state).

    Returns
    -------
    ndarray, shape (n, n)
        Jacobian, 1/s.
    """
    y = np.asarray(y, dtype=float)
    if y.ndim != 1:
        raise ModelInputError(f"rundown_jac needs one state of shape (n,); "
                              f"got shape {y.shape}")
    system, v, yy, tau, started, pv = _system_inputs(t, y, params, mode, leak, after_onset,
                                                     membrane)
    return system.jacobian_at(v, yy, tau, started, pv)


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
    states_mM : dict
        Every state variable of the membrane model (``<ion>_i_mM`` and, with a finite
        extracellular space, ``<ion>_o_mM``), mM.
    membrane : str
        Name of the membrane model.
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
    states_mM: dict
    membrane: str
    _params: dict = field(repr=False)
    _pieces: tuple = field(repr=False)
    _membrane: Membrane = field(repr=False)

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
                                 after, self._membrane)[4]
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
                     max_step: float = np.inf, membrane: Membrane | None = None,
                     **params: Any) -> RundownResult:
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
        Pass the generated Jacobian :func:`rundown_jac` to the integrator.
    max_step : float
        Largest integrator step, s.
    membrane : Membrane, optional
        Any fixed-volume membrane model (:mod:`iongrad.models.membrane`) instead of the
        pump–leak cell of ``leak``; the state is then every ion it moves.
    **params
        Cell parameters, any key of
        :data:`iongrad.models.steady_state.DEFAULT_PARAMS` (or of the membrane model's
        parameters; units in the names); scalars only.

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
    m = _membrane(leak, membrane)
    p = rundown_params(leak=leak, membrane=membrane, onset_s=onset_s, tau_atp_s=tau_atp_s,
                       tau_block_s=tau_block_s, ouabain_uM=ouabain_uM,
                       ouabain_ic50_uM=ouabain_ic50_uM, extracellular_fraction=alpha,
                       **params)
    nonscalar = sorted(k for k, v in p.items() if np.ndim(v) != 0)
    if nonscalar:
        raise ModelInputError(f"simulate_rundown takes scalar parameters; got arrays for "
                              f"{nonscalar} (use rundown_rhs for batches)")
    p = {k: float(v) for k, v in p.items()}
    ecs = extracellular_fraction is not None
    names = [f"{x}_i_mM" for x in m.ions] + ([f"{x}_o_mM" for x in m.ions] if ecs else [])
    n = len(names)
    t0 = float(p["onset_s"])
    t_start = min(float(t_eval[0]), t0)
    t_end = float(t_eval[-1])

    if initial_state is None:
        if membrane is None:
            ss_keys = {k: v for k, v in p.items() if k not in RUNDOWN_DEFAULTS}
            ss = solve_steady_state(leak=leak, volume="fixed", **ss_keys)
            reason = int(ss.reason)
            start = {"na_i_mM": ss.na_i_mM, "k_i_mM": ss.k_i_mM, "cl_i_mM": ss.cl_i_mM}
        else:
            sol = solve_membrane(m, {k: np.atleast_1d(np.asarray(p[k], dtype=float))
                                     for k in m.parameters})
            reason = int(sol.reason[0])
            start = {k: v[0] for k, v in sol.state.items()}
        if reason != 0:
            raise ModelInputError("the parameters have no pump–leak steady state to start "
                                  f"from (reason code {reason}); pass initial_state")
        y0 = np.array([float(start[k]) if k in start else p[k] for k in names])
    else:
        y0 = check("initial_state", initial_state, quantity="state_conc_mM").astype(float)
        if y0.shape != (n,):
            raise ModelInputError(f"initial_state must have {n} entries ({tuple(names)}, "
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
            return rundown_rhs(t, y, p, mode=mode, leak=leak, after_onset=after, membrane=m)

        def jac(t, y, after=after):
            return rundown_jac(t, y, p, mode=mode, leak=leak, after_onset=after, membrane=m)

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

    n_t = t_eval.size
    y_out = np.full((n, n_t), np.nan)
    after_mask = np.zeros(n_t, dtype=bool)
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

    currents = [f"i_{x}_pA" for x in m.ions]
    out = {name: np.full(n_t, np.nan) for name in
           ("v_mV", "atp_mM", "pump_available", "i_pump_pA", *currents)}
    for after in (False, True):
        sel = good & (after_mask == after)
        if not sel.any():
            continue
        try:
            _, _, atp, avail, v, cur = _evaluate(t_eval[sel], y_out[:, sel], p, mode,
                                                 leak, after, m)
        except _PotentialError as exc:
            success, message = False, f"potential root failed: {exc}"
            break
        out["v_mV"][sel] = v
        out["atp_mM"][sel] = atp
        out["pump_available"][sel] = avail
        for key in ("i_pump_pA", *currents):
            out[key][sel] = cur[key]
    states = {k: y_out[i] for i, k in enumerate(names)}
    if not ecs:
        states.update({f"{x}_o_mM": np.full(n_t, float(p[f"{x}_o_mM"])) * np.where(
            good, 1.0, np.nan) for x in m.ions})
    # Q = C_m ΔV: c_m [µF/cm²] 1e-6 × area [µm²] 1e-8 × ΔV [mV] 1e-3 (C); ÷ F (mol);
    # ÷ vol [pL] 1e-12 (M); × 1e3 (mM): overall factor 1e-2.
    v0 = _evaluate(t_start, y0, p, mode, leak, False, m)[4]  # the cell before the onset
    cap = (p["c_m_uF_cm2"] * p["area_um2"] * (out["v_mV"] - float(v0))
           / (F_C_PER_MOL * p["volume_pL"]) * 1e-2)
    nan = np.full(n_t, np.nan)
    return RundownResult(
        time_s=t_eval, v_mV=out["v_mV"], na_i_mM=states.get("na_i_mM", nan),
        k_i_mM=states.get("k_i_mM", nan), cl_i_mM=states.get("cl_i_mM", nan),
        na_o_mM=states.get("na_o_mM", nan), k_o_mM=states.get("k_o_mM", nan),
        cl_o_mM=states.get("cl_o_mM", nan),
        atp_mM=out["atp_mM"], pump_available=out["pump_available"],
        pump_current_pA=out["i_pump_pA"], i_na_pA=out.get("i_na_pA", nan),
        i_k_pA=out.get("i_k_pA", nan), i_cl_pA=out.get("i_cl_pA", nan),
        capacitive_charge_mM=cap,
        success=bool(success), message=message, onset_s=t0, mode=mode, leak=leak,
        extracellular_fraction=None if not ecs else float(alpha), nfev=int(nfev),
        njev=int(njev), states_mM=states, membrane=m.name, _params=p,
        _pieces=tuple(pieces), _membrane=m)


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
