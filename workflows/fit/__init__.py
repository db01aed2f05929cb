"""Bayesian fit of the pump–leak steady state: ``iongrad fit CONFIG.toml --out DIR``.

Config (TOML, parsed as data only)::

    [fit]
    dataset = "synthetic_vrest_ko"      # a shipped dataset name, or a CSV path
    sidecar = "my_data.json"            # optional; default: the CSV's stem + .json
    parameters = ["g_na_nS", "g_k_nS", "pump_density_per_um2"]
    observables = ["v_rest_mV", "r_in_MOhm"]   # optional; default: all the model predicts
    pooling = "partial"                 # or "complete", "none", or a table per parameter
    parameterization = "centered"       # or "noncentered"
    leak = "ohmic"                      # or "ghk"   (shorthand for [model] composition)
    volume = "fixed"                    # or "osmotic"
    cell_sd_scale = 0.2                 # median cell-to-cell SD of log parameters
    select = { preparation = "isolated ventricular myocytes" }   # optional row filter

    [fixed]            # model parameters held fixed (units in the names)
    g_cl_nS = 0.3

    [priors.g_na_nS]   # override a default prior (log-normal)
    median = 0.15
    sd_log = 1.0

    [noise.na_i_mM]    # observation noise: family, scale, sigma ("estimate"|"known"|number)
    sigma = 0.5

    [reference]        # condition at which derived quantities are reported
    k_o_mM = 4.0

    [model]            # instead of leak/volume: a named composition ...
    composition = "pump_leak_hco3"
    # ... or one declared as data:
    # name = "my_cell"
    # mechanisms = ["ghk_leak:na", "ghk_leak:k", "ohmic_leak:cl", "na_k_pump",
    #               "activity_load"]
    # volume = "fixed"

    [sampler]
    seed = 1           # required
    draws = 500
    tune = 500
    chains = 2
    cores = 2
    target_accept = 0.9
    prior_draws = 500
    init = "jitter+adapt_diag"   # "jitter+adapt_full" learns a dense mass matrix:
                                 # faster when parameters are strongly correlated

Writes ``posterior.nc`` (InferenceData: posterior, prior, posterior_predictive,
log_likelihood (pointwise, per data row: :mod:`iongrad.infer.loglik`), observed_data,
constant_data, sample_stats), ``summary.csv`` (94% HDI, units),
``config.resolved.json`` and ``run.json`` (metadata, diagnostics verdict,
identifiability, the effective config, the data files' SHA-256), and prints the
diagnostics verdict. ``--strict`` turns a failed verdict into exit code 1.
``--seed N`` and ``--draws N`` replace ``[sampler] seed`` and ``draws`` for one run;
``run.json`` records them under ``overrides``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from iongrad.models.errors import ConfigError
from iongrad.workflows.config import load_toml, print_report_paths
from iongrad.workflows.fit.config import (
    OVERRIDES,
    apply_overrides,
    check_override,
    fit_spec,
    load_dataset_ref,
    resolve_config,
    rundown_spec,
    select_rows,
)
from iongrad.workflows.fit.pipeline import fit_into_folder, rebuild_model, run_config
from iongrad.workflows.fit.record import dataset_digests

__all__ = ["OVERRIDES", "add_arguments", "apply_overrides", "check_override",
           "dataset_digests", "fit_into_folder", "fit_spec", "format_verdict",
           "load_dataset_ref", "rebuild_model", "resolve_config", "run", "run_config",
           "rundown_spec", "select_rows"]


def format_verdict(diag: dict) -> str:
    """Multi-line human-readable diagnostics verdict."""
    lines = [f"diagnostics: {diag['verdict'].upper()}"]
    for c in diag["checks"]:
        val = c["value"]
        shown = f"{val:.4g}" if isinstance(val, float) else str(val)
        mark = "ok  " if c["passed"] else "FAIL"
        worst = f" (worst: {c['worst']})" if c["worst"] and not c["passed"] else ""
        need = f"{c.get('comparison', '')} {c['threshold']:g}".strip() \
            if isinstance(c["threshold"], int | float) else str(c["threshold"])
        lines.append(f"  [{mark}] {c['name']:<11} {shown:>10}  needs {need}{worst}")
        if not c["passed"]:
            lines.append(f"         {c['advice']}")
    return "\n".join(lines)


def _override_type(name: str):
    def parse(text: str) -> int:
        try:
            return check_override(name, text)
        except ConfigError as exc:
            # argparse prefixes the option name itself
            raise argparse.ArgumentTypeError(str(exc).split(": ", 1)[1]) from None

    parse.__name__ = name  # argparse names the type in its messages
    return parse


def add_arguments(parser) -> None:
    """Register ``iongrad fit`` arguments."""
    parser.add_argument("config", help="fit config (TOML)")
    parser.add_argument("--out", required=True, help="output folder (created; must be empty)")
    parser.add_argument("--force", action="store_true", help="replace a non-empty --out")
    parser.add_argument("--strict", action="store_true",
                        help="exit with code 1 when the diagnostics verdict fails")
    parser.add_argument("--no-report", action="store_true", help="skip the HTML/MD report")
    parser.add_argument("--seed", type=_override_type("seed"), metavar="N",
                        help="random seed (integer >= 0) instead of [sampler] seed; recorded "
                             "in run.json under 'overrides'")
    parser.add_argument("--draws", type=_override_type("draws"), metavar="N",
                        help="posterior draws per chain (integer >= 1) instead of [sampler] "
                             "draws; recorded in run.json under 'overrides'")
    bar = parser.add_mutually_exclusive_group()
    bar.add_argument("--progress", dest="progress", action="store_true", default=None,
                     help="progress bars on stderr through sampling, posterior predictive "
                          "draws and the report, with PyMC's log lines (default: when stderr "
                          "is a terminal)")
    bar.add_argument("--no-progress", dest="progress", action="store_false",
                     help="no progress bars, and none of PyMC's INFO log lines")


def run(args) -> int:
    """Run ``iongrad fit``."""
    cfg = Path(args.config)
    raw = load_toml(cfg)
    progress = sys.stderr.isatty() if args.progress is None else args.progress
    summary, _, out = fit_into_folder(raw, cfg.resolve().parent, args.out, config_path=cfg,
                                      force=args.force, progress=progress,
                                      report=not args.no_report, seed=args.seed,
                                      draws=args.draws)
    print(f"fit written to {out}")
    if not args.no_report and (out / "report.html").is_file():
        print_report_paths(out / "report.html", out / "report.md")
    print(format_verdict(summary["diagnostics"]))
    for w in summary["warnings"]:
        print(f"  warning: {w}")
    counts = summary.get("infeasible_draws") or {}
    holes = counts.get("derived_at_reference") or {}
    if holes.get("draws_with_nan"):
        print(f"  warning: {holes['draws_with_nan']} of "
              f"{counts['posterior_draws']} posterior draws have no "
              f"physical steady state at the reference condition {holes['reference']}; their "
              "derived quantities are NaN and left out of summary.csv (column n_nan_draws)")
    if args.strict and summary["verdict"] != "pass":
        return 1
    return 0
