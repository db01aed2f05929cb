"""Simulation-based calibration (SBC) of the steady-state fits.

Talts et al. (2018, arXiv:1804.06788): if the data are simulated from parameters
drawn from the prior and the posterior is computed exactly, the rank of the true
value among ``L`` independent posterior draws is uniform on ``0..L``. Departures
show a biased or mis-scaled posterior (a wrong gradient, a wrong likelihood, a
sampler that does not reach parts of the posterior).

Two designs (``--design``), each small so that 200 replications run on 2 cores:

``pump_leak`` (default): 4 cells; each cell's resting potential at [K]o = 2, 4 and
8 mM, and its Na_i and input resistance at [K]o = 4 mM. Fitted: ``g_na_nS``,
``g_k_nS`` and ``pump_density_per_um2``, partially pooled (log-normal population
median, LogNormal cell SD, centered cells — exactly the priors of
:func:`iongrad.infer.model.build_model` with :data:`iongrad.infer.priors.DEFAULT_PRIORS`).
Noise is known (V: 1 mV; Na_i: 0.5 mM; R_in: 5 % in log units). Checked: the three
population medians and the three cell SDs (``<param>_cell_sd_log``).

``chloride``: the neuron of the shipped chloride dataset
(:mod:`iongrad.data.generate_chloride`: ohmic Na+, K+ and Cl- leaks, the Na+/K+ pump,
KCC2 and NKCC1, the GABA-A reversal), 2 cells at its three baths (control, [Cl]o 60 mM,
[K]o 10 mM); observed Cl_i (0.5 mM), E_GABA (1 mV) and V_rest (1 mV). Fitted: the KCC2
and NKCC1 activities, common to the cells (complete pooling, the default log-normal
priors). Checked: both activities. The two are strongly correlated in the posterior
(Cl_i and E_GABA pin their balance against the Cl- leak): a calibrated posterior must
still put the truth at a uniform rank.

Each replication: draw parameters from the prior with NumPy (seeded Generator);
solve the steady state with the NumPy forward model (a draw with no feasible steady
state in some row is redrawn, and counted); add noise; swap the data into the model
with ``pm.set_data`` (the model is built and compiled once, one ``pm.NUTS`` step
object is reused with ``reset_tuning``); sample one chain; thin to ``L`` draws;
record the rank of each true value.

Reported: rank histograms (PNG), chi-square test of the binned ranks and
Kolmogorov–Smirnov test of the normalised ranks (p-values), and the coverage of the
50 % and 90 % central posterior intervals.

Run::

    nice python benchmarks/sbc.py --reps 200 --seed 1 --jobs 2 --out benchmarks/sbc_results
    nice python benchmarks/sbc.py --design chloride --reps 200 --seed 1 --jobs 2 \
        --out benchmarks/sbc_chloride

Writes ``sbc.json`` and ``rank_histograms.png`` into ``--out`` and prints every figure.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from scipy import stats


def _dataset(name: str, description: str, columns: dict, rows: list[dict], constants: dict):
    """A placeholder dataset of a design (observed values are replaced by ``pm.set_data``)."""
    from iongrad.data import load_dataset_bytes

    names = list(columns)
    lines = [",".join(names)] + [",".join(str(r.get(c, "")) for c in names) for r in rows]
    sidecar = {
        "name": name, "description": description,
        "provenance": {"generator": "benchmarks/sbc.py", "date": "2025-01-01",
                       "licence": "CC0-1.0", "synthetic": True},
        "cell_column": "cell",
        "columns": columns,
        "constants": {k: {"value": v, "unit": u} for k, (v, u) in constants.items()},
    }
    return load_dataset_bytes("\n".join(lines).encode() + b"\n",
                              json.dumps(sidecar).encode(), csv_label=f"{name}.csv",
                              sidecar_label=f"{name}.json")


def _column(role: str, quantity: str, unit: str | None = None) -> dict:
    return {"role": role, "quantity": quantity, **({"unit": unit} if unit else {})}


class PumpLeakDesign:
    """Partially pooled pump-leak cells: V at three [K]o, Na_i and R_in at 4 mM."""

    name = "pump_leak"
    params = ("g_na_nS", "g_k_nS", "pump_density_per_um2")
    k_o_mM = (2.0, 4.0, 8.0)
    k_o_extra_mM = 4.0  # the row where Na_i and R_in are measured
    cell_sd_scale = 0.2
    default_cells = 4

    def __init__(self):
        self.noise = {"v_rest_mV": 1.0, "na_i_mM": 0.5, "r_in_MOhm": 0.05}  # mV, mM, log
        self.fixed = {"g_cl_nS": 0.3, "k_na_mM": 12.0}
        self.constants = {"na_o_mM": 145.0, "cl_o_mM": 123.0, "temperature_K": 310.0,
                          "activity_load_pA": 0.0}

    def quantities(self) -> list[str]:
        """Names of the checked posterior quantities (population medians, then cell SDs)."""
        return [*self.params, *(f"{p}_cell_sd_log" for p in self.params)]

    def rows(self, n_cells: int):
        """Rows of the design: (cell, k_o_mM, has Na_i and R_in)."""
        return [(f"c{c + 1}", k, k == self.k_o_extra_mM) for c in range(n_cells)
                for k in self.k_o_mM]

    def make_dataset(self, n_cells: int):
        cols = {"cell": _column("id", "cell"), "k_o_mM": _column("condition", "k_o_mM", "mM"),
                "v_rest_mV": _column("observable", "v_rest_mV", "mV"),
                "na_i_mM": _column("observable", "na_i_mM", "mM"),
                "r_in_MOhm": _column("observable", "r_in_MOhm", "MOhm")}
        rows = [{"cell": c, "k_o_mM": k, "v_rest_mV": -70.0,
                 **({"na_i_mM": 12.0, "r_in_MOhm": 500.0} if extra else {})}
                for c, k, extra in self.rows(n_cells)]
        units = {"temperature_K": "K", "activity_load_pA": "pA"}
        consts = {k: (v, units.get(k, "mM")) for k, v in self.constants.items()}
        return _dataset("sbc_design", "SBC design: V at three [K]o, Na_i and R_in at 4 mM",
                        cols, rows, consts)

    def fit_spec(self):
        """The FitSpec of the model (known noise, default priors, partial pooling)."""
        from iongrad.infer.model import FitSpec, ObservationNoise

        noise = {o: ObservationNoise(scale="log" if o == "r_in_MOhm" else "linear", sigma=s)
                 for o, s in self.noise.items()}
        return FitSpec(parameters=self.params, observables=tuple(self.noise),
                       pooling="partial", fixed=dict(self.fixed), noise=noise,
                       cell_sd_scale=self.cell_sd_scale, parameterization="centered",
                       reference={"k_o_mM": 4.0})

    def draw_prior(self, rng: np.random.Generator, n_cells: int) -> dict:
        """One prior draw, parameterised exactly as :func:`build_model` (partial, centered).

        ``ln median ~ Normal(ln m, sd_log)``; ``sd ~ LogNormal(ln cell_sd_scale, 0.5)``;
        ``ln θ_cell ~ Normal(ln median, sd)``.
        """
        from iongrad.infer.priors import prior_for

        out = {}
        for name in self.params:
            pr = prior_for(name)
            mu = rng.normal(math.log(pr.median), pr.sd_log)
            sd = math.exp(rng.normal(math.log(self.cell_sd_scale), 0.5))
            out[name] = math.exp(mu)
            out[f"{name}_cell_sd_log"] = sd
            out[f"{name}_cell"] = np.exp(rng.normal(mu, sd, size=n_cells))
        return out

    def simulate(self, truth: dict, rng: np.random.Generator, n_cells: int):
        """Noisy observations of the design, or None where a row has no steady state."""
        from iongrad.models import solve_steady_state

        rows = self.rows(n_cells)
        cidx = np.array([int(c[1:]) - 1 for c, _, _ in rows])
        k_o = np.array([k for _, k, _ in rows])
        params = {p: truth[f"{p}_cell"][cidx] for p in self.params}
        ss = solve_steady_state(leak="ohmic", volume="fixed", k_o_mM=k_o, **self.fixed,
                                **self.constants, **params)
        if not ss.feasible.all():
            return None
        extra = np.array([e for _, _, e in rows])
        noise = self.noise
        v = ss.v_rest_mV + rng.normal(0.0, noise["v_rest_mV"], size=len(rows))
        na = ss.na_i_mM[extra] + rng.normal(0.0, noise["na_i_mM"], size=int(extra.sum()))
        r_in = ss.r_in_MOhm[extra] * np.exp(rng.normal(0.0, noise["r_in_MOhm"],
                                                       size=int(extra.sum())))
        return {"v_rest_mV": v, "na_i_mM": na, "r_in_MOhm": r_in}

    def record(self, n_cells: int) -> dict:
        return {"design": self.name, "n_cells": n_cells, "k_o_mM": list(self.k_o_mM),
                "extra_row_k_o_mM": self.k_o_extra_mM, "observables": list(self.noise),
                "noise": self.noise, "fixed": self.fixed, "constants": self.constants,
                "parameters": list(self.params), "pooling": "partial",
                "parameterization": "centered", "cell_sd_scale": self.cell_sd_scale}


class ChlorideDesign:
    """KCC2 and NKCC1 activities (complete pooling) from Cl_i, E_GABA and V_rest."""

    name = "chloride"
    default_cells = 2

    def __init__(self):
        from iongrad.data import generate_chloride as gc

        self._gc = gc
        self.params = tuple(gc.TRUTH)
        self.conditions = tuple(gc.CONDITIONS)  # (k_o_mM, cl_o_mM)
        self.noise = {o: float(s["sd"]) for o, s in gc.NOISE.items()}
        self.fixed = dict(gc.DEFAULTS)
        self.constants = {"na_o_mM": 145.0, "temperature_K": 310.0}

    def quantities(self) -> list[str]:
        return list(self.params)

    def rows(self, n_cells: int):
        return [(f"c{c + 1}", ko, clo) for c in range(n_cells) for ko, clo in self.conditions]

    def make_dataset(self, n_cells: int):
        cols = {"cell": _column("id", "cell"), "k_o_mM": _column("condition", "k_o_mM", "mM"),
                "cl_o_mM": _column("condition", "cl_o_mM", "mM"),
                **{o: _column("observable", o, "mM" if o.endswith("_mM") else "mV")
                   for o in self.noise}}
        placeholder = {"cl_i_mM": 10.0, "e_gaba_mV": -60.0, "v_rest_mV": -70.0}
        rows = [{"cell": c, "k_o_mM": ko, "cl_o_mM": clo, **placeholder}
                for c, ko, clo in self.rows(n_cells)]
        consts = {"na_o_mM": (145.0, "mM"), "temperature_K": (310.0, "K")}
        return _dataset("sbc_chloride", "SBC design: Cl_i, E_GABA and V_rest in three baths",
                        cols, rows, consts)

    def fit_spec(self):
        from iongrad.infer.model import FitSpec, ObservationNoise

        noise = {o: ObservationNoise(sigma=s) for o, s in self.noise.items()}
        return FitSpec(parameters=self.params, observables=tuple(self.noise),
                       pooling="complete", membrane=self._gc.membrane(),
                       fixed=dict(self.fixed), noise=noise,
                       reference={"k_o_mM": 4.0, "cl_o_mM": 123.0})

    def draw_prior(self, rng: np.random.Generator, n_cells: int) -> dict:
        """``ln θ ~ Normal(ln median, sd_log)``, as :func:`build_model` (complete pooling)."""
        from iongrad.infer.priors import prior_for

        return {p: math.exp(rng.normal(math.log(prior_for(p).median), prior_for(p).sd_log))
                for p in self.params}

    def simulate(self, truth: dict, rng: np.random.Generator, n_cells: int):
        from iongrad.models.steady_state import steady_state_of

        rows = self.rows(n_cells)
        ko = np.array([r[1] for r in rows])
        clo = np.array([r[2] for r in rows])
        ss = steady_state_of(self._gc.membrane(), k_o_mM=ko, cl_o_mM=clo, **self.constants,
                             **self.fixed, **{p: truth[p] for p in self.params})
        if not np.all(ss["feasible"]):
            return None
        out = {o: np.asarray(ss[o], dtype=float) + rng.normal(0.0, s, size=len(rows))
               for o, s in self.noise.items()}
        if np.any(out["cl_i_mM"] <= 0):  # an imaging reading is positive: redraw
            return None
        return out

    def record(self, n_cells: int) -> dict:
        return {"design": self.name, "n_cells": n_cells,
                "baths_k_o_cl_o_mM": [list(c) for c in self.conditions],
                "observables": list(self.noise), "noise": self.noise, "fixed": self.fixed,
                "constants": self.constants, "parameters": list(self.params),
                "pooling": "complete",
                "composition": list(self._gc.MECHANISMS)}


DESIGNS = {"pump_leak": PumpLeakDesign, "chloride": ChlorideDesign}


def design_of(name: str = "pump_leak"):
    """The design called ``name`` (see :data:`DESIGNS`)."""
    try:
        return DESIGNS[name]()
    except KeyError:
        raise ValueError(f"unknown SBC design {name!r}; known: {sorted(DESIGNS)}") from None


def quantities(design: str = "pump_leak") -> list[str]:
    """Names of the checked posterior quantities of ``design``."""
    return design_of(design).quantities()


class SBCSampler:
    """The SBC model, built and compiled once; data swapped in per replication."""

    def __init__(self, design: str = "pump_leak", n_cells: int = 4,
                 target_accept: float = 0.8, max_treedepth: int = 6):
        import pymc as pm

        from iongrad.infer.model import build_model

        self.design = design_of(design)
        self.n_cells = n_cells
        self.dataset = self.design.make_dataset(n_cells)
        self.model, self.info = build_model(self.dataset, self.design.fit_spec())
        with self.model:
            self.step = pm.NUTS(target_accept=target_accept, max_treedepth=max_treedepth)

    def fit(self, data: dict, *, draws: int, tune: int, seed: int) -> dict:
        """Posterior draws of :func:`quantities` for one data set (one chain)."""
        import logging

        import pymc as pm

        logging.getLogger("pymc").setLevel(logging.ERROR)
        pm.set_data({f"{o}_data": np.asarray(y, dtype=float) for o, y in data.items()},
                    model=self.model)
        self.step.reset_tuning()
        with self.model, warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="The effect of Potentials")
            warnings.filterwarnings("ignore", category=UserWarning)
            warnings.filterwarnings("ignore", category=RuntimeWarning)
            trace = pm.sample(draws=draws, tune=tune, chains=1, cores=1, step=self.step,
                              random_seed=seed, progressbar=False,
                              compute_convergence_checks=False,
                              return_inferencedata=False, discard_tuned_samples=True)
        out = {q: np.asarray(trace.get_values(q), dtype=float)
               for q in self.design.quantities()}
        out["_divergences"] = int(np.sum(trace.get_sampler_stats("diverging")))
        return out


def rank_of(truth: float, draws: np.ndarray) -> int:
    """Number of draws below the true value (ties split at random are negligible here)."""
    return int(np.sum(draws < truth))


def uniformity(ranks: np.ndarray, n_ranks: int, n_bins: int) -> dict:
    """Chi-square test of binned ranks (``n_ranks`` possible values) and KS test."""
    ranks = np.asarray(ranks)
    edges = np.linspace(0, n_ranks, n_bins + 1)
    counts, _ = np.histogram(ranks, bins=edges)
    expected = len(ranks) * np.diff(np.floor(edges)) / n_ranks
    chi2 = float(np.sum((counts - expected) ** 2 / expected))
    p_chi2 = float(stats.chi2.sf(chi2, n_bins - 1))
    # normalised ranks, jittered within their cell so the continuous KS test applies
    u = (ranks + 0.5) / n_ranks
    ks = stats.kstest(u, "uniform")
    return {"chi2": chi2, "chi2_df": n_bins - 1, "p_chi2": p_chi2, "ks_stat": float(ks.statistic),
            "p_ks": float(ks.pvalue), "bin_counts": counts.tolist(),
            "expected_per_bin": expected.tolist()}


def _score(names: list[str], truth: dict, post: dict, thin: int, n_keep: int) -> dict:
    """Rank of each true value among the thinned draws, and interval coverage."""
    out = {}
    for q in names:
        d = post[q]
        a50, b50, a90, b90 = np.percentile(d, [25, 75, 5, 95])
        out[q] = {"rank": rank_of(truth[q], d[::thin][:n_keep]),
                  "in50": bool(a50 <= truth[q] <= b50), "in90": bool(a90 <= truth[q] <= b90)}
    return out


def _fit_chunk(args) -> list[dict]:
    """Worker: build the model once, then fit every replication of ``jobs``.

    With ``log_path`` each finished replication is appended to a JSON-lines file,
    so an interrupted run keeps what it has done.
    """
    (jobs, design, n_cells, draws, tune, thin, target_accept, max_treedepth, verbose,
     log_path) = args
    n_keep = draws // thin
    t0 = time.perf_counter()
    sampler = SBCSampler(design, n_cells, target_accept=target_accept,
                         max_treedepth=max_treedepth)
    names = sampler.design.quantities()
    out = [{"i": -1, "build_s": time.perf_counter() - t0}]
    import pymc as pm

    for i, truth, data, seed in jobs:
        t1 = time.perf_counter()
        try:
            post = sampler.fit(data, draws=draws, tune=tune, seed=seed)
        except pm.exceptions.SamplingError as exc:  # counted and reported, never dropped silently
            rec = {"i": i, "time_s": time.perf_counter() - t1, "failed": str(exc)[:200]}
        else:
            rec = {"i": i, "time_s": time.perf_counter() - t1,
                   "divergences": post["_divergences"],
                   "score": _score(names, truth, post, thin, n_keep)}
        out.append(rec)
        if log_path:
            with open(log_path, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(rec) + "\n")
        if verbose:
            what = ("FAILED: " + rec["failed"][:60] if "failed" in rec
                    else f"{rec['divergences']} divergences")
            print(f"  rep {i + 1}: {rec['time_s']:.2f} s, {what}", file=sys.stderr, flush=True)
    return out


def run_sbc(n_reps: int, *, seed: int, draws: int, tune: int, thin: int,
            design: str = "pump_leak", n_cells: int | None = None, n_bins: int = 10,
            target_accept: float = 0.8, max_treedepth: int = 6, jobs: int = 1,
            verbose: bool = False, log_path: str | None = None) -> dict:
    """Run ``n_reps`` SBC replications; return ranks, coverage and test statistics.

    All prior draws, simulated data and sampler seeds come from one Generator
    seeded with ``seed`` before any fitting, so the result does not depend on
    ``jobs`` (each worker process builds and compiles the model once).
    """
    des = design_of(design)
    n_cells = des.default_cells if n_cells is None else n_cells
    rng = np.random.default_rng(seed)
    n_keep = draws // thin
    names = des.quantities()
    redrawn, reps = 0, []
    for i in range(n_reps):
        while True:
            truth = des.draw_prior(rng, n_cells)
            data = des.simulate(truth, rng, n_cells)
            if data is not None:
                break
            redrawn += 1
        reps.append((i, truth, data, int(rng.integers(2**31))))
    t0 = time.perf_counter()
    settings = (design, n_cells, draws, tune, thin, target_accept, max_treedepth, verbose,
                log_path)
    if jobs <= 1:
        results = _fit_chunk((reps, *settings))
    else:
        import multiprocessing as mp

        chunks = [(reps[j::jobs], *settings) for j in range(jobs)]
        with mp.get_context("spawn").Pool(jobs) as pool:
            results = [r for part in pool.map(_fit_chunk, chunks) for r in part]
    wall = time.perf_counter() - t0
    builds = [r["build_s"] for r in results if r["i"] < 0]
    fits = sorted((r for r in results if r["i"] >= 0), key=lambda r: r["i"])
    settings = {"design": design, "n_reps": n_reps, "seed": seed, "draws": draws,
                "tune": tune, "thin": thin, "n_posterior_draws_ranked": n_keep,
                "n_bins": n_bins, "chains_per_rep": 1, "target_accept": target_accept,
                "max_treedepth": max_treedepth, "jobs": jobs}
    out = aggregate(fits, settings, n_cells)
    out.update({"prior_draws_redrawn_infeasible": redrawn,
                "build_s": float(np.mean(builds)), "wall_s": wall,
                "truths": [{q: float(t[q]) for q in names} for _, t, _, _ in reps]})
    return out


def aggregate(fits: list[dict], settings: dict, n_cells: int) -> dict:
    """Rank statistics, uniformity tests and coverage from per-replication records."""
    des = design_of(settings.get("design", "pump_leak"))
    names = des.quantities()
    n_keep, n_bins = settings["n_posterior_draws_ranked"], settings["n_bins"]
    failed = [r for r in fits if "failed" in r]
    times = [r["time_s"] for r in fits]
    fits = [r for r in fits if "failed" not in r]
    divergences = [r["divergences"] for r in fits]
    ranks = {q: [r["score"][q]["rank"] for r in fits] for q in names}
    cover = {q: {"50": [r["score"][q]["in50"] for r in fits],
                 "90": [r["score"][q]["in90"] for r in fits]} for q in names}
    per = {}
    for q in names:
        r = np.array(ranks[q])
        per[q] = {"ranks": r.tolist(), **uniformity(r, n_keep + 1, n_bins),
                  "coverage_50": float(np.mean(cover[q]["50"])),
                  "coverage_90": float(np.mean(cover[q]["90"]))}
    all50 = np.concatenate([cover[q]["50"] for q in names])
    all90 = np.concatenate([cover[q]["90"] for q in names])
    k90, n90 = int(all90.sum()), all90.size
    k50, n50 = int(all50.sum()), all50.size
    return {
        "design": des.record(n_cells),
        "settings": dict(settings, n_reps_done=len(fits)),
        "reps_failed": [{"i": r["i"], "error": r["failed"]} for r in failed],
        "fit_s_mean": float(np.mean(times)), "fit_s_max": float(np.max(times)),
        "fit_s_total": float(np.sum(times)),
        "divergences_total": int(np.sum(divergences)),
        "reps_with_divergences": int(np.sum(np.array(divergences) > 0)),
        "quantities": per,
        "coverage_50_all": k50 / n50, "coverage_90_all": k90 / n90,
        "binom_p_coverage_50": float(stats.binomtest(k50, n50, 0.5).pvalue),
        "binom_p_coverage_90": float(stats.binomtest(k90, n90, 0.9).pvalue),
        "n_pairs": n90,
        "divergences_per_rep": divergences,
    }


def plot_ranks(result: dict, path: Path) -> None:
    """Rank histograms with the 99 % band of a uniform histogram (binomial)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(result["quantities"])
    n_reps = result["settings"]["n_reps_done"]
    n_bins = result["settings"]["n_bins"]
    ncol = min(3, len(names))
    nrow = -(-len(names) // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.7 * ncol, 3 * nrow), sharey=True,
                             squeeze=False)
    for ax, q in zip(axes.ravel(), names, strict=False):
        res = result["quantities"][q]
        counts = np.array(res["bin_counts"])
        exp = np.array(res["expected_per_bin"])
        x = np.arange(n_bins)
        p_bin = exp / n_reps
        lo = stats.binom.ppf(0.005, n_reps, p_bin)
        hi = stats.binom.ppf(0.995, n_reps, p_bin)
        ax.fill_between(np.append(x, n_bins) - 0.5, np.append(lo, lo[-1]),
                        np.append(hi, hi[-1]), step="post", color="0.85",
                        label="99% band (uniform)")
        ax.bar(x, counts, width=0.9, color="C0")
        ax.axhline(exp.mean(), color="k", lw=0.8)
        ax.set_title(f"{q}\nchi2 p={res['p_chi2']:.3f}, KS p={res['p_ks']:.3f}", fontsize=9)
        ax.set_xlabel("rank bin")
    axes[0, 0].set_ylabel("replications")
    axes[0, 0].legend(fontsize=7, loc="lower left")
    design = result["settings"].get("design", "pump_leak")
    fig.suptitle(f"SBC rank histograms, {design} design ({n_reps} replications)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def format_result(result: dict) -> str:
    """Human-readable table of every figure."""
    s = result["settings"]
    lines = [f"SBC ({s.get('design', 'pump_leak')} design): {s['n_reps_done']} replications, "
             f"seed {s['seed']}, tune {s['tune']}, "
             f"draws {s['draws']} thinned by {s['thin']} -> L = {s['n_posterior_draws_ranked']}",
             f"prior draws redrawn (no feasible steady state): "
             f"{result.get('prior_draws_redrawn_infeasible', 'n/a')}",
             f"build {result.get('build_s', float('nan')):.1f} s; "
             f"fit {result['fit_s_mean']:.2f} s/rep (max "
             f"{result['fit_s_max']:.1f} s; {result['fit_s_total']:.0f} s in all, wall "
             f"{result.get('wall_s', float('nan')):.0f} s with {s['jobs']} job(s)); divergences "
             f"{result['divergences_total']} in {result['reps_with_divergences']} reps; "
             f"replications whose sampling failed: {len(result.get('reps_failed', []))}",
             f"{'quantity':<34}{'chi2 p':>9}{'KS p':>9}{'cov50':>8}{'cov90':>8}"]
    for q, r in result["quantities"].items():
        lines.append(f"{q:<34}{r['p_chi2']:>9.3f}{r['p_ks']:>9.3f}{r['coverage_50']:>8.3f}"
                     f"{r['coverage_90']:>8.3f}")
    lines.append(f"all pairs ({result['n_pairs']}): coverage 50% {result['coverage_50_all']:.3f} "
                 f"(binomial p {result['binom_p_coverage_50']:.3f}), 90% "
                 f"{result['coverage_90_all']:.3f} (binomial p "
                 f"{result['binom_p_coverage_90']:.3f})")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--design", choices=sorted(DESIGNS), default="pump_leak")
    ap.add_argument("--cells", type=int, default=None,
                    help="cells per data set (default: the design's)")
    ap.add_argument("--reps", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--draws", type=int, default=392)
    ap.add_argument("--tune", type=int, default=300)
    ap.add_argument("--thin", type=int, default=8)
    ap.add_argument("--jobs", type=int, default=1, help="worker processes (each compiles once)")
    ap.add_argument("--bins", type=int, default=10)
    ap.add_argument("--target-accept", type=float, default=0.8)
    ap.add_argument("--max-treedepth", type=int, default=6)
    ap.add_argument("--out", default="benchmarks/sbc_results")
    ap.add_argument("--summarise", metavar="JSONL",
                    help="only aggregate the per-replication log of an earlier (possibly "
                         "interrupted) run with the same settings")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.summarise:
        recs = [json.loads(line) for line in Path(args.summarise).read_text().splitlines()
                if line.strip()]
        settings = {"design": args.design, "n_reps": args.reps, "seed": args.seed,
                    "draws": args.draws,
                    "tune": args.tune, "thin": args.thin,
                    "n_posterior_draws_ranked": args.draws // args.thin, "n_bins": args.bins,
                    "chains_per_rep": 1, "target_accept": args.target_accept,
                    "max_treedepth": args.max_treedepth, "jobs": args.jobs}
        n_cells = args.cells or design_of(args.design).default_cells
        res = aggregate(sorted(recs, key=lambda r: r["i"]), settings, n_cells)
        (out / "sbc_summary.json").write_text(json.dumps(res, indent=2))
        plot_ranks(res, out / "rank_histograms.png")
        print(format_result(res))
        return 0
    (out / "sbc_reps.jsonl").unlink(missing_ok=True)

    res = run_sbc(args.reps, seed=args.seed, draws=args.draws, tune=args.tune,
                  thin=args.thin, design=args.design, n_cells=args.cells, n_bins=args.bins,
                  target_accept=args.target_accept,
                  max_treedepth=args.max_treedepth, jobs=args.jobs, verbose=True,
                  log_path=str(out / "sbc_reps.jsonl"))
    (out / "sbc.json").write_text(json.dumps(res, indent=2))
    plot_ranks(res, out / "rank_histograms.png")
    print(format_result(res))
    print(f"written: {out / 'sbc.json'}, {out / 'rank_histograms.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
