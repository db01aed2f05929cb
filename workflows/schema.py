"""The declared schema of every iongrad config, on top of the quantity registry.

Each config section is a pydantic model in strict mode with unknown keys forbidden
(``extra="forbid", strict=True``): a key has one declared type (no bool taken as a
number, no string parsed into a number, no array where a table belongs; a TOML
integer is accepted where a number is expected), every value is range-checked
(physical values against :mod:`iongrad.models.quantities`, sizes against the caps
below) and every table name is checked against the names valid for *this* config.
:func:`validate` turns any failure into one :class:`~iongrad.models.errors.ConfigError`
line::

    fit.toml: fixed.k_o_mM = true: expected a number in mM, got a boolean

The caps bound what a config can ask for (memory, run time); a real run never comes
close to them. They are module constants, listed in :data:`CAPS`.
"""

from __future__ import annotations

import contextlib
import difflib
import math
import re
from collections.abc import Iterator, Mapping
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticCustomError

from iongrad.infer.limits import SAMPLER_CAPS, SEED_LIMIT
from iongrad.models import quantities as qty
from iongrad.models.errors import ConfigError
from iongrad.models.membrane import COMPOSITIONS, mechanism_specs, membrane_of
from iongrad.models.steady_state import DEFAULT_PARAMS, membrane_for

__all__ = [
    "CAPS",
    "FitConfig",
    "ModelSection",
    "RundownFitConfig",
    "SensitivityConfig",
    "TomlConfig",
    "close_match",
    "format_validation_error",
    "named_source",
    "source_of",
    "total_evaluations",
    "validate",
]

# ======================================================================================
# Caps
# ======================================================================================
#: NUTS draws / tuning steps per chain, chains, worker processes, prior predictive draws
#: and seeds: stated once in :mod:`iongrad.infer.limits`.
MAX_DRAWS = SAMPLER_CAPS["draws"]
MAX_TUNE = SAMPLER_CAPS["tune"]
MAX_CHAINS = SAMPLER_CAPS["chains"]
MAX_CORES = SAMPLER_CAPS["cores"]
MAX_PRIOR_DRAWS = SAMPLER_CAPS["prior_draws"]
#: Sensitivity base sample size ``n`` and the convergence loop's ``max_n``.
MAX_SENS_N = 2**24
#: Model evaluations of one sensitivity run (largest design + fallback LHS); at
#: 10 inputs the largest design matrix alone is ~2.7 GB of float64.
MAX_EVALUATIONS = 2**25
#: Rows per vectorised model call (each row holds a few dozen float64 intermediates:
#: 10^6 rows are ~0.5 GB; the default 50,000 already saturates vectorisation).
MAX_CHUNK_SIZE = 1_000_000
#: Fallback LHS size and minimum feasible rows.
MAX_FALLBACK_N = 2**24
#: Bootstrap resamples of the SALib analyzers.
MAX_NUM_RESAMPLES = 100_000
#: Morris grid levels (even), eFAST interference factor M, PAWN slices.
MAX_NUM_LEVELS = 100
MAX_EFAST_M = 64
MAX_PAWN_SLICES = 1_000
#: Log-normal prior SD in log units (e^10 is a factor of 22,000).
MAX_SD_LOG = 10.0
#: Median cell-to-cell SD of log parameters.
MAX_CELL_SD_SCALE = 10.0
#: A TOML config file: size and nesting depth of tables and arrays.
MAX_CONFIG_BYTES = 1 << 20
MAX_CONFIG_DEPTH = 32

CAPS: dict[str, int | float] = {
    "sampler.draws": MAX_DRAWS, "sampler.tune": MAX_TUNE, "sampler.chains": MAX_CHAINS,
    "sampler.cores": MAX_CORES, "sampler.prior_draws": MAX_PRIOR_DRAWS,
    "seed (exclusive)": SEED_LIMIT, "sensitivity.n": MAX_SENS_N,
    "sensitivity.max_n": MAX_SENS_N, "sensitivity evaluations": MAX_EVALUATIONS,
    "sensitivity.chunk_size": MAX_CHUNK_SIZE, "sensitivity.fallback_n": MAX_FALLBACK_N,
    "sensitivity.min_feasible_samples": MAX_FALLBACK_N,
    "sensitivity.num_resamples": MAX_NUM_RESAMPLES,
    "sensitivity.num_levels": MAX_NUM_LEVELS, "sensitivity.efast_m": MAX_EFAST_M,
    "sensitivity.pawn_slices": MAX_PAWN_SLICES, "priors.*.sd_log": MAX_SD_LOG,
    "fit.cell_sd_scale": MAX_CELL_SD_SCALE, "config file bytes": MAX_CONFIG_BYTES,
    "config nesting depth": MAX_CONFIG_DEPTH,
}


# ======================================================================================
# Source file naming
# ======================================================================================
class TomlConfig(dict):
    """A parsed config (a plain dict) that remembers the file it came from."""

    source: str | None = None


def source_of(raw: Any) -> str | None:
    """The file a parsed config came from (``None`` for a dict built in Python)."""
    return getattr(raw, "source", None)


@contextlib.contextmanager
def named_source(source: str | None) -> Iterator[None]:
    """Prefix the file name to any ConfigError raised inside (once)."""
    try:
        yield
    except ConfigError as exc:
        msg = str(exc)
        if source and not msg.startswith(source):
            raise ConfigError(f"{source}: {msg}") from None
        raise


# ======================================================================================
# Messages
# ======================================================================================
_NO_VALUE = object()


def close_match(name: Any, valid) -> str:
    """``"; did you mean 'x'?"`` for the closest valid name, or ``""``."""
    near = difflib.get_close_matches(str(name), [str(v) for v in valid], n=1, cutoff=0.6)
    return f"; did you mean {near[0]!r}?" if near else ""


def _names(valid) -> str:
    return ", ".join(map(str, valid))


def show(value: Any) -> str:
    """A value as TOML would spell it, shortened to 60 characters."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, float):
        text = ("nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
                if math.isinf(value) else repr(value))
    elif isinstance(value, str):
        text = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    elif isinstance(value, list | tuple):
        text = "[" + ", ".join(show(v) for v in value) + "]"
    elif isinstance(value, Mapping):
        text = "{" + ", ".join(f"{k} = {show(v)}" for k, v in value.items()) + "}"
    else:
        text = repr(value)
    text = " ".join(text.split())
    return text if len(text) <= 60 else text[:57] + "..."


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "an array"
    if isinstance(value, Mapping):
        return "a table"
    return type(value).__name__


def fail(message: str, *, key: Any = None, value: Any = _NO_VALUE) -> None:
    """Raise a validation error with ``message`` (the key and value it concerns)."""
    ctx: dict[str, Any] = {"message": message}
    if key is not None:
        ctx["key"] = str(key)
    if value is not _NO_VALUE:
        ctx["value"] = show(value)
    raise PydanticCustomError("iongrad", "{message}", ctx)


def _unit_text(loc: tuple) -> str:
    """`` in <unit>`` when the key at ``loc`` holds a registry quantity in its own unit."""
    parts = [p for p in loc if isinstance(p, str)]
    name = None
    if parts and parts[-1] in qty.QUANTITIES:
        name = parts[-1]  # fixed.k_o_mM, reference.k_o_mM
    elif len(parts) >= 2 and parts[-1] in ("bounds", "mean", "median"):
        name = parts[-2] if parts[-2] in qty.QUANTITIES else None  # inputs.k_o_mM.bounds
    unit = qty.unit_of(name) if name else ""
    return f" in {unit}" if unit and unit != "dimensionless" else ""


def _expected(err: dict) -> str:
    t = err["type"]
    ctx = err.get("ctx") or {}
    given = err.get("input")
    got = f", got {_kind(given)}"
    if t == "float_type":
        return f"expected a number{_unit_text(err['loc'])}{got}"
    if t == "int_type":
        return f"expected an integer{got}"
    if t == "finite_number":
        return f"expected a finite number{_unit_text(err['loc'])}"
    if t == "string_type":
        return f"expected a string{got}"
    if t == "bool_type":
        return f"expected true or false{got}"
    if t == "list_type":
        return f"expected an array{got}"
    if t in ("dict_type", "model_type", "model_attributes_type"):
        return f"expected a table{got}"
    if t == "literal_error":
        options = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        return f"expected one of {_names(options)}{close_match(given, options)}"
    return err["msg"]


def _loc_text(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def format_validation_error(exc: ValidationError, source: str | None = None) -> str:
    """One line for a pydantic ``ValidationError``.

    Parameters
    ----------
    exc : pydantic.ValidationError
        The failure; its first error is reported, the count of the others appended.
    source : str, optional
        The config file, put in front.

    Returns
    -------
    str
        ``"<file>: <section.key> = <value as in TOML>: <what is expected>"`` (the value
        is left out for missing and unknown keys).
    """
    errors = exc.errors(include_url=False)
    err = errors[0]
    loc = tuple(err["loc"])
    ctx = err.get("ctx") or {}
    if err["type"] == "iongrad":
        if "key" in ctx:
            loc = (*loc, ctx["key"])
        where = _loc_text(loc) or "config"
        given = err.get("input")
        value = (f" = {ctx['value']}" if "value" in ctx else f" = {show(given)}"
                 if "key" not in ctx and not isinstance(given, Mapping | BaseModel) else "")
        text = f"{where}{value}: {ctx['message']}"
    elif err["type"] == "missing":
        section = _loc_text(loc[:-1]) or "config"
        what = "table" if len(loc) == 1 else "key"
        text = f"{section}: missing required {what} {loc[-1]!r}"
    elif err["type"] == "extra_forbidden":
        text = f"{_loc_text(loc)}: unknown key"
    else:
        text = f"{_loc_text(loc) or 'config'} = {show(err.get('input'))}: {_expected(err)}"
    if len(errors) > 1:
        text += f" (and {len(errors) - 1} more problem(s))"
    return f"{source}: {text}" if source else text


def validate(model: type[BaseModel], raw: Any, source: str | None = None) -> BaseModel:
    """Validate a parsed config against one of the schema models.

    Parameters
    ----------
    model : type
        :class:`FitConfig`, :class:`RundownFitConfig` or :class:`SensitivityConfig`
        (or any :class:`Section`).
    raw : Any
        The parsed TOML.
    source : str, optional
        File named in the message; default: the file ``raw`` was read from (see
        :func:`source_of`); ``""`` names none.

    Returns
    -------
    pydantic.BaseModel
        The validated model (defaults filled in).

    Raises
    ------
    ConfigError
        One line naming the file, the section.key, the value and what is expected.
    """
    if source is None:
        source = source_of(raw)
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, source)) from None
    except RecursionError:
        raise ConfigError(f"{source + ': ' if source else ''}config is nested too deeply "
                          f"(more than {MAX_CONFIG_DEPTH} levels)") from None


# ======================================================================================
# Field types
# ======================================================================================
def _int_range(lo: int, hi: int, what: str = "") -> AfterValidator:
    def check(v: int) -> int:
        if not lo <= v <= hi:
            fail(f"expected an integer >= {lo} and <= {hi}{what}")
        return v
    return AfterValidator(check)


def _float_range(lo: float, hi: float, *, lo_in: bool = False, hi_in: bool = True,
                 unit: str = "") -> AfterValidator:
    def check(v: float) -> float:
        ok = (v >= lo if lo_in else v > lo) and (v <= hi if hi_in else v < hi)
        if not ok:
            text = []
            if lo > -math.inf:
                text.append((">= " if lo_in else "> ") + f"{lo:g}")
            if hi < math.inf:
                text.append(("<= " if hi_in else "< ") + f"{hi:g}")
            fail(f"expected a number {' and '.join(text)}{' ' + unit if unit else ''}")
        return v
    return AfterValidator(check)


def _finite(v: float) -> float:
    if not math.isfinite(v):
        fail("expected a finite number")
    return v


def _unique(v: list[str]) -> list[str]:
    dupes = sorted({x for x in v if v.count(x) > 1})
    if dupes:
        fail(f"duplicate name(s) {_names(dupes)}")
    return v


def _nonempty(v: list) -> list:
    if not v:
        fail("expected at least one name")
    return v


Finite = Annotated[float, AfterValidator(_finite)]
Positive = Annotated[float, AfterValidator(_finite), _float_range(0, math.inf, hi_in=False)]
Seed = Annotated[int, _int_range(0, SEED_LIMIT - 1)]
NonEmptyNames = Annotated[list[str], AfterValidator(_nonempty), AfterValidator(_unique)]


def _count(cap: int, lo: int = 1):
    return Annotated[int, _int_range(lo, cap)]


def _scalar(v: Any) -> Any:
    if not isinstance(v, str | int | float | bool):
        fail(f"expected a string, number or boolean, got {_kind(v)}")
    return v


# ======================================================================================
# Sections
# ======================================================================================
class Section(BaseModel):
    """A config table: strict types, unknown keys named with the allowed ones."""

    model_config = ConfigDict(extra="forbid", strict=True)
    #: What a key of this table is called in "unknown ..." messages.
    label: ClassVar[str] = "key"

    @classmethod
    def allowed_keys(cls, data: Mapping) -> tuple[str, ...]:
        """Keys allowed in ``data`` (all fields by default)."""
        return tuple(cls.model_fields)

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            allowed = cls.allowed_keys(data)
            for key in data:
                if key not in allowed:
                    fail(f"unknown {cls.label} {key!r}{close_match(key, allowed)} "
                         f"(allowed: {_names(allowed)})", key=key)
        return data


# ---- fit ---------------------------------------------------------------------------------
class SamplerSection(Section):
    """``[sampler]`` of a steady-state fit (NUTS, prior and posterior predictive)."""

    seed: Seed
    draws: _count(MAX_DRAWS) = 500
    tune: _count(MAX_TUNE) = 500
    chains: _count(MAX_CHAINS) = 2
    cores: _count(MAX_CORES) = 1
    target_accept: Annotated[float, AfterValidator(_finite),
                             _float_range(0.5, 1.0, lo_in=True, hi_in=False)] = 0.9
    prior_draws: _count(MAX_PRIOR_DRAWS) = 500
    init: Literal["jitter+adapt_diag", "adapt_diag", "jitter+adapt_full", "adapt_full"] = (
        "jitter+adapt_diag")
    #: "pymc": PyMC's NUTS; "nutpie": nutpie's NUTS on the model compiled by PyTensor's
    #: numba backend (the steady-state Op has a generated numba implementation), chains
    #: in threads (optional dependency: pip install 'iongrad[nutpie]')
    backend: Literal["pymc", "nutpie"] = "pymc"


class RundownSamplerSection(SamplerSection):
    """``[sampler]`` of a run-down fit (no ``init``; PyMC's NUTS only: the run-down Op
    has no numba implementation yet)."""

    prior_draws: _count(MAX_PRIOR_DRAWS) = 200

    @classmethod
    def allowed_keys(cls, data: Mapping) -> tuple[str, ...]:
        return tuple(k for k in cls.model_fields if k not in ("init", "backend"))


class PriorSection(Section):
    """``[priors.<parameter>]``: log-normal median (parameter's unit) and SD (log units)."""

    median: Positive | None = None
    sd_log: Annotated[float, AfterValidator(_finite), _float_range(0, MAX_SD_LOG)] | None = None


def _sigma(v: Any) -> Any:
    if isinstance(v, str):
        if v not in ("estimate", "known"):
            hint = close_match(v, ("estimate", "known"))
            fail(f"expected 'estimate', 'known' or a number > 0{hint}")
        return v
    if isinstance(v, bool) or not isinstance(v, int | float):
        fail(f"expected 'estimate', 'known' or a number > 0, got {_kind(v)}")
    if not (math.isfinite(v) and v > 0):
        fail("expected 'estimate', 'known' or a finite number > 0")
    return v


class NoiseSection(Section):
    """``[noise.<observable>]`` of a steady-state fit."""

    family: Literal["normal", "student_t"] = "normal"
    scale: Literal["linear", "log"] | None = None
    sigma: Annotated[Any, AfterValidator(_sigma)] = "estimate"
    prior_sigma: Positive | None = None
    nu: Positive | None = None

    @model_validator(mode="after")
    def _combinations(self) -> NoiseSection:
        if self.nu is not None and self.family != "student_t":
            fail("nu (Student-t degrees of freedom) needs family = 'student_t'", key="nu",
                 value=self.nu)
        if self.prior_sigma is not None and self.sigma != "estimate":
            fail("prior_sigma is the prior scale of an estimated sigma; it needs "
                 f"sigma = 'estimate', not {show(self.sigma)}", key="prior_sigma",
                 value=self.prior_sigma)
        if self.scale == "log" and self.family != "normal":
            fail("log scale supports family 'normal' only", key="family", value=self.family)
        return self


class RundownNoiseSection(Section):
    """``[noise.<observable>]`` of a run-down fit: HalfNormal scale of the noise SD."""

    prior_sigma: Positive | None = None


def _pooling(v: Any) -> Any:
    from iongrad.infer.model import POOLING

    if isinstance(v, str):
        if v not in POOLING:
            fail(f"expected one of {_names(POOLING)}{close_match(v, POOLING)}")
        return v
    if not isinstance(v, Mapping):
        fail(f"expected one of {_names(POOLING)} or a table parameter = pooling, "
             f"got {_kind(v)}")
    for key, val in v.items():
        if not isinstance(val, str) or val not in POOLING:
            fail(f"expected one of {_names(POOLING)}{close_match(val, POOLING)}", key=key,
                 value=val)
    return v


# ---- membrane model ----------------------------------------------------------------------
_MODEL_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")


class ModelSection(Section):
    """``[model]``: the membrane model of a steady-state fit or a sensitivity run.

    Either ``composition``, a name of :data:`iongrad.models.membrane.COMPOSITIONS`, or
    a composition declared as data: ``name``, ``mechanisms`` (specs of
    :func:`iongrad.models.membrane.mechanism_specs`) and ``volume``.
    """

    label: ClassVar[str] = "key in [model]"
    composition: str | None = None
    name: str | None = None
    mechanisms: list[str] | None = None
    volume: Literal["fixed", "osmotic"] | None = None

    @model_validator(mode="after")
    def _one_way(self) -> ModelSection:
        declared = [k for k in ("name", "mechanisms", "volume") if getattr(self, k) is not None]
        if self.composition is not None:
            if declared:
                fail(f"give either composition (a named composition) or name/mechanisms/"
                     f"volume (a composition declared as data), not both; found "
                     f"{_names(declared)} with composition = {show(self.composition)}",
                     key=declared[0], value=getattr(self, declared[0]))
            if self.composition not in COMPOSITIONS:
                fail(f"unknown composition{close_match(self.composition, COMPOSITIONS)} "
                     f"(known: {_names(COMPOSITIONS)})", key="composition",
                     value=self.composition)
            return self
        if self.mechanisms is None:
            fail("expected composition = \"<name>\" (one of "
                 f"{_names(COMPOSITIONS)}) or mechanisms = [...] (a composition declared "
                 "as data)")
        specs = mechanism_specs()
        if not self.mechanisms:
            fail(f"expected at least one mechanism (valid: {_names(specs)})",
                 key="mechanisms", value=self.mechanisms)
        for m in self.mechanisms:
            if m not in specs:
                fail(f"unknown mechanism {m!r}{close_match(m, specs)} (valid: "
                     f"{_names(specs)})", key="mechanisms", value=self.mechanisms)
        if self.name is None:
            fail("missing required key 'name' (the name of the declared composition)")
        if not _MODEL_NAME.fullmatch(self.name):
            fail("expected a name of letters, digits and '_' starting with a letter "
                 "(at most 64 characters)", key="name", value=self.name)
        from iongrad.workflows.registry import MODELS

        if self.name in MODELS:
            fail(f"{self.name!r} is the name of a registered model; use composition = "
                 f"{show(self.name)} for it, or another name", key="name", value=self.name)
        try:
            self.membrane()
        except ValueError as exc:
            fail(str(exc), key="mechanisms", value=self.mechanisms)
        return self

    def membrane(self):
        """The :class:`~iongrad.models.membrane.Membrane` this table chooses."""
        return membrane_of(self.resolved())

    def resolved(self) -> dict[str, Any]:
        """The table with its defaults filled in (what resolved configs hold)."""
        if self.composition is not None:
            return {"composition": self.composition}
        return {"name": self.name, "mechanisms": list(self.mechanisms),
                "volume": self.volume or "fixed"}


DEFAULT_FIT_PARAMETERS = ["g_na_nS", "g_k_nS", "pump_density_per_um2"]


class FitSection(Section):
    """``[fit]`` of a pump–leak steady-state fit."""

    label: ClassVar[str] = "key in [fit]"
    dataset: str
    sidecar: str | None = None
    parameters: NonEmptyNames = Field(default_factory=lambda: list(DEFAULT_FIT_PARAMETERS))
    observables: NonEmptyNames | None = None
    pooling: Annotated[Any, AfterValidator(_pooling)] = "partial"
    parameterization: Literal["centered", "noncentered"] = "centered"
    leak: Literal["ohmic", "ghk"] = "ohmic"
    volume: Literal["fixed", "osmotic"] = "fixed"
    cell_sd_scale: Annotated[float, AfterValidator(_finite),
                             _float_range(0, MAX_CELL_SD_SCALE)] = 0.2
    select: dict[str, Annotated[Any, AfterValidator(_scalar)]] = {}

    @model_validator(mode="before")
    @classmethod
    def _model_key(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and "model" in data:
            fail("expected 'rundown' (leave model out for the pump-leak steady state)",
                 key="model",
                 value=data["model"])
        return data

    @model_validator(mode="after")
    def _names_exist(self) -> FitSection:
        from iongrad.infer.model import NOISE_DEFAULTS
        from iongrad.infer.priors import FITTABLE

        for name in self.parameters:
            if name not in FITTABLE:
                fail(f"{name!r} cannot be fitted{close_match(name, FITTABLE)} "
                     f"(fittable: {_names(sorted(FITTABLE))})", key="parameters",
                     value=self.parameters)
        for name in self.observables or ():
            if name not in NOISE_DEFAULTS:
                fail(f"{name!r} is not predicted by the steady-state model"
                     f"{close_match(name, NOISE_DEFAULTS)} (known: "
                     f"{_names(sorted(NOISE_DEFAULTS))})", key="observables",
                     value=self.observables)
        if isinstance(self.pooling, Mapping):
            for key in self.pooling:
                if key != "default" and key not in self.parameters:
                    fail(f"{key!r} is not a fitted parameter{close_match(key, self.parameters)}"
                         f" (fitted: {_names(self.parameters)}; or 'default')",
                         key=f"pooling.{key}", value=self.pooling[key])
        return self


def check_registry_values(table: Mapping[str, Any], valid, *,
                          what: str = "parameter", taken=()) -> None:
    """Names in ``valid`` (with a close match), values inside the registry domain."""
    for name, value in table.items():
        if name not in valid:
            fail(f"unknown {what} {name!r}{close_match(name, valid)} "
                 f"(valid: {_names(sorted(valid))})",
                 key=name)
        if name in taken:
            fail(f"{name!r} is also a fitted parameter; fix it or fit it", key=name,
                 value=value)
        if name in qty.QUANTITIES and qty.violation(name, value):
            hint = qty.hint_for(name, value)
            fail(f"expected {qty.domain_text(name)}" + (f" ({hint})" if hint else ""),
                 key=name, value=value)


def _check_priors(priors: Mapping[str, PriorSection], fitted) -> None:
    for name, pr in priors.items():
        if name not in fitted:
            fail("not a fitted parameter of this fit"
                 f"{close_match(name, fitted)} (fitted: {_names(fitted)})", key=name)
        if pr.median is not None and name in qty.QUANTITIES:
            if qty.violation(name, pr.median):
                fail(f"expected {qty.domain_text(name)}", key=f"{name}.median",
                     value=pr.median)


def _check_noise_names(noise: Mapping, observables, predicted, model: str) -> None:
    valid = list(observables) if observables else sorted(predicted)
    for name in noise:
        if name not in valid:
            which = "an observable of this fit" if observables else (
                f"an observable the {model} model predicts")
            fail(f"not {which}{close_match(name, valid)} "
                 f"(valid: {_names(valid)})", key=name)


Table = dict[str, Finite]


class FitConfig(Section):
    """A steady-state fit config (``iongrad fit``)."""

    label: ClassVar[str] = "section or top-level key"
    fit: FitSection
    fixed: Table = {}
    priors: dict[str, PriorSection] = {}
    noise: dict[str, NoiseSection] = {}
    reference: Table = {"k_o_mM": 4.0}
    sampler: SamplerSection
    model: ModelSection | None = None
    kind: Literal["fit"] = "fit"
    description: str = ""

    def membrane(self):
        """The membrane model of this fit: ``[model]``, or the composition that
        ``[fit] leak``/``volume`` name (their shorthand)."""
        if self.model is not None:
            return self.model.membrane()
        return membrane_for(self.fit.leak, self.fit.volume)

    @model_validator(mode="after")
    def _against_registry(self) -> FitConfig:
        from iongrad.infer.model import NOISE_DEFAULTS, ROW_CONDITIONS

        if self.model is not None:
            given = [k for k in ("leak", "volume") if k in self.fit.model_fields_set]
            if given:
                fail(f"[model] and [fit] {given[0]} both choose the membrane model; give "
                     f"one of them ([fit] leak/volume are shorthand for [model] "
                     f"composition)", key=f"fit.{given[0]}", value=getattr(self.fit, given[0]))
        membrane = self.membrane()
        if "na_k_pump" not in [m.name for m in membrane.mechanisms]:
            fail(f"a steady-state fit needs the Na+/K+ pump: add 'na_k_pump' to "
                 f"mechanisms of {membrane.name!r}", key="model.mechanisms",
                 value=self.model.mechanisms if self.model else None)
        params = membrane.parameters
        fitted = self.fit.parameters
        for name in fitted:
            if name not in params:
                fail(f"{name!r} is not a parameter of the membrane model {membrane.name!r}"
                     f"{close_match(name, params)} (its parameters: {_names(params)})",
                     key="fit.parameters", value=fitted)
        _wrap("fixed", check_registry_values, self.fixed, params, taken=fitted)
        _wrap("reference", check_registry_values, self.reference,
              ROW_CONDITIONS, what="condition")
        _wrap("priors", _check_priors, self.priors, fitted)
        _wrap("noise", _check_noise_names, self.noise, self.fit.observables,
              NOISE_DEFAULTS, "steady-state")
        return self


def _wrap(section: str, func, *args, **kwargs) -> None:
    """Run a check whose errors name keys inside ``section``."""
    try:
        func(*args, **kwargs)
    except PydanticCustomError as exc:
        ctx = dict(exc.context or {})
        ctx["key"] = f"{section}.{ctx['key']}" if "key" in ctx else section
        raise PydanticCustomError("iongrad", "{message}", ctx) from None


# ---- run-down fit ------------------------------------------------------------------------
class RundownFitSection(Section):
    """``[fit]`` of a run-down fit (``model = "rundown"``)."""

    label: ClassVar[str] = "key in [fit] (run-down model)"
    model: Literal["rundown"]
    dataset: str
    sidecar: str | None = None
    parameters: NonEmptyNames | None = None
    observables: NonEmptyNames | None = None
    mode: Literal["anoxia", "ouabain"] = "anoxia"
    method: Literal["sensitivity_op", "pm_ode"] = "sensitivity_op"
    ode_method: Literal["odeint", "LSODA", "BDF"] = "odeint"
    rtol: Annotated[float, AfterValidator(_finite), _float_range(0, 0.1)] = 1e-7
    atol: Annotated[float, AfterValidator(_finite), _float_range(0, 1.0)] = 1e-8
    threshold_mV: Annotated[float, AfterValidator(_finite),
                            _float_range(-200, 200, hi_in=False, unit="mV")] = -40.0
    end_time_s: Annotated[float, AfterValidator(_finite),
                          _float_range(0, 1e7, unit="s")] = 1800.0
    onset_column: str = "onset_s"
    k_o_column: str = "k_o_obs_mM"

    @model_validator(mode="after")
    def _names_exist(self) -> RundownFitSection:
        from iongrad.infer.rundown_model import OBSERVABLES

        for name in self.observables or ():
            if name not in OBSERVABLES:
                fail(f"{name!r} is not predicted by the run-down model"
                     f"{close_match(name, OBSERVABLES)} (known: {_names(sorted(OBSERVABLES))})",
                     key="observables", value=self.observables)
        return self


class RundownFitConfig(Section):
    """A run-down fit config (``iongrad fit`` with ``[fit] model = "rundown"``)."""

    label: ClassVar[str] = "section or top-level key"

    fit: RundownFitSection
    fixed: Table = {}
    priors: dict[str, PriorSection] = {}
    noise: dict[str, RundownNoiseSection] = {}
    sampler: RundownSamplerSection
    model: ModelSection | None = None
    kind: Literal["fit"] = "fit"
    description: str = ""

    @model_validator(mode="after")
    def _against_registry(self) -> RundownFitConfig:
        from iongrad.infer.rundown_model import OBSERVABLES, RundownSpec, fittable
        from iongrad.models.rundown import RUNDOWN_DEFAULTS

        membrane = None if self.model is None else self.model.membrane()
        if membrane is not None and membrane.volume != "fixed":
            fail(f"the run-down model needs a fixed-volume membrane; {membrane.name!r} has "
                 f"volume = {membrane.volume!r}", key="model")
        if membrane is not None and self.fit.method == "pm_ode":
            fail("method = 'pm_ode' (the baseline) runs the default pump-leak cell only; "
                 "leave out [model] or use 'sensitivity_op'", key="fit.method")
        priors = fittable(membrane)
        where = "" if membrane is None else f" of {membrane.name!r}"
        for name in self.fit.parameters or ():
            if name not in priors:
                fail(f"{name!r} cannot be fitted in the run-down model{where}"
                     f"{close_match(name, priors)} (fittable: {_names(sorted(priors))})",
                     key="fit.parameters", value=self.fit.parameters)
        fitted = self.fit.parameters or list(RundownSpec().parameters)
        params = DEFAULT_PARAMS if membrane is None else membrane.parameters
        known = sorted((set(params) | set(RUNDOWN_DEFAULTS)) - {"onset_s"})
        _wrap("fixed", check_registry_values, self.fixed, known, taken=fitted)
        _wrap("priors", _check_priors, self.priors, fitted)
        _wrap("noise", _check_noise_names, self.noise, self.fit.observables, OBSERVABLES,
              "run-down")
        return self


# ---- sensitivity -------------------------------------------------------------------------
METHODS = ("sobol", "morris", "efast", "delta", "pawn")
DISTS = ("uniform", "loguniform", "normal", "lognormal", "truncnorm")
DIST_KEYS = {
    "uniform": ("dist", "bounds"),
    "loguniform": ("dist", "bounds"),
    "normal": ("dist", "mean", "sd"),
    "lognormal": ("dist", "log_mean", "log_sd"),
    "truncnorm": ("dist", "mean", "sd", "bounds"),
}
DEFAULT_N = {"sobol": 1024, "morris": 50, "efast": 1000, "delta": 2048, "pawn": 2048}


def _even(v: int) -> int:
    if v % 2:
        fail("expected an even number of Morris levels")
    return v


def _bounds(v: list) -> list:
    if len(v) != 2:
        fail(f"expected [lower, upper] (two numbers), got {len(v)} value(s)")
    lo, hi = v
    if not (math.isfinite(lo) and math.isfinite(hi)):
        fail("bounds must be finite")
    if lo >= hi:
        fail(f"lower bound {lo!r} must be < upper bound {hi!r}")
    return [float(lo), float(hi)]


class SensitivitySection(Section):
    """``[sensitivity]``: model, SALib method, sizes and options."""

    label: ClassVar[str] = "key in [sensitivity]"
    model: str | None = None
    method: Literal["sobol", "morris", "efast", "delta", "pawn"] = "sobol"
    n: _count(MAX_SENS_N) | None = None
    seed: Seed
    outputs: NonEmptyNames | None = None
    second_order: bool = False
    chunk_size: _count(MAX_CHUNK_SIZE) = 50_000
    num_resamples: _count(MAX_NUM_RESAMPLES) = 100
    conf_level: Annotated[float, AfterValidator(_finite), _float_range(0, 1, hi_in=False)] = 0.95
    target_ci_halfwidth: Annotated[float, AfterValidator(_finite),
                                   _float_range(0, 1)] | None = None
    max_n: _count(MAX_SENS_N) | None = None
    failure_handling: Literal["feasible_region", "indicator"] = "feasible_region"
    fallback_n: _count(MAX_FALLBACK_N) = 2048
    min_feasible_samples: _count(MAX_FALLBACK_N) = 200
    num_levels: Annotated[int, _int_range(2, MAX_NUM_LEVELS), AfterValidator(_even)] = 4
    efast_m: _count(MAX_EFAST_M) = 4
    pawn_slices: _count(MAX_PAWN_SLICES, lo=2) = 10
    description: str = ""

    @property
    def n_effective(self) -> int:
        """``n``, or the method's default."""
        return self.n if self.n is not None else DEFAULT_N[self.method]

    @property
    def max_n_effective(self) -> int | None:
        """``max_n`` of the convergence loop (default 8 n), ``None`` without one."""
        if self.target_ci_halfwidth is None:
            return None
        return self.max_n if self.max_n is not None else min(8 * self.n_effective, MAX_SENS_N)

    @model_validator(mode="before")
    @classmethod
    def _seed_first(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and "seed" not in data:
            fail("missing required key 'seed' (an integer >= 0; 0 is valid)")
        return data

    @model_validator(mode="after")
    def _combinations(self) -> SensitivitySection:
        from iongrad.workflows.registry import MODELS

        if self.model is not None and self.model not in MODELS:
            fail(f"unknown model {self.model!r}{close_match(self.model, MODELS)} (available: "
                 f"{_names(sorted(MODELS))})", key="model", value=self.model)
        n, m = self.n_effective, self.method
        if m == "sobol" and n & (n - 1):
            fail("Sobol' designs need a power of 2", key="n", value=n)
        if m == "efast" and n <= 4 * self.efast_m**2:
            fail(f"eFAST needs n > 4 M^2 = {4 * self.efast_m**2} (efast_m = {self.efast_m})",
                 key="n", value=n)
        if m == "morris" and n < 2:
            fail("Morris needs n >= 2 trajectories", key="n", value=n)
        if m in ("delta", "pawn") and n < 100:
            fail(f"{m} needs n >= 100 samples", key="n", value=n)
        if self.second_order and m != "sobol":
            fail(f"second-order indices exist for method 'sobol' only, not {m!r}",
                 key="second_order", value=True)
        if self.target_ci_halfwidth is not None and m not in ("sobol", "efast"):
            fail(f"only for 'sobol' or 'efast', not {m!r}", key="target_ci_halfwidth",
                 value=self.target_ci_halfwidth)
        if self.max_n is not None:
            if self.target_ci_halfwidth is None:
                fail("only meaningful with target_ci_halfwidth", key="max_n",
                     value=self.max_n)
            if self.max_n < n:
                fail(f"must be >= n = {n}", key="max_n", value=self.max_n)
        if m == "pawn" and self.pawn_slices > n:
            fail(f"more PAWN slices than samples (n = {n})", key="pawn_slices",
                 value=self.pawn_slices)
        structured = m in ("sobol", "morris", "efast")
        if structured and self.failure_handling == "feasible_region":
            if self.pawn_slices > self.fallback_n:
                fail(f"more PAWN slices than fallback samples (fallback_n = "
                     f"{self.fallback_n})", key="pawn_slices", value=self.pawn_slices)
            if self.min_feasible_samples > self.fallback_n:
                fail(f"more than the fallback sample holds (fallback_n = {self.fallback_n}); "
                     "every output with a failure would be skipped",
                     key="min_feasible_samples", value=self.min_feasible_samples)
        if not structured and self.min_feasible_samples > n:
            fail(f"more than the design holds (n = {n}); every output with a failure "
                 "would be skipped", key="min_feasible_samples",
                 value=self.min_feasible_samples)
        return self


class InputSection(Section):
    """``[inputs.<parameter>]``: a distribution and its parameters."""

    label: ClassVar[str] = "key for this distribution"
    dist: Literal["uniform", "loguniform", "normal", "lognormal", "truncnorm"] = "uniform"
    bounds: Annotated[list[float], AfterValidator(_bounds)] | None = None
    mean: Finite | None = None
    sd: Positive | None = None
    log_mean: Finite | None = None
    log_sd: Positive | None = None

    @classmethod
    def allowed_keys(cls, data: Mapping) -> tuple[str, ...]:
        dist = data.get("dist", "uniform")
        return DIST_KEYS.get(dist, tuple(cls.model_fields)) if isinstance(dist, str) else (
            tuple(cls.model_fields))

    @model_validator(mode="after")
    def _required(self) -> InputSection:
        for key in DIST_KEYS[self.dist][1:]:
            if getattr(self, key) is None:
                extra = " ([lower, upper])" if key == "bounds" else ""
                fail(f"missing required key {key!r}{extra} for dist = {self.dist!r}")
        if self.dist == "loguniform" and self.bounds[0] <= 0:
            fail("log-uniform needs a lower bound > 0", key="bounds", value=self.bounds)
        return self


def _cell(v: Any) -> Any:
    if isinstance(v, bool) or not isinstance(v, int | str):
        fail(f"expected 'mean', a cell index or a cell label, got {_kind(v)}")
    if isinstance(v, int) and v < 0:
        fail("expected a cell index >= 0")
    return v


class PosteriorSection(Section):
    """``[posterior]``: inputs drawn from a fit's posterior."""

    label: ClassVar[str] = "key in [posterior]"
    path: str
    variables: NonEmptyNames
    cell: Annotated[Any, AfterValidator(_cell)] = "mean"
    #: also analyse the joint posterior draws (Shapley effects, given-data indices)
    joint: bool = True
    #: joint draws used (evenly thinned when the posterior has more)
    joint_n: Annotated[int, Field(ge=50, le=100_000)] = 4000
    #: indices computed on the joint draws; "delta" (Borgonovo, with bootstrap) costs
    #: ~20-50 s per output at 4000 draws and is not computed unless listed
    joint_methods: list[Literal["shapley", "given_data", "pawn", "delta"]] = [
        "shapley", "given_data", "pawn"]


def total_evaluations(method: str, n: int, d: int, *, second_order: bool = False) -> int:
    """Rows of the SALib design of ``method`` for ``d`` inputs and base size ``n``."""
    if method == "sobol":
        return n * (2 * d + 2 if second_order else d + 2)
    if method == "morris":
        return n * (d + 1)
    if method == "efast":
        return n * d
    return n


class SensitivityConfig(Section):
    """A sensitivity config (``iongrad sensitivity``)."""

    label: ClassVar[str] = "section"
    sensitivity: SensitivitySection
    fixed: Table = {}
    inputs: dict[str, InputSection] = {}
    posterior: PosteriorSection | None = None
    model: ModelSection | None = None

    def entry(self):
        """The :class:`~iongrad.workflows.registry.ModelEntry` of this run: the
        registered ``[sensitivity] model``, or the membrane model of ``[model]``."""
        from iongrad.workflows.registry import MODELS, membrane_entry

        if self.model is None:
            return MODELS[self.sensitivity.model]
        if self.model.composition is not None:
            return MODELS[self.model.composition]
        return membrane_entry(self.model.membrane())

    @property
    def model_name(self) -> str:
        """The name of the model (registered, or of the ``[model]`` composition)."""
        return self.entry().name

    @model_validator(mode="after")
    def _against_model(self) -> SensitivityConfig:
        from iongrad.workflows.registry import MODELS

        sec = self.sensitivity
        if self.model is not None and sec.model is not None:
            fail("[sensitivity] model and [model] both choose the model; give one of them",
                 key="sensitivity.model", value=sec.model)
        if self.model is None and sec.model is None:
            fail("missing required key 'model' (a registered model: "
                 f"{_names(sorted(MODELS))}), or a [model] table (a membrane model)",
                 key="sensitivity")
        model = self.entry()
        params = model.parameter_names
        _wrap("fixed", self._check_fixed, model)
        for name, spec in self.inputs.items():
            if name not in params:
                fail(f"unknown parameter {name!r} of model {model.name!r}"
                     f"{close_match(name, params)} "
                     f"(known: {_names(params)})", key=f"inputs.{name}")
            if name in self.fixed:
                fail("parameter is also given in [fixed]", key=f"inputs.{name}")
            if spec.bounds is not None:
                self._check_bounds(model, name, spec.bounds)
        post = self.posterior.variables if self.posterior is not None else []
        for name in post:
            if name not in params:
                fail(f"{name!r} is not a parameter of model {model.name!r}"
                     f"{close_match(name, params)} (known: {_names(params)})",
                     key="posterior.variables", value=post)
            if name in self.inputs or name in self.fixed:
                fail(f"{name!r} is also given in [inputs] or [fixed]",
                     key="posterior.variables", value=post)
        outputs = sec.outputs or []
        for o in outputs:
            if o not in model.output_names:
                fail(f"unknown output {o!r} of model {model.name!r}"
                     f"{close_match(o, model.output_names)} (known: "
                     f"{_names(model.output_names)})", key="sensitivity.outputs",
                     value=outputs)
        d = len(self.inputs) + len(post)
        if d:
            n = max(sec.n_effective, sec.max_n_effective or 0)
            rows = total_evaluations(sec.method, n, d, second_order=sec.second_order)
            if sec.method in ("sobol", "morris", "efast"):
                rows += sec.fallback_n
            if rows > MAX_EVALUATIONS:
                key = "max_n" if n > sec.n_effective else "n"
                fail(f"{sec.method} with {d} input(s) needs up to {rows} model evaluations "
                     f"(n = {n}, with the fallback sample); the cap is {MAX_EVALUATIONS}",
                     key=f"sensitivity.{key}", value=n)
        return self

    def _check_fixed(self, model) -> None:
        for name, value in self.fixed.items():
            if name not in model.parameter_names:
                fail(f"unknown parameter {name!r} of model {model.name!r}"
                     f"{close_match(name, model.parameter_names)} "
                     f"(known: {_names(model.parameter_names)})", key=name)
            param = model.parameter(name)
            bad = (qty.violation(name, value) if name in qty.QUANTITIES
                   else None if param.contains(value) and math.isfinite(value)
                   else f"outside its support ({param.support_text()})")
            if bad:
                expected = (f"expected {qty.domain_text(name)}" if name in qty.QUANTITIES
                            else f"expected a finite value {param.support_text()}")
                fail(expected, key=name, value=value)

    @staticmethod
    def _check_bounds(model, name: str, bounds: list[float]) -> None:
        param = model.parameter(name)
        if name in qty.QUANTITIES:
            q = qty.get(name)
            for v in bounds:
                if qty.violation(name, v):
                    fail(f"leaves the domain of {name} ({q.domain_text()})",
                         key=f"inputs.{name}.bounds", value=bounds)
        if not param.contains(*bounds):
            fail(f"leaves the support of {name} ({param.support_text()}, in {param.unit})",
                 key=f"inputs.{name}.bounds", value=bounds)
