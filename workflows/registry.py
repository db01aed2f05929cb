"""Registry of forward models available to the sensitivity workflow.

A registered model is a :class:`ModelEntry`: named parameters (unit, default
value, support), named outputs (unit) and an ``evaluate`` function that takes a
dict of parameter *arrays* (one entry per sample, all the same length, or
scalars) and returns a dict of output arrays plus a boolean ``feasible`` array.
``evaluate`` is always called on whole sample matrices (or large chunks of them),
never once per sample.

Registered models
-----------------
``pump_leak``
    Full pump–leak steady state, ohmic leaks, fixed volume
    (:func:`iongrad.models.steady_state.solve_steady_state`).
``pump_leak_ghk``
    The same with GHK leaks (permeabilities ``p_*_cm_s``).
``pump_leak_osmotic``
    Ohmic leaks, osmotic volume: the cell swells or shrinks until internal and
    external osmolarity match; a pump too weak to stop swelling has no steady
    state (``feasible=False``).
``fxyd_set_point``
    Na+ set point of a pump population with phosphorylated fraction ``phi``
    (:func:`iongrad.models.fxyd.na_set_point_mixed_mM`).
``ishigami``
    The Ishigami test function with its analytic Sobol indices, for tests.

Only NumPy and the model layer are imported here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "MODELS",
    "ModelEntry",
    "Output",
    "Parameter",
    "get_model",
    "ishigami_analytic",
]


@dataclass(frozen=True)
class Parameter:
    """A model parameter.

    Attributes
    ----------
    name : str
        Name, with its unit in the name where not obvious (``g_na_nS``).
    unit : str
        Unit, as text.
    default : float
        Value used when the parameter is neither fixed nor sampled.
    support : {"real", "positive", "nonnegative", "fraction"}
        Values the model accepts; ``"fraction"`` is the closed interval [0, 1].
    """

    name: str
    unit: str
    default: float
    support: str = "real"

    def contains(self, lo: float, hi: float | None = None) -> bool:
        """True if the closed interval ``[lo, hi]`` (or the value ``lo``) lies in the support."""
        hi = lo if hi is None else hi
        if self.support == "positive":
            return lo > 0
        if self.support == "nonnegative":
            return lo >= 0
        if self.support == "fraction":
            return lo >= 0 and hi <= 1
        return True

    def support_text(self) -> str:
        """Human-readable support, for error messages."""
        return {"real": "any real value", "positive": "> 0", "nonnegative": ">= 0",
                "fraction": "in [0, 1]"}[self.support]


@dataclass(frozen=True)
class Output:
    """A model output: name and unit."""

    name: str
    unit: str


@dataclass(frozen=True)
class ModelEntry:
    """A forward model as the sensitivity workflow sees it.

    Attributes
    ----------
    name : str
        Registry key.
    description : str
        One line.
    parameters : tuple of Parameter
        Every parameter the model takes.
    outputs : tuple of Output
        Every numeric output plus ``feasible`` (unit ``"bool"``).
    function : callable
        ``function(params) -> dict`` on complete parameter dicts.
    analytic : dict
        Known reference values for tests (empty for most models).
    """

    name: str
    description: str
    parameters: tuple[Parameter, ...]
    outputs: tuple[Output, ...]
    function: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]] = field(repr=False)
    analytic: Mapping = field(default_factory=dict)

    @property
    def parameter_names(self) -> tuple[str, ...]:
        """Names of all parameters, in registry order."""
        return tuple(p.name for p in self.parameters)

    @property
    def output_names(self) -> tuple[str, ...]:
        """Names of all outputs, including ``feasible``."""
        return tuple(o.name for o in self.outputs)

    def parameter(self, name: str) -> Parameter:
        """The :class:`Parameter` called ``name`` (KeyError if unknown)."""
        for p in self.parameters:
            if p.name == name:
                return p
        raise KeyError(name)

    def output_unit(self, name: str) -> str:
        """Unit of output ``name``."""
        for o in self.outputs:
            if o.name == name:
                return o.unit
        raise KeyError(name)

    def defaults(self) -> dict[str, float]:
        """Default value of every parameter."""
        return {p.name: p.default for p in self.parameters}

    def evaluate(self, params: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Evaluate the model on whole arrays of parameter values.

        Parameters
        ----------
        params : mapping of str to array_like
            Any subset of :attr:`parameter_names` (units as in the names); missing
            parameters take their default. Arrays must broadcast together
            (typically 1-D, one entry per sample).

        Returns
        -------
        dict of str to numpy.ndarray
            Every output in :attr:`output_names`; numeric outputs are NaN where
            ``feasible`` is False.
        """
        unknown = sorted(set(params) - set(self.parameter_names))
        if unknown:
            raise KeyError(f"{self.name}: unknown parameter(s) {unknown}")
        full = {k: np.asarray(v, dtype=float) for k, v in self.defaults().items()}
        full.update({k: np.asarray(v, dtype=float) for k, v in params.items()})
        shape = np.broadcast_shapes(*(np.shape(v) for v in full.values()))
        out = self.function(full)
        result = {}
        for name in self.output_names:
            arr = np.broadcast_to(np.asarray(out[name]), shape)
            result[name] = arr.astype(bool) if name == "feasible" else arr.astype(float)
        return result


# --------------------------------------------------------------------------------------
# Pump–leak steady state
# --------------------------------------------------------------------------------------
_STEADY_OUTPUTS = (
    Output("v_rest_mV", "mV"),
    Output("na_i_mM", "mM"),
    Output("k_i_mM", "mM"),
    Output("cl_i_mM", "mM"),
    Output("pump_current_pA", "pA"),
    Output("atp_per_s", "ATP molecules/s"),
    Output("o2_per_s", "O2 molecules/s"),
    Output("r_in_MOhm", "MOhm"),
)


def _steady_parameters() -> tuple[Parameter, ...]:
    from iongrad.models import steady_state as ss

    leak_positive = {"g_na_nS", "g_k_nS", "p_na_cm_s", "p_k_cm_s", "osm_o_mOsm"}
    out = []
    for name, default in ss.DEFAULT_PARAMS.items():
        if name in ss._POSITIVE or name in leak_positive:
            support = "positive"
        elif name in ss._NONNEG or name.startswith(("g_", "p_")):
            support = "nonnegative"
        else:
            support = "real"
        out.append(Parameter(name, ss.PARAM_UNITS[name], float(default), support))
    return tuple(out)


def _steady_function(leak: str, volume: str, outputs: tuple[str, ...]):
    def function(p: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        from iongrad.models.steady_state import solve_steady_state

        with np.errstate(all="ignore"):
            res = solve_steady_state(leak=leak, volume=volume, **p)
        out = {k: getattr(res, k) for k in outputs if k != "feasible"}
        out["feasible"] = res.feasible
        return out

    return function


def _steady_entry(name: str, description: str, leak: str, volume: str) -> ModelEntry:
    outputs = _STEADY_OUTPUTS
    if volume == "osmotic":
        outputs = (*outputs, Output("volume_pL", "pL"))
    outputs = (*outputs, Output("feasible", "bool"))
    return ModelEntry(name=name, description=description, parameters=_steady_parameters(),
                      outputs=outputs,
                      function=_steady_function(leak, volume, tuple(o.name for o in outputs)))


# --------------------------------------------------------------------------------------
# FXYD set point
# --------------------------------------------------------------------------------------
_FXYD_PARAMETERS = (
    Parameter("na_influx_mM_per_s", "mM/s", 1.0, "nonnegative"),
    Parameter("v_max_mM_per_s", "mM/s", 3.0, "positive"),
    Parameter("k_unphos_mM", "mM", 10.0, "positive"),
    Parameter("k_phos_mM", "mM", 20.0, "positive"),
    Parameter("phi", "fraction phosphorylated", 0.5, "fraction"),
    Parameter("hill_na", "dimensionless", 1.0, "positive"),
)


def _fxyd_function(p: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    from iongrad.models.fxyd import na_set_point_mixed_mM

    na = na_set_point_mixed_mM(p["na_influx_mM_per_s"], p["v_max_mM_per_s"], p["k_unphos_mM"],
                               p["k_phos_mM"], p["phi"], p["hill_na"])
    load = np.broadcast_to(p["na_influx_mM_per_s"] / p["v_max_mM_per_s"], np.shape(na))
    feasible = np.isfinite(na)
    return {"na_set_point_mM": np.where(feasible, na, np.nan),
            "pump_load_fraction": np.where(feasible, load, np.nan),
            "feasible": feasible}


# --------------------------------------------------------------------------------------
# Ishigami
# --------------------------------------------------------------------------------------
def ishigami_analytic(a: float = 7.0, b: float = 0.1) -> dict[str, dict[str, float]]:
    """Analytic first-order and total Sobol indices of the Ishigami function.

    ``y = sin x1 + a sin^2 x2 + b x3^4 sin x1`` with ``x_i ~ U(-pi, pi)``
    (Ishigami & Homma 1990; Sobol' & Levitan 1999). Returns
    ``{"S1": {...}, "ST": {...}}`` keyed by ``x1, x2, x3``.
    """
    pi4, pi8 = math.pi**4, math.pi**8
    v1 = 0.5 * (1.0 + b * pi4 / 5.0) ** 2
    v2 = a**2 / 8.0
    v13 = b**2 * pi8 * (1.0 / 18.0 - 1.0 / 50.0)
    var = v1 + v2 + v13
    return {"S1": {"x1": v1 / var, "x2": v2 / var, "x3": 0.0},
            "ST": {"x1": (v1 + v13) / var, "x2": v2 / var, "x3": v13 / var}}


def _ishigami_function(p: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    x1, x2, x3 = p["x1"], p["x2"], p["x3"]
    y = np.sin(x1) + p["a"] * np.sin(x2) ** 2 + p["b"] * x3**4 * np.sin(x1)
    return {"y": y, "feasible": np.ones(np.shape(y), bool)}


# --------------------------------------------------------------------------------------
# The registry
# --------------------------------------------------------------------------------------
MODELS: dict[str, ModelEntry] = {
    "pump_leak": _steady_entry(
        "pump_leak", "pump-leak steady state, ohmic leaks (g_*_nS), fixed volume",
        "ohmic", "fixed"),
    "pump_leak_ghk": _steady_entry(
        "pump_leak_ghk", "pump-leak steady state, GHK leaks (p_*_cm_s), fixed volume",
        "ghk", "fixed"),
    "pump_leak_osmotic": _steady_entry(
        "pump_leak_osmotic", "pump-leak steady state, ohmic leaks, osmotic volume",
        "ohmic", "osmotic"),
    "fxyd_set_point": ModelEntry(
        name="fxyd_set_point",
        description="Na+ set point of a pump population with phosphorylated fraction phi",
        parameters=_FXYD_PARAMETERS,
        outputs=(Output("na_set_point_mM", "mM"), Output("pump_load_fraction", "J/V_max"),
                 Output("feasible", "bool")),
        function=_fxyd_function),
    "ishigami": ModelEntry(
        name="ishigami",
        description="Ishigami test function y = sin x1 + a sin^2 x2 + b x3^4 sin x1",
        parameters=(Parameter("x1", "dimensionless", 0.0), Parameter("x2", "dimensionless", 0.0),
                    Parameter("x3", "dimensionless", 0.0), Parameter("a", "dimensionless", 7.0),
                    Parameter("b", "dimensionless", 0.1)),
        outputs=(Output("y", "dimensionless"), Output("feasible", "bool")),
        function=_ishigami_function,
        analytic={"a": 7.0, "b": 0.1, "bounds": [-math.pi, math.pi],
                  **ishigami_analytic(7.0, 0.1)}),
}


def get_model(name: str) -> ModelEntry:
    """Registry lookup; a KeyError names the model and lists what exists."""
    try:
        return MODELS[name]
    except KeyError:
        raise KeyError(f"unknown model {name!r}; available: {', '.join(sorted(MODELS))}") \
            from None
