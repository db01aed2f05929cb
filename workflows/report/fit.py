"""The fit report: its sections in order, the checklist and the verdict."""

from __future__ import annotations

import sys
from pathlib import Path

from iongrad.workflows.report.checklist import _barg_checklist
from iongrad.workflows.report.document import _Doc
from iongrad.workflows.report.fit_context import _fit_context
from iongrad.workflows.report.fit_sections import (
    _fit_data,
    _fit_derived,
    _fit_diagnostics,
    _fit_metadata,
    _fit_model,
    _fit_summary,
)
from iongrad.workflows.report.posterior import _fit_pairs, _fit_prior_posterior, _fit_traces
from iongrad.workflows.report.predictive import _fit_predictive, _fit_prior_predictive
from iongrad.workflows.report.psens import _fit_prior_sensitivity
from iongrad.workflows.report.rundown import (
    _rundown_data,
    _rundown_derived,
    _rundown_model,
    _rundown_predictive,
)


def _fit_doc(run_dir: Path, run_folder: str, *, progress: bool = False) -> _Doc:
    ctx = _fit_context(run_dir)
    ds = (ctx["info"].get("dataset") or {}).get("name", "")
    model = ctx["model"]
    if model.get("kind") == "rundown":
        title = "Run-down fit report"
        kind = f"{model.get('mode', '')} run-down"
        sections = (_rundown_data, _rundown_model, _fit_diagnostics, _fit_summary,
                    _rundown_derived, lambda d, c: _rundown_predictive(d, c, run_dir))
    else:
        title = "Fit report"
        kind = f"{model.get('pooling', '')} pooling"
        sections = (_fit_data, _fit_model, _fit_diagnostics, _fit_summary, _fit_derived,
                    _fit_predictive)
    doc = _Doc(title=f"{title}: {ds}" if ds else title,
               subtitle=f"{kind} · parameters {', '.join(ctx['params'])} · observables "
                        f"{', '.join(ctx['observables'])}",
               source=run_folder)
    _fit_metadata(doc, ctx, run_folder)
    from tqdm import tqdm  # here: the CLI imports this module to build its parser

    sections = (*sections, _fit_prior_predictive, _fit_prior_posterior,
                _fit_prior_sensitivity, _fit_pairs, _fit_traces)
    with tqdm(sections, desc="report", unit="section", disable=not progress,
              file=sys.stderr, leave=False) as bar:
        for section in bar:
            section(doc, ctx)
    doc.sections.insert(1, _barg_checklist(doc))
    passed = ctx.get("verdict") == "pass"
    doc.verdict = {"level": "ok" if passed else "fail",
                   "text": "Diagnostics: PASS" if passed else
                   "Diagnostics: FAIL (see the diagnostics section before using these numbers)"}
    return doc
