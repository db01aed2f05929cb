"""Same config + same seed -> byte-identical results, across processes and executors.

Already proven elsewhere (not repeated here):

* ``tests/workflows/test_batch_dask.py::test_sensitivity_results_do_not_depend_on_workers``:
  a sensitivity example gives byte-identical CSVs (``indices.csv``) with
  ``iongrad batch --workers 1``, on a 2-worker Dask cluster (``--scheduler``) and
  serially (``--local``), all within one test process.
* ``test_builtin_local_cluster_two_workers`` there: ``--workers 2`` (the built-in
  LocalCluster) gives the same result files as the serial executor.

The remaining gaps tested here: two independent *processes* (different
``PYTHONHASHSEED``, so nothing may depend on set/dict-of-str ordering or on state
left in one interpreter) give identical ``indices.csv`` for a sensitivity run and
identical ``summary.csv`` for a fit (tiny sampler settings); and the built-in
``--workers 2`` Dask path gives the same ``indices.csv`` as a standalone
``iongrad sensitivity`` run of the same config.
"""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from importlib.resources import files
from pathlib import Path

SENS = """\
[sensitivity]
model = "pump_leak"
method = "sobol"
n = 64
seed = 42
outputs = ["v_rest_mV", "na_i_mM"]
second_order = false
num_resamples = 20

[inputs.g_na_nS]
bounds = [0.05, 0.3]
dist = "loguniform"

[inputs.g_k_nS]
bounds = [0.3, 3.0]
dist = "loguniform"

[inputs.pump_density_per_um2]
bounds = [500.0, 2500.0]
dist = "loguniform"
"""


def _fit_config() -> str:
    example = Path(str(files("iongrad.workflows") / "examples" / "fit_vrest_ko.toml"))
    text = example.read_text(encoding="utf-8")
    head, _ = text.split("[sampler]")
    return head + ("[sampler]\nseed = 7\ndraws = 20\ntune = 20\nchains = 2\ncores = 1\n"
                   "prior_draws = 10\n")


def _cli(args: list[str], hashseed: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONHASHSEED=hashseed, MPLBACKEND="Agg")
    return subprocess.run([sys.executable, "-m", "iongrad.workflows.cli", *args], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=600,
                          stdin=subprocess.DEVNULL)


def _parallel(*calls):
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(*c) for c in calls]
        return [f.result() for f in futures]


def test_sensitivity_indices_identical_across_processes_and_dask(tmp_path):
    cfg = tmp_path / "sens.toml"
    cfg.write_text(SENS)
    a, b = tmp_path / "a", tmp_path / "b"
    pa, pb = _parallel((_cli, ["sensitivity", str(cfg), "--out", str(a)], "1", tmp_path),
                       (_cli, ["sensitivity", str(cfg), "--out", str(b)], "2", tmp_path))
    assert pa.returncode == 0, pa.stderr[-2000:]
    assert pb.returncode == 0, pb.stderr[-2000:]
    ref = (a / "indices.csv").read_bytes()
    assert ref and ref == (b / "indices.csv").read_bytes()
    out = tmp_path / "batch"
    pc = _cli(["batch", str(cfg), "--out", str(out), "--workers", "2", "--no-progress"], "3",
              tmp_path)
    assert pc.returncode == 0, pc.stderr[-2000:]
    found = list((out / "tasks").glob("*/indices.csv"))
    assert len(found) == 1
    assert found[0].read_bytes() == ref


def test_fit_summary_identical_across_processes(tmp_path):
    cfg = tmp_path / "fit.toml"
    cfg.write_text(_fit_config())
    a, b = tmp_path / "a", tmp_path / "b"
    common = ["--no-report", "--no-progress"]
    pa, pb = _parallel((_cli, ["fit", str(cfg), "--out", str(a), *common], "11", tmp_path),
                       (_cli, ["fit", str(cfg), "--out", str(b), *common], "12", tmp_path))
    assert pa.returncode == 0, pa.stderr[-2000:]
    assert pb.returncode == 0, pb.stderr[-2000:]
    sa, sb = (a / "summary.csv").read_bytes(), (b / "summary.csv").read_bytes()
    assert sa.count(b"\n") > 5
    assert sa == sb
