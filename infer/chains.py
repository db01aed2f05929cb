"""How many processes the sampler may use for its chains in this process.

PyMC runs chains in parallel by starting one child process per core. A daemonic
process may not start children (``multiprocessing`` refuses with "daemonic
processes are not allowed to have children"), and a Dask worker process is
daemonic: a batch task asking for ``cores = 2`` would fail on every Dask
executor. There, chains run one after the other in the worker process instead.

Why sequential chains rather than non-daemonic workers: the workers of an
existing cluster (``--scheduler``) are started by whoever runs that cluster, so
their daemon flag is not ours to choose, and one rule for every executor is
simpler to trust than two. The worker already is the unit of parallelism of a
batch, so its chains gain little from more processes. The numbers do not
change with it: PyMC draws each chain's seed and starting point from
``random_seed`` whatever ``cores`` is, so a batch task gives the draws of a
standalone ``iongrad fit`` of its config with ``cores = 1`` (chains one after the
other), number for number. When the likelihood runs no solver (K½ summaries only)
or the steady-state solver (which starts every call from the same guess, so that a
solve depends on its parameters alone), they are also the draws of a standalone fit with
parallel chains. A run-down likelihood's solver starts each steady state from its
previous solution: a chain run after another in one process starts from where the
first ended, a chain in its own process from where initialisation ended, so sequential
and parallel chains agree to the solver's tolerance (1e-9) at each step and then drift
apart, sampling the same posterior. Both are checked by
``tests/workflows/test_batch_dask.py::test_multichain_fit_in_a_batch``.
"""

from __future__ import annotations

import multiprocessing

__all__ = ["sampler_cores"]


def sampler_cores(cores: int, chains: int) -> tuple[int, dict | None]:
    """The ``cores`` to pass to ``pm.sample`` here, and a record of any change.

    Parameters
    ----------
    cores : int
        Cores the config asks for.
    chains : int
        Chains the config asks for.

    Returns
    -------
    cores_used : int
        ``cores``, or 1 when this process is daemonic and ``cores`` and ``chains``
        are both above 1.
    note : dict or None
        ``None`` when nothing changed; otherwise ``{"cores_requested", "cores_used",
        "chains_sequential": True, "reason"}`` for ``run.json``.
    """
    if cores > 1 and chains > 1 and multiprocessing.current_process().daemon:
        return 1, {
            "cores_requested": int(cores), "cores_used": 1, "chains_sequential": True,
            "reason": "this process is daemonic (a Dask worker) and may not start the "
                      "chain processes; the chains ran one after the other in it, with "
                      "the same seeds, so the draws are those of a parallel run"}
    return cores, None
