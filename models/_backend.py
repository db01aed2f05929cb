"""Array-namespace dispatch and input validation shared by the forward models.

Every forward model takes its array namespace from its inputs: NumPy arrays (or
Python scalars) give NumPy results, PyTensor variables give a PyTensor graph.
PyTensor is imported lazily, only when a symbolic input is seen, so the physics
layer depends on NumPy and SciPy alone.
"""

from __future__ import annotations

import types
from typing import Any

import numpy as np

from iongrad.models.errors import ModelInputError

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


def _describe(value) -> str:
    arr = np.asarray(value)
    if arr.size == 1:
        return repr(float(arr.reshape(-1)[0]))
    return f"array of shape {arr.shape}"


def _first_bad(arr: np.ndarray, mask: np.ndarray) -> str:
    idx = np.argwhere(mask)[0]
    val = arr[tuple(idx)] if arr.ndim else arr
    where = f" at index {tuple(int(i) for i in idx)}" if arr.ndim else ""
    return f"{float(val)!r}{where}"


def check(name: str, value: Any, unit: str, *, positive: bool = False,
          nonnegative: bool = False, finite: bool = True) -> Any:
    """Validate a numeric model input and return it (as an array when numeric).

    Symbolic (PyTensor) inputs pass through unchecked.

    Raises
    ------
    ModelInputError
        (a ``ValueError``) naming the argument, the bad value and the expected unit.
    """
    if is_symbolic(value):
        return value
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise ModelInputError(
            f"{name} must be numeric (in {unit}); got {value!r}") from None
    if arr.size == 0:
        raise ModelInputError(f"{name} is empty; expected a value in {unit}")
    if finite:
        bad = ~np.isfinite(arr)
        if bad.any():
            raise ModelInputError(
                f"{name} must be finite (in {unit}); got {_first_bad(arr, bad)}")
    if positive:
        bad = ~(arr > 0)
        if bad.any():
            raise ModelInputError(
                f"{name} must be > 0 (in {unit}); got {_first_bad(arr, bad)}")
    if nonnegative:
        bad = ~(arr >= 0)
        if bad.any():
            raise ModelInputError(
                f"{name} must be >= 0 (in {unit}); got {_first_bad(arr, bad)}")
    return arr


def check_broadcast(**arrays: Any) -> tuple[int, ...]:
    """Check that the numeric inputs broadcast together; return the common shape."""
    shapes = {k: np.shape(v) for k, v in arrays.items() if not is_symbolic(v)}
    try:
        return np.broadcast_shapes(*shapes.values())
    except ValueError:
        desc = ", ".join(f"{k}{s}" for k, s in shapes.items() if s != ())
        raise ModelInputError(f"input shapes do not broadcast together: {desc}") from None
