"""Tests of ``iongrad demo``: argument handling, and one short end-to-end run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from iongrad.workflows.cli import main
from iongrad.workflows.demo import energy_sensitivity_config, run_demo


def test_demo_refuses_a_non_empty_folder_without_force(tmp_path, capsys):
    out = tmp_path / "busy"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert main(["demo", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not empty" in err and "--force" in err
    assert (out / "keep.txt").read_text() == "mine"


def test_demo_rejects_a_file_as_out_and_unknown_options(tmp_path, capsys):
    f = tmp_path / "file.txt"
    f.write_text("x")
    assert main(["demo", "--out", str(f)]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    with pytest.raises(SystemExit) as exc:
        main(["demo", "--bogus"])
    assert exc.value.code == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_energy_config_uses_the_posterior_for_the_fitted_parameters(tmp_path):
    cfg = energy_sensitivity_config(tmp_path / "posterior.nc")
    assert cfg["posterior"]["variables"] == ["g_na_nS", "g_k_nS", "pump_density_per_um2"]
    assert set(cfg["sensitivity"]["outputs"]) == {"atp_per_s", "o2_per_s", "pump_current_pA",
                                                  "v_rest_mV", "na_i_mM"}
    # nothing the fit held fixed is varied: the posterior is conditional on those values
    assert "inputs" not in cfg and "fixed" not in cfg


@pytest.mark.slow
def test_demo_end_to_end_short(tmp_path, capsys):
    out = tmp_path / "demo"
    out.mkdir()
    paths = run_demo(out, progress=False, sampler={"draws": 20, "tune": 20, "chains": 2},
                     sobol_n=64)
    printed = capsys.readouterr().out
    for stage in ("[1/4]", "[2/4]", "[3/4]", "[4/4]"):
        assert stage in printed
    for key in ("fit_report", "sensitivity_report", "fit_report_md", "sensitivity_report_md"):
        assert Path(paths[key]).is_file()
    sens = json.loads((out / "sensitivity" / "run.json").read_text())
    assert [i["source"] for i in sens["config"]["inputs"]].count("posterior") == 3
    fc = sens["config"]["fit_context"]
    assert fc["warnings"] == [] and fc["inherited"]["k_na_mM"] == 12.0
    assert fc["inherited"]["k_o_mM"] == 4.0 and fc["inherited"]["g_cl_nS"] == 0.3
    assert sens["config"]["outputs"] == ["atp_per_s", "o2_per_s", "pump_current_pA",
                                         "v_rest_mV", "na_i_mM"]
    assert (out / "sens_energy_posterior.toml").is_file()
