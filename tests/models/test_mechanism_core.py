"""The mechanism core: rate laws written once, every evaluation and derivative generated.

Checks, on random designs: the generated derivatives against finite differences; the
GHK function family against high-precision values; a new mechanism defined in a few
lines gets a NumPy steady state, a compiled kernel, a PyTensor likelihood with IFT
gradients, each verified independently; every backend moves identically when a rate
law parameter changes.
"""

import mpmath as mp
import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
import sympy as sp

from iongrad.infer.kernels import compiled_solver
from iongrad.infer.steady_op import SteadyStateOp, steady_state_graph
from iongrad.models import quantities as Q
from iongrad.models.codegen import numpy_function, phi_d1_scalar, phi_scalar, pytensor_graph
from iongrad.models.mechanisms import (
    Mechanism,
    activity_load,
    bath,
    conc,
    ghk_leak,
    na_k_pump,
    ohmic_leak,
    param,
    voltage,
)
from iongrad.models.membrane import Membrane, pump_leak_cell
from iongrad.models.steady_core import plan_for, solve_membrane
from iongrad.models.steady_state import DEFAULT_PARAMS, membrane_for
from iongrad.models.thermo import (
    ghk_current_pA,
    ghk_phi_d1,
    ghk_phi_d2,
    ghk_phi_family_np,
    nernst_mV,
    ohmic_current_pA,
    u_over_one_minus_exp_neg_u,
)

RNG = np.random.default_rng(2026)
N = 400


def _design(m: Membrane, n=N, rng=RNG):
    p = {k: np.full(n, float(v)) for k, v in m.defaults().items()}
    for k in ("g_na_nS", "g_k_nS", "g_cl_nS", "p_na_cm_s", "p_k_cm_s", "p_cl_cm_s",
              "pump_density_per_um2", "k_na_mM"):
        if k in p:
            p[k] = p[k] * np.exp(rng.uniform(-1.2, 1.2, n))
    p["k_o_mM"] = np.exp(rng.uniform(np.log(1.5), np.log(30.0), n))
    p["activity_load_pA"] = rng.uniform(0.0, 10.0, n)
    if "osm_o_mOsm" in p:
        p["osm_o_mOsm"] = 2.0 * (p["na_o_mM"] + p["k_o_mM"])
    return p


# ---- the GHK function family -----------------------------------------------------------
def _phi_mp(u, k):
    f = (lambda x: x / (1 - mp.exp(-x))) if u != 0 else None
    if u == 0:
        return [mp.mpf(1), mp.mpf(1) / 2, mp.mpf(1) / 6][k]
    return mp.diff(f, mp.mpf(u), k)


def test_ghk_function_family_matches_high_precision_values():
    mp.mp.dps = 40
    us = [-700.0, -40.0, -3.0, -0.4, -0.2, -1e-3, -1e-6, 0.0, 2e-4, 0.01, 0.26, 1.0, 30.0,
          700.0]
    for u in us:
        exact = [float(_phi_mp(u, k)) for k in range(3)]
        got = [u_over_one_minus_exp_neg_u(np.array(u)), ghk_phi_d1(np.array(u)),
               ghk_phi_d2(np.array(u))]
        for k in range(3):
            assert abs(float(got[k]) - exact[k]) <= 1e-13 * abs(exact[k]) + 1e-300, (u, k)


def test_fused_numpy_and_scalar_ghk_functions_equal_the_source():
    u = np.concatenate([RNG.uniform(-60, 60, 5000), RNG.uniform(-0.02, 0.02, 2000),
                        [0.0, 1e-3, -1e-3, 700.0, -700.0]])
    fam = ghk_phi_family_np(u, 2)
    ref = [u_over_one_minus_exp_neg_u(u), u_over_one_minus_exp_neg_u(-u), ghk_phi_d1(u),
           ghk_phi_d1(-u), ghk_phi_d2(u), ghk_phi_d2(-u)]
    for a, b in zip(fam, ref, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-15, atol=0)
    # the scalar code (math.exp) and NumPy's exp may differ in the last bit; Φ' amplifies
    # that by at most ~1/|u| = 100 just above its series cut-off
    sc = np.array([[phi_scalar(float(x)), phi_d1_scalar(float(x))] for x in u])
    np.testing.assert_allclose(sc[:, 0], ref[0], rtol=2e-16 * 4, atol=0)
    np.testing.assert_allclose(sc[:, 1], ref[2], rtol=2e-16 * 100 * 4, atol=0)


# ---- generated derivatives against finite differences ---------------------------------
@pytest.mark.parametrize("leak", ["ohmic", "ghk"])
@pytest.mark.parametrize("volume", ["fixed", "osmotic"])
def test_reduced_residual_slope_matches_finite_differences(leak, volume):
    m = membrane_for(leak, volume)
    plan = plan_for(m)
    p = _design(m)
    pv = [p[k] for k in plan.params]
    prep = plan.prepare(pv)
    x = RNG.uniform(np.log(3.0), np.log(60.0), N)
    _, dr, _, _, ok = plan.reduced_residual(x, pv, prep)
    h = 1e-5
    rp = plan.reduced_residual(x + h, pv, prep)[0]
    rm = plan.reduced_residual(x - h, pv, prep)[0]
    rp2 = plan.reduced_residual(x + 2 * h, pv, prep)[0]
    rm2 = plan.reduced_residual(x - 2 * h, pv, prep)[0]
    fd = (8 * (rp - rm) - (rp2 - rm2)) / (12 * h)
    assert ok.all()
    np.testing.assert_allclose(dr, fd, rtol=1e-7, atol=1e-9 * np.max(np.abs(dr)))


@pytest.mark.parametrize("leak", ["ohmic", "ghk"])
def test_slope_conductance_is_the_derivative_of_the_total_current(leak):
    m = membrane_for(leak, "fixed")
    plan = plan_for(m)
    p = _design(m)
    pv = [p[k] for k in plan.params]
    c = [np.exp(RNG.uniform(np.log(2), np.log(150), N)) for _ in m.ions]
    v = RNG.uniform(-100, 40, N)
    current = numpy_function([*m.state_symbols(), *plan.param_symbols], [m.current])
    g = plan._outputs(*c, v, *pv)[plan.output_names.index("slope_conductance_nS")]
    h = 1e-4
    fd = (current(*c, v + h, *pv)[0] - current(*c, v - h, *pv)[0]) / (2 * h)
    np.testing.assert_allclose(g, fd, rtol=1e-7)


def test_generated_currents_equal_the_public_thermo_functions():
    v = RNG.uniform(-120, 60, N)
    ci, co = np.exp(RNG.uniform(0, 5, N)), np.exp(RNG.uniform(0, 5, N))
    for ion, z in (("na", 1), ("cl", -1)):
        ghk = ghk_leak(ion)
        f = numpy_function([voltage(), conc(ion), param(f"{ion}_o_mM"),
                            param(f"p_{ion}_cm_s"), param("area_um2"), param("temperature_K")],
                           [ghk.current])
        np.testing.assert_allclose(f(v, ci, co, 3e-8, 900.0, 305.0)[0],
                                   ghk_current_pA(v, ci, co, 3e-8, 900.0, z, 305.0),
                                   rtol=1e-12)
        ohm = ohmic_leak(ion)
        f = numpy_function([voltage(), conc(ion), param(f"{ion}_o_mM"), param(f"g_{ion}_nS"),
                            param("temperature_K")], [ohm.current])
        np.testing.assert_allclose(f(v, ci, co, 0.4, 305.0)[0],
                                   ohmic_current_pA(v, nernst_mV(co, ci, z, 305.0), 0.4),
                                   rtol=1e-12, atol=1e-12)


def test_pytensor_graph_equals_numpy_code_on_random_inputs():
    m = membrane_for("ghk", "osmotic")
    plan = plan_for(m)
    p = _design(m)
    syms = [*plan.reduced_vars, *plan.param_symbols]
    vals = [np.log(RNG.uniform(3, 40, N)), RNG.uniform(-100, 30, N),
            *(p[k] for k in plan.params)]
    exprs = [*plan.reduced_residuals, *plan.state_exprs]
    ref = numpy_function(syms, exprs)(*vals)
    tens = [pt.dvector(s.name) for s in syms]
    f = pytensor.function(tens, pytensor_graph(exprs, dict(zip(syms, tens, strict=True))),
                          on_unused_input="ignore")  # Cl- is at equilibrium: P_Cl drops out
    for a, b in zip(f(*vals), ref, strict=True):
        # a residual is a sum of terms that cancel near a root: judge it on their scale
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12 * np.max(np.abs(b)))


# ---- a new mechanism in a few lines -------------------------------------------------
Q.register(Q.quantity("sglt_rate_per_s", "1/s", "molecular_rate", 0, 1e12, low_inclusive=True,
                      default=2e7, description="substrate molecules moved per second"))


def na_coupled_uptake() -> Mechanism:
    """Toy Na+-coupled uptake: 2 Na+ in per substrate, electrogenic, at a fixed rate."""
    rate = param("sglt_rate_per_s")
    j = 2 * rate * 1.602176634e-19 * 1e12  # Na+ flux inward, pA-equivalents
    return Mechanism("sglt", fluxes={"na": -j}, atp_per_s=0, description="toy SGLT")


def _toy_cell():
    return Membrane("toy", (ohmic_leak("na"), ohmic_leak("k"), ohmic_leak("cl"), na_k_pump(),
                            activity_load(), na_coupled_uptake()))


def test_new_mechanism_gets_a_verified_numpy_steady_state():
    m = _toy_cell()
    assert "sglt_rate_per_s" in m.parameters
    p = _design(m)
    p["sglt_rate_per_s"] = RNG.uniform(0, 5e7, N)
    sol = solve_membrane(m, p)
    assert sol.feasible.mean() > 0.95
    f = sol.feasible
    st, out = sol.state, sol.outputs
    v = st["v_mV"][f]
    t = p["temperature_K"][f]
    # independent check with the public functions: Na+ influx through the leak, the toy
    # transporter and the load is pumped out at 3 Na+ per cycle
    i_na = ohmic_current_pA(v, nernst_mV(p["na_o_mM"][f], st["na_i_mM"][f], 1, t),
                            p["g_na_nS"][f])
    j_sglt = 2 * p["sglt_rate_per_s"][f] * 1.602176634e-19 * 1e12
    i_p = out["na_k_pump_current_pA"][f]
    balance = i_na - j_sglt - p["activity_load_pA"][f] + 3 * i_p
    assert np.max(np.abs(balance) / (np.abs(i_na) + j_sglt + 3 * i_p)) < 1e-9
    # ATP: the pump alone spends it, one per cycle (one net charge)
    np.testing.assert_allclose(out["atp_per_s"][f], i_p / (1.602176634e-19 * 1e12),
                               rtol=1e-12)
    # the toy transporter's current is in the membrane current: total current is zero
    i_total = (i_na + ohmic_current_pA(v, nernst_mV(p["k_o_mM"][f], st["k_i_mM"][f], 1, t),
                                       p["g_k_nS"][f])
               + ohmic_current_pA(v, nernst_mV(p["cl_o_mM"][f], st["cl_i_mM"][f], -1, t),
                                  p["g_cl_nS"][f]) + i_p - j_sglt)
    assert np.max(np.abs(i_total) / (np.abs(i_na) + j_sglt + i_p)) < 1e-9
    # with the transporter off, the chapter's cell
    p0 = dict(p, sglt_rate_per_s=np.zeros(N))
    base = solve_membrane(membrane_for("ohmic", "fixed"),
                          {k: p0[k] for k in membrane_for("ohmic", "fixed").parameters})
    off = solve_membrane(m, p0)
    np.testing.assert_allclose(off.state["na_i_mM"], base.state["na_i_mM"], rtol=1e-12)
    # more Na+ load -> the pump works harder
    more = solve_membrane(m, dict(p, sglt_rate_per_s=p["sglt_rate_per_s"] + 1e7))
    both = f & more.feasible
    assert np.all(more.outputs["atp_per_s"][both] > out["atp_per_s"][both])


def test_new_mechanism_gets_compiled_kernel_and_pytensor_ift_gradient():
    m = _toy_cell()
    p = _design(m, n=6, rng=np.random.default_rng(5))
    p["sglt_rate_per_s"] = np.linspace(1e6, 3e7, 6)
    ref = solve_membrane(m, p)
    assert ref.feasible.all()
    x, reason, *_ = compiled_solver(m)(p, None)
    assert (reason == 0).all()
    np.testing.assert_allclose(x, ref.x, rtol=0, atol=1e-12)
    op = SteadyStateOp(membrane=m)
    rate = pt.dvector("rate")
    g_k = pt.dvector("g_k")
    fixed = {k: v for k, v in p.items() if k not in ("sglt_rate_per_s", "g_k_nS")}
    out = steady_state_graph({**fixed, "sglt_rate_per_s": rate, "g_k_nS": g_k}, n=6, op=op)
    w = np.linspace(0.5, 1.5, 6)
    cost = (out["v_rest_mV"] * w).sum() + (out["na_i_mM"] * w).sum() + pt.log(
        out["atp_per_s"]).sum()
    f_val = pytensor.function([rate, g_k], [cost, out["v_rest_mV"]])
    f_grad = pytensor.function([rate, g_k], pytensor.grad(cost, [rate, g_k]))
    r0, k0 = p["sglt_rate_per_s"], p["g_k_nS"]
    np.testing.assert_allclose(f_val(r0, k0)[1], ref.state["v_mV"], rtol=1e-10)
    g_rate, g_gk = f_grad(r0, k0)
    for j in range(6):
        for arr, grad in ((r0, g_rate), (k0, g_gk)):
            h = arr[j] * 1e-4

            def at(step, arr=arr, j=j):
                a = arr.copy()
                a[j] += step
                args = (a, k0) if arr is r0 else (r0, a)
                return f_val(*args)[0]

            fd = (8 * (at(h) - at(-h)) - (at(2 * h) - at(-2 * h))) / (12 * h)
            np.testing.assert_allclose(grad[j], fd, rtol=1e-6)


def test_new_mechanism_gets_a_rundown_ode_with_sensitivities():
    """The toy cell runs down after anoxia with nothing written for it: the compiled
    sensitivity solver equals an independent solve_ivp integration of the NumPy
    right-hand side, its sensitivities equal central differences, each ion's amount
    is conserved between cell and ECS, and a larger Na+-coupled load runs the cell
    down faster."""
    from iongrad.infer.rundown_op import RundownSensitivitySolver
    from iongrad.models.rundown import simulate_rundown

    m = _toy_cell()
    times = np.array([-10.0, 0.0, 5.0, 30.0, 120.0, 600.0])
    free = ("sglt_rate_per_s", "g_na_nS", "tau_atp_s", "extracellular_fraction")
    theta = np.array([5e6, 0.15, 40.0, 0.25])
    solver = RundownSensitivitySolver(free, membrane=m, ecs=True, rtol=1e-10, atol=1e-12)
    assert solver.outputs == ("v_mV", "na_i_mM", "k_i_mM", "cl_i_mM", "na_o_mM", "k_o_mM",
                              "cl_o_mM")
    out, sens = solver.solve(theta, times)
    kw = dict(zip(free, theta, strict=True))
    alpha = kw.pop("extracellular_fraction")
    ref = simulate_rundown(times + 50.0, onset_s=50.0, membrane=m,
                           extracellular_fraction=alpha, rtol=1e-11, atol=1e-13, **kw)
    assert ref.success, ref.message
    assert ref.membrane == "toy"
    np.testing.assert_allclose(out[:, 0], ref.v_mV, atol=1e-6)
    for j, name in enumerate(solver.outputs[1:], start=1):
        np.testing.assert_allclose(out[:, j], ref.states_mM[name], rtol=1e-7, err_msg=name)
    # nothing moves before the onset; Na+ rises after it
    np.testing.assert_allclose(out[0], out[1], rtol=1e-12)
    assert out[-1, 1] > 1.2 * out[0, 1]
    # amounts: c_i + c_o alpha/(1 - alpha) is constant for every ion
    for j in range(3):
        total = out[:, 1 + j] + out[:, 4 + j] * alpha / (1 - alpha)
        np.testing.assert_allclose(total, total[0], rtol=1e-8)
    # sensitivities against central differences of the solve itself
    for q in range(theta.size):
        h = 1e-4 * theta[q]
        up, dn = theta.copy(), theta.copy()
        up[q] += h
        dn[q] -= h
        fd = (solver.solve(up, times, sensitivities=False)[0]
              - solver.solve(dn, times, sensitivities=False)[0]) / (2 * h)
        scale = np.abs(fd).max(axis=0) + 1e-300
        np.testing.assert_array_less(np.abs(sens[:, :, q] - fd) / scale, 2e-5,
                                     err_msg=free[q])
    # a larger Na+-coupled load: more Na+ gained by the end
    more = solver.solve(theta * np.array([2.0, 1, 1, 1]), times, sensitivities=False)[0]
    assert more[-1, 1] > out[-1, 1]
    assert sens[-1, 1, 0] > 0


def test_new_mechanism_gets_a_salib_evaluation():
    """The toy cell as a sensitivity model: its evaluation equals the steady-state
    solver, and SALib's Sobol indices of the ATP cost rank the toy transporter's rate
    (the only Na+ load varied besides the pump itself) as influential, while the
    Cl- leak (at equilibrium: it moves no Na+) has no effect on it."""
    from SALib.analyze import sobol
    from SALib.sample import sobol as sobol_sample

    from iongrad.workflows.registry import membrane_entry

    m = _toy_cell()
    entry = membrane_entry(m)
    assert "sglt_rate_per_s" in entry.parameter_names
    assert {"atp_per_s", "v_rest_mV", "na_i_mM", "feasible"} <= set(entry.output_names)
    names = ["sglt_rate_per_s", "g_na_nS", "g_cl_nS"]
    problem = {"num_vars": 3, "names": names,
               "bounds": [[5e6, 6e7], [0.05, 0.15], [0.1, 1.0]]}
    x = sobol_sample.sample(problem, 256, seed=3)
    out = entry.evaluate({k: x[:, j] for j, k in enumerate(names)})
    assert out["feasible"].all()
    ref = solve_membrane(m, {k: np.broadcast_to(
        x[:, names.index(k)] if k in names else v, (x.shape[0],)).astype(float)
        for k, v in m.defaults().items()})
    np.testing.assert_allclose(out["atp_per_s"], ref.outputs["atp_per_s"], rtol=1e-12)
    np.testing.assert_allclose(out["v_rest_mV"], ref.state["v_mV"], rtol=1e-12)
    si = sobol.analyze(problem, out["atp_per_s"], seed=4)
    assert si["ST"][0] > 0.3
    assert abs(si["ST"][2]) < 1e-6


def test_changing_a_rate_law_parameter_moves_every_backend_identically():
    base = membrane_for("ohmic", "fixed")
    p = _design(base, n=50, rng=np.random.default_rng(9))
    for value in (100.0, 160.0):  # pump turnover_max
        q = dict(p, turnover_max_per_s=np.full(50, value))
        numpy_sol = solve_membrane(base, q)
        x_c, reason, *_ = compiled_solver(base)(q, None)
        solved = reason == 0
        tens = {k: pt.dvector(k) for k in ("turnover_max_per_s",)}
        out = steady_state_graph({**{k: v for k, v in q.items() if k != "turnover_max_per_s"},
                                  **tens}, n=50)
        v_pt = pytensor.function(list(tens.values()), out["v_rest_mV"])(q["turnover_max_per_s"])
        f = numpy_sol.feasible & solved
        assert f.sum() >= 35  # most of the design has a steady state
        np.testing.assert_allclose(x_c[f], numpy_sol.x[f], rtol=0, atol=1e-12)
        np.testing.assert_allclose(v_pt[f], numpy_sol.state["v_mV"][f], rtol=1e-10)
        if value == 100.0:
            na_first = numpy_sol.state["na_i_mM"].copy()
    # and the change did move the answer: a faster pump holds Na+ lower
    assert np.all(numpy_sol.state["na_i_mM"][f] < na_first[f])


Q.register(Q.quantity("l_nkcc_pA", "pA", "current", 0, 1e5, low_inclusive=True, default=5.0,
                      description="NKCC1 flux per unit of its log driving force"))


def nkcc1() -> Mechanism:
    """Na+-K+-2Cl- cotransport driven by its free energy (inward for a positive drive)."""
    drive = (sp.log(bath("na") * bath("k") * bath("cl") ** 2)
             - sp.log(conc("na") * conc("k") * conc("cl") ** 2))
    j_in = param("l_nkcc_pA") * drive
    gross = param("l_nkcc_pA") * (sp.Abs(sp.log(bath("na") * bath("k") * bath("cl") ** 2))
                                  + sp.Abs(sp.log(conc("na") * conc("k") * conc("cl") ** 2)))
    return Mechanism("nkcc1", fluxes={"na": -j_in, "k": -j_in, "cl": -2 * j_in},
                     flux_scales={"na": gross, "k": gross, "cl": 2 * gross},
                     current_scale=0 * gross)


def test_coupled_balances_are_solved_by_the_multidimensional_newton():
    """NKCC1 couples the Na+, K+ and Cl- balances (no 1-D reduction exists). With no
    other Cl- path, the Cl- balance forces the cotransporter to equilibrium:
    Na_i K_i Cl_i^2 = Na_o K_o Cl_o^2, a closed form the solver never uses."""
    from iongrad.models.steady_coupled import CoupledPlan

    m = Membrane("immature_neuron", (ohmic_leak("na"), ohmic_leak("k"), ohmic_leak("cl"),
                                     na_k_pump(), activity_load(), nkcc1()))
    assert isinstance(plan_for(m), CoupledPlan)
    rng = np.random.default_rng(12)
    n = 300
    p = _design(m, n=n, rng=rng)
    p["g_cl_nS"] = np.zeros(n)
    p["l_nkcc_pA"] = np.exp(rng.uniform(np.log(0.5), np.log(50.0), n))
    sol = solve_membrane(m, p)
    f = sol.feasible
    assert f.mean() > 0.9
    st = sol.state
    lhs = st["na_i_mM"] * st["k_i_mM"] * st["cl_i_mM"] ** 2
    rhs = p["na_o_mM"] * p["k_o_mM"] * p["cl_o_mM"] ** 2
    np.testing.assert_allclose(lhs[f], rhs[f], rtol=1e-8)
    # independent Na+ balance: leak + pump + load, the cotransporter carrying nothing
    t = p["temperature_K"][f]
    i_na = ohmic_current_pA(st["v_mV"][f], nernst_mV(p["na_o_mM"][f], st["na_i_mM"][f], 1, t),
                            p["g_na_nS"][f])
    i_p = sol.outputs["na_k_pump_current_pA"][f]
    bal = i_na + 3 * i_p - p["activity_load_pA"][f]
    assert np.max(np.abs(bal) / (np.abs(i_na) + 3 * i_p)) < 1e-8
    # with a Cl- leak too, Cl_i sits above its passive (Nernst) level exactly where the
    # cotransporter's drive is inward: its flux has the sign of its free-energy change
    q = dict(p, g_cl_nS=np.full(n, 0.3))
    w = solve_membrane(m, q)
    g = w.feasible
    assert g.mean() > 0.9
    s_ = w.state
    passive = p["cl_o_mM"] * np.exp(s_["v_mV"] / (
        8.314462618 * p["temperature_K"] / 96485.33212 * 1e3))
    drive = np.log(rhs) - np.log(s_["na_i_mM"] * s_["k_i_mM"] * s_["cl_i_mM"] ** 2)
    clear = g & (np.abs(drive) > 1e-6)
    assert clear.sum() > 0.8 * n
    np.testing.assert_array_equal(np.sign(s_["cl_i_mM"] - passive)[clear],
                                  np.sign(drive)[clear])


def test_membrane_models_are_data():
    m = pump_leak_cell("ghk", "osmotic")
    assert m.ions == ("na", "k", "cl")
    assert [x.name for x in m.mechanisms] == ["na_leak", "k_leak", "cl_leak", "na_k_pump",
                                              "activity_load"]
    assert set(m.parameters) <= set(DEFAULT_PARAMS)
    with pytest.raises(ValueError, match="appear more than once"):
        Membrane("dup", (ohmic_leak("na"), ohmic_leak("na")))
    with pytest.raises(KeyError, match="unknown quantity 'g_nA_nS'"):
        Mechanism("bad", fluxes={"na": sp.Symbol("g_nA_nS") * voltage()})


@pytest.mark.parametrize("volume", ["fixed", "osmotic"])
def test_compiled_solver_reproduces_the_numpy_solver_with_its_reason_codes(volume):
    """Same answers and the same reason code for every point of a wide design that
    reaches every failure mode (no bracket, swelling, concentrations above 2 M)."""
    m = membrane_for("ohmic", volume)
    rng = np.random.default_rng(31)
    n = 4096
    p = _design(m, n=n, rng=rng)
    p["activity_load_pA"] = rng.uniform(0.0, 60.0, n)
    p["pump_density_per_um2"] = np.exp(rng.uniform(np.log(3.0), np.log(5000.0), n))
    ref = solve_membrane(m, p)
    x, reason, *_ = compiled_solver(m)(p, None)
    np.testing.assert_array_equal(reason, ref.reason)
    assert len(set(ref.reason.tolist())) >= 2  # feasible and infeasible points
    f = ref.feasible
    np.testing.assert_allclose(x[f], ref.x[f], rtol=0, atol=1e-12)


@pytest.mark.parametrize("volume", ["fixed", "osmotic"])
def test_compiled_ghk_solver_solves_whatever_the_numpy_solver_solves(volume):
    """GHK leaks: the compiled solver runs the inner Newton for V in scalar code. Every
    point the NumPy solver solves it solves to the same state; a point it alone solves
    passes the same independent balance check."""
    m = membrane_for("ghk", volume)
    plan = plan_for(m)
    rng = np.random.default_rng(32)
    n = 3000
    p = _design(m, n=n, rng=rng)
    p["activity_load_pA"] = rng.uniform(0.0, 40.0, n)
    ref = solve_membrane(m, p)
    x, reason, _, nums = compiled_solver(m)(p, None)
    f = ref.feasible
    assert f.mean() > 0.5
    assert np.all(reason[f] == 0)
    np.testing.assert_allclose(x[f], ref.x[f], rtol=0, atol=1e-12)
    np.testing.assert_allclose(nums[0][f], ref.state["v_mV"][f], rtol=0, atol=1e-9)
    extra = np.flatnonzero((reason == 0) & ~f)
    if extra.size:
        pv = [p[k][extra] for k in plan.params]
        state = plan._state(x[extra], nums[0][extra], *pv)
        res = plan._checks(*state, *pv)
        assert np.max(np.stack(res)) <= 1e-9
        assert all(np.all(c > 0) for c in state[:-1])


def test_compiled_solver_gives_numpy_reason_codes_where_an_inner_newton_stalls():
    """The enterocyte's V is an inner numeric step (SGLT1 saturates in V). Where that
    step's Newton does not settle, the NumPy solver brackets and solves it by Ridders;
    the compiled kernel (the likelihood's solver) must do the same, or it rejects cells
    the NumPy solver solves (it did on 0.65% of this design: reason 1 or 2 for 0). Wide
    log-uniform Sobol design of the solver-robustness benchmark."""
    from scipy.stats import qmc

    from iongrad.models.membrane import composition

    m = composition("enterocyte")
    ranges = {"g_na_nS": (0.01, 1.0), "g_k_nS": (0.05, 5.0), "g_cl_nS": (0.01, 1.0),
              "sglt1_jmax_pA": (0.1, 10.0), "glucose_o_mM": (0.5, 50.0),
              "pump_density_per_um2": (30.0, 3000.0), "k_na_mM": (1.0, 100.0),
              "k_o_mM": (1.0, 40.0)}
    u = qmc.Sobol(d=len(ranges) + 1, scramble=True, seed=27).random_base2(13)
    n = u.shape[0]
    p = {k: np.full(n, float(v)) for k, v in m.defaults().items()}
    for j, (k, (lo, hi)) in enumerate(ranges.items()):
        p[k] = np.exp(np.log(lo) + u[:, j] * (np.log(hi) - np.log(lo)))
    p["activity_load_pA"] = 20.0 * u[:, -1]
    ref = solve_membrane(m, p)
    x, reason, _, nums = compiled_solver(m)(p, None)
    np.testing.assert_array_equal(reason, ref.reason)
    f = ref.feasible
    assert 0.9 < f.mean() < 1.0
    np.testing.assert_allclose(x[f], ref.x[f], rtol=0, atol=1e-12)
    np.testing.assert_allclose(nums[0][f], ref.state["v_mV"][f], rtol=0, atol=1e-8)


def test_coupled_composition_gets_ift_gradients():
    m = Membrane("immature_neuron_op", (ohmic_leak("na"), ohmic_leak("k"), ohmic_leak("cl"),
                                        na_k_pump(), activity_load(), nkcc1()))
    p = _design(m, n=4, rng=np.random.default_rng(8))
    p["l_nkcc_pA"] = np.array([1.0, 3.0, 10.0, 30.0])
    op = SteadyStateOp(membrane=m)
    assert op.n_reduced == 4  # ln Na_i, ln K_i, ln Cl_i, V
    lvar = pt.dvector("l")
    fixed = {k: v for k, v in p.items() if k != "l_nkcc_pA"}
    out = steady_state_graph({**fixed, "l_nkcc_pA": lvar}, n=4, op=op)
    cost = (out["cl_i_mM"] * np.array([1.0, 0.7, 0.5, 0.3])).sum() + out["v_rest_mV"].sum()
    f = pytensor.function([lvar], cost)
    grad = pytensor.function([lvar], pytensor.grad(cost, lvar))(p["l_nkcc_pA"])
    for j in range(4):
        h = p["l_nkcc_pA"][j] * 1e-4
        e = np.zeros(4)
        e[j] = h
        fd = (8 * (f(p["l_nkcc_pA"] + e) - f(p["l_nkcc_pA"] - e))
              - (f(p["l_nkcc_pA"] + 2 * e) - f(p["l_nkcc_pA"] - 2 * e))) / (12 * h)
        np.testing.assert_allclose(grad[j], fd, rtol=1e-6)
