"""One diagnostics implementation: the fit's recorded verdict, the report's panel and
the command-line summary come from :func:`iongrad.infer.diagnostics.diagnose`."""

from __future__ import annotations

import arviz as az
import numpy as np
import pytest

from iongrad.infer.diagnostics import ESS_PER_CHAIN_MIN, RHAT_MAX, diagnose


def _idata(chains=4, draws=400, *, seed=0, diverging=True, energy=True, shift=0.0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(chains, draws))
    x[0] += shift  # one chain apart: R-hat grows with the shift
    stats = {}
    if diverging:
        stats["diverging"] = np.zeros((chains, draws), dtype=bool)
    if energy:
        stats["energy"] = rng.normal(size=(chains, draws))
    return az.from_dict(posterior={"x": x}, sample_stats=stats or None)


def test_well_mixed_chains_pass_every_check():
    d = diagnose(_idata())
    assert d["verdict"] == "pass"
    by = {c["name"]: c for c in d["checks"]}
    assert by["r_hat"]["value"] == pytest.approx(
        float(az.rhat(_idata())["x"]), rel=1e-12) and by["r_hat"]["value"] <= RHAT_MAX
    assert by["ess_bulk"]["threshold"] == ESS_PER_CHAIN_MIN * 4
    assert by["divergences"]["value"] == 0 and by["divergences"]["comparison"] == "<="


def test_a_chain_apart_fails_r_hat_with_advice_naming_the_value():
    d = diagnose(_idata(shift=3.0))
    rhat = next(c for c in d["checks"] if c["name"] == "r_hat")
    assert d["verdict"] == "fail" and not rhat["passed"] and rhat["worst"] == "x"
    assert f"{rhat['value']:.3f}" in rhat["advice"]


@pytest.mark.parametrize(("kw", "name"), [({"diverging": False}, "divergences"),
                                          ({"energy": False}, "bfmi"),
                                          ({"chains": 1}, "r_hat")])
def test_a_check_that_cannot_be_computed_fails(kw, name):
    """Missing divergence counts used to pass in the fit and fail in the report: what
    cannot be verified now fails everywhere, with advice saying why."""
    d = diagnose(_idata(**kw))
    c = next(c for c in d["checks"] if c["name"] == name)
    assert np.isnan(c["value"]) and not c["passed"] and d["verdict"] == "fail"
    assert c["advice"]


def test_report_panel_recomputes_the_same_checks(tmp_path):
    """A report of a run whose run.json lacks the checks computes them with diagnose."""
    from iongrad.workflows.report.document import _Doc
    from iongrad.workflows.report.fit_sections import _fit_diagnostics

    idata = _idata(diverging=False)
    doc = _Doc(title="t")
    ctx = {"info": {}, "idata": idata, "summary": __import__("pandas").DataFrame()}
    _fit_diagnostics(doc, ctx)
    table = next(b for b in doc.sections[0].blocks if b.get("id") == "diagnostics-table")
    status = {r[0]: r[3]["text"] for r in table["rows"]}
    expected = {c["label"]: "PASS" if c["passed"] else "FAIL"
                for c in diagnose(idata)["checks"]}
    assert status == expected and status["divergent transitions"] == "FAIL"
    assert ctx["verdict"] == "fail"


def test_r_hat_is_not_rounded_before_the_threshold():
    """az.summary rounds to two decimals by default: an R-hat of 1.014 would print as
    1.01 and pass. The verdict uses the unrounded value."""
    for shift in np.linspace(0.0, 0.6, 25):
        idata = _idata(shift=shift, seed=3)
        exact = float(az.rhat(idata)["x"])
        c = next(c for c in diagnose(idata)["checks"] if c["name"] == "r_hat")
        assert c["value"] == pytest.approx(exact, rel=1e-12)
        assert c["passed"] == (exact <= RHAT_MAX)


@pytest.mark.parametrize("sign", [1, -1])
def test_correlation_warning_states_which_combination_the_data_fixed_and_how_well(sign):
    """A ridge in log space: the ratio (r > 0) or the product (r < 0) is fixed to ±4%, the
    other combination only to a factor of about e. The warning names the fixed combination
    and quotes both spreads as the draws give them (not a generic 'add observables')."""
    from iongrad.infer.diagnostics import correlation_warning, identifiability

    rng = np.random.default_rng(3)
    loose, tight = rng.normal(0, 0.5, 4000), rng.normal(0, 0.02, 4000)
    log_a, log_b = loose + tight, sign * (loose - tight)
    sd_ratio, sd_product = np.std(log_a - log_b), np.std(log_a + log_b)
    msg = correlation_warning("g_a", log_a, "g_b", log_b)
    if sign > 0:
        assert "the data fix their ratio g_a/g_b to ±" in msg, msg
        assert f"SD of ln ratio {sd_ratio:.3g}, of ln product {sd_product:.3g}" in msg
        assert sd_ratio < 0.1 < sd_product
    else:
        assert "the data fix their product g_a·g_b to ±" in msg, msg
        assert f"SD of ln product {sd_product:.3g}, of ln ratio {sd_ratio:.3g}" in msg
        assert sd_product < 0.1 < sd_ratio
    assert f"only to a factor of {np.exp(2 * np.std(loose)):.2g}" in msg
    # identifiability() warns with the same text for the same draws
    post = {"g_a": np.exp(log_a).reshape(2, 2000), "g_b": np.exp(log_b).reshape(2, 2000)}
    ident = identifiability(az.from_dict(posterior=post), ["g_a", "g_b"])
    assert ident["warnings"] == [msg]
