"""The Sobol' examples of the cell compositions (``workflows/examples/sens_<cell>.toml``)
at a small base size: the rankings of total-order indices that the physics implies.

A ranking counts only where the bootstrap intervals separate (the upper end of the
smaller index's interval below the lower end of the larger's), so a test cannot pass on
noise. n = 256 base samples: 2,000-3,300 steady states per example, a few seconds each
(the enterocyte's ATP ranking at the example's own n = 1024: 8,192 steady states, ~1 s).

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


def test_mature_neuron_e_gaba_sits_at_the_kcc2_floor_set_by_the_cation_gradients():
    # KCC2 (K+ and Cl- out together) cannot lower Cl_i below its equilibrium
    # Cl_i = K_o Cl_o / K_i; at mature activities (3-30 pA against a 0.03-0.3 nS Cl-
    # leak) Cl_i sits near that floor, so E_GABA follows what sets K_i and V (the Na+
    # leak first, then the pump) and the HCO3- permeability of the GABA-A channel, more
    # than KCC2's own activity. n = 1024 (the example's size) resolves the first place.
    st = _st("sens_mature_neuron", n=1024)["e_gaba_mV"]
    assert _first(st) == "g_na_nS"
    assert _above(st, "p_hco3_over_p_cl", "kcc2_u_pA"), st
    assert _above(st, "pump_density_per_um2", "kcc2_u_pA"), st


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


def test_enterocyte_atp_cost_is_capped_by_the_pump_capacity_where_sglt1_overloads_it():
    # ATP/s is a third of the Na+ influx (leak + 2 per SGLT1 cycle), and can never exceed
    # the pump's capacity (density x area x turnover). Over the example's ranges the SGLT1
    # Na+ entry (4-100 pA at saturation) often exceeds what 500-2,500 pumps/µm² can carry
    # (~20-100 pA of Na+): Na_i then climbs (median 31 mM, above 50 mM in ~40% of the
    # samples) until the pump, running near its maximum, sets the cost. So the pump
    # density ranks first, SGLT1 second and the Na+ leak third, each resolved (n = 1024,
    # the example's own size; at n = 256 the first two overlap)
    st = _st("sens_enterocyte", n=1024)["atp_per_s"]
    assert _first(st) == "pump_density_per_um2"
    rest = {p: v for p, v in st.items() if p != "pump_density_per_um2"}
    assert _first(rest) == "sglt1_jmax_pA"
    assert _above(st, "sglt1_jmax_pA", "g_na_nS"), st


def test_enterocyte_sglt1_share_of_the_atp_is_set_by_sglt1():
    # the ATP spent on SGLT1's Na+ is a third of its 2 Na+ per cycle: its own activity
    # first (at 0.1-20 mM glucose, above K_s 0.5 mM in most samples, it runs near J_max),
    # the pump's capacity second (where it is overloaded Na_i rises and slows SGLT1)
    st = _st("sens_enterocyte")["sglt1_atp_per_s"]
    assert _first(st) == "sglt1_jmax_pA"
    assert _above(st, "pump_density_per_um2", "glucose_o_mM"), st
