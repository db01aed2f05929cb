"""Sections of the report of a run-down fit (time courses after anoxia or ouabain)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from iongrad.workflows.report.document import _Doc
from iongrad.workflows.report.figures import _pyplot, _safe_figure
from iongrad.workflows.report.fit_context import _hdi_columns, _is_missing, _summary_lookup
from iongrad.workflows.report.fit_sections import _model_inputs
from iongrad.workflows.report.predictive import _coverage_row, _predictive
from iongrad.workflows.report.tables import _fmt, unit_of


def _rundown_data(doc: _Doc, ctx: dict[str, Any]) -> None:
    s = doc.section("data", "Data")
    rows, obs = ctx["rows"], ctx["observables"]
    ctx["conditions"] = []
    if not rows:
        s.alert("warn", "run.json lists no data rows.")
        return
    recs = list(dict.fromkeys(str(r.get("recording", "")) for r in rows))
    counts = {o: sum(not _is_missing(r.get(o)) for r in rows) for o in obs}
    s.p(f"{len(rows)} time points from {len(recs)} recording(s); observations per "
        "observable: " + ", ".join(f"{o} {n}" for o, n in counts.items())
        + ". Times are aligned on each recording's onset (time since onset = time - onset; "
        "negative: the baseline before the onset).")
    table = []
    for rec in recs:
        rr = [r for r in rows if str(r.get("recording")) == rec]
        t = [float(r["time_s"]) for r in rr]
        table.append([rec, _fmt(rr[0].get("onset_s")), _fmt(min(t)), _fmt(max(t)),
                      *[str(sum(not _is_missing(r.get(o)) for r in rr)) for o in obs]])
    s.table(["recording", "onset (s)", "first time (s)", "last time (s)",
             *[f"n {o}" for o in obs]], table, id="recordings-table")
    columns = ["recording", "time_s", "time_since_onset_s", *obs]
    s.table([f"{c} ({unit_of(c, ctx['units'])})" if unit_of(c, ctx["units"]) else c
             for c in columns],
            [[("" if _is_missing(r.get(c)) else str(r.get(c))) for c in columns] for r in rows],
            id="data-table", details=f"Data table ({len(rows)} rows)", open=False)


def _rundown_model(doc: _Doc, ctx: dict[str, Any]) -> None:
    s = doc.section("model", "Model, observables and priors")
    model = ctx["model"]
    mode = str(model.get("mode", ""))
    drive = ("ATP falls as exp(-t/tau_atp_s) after the onset (anoxia)" if mode == "anoxia"
             else "ouabain blocks the pump with time constant tau_block_s")
    s.kv([("model", "run-down ODE: pump–leak cell (GHK leaks, 3 Na+ out / 2 K+ in per ATP) "
                    "starting from its steady state; " + drive),
          ("mode", mode), ("gradient method", str(model.get("method", ""))),
          ("integrator", f"{model.get('ode_method', '')} (rtol {model.get('rtol', '')}, atol "
                         f"{model.get('atol', '')} mM)"),
          ("extracellular space", "finite (extracellular_fraction)" if model.get("ecs")
           else "infinite bath (K_o fixed)"),
          ("fitted parameters", ", ".join(ctx["params"])),
          ("fixed parameters", ", ".join(f"{k} = {v} {unit_of(k)}".rstrip()
                                         for k, v in (model.get("fixed") or {}).items())
           or "model defaults")], id="model-settings")
    priors = model.get("priors") or {}
    if priors:
        s.heading("Priors", id="priors")
        s.table(["parameter", "prior", "median", "sd", "unit", "source"],
                [[p, "logit-normal" if p == "extracellular_fraction" else "LogNormal",
                  _fmt(v.get("median")), _fmt(v.get("sd_log")), str(v.get("unit") or ""),
                  str(v.get("source") or "")] for p, v in priors.items()
                 if isinstance(v, Mapping)],
                id="priors-table",
                caption="LogNormal: ln θ ~ Normal(ln median, sd); logit-normal: "
                        "logit θ ~ Normal(logit median, sd).")
    s.heading("Observables and noise", id="observables")
    s.table(["observable", "unit", "likelihood"],
            [[o, unit_of(o, ctx["units"]), "Normal(trajectory at the time, sigma_" + o
              + "), sigma ~ HalfNormal"] for o in ctx["observables"]], id="observables-table")
    _model_inputs(s, model)


def _rundown_derived(doc: _Doc, ctx: dict[str, Any]) -> None:
    s = doc.section("derived", "Derived quantities: time to depolarisation and end state")
    d = ctx["info"].get("derived") or {}
    thr, end = d.get("threshold_mV"), d.get("end_time_s")
    s.p(f"For every posterior draw the run-down is solved from the onset to {_fmt(end)} s: "
        f"the time at which V first reaches {_fmt(thr)} mV, and the state at {_fmt(end)} s.")
    frac = d.get("fraction_reached")
    if isinstance(frac, int | float) and frac < 1.0:
        s.alert("warn", f"Only {100 * frac:.0f}% of the draws reach {_fmt(thr)} mV within "
                        f"{_fmt(end)} s; time_to_threshold_s is set to {_fmt(end)} s for the "
                        "others, so its summary is a lower bound.")
    lookup = _summary_lookup(ctx["summary"])
    lo, hi = _hdi_columns(ctx["summary"])
    rows = []
    for name, what in (("time_to_threshold_s", f"time from onset to V = {_fmt(thr)} mV"),
                       ("v_end_mV", "membrane potential at the end"),
                       ("na_i_end_mM", "Na_i at the end"), ("k_i_end_mM", "K_i at the end"),
                       ("k_o_end_mM", "K_o at the end")):
        r = lookup.get(name)
        if r:
            rows.append([name, what, r.get("unit", ""), r["mean"], r[lo], r[hi]])
    if rows:
        s.table(["quantity", "meaning", "unit", "mean", lo, hi], rows, id="derived-table")
    if d.get("n_failed"):
        s.alert("warn", f"{d['n_failed']} posterior draws could not be solved for the derived "
                        "quantities (left out).")


def _rundown_predictive(doc: _Doc, ctx: dict[str, Any], run_dir: Path) -> None:
    import pandas as pd

    s = doc.section("posterior-predictive", "Time courses and posterior predictive checks")
    path = run_dir / "trajectory_bands.csv"
    bands = pd.read_csv(path) if path.is_file() else None
    if bands is None or bands.empty:
        s.alert("warn", "trajectory_bands.csv is missing or empty: no time-course bands.")
    else:
        s.p("Posterior trajectories on a fine time grid (trajectory_bands.csv): the dark band "
            "is the 94% interval of the noise-free model, the light band the 94% posterior "
            "predictive interval (model plus measurement noise), the line the median. Points: "
            "the observations, one colour per recording, aligned on their onsets (dashed line).")
        _safe_figure(doc, s, "time_courses", "Observed time courses with posterior bands.",
                     lambda: _plot_rundown_bands(ctx, bands))
    cov = []
    for o in ctx["observables"]:
        got = _predictive(ctx, o)
        if got is None:
            continue
        _, pp, y = got
        cov.append(_coverage_row(o, pp, y))
    if cov:
        s.table(["observable", "inside 94% interval", "observations", "coverage"], cov,
                id="ppc-coverage-table",
                caption="Posterior predictive draws at the observed times; about 94% of the "
                        "points should fall inside.")


def _plot_rundown_bands(ctx: dict[str, Any], bands):
    plt = _pyplot()
    rows = ctx["rows"]
    quantities = list(dict.fromkeys(bands["quantity"]))
    quantities = [q for q in quantities if q in ctx["observables"]] or quantities
    recs = list(dict.fromkeys(str(r.get("recording")) for r in rows))
    colors = {rec: f"C{i % 10}" for i, rec in enumerate(recs)}
    thr = (ctx["info"].get("derived") or {}).get("threshold_mV")
    fig, axes = plt.subplots(len(quantities), 1, figsize=(7.5, 2.4 * len(quantities)),
                             sharex=True, squeeze=False)
    for ax, q in zip(axes[:, 0], quantities, strict=True):
        for band, alpha in (("predictive", 0.18), ("model", 0.45)):
            b = bands[(bands["quantity"] == q) & (bands["band"] == band)]
            if len(b):
                ax.fill_between(b["time_since_onset_s"], b["q03"], b["q97"], color="C0",
                                alpha=alpha, lw=0, label=f"94% {band}")
        b = bands[(bands["quantity"] == q) & (bands["band"] == "model")]
        if len(b):
            ax.plot(b["time_since_onset_s"], b["q50"], color="C0", lw=1.2, label="median")
        for rec in recs:
            pts = [(float(r["time_since_onset_s"]), float(r[q])) for r in rows
                   if str(r.get("recording")) == rec and not _is_missing(r.get(q))]
            if pts:
                t, y = zip(*pts, strict=True)
                ax.plot(t, y, "o", ms=2.5, color=colors[rec], label=rec)
        ax.axvline(0.0, color="0.4", ls="--", lw=0.8)
        if q == "v_rest_mV" and isinstance(thr, int | float):
            ax.axhline(thr, color="C3", ls=":", lw=0.8)
        ax.set_ylabel(f"{q} ({unit_of(q, ctx['units'])})")
    axes[0, 0].legend(fontsize=7, ncol=3, loc="best")
    axes[-1, 0].set_xlabel("time since onset (s)")
    fig.tight_layout()
    return fig
