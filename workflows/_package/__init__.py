"""iongrad: inference and global sensitivity analysis of how cells maintain their ion gradients.

The Python API of the command line's jobs, loaded on first use so that ``import iongrad``
(and ``import iongrad.models``) stays fast and imports nothing from PyMC:

- :func:`fit` -- fit a config (a TOML path or a dict); a :class:`FitResult`
- :func:`load_fit` -- a fit's run folder back as a :class:`FitResult`, its model rebuilt
- :func:`sensitivity` -- a global sensitivity analysis; a :class:`SensitivityResult`
- :func:`compare` -- compare fits of the same data by PSIS-LOO (``iongrad compare``)

The subpackages: :mod:`iongrad.models` (forward models), :mod:`iongrad.data` (datasets),
:mod:`iongrad.infer` (PyMC models) and :mod:`iongrad.workflows` (the jobs).
"""

from __future__ import annotations

import importlib
from typing import Any

#: Version of the source tree, used when the package metadata is not installed
#: (kept equal to ``[project] version`` in pyproject.toml by a test).
_SOURCE_VERSION = "0.1.0"


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("iongrad")
    except PackageNotFoundError:
        return _SOURCE_VERSION


__version__ = _version()

# public name -> (module, attribute); imported on first access
_LAZY: dict[str, tuple[str, str]] = {
    "fit": ("iongrad.workflows.api", "fit"),
    "load_fit": ("iongrad.workflows.api", "load_fit"),
    "sensitivity": ("iongrad.workflows.api", "sensitivity"),
    "FitResult": ("iongrad.workflows.api", "FitResult"),
    "SensitivityResult": ("iongrad.workflows.api", "SensitivityResult"),
    "compare": ("iongrad.workflows.api", "compare"),
    "CompareResult": ("iongrad.workflows.api", "CompareResult"),
}

__all__ = ["CompareResult", "FitResult", "SensitivityResult", "__version__", "compare", "fit",
           "load_fit", "sensitivity"]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'iongrad' has no attribute {name!r}")
    module, attr = _LAZY[name]
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name != module:
            raise
        raise AttributeError(f"iongrad.{name} is not available in this build (no module "
                             f"{module})") from None
    try:
        value = getattr(mod, attr)
    except AttributeError:
        raise AttributeError(f"iongrad.{name} is not available in this build ({module} "
                             f"has no {attr!r})") from None
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
