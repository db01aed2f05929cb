"""The reporting checklist of a fit report (BARG; Kruschke 2021)."""

from __future__ import annotations

from iongrad.workflows.report.document import _Doc, _Section

#: Reporting items of the Bayesian analysis reporting guidelines (BARG; Kruschke 2021,
#: Nat Hum Behav 5:1282) and the Bayesian workflow (Gelman et al. 2020), each with the
#: report sections (ids) that meet it, or the reason it does not apply.
BARG_ITEMS: tuple[tuple[str, str, tuple[str, ...] | str], ...] = (
    ("BARG 1", "Explain the model: likelihood, parameters and their meaning",
     ("model", "observables")),
    ("BARG 1", "Every model input, including those not set by the user", ("inputs",)),
    ("BARG 1", "Priors stated and justified (source of each)", ("priors",)),
    ("BARG 1 · Gelman 2020 §2.4", "Prior predictive check", ("prior-predictive",)),
    ("BARG 2", "Software and versions; sampler settings; random seed",
     ("versions", "run-metadata")),
    ("BARG 2", "MCMC convergence: R-hat, bulk and tail ESS of every variable",
     ("diagnostics", "posterior-summary")),
    ("BARG 2", "Divergent transitions and E-BFMI", ("diagnostics",)),
    ("BARG 2", "Trace and rank plots", ("rank-plots",)),
    ("BARG 3", "Posterior: central tendency and 94% credible interval of every parameter",
     ("posterior-summary",)),
    ("BARG 3", "Derived quantities with credible intervals", ("derived",)),
    ("BARG 3 · Gelman 2020 §6.1", "Posterior predictive checks", ("posterior-predictive",)),
    ("BARG 3", "What the data identified (prior vs posterior, correlations)",
     ("prior-posterior", "identifiability")),
    ("BARG 4", "Sensitivity of the results to the prior (power scaling)",
     ("prior-sensitivity",)),
    ("BARG 5", "Decisions (Bayes factors, ROPE)",
     "not applicable: the fit estimates parameters and tests no hypothesis; compare "
     "models with `iongrad compare` (PSIS-LOO)"),
    ("BARG 6", "Data provenance and the exact configuration, to reproduce the run",
     ("provenance", "config")),
)


def _barg_checklist(doc: _Doc) -> _Section:
    """The reporting checklist of ``doc``: for each item, links to the sections that meet
    it (present in this document) or the reason it does not apply."""
    present: set[str] = set()
    warned: set[str] = set()
    for sec in doc.sections:
        present.add(sec.id)
        for b in sec.blocks:
            if b.get("id"):
                present.add(str(b["id"]))
            if str(b.get("id") or "") in ("psens-missing", "psens-failed"):
                warned.add(sec.id)  # the analysis is absent (a flag found is a result)
    s = _Section("reporting-checklist", "Reporting checklist (BARG)")
    s.p("Where this report meets each item of the Bayesian analysis reporting guidelines "
        "(Kruschke 2021, Nature Human Behaviour 5:1282) and of the Bayesian workflow "
        "(Gelman et al. 2020).")
    rows = []
    for ref, item, where in BARG_ITEMS:
        if isinstance(where, str):
            rows.append([ref, item, where, {"text": "n/a", "status": "pass"}])
            continue
        found = [w for w in where if w in present]
        met = len(found) == len(where) and not (set(found) & warned)
        rows.append([ref, item,
                     ", ".join(f"#{w}" for w in where),
                     {"text": "met" if met else "missing", "status": "pass" if met
                      else "fail"}])
    s.table(["guideline", "item", "sections", "status"], rows, id="checklist-table")
    return s
