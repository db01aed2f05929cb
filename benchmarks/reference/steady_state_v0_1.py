"""Frozen reference: the pump–leak steady-state solver of iongrad 0.1 (hand-written).

Kept outside the package only so that benchmarks/bench_composition_equivalence.py
can show that the membrane-model solver reproduces it. Not used by iongrad itself.
Only the solver is kept (the closed forms, which did not change, are not copied).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike

from iongrad.models import quantities as _quantities
from iongrad.models._backend import NP, check, check_broadcast, namespace
from iongrad.models._roots import expand_bracket, ridders
from iongrad.models.constants import (
    E_CHARGE_C,
    F_C_PER_MOL,
    rt_over_f_mV,
)
from iongrad.models.errors import ModelInputError
from iongrad.models.pump import hill_kernel as hill_activation
from iongrad.models.thermo import (
    u_over_one_minus_exp_neg_u,
)

__all__ = [
    "DEFAULT_PARAMS",
    "REASONS",
    "SteadyState",
    "ghk_slope_factor",
    "pump_leak_state",
    "solve_steady_state",
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

# Domain classes derived from the registry (used by the PyTensor Op's domain mask):
# lower bound 0 excluded -> positive; 0 included -> nonnegative.
_POSITIVE = {k for k in _PARAM_NAMES
             if _quantities.get(k).low > 0
             or (_quantities.get(k).low == 0 and not _quantities.get(k).low_inclusive)}
_NONNEG = {k for k in _PARAM_NAMES
           if _quantities.get(k).low == 0 and _quantities.get(k).low_inclusive}
_LEAK_PARAMS = {"ohmic": ("g_na_nS", "g_k_nS", "g_cl_nS"),
                "ghk": ("p_na_cm_s", "p_k_cm_s", "p_cl_cm_s")}

#: Codes of the ``reason`` output.
REASONS = {
    0: "ok",
    1: "no sign change of the electroneutrality residual (no steady state)",
    2: "iteration limit reached",
    3: "balance residual above tolerance",
    4: "osmotic volume: impermeant content would be negative (pump cannot stop swelling)",
    5: "unphysical: an intracellular concentration above max_conc_mM (pump cannot balance "
       "the leaks and the activity load)",
}


# --------------------------------------------------------------------------------------
# Building blocks, generic over NumPy / PyTensor
# --------------------------------------------------------------------------------------
def ghk_slope_factor(w: ArrayLike) -> ArrayLike:
    """Derivative ``Φ'(w)`` of ``Φ(w) = w/(1 - e^{-w})``, exact through ``w = 0``.

    ``Φ'(w) = (1 - e^{-w}(1 + w))/(1 - e^{-w})^2``; for ``w < 0`` the algebraically
    equal form ``e^{w}(e^{w} - 1 - w)/(e^{w} - 1)^2`` avoids inf - inf.
    """
    xp = namespace(w)
    small = xp.abs(w) < 1e-3
    pos = w > 0
    w_safe = xp.where(small, 1.0, w)
    wp = xp.where(pos, w_safe, 1.0)
    wn = xp.where(pos, -1.0, w_safe)
    emp = -xp.expm1(-wp)  # 1 - e^{-w} for w > 0
    f_pos = (emp - wp * xp.exp(-wp)) / (emp * emp)
    en = xp.exp(wn)
    emn = xp.expm1(wn)  # e^{w} - 1 for w < 0
    f_neg = en * (emn - wn) / (emn * emn)
    return xp.where(small, 0.5 + w / 6.0 - w**3 / 180.0, xp.where(pos, f_pos, f_neg))


def _phi_np(w):
    """NumPy fast path: ``Φ(w)``, ``Φ(-w)`` and ``Φ'(w)`` with two transcendental calls.

    With ``a = |w|``, ``t = e^{-a}`` and ``m = 1 - t``: ``Φ(a) = a/m``,
    ``Φ(-a) = a t/m``, ``Φ'(a) = (m - a t)/m^2`` and ``Φ'(-a) = t (a - m)/m^2``
    — no overflow and no catastrophic cancellation for large ``|w|``; a Taylor
    series covers ``|w| < 1e-2``.
    """
    a = np.abs(w)
    small = a < 1e-2
    a_s = np.where(small, 1.0, a)
    t = np.exp(-a_s)
    m = -np.expm1(-a_s)
    phi_a, phi_ma = a_s / m, a_s * t / m
    m2 = m * m
    dphi_a, dphi_ma = (m - a_s * t) / m2, t * (a_s - m) / m2
    pos = w >= 0
    phi_p = np.where(pos, phi_a, phi_ma)
    phi_m = np.where(pos, phi_ma, phi_a)
    dphi = np.where(pos, dphi_a, dphi_ma)
    w2 = w * w
    ser_phi = 1.0 + w / 2.0 + w2 / 12.0 - w2 * w2 / 720.0
    ser_phi_m = ser_phi - w
    ser_dphi = 0.5 + w / 6.0 - w2 * w / 180.0 + w2 * w2 * w / 5040.0
    return (np.where(small, ser_phi, phi_p), np.where(small, ser_phi_m, phi_m),
            np.where(small, ser_dphi, dphi))


def _leak_scale(p, leak, ion):
    """Conductance-like prefactor: g (nS) for ohmic, z F P A 1e-2 (pA/mM) for GHK."""
    if leak == "ohmic":
        return p[{"na": "g_na_nS", "k": "g_k_nS", "cl": "g_cl_nS"}[ion]]
    key = {"na": "p_na_cm_s", "k": "p_k_cm_s", "cl": "p_cl_cm_s"}[ion]
    return F_C_PER_MOL * p[key] * p["area_um2"] * 1e-2


def _max_pump_current_pA(p):
    """Pump current at the given K_o and ATP with Na+ sites saturated, pA."""
    return (p["pump_density_per_um2"] * p["area_um2"] * p["turnover_max_per_s"]
            * E_CHARGE_C * 1e12 * hill_activation(p["k_o_mM"], p["k_k_mM"], p["hill_k"])
            * p["atp_mM"] / (p["atp_mM"] + p["k_atp_mM"]))


def _osm_o(p, xp):
    osm = p["osm_o_mOsm"]
    if xp.symbolic:
        return osm
    return np.where(np.isnan(osm), 2.0 * (p["na_o_mM"] + p["k_o_mM"]), osm)


def pump_leak_state(x_ln_na: ArrayLike, v_mV: ArrayLike, p: Mapping[str, ArrayLike], *,
                    leak: str = "ohmic", volume: str = "fixed") -> dict[str, ArrayLike]:
    """All state variables and balance residuals at ``(ln Na_i, V)``.

    Generic over NumPy and PyTensor. K_i comes from the K+ balance and Cl_i from
    Cl- equilibrium, both explicitly; the two remaining residuals are returned:

    * ``r_na_pA``: Na+ balance ``I_Na,leak + 3 I_p`` (pA)
    * ``r_en_mM``: electroneutrality (mM; with the osmotic constraint folded in
      when ``volume="osmotic"``)

    Parameters
    ----------
    x_ln_na : array_like
        Natural log of Na_i in mM.
    v_mV : array_like
        Membrane potential, mV.
    p : mapping
        Parameters (see :data:`DEFAULT_PARAMS`), arrays broadcastable together.
    """
    xp = namespace(x_ln_na, v_mV, *p.values())
    vt = rt_over_f_mV(p["temperature_K"])
    w = v_mV / vt
    na = xp.exp(x_ln_na)
    i_p = _max_pump_current_pA(p) * hill_activation(na, p["k_na_mM"], p["hill_na"])
    a_na, a_k = _leak_scale(p, leak, "na"), _leak_scale(p, leak, "k")
    load = p["activity_load_pA"]
    # K+ leak must carry 2 I_p minus the K+ that activity already exports.
    i_k_needed = 2.0 * i_p - load
    if leak == "ohmic":
        e_na = vt * (xp.log(p["na_o_mM"]) - x_ln_na)
        i_na = a_na * (v_mV - e_na)
        # g_K (V - E_K) = 2 I_p - L  ->  E_K = V - (2 I_p - L) / g_K
        e_k = v_mV - i_k_needed / a_k
        arg = -e_k / vt
        k_i = p["k_o_mM"] * xp.exp(arg if xp.symbolic else np.minimum(arg, 700.0))
    else:
        phi_p, phi_m = u_over_one_minus_exp_neg_u(w), u_over_one_minus_exp_neg_u(-w)
        i_na = a_na * (na * phi_p - p["na_o_mM"] * phi_m)
        # a_K (K_i Φ(w) - K_o Φ(-w)) = 2 I_p - L  ->  K_i explicit
        k_i = (i_k_needed / a_k + p["k_o_mM"] * phi_m) / phi_p
    cl_i = p["cl_o_mM"] * xp.exp(w if xp.symbolic else np.minimum(w, 700.0))
    if volume == "fixed":
        a_i = p["a_i_mM"] + 0.0 * w
        r_en = na + k_i - cl_i - p["z_a"] * a_i
        scale = na + k_i + cl_i + p["z_a"] * a_i
    else:
        osm = _osm_o(p, xp)
        a_i = osm - na - k_i - cl_i
        z = p["z_a"]
        r_en = (1.0 + z) * (na + k_i) - (1.0 - z) * cl_i - z * osm
        scale = (1.0 + z) * (na + k_i) + xp.abs(1.0 - z) * cl_i + z * osm
    return {
        "na_i_mM": na, "k_i_mM": k_i, "cl_i_mM": cl_i, "a_i_mM": a_i, "v_mV": v_mV,
        "pump_current_pA": i_p, "i_na_pA": i_na,
        "r_na_pA": i_na - load + 3.0 * i_p, "r_en_mM": r_en, "en_scale_mM": scale,
    }


def _v_given_x(x, p, leak, v_guess=None):
    """Solve the Na+ balance for V at fixed ln Na_i (NumPy). Returns (V, ok)."""
    vt = rt_over_f_mV(p["temperature_K"])
    na = np.exp(x)
    i_p = _max_pump_current_pA(p) * hill_activation(na, p["k_na_mM"], p["hill_na"])
    a_na = _leak_scale(p, leak, "na")
    net_out = 3.0 * i_p - p["activity_load_pA"]  # Na+ the leak must bring in, as current
    if leak == "ohmic":
        return vt * (np.log(p["na_o_mM"]) - x) - net_out / a_na, np.ones(np.shape(x), bool)
    # GHK: s(w) = (Na_i - Na_o) Φ(w) + Na_o w + 3 I_p / a_Na = 0, increasing in w.
    na_o = p["na_o_mM"]
    target = net_out / a_na

    w = np.log(na_o / na) if v_guess is None else v_guess / vt
    w = np.array(np.broadcast_to(w, np.shape(x)), dtype=float)
    # s is monotone and convex or concave on the whole line (Φ is convex and
    # 0 < Φ' < 1), so Newton's method converges from any starting point.
    ok = np.zeros(np.shape(x), dtype=bool)
    idx = np.arange(w.size)
    d_na = np.broadcast_to(na - na_o, w.shape).ravel()
    na_o_f = np.broadcast_to(na_o, w.shape).ravel()
    tgt = np.broadcast_to(target, w.shape).ravel()
    w_f, ok_f = w.ravel(), ok.ravel()
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(100):
            # Iterate only the samples that have not converged yet.
            wi = w_f[idx]
            phi, _, dphi = _phi_np(wi)
            s_val = d_na[idx] * phi + na_o_f[idx] * wi + tgt[idx]
            step = s_val / (d_na[idx] * dphi + na_o_f[idx])
            wi = wi - step
            w_f[idx] = wi
            done = np.abs(step) <= 1e-13 * np.maximum(1.0, np.abs(wi))
            ok_f[idx[done]] = True
            idx = idx[~done]
            if idx.size == 0:
                break
    w, ok = w_f.reshape(w.shape), ok_f.reshape(w.shape)
    return w * vt, ok


def _expand(f, lo, hi, step=1.0):
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return expand_bracket(f, lo, hi, step=step)


def _ridders(f, lo, hi, f_lo, f_hi, xtol, ftol=1e-15, max_iter=100):
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return ridders(f, lo, hi, f_lo, f_hi, xtol=xtol, ftol=ftol, max_iter=max_iter)


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
    # Model rule (not a domain): the Na+ and K+ leaks of the chosen leak model carry the
    # pump's fluxes, so they must be > 0 although the registry domain is >= 0.
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


def input_resistance_MOhm(v_mV: ArrayLike, na_i_mM: ArrayLike, k_i_mM: ArrayLike,
                         cl_i_mM: ArrayLike, p: Mapping[str, ArrayLike], *,
                         leak: str = "ohmic") -> ArrayLike:
    """Leak input resistance (inverse slope conductance at fixed concentrations), MΩ."""
    xp = namespace(v_mV, na_i_mM, k_i_mM, cl_i_mM, *p.values())
    if leak == "ohmic":
        g = p["g_na_nS"] + p["g_k_nS"] + p["g_cl_nS"]
    else:
        vt = rt_over_f_mV(p["temperature_K"])
        w = v_mV / vt

        def slope(a, z, ci, co):
            # I = z a (ci Φ(zw) - co Φ(-zw))  ->  dI/dV = z² a / vt (ci Φ'(zw) + co Φ'(-zw))
            wz = z * w
            return a * z * z / vt * (ci * ghk_slope_factor(wz) + co * ghk_slope_factor(-wz))

        g = (slope(_leak_scale(p, leak, "na"), 1.0, na_i_mM, p["na_o_mM"])
             + slope(_leak_scale(p, leak, "k"), 1.0, k_i_mM, p["k_o_mM"])
             + slope(_leak_scale(p, leak, "cl"), -1.0, cl_i_mM, p["cl_o_mM"]))
    del xp
    return 1e3 / g


def steady_state_residuals(na_i_mM: ArrayLike, k_i_mM: ArrayLike, cl_i_mM: ArrayLike,
                           v_mV: ArrayLike, a_i_mM: ArrayLike, p: Mapping[str, ArrayLike],
                           *, leak: str = "ohmic") -> dict[str, np.ndarray]:
    """Relative residuals of every balance equation at a candidate steady state.

    Returns a dict of ``na``, ``k``, ``cl`` (flux balances), ``current`` (total
    membrane current) and ``electroneutrality``, each ``|sum| / scale`` where the
    scale of a leak is its gross (unidirectional) magnitude — ``g (|V| + |E| + RT/F)``
    for ohmic, the sum of both unidirectional GHK fluxes — so that a balance at
    equilibrium (no pump) is judged against the fluxes it balances, not zero.
    """
    from iongrad.models.thermo import ghk_current_kernel_pA as ghk_current_pA
    from iongrad.models.thermo import ohmic_current_kernel_pA as ohmic_current_pA

    i_p = (_max_pump_current_pA(p) * hill_activation(na_i_mM, p["k_na_mM"], p["hill_na"]))
    t = p["temperature_K"]
    if leak == "ohmic":
        # Nernst potentials (inputs are validated by the callers; no re-checks here,
        # this runs inside every log-density evaluation of a fit)
        vt = rt_over_f_mV(t)
        e_na = vt * np.log(p["na_o_mM"] / na_i_mM)
        e_k = vt * np.log(p["k_o_mM"] / k_i_mM)
        e_cl = -vt * np.log(p["cl_o_mM"] / cl_i_mM)
        i_na = ohmic_current_pA(v_mV, e_na, p["g_na_nS"])
        i_k = ohmic_current_pA(v_mV, e_k, p["g_k_nS"])
        i_cl = ohmic_current_pA(v_mV, e_cl, p["g_cl_nS"])
        # magnitude scale of each leak: g (|V| + |E| + RT/F)
        s_na = p["g_na_nS"] * (np.abs(v_mV) + np.abs(e_na) + vt)
        s_k = p["g_k_nS"] * (np.abs(v_mV) + np.abs(e_k) + vt)
        s_cl = p["g_cl_nS"] * (np.abs(v_mV) + np.abs(e_cl) + vt)
    else:
        kw = {"area_um2": p["area_um2"], "temperature_K": t}
        i_na = ghk_current_pA(v_mV, na_i_mM, p["na_o_mM"], p["p_na_cm_s"], z=1, **kw)
        i_k = ghk_current_pA(v_mV, k_i_mM, p["k_o_mM"], p["p_k_cm_s"], z=1, **kw)
        i_cl = ghk_current_pA(v_mV, cl_i_mM, p["cl_o_mM"], p["p_cl_cm_s"], z=-1, **kw)
        # magnitude scale of each leak: the sum of its unidirectional fluxes
        w = v_mV / rt_over_f_mV(t)
        phi_p, phi_m = u_over_one_minus_exp_neg_u(w), u_over_one_minus_exp_neg_u(-w)

        def uni(key, ci, co, z):
            pp, pm = (phi_p, phi_m) if z > 0 else (phi_m, phi_p)
            return F_C_PER_MOL * p[key] * p["area_um2"] * 1e-2 * (ci * pp + co * pm)

        s_na = uni("p_na_cm_s", na_i_mM, p["na_o_mM"], 1)
        s_k = uni("p_k_cm_s", k_i_mM, p["k_o_mM"], 1)
        s_cl = uni("p_cl_cm_s", cl_i_mM, p["cl_o_mM"], -1)
    tiny = 1e-300
    load = p["activity_load_pA"]
    en_terms = na_i_mM + k_i_mM + cl_i_mM + p["z_a"] * a_i_mM
    return {
        "na": np.abs(i_na - load + 3 * i_p) / (s_na + load + 3 * i_p + tiny),
        "k": np.abs(i_k + load - 2 * i_p) / (s_k + load + 2 * i_p + tiny),
        "cl": np.abs(i_cl) / (s_cl + tiny),
        "current": np.abs(i_na + i_k + i_cl + i_p) / (s_na + s_k + s_cl + i_p + tiny),
        "electroneutrality": np.abs(na_i_mM + k_i_mM - cl_i_mM - p["z_a"] * a_i_mM)
        / en_terms,
    }


def _h_and_slope(x, p, leak, volume, w_guess=None):
    """Electroneutrality residual at ``x = ln Na_i`` and its exact derivative d/dx (NumPy).

    Returns ``r, dr/dx, v_mV, ok``. V, K_i and Cl_i follow from the Na+ balance,
    the K+ balance and Cl- equilibrium; their x-derivatives are the analytic
    chain rule (implicit for the GHK Na+ balance).
    """
    vt = rt_over_f_mV(p["temperature_K"])
    na = np.exp(x)
    f = hill_activation(na, p["k_na_mM"], p["hill_na"])
    i_p = _max_pump_current_pA(p) * f
    di_p = i_p * p["hill_na"] * (1.0 - f)
    load = p["activity_load_pA"]
    a_na, a_k = _leak_scale(p, leak, "na"), _leak_scale(p, leak, "k")
    if leak == "ohmic":
        v = vt * (np.log(p["na_o_mM"]) - x) - (3.0 * i_p - load) / a_na
        dv = -vt - 3.0 * di_p / a_na
        e_k = v - (2.0 * i_p - load) / a_k
        k_i = p["k_o_mM"] * np.exp(np.minimum(-e_k / vt, 700.0))
        dk = -k_i * (dv - 2.0 * di_p / a_k) / vt
        ok = np.ones(x.shape, dtype=bool)
    else:
        v, ok = _v_given_x(x, p, leak, w_guess)
        w = v / vt
        phi_p, phi_m, dphi_p = _phi_np(w)
        _, _, dphi_m = _phi_np(-w)
        ds_dw = (na - p["na_o_mM"]) * dphi_p + p["na_o_mM"]
        ds_dx = na * phi_p + 3.0 * di_p / a_na
        dw = -ds_dx / ds_dw
        dv = vt * dw
        k_i = ((2.0 * i_p - load) / a_k + p["k_o_mM"] * phi_m) / phi_p
        dk = (2.0 * di_p / a_k - p["k_o_mM"] * dphi_m * dw - k_i * dphi_p * dw) / phi_p
    cl = p["cl_o_mM"] * np.exp(np.minimum(v / vt, 700.0))
    dcl = cl * dv / vt
    if volume == "fixed":
        r = na + k_i - cl - p["z_a"] * p["a_i_mM"]
        dr = na + dk - dcl
    else:
        z = p["z_a"]
        r = (1.0 + z) * (na + k_i) - (1.0 - z) * cl - z * _osm_o(p, NP)
        dr = (1.0 + z) * (na + dk) - (1.0 - z) * dcl
    return r, dr, v, ok


def _ohmic_constants(p, volume):
    """Everything in the ohmic residual that does not depend on ln Na_i, computed once."""
    z = p["z_a"]
    if volume == "fixed":
        c1, c2, c3 = np.ones_like(z), np.ones_like(z), z * p["a_i_mM"]
    else:
        c1, c2, c3 = 1.0 + z, 1.0 - z, z * _osm_o(p, NP)
    return {
        "vt": rt_over_f_mV(p["temperature_K"]), "imax": _max_pump_current_pA(p),
        "n": p["hill_na"], "n_ln_k": p["hill_na"] * np.log(p["k_na_mM"]),
        "load": p["activity_load_pA"], "g_na": p["g_na_nS"], "g_k": p["g_k_nS"],
        "ln_na_o": np.log(p["na_o_mM"]), "k_o": p["k_o_mM"], "cl_o": p["cl_o_mM"],
        "c1": c1, "c2": c2, "c3": c3,
    }


def _h_and_slope_ohmic(x, c):
    """Ohmic fast path of :func:`_h_and_slope` on precomputed constants."""
    vt = c["vt"]
    na = np.exp(x)
    f = 1.0 / (1.0 + np.exp(c["n_ln_k"] - c["n"] * x))  # Hill, via ln Na_i
    i_p = c["imax"] * f
    di_p = i_p * c["n"] * (1.0 - f)
    load = c["load"]
    v = vt * (c["ln_na_o"] - x) - (3.0 * i_p - load) / c["g_na"]
    dv = -vt - 3.0 * di_p / c["g_na"]
    e_k = v - (2.0 * i_p - load) / c["g_k"]
    k_i = c["k_o"] * np.exp(np.minimum(-e_k / vt, 700.0))
    dk = -k_i * (dv - 2.0 * di_p / c["g_k"]) / vt
    cl = c["cl_o"] * np.exp(np.minimum(v / vt, 700.0))
    dcl = cl * dv / vt
    r = c["c1"] * (na + k_i) - c["c2"] * cl - c["c3"]
    dr = c["c1"] * (na + dk) - c["c2"] * dcl
    return r, dr, v, np.ones(x.shape, dtype=bool)


def _newton_warm(x0, p, leak, volume, *, max_iter=12):
    """Damped Newton on ln Na_i with the exact slope. Returns ``x, converged``.

    Only the samples not yet converged are iterated (active-set compaction).
    """
    x = np.array(x0, dtype=float, copy=True)
    conv = np.zeros(x.shape, dtype=bool)
    idx = np.arange(x.size)
    w = None
    if leak == "ohmic":
        sub = _ohmic_constants(p, volume)

        def resid(xi, data, _w):
            return _h_and_slope_ohmic(xi, data)
    else:
        sub = p

        def resid(xi, data, w_):
            return _h_and_slope(xi, data, leak, volume, w_)

    with np.errstate(all="ignore"):
        for it in range(max_iter):
            xi = x[idx]
            r, dr, v, ok = resid(xi, sub, w)
            # an overflowing residual or slope (extreme pump/leak ratios far from the
            # root) is no information: r/inf = 0 would look like convergence
            step = np.where(ok & (dr > 0) & np.isfinite(r) & np.isfinite(dr), r / dr, np.nan)
            step = np.clip(step, -1.0, 1.0)  # damp: at most a factor e per step
            xi = xi - step
            x[idx] = xi
            done = np.abs(step) <= 1e-13 * np.maximum(1.0, np.abs(xi))
            bad = ~np.isfinite(step)
            conv[idx[done]] = True
            keep = ~(done | bad)
            if not keep.any() or it == max_iter - 1:
                break
            if keep.sum() <= 0.7 * keep.size:
                # compact only when enough samples have settled (slicing costs too)
                idx = idx[keep]
                sub = {k: val[keep] for k, val in sub.items()}
                w = v[keep] if leak == "ghk" else None
            else:
                conv[idx[done]] = False  # still in the active set: iterate again
                w = v if leak == "ghk" else None
    return x, conv & np.isfinite(x)


def _bracketed(p, leak, volume, max_iter):
    """Bracket + Ridders on the normalised residual (the always-convergent path)."""
    v_cache = {}

    def h(x):
        v, ok = _v_given_x(x, p, leak, v_cache.get("v"))
        v_cache["v"] = np.where(np.isfinite(v), v, 0.0)
        st = pump_leak_state(x, v, p, leak=leak, volume=volume)
        return np.where(ok, st["r_en_mM"] / st["en_scale_mM"], np.nan)

    x0 = np.log(np.minimum(p["k_na_mM"], 0.5 * p["na_o_mM"]))
    lo, hi, f_lo, f_hi, bracketed = _expand(h, x0 - 0.5, x0 + 0.5, 0.5)
    x, conv, iters = _ridders(h, lo, hi, np.where(bracketed, f_lo, -1.0),
                              np.where(bracketed, f_hi, 1.0), xtol=1e-14, max_iter=max_iter)
    return x, conv & bracketed, iters, bracketed


def solve_core(p: dict, *, leak: str = "ohmic", volume: str = "fixed", x0=None,
               rtol_check: float = 1e-9, max_iter: int = 100, max_conc_mM: float = 2000.0):
    """Solver kernel on validated, flattened parameter vectors (no input checks).

    ``p`` maps every name of :data:`DEFAULT_PARAMS` to a 1-D float array of one
    common length. ``x0`` optionally warm-starts ``ln Na_i``. Used by
    :func:`solve_steady_state` and by the PyTensor Op, which supplies parameters
    that are valid by construction. Returns ``x, v, state, reason, residuals,
    iterations``.
    """
    n = p["na_o_mM"].size
    # Newton with the exact slope from the previous solution (warm) or from the pump's
    # Na+ half-activation constant (cold); samples it does not settle go to the
    # bracketed Ridders iteration, which always converges on this monotone residual.
    cold = x0 is None
    if cold:
        x0 = np.log(np.minimum(p["k_na_mM"], 0.5 * p["na_o_mM"]))
    x, conv = _newton_warm(x0, p, leak, volume, max_iter=25 if cold else 12)
    iters = np.zeros(n, dtype=np.int64)
    bracketed = np.ones(n, dtype=bool)
    if not conv.all():
        idx = np.flatnonzero(~conv)
        sub = {k: v[idx] for k, v in p.items()}
        xs, cs, its, bs = _bracketed(sub, leak, volume, max_iter)
        x[idx], conv[idx], iters[idx], bracketed[idx] = xs, cs, its, bs
    return _finish(x, p, leak, volume, conv & bracketed, iters, rtol_check, max_conc_mM,
                   bracketed)


def _finish(x, p, leak, volume, conv, iters, rtol_check, max_conc_mM, bracketed=None):
    """Compute the state at the root and assign a ``reason`` to every sample."""
    n = x.size
    with np.errstate(all="ignore"):  # out-of-range samples are flagged below, not warned
        v, ok_v = _v_given_x(x, p, leak)
        st = pump_leak_state(x, v, p, leak=leak, volume=volume)
    reason = np.zeros(n, dtype=np.int64)
    reason[~conv] = 2
    reason[~ok_v] = 2
    if bracketed is not None:
        reason[~bracketed] = 1
    if volume == "osmotic":
        # A_i -> 0 is the limit of unbounded swelling; treat round-off above 0 alike.
        no_room = ~(st["a_i_mM"] > 1e-9 * _osm_o(p, NP))
        reason[(reason == 0) & no_room] = 4
    too_high = ((st["na_i_mM"] > max_conc_mM) | (st["k_i_mM"] > max_conc_mM)
                | (st["cl_i_mM"] > max_conc_mM))
    reason[(reason == 0) & too_high] = 5
    conc = (st["na_i_mM"], st["k_i_mM"], st["cl_i_mM"])
    valid = np.isfinite(v) & np.logical_and.reduce([np.isfinite(c) & (c > 0) for c in conc])
    # residuals are evaluated on valid samples only (others are flagged anyway)
    safe = [np.where(valid, c, 1.0) for c in conc]
    with np.errstate(all="ignore"):
        res = steady_state_residuals(*safe, np.where(valid, v, 0.0), st["a_i_mM"], p,
                                     leak=leak)
    res = {k: np.where(valid, r, np.inf) for k, r in res.items()}
    worst = np.max(np.stack([res[k] for k in res]), axis=0)
    reason[(reason == 0) & ~((worst <= rtol_check) & valid)] = 3
    return x, v, st, reason, res, iters


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
    shape = np.broadcast_shapes(*(np.shape(v) for v in p.values()))
    p = {k: np.broadcast_to(v, shape).astype(float).ravel() for k, v in p.items()}
    n = p["na_o_mM"].size
    _, v, st, reason, res, iters = solve_core(p, leak=leak, volume=volume,
                                              rtol_check=rtol_check, max_iter=max_iter,
                                              max_conc_mM=max_conc_mM)
    feasible = reason == 0

    vt = rt_over_f_mV(p["temperature_K"])
    i_p = st["pump_current_pA"]
    atp = i_p * 1e-12 / E_CHARGE_C
    if volume == "osmotic":
        vol = p["volume_pL"] * p["a_i_mM"] / np.where(st["a_i_mM"] > 0, st["a_i_mM"], np.nan)
    else:
        vol = p["volume_pL"]
    with np.errstate(all="ignore"):
        out = {
            "na_i_mM": st["na_i_mM"], "k_i_mM": st["k_i_mM"], "cl_i_mM": st["cl_i_mM"],
            "a_i_mM": st["a_i_mM"], "v_rest_mV": v,
            "e_na_mV": vt * np.log(p["na_o_mM"] / st["na_i_mM"]),
            "e_k_mV": vt * np.log(p["k_o_mM"] / st["k_i_mM"]),
            "e_cl_mV": -vt * np.log(p["cl_o_mM"] / st["cl_i_mM"]),
            "pump_current_pA": i_p, "atp_per_s": atp, "o2_per_s": atp / p["atp_per_o2"],
            "r_in_MOhm": input_resistance_MOhm(v, st["na_i_mM"], st["k_i_mM"],
                                               st["cl_i_mM"], p, leak=leak),
            "volume_pL": np.broadcast_to(vol, (n,)).astype(float),
        }
    out = {k: np.where(feasible, val, np.nan).reshape(shape) for k, val in out.items()}
    return SteadyState(**out, feasible=feasible.reshape(shape), reason=reason.reshape(shape),
                       iterations=iters.reshape(shape),
                       residuals={k: r.reshape(shape) for k, r in res.items()})
