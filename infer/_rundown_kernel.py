"""Compiled right-hand side of the run-down ODE with its analytic derivatives.

One state at a time (what an ODE integrator asks for), so the cost is the call,
not the arithmetic: the kernel is compiled with Numba, which makes one
evaluation of ``f``, ``J = ∂f/∂y`` and ``∂f/∂ln θ`` about a microsecond instead of
tens of microseconds of interpreted scalar code. The equations are those of
:func:`iongrad.models.rundown.rundown_rhs` and :func:`~iongrad.models.rundown.rundown_jac`
(GHK leaks, pump with Na+/K+/ATP saturation, V from zero total membrane current);
the tests compare the two.

Parameters reach the kernel as one float vector ``q`` (indices ``Q_*`` below) and
the differentiated parameters as integer ``codes`` (``C_*``): which current, if
any, each one scales.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

# indices into the parameter vector q
Q_A_NA, Q_A_K, Q_A_CL, Q_PMAX, Q_K, Q_OCC, Q_RATIO, Q_ATP, Q_K_ATP = range(9)
Q_TAU_ATP, Q_TAU_BLOCK, Q_K_NA, Q_HILL_NA, Q_K_K, Q_HILL_K, Q_LOAD = range(9, 16)
Q_NA_O, Q_K_O, Q_CL_O, Q_ALPHA = range(16, 20)
N_Q = 20

# what a differentiated parameter scales (d current / d ln θ)
C_P_NA, C_P_K, C_P_CL, C_PUMP, C_K_NA, C_TAU_ATP, C_TAU_BLOCK, C_ALPHA = range(8)

#: free parameter name -> code
CODES = {"p_na_cm_s": C_P_NA, "p_k_cm_s": C_P_K, "p_cl_cm_s": C_P_CL,
         "pump_density_per_um2": C_PUMP, "turnover_max_per_s": C_PUMP, "k_na_mM": C_K_NA,
         "tau_atp_s": C_TAU_ATP, "tau_block_s": C_TAU_BLOCK,
         "extracellular_fraction": C_ALPHA}

# status codes
OK, BAD_STATE, BAD_POTENTIAL = 0, 1, 2


@njit(cache=True)
def phi(w):
    """``Φ(w) = w / (1 - e^{-w})``, exact through 0."""
    if abs(w) < 1e-4:
        return 1.0 + w / 2.0 + w * w / 12.0
    if w > 0:
        return w / -math.expm1(-w)
    return w * math.exp(w) / math.expm1(w)


@njit(cache=True)
def dphi(w):
    """``Φ'(w)``."""
    if abs(w) < 1e-3:
        return 0.5 + w / 6.0 - w**3 / 180.0
    if w > 0:
        emp = -math.expm1(-w)
        return (emp - w * math.exp(-w)) / (emp * emp)
    emn = math.expm1(w)
    return math.exp(w) * (emn - w) / (emn * emn)


@njit(cache=True)
def evaluate(t, y, q, codes, ecs, anoxia, wbuf, f, jac, fth, dwdy, dwdth, derivatives):
    """Rates ``f`` (and derivatives) at one state; returns ``(status, w)``, ``V = w RT/F``.

    ``t < 0`` is the drive before the onset. ``wbuf[0]`` warm-starts the potential
    root (NaN: none) and receives the new root. Output arrays are written in place:
    ``f`` (n,), ``jac`` (n, n), ``fth`` (n, P), ``dwdy`` (n,), ``dwdth`` (P,).
    """
    na_i, k_i, cl_i = y[0], y[1], y[2]
    if ecs:
        na_o, k_o, cl_o = y[3], y[4], y[5]
    else:
        na_o, k_o, cl_o = q[Q_NA_O], q[Q_K_O], q[Q_CL_O]
    if not (na_i > 0 and k_i > 0 and cl_i > 0 and na_o > 0 and k_o > 0 and cl_o > 0):
        return BAD_STATE, 0.0
    a_na, a_k, a_cl = q[Q_A_NA], q[Q_A_K], q[Q_A_CL]
    # drive: ATP after the onset (anoxia) or the unblocked pump fraction (ouabain)
    atp, avail, dlnatp, davail = q[Q_ATP], 1.0, 0.0, 0.0
    if t >= 0:
        if anoxia:
            atp = q[Q_ATP] * math.exp(-t / q[Q_TAU_ATP])
            dlnatp = q[Q_K_ATP] / (atp + q[Q_K_ATP]) * t / q[Q_TAU_ATP]
        else:
            tau = q[Q_TAU_BLOCK]
            if tau > 0:
                e = math.exp(-t / tau)
                avail = 1.0 - q[Q_OCC] * (1.0 - e)
                davail = q[Q_OCC] * e * t / tau
            else:
                avail = 1.0 - q[Q_OCC]
    f_na = 1.0 / (1.0 + (q[Q_K_NA] / na_i) ** q[Q_HILL_NA])
    g_k = 1.0 / (1.0 + (q[Q_K_K] / k_o) ** q[Q_HILL_K])
    h_atp = atp / (atp + q[Q_K_ATP])
    i_p_full = q[Q_PMAX] * g_k * h_atp * f_na
    i_p = i_p_full * avail
    # potential: (A - B) Φ(w) + B w + I_p = 0, strictly increasing in w
    big_a = a_na * na_i + a_k * k_i + a_cl * cl_o
    big_b = a_na * na_o + a_k * k_o + a_cl * cl_i
    amb = big_a - big_b
    hi = math.log(big_b / big_a)
    lo = min(-(max(amb, 0.0) + i_p) / big_b, hi)
    w = wbuf[0]
    if not (lo < w < hi):  # also NaN
        w = hi
    scale = abs(amb) + big_b + i_p
    for _ in range(60):
        ph = phi(w)
        res = amb * ph + big_b * w + i_p
        if abs(res) <= 1e-13 * scale:
            break
        if res > 0:
            hi = w
        else:
            lo = w
        w_new = w - res / (amb * dphi(w) + big_b)
        if not lo < w_new < hi:
            w_new = 0.5 * (lo + hi)
        if abs(w_new - w) <= 1e-15 * max(1.0, abs(w)):
            w = w_new
            break
        w = w_new
    phi_p = phi(w)
    phi_m = phi_p - w
    res = amb * phi_p + big_b * w + i_p
    if not (math.isfinite(w) and abs(res) <= 1e-9 * scale):
        return BAD_POTENTIAL, w
    wbuf[0] = w
    load = q[Q_LOAD]
    i_na_leak = a_na * (na_i * phi_p - na_o * phi_m)
    i_k_leak = a_k * (k_i * phi_p - k_o * phi_m)
    i_cl = a_cl * (cl_o * phi_p - cl_i * phi_m)
    k = q[Q_K]
    f0 = -k * (i_na_leak - load + 3.0 * i_p)
    f1 = -k * (i_k_leak + load - 2.0 * i_p)
    f2 = k * i_cl
    f[0], f[1], f[2] = f0, f1, f2
    n = 6 if ecs else 3
    if ecs:
        r = q[Q_RATIO]
        f[3], f[4], f[5] = -r * f0, -r * f1, -r * f2
    if not derivatives:
        return OK, w
    d_p, d_m = dphi(w), dphi(-w)
    dn = a_na * (na_i * d_p + na_o * d_m)
    dk = a_k * (k_i * d_p + k_o * d_m)
    dc = a_cl * (cl_o * d_p + cl_i * d_m)
    inv = 1.0 / (dn + dk + dc)  # 1 / (∂I/∂w)
    # ∂I_r/∂y_j at constant w (currents Na, K, Cl, pump)
    pn0, pk1, pc2 = a_na * phi_p, a_k * phi_p, -a_cl * phi_m
    pp0 = i_p * q[Q_HILL_NA] * (1.0 - f_na) / na_i
    for i in range(3):
        for j in range(n):
            jac[i, j] = 0.0
    jac[0, 0] = -k * (pn0 + 3.0 * pp0)
    jac[1, 0] = 2.0 * k * pp0
    jac[1, 1] = -k * pk1
    jac[2, 2] = k * pc2
    dwdy[0], dwdy[1], dwdy[2] = -(pn0 + pp0) * inv, -pk1 * inv, -pc2 * inv
    if ecs:
        pn3, pk4, pc5 = -a_na * phi_m, -a_k * phi_m, a_cl * phi_p
        pp4 = i_p * q[Q_HILL_K] * (1.0 - g_k) / k_o
        jac[0, 3] = -k * pn3
        jac[0, 4] = -3.0 * k * pp4
        jac[1, 4] = -k * pk4 + 2.0 * k * pp4
        jac[2, 5] = k * pc5
        dwdy[3], dwdy[4], dwdy[5] = -pn3 * inv, -(pk4 + pp4) * inv, -pc5 * inv
    cd0, cd1, cd2 = -k * dn, -k * dk, k * dc  # C @ ∂I/∂w
    for j in range(n):
        jac[0, j] += cd0 * dwdy[j]
        jac[1, j] += cd1 * dwdy[j]
        jac[2, j] += cd2 * dwdy[j]
    n_p = codes.shape[0]
    for c in range(n_p):
        code = codes[c]
        # (which current, d current / d ln θ at constant w and y)
        row, val = -1, 0.0
        if code == C_P_NA:
            row, val = 0, i_na_leak
        elif code == C_P_K:
            row, val = 1, i_k_leak
        elif code == C_P_CL:
            row, val = 2, i_cl
        elif code == C_PUMP:
            row, val = 3, i_p
        elif code == C_K_NA:
            row, val = 3, -q[Q_HILL_NA] * i_p * (1.0 - f_na)
        elif code == C_TAU_ATP:
            row, val = 3, i_p * dlnatp
        elif code == C_TAU_BLOCK:
            row, val = 3, i_p_full * davail
        dw = -val * inv
        dwdth[c] = dw
        # C: currents (Na, K, Cl, pump) -> inner rates, in units of k
        c0, c1, c2 = 0.0, 0.0, 0.0
        if row == 0:
            c0 = -val
        elif row == 1:
            c1 = -val
        elif row == 2:
            c2 = val
        elif row == 3:
            c0, c1 = -3.0 * val, 2.0 * val
        fth[0, c] = k * c0 + cd0 * dw
        fth[1, c] = k * c1 + cd1 * dw
        fth[2, c] = k * c2 + cd2 * dw
    if ecs:
        r = q[Q_RATIO]
        for i in range(3):
            for j in range(n):
                jac[3 + i, j] = -r * jac[i, j]
            for c in range(n_p):
                fth[3 + i, c] = -r * fth[i, c]
        for c in range(n_p):
            if codes[c] == C_ALPHA:
                # d(-ratio)/d ln alpha = 1/alpha
                alpha = q[Q_ALPHA]
                fth[3, c] += f0 / alpha
                fth[4, c] += f1 / alpha
                fth[5, c] += f2 / alpha
    return OK, w


@njit(cache=True)
def rhs_augmented(t, yy, q, codes, ecs, anoxia, wbuf, out, jac, fth, dwdy, dwdth):
    """``[f, J S + ∂f/∂ln θ]`` of the state and its sensitivities ``S`` (row-major n×P)."""
    n = 6 if ecs else 3
    n_p = codes.shape[0]
    status, _ = evaluate(t, yy[:n], q, codes, ecs, anoxia, wbuf, out[:n], jac, fth, dwdy,
                         dwdth, True)
    if status != OK:
        return status
    for i in range(n):
        for c in range(n_p):
            acc = fth[i, c]
            for j in range(n):
                acc += jac[i, j] * yy[n + j * n_p + c]
            out[n + i * n_p + c] = acc
    return OK


@njit(cache=True)
def jac_augmented(t, yy, q, codes, ecs, anoxia, wbuf, big, f, jac, fth, dwdy, dwdth):
    """Jacobian ``I ⊗ J`` of the augmented system (the ``∂(J S)/∂y`` terms dropped:
    they only steer the implicit corrector; the right-hand side is exact)."""
    n = 6 if ecs else 3
    n_p = codes.shape[0]
    status, _ = evaluate(t, yy[:n], q, codes, ecs, anoxia, wbuf, f, jac, fth, dwdy, dwdth,
                         True)
    if status != OK:
        return status
    big[:, :] = 0.0
    for i in range(n):
        for j in range(n):
            big[i, j] = jac[i, j]
            for c in range(n_p):
                big[n + i * n_p + c, n + j * n_p + c] = jac[i, j]
    return OK


def pack(p: dict, ecs: bool) -> np.ndarray:
    """The parameter vector ``q`` from the solver's parameter dict."""
    q = np.zeros(N_Q)
    q[Q_A_NA], q[Q_A_K], q[Q_A_CL] = p["_a_na"], p["_a_k"], p["_a_cl"]
    q[Q_PMAX], q[Q_K], q[Q_OCC] = p["_pmax"], p["_k"], p["_occ"]
    q[Q_RATIO] = p["_ratio"] if ecs else 0.0
    q[Q_ATP], q[Q_K_ATP] = p["atp_mM"], p["k_atp_mM"]
    q[Q_TAU_ATP], q[Q_TAU_BLOCK] = p["tau_atp_s"], p["tau_block_s"]
    q[Q_K_NA], q[Q_HILL_NA], q[Q_K_K], q[Q_HILL_K] = (p["k_na_mM"], p["hill_na"], p["k_k_mM"],
                                                      p["hill_k"])
    q[Q_LOAD] = p["activity_load_pA"]
    q[Q_NA_O], q[Q_K_O], q[Q_CL_O] = p["na_o_mM"], p["k_o_mM"], p["cl_o_mM"]
    q[Q_ALPHA] = p["extracellular_fraction"] if ecs else 1.0
    return q


@njit(cache=True)
def potentials(tau, ys, q, codes, ecs, anoxia, wbuf, w_out, dwdy_out, dwdth_out):
    """``w``, ``∂w/∂y`` and ``∂w/∂ln θ`` at many states (rows of ``ys``, times ``tau``).

    Returns the first non-OK status, or OK.
    """
    n = ys.shape[1]
    n_p = codes.shape[0]
    f, jac, fth = np.empty(n), np.empty((n, n)), np.empty((n, n_p))
    dwdy, dwdth = np.empty(n), np.empty(n_p)
    for k in range(tau.shape[0]):
        status, w = evaluate(tau[k], ys[k], q, codes, ecs, anoxia, wbuf, f, jac, fth, dwdy,
                             dwdth, True)
        if status != OK:
            return status
        w_out[k] = w
        dwdy_out[k, :] = dwdy
        dwdth_out[k, :] = dwdth
    return OK
