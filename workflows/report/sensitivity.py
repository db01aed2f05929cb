"""The sensitivity report of a ``iongrad sensitivity`` run folder."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from iongrad.models.errors import ConfigError
from iongrad.workflows.report.document import _Doc, _Figure
from iongrad.workflows.report.files import _read_json, png_size
from iongrad.workflows.report.tables import _as_float, _fmt, _fmt_duration, _slug, unit_of


def _sens_doc(run_dir: Path, run_folder: str) -> _Doc:
    import pandas as pd

    info = _read_json(run_dir / "run.json")
    cfg = info.get("config") or {}
    path = run_dir / "indices.csv"
    if not path.is_file():
        raise ConfigError(f"{str(path)!r} does not exist (a sensitivity run folder has "
                          "indices.csv)")
    idx = pd.read_csv(path, dtype=str, keep_default_na=False)
    method = info.get("method", cfg.get("method", ""))
    doc = _Doc(title=f"Sensitivity report: {info.get('model', '')} ({method})",
               subtitle=str(cfg.get("description") or ""), source=run_folder)

    s = doc.section("metadata", "Run")
    outcome = info.get("outcome") or {}
    if outcome.get("status") in ("partial", "nothing_analysed"):
        s.alert("fail" if outcome["status"] == "nothing_analysed" else "warn",
                ("No result: " if outcome["status"] == "nothing_analysed" else "Incomplete: ")
                + str(outcome.get("message", "")), id="outcome")
    conv = info.get("convergence") or {}
    s.kv([("model", str(info.get("model", ""))), ("method", str(method)),
          ("seed", str(info.get("seed", ""))), ("config hash", str(info.get("config_hash", ""))),
          ("base sample size n", str(info.get("n_final", ""))),
          ("model evaluations", str(info.get("n_evaluations", ""))),
          ("throughput", f"{_fmt(info['throughput_eval_per_s'])} evaluations/s"
           if isinstance(info.get("throughput_eval_per_s"), int | float) else "n/a"),
          ("outputs", ", ".join(map(str, cfg.get("outputs", [])))),
          ("fixed", ", ".join(f"{k} = {v}" for k, v in (cfg.get("fixed") or {}).items())
           or "model defaults"),
          ("CI target (ST half-width)", "not set" if conv.get("target_ci_halfwidth") is None
           else str(conv.get("target_ci_halfwidth"))),
          ("converged", "n/a" if conv.get("converged") is None else str(conv["converged"]))]
         + [(f"time: {k}", _fmt_duration(v)) for k, v in (info.get("timings_s") or {}).items()],
         id="run-metadata")
    versions = info.get("versions") or {}
    if versions:
        s.table(["package", "version"], [[k, str(v)] for k, v in sorted(versions.items())],
                id="versions-table")
    s.pre(json.dumps(cfg, indent=2, sort_keys=True, default=str),
          details="Resolved configuration")
    fc = cfg.get("fit_context") or {}
    from iongrad.workflows.sensitivity import fit_context_notes

    fc_notes = set(fit_context_notes(fc)) if fc else set()
    for note in info.get("notes") or []:
        if note != outcome.get("message") and note not in fc_notes:
            s.alert("info", str(note))
    if fc:
        _sens_fit_context(doc, fc)

    s = doc.section("inputs", "Inputs")
    rows = []
    for inp in cfg.get("inputs") or []:
        if inp.get("source") == "posterior":
            spec = (f"posterior draws of {inp.get('variable')} (cell {inp.get('cell')}, "
                    f"{inp.get('n_draws')} draws) from {inp.get('path')}")
        else:
            spec = ", ".join(f"{k} = {inp[k]}" for k in ("bounds", "mean", "sd", "log_mean",
                                                         "log_sd") if k in inp)
        rows.append([str(inp.get("name")), str(inp.get("unit", "")), str(inp.get("dist", "")),
                     spec])
    s.table(["input", "unit", "distribution", "specification"], rows, id="inputs-table")

    s = doc.section("indices", "Sensitivity indices")
    s.p("Indices per output (from indices.csv, shown to 3 significant digits), inputs ranked "
        "by the main index; ± is the half-width of the bootstrap confidence interval "
        f"(conf_level {cfg.get('conf_level', '')}). Second-order indices are in indices.csv.")
    main_index = {"sobol": "ST", "efast": "ST", "morris": "mu_star", "delta": "delta",
                  "pawn": "PAWN", "shapley": "Sh", "given_data": "S1"}
    for output in (dict.fromkeys(idx["output"]) if len(idx) else []):
        sub = idx[(idx["output"] == output) & (idx["parameter2"] == "")] \
            if "parameter2" in idx.columns else idx[idx["output"] == output]
        for (meth, design), part in sub.groupby(["method", "design"], sort=False):
            kinds = list(dict.fromkeys(part["index"]))
            key = main_index.get(meth, kinds[0])
            key = key if key in kinds else kinds[0]
            cell = {(r["parameter"], r["index"]): r for r in part.to_dict("records")}
            params = list(dict.fromkeys(part["parameter"]))
            params.sort(key=lambda p: -_as_float(cell.get((p, key), {}).get("value")))

            def show(r):
                if r is None:
                    return ""
                v, c = _as_float(r["value"]), _as_float(r["conf"])
                return _fmt(v) + ("" if math.isnan(c) else f" ± {_fmt(c, 2)}")
            n_rows = part["n_rows"].iloc[0] if "n_rows" in part.columns else ""
            s.heading(f"{output} ({meth}, {design} design, {n_rows} rows)",
                      id=f"indices-{_slug(output)}-{_slug(meth)}")
            s.table(["input", *kinds], [[p, *[show(cell.get((p, k))) for k in kinds]]
                                        for p in params],
                    id=f"indices-table-{_slug(output)}" if design == "main"
                    else f"indices-table-{_slug(output)}-{_slug(design)}")

    s = doc.section("plots", "Plots")
    pngs = [f for f in (info.get("files") or []) if str(f).endswith(".png")]
    if not pngs:
        pngs = sorted(p.name for p in run_dir.glob("*.png"))
    for name in pngs:
        p = run_dir / name
        if not p.is_file():
            s.alert("warn", f"plot {name} is listed in run.json but missing.")
            continue
        data = p.read_bytes()
        try:
            png_size(data)
        except ValueError:
            s.alert("warn", f"{name} is not a PNG image.", cls="plot-error")
            continue
        stem = name[:-4]
        kind = "Morris mu* against sigma (mean and spread of elementary effects)" \
            if stem.startswith("morris_") else "indices with bootstrap confidence intervals"
        s.figure(_Figure(stem, data, f"{stem}: {kind}."))

    s = doc.section("ci-widths", "Confidence interval widths and convergence")
    ci = info.get("ci_halfwidths") or {}
    rows = []
    for output, by_index in ci.items():
        for index, by_param in by_index.items():
            vals = [v for v in by_param.values() if isinstance(v, int | float)]
            if vals:
                widest = max(by_param, key=lambda k: by_param[k])
                rows.append([output, index, _fmt(max(vals)), widest, _fmt(min(vals))])
    if rows:
        s.table(["output", "index", "largest CI half-width", "for input",
                 "smallest CI half-width"], rows, id="ci-table")
    else:
        s.p("No confidence intervals were recorded.")
    hist = conv.get("history") or []
    if hist:
        s.table(["n", "evaluations", "largest ST CI half-width"],
                [[str(h.get("n")), str(h.get("n_evaluations")),
                  _fmt(h.get("max_st_ci_halfwidth"))] for h in hist], id="convergence-table")

    s = doc.section("failures", "Failures")
    fail = info.get("failures") or {}
    frac = fail.get("infeasible_fraction")
    if isinstance(frac, int | float):
        level = "ok" if frac == 0 else "warn"
        s.alert(level, f"{fail.get('n_infeasible', 0)} of {fail.get('n_samples', 0)} samples "
                       f"({100 * frac:.2f}%) had no physical steady state.",
                id="failure-fraction")
    per_out = fail.get("per_output") or {}
    if per_out:
        s.table(["output", "failed samples", "fraction"],
                [[o, str(v.get("n_failed")), f"{100 * float(v.get('fraction', 0)):.2f}%"]
                 for o, v in per_out.items()], id="failures-table")
    where = fail.get("where") or {}
    if where:
        s.p("Where failures occur: input values of failed and feasible samples (median and "
            "5–95% range). Inputs whose ranges differ most drive the failures.")
        rows = []
        for name, w in where.items():
            def rng(st):
                if not st:
                    return "—"
                return f"{_fmt(st['median'])} [{_fmt(st['q05'])}, {_fmt(st['q95'])}]"
            rows.append([name, str(w.get("unit", "")), rng(w.get("infeasible")),
                         rng(w.get("feasible"))])
        s.table(["input", "unit", "failed samples", "feasible samples"], rows,
                id="failures-where")
    handling = info.get("failure_handling") or {}
    s.heading("How failures were handled", id="failure-handling")
    s.p(f"Mode: {handling.get('mode', '')}. Infeasible samples are never passed to SALib or "
        "imputed.")
    hrows = []
    for o, h in (handling.get("outputs") or {}).items():
        hrows.append([o, {"text": str(h.get("status")),
                          "status": "fail" if h.get("status") == "skipped" else
                          "warn" if "feasible" in str(h.get("status")) else "pass"},
                      str(h.get("method") or ""), str(h.get("design") or ""),
                      str(h.get("note") or h.get("reason") or "")])
    s.table(["output", "status", "method", "design", "note"], hrows, id="handling-table")
    return doc


def _sens_fit_context(doc: _Doc, fc: Mapping[str, Any]) -> None:
    """What the run kept of the fit whose posterior it samples, and what it changed."""
    s = doc.section("fit-context", "The fit this analysis builds on")
    verdict = fc.get("fit_verdict")
    s.kv([("fit run folder", str(fc.get("run_dir", ""))),
          ("fit membrane model", str(fc.get("fit_composition") or "")),
          ("fit diagnostics", "PASS" if verdict == "pass" else "FAIL" if verdict == "fail"
           else "not recorded")], id="fit-context-summary")
    if verdict == "fail":
        s.alert("fail", "The fit FAILED its sampler diagnostics ("
                + ", ".join(map(str, fc.get("fit_failed_checks") or [])) + "): its draws may "
                "not represent the posterior, and neither may these indices.",
                id="fit-context-verdict")
    for w in fc.get("fit_identifiability_warnings") or []:
        s.alert("warn", f"From the fit: {w}")
    rows = [[k, _fmt(v, 4), unit_of(k), "kept from the fit"]
            for k, v in (fc.get("inherited") or {}).items()]
    rows += [[o["name"], _fmt(o["fit_value"], 4), unit_of(o["name"]),
              "varied here" if o["now"] == "varied" else f"fixed here to {_fmt(o['now'], 4)}"]
             for o in fc.get("overridden") or []]
    if rows:
        s.table(["parameter", "value in the fit", "unit", "in this analysis"], rows,
                id="fit-context-table",
                caption="Values the fit held fixed or evaluated at (its [fixed] values and "
                        "reference condition): kept unless this config fixes or varies them.")
    for w in fc.get("warnings") or []:
        s.alert("warn", f"Warning: {w}.")
