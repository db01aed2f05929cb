"""The report's correlation table and its identifiability warnings agree."""

from __future__ import annotations

import arviz as az
import numpy as np
import pytest


@pytest.mark.parametrize("recorded", [True, False])
def test_report_marks_strong_exactly_the_pairs_it_warns_about(recorded):
    """Three parameters: a/b correlated at r ≈ 0.95, a/c at r ≈ 0.85 (between the old table
    mark of 0.8 and the warning's 0.9), b/c at r ≈ 0.81. The report's correlation table
    must call 'strong' exactly the pairs that get an identifiability warning — with the
    fit's recorded correlations, and when it recomputes them from the draws (a run
    folder without them)."""
    from iongrad.infer.diagnostics import CORRELATION_STRONG, identifiability
    from iongrad.workflows.report.document import _Doc
    from iongrad.workflows.report.posterior import _fit_pairs

    rng = np.random.default_rng(11)
    z = rng.normal(size=(3, 4000))
    common = z[0]
    log_a = common
    log_b = 0.95 * common + np.sqrt(1 - 0.95**2) * z[1]
    log_c = 0.85 * common + np.sqrt(1 - 0.85**2) * z[2]
    post = {n: np.exp(v).reshape(2, 2000) for n, v in
            (("a_nS", log_a), ("b_nS", log_b), ("c_nS", log_c))}
    idata = az.from_dict(posterior=post)
    ident = identifiability(idata, ["a_nS", "b_nS", "c_nS"])
    ctx = {"idata": idata, "params": ["a_nS", "b_nS", "c_nS"],
           "info": {"identifiability": ident if recorded else {}}}
    doc = _Doc(title="t")
    _fit_pairs(doc, ctx)
    blocks = doc.sections[0].blocks
    table = next(b for b in blocks if b["kind"] == "table")
    strong = {(r[0], r[1]) for r in table["rows"] if r[3]["text"] == "strong"}
    rs = {(r[0], r[1]): float(r[2]) for r in table["rows"]}
    assert {k for k, r in rs.items() if abs(r) > CORRELATION_STRONG} == strong
    assert ("a_nS", "b_nS") in strong and ("a_nS", "c_nS") not in strong
    assert 0.8 < rs[("a_nS", "c_nS")] < CORRELATION_STRONG  # the case the marks disagreed on
    alerts = [b["text"] for b in blocks if b["kind"] == "alert" and b["level"] == "warn"]
    warned = {(a, b) for a, b in rs if any(w.startswith(f"{a} and {b} are strongly")
                                           for w in alerts)}
    assert warned == strong
