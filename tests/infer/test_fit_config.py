"""Fit configs: bad keys and values are named before any work; same seed, same numbers."""

import shutil
import subprocess
import sys
from importlib.resources import files
from pathlib import Path

import pandas as pd
import pytest

from iongrad.models.errors import ConfigError
from iongrad.workflows.config import load_toml
from iongrad.workflows.fit import resolve_config, run_config

EXAMPLE = Path(str(files("iongrad.workflows") / "examples" / "fit_vrest_ko.toml"))


def _raw():
    return load_toml(EXAMPLE)


@pytest.mark.parametrize(("mutate", "fragment"), [
    (lambda r: r["fit"].update(bogus=1), "bogus"),
    (lambda r: r.update(extra={}), "extra"),
    (lambda r: r["fit"].update(dataset="no_such_dataset"), "no_such_dataset"),
    (lambda r: r["fit"].update(parameters=["g_na_nS", "warp_factor"]), "warp_factor"),
    (lambda r: r["fit"].update(pooling="sometimes"), "pooling"),
    (lambda r: r["fit"].update(observables=["k_i_mM"]), "k_i_mM"),
    (lambda r: r["sampler"].pop("seed"), "seed"),
    (lambda r: r["sampler"].update(draws=-5), "draws"),
    (lambda r: r["sampler"].update(target_accept=1.5), "target_accept"),
    (lambda r: r["sampler"].update(warmup=3), "warmup"),
    (lambda r: r.update(priors={"g_na_nS": {"median": -1.0}}), "median"),
    (lambda r: r.update(priors={"g_na_nS": {"mean": 1.0}}), "mean"),
    (lambda r: r.update(noise={"v_rest_mV": {"sigma": "known"}}), "known"),
    (lambda r: r.update(noise={"v_rest_mV": {"family": "cauchy"}}), "cauchy"),
    (lambda r: r.update(fixed={"g_cl_nS": 0.3, "flux_capacitor": 1.0}), "flux_capacitor"),
    (lambda r: r["fit"].update(select={"colour": "red"}), "colour"),
])
def test_bad_config_is_named(mutate, fragment):
    raw = _raw()
    mutate(raw)
    with pytest.raises(ConfigError, match=fragment):
        resolve_config(raw, EXAMPLE.parent)


def test_cli_bad_config_exits_2_with_one_line(tmp_path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text('[fit]\ndataset = "synthetic_vrest_ko"\nparameters = ["nope"]\n'
                   '[sampler]\nseed = 1\n')
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "iongrad.workflows.cli", "fit", str(cfg),
                           "--out", str(out)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "nope" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not out.exists()


def test_same_seed_gives_identical_summary(tmp_path):
    raw = _raw()
    raw["sampler"].update(draws=30, tune=30, chains=2, cores=1, prior_draws=10)
    resolved = resolve_config(raw, EXAMPLE.parent)
    frames = []
    for k in range(2):
        out = tmp_path / f"run{k}"
        out.mkdir()
        run_config(resolved, out)
        frames.append(pd.read_csv(out / "summary.csv"))
        if k == 0:
            shutil.copy(out / "summary.csv", tmp_path / "first.csv")
    pd.testing.assert_frame_equal(frames[0], frames[1], check_exact=True)
    assert (tmp_path / "first.csv").read_bytes() == (tmp_path / "run1" / "summary.csv").read_bytes()


@pytest.mark.parametrize(("spec_kw", "fragments"), [
    ({"reference": {"k_o_mM": -4.0}}, ("reference.k_o_mM", "got -4.0", "mM")),
    ({"reference": {"k_o_mM": True}}, ("reference.k_o_mM", "True")),
    ({"fixed": {"g_cl_nS": 1e12}}, ("fixed.g_cl_nS", "1000000000000.0", "nS")),
    ({"noise": {"v_rest_mv": "normal"}}, ("noise.v_rest_mv", "v_rest_mV")),
])
def test_spec_checks_without_the_config_layer(spec_kw, fragments):
    """A FitSpec built in Python is range- and name-checked against the registry too."""
    from iongrad.data import load_shipped
    from iongrad.infer.model import FitSpec, ObservationNoise, _check_spec

    if "noise" in spec_kw:
        spec_kw = {"noise": {k: ObservationNoise() for k in spec_kw["noise"]}}
    with pytest.raises(ConfigError) as info:
        _check_spec(FitSpec(**spec_kw), load_shipped("synthetic_vrest_ko"))
    for frag in fragments:
        assert frag in str(info.value), (frag, str(info.value))


def test_noise_nu_and_prior_sigma_checked_in_spec():
    from iongrad.data import load_shipped
    from iongrad.infer.model import FitSpec, ObservationNoise, _check_spec

    ds = load_shipped("synthetic_vrest_ko")
    for kw, frag in (({"family": "student_t", "nu": -4.0}, "nu = -4.0"),
                     ({"prior_sigma": float("inf")}, "prior_sigma = inf")):
        spec = FitSpec(noise={"v_rest_mV": ObservationNoise(**kw)})
        with pytest.raises(ConfigError, match=frag):
            _check_spec(spec, ds)
