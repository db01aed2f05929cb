"""Bayesian fit of anoxia / ouabain run-down time courses (V(t), Na_i(t), K_o(t)).

Model
-----
One cell type, shared by every recording of the dataset (complete pooling). Each
recording starts at the pump–leak steady state and runs down after its own onset
(``onset_s`` per row); the trajectory after the onset depends only on the time
since the onset, so a single ODE solve per log-density evaluation serves every
recording (see :mod:`iongrad.infer.rundown_op`).

Free parameters and default priors (``ln θ ~ Normal(ln median, sd_log)``; the
extracellular fraction is logit-normal):

=======================  ===========  ======  =============================================
parameter                median       sd      grounds
=======================  ===========  ======  =============================================
tau_atp_s                45 s         0.7     ATP loss in anoxic tissue, tens of s
                                              (:data:`iongrad.models.rundown.RUNDOWN_DEFAULTS`)
tau_block_s (ouabain)    30 s         0.7     ouabain binding, tens of s (same source)
p_na_cm_s, p_k_cm_s,     as :mod:`iongrad.infer.priors`
pump_density_per_um2
extracellular_fraction   0.2          0.8     brain ECS volume fraction ~0.2 (Syková &
                         (logit sd)           Nicholson 2008, Physiol Rev 88:1277)
=======================  ===========  ======  =============================================

Observation noise: ``y ~ Normal(pred, sigma_<obs>)`` with ``sigma ~ HalfNormal`` of scale
``noise[obs]`` (defaults 3 mV, 2 mM, 2 mM).

Gradient methods (``RundownSpec.method``)
-----------------------------------------
``"sensitivity_op"`` (default): :class:`~iongrad.infer.rundown_op.RundownOp`, LSODA with
forward sensitivities and generated Jacobians. ``"pm_ode"``: the baseline
:class:`pymc.ode.DifferentialEquation` on the same equations; V is algebraic
(zero total current), so its right-hand side solves for V with seven unrolled
Newton steps on the generated total current (from -60 mV; quadratic convergence,
checked against the bracketed root in the tests), and its initial state is the
steady state of :class:`~iongrad.infer.steady_op.SteadyStateOp`. Both are built
from the same generated run-down system.
``benchmarks/bench_rundown_fit.py`` measures both.

Posterior variables
-------------------
``<param>`` (natural units) and its unconstrained twin; ``sigma_<obs>``; observed
``v_rest_mV_obs``, ``na_i_mM_obs``, ``k_o_mM_obs``. After sampling,
:func:`add_derived` adds ``time_to_threshold_s`` (time since the onset at which V
first reaches ``threshold_mV``; ``end_time_s`` where it is not reached within it,
flagged by ``threshold_reached``) and the state ``end_time_s`` after the onset:
``v_end_mV``, ``na_i_end_mM``, ``k_i_end_mM``, ``k_o_end_mM``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytensor.tensor as pt

from iongrad.infer.model import input_records
from iongrad.infer.priors import DEFAULT_PRIORS, LogNormalPrior
from iongrad.infer.rundown_op import (
    FREE_PARAMETERS,
    OUTPUTS,
    RundownOp,
    RundownSensitivitySolver,
    SolveFailed,
)
from iongrad.models.codegen import pytensor_graph
from iongrad.models.errors import ConfigError
from iongrad.models.membrane import Membrane
from iongrad.models.quantities import unit_of
from iongrad.models.rundown import RUNDOWN_DEFAULTS
from iongrad.models.rundown_system import STARTED, TAU, rundown_system
from iongrad.models.steady_state import DEFAULT_PARAMS, membrane_for

__all__ = ["OBSERVABLES", "RUNDOWN_PRIORS", "RundownSpec", "add_derived",
           "build_rundown_model", "fittable", "model_inputs", "trajectory_bands"]

#: Observables the run-down model predicts -> column of the Op output.
OBSERVABLES: dict[str, str] = {"v_rest_mV": "v_mV", "na_i_mM": "na_i_mM",
                               "k_o_mM": "k_o_mM", "k_i_mM": "k_i_mM"}
NOISE_PRIOR_SIGMA = {"v_rest_mV": 3.0, "na_i_mM": 2.0, "k_o_mM": 2.0, "k_i_mM": 10.0}
_UNITS = {k: unit_of(k) for k in (
    "tau_atp_s", "tau_block_s", "p_na_cm_s", "p_k_cm_s", "p_cl_cm_s", "pump_density_per_um2",
    "turnover_max_per_s", "k_na_mM", "extracellular_fraction", "v_rest_mV", "na_i_mM",
    "k_o_mM", "k_i_mM", "time_to_threshold_s", "v_end_mV", "na_i_end_mM", "k_i_end_mM",
    "k_o_end_mM")}

#: Priors of the run-down parameters (log-normal; extracellular_fraction: logit-normal).
RUNDOWN_PRIORS: dict[str, LogNormalPrior] = {
    "tau_atp_s": LogNormalPrior(45.0, 0.7, "s", "ATP loss in anoxic tissue, tens of s"),
    "tau_block_s": LogNormalPrior(30.0, 0.7, "s", "ouabain binding, tens of s"),
    "extracellular_fraction": LogNormalPrior(
        0.2, 0.8, "dimensionless (logit-normal; sd_log is the logit SD)",
        "brain ECS volume fraction ~0.2 (Sykova & Nicholson 2008)"),
    **{k: DEFAULT_PRIORS[k] for k in ("p_na_cm_s", "p_k_cm_s", "p_cl_cm_s",
                                      "pump_density_per_um2", "turnover_max_per_s",
                                      "k_na_mM")},
}


@dataclass(frozen=True)
class RundownSpec:
    """What to fit to a run-down dataset (see the module docstring).

    Attributes
    ----------
    parameters : tuple of str
        Free parameters (subset of :data:`RUNDOWN_PRIORS`).
    observables : tuple of str or None
        Subset of :data:`OBSERVABLES`; default: every one the dataset has.
    mode : {"anoxia", "ouabain"}
    fixed : dict
        Model parameters held fixed (units in the names); the dataset's bath
        conditions are used unless given here.
    priors : dict
        ``{name: {"median": .., "sd_log": ..}}`` overrides.
    noise : dict
        ``{observable: prior_sigma}`` (HalfNormal scale, observable's unit).
    method : {"sensitivity_op", "pm_ode"}
        Gradient method.
    ode_method, rtol, atol : str, float, float
        Integrator of the sensitivity Op (``"odeint"``, ``"LSODA"`` or ``"BDF"``).
    threshold_mV, end_time_s : float
        Depolarisation threshold and horizon (s after the onset) of the derived quantities.
    onset_column, k_o_column : str
        Dataset columns with the onset time (s, recording clock) and the extracellular
        K+ measurements (mM), used while the vocabulary has no such quantities.
    """

    parameters: tuple[str, ...] = ("tau_atp_s", "p_na_cm_s", "p_k_cm_s",
                                   "pump_density_per_um2", "extracellular_fraction")
    observables: tuple[str, ...] | None = None
    mode: str = "anoxia"
    fixed: dict[str, float] = field(default_factory=dict)
    priors: dict[str, dict[str, float]] = field(default_factory=dict)
    noise: dict[str, float] = field(default_factory=dict)
    method: str = "sensitivity_op"
    ode_method: str = "odeint"
    rtol: float = 1e-7
    atol: float = 1e-8
    threshold_mV: float = -40.0
    end_time_s: float = 1800.0
    onset_column: str = "onset_s"
    k_o_column: str = "k_o_obs_mM"
    #: membrane model (:mod:`iongrad.models.membrane`, fixed volume); None: the pump–leak
    #: cell with GHK leaks
    membrane: Any = None

    def cell(self) -> Membrane:
        """The membrane model that runs down."""
        return membrane_for("ghk", "fixed") if self.membrane is None else self.membrane


def fittable(membrane: Membrane | None = None) -> dict[str, LogNormalPrior]:
    """Parameters a run-down fit of ``membrane`` can fit, with their default priors: the
    run-down parameters and every parameter of the membrane that has a prior."""
    if membrane is None:
        return dict(RUNDOWN_PRIORS)
    names = set(membrane.parameters)
    out = {k: v for k, v in RUNDOWN_PRIORS.items()
           if k in names or k in ("tau_atp_s", "tau_block_s", "extracellular_fraction")}
    out.update({k: v for k, v in DEFAULT_PRIORS.items() if k in names and k not in out})
    return out


def _prior(spec: RundownSpec, name: str) -> LogNormalPrior:
    priors = fittable(spec.membrane)
    if name not in priors:
        raise ConfigError(f"parameters: {name!r} cannot be fitted in the run-down model; "
                          f"fittable: {sorted(priors)}")
    base = priors[name]
    over = spec.priors.get(name) or {}
    unknown = set(over) - {"median", "sd_log"}
    if unknown:
        raise ConfigError(f"priors.{name}: unknown key(s) {sorted(unknown)}; allowed: "
                          "median, sd_log")
    med, sd = over.get("median", base.median), over.get("sd_log", base.sd_log)
    for key, val in (("median", med), ("sd_log", sd)):
        if isinstance(val, bool) or not isinstance(val, int | float) or not val > 0:
            raise ConfigError(f"priors.{name}.{key} must be a number > 0; got {val!r}")
    if name == "extracellular_fraction" and not med < 1:
        raise ConfigError(f"priors.extracellular_fraction.median must be in (0, 1); got {med!r}")
    return LogNormalPrior(float(med), float(sd), base.unit, base.source)


def _column_floats(frame, col: str, what: str) -> np.ndarray:
    raw = frame[col]
    out = np.full(len(raw), np.nan)
    for i, v in enumerate(raw.to_numpy()):
        if v is None or (isinstance(v, str) and not v.strip()):
            continue
        try:
            out[i] = float(v)
        except (TypeError, ValueError):
            raise ConfigError(f"dataset column {col!r} ({what}): data row {i + 1} is {v!r}, "
                              "expected a number") from None
    return out


def prepare(dataset, spec: RundownSpec) -> dict[str, Any]:
    """Check ``spec`` against ``dataset`` once; return the arrays the model needs.

    Raises
    ------
    ConfigError
        Naming the field, the value and what was expected.
    """
    if spec.mode not in ("anoxia", "ouabain"):
        raise ConfigError(f"mode must be 'anoxia' or 'ouabain'; got {spec.mode!r}")
    if spec.method not in ("sensitivity_op", "pm_ode"):
        raise ConfigError(f"method must be 'sensitivity_op' or 'pm_ode'; got {spec.method!r}")
    if not spec.parameters:
        raise ConfigError("parameters: at least one parameter must be fitted")
    if spec.membrane is not None and spec.membrane.volume != "fixed":
        raise ConfigError(f"model: the run-down model needs a fixed-volume membrane; "
                          f"{spec.membrane.name!r} has volume = {spec.membrane.volume!r}")
    if spec.membrane is not None and spec.method == "pm_ode":
        raise ConfigError("method = 'pm_ode' (the baseline) runs the default pump-leak cell "
                          "only; leave out [model] or use method = 'sensitivity_op'")
    for name in spec.parameters:
        _prior(spec, name)
        if spec.membrane is None and name not in FREE_PARAMETERS:
            raise ConfigError(f"parameters: {name!r} is not supported by the run-down Op")
    if spec.mode == "anoxia" and "tau_block_s" in spec.parameters:
        raise ConfigError("parameters: tau_block_s has no effect with mode = 'anoxia'")
    if spec.mode == "ouabain" and "tau_atp_s" in spec.parameters:
        raise ConfigError("parameters: tau_atp_s has no effect with mode = 'ouabain'")
    known = (set(DEFAULT_PARAMS) if spec.membrane is None
             else set(spec.membrane.parameters)) | set(RUNDOWN_DEFAULTS)
    for name, val in spec.fixed.items():
        if name not in known or name == "onset_s":
            raise ConfigError(f"fixed: unknown parameter {name!r}; known: {sorted(known)}")
        if name in spec.parameters:
            raise ConfigError(f"fixed: {name!r} is also a fitted parameter")
        if isinstance(val, bool) or not isinstance(val, int | float) or not math.isfinite(val):
            raise ConfigError(f"fixed.{name}: expected a finite number, got {val!r}")
    frame = dataset.frame
    for col in ("time_s", spec.onset_column):
        if col not in frame.columns:
            raise ConfigError(f"dataset {dataset.name!r} has no column {col!r} (needed for the "
                              f"run-down time axis); columns: {list(frame.columns)}")
    time_s = frame["time_s"].to_numpy(dtype=float)
    onset = _column_floats(frame, spec.onset_column, "onset time, s")
    if np.any(~np.isfinite(onset)):
        raise ConfigError(f"dataset column {spec.onset_column!r}: every row needs an onset "
                          "time (s, recording clock)")
    available = {}
    for o in ("v_rest_mV", "na_i_mM", "k_i_mM"):
        if o in dataset.observables:
            available[o] = frame[o].to_numpy(dtype=float)
    if spec.k_o_column in frame.columns:
        available["k_o_mM"] = _column_floats(frame, spec.k_o_column, "extracellular K+, mM")
    obs = tuple(spec.observables) if spec.observables else tuple(available)
    for o in obs:
        if o not in OBSERVABLES:
            raise ConfigError(f"observables: {o!r} is not predicted by the run-down model; "
                              f"known: {sorted(OBSERVABLES)}")
        if o not in available or not np.isfinite(available[o]).any():
            raise ConfigError(f"observables: dataset {dataset.name!r} has no values for {o!r}")
    if not obs:
        raise ConfigError(f"dataset {dataset.name!r} has none of {sorted(OBSERVABLES)}")
    fixed = dict(spec.fixed)
    for cond in ("na_o_mM", "k_o_mM", "cl_o_mM", "temperature_K", "activity_load_pA"):
        if cond in frame.columns and cond not in fixed:
            vals = np.unique(frame[cond].to_numpy(dtype=float))
            if vals.size != 1:
                raise ConfigError(f"dataset condition {cond!r} varies ({vals[:5]}); the "
                                  "run-down fit needs one bath for every recording")
            fixed[cond] = float(vals[0])
    ecs = "extracellular_fraction" in spec.parameters or "extracellular_fraction" in fixed
    if "k_o_mM" in obs and not ecs:
        raise ConfigError("observable k_o_mM needs a finite extracellular space: fit or fix "
                          "extracellular_fraction")
    since = time_s - onset
    grid, inverse = np.unique(since, return_inverse=True)
    recordings = (frame["recording"].astype(str).to_numpy() if "recording" in frame.columns
                  else np.full(len(frame), "rec_1"))
    return {"obs": obs, "values": available, "fixed": fixed, "ecs": ecs, "grid": grid,
            "grid_idx": inverse.astype(np.int64), "since": since, "time_s": time_s,
            "onset_s": onset, "recordings": recordings}


def build_rundown_model(dataset, spec: RundownSpec):
    """PyMC model of a run-down dataset under ``spec``.

    Returns
    -------
    model : pymc.Model
    info : dict
        ``op`` (the :class:`RundownOp`, with its ``n_calls``/``n_failed`` counters;
        None for ``pm_ode``), ``observables``, ``grid`` (times since onset, s),
        ``fixed``, ``ecs``, ``priors``, ``spec``, ``obs_rows`` (per observable: the
        ``data_row``, ``recording`` and ``time_s`` of each entry of its
        ``<obs>_obs_row`` dimension).
    """
    import pymc as pm

    prep = prepare(dataset, spec)
    priors = {p: _prior(spec, p) for p in spec.parameters}
    op = None
    data_rows = np.asarray(dataset.frame.index, dtype=np.int64)
    obs_rows: dict[str, dict[str, np.ndarray]] = {}
    with pm.Model(coords={"parameter": list(spec.parameters)}) as model:
        thetas = []
        for name in spec.parameters:
            pr = priors[name]
            if name == "extracellular_fraction":
                z = pm.Normal(f"{name}_logit", math.log(pr.median / (1 - pr.median)),
                              pr.sd_log)
                thetas.append(pm.Deterministic(name, pm.math.sigmoid(z)))
            else:
                lg = pm.Normal(f"{name}_log", math.log(pr.median), pr.sd_log)
                thetas.append(pm.Deterministic(name, pt.exp(lg)))
        theta = pt.stack(thetas)
        if spec.method == "sensitivity_op":
            op = RundownOp(spec.parameters, prep["grid"], prep["fixed"], mode=spec.mode,
                           ecs=prep["ecs"], method=spec.ode_method, rtol=spec.rtol,
                           atol=spec.atol, membrane=spec.membrane)
            columns = op.outputs
            out, _, ok = op(theta)
            pm.Potential("rundown_solved", pt.switch(pt.eq(ok, 1), 0.0, -np.inf))
        else:
            out = _pm_ode_outputs(theta, spec, prep)
            columns = OUTPUTS
        for o in prep["obs"]:
            y = prep["values"][o]
            mask = np.isfinite(y)
            col = columns.index(OBSERVABLES[o])
            mu = out[prep["grid_idx"][mask], col]
            sigma = pm.HalfNormal(f"sigma_{o}", spec.noise.get(o, NOISE_PRIOR_SIGMA[o]))
            dim = f"{o}_obs_row"
            model.add_coord(dim, data_rows[mask])
            obs_rows[o] = {"data_row": data_rows[mask],
                           "recording": prep["recordings"][mask].astype(str),
                           "time_s": prep["time_s"][mask]}
            pm.Normal(f"{o}_obs", mu=mu, sigma=sigma, observed=y[mask], dims=dim)
    info = {"op": op, "observables": prep["obs"], "grid": prep["grid"], "fixed": prep["fixed"],
            "ecs": prep["ecs"], "priors": priors, "spec": spec, "prep": prep,
            "obs_rows": obs_rows}
    return model, info


# --------------------------------------------------------------------------------------
# Baseline: pm.ode.DifferentialEquation with the potential solved inside the RHS
# --------------------------------------------------------------------------------------
_NEWTON_STEPS = 7


def _pt_params(theta, spec: RundownSpec, fixed: dict) -> dict:
    p = {**DEFAULT_PARAMS, **RUNDOWN_DEFAULTS, **fixed}
    p["onset_s"] = 0.0
    for i, name in enumerate(spec.parameters):
        p[name] = theta[i]
    return {k: v for k, v in p.items() if not (isinstance(v, float) and math.isnan(v))}


def _pt_rates(y, t, p, *, mode, ecs):
    """Rates and V as PyTensor graphs translated from the generated run-down system (the
    expressions of :class:`~iongrad.models.rundown_system.RundownSystem`); V by unrolled
    Newton steps on the total current from -60 mV."""
    def f64(x):  # Python floats as float64 (PyTensor would make some float32)
        return x if hasattr(x, "type") else pt.as_tensor_variable(np.asarray(x, "float64"))

    system = rundown_system(membrane_for("ghk", "fixed"), mode, ecs)
    env = {s: f64(y[i]) for i, s in enumerate(system.states)}
    env.update({s: f64(p[s.name]) for s in system.params})
    env[TAU] = f64(t)
    env[STARTED] = f64(1.0)
    v = pt.zeros_like(env[TAU] + y[0]) - 60.0
    for _ in range(_NEWTON_STEPS):
        i, di = pytensor_graph([system.current, system.current_dv],
                               {**env, system.voltage: v})
        v = v - i / di
    rates = pytensor_graph(list(system.rates), {**env, system.voltage: v})
    return rates, v


def _pm_ode_outputs(theta, spec: RundownSpec, prep: dict):
    """Outputs (m, 7) on the grid from pymc.ode.DifferentialEquation (baseline)."""
    from pymc.ode import DifferentialEquation

    from iongrad.infer.steady_op import steady_state_graph

    fixed, ecs, grid = prep["fixed"], prep["ecs"], prep["grid"]
    n = 6 if ecs else 3
    p_sym = _pt_params(theta, spec, fixed)
    ss_in = {k: v for k, v in p_sym.items() if k in DEFAULT_PARAMS}
    ss = steady_state_graph(ss_in, n=1, leak="ghk", volume="fixed")
    y0 = [ss["na_i_mM"][0], ss["k_i_mM"][0], ss["cl_i_mM"][0]]
    if ecs:
        y0 += [pt.as_tensor_variable(float(fixed.get(k, DEFAULT_PARAMS[k])))
               for k in ("na_o_mM", "k_o_mM", "cl_o_mM")]
    y0 = pt.stack(y0)

    def func(y, t, th):
        return _pt_rates(y, t, _pt_params(th, spec, fixed), mode=spec.mode, ecs=ecs)[0]

    pos = grid >= 0
    t_pos = grid[pos]
    ode = DifferentialEquation(func=func, times=t_pos, n_states=n,
                               n_theta=len(spec.parameters), t0=0.0)
    if t_pos.size and t_pos[0] == 0.0:
        raise ConfigError("pm_ode baseline needs observation times != onset")
    traj = ode(y0=y0, theta=theta)  # (m_pos, n)
    states = pt.concatenate([pt.repeat(y0[None, :], int((~pos).sum()), axis=0), traj])
    # potential at every grid time (pre-onset: resting drive, i.e. t = 0 drive)
    t_col = pt.as_tensor_variable(np.where(pos, grid, 0.0))
    conc_cols = [states[:, i] for i in range(n)]
    _, v = _pt_rates(conc_cols, t_col, p_sym, mode=spec.mode, ecs=ecs)
    if spec.mode == "ouabain":
        raise ConfigError("pm_ode baseline implements mode 'anoxia' only")
    cols = [v, states[:, 0], states[:, 1], states[:, 2]]
    if ecs:
        cols += [states[:, 3], states[:, 4], states[:, 5]]
    else:
        cols += [pt.ones_like(v) * float(fixed.get(k, DEFAULT_PARAMS[k]))
                 for k in ("na_o_mM", "k_o_mM", "cl_o_mM")]
    return pt.stack(cols, axis=1)


# --------------------------------------------------------------------------------------
# Derived quantities
# --------------------------------------------------------------------------------------
def add_derived(idata, info: dict, *, step_s: float = 2.0) -> dict:
    """Add time-to-threshold and end-state draws to ``idata.posterior`` (in place).

    For every posterior draw the run-down is solved (no sensitivities) on a grid
    of ``step_s`` from the onset to ``spec.end_time_s``; the threshold crossing is
    located by linear interpolation between grid points (error << ``step_s``).

    Returns
    -------
    dict
        ``fraction_reached`` (draws whose V reached the threshold within the
        horizon) and ``n_failed`` (draws whose solve failed; NaN there).
    """
    spec: RundownSpec = info["spec"]
    post = idata.posterior
    solver = RundownSensitivitySolver(spec.parameters, info["fixed"], mode=spec.mode,
                                      ecs=info["ecs"], method=spec.ode_method,
                                      rtol=spec.rtol, atol=spec.atol, membrane=spec.membrane)
    grid = np.arange(0.0, spec.end_time_s + 0.5 * step_s, step_s)
    chains, draws = post.sizes["chain"], post.sizes["draw"]
    names = ("time_to_threshold_s", "threshold_reached", "v_end_mV", "na_i_end_mM",
             "k_i_end_mM", "k_o_end_mM")
    res = {k: np.full((chains, draws), np.nan) for k in names}
    vals = np.stack([post[p].values for p in spec.parameters], axis=-1)
    failed = 0
    for c in range(chains):
        for d in range(draws):
            try:
                out, _ = solver.solve(vals[c, d], grid, sensitivities=False)
            except SolveFailed:
                failed += 1
                continue
            v = out[:, 0]
            above = np.flatnonzero(v >= spec.threshold_mV)
            if above.size == 0:
                t_cross, reached = spec.end_time_s, 0.0
            elif above[0] == 0:
                t_cross, reached = 0.0, 1.0
            else:
                k = above[0]
                t_cross = grid[k - 1] + (spec.threshold_mV - v[k - 1]) / (v[k] - v[k - 1]) \
                    * step_s
                reached = 1.0
            res["time_to_threshold_s"][c, d] = t_cross
            res["threshold_reached"][c, d] = reached
            res["v_end_mV"][c, d] = v[-1]
            for key, col in (("na_i_end_mM", "na_i_mM"), ("k_i_end_mM", "k_i_mM"),
                             ("k_o_end_mM", "k_o_mM")):
                res[key][c, d] = out[-1, solver.outputs.index(col)]
    for k in names:
        post[k] = (("chain", "draw"), res[k])
    frac = float(np.nanmean(res["threshold_reached"])) if failed < chains * draws else 0.0
    return {"fraction_reached": frac, "n_failed": failed, "threshold_mV": spec.threshold_mV,
            "end_time_s": spec.end_time_s}


def trajectory_bands(idata, info: dict, *, n_draws: int = 200, n_times: int = 241,
                     seed: int = 0):
    """Posterior bands of V(t), Na_i(t), K_i(t) and K_o(t) on a fine time grid.

    The grid runs from the earliest to the latest observation time since the onset.
    ``n_draws`` posterior draws, evenly spaced over chains and draws (no randomness),
    are solved without sensitivities. For each observable two bands are given: the
    noise-free trajectory (``model``) and the posterior predictive (``predictive``:
    the trajectory plus Normal noise with the draw's ``sigma_<obs>``; noise from a
    Generator seeded with ``seed``).

    Returns
    -------
    pandas.DataFrame
        Columns ``time_since_onset_s``, ``quantity``, ``band`` (model/predictive),
        ``q03``, ``q50``, ``q97`` and ``unit``; ``n_failed`` solves are skipped.
    int
        Number of solves that failed.
    """
    import pandas as pd

    spec: RundownSpec = info["spec"]
    post = idata.posterior
    vals = np.stack([post[p].values for p in spec.parameters], axis=-1)
    flat = vals.reshape(-1, vals.shape[-1])
    pick = np.unique(np.linspace(0, flat.shape[0] - 1, min(n_draws, flat.shape[0]))
                     .round().astype(int))
    since = info["prep"]["since"]
    grid = np.unique(np.concatenate([np.linspace(since.min(), since.max(), n_times), [0.0]]))
    solver = RundownSensitivitySolver(spec.parameters, info["fixed"], mode=spec.mode,
                                      ecs=info["ecs"], method=spec.ode_method,
                                      rtol=spec.rtol, atol=spec.atol, membrane=spec.membrane)
    obs_all = [o for o in ("v_rest_mV", "na_i_mM", "k_i_mM", "k_o_mM")
               if o != "k_o_mM" or info["ecs"]]
    traj = {o: [] for o in obs_all}
    sig = {o: [] for o in obs_all}
    failed = 0
    for i in pick:
        try:
            out, _ = solver.solve(flat[i], grid, sensitivities=False)
        except SolveFailed:
            failed += 1
            continue
        for o in obs_all:
            traj[o].append(out[:, solver.outputs.index(OBSERVABLES[o])])
            name = f"sigma_{o}"
            sig[o].append(float(post[name].values.reshape(-1)[i]) if name in post else 0.0)
    rng = np.random.default_rng(seed)
    rows = []
    for o in obs_all:
        if not traj[o]:
            continue
        y = np.array(traj[o])
        noisy = y + np.array(sig[o])[:, None] * rng.standard_normal(y.shape)
        for band, arr in (("model", y), ("predictive", noisy)):
            q = np.quantile(arr, [0.03, 0.5, 0.97], axis=0)
            rows.append(pd.DataFrame({"time_since_onset_s": grid, "quantity": o, "band": band,
                                      "q03": q[0], "q50": q[1], "q97": q[2],
                                      "unit": _UNITS.get(o, "")}))
    frame = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(
        columns=["time_since_onset_s", "quantity", "band", "q03", "q50", "q97", "unit"])
    return frame, failed


def model_inputs(spec: RundownSpec, info: dict) -> list[dict]:
    """Every input of the run-down model and its source (:func:`input_records`): the
    bath conditions taken from the data, ``[fixed]``, or the defaults."""
    membrane = spec.cell()
    mode_only = {"anoxia": ("tau_block_s", "ouabain_uM", "ouabain_ic50_uM"),
                 "ouabain": ("tau_atp_s",)}.get(spec.mode, ())
    names = [*membrane.parameters, *(k for k in RUNDOWN_DEFAULTS if k not in mode_only)]
    data = {k: [v] for k, v in info["fixed"].items() if k not in spec.fixed}
    return input_records(names, {**membrane.defaults(), **RUNDOWN_DEFAULTS},
                         fitted=spec.parameters, fixed=spec.fixed, data=data)
