"""The readable failure region: a depth-2 tree recovers known feasibility boundaries."""

from __future__ import annotations

import json

import numpy as np
import pytest

from iongrad.workflows.failure_rule import failure_rule


def test_a_single_threshold_is_recovered_exactly():
    rng = np.random.default_rng(0)
    x = np.exp(rng.uniform(np.log(0.1), np.log(10.0), (2000, 3)))
    feasible = x[:, 1] > 2.0  # only the second input matters
    rule = failure_rule(x, feasible, ["a", "b", "c"], seed=1)
    assert rule.decisive[0] == "b"
    assert rule.splits[0]["input"] == "b"
    assert rule.splits[0]["threshold"] == pytest.approx(2.0, rel=0.02)
    assert rule.accuracy > 0.99 and rule.baseline_accuracy < 0.8
    assert rule.text.startswith("no steady state when b <= 2")


def test_a_two_input_corner_is_found_with_both_inputs():
    rng = np.random.default_rng(1)
    x = rng.uniform(0.0, 1.0, (4000, 4))
    feasible = ~((x[:, 0] < 0.3) & (x[:, 2] > 0.6))
    rule = failure_rule(x, feasible, ["p", "q", "r", "s"], seed=2)
    assert set(rule.decisive) == {"p", "r"}
    assert rule.accuracy > 0.97
    import re

    m = re.fullmatch(r"no steady state when p <= ([0-9.]+) and r > ([0-9.]+)", rule.text)
    assert m, rule.text
    assert float(m.group(1)) == pytest.approx(0.3, rel=0.03)
    assert float(m.group(2)) == pytest.approx(0.6, rel=0.03)


def test_no_rule_without_both_classes():
    x = np.random.default_rng(2).uniform(size=(100, 2))
    assert failure_rule(x, np.ones(100, bool), ["a", "b"]) is None
    assert failure_rule(x, np.zeros(100, bool), ["a", "b"]) is None


def test_sensitivity_run_reports_where_the_cell_has_no_steady_state(tmp_path):
    """An activity load the pumps cannot undo leaves no steady state: the run's rule names
    the load or the pump density first and predicts held-out feasibility well."""
    from iongrad.workflows.sensitivity import resolve_config, run_config

    cfg = {"sensitivity": {"model": "pump_leak", "method": "sobol", "seed": 4,
                           "n": 256, "outputs": ["v_rest_mV"],
                           "failure_handling": "indicator"},
           "inputs": {"pump_density_per_um2": {"dist": "loguniform", "bounds": [100, 3000]},
                      "activity_load_pA": {"dist": "uniform", "bounds": [0, 40]},
                      "g_na_nS": {"dist": "loguniform", "bounds": [0.05, 0.5]}}}
    run_config(resolve_config(cfg, tmp_path), tmp_path / "out")
    info = json.loads((tmp_path / "out" / "run.json").read_text())
    assert 0 < info["failures"]["n_infeasible"] < info["failures"]["n_samples"]
    rule = info["failure_rule"]
    assert "activity_load_pA" in rule["decisive_inputs"]
    # the boundary is "more load per pump than the pumps can undo": one ratio split
    assert rule["splits"][0]["inputs"] in (["pump_density_per_um2", "activity_load_pA"],
                                           ["activity_load_pA", "pump_density_per_um2"])
    assert rule["held_out_accuracy"] > max(0.95, rule["majority_class_accuracy"])
    assert (tmp_path / "out" / "failure_region.png").is_file()
    assert any(n.startswith("Where there is no steady state: no steady state when")
               for n in info["notes"])
