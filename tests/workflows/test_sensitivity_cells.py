"""The Sobol' examples of the cell compositions (``workflows/examples/sens_<cell>.toml``)
at a small base size: the rankings of total-order indices that the physics implies.

A ranking counts only where the bootstrap intervals separate (the upper end of the
smaller index's interval below the lower end of the larger's), so a test cannot pass on
noise. n = 256 base samples: 2,000-3,300 steady states per example, a few seconds each
(the mature neuron's E_GABA and the enterocyte's ATP rankings at the examples' own n = 1024).

Every example has the cell's total ATP use (``atp_per_s``) among its outputs, and for
each cell a test names the input that ranks first for it.
"""

from __future__ import annotations

import tomllib
from importlib.resources import files
from pathlib import Path

import pytest

import iongrad

EXAMPLES = Path(str(files("iongrad.workflows") / "examples"))
_RUNS: dict = {}


def _config(example: str) -> dict:
    return tomllib.loads((EXAMPLES / f"{example}.toml").read_text(encoding="utf-8"))


def _st(example: str, n: int = 256) -> dict:
    """``{output: {input: (ST, ci_low, ci_high)}}`` of an example run at base size n."""
    if (example, n) not in _RUNS:
        cfg = _config(example)
        cfg["sensitivity"]["n"] = n
        df = iongrad.sensitivity(cfg).indices
        st = df[(df["index"] == "ST") & (df["method"] == "sobol")]
        _RUNS[example, n] = {out: {r.parameter: (r.value, r.ci_low, r.ci_high)
                                   for r in g.itertuples()} for out, g in st.groupby("output")}
    return _RUNS[example, n]


def _above(st: dict, big: str, small: str) -> bool:
    """``big`` has the larger total-order index, resolved by the intervals."""
    return st[big][1] > st[small][2]


def _first(st: dict) -> str:
    """The input with the largest total-order index, provided its interval lies above
    every other input's; fails otherwise (a first place the intervals do not resolve)."""
    top = max(st, key=lambda p: st[p][0])
    unresolved = [p for p in st if p != top and not _above(st, top, p)]
    assert not unresolved, (top, unresolved, st)
    return top


@pytest.mark.parametrize("example", ["sens_mature_neuron", "sens_immature_neuron",
                                     "sens_cardiac_myocyte", "sens_enterocyte"])
def test_every_cell_example_reports_its_atp_cost(example):
    assert "atp_per_s" in _config(example)["sensitivity"]["outputs"]


def test_mature_neuron_e_gaba_depends_more_on_kcc2_than_on_nkcc1():
    st = _st("sens_mature_neuron")["e_gaba_mV"]
    assert _above(st, "kcc2_u_pA", "nkcc1_u_pA"), st


def test_mature_neuron_e_gaba_sits_at_the_kcc2_floor_set_by_the_hco3_permeability():
    # KCC2 (K+ and Cl- out together) cannot lower Cl_i below its equilibrium
    # Cl_i = K_o Cl_o / K_i; at mature activities (3-30 pA against a 0.03-0.3 nS Cl-
    # leak) Cl_i sits near that floor, a few mM, and the GABA-A channel's HCO3- current
    # (P_HCO3/P_Cl 0.1-0.4 times ~15 mM HCO3_i, set by pH_i) weighs as much as its Cl-:
    # E_GABA follows the HCO3- permeability first, then KCC2 and pH_i, each above the
    # Na+ leak (which moves K_i and so the floor). n = 1024, the example's size.
    st = _st("sens_mature_neuron", n=1024)["e_gaba_mV"]
    assert _first(st) == "p_hco3_over_p_cl"
    for second in ("kcc2_u_pA", "ph_i"):
        assert _above(st, second, "g_na_nS"), (second, st)
    # Cl_i itself follows the extruder more than the Cl- leak or the residual NKCC1
    cl = _st("sens_mature_neuron", n=1024)["cl_i_mM"]
    for other in ("g_cl_nS", "nkcc1_u_pA"):
        assert _above(cl, "kcc2_u_pA", other), (other, cl)


def test_immature_neuron_e_gaba_is_set_by_nkcc1():
    st = _st("sens_immature_neuron")["e_gaba_mV"]
    assert _above(st, "nkcc1_u_pA", "kcc2_u_pA"), st
    # the Cl- loader is the first input of E_GABA before the switch, resolved from all ...
    assert _first(st) == "nkcc1_u_pA"
    # ... and matters more there than after it
    mature = _st("sens_mature_neuron")["e_gaba_mV"]
    assert st["nkcc1_u_pA"][1] > mature["nkcc1_u_pA"][2]


@pytest.mark.parametrize("example", ["sens_mature_neuron", "sens_immature_neuron"])
def test_neuron_atp_cost_is_set_by_the_na_influx_not_by_cl_transport(example):
    # the pump's ATP/s is a third of the Na+ influx at steady state; KCC2 moves no Na+
    # and NKCC1 one Na+ per cycle at a few pA against a leak of tens of pA: the Na+ leak
    # ranks first, resolved from every other input (the pump's capacity, second, matters
    # only where Na_i rises and shrinks the leak's driving force)
    st = _st(example)["atp_per_s"]
    assert _first(st) == "g_na_nS"
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
    # ATP/s = Na+/K+ pump cycles (a third of the Na+ influx: the leak's, plus 3 Na+ per
    # Ca2+ the exchanger extrudes) + PMCA cycles (one per Ca2+). Over these ranges the Na+
    # background influx (g_na 0.3-3 nS x ~150 mV) is the largest entry, so it ranks
    # first; the background Ca2+ entry, which costs about one ATP per Ca2+ by either
    # route out, ranks second; the pump's and the exchanger's sizes only decide the route
    # and Na_i, not how much enters
    assert _first(st) == "g_na_nS"
    rest = {p: v for p, v in st.items() if p != "g_na_nS"}
    assert _first(rest) == "g_ca_nS"


@pytest.mark.parametrize("share", ["ncx_atp_per_s", "pmca_atp_per_s"])
def test_myocyte_atp_for_ca_extrusion_is_set_by_the_ca_entry(share):
    # at steady state every Ca2+ that enters leaves by NCX or PMCA: what either route
    # spends is set first by how much Ca2+ enters; the route's own size (pmca_max) and
    # Na_i (which moves NCX's equilibrium) only split it
    st = _st("sens_cardiac_myocyte")[share]
    assert _first(st) == "g_ca_nS"
    assert _above(st, "g_ca_nS", "ncx_k_pA"), st


def test_enterocyte_atp_cost_follows_the_sglt1_load():
    st = _st("sens_enterocyte")["atp_per_s"]
    assert _above(st, "sglt1_jmax_pA", "k_na_mM"), st
    assert _above(st, "sglt1_jmax_pA", "g_k_nS"), st


def test_enterocyte_atp_cost_is_the_na_entry_when_the_pump_can_carry_it():
    # ATP/s is a third of the Na+ influx (leak + 2 per SGLT1 cycle). With the pump sized
    # to the load (1,500-6,000 sites/µm²: Na_i 5-18 mM) the cost is what enters: SGLT1's
    # activity first, resolved from all; then the Na+ leak and the glucose that drives
    # SGLT1 (ST ~0.3 and ~0.25, intervals touching); the pump's own density and
    # affinity hardly matter (ST < 0.05), as they only set the Na_i at which the pump
    # balances the entry
    st = _st("sens_enterocyte", n=1024)["atp_per_s"]
    assert _first(st) == "sglt1_jmax_pA"
    for entry in ("g_na_nS", "glucose_o_mM"):
        assert _above(st, entry, "pump_density_per_um2"), (entry, st)
    for pump in ("pump_density_per_um2", "k_na_mM"):
        assert st[pump][2] < 0.05, (pump, st[pump])


def test_enterocyte_sglt1_share_of_the_atp_is_set_by_sglt1_and_glucose():
    # the ATP spent on SGLT1's Na+ is a third of its 2 Na+ per cycle: its own activity
    # first, then the glucose (0.1-20 mM spans its 0.5 mM apparent affinity), both
    # resolved above the pump's density, which does not enter that share
    st = _st("sens_enterocyte")["sglt1_atp_per_s"]
    assert _first(st) == "sglt1_jmax_pA"
    assert _above(st, "glucose_o_mM", "pump_density_per_um2"), st
