"""The index of a batch folder: every task with its status, results and report."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from iongrad.models.errors import ConfigError
from iongrad.workflows.report.document import _Doc, _render
from iongrad.workflows.report.files import _read_json
from iongrad.workflows.report.tables import _fmt, _fmt_duration, _short
from iongrad.workflows.report.write import write_report


def _key_results(entry: Mapping[str, Any]) -> str:
    res = entry.get("results")
    if not isinstance(res, Mapping):
        return ""
    parts = []
    if entry.get("kind") == "sensitivity":
        if isinstance(res.get("infeasible_fraction"), int | float):
            parts.append(f"infeasible {100 * res['infeasible_fraction']:.1f}%")
        for o, e in (res.get("outputs") or {}).items():
            if isinstance(e, Mapping) and e.get("ranking"):
                parts.append(f"{o}: {', '.join(map(str, e['ranking'][:3]))}")
    else:
        if isinstance(res.get("verdict"), str):
            parts.append(f"diagnostics {res['verdict']}")
        derived = res.get("posterior_means") or res.get("derived") or {}
        if isinstance(derived, Mapping):
            for k, v in derived.items():
                if isinstance(v, int | float):
                    parts.append(f"{k} {_fmt(v)}")
                elif isinstance(v, Mapping) and isinstance(v.get("mean"), int | float):
                    parts.append(f"{k} {_fmt(v['mean'])}")
        for k, v in res.items():
            if k not in ("verdict", "diagnostics", "derived", "posterior_means", "out_dir",
                         "files", "warnings") \
                    and isinstance(v, int | float | str) and len(parts) < 8:
                parts.append(f"{k} {_fmt(v) if not isinstance(v, str) else _short(v, 40)}")
        if res.get("warnings"):
            parts.append(f"{len(res['warnings'])} identifiability warning(s)")
    return "; ".join(parts)


def _failed_diagnostics(folder: Path, entry: Mapping[str, Any]) -> list[str] | None:
    """Names of the failed sampler checks of a complete fit task, ``[]`` if its
    diagnostics passed, ``None`` if it is not a fit or records no verdict.

    The verdict is read from the task's ``run.json`` (sealed with the task folder);
    the key results in the manifest are the fallback."""
    if entry.get("kind") != "fit":
        return None
    diag: Any = None
    try:
        diag = _read_json(folder / "run.json").get("diagnostics")
    except (ConfigError, OSError):
        pass
    if not isinstance(diag, Mapping) or diag.get("verdict") not in ("pass", "fail"):
        res = entry.get("results")
        diag = res.get("diagnostics") if isinstance(res, Mapping) else None
        if not isinstance(diag, Mapping) or diag.get("verdict") not in ("pass", "fail"):
            verdict = res.get("verdict") if isinstance(res, Mapping) else None
            diag = {"verdict": verdict} if verdict in ("pass", "fail") else None
    if diag is None:
        return None
    if diag["verdict"] == "pass":
        return []
    failed = [str(c.get("name")) for c in diag.get("checks") or []
              if isinstance(c, Mapping) and not c.get("passed")]
    return failed or ["verdict"]


def write_batch_index(batch_dir: str | Path) -> tuple[Path, Path]:
    """Write ``index.html`` and ``index.md`` for a batch folder.

    Every task of ``manifest.json`` is listed with its status, timings, key results
    and error line. A completed task links to its report; a missing (or older
    than the task's ``DONE.json``) report is generated into
    ``batch_dir/reports/<task-id>/`` (task folders themselves are never modified).
    A complete fit whose sampler diagnostics failed (its ``run.json`` verdict) is
    shown as complete with failed diagnostics, in its row and in the headline, never
    as a plain green "done".

    Parameters
    ----------
    batch_dir : str or Path
        A folder written by ``iongrad batch``.

    Returns
    -------
    (html_path, md_path) : tuple of Path
    """
    batch_dir = Path(batch_dir)
    manifest = _read_json(batch_dir / "manifest.json")
    tasks = [t for t in manifest.get("tasks") or [] if isinstance(t, Mapping)]
    counts = manifest.get("counts") or {}
    doc = _Doc(title=f"Batch index: {batch_dir.name}",
               subtitle=", ".join(f"{v} {k}" for k, v in counts.items() if v) or "no tasks",
               source=str(batch_dir), wide=True)
    s = doc.section("summary", "Batch")
    s.kv([("folder", str(batch_dir)), ("executor", str(manifest.get("executor", ""))),
          ("run started", str(manifest.get("run_started_at", ""))),
          ("updated", str(manifest.get("updated_at", ""))),
          ("tasks", str(len(tasks)))] + [(k, str(v)) for k, v in counts.items()],
         id="batch-metadata")
    for w in manifest.get("warnings") or []:
        s.alert("warn", str(w))
    if manifest.get("untracked_folders"):
        s.alert("info", "Complete task folders not part of this batch's configs: "
                + ", ".join(map(str, manifest["untracked_folders"])))

    rows, report_errors, diag_failed = [], [], []
    for t in tasks:
        status = str(t.get("status", ""))
        folder = batch_dir / str(t.get("folder") or f"tasks/{t.get('id')}")
        status_cell = {"text": status, "status": status}
        failed_checks = _failed_diagnostics(folder, t) \
            if status in ("done", "skipped") else None
        if failed_checks:
            diag_failed.append(str(t.get("id", "")))
            status_cell = {"text": f"{status}, diagnostics failed "
                                   f"({', '.join(failed_checks)})", "status": "warn"}
        link: Any = "—"
        if status in ("done", "skipped") and (folder / "run.json").is_file():
            try:
                link = {"text": "report", "href": _task_report(batch_dir, folder, str(t["id"]))}
            except Exception as exc:  # a broken task report must not hide the others
                report_errors.append(f"{t.get('id')}: {type(exc).__name__}: {exc}")
                link = "report failed"
        error = str(t.get("error") or "")
        err_file = batch_dir / "failed" / str(t.get("hash", "")) / "error.txt"
        error_cell: Any = error
        if error and err_file.is_file():
            error_cell = {"text": error, "href": err_file.relative_to(batch_dir).as_posix()}
        rows.append([str(t.get("id", "")), str(t.get("kind", "")), str(t.get("label", "")),
                     status_cell, str(t.get("attempts", "")),
                     _fmt_duration(t.get("duration_s")), str(t.get("finished_at") or ""),
                     _key_results(t), link, error_cell])
    s = doc.section("tasks", "Tasks")
    s.p("Status 'skipped' means the task was already complete from an earlier run of the "
        "batch and was not redone.")
    s.table(["task", "kind", "label", "status", "attempts", "duration", "finished",
             "key results", "report", "error"], rows, id="tasks-table",
            row_keys=[str(t.get("id", "")) for t in tasks])
    for e in report_errors:
        s.alert("warn", f"task report not written: {e}", cls="report-error")
    failed = sum(1 for t in tasks if t.get("status") == "failed")
    doc.verdict = {"level": "ok" if not failed else "fail",
                   "text": "All tasks complete" if not failed and tasks and all(
                       t.get("status") in ("done", "skipped") for t in tasks)
                   else f"{failed} task(s) failed" if failed else "Batch incomplete"}
    if not failed and not all(t.get("status") in ("done", "skipped") for t in tasks):
        doc.verdict["level"] = "warn"
    if diag_failed:
        # complete, but these numbers must not be used as they are: never green
        doc.verdict["text"] += (f"; {len(diag_failed)} fit(s) complete with failed "
                                "diagnostics (see their reports before using them)")
        if doc.verdict["level"] == "ok":
            doc.verdict["level"] = "warn"
        doc.sections[0].alert(
            "warn", f"{len(diag_failed)} fit(s) complete with failed sampler diagnostics "
                    f"(R-hat, ESS, divergences or E-BFMI): {', '.join(diag_failed)}. Their "
                    "posteriors are written but not reliable; see each report's advice.",
            id="diagnostics-failed")
    return _render(doc, batch_dir, "index")


def _task_report(batch_dir: Path, folder: Path, task_id: str) -> str:
    """Relative href of a task's report.html, writing it under ``reports/`` if needed."""
    if (folder / "report.html").is_file():
        return (folder / "report.html").relative_to(batch_dir).as_posix()
    out = batch_dir / "reports" / task_id
    html = out / "report.html"
    marker = folder / "DONE.json"
    if marker.is_file():
        ref_time = marker.stat().st_mtime
    else:
        ref_time = (folder / "run.json").stat().st_mtime
    if not html.is_file() or html.stat().st_mtime < ref_time:
        write_report(folder, out)
    return html.relative_to(batch_dir).as_posix()
