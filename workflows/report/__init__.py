"""Reports of run folders: ``iongrad report RUN_DIR``.

:func:`write_report` reads a fit or sensitivity run folder (dispatching on the
``kind`` recorded in its ``run.json``) and writes two twins next to it:

``report.html``
    One self-contained file: inline CSS, every figure embedded as a base64 PNG
    data URI, no JavaScript and no network access. Built from the Jinja2
    templates in ``iongrad/workflows/templates`` with autoescaping on, so any
    user-supplied text (dataset names, labels, error messages) renders as text.
``report.md``
    The same content in Markdown, with the figures written as PNG files under
    ``report_files/`` and linked relatively.

:func:`write_batch_index` writes ``index.html`` / ``index.md`` for a batch folder
(``manifest.json`` + ``tasks/<kind>-<hash>/``), linking to one report per task.
Task folders are sealed by the batch runner (their ``DONE.json`` lists every file,
and a folder with extra files is redone), so task reports are written to
``DIR/reports/<task-id>/`` rather than into the task folders.

Every file is written atomically (temporary file in the same folder, then rename).

The modules, one job each:

- :mod:`.files` -- atomic writes, run-folder JSON, PNG headers
- :mod:`.tables` -- numbers, durations and units as printed
- :mod:`.document` -- the document model and its HTML / Markdown rendering
- :mod:`.figures` -- figure style, tick decluttering, a failed figure as a warning
- :mod:`.fit_context` -- a fit run folder read for the fit-report sections
- :mod:`.fit_sections` -- run, data, model, diagnostics, summary and derived sections
  (the diagnostics thresholds: :data:`DIAGNOSTIC_THRESHOLDS`)
- :mod:`.posterior` -- trace/rank plots, pair plot, prior against posterior
- :mod:`.predictive` -- posterior and prior predictive checks
- :mod:`.psens` -- prior sensitivity by power scaling
- :mod:`.rundown` -- the sections of a run-down fit
- :mod:`.checklist` -- the BARG reporting checklist
- :mod:`.fit` -- the fit report; :mod:`.sensitivity` -- the sensitivity report
- :mod:`.write` -- :func:`write_report`; :mod:`.batch_index` -- :func:`write_batch_index`
- :mod:`.cli` -- ``iongrad report`` (:func:`add_arguments`, :func:`run`)
"""

from __future__ import annotations

from iongrad.workflows.report.batch_index import write_batch_index
from iongrad.workflows.report.checklist import BARG_ITEMS
from iongrad.workflows.report.cli import add_arguments, run
from iongrad.workflows.report.figures import FIGURE_STYLE
from iongrad.workflows.report.files import png_size
from iongrad.workflows.report.fit_context import HDI_PROB
from iongrad.workflows.report.fit_sections import DIAGNOSTIC_THRESHOLDS
from iongrad.workflows.report.psens import PSENS_THRESHOLD, psens_reading
from iongrad.workflows.report.tables import unit_of
from iongrad.workflows.report.write import write_report

__all__ = [
    "BARG_ITEMS",
    "DIAGNOSTIC_THRESHOLDS",
    "FIGURE_STYLE",
    "HDI_PROB",
    "PSENS_THRESHOLD",
    "add_arguments",
    "png_size",
    "psens_reading",
    "run",
    "unit_of",
    "write_batch_index",
    "write_report",
]
