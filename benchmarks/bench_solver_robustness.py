"""Robustness of the pump–leak steady-state solver over a wide Sobol design.

For each leak model (ohmic, GHK) and volume model (fixed, osmotic), a scrambled
Sobol design (``scipy.stats.qmc.Sobol``, seeded) spans, log-uniformly, two
decades or more of every leak conductance / permeability, the pump density and
the pump's K_Na, and [K]o from 1 to 40 mM. Every point must either

* converge: every balance equation's relative residual (recomputed here with
  :func:`iongrad.models.steady_state.steady_state_residuals`, and for osmotic
  volume the osmotic balance) below 1e-9, every concentration finite and > 0; or
* be flagged infeasible with a reason code from
  :data:`iongrad.models.steady_state.REASONS` — and then truly have no physical
  steady state: a scan of the electroneutrality residual over Na_i = 1e-4–2000 mM
  finds no sign change between physical states (``flagged_with_physical_root``, must
  be 0).

NaN and negative concentrations among the converged points are counted (must be 0).
On a random subset of converged points (fixed volume), the steady state is
compared with the end point of the run-down ODE (:func:`simulate_rundown`) with
the pump ON (onset after the horizon: ATP never falls), started from a state with
Na_i raised and K_i and Cl_i lowered (keeping Na_i + K_i - Cl_i, which the
zero-current ODE preserves), integrated to 10^7 s.

Run::

    python benchmarks/bench_solver_robustness.py --log2n 17 --ode-points 30
"""

from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np
from scipy.stats import qmc

#: log10 ranges of the design (each at least two decades, except [K]o).
RANGES = {
    "ohmic": {"g_na_nS": (0.01, 1.0), "g_k_nS": (0.05, 5.0), "g_cl_nS": (0.01, 1.0)},
    "ghk": {"p_na_cm_s": (4e-9, 4e-7), "p_k_cm_s": (6e-8, 6e-6), "p_cl_cm_s": (1e-8, 1e-6)},
    "common": {"pump_density_per_um2": (30.0, 3000.0), "k_na_mM": (1.0, 100.0),
               "k_o_mM": (1.0, 40.0)},
}
RESID_TOL = 1e-9
ODE_HORIZON_S = 1e7
ODE_RTOL = 1e-4  # relative agreement of Na_i, K_i, Cl_i; V within 0.05 mV


def design(leak: str, log2n: int, seed: int) -> dict[str, np.ndarray]:
    """Log-uniform scrambled Sobol design of ``2**log2n`` points."""
    names = [*RANGES[leak], *RANGES["common"]]
    u = qmc.Sobol(d=len(names), scramble=True, seed=seed).random_base2(log2n)
    out = {}
    for j, name in enumerate(names):
        lo, hi = RANGES[leak].get(name) or RANGES["common"][name]
        out[name] = np.exp(np.log(lo) + u[:, j] * (np.log(hi) - np.log(lo)))
    return out


def check(params: dict[str, np.ndarray], leak: str, volume: str) -> dict:
    """Solve every point; classify it; return counts and the converged mask."""
    from iongrad.models.steady_state import (
        DEFAULT_PARAMS,
        REASONS,
        solve_steady_state,
        steady_state_residuals,
    )

    n = len(next(iter(params.values())))
    t0 = time.perf_counter()
    ss = solve_steady_state(leak=leak, volume=volume, **params)
    dt = time.perf_counter() - t0
    feas = np.asarray(ss.feasible)
    conc = np.stack([ss.na_i_mM, ss.k_i_mM, ss.cl_i_mM, ss.a_i_mM])
    p = {k: np.broadcast_to(np.asarray(v, float), (n,)) for k, v in DEFAULT_PARAMS.items()}
    p.update(params)
    # residuals are recomputed at the converged points (elsewhere the solver returns NaN)
    ok = feas & np.all(np.isfinite(conc) & (conc > 0), axis=0) & np.isfinite(ss.v_rest_mV)
    safe = [np.where(ok, c, 1.0) for c in conc]
    with np.errstate(all="ignore"):
        res = steady_state_residuals(*safe[:3], np.where(ok, ss.v_rest_mV, 0.0), safe[3], p,
                                     leak=leak)
        worst = np.where(ok, np.max(np.stack(list(res.values())), axis=0), np.inf)
        if volume == "osmotic":
            osm = 2.0 * (p["na_o_mM"] + p["k_o_mM"])
            inside = ss.na_i_mM + ss.k_i_mM + ss.cl_i_mM + ss.a_i_mM
            worst = np.maximum(worst, np.abs(inside - osm) / osm)
    nan_feasible = int(np.sum(~np.isfinite(conc[:, feas])) + np.sum(~np.isfinite(
        ss.v_rest_mV[feas])))
    neg_feasible = int(np.sum(conc[:, feas] <= 0))
    converged = feas & (worst < RESID_TOL) & np.all(np.isfinite(conc) & (conc > 0), axis=0)
    reasons = np.asarray(ss.reason)
    flagged = ~feas & np.isin(reasons, [k for k in REASONS if k != 0])
    per_reason = {REASONS[k]: int(np.sum(reasons == k)) for k in REASONS if k != 0}
    return {
        "leak": leak, "volume": volume, "n": n, "solve_s": dt,
        "converged": int(converged.sum()), "converged_fraction": float(converged.mean()),
        "infeasible": int((~feas).sum()), "infeasible_fraction": float((~feas).mean()),
        "infeasible_by_reason": per_reason,
        "infeasible_fraction_by_reason": {k: v / n for k, v in per_reason.items()},
        "neither_converged_nor_flagged": int(np.sum(~converged & ~flagged)),
        "flagged_with_physical_root": missed_physical_roots(params, leak, volume, ~feas),
        "feasible_but_residual_above_tol": int(np.sum(feas & ~(worst < RESID_TOL))),
        "nan_in_converged": nan_feasible, "negative_in_converged": neg_feasible,
        "worst_residual_converged": float(np.max(worst[feas])) if feas.any() else None,
        "_converged_mask": converged,
    }


def missed_physical_roots(params: dict[str, np.ndarray], leak: str, volume: str,
                          flagged: np.ndarray, *, n_grid: int = 240,
                          max_conc_mM: float = 2000.0, chunk: int = 500) -> int:
    """Flagged points that do have a physical steady state (the solver must never miss one).

    For every flagged point, the electroneutrality residual of the solver's reduction
    (:func:`iongrad.models.steady_core.reduced_state`: V from the Na+ balance, K_i and
    Cl_i from theirs) is scanned on ``n_grid`` values of Na_i from 1e-4 mM to
    ``max_conc_mM``. A sign change between two neighbouring grid points whose states are
    both physical (finite, positive, every concentration <= ``max_conc_mM``, impermeant
    anions > 0 for osmotic volume) brackets a physical root: such a point should have
    been solved.
    """
    from iongrad.models.steady_state import DEFAULT_PARAMS, _membrane_params, membrane_for

    membrane = membrane_for(leak, volume)
    n = len(flagged)
    full = {k: np.broadcast_to(np.asarray(v, float), (n,)) for k, v in DEFAULT_PARAMS.items()}
    full.update(params)
    return count_missed_roots(membrane, _membrane_params(membrane, full),
                              np.flatnonzero(flagged), n_grid=n_grid,
                              max_conc_mM=max_conc_mM, chunk=chunk)


def count_missed_roots(membrane, p: dict[str, np.ndarray], idx: np.ndarray, *,
                       n_grid: int = 240, max_conc_mM: float = 2000.0,
                       chunk: int = 500) -> int:
    """How many of the points ``idx`` (of the full parameter vectors ``p`` of
    ``membrane``) have a sign change of the reduction's residual between two physical
    neighbouring states on an ``n_grid`` grid of ln Na_i (see
    :func:`missed_physical_roots`)."""
    from iongrad.models.steady_core import reduced_state

    x_grid = np.linspace(np.log(1e-4), np.log(max_conc_mM), n_grid)
    missed = 0
    for start in range(0, idx.size, chunk):
        sel = idx[start:start + chunk]
        m = sel.size
        q = {k: np.repeat(v[sel], n_grid) for k, v in p.items()}
        st = reduced_state(membrane, q, np.tile(x_grid, m))
        h = st["h"]
        with np.errstate(all="ignore"):
            conc = np.stack([st[f"{x}_i_mM"] for x in membrane.ions])
            phys = (st["ok"] & np.isfinite(st["v_mV"]) & np.isfinite(h)
                    & np.all(np.isfinite(conc) & (conc > 0) & (conc <= max_conc_mM), axis=0))
            if membrane.volume == "osmotic":
                phys &= st["a_i_mM"] > 0
        h, phys = h.reshape(m, n_grid), phys.reshape(m, n_grid)
        change = (h[:, :-1] * h[:, 1:] < 0) & phys[:, :-1] & phys[:, 1:]
        missed += int(change.any(axis=1).sum())
    return missed


def ode_agreement(params: dict[str, np.ndarray], leak: str, idx: np.ndarray) -> dict:
    """Steady state vs the end of the pump-ON run-down ODE from a perturbed state."""
    from iongrad.models.rundown import simulate_rundown
    from iongrad.models.steady_state import solve_steady_state

    worst_rel, worst_v, fails = 0.0, 0.0, []
    for i in idx:
        pt = {k: float(v[i]) for k, v in params.items()}
        ss = solve_steady_state(leak=leak, volume="fixed", **pt)
        na, k, cl = float(ss.na_i_mM), float(ss.k_i_mM), float(ss.cl_i_mM)
        # electroneutral start (the zero-current ODE keeps Na_i + K_i - Cl_i): Na+ up and
        # K+ down by 30 % of the smaller of the two, Cl- down, K+ down by as much
        shift = 0.3 * min(na, k)
        d_cl = min(0.1 * cl, 0.3 * (k - shift))
        na0, k0, cl0 = na + shift, k - shift - d_cl, cl - d_cl
        res = simulate_rundown([0.0, ODE_HORIZON_S], onset_s=10 * ODE_HORIZON_S, leak=leak,
                               initial_state=[na0, k0, cl0], rtol=1e-10, atol=1e-12, **pt)
        end = np.array([res.na_i_mM[-1], res.k_i_mM[-1], res.cl_i_mM[-1]])
        rel = float(np.max(np.abs(end - [na, k, cl]) / np.array([na, k, cl])))
        dv = float(abs(res.v_mV[-1] - float(ss.v_rest_mV)))
        worst_rel, worst_v = max(worst_rel, rel), max(worst_v, dv)
        if not (res.success and rel < ODE_RTOL and dv < 0.05):
            fails.append({"point": pt, "rel": rel, "dv_mV": dv, "message": res.message})
    return {"leak": leak, "points": len(idx), "worst_rel_conc": worst_rel,
            "worst_abs_v_mV": worst_v, "tolerance_rel_conc": ODE_RTOL,
            "tolerance_v_mV": 0.05, "horizon_s": ODE_HORIZON_S, "failures": fails}


def run(log2n: int, seed: int, ode_points: int) -> dict:
    """The whole benchmark: four leak/volume combinations, then the ODE check."""
    rng = np.random.default_rng(seed)
    out = {"n_points": 2**log2n, "seed": seed, "ranges": RANGES, "resid_tol": RESID_TOL,
           "combinations": [], "ode": []}
    for j, leak in enumerate(("ohmic", "ghk")):
        params = design(leak, log2n, seed + j)
        for volume in ("fixed", "osmotic"):
            r = check(params, leak, volume)
            mask = r.pop("_converged_mask")
            out["combinations"].append(r)
            if volume == "fixed" and ode_points:
                pool = np.flatnonzero(mask)
                idx = rng.choice(pool, size=min(ode_points // 2 + ode_points % 2 * (j == 0),
                                                pool.size), replace=False)
                out["ode"].append(ode_agreement(params, leak, idx))
    return out


#: Four-ion compositions (Na+, K+, Cl-, HCO3-; six mechanisms) and their design ranges.
FOUR_ION = {
    "pump_leak_hco3": {**RANGES["ohmic"], "g_hco3_nS": (0.006, 0.6)},
    "pump_leak_ghk_hco3": {**RANGES["ghk"], "p_hco3_cm_s": (2e-9, 2e-7)},
}


def check_composition(name: str, log2n: int, seed: int, *, n_grid: int = 240,
                      max_conc_mM: float = 2000.0) -> dict:
    """Every point of a wide design of a named composition converged or flagged; each
    flagged point scanned for a physical root of the solver's reduction (generic)."""
    from iongrad.models.membrane import composition
    from iongrad.models.steady_core import REASONS, solve_membrane

    m = composition(name)
    ranges = {**FOUR_ION[name], **RANGES["common"]}
    names = list(ranges)
    u = qmc.Sobol(d=len(names) + 1, scramble=True, seed=seed).random_base2(log2n)
    n = u.shape[0]
    p = {k: np.full(n, float(v)) for k, v in m.defaults().items()}
    for j, k in enumerate(names):
        lo, hi = ranges[k]
        p[k] = np.exp(np.log(lo) + u[:, j] * (np.log(hi) - np.log(lo)))
    p["activity_load_pA"] = 20.0 * u[:, -1]
    t0 = time.perf_counter()
    sol = solve_membrane(m, p)
    dt = time.perf_counter() - t0
    feas = sol.feasible
    conc = np.stack([sol.state[f"{x}_i_mM"] for x in m.ions])
    worst = np.max(np.stack(list(sol.residuals.values())), axis=0)
    missed = count_missed_roots(m, p, np.flatnonzero(~feas), n_grid=n_grid,
                                max_conc_mM=max_conc_mM)
    return {"composition": name, "ions": m.ions, "mechanisms": [x.name for x in m.mechanisms],
            "n": n, "solve_s": dt, "rate_per_s": n / dt,
            "converged_fraction": float(feas.mean()),
            "infeasible_by_reason": {REASONS[k]: int(np.sum(sol.reason == k))
                                     for k in REASONS if k},
            "nan_in_converged": int(np.sum(~np.isfinite(conc[:, feas]))),
            "negative_in_converged": int(np.sum(conc[:, feas] <= 0)),
            "worst_residual_converged": float(np.max(worst[feas])),
            "flagged_with_physical_root": missed}


#: Compositions with cotransporters, the Na+/Ca2+ exchanger, the Ca2+ pump or SGLT1, and
#: their design ranges (log-uniform; the activity load, where the cell has one, 0-20 pA
#: uniform). Each range spans at least a decade around the composition's default.
NEW_COMPOSITIONS = {
    "mature_neuron": {**RANGES["ohmic"], "kcc2_u_pA": (1.0, 100.0), **RANGES["common"]},
    "immature_neuron": {**RANGES["ohmic"], "nkcc1_u_pA": (0.1, 10.0), **RANGES["common"]},
    "cardiac_myocyte": {"g_na_nS": (0.1, 10.0), "g_k_nS": (1.0, 100.0),
                        "g_cl_nS": (0.1, 10.0), "g_ca_nS": (0.03, 3.0),
                        "ncx_k_pA": (3e4, 3e6), "pmca_max_pA": (17.0, 1700.0),
                        "pump_density_per_um2": (100.0, 10000.0), "k_na_mM": (1.0, 100.0),
                        "k_o_mM": (1.0, 40.0), "ca_o_mM": (0.5, 5.0)},
    "enterocyte": {**RANGES["ohmic"], "sglt1_jmax_pA": (0.1, 10.0),
                   "glucose_o_mM": (0.5, 50.0), **RANGES["common"]},
}


def _independent_residuals(m, p, state) -> np.ndarray:
    """Worst relative residual of every balance and the total current, recomputed from the
    rate laws (each balance over the gross fluxes it balances) at the returned state."""
    from iongrad.models.codegen import numpy_function
    from iongrad.models.mechanisms import param

    syms = [*m.state_symbols(), *(param(k) for k in m.parameters)]
    exprs = [*(m.flux(x) for x in m.ions), *(m.flux_scale(x) for x in m.ions), m.current,
             m.current_scale]
    k = len(m.ions)
    with np.errstate(all="ignore"):
        vals = numpy_function(syms, exprs)(*state, *(p[q] for q in m.parameters))
        rel = [np.abs(vals[i]) / vals[k + i] for i in range(k)]
        rel.append(np.abs(vals[2 * k]) / vals[2 * k + 1])
    return np.max(np.stack(np.broadcast_arrays(*rel)), axis=0)


def _scipy_rescue(m, p, idx, *, max_points=100, rtol=1e-9) -> tuple[int, int]:
    """Of up to ``max_points`` flagged points, how many an independent solver
    (``scipy.optimize.root``, hybrid Powell, from four starting potentials) brings to a
    physical state with every relative residual ≤ ``rtol``: ``(tried, solved)``."""
    from scipy.optimize import root

    from iongrad.models.mechanisms import ION
    from iongrad.models.steady_core import full_system

    _names, f = full_system(m, scalar=True)
    tried = solved = 0
    for i in idx[:max_points]:
        tried += 1
        pi = [float(p[q][i]) for q in m.parameters]
        t = float(p["temperature_K"][i])
        vt = 8.314462618 * t / 96485.33212 * 1e3
        for v0 in (-70.0, -30.0, -120.0, -90.0):
            z0 = [math.log(float(p[ION[x].outside][i])) + ION[x].z * v0 / vt for x in m.ions]
            try:
                r = root(lambda z, pi=pi: f(z, *pi), [*z0, v0], method="hybr")
            except (ValueError, OverflowError, ZeroDivisionError):
                continue
            if not r.success:
                continue
            state = [np.array([math.exp(z)]) for z in r.x[:-1]] + [np.array([r.x[-1]])]
            if any(c[0] > 2000.0 for c in state[:-1]):
                continue
            q = {k: np.array([float(v[i])]) for k, v in p.items()}
            if _independent_residuals(m, q, state)[0] <= rtol:
                solved += 1
                break
    return tried, solved


def _compiled_path(m, p: dict[str, np.ndarray], reason: np.ndarray) -> dict:
    """The likelihood's solver on the same sets (the steady-state Op's path: the compiled
    kernel): its rate and the sets where its reason code differs from the NumPy solver's."""
    from iongrad.infer.steady_op import _solve

    _solve(m, {k: v[:8] for k, v in p.items()}, None)  # compile (or load) the kernel first
    t0 = time.perf_counter()
    _red, reason_op = _solve(m, p, None)
    dt = time.perf_counter() - t0
    return {"compiled_rate_per_s": reason.size / dt,
            "compiled_reason_differs": int(np.sum(np.asarray(reason_op) != reason))}


def check_new_composition(name: str, log2n: int, seed: int) -> dict:
    """Every point of a wide design of a new composition converged (relative residual
    ≤ 1e-9 recomputed from the rate laws, concentrations finite and > 0) or flagged; the
    flagged points tried with an independent solver; the solve rate."""
    from iongrad.models.membrane import composition
    from iongrad.models.steady_core import REASONS, plan_for, solve_membrane

    m = composition(name)
    plan = plan_for(m)
    ranges = NEW_COMPOSITIONS[name]
    names = list(ranges)
    u = qmc.Sobol(d=len(names) + 1, scramble=True, seed=seed).random_base2(log2n)
    n = u.shape[0]
    p = {k: np.full(n, float(v)) for k, v in m.defaults().items()}
    for j, k in enumerate(names):
        lo, hi = ranges[k]
        p[k] = np.exp(np.log(lo) + u[:, j] * (np.log(hi) - np.log(lo)))
    if "activity_load_pA" in p:
        p["activity_load_pA"] = 20.0 * u[:, -1]
    solve_membrane(m, {k: v[:8] for k, v in p.items()})  # build the generated code once
    t0 = time.perf_counter()
    sol = solve_membrane(m, p)
    dt = time.perf_counter() - t0
    feas = sol.feasible
    state = [sol.state[f"{x}_i_mM"] for x in m.ions] + [sol.state["v_mV"]]
    conc = np.stack(state[:-1])
    worst = _independent_residuals(m, p, state)
    solver_worst = np.max(np.stack(list(sol.residuals.values())), axis=0)
    # every flagged set that did not end at an unphysical root (reason 5), and an evenly
    # spread sample of those that did
    flagged = np.flatnonzero(~feas)
    at_unphysical_root = flagged[sol.reason[flagged] == 5]
    sample = at_unphysical_root[np.unique(np.linspace(0, at_unphysical_root.size - 1,
                                                      min(at_unphysical_root.size, 300))
                                          .astype(int))] if at_unphysical_root.size else []
    tried_idx = np.concatenate([flagged[sol.reason[flagged] != 5], sample]).astype(int)
    tried, rescued = _scipy_rescue(m, p, tried_idx, max_points=tried_idx.size)
    compiled = _compiled_path(m, p, sol.reason)
    return {**compiled, "composition": name, "ions": m.ions,
            "mechanisms": [x.name for x in m.mechanisms],
            "solver": type(plan).__name__, "n": n, "solve_s": dt, "rate_per_s": n / dt,
            "converged_fraction": float(feas.mean()),
            "infeasible_by_reason": {REASONS[k]: int(np.sum(sol.reason == k))
                                     for k in REASONS if k},
            "nan_in_converged": int(np.sum(~np.isfinite(conc[:, feas]))
                                    + np.sum(~np.isfinite(state[-1][feas]))),
            "negative_in_converged": int(np.sum(conc[:, feas] <= 0)),
            "worst_residual_converged": float(np.max(worst[feas])) if feas.any() else None,
            "worst_solver_residual_converged": (float(np.max(solver_worst[feas]))
                                                if feas.any() else None),
            "converged_above_tol": int(np.sum(feas & ~(worst <= RESID_TOL))),
            "flagged_tried_independently": tried, "flagged_solved_independently": rescued}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--log2n", type=int, default=17, help="2**log2n points (17: 131072)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--ode-points", type=int, default=30)
    ap.add_argument("--json", default=None, help="write the figures to this JSON file")
    ap.add_argument("--only-new", action="store_true",
                    help="only the compositions with cotransporters, NCX/PMCA or SGLT1")
    args = ap.parse_args(argv)
    if args.only_new:
        res = {"new_compositions": []}
        return _print_new(res, args)
    res = run(args.log2n, args.seed, args.ode_points)
    print(f"{res['n_points']} Sobol points per leak model, seed {res['seed']}; converged = every "
          f"relative balance residual < {RESID_TOL:g}, concentrations > 0")
    for r in res["combinations"]:
        print(f"{r['leak']:>5} {r['volume']:<8} converged {r['converged_fraction']:.4f}  "
              f"infeasible {r['infeasible_fraction']:.4f}  unflagged failures "
              f"{r['neither_converged_nor_flagged']}  flagged but solvable "
              f"{r['flagged_with_physical_root']}  NaN {r['nan_in_converged']}  negative "
              f"{r['negative_in_converged']}  worst residual {r['worst_residual_converged']:.2e}"
              f"  ({r['solve_s']:.2f} s)")
        for reason, frac in r["infeasible_fraction_by_reason"].items():
            if frac:
                print(f"        {frac:.4f}  {reason}")
    for o in res["ode"]:
        print(f"ODE ({o['leak']}, pump on, {o['points']} points, to {o['horizon_s']:g} s): worst "
              f"relative concentration difference {o['worst_rel_conc']:.2e} (tol {ODE_RTOL:g}), "
              f"worst |dV| {o['worst_abs_v_mV']:.2e} mV; failures {len(o['failures'])}")
    res["four_ion"] = []
    for j, name in enumerate(FOUR_ION):
        r = check_composition(name, args.log2n, args.seed + 10 + j)
        res["four_ion"].append(r)
        print(f"{name} ({len(r['ions'])} ions, {len(r['mechanisms'])} mechanisms): converged "
              f"{r['converged_fraction']:.4f}  flagged but solvable "
              f"{r['flagged_with_physical_root']}  NaN {r['nan_in_converged']}  negative "
              f"{r['negative_in_converged']}  worst residual "
              f"{r['worst_residual_converged']:.2e}  ({r['rate_per_s']:,.0f} solves/s)")
        for reason, count in r["infeasible_by_reason"].items():
            if count:
                print(f"        {count / r['n']:.4f}  {reason}")
    res["new_compositions"] = []
    return _print_new(res, args)


def _print_new(res: dict, args) -> int:
    """Check, print and (with ``--json``) write the new compositions' figures."""
    for j, name in enumerate(NEW_COMPOSITIONS):
        r = check_new_composition(name, args.log2n, args.seed + 20 + j)
        res["new_compositions"].append(r)
        print(f"{name} ({len(r['ions'])} ions, {len(r['mechanisms'])} mechanisms, "
              f"{r['solver']}): converged {r['converged_fraction']:.4f}  NaN "
              f"{r['nan_in_converged']}  negative {r['negative_in_converged']}  worst "
              f"residual {r['worst_residual_converged']:.2e}  converged above tol "
              f"{r['converged_above_tol']}  flagged solved by scipy "
              f"{r['flagged_solved_independently']}/{r['flagged_tried_independently']}  "
              f"({r['rate_per_s']:,.0f} solves/s; the likelihood's compiled path "
              f"{r['compiled_rate_per_s']:,.0f} solves/s, reason codes differing on "
              f"{r['compiled_reason_differs']})")
        for reason, count in r["infeasible_by_reason"].items():
            if count:
                print(f"        {count / r['n']:.4f}  {reason}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(res, fh, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
