"""Fit-report sections on the shape of the posterior: trace and rank plots, pair plot
and correlations, prior against posterior."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from iongrad.infer.diagnostics import CORRELATION_STRONG, correlation_warning
from iongrad.workflows.report.document import _Doc
from iongrad.workflows.report.figures import _pyplot, _safe_figure
from iongrad.workflows.report.fit_context import _population_vars
from iongrad.workflows.report.tables import _fmt, unit_of


def _fit_traces(doc: _Doc, ctx: dict[str, Any]) -> None:
    s = doc.section("rank-plots", "Trace and rank plots")
    s.p("Rank plots (Vehtari et al. 2021): the draws of all chains are ranked together and each "
        "chain's ranks are histogrammed. Well-mixed chains give flat, overlapping histograms; "
        "a chain that is high or low in a region has not explored the same distribution.")
    post = ctx["idata"].posterior
    names = _population_vars(ctx)[:12]

    def draw():
        import arviz as az

        if post.sizes.get("chain", 1) < 2:
            raise ValueError("rank plots need at least 2 chains")
        axes = az.plot_rank(ctx["idata"], var_names=names, kind="bars",
                            figsize=(10, 1.8 * math.ceil(len(names) / 3) + 0.8))
        fig = np.asarray(axes).ravel()[0].figure
        fig.tight_layout()
        return fig
    _safe_figure(doc, s, "rank", "Rank plots of the population parameters, the between-cell "
                 "spreads and the noise scales.", draw)

    def trace():
        import arviz as az

        axes = az.plot_trace(ctx["idata"], var_names=names, compact=True,
                             figsize=(10, 1.6 * len(names) + 0.6))
        fig = np.asarray(axes).ravel()[0].figure
        for ax in np.asarray(axes).ravel():
            ax.tick_params(labelsize=7)
            ax.title.set_fontsize(8)
        fig.tight_layout()
        return fig
    _safe_figure(doc, s, "trace", "Trace plots: each chain's draws in order (right) and their "
                 "densities (left). Chains should overlap and look like stationary noise, with "
                 "no trend, no stuck stretch and no chain apart.", trace)


def _log_draws(post, name: str):
    v = np.asarray(post[name].values, dtype=float)
    v = v.reshape(v.shape[0] * v.shape[1], -1)
    return v


def _pair_vars(ctx: dict[str, Any]) -> list[tuple[str, Any]]:
    """(label, flattened draws) of population-level fitted parameters (columns of k_na)."""
    post = ctx["idata"].posterior
    out = []
    for p in ctx["params"]:
        if p not in post:
            continue
        arr = _log_draws(post, p)
        if arr.shape[1] == 1:
            out.append((p, arr[:, 0]))
        else:
            extra = [d for d in post[p].dims if d not in ("chain", "draw")]
            labels = [str(x) for x in post[p][extra[0]].values] if extra else \
                [str(i) for i in range(arr.shape[1])]
            for j in range(arr.shape[1]):
                out.append((f"{p}[{labels[j]}]", arr[:, j]))
    return [(k, np.asarray(v)) for k, v in out]


def _fit_pairs(doc: _Doc, ctx: dict[str, Any]) -> None:
    s = doc.section("identifiability", "Identifiability: pair plot and correlations")
    pairs = _pair_vars(ctx)
    ident = ctx["info"].get("identifiability") or {}
    s.p("Joint posterior of the population-level parameters (log10 scale). A narrow diagonal "
        "ridge means the data constrain a combination (e.g. a product or ratio) rather than "
        "each parameter: for the pump–leak steady state, pump density and g_Na (or K_Na and "
        "pump density) often trade off this way. Red points are divergent transitions.")
    stats = ctx["idata"].sample_stats if hasattr(ctx["idata"], "sample_stats") else None
    div = None
    if stats is not None and "diverging" in stats:
        div = np.asarray(stats["diverging"].values, dtype=bool).ravel()

    if len(pairs) >= 2:
        _safe_figure(doc, s, "pairs", "Pair plot of the population-level parameters "
                     "(log10 of the draws); diagonal: marginal histograms.",
                     lambda: _plot_pairs(pairs, div))
    correlations = ident.get("correlations")
    source = "recorded by the fit (run.json)"
    if not correlations and len(pairs) >= 2:
        correlations = []
        for i in range(len(pairs)):
            for j in range(i + 1, len(pairs)):
                a, b = pairs[i][1], pairs[j][1]
                with np.errstate(all="ignore"):
                    r = float(np.corrcoef(np.log(np.abs(a)), np.log(np.abs(b)))[0, 1])
                correlations.append([pairs[i][0], pairs[j][0], r])
        source = "computed from posterior.nc (Pearson r of log draws)"
    if correlations:
        rows = []
        for c in correlations:
            a, b, r = (c[0], c[1], c[2]) if isinstance(c, list | tuple) else (
                c.get("a"), c.get("b"), c.get("r"))
            flag = (isinstance(r, int | float) and abs(r) > CORRELATION_STRONG)
            rows.append([str(a), str(b), _fmt(r, 3),
                         {"text": "strong" if flag else "ok",
                          "status": "warn" if flag else "pass"}])
        s.table(["parameter A", "parameter B", "correlation r", "note"], rows,
                id="correlations-table", caption=f"Posterior correlations, {source}; "
                                                  f"|r| > {CORRELATION_STRONG} is marked strong.")
    warnings = list(ident.get("warnings") or [])
    if not ident and correlations:
        draws = dict(pairs)
        for a, b, r in correlations:
            if isinstance(r, float) and abs(r) > CORRELATION_STRONG:
                with np.errstate(all="ignore"):
                    warnings.append(correlation_warning(a, np.log(np.abs(draws[a])),
                                                        b, np.log(np.abs(draws[b]))))
    if warnings:
        for w in warnings:
            s.alert("warn", str(w), cls="identifiability-warning")
    else:
        s.alert("ok", "No identifiability warning: no pair of parameters is strongly "
                      "correlated in the posterior.")


def _plot_pairs(pairs, div):
    plt = _pyplot()
    k = len(pairs)
    size = min(2.3 * k, 11)
    fig, axes = plt.subplots(k, k, figsize=(size, size), squeeze=False)
    logs = [(n, np.log10(np.abs(v))) for n, v in pairs]
    for i in range(k):
        for j in range(k):
            ax = axes[i, j]
            if j > i:
                ax.set_visible(False)
                continue
            if i == j:
                ax.hist(logs[i][1], bins=30, color="#4c72b0", alpha=0.8)
                ax.set_yticks([])
            else:
                ax.plot(logs[j][1], logs[i][1], ".", ms=2, alpha=0.4, color="#4c72b0")
                if div is not None and div.size == logs[i][1].size and div.any():
                    ax.plot(logs[j][1][div], logs[i][1][div], ".", ms=4, color="#c44e52")
            if i == k - 1:
                ax.set_xlabel(f"log10 {logs[j][0]}", fontsize=8)
            else:
                ax.set_xticklabels([])
            if j == 0 and i > 0:
                ax.set_ylabel(f"log10 {logs[i][0]}", fontsize=8)
            ax.tick_params(labelsize=7)
    fig.tight_layout()
    return fig


def _fit_prior_posterior(doc: _Doc, ctx: dict[str, Any]) -> None:
    s = doc.section("prior-posterior", "Prior and posterior")
    idata = ctx["idata"]
    if not hasattr(idata, "prior"):
        s.alert("warn", "posterior.nc has no prior group: the prior cannot be compared.")
        return
    post, prior = idata.posterior, idata.prior
    names = [v for v in _population_vars(ctx) if v in prior]
    if not names:
        s.alert("warn", "no variable is present in both the prior and the posterior groups.")
        return
    rows = []
    for n in names:
        a = np.asarray(prior[n].values, dtype=float).ravel()
        b = np.asarray(post[n].values, dtype=float).ravel()
        positive = bool((a > 0).all() and (b > 0).all())
        fa, fb = (np.log(a), np.log(b)) if positive else (a, b)
        ratio = float(np.std(fb) / np.std(fa)) if np.std(fa) > 0 else float("nan")
        rows.append([n, unit_of(n, ctx["units"]), _fmt(np.median(a)), _fmt(np.median(b)),
                     _fmt(ratio, 2),
                     "strongly informed by the data" if ratio < 0.3 else
                     "partly informed" if ratio < 0.8 else "mostly the prior"])
    s.p("How far the data moved each parameter from its prior. The width ratio is the "
        "posterior SD over the prior SD (of the logarithm for positive quantities): near 1 the "
        "data said little about it, near 0 the data pinned it down.")
    s.table(["variable", "unit", "prior median", "posterior median", "width ratio",
             "reading"], rows, id="prior-posterior-table")
    _safe_figure(doc, s, "prior_posterior", "Prior (grey) and posterior (blue) densities; "
                 "log axis for positive quantities.",
                 lambda: _plot_prior_posterior(names, prior, post, ctx["units"]))


def _plot_prior_posterior(names, prior, post, units):
    plt = _pyplot()
    n = len(names)
    ncols = min(n, 3)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.0 * ncols, 2.8 * nrows), squeeze=False)
    for ax, name in zip(axes.ravel(), names, strict=False):
        a = np.asarray(prior[name].values, dtype=float).ravel()
        b = np.asarray(post[name].values, dtype=float).ravel()
        a, b = a[np.isfinite(a)], b[np.isfinite(b)]
        positive = bool((a > 0).all() and (b > 0).all())
        both = np.concatenate([a, b])
        lo, hi = np.quantile(both, [0.005, 0.995])
        if positive:
            bins = np.geomspace(max(lo, 1e-300), max(hi, lo * 1.0001), 40)
            ax.set_xscale("log")
        else:
            bins = np.linspace(lo, hi if hi > lo else lo + 1, 40)
        ax.hist(a, bins=bins, density=True, histtype="stepfilled", color="0.75",
                label="prior")
        ax.hist(b, bins=bins, density=True, histtype="stepfilled", alpha=0.7,
                color="#4c72b0", label="posterior")
        unit = unit_of(name, units)
        ax.set_xlabel(f"{name}" + (f" ({unit})" if unit else ""), fontsize=8)
        ax.set_yticks([])
        ax.tick_params(labelsize=7)
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    axes.ravel()[0].legend(fontsize=7)
    fig.tight_layout()
    return fig
