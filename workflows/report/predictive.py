"""Predictive checks of a fit: posterior and prior predictive draws against the
observations, their coverage and their plots."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from iongrad.workflows.report.document import _Doc
from iongrad.workflows.report.figures import _log_ticks, _pyplot, _safe_figure
from iongrad.workflows.report.fit_context import _is_missing, _varying
from iongrad.workflows.report.tables import _fmt, unit_of


def _predictive(ctx: dict[str, Any], o: str, group: str = "posterior_predictive"):
    """(rows of ``o``, draws[S, n], observed[n]) of the predictive ``group``, or None
    when they do not line up."""
    idata = ctx["idata"]
    if not hasattr(idata, group) or f"{o}_obs" not in getattr(idata, group):
        return None
    pp = np.asarray(getattr(idata, group)[f"{o}_obs"].values, dtype=float)
    pp = pp.reshape(pp.shape[0] * pp.shape[1], -1)
    if hasattr(idata, "observed_data") and f"{o}_obs" in idata.observed_data:
        y = np.asarray(idata.observed_data[f"{o}_obs"].values, dtype=float).ravel()
    else:
        y = None
    rows = [r for r in ctx["rows"] if not _is_missing(r.get(o))]
    if len(rows) != pp.shape[1]:
        rows = [{"cell": f"#{i}"} for i in range(pp.shape[1])]
    if y is None:
        y = np.array([float(r.get(o, np.nan)) for r in rows])
    return rows, pp, y


def _coverage_row(o: str, pp, y) -> list[str]:
    """``[o, inside, observations, coverage]``: how many of the observations ``y[n]`` fall
    inside the central 94% interval of the predictive draws ``pp[S, n]``."""
    lo, hi = np.quantile(pp, [0.03, 0.97], axis=0)
    inside = (y >= lo) & (y <= hi)
    return [o, str(int(inside.sum())), str(y.size), f"{100 * inside.mean():.0f}%"]


def _fit_predictive(doc: _Doc, ctx: dict[str, Any]) -> None:
    s = doc.section("posterior-predictive", "Posterior predictive checks")
    s.p("New data simulated from the fitted model (posterior predictive, including noise) "
        "against the observations. Bands and bars are central 94% predictive intervals; about "
        "94% of the points should fall inside them, spread over all conditions and cells.")
    xc = ctx.get("x_condition")
    rows_cov = []
    for o in ctx["observables"]:
        got = _predictive(ctx, o)
        if got is None:
            s.alert("warn", f"no posterior predictive draws for {o}.")
            continue
        rows, pp, y = got
        rows_cov.append(_coverage_row(o, pp, y))
        if xc and len({r.get(xc) for r in rows}) > 2:
            _safe_figure(doc, s, f"ppc_{o}",
                         f"{o} against {xc}, one panel per cell: observed (points), posterior "
                         f"predictive median (line) and 94% band.",
                         lambda o=o, rows=rows, pp=pp, y=y: _plot_ppc_curve(
                             ctx, o, xc, rows, pp, y))
        else:
            _safe_figure(doc, s, f"ppc_{o}",
                         f"{o} per cell and condition: 94% posterior predictive interval "
                         f"(bar), median (dot) and observation (red cross).",
                         lambda o=o, rows=rows, pp=pp, y=y: _plot_ppc_interval(
                             ctx, o, rows, pp, y))
    if rows_cov:
        s.table(["observable", "inside 94% interval", "observations", "coverage"], rows_cov,
                id="ppc-coverage-table")


def _fit_prior_predictive(doc: _Doc, ctx: dict[str, Any]) -> None:
    s = doc.section("prior-predictive", "Prior predictive check")
    s.p("Data simulated from the priors alone, before seeing the observations (Gabry et al. "
        "2019; Gelman et al. 2020). The priors should allow every observation (most points "
        "inside the 94% prior predictive interval) without being so wide that they predict "
        "impossible values; prior draws without a physical steady state predict nothing.")
    rows_cov = []
    for o in ctx["observables"]:
        got = _predictive(ctx, o, "prior_predictive")
        if got is None:
            s.alert("warn", f"no prior predictive draws for {o} (posterior.nc has no "
                            "prior_predictive group for it).")
            continue
        rows, pp, y = got
        ok = np.isfinite(pp).all(axis=1)
        if not ok.any():
            s.alert("warn", f"no prior draw of {o} has a physical steady state.")
            continue
        rows_cov.append([*_coverage_row(o, pp[ok], y), _fmt(np.min(pp[ok]), 4),
                         _fmt(np.max(pp[ok]), 4), str(int((~ok).sum()))])
        _safe_figure(doc, s, f"prior_pc_{o}",
                     f"{o}: 94% prior predictive interval (bar), median (dot) and observation "
                     "(red cross), per cell and condition.",
                     lambda o=o, rows=rows, pp=pp[ok], y=y: _plot_ppc_interval(
                         ctx, o, rows, pp, y, label="94% prior predictive"))
    if rows_cov:
        s.table(["observable", "inside 94% interval", "observations", "coverage",
                 "smallest draw", "largest draw", "draws without steady state"], rows_cov,
                id="prior-pc-table")


def _plot_ppc_curve(ctx, o, xc, rows, pp, y):
    plt = _pyplot()
    cells = list(dict.fromkeys(str(r.get("cell")) for r in rows))
    ncols = min(len(cells), 4)
    nrows = math.ceil(len(cells) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.0 * ncols, 2.4 * nrows), squeeze=False,
                             sharex=True, sharey=True)
    x_all = np.array([float(r[xc]) for r in rows])
    lo, med, hi = np.quantile(pp, [0.03, 0.5, 0.97], axis=0)
    for ax, c in zip(axes.ravel(), cells, strict=False):
        idx = np.array([i for i, r in enumerate(rows) if str(r.get("cell")) == c])
        order = idx[np.argsort(x_all[idx])]
        ax.fill_between(x_all[order], lo[order], hi[order], color="#4c72b0", alpha=0.3,
                        lw=0, label="94% predictive")
        ax.plot(x_all[order], med[order], "-", color="#4c72b0", lw=1)
        ax.plot(x_all[order], y[order], "o", color="k", ms=3.5, label="observed")
        ax.set_title(c, fontsize=8)
        _log_ticks(ax, x_all)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    for ax in axes.ravel()[len(cells):]:
        ax.set_visible(False)
    for ax in axes[-1, :]:
        ax.set_xlabel(f"{xc} ({unit_of(xc)})", fontsize=8)
    for ax in axes[:, 0]:
        ax.set_ylabel(f"{o} ({unit_of(o, ctx['units'])})", fontsize=8)
    axes[0, 0].legend(fontsize=6)
    fig.tight_layout()
    return fig


def _plot_ppc_interval(ctx, o, rows, pp, y, label="94% predictive"):
    plt = _pyplot()
    conds = [c for c in ctx.get("conditions", []) if _varying(rows, c)]
    labels = [" ".join([str(r.get("cell", ""))] + [f"{r.get(c)}" for c in conds]) for r in rows]
    lo, med, hi = np.quantile(pp, [0.03, 0.5, 0.97], axis=0)
    x = np.arange(len(rows))
    many = len(rows) > 40  # too many rows to label: observations in data order
    fig, ax = plt.subplots(figsize=(10.0 if many else max(4.0, 0.45 * len(rows) + 1.5), 3.2))
    ax.vlines(x, lo, hi, color="#4c72b0", lw=4, alpha=0.5, label=label)
    ax.plot(x, med, "o", color="#4c72b0", ms=4)
    ax.plot(x, y, "x", color="#c44e52", ms=7, mew=2, label="observed")
    if many:
        ax.set_xlabel("observation (data order)")
    else:
        ax.set_xticks(x, labels, rotation=60, ha="right", fontsize=7)
    if o in ("o2_per_s", "atp_per_s", "r_in_MOhm") and (lo > 0).all():
        ax.set_yscale("log")
    ax.set_ylabel(f"{o} ({unit_of(o, ctx['units'])})")
    if conds and not many:
        ax.set_xlabel("cell " + " ".join(conds))
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
