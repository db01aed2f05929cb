"""``iongrad demo [--out DIR]``: the whole workflow on shipped data, in a few minutes.

1. A multi-cell steady-state fit (partial pooling across 8 cells) of the shipped
   ``synthetic_vrest_ko`` dataset with the example config ``fit_vrest_ko.toml``
   (resting V at five [K]o, input resistance, Na_i, pump current and O2 use).
2. An energy-cost sensitivity analysis (Sobol') of ATP/s, O2/s, pump current,
   resting V and the Na+ set point, with the leak conductances and pump density
   drawn from that fit's posterior (jointly, and as independent marginals) and
   every other value kept as the fit had it.
3. The HTML and Markdown reports of both runs.

Results go to ``DIR/fit/`` and ``DIR/sensitivity/`` (``DIR`` defaults to
``./iongrad-demo``); the sensitivity config is saved as ``DIR/sens_energy_posterior.toml``
so it can be re-run with ``iongrad sensitivity``. A failed or interrupted demo
removes what it wrote (and, with ``--force``, puts the previous ``DIR`` back).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path
from typing import Any

from iongrad.models.errors import ConfigError

__all__ = ["FIT_EXAMPLE", "add_arguments", "energy_sensitivity_config", "run",
           "run_demo"]

#: The example fit config the demo runs (in ``iongrad/workflows/examples``).
FIT_EXAMPLE = "fit_vrest_ko.toml"
#: Overrides of the example's [sampler] (none: the example's 1000 tuning steps and 1000
#: draws pass every diagnostic, about 1.5 min on 2 cores).
DEMO_SAMPLER: dict[str, int] = {}  # the example config's own sampler settings
_OUTPUTS = ["atp_per_s", "o2_per_s", "pump_current_pA", "v_rest_mV", "na_i_mM"]


def energy_sensitivity_config(posterior: Path, *, seed: int = 11, n: int = 512) -> dict:
    """Sobol' config of the energy cost over a fit's posterior.

    Parameters
    ----------
    posterior : Path
        ``posterior.nc`` of a fit of g_na_nS, g_k_nS and pump_density_per_um2.
    seed : int
        Seed of the Sobol' design.
    n : int
        Base sample size (a power of 2); ``n (D + 2)`` model evaluations.

    Returns
    -------
    dict
        A raw config for :func:`iongrad.workflows.sensitivity.resolve_config`.
    """
    return {
        "sensitivity": {
            "model": "pump_leak", "method": "sobol", "n": n, "seed": seed,
            "outputs": list(_OUTPUTS), "second_order": False,
            "description": "Energy cost of the ion gradients where the fitted cells are: "
                           "leaks and pump density from the posterior, every other "
                           "value as in the fit",
        },
        # every other value (k_o_mM = 4, g_cl_nS = 0.3, K_Na = 12 mM, the pump's
        # turnover, the P/O ratio ...) is kept from the fit: the posterior is
        # conditional on them, so varying one would be a what-if the data never saw
        "posterior": {"path": str(posterior),
                      "variables": ["g_na_nS", "g_k_nS", "pump_density_per_um2"]},
    }


def _say(message: str) -> None:
    print(message, flush=True)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return repr(value)


def _to_toml(raw: dict) -> str:
    """Two-level TOML writer for the demo's sensitivity config."""
    lines = ["# Written by 'iongrad demo'; re-run with", "#   iongrad sensitivity "
             "sens_energy_posterior.toml --out sensitivity-again", ""]
    for name in ("sensitivity", "fixed", "posterior"):
        if name not in raw:
            continue
        lines.append(f"[{name}]")
        lines += [f"{k} = {_toml_value(v)}" for k, v in raw[name].items()]
        lines.append("")
    for name, spec in raw.get("inputs", {}).items():
        lines.append(f"[inputs.{name}]")
        lines += [f"{k} = {_toml_value(v)}" for k, v in spec.items()]
        lines.append("")
    return "\n".join(lines)


def run_demo(out_dir: Path, *, progress: bool = True, sampler: dict | None = None,
             sobol_n: int = 512) -> dict[str, Path]:
    """Run the demo into ``out_dir`` (which must exist and be empty).

    Parameters
    ----------
    out_dir : Path
        Folder receiving ``fit/``, ``sensitivity/`` and the sensitivity config.
    progress : bool
        Show the samplers' progress bars (stage lines are always printed).
    sampler : dict, optional
        Overrides of the fit's ``[sampler]`` (default :data:`DEMO_SAMPLER`).
    sobol_n : int
        Base sample size of the Sobol' design.

    Returns
    -------
    dict
        Paths: ``fit``, ``sensitivity``, ``fit_report``, ``sensitivity_report``
        (HTML) and their Markdown twins ``*_report_md``.
    """
    import tomllib

    import iongrad.workflows.fit as fit
    import iongrad.workflows.sensitivity as sensitivity
    from iongrad.workflows.report import write_report

    out_dir = Path(out_dir)
    fit_dir, sens_dir = out_dir / "fit", out_dir / "sensitivity"
    t0 = time.perf_counter()

    _say(f"[1/4] fitting the pump-leak steady state to 8 cells ({FIT_EXAMPLE}, "
         "partial pooling, NUTS)")
    text = resources.files("iongrad.workflows").joinpath("examples", FIT_EXAMPLE) \
        .read_text(encoding="utf-8")
    raw = tomllib.loads(text)
    raw.setdefault("sampler", {}).update(DEMO_SAMPLER if sampler is None else sampler)
    raw["sampler"]["cores"] = min(int(raw["sampler"].get("chains", 2)), os.cpu_count() or 1)
    resolved = fit.resolve_config(raw, out_dir)
    fit_dir.mkdir()
    t = time.perf_counter()
    result = fit.run_config(resolved, fit_dir, progress=progress)
    _say(f"      fit done in {time.perf_counter() - t:.0f} s; diagnostics "
         f"{str(result.get('verdict', '?')).upper()}")
    for warning in result.get("warnings") or []:
        _say(f"      warning: {warning}")

    _say("[2/4] energy-cost sensitivity (Sobol') over the fitted posterior: "
         + ", ".join(_OUTPUTS))
    sens_raw = energy_sensitivity_config(fit_dir / "posterior.nc", n=sobol_n)
    cfg_path = out_dir / "sens_energy_posterior.toml"
    sens_raw["posterior"]["path"] = "fit/posterior.nc"  # relative to the saved config
    cfg_path.write_text(_to_toml(sens_raw), encoding="utf-8")
    sens_resolved = sensitivity.resolve_config(tomllib.loads(cfg_path.read_text()), out_dir)
    t = time.perf_counter()
    summary = sensitivity.run_config(sens_resolved, sens_dir, progress=progress)
    _say(f"      sensitivity done in {time.perf_counter() - t:.0f} s "
         f"({summary['n_evaluations']} model evaluations, "
         f"{100 * summary['infeasible_fraction']:.1f}% infeasible)")
    for o, e in summary["outputs"].items():
        if e.get("ranking"):
            _say(f"      {o}: most influential {', '.join(e['ranking'][:3])} "
                 f"(by {e['index']})")

    _say("[3/4] writing the reports")
    fit_html, fit_md = write_report(fit_dir)
    sens_html, sens_md = write_report(sens_dir)
    _say(f"[4/4] done in {time.perf_counter() - t0:.0f} s")
    return {"fit": fit_dir, "sensitivity": sens_dir, "fit_report": fit_html,
            "fit_report_md": fit_md, "sensitivity_report": sens_html,
            "sensitivity_report_md": sens_md}


# ======================================================================================
# CLI
# ======================================================================================
def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register ``iongrad demo`` arguments on an argparse parser."""
    parser.add_argument("--out", default="iongrad-demo",
                        help="output folder (default: ./iongrad-demo); must be empty or new")
    parser.add_argument("--force", action="store_true",
                        help="replace an existing non-empty output folder")
    parser.add_argument("--no-progress", dest="progress", action="store_false",
                        help="hide the samplers' progress bars (stage lines still print)")


def run(args: argparse.Namespace) -> int:
    """Run ``iongrad demo``: check the folder, run, print where the reports are."""
    from iongrad.workflows.config import RUN_MARKER, check_out_folder

    # the demo writes in place (its saved sensitivity config names fit/posterior.nc by
    # path), so it cannot use run_into_folder; the same rules apply: --force replaces
    # only a folder iongrad wrote, and a failure leaves nothing behind
    out = check_out_folder(args.out, force=args.force)
    existed = out.is_dir()
    old = None
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        if existed and any(out.iterdir()):  # --force on an iongrad folder: keep it until success
            old = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.old-"))
            os.replace(out, old / "previous")
            existed = False
        out.mkdir(exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--out: cannot use {str(out)!r}: {exc.strerror or exc}") from None
    try:
        paths = run_demo(out, progress=args.progress)
        (out / RUN_MARKER).write_text("written by iongrad demo; 'iongrad demo --force' may "
                                      "replace this folder\n", encoding="utf-8")
    except BaseException:
        if existed:  # the user's empty folder: empty it again, keep it
            for child in out.iterdir():
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child, ignore_errors=True)
                else:
                    child.unlink(missing_ok=True)
        else:
            shutil.rmtree(out, ignore_errors=True)
        if old is not None:
            os.replace(old / "previous", out)
            old.rmdir()
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    final = {k: Path(v) for k, v in paths.items()}
    sys.stdout.flush()
    print(f"\nResults in {out}")
    print(f"  fit report:         {final['fit_report']}")
    print(f"  sensitivity report: {final['sensitivity_report']}")
    print(f"  (Markdown twins: {final['fit_report_md'].name} next to each; "
          f"sensitivity config: {out / 'sens_energy_posterior.toml'})")
    return 0
