"""Interruptions during sampling, and posteriors that came back short.

PyMC (5.x) catches ``KeyboardInterrupt`` inside ``pm.sample`` (serial chains in
``_sample_many``/``_sample``, parallel chains in ``_mp_sample``) and returns the
draws taken so far as if sampling had finished. A truncated posterior must never be
written as a result, so:

* the command line's signal handler (SIGINT, SIGTERM) calls :func:`mark_interrupted`
  before raising ``KeyboardInterrupt``;
* every caller of ``pm.sample`` passes the result through
  :func:`check_complete_posterior`, which raises ``KeyboardInterrupt`` again if an
  interruption was recorded, and :class:`IncompletePosteriorError` if the posterior
  has fewer chains or draws than requested for any other reason.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

__all__ = [
    "IncompletePosteriorError",
    "check_complete_posterior",
    "clear_interrupted",
    "interrupted",
    "mark_interrupted",
    "sampling_guard",
]

_FLAG = threading.Event()


class IncompletePosteriorError(RuntimeError):
    """The sampler returned fewer chains or draws than requested."""


def mark_interrupted() -> None:
    """Record that the process was asked to stop (called by the signal handler)."""
    _FLAG.set()


def clear_interrupted() -> None:
    """Forget a recorded interruption (start of a new command)."""
    _FLAG.clear()


def interrupted() -> bool:
    """True if an interruption was recorded since the last :func:`clear_interrupted`."""
    return _FLAG.is_set()


@contextlib.contextmanager
def sampling_guard() -> Iterator[None]:
    """Around ``pm.sample``: any error raised after an interruption was recorded
    (e.g. building InferenceData from zero draws) becomes ``KeyboardInterrupt``."""
    try:
        yield
    except KeyboardInterrupt:
        raise
    except BaseException:
        if interrupted():
            raise KeyboardInterrupt from None
        raise


def check_complete_posterior(idata: Any, *, draws: int, chains: int) -> None:
    """Raise unless ``idata.posterior`` holds ``chains`` chains of ``draws`` draws.

    Parameters
    ----------
    idata : arviz.InferenceData
        What ``pm.sample`` returned.
    draws : int
        Requested draws per chain (after tuning).
    chains : int
        Requested number of chains.

    Raises
    ------
    KeyboardInterrupt
        If an interruption was recorded (whatever the posterior holds).
    IncompletePosteriorError
        If the posterior is missing or has fewer chains or draws than requested.
    """
    if interrupted():
        raise KeyboardInterrupt
    post = getattr(idata, "posterior", None)
    if post is None:
        raise IncompletePosteriorError("the sampler returned no posterior")
    got_chains = int(post.sizes.get("chain", 0))
    got_draws = int(post.sizes.get("draw", 0))
    if got_chains != chains or got_draws != draws:
        raise IncompletePosteriorError(
            f"the sampler returned {got_chains} chain(s) x {got_draws} draw(s), but "
            f"{chains} x {draws} were requested (sampling was cut short); nothing written")
