"""``iongrad batch``: run many workflow configs, locally or on a Dask cluster.

A batch turns config files (optionally expanded over a grid of overrides) into
*tasks*. Each task is one resolved config of one kind (``sensitivity``, ``fit``)
and owns one result folder ``DIR/tasks/<kind>-<hash>/`` keyed by
:func:`~iongrad.workflows.config.config_hash` of its resolved config, so the same
config (same seed) always maps to the same folder.

Guarantees
----------
* Everything is validated (every task's config resolved) before any folder is
  created; a problem is one :class:`~iongrad.models.errors.ConfigError` naming
  the file and the key.
* A task runs into ``DIR/tasks/.tmp-<hash>-<random>/`` (marked ``.iongrad-task`` as
  soon as it exists), writes ``DONE.json`` (status, timings, key results, every file
  with its size and SHA-256, and a digest of all that) last and is then renamed into
  place. A folder counts as complete only if its ``DONE.json`` is valid and its file
  list matches the folder byte for byte; an incomplete folder of iongrad's is removed
  and redone on the next run (files in it that iongrad did not write are first moved
  to ``DIR/untracked/<task id>/``). A killed attempt can therefore never be mistaken
  for a finished result, and a task whose posterior is short is never committed.
* Nothing iongrad did not write is removed: other entries of ``DIR/tasks`` are left
  alone and reported; symbolic links are never followed.
* ``DIR/manifest.json`` is written atomically by the driver only (at the start, at
  the end and at most every 2 s; every task event is a line of ``journal.jsonl``)
  and is rebuilt from the folders at the start of each run.
* Re-running skips complete tasks, redoes incomplete ones and retries failed
  ones. A failing task is recorded (one line in the manifest, the traceback in
  ``DIR/failed/<hash>/error.txt``) and the others continue.

Tasks are executed by a Dask ``LocalCluster`` of ``--workers`` single-threaded
processes (default 2), by an existing cluster (``--scheduler ADDRESS``), or
serially in this process (``--workers 0`` / ``--local``). A task's random
numbers come only from its config's seed, so results do not depend on the
executor, the number of workers or the order of completion.
"""

from __future__ import annotations

from iongrad.workflows.batch.cli import add_arguments, run
from iongrad.workflows.batch.driver import BatchResult, run_batch
from iongrad.workflows.batch.execute import execute_task
from iongrad.workflows.batch.folders import (
    DONE_NAME,
    DONE_SCHEMA,
    TASK_MARKER,
    TMP_PREFIX,
    UNTRACKED_DIR,
    check_task_folder,
)
from iongrad.workflows.batch.manifest import JOURNAL_NAME, MANIFEST_SCHEMA, STATUSES
from iongrad.workflows.batch.tasks import KINDS, MAX_TASKS, Task, expand_tasks, load_grid

__all__ = [
    "DONE_NAME",
    "DONE_SCHEMA",
    "JOURNAL_NAME",
    "KINDS",
    "MANIFEST_SCHEMA",
    "MAX_TASKS",
    "STATUSES",
    "TASK_MARKER",
    "TMP_PREFIX",
    "UNTRACKED_DIR",
    "BatchResult",
    "Task",
    "add_arguments",
    "check_task_folder",
    "execute_task",
    "expand_tasks",
    "load_grid",
    "run",
    "run_batch",
]
