"""``iongrad batch`` on Dask: a real ``LocalCluster`` (2 worker processes, loopback).

One cluster started by the test (``--scheduler`` path) is shared by the module;
the built-in ``LocalCluster`` path is exercised once with 2 workers and once
with 1. Real ``sensitivity`` tasks run when ``iongrad.workflows.sensitivity``
and an example ``sens_*.toml`` exist; otherwise those tests are skipped.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import pytest
from _batch_selftest import (
    KIND,
    MODULE,
    assert_manifest_matches_folders,
    log_lines,
    write_config,
)

from iongrad.workflows import batch
from iongrad.workflows.cli import main

distributed = pytest.importorskip("distributed")

EXAMPLES = Path(__file__).resolve().parents[2] / "workflows" / "examples"


@pytest.fixture(autouse=True)
def selftest_kind(monkeypatch):
    monkeypatch.setitem(batch.KINDS, KIND, MODULE)


@pytest.fixture(scope="module")
def cluster():
    import dask

    # a worker that dies takes its task with it at once (no re-runs on other workers)
    with (dask.config.set({"distributed.scheduler.allowed-failures": 0}),
          distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                   dashboard_address=None, host="127.0.0.1",
                                   scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                                   ) as lc):
        yield lc


def _configs(folder: Path, n: int = 4, **extra) -> list[Path]:
    folder.mkdir(exist_ok=True)
    return [write_config(folder, f"t{i}", seed=100 + i, sleep_s=0.2, log="calls.log",
                         **extra) for i in range(n)]


def _result_bytes(out: Path, names=("draws.npy", "result_0.json", "result_1.json")):
    """Result files per task id (excluding DONE.json and the per-invocation token)."""
    return {p.name: {n: (p / n).read_bytes() for n in names}
            for p in sorted((out / "tasks").iterdir())}


def test_scheduler_address(cluster, tmp_path, capsys):
    paths = _configs(tmp_path / "cfg")
    out = tmp_path / "out"
    assert main(["batch", *map(str, paths), "--out", str(out), "--scheduler",
                 cluster.scheduler_address, "--no-progress"]) == 0
    assert "4 done, 0 skipped, 0 failed" in capsys.readouterr().out
    manifest = assert_manifest_matches_folders(out)
    assert manifest["executor"] == f"dask scheduler {cluster.scheduler_address}"
    pids = {json.loads((out / t["folder"] / "DONE.json").read_text())["pid"]
            for t in manifest["tasks"]}
    with distributed.Client(cluster) as client:
        worker_pids = set(client.run(os.getpid).values())
    assert pids <= worker_pids and os.getpid() not in pids  # ran in the worker processes
    # same results as the serial executor, byte for byte
    serial = tmp_path / "serial"
    assert main(["batch", *map(str, paths), "--out", str(serial), "--local",
                 "--no-progress"]) == 0
    assert _result_bytes(out) == _result_bytes(serial)
    # a re-run on the cluster skips everything
    n_calls = len(log_lines(tmp_path / "cfg" / "calls.log"))
    assert main(["batch", *map(str, paths), "--out", str(out), "--scheduler",
                 cluster.scheduler_address, "--no-progress"]) == 0
    assert len(log_lines(tmp_path / "cfg" / "calls.log")) == n_calls


def test_failures_on_workers_are_recorded(cluster, tmp_path):
    cfg = tmp_path / "cfg"
    paths = [*_configs(cfg, 2),
             write_config(cfg, "raises", fail=True, sleep_s=0.1),
             write_config(cfg, "crashes", crash=True)]
    out = tmp_path / "out"
    assert main(["batch", *map(str, paths), "--out", str(out), "--scheduler",
                 cluster.scheduler_address, "--no-progress"]) == 1
    manifest = assert_manifest_matches_folders(out)
    status = {t["label"]: (t["status"], t["error"]) for t in manifest["tasks"]}
    assert status["t0.toml"] == status["t1.toml"] == ("done", None)
    assert status["raises.toml"] == (
        "failed", "RuntimeError: selftest task 'raises' failed as asked")
    assert status["crashes.toml"][0] == "failed"
    assert status["crashes.toml"][1].startswith("KilledWorker")
    # the crashed attempt left a .tmp folder; the next run removes it (and retries)
    assert main(["batch", *map(str, paths[:3]), "--out", str(out), "--scheduler",
                 cluster.scheduler_address, "--no-progress"]) == 1
    assert not [p for p in (out / "tasks").iterdir() if p.name.startswith(".tmp-")]


def test_builtin_local_cluster_two_workers(tmp_path, capsys):
    paths = _configs(tmp_path / "cfg", 3)
    out = tmp_path / "out"
    assert main(["batch", *map(str, paths), "--out", str(out), "--workers", "2",
                 "--no-progress"]) == 0
    assert "3 done, 0 skipped, 0 failed" in capsys.readouterr().out
    manifest = assert_manifest_matches_folders(out)
    assert manifest["executor"] == "dask LocalCluster, 2 worker process(es)"
    serial = tmp_path / "serial"
    batch.run_batch(batch.expand_tasks(paths), serial, workers=0, progress=False)
    assert _result_bytes(out) == _result_bytes(serial)


def _sensitivity_example() -> Path:
    if importlib.util.find_spec("iongrad.workflows.sensitivity") is None:
        pytest.skip("iongrad.workflows.sensitivity is not available yet")
    examples = sorted(EXAMPLES.glob("sens_*.toml"), key=lambda p: p.name != "sens_fxyd.toml")
    if not examples:
        pytest.skip("no workflows/examples/sens_*.toml example yet")
    return examples[0]  # the fast FXYD model if it is there


def _small_sensitivity_grid(tmp_path: Path, example: Path) -> Path:
    """A grid of two seeds over the example with a small sample size, if it has one."""
    import tomllib

    raw = tomllib.loads(example.read_text())
    sec = raw["sensitivity"]
    grid = {"sensitivity.seed": [1, 2]} if "seed" in sec else {}
    for key in ("n_base", "n_samples", "N", "n"):
        if key in sec:
            grid[f"sensitivity.{key}"] = [min(int(sec[key]), 64)]
            break
    if not grid:
        pytest.skip(f"{example.name}: no seed or sample-size key to vary in [sensitivity]")
    path = tmp_path / "grid.toml"
    path.write_text("".join(f'"{k}" = {json.dumps(v)}\n' for k, v in grid.items()))
    return path


def test_sensitivity_results_do_not_depend_on_workers(cluster, tmp_path):
    example = _sensitivity_example()
    grid = _small_sensitivity_grid(tmp_path, example)
    runs = {}
    for name, argv in (("w1", ["--workers", "1"]),
                       ("w2", ["--scheduler", cluster.scheduler_address]),
                       ("serial", ["--local"])):
        out = tmp_path / name
        assert main(["batch", str(example), "--grid", str(grid), "--out", str(out),
                     "--no-progress", *argv]) == 0
        assert_manifest_matches_folders(out)
        runs[name] = {p.name: {f.name: f.read_bytes() for f in p.glob("*.csv")}
                      for p in sorted((out / "tasks").iterdir())}
    assert runs["w1"] == runs["w2"] == runs["serial"]
    some = next(iter(runs["w1"].values()))
    assert some, "sensitivity tasks wrote no CSV file to compare"
    if any("indices.csv" in files for files in runs["w1"].values()):
        assert all("indices.csv" in files for files in runs["w1"].values())


def _small_fit_config(folder: Path, example: str, draws: int) -> Path:
    """A shipped fit example (2 chains on 2 cores) with a small draws budget."""
    import tomllib

    text = (EXAMPLES / example).read_text()
    sampler = tomllib.loads(text)["sampler"]
    assert sampler["chains"] == 2 and sampler["cores"] == 2  # the case that used to fail
    lines = []
    for line in text.splitlines():
        key = line.split("=")[0].strip()
        if key in ("draws", "tune"):
            line = f"{key} = {draws}"
        elif key == "prior_draws":
            line = "prior_draws = 20"
        lines.append(line)
    folder.mkdir(exist_ok=True)
    path = folder / example
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize(("example", "draws", "executors", "alone_cores"), [
    # K_Na per FXYD1 state: no solver in the likelihood (derived steady states only):
    # the draws of a standalone fit with parallel chains
    ("fit_literature_plm.toml", 60, ("local", "scheduler"), 2),
    # V under Na+ substitution of 8 cells: the steady-state solver in the likelihood, which
    # starts every call from the same guess: the draws of a standalone fit with parallel
    # chains too
    ("fit_vrest_nao.toml", 30, ("scheduler",), 2),
])
def test_multichain_fit_in_a_batch(cluster, tmp_path, capsys, example, draws, executors,
                                   alone_cores):
    """A fit asking for 2 chains on 2 cores runs in a daemonic Dask worker (LocalCluster
    and an existing scheduler): its chains run one after the other there, run.json says
    so, and the posterior is, number for number, the one a standalone ``iongrad fit``
    gives (with parallel chains when the likelihood runs no solver; see
    iongrad.infer.chains)."""
    import arviz as az

    cfg = _small_fit_config(tmp_path / "cfg", example, draws)
    alone_cfg = cfg
    if alone_cores != 2:
        alone_cfg = tmp_path / "cfg" / f"alone-{example}"
        alone_cfg.write_text(cfg.read_text().replace("cores = 2", f"cores = {alone_cores}"))
    alone = tmp_path / "alone"
    assert main(["fit", str(alone_cfg), "--out", str(alone), "--no-report",
                 "--no-progress"]) == 0
    run_alone = json.loads((alone / "run.json").read_text())
    assert run_alone["sampler"]["cores"] == alone_cores
    assert "chain_execution" not in run_alone  # not in a worker: nothing changed
    post_alone = az.from_netcdf(alone / "posterior.nc").posterior
    argvs = {"local": ["--workers", "1"], "scheduler": ["--scheduler", cluster.scheduler_address]}
    for name in executors:
        out = tmp_path / name
        capsys.readouterr()
        assert main(["batch", str(cfg), "--out", str(out), "--no-progress",
                     *argvs[name]]) == 0, name
        stdout = capsys.readouterr().out
        assert "1 done, 0 skipped, 0 failed" in stdout
        assert f"HTML index: {(out / 'index.html').resolve()}" in stdout.splitlines()
        assert (out / "index.html").is_file()
        (task,) = (out / "tasks").iterdir()
        run = json.loads((task / "run.json").read_text())
        assert run["chain_execution"]["chains_sequential"] is True
        assert run["chain_execution"]["cores_requested"] == 2
        assert run["chain_execution"]["cores_used"] == 1
        assert "daemonic" in run["chain_execution"]["reason"]
        assert run["sampler"] == {**run_alone["sampler"], "cores": 2}
        post = az.from_netcdf(task / "posterior.nc").posterior
        assert post.sizes["chain"] == 2 and post.sizes["draw"] == draws
        assert post.equals(post_alone), f"{name}: posterior differs from the standalone fit"
