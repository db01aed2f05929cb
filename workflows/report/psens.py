"""Prior sensitivity of a fit by power scaling (Kallioinen et al. 2023; az.psens)."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from iongrad.workflows.report.document import _Doc
from iongrad.workflows.report.fit_context import _population_vars
from iongrad.workflows.report.tables import _fmt


def _psens_values(ds) -> dict[str, float]:
    """Flattened ``{label: value}`` of an az.psens Dataset (one label per element)."""
    out = {}
    for name, da in ds.data_vars.items():
        vals = np.asarray(da.values, dtype=float)
        if vals.ndim == 0:
            out[str(name)] = float(vals)
            continue
        dims = da.dims
        for idx in np.ndindex(vals.shape):
            lab = ",".join(str(da.coords[d].values[i]) if d in da.coords else str(i)
                           for d, i in zip(dims, idx, strict=True))
            out[f"{name}[{lab}]"] = float(vals[idx])
    return out


def _psens_data(idata):
    """The posterior with the log prior and the log likelihood each summed over its terms
    per draw: what az.psens power-scales. (Summing here, rather than in az.psens, keeps
    the named observation coordinates of the pointwise log likelihood, which az.psens
    cannot stack when observables have different rows.)"""
    import arviz as az
    import xarray as xr

    def total(group):
        ds = getattr(idata, group)
        parts = [da.sum([d for d in da.dims if d not in ("chain", "draw")])
                 for da in ds.data_vars.values()]
        return xr.Dataset({"total": sum(parts[1:], parts[0]).reset_coords(drop=True)})
    return az.InferenceData(posterior=idata.posterior, log_prior=total("log_prior"),
                            log_likelihood=total("log_likelihood"))


#: Power-scaling sensitivity threshold (Kallioinen et al. 2023, priorsense; az.psens).
PSENS_THRESHOLD = 0.05


def psens_reading(prior: float, likelihood: float, threshold: float = PSENS_THRESHOLD) -> str:
    """Plain-words diagnosis of a power-scaling sensitivity pair (Kallioinen et al. 2023):
    prior and likelihood both sensitive is a prior–data conflict; prior sensitive only, a
    prior that dominates a weak likelihood; neither, a weak likelihood; likelihood only,
    the data decide (no concern)."""
    p, lik = prior >= threshold, likelihood >= threshold
    if p and lik:
        return "prior-data conflict: prior and data pull this in different directions"
    if p:
        return "prior-dominated: the prior, not the data, sets this"
    if not lik:
        return "weak likelihood: the data say little about this"
    return "data-dominated: no concern"


def _fit_prior_sensitivity(doc: _Doc, ctx: dict[str, Any]) -> None:
    s = doc.section("prior-sensitivity", "Prior sensitivity (power scaling)")
    s.p("How much the posterior moves when the prior or the likelihood is raised to a power "
        "near 1 (power-scaling sensitivity, Kallioinen et al. 2023, computed by az.psens from "
        "the stored log prior and pointwise log likelihood without refitting). Values of "
        f"{PSENS_THRESHOLD} or more mean sensitive. The priors scaled are the top-level "
        "ones; the population model of a hierarchy is not a prior.")
    idata = ctx["idata"]
    missing = [g for g in ("log_prior", "log_likelihood") if not hasattr(idata, g)]
    if missing:
        s.alert("warn", f"posterior.nc has no {' or '.join(missing)} group: prior sensitivity "
                        "was not computed (refit with this version of iongrad).",
                id="psens-missing")
        return
    import arviz as az

    names = _population_vars(ctx)
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            data = _psens_data(idata)
            pri = _psens_values(az.psens(data, component="prior", var_names=names))
            lik = _psens_values(az.psens(data, component="likelihood", var_names=names))
    except Exception as exc:  # a report never fails on a diagnostic it cannot compute
        s.alert("warn", f"power-scaling sensitivity failed: {type(exc).__name__}: {exc}",
                id="psens-failed")
        return
    rows, flagged = [], []
    for label, pv in pri.items():
        lv = lik.get(label, float("nan"))
        reading = psens_reading(pv, lv)
        if not reading.startswith("data-dominated"):
            flagged.append(f"{label}: {reading}")
        rows.append([label, _fmt(pv, 3), _fmt(lv, 3), reading])
    s.table(["variable", "prior sensitivity", "likelihood sensitivity", "reading"], rows,
            id="psens-table", row_keys=list(pri))
    if flagged:
        s.alert("warn", "Flagged: " + "; ".join(flagged) + ". Report these with their prior, "
                "or refit with a prior you can defend and compare.", id="psens-flagged")
    else:
        s.alert("ok", "Every variable is set by the data, not by its prior.", id="psens-flagged")
