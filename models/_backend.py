"""Array-namespace dispatch and input validation shared by the forward models.

Every forward model takes its array namespace from its inputs: NumPy arrays (or
Python scalars) give NumPy results, PyTensor variables give a PyTensor graph.
PyTensor is imported lazily, only when a symbolic input is seen, so the physics
layer depends on NumPy and SciPy alone.
"""

from __future__ import annotations

import datetime as _dt
import math
import types
from typing import Any

import numpy as np

from iongrad.models.errors import ModelInputError
from iongrad.models.quantities import QUANTITIES, first_bad, violation

_PLAIN = (np.ndarray, np.generic, float, int, type(None))


def is_symbolic(x: Any) -> bool:
    """True when ``x`` is a PyTensor variable (checked without importing PyTensor)."""
    if isinstance(x, _PLAIN):
        return False
    return type(x).__module__.startswith("pytensor")


class _NumpyNS(types.SimpleNamespace):
    pass


NP = _NumpyNS(
    exp=np.exp, log=np.log, log1p=np.log1p, expm1=np.expm1, sqrt=np.sqrt, abs=np.abs,
    where=np.where, maximum=np.maximum, minimum=np.minimum, asarray=np.asarray,
    symbolic=False,
)


def _pytensor_ns():
    import pytensor.tensor as pt

    return types.SimpleNamespace(
        exp=pt.exp, log=pt.log, log1p=pt.log1p, expm1=pt.expm1, sqrt=pt.sqrt, abs=pt.abs,
        where=pt.switch, maximum=pt.maximum, minimum=pt.minimum, asarray=pt.as_tensor_variable,
        symbolic=True,
    )


def namespace(*args: Any):
    """Return the array namespace (NumPy or PyTensor) implied by ``args``."""
    if any(is_symbolic(a) for a in args):
        return _pytensor_ns()
    return NP


_DATE_TYPES = (_dt.date, _dt.time, _dt.timedelta, np.datetime64, np.timedelta64)


def _refuse(name: str, expected: str, got: str) -> ModelInputError:
    return ModelInputError(f"{name} must be {expected}; got {got}")


def _big_int_text(value: int) -> str:
    """``~1e400``-style magnitude of an int too large for a float (no huge str())."""
    digits = math.floor(math.log10(abs(value)))
    sign = "-" if value < 0 else ""
    return f"an int of about {sign}1e{digits}, too large for a float"


def _bad_element(name: str, expected: str, raw: np.ndarray) -> None:
    """Refuse an object array holding bools, dates, complex numbers, strings or huge ints."""
    for idx, el in np.ndenumerate(raw):
        where = f" at index {tuple(int(i) for i in idx)}" if raw.ndim else ""
        if isinstance(el, bool | np.bool_):
            raise _refuse(name, expected, f"the bool {el!r}{where}")
        if isinstance(el, _DATE_TYPES):
            raise _refuse(name, expected, f"the date/time {el!r}{where}")
        if isinstance(el, complex | np.complexfloating):
            raise _refuse(name, expected, f"the complex number {el!r}{where}")
        if isinstance(el, str | bytes):
            raise _refuse(name, expected, f"the string {el!r}{where}")
        if el is np.ma.masked:
            raise _refuse(name, expected, f"a masked value{where} (fill or drop it first)")
        if isinstance(el, int) and not -2**1023 < el < 2**1023:
            raise _refuse(name, expected, _big_int_text(el) + where)


def as_real_array(name: str, value: Any, expected: str = "a real number") -> np.ndarray:
    """``value`` as a float array, refusing what is not plainly a real number.

    Bools, dates and times (``datetime``, ``numpy.datetime64``), complex numbers,
    strings, masked arrays and ints too large for a float raise
    :class:`ModelInputError` naming ``name`` and the value; ints and floats (and
    arrays of them) are converted to ``float64``.
    """
    if type(value) is np.ndarray and value.dtype == np.float64:
        return value
    if type(value) is float:
        return np.asarray(value)
    if isinstance(value, bool | np.bool_):
        raise _refuse(name, expected, f"the bool {value!r}")
    if isinstance(value, np.ma.MaskedArray):
        n_masked = int(np.ma.count_masked(value))
        raise _refuse(name, expected,
                      f"a masked array ({n_masked} masked value(s); fill or drop them first)")
    if isinstance(value, str | bytes):
        raise _refuse(name, expected, f"the string {value!r}")
    if isinstance(value, _DATE_TYPES):
        raise _refuse(name, expected, f"the date/time {value!r}")
    if isinstance(value, complex | np.complexfloating):
        raise _refuse(name, expected, f"the complex number {value!r}")
    if isinstance(value, int) and not -2**1023 < value < 2**1023:
        raise _refuse(name, expected, _big_int_text(value))
    if isinstance(value, list | tuple):
        # element by element: numpy would silently turn [300, True] into [300, 1]
        try:
            obj = np.asarray(value, dtype=object)
        except (TypeError, ValueError):
            obj = None
        if obj is not None and obj.dtype.kind == "O":
            _bad_element(name, expected, obj)
    try:
        raw = np.asarray(value)
    except (TypeError, ValueError, OverflowError) as exc:
        raise _refuse(name, expected, f"{_short_repr(value)} ({exc})") from None
    kind = raw.dtype.kind
    if kind == "b":
        raise _refuse(name, expected, f"a bool array {_short_repr(value)}")
    if kind in "Mm":
        raise _refuse(name, expected, f"a date/time array {_short_repr(value)}")
    if kind == "c":
        raise _refuse(name, expected, f"a complex array {_short_repr(value)}")
    if kind in "USV":
        raise _refuse(name, expected, f"{_short_repr(value)} (text, not a number)")
    if kind == "O":
        _bad_element(name, expected, raw)
    try:
        return raw.astype(float, copy=False)
    except (TypeError, ValueError, OverflowError):
        raise _refuse(name, expected, _short_repr(value)) from None


def _short_repr(value: Any, limit: int = 80) -> str:
    text = " ".join(repr(value).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def check(name: str, value: Any, unit: str | None = None, *, quantity: str | None = None,
          positive: bool = False, nonnegative: bool = False, finite: bool = True,
          allow_inf: bool = False) -> Any:
    """Validate a numeric model input against its registry domain and return it.

    The domain (and unit) of ``quantity`` (default: ``name``) is looked up in
    :mod:`iongrad.models.quantities`. Names the registry does not know (solver
    settings such as ``rtol``) fall back to the flags ``positive``,
    ``nonnegative`` and ``finite`` with ``unit`` as the unit shown. Symbolic
    (PyTensor) inputs pass through unchecked.

    Parameters
    ----------
    name : str
        Argument name, used in messages.
    value : array_like
        The value.
    unit : str, optional
        Unit shown for unregistered names.
    quantity : str, optional
        Registry entry whose domain applies, when it differs from ``name``.
    positive, nonnegative, finite : bool
        Extra model-specific requirements (always applied, also on top of the
        registry domain).
    allow_inf : bool
        Accept ``+inf`` even where the domain is bounded (a model convention, e.g.
        a saturating ouabain dose).

    Returns
    -------
    numpy.ndarray
        ``value`` as a float array (a symbolic input is returned unchanged).

    Raises
    ------
    ModelInputError
        (a ``ValueError``) naming the argument, the first bad value (with its
        index), the domain with its unit and, where one is likely, the unit slip.
    """
    if is_symbolic(value):
        return value
    q = QUANTITIES.get(quantity or name)
    unit_text = q.unit if q is not None else (unit or "")
    expected = f"a real number in {unit_text}" if unit_text else "a real number"
    arr = as_real_array(name, value, expected)
    if arr.size == 0:
        raise ModelInputError(f"{name} is empty; expected a value in {unit_text}")
    if q is not None:
        msg = violation(q.name, arr, label=name, allow_inf=allow_inf)
        if msg:
            raise ModelInputError(msg)
    elif finite:
        bad = ~np.isfinite(arr)
        if bad.any():
            v, where = first_bad(arr, bad)
            raise ModelInputError(f"{name} must be finite (in {unit_text}); got {v!r}{where}")
    for flag, test, text in ((positive, np.greater, "> 0"),
                             (nonnegative, np.greater_equal, ">= 0")):
        if flag:
            bad = ~test(arr, 0)
            if allow_inf:
                bad &= ~np.isposinf(arr)
            if bad.any():
                v, where = first_bad(arr, bad)
                raise ModelInputError(f"{name} must be {text} (in {unit_text}) in this model; "
                                      f"got {v!r}{where}")
    return arr


def check_broadcast(**arrays: Any) -> tuple[int, ...]:
    """Check that the numeric inputs broadcast together; return the common shape.

    Raises
    ------
    ModelInputError
        Naming every non-scalar argument and its shape.
    """
    shapes = {k: np.shape(v) for k, v in arrays.items()
              if v is not None and not is_symbolic(v)}
    try:
        return np.broadcast_shapes(*shapes.values())
    except ValueError:
        desc = ", ".join(f"{k} shape {s}" for k, s in shapes.items() if s != ())
        raise ModelInputError(f"input shapes do not broadcast together: {desc}") from None
