"""Writing a sensitivity run's results: ``indices.csv``, samples and plots."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from iongrad.workflows.config import package_versions

_CSV_COLUMNS = ("output", "method", "index", "parameter", "parameter2", "value", "conf",
                "ci_low", "ci_high", "design", "n_rows")


def _write_indices(path: Path, rows: list[dict]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(_CSV_COLUMNS)
        for r in rows:
            w.writerow([repr(r[c]) if isinstance(r[c], float) else r[c] for c in _CSV_COLUMNS])


def _write_samples(path: Path, model, resolved: dict, x: np.ndarray, outs: dict,
                   attrs: dict) -> None:
    import xarray as xr

    data = {}
    for j, inp in enumerate(resolved["inputs"]):
        data[inp["name"]] = ("sample", x[:, j], {"units": inp["unit"], "role": "input",
                                                 "distribution": inp["dist"]})
    for o in model.output_names:
        arr = outs[o].astype(np.int8) if o == "feasible" else outs[o]
        a = {"units": model.output_unit(o), "role": "output"}
        if o == "feasible":
            a["description"] = "1 = a physical steady state was found and verified"
        data[o] = ("sample", arr, a)
    ds = xr.Dataset(data, coords={"sample": np.arange(x.shape[0])}, attrs=attrs)
    for k, v in resolved["fixed"].items():
        ds.attrs[f"fixed_{k}"] = v
    ds.to_netcdf(path)


def _plots(out_dir: Path, rows: list[dict]) -> list[str]:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    written = []
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in rows:
        groups.setdefault((r["output"], r["method"]), []).append(r)
    for (output, method), rs in groups.items():
        fig, ax = plt.subplots(figsize=(6.4, 4.0))
        if method == "morris":
            mu = {r["parameter"]: r for r in rs if r["index"] == "mu_star"}
            sg = {r["parameter"]: r["value"] for r in rs if r["index"] == "sigma"}
            for p, r in mu.items():
                ax.errorbar(r["value"], sg[p], xerr=r["conf"], fmt="o", capsize=3)
                ax.annotate(p, (r["value"], sg[p]), fontsize=8, xytext=(3, 3),
                            textcoords="offset points")
            ax.set_xlabel("mu* (output unit per unit quantile)")
            ax.set_ylabel("sigma")
        else:
            kinds = [k for k in ("S1", "ST", "Sh", "delta", "PAWN") if any(r["index"] == k
                                                                           for r in rs)]
            params = list(dict.fromkeys(r["parameter"] for r in rs if r["index"] == kinds[0]))
            width = 0.8 / max(len(kinds), 1)
            pos = np.arange(len(params))
            for k, kind in enumerate(kinds):
                vals = {r["parameter"]: r for r in rs if r["index"] == kind}
                v = [vals[p]["value"] for p in params]
                e = [0.0 if math.isnan(vals[p]["conf"]) else vals[p]["conf"] for p in params]
                ax.bar(pos + k * width, v, width, yerr=e, capsize=3, label=kind)
            ax.set_xticks(pos + width * (len(kinds) - 1) / 2, params, rotation=45, ha="right",
                          fontsize=8)
            ax.set_ylabel("index")
            ax.legend()
        ax.set_title(f"{output}: {method}")
        fig.tight_layout()
        name = f"{method}_{output}.png"
        fig.savefig(out_dir / name, dpi=100)
        plt.close(fig)
        written.append(name)
    written += _joint_plots(out_dir, rows)
    return written


def _joint_plots(out_dir: Path, rows: list[dict]) -> list[str]:
    """Per output: Shapley effects on the joint posterior next to the independent-marginal
    indices of the SALib method, with their intervals."""
    import matplotlib.pyplot as plt

    written = []
    for output in dict.fromkeys(r["output"] for r in rows if r["method"] == "shapley"):
        sh = {r["parameter"]: r for r in rows if r["output"] == output
              and r["method"] == "shapley"}
        ind = {r["parameter"]: r for r in rows if r["output"] == output
               and r["design"] == "main" and r["index"] in ("ST", "delta", "PAWN")
               and not r["parameter2"]}
        params = sorted(sh, key=lambda p: -sh[p]["value"])
        fig, ax = plt.subplots(figsize=(6.4, 4.0))
        pos = np.arange(len(params))
        for k, (label, table) in enumerate(
                (("joint posterior: Shapley effect", sh),
                 ("independent marginals: " + (next(iter(ind.values()))["method"] + " "
                                               + next(iter(ind.values()))["index"]
                                               if ind else ""), ind))):
            if not table:
                continue
            v = np.array([table[p]["value"] if p in table else np.nan for p in params])
            lo = np.array([table[p]["ci_low"] if p in table else np.nan for p in params])
            hi = np.array([table[p]["ci_high"] if p in table else np.nan for p in params])
            err = np.vstack([np.clip(v - lo, 0, None), np.clip(hi - v, 0, None)])
            err = np.where(np.isfinite(err), err, 0.0)
            ax.bar(pos + 0.4 * k, v, 0.4, yerr=err, capsize=3, label=label)
        ax.set_xticks(pos + 0.2, params, rotation=45, ha="right", fontsize=8)
        ax.set_ylabel("share of the output variance")
        ax.set_title(f"{output}: joint posterior vs independent marginals")
        ax.legend(fontsize=8)
        fig.tight_layout()
        name = f"joint_vs_independent_{output}.png"
        fig.savefig(out_dir / name, dpi=100)
        plt.close(fig)
        written.append(name)
    return written


def _versions() -> dict[str, str]:
    return package_versions(("iongrad", "numpy", "scipy", "SALib", "xarray", "matplotlib"))
