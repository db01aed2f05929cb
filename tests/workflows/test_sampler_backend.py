"""``[sampler] backend``: PyMC's NUTS or nutpie's, chosen in the config."""

import importlib.util
import tomllib
import warnings
from pathlib import Path

import numpy as np
import pytest

from iongrad.models.errors import ConfigError
from iongrad.workflows.fit import resolve_config

EXAMPLES = Path(__file__).resolve().parents[2] / "workflows" / "examples"


def _cfg(name: str, **sampler) -> dict:
    raw = tomllib.loads((EXAMPLES / name).read_text())
    raw["sampler"].update(sampler)
    return raw


def test_backend_defaults_to_pymc_and_accepts_nutpie():
    assert resolve_config(_cfg("fit_vrest_ko.toml"), EXAMPLES)["sampler"]["backend"] == "pymc"
    got = resolve_config(_cfg("fit_vrest_ko.toml", backend="nutpie"), EXAMPLES)
    assert got["sampler"]["backend"] == "nutpie"


def test_unknown_backend_is_refused_with_the_choices():
    with pytest.raises(ConfigError,
                       match=r'sampler\.backend = "stan": expected one of pymc, nutpie'):
        resolve_config(_cfg("fit_vrest_ko.toml", backend="stan"), EXAMPLES)


def test_run_down_fits_have_no_backend_choice():
    with pytest.raises(ConfigError, match=r"backend"):
        resolve_config(_cfg("fit_rundown.toml", backend="nutpie"), EXAMPLES)


@pytest.mark.long
@pytest.mark.skipif(importlib.util.find_spec("nutpie") is None, reason="nutpie not installed")
def test_a_fit_samples_with_nutpie_without_object_mode(tmp_path):
    """nutpie compiles the whole log-density with PyTensor's numba backend: no
    object-mode warning, the draws asked for, and the same numbers from the same seed."""
    from iongrad.workflows.fit import run_config

    cfg = _cfg("fit_vrest_ko.toml", backend="nutpie", draws=100, tune=100, chains=2)
    cfg["fit"]["pooling"] = "complete"
    resolved = resolve_config(cfg, EXAMPLES)
    outs = []
    for k in range(2):
        out = tmp_path / f"run{k}"
        out.mkdir()
        with warnings.catch_warnings():
            warnings.filterwarnings("error", message="(?i).*object mode.*")
            run_config(resolved, out)
        import arviz as az

        post = az.from_netcdf(out / "posterior.nc").posterior
        assert post.sizes["chain"] == 2 and post.sizes["draw"] == 100
        outs.append(post["g_k_nS"].values)
    np.testing.assert_array_equal(outs[0], outs[1])
