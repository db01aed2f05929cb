"""Fast simulation-based calibration of the multi-cell steady-state fit.

A reduced run of ``benchmarks/sbc.py`` (Talts et al. 2018): 20 replications of
prior draw -> simulated data -> NUTS fit, with the model compiled once and the
data swapped in with ``pm.set_data``. If the posterior is right, each 90 %
central interval covers the true value with probability 0.9, so over all
parameter-replication pairs the number covered is Binomial(n, 0.9); a two-sided
binomial test must not reject at the 1 % level.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from scipy import stats

_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "sbc.py"
_spec = importlib.util.spec_from_file_location("iongrad_bench_sbc", _PATH)
sbc = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(sbc)


def test_90_percent_intervals_cover_at_the_nominal_rate():
    res = sbc.run_sbc(20, seed=20250214, draws=200, tune=200, thin=4, n_cells=2, n_bins=5,
                      max_treedepth=6)
    assert not res["reps_failed"], res["reps_failed"]
    k = round(res["coverage_90_all"] * res["n_pairs"])
    assert res["n_pairs"] == 20 * len(sbc.quantities())
    p = stats.binomtest(k, res["n_pairs"], 0.9).pvalue
    assert p > 0.01, (k, res["n_pairs"], sbc.format_result(res))


def test_chloride_design_simulates_what_its_model_scores():
    """SBC's premise: the data are drawn from the model that is fitted. At a prior draw,
    the model's log-likelihood of the simulated data (steady state through the PyTensor
    Op) equals the normal log-density around the NumPy forward model's steady state."""
    import math

    import numpy as np
    import pymc as pm

    from iongrad.models.steady_state import steady_state_of

    design = sbc.design_of("chloride")
    rng = np.random.default_rng(3)
    truth = design.draw_prior(rng, 2)
    data = design.simulate(truth, rng, 2)
    assert data is not None and set(data) == set(design.noise)
    sampler = sbc.SBCSampler("chloride", 2)
    model = sampler.model
    pm.set_data({f"{o}_data": y for o, y in data.items()}, model=model)
    point = {f"{p}_log": math.log(truth[p]) for p in design.params}
    got = model.compile_logp(vars=model.observed_RVs)(point)
    rows = design.rows(2)
    ss = steady_state_of(design._gc.membrane(), k_o_mM=np.array([r[1] for r in rows]),
                         cl_o_mM=np.array([r[2] for r in rows]), **design.constants,
                         **design.fixed, **truth)
    want = sum(stats.norm.logpdf(data[o], loc=np.asarray(ss[o]), scale=s).sum()
               for o, s in design.noise.items())
    np.testing.assert_allclose(got, want, rtol=1e-9)
    # and a different parameter value scores differently (the test can fail)
    off = dict(point, kcc2_u_pA_log=point["kcc2_u_pA_log"] + 0.5)
    assert model.compile_logp(vars=model.observed_RVs)(off) < got
