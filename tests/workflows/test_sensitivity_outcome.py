"""A sensitivity run says plainly when it could not analyse what was asked for."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from iongrad.models import solve_steady_state
from iongrad.workflows.sensitivity import resolve_config, run_config

# A 5 nA Na+ load: no pump of 100-1000 sites/µm² on a 10 µm soma (at most ~20 pA of
# pump current) can carry it, so no sample of this design has a steady state.
INFEASIBLE = """\
[sensitivity]
model = "pump_leak"
method = "morris"
n = 8
seed = 4
outputs = ["v_rest_mV", "na_i_mM"]

[fixed]
activity_load_pA = 5000.0

[inputs.g_na_nS]
bounds = [0.05, 0.5]

[inputs.pump_density_per_um2]
bounds = [100.0, 1000.0]
"""


def test_the_design_is_really_infeasible():
    res = solve_steady_state(g_na_nS=[0.05, 0.5], pump_density_per_um2=[1000.0, 100.0],
                             activity_load_pA=5000.0)
    assert not res.feasible.any()


def test_whole_design_infeasible_is_said_in_run_json(tmp_path):
    import tomllib

    resolved = resolve_config(tomllib.loads(INFEASIBLE), tmp_path)
    summary = run_config(resolved, tmp_path / "out")
    run = json.loads((tmp_path / "out" / "run.json").read_text())
    assert run["outcome"]["status"] == "nothing_analysed"
    assert run["outcome"]["analysed"] == []
    assert set(run["outcome"]["skipped"]) == {"v_rest_mV", "na_i_mM"}
    n = run["failures"]["n_samples"]
    assert run["failures"]["n_infeasible"] == n > 0
    assert f"none of the {n} samples" in run["outcome"]["message"]
    assert summary["outcome"] == run["outcome"]


@pytest.mark.parametrize("strict, code", [(False, 0), (True, 1)])
def test_cli_says_what_happened_and_strict_fails(tmp_path, strict, code):
    cfg = tmp_path / "sens.toml"
    cfg.write_text(INFEASIBLE)
    out = tmp_path / "out"
    argv = [sys.executable, "-m", "iongrad.workflows.cli", "sensitivity", str(cfg),
            "--out", str(out), "--no-progress"] + (["--strict"] if strict else [])
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert proc.returncode == code, proc.stderr
    assert "None" not in proc.stdout
    assert "v_rest_mV: not analysed" in proc.stdout
    assert "none of the" in proc.stderr and "physical steady state" in proc.stderr
    if strict:
        return
    from iongrad.workflows.report import write_report

    _, md = write_report(out, tmp_path / "report")
    assert "No result: none of the" in md.read_text()
