"""An interrupted or cut-short run never looks complete.

SIGINT or SIGTERM during sampling (PyMC turns Ctrl-C into a normal return with the
draws so far), during a sensitivity analysis, or during ``iongrad batch`` (serial
or Dask): exit code 130, nothing at ``--out``, no ``.tmp`` sibling, no task
committed. A posterior with fewer draws than requested is never written nor
committed, whatever the reason.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from iongrad.infer.interrupts import (
    IncompletePosteriorError,
    check_complete_posterior,
    clear_interrupted,
    mark_interrupted,
)
from iongrad.workflows import batch

HERE = Path(__file__).resolve().parent
EXAMPLES = HERE.parents[1] / "workflows" / "examples"
DRIVER = ("import sys\n"
          "from iongrad.workflows import batch\n"
          "batch.KINDS['selftest'] = '_batch_selftest'\n"
          "from iongrad.workflows.cli import main\n"
          "raise SystemExit(main(sys.argv[1:]))\n")

pytestmark = pytest.mark.skipif(os.name != "posix", reason="needs POSIX signals")


def _long_fit_config(folder: Path, *, chains: int, cores: int) -> Path:
    """The shipped published-means fit with far more draws than the test waits for."""
    text = (EXAMPLES / "fit_literature_plm.toml").read_text()
    lines = []
    for line in text.splitlines():
        key = line.split("=")[0].strip()
        if key in ("draws", "tune", "chains", "cores", "prior_draws"):
            continue
        lines.append(line)
        if line.strip() == "[sampler]":
            lines += ["draws = 100000", "tune = 100", f"chains = {chains}",
                      f"cores = {cores}", "prior_draws = 10"]
    path = folder / "long_fit.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _start(argv: list[str], cwd: Path, *, driver: bool = False) -> subprocess.Popen:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), env.get("PYTHONPATH")]))
    # the fits below wait for PyMC's sampling log lines, held back without a progress bar
    env["IONGRAD_SAMPLER_LOG"] = "1"
    prefix = ["-c", DRIVER] if driver else ["-m", "iongrad.workflows.cli"]
    err = open(cwd / "stderr.txt", "wb")  # closed in _stop
    proc = subprocess.Popen([sys.executable, *prefix, *argv], cwd=cwd,
                            stdout=subprocess.DEVNULL, stderr=err, stdin=subprocess.DEVNULL,
                            env=env, start_new_session=True)
    proc.err_file = err  # type: ignore[attr-defined]
    return proc


def _wait_for(proc: subprocess.Popen, cwd: Path, needle: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while needle not in (cwd / "stderr.txt").read_text(errors="replace"):
        if proc.poll() is not None:
            raise AssertionError(f"exited early ({proc.returncode}): "
                                 + (cwd / "stderr.txt").read_text()[-2000:])
        if time.monotonic() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)
            raise AssertionError(f"{needle!r} never appeared")
        time.sleep(0.2)


def _stop(proc: subprocess.Popen, cwd: Path, sig: int) -> tuple[int, str]:
    proc.send_signal(sig)  # to the command itself, not its group (as `kill PID` does)
    try:
        rc = proc.wait(timeout=60)
    finally:
        proc.err_file.close()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    return rc, (cwd / "stderr.txt").read_text(errors="replace")


def _no_leftovers(folder: Path, out_name: str) -> None:
    names = [p.name for p in folder.iterdir()]
    assert out_name not in names
    assert not [n for n in names if ".tmp" in n], names


@pytest.mark.slow
@pytest.mark.parametrize(("sig", "chains", "cores"), [(signal.SIGINT, 1, 1),
                                                      (signal.SIGTERM, 2, 2)])
def test_fit_interrupted_during_sampling(tmp_path, sig, chains, cores):
    cfg = _long_fit_config(tmp_path, chains=chains, cores=cores)
    proc = _start(["fit", str(cfg), "--out", "out", "--no-progress"], tmp_path)
    # PyMC logs this line right before the chains start
    _wait_for(proc, tmp_path, "sampling (")
    # well into the draws: chain processes start, rebuild the generated solver and load
    # its compiled kernel (a few seconds), then tuning takes well under a second
    time.sleep(8.0)
    rc, err = _stop(proc, tmp_path, sig)
    assert rc == 130, err[-3000:]
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] == "iongrad fit: interrupted"
    # PyMC caught the interruption and returned the draws so far (its closing log
    # line; how many chains it counts depends on how far each process got): the short
    # posterior was detected and nothing was written
    assert re.search(rf"Sampling [1-{chains}] chains? for", err), err[-3000:]
    _no_leftovers(tmp_path, "out")


@pytest.mark.slow
def test_sensitivity_interrupted(tmp_path):
    text = (EXAMPLES / "sens_neuron_vrest.toml").read_text()
    cfg = tmp_path / "sens.toml"
    cfg.write_text("\n".join("n = 262144" if line.startswith("n = ") else line
                             for line in text.splitlines()) + "\n")
    proc = _start(["sensitivity", str(cfg), "--out", "out", "--progress"], tmp_path)
    _wait_for(proc, tmp_path, "eval")  # the progress bar of the model evaluations
    rc, err = _stop(proc, tmp_path, signal.SIGTERM)
    assert rc == 130, err[-3000:]
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] == "iongrad sensitivity: interrupted"
    _no_leftovers(tmp_path, "out")


@pytest.mark.slow
def test_batch_local_fit_interrupted_commits_nothing(tmp_path):
    cfg = _long_fit_config(tmp_path, chains=1, cores=1)
    proc = _start(["batch", str(cfg), "--out", "B", "--local", "--no-progress"], tmp_path)
    _wait_for(proc, tmp_path, "sampling (")
    time.sleep(4.0)
    rc, err = _stop(proc, tmp_path, signal.SIGTERM)
    assert rc == 130, err[-3000:]
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] == ("iongrad batch: interrupted; 0 of 1 task(s) "
                                            "committed, re-run to finish")
    tasks = list((tmp_path / "B" / "tasks").iterdir())
    assert tasks == [], tasks
    manifest = json.loads((tmp_path / "B" / "manifest.json").read_text())
    assert [e["status"] for e in manifest["tasks"]] == ["pending"]


@pytest.mark.slow
def test_dask_batch_sigterm_is_one_line(tmp_path):
    for i in range(2):
        (tmp_path / f"t{i}.toml").write_text(
            f'[selftest]\nname = "t{i}"\nseed = {i}\nsleep_s = 60\nlog = "calls.log"\n')
    proc = _start(["batch", "t0.toml", "t1.toml", "--out", "B", "--workers", "2",
                   "--no-progress"], tmp_path, driver=True)
    deadline = time.monotonic() + 90
    while len((tmp_path / "calls.log").read_text().splitlines()
              if (tmp_path / "calls.log").exists() else []) < 2:
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.2)
    rc, err = _stop(proc, tmp_path, signal.SIGTERM)
    assert rc == 130
    assert err.strip().splitlines() == [
        "iongrad batch: interrupted; 0 of 2 task(s) committed, re-run to finish"], err
    assert list((tmp_path / "B" / "tasks").iterdir()) == []
    manifest = json.loads((tmp_path / "B" / "manifest.json").read_text())
    assert {e["status"] for e in manifest["tasks"]} == {"pending"}


# ---------------------------------------------------------------------------------------
# short posteriors (in process)
# ---------------------------------------------------------------------------------------


def _idata(chains: int, draws: int):
    import arviz as az

    return az.from_dict(posterior={"x": np.zeros((chains, draws))})


def test_check_complete_posterior():
    clear_interrupted()
    check_complete_posterior(_idata(2, 50), draws=50, chains=2)
    with pytest.raises(IncompletePosteriorError, match="1 chain"):
        check_complete_posterior(_idata(1, 50), draws=50, chains=2)
    with pytest.raises(IncompletePosteriorError, match=r"2 chain.* x 7 draw"):
        check_complete_posterior(_idata(2, 7), draws=50, chains=2)
    mark_interrupted()
    try:
        with pytest.raises(KeyboardInterrupt):  # even if the draws are all there
            check_complete_posterior(_idata(2, 50), draws=50, chains=2)
    finally:
        clear_interrupted()


def test_batch_refuses_to_commit_a_short_posterior(tmp_path, monkeypatch):
    """A task whose posterior.nc has fewer draws than its config asks for fails and
    leaves no folder, whatever wrote it."""
    module = type(sys)("_short_kind")

    def run_config(resolved, out_dir, *, progress=False):
        _idata(2, 7).to_netcdf(str(Path(out_dir) / "posterior.nc"))
        return {"ok": True}

    module.run_config = run_config
    monkeypatch.setitem(sys.modules, "_short_kind", module)
    from iongrad.workflows.config import config_hash

    tasks_dir = tmp_path / "tasks"
    tasks_dir.mkdir()

    def spec_for(draws):
        resolved = {"sampler": {"draws": draws, "chains": 2, "seed": 1}}
        h = config_hash(resolved)
        return {"task_id": f"fit-{h}", "kind": "fit", "hash": h, "module": "_short_kind",
                "resolved": resolved, "tasks_dir": str(tasks_dir), "attempt": 1}

    outcome = batch.execute_task(spec_for(50))
    assert outcome["status"] == "failed"
    assert "2 chain(s) x 7 draw(s)" in outcome["error"] and "cut short" in outcome["error"]
    assert list(tasks_dir.iterdir()) == []
    spec = spec_for(7)  # the same file is fine when it is what was asked for
    assert batch.execute_task(spec)["status"] == "done"
    assert batch.check_task_folder(tasks_dir / spec["task_id"]) is None
