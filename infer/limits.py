"""Caps on sampler sizes: the one place they are stated.

A real fit never comes near them; they stop a slip (an extra zero, a seed pasted from a
hash) from running for days or exhausting memory. The config schema
(:mod:`iongrad.workflows.schema`) and the run-down config checks both read them.
"""

from __future__ import annotations

__all__ = ["SAMPLER_CAPS", "SEED_LIMIT"]

#: Upper bounds (inclusive) of the ``[sampler]`` sizes: NUTS draws and tuning steps per
#: chain, chains, worker processes, prior predictive draws.
SAMPLER_CAPS: dict[str, int] = {"draws": 100_000, "tune": 100_000, "chains": 64, "cores": 64,
                                "prior_draws": 100_000}
#: Seeds: 0 <= seed < SEED_LIMIT (NumPy takes larger ones; they add nothing).
SEED_LIMIT = 2**32
