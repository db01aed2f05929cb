"""Build PyMC models of the pump–leak steady state from a dataset and a spec.

A :class:`FitSpec` says which parameters are free, how cells are pooled, which
observables enter the likelihood and with what noise. :func:`build_model`
checks the spec against the dataset once, then returns a PyMC model whose
steady state comes from :class:`~iongrad.infer.steady_op.SteadyStateOp` (NumPy
solve forward, implicit-function-theorem gradient backward), so every model
samples with NUTS.

Variable names in the posterior
-------------------------------
* ``<param>`` — population median (partial pooling) or the common value
  (complete pooling), in the parameter's unit; ``<param>_cell`` per cell.
  With FXYD states, ``k_na_mM`` has a ``fxyd_state`` dimension and
  ``k_na_shift_mM`` = phosphorylated − unphosphorylated.
* ``v_rest_mV``, ``na_i_mM``, ``pump_current_pA``, ``atp_per_s``, ``o2_per_s``,
  ``r_in_MOhm`` — derived steady state at the reference condition, population
  level, and ``<name>_cell`` per cell; ``<name>_fxyd`` / ``<name>_cell_fxyd`` in each
  FXYD state (``fxyd_state`` dimension) and ``<name>_condition`` /
  ``<name>_cell_condition`` at each condition of the data (``condition``
  dimension). Every fit has them, also one of K½ summaries only.
* ``sigma_<observable>`` — estimated noise scales.
* observed variables are named after the observable (``v_rest_mV_obs`` ...), with one
  dimension ``<observable>_obs_row`` (coordinate: the dataset's ``data_row``); a fit
  stores their pointwise log-likelihood (see :func:`add_log_likelihood`) with the cell
  and condition of each row as coordinates ``<observable>_obs_cell`` and
  ``<observable>_obs_condition`` on that dimension.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from iongrad.infer.priors import UNITS, prior_for
from iongrad.models import quantities
from iongrad.models.errors import ConfigError, ModelInputError
from iongrad.models.membrane import Membrane
from iongrad.models.quantities import unit_of as registry_unit
from iongrad.models.quantities import violation
from iongrad.models.steady_state import DEFAULT_PARAMS, REASONS, membrane_for, steady_state_of

__all__ = ["DERIVED", "DERIVED_UNITS", "NOISE_DEFAULTS", "FitSpec", "ObservationNoise",
           "build_model", "derived_quantities", "membrane_for_spec", "steady_state_outputs",
           "unit_of"]

#: Derived quantities recorded for every draw (population and per cell).
DERIVED = ("v_rest_mV", "na_i_mM", "pump_current_pA", "atp_per_s", "o2_per_s", "r_in_MOhm")
#: Deterministic that is 1 where every data row of a draw has a physical steady state.
FEASIBLE_FLAG = "steady_state_feasible"

#: Observables the steady-state model predicts, and their default noise.
#: scale "log": log(y) ~ Normal(log(pred), sigma) (multiplicative error, sigma in log units).
NOISE_DEFAULTS: dict[str, dict[str, Any]] = {
    "v_rest_mV": {"scale": "linear", "prior_sigma": 3.0},
    "na_i_mM": {"scale": "linear", "prior_sigma": 2.0},
    "k_i_mM": {"scale": "linear", "prior_sigma": 10.0},
    "pump_current_pA": {"scale": "linear", "prior_sigma": 2.0},
    "r_in_MOhm": {"scale": "log", "prior_sigma": 0.3},
    "o2_per_s": {"scale": "log", "prior_sigma": 0.3},
    "atp_per_s": {"scale": "log", "prior_sigma": 0.3},
    "k_na_mM": {"scale": "linear", "prior_sigma": 3.0},
    # where the composition has them (see steady_state_outputs)
    "cl_i_mM": {"scale": "linear", "prior_sigma": 2.0},
    "e_cl_mV": {"scale": "linear", "prior_sigma": 3.0},
    "e_gaba_mV": {"scale": "linear", "prior_sigma": 3.0},
    "ca_i_nM": {"scale": "log", "prior_sigma": 0.3},
    "ncx_current_pA": {"scale": "linear", "prior_sigma": 2.0},
}

#: Dataset conditions that are steady-state parameters (per row).
ROW_CONDITIONS = ("k_o_mM", "na_o_mM", "cl_o_mM", "temperature_K", "activity_load_pA",
                  "atp_mM", "glucose_o_mM", "bumetanide_uM")
POOLING = ("partial", "complete", "none")


@dataclass(frozen=True)
class ObservationNoise:
    """Noise model of one observable.

    ``family``: "normal" or "student_t" (linear scale only); ``scale``: "linear" or
    "log"; ``sigma``: "estimate" (HalfNormal prior with scale ``prior_sigma``),
    "known" (the dataset's SEM/SD column) or a number (fixed, in the observable's
    unit, or log units for scale "log"); ``nu``: Student-t degrees of freedom.
    """

    family: str = "normal"
    scale: str = "linear"
    sigma: Any = "estimate"
    prior_sigma: float = 1.0
    nu: float = 4.0


@dataclass(frozen=True)
class FitSpec:
    """What to fit. See :mod:`iongrad.infer.model` for variable naming.

    The steady state is that of ``membrane`` (any composition with the Na+/K+ pump,
    :mod:`iongrad.models.membrane`); without one, of the composition ``leak`` and
    ``volume`` name (:func:`iongrad.models.steady_state.membrane_for`).
    """

    parameters: tuple[str, ...] = ("g_na_nS", "g_k_nS", "pump_density_per_um2")
    observables: tuple[str, ...] | None = None
    pooling: str | dict = "partial"
    leak: str = "ohmic"
    volume: str = "fixed"
    membrane: Membrane | None = None
    fixed: dict[str, float] = field(default_factory=dict)
    priors: dict[str, dict[str, float]] = field(default_factory=dict)
    noise: dict[str, ObservationNoise] = field(default_factory=dict)
    cell_sd_scale: float = 0.2
    parameterization: str = "centered"
    reference: dict[str, float] = field(default_factory=lambda: {"k_o_mM": 4.0})


def _fail(msg: str):
    raise ConfigError(msg)


def membrane_for_spec(spec: FitSpec) -> Membrane:
    """The membrane model of ``spec``: ``spec.membrane``, or the composition of
    ``spec.leak`` and ``spec.volume``."""
    if spec.membrane is not None:
        return spec.membrane
    return membrane_for(spec.leak, spec.volume)


def prior_terms(model) -> list[str]:
    """Names of the free variables of ``model`` whose densities are priors to power-scale
    in a prior-sensitivity analysis: every free variable but the cell-level terms of a
    hierarchy (``<name>_log_cell``, ``<name>_z``), whose density is the population
    model, not a prior."""
    return [rv.name for rv in model.free_RVs
            if not rv.name.endswith(("_log_cell", "_z"))]


def input_records(parameters, defaults, *, fitted=(), fixed=None, data=None
                  ) -> list[dict[str, Any]]:
    """Every input of a model and where its value comes from.

    One record per name of ``parameters``, in order: ``name``, ``unit``,
    ``description``, ``source`` and ``value``. ``source`` is ``"fitted"`` (``value``
    None: the posterior gives it), ``"data"`` (``data[name]``, the sorted distinct values
    of a condition of the data), ``"fixed"`` (``fixed[name]``, set by the user) or
    ``"default"`` (``defaults[name]``, not set by the user). A report that shows only
    what the user set hides e.g. the cell area that a fitted pump density per µm²
    scales with; these records list every input.
    """
    fixed, data = dict(fixed or {}), dict(data or {})
    out: list[dict[str, Any]] = []
    for name in dict.fromkeys(parameters):
        q = quantities.get(name)
        rec: dict[str, Any] = {"name": name, "unit": q.unit, "description": q.description}
        if name in fitted:
            rec.update(source="fitted", value=None)
        elif name in data:
            vals = np.unique(np.asarray(data[name], dtype=float))
            rec.update(source="data", value=[float(v) for v in vals if np.isfinite(v)])
        elif name in fixed:
            rec.update(source="fixed", value=float(fixed[name]))
        else:
            v = float(defaults[name])  # NaN: computed or absent (e.g. an infinite bath)
            rec.update(source="default", value=v if np.isfinite(v) else None)
        out.append(rec)
    return out


def model_inputs(spec: FitSpec, rows) -> list[dict[str, Any]]:
    """:func:`input_records` of the steady-state fit of ``spec`` to the data ``rows``:
    the row conditions the likelihood reads from the data (unless fitted) come first,
    then ``[fixed]``, then the registry defaults (as :func:`build_model` uses them)."""
    membrane = membrane_for_spec(spec)
    data = {c: rows[c].to_numpy(dtype=float) for c in ROW_CONDITIONS
            if c in rows.columns and c in membrane.parameters}
    return input_records(membrane.parameters, membrane.defaults(), fitted=spec.parameters,
                         fixed=spec.fixed, data=data)


def derived_quantities(membrane: Membrane) -> tuple[str, ...]:
    """The derived quantities of a fit of ``membrane``: :data:`DERIVED`, then the cell's
    own (:meth:`~iongrad.models.membrane.Membrane.reported_outputs`): Cl_i with E_Cl
    where a cotransporter sets them, E_GABA, Ca_i, the NCX current and each mechanism's
    share of the ATP use (``<mechanism>_atp_per_s``)."""
    extra = membrane.reported_outputs()
    return (*DERIVED, *(("cl_i_mM",) if "e_cl_mV" in extra else ()), *extra)


def steady_state_outputs(membrane: Membrane) -> tuple[str, ...]:
    """Observables of :data:`NOISE_DEFAULTS` that the steady state of ``membrane``
    predicts: the pump-leak ones, the intracellular concentration of each of its ions,
    and those of :data:`iongrad.infer.steady_op.EXTRA_OUTPUTS` it has (``e_cl_mV`` with
    Cl- among its ions, ``e_gaba_mV`` with ``gaba_a_reversal``, ``ca_i_nM`` with Ca2+,
    ``ncx_current_pA`` with ``ncx``)."""
    have = {"v_rest_mV", "pump_current_pA", "atp_per_s", "o2_per_s", "r_in_MOhm", "k_na_mM"}
    have |= {f"{x}_i_mM" for x in membrane.ions} | {f"e_{x}_mV" for x in membrane.ions}
    have |= {f"{m.name}_current_pA" for m in membrane.mechanisms}
    have |= set(membrane.output_expressions())
    return tuple(o for o in NOISE_DEFAULTS if o in have)


def _near(name: str, valid) -> str:
    near = difflib.get_close_matches(str(name), list(valid), n=1)
    return f"; did you mean {near[0]!r}?" if near else ""


def _check_spec(spec: FitSpec, dataset) -> tuple[str, ...]:
    if spec.parameterization not in ("centered", "noncentered"):
        _fail("parameterization must be 'centered' or 'noncentered'; "
              f"got {spec.parameterization!r}")
    pools = spec.pooling if isinstance(spec.pooling, dict) else {"default": spec.pooling}
    for key, val in pools.items():
        if key != "default" and key not in spec.parameters:
            _fail(f"pooling.{key}: not a fitted parameter; fitted: {list(spec.parameters)}")
        if val not in POOLING:
            _fail(f"pooling{'' if key == 'default' else '.' + key} must be one of "
                  f"{POOLING}; got {val!r}")
    if spec.membrane is None:
        if spec.leak not in ("ohmic", "ghk"):
            _fail(f"leak must be 'ohmic' or 'ghk'; got {spec.leak!r}")
        if spec.volume not in ("fixed", "osmotic"):
            _fail(f"volume must be 'fixed' or 'osmotic'; got {spec.volume!r}")
    membrane = membrane_for_spec(spec)
    if "na_k_pump" not in [m.name for m in membrane.mechanisms]:
        _fail(f"membrane model {membrane.name!r} has no Na+/K+ pump (mechanism "
              "'na_k_pump'); a steady-state fit needs it")
    if not spec.parameters:
        _fail("parameters: at least one parameter must be fitted")
    for name in spec.parameters:
        prior_for(name, spec.priors.get(name))
    params = membrane.parameters
    bad = [p for p in spec.parameters if p not in params]
    if bad:
        _fail(f"parameters {bad} are not parameters of the membrane model "
              f"{membrane.name!r} (its parameters: {', '.join(params)})")
    for name, val in spec.fixed.items():
        if name not in params:
            _fail(f"fixed: unknown parameter {name!r}{_near(name, params)} of the membrane "
                  f"model {membrane.name!r}; known: {sorted(params)}")
        if name in spec.parameters:
            _fail(f"fixed: {name!r} is also listed as a fitted parameter")
        if not isinstance(val, int | float) or isinstance(val, bool) or not np.isfinite(val):
            _fail(f"fixed.{name}: expected a number in {registry_unit(name)}, got {val!r}")
    _check_fixed_domain(spec)
    for name, val in spec.reference.items():
        if name not in ROW_CONDITIONS:
            _fail(f"reference: {name!r} is not a condition{_near(name, ROW_CONDITIONS)}; "
                  f"allowed: {ROW_CONDITIONS}")
        if isinstance(val, bool) or not isinstance(val, int | float):
            _fail(f"reference.{name} = {val!r}: expected a number in {registry_unit(name)}")
        bad = violation(name, val)
        if bad:
            _fail(f"reference.{name}: {bad}")
    for cond in ROW_CONDITIONS:
        # a bath change the membrane cannot feel (e.g. glucose without SGLT1) would be
        # silently ignored; the pump-leak conditions are parameters of every cell
        if (cond in dataset.frame.columns and cond not in spec.parameters
                and cond not in params and cond not in DEFAULT_PARAMS):
            _fail(f"dataset {dataset.name!r} sets the condition {cond!r} "
                  f"({registry_unit(cond)}), which is not a parameter of the membrane model "
                  f"{membrane.name!r}; choose a composition that has it in [model]")
    predicted = steady_state_outputs(membrane)
    obs = tuple(spec.observables) if spec.observables else tuple(
        o for o in dataset.observables if o in NOISE_DEFAULTS)
    if not obs:
        _fail(f"dataset {dataset.name!r} has no observable the model predicts "
              f"({sorted(NOISE_DEFAULTS)})")
    for o in obs:
        if o not in NOISE_DEFAULTS:
            _fail(f"observables: {o!r} is not predicted by the steady-state model; "
                  f"known: {sorted(NOISE_DEFAULTS)}")
        if o not in dataset.observables:
            _fail(f"observables: dataset {dataset.name!r} has no column for {o!r}; "
                  f"it has {list(dataset.observables)}")
        if o not in predicted:
            _fail(f"observables: {o!r} is not an output of the membrane model "
                  f"{membrane.name!r} (its steady state predicts {', '.join(predicted)}); "
                  "choose a composition that has it in [model]")
        if o == "k_na_mM" and "k_na_mM" not in spec.parameters:
            _fail("observable k_na_mM needs k_na_mM among the fitted parameters")
    for o in spec.noise:
        if o not in obs:
            _fail(f"noise.{o}: not an observable of this fit{_near(o, obs)} "
                  f"(observables: {', '.join(obs)})")
    for o in obs:
        nz = spec.noise.get(o)
        if nz is not None:
            if nz.family not in ("normal", "student_t"):
                _fail(f"noise.{o}.family must be 'normal' or 'student_t'; got {nz.family!r}")
            if nz.scale not in ("linear", "log"):
                _fail(f"noise.{o}.scale must be 'linear' or 'log'; got {nz.scale!r}")
            if nz.scale == "log" and nz.family != "normal":
                _fail(f"noise.{o}: log scale supports family 'normal' only")
            if nz.sigma == "known" and o not in dataset.uncertainty:
                _fail(f"noise.{o}.sigma = 'known' but the dataset gives no SEM/SD for {o}")
            if not (nz.sigma in ("estimate", "known") or (
                    isinstance(nz.sigma, int | float) and nz.sigma > 0)):
                _fail(f"noise.{o}.sigma must be 'estimate', 'known' or a number > 0; "
                      f"got {nz.sigma!r}")
            if isinstance(nz.sigma, float) and not np.isfinite(nz.sigma):
                _fail(f"noise.{o}.sigma must be finite; got {nz.sigma!r}")
            for key in ("prior_sigma", "nu"):
                val = getattr(nz, key)
                if isinstance(val, bool) or not isinstance(val, int | float) or not (
                        np.isfinite(val) and val > 0):
                    _fail(f"noise.{o}.{key} = {val!r}: expected a finite number > 0")
    return obs


def _check_fixed_domain(spec: FitSpec) -> None:
    """Fixed values must lie in the model's domain and give a steady state."""
    for name, val in spec.fixed.items():
        bad = violation(name, val)
        if bad:
            _fail(f"fixed.{name}: {bad}")
    try:
        ss = steady_state_of(membrane_for_spec(spec),
                             **{k: float(v) for k, v in spec.fixed.items()})
    except ModelInputError as exc:
        _fail(f"fixed: {exc}")
    if not bool(ss["feasible"]):
        _fail(f"fixed: with these fixed values and default parameters the model has no "
              f"steady state ({REASONS[int(ss['reason'])]}); fixed = {spec.fixed}")


def pooling_of(spec: FitSpec, name: str) -> str:
    """Pooling of parameter ``name`` ("partial", "complete" or "none")."""
    if isinstance(spec.pooling, dict):
        return spec.pooling.get(name, spec.pooling.get("default", "partial"))
    return spec.pooling


def _noise_for(spec: FitSpec, obs: str, dataset) -> ObservationNoise:
    if obs in spec.noise:
        return spec.noise[obs]
    d = NOISE_DEFAULTS[obs]
    sigma = "known" if obs in dataset.uncertainty else "estimate"
    return ObservationNoise(scale=d["scale"], prior_sigma=d["prior_sigma"], sigma=sigma)


def build_model(dataset, spec: FitSpec, state_solver=None):
    """Build the PyMC model of ``dataset`` under ``spec``.

    ``state_solver`` replaces the steady-state Op in the likelihood by another solver of
    the same equations (see :func:`iongrad.infer.steady_op.steady_state_graph`), e.g.
    :class:`iongrad.infer.steady_root.RootStateSolver` as a baseline; default: the Op.
    The derived quantities (deterministics, not part of the log-density) always use the
    Op.

    Returns
    -------
    model : pymc.Model
    info : dict
        ``op`` (the likelihood's SteadyStateOp, whose ``n_calls``/``n_infeasible``
        count solves), ``observables``, ``noise`` (resolved per observable), ``cells``,
        ``fxyd_states``, ``rows`` (the dataset rows used), ``priors``, ``derived``
        (where the derived quantities are evaluated: reference, FXYD states,
        conditions), ``obs_rows`` (per observable: the ``data_row``, ``cell`` and
        ``condition`` of each entry of its ``<obs>_obs_row`` dimension).
    """
    import pymc as pm
    import pytensor.tensor as pt

    from iongrad.infer.steady_op import SteadyStateOp, steady_state_graph

    obs_names = _check_spec(spec, dataset)
    frame = dataset.frame
    used = frame[obs_names[0]].notna()
    for o in obs_names[1:]:
        used = used | frame[o].notna()
    rows = frame.loc[used].copy()
    cells = tuple(pd_unique(rows["cell"]))
    cell_idx = np.array([cells.index(c) for c in rows["cell"]], dtype=np.int64)
    n_cells, n_rows = len(cells), len(rows)
    states: tuple[str, ...] = ()
    state_idx = np.zeros(n_rows, dtype=np.int64)
    if "fxyd_state" in rows.columns and "k_na_mM" in spec.parameters:
        states = tuple(pd_unique(rows["fxyd_state"]))
        state_idx = np.array([states.index(s) for s in rows["fxyd_state"]], dtype=np.int64)
    needs_ss = any(o != "k_na_mM" for o in obs_names)

    coords = {"cell": list(cells)}
    if states:
        coords["fxyd_state"] = list(states)
    priors = {p: prior_for(p, spec.priors.get(p)) for p in spec.parameters}
    noise = {o: _noise_for(spec, o, dataset) for o in obs_names}
    op = SteadyStateOp(membrane=membrane_for_spec(spec))
    with pm.Model(coords=coords) as model:
        cell_vals: dict[str, Any] = {}
        pop_vals: dict[str, Any] = {}
        for name in spec.parameters:
            pr = priors[name]
            dims = ("fxyd_state",) if (name == "k_na_mM" and states) else ()
            shape_extra = dims
            pooling = pooling_of(spec, name)
            if pooling == "partial":
                mu = pm.Normal(f"{name}_log_median", np.log(pr.median), pr.sd_log,
                               dims=shape_extra or None)
                # Cell-to-cell variation is never zero: a zero-avoiding LogNormal prior
                # (median cell_sd_scale, 95% within x/÷ e^1) keeps the sampler out of
                # the funnel neck that a HalfNormal opens with few cells.
                sd = pm.LogNormal(f"{name}_cell_sd_log", np.log(spec.cell_sd_scale), 0.5)
                loc = mu[None, :] if shape_extra else mu
                if spec.parameterization == "noncentered":
                    z = pm.Normal(f"{name}_z", 0.0, 1.0, dims=("cell", *shape_extra))
                    log_cell = loc + sd * z
                else:
                    log_cell = pm.Normal(f"{name}_log_cell", loc, sd,
                                         dims=("cell", *shape_extra))
                cell_vals[name] = pm.Deterministic(f"{name}_cell", pt.exp(log_cell),
                                                   dims=("cell", *shape_extra))
                pop_vals[name] = pm.Deterministic(name, pt.exp(mu), dims=shape_extra or None)
            elif pooling == "complete":
                lg = pm.Normal(f"{name}_log", np.log(pr.median), pr.sd_log,
                               dims=shape_extra or None)
                pop_vals[name] = pm.Deterministic(name, pt.exp(lg), dims=shape_extra or None)
                cell_vals[name] = pt.ones((n_cells, *([len(states)] if shape_extra else [])))\
                    * pop_vals[name]
            else:
                lg = pm.Normal(f"{name}_log", np.log(pr.median), pr.sd_log,
                               dims=("cell", *shape_extra))
                cell_vals[name] = pm.Deterministic(f"{name}_cell", pt.exp(lg),
                                                   dims=("cell", *shape_extra))
        if "k_na_mM" in spec.parameters and len(states) >= 2 and "unphosphorylated" in states \
                and "phosphorylated" in states and "k_na_mM" in pop_vals:
            iu, ip = states.index("unphosphorylated"), states.index("phosphorylated")
            k = pop_vals["k_na_mM"]
            pm.Deterministic("k_na_shift_mM", k[ip] - k[iu])

        cidx = pm.Data("cell_idx", cell_idx)
        sidx = pm.Data("state_idx", state_idx)

        def row_value(name):
            v = cell_vals[name]
            if name == "k_na_mM" and states:
                return v[cidx, sidx]
            return v[cidx]

        base = {k: float(v) for k, v in spec.fixed.items()}
        preds: dict[str, Any] = {}
        if needs_ss:
            row_params: dict[str, Any] = dict(base)
            for cond in ROW_CONDITIONS:
                if cond in rows.columns and cond not in spec.parameters:
                    row_params[cond] = pm.Data(cond, rows[cond].to_numpy(dtype=float))
            for name in spec.parameters:
                row_params[name] = row_value(name)
            out = steady_state_graph(row_params, n=n_rows, op=op, state_solver=state_solver)
            exists = pt.all(pt.eq(out["feasible"], 1))
            pm.Potential("steady_state_exists", pt.switch(exists, 0.0, -np.inf))
            # 1 where every data row has a physical steady state; prior draws without one
            # predict nothing (their predictive draws are set to NaN, never a placeholder)
            pm.Deterministic(FEASIBLE_FLAG, pt.cast(exists, "int8"))
            preds.update(out)
        if "k_na_mM" in obs_names:
            preds["k_na_mM"] = row_value("k_na_mM")

        conditions = row_conditions(spec, states, rows)
        obs_rows: dict[str, dict[str, np.ndarray]] = {}
        for o in obs_names:
            mask = rows[o].notna().to_numpy()
            idx = np.flatnonzero(mask)
            y = rows[o].to_numpy(dtype=float)[mask]
            nz = noise[o]
            mu = preds[o][idx]
            if nz.sigma == "estimate":
                sigma = pm.HalfNormal(f"sigma_{o}", nz.prior_sigma)
            elif nz.sigma == "known":
                unc = rows[dataset.uncertainty[o]].to_numpy(dtype=float)[mask]
                if nz.scale == "log":
                    unc = unc / y  # relative error ≈ SD of log
                sigma = pm.Data(f"sem_{o}", unc)
            else:
                sigma = float(nz.sigma)
            dim = f"{o}_obs_row"
            model.add_coord(dim, rows.index.to_numpy()[mask])
            obs_rows[o] = {"data_row": rows.index.to_numpy()[mask],
                           "cell": rows["cell"].astype(str).to_numpy()[mask],
                           "condition": np.asarray(conditions, dtype=object)[mask]}
            y_data = pm.Data(f"{o}_data", y, dims=dim)
            if nz.scale == "log":
                pm.LogNormal(f"{o}_obs", mu=pt.log(mu), sigma=sigma, observed=y_data,
                             dims=dim)
            elif nz.family == "student_t":
                pm.StudentT(f"{o}_obs", nu=nz.nu, mu=mu, sigma=sigma, observed=y_data,
                            dims=dim)
            else:
                pm.Normal(f"{o}_obs", mu=mu, sigma=sigma, observed=y_data, dims=dim)

        derived = _derived(spec, cells, states, cell_vals, pop_vals, base, rows)

    info = {"op": op, "observables": obs_names, "noise": noise, "cells": cells,
            "fxyd_states": states, "rows": rows, "priors": priors, "derived": derived,
            "obs_rows": obs_rows}
    return model, info


def _condition_keys(spec, states, rows) -> tuple[list[str], list[str]]:
    """The condition columns the model uses (row conditions it does not fit, and
    ``fxyd_state`` when K_Na is fitted per state) and those of them that vary."""
    cols = [c for c in ROW_CONDITIONS if c in rows.columns and c not in spec.parameters]
    keys = [*cols, *(["fxyd_state"] if states else [])]
    varying = [k for k in keys if rows[k].nunique() > 1] or keys
    return keys, varying


def _condition_label(values: dict, varying: list[str]) -> str:
    """``"k_o_mM=4, fxyd_state=absent"``: the varying conditions of one data row."""
    return ", ".join(f"{k}={values[k]:.10g}" if k != "fxyd_state" else f"{k}={values[k]}"
                     for k in varying)


def row_conditions(spec: FitSpec, states, rows) -> list[str]:
    """The condition of every data row, labelled as the ``condition`` coordinate of the
    derived quantities (:func:`_derived_scenarios`); ``"all rows"`` when the data have
    no condition column the model uses."""
    keys, varying = _condition_keys(spec, states, rows)
    if not keys:
        return ["all rows"] * len(rows)
    return [_condition_label(dict(zip(keys, r, strict=True)), varying)
            for r in rows[keys].itertuples(index=False)]


def _derived_scenarios(spec, states, base, rows) -> dict[str, Any]:
    """Where the derived steady state is evaluated: the reference condition (in the
    reference FXYD state, and in each state) and each condition of the data.

    The reference condition is the dataset's most common value of each condition
    (e.g. its bath temperature), overridden by ``spec.reference``; its FXYD state is
    "unphosphorylated" if present, else the first state. A condition of the data is
    each distinct combination of its condition columns (those the model uses: the
    row conditions that are not fitted, and ``fxyd_state`` when K_Na is fitted per
    state), with the values the likelihood uses for those rows; there are none when
    the data's only condition is the FXYD state (covered per state).
    """
    cols = [c for c in ROW_CONDITIONS if c in rows.columns and c not in spec.parameters]
    ref = dict(base)
    for cond in cols:
        ref[cond] = float(rows[cond].mode().iloc[0])
    ref.update({k: float(v) for k, v in spec.reference.items()})
    j_ref = (states.index("unphosphorylated") if "unphosphorylated" in states else 0) \
        if states else None
    conditions: list[dict[str, Any]] = []
    if cols:
        keys, varying = _condition_keys(spec, states, rows)
        combos = pd_unique(tuple(r) for r in rows[keys].itertuples(index=False))
        for combo in combos:
            values = dict(zip(keys, combo, strict=True))
            label = _condition_label(values, varying)
            physical = dict(base)
            physical.update({k: float(values[k]) for k in cols})
            conditions.append({"label": label, "values": physical,
                               "fxyd_state": values.get("fxyd_state"),
                               "state_index": states.index(values["fxyd_state"])
                               if states else None})
    return {"reference": ref, "reference_state_index": j_ref, "conditions": conditions}


def _derived(spec, cells, states, cell_vals, pop_vals, base, rows) -> dict[str, Any]:
    """Deterministics: the steady state per cell and for the population (when every
    parameter is pooled) at the reference condition, per FXYD state and per condition
    of the data (see :func:`_derived_scenarios`). Every fit gets them, also one whose
    likelihood needs no steady state (K½ summaries only): the parameters it does not
    fit take their fixed or default values. Returns the scenarios for ``run.json``.

    Variables (``<k>`` each of :func:`derived_quantities`): ``<k>`` and ``<k>_cell`` (cell) at the
    reference; ``<k>_fxyd`` (fxyd_state) and ``<k>_cell_fxyd`` (cell, fxyd_state) at
    the reference condition in each FXYD state; ``<k>_condition`` (condition) and
    ``<k>_cell_condition`` (cell, condition) at each condition of the data. All of
    them come from one vectorised steady-state solve per draw.
    """
    import pymc as pm
    import pytensor.tensor as pt

    from iongrad.infer.steady_op import SteadyStateOp, steady_state_graph

    n_cells = len(cells)
    scen = _derived_scenarios(spec, states, base, rows)
    have_pop = all(pooling_of(spec, p) != "none" for p in spec.parameters)
    n_ent = n_cells + (1 if have_pop else 0)
    # blocks of n_ent rows (cells, then the population): (condition values, state index)
    blocks = [(scen["reference"], scen["reference_state_index"])]
    blocks += [(scen["reference"], j) for j in range(len(states))]
    blocks += [(c["values"], c["state_index"]) for c in scen["conditions"]]

    def entities(name, j):
        cv = cell_vals[name]
        pv = pop_vals.get(name)
        if name == "k_na_mM" and states:
            cv = cv[:, j]
            pv = pv[j] if have_pop else None
        return pt.concatenate([cv, pt.stack([pv])]) if have_pop else cv

    membrane = membrane_for_spec(spec)
    defaults = {**DEFAULT_PARAMS, **membrane.defaults()}
    params: dict[str, Any] = {}
    for key in dict.fromkeys(k for values, _ in blocks for k in values):
        params[key] = np.concatenate([np.full(n_ent, float(values.get(key, defaults[key])))
                                      for values, _ in blocks])
    for name in spec.parameters:
        params[name] = pt.concatenate([entities(name, j) for _, j in blocks])
    # a solver without warm start: each draw's derived values are a function of that draw
    # alone, not of the draws recorded before it (parallel chains are recorded as they
    # arrive, in no fixed order)
    out = steady_state_graph(params, n=n_ent * len(blocks),
                             op=SteadyStateOp(membrane=membrane, warm_start=False))
    # A draw without a physical steady state at a condition has no derived value there:
    # NaN (counted in run.json and the report), never the solver's placeholder state.
    ok = pt.eq(out["feasible"], 1)
    if scen["conditions"]:  # "cell" and "fxyd_state" are coordinates of the model already
        pm.modelcontext(None).add_coord("condition", [c["label"] for c in scen["conditions"]])
    n_states = len(states)
    for k in derived_quantities(membrane):
        value = pt.switch(ok, out[k], np.nan).reshape((len(blocks), n_ent))
        pm.Deterministic(f"{k}_cell", value[0, :n_cells], dims="cell")
        if have_pop:
            pm.Deterministic(k, value[0, n_cells])
        if states:
            per_state = value[1:1 + n_states]
            pm.Deterministic(f"{k}_cell_fxyd", per_state[:, :n_cells].T,
                             dims=("cell", "fxyd_state"))
            if have_pop:
                pm.Deterministic(f"{k}_fxyd", per_state[:, n_cells], dims="fxyd_state")
        if scen["conditions"]:
            per_cond = value[1 + n_states:]
            pm.Deterministic(f"{k}_cell_condition", per_cond[:, :n_cells].T,
                             dims=("cell", "condition"))
            if have_pop:
                pm.Deterministic(f"{k}_condition", per_cond[:, n_cells], dims="condition")
    return {"reference": scen["reference"],
            "reference_fxyd_state": states[scen["reference_state_index"]] if states else None,
            "fxyd_states": list(states),
            "conditions": [{"label": c["label"], "values": c["values"],
                            "fxyd_state": c["fxyd_state"]} for c in scen["conditions"]],
            "population": have_pop}


#: Units of the derived quantities and observables.
DERIVED_UNITS: dict[str, str] = {
    k: registry_unit(k) for k in ("v_rest_mV", "na_i_mM", "k_i_mM", "pump_current_pA",
                                  "atp_per_s", "o2_per_s", "r_in_MOhm", "k_na_shift_mM")}


def unit_of(name: str, units: dict[str, str] | None = None) -> str:
    """Unit of a posterior variable or summary row label (e.g. ``"g_na_nS_cell[c01]"``).

    Noise scales of log-scale observables and hierarchical SDs are in log units;
    ``units`` entries are consulted first. Returns ``""`` when unknown.
    """
    base = name.split("[", 1)[0]
    if units and base in units:
        return units[base]
    if base.endswith("_cell_sd_log"):
        return "log units"
    if base.startswith("sigma_"):
        obs = base[len("sigma_"):]
        if NOISE_DEFAULTS.get(obs, {}).get("scale") == "log":
            return "log units"
        base = obs
    for suffix in ("_cell_fxyd", "_cell_condition", "_fxyd", "_condition", "_cell"):
        stem = base[: -len(suffix)]
        if base.endswith(suffix) and (stem in DERIVED_UNITS or registry_unit(stem)):
            base = stem
            break
    else:
        if base.endswith("_cell"):
            base = base[: -len("_cell")]
    for table in (units or {}, DERIVED_UNITS, UNITS):
        if base in table:
            return table[base]
    return registry_unit(base)


def pd_unique(values) -> list:
    """Unique values in order of first appearance."""
    seen: dict = {}
    for v in values:
        seen.setdefault(v, None)
    return list(seen)

