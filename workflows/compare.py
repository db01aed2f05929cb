"""Model comparison: ``iongrad compare RUN_DIR RUN_DIR... --out DIR``.

Each RUN_DIR is the folder of an ``iongrad fit`` whose ``posterior.nc`` holds the
pointwise log-likelihood (:mod:`iongrad.infer.loglik`). The runs must have been
fitted to the same observations (the same observed variables, data rows, cells,
conditions and values). For each run, PSIS-LOO (Pareto-smoothed importance sampling
leave-one-out cross-validation; Vehtari, Gelman & Gabry 2017, Statistics and
Computing 27:1413) estimates the expected log pointwise predictive density (ELPD) of
a new observation, leaving out one observation (one observable of one data row) at
a time; its Pareto k per observation says where the estimate cannot be trusted
(k > 0.7). ``az.compare`` ranks the runs by ELPD, with the difference to the best
run and its standard error, and stacking weights.

Writes into ``DIR`` (atomically: a temporary folder, then a rename):

``comparison.csv``
    One row per run, best first: rank (1 = highest ELPD), ELPD and its SE, p_loo
    (effective number of parameters), ELPD difference to the best run and its SE,
    stacking weight, the number of observations with Pareto k > 0.7.
``pointwise.csv``
    One row per observation: observable, data row, cell and condition (run-down:
    recording and time), and per run the pointwise ELPD and Pareto k.
``comparison.png`` / ``comparison.svg``, ``pareto_k.png`` / ``pareto_k.svg``
    ELPD of each run with its SE and the difference to the best; Pareto k of every
    observation per run.
``report.html`` / ``report.md``, ``run.json``
    The report (``iongrad report DIR`` writes it again) and the metadata.
"""

from __future__ import annotations

import io
import json
import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from iongrad.models.errors import ConfigError
from iongrad.workflows.config import (
    package_versions,
    print_report_paths,
    run_into_folder,
    write_json_atomic,
)
from iongrad.workflows.config import write_atomic as _write_atomic

__all__ = ["PARETO_K_MAX", "add_arguments", "compare_runs", "load_run", "run",
           "write_outputs"]

#: Pareto k above which a pointwise PSIS-LOO estimate is unreliable (Vehtari et al. 2024,
#: "Pareto smoothed importance sampling", JMLR 25:72).
PARETO_K_MAX = 0.7

#: Labels of an observation besides its observable and data row, in the order shown.
_LABELS = ("cell", "condition", "recording", "time_s")


def load_run(run_dir: str | Path) -> dict[str, Any]:
    """Read a fit run folder: ``run.json`` and ``posterior.nc`` (with its
    ``log_likelihood`` group).

    Raises
    ------
    ConfigError
        One line naming the folder: missing, not a fit run, or no pointwise
        log-likelihood.
    """
    import arviz as az

    path = Path(run_dir)
    if not path.is_dir():
        raise ConfigError(f"RUN_DIR {str(path)!r} does not exist or is not a folder")
    meta = path / "run.json"
    try:
        info = json.loads(meta.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"RUN_DIR {str(path)!r} is not a fit run folder (no run.json)") \
            from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"RUN_DIR {str(path)!r}: run.json is not readable JSON ({exc})") \
            from None
    if not isinstance(info, dict) or info.get("kind") != "fit":
        kind = info.get("kind") if isinstance(info, dict) else None
        raise ConfigError(f"RUN_DIR {str(path)!r} is not a fit run folder (run.json kind "
                          f"{kind!r}, expected 'fit')")
    post = path / "posterior.nc"
    if not post.is_file():
        raise ConfigError(f"RUN_DIR {str(path)!r} has no posterior.nc")
    try:
        idata = az.from_netcdf(str(post))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"RUN_DIR {str(path)!r}: posterior.nc is not readable ({exc})") \
            from None
    if "log_likelihood" not in idata.groups() or not any(
            n.endswith("_obs") for n in idata.log_likelihood.data_vars):
        raise ConfigError(f"RUN_DIR {str(path)!r}: posterior.nc has no log_likelihood group "
                          "(fitted by an older iongrad); fit it again to compare it")
    return {"dir": path.resolve(), "info": info, "idata": idata}


def _names(paths: list[Path]) -> list[str]:
    """A short unique name per run: its folder name (with the parent's when needed)."""
    names = [p.name for p in paths]
    if len(set(names)) < len(names):
        names = [f"{p.parent.name}/{p.name}" for p in paths]
    if len(set(names)) < len(names):
        names = [f"{n} ({i + 1})" for i, n in enumerate(names)]
    return names


def _observations(idata):
    """The observations of a fit: the observed data joined like the log-likelihood."""
    from iongrad.infer.loglik import pointwise_log_likelihood

    return pointwise_log_likelihood(idata)


def _check_same_data(runs: list[dict[str, Any]], names: list[str]) -> None:
    """Refuse runs that were not fitted to the same observations."""
    ref = runs[0]["idata"]
    ref_vars = sorted(n for n in ref.log_likelihood.data_vars if n.endswith("_obs"))
    for run, name in zip(runs[1:], names[1:], strict=True):
        idata = run["idata"]
        vars_ = sorted(n for n in idata.log_likelihood.data_vars if n.endswith("_obs"))
        if vars_ != ref_vars:
            raise ConfigError(
                f"runs {names[0]!r} and {name!r} were not fitted to the same observations: "
                f"observed variables {', '.join(ref_vars)} vs {', '.join(vars_)}")
        for v in ref_vars:
            a, b = ref.observed_data[v], idata.observed_data[v]
            if a.shape != b.shape:
                raise ConfigError(
                    f"runs {names[0]!r} and {name!r} were not fitted to the same "
                    f"observations: {v} has {a.size} rows vs {b.size}")
            # the condition label is the model's reading of the row (it names the FXYD
            # state only where K_Na is fitted per state): rows, cells, times and values
            # say whether the data are the same
            for c in sorted((set(a.coords) | set(b.coords)) - {f"{v}_condition"}):
                if c not in a.coords or c not in b.coords:
                    raise ConfigError(
                        f"runs {names[0]!r} and {name!r} were not fitted to the same "
                        f"observations: {v} rows labelled {c!r} in one run only")
                ca, cb = np.asarray(a[c].values), np.asarray(b[c].values)
                if ca.shape != cb.shape or not np.array_equal(ca.astype(str), cb.astype(str)):
                    raise ConfigError(
                        f"runs {names[0]!r} and {name!r} were not fitted to the same "
                        f"observations: {v} coordinate {c!r} differs")
            if not np.allclose(a.values, b.values, rtol=1e-12, atol=0.0, equal_nan=True):
                raise ConfigError(
                    f"runs {names[0]!r} and {name!r} were not fitted to the same "
                    f"observations: the values of {v} differ")


def _loo(idata, joined):
    """PSIS-LOO of the joined pointwise log-likelihood (relative efficiency from the
    posterior's finite variables)."""
    import arviz as az
    import xarray as xr

    post = idata.posterior
    finite = [n for n in post.data_vars
              if np.issubdtype(post[n].dtype, np.floating) and np.isfinite(post[n].values).all()
              and float(np.ptp(post[n].values)) > 0]
    data = az.InferenceData(posterior=post[finite],
                            log_likelihood=xr.Dataset({joined.name: joined}))
    with warnings.catch_warnings():
        # the observations with a high Pareto k are reported by name below
        warnings.filterwarnings("ignore", message=".*Pareto distribution.*")
        warnings.filterwarnings("ignore", message=".*Pareto k.*")
        return az.loo(data, pointwise=True, var_name=joined.name)


def _describe(obs: dict[str, Any]) -> str:
    """"v_rest_mV of cell c01 at k_o_mM=2 (data row 1)"."""
    parts = [str(obs["observable"])]
    if obs.get("cell"):
        parts.append(f"of cell {obs['cell']}")
    if obs.get("recording"):
        parts.append(f"of recording {obs['recording']}")
    if obs.get("condition"):
        parts.append(f"at {obs['condition']}")
    if obs.get("time_s") not in (None, ""):
        parts.append(f"at t = {_num(obs['time_s'])} s")
    return " ".join(parts) + f" (data row {obs['data_row']})"


def _num(x: Any) -> str:
    try:
        return f"{float(x):.4g}"
    except (TypeError, ValueError):
        return str(x)


def compare_runs(run_dirs, names: list[str] | None = None) -> dict[str, Any]:
    """Compare fits of the same observations by PSIS-LOO.

    Parameters
    ----------
    run_dirs : sequence of path
        Two or more ``iongrad fit`` run folders.
    names : list of str, optional
        Names of the runs in the tables (default: their folder names).

    Returns
    -------
    dict
        ``names``, ``dirs``, ``infos`` (each ``run.json``), ``loo`` (name -> ArviZ
        ELPDData with ``loo_i`` and ``pareto_k``), ``table`` (the ``az.compare``
        frame, best first), ``observations`` (a frame of the observation labels) and
        ``flagged`` (name -> list of observations with Pareto k > 0.7).

    Raises
    ------
    ConfigError
        Fewer than two runs, a folder that is not a fit run, no pointwise
        log-likelihood, or runs fitted to different observations.
    """
    import arviz as az
    import pandas as pd

    paths = [Path(p) for p in run_dirs]
    if len(paths) < 2:
        raise ConfigError(f"compare needs at least two RUN_DIRs; got {len(paths)}")
    runs = [load_run(p) for p in paths]
    resolved = [r["dir"] for r in runs]
    if len(set(resolved)) < len(resolved):
        raise ConfigError("RUN_DIR: the same run folder is given twice")
    names = list(names) if names is not None else _names(resolved)
    if len(names) != len(runs) or len(set(names)) < len(names):
        raise ConfigError(f"names: expected {len(runs)} different names; got {names}")
    _check_same_data(runs, names)
    loo = {}
    for r, name in zip(runs, names, strict=True):
        loo[name] = _loo(r["idata"], _observations(r["idata"]))
    joined = _observations(runs[0]["idata"])  # the labels of the rows, as the first run has them
    labels = {"observable": joined["observable"].values,
              "data_row": joined["data_row"].values}
    for lab in _LABELS:
        if lab in joined.coords:
            labels[lab] = joined[lab].values
    obs = pd.DataFrame(labels)
    flagged = {}
    for name, res in loo.items():
        k = np.asarray(res.pareto_k.values, dtype=float)
        flagged[name] = [{**{c: _plain(obs.iloc[i][c]) for c in obs.columns},
                          "pareto_k": float(k[i])}
                         for i in np.flatnonzero(~(k <= PARETO_K_MAX))]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*Pareto.*")
        # ArviZ's own use of a pandas keyword pandas plans to remove; not the user's concern
        warnings.filterwarnings("ignore", message=".*inplace keyword.*")
        table = az.compare(loo, ic="loo", method="stacking", scale="log")
    return {"names": names, "dirs": [str(p) for p in resolved],
            "infos": [r["info"] for r in runs], "loo": loo, "table": table,
            "observations": obs, "flagged": flagged}


def _plain(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    return v


def comparison_frame(result: dict[str, Any]):
    """The comparison table of ``comparison.csv`` (one row per run, best first)."""
    import pandas as pd

    table = result["table"]
    dirs = dict(zip(result["names"], result["dirs"], strict=True))
    rows = []
    for name, r in table.iterrows():
        rows.append({"run": name, "run_dir": dirs[name], "rank": int(r["rank"]) + 1,
                     "elpd_loo": float(r["elpd_loo"]), "se": float(r["se"]),
                     "p_loo": float(r["p_loo"]), "elpd_diff": float(r["elpd_diff"]),
                     "dse": float(r["dse"]), "weight": float(r["weight"]),
                     "n_pareto_k_above_0.7": len(result["flagged"][name]),
                     "n_observations": int(result["loo"][name].n_data_points)})
    return pd.DataFrame(rows)


def pointwise_frame(result: dict[str, Any]):
    """``pointwise.csv``: per observation its labels and, per run, ELPD_i and Pareto k."""
    frame = result["observations"].copy()
    for name in result["names"]:
        res = result["loo"][name]
        frame[f"elpd_loo_i[{name}]"] = np.asarray(res.loo_i.values, dtype=float)
        frame[f"pareto_k[{name}]"] = np.asarray(res.pareto_k.values, dtype=float)
    return frame


def _plot_comparison(result: dict[str, Any]):
    from iongrad.workflows.report.figures import _pyplot

    plt = _pyplot()
    frame = comparison_frame(result)
    n = len(frame)
    fig, ax = plt.subplots(figsize=(6.4, 1.0 + 0.55 * n))
    y = list(range(n))[::-1]
    ax.errorbar(frame["elpd_loo"], y, xerr=frame["se"], fmt="o", color="black",
                capsize=3, label="ELPD (LOO) ± SE")
    best = float(frame["elpd_loo"].iloc[0])
    for yi, (_, r) in zip(y, frame.iterrows(), strict=True):
        if r["rank"] > 1:
            ax.errorbar(best - abs(r["elpd_diff"]), yi - 0.2, xerr=r["dse"], fmt="^",
                        color="tab:gray", capsize=3,
                        label="difference to the best ± SE" if yi == y[1] else None)
    ax.axvline(best, color="tab:gray", lw=0.8, ls="--")
    ax.set_yticks(y, frame["run"])
    ax.set_xlabel("ELPD (PSIS-LOO, log scale; higher is better)")
    ax.legend(loc="best", fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


def _plot_pareto_k(result: dict[str, Any]):
    from iongrad.workflows.report.figures import _pyplot

    plt = _pyplot()
    names = result["names"]
    fig, axes = plt.subplots(len(names), 1, figsize=(6.4, 1.2 + 1.4 * len(names)),
                             sharex=True, squeeze=False)
    for ax, name in zip(axes[:, 0], names, strict=True):
        k = np.asarray(result["loo"][name].pareto_k.values, dtype=float)
        x = np.arange(k.size)
        bad = ~(k <= PARETO_K_MAX)
        ax.scatter(x[~bad], k[~bad], s=10, color="tab:blue")
        ax.scatter(x[bad], k[bad], s=18, color="tab:red", marker="x")
        ax.axhline(PARETO_K_MAX, color="tab:red", lw=0.8, ls="--")
        ax.set_ylabel("Pareto k")
        ax.set_title(name, fontsize=9, loc="left")
    axes[-1, 0].set_xlabel("observation (order of pointwise.csv)")
    fig.tight_layout()
    return fig


def _save_figure(fig, out_dir: Path, stem: str) -> None:
    """``stem.png`` and ``stem.svg``, each written atomically."""
    from iongrad.workflows.report.figures import _pyplot

    plt = _pyplot()
    try:
        for fmt in ("png", "svg"):
            buf = io.BytesIO()
            fig.savefig(buf, format=fmt, dpi=110, bbox_inches="tight")
            _write_atomic(out_dir / f"{stem}.{fmt}", buf.getvalue())
    finally:
        plt.close(fig)


def _run_record(result: dict[str, Any]) -> dict[str, Any]:
    runs = []
    for name, d, info in zip(result["names"], result["dirs"], result["infos"], strict=True):
        model = info.get("model") or {}
        res = result["loo"][name]
        runs.append({
            "name": name, "run_dir": d,
            "dataset": (info.get("dataset") or {}).get("name"),
            "model": {k: model.get(k) for k in ("kind", "leak", "volume", "pooling",
                                                "parameters", "observables", "mode")
                      if k in model},
            "composition": (model.get("composition") or {}).get("name")
            if isinstance(model.get("composition"), dict) else None,
            "diagnostics_verdict": (info.get("diagnostics") or {}).get("verdict"),
            "loo": {"elpd_loo": float(res.elpd_loo), "se": float(res.se),
                    "p_loo": float(res.p_loo), "n_samples": int(res.n_samples),
                    "n_data_points": int(res.n_data_points)},
            "pareto_k_above_0.7": result["flagged"][name],
        })
    table = comparison_frame(result)
    return {
        "kind": "compare",
        "method": {"ic": "loo", "scale": "log", "weights": "stacking",
                   "pareto_k_max": PARETO_K_MAX,
                   "note": "PSIS-LOO per observation (one observable of one data row); "
                           "ELPD differences are to the best run, with the standard error "
                           "of the paired pointwise differences (dse)."},
        "versions": package_versions(("iongrad", "numpy", "pymc", "arviz", "pandas")),
        "n_observations": len(result["observations"]),
        "runs": runs,
        "comparison": table.drop(columns=["run_dir"]).to_dict(orient="records"),
        "files": ["comparison.csv", "pointwise.csv", "comparison.png", "comparison.svg",
                  "pareto_k.png", "pareto_k.svg", "report.html", "report.md"],
    }


def write_outputs(result: dict[str, Any], out_dir: str | Path, *,
                  run_folder: str | Path | None = None) -> dict[str, Any]:
    """Write the tables, figures, ``run.json`` and the report into ``out_dir``
    (which must exist); return the ``run.json`` record."""
    from iongrad.workflows.report import write_report

    out = Path(out_dir)
    _write_atomic(out / "comparison.csv", comparison_frame(result).to_csv(index=False))
    _write_atomic(out / "pointwise.csv", pointwise_frame(result).to_csv(index=False))
    _save_figure(_plot_comparison(result), out, "comparison")
    _save_figure(_plot_pareto_k(result), out, "pareto_k")
    record = _run_record(result)
    write_json_atomic(out / "run.json", record)
    write_report(out, run_folder=run_folder if run_folder is not None else out)
    return record


# --------------------------------------------------------------------------------------
# Report (rendered by iongrad.workflows.report)
# --------------------------------------------------------------------------------------
def compare_doc(run_dir: Path, run_folder: str):
    """The report document of a compare folder (``run.json`` kind "compare")."""
    from iongrad.workflows.report.document import _Doc, _Figure
    from iongrad.workflows.report.tables import _fmt

    info = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    runs = info.get("runs") or []
    table = info.get("comparison") or []
    doc = _Doc(title="Model comparison (PSIS-LOO)",
               subtitle=f"{len(runs)} fits of the same {info.get('n_observations', '')} "
                        "observations", source=run_folder)
    s = doc.section("runs", "Runs")
    s.table(["run", "folder", "dataset", "model", "diagnostics"],
            [[r["name"], r["run_dir"], r.get("dataset") or "",
              ", ".join(f"{k} {v}" for k, v in (r.get("model") or {}).items()
                        if k in ("leak", "pooling", "mode") and v)
              or (r.get("composition") or ""), r.get("diagnostics_verdict") or ""]
             for r in runs], id="runs-table")
    failed = [r["name"] for r in runs if r.get("diagnostics_verdict") not in (None, "pass")]
    if failed:
        s.alert("warn", f"The sampler diagnostics of {', '.join(failed)} failed: their "
                        "ELPD estimates rest on a posterior that may be wrong.")

    s = doc.section("comparison", "Comparison")
    s.p("ELPD is the expected log pointwise predictive density of a new observation, "
        "estimated by Pareto-smoothed importance sampling leave-one-out cross-validation "
        "(higher is better). The difference to the best run has the standard error of the "
        "paired pointwise differences (dse); a difference of less than about two dse does "
        "not separate the runs. Weights: stacking of the predictive distributions.")
    s.table(["rank", "run", "ELPD", "SE", "p_loo", "ELPD difference", "dse", "weight",
             "Pareto k > 0.7"],
            [[str(r["rank"]), r["run"], _fmt(r["elpd_loo"], 4), _fmt(r["se"]),
              _fmt(r["p_loo"]), _fmt(r["elpd_diff"]), _fmt(r["dse"]), _fmt(r["weight"]),
              str(r["n_pareto_k_above_0.7"])] for r in table], id="comparison-table")
    for sentence in _verdict_sentences(table):
        s.p(sentence)
    png = run_dir / "comparison.png"
    if png.is_file():
        s.figure(_Figure("comparison", png.read_bytes(),
                         "ELPD of each run (± SE) and its difference to the best (± dse)."))

    s = doc.section("pareto-k", "Pareto k diagnostics")
    s.p(f"A Pareto k above {PARETO_K_MAX} means the importance-sampling estimate for that "
        "observation is unreliable: the posterior changes too much when it is left out "
        "(an influential or poorly fitted observation). Its ELPD, and the comparison, are "
        "then uncertain beyond the reported SE.")
    any_bad = False
    for r in runs:
        bad = r.get("pareto_k_above_0.7") or []
        if bad:
            any_bad = True
            shown = "; ".join(f"{_describe(o)}: k = {o['pareto_k']:.2f}" for o in bad[:12])
            more = f"; and {len(bad) - 12} more (pointwise.csv)" if len(bad) > 12 else ""
            s.alert("warn", f"{r['name']}: {len(bad)} observation"
                            f"{'s' if len(bad) != 1 else ''} with Pareto k > {PARETO_K_MAX}"
                            f" — {shown}{more}.")
        else:
            s.p(f"{r['name']}: every Pareto k is at most {PARETO_K_MAX}.")
    if any_bad:
        doc.warnings.append("some observations have Pareto k > 0.7")
    png = run_dir / "pareto_k.png"
    if png.is_file():
        s.figure(_Figure("pareto_k", png.read_bytes(),
                         f"Pareto k of every observation per run (dashed: {PARETO_K_MAX})."))
    s = doc.section("files", "Files")
    s.items([f"{f}" for f in info.get("files", [])])
    best = table[0]["run"] if table else ""
    doc.verdict = {"level": "warn" if any_bad or failed else "ok",
                   "text": f"Highest ELPD: {best}" + (
                       " (some Pareto k > 0.7 or failed diagnostics: see below)"
                       if any_bad or failed else "")}
    return doc


def _verdict_sentences(table: list[dict[str, Any]]) -> list[str]:
    from iongrad.workflows.report.tables import _fmt

    if not table:
        return []
    best = table[0]
    out = []
    for r in table[1:]:
        diff, dse = abs(float(r["elpd_diff"])), float(r["dse"])
        ratio = diff / dse if dse > 0 else math.inf
        if ratio >= 2:
            word = "predicts the observations better than"
        else:
            word = "is not clearly separated from"
        out.append(f"{best['run']} {word} {r['run']}: ELPD difference {_fmt(diff)} ± "
                   f"{_fmt(dse)} ({_fmt(ratio)} standard errors).")
    return out


# --------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------
def add_arguments(parser) -> None:
    """Register ``iongrad compare`` arguments."""
    parser.add_argument("run_dirs", metavar="RUN_DIR", nargs="+",
                        help="two or more 'iongrad fit' run folders fitted to the same data")
    parser.add_argument("--out", required=True,
                        help="output folder for the tables, plots and report (created; "
                             "must be new or empty)")
    parser.add_argument("--force", action="store_true",
                        help="replace a non-empty --out that iongrad wrote")


def run(args) -> int:
    """Run ``iongrad compare``."""
    if len(args.run_dirs) < 2:
        raise ConfigError(f"compare needs at least two RUN_DIRs; got {len(args.run_dirs)}")
    out = Path(args.out).resolve()
    result = compare_runs(args.run_dirs)
    inputs = [Path(d) / "posterior.nc" for d in result["dirs"]]
    inputs += [Path(d) / "run.json" for d in result["dirs"]]

    def work(tmp: Path) -> dict[str, Any]:
        return write_outputs(result, tmp, run_folder=out)

    run_into_folder(args.out, work, force=args.force, inputs=inputs)
    table = comparison_frame(result)
    print(f"comparison written to {out}")
    print_report_paths(out / "report.html", out / "report.md")
    for _, r in table.iterrows():
        print(f"  {int(r['rank'])}. {r['run']}: ELPD {r['elpd_loo']:.1f} ± {r['se']:.1f}"
              + (f", difference {r['elpd_diff']:.1f} ± {r['dse']:.1f}" if r["rank"] > 1
                 else ""))
    for name, bad in result["flagged"].items():
        if bad:
            print(f"  warning: {name}: {len(bad)} observation(s) with Pareto k > "
                  f"{PARETO_K_MAX} (unreliable LOO), e.g. {_describe(bad[0])}")
    return 0
