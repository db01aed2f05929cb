"""The pointwise log-likelihood of a fit, labelled by the data rows it belongs to.

Every fit stores, in the ``log_likelihood`` group of its InferenceData, the
log-density of each observation at each posterior draw: one variable per observed
variable (``<obs>_obs``), on the dimension ``<obs>_obs_row`` whose coordinate is the
dataset's ``data_row``. Coordinates on the same dimension say what each row is
(``<obs>_obs_cell`` and ``<obs>_obs_condition`` for steady-state fits,
``<obs>_obs_recording`` and ``<obs>_obs_time_s`` for run-down fits); they are added
to every group that has the dimension (observed data and predictive draws too).

:func:`pointwise_log_likelihood` joins the variables into one ``observation``
dimension, which is what leave-one-out cross-validation compares between models.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

__all__ = ["add_log_likelihood", "label_rows", "pointwise_log_likelihood"]

#: Name of the joined pointwise log-likelihood (one entry per observation).
JOINED = "observations"


def row_dim(obs_var: str) -> str:
    """The observation dimension of observed variable ``obs_var`` (``v_rest_mV_obs``)."""
    return f"{obs_var}_row"


def label_rows(idata, obs_rows: Mapping[str, Mapping[str, np.ndarray]]) -> None:
    """Add ``<obs>_obs_<label>`` coordinates on ``<obs>_obs_row`` to every group of
    ``idata`` that has that dimension.

    ``obs_rows`` maps an observable (``v_rest_mV``) to ``{label: values}``, one value per
    row of its observed variable; a ``data_row`` entry (the dimension's own coordinate)
    is skipped.
    """
    for group in idata.groups():
        ds = getattr(idata, group)
        new = {}
        for o, labels in obs_rows.items():
            dim = row_dim(f"{o}_obs")
            if dim not in ds.dims:
                continue
            for label, values in labels.items():
                if label == "data_row":
                    continue
                values = np.asarray(values)
                if values.dtype == object:
                    values = values.astype(str)
                new[f"{o}_obs_{label}"] = (dim, values)
        if new:
            setattr(idata, group, ds.assign_coords(new))


def add_log_likelihood(idata, model, obs_rows: Mapping[str, Mapping[str, np.ndarray]]):
    """Compute the pointwise log-likelihood of ``model`` at the posterior draws of
    ``idata`` (added as its ``log_likelihood`` group) and label the rows of every group
    (:func:`label_rows`). Returns ``idata``."""
    import pymc as pm

    pm.compute_log_likelihood(idata, model=model, extend_inferencedata=True,
                              progressbar=False)
    label_rows(idata, obs_rows)
    return idata


def pointwise_log_likelihood(idata):
    """All observations of a fit on one dimension.

    Returns
    -------
    xarray.DataArray
        Dimensions ``(chain, draw, observation)``; coordinates on ``observation``:
        ``observable``, ``data_row`` and every row label the fit stored (``cell``,
        ``condition``, ``recording``, ``time_s``; empty text where an observable has
        no such label).

    Raises
    ------
    ValueError
        If ``idata`` has no ``log_likelihood`` group or it has no observed variable.
    """
    import xarray as xr

    if "log_likelihood" not in idata.groups():
        raise ValueError("the posterior has no log_likelihood group")
    ll = idata.log_likelihood
    names = [n for n in ll.data_vars if n.endswith("_obs")]
    if not names:
        raise ValueError("the log_likelihood group has no observed variable (<obs>_obs)")
    parts, labels = [], {}
    prefixes = {n: f"{n}_" for n in names}
    all_labels = sorted({str(c)[len(prefixes[n]):] for n in names for c in ll[n].coords
                         if str(c).startswith(prefixes[n]) and str(c) != row_dim(n)})
    for n in names:
        da = ll[n]
        dim = row_dim(n)
        if dim not in da.dims:  # one observation (a scalar) or unnamed dimension
            extra = [d for d in da.dims if d not in ("chain", "draw")]
            da = da.stack({dim: extra}) if extra else da.expand_dims(dim, axis=-1)
        k = da.sizes[dim]
        rows = da[dim].values if dim in da.coords else np.arange(1, k + 1)
        labels.setdefault("observable", []).extend([n[:-len("_obs")]] * k)
        labels.setdefault("data_row", []).extend(np.asarray(rows).tolist())
        for lab in all_labels:
            coord = f"{n}_{lab}"
            vals = (np.asarray(da[coord].values).astype(str) if coord in da.coords
                    else np.full(k, ""))
            labels.setdefault(lab, []).extend(vals.tolist())
        parts.append(xr.DataArray(np.asarray(da.transpose("chain", "draw", dim).values),
                                  dims=("chain", "draw", "observation")))
    joined = xr.concat(parts, dim="observation")
    joined = joined.assign_coords(
        chain=ll["chain"].values, draw=ll["draw"].values,
        observation=np.arange(joined.sizes["observation"]),
        **{lab: ("observation", np.asarray(v)) for lab, v in labels.items()})
    return joined.rename(JOINED)
