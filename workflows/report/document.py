"""The document model of a report (sections made of blocks) and its rendering to
self-contained HTML and to Markdown with the Jinja2 templates."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from iongrad.workflows.config import write_atomic as _write_atomic
from iongrad.workflows.report.files import png_size


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


_TEMPLATES = "templates"


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
