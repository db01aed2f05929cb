"""Global sensitivity analysis: ``iongrad sensitivity CONFIG.toml --out DIR``.

A TOML config names a registered model (:mod:`iongrad.workflows.registry`) or
declares a membrane model in a ``[model]`` table, a SALib method, the inputs
(bounds, distributions or a fitted posterior), fixed parameter values and the
outputs to analyse. The whole config is resolved and
validated by :func:`resolve_config` before any work is done; :func:`run_config`
then samples, evaluates the model on the whole sample matrix in chunks, analyses
it with SALib and writes ``indices.csv``, ``samples.nc``, ``run.json`` and plots.

Design in the unit hypercube
----------------------------
Every SALib design is drawn in the unit hypercube ``[0, 1]^D`` and each column is
mapped to its physical input through that input's quantile function (uniform,
log-uniform, normal, log-normal, truncated normal, or the empirical quantile
function of posterior draws). Variance-based indices (Sobol, eFAST) and the delta
index are invariant under such per-input monotone maps, so this equals sampling
the physical distributions directly; it also lets posterior draws be used, which
SALib's ``dists`` do not support. Morris elementary effects and PAWN slices are
therefore measured in quantile units (``mu_star`` has the unit of the output per
unit change of the input's quantile; PAWN slices hold equal probability).

Infeasible samples
------------------
A sample is *failed* for an output when the model reports ``feasible=False`` or
the value is not finite. Failures are counted per output and located (input
statistics of failed vs feasible samples) in ``run.json``; they are never
dropped silently and never passed to SALib as NaN.

``failure_handling = "feasible_region"`` (default)
    Sobol, eFAST and Morris need their complete structured design, so an output
    with any failed sample is *not* analysed with them. Instead it is analysed
    with the moment-independent delta and PAWN indices on the feasible rows of a
    separate Latin hypercube sample of size ``fallback_n``: sensitivity *within the
    feasible region*. Conditioning on feasibility makes the inputs dependent,
    which these estimators do not model; run.json says so. With delta or PAWN as
    the chosen method, the feasible rows of the main design are used directly.
    An output with fewer than ``min_feasible_samples`` feasible rows is not
    analysed and is listed as skipped.
``failure_handling = "indicator"``
    Outputs with failed samples are not analysed at all (listed as skipped).

In both modes, whenever any sample is infeasible, the ``feasible`` indicator
(1 = steady state exists) is analysed as an output of its own on the full design
with the chosen method (PAWN when the method is delta, as a binary output has no
density).
"""

from __future__ import annotations

from iongrad.workflows.schema import (
    DISTS,  # noqa: F401 (part of this package's namespace)
    METHODS,  # noqa: F401
)
from iongrad.workflows.sensitivity.cli import add_arguments, run
from iongrad.workflows.sensitivity.indices import ranking_resolution  # noqa: F401
from iongrad.workflows.sensitivity.posterior import fit_context_notes  # noqa: F401
from iongrad.workflows.sensitivity.resolve import resolve_config
from iongrad.workflows.sensitivity.runner import InsufficientFeasibleError, run_config, run_into

__all__ = ["InsufficientFeasibleError", "add_arguments", "resolve_config", "run", "run_config",
           "run_into"]
