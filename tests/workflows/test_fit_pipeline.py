"""One fit pipeline for both model kinds: one sampler table, one sampling step, one record."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import numpy as np
import pymc as pm
import pytest

from iongrad.models.errors import ConfigError
from iongrad.workflows.fit import resolve_config, run_config
from iongrad.workflows.fit.record import VERSIONED
from iongrad.workflows.fit.sampling import sample
from iongrad.workflows.schema import RundownSamplerSection, SamplerSection

EXAMPLES = Path(__file__).resolve().parents[2] / "workflows" / "examples"


def _raw(name: str) -> dict:
    return tomllib.loads((EXAMPLES / name).read_text())


@pytest.mark.parametrize(("example", "section", "prior_draws"), [
    ("fit_vrest_ko.toml", SamplerSection, 500),
    ("fit_rundown.toml", RundownSamplerSection, 200),
])
def test_sampler_defaults_come_from_the_schema(example, section, prior_draws):
    raw = _raw(example)
    raw["sampler"] = {"seed": 4}
    resolved = resolve_config(raw, EXAMPLES)
    assert list(resolved["sampler"]) == list(section.allowed_keys({}))
    assert resolved["sampler"]["prior_draws"] == prior_draws
    assert resolved["sampler"]["seed"] == 4 and resolved["sampler"]["draws"] == 500


@pytest.mark.parametrize("example", ["fit_vrest_ko.toml", "fit_rundown.toml"])
@pytest.mark.parametrize(("key", "value"), [("seed", -1), ("seed", True), ("draws", 0),
                                            ("target_accept", 1.0)])
def test_both_fit_kinds_reject_the_same_sampler_values(example, key, value):
    raw = _raw(example)
    raw["sampler"][key] = value
    with pytest.raises(ConfigError, match=f"sampler.{key}"):
        resolve_config(raw, EXAMPLES)


def test_a_start_point_without_finite_log_probability_is_a_config_error():
    with pm.Model() as model:
        x = pm.Normal("x")
        pm.Potential("never", pm.math.switch(x > 1e9, 0.0, -np.inf))
    sampler = {"seed": 1, "draws": 5, "tune": 5, "chains": 1, "cores": 1,
               "target_accept": 0.9, "prior_draws": 5}
    with pytest.raises(ConfigError, match="cannot be evaluated at its starting point"):
        sample(model, {}, sampler)


@pytest.mark.slow
def test_both_fit_kinds_record_the_same_provenance(tmp_path):
    """Same versions, sampler table, data digests and timings in run.json for either kind."""
    runs = {}
    for example in ("fit_vrest_ko.toml", "fit_rundown.toml"):
        raw = _raw(example)
        raw["sampler"].update(draws=20, tune=20, chains=1, cores=1, prior_draws=10)
        out = tmp_path / example
        out.mkdir()
        run_config(resolve_config(raw, EXAMPLES), out)
        runs[example] = json.loads((out / "run.json").read_text())
    steady, rundown = runs.values()
    for run in runs.values():
        assert set(run["versions"]) == {"python", *VERSIONED}
        assert set(run["dataset"]["sha256"]) == {"csv", "sidecar"}
        assert run["seed"] == run["sampler"]["seed"] == run["config"]["sampler"]["seed"]
        assert {"build_s", "sample_s", "predictive_s", "total_s"} <= set(run["timings"])
        # the predictive groups and the pointwise log-likelihood come from the same step
        assert run["diagnostics"]["verdict"] in ("pass", "fail")
    assert set(steady["sampler"]) - set(rundown["sampler"]) == {"init", "backend"}
