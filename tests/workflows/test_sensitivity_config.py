"""Config validation and CLI behaviour of ``iongrad sensitivity``."""

from __future__ import annotations

import copy

import pytest

from iongrad.models.errors import ConfigError
from iongrad.workflows.cli import main
from iongrad.workflows.sensitivity import resolve_config

GOOD = {
    "sensitivity": {"model": "pump_leak", "method": "sobol", "n": 64, "seed": 0,
                    "outputs": ["v_rest_mV"]},
    "fixed": {"na_o_mM": 145.0},
    "inputs": {"g_na_nS": {"bounds": [0.1, 0.2], "dist": "loguniform"},
               "k_o_mM": {"bounds": [3.0, 6.0]}},
}


def _bad(path, value=None, *, delete=False):
    cfg = copy.deepcopy(GOOD)
    node = cfg
    for key in path[:-1]:
        node = node.setdefault(key, {})
    if delete:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return cfg


BAD = [
    ("unknown parameter", _bad(("inputs", "g_xx_nS"), {"bounds": [1.0, 2.0]}), "g_xx_nS"),
    ("lower >= upper", _bad(("inputs", "k_o_mM", "bounds"), [6.0, 3.0]), "inputs.k_o_mM"),
    ("loguniform zero", _bad(("inputs", "g_na_nS", "bounds"), [0.0, 0.2]), "inputs.g_na_nS"),
    ("loguniform negative", _bad(("inputs", "g_na_nS", "bounds"), [-0.1, 0.2]),
     "inputs.g_na_nS"),
    ("unknown output", _bad(("sensitivity", "outputs"), ["v_mV"]), "v_mV"),
    ("unknown key", _bad(("sensitivity", "seeds"), 3), "seeds"),
    ("unknown section", _bad(("extra",), {}), "extra"),
    ("missing seed", _bad(("sensitivity", "seed"), delete=True), "seed"),
    ("bool seed", _bad(("sensitivity", "seed"), True), "seed"),
    ("unknown method", _bad(("sensitivity", "method"), "fast99"), "fast99"),
    ("unknown model", _bad(("sensitivity", "model"), "hh"), "hh"),
    ("sobol n not power of 2", _bad(("sensitivity", "n"), 100), "sensitivity.n"),
    ("normal on positive", _bad(("inputs", "k_o_mM"), {"dist": "normal", "mean": 4.0,
                                                       "sd": 1.0}), "inputs.k_o_mM"),
    ("fixed out of support", _bad(("fixed", "g_k_nS"), -1.0), "fixed.g_k_nS"),
    ("fixed and input", _bad(("fixed", "k_o_mM"), 4.0), "k_o_mM"),
    ("posterior missing", _bad(("posterior",), {"path": "nope/posterior.nc",
                                                "variables": ["g_k_nS"]}), "posterior.path"),
    ("failure mode", _bad(("sensitivity", "failure_handling"), "drop"), "drop"),
    ("bounds above registry domain", _bad(("inputs", "k_o_mM", "bounds"), [3.0, 2500.0]),
     "inputs.k_o_mM.bounds"),
    ("fixed bool", _bad(("fixed", "na_o_mM"), True), "fixed.na_o_mM = true"),
    ("second order with morris", _bad(("sensitivity",), {
        "model": "pump_leak", "method": "morris", "n": 10, "seed": 0,
        "second_order": True}), "sensitivity.second_order"),
    ("n over cap", _bad(("sensitivity", "n"), 2**25), "sensitivity.n = 33554432"),
    ("duplicate outputs", _bad(("sensitivity", "outputs"), ["v_rest_mV", "v_rest_mV"]),
     "duplicate"),
    ("string seed", _bad(("sensitivity", "seed"), "0"), "sensitivity.seed"),
]


@pytest.mark.parametrize(("label", "cfg", "needle"), BAD, ids=[b[0] for b in BAD])
def test_bad_config_names_key(tmp_path, label, cfg, needle):
    with pytest.raises(ConfigError, match=needle.replace(".", r"\.")):
        resolve_config(cfg, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_posterior_not_inferencedata(tmp_path):
    (tmp_path / "post.nc").write_text("not a netcdf file")
    cfg = _bad(("posterior",), {"path": "post.nc", "variables": ["g_k_nS"]})
    with pytest.raises(ConfigError, match=r"posterior\.path.*InferenceData"):
        resolve_config(cfg, tmp_path)


def test_seed_zero_is_valid(tmp_path):
    assert resolve_config(GOOD, tmp_path)["seed"] == 0


def _toml(path, body):
    path.write_text(body, encoding="utf-8")
    return path


def test_cli_error_exit_2_one_line(tmp_path, capsys):
    cfg = _toml(tmp_path / "c.toml", """
[sensitivity]
model = "pump_leak"
n = 64
outputs = ["v_rest_mV"]
[inputs.k_o_mM]
bounds = [6.0, 3.0]
""")
    out = tmp_path / "out"
    assert main(["sensitivity", str(cfg), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "seed" in err
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["c.toml"]


def test_cli_runs_and_refuses_overwrite(tmp_path, capsys):
    cfg = _toml(tmp_path / "c.toml", """
[sensitivity]
model = "ishigami"
n = 64
seed = 0
[inputs.x1]
bounds = [-3.14159, 3.14159]
[inputs.x2]
bounds = [-3.14159, 3.14159]
""")
    out = tmp_path / "out"
    assert main(["sensitivity", str(cfg), "--out", str(out), "--no-progress"]) == 0
    assert (out / "indices.csv").is_file() and (out / "run.json").is_file()
    capsys.readouterr()
    assert main(["sensitivity", str(cfg), "--out", str(out)]) == 2
    assert "--force" in capsys.readouterr().err
    assert main(["sensitivity", str(cfg), "--out", str(out), "--force", "--no-progress"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.toml", "out"]
