"""Chloride homeostasis fits: the composition's Cl- outputs in the likelihood, KCC2 and
NKCC1 activities recovered from the shipped synthetic data, identifiability reported."""

from __future__ import annotations

import arviz as az
import numpy as np
import pytest

from iongrad.data import generate_chloride as gc
from iongrad.data import load_shipped
from iongrad.infer.diagnostics import identifiability
from iongrad.infer.model import FitSpec, ObservationNoise, build_model, steady_state_outputs
from iongrad.models.errors import ConfigError
from iongrad.models.membrane import cardiac_myocyte, immature_neuron, mature_neuron
from iongrad.models.steady_state import membrane_for, steady_state_of

OBS = ("cl_i_mM", "e_gaba_mV", "v_rest_mV")


def test_graph_outputs_equal_the_numpy_steady_state():
    import pytensor

    from iongrad.infer.steady_op import SteadyStateOp, steady_state_graph

    m = mature_neuron()
    ko = np.array([2.5, 4.0, 8.0])
    ss = steady_state_of(m, k_o_mM=ko)
    out = steady_state_graph({"k_o_mM": ko}, op=SteadyStateOp(membrane=m))
    names = ("cl_i_mM", "e_cl_mV", "e_gaba_mV", "v_rest_mV")
    got = pytensor.function([], [out[k] for k in names])()
    for k, v in zip(names, got, strict=True):
        np.testing.assert_allclose(v, ss[k], rtol=1e-9, err_msg=k)
    # E_GABA lies between E_Cl and E_HCO3 (above E_Cl for HCO3- efflux)
    assert np.all(got[2] > got[1])


def test_predicted_observables_follow_the_composition():
    assert {"cl_i_mM", "e_cl_mV", "e_gaba_mV"} <= set(steady_state_outputs(mature_neuron()))
    assert "ca_i_nM" not in steady_state_outputs(immature_neuron())
    assert {"ca_i_nM", "ncx_current_pA"} <= set(steady_state_outputs(cardiac_myocyte()))
    assert "e_gaba_mV" not in steady_state_outputs(membrane_for("ohmic", "fixed"))


def test_observable_the_composition_lacks_is_a_config_error():
    ds = load_shipped("synthetic_chloride")
    spec = FitSpec(parameters=("g_na_nS",), observables=("e_gaba_mV",))
    with pytest.raises(ConfigError) as info:
        build_model(ds, spec)
    msg = str(info.value)
    assert "'e_gaba_mV'" in msg and "'pump_leak'" in msg, msg


def test_cotransporter_the_composition_lacks_is_refused():
    ds = load_shipped("synthetic_chloride")
    spec = FitSpec(parameters=("kcc2_u_pA",), observables=("cl_i_mM",),
                   membrane=immature_neuron(), fixed={})
    with pytest.raises(ConfigError, match=r"kcc2_u_pA.*immature_neuron"):
        build_model(ds, spec)


def _spec(**kw) -> FitSpec:
    noise = {o: ObservationNoise(sigma=gc.NOISE[o]["sd"]) for o in OBS}
    return FitSpec(parameters=tuple(gc.TRUTH), observables=OBS, pooling="complete",
                   membrane=gc.membrane(), fixed=dict(gc.DEFAULTS), noise=noise,
                   reference={"k_o_mM": 4.0, "cl_o_mM": 123.0}, **kw)


@pytest.mark.long  # about 4 minutes on 2 cores, most of it compiling the model
def test_kcc2_and_nkcc1_recovered_and_their_correlation_reported():
    import pymc as pm

    ds = load_shipped("synthetic_chloride")
    model, info = build_model(ds, _spec())
    assert info["observables"] == OBS
    with model:
        idata = pm.sample(draws=400, tune=400, chains=2, cores=1, random_seed=20251202,
                          progressbar=False, compute_convergence_checks=False,
                          nuts_sampler="nutpie", nuts_sampler_kwargs={"backend": "numba"})
    for name, truth in gc.TRUTH.items():
        lo, hi = az.hdi(idata.posterior[name], hdi_prob=0.94)[name].values
        assert lo < truth < hi, (name, lo, hi, truth)
    rhat = az.rhat(idata, var_names=list(gc.TRUTH))
    assert max(float(rhat[p]) for p in gc.TRUTH) < 1.05
    # Cl_i and E_GABA set the balance of loading and extrusion against the Cl- leak:
    # the ratio is pinned much more tightly than either activity
    post = idata.posterior
    log_k, log_n = np.log(post["kcc2_u_pA"].values), np.log(post["nkcc1_u_pA"].values)
    assert np.std(log_k - log_n) < 0.25 * np.std(log_k + log_n)
    ident = identifiability(idata, list(gc.TRUTH), info["priors"])
    assert any("kcc2_u_pA and nkcc1_u_pA are strongly correlated" in w
               for w in ident["warnings"]), ident


def _fisher_sd(design, observables):
    """SDs of ln(kcc2) - ln(nkcc1) and ln(kcc2) + ln(nkcc1) from the Fisher information of
    a design's noiseless steady states (4 cells, the generator's noise; flat priors)."""
    truth = gc.TRUTH
    bath = {c: np.array([b[j] for b in design.baths]) for j, c in enumerate(design.columns)}

    def obs(k, n):
        ss = steady_state_of(gc.membrane(), **bath, na_o_mM=145.0, temperature_K=310.0,
                             kcc2_u_pA=k, nkcc1_u_pA=n)
        return np.concatenate([np.asarray(ss[o]) / gc.NOISE[o]["sd"] for o in observables])

    h = 1e-5
    k, n = truth["kcc2_u_pA"], truth["nkcc1_u_pA"]
    jac = np.stack([(obs(k * np.exp(h), n) - obs(k * np.exp(-h), n)) / (2 * h),
                    (obs(k, n * np.exp(h)) - obs(k, n * np.exp(-h))) / (2 * h)], axis=1)
    cov = np.linalg.inv(gc.N_CELLS * jac.T @ jac)
    ratio, scale = np.array([1.0, -1.0]), np.array([1.0, 1.0])
    return float(np.sqrt(ratio @ cov @ ratio)), float(np.sqrt(scale @ cov @ scale))


def test_bumetanide_bath_identifies_both_activities_from_cl_i_and_e_gaba_alone():
    # Cl_i and E_GABA are set by where the two cotransporters' equilibria and the Cl-
    # leak's balance: in the three control-type baths they pin neither the ratio nor
    # the common scale of the activities (the scale's SD is tens of log units); blocking
    # NKCC1 leaves KCC2 against the leak alone, which pins both from the same two
    # observables
    design = gc.DESIGNS["synthetic_chloride"]
    ratio, scale = _fisher_sd(design, ("cl_i_mM", "e_gaba_mV"))
    assert ratio > 0.3 and scale > 10.0, (ratio, scale)
    ratio, scale = _fisher_sd(gc.BUMETANIDE, ("cl_i_mM", "e_gaba_mV"))
    assert ratio < 0.05 and scale < 0.6, (ratio, scale)
    # with the resting potential recorded too, the ratio is pinned in both designs (V
    # moves with NKCC1's Na+ and K+ fluxes), and the common scale remains the weaker
    # direction, narrowed by the block
    plain = _fisher_sd(design, OBS)
    blocked = _fisher_sd(gc.BUMETANIDE, OBS)
    for r, s in (plain, blocked):
        assert r < 0.1 * s, (r, s)
    assert blocked[1] < plain[1]


@pytest.mark.long  # about 4 minutes on 2 cores (2 chains x 2000 draws)
def test_bumetanide_example_recovers_both_activities_as_the_fisher_information_predicts():
    import tomllib
    from importlib.resources import files
    from pathlib import Path

    import iongrad

    example = (Path(str(files("iongrad.workflows") / "examples"))
               / "fit_chloride_bumetanide.toml")
    cfg = tomllib.loads(example.read_text(encoding="utf-8"))
    assert cfg["fit"]["observables"] == ["cl_i_mM", "e_gaba_mV"]
    result = iongrad.fit(cfg)
    assert result.diagnostics["verdict"] == "pass", result.diagnostics
    post = result.idata.posterior
    for name, truth in gc.TRUTH.items():
        lo, hi = az.hdi(post[name], hdi_prob=0.94)[name].values
        assert lo < truth < hi, (name, lo, hi, truth)
    # the posterior's spread along the ratio and the product is the design's (flat-prior
    # Fisher information; the priors are far wider)
    log_k, log_n = np.log(post["kcc2_u_pA"].values), np.log(post["nkcc1_u_pA"].values)
    ratio, scale = _fisher_sd(gc.BUMETANIDE, ("cl_i_mM", "e_gaba_mV"))
    np.testing.assert_allclose(np.std(log_k - log_n), ratio, rtol=0.3)
    np.testing.assert_allclose(np.std(log_k + log_n), scale, rtol=0.3)
