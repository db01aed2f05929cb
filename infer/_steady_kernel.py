"""Compiled pump–leak steady state for ohmic leaks, one parameter set at a time.

Used by :class:`iongrad.infer.steady_op.SteadyStateOp` in every log-density
evaluation of a fit, where the vectors are short (cells × conditions) and the
interpreted NumPy solver's cost is call overhead, not arithmetic. Same equations,
same Newton iteration and the same acceptance test as
:func:`iongrad.models.steady_state.solve_core` (ohmic leaks, fixed or osmotic
volume): a sample is returned as solved only if Newton converged and every balance
equation's relative residual is <= ``rtol_check``, no concentration exceeds
``max_conc_mM`` and (osmotic) impermeant anions remain. Anything else is reported
unsolved and handed to the NumPy solver, which decides its ``reason``.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from iongrad.models.constants import E_CHARGE_C, F_C_PER_MOL, R_J_PER_MOL_K

_TINY = 1e-300


@njit(cache=True)
def solve_ohmic(x0, g_na, g_k, g_cl, density, area, turnover, k_na, hill_na, k_k, hill_k,
                atp, k_atp, na_o, k_o, cl_o, a_i, z, temperature, load, osm_o, osmotic,
                max_iter, rtol_check, max_conc):
    """Newton on ``x = ln Na_i`` per sample, then the full residual check.

    All array arguments have one common length; ``osm_o`` is used when ``osmotic``.
    Returns ``x``, ``v_mV`` and ``solved`` (bool): False wherever the NumPy solver
    must decide.
    """
    m = x0.shape[0]
    x_out = np.empty(m)
    v_out = np.empty(m)
    solved = np.zeros(m, dtype=np.bool_)
    for i in range(m):
        vt = R_J_PER_MOL_K * temperature[i] / F_C_PER_MOL * 1e3
        imax = (density[i] * area[i] * turnover[i] * E_CHARGE_C * 1e12
                / (1.0 + (k_k[i] / k_o[i]) ** hill_k[i]) * atp[i] / (atp[i] + k_atp[i]))
        n = hill_na[i]
        n_ln_k = n * math.log(k_na[i])
        ln_na_o = math.log(na_o[i])
        if osmotic:
            c1, c2, c3 = 1.0 + z[i], 1.0 - z[i], z[i] * osm_o[i]
        else:
            c1, c2, c3 = 1.0, 1.0, z[i] * a_i[i]
        x = x0[i]
        conv = False
        for _ in range(max_iter):
            na = math.exp(x)
            f = 1.0 / (1.0 + math.exp(n_ln_k - n * x))
            i_p = imax * f
            di_p = i_p * n * (1.0 - f)
            v = vt * (ln_na_o - x) - (3.0 * i_p - load[i]) / g_na[i]
            dv = -vt - 3.0 * di_p / g_na[i]
            e_k = v - (2.0 * i_p - load[i]) / g_k[i]
            k_i = k_o[i] * math.exp(min(-e_k / vt, 700.0))
            dk = -k_i * (dv - 2.0 * di_p / g_k[i]) / vt
            cl = cl_o[i] * math.exp(min(v / vt, 700.0))
            dcl = cl * dv / vt
            r = c1 * (na + k_i) - c2 * cl - c3
            dr = c1 * (na + dk) - c2 * dcl
            if not (dr > 0 and math.isfinite(r) and math.isfinite(dr)):
                break  # overflow far from the root: r/inf = 0 is not convergence
            step = min(max(r / dr, -1.0), 1.0)  # damp: at most a factor e per step
            x = x - step
            if abs(step) <= 1e-13 * max(1.0, abs(x)):
                conv = True
                break
        x_out[i] = x
        v_out[i] = np.nan
        if not (conv and math.isfinite(x)):
            continue
        # the state at the root (as _finish computes it)
        na = math.exp(x)
        i_p = imax / (1.0 + (k_na[i] / na) ** n)
        v = vt * (ln_na_o - x) - (3.0 * i_p - load[i]) / g_na[i]
        e_k = v - (2.0 * i_p - load[i]) / g_k[i]
        k_i = k_o[i] * math.exp(min(-e_k / vt, 700.0))
        cl = cl_o[i] * math.exp(min(v / vt, 700.0))
        v_out[i] = v
        if not (math.isfinite(v) and na > 0 and k_i > 0 and cl > 0 and math.isfinite(k_i)
                and math.isfinite(cl)):
            continue
        if na > max_conc or k_i > max_conc or cl > max_conc:
            continue
        if osmotic:
            ai = osm_o[i] - na - k_i - cl
            if not ai > 1e-9 * osm_o[i]:
                continue
        else:
            ai = a_i[i]
        # relative residual of every balance (steady_state_residuals, ohmic)
        e_na = vt * math.log(na_o[i] / na)
        e_k2 = vt * math.log(k_o[i] / k_i)
        e_cl = -vt * math.log(cl_o[i] / cl)
        i_na = g_na[i] * (v - e_na)
        i_k = g_k[i] * (v - e_k2)
        i_cl = g_cl[i] * (v - e_cl)
        s_na = g_na[i] * (abs(v) + abs(e_na) + vt)
        s_k = g_k[i] * (abs(v) + abs(e_k2) + vt)
        s_cl = g_cl[i] * (abs(v) + abs(e_cl) + vt)
        worst = abs(i_na - load[i] + 3.0 * i_p) / (s_na + load[i] + 3.0 * i_p + _TINY)
        worst = max(worst, abs(i_k + load[i] - 2.0 * i_p) / (s_k + load[i] + 2.0 * i_p
                                                             + _TINY))
        worst = max(worst, abs(i_cl) / (s_cl + _TINY))
        worst = max(worst, abs(i_na + i_k + i_cl + i_p) / (s_na + s_k + s_cl + i_p + _TINY))
        worst = max(worst, abs(na + k_i - cl - z[i] * ai) / (na + k_i + cl + z[i] * ai))
        solved[i] = worst <= rtol_check
    return x_out, v_out, solved
