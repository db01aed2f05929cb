"""Executors of a batch: serially in this process, or on a Dask cluster."""

from __future__ import annotations

import contextlib
import os
import secrets
import traceback
from collections.abc import Callable, Iterator
from typing import Any

from iongrad.workflows.batch.execute import execute_task
from iongrad.workflows.batch.messages import _now, _one_line

Outcome = dict[str, Any]


def _run_serial(specs: list[dict[str, Any]],
                on_start: Callable[[str], None]) -> Iterator[tuple[dict[str, Any], Outcome]]:
    """Run tasks one after the other in this process."""
    for spec in specs:
        on_start(spec["task_id"])
        yield spec, execute_task(spec)


def _run_on_client(client, specs: list[dict[str, Any]], on_start: Callable[[str], None],
                   ) -> Iterator[tuple[dict[str, Any], Outcome]]:
    """Submit every task to a Dask client and yield outcomes as they complete."""
    from distributed import as_completed

    run_token = secrets.token_hex(3)
    futures = {}
    for spec in specs:
        # key by task hash (+ a run token, so a shared scheduler never hands us the
        # result of another client's or an earlier run's future)
        key = f"iongrad-batch-{spec['task_id']}-{run_token}"
        futures[client.submit(execute_task, spec, key=key, pure=False)] = spec
        on_start(spec["task_id"])
    try:
        for future in as_completed(futures):
            spec = futures[future]
            try:
                # waits if Dask lost the result with a worker and is recomputing it
                outcome = future.result()
            except Exception as exc:  # the worker died (KilledWorker) or was cancelled
                outcome = {"status": "failed", "started_at": None, "finished_at": _now(),
                           "duration_s": None, "host": None, "pid": None,
                           "attempt": spec["attempt"], "error": _one_line(exc),
                           "traceback": "".join(traceback.format_exception(exc))}
            future.release()
            yield spec, outcome
    finally:
        for future in futures:
            if not future.done():
                future.cancel()


def _run_dask(specs: list[dict[str, Any]], on_start: Callable[[str], None], *,
              workers: int, scheduler: str | None,
              ) -> Iterator[tuple[dict[str, Any], Outcome]]:
    from distributed import Client, LocalCluster

    # on an interruption the cluster is torn down while the exception propagates:
    # silence Dask's logging from then on (its records are about the cancelled tasks)
    quiet = contextlib.ExitStack()
    with quiet:
        if scheduler is not None:
            with Client(scheduler, timeout="30s") as client:
                try:
                    yield from _run_on_client(client, specs, on_start)
                except BaseException:
                    quiet.enter_context(_quiet_dask())
                    raise
            return
        # worker processes log at "error" and above unless the user configured otherwise
        # (a cancelled task after Ctrl-C is not worth a warning per worker)
        os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "error")
        # dashboard_address=None turns the dashboard off, but the scheduler still serves
        # its HTTP routes on 8787 unless told otherwise: keep that on a free loopback port
        with (LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                           dashboard_address=None, host="127.0.0.1",
                           scheduler_kwargs={"dashboard_address": "127.0.0.1:0"}) as cluster,
              Client(cluster) as client):
            try:
                yield from _run_on_client(client, specs, on_start)
            except BaseException:
                quiet.enter_context(_quiet_dask())
                raise


@contextlib.contextmanager
def _quiet_dask() -> Iterator[None]:
    """Silence Dask's log records while a cluster is torn down after an interruption
    (they are tracebacks of tasks that were cancelled on purpose)."""
    import logging

    names = [n for n in list(logging.root.manager.loggerDict)
             if n.split(".")[0] in ("distributed", "tornado", "asyncio")]
    loggers = [logging.getLogger(n) for n in {"distributed", "tornado", "asyncio", *names}]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)
