"""Dependent-input sensitivity estimators against analytic results.

References: the Gaussian linear model with a known covariance (Owen & Prieur 2017;
closed forms of Iooss & Prieur 2019, section 3.1) and the Ishigami function with
independent inputs (S1, ST from Saltelli et al. 2008; its Shapley effects follow from
sharing the X1–X3 interaction equally: Sh1 = S1 + S13/2, Sh3 = S13/2).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from iongrad.workflows.dependent import (
    first_order_given_data,
    gaussian_linear_w,
    shapley_effects,
    shapley_from_w,
)

ISHIGAMI_S1 = np.array([0.3139, 0.4424, 0.0])
ISHIGAMI_ST = np.array([0.5576, 0.4424, 0.2437])
ISHIGAMI_SH = np.array([0.3139 + 0.2437 / 2, 0.4424, 0.2437 / 2])


def _ishigami(x, a=7.0, b=0.1):
    return np.sin(x[:, 0]) + a * np.sin(x[:, 1]) ** 2 + b * x[:, 2] ** 4 * np.sin(x[:, 0])


def _iooss_prieur(s1, s2, s3, rho):
    """Shapley effects of Y = X1 + X2 + X3, X1 independent, corr(X2, X3) = rho."""
    var = s1**2 + s2**2 + s3**2 + 2 * rho * s2 * s3
    return np.array([s1**2,
                     s2**2 + rho * s2 * s3 + rho**2 * (s3**2 - s2**2) / 2,
                     s3**2 + rho * s2 * s3 + rho**2 * (s2**2 - s3**2) / 2]) / var


@pytest.mark.parametrize("rho", [0.0, 0.5, -0.8, 0.95])
def test_exact_gaussian_shapley_equals_the_closed_form(rho):
    s = (1.0, 1.3, 2.0)
    cov = np.diag(np.square(s))
    cov[1, 2] = cov[2, 1] = rho * s[1] * s[2]
    sh = shapley_from_w(gaussian_linear_w(np.ones(3), cov), 3)
    np.testing.assert_allclose(sh, _iooss_prieur(*s, rho), rtol=1e-12)
    assert sh.sum() == pytest.approx(1.0, abs=1e-12)


def test_estimated_shapley_of_a_correlated_gaussian_linear_model():
    """Four inputs, two strongly correlated pairs: estimated effects within 0.03 of the
    exact ones, intervals covering them, sum 1; a pure partner of a correlated input gets
    a Shapley share although its coefficient is 0."""
    rng = np.random.default_rng(11)
    beta = np.array([1.0, 0.0, 2.0, 1.0])
    sd = np.array([1.0, 1.0, 0.7, 1.5])
    corr = np.eye(4)
    corr[0, 1] = corr[1, 0] = 0.9
    corr[2, 3] = corr[3, 2] = -0.6
    cov = corr * np.outer(sd, sd)
    exact = shapley_from_w(gaussian_linear_w(beta, cov), 4)
    x = rng.multivariate_normal(np.zeros(4), cov, size=6000)
    res = shapley_effects(x, x @ beta, k=3, n_boot=100, seed=1)
    np.testing.assert_allclose(res["Sh"], exact, atol=0.03)
    assert res["Sh"].sum() == pytest.approx(1.0, abs=1e-9)
    assert np.all(res["Sh_low"] <= exact + 0.02) and np.all(exact - 0.02 <= res["Sh_high"])
    assert exact[1] > 0.05 and res["Sh"][1] > 0.03  # the partner of X1 shares its effect
    # first-order given-data indices equal W({i}) (they include correlated partners)
    w = gaussian_linear_w(beta, cov)
    s1 = first_order_given_data(x, x @ beta, n_boot=200)
    exact_s1 = np.array([w[(i,)] for i in range(4)])
    np.testing.assert_allclose(s1["S1"], exact_s1, atol=0.04)
    assert np.all(s1["S1_low"] <= s1["S1"]) and np.all(s1["S1"] <= s1["S1_high"])
    assert np.all(s1["S1_low"] - 0.02 <= exact_s1) and np.all(exact_s1 <= s1["S1_high"] + 0.02)
    assert s1["S1"][1] > 0.2  # X2 has no coefficient but is 0.9-correlated with X1


def test_independent_ishigami_shapley_and_first_order():
    rng = np.random.default_rng(5)
    x = rng.uniform(-math.pi, math.pi, (8000, 3))
    y = _ishigami(x)
    sh = shapley_effects(x, y, k=3, n_boot=50, seed=2)
    np.testing.assert_allclose(sh["Sh"], ISHIGAMI_SH, atol=0.04)
    # independent inputs: S1 <= Sh <= ST (within the estimator's error)
    assert np.all(sh["Sh"] >= ISHIGAMI_S1 - 0.04) and np.all(sh["Sh"] <= ISHIGAMI_ST + 0.04)
    s1 = first_order_given_data(x, y, n_boot=50)
    np.testing.assert_allclose(s1["S1"], ISHIGAMI_S1, atol=0.03)


def test_additive_function_with_independent_inputs_shapley_equals_sobol():
    """For an additive function of independent inputs Sh = S1 = ST, checked against SALib's
    Sobol indices on the same function."""
    from SALib.analyze import sobol
    from SALib.sample import sobol as sobol_sample

    coef = np.array([1.0, 2.0, 0.5])

    def f(x):
        return coef[0] * x[:, 0] + coef[1] * x[:, 1] ** 3 + coef[2] * np.exp(x[:, 2])

    problem = {"num_vars": 3, "names": ["a", "b", "c"], "bounds": [[0, 1]] * 3}
    xs = sobol_sample.sample(problem, 4096, calc_second_order=False, seed=1)
    si = sobol.analyze(problem, f(xs), calc_second_order=False, seed=1)
    x = np.random.default_rng(3).uniform(0, 1, (6000, 3))
    sh = shapley_effects(x, f(x), k=3, n_boot=20)["Sh"]
    np.testing.assert_allclose(sh, si["S1"], atol=0.03)
    np.testing.assert_allclose(sh, si["ST"], atol=0.03)


def test_bad_input_is_refused():
    x = np.ones((20, 2))
    with pytest.raises(ValueError, match="constant"):
        shapley_effects(np.random.default_rng(0).normal(size=(20, 2)), np.ones(20))
    with pytest.raises(ValueError, match="finite"):
        first_order_given_data(x, np.r_[np.nan, np.arange(19.0)])
    with pytest.raises(ValueError, match=r"\(n, d\)"):
        shapley_effects(np.ones(20), np.ones(20))
