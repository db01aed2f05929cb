"""Report figures: one matplotlib style, PNG output, tick labels that do not overlap,
and a drawing failure turned into a warning block."""

from __future__ import annotations

import io
import itertools
import math
from collections.abc import Sequence

from iongrad.workflows.report.document import _Doc, _Figure, _Section


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
