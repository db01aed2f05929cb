"""Sections of a fit report: run metadata, data, model, sampler diagnostics,
posterior summary and derived quantities.

Fit diagnostics thresholds (see :data:`DIAGNOSTIC_THRESHOLDS`)
--------------------------------------------------------------
* R-hat (rank-normalised, split) of every posterior variable <= 1.01;
* bulk and tail effective sample size >= 100 per chain (Vehtari et al. 2021,
  Bayesian Analysis 16:667, recommend R-hat < 1.01 and ESS > 100 per chain);
* no divergent transitions;
* E-BFMI of every chain >= 0.3 (Betancourt 2016, arXiv:1604.00695)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from iongrad.infer.diagnostics import LABELS, THRESHOLDS, diagnose
from iongrad.infer.model import DERIVED, derived_quantities
from iongrad.models.membrane import ATP_SHARE_SUFFIX, membrane_of
from iongrad.workflows.report.document import _Doc, _Section
from iongrad.workflows.report.figures import _cell_colors, _log_ticks, _pyplot, _safe_figure
from iongrad.workflows.report.fit_context import (
    HDI_PROB,
    _hdi_columns,
    _is_missing,
    _summary_lookup,
    _varying,
)
from iongrad.workflows.report.tables import _as_float, _fmt, _fmt_duration, _short, _slug, unit_of

#: Pass thresholds of the sampler diagnostics (those of :func:`iongrad.infer.diagnostics.diagnose`).
DIAGNOSTIC_THRESHOLDS: dict[str, float] = THRESHOLDS


def _derived_order(ctx: Mapping[str, Any]) -> tuple[str, ...]:
    """The fit's derived quantities (:func:`iongrad.infer.model.derived_quantities` of
    the composition recorded in run.json)."""
    record = (ctx.get("model") or {}).get("composition")
    if not record:
        return DERIVED
    try:
        return derived_quantities(membrane_of(record))
    except (KeyError, ValueError):  # a mechanism outside the catalogue: the base set
        return DERIVED


_CONDITION_ORDER = ("k_o_mM", "na_o_mM", "cl_o_mM", "temperature_K", "activity_load_pA",
                    "atp_mM", "fxyd_state")


def _interval_words(row: Mapping[str, str], lo: str, hi: str, unit: str) -> str:
    u = f" {unit}" if unit else ""
    return (f"{_fmt(row['mean'])}{u} (94% credible interval {_fmt(row[lo])} to "
            f"{_fmt(row[hi])}{u})")


def _fit_metadata(doc: _Doc, ctx: dict[str, Any], run_folder: str) -> None:
    info, config = ctx["info"], ctx["config"]
    s = doc.section("metadata", "Run")
    ds = info.get("dataset") or {}
    sampler = info.get("sampler") or {}
    idata = ctx["idata"]
    n_chains = int(idata.posterior.sizes.get("chain", 0))
    n_draws = int(idata.posterior.sizes.get("draw", 0))
    s.kv([
        ("kind", info.get("kind", "fit")),
        ("run folder", run_folder),
        ("seed", str(info.get("seed", config.get("seed", "")))),
        ("dataset", str(ds.get("name", ""))),
        ("sampler", ", ".join(f"{k} = {v}" for k, v in sampler.items())
         or f"{n_chains} chains × {n_draws} draws"),
        ("posterior draws", f"{n_chains} chains × {n_draws} draws = {n_chains * n_draws}"),
        *([("command-line overrides", "; ".join(
            f"{k} = {v.get('value')} (config file: {v.get('config')})"
            for k, v in (info.get("overrides") or {}).items() if isinstance(v, Mapping)))]
          if info.get("overrides") else []),
    ] + [(f"time: {k}", _fmt_duration(v) if isinstance(v, int | float) else str(v))
         for k, v in (info.get("timings") or info.get("timings_s") or {}).items()],
        id="run-metadata")
    s.heading("Dataset provenance", id="provenance")
    prov = ds.get("provenance") or {}
    cite = [(k, _short(prov[k], 400)) for k in ("citation", "lab", "generator", "licence",
                                                 "date", "seed", "synthetic") if k in prov]
    s.kv([("name", str(ds.get("name", ""))), ("CSV", str(ds.get("csv", ""))),
          ("sidecar", str(ds.get("sidecar", ""))), *cite], id="dataset-provenance")
    if not any(k in prov for k in ("citation", "lab")):
        s.p("No citation or lab is recorded for this dataset"
            + (f"; it was produced by {prov['generator']}." if "generator" in prov else "."))
    rest = {k: v for k, v in prov.items() if k not in dict(cite)}
    if rest:
        s.pre(json.dumps(rest, indent=2, sort_keys=True, default=str),
              details="Full provenance record")
    versions = info.get("versions") or {}
    if versions:
        s.heading("Package versions", id="versions")
        s.table(["package", "version"], [[k, str(v)] for k, v in sorted(versions.items())],
                id="versions-table")
    s.heading("Resolved configuration", id="config")
    s.pre(json.dumps(config or info.get("config") or {}, indent=2, sort_keys=True,
                     default=str), details="config.resolved.json")


def _condition_columns(rows: list[dict[str, Any]], observables: Sequence[str]) -> list[str]:
    if not rows:
        return []
    keys = [k for k in rows[0] if k not in ("cell", *observables)]
    ordered = [c for c in _CONDITION_ORDER if c in keys]
    ordered += [k for k in keys if k not in ordered and not k.startswith(("sem_", "sd_", "n_"))
                and k not in ("data_row", "row")]
    return ordered


def _fit_data(doc: _Doc, ctx: dict[str, Any]) -> None:
    s = doc.section("data", "Data")
    rows, obs = ctx["rows"], ctx["observables"]
    conds = _condition_columns(rows, obs)
    ctx["conditions"] = conds
    if not rows:
        s.alert("warn", "run.json lists no data rows; the observed values below come from "
                        "the posterior file only.")
        idata = ctx["idata"]
        for o in obs:
            if f"{o}_obs" in idata.observed_data:
                vals = idata.observed_data[f"{o}_obs"].values.ravel()
                s.p(f"{o}: {len(vals)} observations, "
                    f"{', '.join(_fmt(v) for v in vals[:12])}{' …' if len(vals) > 12 else ''}")
        return
    cells = list(dict.fromkeys(str(r.get("cell", "")) for r in rows))
    counts = {o: sum(not _is_missing(r.get(o)) for r in rows) for o in obs}
    s.p(f"{len(rows)} rows from {len(cells)} cell(s); observations per observable: "
        + ", ".join(f"{o} {n}" for o, n in counts.items()) + ". Empty cells: not measured.")
    varying = [c for c in conds if _varying(rows, c)]
    constant = [c for c in conds if not _varying(rows, c)]
    if constant:
        s.p("Conditions constant over all rows: " + ", ".join(
            f"{c} = {rows[0].get(c)} {unit_of(c)}".rstrip() for c in constant) + ".")
    columns = ["cell", *varying, *obs]
    s.table([f"{c} ({unit_of(c, ctx['units'])})" if unit_of(c, ctx["units"]) else c
             for c in columns],
            [[("" if _is_missing(r.get(c)) else _fmt(r.get(c), 4)
               if isinstance(r.get(c), int | float) and not isinstance(r.get(c), bool)
               else str(r.get(c))) for c in columns] for r in rows],
            id="data-table", details=f"Data table ({len(rows)} rows)", open=len(rows) <= 20)
    ctx["x_condition"] = varying[0] if varying else None
    _safe_figure(doc, s, "data", "The data, one colour per cell: each observable against the "
                 "condition that varies (log axis for concentrations).",
                 lambda: _plot_data(ctx))


def _plot_data(ctx: dict[str, Any]):
    plt = _pyplot()
    rows, obs, xc = ctx["rows"], ctx["observables"], ctx.get("x_condition")
    cells = list(dict.fromkeys(str(r.get("cell", "")) for r in rows))
    colors = _cell_colors(cells)
    n = len(obs)
    ncols = min(n, 3)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.3 * nrows), squeeze=False)
    for ax, o in zip(axes.ravel(), obs, strict=False):
        sub = [r for r in rows if not _is_missing(r.get(o))]
        xs_vary = xc is not None and len({r.get(xc) for r in sub}) > 1
        for i, c in enumerate(cells):
            pts = [r for r in sub if str(r.get("cell")) == c]
            if not pts:
                continue
            y = np.array([float(r[o]) for r in pts])
            if xs_vary:
                x = np.array([float(r[xc]) for r in pts])
                order = np.argsort(x)
                ax.plot(x[order], y[order], "o-", color=colors[c], ms=4, lw=1, label=c)
            else:
                ax.plot(np.full(y.size, i), y, "o", color=colors[c], ms=5, label=c)
        if xs_vary:
            _log_ticks(ax, [float(r[xc]) for r in sub])
            ax.set_xlabel(f"{xc} ({unit_of(xc)})")
        else:
            ax.set_xticks(range(len(cells)), cells, rotation=60, fontsize=7)
            ax.set_xlabel("cell")
        if o in ("o2_per_s", "atp_per_s", "r_in_MOhm"):
            ax.set_yscale("log")
        ax.set_ylabel(f"{o} ({unit_of(o, ctx['units'])})")
        ax.grid(alpha=0.3)
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    if len(cells) <= 12:
        axes.ravel()[0].legend(fontsize=7, ncol=2, title="cell", title_fontsize=7)
    fig.tight_layout()
    return fig


def _model_inputs(s: _Section, model: Mapping[str, Any]) -> None:
    """The table of every model input with its value and source (run.json "inputs")."""
    inputs = [r for r in (model.get("inputs") or []) if isinstance(r, Mapping)]
    if not inputs:
        return
    words = {"fitted": "fitted (posterior)", "data": "data (condition column)",
             "fixed": "set in [fixed]", "default": "default (not set by you)"}

    def value(r):
        v = r.get("value")
        if r.get("source") == "fitted":
            return "see posterior"
        if v is None:
            return "none (see description)"
        if isinstance(v, list):
            return ", ".join(_fmt(x, 4) for x in v[:8]) + (" …" if len(v) > 8 else "")
        return _fmt(v, 4)
    s.heading("Every model input", id="inputs")
    s.table(["input", "value", "unit", "source", "meaning"],
            [[str(r.get("name")), value(r), str(r.get("unit") or ""),
              words.get(str(r.get("source")), str(r.get("source"))),
              str(r.get("description") or "")] for r in inputs],
            id="inputs-table", row_keys=[str(r.get("name")) for r in inputs],
            caption="Every input of the model, including those you did not set: they are "
                    "recorded in run.json (model.inputs) and are part of the model the "
                    "posterior is conditional on.")
    by = {str(r.get("name")): r for r in inputs}
    area = by.get("area_um2")
    if "pump_density_per_um2" in by and by["pump_density_per_um2"].get("source") == "fitted" \
            and area is not None and area.get("source") == "default":
        s.alert("warn", "The fitted pump density is per µm² of membrane and scales inversely "
                f"with the cell area, which you did not set (default {_fmt(area.get('value'), 4)} "
                "µm²): the data determine the number of pumps (density × area); set area_um2 "
                "in [fixed] to the measured capacitance-derived area to report a density.",
                id="inputs-area-warning")


def _fit_model(doc: _Doc, ctx: dict[str, Any]) -> None:
    s = doc.section("model", "Model, observables and priors")
    model, config = ctx["model"], ctx["config"]
    get = lambda k: model.get(k, config.get(k))  # noqa: E731
    comp = model.get("composition") or {}
    membrane = ([("membrane model", f"{comp.get('name', '')}: "
                  f"{', '.join(map(str, comp.get('mechanisms') or []))}; "
                  f"{comp.get('volume', '')} volume")] if comp else [])
    shorthand = [(k, str(get(k))) for k in ("leak", "volume") if get(k)]
    s.kv([("steady state", "pump–leak steady state (3 Na+ out, 2 K+ in, 1 ATP per cycle)"),
          *membrane, *shorthand,
          ("pooling across cells", str(get("pooling") or "")),
          ("fitted parameters", ", ".join(ctx["params"])),
          ("reference condition for derived quantities",
           ", ".join(f"{k} = {v}" for k, v in (get("reference") or {}).items()) or "—"),
          ("fixed parameters", ", ".join(f"{k} = {v} {unit_of(k)}".rstrip()
                                         for k, v in (get("fixed") or {}).items()) or
           "model defaults")], id="model-settings")
    pooling = str(get("pooling") or "")
    if pooling == "partial":
        s.p("Partial pooling: each parameter has a population median (the variable named after "
            "the parameter) and per-cell values (<name>_cell) scattered log-normally around it "
            "with an estimated spread (<name>_cell_sd_log, in log units).")
    priors = model.get("priors") or {}
    if priors:
        s.heading("Priors", id="priors")
        s.table(["parameter", "prior", "median", "sd (log)", "unit", "source"],
                [[p, "LogNormal", _fmt(v.get("median")), _fmt(v.get("sd_log")),
                  str(v.get("unit") or unit_of(p)), str(v.get("source") or "")]
                 for p, v in priors.items() if isinstance(v, Mapping)],
                id="priors-table",
                caption="ln θ ~ Normal(ln median, sd_log); 94% of prior mass lies within "
                        "median ×/÷ exp(1.88 sd_log).")
    noise = model.get("noise") or {}
    s.heading("Observables and noise", id="observables")
    s.table(["observable", "unit", "family", "scale", "sigma"],
            [[o, unit_of(o, ctx["units"]), str((noise.get(o) or {}).get("family", "")),
              str((noise.get(o) or {}).get("scale", "")),
              str((noise.get(o) or {}).get("sigma", ""))] for o in ctx["observables"]],
            id="observables-table",
            caption="scale 'log': log(y) ~ Normal(log(prediction), sigma), sigma in log units; "
                    "sigma 'estimate': HalfNormal prior, 'known': the dataset's SEM/SD.")
    _model_inputs(s, model)


def _fit_diagnostics(doc: _Doc, ctx: dict[str, Any]) -> None:
    s = doc.section("diagnostics", "Sampler diagnostics")
    diag = (ctx["info"].get("diagnostics") or {})
    checks = diag.get("checks") if isinstance(diag.get("checks"), list) else None
    source = "recorded by the fit (run.json)"
    if not checks:  # the same checks the fit records, from the draws
        diag = diagnose(ctx["idata"])
        checks, source = diag["checks"], "computed from posterior.nc"
    verdict = diag.get("verdict")
    if verdict not in ("pass", "fail"):
        verdict = "pass" if all(c.get("passed") for c in checks) else "fail"
    ctx["verdict"] = verdict
    labels = LABELS
    if verdict == "pass":
        s.alert("ok", "PASS: every check below is within its threshold; the posterior "
                      "summaries can be used.", id="diagnostics-verdict")
    else:
        failed = [str(c.get("label") or labels.get(c.get("name")) or c.get("name"))
                  for c in checks if not c.get("passed")]
        s.alert("fail", "FAIL: " + ", ".join(failed) + ". Do not report these numbers before "
                "fixing the sampler problem (advice below).", id="diagnostics-verdict")
    rows = []
    for c in checks:
        cmp = c.get("comparison") or ""
        thr = c.get("threshold")
        rows.append([str(c.get("label") or labels.get(c.get("name")) or c.get("name")),
                     _fmt(c.get("value"), 4) if isinstance(c.get("value"), int | float)
                     else str(c.get("value")),
                     f"{cmp} {_fmt(thr, 4)}".strip() if isinstance(thr, int | float)
                     else str(thr),
                     {"text": "PASS" if c.get("passed") else "FAIL",
                      "status": "pass" if c.get("passed") else "fail"},
                     str(c.get("advice") or "")])
    s.table(["check", "value", "threshold", "status", "advice"], rows, id="diagnostics-table",
            caption=f"Checks {source}.",
            row_keys=[str(c.get("name")) for c in checks])
    th = DIAGNOSTIC_THRESHOLDS
    s.p(f"Thresholds: R-hat <= {th['r_hat_max']} for every variable; bulk and tail ESS >= "
        f"{th['ess_per_chain_min']:.0f} per chain; {th['divergences_max']:.0f} divergent "
        f"transitions; E-BFMI >= {th['bfmi_min']} in every chain (Vehtari et al. 2021; "
        "Betancourt 2016).")
    advice = [str(c.get("advice")) for c in checks if not c.get("passed") and c.get("advice")]
    if advice:
        s.heading("What to do", id="diagnostics-advice")
        s.items(advice, id="advice-list")
    summary = ctx["summary"]
    if "r_hat" in summary.columns:
        def key(r):
            try:
                return -float(r["r_hat"])
            except ValueError:
                return 0.0
        worst = sorted(summary.to_dict("records"), key=key)[:5]
        s.table(["variable", "r_hat", "ess_bulk", "ess_tail"],
                [[r["variable"], *(_summary_cell(c, r.get(c, ""))
                                   for c in ("r_hat", "ess_bulk", "ess_tail"))]
                 for r in worst],
                id="diagnostics-worst", caption="The five variables with the largest R-hat "
                                                "(from summary.csv).")


def _summary_cell(column: str, value: Any) -> str:
    """A summary.csv value as printed: 4 significant digits for estimates and intervals,
    2 for Monte Carlo errors, whole numbers for ESS, 3 decimals for R-hat (the CSV keeps
    full precision)."""
    if value in ("", None):
        return ""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return str(value)
    if column.startswith("ess"):
        return "n/a" if math.isnan(v) else f"{v:.0f}"
    if column == "r_hat":
        return "n/a" if math.isnan(v) else f"{v:.3f}"
    return _fmt(v, 2 if column.startswith("mcse") else 4)


def _fit_summary(doc: _Doc, ctx: dict[str, Any]) -> None:
    s = doc.section("posterior-summary", "Posterior summary")
    summary = ctx["summary"]
    lo, hi = _hdi_columns(summary)
    s.p(f"Posterior mean, standard deviation and 94% highest-density interval ({lo} to {hi}) "
        "of every variable, exactly as in summary.csv (az.summary, hdi_prob = 0.94). "
        "Population-level variables first; per-cell values below.")
    cols = [c for c in summary.columns if c not in ("variable", "unit")]
    records = summary.to_dict("records")
    # per cell: <name>_cell[...]; population values per FXYD state or condition stay main
    main = [r for r in records if "[" not in r["variable"] or
            not r["variable"].split("[", 1)[0].endswith("_cell")]
    cells = [r for r in records if r not in main]
    header = ["variable", "unit", *cols]
    s.table(header, [[r["variable"], r.get("unit", "") or unit_of(r["variable"]),
                      *[_summary_cell(c, r[c]) for c in cols]] for r in main],
            id="summary-table", row_keys=[r["variable"] for r in main])
    if cells:
        s.table(header, [[r["variable"], r.get("unit", "") or unit_of(r["variable"]),
                          *[_summary_cell(c, r[c]) for c in cols]] for r in cells],
                id="summary-table-cells", details=f"Per-cell variables ({len(cells)} rows)",
                row_keys=[r["variable"] for r in cells])


_DERIVED_WORDS = {
    "v_rest_mV": "The typical cell rests at {}.",
    "na_i_mM": "Its Na+ set point (intracellular Na+ where pump and leak balance) is {}.",
    "pump_current_pA": "The Na+/K+ pump carries an outward current of {}.",
    "atp_per_s": "Keeping the gradients costs {}: one ATP per pump cycle.",
    "o2_per_s": "Oxidative phosphorylation supplies that ATP by consuming {}.",
    "r_in_MOhm": "Input resistance: {}.",
    "cl_i_mM": "Intracellular Cl- is {}.",
    "e_cl_mV": "The Cl- reversal potential E_Cl is {}.",
    "e_gaba_mV": "The GABA-A reversal potential E_GABA (Cl- and HCO3-) is {}.",
    "ca_i_nM": "Intracellular Ca2+ is {}.",
    "ncx_current_pA": "The Na+/Ca2+ exchanger carries {} (positive outward).",
}


def _fit_derived(doc: _Doc, ctx: dict[str, Any]) -> None:
    s = doc.section("derived", "Derived quantities: resting potential, Na+ set point, "
                               "energy cost")
    summary = ctx["summary"]
    lookup = _summary_lookup(summary)
    lo, hi = _hdi_columns(summary)
    ref = (ctx["model"].get("reference") or ctx["config"].get("reference")
           or {"k_o_mM": 4.0})
    where = ", ".join(f"{k} = {v} {unit_of(k)}".rstrip() for k, v in ref.items())
    holes = ((ctx["info"].get("infeasible_draws") or {}).get("derived_at_reference") or {})
    n_holes = int(holes.get("draws_with_nan") or 0)
    if n_holes:
        total = (ctx["info"].get("infeasible_draws") or {}).get("posterior_draws") or "?"
        worst = sorted((holes.get("by_variable") or {}).items(), key=lambda kv: -kv[1])[:4]
        s.alert("warn", f"{n_holes} of {total} posterior draws have no physical steady state "
                f"at the reference condition ({where}): their derived quantities are NaN and "
                "are left out of the means and intervals below (most affected: "
                + ", ".join(f"{k} {v}" for k, v in worst) + "). The intervals describe the "
                "draws that do have a steady state there.", id="derived-infeasible")
    fitted = set(ctx["params"])
    if not fitted & {"g_na_nS", "g_k_nS", "p_na_cm_s", "p_k_cm_s", "pump_density_per_um2"}:
        s.alert("info", "This fit estimates neither leak nor pump density: the derived "
                        "quantities take those parameters at their fixed or default values "
                        f"and show the effect of the fitted ones ({', '.join(sorted(fitted))}) "
                        "alone.", id="derived-defaults")
    sentences = []
    order = _derived_order(ctx)
    for name in order:
        if name in lookup and not np.isfinite(_as_float(lookup[name].get("mean"))):
            continue  # no draw with a steady state at the reference: said in the alert
        if name in lookup and name in _DERIVED_WORDS:
            unit = lookup[name].get("unit") or unit_of(name)
            sentences.append(_DERIVED_WORDS[name].format(
                _interval_words(lookup[name], lo, hi, unit)))
    if sentences:
        s.p(f"Population level (the median cell), at the reference condition ({where}); "
            "posterior means with 94% credible intervals:")
        s.items(sentences, id="derived-sentences")
    else:
        s.alert("warn", "summary.csv has no population-level derived quantities.")
    for suffix, dim, what in (("_fxyd", "FXYD state", "at the reference condition in each "
                                                       "FXYD state"),
                              ("_condition", "condition", "at each condition of the data")):
        by = _derived_by(lookup, lo, hi, suffix, order)
        if by is None:
            continue
        labels, names, cells_text = by
        s.table([dim, *[f"{d} ({unit_of(d)})" for d in names]],
                [[label, *cells_text[i]] for i, label in enumerate(labels)],
                id=f"derived-by-{_slug(suffix[1:])}",
                caption=f"Population level, {what}: posterior mean [94% HDI] (summary.csv "
                        f"rows such as na_i_mM{suffix}[...]; per cell in posterior.nc, "
                        f"e.g. na_i_mM_cell{suffix}).")
    _atp_budget(s, doc, ctx, lookup, lo, hi, order)
    table = _derived_cells(ctx, lookup, lo, hi, order)
    if table is None:
        return
    cells, names, values, source = table
    s.table(["cell", *[f"{d} ({unit_of(d)})" for d in names]],
            [[c, *[f"{_fmt(values[d][i][0])} [{_fmt(values[d][i][1])}, "
                   f"{_fmt(values[d][i][2])}]" for d in names]] for i, c in enumerate(cells)],
            id="derived-cells",
            caption=f"Per cell: posterior mean [94% HDI] at the reference condition ({source}).")
    pop = {d: (_as_float(lookup[d][lo]), _as_float(lookup[d][hi])) for d in names
           if d in lookup and np.isfinite(_as_float(lookup[d][lo]))}
    _safe_figure(doc, s, "derived_cells", "Per-cell derived quantities: posterior mean and "
                 "94% HDI; the shaded band is the population value's 94% HDI.",
                 lambda: _plot_derived(cells, names, values, pop))


def _derived_by(lookup, lo, hi, suffix, order):
    """Population-level derived quantities per FXYD state (``suffix`` "_fxyd") or per
    condition ("_condition") from the summary rows ``<name><suffix>[label]``:
    ``(labels, names, cells)`` with one "mean [low, high]" text per label and name, or
    ``None`` when summary.csv has no such rows."""
    names, labels = [], []
    for d in order:
        prefix = f"{d}{suffix}["
        found = [k[len(prefix):-1] for k in lookup if k.startswith(prefix) and k.endswith("]")]
        if found:
            names.append(d)
            labels += [x for x in found if x not in labels]
    if not names:
        return None
    cells = []
    for label in labels:
        row = []
        for d in names:
            r = lookup.get(f"{d}{suffix}[{label}]")
            row.append("—" if r is None else
                       f"{_fmt(_as_float(r.get('mean')))} [{_fmt(_as_float(r.get(lo)))}, "
                       f"{_fmt(_as_float(r.get(hi)))}]")
        cells.append(row)
    return labels, names, cells


def _derived_cells(ctx, lookup, lo, hi, order):
    """Per-cell (mean, HDI low, HDI high) of the derived quantities.

    Taken from summary.csv when it has ``<name>_cell[...]`` rows, otherwise computed
    from the posterior (``az.hdi``, same probability).
    """
    import arviz as az

    post = ctx["idata"].posterior
    names = [d for d in order if f"{d}_cell" in post]
    if not names:
        return None
    dim = [x for x in post[f"{names[0]}_cell"].dims if x not in ("chain", "draw")]
    if len(dim) != 1:
        return None
    cells = [str(c) for c in post[f"{names[0]}_cell"][dim[0]].values]
    values: dict[str, list[tuple[float, float, float]]] = {}
    from_summary = all(f"{d}_cell[{c}]" in lookup for d in names for c in cells)
    for d in names:
        if from_summary:
            values[d] = [(float(lookup[f"{d}_cell[{c}]"]["mean"]),
                          float(lookup[f"{d}_cell[{c}]"][lo]),
                          float(lookup[f"{d}_cell[{c}]"][hi])) for c in cells]
        else:
            # draws without a steady state at the reference are NaN: use the finite ones
            flat = np.asarray(post[f"{d}_cell"].values, dtype=float)
            flat = flat.reshape(-1, flat.shape[-1])
            values[d] = []
            for i in range(len(cells)):
                x = flat[:, i][np.isfinite(flat[:, i])]
                if x.size < 2:
                    values[d].append((float("nan"),) * 3)
                    continue
                lo_i, hi_i = (float(b) for b in az.hdi(x, hdi_prob=HDI_PROB))
                values[d].append((float(x.mean()), lo_i, hi_i))
    source = "from summary.csv" if from_summary else "computed from posterior.nc"
    return cells, names, values, source


def _plot_derived(cells, names, values, pop):
    plt = _pyplot()
    shown = [d for d in ("v_rest_mV", "na_i_mM", "pump_current_pA", "atp_per_s")
             if d in names] or names[:4]
    fig, axes = plt.subplots(1, len(shown), figsize=(3.2 * len(shown), 0.32 * len(cells) + 1.4),
                             squeeze=False, sharey=True)
    y = np.arange(len(cells))
    for ax, d in zip(axes[0], shown, strict=False):
        m, a, b = (np.array(v) for v in zip(*values[d], strict=True))
        if d in pop:
            ax.axvspan(*pop[d], color="0.85")
        ax.hlines(y, a, b, color="#4c72b0", lw=2)
        ax.plot(m, y, "o", color="#4c72b0", ms=4)
        ax.set_xlabel(f"{d} ({unit_of(d)})", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3, axis="x")
    axes[0, 0].set_yticks(y, cells, fontsize=7)
    axes[0, 0].invert_yaxis()
    fig.tight_layout()
    return fig


def _atp_budget(s: _Section, doc: _Doc, ctx, lookup, lo, hi, order) -> None:
    """Who spends the ATP: each mechanism's share of the ATP use at the reference
    condition (posterior mean and 94% HDI) for the population, or per cell when the fit
    has no population level, as a table and a bar chart."""
    shares = [d for d in order if d.endswith(ATP_SHARE_SUFFIX)]
    if not shares:
        return
    # label -> [(mechanism, mean, low, high)] and label -> total ATP/s (mean)
    values: dict[str, list[tuple[str, float, float, float]]] = {}
    totals: dict[str, float] = {}
    if all(d in lookup for d in (*shares, "atp_per_s")):
        totals["population"] = _as_float(lookup["atp_per_s"].get("mean"))
        values["population"] = [(d[: -len(ATP_SHARE_SUFFIX)],
                                 *(_as_float(lookup[d].get(k)) for k in ("mean", lo, hi)))
                                for d in shares]
    else:  # no population level: per cell (from summary.csv or posterior.nc)
        table = _derived_cells(ctx, lookup, lo, hi, (*shares, "atp_per_s"))
        if table is None or set(table[1]) != {*shares, "atp_per_s"}:
            return
        cells, _, per, _ = table
        for i, c in enumerate(cells):
            totals[c] = per["atp_per_s"][i][0]
            values[c] = [(d[: -len(ATP_SHARE_SUFFIX)], *per[d][i]) for d in shares]
    rows = [[label, mech, f"{_fmt(m)} [{_fmt(a)}, {_fmt(b)}]", _fmt(100 * m / totals[label])]
            for label, vals in values.items() for mech, m, a, b in vals]
    s.p("Who spends the ATP: at a steady state the Na+/K+ pump extrudes every Na+ that "
        "enters, at 3 Na+ per ATP, so each mechanism's share is the Na+ it lets in divided "
        "by 3, plus the ATP it uses itself (the Ca2+ pump). In every draw the shares add "
        "up to the cell's ATP use (atp_per_s); a negative share saves the pump work. The "
        "O2 use (o2_per_s) splits in the same proportions: each share divided by "
        "atp_per_o2, the ATP made per O2.")
    s.table(["cell", "mechanism", "ATP/s, mean [94% HDI]", "% of the total (means)"], rows,
            id="atp-budget", caption="At the reference condition (summary.csv rows "
                                     "<mechanism>_atp_per_s, per cell <mechanism>_atp_per_s"
                                     "_cell[...]).")

    def draw():
        plt = _pyplot()
        mechs = [d[: -len(ATP_SHARE_SUFFIX)] for d in shares]
        fig, ax = plt.subplots(figsize=(6.4, 0.35 * len(mechs) * len(values) + 1.4))
        height = 0.8 / len(values)
        colors = _cell_colors(list(values))
        for j, (label, vals) in enumerate(values.items()):
            y = np.arange(len(mechs)) + j * height
            m = np.array([v[1] for v in vals])
            err = np.clip([[v[1] - v[2] for v in vals], [v[3] - v[1] for v in vals]], 0, None)
            ax.barh(y, m, height=height, xerr=err, capsize=2, label=label,
                    color=colors[label])
        ax.set_yticks(np.arange(len(mechs)) + 0.4 - height / 2, mechs)
        ax.invert_yaxis()
        ax.axvline(0, color="0.3", lw=0.8)
        ax.set_xlabel("ATP/s at the reference condition")
        ax.grid(alpha=0.3, axis="x")
        if len(values) > 1:
            ax.legend(fontsize=7)
        fig.tight_layout()
        return fig

    _safe_figure(doc, s, "atp_budget", "Who spends the ATP: each mechanism's share of the "
                 "cell's ATP use, posterior mean with 94% HDI.", draw)
