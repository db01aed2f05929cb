"""Reports of run folders: ``iongrad report RUN_DIR``.

:func:`write_report` reads a fit or sensitivity run folder (dispatching on the
``kind`` recorded in its ``run.json``) and writes two twins next to it:

``report.html``
    One self-contained file: inline CSS, every figure embedded as a base64 PNG
    data URI, no JavaScript and no network access. Built from the Jinja2
    templates in ``iongrad/workflows/templates`` with autoescaping on, so any
    user-supplied text (dataset names, labels, error messages) renders as text.
``report.md``
    The same content in Markdown, with the figures written as PNG files under
    ``report_files/`` and linked relatively.

:func:`write_batch_index` writes ``index.html`` / ``index.md`` for a batch folder
(``manifest.json`` + ``tasks/<kind>-<hash>/``), linking to one report per task.
Task folders are sealed by the batch runner (their ``DONE.json`` lists every file,
and a folder with extra files is redone), so task reports are written to
``DIR/reports/<task-id>/`` rather than into the task folders.

Every file is written atomically (temporary file in the same folder, then rename).

Fit diagnostics thresholds (see :data:`DIAGNOSTIC_THRESHOLDS`)
--------------------------------------------------------------
* R-hat (rank-normalised, split) of every posterior variable <= 1.01;
* bulk and tail effective sample size >= 100 per chain (Vehtari et al. 2021,
  Bayesian Analysis 16:667, recommend R-hat < 1.01 and ESS > 100 per chain);
* no divergent transitions;
* E-BFMI of every chain >= 0.3 (Betancourt 2016, arXiv:1604.00695).
"""

from __future__ import annotations

import argparse
import base64
import io
import itertools
import json
import math
import os
import re
import struct
import sys
import tempfile
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from iongrad.infer.diagnostics import LABELS, THRESHOLDS, diagnose
from iongrad.models.errors import ConfigError

__all__ = [
    "DIAGNOSTIC_THRESHOLDS",
    "HDI_PROB",
    "add_arguments",
    "run",
    "unit_of",
    "write_batch_index",
    "write_report",
]

#: Probability mass of every credible / predictive interval in the reports.
HDI_PROB = 0.94

#: Pass thresholds of the sampler diagnostics (those of :func:`iongrad.infer.diagnostics.diagnose`).
DIAGNOSTIC_THRESHOLDS: dict[str, float] = THRESHOLDS

#: Units of the derived quantities (population level and ``<name>_cell``).

_DERIVED_ORDER = ("v_rest_mV", "na_i_mM", "pump_current_pA", "atp_per_s", "o2_per_s",
                  "r_in_MOhm")
_CONDITION_ORDER = ("k_o_mM", "na_o_mM", "cl_o_mM", "temperature_K", "activity_load_pA",
                    "atp_mM", "fxyd_state")
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_TEMPLATES = "templates"


# ======================================================================================
# Small helpers
# ======================================================================================
def _write_atomic(path: Path, data: bytes | str) -> None:
    """Write ``data`` to ``path`` atomically (temporary file in the same folder, rename)."""
    path = Path(path)
    if isinstance(data, str):
        data = data.encode("utf-8")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        from iongrad.workflows.config import current_umask

        os.chmod(tmp, 0o666 & ~current_umask())  # mkstemp creates 0600; follow the umask
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read_json(path: Path) -> dict[str, Any]:
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{str(path)!r} does not exist") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{str(path)!r} is not valid JSON ({exc})") from None
    if not isinstance(obj, dict):
        raise ConfigError(f"{str(path)!r}: expected a JSON object, got {type(obj).__name__}")
    return obj


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height of a PNG image, read from its IHDR chunk.

    Parameters
    ----------
    data : bytes
        The PNG file contents.

    Returns
    -------
    (width, height) : tuple of int
        In pixels.

    Raises
    ------
    ValueError
        If ``data`` does not start with a PNG signature and an IHDR chunk.
    """
    if len(data) < 24 or data[:8] != _PNG_MAGIC or data[12:16] != b"IHDR":
        raise ValueError("not a PNG image (missing signature or IHDR chunk)")
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


def _fmt(x: Any, digits: int = 3) -> str:
    """A number with ``digits`` significant digits (scientific when very large/small)."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return str(x)
    if math.isnan(v):
        return "n/a"
    if math.isinf(v):
        return "∞" if v > 0 else "-∞"
    if v == 0:
        return "0"
    if 10**digits <= abs(v) < 1e5:
        return str(round(v))
    if abs(v) >= 1e5 or abs(v) < 1e-3:
        text = f"{v:.{digits - 1}e}"
        mant, exp = text.split("e")
        return f"{mant}e{int(exp)}"
    return f"{v:.{digits}g}"


def _fmt_duration(seconds: Any) -> str:
    try:
        s = float(seconds)
    except (TypeError, ValueError):
        return ""
    if not math.isfinite(s):
        return ""
    if s < 60:
        return f"{s:.1f} s"
    return f"{int(s // 60)} min {s % 60:.0f} s"


def _short(value: Any, limit: int = 120) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str, sort_keys=True)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def unit_of(name: str, units: Mapping[str, str] | None = None) -> str:
    """The unit of a variable or summary label; see :func:`iongrad.infer.model.unit_of`."""
    from iongrad.infer.model import unit_of as _unit_of

    return _unit_of(name, dict(units) if units else None)


# ======================================================================================
# Document model: sections made of blocks, rendered to HTML and Markdown
# ======================================================================================
@dataclass
class _Figure:
    name: str
    png: bytes
    caption: str = ""
    alt: str = ""
    #: tick-label overlaps left after :func:`_declutter` (not rendered)
    overlaps: int = 0

    def block(self) -> dict[str, Any]:
        width, height = png_size(self.png)
        return {"kind": "figure", "name": self.name, "png": self.png, "caption": self.caption,
                "overlaps": self.overlaps,
                "alt": self.alt or self.caption or self.name, "width": width,
                "height": height,
                "data_uri": "data:image/png;base64," + base64.b64encode(self.png).decode()}


@dataclass
class _Section:
    id: str
    title: str
    blocks: list[dict[str, Any]] = field(default_factory=list)

    def p(self, text: str) -> None:
        self.blocks.append({"kind": "p", "text": text})

    def heading(self, text: str, id: str | None = None) -> None:
        self.blocks.append({"kind": "heading", "text": text, "id": id})

    def alert(self, level: str, text: str, *, id: str | None = None,
              cls: str | None = None) -> None:
        self.blocks.append({"kind": "alert", "level": level, "text": text, "id": id,
                            "cls": cls})

    def items(self, items: Sequence[Any], id: str | None = None) -> None:
        self.blocks.append({"kind": "list", "items": list(items), "id": id})

    def kv(self, rows: Iterable[tuple[str, Any]], id: str | None = None) -> None:
        self.blocks.append({"kind": "kv", "rows": [(k, v) for k, v in rows], "id": id})

    def table(self, columns: Sequence[str], rows: Sequence[Sequence[Any]], *,
              id: str | None = None, caption: str = "", details: str = "",
              open: bool = False, row_keys: Sequence[str] | None = None) -> None:
        self.blocks.append({"kind": "table", "columns": list(columns),
                            "rows": [list(r) for r in rows], "id": id, "caption": caption,
                            "details": details, "open": open,
                            "row_keys": list(row_keys) if row_keys is not None else None})

    def pre(self, text: str, details: str = "") -> None:
        self.blocks.append({"kind": "pre", "text": text, "details": details})

    def figure(self, fig: _Figure | None) -> None:
        if fig is not None:
            self.blocks.append(fig.block())


@dataclass
class _Doc:
    title: str
    subtitle: str = ""
    sections: list[_Section] = field(default_factory=list)
    verdict: dict[str, str] | None = None
    source: str = ""
    version: str = ""
    warnings: list[str] = field(default_factory=list)
    wide: bool = False

    def section(self, id: str, title: str) -> _Section:
        s = _Section(id, title)
        self.sections.append(s)
        return s


_MD_LINE_START = re.compile(r"^(\s*)(#|[-+*](?=\s|$)|\d+(?=[.)](?:\s|$)))")


def _md_marker(m: re.Match) -> str:
    marker = m.group(2)
    if marker[0].isdigit():  # "1. " starts an ordered list: escape its dot
        return f"{m.group(1)}{marker}\\"
    return f"{m.group(1)}\\{marker}"


def _md_escape(text: Any) -> str:
    """Escape text for Markdown: HTML-significant characters become entities, line
    breaks become spaces (a newline followed by ``#``, ``>``, ``-``, ``|``... would
    start a heading, quote, list or table) and a block marker at the start of the
    text is backslash-escaped, so a value can never add Markdown structure."""
    from markupsafe import Markup

    if isinstance(text, Markup):
        return text
    if text is None:
        return ""
    s = str(text)
    s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    s = s.replace("[", "\\[").replace("]", "\\]").replace("`", "\\`")
    s = re.sub(r"[\r\n\v\f\x85\u2028\u2029]+", " ", s)
    s = _MD_LINE_START.sub(_md_marker, s, count=1)
    return Markup(s)


def _md_cell(value: Any) -> Any:
    from markupsafe import Markup

    if isinstance(value, Mapping):
        text = _md_escape(value.get("text", "")).replace("|", "\\|")
        if value.get("href"):
            href = str(value["href"]).replace(" ", "%20").replace(")", "%29")
            return Markup(f"[{text}]({_md_escape(href)})")
        if value.get("status"):
            return Markup(f"**{text}**")
        return Markup(text)
    text = _md_escape(value).replace("|", "\\|").replace("\n", " ")
    return Markup(text)


def _md_pre(value: Any) -> Any:
    from markupsafe import Markup

    return Markup(str(value).replace("```", "ʼʼʼ"))


_NUMERIC = re.compile(r"^[-+]?(\d[\d,]*\.?\d*|\.\d+)(e[-+]?\d+)?"
                      r"( ± [-+0-9.e]+| \[[-+0-9.e]+, [-+0-9.e]+\])?%?$", re.IGNORECASE)


def _looks_numeric(value: Any) -> bool:
    """True for table cells that hold a number (right-aligned in HTML tables)."""
    return isinstance(value, str) and bool(_NUMERIC.match(value.strip()))


def _environments():
    import jinja2

    loader = jinja2.PackageLoader("iongrad.workflows", _TEMPLATES)
    html = jinja2.Environment(loader=loader, autoescape=True, undefined=jinja2.StrictUndefined,
                              trim_blocks=False, lstrip_blocks=False)
    md = jinja2.Environment(loader=loader, autoescape=False, finalize=_md_escape,
                            undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    html.tests["numeric"] = _looks_numeric
    md.filters["mdcell"] = _md_cell
    md.filters["safe_pre"] = _md_pre
    return html, md


#: In ``<stem>_files/``: the figure files the last report wrote there (and may replace).
_FIGURE_LIST = ".iongrad-figures.json"


def _render(doc: _Doc, out_dir: Path, stem: str) -> tuple[Path, Path]:
    """Render ``doc`` to ``out_dir/<stem>.html`` and ``.md`` (+ ``<stem>_files/*.png``)."""
    from importlib.metadata import PackageNotFoundError, version

    from markupsafe import Markup

    try:
        doc.version = version("iongrad")
    except PackageNotFoundError:
        doc.version = "unknown"
    out_dir.mkdir(parents=True, exist_ok=True)
    files_dir = out_dir / f"{stem}_files"
    figures = [b for s in doc.sections for b in s.blocks if b["kind"] == "figure"]
    if figures:
        files_dir.mkdir(exist_ok=True)
    keep = set()
    for b in figures:
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", b["name"]) + ".png"
        keep.add(name)
        _write_atomic(files_dir / name, b["png"])
        b["md_href"] = Markup(f"{stem}_files/{name}")
    if files_dir.is_dir():
        # figures an earlier report wrote that this one no longer has; only names that
        # report listed as its own are removed (a PNG you put here is never touched)
        listing = files_dir / _FIGURE_LIST
        try:
            earlier = json.loads(listing.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            earlier = []
        for name in earlier if isinstance(earlier, list) else []:
            old = files_dir / str(name)
            if (isinstance(name, str) and name not in keep and "/" not in name
                    and old.is_file() and not old.is_symlink()):
                old.unlink(missing_ok=True)
        _write_atomic(listing, json.dumps(sorted(keep)))
    html_env, md_env = _environments()
    context = {"doc": doc}
    html = html_env.get_template("report.html.j2").render(context)
    md = md_env.get_template("report.md.j2").render(context)
    md = re.sub(r"\n{3,}", "\n\n", md)
    html_path, md_path = out_dir / f"{stem}.html", out_dir / f"{stem}.md"
    _write_atomic(html_path, html)
    _write_atomic(md_path, md)
    return html_path, md_path


# ======================================================================================
# Figures
# ======================================================================================
def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:
    plt = _pyplot()
    try:
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
        return buf.getvalue()
    finally:
        plt.close(fig)


#: One font scale for every report figure (points; applied while a figure is drawn,
#: without touching the caller's matplotlib settings).
FIGURE_STYLE = {"font.size": 8, "axes.titlesize": 8, "axes.labelsize": 8,
                "xtick.labelsize": 7, "ytick.labelsize": 7, "legend.fontsize": 7,
                "figure.titlesize": 9}


def _tick_overlaps(axis) -> int:
    """Number of neighbouring pairs of visible tick labels of ``axis`` that overlap (or
    come within 2 px) in the drawn figure. Labels rotated by θ overlap when their
    spacing times sin θ is less than the text height."""
    fig = axis.axes.figure
    renderer = fig.canvas.get_renderer()
    labels = [lab for lab in axis.get_ticklabels()
              if lab.get_visible() and lab.get_text().strip()]
    horizontal = axis.axis_name == "x"
    items = []
    for lab in labels:
        box = lab.get_window_extent(renderer)
        items.append((box.x0 if horizontal else box.y0, box, lab))
    items.sort(key=lambda t: t[0])
    count = 0
    for (_, a, la), (_, b, _lb) in itertools.pairwise(items):
        angle = la.get_rotation() % 180
        if horizontal and angle not in (0.0,):
            height = la.get_fontsize() * fig.dpi / 72.0
            step = (b.x0 + b.x1) / 2 - (a.x0 + a.x1) / 2
            count += step * abs(math.sin(math.radians(angle))) < height
        elif horizontal:
            count += b.x0 < a.x1 + 2
        else:
            count += b.y0 < a.y1 + 2
    return int(count)


def _declutter(fig) -> int:
    """Thin the automatic ticks of every axis of ``fig`` until its labels do not overlap
    (fewer bins on linear axes, fewer decades on log axes); ticks a plot placed itself
    (cells, conditions) are left alone. Returns the overlaps that remain."""
    from matplotlib.ticker import AutoLocator, LogLocator, MaxNLocator

    fig.canvas.draw()
    remaining = 0
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            if not axis.get_visible() or not _tick_overlaps(axis):
                continue
            auto = isinstance(axis.get_major_locator(), AutoLocator | MaxNLocator | LogLocator)
            for nbins in (6, 5, 4, 3, 2):
                if not auto:
                    break
                if isinstance(axis.get_major_locator(), LogLocator):
                    axis.set_major_locator(LogLocator(numticks=nbins))
                else:
                    axis.set_major_locator(MaxNLocator(nbins=nbins))
                fig.canvas.draw()
                if not _tick_overlaps(axis):
                    break
            remaining += _tick_overlaps(axis)
    return remaining


def _safe_figure(doc: _Doc, section: _Section, name: str, caption: str, draw) -> None:
    """Draw a figure with ``draw() -> matplotlib Figure`` in the report style, with
    non-overlapping tick labels; a failure becomes a warning block."""
    plt = _pyplot()
    try:
        with plt.rc_context(FIGURE_STYLE):
            fig = draw()
            if fig is None:
                return
            overlaps = _declutter(fig)
            png = _png(fig)
        section.figure(_Figure(name, png, caption, overlaps=overlaps))
    except Exception as exc:  # one broken plot must not lose the whole report
        plt.close("all")
        msg = f"figure '{name}' could not be drawn: {type(exc).__name__}: {exc}"
        doc.warnings.append(msg)
        section.alert("warn", msg, cls="plot-error")


# ======================================================================================
# Fit diagnostics
# ======================================================================================
# ======================================================================================
# Fit report
# ======================================================================================
def _flatten_row(row: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in row.items():
        if isinstance(v, Mapping):
            out.update(_flatten_row(v))
        else:
            out[k] = v
    return out


def _is_missing(v: Any) -> bool:
    if v is None:
        return True
    try:
        return math.isnan(float(v))
    except (TypeError, ValueError):
        return v == ""


def _read_summary(path: Path):
    import pandas as pd

    if not path.is_file():
        raise ConfigError(f"{str(path)!r} does not exist (expected az.summary output)")
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    first = frame.columns[0]
    if first != "variable":
        frame = frame.rename(columns={first: "variable"})
    return frame


def _summary_lookup(summary) -> dict[str, dict[str, str]]:
    return {row["variable"]: row for row in summary.to_dict("records")}


def _hdi_columns(summary) -> tuple[str, str]:
    cols = [c for c in summary.columns if c.startswith("hdi_")]
    if len(cols) >= 2:
        return cols[0], cols[1]
    eti = [c for c in summary.columns if c.startswith("eti_")]
    if len(eti) >= 2:
        return eti[0], eti[1]
    raise ConfigError("summary.csv has no hdi_* (or eti_*) interval columns")


def _interval_words(row: Mapping[str, str], lo: str, hi: str, unit: str) -> str:
    u = f" {unit}" if unit else ""
    return (f"{_fmt(row['mean'])}{u} (94% credible interval {_fmt(row[lo])} to "
            f"{_fmt(row[hi])}{u})")


def _fit_context(run_dir: Path) -> dict[str, Any]:
    import arviz as az

    info = _read_json(run_dir / "run.json")
    config = {}
    if (run_dir / "config.resolved.json").is_file():
        config = _read_json(run_dir / "config.resolved.json")
    nc = run_dir / "posterior.nc"
    if not nc.is_file():
        raise ConfigError(f"{str(nc)!r} does not exist (a fit run folder has posterior.nc)")
    try:
        idata = az.from_netcdf(nc)
    except (OSError, ValueError, KeyError) as exc:
        raise ConfigError(f"{str(nc)!r} is not an ArviZ InferenceData NetCDF file "
                          f"({type(exc).__name__})") from None
    if "posterior" not in idata.groups():
        raise ConfigError(f"{str(nc)!r} has no 'posterior' group; groups: {idata.groups()}")
    summary = _read_summary(run_dir / "summary.csv")
    model = info.get("model") or {}
    post_vars = list(idata.posterior.data_vars)
    params = [p for p in (model.get("parameters") or config.get("parameters") or [])
              if p in post_vars]
    if not params:
        from iongrad.infer.priors import FITTABLE

        params = [p for p in FITTABLE if p in post_vars]
    observables = list(model.get("observables") or [])
    if not observables and hasattr(idata, "observed_data"):
        observables = [v[:-4] for v in idata.observed_data.data_vars if v.endswith("_obs")]
    rows = [_flatten_row(r) for r in (info.get("rows") or []) if isinstance(r, Mapping)]
    units = {}
    if "unit" in summary.columns:
        for r in summary.to_dict("records"):
            if r["unit"]:
                units[r["variable"].split("[", 1)[0]] = r["unit"]
    return {"info": info, "config": config, "idata": idata, "summary": summary,
            "params": params, "observables": observables, "rows": rows, "units": units,
            "model": model}


def _fit_metadata(doc: _Doc, ctx: dict[str, Any], run_folder: str) -> None:
    info, config = ctx["info"], ctx["config"]
    s = doc.section("metadata", "Run")
    ds = info.get("dataset") or {}
    sampler = info.get("sampler") or {}
    idata = ctx["idata"]
    n_chains = int(idata.posterior.sizes.get("chain", 0))
    n_draws = int(idata.posterior.sizes.get("draw", 0))
    s.kv([
        ("kind", info.get("kind", "fit")),
        ("run folder", run_folder),
        ("seed", str(info.get("seed", config.get("seed", "")))),
        ("dataset", str(ds.get("name", ""))),
        ("sampler", ", ".join(f"{k} = {v}" for k, v in sampler.items())
         or f"{n_chains} chains × {n_draws} draws"),
        ("posterior draws", f"{n_chains} chains × {n_draws} draws = {n_chains * n_draws}"),
        *([("command-line overrides", "; ".join(
            f"{k} = {v.get('value')} (config file: {v.get('config')})"
            for k, v in (info.get("overrides") or {}).items() if isinstance(v, Mapping)))]
          if info.get("overrides") else []),
    ] + [(f"time: {k}", _fmt_duration(v) if isinstance(v, int | float) else str(v))
         for k, v in (info.get("timings") or info.get("timings_s") or {}).items()],
        id="run-metadata")
    s.heading("Dataset provenance", id="provenance")
    prov = ds.get("provenance") or {}
    cite = [(k, _short(prov[k], 400)) for k in ("citation", "lab", "generator", "licence",
                                                 "date", "seed", "synthetic") if k in prov]
    s.kv([("name", str(ds.get("name", ""))), ("CSV", str(ds.get("csv", ""))),
          ("sidecar", str(ds.get("sidecar", ""))), *cite], id="dataset-provenance")
    if not any(k in prov for k in ("citation", "lab")):
        s.p("No citation or lab is recorded for this dataset"
            + (f"; it was produced by {prov['generator']}." if "generator" in prov else "."))
    rest = {k: v for k, v in prov.items() if k not in dict(cite)}
    if rest:
        s.pre(json.dumps(rest, indent=2, sort_keys=True, default=str),
              details="Full provenance record")
    versions = info.get("versions") or {}
    if versions:
        s.heading("Package versions", id="versions")
        s.table(["package", "version"], [[k, str(v)] for k, v in sorted(versions.items())],
                id="versions-table")
    s.heading("Resolved configuration", id="config")
    s.pre(json.dumps(config or info.get("config") or {}, indent=2, sort_keys=True,
                     default=str), details="config.resolved.json")


def _condition_columns(rows: list[dict[str, Any]], observables: Sequence[str]) -> list[str]:
    if not rows:
        return []
    keys = [k for k in rows[0] if k not in ("cell", *observables)]
    ordered = [c for c in _CONDITION_ORDER if c in keys]
    ordered += [k for k in keys if k not in ordered and not k.startswith(("sem_", "sd_", "n_"))
                and k not in ("data_row", "row")]
    return ordered


def _varying(rows: list[dict[str, Any]], col: str) -> bool:
    return len({str(r.get(col)) for r in rows}) > 1


def _fit_data(doc: _Doc, ctx: dict[str, Any]) -> None:
    s = doc.section("data", "Data")
    rows, obs = ctx["rows"], ctx["observables"]
    conds = _condition_columns(rows, obs)
    ctx["conditions"] = conds
    if not rows:
        s.alert("warn", "run.json lists no data rows; the observed values below come from "
                        "the posterior file only.")
        idata = ctx["idata"]
        for o in obs:
            if f"{o}_obs" in idata.observed_data:
                vals = idata.observed_data[f"{o}_obs"].values.ravel()
                s.p(f"{o}: {len(vals)} observations, "
                    f"{', '.join(_fmt(v) for v in vals[:12])}{' …' if len(vals) > 12 else ''}")
        return
    cells = list(dict.fromkeys(str(r.get("cell", "")) for r in rows))
    counts = {o: sum(not _is_missing(r.get(o)) for r in rows) for o in obs}
    s.p(f"{len(rows)} rows from {len(cells)} cell(s); observations per observable: "
        + ", ".join(f"{o} {n}" for o, n in counts.items()) + ". Empty cells: not measured.")
    varying = [c for c in conds if _varying(rows, c)]
    constant = [c for c in conds if not _varying(rows, c)]
    if constant:
        s.p("Conditions constant over all rows: " + ", ".join(
            f"{c} = {rows[0].get(c)} {unit_of(c)}".rstrip() for c in constant) + ".")
    columns = ["cell", *varying, *obs]
    s.table([f"{c} ({unit_of(c, ctx['units'])})" if unit_of(c, ctx["units"]) else c
             for c in columns],
            [[("" if _is_missing(r.get(c)) else _fmt(r.get(c), 4)
               if isinstance(r.get(c), int | float) and not isinstance(r.get(c), bool)
               else str(r.get(c))) for c in columns] for r in rows],
            id="data-table", details=f"Data table ({len(rows)} rows)", open=len(rows) <= 20)
    ctx["x_condition"] = varying[0] if varying else None
    _safe_figure(doc, s, "data", "The data, one colour per cell: each observable against the "
                 "condition that varies (log axis for concentrations).",
                 lambda: _plot_data(ctx))


def _log_ticks(ax, values) -> None:
    """Log x axis with plain-number ticks at the distinct values (at most 8)."""
    from matplotlib.ticker import NullFormatter, NullLocator

    ticks = sorted({float(v) for v in values})
    ax.set_xscale("log")
    if len(ticks) > 8:
        return
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])


def _cell_colors(cells: Sequence[str]):
    plt = _pyplot()
    cmap = plt.get_cmap("tab10" if len(cells) <= 10 else "tab20")
    return {c: cmap(i % cmap.N) for i, c in enumerate(cells)}


def _plot_data(ctx: dict[str, Any]):
    import numpy as np

    plt = _pyplot()
    rows, obs, xc = ctx["rows"], ctx["observables"], ctx.get("x_condition")
    cells = list(dict.fromkeys(str(r.get("cell", "")) for r in rows))
    colors = _cell_colors(cells)
    n = len(obs)
    ncols = min(n, 3)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.3 * nrows), squeeze=False)
    for ax, o in zip(axes.ravel(), obs, strict=False):
        sub = [r for r in rows if not _is_missing(r.get(o))]
        xs_vary = xc is not None and len({r.get(xc) for r in sub}) > 1
        for i, c in enumerate(cells):
            pts = [r for r in sub if str(r.get("cell")) == c]
            if not pts:
                continue
            y = np.array([float(r[o]) for r in pts])
            if xs_vary:
                x = np.array([float(r[xc]) for r in pts])
                order = np.argsort(x)
                ax.plot(x[order], y[order], "o-", color=colors[c], ms=4, lw=1, label=c)
            else:
                ax.plot(np.full(y.size, i), y, "o", color=colors[c], ms=5, label=c)
        if xs_vary:
            _log_ticks(ax, [float(r[xc]) for r in sub])
            ax.set_xlabel(f"{xc} ({unit_of(xc)})")
        else:
            ax.set_xticks(range(len(cells)), cells, rotation=60, fontsize=7)
            ax.set_xlabel("cell")
        if o in ("o2_per_s", "atp_per_s", "r_in_MOhm"):
            ax.set_yscale("log")
        ax.set_ylabel(f"{o} ({unit_of(o, ctx['units'])})")
        ax.grid(alpha=0.3)
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    if len(cells) <= 12:
        axes.ravel()[0].legend(fontsize=7, ncol=2, title="cell", title_fontsize=7)
    fig.tight_layout()
    return fig


def _model_inputs(s: _Section, model: Mapping[str, Any]) -> None:
    """The table of every model input with its value and source (run.json "inputs")."""
    inputs = [r for r in (model.get("inputs") or []) if isinstance(r, Mapping)]
    if not inputs:
        return
    words = {"fitted": "fitted (posterior)", "data": "data (condition column)",
             "fixed": "set in [fixed]", "default": "default (not set by you)"}

    def value(r):
        v = r.get("value")
        if r.get("source") == "fitted":
            return "see posterior"
        if v is None:
            return "none (see description)"
        if isinstance(v, list):
            return ", ".join(_fmt(x, 4) for x in v[:8]) + (" …" if len(v) > 8 else "")
        return _fmt(v, 4)
    s.heading("Every model input", id="inputs")
    s.table(["input", "value", "unit", "source", "meaning"],
            [[str(r.get("name")), value(r), str(r.get("unit") or ""),
              words.get(str(r.get("source")), str(r.get("source"))),
              str(r.get("description") or "")] for r in inputs],
            id="inputs-table", row_keys=[str(r.get("name")) for r in inputs],
            caption="Every input of the model, including those you did not set: they are "
                    "recorded in run.json (model.inputs) and are part of the model the "
                    "posterior is conditional on.")
    by = {str(r.get("name")): r for r in inputs}
    area = by.get("area_um2")
    if "pump_density_per_um2" in by and by["pump_density_per_um2"].get("source") == "fitted" \
            and area is not None and area.get("source") == "default":
        s.alert("warn", "The fitted pump density is per µm² of membrane and scales inversely "
                f"with the cell area, which you did not set (default {_fmt(area.get('value'), 4)} "
                "µm²): the data determine the number of pumps (density × area); set area_um2 "
                "in [fixed] to the measured capacitance-derived area to report a density.",
                id="inputs-area-warning")


def _fit_model(doc: _Doc, ctx: dict[str, Any]) -> None:
    s = doc.section("model", "Model, observables and priors")
    model, config = ctx["model"], ctx["config"]
    get = lambda k: model.get(k, config.get(k))  # noqa: E731
    comp = model.get("composition") or {}
    membrane = ([("membrane model", f"{comp.get('name', '')}: "
                  f"{', '.join(map(str, comp.get('mechanisms') or []))}; "
                  f"{comp.get('volume', '')} volume")] if comp else [])
    shorthand = [(k, str(get(k))) for k in ("leak", "volume") if get(k)]
    s.kv([("steady state", "pump–leak steady state (3 Na+ out, 2 K+ in, 1 ATP per cycle)"),
          *membrane, *shorthand,
          ("pooling across cells", str(get("pooling") or "")),
          ("fitted parameters", ", ".join(ctx["params"])),
          ("reference condition for derived quantities",
           ", ".join(f"{k} = {v}" for k, v in (get("reference") or {}).items()) or "—"),
          ("fixed parameters", ", ".join(f"{k} = {v} {unit_of(k)}".rstrip()
                                         for k, v in (get("fixed") or {}).items()) or
           "model defaults")], id="model-settings")
    pooling = str(get("pooling") or "")
    if pooling == "partial":
        s.p("Partial pooling: each parameter has a population median (the variable named after "
            "the parameter) and per-cell values (<name>_cell) scattered log-normally around it "
            "with an estimated spread (<name>_cell_sd_log, in log units).")
    priors = model.get("priors") or {}
    if priors:
        s.heading("Priors", id="priors")
        s.table(["parameter", "prior", "median", "sd (log)", "unit", "source"],
                [[p, "LogNormal", _fmt(v.get("median")), _fmt(v.get("sd_log")),
                  str(v.get("unit") or unit_of(p)), str(v.get("source") or "")]
                 for p, v in priors.items() if isinstance(v, Mapping)],
                id="priors-table",
                caption="ln θ ~ Normal(ln median, sd_log); 94% of prior mass lies within "
                        "median ×/÷ exp(1.88 sd_log).")
    noise = model.get("noise") or {}
    s.heading("Observables and noise", id="observables")
    s.table(["observable", "unit", "family", "scale", "sigma"],
            [[o, unit_of(o, ctx["units"]), str((noise.get(o) or {}).get("family", "")),
              str((noise.get(o) or {}).get("scale", "")),
              str((noise.get(o) or {}).get("sigma", ""))] for o in ctx["observables"]],
            id="observables-table",
            caption="scale 'log': log(y) ~ Normal(log(prediction), sigma), sigma in log units; "
                    "sigma 'estimate': HalfNormal prior, 'known': the dataset's SEM/SD.")
    _model_inputs(s, model)


def _fit_diagnostics(doc: _Doc, ctx: dict[str, Any]) -> None:
    s = doc.section("diagnostics", "Sampler diagnostics")
    diag = (ctx["info"].get("diagnostics") or {})
    checks = diag.get("checks") if isinstance(diag.get("checks"), list) else None
    source = "recorded by the fit (run.json)"
    if not checks:  # the same checks the fit records, from the draws
        diag = diagnose(ctx["idata"])
        checks, source = diag["checks"], "computed from posterior.nc"
    verdict = diag.get("verdict")
    if verdict not in ("pass", "fail"):
        verdict = "pass" if all(c.get("passed") for c in checks) else "fail"
    ctx["verdict"] = verdict
    labels = LABELS
    if verdict == "pass":
        s.alert("ok", "PASS: every check below is within its threshold; the posterior "
                      "summaries can be used.", id="diagnostics-verdict")
    else:
        failed = [str(c.get("label") or labels.get(c.get("name")) or c.get("name"))
                  for c in checks if not c.get("passed")]
        s.alert("fail", "FAIL: " + ", ".join(failed) + ". Do not report these numbers before "
                "fixing the sampler problem (advice below).", id="diagnostics-verdict")
    rows = []
    for c in checks:
        cmp = c.get("comparison") or ""
        thr = c.get("threshold")
        rows.append([str(c.get("label") or labels.get(c.get("name")) or c.get("name")),
                     _fmt(c.get("value"), 4) if isinstance(c.get("value"), int | float)
                     else str(c.get("value")),
                     f"{cmp} {_fmt(thr, 4)}".strip() if isinstance(thr, int | float)
                     else str(thr),
                     {"text": "PASS" if c.get("passed") else "FAIL",
                      "status": "pass" if c.get("passed") else "fail"},
                     str(c.get("advice") or "")])
    s.table(["check", "value", "threshold", "status", "advice"], rows, id="diagnostics-table",
            caption=f"Checks {source}.",
            row_keys=[str(c.get("name")) for c in checks])
    th = DIAGNOSTIC_THRESHOLDS
    s.p(f"Thresholds: R-hat <= {th['r_hat_max']} for every variable; bulk and tail ESS >= "
        f"{th['ess_per_chain_min']:.0f} per chain; {th['divergences_max']:.0f} divergent "
        f"transitions; E-BFMI >= {th['bfmi_min']} in every chain (Vehtari et al. 2021; "
        "Betancourt 2016).")
    advice = [str(c.get("advice")) for c in checks if not c.get("passed") and c.get("advice")]
    if advice:
        s.heading("What to do", id="diagnostics-advice")
        s.items(advice, id="advice-list")
    summary = ctx["summary"]
    if "r_hat" in summary.columns:
        def key(r):
            try:
                return -float(r["r_hat"])
            except ValueError:
                return 0.0
        worst = sorted(summary.to_dict("records"), key=key)[:5]
        s.table(["variable", "r_hat", "ess_bulk", "ess_tail"],
                [[r["variable"], *(_summary_cell(c, r.get(c, ""))
                                   for c in ("r_hat", "ess_bulk", "ess_tail"))]
                 for r in worst],
                id="diagnostics-worst", caption="The five variables with the largest R-hat "
                                                "(from summary.csv).")


def _summary_cell(column: str, value: Any) -> str:
    """A summary.csv value as printed: 4 significant digits for estimates and intervals,
    2 for Monte Carlo errors, whole numbers for ESS, 3 decimals for R-hat (the CSV keeps
    full precision)."""
    if value in ("", None):
        return ""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return str(value)
    if column.startswith("ess"):
        return "n/a" if math.isnan(v) else f"{v:.0f}"
    if column == "r_hat":
        return "n/a" if math.isnan(v) else f"{v:.3f}"
    return _fmt(v, 2 if column.startswith("mcse") else 4)


def _fit_summary(doc: _Doc, ctx: dict[str, Any]) -> None:
    s = doc.section("posterior-summary", "Posterior summary")
    summary = ctx["summary"]
    lo, hi = _hdi_columns(summary)
    s.p(f"Posterior mean, standard deviation and 94% highest-density interval ({lo} to {hi}) "
        "of every variable, exactly as in summary.csv (az.summary, hdi_prob = 0.94). "
        "Population-level variables first; per-cell values below.")
    cols = [c for c in summary.columns if c not in ("variable", "unit")]
    records = summary.to_dict("records")
    # per cell: <name>_cell[...]; population values per FXYD state or condition stay main
    main = [r for r in records if "[" not in r["variable"] or
            not r["variable"].split("[", 1)[0].endswith("_cell")]
    cells = [r for r in records if r not in main]
    header = ["variable", "unit", *cols]
    s.table(header, [[r["variable"], r.get("unit", "") or unit_of(r["variable"]),
                      *[_summary_cell(c, r[c]) for c in cols]] for r in main],
            id="summary-table", row_keys=[r["variable"] for r in main])
    if cells:
        s.table(header, [[r["variable"], r.get("unit", "") or unit_of(r["variable"]),
                          *[_summary_cell(c, r[c]) for c in cols]] for r in cells],
                id="summary-table-cells", details=f"Per-cell variables ({len(cells)} rows)",
                row_keys=[r["variable"] for r in cells])


def _population_vars(ctx: dict[str, Any]) -> list[str]:
    """Posterior variables at the population level, in order: the fitted parameters, then
    the between-cell spreads and the noise scales (as the posterior lists them)."""
    post = ctx["idata"].posterior
    extra = [str(v) for v in post.data_vars
             if str(v).endswith("_cell_sd_log") or str(v).startswith("sigma_")]
    return [v for v in dict.fromkeys([*ctx["params"], *extra]) if v in post]


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
        import numpy as np

        fig = np.asarray(axes).ravel()[0].figure
        fig.tight_layout()
        return fig
    _safe_figure(doc, s, "rank", "Rank plots of the population parameters, the between-cell "
                 "spreads and the noise scales.", draw)

    def trace():
        import arviz as az
        import numpy as np

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
    import numpy as np

    v = np.asarray(post[name].values, dtype=float)
    v = v.reshape(v.shape[0] * v.shape[1], -1)
    return v


def _pair_vars(ctx: dict[str, Any]) -> list[tuple[str, Any]]:
    """(label, flattened draws) of population-level fitted parameters (columns of k_na)."""
    import numpy as np

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
    import numpy as np

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
            flag = (isinstance(r, int | float) and abs(r) >= 0.8)
            rows.append([str(a), str(b), _fmt(r, 3),
                         {"text": "strong" if flag else "ok",
                          "status": "warn" if flag else "pass"}])
        s.table(["parameter A", "parameter B", "correlation r", "note"], rows,
                id="correlations-table", caption=f"Posterior correlations, {source}; "
                                                  "|r| >= 0.8 is marked strong.")
    warnings = list(ident.get("warnings") or [])
    if not ident and correlations:
        for a, b, r in correlations:
            if isinstance(r, float) and abs(r) >= 0.8:
                warnings.append(f"{a} and {b} are strongly correlated (r = {r:.2f}): the data "
                                f"constrain mainly their {'ratio' if r > 0 else 'product'}; "
                                "report them jointly or fix one of them.")
    if warnings:
        for w in warnings:
            s.alert("warn", str(w), cls="identifiability-warning")
    else:
        s.alert("ok", "No identifiability warning: no pair of parameters is strongly "
                      "correlated in the posterior.")


def _plot_pairs(pairs, div):
    import numpy as np

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
    import numpy as np

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
    import numpy as np

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


def _predictive(ctx: dict[str, Any], o: str, group: str = "posterior_predictive"):
    """(rows of ``o``, draws[S, n], observed[n]) of the predictive ``group``, or None
    when they do not line up."""
    import numpy as np

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


def _fit_predictive(doc: _Doc, ctx: dict[str, Any]) -> None:
    import numpy as np

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
        lo, hi = np.quantile(pp, [0.03, 0.97], axis=0)
        inside = (y >= lo) & (y <= hi)
        rows_cov.append([o, str(int(inside.sum())), str(y.size),
                         f"{100 * inside.mean():.0f}%"])
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
    import numpy as np

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
        lo, hi = np.quantile(pp[ok], [0.03, 0.97], axis=0)
        inside = (y >= lo) & (y <= hi)
        rows_cov.append([o, str(int(inside.sum())), str(y.size),
                         f"{100 * inside.mean():.0f}%", _fmt(np.min(pp[ok]), 4),
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


def _psens_values(ds) -> dict[str, float]:
    """Flattened ``{label: value}`` of an az.psens Dataset (one label per element)."""
    import numpy as np

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
    import numpy as np

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


def _plot_ppc_curve(ctx, o, xc, rows, pp, y):
    import numpy as np

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
    import numpy as np

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


_DERIVED_WORDS = {
    "v_rest_mV": "The typical cell rests at {}.",
    "na_i_mM": "Its Na+ set point (intracellular Na+ where pump and leak balance) is {}.",
    "pump_current_pA": "The Na+/K+ pump carries an outward current of {}.",
    "atp_per_s": "Keeping the gradients costs {}: one ATP per pump cycle.",
    "o2_per_s": "Oxidative phosphorylation supplies that ATP by consuming {}.",
    "r_in_MOhm": "Input resistance: {}.",
}


def _fit_derived(doc: _Doc, ctx: dict[str, Any]) -> None:
    import numpy as np

    s = doc.section("derived", "Derived quantities: resting potential, Na+ set point, "
                               "energy cost")
    summary = ctx["summary"]
    lookup = _summary_lookup(summary)
    lo, hi = _hdi_columns(summary)
    ref = (ctx["model"].get("reference") or ctx["config"].get("reference")
           or {"k_o_mM": 4.0})
    where = ", ".join(f"{k} = {v} {unit_of(k)}".rstrip() for k, v in ref.items())
    holes = ((ctx["info"].get("infeasible_draws") or {}).get("derived_at_reference") or {})
    n_holes = int(holes.get("draws_with_nan") or 0)
    if n_holes:
        total = (ctx["info"].get("infeasible_draws") or {}).get("posterior_draws") or "?"
        worst = sorted((holes.get("by_variable") or {}).items(), key=lambda kv: -kv[1])[:4]
        s.alert("warn", f"{n_holes} of {total} posterior draws have no physical steady state "
                f"at the reference condition ({where}): their derived quantities are NaN and "
                "are left out of the means and intervals below (most affected: "
                + ", ".join(f"{k} {v}" for k, v in worst) + "). The intervals describe the "
                "draws that do have a steady state there.", id="derived-infeasible")
    fitted = set(ctx["params"])
    if not fitted & {"g_na_nS", "g_k_nS", "p_na_cm_s", "p_k_cm_s", "pump_density_per_um2"}:
        s.alert("info", "This fit estimates neither leak nor pump density: the derived "
                        "quantities take those parameters at their fixed or default values "
                        f"and show the effect of the fitted ones ({', '.join(sorted(fitted))}) "
                        "alone.", id="derived-defaults")
    sentences = []
    for name in _DERIVED_ORDER:
        if name in lookup and not np.isfinite(_as_float(lookup[name].get("mean"))):
            continue  # no draw with a steady state at the reference: said in the alert
        if name in lookup:
            unit = lookup[name].get("unit") or unit_of(name)
            sentences.append(_DERIVED_WORDS[name].format(
                _interval_words(lookup[name], lo, hi, unit)))
    if sentences:
        s.p(f"Population level (the median cell), at the reference condition ({where}); "
            "posterior means with 94% credible intervals:")
        s.items(sentences, id="derived-sentences")
    else:
        s.alert("warn", "summary.csv has no population-level derived quantities.")
    for suffix, dim, what in (("_fxyd", "FXYD state", "at the reference condition in each "
                                                       "FXYD state"),
                              ("_condition", "condition", "at each condition of the data")):
        by = _derived_by(lookup, lo, hi, suffix)
        if by is None:
            continue
        labels, names, cells_text = by
        s.table([dim, *[f"{d} ({unit_of(d)})" for d in names]],
                [[label, *cells_text[i]] for i, label in enumerate(labels)],
                id=f"derived-by-{_slug(suffix[1:])}",
                caption=f"Population level, {what}: posterior mean [94% HDI] (summary.csv "
                        f"rows such as na_i_mM{suffix}[...]; per cell in posterior.nc, "
                        f"e.g. na_i_mM_cell{suffix}).")
    table = _derived_cells(ctx, lookup, lo, hi)
    if table is None:
        return
    cells, names, values, source = table
    s.table(["cell", *[f"{d} ({unit_of(d)})" for d in names]],
            [[c, *[f"{_fmt(values[d][i][0])} [{_fmt(values[d][i][1])}, "
                   f"{_fmt(values[d][i][2])}]" for d in names]] for i, c in enumerate(cells)],
            id="derived-cells",
            caption=f"Per cell: posterior mean [94% HDI] at the reference condition ({source}).")
    pop = {d: (_as_float(lookup[d][lo]), _as_float(lookup[d][hi])) for d in names
           if d in lookup and np.isfinite(_as_float(lookup[d][lo]))}
    _safe_figure(doc, s, "derived_cells", "Per-cell derived quantities: posterior mean and "
                 "94% HDI; the shaded band is the population value's 94% HDI.",
                 lambda: _plot_derived(cells, names, values, pop))


def _derived_by(lookup, lo, hi, suffix):
    """Population-level derived quantities per FXYD state (``suffix`` "_fxyd") or per
    condition ("_condition") from the summary rows ``<name><suffix>[label]``:
    ``(labels, names, cells)`` with one "mean [low, high]" text per label and name, or
    ``None`` when summary.csv has no such rows."""
    names, labels = [], []
    for d in _DERIVED_ORDER:
        prefix = f"{d}{suffix}["
        found = [k[len(prefix):-1] for k in lookup if k.startswith(prefix) and k.endswith("]")]
        if found:
            names.append(d)
            labels += [x for x in found if x not in labels]
    if not names:
        return None
    cells = []
    for label in labels:
        row = []
        for d in names:
            r = lookup.get(f"{d}{suffix}[{label}]")
            row.append("—" if r is None else
                       f"{_fmt(_as_float(r.get('mean')))} [{_fmt(_as_float(r.get(lo)))}, "
                       f"{_fmt(_as_float(r.get(hi)))}]")
        cells.append(row)
    return labels, names, cells


def _derived_cells(ctx, lookup, lo, hi):
    """Per-cell (mean, HDI low, HDI high) of the derived quantities.

    Taken from summary.csv when it has ``<name>_cell[...]`` rows, otherwise computed
    from the posterior (``az.hdi``, same probability).
    """
    import arviz as az
    import numpy as np

    post = ctx["idata"].posterior
    names = [d for d in _DERIVED_ORDER if f"{d}_cell" in post]
    if not names:
        return None
    dim = [x for x in post[f"{names[0]}_cell"].dims if x not in ("chain", "draw")]
    if len(dim) != 1:
        return None
    cells = [str(c) for c in post[f"{names[0]}_cell"][dim[0]].values]
    values: dict[str, list[tuple[float, float, float]]] = {}
    from_summary = all(f"{d}_cell[{c}]" in lookup for d in names for c in cells)
    for d in names:
        if from_summary:
            values[d] = [(float(lookup[f"{d}_cell[{c}]"]["mean"]),
                          float(lookup[f"{d}_cell[{c}]"][lo]),
                          float(lookup[f"{d}_cell[{c}]"][hi])) for c in cells]
        else:
            # draws without a steady state at the reference are NaN: use the finite ones
            flat = np.asarray(post[f"{d}_cell"].values, dtype=float)
            flat = flat.reshape(-1, flat.shape[-1])
            values[d] = []
            for i in range(len(cells)):
                x = flat[:, i][np.isfinite(flat[:, i])]
                if x.size < 2:
                    values[d].append((float("nan"),) * 3)
                    continue
                lo_i, hi_i = (float(b) for b in az.hdi(x, hdi_prob=HDI_PROB))
                values[d].append((float(x.mean()), lo_i, hi_i))
    source = "from summary.csv" if from_summary else "computed from posterior.nc"
    return cells, names, values, source


def _plot_derived(cells, names, values, pop):
    import numpy as np

    plt = _pyplot()
    shown = [d for d in ("v_rest_mV", "na_i_mM", "pump_current_pA", "atp_per_s")
             if d in names] or names[:4]
    fig, axes = plt.subplots(1, len(shown), figsize=(3.2 * len(shown), 0.32 * len(cells) + 1.4),
                             squeeze=False, sharey=True)
    y = np.arange(len(cells))
    for ax, d in zip(axes[0], shown, strict=False):
        m, a, b = (np.array(v) for v in zip(*values[d], strict=True))
        if d in pop:
            ax.axvspan(*pop[d], color="0.85")
        ax.hlines(y, a, b, color="#4c72b0", lw=2)
        ax.plot(m, y, "o", color="#4c72b0", ms=4)
        ax.set_xlabel(f"{d} ({unit_of(d)})", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3, axis="x")
    axes[0, 0].set_yticks(y, cells, fontsize=7)
    axes[0, 0].invert_yaxis()
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------
# Run-down fits (time courses)
# --------------------------------------------------------------------------------------
def _rundown_data(doc: _Doc, ctx: dict[str, Any]) -> None:
    s = doc.section("data", "Data")
    rows, obs = ctx["rows"], ctx["observables"]
    ctx["conditions"] = []
    if not rows:
        s.alert("warn", "run.json lists no data rows.")
        return
    recs = list(dict.fromkeys(str(r.get("recording", "")) for r in rows))
    counts = {o: sum(not _is_missing(r.get(o)) for r in rows) for o in obs}
    s.p(f"{len(rows)} time points from {len(recs)} recording(s); observations per "
        "observable: " + ", ".join(f"{o} {n}" for o, n in counts.items())
        + ". Times are aligned on each recording's onset (time since onset = time - onset; "
        "negative: the baseline before the onset).")
    table = []
    for rec in recs:
        rr = [r for r in rows if str(r.get("recording")) == rec]
        t = [float(r["time_s"]) for r in rr]
        table.append([rec, _fmt(rr[0].get("onset_s")), _fmt(min(t)), _fmt(max(t)),
                      *[str(sum(not _is_missing(r.get(o)) for r in rr)) for o in obs]])
    s.table(["recording", "onset (s)", "first time (s)", "last time (s)",
             *[f"n {o}" for o in obs]], table, id="recordings-table")
    columns = ["recording", "time_s", "time_since_onset_s", *obs]
    s.table([f"{c} ({unit_of(c, ctx['units'])})" if unit_of(c, ctx["units"]) else c
             for c in columns],
            [[("" if _is_missing(r.get(c)) else str(r.get(c))) for c in columns] for r in rows],
            id="data-table", details=f"Data table ({len(rows)} rows)", open=False)


def _rundown_model(doc: _Doc, ctx: dict[str, Any]) -> None:
    s = doc.section("model", "Model, observables and priors")
    model = ctx["model"]
    mode = str(model.get("mode", ""))
    drive = ("ATP falls as exp(-t/tau_atp_s) after the onset (anoxia)" if mode == "anoxia"
             else "ouabain blocks the pump with time constant tau_block_s")
    s.kv([("model", "run-down ODE: pump–leak cell (GHK leaks, 3 Na+ out / 2 K+ in per ATP) "
                    "starting from its steady state; " + drive),
          ("mode", mode), ("gradient method", str(model.get("method", ""))),
          ("integrator", f"{model.get('ode_method', '')} (rtol {model.get('rtol', '')}, atol "
                         f"{model.get('atol', '')} mM)"),
          ("extracellular space", "finite (extracellular_fraction)" if model.get("ecs")
           else "infinite bath (K_o fixed)"),
          ("fitted parameters", ", ".join(ctx["params"])),
          ("fixed parameters", ", ".join(f"{k} = {v} {unit_of(k)}".rstrip()
                                         for k, v in (model.get("fixed") or {}).items())
           or "model defaults")], id="model-settings")
    priors = model.get("priors") or {}
    if priors:
        s.heading("Priors", id="priors")
        s.table(["parameter", "prior", "median", "sd", "unit", "source"],
                [[p, "logit-normal" if p == "extracellular_fraction" else "LogNormal",
                  _fmt(v.get("median")), _fmt(v.get("sd_log")), str(v.get("unit") or ""),
                  str(v.get("source") or "")] for p, v in priors.items()
                 if isinstance(v, Mapping)],
                id="priors-table",
                caption="LogNormal: ln θ ~ Normal(ln median, sd); logit-normal: "
                        "logit θ ~ Normal(logit median, sd).")
    s.heading("Observables and noise", id="observables")
    s.table(["observable", "unit", "likelihood"],
            [[o, unit_of(o, ctx["units"]), "Normal(trajectory at the time, sigma_" + o
              + "), sigma ~ HalfNormal"] for o in ctx["observables"]], id="observables-table")
    _model_inputs(s, model)


def _rundown_derived(doc: _Doc, ctx: dict[str, Any]) -> None:
    s = doc.section("derived", "Derived quantities: time to depolarisation and end state")
    d = ctx["info"].get("derived") or {}
    thr, end = d.get("threshold_mV"), d.get("end_time_s")
    s.p(f"For every posterior draw the run-down is solved from the onset to {_fmt(end)} s: "
        f"the time at which V first reaches {_fmt(thr)} mV, and the state at {_fmt(end)} s.")
    frac = d.get("fraction_reached")
    if isinstance(frac, int | float) and frac < 1.0:
        s.alert("warn", f"Only {100 * frac:.0f}% of the draws reach {_fmt(thr)} mV within "
                        f"{_fmt(end)} s; time_to_threshold_s is set to {_fmt(end)} s for the "
                        "others, so its summary is a lower bound.")
    lookup = _summary_lookup(ctx["summary"])
    lo, hi = _hdi_columns(ctx["summary"])
    rows = []
    for name, what in (("time_to_threshold_s", f"time from onset to V = {_fmt(thr)} mV"),
                       ("v_end_mV", "membrane potential at the end"),
                       ("na_i_end_mM", "Na_i at the end"), ("k_i_end_mM", "K_i at the end"),
                       ("k_o_end_mM", "K_o at the end")):
        r = lookup.get(name)
        if r:
            rows.append([name, what, r.get("unit", ""), r["mean"], r[lo], r[hi]])
    if rows:
        s.table(["quantity", "meaning", "unit", "mean", lo, hi], rows, id="derived-table")
    if d.get("n_failed"):
        s.alert("warn", f"{d['n_failed']} posterior draws could not be solved for the derived "
                        "quantities (left out).")


def _rundown_predictive(doc: _Doc, ctx: dict[str, Any], run_dir: Path) -> None:
    import numpy as np
    import pandas as pd

    s = doc.section("posterior-predictive", "Time courses and posterior predictive checks")
    path = run_dir / "trajectory_bands.csv"
    bands = pd.read_csv(path) if path.is_file() else None
    if bands is None or bands.empty:
        s.alert("warn", "trajectory_bands.csv is missing or empty: no time-course bands.")
    else:
        s.p("Posterior trajectories on a fine time grid (trajectory_bands.csv): the dark band "
            "is the 94% interval of the noise-free model, the light band the 94% posterior "
            "predictive interval (model plus measurement noise), the line the median. Points: "
            "the observations, one colour per recording, aligned on their onsets (dashed line).")
        _safe_figure(doc, s, "time_courses", "Observed time courses with posterior bands.",
                     lambda: _plot_rundown_bands(ctx, bands))
    cov = []
    for o in ctx["observables"]:
        got = _predictive(ctx, o)
        if got is None:
            continue
        _, pp, y = got
        q_lo, q_hi = np.quantile(pp, [0.03, 0.97], axis=0)
        inside = (y >= q_lo) & (y <= q_hi)
        cov.append([o, str(int(inside.sum())), str(y.size), f"{100 * inside.mean():.0f}%"])
    if cov:
        s.table(["observable", "inside 94% interval", "observations", "coverage"], cov,
                id="ppc-coverage-table",
                caption="Posterior predictive draws at the observed times; about 94% of the "
                        "points should fall inside.")


def _plot_rundown_bands(ctx: dict[str, Any], bands):
    plt = _pyplot()
    rows = ctx["rows"]
    quantities = list(dict.fromkeys(bands["quantity"]))
    quantities = [q for q in quantities if q in ctx["observables"]] or quantities
    recs = list(dict.fromkeys(str(r.get("recording")) for r in rows))
    colors = {rec: f"C{i % 10}" for i, rec in enumerate(recs)}
    thr = (ctx["info"].get("derived") or {}).get("threshold_mV")
    fig, axes = plt.subplots(len(quantities), 1, figsize=(7.5, 2.4 * len(quantities)),
                             sharex=True, squeeze=False)
    for ax, q in zip(axes[:, 0], quantities, strict=True):
        for band, alpha in (("predictive", 0.18), ("model", 0.45)):
            b = bands[(bands["quantity"] == q) & (bands["band"] == band)]
            if len(b):
                ax.fill_between(b["time_since_onset_s"], b["q03"], b["q97"], color="C0",
                                alpha=alpha, lw=0, label=f"94% {band}")
        b = bands[(bands["quantity"] == q) & (bands["band"] == "model")]
        if len(b):
            ax.plot(b["time_since_onset_s"], b["q50"], color="C0", lw=1.2, label="median")
        for rec in recs:
            pts = [(float(r["time_since_onset_s"]), float(r[q])) for r in rows
                   if str(r.get("recording")) == rec and not _is_missing(r.get(q))]
            if pts:
                t, y = zip(*pts, strict=True)
                ax.plot(t, y, "o", ms=2.5, color=colors[rec], label=rec)
        ax.axvline(0.0, color="0.4", ls="--", lw=0.8)
        if q == "v_rest_mV" and isinstance(thr, int | float):
            ax.axhline(thr, color="C3", ls=":", lw=0.8)
        ax.set_ylabel(f"{q} ({unit_of(q, ctx['units'])})")
    axes[0, 0].legend(fontsize=7, ncol=3, loc="best")
    axes[-1, 0].set_xlabel("time since onset (s)")
    fig.tight_layout()
    return fig


#: Reporting items of the Bayesian analysis reporting guidelines (BARG; Kruschke 2021,
#: Nat Hum Behav 5:1282) and the Bayesian workflow (Gelman et al. 2020), each with the
#: report sections (ids) that meet it, or the reason it does not apply.
BARG_ITEMS: tuple[tuple[str, str, tuple[str, ...] | str], ...] = (
    ("BARG 1", "Explain the model: likelihood, parameters and their meaning",
     ("model", "observables")),
    ("BARG 1", "Every model input, including those not set by the user", ("inputs",)),
    ("BARG 1", "Priors stated and justified (source of each)", ("priors",)),
    ("BARG 1 · Gelman 2020 §2.4", "Prior predictive check", ("prior-predictive",)),
    ("BARG 2", "Software and versions; sampler settings; random seed",
     ("versions", "run-metadata")),
    ("BARG 2", "MCMC convergence: R-hat, bulk and tail ESS of every variable",
     ("diagnostics", "posterior-summary")),
    ("BARG 2", "Divergent transitions and E-BFMI", ("diagnostics",)),
    ("BARG 2", "Trace and rank plots", ("rank-plots",)),
    ("BARG 3", "Posterior: central tendency and 94% credible interval of every parameter",
     ("posterior-summary",)),
    ("BARG 3", "Derived quantities with credible intervals", ("derived",)),
    ("BARG 3 · Gelman 2020 §6.1", "Posterior predictive checks", ("posterior-predictive",)),
    ("BARG 3", "What the data identified (prior vs posterior, correlations)",
     ("prior-posterior", "identifiability")),
    ("BARG 4", "Sensitivity of the results to the prior (power scaling)",
     ("prior-sensitivity",)),
    ("BARG 5", "Decisions (Bayes factors, ROPE)",
     "not applicable: the fit estimates parameters and tests no hypothesis; compare "
     "models with `iongrad compare` (PSIS-LOO)"),
    ("BARG 6", "Data provenance and the exact configuration, to reproduce the run",
     ("provenance", "config")),
)


def _barg_checklist(doc: _Doc) -> _Section:
    """The reporting checklist of ``doc``: for each item, links to the sections that meet
    it (present in this document) or the reason it does not apply."""
    present: set[str] = set()
    warned: set[str] = set()
    for sec in doc.sections:
        present.add(sec.id)
        for b in sec.blocks:
            if b.get("id"):
                present.add(str(b["id"]))
            if str(b.get("id") or "") in ("psens-missing", "psens-failed"):
                warned.add(sec.id)  # the analysis is absent (a flag found is a result)
    s = _Section("reporting-checklist", "Reporting checklist (BARG)")
    s.p("Where this report meets each item of the Bayesian analysis reporting guidelines "
        "(Kruschke 2021, Nature Human Behaviour 5:1282) and of the Bayesian workflow "
        "(Gelman et al. 2020).")
    rows = []
    for ref, item, where in BARG_ITEMS:
        if isinstance(where, str):
            rows.append([ref, item, where, {"text": "n/a", "status": "pass"}])
            continue
        found = [w for w in where if w in present]
        met = len(found) == len(where) and not (set(found) & warned)
        rows.append([ref, item,
                     ", ".join(f"#{w}" for w in where),
                     {"text": "met" if met else "missing", "status": "pass" if met
                      else "fail"}])
    s.table(["guideline", "item", "sections", "status"], rows, id="checklist-table")
    return s


def _fit_doc(run_dir: Path, run_folder: str, *, progress: bool = False) -> _Doc:
    ctx = _fit_context(run_dir)
    ds = (ctx["info"].get("dataset") or {}).get("name", "")
    model = ctx["model"]
    if model.get("kind") == "rundown":
        title = "Run-down fit report"
        kind = f"{model.get('mode', '')} run-down"
        sections = (_rundown_data, _rundown_model, _fit_diagnostics, _fit_summary,
                    _rundown_derived, lambda d, c: _rundown_predictive(d, c, run_dir))
    else:
        title = "Fit report"
        kind = f"{model.get('pooling', '')} pooling"
        sections = (_fit_data, _fit_model, _fit_diagnostics, _fit_summary, _fit_derived,
                    _fit_predictive)
    doc = _Doc(title=f"{title}: {ds}" if ds else title,
               subtitle=f"{kind} · parameters {', '.join(ctx['params'])} · observables "
                        f"{', '.join(ctx['observables'])}",
               source=run_folder)
    _fit_metadata(doc, ctx, run_folder)
    from tqdm import tqdm  # here: the CLI imports this module to build its parser

    sections = (*sections, _fit_prior_predictive, _fit_prior_posterior,
                _fit_prior_sensitivity, _fit_pairs, _fit_traces)
    with tqdm(sections, desc="report", unit="section", disable=not progress,
              file=sys.stderr, leave=False) as bar:
        for section in bar:
            section(doc, ctx)
    doc.sections.insert(1, _barg_checklist(doc))
    passed = ctx.get("verdict") == "pass"
    doc.verdict = {"level": "ok" if passed else "fail",
                   "text": "Diagnostics: PASS" if passed else
                   "Diagnostics: FAIL (see the diagnostics section before using these numbers)"}
    return doc


# ======================================================================================
# Sensitivity report
# ======================================================================================
def _sens_doc(run_dir: Path, run_folder: str) -> _Doc:
    import pandas as pd

    info = _read_json(run_dir / "run.json")
    cfg = info.get("config") or {}
    path = run_dir / "indices.csv"
    if not path.is_file():
        raise ConfigError(f"{str(path)!r} does not exist (a sensitivity run folder has "
                          "indices.csv)")
    idx = pd.read_csv(path, dtype=str, keep_default_na=False)
    method = info.get("method", cfg.get("method", ""))
    doc = _Doc(title=f"Sensitivity report: {info.get('model', '')} ({method})",
               subtitle=str(cfg.get("description") or ""), source=run_folder)

    s = doc.section("metadata", "Run")
    outcome = info.get("outcome") or {}
    if outcome.get("status") in ("partial", "nothing_analysed"):
        s.alert("fail" if outcome["status"] == "nothing_analysed" else "warn",
                ("No result: " if outcome["status"] == "nothing_analysed" else "Incomplete: ")
                + str(outcome.get("message", "")), id="outcome")
    conv = info.get("convergence") or {}
    s.kv([("model", str(info.get("model", ""))), ("method", str(method)),
          ("seed", str(info.get("seed", ""))), ("config hash", str(info.get("config_hash", ""))),
          ("base sample size n", str(info.get("n_final", ""))),
          ("model evaluations", str(info.get("n_evaluations", ""))),
          ("throughput", f"{_fmt(info['throughput_eval_per_s'])} evaluations/s"
           if isinstance(info.get("throughput_eval_per_s"), int | float) else "n/a"),
          ("outputs", ", ".join(map(str, cfg.get("outputs", [])))),
          ("fixed", ", ".join(f"{k} = {v}" for k, v in (cfg.get("fixed") or {}).items())
           or "model defaults"),
          ("CI target (ST half-width)", "not set" if conv.get("target_ci_halfwidth") is None
           else str(conv.get("target_ci_halfwidth"))),
          ("converged", "n/a" if conv.get("converged") is None else str(conv["converged"]))]
         + [(f"time: {k}", _fmt_duration(v)) for k, v in (info.get("timings_s") or {}).items()],
         id="run-metadata")
    versions = info.get("versions") or {}
    if versions:
        s.table(["package", "version"], [[k, str(v)] for k, v in sorted(versions.items())],
                id="versions-table")
    s.pre(json.dumps(cfg, indent=2, sort_keys=True, default=str),
          details="Resolved configuration")
    fc = cfg.get("fit_context") or {}
    from iongrad.workflows.sensitivity import fit_context_notes

    fc_notes = set(fit_context_notes(fc)) if fc else set()
    for note in info.get("notes") or []:
        if note != outcome.get("message") and note not in fc_notes:
            s.alert("info", str(note))
    if fc:
        _sens_fit_context(doc, fc)

    s = doc.section("inputs", "Inputs")
    rows = []
    for inp in cfg.get("inputs") or []:
        if inp.get("source") == "posterior":
            spec = (f"posterior draws of {inp.get('variable')} (cell {inp.get('cell')}, "
                    f"{inp.get('n_draws')} draws) from {inp.get('path')}")
        else:
            spec = ", ".join(f"{k} = {inp[k]}" for k in ("bounds", "mean", "sd", "log_mean",
                                                         "log_sd") if k in inp)
        rows.append([str(inp.get("name")), str(inp.get("unit", "")), str(inp.get("dist", "")),
                     spec])
    s.table(["input", "unit", "distribution", "specification"], rows, id="inputs-table")

    s = doc.section("indices", "Sensitivity indices")
    s.p("Indices per output (from indices.csv, shown to 3 significant digits), inputs ranked "
        "by the main index; ± is the half-width of the bootstrap confidence interval "
        f"(conf_level {cfg.get('conf_level', '')}). Second-order indices are in indices.csv.")
    main_index = {"sobol": "ST", "efast": "ST", "morris": "mu_star", "delta": "delta",
                  "pawn": "PAWN", "shapley": "Sh", "given_data": "S1"}
    for output in (dict.fromkeys(idx["output"]) if len(idx) else []):
        sub = idx[(idx["output"] == output) & (idx["parameter2"] == "")] \
            if "parameter2" in idx.columns else idx[idx["output"] == output]
        for (meth, design), part in sub.groupby(["method", "design"], sort=False):
            kinds = list(dict.fromkeys(part["index"]))
            key = main_index.get(meth, kinds[0])
            key = key if key in kinds else kinds[0]
            cell = {(r["parameter"], r["index"]): r for r in part.to_dict("records")}
            params = list(dict.fromkeys(part["parameter"]))
            params.sort(key=lambda p: -_as_float(cell.get((p, key), {}).get("value")))

            def show(r):
                if r is None:
                    return ""
                v, c = _as_float(r["value"]), _as_float(r["conf"])
                return _fmt(v) + ("" if math.isnan(c) else f" ± {_fmt(c, 2)}")
            n_rows = part["n_rows"].iloc[0] if "n_rows" in part.columns else ""
            s.heading(f"{output} ({meth}, {design} design, {n_rows} rows)",
                      id=f"indices-{_slug(output)}-{_slug(meth)}")
            s.table(["input", *kinds], [[p, *[show(cell.get((p, k))) for k in kinds]]
                                        for p in params],
                    id=f"indices-table-{_slug(output)}" if design == "main"
                    else f"indices-table-{_slug(output)}-{_slug(design)}")

    s = doc.section("plots", "Plots")
    pngs = [f for f in (info.get("files") or []) if str(f).endswith(".png")]
    if not pngs:
        pngs = sorted(p.name for p in run_dir.glob("*.png"))
    for name in pngs:
        p = run_dir / name
        if not p.is_file():
            s.alert("warn", f"plot {name} is listed in run.json but missing.")
            continue
        data = p.read_bytes()
        try:
            png_size(data)
        except ValueError:
            s.alert("warn", f"{name} is not a PNG image.", cls="plot-error")
            continue
        stem = name[:-4]
        kind = "Morris mu* against sigma (mean and spread of elementary effects)" \
            if stem.startswith("morris_") else "indices with bootstrap confidence intervals"
        s.figure(_Figure(stem, data, f"{stem}: {kind}."))

    s = doc.section("ci-widths", "Confidence interval widths and convergence")
    ci = info.get("ci_halfwidths") or {}
    rows = []
    for output, by_index in ci.items():
        for index, by_param in by_index.items():
            vals = [v for v in by_param.values() if isinstance(v, int | float)]
            if vals:
                widest = max(by_param, key=lambda k: by_param[k])
                rows.append([output, index, _fmt(max(vals)), widest, _fmt(min(vals))])
    if rows:
        s.table(["output", "index", "largest CI half-width", "for input",
                 "smallest CI half-width"], rows, id="ci-table")
    else:
        s.p("No confidence intervals were recorded.")
    hist = conv.get("history") or []
    if hist:
        s.table(["n", "evaluations", "largest ST CI half-width"],
                [[str(h.get("n")), str(h.get("n_evaluations")),
                  _fmt(h.get("max_st_ci_halfwidth"))] for h in hist], id="convergence-table")

    s = doc.section("failures", "Failures")
    fail = info.get("failures") or {}
    frac = fail.get("infeasible_fraction")
    if isinstance(frac, int | float):
        level = "ok" if frac == 0 else "warn"
        s.alert(level, f"{fail.get('n_infeasible', 0)} of {fail.get('n_samples', 0)} samples "
                       f"({100 * frac:.2f}%) had no physical steady state.",
                id="failure-fraction")
    per_out = fail.get("per_output") or {}
    if per_out:
        s.table(["output", "failed samples", "fraction"],
                [[o, str(v.get("n_failed")), f"{100 * float(v.get('fraction', 0)):.2f}%"]
                 for o, v in per_out.items()], id="failures-table")
    where = fail.get("where") or {}
    if where:
        s.p("Where failures occur: input values of failed and feasible samples (median and "
            "5–95% range). Inputs whose ranges differ most drive the failures.")
        rows = []
        for name, w in where.items():
            def rng(st):
                if not st:
                    return "—"
                return f"{_fmt(st['median'])} [{_fmt(st['q05'])}, {_fmt(st['q95'])}]"
            rows.append([name, str(w.get("unit", "")), rng(w.get("infeasible")),
                         rng(w.get("feasible"))])
        s.table(["input", "unit", "failed samples", "feasible samples"], rows,
                id="failures-where")
    handling = info.get("failure_handling") or {}
    s.heading("How failures were handled", id="failure-handling")
    s.p(f"Mode: {handling.get('mode', '')}. Infeasible samples are never passed to SALib or "
        "imputed.")
    hrows = []
    for o, h in (handling.get("outputs") or {}).items():
        hrows.append([o, {"text": str(h.get("status")),
                          "status": "fail" if h.get("status") == "skipped" else
                          "warn" if "feasible" in str(h.get("status")) else "pass"},
                      str(h.get("method") or ""), str(h.get("design") or ""),
                      str(h.get("note") or h.get("reason") or "")])
    s.table(["output", "status", "method", "design", "note"], hrows, id="handling-table")
    return doc


def _sens_fit_context(doc: _Doc, fc: Mapping[str, Any]) -> None:
    """What the run kept of the fit whose posterior it samples, and what it changed."""
    s = doc.section("fit-context", "The fit this analysis builds on")
    verdict = fc.get("fit_verdict")
    s.kv([("fit run folder", str(fc.get("run_dir", ""))),
          ("fit membrane model", str(fc.get("fit_composition") or "")),
          ("fit diagnostics", "PASS" if verdict == "pass" else "FAIL" if verdict == "fail"
           else "not recorded")], id="fit-context-summary")
    if verdict == "fail":
        s.alert("fail", "The fit FAILED its sampler diagnostics ("
                + ", ".join(map(str, fc.get("fit_failed_checks") or [])) + "): its draws may "
                "not represent the posterior, and neither may these indices.",
                id="fit-context-verdict")
    for w in fc.get("fit_identifiability_warnings") or []:
        s.alert("warn", f"From the fit: {w}")
    rows = [[k, _fmt(v, 4), unit_of(k), "kept from the fit"]
            for k, v in (fc.get("inherited") or {}).items()]
    rows += [[o["name"], _fmt(o["fit_value"], 4), unit_of(o["name"]),
              "varied here" if o["now"] == "varied" else f"fixed here to {_fmt(o['now'], 4)}"]
             for o in fc.get("overridden") or []]
    if rows:
        s.table(["parameter", "value in the fit", "unit", "in this analysis"], rows,
                id="fit-context-table",
                caption="Values the fit held fixed or evaluated at (its [fixed] values and "
                        "reference condition): kept unless this config fixes or varies them.")
    for w in fc.get("warnings") or []:
        s.alert("warn", f"Warning: {w}.")


def _as_float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", str(text)).strip("-") or "x"


# ======================================================================================
# Public API
# ======================================================================================
def write_report(run_dir: str | Path, out_dir: str | Path | None = None, *,
                 run_folder: str | Path | None = None,
                 progress: bool = False) -> tuple[Path, Path]:
    """Write ``report.html`` and ``report.md`` for a fit or sensitivity run folder.

    Parameters
    ----------
    run_dir : str or Path
        A run folder with ``run.json`` (``kind`` "fit", "sensitivity" or "compare")
        and the files that kind writes.
    out_dir : str or Path, optional
        Where to write the report (default: ``run_dir``). The Markdown figures go to
        ``out_dir/report_files/``.
    run_folder : str or Path, optional
        The run folder the report names (default: ``run_dir``). A command that writes
        its results into a temporary folder and renames it at the end passes the final
        folder here, so that the report never names the temporary one.
    progress : bool
        A progress bar on stderr over the sections of a fit report.

    Returns
    -------
    (html_path, md_path) : tuple of Path

    Raises
    ------
    ConfigError
        If the folder is not a run folder, or its kind is unknown.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ConfigError(f"run folder {str(run_dir)!r} does not exist")
    info = _read_json(run_dir / "run.json")
    kind = info.get("kind")
    shown = str(run_folder if run_folder is not None else run_dir)
    if kind == "fit":
        doc = _fit_doc(run_dir, shown, progress=progress)
    elif kind == "sensitivity":
        doc = _sens_doc(run_dir, shown)
    elif kind == "compare":
        from iongrad.workflows.compare import compare_doc

        doc = compare_doc(run_dir, shown)
    else:
        raise ConfigError(f"{str(run_dir / 'run.json')!r}: unknown run kind {kind!r}; "
                          "expected 'fit', 'sensitivity' or 'compare'")
    return _render(doc, Path(out_dir) if out_dir is not None else run_dir, "report")


def _key_results(entry: Mapping[str, Any]) -> str:
    res = entry.get("results")
    if not isinstance(res, Mapping):
        return ""
    parts = []
    if entry.get("kind") == "sensitivity":
        if isinstance(res.get("infeasible_fraction"), int | float):
            parts.append(f"infeasible {100 * res['infeasible_fraction']:.1f}%")
        for o, e in (res.get("outputs") or {}).items():
            if isinstance(e, Mapping) and e.get("ranking"):
                parts.append(f"{o}: {', '.join(map(str, e['ranking'][:3]))}")
    else:
        if isinstance(res.get("verdict"), str):
            parts.append(f"diagnostics {res['verdict']}")
        derived = res.get("posterior_means") or res.get("derived") or {}
        if isinstance(derived, Mapping):
            for k, v in derived.items():
                if isinstance(v, int | float):
                    parts.append(f"{k} {_fmt(v)}")
                elif isinstance(v, Mapping) and isinstance(v.get("mean"), int | float):
                    parts.append(f"{k} {_fmt(v['mean'])}")
        for k, v in res.items():
            if k not in ("verdict", "diagnostics", "derived", "posterior_means", "out_dir",
                         "files", "warnings") \
                    and isinstance(v, int | float | str) and len(parts) < 8:
                parts.append(f"{k} {_fmt(v) if not isinstance(v, str) else _short(v, 40)}")
        if res.get("warnings"):
            parts.append(f"{len(res['warnings'])} identifiability warning(s)")
    return "; ".join(parts)


def _failed_diagnostics(folder: Path, entry: Mapping[str, Any]) -> list[str] | None:
    """Names of the failed sampler checks of a complete fit task, ``[]`` if its
    diagnostics passed, ``None`` if it is not a fit or records no verdict.

    The verdict is read from the task's ``run.json`` (sealed with the task folder);
    the key results in the manifest are the fallback."""
    if entry.get("kind") != "fit":
        return None
    diag: Any = None
    try:
        diag = _read_json(folder / "run.json").get("diagnostics")
    except (ConfigError, OSError):
        pass
    if not isinstance(diag, Mapping) or diag.get("verdict") not in ("pass", "fail"):
        res = entry.get("results")
        diag = res.get("diagnostics") if isinstance(res, Mapping) else None
        if not isinstance(diag, Mapping) or diag.get("verdict") not in ("pass", "fail"):
            verdict = res.get("verdict") if isinstance(res, Mapping) else None
            diag = {"verdict": verdict} if verdict in ("pass", "fail") else None
    if diag is None:
        return None
    if diag["verdict"] == "pass":
        return []
    failed = [str(c.get("name")) for c in diag.get("checks") or []
              if isinstance(c, Mapping) and not c.get("passed")]
    return failed or ["verdict"]


def write_batch_index(batch_dir: str | Path) -> tuple[Path, Path]:
    """Write ``index.html`` and ``index.md`` for a batch folder.

    Every task of ``manifest.json`` is listed with its status, timings, key results
    and error line. A completed task links to its report; a missing (or older
    than the task's ``DONE.json``) report is generated into
    ``batch_dir/reports/<task-id>/`` (task folders themselves are never modified).
    A complete fit whose sampler diagnostics failed (its ``run.json`` verdict) is
    shown as complete with failed diagnostics, in its row and in the headline, never
    as a plain green "done".

    Parameters
    ----------
    batch_dir : str or Path
        A folder written by ``iongrad batch``.

    Returns
    -------
    (html_path, md_path) : tuple of Path
    """
    batch_dir = Path(batch_dir)
    manifest = _read_json(batch_dir / "manifest.json")
    tasks = [t for t in manifest.get("tasks") or [] if isinstance(t, Mapping)]
    counts = manifest.get("counts") or {}
    doc = _Doc(title=f"Batch index: {batch_dir.name}",
               subtitle=", ".join(f"{v} {k}" for k, v in counts.items() if v) or "no tasks",
               source=str(batch_dir), wide=True)
    s = doc.section("summary", "Batch")
    s.kv([("folder", str(batch_dir)), ("executor", str(manifest.get("executor", ""))),
          ("run started", str(manifest.get("run_started_at", ""))),
          ("updated", str(manifest.get("updated_at", ""))),
          ("tasks", str(len(tasks)))] + [(k, str(v)) for k, v in counts.items()],
         id="batch-metadata")
    for w in manifest.get("warnings") or []:
        s.alert("warn", str(w))
    if manifest.get("untracked_folders"):
        s.alert("info", "Complete task folders not part of this batch's configs: "
                + ", ".join(map(str, manifest["untracked_folders"])))

    rows, report_errors, diag_failed = [], [], []
    for t in tasks:
        status = str(t.get("status", ""))
        folder = batch_dir / str(t.get("folder") or f"tasks/{t.get('id')}")
        status_cell = {"text": status, "status": status}
        failed_checks = _failed_diagnostics(folder, t) \
            if status in ("done", "skipped") else None
        if failed_checks:
            diag_failed.append(str(t.get("id", "")))
            status_cell = {"text": f"{status}, diagnostics failed "
                                   f"({', '.join(failed_checks)})", "status": "warn"}
        link: Any = "—"
        if status in ("done", "skipped") and (folder / "run.json").is_file():
            try:
                link = {"text": "report", "href": _task_report(batch_dir, folder, str(t["id"]))}
            except Exception as exc:  # a broken task report must not hide the others
                report_errors.append(f"{t.get('id')}: {type(exc).__name__}: {exc}")
                link = "report failed"
        error = str(t.get("error") or "")
        err_file = batch_dir / "failed" / str(t.get("hash", "")) / "error.txt"
        error_cell: Any = error
        if error and err_file.is_file():
            error_cell = {"text": error, "href": err_file.relative_to(batch_dir).as_posix()}
        rows.append([str(t.get("id", "")), str(t.get("kind", "")), str(t.get("label", "")),
                     status_cell, str(t.get("attempts", "")),
                     _fmt_duration(t.get("duration_s")), str(t.get("finished_at") or ""),
                     _key_results(t), link, error_cell])
    s = doc.section("tasks", "Tasks")
    s.p("Status 'skipped' means the task was already complete from an earlier run of the "
        "batch and was not redone.")
    s.table(["task", "kind", "label", "status", "attempts", "duration", "finished",
             "key results", "report", "error"], rows, id="tasks-table",
            row_keys=[str(t.get("id", "")) for t in tasks])
    for e in report_errors:
        s.alert("warn", f"task report not written: {e}", cls="report-error")
    failed = sum(1 for t in tasks if t.get("status") == "failed")
    doc.verdict = {"level": "ok" if not failed else "fail",
                   "text": "All tasks complete" if not failed and tasks and all(
                       t.get("status") in ("done", "skipped") for t in tasks)
                   else f"{failed} task(s) failed" if failed else "Batch incomplete"}
    if not failed and not all(t.get("status") in ("done", "skipped") for t in tasks):
        doc.verdict["level"] = "warn"
    if diag_failed:
        # complete, but these numbers must not be used as they are: never green
        doc.verdict["text"] += (f"; {len(diag_failed)} fit(s) complete with failed "
                                "diagnostics (see their reports before using them)")
        if doc.verdict["level"] == "ok":
            doc.verdict["level"] = "warn"
        doc.sections[0].alert(
            "warn", f"{len(diag_failed)} fit(s) complete with failed sampler diagnostics "
                    f"(R-hat, ESS, divergences or E-BFMI): {', '.join(diag_failed)}. Their "
                    "posteriors are written but not reliable; see each report's advice.",
            id="diagnostics-failed")
    return _render(doc, batch_dir, "index")


def _task_report(batch_dir: Path, folder: Path, task_id: str) -> str:
    """Relative href of a task's report.html, writing it under ``reports/`` if needed."""
    if (folder / "report.html").is_file():
        return (folder / "report.html").relative_to(batch_dir).as_posix()
    out = batch_dir / "reports" / task_id
    html = out / "report.html"
    marker = folder / "DONE.json"
    if marker.is_file():
        ref_time = marker.stat().st_mtime
    else:
        ref_time = (folder / "run.json").stat().st_mtime
    if not html.is_file() or html.stat().st_mtime < ref_time:
        write_report(folder, out)
    return html.relative_to(batch_dir).as_posix()


# ======================================================================================
# CLI
# ======================================================================================
def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register ``iongrad report`` arguments on an argparse parser."""
    parser.add_argument("run_dir", metavar="RUN_DIR",
                        help="a fit or sensitivity run folder, or a batch folder "
                             "(with manifest.json)")
    parser.add_argument("--out", default=None,
                        help="folder for report.html/report.md (default: RUN_DIR)")


def _check_report_out(out: Path, run_dir: Path) -> None:
    """``--out`` of ``iongrad report``: a new folder, the run folder, a folder iongrad
    wrote, or one without report files of its own (which would be overwritten)."""
    from iongrad.workflows.config import RUN_MARKER

    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out: {str(out)!r} exists and is not a folder")
    if not out.is_dir() or out.resolve() == run_dir.resolve() or (out / RUN_MARKER).is_file():
        return
    taken = [n for n in ("report.html", "report.md", "report_files") if (out / n).exists()]
    if taken:
        raise ConfigError(f"--out: {str(out)!r} already holds {', '.join(taken)}, not "
                          "written by iongrad; choose another folder")


def run(args: argparse.Namespace) -> int:
    """Run ``iongrad report``: write the report(s) and print their paths."""
    from iongrad.workflows.config import print_report_paths

    run_dir = Path(args.run_dir)
    if not run_dir.is_dir():
        raise ConfigError(f"RUN_DIR {str(run_dir)!r} is not a folder")
    if (run_dir / "manifest.json").is_file() and not (run_dir / "run.json").is_file():
        if args.out is not None:
            raise ConfigError("--out is not supported for a batch folder (the index is "
                              "written into it)")
        html, md = write_batch_index(run_dir)
    elif (run_dir / "run.json").is_file():
        if args.out is not None:
            _check_report_out(Path(args.out), run_dir)
        html, md = write_report(run_dir, args.out)
    else:
        raise ConfigError(f"{str(run_dir)!r} has neither run.json (a run folder) nor "
                          "manifest.json (a batch folder)")
    print_report_paths(html.resolve(), md.resolve())
    return 0

