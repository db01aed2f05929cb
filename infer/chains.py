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
change: PyMC draws each chain's seed and starting point from ``random_seed``
whatever ``cores`` is, and the steady-state and run-down solvers keep nothing from
one call to the next (no warm start from the previous solution: with one, a chain
run after another in the same process started its solves elsewhere and its draws
drifted apart), so sequential and parallel chains give identical draws (checked by
``tests/workflows/test_batch_dask.py::test_multichain_fit_in_a_batch`` against a
standalone ``iongrad fit`` with parallel chains).
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
