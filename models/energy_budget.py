"""Who spends the ATP: the steady-state ATP use of a cell attributed to its mechanisms.

At a steady state the Na+/K+ pump extrudes every Na+ that enters, at 3 Na+ per ATP. A
mechanism's share of the cell's ATP use is therefore the net Na+ influx it causes,
divided by 3, plus the ATP it hydrolyses itself (the Ca2+ pump)::

    share_m = (-J_Na,m) / 3 + ATP_m          (ions/s, molecules/s)

Because the Na+ balance closes (``Σ_m J_Na,m = 0``), the shares of all mechanisms but
the Na+/K+ pump add up to the pump's ATP use plus every other direct ATP use: the
cell's total ``atp_per_s``. A mechanism that extrudes Na+ (an exchanger in reverse
mode) has a negative share: it saves the pump work. The attribution is by each
mechanism's own Na+ flux: Ca2+ that a leak lets in and the exchanger extrudes costs
ATP through the exchanger's Na+ entry, and is counted there. Each share is an expression of the
mechanism's own rate law (:attr:`~iongrad.models.mechanisms.Mechanism.fluxes`,
``atp_per_s``); nothing is re-derived.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import sympy as sp

from iongrad.models.codegen import numpy_function
from iongrad.models.mechanisms import ION, param
from iongrad.models.membrane import PUMP, Membrane
from iongrad.models.steady_state import membrane_params, steady_state_of

__all__ = ["PUMP", "atp_budget_of", "atp_shares"]

def atp_shares(membrane: Membrane) -> dict[str, sp.Expr]:
    """``<mechanism>_atp_per_s`` of every mechanism but the Na+/K+ pump (molecules/s),
    as expressions of the state and parameters (:attr:`Membrane.atp_shares
    <iongrad.models.membrane.Membrane.atp_shares>`). ValueError without the pump."""
    return membrane.atp_shares


@cache
def _evaluator(membrane: Membrane):
    shares = atp_shares(membrane)
    syms = [*membrane.state_symbols(), *(param(k) for k in membrane.parameters)]
    exprs = [*shares.values(), membrane.mechanism(PUMP).atp_per_s, membrane.atp_per_s]
    return tuple(shares), numpy_function(syms, exprs)


def atp_budget_of(membrane: Membrane, **params) -> dict[str, np.ndarray]:
    """The steady state's ATP budget (molecules/s), every broadcast parameter set at once.

    Returns ``atp_per_s`` (the cell's total), ``na_k_pump_atp_per_s`` and
    ``<mechanism>_atp_per_s`` for every other mechanism (see the module docstring), NaN
    where the steady state is infeasible, and ``feasible``. Parameters as in
    :func:`iongrad.models.steady_state.steady_state_of`.
    """
    res = steady_state_of(membrane, **params)
    names, f = _evaluator(membrane)
    p = membrane_params(membrane, params)
    shape = np.shape(res["v_rest_mV"])
    feasible = np.asarray(res["feasible"])
    state = [np.where(feasible, res[ION[x].inside], 1.0) for x in membrane.ions]
    state.append(np.where(feasible, res["v_rest_mV"], 0.0))
    with np.errstate(all="ignore"):
        vals = f(*state, *(np.broadcast_to(p[k], shape) for k in membrane.parameters))
    out = {n: v for n, v in zip(names, vals[:len(names)], strict=True)}
    out["na_k_pump_atp_per_s"] = vals[len(names)]
    out["atp_per_s"] = vals[len(names) + 1]
    out = {k: np.where(feasible, np.broadcast_to(v, shape), np.nan) for k, v in out.items()}
    out["feasible"] = feasible
    return out
