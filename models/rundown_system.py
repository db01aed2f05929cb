"""The run-down ODE of any fixed-volume membrane model, generated from its rate laws.

After the onset of anoxia or of an ouabain block the pump slows and every gradient
runs down. For a membrane model (:class:`~iongrad.models.membrane.Membrane`) this
module builds, symbolically and once:

* the state: the intracellular concentration of every ion the model moves and, with
  a finite extracellular space, its extracellular concentration (the bath symbols
  become state variables);
* the pump drive: in anoxia ``ATP(τ) = ATP_0 e^{-τ/τ_ATP}`` replaces ``atp_mM`` in
  every rate law; with ouabain every mechanism blocked by it (``blocked_by``) is
  scaled by the unblocked fraction ``1 - occ (1 - e^{-τ/τ_block})``,
  ``occ = dose/(dose + IC50)`` (``τ_block = 0``: a step at the onset); ``τ`` is the
  time since the onset;
* the rates ``dc_X,i/dt = -J_X k`` and ``dc_X,o/dt = +J_X k (1 - α)/α`` with
  ``k = 1e3/(F vol)`` (pA-equivalents per pL → mM/s), ``J_X`` the net outward flux
  of ``X`` through all mechanisms;
* the membrane potential as the quasi-steady root of the total current,
  ``I(V) = Σ z_X J_X = 0`` (why this and not a capacitor: :mod:`iongrad.models.rundown`).

Every derivative — ``∂f/∂y``, ``∂f/∂V``, ``∂I/∂y``, ``∂I/∂V``, ``∂f/∂ln θ``,
``∂I/∂ln θ`` — is ``sympy.diff`` of those expressions. The potential enters by the
implicit function theorem, ``dV/dx = -(∂I/∂x)/(∂I/∂V)``, so the Jacobian of the
ODE is ``∂f/∂y + ∂f/∂V ⊗ dV/dy``. The vectorised NumPy code of this module and the
compiled per-state kernels of :mod:`iongrad.infer.rundown_kernel` are both printed
from these expressions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cached_property

import numpy as np
import sympy as sp

from iongrad.models import quantities as _quantities
from iongrad.models._roots import expand_bracket
from iongrad.models.codegen import numpy_function
from iongrad.models.constants import F_C_PER_MOL
from iongrad.models.errors import ModelInputError
from iongrad.models.mechanisms import ION, bath, conc, param, voltage
from iongrad.models.membrane import Membrane

__all__ = ["MODES", "STARTED", "TAU", "RundownSystem", "rundown_system"]

MODES = ("anoxia", "ouabain")

#: Time since the onset, s (0 before it).
TAU = sp.Symbol("tau_s", nonnegative=True)
#: 1 after the onset, 0 before it (the step of an instant block).
STARTED = sp.Symbol("started", nonnegative=True)
#: ATP and unblocked fraction as free symbols (the drive at a given instant).
ATP = sp.Symbol("atp_now_mM", positive=True)
AVAILABLE = sp.Symbol("available", nonnegative=True)
#: ``tau_block_s`` may be 0 (an instant block), unlike the registry's positive symbol.
_TAU_BLOCK = sp.Symbol("tau_block_s", nonnegative=True)

#: Largest finite stand-in for an infinite ouabain dose (occupancy exactly 1).
_DOSE_MAX = 1e300


def drive(mode: str) -> tuple[sp.Expr, sp.Expr]:
    """``(ATP(τ), unblocked fraction(τ))`` of a run-down, as expressions."""
    if mode not in MODES:
        raise ModelInputError(f"mode must be 'anoxia' or 'ouabain'; got {mode!r}")
    atp0 = param("atp_mM")
    if mode == "anoxia":
        return atp0 * sp.exp(-TAU / param("tau_atp_s")), sp.S.One
    dose, ic50 = param("ouabain_uM"), param("ouabain_ic50_uM")
    occupancy = dose / (dose + ic50)
    progress = sp.Piecewise((1 - sp.exp(-TAU / _TAU_BLOCK), _TAU_BLOCK > 0), (sp.S.One, True))
    return atp0, 1 - occupancy * STARTED * progress


def drive_inputs(p: Mapping[str, object]) -> dict:
    """Parameter values as the generated code takes them: an infinite ouabain dose
    (a saturating block) becomes the largest finite dose, whose occupancy is 1."""
    out = dict(p)
    if "ouabain_uM" in out:
        out["ouabain_uM"] = np.minimum(np.asarray(out["ouabain_uM"], dtype=float), _DOSE_MAX)
    return out


def _drive_flux(m, ion):
    j = m.fluxes[ion].subs(param("atp_mM"), ATP)
    return AVAILABLE * j if "ouabain" in m.blocked_by else j


def fluxes_at_drive(membrane: Membrane) -> dict[str, sp.Expr]:
    """Net outward flux of every ion (pA-eq) at ATP :data:`ATP` and unblocked fraction
    :data:`AVAILABLE` (every mechanism blocked by ouabain scaled by it)."""
    return {x: sp.Add(*(_drive_flux(m, x) for m in membrane.mechanisms if x in m.fluxes))
            for x in membrane.ions}


def currents_at_drive(membrane: Membrane) -> dict[str, sp.Expr]:
    """Membrane currents (pA, outward) at a given drive: ``i_<ion>_pA`` carried by the
    passive mechanisms (no ATP use: leaks, loads, cotransporters), ``i_pump_pA`` of the
    ATP-driven ones, and ``i_total_pA``."""
    out = {}
    for x in membrane.ions:
        out[f"i_{x}_pA"] = ION[x].z * sp.Add(*(
            _drive_flux(m, x) for m in membrane.mechanisms
            if x in m.fluxes and sp.sympify(m.atp_per_s) == 0))
    out["i_pump_pA"] = sp.Add(*(
        ION[x].z * _drive_flux(m, x) for m in membrane.mechanisms
        if sp.sympify(m.atp_per_s) != 0 for x in m.fluxes))
    out["i_total_pA"] = sp.Add(*(ION[x].z * j for x, j in fluxes_at_drive(membrane).items()))
    return out


def zero_current_potential(current, shape, v0=None, *, max_iter: int = 100):
    """Root ``V`` (mV) of an increasing total current, vectorised.

    ``current(v) -> (I, dI/dV)``. The root is bracketed from ``v0`` (default -60 mV)
    by expanding steps, then found by Newton's method safeguarded by bisection; the
    same iteration as the compiled kernel (:mod:`iongrad.infer.rundown_kernel`).
    Returns ``v, converged``.
    """
    start = np.full(shape, -60.0) if v0 is None else np.broadcast_to(
        np.asarray(v0, dtype=float), shape).copy()
    start = np.where(np.isfinite(start), start, -60.0)

    def value(vv):
        with np.errstate(all="ignore"):
            return np.broadcast_to(current(vv)[0], shape)

    lo, hi, f_lo, f_hi, ok = expand_bracket(value, start - 1.0, start + 1.0, step=20.0)
    x = np.clip(start, lo, hi)
    done = (f_lo == 0) | (f_hi == 0)
    x = np.where(f_lo == 0, lo, np.where(f_hi == 0, hi, x))
    for _ in range(max_iter):
        with np.errstate(all="ignore"):
            i, di = (np.broadcast_to(a, shape) for a in current(x))
            xn = np.where(di > 0, x - i / di, 0.5 * (lo + hi))
        lo = np.where(i < 0, x, lo)
        hi = np.where(i > 0, x, hi)
        xn = np.where((xn > lo) & (xn < hi), xn, 0.5 * (lo + hi))
        tol = 1e-13 * np.maximum(1.0, np.abs(xn))
        hit = (~done) & ((np.abs(xn - x) <= tol) | (hi - lo <= tol))
        x = np.where(done | (i == 0), x, xn)
        done = done | (i == 0) | hit
        if done.all():
            break
    return x, done & ok & np.isfinite(x)


class RundownSystem:
    """The run-down ODE of ``membrane`` under ``mode``, with or without an ECS.

    Attributes
    ----------
    states : tuple of sympy.Symbol
        ``<ion>_i_mM`` for every ion of the membrane, then (``ecs``) ``<ion>_o_mM``.
    params : tuple of sympy.Symbol
        Every other input (registry names), in a fixed order.
    rates : tuple of sympy.Expr
        ``dy/dt`` (mM/s) at potential :func:`~iongrad.models.mechanisms.voltage`.
    current : sympy.Expr
        Total membrane current (pA); the potential is its root.
    """

    def __init__(self, membrane: Membrane, mode: str = "anoxia", ecs: bool = False):
        if membrane.volume != "fixed":
            raise ModelInputError(
                f"the run-down model needs a fixed-volume membrane; {membrane.name!r} has "
                f"volume = {membrane.volume!r}")
        atp_t, avail_t = drive(mode)
        self.membrane, self.mode, self.ecs = membrane, mode, bool(ecs)
        self.ions = membrane.ions
        v = voltage()
        at_drive = fluxes_at_drive(membrane)
        self.fluxes_at_drive = at_drive
        timed = {ATP: atp_t, AVAILABLE: avail_t}
        self.fluxes = {x: j.subs(timed) for x, j in at_drive.items()}
        self.current = sp.Add(*(ION[x].z * j for x, j in self.fluxes.items()))
        k = sp.Float(1e3 / F_C_PER_MOL) / param("volume_pL")
        inside = [conc(x) for x in self.ions]
        rates = [-k * self.fluxes[x] for x in self.ions]
        states = list(inside)
        if self.ecs:
            alpha = param("extracellular_fraction")
            states += [bath(x) for x in self.ions]
            rates += [k * self.fluxes[x] * (1 - alpha) / alpha for x in self.ions]
        self.states = tuple(states)
        self.rates = tuple(rates)
        self.voltage = v
        special = {v, TAU, STARTED, *self.states}
        used = set().union(*(e.free_symbols for e in (*self.rates, self.current)))
        order = list(_quantities.QUANTITIES)
        # with a finite ECS the bath symbols are states (their values: the start)
        self.params = tuple(sorted((s for s in used if s not in special),
                                   key=lambda s: order.index(s.name)))
        # the steady state before the onset is closed by electroneutrality, whose
        # inputs (impermeant anions) the rates do not use: appended to the inputs
        e = membrane.electroneutrality
        extra = sorted((x for x in e.free_symbols if x not in special and x not in used),
                       key=lambda x: order.index(x.name))
        self.params = (*self.params, *extra)
        self.param_names = tuple(s.name for s in self.params)
        self.state_names = tuple(s.name for s in self.states)
        self.n = len(self.states)
        self.n_inside = len(inside)

    # ---- symbolic derivatives -------------------------------------------------------
    @cached_property
    def current_dv(self) -> sp.Expr:
        return sp.diff(self.current, self.voltage)

    def partials(self, free: Sequence[str] = ()) -> dict[str, list]:
        """Symbolic ``f``, ``∂f/∂y``, ``∂f/∂V``, ``∂I/∂y``, ``∂I/∂V`` and, for the
        parameters ``free``, ``θ ∂f/∂θ`` and ``θ ∂I/∂θ`` (all at fixed V)."""
        sym = self.free_symbols(free)
        f, cur, v, y = self.rates, self.current, self.voltage, self.states
        return {
            "f": list(f),
            "fy": [[sp.diff(fi, yj) for yj in y] for fi in f],
            "fv": [sp.diff(fi, v) for fi in f],
            "iy": [sp.diff(cur, yj) for yj in y],
            "iv": [self.current_dv],
            "fth": [[th * sp.diff(fi, th) for th in sym] for fi in f],
            "ith": [th * sp.diff(cur, th) for th in sym],
        }

    def free_symbols(self, free: Sequence[str]) -> list[sp.Symbol]:
        by_name = {s.name: s for s in self.params}
        bad = [n for n in free if n not in by_name]
        if bad:
            raise ModelInputError(
                f"cannot differentiate with respect to {bad}: not an input of the "
                f"{self.mode} run-down of {self.membrane.name!r}; its inputs are "
                f"{list(self.param_names)}")
        return [by_name[n] for n in free]

    @cached_property
    def conservation(self) -> tuple[sp.Expr, list[sp.Expr]]:
        """Electroneutrality (mM), kept by the zero-current potential, and its gradient
        in the inside states (the equation that closes the steady state)."""
        e = self.membrane.electroneutrality
        return e, [sp.diff(e, s) for s in self.states[:self.n_inside]]

    # ---- vectorised NumPy ----------------------------------------------------------
    def _args(self):
        return [self.voltage, *self.states, TAU, STARTED, *self.params]

    @cached_property
    def _np_current(self):
        return numpy_function(self._args(), [self.current, self.current_dv])

    @cached_property
    def _np_rates(self):
        return numpy_function(self._args(), list(self.rates))

    @cached_property
    def _np_partials(self):
        d = self.partials()
        flat = [e for row in d["fy"] for e in row] + d["fv"] + d["iy"] + d["iv"]
        return numpy_function(self._args(), flat)

    def values(self, p: Mapping[str, object]) -> list:
        """The parameter arrays in the order of :attr:`params` (from a dict)."""
        q = drive_inputs({k: p[k] for k in self.param_names})
        return [np.asarray(q[k], dtype=float) for k in self.param_names]

    def potential(self, y: Sequence, tau, started, pv: Sequence, *, v0=None):
        """Zero-current potential ``V`` (mV) at states ``y`` (vectorised; see
        :func:`zero_current_potential`). Returns ``v, converged``."""
        shape = np.broadcast(*(np.asarray(a) for a in (*y, tau, started, *pv))).shape
        fn = self._np_current
        return zero_current_potential(lambda vv: fn(vv, *y, tau, started, *pv), shape, v0)

    def rates_at(self, v, y, tau, started, pv) -> np.ndarray:
        with np.errstate(all="ignore"):
            out = self._np_rates(v, *y, tau, started, *pv)
        return np.stack(np.broadcast_arrays(*out))

    def jacobian_at(self, v, y, tau, started, pv) -> np.ndarray:
        """``d(dy/dt)/dy`` (n, n, ...) including the potential's dependence on y."""
        n = self.n
        with np.errstate(all="ignore"):
            flat = self._np_partials(v, *y, tau, started, *pv)
        flat = np.broadcast_arrays(*flat)
        fy = np.stack(flat[:n * n]).reshape((n, n, *flat[0].shape))
        fv = np.stack(flat[n * n:n * n + n])
        iy = np.stack(flat[n * n + n:n * n + 2 * n])
        iv = flat[-1]
        dvdy = -iy / iv
        return fy + fv[:, None] * dvdy[None, :]


_SYSTEMS: dict[tuple[int, str, bool], tuple[Membrane, RundownSystem]] = {}


def rundown_system(membrane: Membrane, mode: str = "anoxia",
                   ecs: bool = False) -> RundownSystem:
    """The :class:`RundownSystem` of ``membrane`` (built once per process)."""
    key = (id(membrane), mode, bool(ecs))
    hit = _SYSTEMS.get(key)
    if hit is None or hit[0] is not membrane:
        hit = (membrane, RundownSystem(membrane, mode, ecs))
        _SYSTEMS[key] = hit
    return hit[1]
