"""The Sobol' examples of the cell compositions (``workflows/examples/sens_<cell>.toml``)
at a small base size: the rankings of total-order indices that the physics implies.

A ranking counts only where the bootstrap intervals separate (the upper end of the
smaller index's interval below the lower end of the larger's), so a test cannot pass on
noise. n = 256 base samples: 2,000-3,300 steady states per example, a few seconds each.
"""

from __future__ import annotations

import tomllib
from importlib.resources import files
from pathlib import Path

import pytest

import iongrad

EXAMPLES = Path(str(files("iongrad.workflows") / "examples"))
_RUNS: dict = {}


def _st(example: str) -> dict:
    """``{output: {input: (ST, ci_low, ci_high)}}`` of an example run at n = 256."""
    if example not in _RUNS:
        cfg = tomllib.loads((EXAMPLES / f"{example}.toml").read_text(encoding="utf-8"))
        cfg["sensitivity"]["n"] = 256
        df = iongrad.sensitivity(cfg).indices
        st = df[(df["index"] == "ST") & (df["method"] == "sobol")]
        _RUNS[example] = {out: {r.parameter: (r.value, r.ci_low, r.ci_high)
                                for r in g.itertuples()} for out, g in st.groupby("output")}
    return _RUNS[example]


def _above(st: dict, big: str, small: str) -> bool:
    """``big`` has the larger total-order index, resolved by the intervals."""
    return st[big][1] > st[small][2]


def test_mature_neuron_e_gaba_depends_more_on_kcc2_than_on_nkcc1():
    st = _st("sens_mature_neuron")["e_gaba_mV"]
    assert _above(st, "kcc2_u_pA", "nkcc1_u_pA"), st


def test_immature_neuron_e_gaba_is_set_by_nkcc1():
    st = _st("sens_immature_neuron")["e_gaba_mV"]
    assert _above(st, "nkcc1_u_pA", "kcc2_u_pA"), st
    # the Cl- loader is the first input of E_GABA before the switch ...
    assert max(st, key=lambda p: st[p][0]) == "nkcc1_u_pA"
    # ... and matters more there than after it
    mature = _st("sens_mature_neuron")["e_gaba_mV"]
    assert st["nkcc1_u_pA"][1] > mature["nkcc1_u_pA"][2]


@pytest.mark.parametrize("example", ["sens_mature_neuron", "sens_immature_neuron"])
def test_neuron_atp_cost_is_set_by_the_na_influx_not_by_cl_transport(example):
    # the pump's ATP/s is a third of the Na+ influx at steady state; KCC2 moves no Na+
    # and NKCC1 one Na+ per cycle at a few pA against a leak of tens of pA
    st = _st(example)["atp_per_s"]
    assert max(st, key=lambda p: st[p][0]) == "g_na_nS"
    for cotransporter in ("kcc2_u_pA", "nkcc1_u_pA"):
        assert _above(st, "g_na_nS", cotransporter), (cotransporter, st)


def test_myocyte_ca_i_follows_na_i_through_the_exchanger():
    # NCX runs close to its equilibrium (3 E_Na = 2 E_Ca + V): at rest Ca_i is set by
    # Na_i and V, hardly by how many exchangers there are
    st = _st("sens_cardiac_myocyte")
    assert _above(st["ca_i_nM"], "g_na_nS", "ncx_k_pA"), st["ca_i_nM"]
    # Na_i: the Na+ leak and the pump, not the exchanger's size
    assert _above(st["na_i_mM"], "g_na_nS", "ncx_k_pA"), st["na_i_mM"]
    assert _above(st["na_i_mM"], "pump_density_per_um2", "ncx_k_pA"), st["na_i_mM"]


def test_myocyte_atp_cost_is_set_by_the_influxes_not_by_the_pump_affinity():
    st = _st("sens_cardiac_myocyte")["atp_per_s"]
    assert _above(st, "g_na_nS", "k_na_mM"), st
    assert _above(st, "g_ca_nS", "k_na_mM"), st


def test_enterocyte_atp_cost_follows_the_sglt1_load():
    st = _st("sens_enterocyte")["atp_per_s"]
    assert _above(st, "sglt1_jmax_pA", "k_na_mM"), st
    assert _above(st, "sglt1_jmax_pA", "g_k_nS"), st
