"""What PyMC prints while iongrad samples, and the posterior predictive draw.

Without a progress bar a fit is quiet: PyMC's own INFO lines ("Initializing NUTS...",
"NUTS: [...]", "Sequential sampling (...)", "Sampling 2 chains for ...", "Sampling:
[...]") are held back by :func:`sampler_log`, which raises the ``pymc`` logger to
WARNING for the duration of the sampling and restores it afterwards. PyMC's warnings
(e.g. too few draws for reliable R-hat) still show. With a progress bar, or with the
environment variable ``IONGRAD_SAMPLER_LOG=1``, PyMC's lines are shown as PyMC prints
them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from collections.abc import Iterator

__all__ = ["SHOW_ENV", "sample_posterior_predictive", "sampler_log"]

#: Environment variable that keeps PyMC's INFO lines when the progress bar is off.
SHOW_ENV = "IONGRAD_SAMPLER_LOG"

_PYMC_LOGGER = "pymc"


def _shown_by_env() -> bool:
    return os.environ.get(SHOW_ENV, "").strip().lower() not in ("", "0", "false", "no")


@contextlib.contextmanager
def sampler_log(show: bool) -> Iterator[None]:
    """Show PyMC's INFO log lines inside the block only if ``show`` (or ``IONGRAD_SAMPLER_LOG``).

    Parameters
    ----------
    show : bool
        Keep PyMC's log as it is (pass the progress flag of the run).

    Notes
    -----
    The level of the ``pymc`` logger is raised to at least WARNING on entry and put
    back to what it was on exit, also when the block raises or is interrupted.
    """
    if show or _shown_by_env():
        yield
        return
    logger = logging.getLogger(_PYMC_LOGGER)
    previous = logger.level
    logger.setLevel(max(logging.WARNING, previous))
    try:
        yield
    finally:
        logger.setLevel(previous)


def sample_posterior_predictive(model, idata, *, seed: int, progress: bool = False,
                                extend: bool = False):
    """Posterior predictive draws of ``model``'s observed variables given ``idata``'s posterior.

    The one call every fit (steady state and run-down) and a reloaded fit
    (:func:`iongrad.load_fit`) make, so that the same seed gives the same numbers.

    Parameters
    ----------
    model : pymc.Model
        The fit's model.
    idata : arviz.InferenceData
        With a ``posterior`` group.
    seed : int
        Random seed of the draw.
    progress : bool
        Show PyMC's progress bar (and its log lines).
    extend : bool
        Add the group to ``idata`` (and return it) instead of returning a new object.

    Returns
    -------
    arviz.InferenceData
        With a ``posterior_predictive`` group.
    """
    import pymc as pm

    with model, warnings.catch_warnings(), sampler_log(progress):
        # The feasibility Potential only rules out parameter sets without a steady state;
        # predictive draws come from posterior draws, which all have one.
        warnings.filterwarnings("ignore", message="The effect of Potentials")
        out = pm.sample_posterior_predictive(idata, random_seed=seed,
                                             extend_inferencedata=extend,
                                             progressbar=progress)
    return idata if extend else out
