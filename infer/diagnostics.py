"""Convergence diagnostics with a verdict a user can act on.

Thresholds follow Vehtari et al. (2021, Bayesian Analysis 16:667): rank-normalised
split R-hat <= 1.01, bulk and tail ESS >= 100 per chain, no divergent transitions,
and E-BFMI >= 0.3 in every chain.
"""

from __future__ import annotations

import numpy as np

__all__ = ["count_nan_draws", "diagnose", "identifiability", "summary_table"]

RHAT_MAX = 1.01
ESS_PER_CHAIN_MIN = 100
BFMI_MIN = 0.3

ADVICE = {
    "r_hat": "Chains disagree. Run longer (more tune and draws) or more chains; if it "
             "persists, look for multimodality or a parameter the data do not identify "
             "(see the pair plot).",
    "ess_bulk": "Too few effective draws for reliable means and intervals: increase draws, "
                "or reparameterise strongly correlated parameters.",
    "ess_tail": "Too few effective draws in the tails for reliable 94% intervals: increase "
                "draws.",
    "divergences": "The sampler hit regions of high curvature, so the posterior may be "
                   "biased. Raise target_accept (e.g. 0.95-0.99), switch "
                   "parameterization (centered/noncentered), or fix a noise scale the "
                   "data cannot estimate.",
    "bfmi": "Low energy fraction of missing information: the sampler explores the posterior "
            "slowly (often a funnel); reparameterise or give hierarchical scales "
            "zero-avoiding priors.",
}


def summary_table(idata, var_names: list[str], *, hdi_prob: float = 0.94, digits: int = 6):
    """``az.summary`` with every number kept to ``digits`` significant digits.

    ArviZ rounds to a fixed number of decimals by default, which turns small
    parameters (permeabilities of 1e-7 cm/s) into 0; significant digits keep them.
    Draws that are NaN (a derived quantity at a condition where that draw has no
    physical steady state) are left out of the mean, SD and HDI of their variable and
    counted in the ``n_nan_draws`` column; MCSE, ESS and R-hat of such a variable are
    NaN, because chains with holes cannot be assessed.
    """
    import arviz as az
    import pandas as pd

    post = idata.posterior
    holed = [v for v in var_names if v in post and bool(np.isnan(post[v].values).any())]
    clean = [v for v in var_names if v not in holed]
    parts = []
    if clean:
        parts.append(az.summary(idata, var_names=clean, hdi_prob=hdi_prob, round_to="none"))
    for v in holed:
        parts.append(_summary_with_holes(idata, v, hdi_prob))
    summ = pd.concat(parts) if parts else pd.DataFrame()
    order = {v: i for i, v in enumerate(var_names)}
    summ = summ.iloc[sorted(range(len(summ)),
                            key=lambda i: (order.get(summ.index[i].split("[", 1)[0], 0), i))]
    summ = summ.map(lambda v: float(f"{v:.{digits}g}") if np.isfinite(v) else v)
    counts = count_nan_draws(idata, var_names)
    summ["n_nan_draws"] = [counts.get(label, 0) for label in summ.index]
    return summ


def _labels(da, name: str) -> list[tuple[str, tuple]]:
    """``(label, index)`` per element of a posterior variable, labelled as az.summary does."""
    dims = [d for d in da.dims if d not in ("chain", "draw")]
    if not dims:
        return [(name, ())]
    import itertools

    coords = [list(da.coords[d].values) if d in da.coords else list(range(da.sizes[d]))
              for d in dims]
    out = []
    for idx in itertools.product(*[range(len(c)) for c in coords]):
        label = ", ".join(str(coords[k][i]) for k, i in enumerate(idx))
        out.append((f"{name}[{label}]", idx))
    return out


def _summary_with_holes(idata, name: str, hdi_prob: float):
    """az.summary of a variable with NaN draws: elements without NaN as usual; elements
    with NaN get mean, SD and HDI of their finite draws and NaN diagnostics."""
    import logging

    import arviz as az

    da = idata.posterior[name]
    # ArviZ logs through its own Logger instance (not the one logging.getLogger returns)
    logger = getattr(az, "_log", None) or logging.getLogger("arviz")
    level = logger.level
    logger.setLevel(logging.ERROR)  # "Array contains NaN-value": handled here
    try:
        summ = az.summary(idata, var_names=[name], hdi_prob=hdi_prob, round_to="none")
    finally:
        logger.setLevel(level)
    lo_col, hi_col = [c for c in summ.columns if c.startswith("hdi_")][:2]
    values = np.asarray(da.values, dtype=float)
    for label, idx in _labels(da, name):
        x = values[(slice(None), slice(None), *idx)].ravel()
        if not np.isnan(x).any():
            continue
        x = x[np.isfinite(x)]
        summ.loc[label, :] = np.nan
        if x.size >= 2:
            lo, hi = (float(b) for b in az.hdi(x, hdi_prob=hdi_prob))
            summ.loc[label, ["mean", "sd", lo_col, hi_col]] = [x.mean(), x.std(ddof=1), lo, hi]
    return summ


def count_nan_draws(idata, var_names: list[str]) -> dict[str, int]:
    """Number of NaN draws (over all chains) per summary label, only where > 0."""
    post = idata.posterior
    out = {}
    for v in var_names:
        if v not in post:
            continue
        values = np.asarray(post[v].values, dtype=float)
        for label, idx in _labels(post[v], v):
            n = int(np.isnan(values[(slice(None), slice(None), *idx)]).sum())
            if n:
                out[label] = n
    return out


def diagnose(idata, var_names: list[str] | None = None) -> dict:
    """Check R-hat, bulk/tail ESS, divergences and BFMI; return a verdict dict.

    Returns
    -------
    dict
        ``verdict`` ("pass"/"fail") and ``checks``: a list of dicts with ``name``,
        ``value``, ``threshold``, ``passed``, ``worst`` (variable) and ``advice``.
    """
    import arviz as az

    post = idata.posterior
    chains = int(post.sizes["chain"])
    names = var_names or [v for v in post.data_vars]
    summ = az.summary(idata, var_names=names, kind="diagnostics")
    checks = []
    rhat = summ["r_hat"].astype(float)
    worst = rhat.idxmax() if rhat.notna().any() else ""
    rmax = float(np.nanmax(rhat.to_numpy())) if chains > 1 else float("nan")
    checks.append(_check("r_hat", rmax, f"<= {RHAT_MAX}", chains > 1 and rmax <= RHAT_MAX,
                         worst))
    for key in ("ess_bulk", "ess_tail"):
        col = summ[key].astype(float)
        val = float(np.nanmin(col.to_numpy()))
        thr = ESS_PER_CHAIN_MIN * chains
        checks.append(_check(key, val, f">= {thr}", val >= thr, col.idxmin()))
    div = int(idata.sample_stats["diverging"].sum()) if "diverging" in idata.sample_stats \
        else 0
    checks.append(_check("divergences", div, "== 0", div == 0, ""))
    bfmi = az.bfmi(idata)
    bmin = float(np.min(bfmi))
    checks.append(_check("bfmi", bmin, f">= {BFMI_MIN}", bmin >= BFMI_MIN, ""))
    verdict = "pass" if all(c["passed"] for c in checks) else "fail"
    return {"verdict": verdict, "checks": checks, "chains": chains}


def _check(name, value, threshold, passed, worst):
    return {"name": name, "value": value, "threshold": threshold, "passed": bool(passed),
            "worst": str(worst), "advice": "" if passed else ADVICE[name]}


def identifiability(idata, parameters: list[str], priors: dict | None = None,
                    threshold: float = 0.9) -> dict:
    """Posterior correlations (log scale) between fitted parameters, with warnings.

    Warns where ``|r| > threshold`` (the data constrain a combination, e.g. a ratio,
    rather than each parameter) and where the posterior SD in log units is more
    than 70% of the prior's (the data barely inform the parameter).
    """
    post = idata.posterior
    cols, names = [], []
    for p in parameters:
        if p not in post:
            continue
        arr = np.log(post[p].values.reshape(post.sizes["chain"] * post.sizes["draw"], -1))
        for j in range(arr.shape[1]):
            label = p if arr.shape[1] == 1 else f"{p}[{_coord(post[p], j)}]"
            cols.append(arr[:, j])
            names.append(label)
    corr = []
    warnings = []
    if len(cols) >= 2:
        c = np.corrcoef(np.vstack(cols))
        for i in range(len(names)):
            for j in range(i + 1, len(names)):
                r = float(c[i, j])
                corr.append([names[i], names[j], round(r, 4)])
                if abs(r) > threshold:
                    warnings.append(
                        f"{names[i]} and {names[j]} are strongly correlated (r = {r:.2f}): "
                        "the data constrain a combination of them; add observables that "
                        "separate them (e.g. input resistance, pump current, Na_i, O2).")
    if priors:
        for label, col in zip(names, cols, strict=True):
            base = label.split("[")[0]
            if base in priors:
                ratio = float(np.std(col)) / priors[base].sd_log
                if ratio > 0.7:
                    warnings.append(
                        f"{label}: posterior SD is {ratio:.0%} of the prior's — the data "
                        "barely inform it; its interval mostly reflects the prior.")
    return {"correlations": corr, "warnings": warnings}


def _coord(da, j):
    dims = [d for d in da.dims if d not in ("chain", "draw")]
    if not dims:
        return j
    return str(da[dims[0]].values[j])
