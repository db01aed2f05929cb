"""Cation-chloride cotransporters, Na+/Ca2+ exchange, the Ca2+ pump, Na+-coupled uptake
and the compositions built from them.

Closed-form equilibrium identities the solver never uses (KCC2 alone: K_i Cl_i =
K_o Cl_o; NKCC1 alone: Na_i K_i Cl_i² = Na_o K_o Cl_o²; the NCX current vanishes at
3 E_Na - 2 E_Ca), the sign of every cycle flux against its free-energy change on a
random design, generated Jacobians against finite differences, and every new
composition solved with a relative residual ≤ 1e-9 over a random design.
"""

import json
import math

import numpy as np
import pytest
import sympy as sp
from _designs import random_design

from iongrad.models.codegen import numpy_function
from iongrad.models.constants import F_C_PER_MOL, R_J_PER_MOL_K
from iongrad.models.mechanisms import (
    ION,
    activity_load,
    bath,
    conc,
    gaba_a_reversal,
    gat1,
    kcc2,
    kcc2_kinetic,
    na_k_pump,
    ncx,
    nkcc1,
    nkcc1_kinetic,
    ohmic_leak,
    param,
    pmca,
    sglt1,
    voltage,
)
from iongrad.models.membrane import (
    Membrane,
    composition,
    composition_record,
    membrane_of,
)
from iongrad.models.steady_core import plan_for, solve_membrane
from iongrad.models.steady_coupled import CoupledPlan
from iongrad.models.steady_state import steady_state_of

NEW = ("mature_neuron", "immature_neuron", "cardiac_myocyte", "enterocyte")
MECHANISMS = {"kcc2": kcc2, "kcc2_kinetic": kcc2_kinetic, "nkcc1": nkcc1,
              "nkcc1_kinetic": nkcc1_kinetic, "ncx": ncx, "pmca": pmca, "sglt1": sglt1,
              "gat1": gat1}


def _vt(t):
    return R_J_PER_MOL_K * t / F_C_PER_MOL * 1e3


def _random_inputs(syms, n, rng):
    """Random values of a mechanism's state and parameters within physical ranges."""
    out = {}
    for s in syms:
        name = s.name
        if name == "v_mV":
            out[name] = rng.uniform(-120.0, 60.0, n)
        elif name == "temperature_K":
            out[name] = rng.uniform(290.0, 312.0, n)
        elif name in ("ca_i_mM",):
            out[name] = np.exp(rng.uniform(np.log(1e-5), np.log(1e-2), n))
        elif name.endswith("_mM"):
            out[name] = np.exp(rng.uniform(np.log(0.5), np.log(200.0), n))
        elif name == "ncx_gamma":
            out[name] = rng.uniform(0.1, 0.9, n)
        elif name == "dg_atp_mag_kJ_mol":
            out[name] = rng.uniform(30.0, 60.0, n)
        else:  # rates, affinities in nM, Hill coefficients, saturation factors
            out[name] = np.exp(rng.uniform(np.log(0.2), np.log(5.0), n)) * (
                300.0 if name.endswith("_nM") else 1.0)
    return out


# ---- closed-form equilibrium identities ---------------------------------------------------
@pytest.mark.parametrize("form", [kcc2, kcc2_kinetic])
def test_kcc2_alone_sets_the_ion_product_ratio(form):
    """With KCC2 the only Cl- path, the Cl- balance forces it to equilibrium:
    K_i Cl_i = K_o Cl_o at the steady state."""
    m = Membrane(f"kcc2_only_{form.__name__}", (ohmic_leak("na"), ohmic_leak("k"),
                                                na_k_pump(), activity_load(), form()))
    rng = np.random.default_rng(151)
    n = 200
    p = random_design(m, n, rng)
    p["cl_o_mM"] = rng.uniform(60.0, 140.0, n)
    sol = solve_membrane(m, p)
    f = sol.feasible
    assert f.mean() > 0.95
    st = sol.state
    np.testing.assert_allclose((st["k_i_mM"] * st["cl_i_mM"])[f],
                               (p["k_o_mM"] * p["cl_o_mM"])[f], rtol=1e-8)


@pytest.mark.parametrize("form", [nkcc1, nkcc1_kinetic])
def test_nkcc1_alone_sets_the_ion_product_ratio(form):
    """NKCC1 alone: Na_i K_i Cl_i² = Na_o K_o Cl_o² at the steady state."""
    m = Membrane(f"nkcc1_only_{form.__name__}", (ohmic_leak("na"), ohmic_leak("k"),
                                                 na_k_pump(), activity_load(), form()))
    rng = np.random.default_rng(152)
    n = 200
    p = random_design(m, n, rng)
    sol = solve_membrane(m, p)
    f = sol.feasible
    assert f.mean() > 0.95
    st = sol.state
    lhs = st["na_i_mM"] * st["k_i_mM"] * st["cl_i_mM"] ** 2
    rhs = p["na_o_mM"] * p["k_o_mM"] * p["cl_o_mM"] ** 2
    np.testing.assert_allclose(lhs[f], rhs[f], rtol=1e-8)


def test_ncx_current_vanishes_at_three_e_na_minus_two_e_ca():
    mech = ncx()
    syms = sorted(mech.current.free_symbols, key=lambda s: s.name)
    rng = np.random.default_rng(153)
    n = 2000
    x = _random_inputs(syms, n, rng)
    vt = _vt(x["temperature_K"])
    e_na = vt * np.log(x["na_o_mM"] / x["na_i_mM"])
    e_ca = vt / 2 * np.log(x["ca_o_mM"] / x["ca_i_mM"])
    x["v_mV"] = 3 * e_na - 2 * e_ca
    f = numpy_function(syms, [mech.current, mech.current_magnitude()])
    i, gross = f(*(x[s.name] for s in syms))
    assert np.max(np.abs(i) / gross) < 1e-12
    # and away from it the current has the sign of V - E_NCX (outward above)
    x["v_mV"] = x["v_mV"] + rng.choice([-1.0, 1.0], n) * rng.uniform(0.5, 30.0, n)
    i, _ = f(*(x[s.name] for s in syms))
    np.testing.assert_array_equal(np.sign(i), np.sign(x["v_mV"] - (3 * e_na - 2 * e_ca)))
    # one cycle: 3 Na+ one way, 1 Ca2+ the other, one net charge
    assert sp.simplify(mech.fluxes["na"] + 3 * mech.fluxes["ca"]) == 0
    assert sp.simplify(mech.current - mech.fluxes["na"] / 3) == 0


@pytest.mark.parametrize("name", list(MECHANISMS))
def test_cycle_flux_has_the_sign_of_minus_delta_g_and_vanishes_at_equilibrium(name):
    mech = MECHANISMS[name]()
    assert mech.free_energy is not None and mech.cycle_flux is not None
    syms = sorted(mech.cycle_flux.free_symbols | mech.free_energy.free_symbols
                  | {s for e in mech.fluxes.values() for s in e.free_symbols},
                  key=lambda s: s.name)
    rng = np.random.default_rng(abs(hash(name)) % 2**32)
    n = 4000
    x = _random_inputs(syms, n, rng)
    f = numpy_function(syms, [mech.cycle_flux, mech.free_energy])
    j, dg = f(*(x[s.name] for s in syms))
    clear = np.abs(dg) > 1e-9
    assert clear.mean() > 0.99
    np.testing.assert_array_equal(np.sign(j[clear]), -np.sign(dg[clear]))
    # at equilibrium: move one intracellular concentration to where ΔG = 0
    ion = next(iter(mech.fluxes))
    c = conc(ion)
    s = sp.Symbol("_s", real=True)
    k = sp.simplify(sp.diff(mech.free_energy.subs(c, sp.exp(s)), s))
    assert not k.free_symbols and k != 0
    x[c.name] = x[c.name] * np.exp(-dg / float(k))
    j0, dg0 = f(*(x[s_.name] for s_ in syms))
    assert np.max(np.abs(dg0)) < 1e-9
    scale = numpy_function(syms, [mech.scale_of(ion)])(*(x[s_.name] for s_ in syms))[0]
    assert np.max(np.abs(j0) / scale) < 1e-8


def test_pmca_spends_one_atp_per_calcium_and_kcc2_nkcc1_carry_no_current():
    m = pmca()
    ratio = sp.simplify(m.atp_per_s / m.fluxes["ca"] * 1.602176634e-19 * 1e12)
    assert abs(float(ratio) - 1.0) < 1e-12
    for mech in (kcc2(), kcc2_kinetic(), nkcc1(), nkcc1_kinetic()):
        assert sp.simplify(mech.current) == 0
    # SGLT1 carries 2 charges in per cycle, GAT1 one
    for mech, q in ((sglt1(), 2), (gat1(), 1)):
        assert sp.simplify(mech.current + q * mech.cycle_flux) == 0


@pytest.mark.parametrize("form", [sglt1, gat1])
def test_na_coupled_uptake_has_its_substrate_affinity_and_never_exceeds_jmax(form):
    """With Na+ (and Cl-) saturating, as at rest in a 145 mM Na+ bath, the substrate's
    half-saturating concentration is K_S itself (SGLT1: 0.5 mM glucose, Wright, Loo &
    Hirayama 2011), not K_S divided by the ions' activation; and |J| < J_max over a
    random design of states and parameters."""
    mech = form()
    name, sub = ("sglt1", "glucose") if form is sglt1 else ("gat1", "gaba")
    syms = sorted(mech.cycle_flux.free_symbols, key=lambda s: s.name)
    f = numpy_function(syms, [mech.cycle_flux])
    k_s = 0.5
    x = {s.name: np.array([1.0]) for s in syms}
    x.update({"v_mV": np.array([-50.0]), "temperature_K": np.array([310.0]),
              "na_o_mM": np.array([145.0]), "na_i_mM": np.array([12.0]),
              "cl_o_mM": np.array([123.0]), "cl_i_mM": np.array([8.0]),
              f"{name}_k_na_mM": np.array([10.0]), f"{name}_k_s_mM": np.array([k_s]),
              f"{name}_jmax_pA": np.array([1.0]), f"{sub}_i_mM": np.array([1e-9])})
    if f"{name}_k_cl_mM" in x:
        x[f"{name}_k_cl_mM"] = np.array([10.0])

    def flux(s_o):
        return f(*(np.full(1, s_o) if s.name == f"{sub}_o_mM" else x[s.name]
                   for s in syms))[0][0]

    j_sat = flux(1e6)
    assert 0.95 < j_sat < 1.0
    np.testing.assert_allclose(flux(k_s) / j_sat, 0.5, atol=0.02)
    # over a random design the cycle rate stays inside (-J_max, J_max)
    rng = np.random.default_rng(157)
    y = _random_inputs(syms, 4000, rng)
    j = f(*(y[s.name] for s in syms))[0]
    assert np.all(np.abs(j) < y[f"{name}_jmax_pA"])


# ---- generated derivatives -------------------------------------------------------------
@pytest.mark.parametrize("name", ["mature_neuron", "immature_neuron", "cardiac_myocyte"])
def test_generated_jacobian_matches_finite_differences(name):
    """The coupled Newton's Jacobian (cotransporters and the exchanger couple the
    balances) against 4th-order central differences of its residuals."""
    m = composition(name)
    plan = plan_for(m)
    assert isinstance(plan, CoupledPlan)
    rng = np.random.default_rng(154)
    n = 50
    p = random_design(m, n, rng)
    pv = [p[k] for k in plan.params]
    sol = solve_membrane(m, p)
    z = [np.asarray(zz) + rng.normal(0, 0.05, n) for zz in sol.reduced]
    z[-1] = z[-1] + rng.normal(0, 3.0, n)
    d = plan.dim
    jac = np.stack([np.broadcast_to(j, (n,)) for j in plan._jac(*z, *pv)], axis=-1)
    def at(col, step):
        return [np.asarray(v) for v in
                plan._fun(*(zz + (step if i == col else 0) for i, zz in enumerate(z)), *pv)[:d]]

    for col in range(d):
        h = 1e-3 * np.maximum(1.0, np.abs(z[col]))
        p1, m1, p2, m2 = at(col, h), at(col, -h), at(col, 2 * h), at(col, -2 * h)
        for row in range(d):
            fd = (8 * (p1[row] - m1[row]) - (p2[row] - m2[row])) / (12 * h)
            got = jac[:, row * d + col]
            np.testing.assert_allclose(got, fd, rtol=1e-6,
                                       atol=1e-7 * (np.max(np.abs(got)) + 1e-300),
                                       err_msg=f"d eq{row} / d z{col}")


def test_enterocyte_reduces_to_one_dimension_with_a_generated_slope():
    """SGLT1 moves Na+ alone: the cell keeps the monotone 1-D reduction in ln Na_i, whose
    generated slope matches finite differences."""
    m = composition("enterocyte")
    plan = plan_for(m)
    assert not isinstance(plan, CoupledPlan) and plan.master_ion == "na"
    rng = np.random.default_rng(157)
    n = 200
    p = random_design(m, n, rng)
    pv = [p[k] for k in plan.params]
    prep = plan.prepare(pv)
    x = rng.uniform(np.log(3.0), np.log(60.0), n)
    _, dr, _, _, ok = plan.reduced_residual(x, pv, prep)
    h = 1e-5
    r = [plan.reduced_residual(x + k * h, pv, prep)[0] for k in (1, -1, 2, -2)]
    fd = (8 * (r[0] - r[1]) - (r[2] - r[3])) / (12 * h)
    assert ok.all()
    np.testing.assert_allclose(dr, fd, rtol=1e-7, atol=1e-9 * np.max(np.abs(dr)))


def test_slope_conductance_of_the_myocyte_is_the_derivative_of_its_current():
    m = composition("cardiac_myocyte")
    plan = plan_for(m)
    rng = np.random.default_rng(155)
    n = 200
    p = random_design(m, n, rng)
    pv = [p[k] for k in plan.params]
    c = [np.exp(rng.uniform(np.log(2), np.log(150), n)) for _ in m.ions]
    c[m.ions.index("ca")] = np.exp(rng.uniform(np.log(1e-5), np.log(1e-3), n))
    v = rng.uniform(-100, 20, n)
    current = numpy_function([*m.state_symbols(), *plan.param_symbols], [m.current])
    g = plan._outputs(*c, v, *pv)[plan.output_names.index("slope_conductance_nS")]
    h = 1e-4
    fd = (current(*c, v + h, *pv)[0] - current(*c, v - h, *pv)[0]) / (2 * h)
    np.testing.assert_allclose(g, fd, rtol=1e-7)


# ---- the compositions -------------------------------------------------------------------
@pytest.mark.parametrize("name", NEW)
def test_each_new_composition_solves_over_a_random_design(name):
    """Every point converged (relative residual ≤ 1e-9, checked here from the balance
    equations, not only by the solver) or flagged; none NaN or negative."""
    m = composition(name)
    rng = np.random.default_rng(156)
    n = 400
    p = random_design(m, n, rng)
    sol = solve_membrane(m, p)
    f = sol.feasible
    assert f.mean() >= 0.99
    st = sol.state
    conc_vals = np.stack([st[ION[x].inside] for x in m.ions])
    assert np.all(np.isfinite(conc_vals[:, f])) and np.all(conc_vals[:, f] > 0)
    worst = np.max(np.stack(list(sol.residuals.values())), axis=0)
    assert np.max(worst[f]) <= 1e-9
    # independently: each balance over the gross fluxes it balances, the total current
    syms = [*m.state_symbols(), *(param(k) for k in m.parameters)]
    exprs = [*(m.flux(x) for x in m.ions), *(m.flux_scale(x) for x in m.ions), m.current,
             m.current_scale]
    vals = numpy_function(syms, exprs)(*conc_vals, st["v_mV"], *(p[k] for k in m.parameters))
    k = len(m.ions)
    for i in range(k):
        assert np.max(np.abs(vals[i][f]) / vals[k + i][f]) <= 1e-9, m.ions[i]
    assert np.max(np.abs(vals[2 * k][f]) / vals[2 * k + 1][f]) <= 1e-9


def test_new_outputs_e_cl_e_gaba_ca_nm_and_the_ncx_current():
    mature = steady_state_of(composition("mature_neuron"))
    immature = steady_state_of(composition("immature_neuron"))
    for r in (mature, immature):
        assert r["feasible"]
        t = composition("mature_neuron").defaults()["temperature_K"]
        np.testing.assert_allclose(r["e_cl_mV"], _vt(t) * np.log(r["cl_i_mM"] / 123.0),
                                   rtol=1e-12)
        # HCO3- (E_HCO3 above E_Cl) pulls E_GABA up from E_Cl
        assert r["e_gaba_mV"] > r["e_cl_mV"]
    # KCC2 makes GABA hyperpolarising, NKCC1 depolarising
    assert mature["e_gaba_mV"] < mature["v_rest_mV"] < immature["e_gaba_mV"]
    assert mature["cl_i_mM"] < 8.0 < 15.0 < immature["cl_i_mM"]
    # E_GABA with no HCO3- permeability is E_Cl
    no_hco3 = steady_state_of(composition("mature_neuron"), p_hco3_over_p_cl=0.0)
    np.testing.assert_allclose(no_hco3["e_gaba_mV"], no_hco3["e_cl_mV"], rtol=1e-12)
    # GHK with two anions, recomputed: HCO3_i from pH_i at the bath's pCO2
    hco3_i = 24.0 * 10 ** (7.2 - 7.4)
    ref = _vt(t) * math.log((float(mature["cl_i_mM"]) + 0.2 * hco3_i) / (123.0 + 0.2 * 24.0))
    np.testing.assert_allclose(mature["e_gaba_mV"], ref, rtol=1e-12)

    heart = steady_state_of(composition("cardiac_myocyte"))
    assert heart["feasible"]
    np.testing.assert_allclose(heart["ca_i_nM"], heart["ca_i_mM"] * 1e6, rtol=1e-14)
    assert 30.0 < heart["ca_i_nM"] < 300.0 and 5.0 < heart["na_i_mM"] < 20.0
    # at rest the exchanger extrudes Ca2+ (forward mode: inward current, V < E_NCX)
    e_ncx = 3 * heart["e_na_mV"] - 2 * heart["e_ca_mV"]
    assert heart["v_rest_mV"] < e_ncx and heart["ncx_current_pA"] < 0
    # the Ca2+ balance: leak influx = NCX + PMCA extrusion (Ca2+ currents, pA)
    p = composition("cardiac_myocyte").defaults()
    i_leak = p["g_ca_nS"] * (heart["v_rest_mV"] - heart["e_ca_mV"])
    i_pmca = (p["pmca_max_pA"] / (1 + p["pmca_k_ca_nM"] / heart["ca_i_nM"])
              * (1 - np.exp(-(55e3 / (R_J_PER_MOL_K * p["temperature_K"]))
                            + np.log(1.8 / heart["ca_i_mM"])
                            - 2 * heart["v_rest_mV"] / _vt(p["temperature_K"]))))
    np.testing.assert_allclose(i_leak - 2 * heart["ncx_current_pA"] + i_pmca, 0.0,
                               atol=1e-9 * abs(i_leak))


def test_enterocyte_sglt1_is_a_na_load_on_the_pump():
    m = composition("enterocyte")
    base = steady_state_of(m)
    more = steady_state_of(m, glucose_o_mM=20.0)
    off = steady_state_of(m, sglt1_jmax_pA=0.0)
    assert base["feasible"] and more["feasible"] and off["feasible"]
    assert off["atp_per_s"] < base["atp_per_s"] < more["atp_per_s"]
    assert off["na_i_mM"] < base["na_i_mM"] < more["na_i_mM"]


def test_composition_defaults_are_the_cells_own_and_recorded():
    heart = composition("cardiac_myocyte")
    d = heart.defaults()
    assert d["area_um2"] == 15000.0 and d["ca_o_mM"] == 1.8 and d["k_o_mM"] == 5.4
    rec = composition_record(heart)
    assert rec["defaults"]["area_um2"] == 15000.0
    json.dumps(rec, allow_nan=False)  # run.json-safe
    assert membrane_of(json.loads(json.dumps(rec))).defaults() == d
    with pytest.raises(ValueError, match="not among its parameters"):
        Membrane("bad", (ohmic_leak("na"),), default_values={"ca_o_mM": 1.0})
    with pytest.raises(ValueError, match="area_um2"):
        Membrane("bad2", (ohmic_leak("na"),), default_values={"area_um2": -1.0})
    with pytest.raises(ValueError, match=r"reports e_gaba_mV from \['cl_i_mM'\]"):
        Membrane("bad3", (ohmic_leak("na"), gaba_a_reversal()))


def test_sensitivity_entry_of_a_new_composition_has_the_new_outputs_and_defaults():
    from iongrad.workflows.registry import membrane_entry

    m = composition("cardiac_myocyte")
    entry = membrane_entry(m)
    assert {"ca_i_nM", "ncx_current_pA"} <= set(entry.output_names)
    by_name = {q.name: q for q in entry.parameters}
    assert by_name["area_um2"].default == 15000.0
    x = {"g_ca_nS": np.array([0.2, 0.3, 0.45])}
    out = entry.evaluate(x)
    ref = steady_state_of(m, g_ca_nS=x["g_ca_nS"])
    np.testing.assert_allclose(out["ca_i_nM"], ref["ca_i_nM"], rtol=1e-12)
    assert np.all(np.diff(out["ca_i_nM"]) > 0)  # more Ca2+ entry, higher Ca_i
    assert {"e_gaba_mV", "e_cl_mV"} <= set(
        membrane_entry(composition("immature_neuron")).output_names)


def test_voltage_and_bath_symbols_of_the_new_rate_laws_are_the_cells():
    """The rate laws use only registry quantities and the state (no stray symbols)."""
    state = {conc(x).name for x in ION} | {voltage().name}
    for make in MECHANISMS.values():
        mech = make()
        for e in (*mech.fluxes.values(), mech.free_energy):
            for s in e.free_symbols:
                assert s.name in state or s.name in mech.parameters
    assert bath("ca").name == "ca_o_mM"


# ---- the ATP budget -----------------------------------------------------------------
@pytest.mark.parametrize("name", [*NEW, "pump_leak"])
def test_atp_shares_sum_to_the_cells_atp_use(name):
    """Each mechanism's share (the Na+ influx it causes / 3 + its own ATP use) over a
    random design: the shares add up to the total ATP/s, the pump's ATP use equals the
    Na+ influx of all the others / 3, and a passive Na+ entry costs ATP."""
    from iongrad.models.energy_budget import atp_budget_of

    m = composition(name)
    rng = np.random.default_rng(158)
    n = 200
    p = random_design(m, n, rng)
    b = atp_budget_of(m, **p)
    f = b["feasible"]
    assert f.mean() > 0.95
    shares = [k for k in b if k.endswith("_atp_per_s") and k not in ("atp_per_s",
                                                                      "na_k_pump_atp_per_s")]
    # every mechanism but the pump that moves Na+ or uses ATP itself (a K+ leak, KCC2: no share)
    assert set(shares) == {f"{x.name}_atp_per_s" for x in m.mechanisms
                           if x.name != "na_k_pump"
                           and ("na" in x.fluxes or sp.sympify(x.atp_per_s) != 0)}
    total = sum(b[k] for k in shares)
    np.testing.assert_allclose(total[f], b["atp_per_s"][f], rtol=1e-9)
    ref = steady_state_of(m, **p)
    np.testing.assert_allclose(b["atp_per_s"][f], ref["atp_per_s"][f], rtol=1e-12)
    has_pmca = any(x.name == "pmca" for x in m.mechanisms)
    na_shares = total - (np.where(f, b["pmca_atp_per_s"], 0.0) if has_pmca else 0.0)
    if has_pmca:
        # the Ca2+ pump moves no Na+: its share is exactly its own ATP use
        pm = m.mechanism("pmca")
        syms = [*m.state_symbols(), *(param(k) for k in m.parameters)]
        st = [np.where(f, ref[ION[x].inside], 1.0) for x in m.ions] + [
            np.where(f, ref["v_rest_mV"], 0.0)]
        own = numpy_function(syms, [pm.atp_per_s])(*st, *(p[k] for k in m.parameters))[0]
        np.testing.assert_allclose(b["pmca_atp_per_s"][f], own[f], rtol=1e-12)
        assert np.all(b["pmca_atp_per_s"][f] > 0)
    np.testing.assert_allclose(na_shares[f], b["na_k_pump_atp_per_s"][f], rtol=1e-9)
    assert np.all(b["na_leak_atp_per_s"][f] > 0)


@pytest.mark.parametrize("name", NEW)
def test_every_backend_reports_the_same_atp_budget(name):
    """The shares are outputs of the steady state itself (NumPy), of the PyTensor graph
    of the likelihood and of the sensitivity model, all equal on a random design; the
    pump-leak cells keep their historical outputs."""
    import pytensor

    from iongrad.infer.steady_op import SteadyStateOp, steady_state_graph
    from iongrad.models.energy_budget import atp_budget_of
    from iongrad.workflows.registry import membrane_entry

    m = composition(name)
    p = random_design(m, 60, np.random.default_rng(7))
    ref = steady_state_of(m, **p)
    b = atp_budget_of(m, **p)
    f = ref["feasible"]
    shares = [k for k in m.reported_outputs() if k.endswith("_atp_per_s")]
    assert shares and set(shares) <= set(ref)
    out = steady_state_graph(p, op=SteadyStateOp(membrane=m, warm_start=False))
    got = pytensor.function([], [out[k] for k in shares])()
    entry = membrane_entry(m)
    sens = entry.function({k: np.asarray(v, float) for k, v in p.items()})
    for k, g in zip(shares, got, strict=True):
        np.testing.assert_allclose(ref[k][f], b[k][f], rtol=1e-12, err_msg=k)
        np.testing.assert_allclose(g[f], ref[k][f], rtol=1e-9, err_msg=k)
        np.testing.assert_allclose(sens[k][f], ref[k][f], rtol=1e-12, err_msg=k)
    assert {o.name for o in entry.outputs} >= set(shares)
    np.testing.assert_allclose(sum(ref[k] for k in shares)[f], ref["atp_per_s"][f],
                               rtol=1e-9)
    for plain in ("pump_leak", "pump_leak_ghk_osmotic"):
        assert not any(k.endswith("_atp_per_s") and k != "atp_per_s"
                       for k in steady_state_of(composition(plain)))


def test_default_cells_match_their_documented_calibration():
    """The calibrated defaults (docstrings of the compositions) give what they say."""
    mature = steady_state_of(composition("mature_neuron"))
    np.testing.assert_allclose([mature["cl_i_mM"], mature["e_gaba_mV"], mature["v_rest_mV"]],
                               [3.96, -77.6, -75.4], atol=0.05)
    immature = steady_state_of(composition("immature_neuron"))
    np.testing.assert_allclose([immature["cl_i_mM"], immature["e_gaba_mV"],
                                immature["v_rest_mV"]], [27.7, -38.0, -72.7], atol=0.05)
    gut = composition("enterocyte")
    on, off = steady_state_of(gut), steady_state_of(gut, sglt1_jmax_pA=0.0)
    np.testing.assert_allclose(on["sglt1_atp_per_s"] / on["atp_per_s"], 0.081, atol=0.001)
    np.testing.assert_allclose([off["na_i_mM"], on["na_i_mM"]], [12.4, 13.0], atol=0.05)
