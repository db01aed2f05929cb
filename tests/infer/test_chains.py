"""Chains in a daemonic process (a Dask worker) run one after the other, and say so."""

from __future__ import annotations

import multiprocessing

from iongrad.infer.chains import sampler_cores


def _in_child(queue, cores, chains):
    queue.put(sampler_cores(cores, chains))


def _daemonic(cores: int, chains: int):
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_in_child, args=(queue, cores, chains), daemon=True)
    proc.start()
    try:
        return queue.get(timeout=60)
    finally:
        proc.join(timeout=60)


def test_daemonic_process_runs_chains_sequentially():
    cores, note = _daemonic(2, 4)
    assert cores == 1
    assert note["chains_sequential"] is True
    assert (note["cores_requested"], note["cores_used"]) == (2, 1)
    assert note["reason"].startswith("this process is daemonic")
    assert _daemonic(1, 4) == (1, None)  # nothing to change
    assert _daemonic(3, 1) == (3, None)  # one chain: PyMC starts no chain process


def test_ordinary_process_keeps_its_cores():
    assert multiprocessing.current_process().daemon is False
    assert sampler_cores(2, 2) == (2, None)
