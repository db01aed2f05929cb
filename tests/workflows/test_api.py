"""The Python API (``iongrad.fit``, ``load_fit``, ``sensitivity``), the top-level package,
``--version``, the ``--seed``/``--draws`` overrides and the CLI's help and log lines."""

from __future__ import annotations

import argparse
import doctest
import importlib
import importlib.util
import json
import logging
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pytest

import iongrad
from iongrad.infer.sampler_log import SHOW_ENV, sampler_log
from iongrad.models.errors import ConfigError, DataError
from iongrad.workflows import api
from iongrad.workflows.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "workflows" / "examples"
SEED, DRAWS = 4, 40  # the overrides; the config below says seed 3, draws 30
PYMC_INFO = ("Initializing NUTS", "NUTS: [", "Sequential sampling", "Multiprocess sampling",
             "Sampling 2 chains for", "Sampling: [")


def _tiny_config(folder: Path) -> Path:
    """The shipped K½(Na) by FXYD1 state fit (3 published means) with short chains."""
    raw = (EXAMPLES / "fit_literature_plm.toml").read_text(encoding="utf-8")
    lines = []
    for line in raw.splitlines():
        key = line.split("=")[0].strip()
        if key in ("seed", "draws", "tune", "chains", "cores", "prior_draws"):
            continue
        lines.append(line)
        if line.strip() == "[sampler]":
            lines += ["seed = 3", "draws = 30", "tune = 40", "chains = 2", "cores = 1",
                      "prior_draws = 20"]
    path = folder / "tiny_fit.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("api")
    cfg = _tiny_config(folder)
    result = iongrad.fit(cfg, out=folder / "run", seed=SEED, draws=DRAWS)
    return result, cfg


# --------------------------------------------------------------------------------------
# package, version
# --------------------------------------------------------------------------------------
def test_version_is_the_installed_metadata_and_the_pyproject_version():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert iongrad.__version__ == version("iongrad") == project["version"]
    # the fallback for a source tree without metadata
    assert iongrad._SOURCE_VERSION == project["version"]


def test_cli_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"iongrad {version('iongrad')}"


def test_import_iongrad_is_light_and_lazy():
    code = ("import sys, iongrad, iongrad.models, iongrad.data\n"
            "heavy = [m for m in ('pymc', 'arviz', 'iongrad.workflows', 'iongrad.infer') "
            "if m in sys.modules]\n"
            "f = iongrad.fit\n"
            "print(heavy, f.__module__, 'iongrad.workflows.api' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["[]", "iongrad.workflows.api", "True"]


def test_public_names_are_the_api_functions():
    assert iongrad.fit is api.fit and iongrad.load_fit is api.load_fit
    assert iongrad.sensitivity is api.sensitivity and iongrad.FitResult is api.FitResult
    with pytest.raises(AttributeError, match="no attribute 'fitt'"):
        iongrad.fitt  # noqa: B018


def test_editable_install_maps_every_package_to_its_folder():
    tool = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    mapping = tool["package-dir"]
    if Path(iongrad.__file__).resolve() != (ROOT / mapping["iongrad"] / "__init__.py"):
        pytest.skip("iongrad is not installed in editable mode from this tree")
    for name, folder in mapping.items():
        assert name in tool["packages"]
        mod = importlib.import_module(name)
        assert Path(mod.__file__).resolve() == (ROOT / folder / "__init__.py").resolve()


@pytest.mark.slow
def test_wheel_imports_iongrad_and_its_subpackages(tmp_path):
    if importlib.util.find_spec("wheel") is None:
        pytest.skip("the 'wheel' package is needed to build a wheel without isolation")
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                            "--no-build-isolation", "-w", str(tmp_path / "dist"), str(ROOT)],
                           capture_output=True, text=True)
    assert built.returncode == 0, built.stderr[-2000:]
    (whl,) = (tmp_path / "dist").glob("iongrad-*.whl")
    site = tmp_path / "site"
    with zipfile.ZipFile(whl) as zf:
        zf.extractall(site)
        names = zf.namelist()
    assert "iongrad/__init__.py" in names
    assert not [n for n in names if "_package" in n]  # the top level is not also a subpackage
    code = ("import iongrad, iongrad.models, iongrad.data, iongrad.infer, iongrad.workflows\n"
            "import iongrad.workflows.cli\n"
            "for m in (iongrad, iongrad.models, iongrad.data, iongrad.infer, "
            "iongrad.workflows):\n"
            "    print(m.__file__)\n"
            "print(iongrad.__version__)\n")
    env = {"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"}
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    *files, ver = run.stdout.split()
    assert ver == version("iongrad")
    assert len(files) == 5 and all(Path(f).is_relative_to(site) for f in files), files


# --------------------------------------------------------------------------------------
# fit, load_fit
# --------------------------------------------------------------------------------------
def test_fit_returns_posterior_summary_diagnostics_and_run_folder(fitted):
    result, _ = fitted
    post = result.idata.posterior
    assert {"k_na_mM", "k_na_mM_log", "na_i_mM"} <= set(post.data_vars)
    assert post.sizes["chain"] == 2 and post.sizes["draw"] == DRAWS
    assert "r_hat" in result.summary.columns
    assert "k_na_mM[absent]" in result.summary.index
    # K½ of the three FXYD1 states: posterior means near the published 10-30 mM
    means = post["k_na_mM"].mean(("chain", "draw")).values
    assert np.all((means > 8.0) & (means < 40.0)), means
    assert result.diagnostics["verdict"] in ("pass", "fail")
    assert {c["name"] for c in result.diagnostics["checks"]} >= {"r_hat", "divergences"}
    assert (result.run_dir / "run.json").is_file()
    assert (result.run_dir / "posterior.nc").is_file()
    assert result.config["sampler"]["seed"] == SEED


def test_overrides_are_recorded_in_run_json(fitted):
    result, _ = fitted
    run = json.loads((result.run_dir / "run.json").read_text())
    assert run["overrides"] == {"sampler.seed": {"config": 3, "value": SEED},
                                "sampler.draws": {"config": 30, "value": DRAWS}}
    assert run["seed"] == SEED and run["sampler"]["draws"] == DRAWS
    assert run["config"]["sampler"]["seed"] == SEED
    assert run["config"]["sampler"]["draws"] == DRAWS
    assert run["config"]["sampler"]["tune"] == 40  # not overridden: as in the config
    assert result.overrides == run["overrides"]
    assert set(run["dataset"]["sha256"]) == {"csv", "sidecar"}
    # the report says which values came from the command line
    from iongrad.workflows.report import write_report

    html_path, _ = write_report(result.run_dir)
    text = html_path.read_text(encoding="utf-8")
    assert f"sampler.seed = {SEED} (config file: 3)" in text
    assert f"sampler.draws = {DRAWS} (config file: 30)" in text


def test_load_fit_redraws_the_posterior_predictive(fitted):
    result, _ = fitted
    again = api.load_fit(result.run_dir)
    stored = result.idata.posterior_predictive["k_na_mM_obs"].values
    np.testing.assert_array_equal(again.idata.posterior["k_na_mM"].values,
                                  result.idata.posterior["k_na_mM"].values)
    # the fit drew its posterior predictive with seed + 2: the same seed, the same numbers
    same = again.posterior_predictive(seed=SEED + 2).posterior_predictive["k_na_mM_obs"]
    assert same.shape == stored.shape == (2, DRAWS, 3)
    np.testing.assert_array_equal(same.values, stored)
    other = again.posterior_predictive(seed=SEED + 3).posterior_predictive["k_na_mM_obs"]
    assert other.shape == stored.shape
    assert not np.allclose(other.values, stored)
    # predictive draws scatter around the data: the published means (12-30 mM)
    observed = result.idata.observed_data["k_na_mM_obs"].values
    assert np.all(np.abs(other.values.mean(axis=(0, 1)) - observed) < 0.5 * observed)
    assert again.model() is again.model()  # rebuilt once


def test_load_fit_refuses_data_that_changed(fitted, tmp_path):
    result, _ = fitted
    copy = tmp_path / "copy"
    shutil.copytree(result.run_dir, copy)
    run = json.loads((copy / "run.json").read_text())
    run["dataset"]["sha256"]["csv"] = "0" * 64
    (copy / "run.json").write_text(json.dumps(run))
    with pytest.raises(DataError, match=r"dataset\.csv .*changed since the fit"):
        api.load_fit(copy)


def test_load_fit_refuses_what_is_not_a_fit(tmp_path):
    with pytest.raises(ConfigError, match=r"no run\.json"):
        api.load_fit(tmp_path)
    (tmp_path / "run.json").write_text(json.dumps({"kind": "sensitivity"}))
    with pytest.raises(ConfigError, match="'sensitivity' run, not a fit"):
        api.load_fit(tmp_path)


@pytest.mark.parametrize(("kw", "message"), [
    ({"seed": -1}, "--seed: expected an integer >= 0"),
    ({"draws": 0}, "--draws: expected an integer >= 1"),
    ({"draws": True}, "--draws: expected an integer >= 1"),
    ({"seed": 1.5}, "--seed: expected an integer >= 0"),
    # beyond the schema's bounds: still named after the option
    ({"seed": 10**11}, r"--seed: expected an integer >= 0 and < 4294967296"),
    ({"draws": 10**6}, r"--draws: expected an integer >= 1 and <= 100000"),
])
def test_fit_refuses_bad_overrides_before_sampling(tmp_path, kw, message):
    cfg = _tiny_config(tmp_path)
    with pytest.raises(ConfigError, match=message):
        api.fit(cfg, out=tmp_path / "out", **kw)
    assert not (tmp_path / "out").exists()


def test_fit_refuses_a_config_of_the_wrong_type():
    with pytest.raises(ConfigError, match="expected a path to a TOML file or a dict"):
        api.fit(42)


# --------------------------------------------------------------------------------------
# sensitivity
# --------------------------------------------------------------------------------------
def test_sensitivity_returns_indices_and_run_folder(tmp_path):
    config = api.example_config("sens_morris")
    config["sensitivity"]["n"] = 6
    result = api.sensitivity(config, out=tmp_path / "morris")
    assert result.run_dir == (tmp_path / "morris").resolve()
    assert (result.run_dir / "run.json").is_file()
    assert result.summary["n_evaluations"] == 6 * (len(config["inputs"]) + 1)
    mu = result.indices[result.indices["index"] == "mu_star"]
    assert set(mu["output"]) == {"v_rest_mV", "na_i_mM"}
    assert set(mu["parameter"]) == set(config["inputs"])
    assert (mu["value"] >= 0).all()  # mu* is a mean of absolute elementary effects


def test_example_config_names_the_examples():
    with pytest.raises(ConfigError, match=r"no such shipped example.*sens_morris"):
        api.example_config("sens_moris")


# --------------------------------------------------------------------------------------
# CLI: overrides, log lines, help
# --------------------------------------------------------------------------------------
def test_cli_fit_overrides_recorded_and_pymc_info_lines_quiet(tmp_path, capfd, caplog):
    cfg = _tiny_config(tmp_path)
    caplog.set_level(logging.INFO, logger="pymc")
    rc = main(["fit", str(cfg), "--out", str(tmp_path / "out"), "--seed", "6",
               "--draws", "25", "--no-progress", "--no-report"])
    assert rc == 0  # no --strict: a failed verdict is reported, not an error
    err = capfd.readouterr().err
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("pymc"))
    for line in PYMC_INFO:
        assert line not in err, err
        assert line not in logged, logged
    assert logging.getLogger("pymc").level == logging.INFO  # restored after sampling
    run = json.loads((tmp_path / "out" / "run.json").read_text())
    assert run["overrides"] == {"sampler.seed": {"config": 3, "value": 6},
                                "sampler.draws": {"config": 30, "value": 25}}
    assert run["config"]["sampler"]["draws"] == 25


@pytest.mark.parametrize(("argv", "message"), [
    (["--seed", "-1"], "argument --seed: expected an integer >= 0"),
    (["--seed", "x1"], "argument --seed: expected an integer >= 0"),
    (["--draws", "0"], "argument --draws: expected an integer >= 1"),
    (["--draws", "2.5"], "argument --draws: expected an integer >= 1"),
])
def test_cli_bad_override_is_one_line_exit_2(tmp_path, capsys, argv, message):
    cfg = _tiny_config(tmp_path)
    with pytest.raises(SystemExit) as exc:
        main(["fit", str(cfg), "--out", str(tmp_path / "out"), *argv])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and message in err, err
    assert not (tmp_path / "out").exists()


def test_sampler_log_holds_back_pymc_info_and_restores_the_level(caplog, monkeypatch):
    monkeypatch.delenv(SHOW_ENV, raising=False)
    caplog.set_level(logging.INFO, logger="pymc")
    log = logging.getLogger("pymc.sampling.mcmc")
    with sampler_log(False):
        log.info("NUTS: [quiet]")
        log.warning("a warning still shows")
        assert logging.getLogger("pymc").level == logging.WARNING
    with sampler_log(True):
        log.info("NUTS: [shown]")
    monkeypatch.setenv(SHOW_ENV, "1")
    with sampler_log(False):
        log.info("NUTS: [shown by the environment]")
    with pytest.raises(KeyboardInterrupt):
        monkeypatch.delenv(SHOW_ENV)
        with sampler_log(False):
            raise KeyboardInterrupt
    assert logging.getLogger("pymc").level == logging.INFO
    messages = [r.getMessage() for r in caplog.records]
    assert messages == ["a warning still shows", "NUTS: [shown]",
                        "NUTS: [shown by the environment]"]


def _options(parser: argparse.ArgumentParser, name: str):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub, sp in action.choices.items():
                yield from _options(sp, f"{name} {sub}")
        else:
            yield name, action


def test_every_option_of_every_command_has_help():
    found = list(_options(build_parser(), "iongrad"))
    commands = {name for name, _ in found}
    assert {"iongrad", "iongrad fit", "iongrad sensitivity", "iongrad batch"} <= commands
    missing = [f"{name} {'/'.join(a.option_strings) or a.dest}" for name, a in found
               if not a.help or a.help == argparse.SUPPRESS]
    assert not missing, missing
    fit_opts = {o for name, a in found if name == "iongrad fit" for o in a.option_strings}
    assert {"--seed", "--draws", "--progress", "--no-progress"} <= fit_opts


# --------------------------------------------------------------------------------------
# the examples of the API's docstrings run
# --------------------------------------------------------------------------------------
@pytest.mark.slow
def test_api_docstring_examples_run(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the runs without out=
    res = doctest.testmod(api, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
                          report=True)
    assert res.attempted >= 30
    assert res.failed == 0
    assert len(list(tmp_path.glob("iongrad-*-*/run/run.json"))) == 3
