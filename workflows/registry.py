"""Registry of forward models available to the sensitivity workflow.

A registered model is a :class:`ModelEntry`: named parameters (unit, default
value, support), named outputs (unit) and an ``evaluate`` function that takes a
dict of parameter *arrays* (one entry per sample, all the same length, or
scalars) and returns a dict of output arrays plus a boolean ``feasible`` array.
``evaluate`` is always called on whole sample matrices (or large chunks of them),
never once per sample.

Registered models
-----------------
Every named composition of :data:`iongrad.models.membrane.COMPOSITIONS`: its steady
state (:func:`iongrad.models.steady_state.steady_state_of`), with the membrane's
parameters (``membrane.parameters``) as inputs. Among them:

``pump_leak``
    Full pump–leak steady state, ohmic leaks, fixed volume.
``pump_leak_ghk``
    The same with GHK leaks (permeabilities ``p_*_cm_s``).
``pump_leak_osmotic``
    Ohmic leaks, osmotic volume: the cell swells or shrinks until internal and
    external osmolarity match; a pump too weak to stop swelling has no steady
    state (``feasible=False``).
``pump_leak_hco3``, ``pump_leak_ghk_hco3``
    Four ions: an HCO3- leak (``g_hco3_nS`` / ``p_hco3_cm_s``) besides Na+, K+, Cl-.

A membrane model declared in a config's ``[model]`` table becomes a model of the
same kind (:func:`membrane_entry`, :func:`model_of`).
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

from iongrad.models.fxyd import na_set_point_mixed_mM
from iongrad.models.membrane import COMPOSITIONS, composition, membrane_of
from iongrad.models.quantities import get
from iongrad.models.quantities import unit_of as _registry_unit
from iongrad.models.steady_state import LEAKS_POSITIVE, steady_state_of

__all__ = [
    "MODELS",
    "ModelEntry",
    "Output",
    "Parameter",
    "get_model",
    "ishigami_analytic",
    "membrane_entry",
    "model_of",
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
        Coarse class of the domain (which distributions make sense); derived from
        ``low``/``high`` by :meth:`from_registry`. ``"fraction"`` is [0, 1].
    low, high : float
        Domain bounds in ``unit`` (from :mod:`iongrad.models.quantities`).
    low_inclusive, high_inclusive : bool
        Whether the bounds belong to the domain.
    """

    name: str
    unit: str
    default: float
    support: str = "real"
    low: float = -math.inf
    high: float = math.inf
    low_inclusive: bool = False
    high_inclusive: bool = False

    @classmethod
    def from_registry(cls, name: str, *, default: float | None = None,
                      positive: bool = False) -> Parameter:
        """The parameter ``name`` with the unit, domain and default of its registry entry.

        ``default`` overrides the registry default (a model-specific default);
        ``positive`` excludes a lower bound of 0 (a model rule, e.g. the Na+ and K+
        leaks of a leak model must be > 0 although the registry domain is >= 0).
        """
        q = get(name)
        low_inclusive = q.low_inclusive and not (positive and q.low == 0)
        if q.low == 0 and q.high == 1 and low_inclusive and q.high_inclusive:
            support = "fraction"
        elif q.low > 0 or (q.low == 0 and not low_inclusive):
            support = "positive"
        elif q.low == 0:
            support = "nonnegative"
        else:
            support = "real"
        value = q.default if default is None else default
        return cls(name, q.unit, float("nan") if value is None else float(value), support,
                   q.low, q.high, low_inclusive, q.high_inclusive)

    def contains(self, lo: float, hi: float | None = None) -> bool:
        """True if the closed interval ``[lo, hi]`` (or the value ``lo``) lies in the domain."""
        hi = lo if hi is None else hi
        lo_ok = lo >= self.low if self.low_inclusive else lo > self.low
        hi_ok = hi <= self.high if self.high_inclusive else hi < self.high
        return bool(lo_ok and hi_ok)

    def support_text(self) -> str:
        """Human-readable domain, for error messages (e.g. ``"> 0 and < 2000"``)."""
        parts = []
        if self.low > -math.inf:
            parts.append((">= " if self.low_inclusive else "> ") + f"{self.low:g}")
        if self.high < math.inf:
            parts.append(("<= " if self.high_inclusive else "< ") + f"{self.high:g}")
        return " and ".join(parts) if parts else "any real value"


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
# Steady state of a membrane model (a composition of mechanisms)
# --------------------------------------------------------------------------------------
def _steady_outputs(membrane) -> tuple[Output, ...]:
    """``v_rest_mV``, the intracellular concentration of every ion, the pump current
    (with the pump), ATP/s, O2/s, input resistance, the membrane's
    :meth:`~iongrad.models.membrane.Membrane.reported_outputs` (E_Cl, E_GABA, Ca_i, the
    NCX current, each mechanism's share of the ATP use), the volume (osmotic models) and
    ``feasible``."""
    names = ["v_rest_mV", *(f"{x}_i_mM" for x in membrane.ions)]
    if any(m.name == "na_k_pump" for m in membrane.mechanisms):
        names.append("pump_current_pA")
    names += ["atp_per_s", "o2_per_s", "r_in_MOhm"]
    # E_Cl, E_GABA, Ca_i in nM, the NCX current and who spends the ATP, where the cell has
    # them; the pump-leak cells keep their historical outputs
    names += list(membrane.reported_outputs())
    if membrane.volume == "osmotic":
        names.append("volume_pL")
    return (*(Output(n, _registry_unit(n)) for n in names), Output("feasible", "bool"))


def _steady_function(membrane, outputs: tuple[str, ...]):
    def function(p: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        with np.errstate(all="ignore"):
            res = steady_state_of(membrane, **p)
        return {k: res[k] for k in outputs}

    return function


def membrane_entry(membrane, description: str | None = None) -> ModelEntry:
    """The sensitivity model of a membrane model (:mod:`iongrad.models.membrane`).

    Parameters: every input of the membrane (``membrane.parameters``) with the unit,
    domain and default of its registry entry (the membrane's own default where it has
    one, :attr:`~iongrad.models.membrane.Membrane.default_values`); the Na+ and K+
    leaks are > 0 (they carry the pump's fluxes). Outputs: see :func:`_steady_outputs`. Evaluated by
    :func:`iongrad.models.steady_state.steady_state_of`.
    """
    outputs = _steady_outputs(membrane)
    own = membrane.default_values
    parameters = tuple(Parameter.from_registry(name, default=own.get(name),
                                               positive=name in LEAKS_POSITIVE)
                       for name in membrane.parameters)
    what = membrane.description or (f"{', '.join(m.name for m in membrane.mechanisms)}, "
                                    f"{membrane.volume} volume")
    return ModelEntry(name=membrane.name,
                      description=description or f"steady state of {what}",
                      parameters=parameters, outputs=outputs,
                      function=_steady_function(membrane, tuple(o.name for o in outputs)))


#: One-line descriptions of the named compositions (others use their own).
_DESCRIPTIONS = {
    "pump_leak": "pump-leak steady state, ohmic leaks (g_*_nS), fixed volume",
    "pump_leak_ghk": "pump-leak steady state, GHK leaks (p_*_cm_s), fixed volume",
    "pump_leak_osmotic": "pump-leak steady state, ohmic leaks, osmotic volume",
}


def _composition_entries() -> dict[str, ModelEntry]:
    return {name: membrane_entry(composition(name), _DESCRIPTIONS.get(name))
            for name in COMPOSITIONS}


# --------------------------------------------------------------------------------------
# FXYD set point
# --------------------------------------------------------------------------------------
_FXYD_PARAMETERS = (
    Parameter.from_registry("na_influx_mM_per_s"),
    Parameter.from_registry("v_max_mM_per_s"),
    Parameter.from_registry("k_unphos_mM"),
    Parameter.from_registry("k_phos_mM"),
    Parameter.from_registry("phi"),
    # model-specific default: the set-point example of the source chapter has n = 1
    Parameter.from_registry("hill_na", default=1.0),
)


def _fxyd_function(p: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
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
    **_composition_entries(),
    "fxyd_set_point": ModelEntry(
        name="fxyd_set_point",
        description="Na+ set point of a pump population with phosphorylated fraction phi",
        parameters=_FXYD_PARAMETERS,
        outputs=(Output("na_set_point_mM", _registry_unit("na_set_point_mM")),
                 Output("pump_load_fraction", _registry_unit("pump_load_fraction")),
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


def model_of(resolved: Mapping) -> ModelEntry:
    """The model of a resolved sensitivity config: the registered ``model``, or the
    membrane model its ``[model]`` table declares (``membrane``: ``composition``, or
    ``name``, ``mechanisms`` and ``volume``)."""
    spec = resolved.get("membrane")
    if spec is None:
        return get_model(resolved["model"])
    if spec.get("composition") is not None:
        return get_model(spec["composition"])
    return membrane_entry(membrane_of(spec))
