"""Tests of the run reports (``iongrad report``) on real, small fit and sensitivity runs.

One fit of the shipped ``synthetic_vrest_ko`` dataset (8 cells, partial pooling,
2 chains × 50 draws) is built once per module; a second, deliberately too short fit
(10 tuning steps, 10 draws) must fail the diagnostics panel.
"""

from __future__ import annotations

import base64
import csv
import html
import json
import re
import shutil
import struct
import time
from html.parser import HTMLParser
from importlib import resources
from pathlib import Path

import pytest

from iongrad.workflows.report import write_batch_index, write_report

FIT_SECTIONS = ("metadata", "data", "model", "diagnostics", "posterior-summary", "derived",
                "posterior-predictive", "prior-posterior", "identifiability", "rank-plots")
SENS_SECTIONS = ("metadata", "inputs", "indices", "plots", "ci-widths", "failures")
PARAMS = ("g_na_nS", "g_k_nS", "pump_density_per_um2")


# --------------------------------------------------------------------------------------
# Building fit run folders
# --------------------------------------------------------------------------------------
def make_fit_run(out_dir: Path, *, draws: int = 50, tune: int = 50, seed: int = 1) -> Path:
    """Fit the shipped example config (``fit_vrest_ko.toml``) with short chains into ``out_dir``.

    ``synthetic_vrest_ko``: 8 cells, partial pooling of g_Na, g_K and pump density.
    """
    import tomllib

    from iongrad.workflows import fit

    text = resources.files("iongrad.workflows").joinpath(
        "examples/fit_vrest_ko.toml").read_text(encoding="utf-8")
    raw = tomllib.loads(text)
    raw["sampler"].update(draws=draws, tune=tune, chains=2, cores=1, seed=seed)
    out_dir.mkdir(parents=True)
    fit.run_config(fit.resolve_config(raw, out_dir), out_dir, progress=False)
    return out_dir


# --------------------------------------------------------------------------------------
# Parsing helpers
# --------------------------------------------------------------------------------------
class _Collector(HTMLParser):
    """Collects ids, images and the cells of tables (by table id)."""

    def __init__(self):
        super().__init__()
        self.ids: set[str] = set()
        self.images: list[str] = []
        self.tables: dict[str, list[list[str]]] = {}
        self.scripts = 0
        self.external: list[str] = []
        self._table: str | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "script":
            self.scripts += 1
        if tag == "img":
            self.images.append(a.get("src", ""))
        for key in ("src", "href"):
            if key in a and re.match(r"^(https?:)?//", a[key] or ""):
                self.external.append(a[key])
        if tag == "link" and a.get("rel") == "stylesheet":
            self.external.append(a.get("href", ""))
        if tag == "table" and a.get("id"):
            self._table = a["id"]
            self.tables[self._table] = []
        elif tag == "tr" and self._table:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None and self._table:
            self.tables[self._table].append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def _parse(path: Path) -> _Collector:
    c = _Collector()
    c.feed(path.read_text(encoding="utf-8"))
    return c


def _png_size(data: bytes) -> tuple[int, int]:
    """(width, height) of a PNG: with Pillow when installed, else from the IHDR chunk."""
    try:
        from PIL import Image
    except ImportError:
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
        return struct.unpack(">II", data[16:24])
    import io

    with Image.open(io.BytesIO(data)) as im:
        assert im.format == "PNG"
        im.load()  # decodes the whole image: a truncated file fails here
        return im.size


def _check_images(parsed: _Collector, minimum: int) -> None:
    assert len(parsed.images) >= minimum
    for src in parsed.images:
        assert src.startswith("data:image/png;base64,"), src[:40]
        w, h = _png_size(base64.b64decode(src.split(",", 1)[1], validate=True))
        assert w > 0 and h > 0


# --------------------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fit_run(tmp_path_factory) -> Path:
    return make_fit_run(tmp_path_factory.mktemp("fit") / "run", draws=50, tune=50, seed=1)


@pytest.fixture(scope="module")
def fit_report(fit_run) -> tuple[Path, Path]:
    return write_report(fit_run)


@pytest.fixture(scope="module")
def sens_run(tmp_path_factory) -> Path:
    import tomllib

    from iongrad.workflows.sensitivity import resolve_config, run_config

    text = resources.files("iongrad.workflows").joinpath(
        "examples/sens_morris.toml").read_text(encoding="utf-8")
    raw = tomllib.loads(text)
    raw["sensitivity"]["n"] = 10
    out = tmp_path_factory.mktemp("sens") / "run"
    run_config(resolve_config(raw, out.parent), out)
    return out


# --------------------------------------------------------------------------------------
# Fit report
# --------------------------------------------------------------------------------------
def test_fit_report_has_every_section_and_valid_images(fit_run, fit_report):
    html_path, md_path = fit_report
    assert html_path == fit_run / "report.html" and md_path == fit_run / "report.md"
    parsed = _parse(html_path)
    missing = [s for s in FIT_SECTIONS if s not in parsed.ids]
    assert not missing, f"sections missing: {missing}"
    for table in ("diagnostics-table", "summary-table", "priors-table", "data-table",
                  "ppc-coverage-table", "prior-posterior-table", "correlations-table",
                  "versions-table"):
        assert table in parsed.tables, table
    # data, derived per cell, 5 predictive plots, prior/posterior, pairs, rank plots
    _check_images(parsed, minimum=10)
    text = html_path.read_text(encoding="utf-8")
    assert 'class="alert warn plot-error"' not in text, "a figure failed to draw"
    assert parsed.scripts == 0 and not parsed.external
    assert "<link" not in text
    # plain-language derived quantities with credible intervals
    assert re.search(r"Keeping the gradients costs [-0-9.e+]+ ATP/s \(94% credible interval",
                     text)


def test_fit_report_summary_numbers_equal_summary_csv(fit_run, fit_report):
    parsed = _parse(fit_report[0])
    with open(fit_run / "summary.csv", newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        expected = {row[0]: dict(zip(header[1:], row[1:], strict=True)) for row in reader}
    shown = {}
    for tid in ("summary-table", "summary-table-cells"):
        table = parsed.tables.get(tid, [])
        if not table:
            continue
        cols = table[0]
        for row in table[1:]:
            shown[row[0]] = dict(zip(cols, row, strict=True))
    assert set(shown) == set(expected)
    numeric = [c for c in header[1:] if c != "unit"]
    assert {"mean", "sd", "hdi_3%", "hdi_97%", "r_hat", "ess_bulk", "ess_tail"} <= set(numeric)
    # printed to 4 significant digits (MCSE 2; R-hat 3 decimals; ESS whole numbers), so
    # a table never shows 45320400.0: the shown number is the CSV's, rounded
    for var, row in expected.items():
        for col in numeric:
            got, want = float(shown[var][col]), float(row[col])
            digits = re.sub(r"e.*$", "", shown[var][col]).replace("-", "").replace(".", "")
            if col.startswith("ess"):
                assert got == round(want) and "." not in shown[var][col], (var, col)
            elif col == "r_hat":
                assert abs(got - want) <= 5e-4 + 1e-12, (var, col)
            else:
                sig = 2 if col.startswith("mcse") else 4
                assert len(digits.lstrip("0")) <= sig or got == round(want), (var, col)
                assert got == pytest.approx(want, rel=0.5 * 10 ** (1 - sig), abs=1e-300), \
                    (var, col, shown[var][col], row[col])
        assert html.unescape(shown[var]["unit"]) == row["unit"] or row["unit"] == ""


def test_fit_report_markdown_twin_links_existing_pngs(fit_run, fit_report):
    md = fit_report[1].read_text(encoding="utf-8")
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert len(links) >= 10
    for link in links:
        assert link.startswith("report_files/")
        w, h = _png_size((fit_run / link).read_bytes())
        assert w > 0 and h > 0
    for title in ("## Sampler diagnostics", "## Posterior summary", "## Prior and posterior"):
        assert title in md


def test_fit_report_escapes_user_strings(fit_run, tmp_path):
    evil = "<script>alert(1)</script>"
    run = tmp_path / "evil"
    shutil.copytree(fit_run, run, ignore=shutil.ignore_patterns("report*"))
    info = json.loads((run / "run.json").read_text())
    info["dataset"]["name"] = evil
    info["dataset"]["provenance"] = {"citation": evil, "lab": "<b>lab</b> & co"}
    (run / "run.json").write_text(json.dumps(info))
    html_path, md_path = write_report(run)
    text = html_path.read_text(encoding="utf-8")
    assert evil not in text and "<b>lab</b>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    parsed = _parse(html_path)
    assert parsed.scripts == 0
    md = md_path.read_text(encoding="utf-8")
    assert evil not in md and "&lt;script&gt;" in md


def test_fit_with_too_few_draws_fails_diagnostics_with_advice(tmp_path):
    run = make_fit_run(tmp_path / "short", draws=10, tune=10, seed=2)
    html_path, _ = write_report(run)
    parsed = _parse(html_path)
    text = html_path.read_text(encoding="utf-8")
    assert "diagnostics-verdict" in parsed.ids
    assert re.search(r'class="alert fail"[^>]*id="diagnostics-verdict"', text)
    rows = {r[0]: r for r in parsed.tables["diagnostics-table"][1:]}
    failed = [r for r in rows.values() if r[3] == "FAIL"]
    assert failed, rows
    # every failing check has advice, and ESS (20 draws) cannot reach 100 per chain
    assert all(len(r[4]) > 40 for r in failed)
    assert any("ESS" in name and r[3] == "FAIL" for name, r in rows.items())
    assert "advice-list" in parsed.ids
    assert "Diagnostics: FAIL" in text


# --------------------------------------------------------------------------------------
# Sensitivity report
# --------------------------------------------------------------------------------------
def test_sensitivity_report_has_sections_tables_and_plots(sens_run):
    html_path, md_path = write_report(sens_run)
    parsed = _parse(html_path)
    missing = [s for s in SENS_SECTIONS if s not in parsed.ids]
    assert not missing, missing
    info = json.loads((sens_run / "run.json").read_text())
    pngs = [f for f in info["files"] if f.endswith(".png")]
    assert pngs
    _check_images(parsed, minimum=len(pngs))
    for output in info["config"]["outputs"]:
        table = parsed.tables[f"indices-table-{output}"]
        assert {"mu_star", "sigma"} <= set(table[0])
        inputs = [i["name"] for i in info["config"]["inputs"]]
        assert sorted(row[0] for row in table[1:]) == sorted(inputs)
    assert "handling-table" in parsed.tables and "inputs-table" in parsed.tables
    assert "failure-fraction" in parsed.ids
    md = md_path.read_text(encoding="utf-8")
    assert md.count("](report_files/") == len(pngs)


# --------------------------------------------------------------------------------------
# Batch index
# --------------------------------------------------------------------------------------
def test_batch_index_lists_tasks_with_existing_links(sens_run, tmp_path):
    batch = tmp_path / "batch"
    task = batch / "tasks" / "sensitivity-0123456789abcdef"
    shutil.copytree(sens_run, task, ignore=shutil.ignore_patterns("report*"))
    (batch / "failed" / "fedcba9876543210").mkdir(parents=True)
    (batch / "failed" / "fedcba9876543210" / "error.txt").write_text("error: boom\n")
    before = sorted(p.name for p in task.iterdir())
    manifest = {"schema": "iongrad.batch.manifest/1", "executor": "local",
                "counts": {"done": 1, "failed": 1},
                "tasks": [
                    {"id": task.name, "kind": "sensitivity", "label": "sens_morris.toml",
                     "hash": "0123456789abcdef", "folder": f"tasks/{task.name}",
                     "status": "done", "attempts": 1, "duration_s": 1.5,
                     "finished_at": "2025-01-01T00:00:00Z", "error": None,
                     "results": {"infeasible_fraction": 0.0, "outputs": {
                         "v_rest_mV": {"ranking": ["g_k_nS", "k_o_mM"]}}}},
                    {"id": "fit-fedcba9876543210", "kind": "fit",
                     "label": "<img src=x onerror=alert(1)>", "hash": "fedcba9876543210",
                     "folder": "tasks/fit-fedcba9876543210", "status": "failed",
                     "attempts": 2, "duration_s": 0.1, "error": "ConfigError: boom",
                     "results": None}]}
    (batch / "manifest.json").write_text(json.dumps(manifest))
    html_path, md_path = write_batch_index(batch)
    assert html_path == batch / "index.html" and md_path.is_file()
    # the sealed task folder is left untouched
    assert sorted(p.name for p in task.iterdir()) == before
    parsed = _parse(html_path)
    rows = {r[0]: r for r in parsed.tables["tasks-table"][1:]}
    assert set(rows) == {task.name, "fit-fedcba9876543210"}
    assert rows[task.name][3] == "done" and rows["fit-fedcba9876543210"][3] == "failed"
    assert "ConfigError: boom" in rows["fit-fedcba9876543210"][9]
    assert "g_k_nS" in rows[task.name][7]
    text = html_path.read_text(encoding="utf-8")
    assert "<img src=x" not in text
    hrefs = re.findall(r'href="([^"#]+)"', text)
    assert f"reports/{task.name}/report.html" in hrefs
    for href in hrefs:
        assert not href.startswith(("/", "http")) and (batch / href).is_file(), href
    # a second call reuses the existing task report
    report = batch / "reports" / task.name / "report.html"
    mtime = report.stat().st_mtime_ns
    write_batch_index(batch)
    assert report.stat().st_mtime_ns == mtime


def test_batch_index_flags_fits_with_failed_diagnostics(tmp_path):
    """A complete fit task whose run.json records failed sampler checks is shown as
    complete with failed diagnostics (not the green "done"), in its row and in the
    headline; a fit whose checks passed stays "done"."""
    batch = tmp_path / "batch"

    def checks(failed):
        return [{"name": n, "passed": n not in failed, "value": 1.0, "threshold": "",
                 "worst": None, "advice": ""}
                for n in ("r_hat", "ess_bulk", "ess_tail", "divergences", "bfmi")]

    entries = []
    for name, verdict, failed in (("fit-00000000000000aa", "pass", ()),
                                  ("fit-00000000000000bb", "fail", ("r_hat", "ess_bulk"))):
        folder = batch / "tasks" / name
        folder.mkdir(parents=True)
        (folder / "run.json").write_text(json.dumps(
            {"kind": "fit", "diagnostics": {"verdict": verdict, "checks": checks(failed)}}))
        (folder / "report.html").write_text("<html></html>")  # the task's own report
        entries.append({"id": name, "kind": "fit", "label": f"{name}.toml",
                        "hash": name[4:], "folder": f"tasks/{name}", "status": "done",
                        "attempts": 1, "duration_s": 2.0, "error": None,
                        "results": {"posterior_means": {"k_na_mM": 15.0}}})
    (batch / "manifest.json").write_text(json.dumps(
        {"schema": "iongrad.batch.manifest/1", "executor": "serial",
         "counts": {"done": 2}, "tasks": entries}))
    html_path, md_path = write_batch_index(batch)
    text = html_path.read_text(encoding="utf-8")
    md = md_path.read_text(encoding="utf-8")
    rows = {r[0]: r for r in _parse(html_path).tables["tasks-table"][1:]}
    assert rows["fit-00000000000000aa"][3] == "done"
    bad = "done, diagnostics failed (r_hat, ess_bulk)"
    assert rows["fit-00000000000000bb"][3] == bad
    assert f'<span class="badge warn">{bad}</span>' in text
    assert '<span class="badge done">done</span>' in text  # the passing fit
    headline = re.search(r'<p class="verdict (\w+)" id="verdict">([^<]*)</p>', text)
    assert headline.group(1) == "warn"
    assert headline.group(2) == ("All tasks complete; 1 fit(s) complete with failed "
                                 "diagnostics (see their reports before using them)")
    assert f"**{headline.group(2)}**" in md and f"**{bad}**" in md
    assert 'id="diagnostics-failed"' in text and "fit-00000000000000bb" in text


def _small_plm_config(folder: Path) -> Path:
    """The shipped K_Na-by-FXYD1 fit (``fit_literature_plm.toml``) with short chains."""
    text = resources.files("iongrad.workflows").joinpath(
        "examples/fit_literature_plm.toml").read_text(encoding="utf-8")
    short = {"draws": "draws = 60", "tune": "tune = 60", "prior_draws": "prior_draws = 40",
             "cores": "cores = 1"}
    lines = [short.get(line.split("=")[0].strip(), line) for line in text.splitlines()]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "plm.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_fit_cli_report_names_the_final_run_folder(tmp_path, capsys):
    """``iongrad fit`` writes its report in a temporary folder renamed at the end; the
    report names the final folder, never the temporary one."""
    from iongrad.workflows.cli import main

    out = tmp_path / "fit-out"
    assert main(["fit", str(_small_plm_config(tmp_path / "cfg")), "--out", str(out),
                 "--no-progress"]) == 0
    stdout = capsys.readouterr().out
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]
    html_text = (out / "report.html").read_text(encoding="utf-8")
    md_text = (out / "report.md").read_text(encoding="utf-8")
    assert ".tmp-" not in html_text and ".tmp-" not in md_text
    final = str(out.resolve())
    meta = dict(_parse(out / "report.html").tables["run-metadata"])
    assert meta["run folder"] == final
    assert f"| **run folder** | {final} |" in md_text
    assert f"from {final}." in html_text  # the footer names the run folder too
    assert f"HTML report: {out.resolve() / 'report.html'}" in stdout.splitlines()
    assert f"Markdown report: {out.resolve() / 'report.md'}" in stdout.splitlines()


def test_report_cli(sens_run, tmp_path, capsys):
    from iongrad.workflows.cli import main

    assert main(["report", str(sens_run), "--out", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    assert str((tmp_path / "r" / "report.html").resolve()) in out
    assert main(["report", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is not a folder" in err


# --------------------------------------------------------------------------------------
# End to end in a real browser (Chromium, DevTools protocol over a pipe)
# --------------------------------------------------------------------------------------
CHROMIUM = "/usr/bin/chromium"


class _DevTools:
    """Minimal Chrome DevTools protocol client over ``--remote-debugging-pipe``."""

    def __init__(self, user_data_dir: Path):
        import os
        import subprocess

        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()

        def wire():  # the browser reads commands on fd 3 and writes replies on fd 4
            r, w = os.dup(to_child_r), os.dup(from_child_w)
            os.dup2(r, 3)
            os.dup2(w, 4)

        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--hide-scrollbars", f"--user-data-dir={user_data_dir}",
             "--remote-debugging-pipe", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            close_fds=False, preexec_fn=wire)
        os.close(to_child_r)
        os.close(from_child_w)
        self._buf = b""
        self._id = 0
        self.events: list[dict] = []

    def _read(self, deadline: float) -> dict:
        import os
        import select

        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no reply from Chromium")
            ready, _, _ = select.select([self._from_child], [], [], left)
            if ready:
                chunk = os.read(self._from_child, 1 << 20)
                if not chunk:
                    raise RuntimeError("Chromium closed the DevTools pipe")
                self._buf += chunk
        msg, self._buf = self._buf.split(b"\0", 1)
        return json.loads(msg)

    def send(self, method: str, params: dict | None = None, session: str | None = None,
             timeout: float = 30.0) -> dict:
        import os

        self._id += 1
        msg = {"id": self._id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._to_child, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read(deadline)
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method: str, timeout: float = 30.0) -> dict:
        deadline = time.monotonic() + timeout
        for ev in self.events:
            if ev.get("method") == method:
                return ev
        while True:
            ev = self._read(deadline)
            self.events.append(ev)
            if ev.get("method") == method:
                return ev

    def close(self) -> None:
        import os

        try:
            self.send("Browser.close", timeout=5)
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except Exception:
            self.proc.kill()
            self.proc.wait()
        for fd in (self._to_child, self._from_child):
            try:
                os.close(fd)
            except OSError:
                pass


def test_fit_report_renders_in_chromium(fit_report, tmp_path):
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"Chromium is not installed ({CHROMIUM} missing; Debian package "
                    "'chromium'): the in-browser check of report.html was not run")
    html_path = fit_report[0].resolve()
    n_images = len(_parse(html_path).images)
    dt = _DevTools(tmp_path / "chromium-profile")
    try:
        target = dt.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = dt.send("Target.attachToTarget", {"targetId": target,
                                                    "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            dt.send(f"{domain}.enable", session=session)
        dt.send("Emulation.setDeviceMetricsOverride", {"width": 1200, "height": 900,
                                                       "deviceScaleFactor": 1,
                                                       "mobile": False}, session=session)
        dt.send("Page.navigate", {"url": html_path.as_uri()}, session=session)
        dt.wait_for("Page.loadEventFired")
        probe = ("JSON.stringify({title: document.title, sections: "
                 "Array.from(document.querySelectorAll('section')).map(s => s.id), "
                 "images: Array.from(document.images).map(i => [i.complete, i.naturalWidth, "
                 "i.naturalHeight, i.getBoundingClientRect().width])})")
        res = dt.send("Runtime.evaluate", {"expression": probe, "returnByValue": True},
                      session=session)
        page = json.loads(res["result"]["value"])
        shot = dt.send("Page.captureScreenshot", {"format": "png"}, session=session)
    finally:
        dt.close()
    assert page["title"].startswith("Fit report")
    assert set(FIT_SECTIONS) <= set(page["sections"])
    assert len(page["images"]) == n_images >= 10
    for complete, width, height, shown in page["images"]:
        assert complete and width > 0 and height > 0 and shown > 0
    errors = [e for e in dt.events if e.get("method") == "Runtime.exceptionThrown"
              or (e.get("method") == "Runtime.consoleAPICalled"
                  and e["params"].get("type") in ("error", "assert"))
              or (e.get("method") == "Log.entryAdded"
                  and e["params"]["entry"].get("level") == "error")]
    assert not errors, errors
    requests = [e["params"]["request"]["url"] for e in dt.events
                if e.get("method") == "Network.requestWillBeSent"]
    assert all(u.startswith(("file:", "data:")) for u in requests), requests
    png = base64.b64decode(shot["data"])
    w, h = _png_size(png)
    assert (w, h) == (1200, 900)
    try:
        from PIL import Image
    except ImportError:
        return
    import io

    with Image.open(io.BytesIO(png)) as im:
        colours = im.convert("L").getextrema()
    assert colours[0] < colours[1], "blank screenshot"


#: Paper sizes (inches) and their size in PDF points.
PAPERS = {"A4": ((8.27, 11.69), (595, 842)), "Letter": ((8.5, 11.0), (612, 792))}


def test_fit_report_prints_whole_on_a4_and_letter(fit_run, fit_report, tmp_path):
    """Printed to PDF (Chromium's print, as a user's browser would), the fit report keeps
    every table within the page width, expands every collapsed section and shows the
    text of every table row and of the resolved configuration."""
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"Chromium is not installed ({CHROMIUM} missing; Debian package "
                    "'chromium'): the printed report was not checked")
    pypdf = pytest.importorskip("pypdf")
    import io

    html_path = fit_report[0].resolve()
    parsed = _parse(html_path)
    text_html = html_path.read_text(encoding="utf-8")
    assert "<details" in text_html, "the report has collapsed sections to check"
    margin_in = 12 / 25.4  # @page margin
    dt = _DevTools(tmp_path / "chromium-profile")
    try:
        target = dt.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = dt.send("Target.attachToTarget", {"targetId": target,
                                                    "flatten": True})["sessionId"]
        dt.send("Page.enable", session=session)
        dt.send("Page.navigate", {"url": html_path.as_uri()}, session=session)
        dt.wait_for("Page.loadEventFired")
        pdfs, overflow = {}, {}
        for paper, ((w_in, h_in), _) in PAPERS.items():
            # the layout at this paper's printable width, in print media
            dt.send("Emulation.setEmulatedMedia", {"media": "print"}, session=session)
            dt.send("Emulation.setDeviceMetricsOverride",
                    {"width": round((w_in - 2 * margin_in) * 96), "height": 1000,
                     "deviceScaleFactor": 1, "mobile": False}, session=session)
            probe = ("JSON.stringify(Array.from(document.querySelectorAll("
                     "'table, figure img, pre')).filter(e => e.getBoundingClientRect().right "
                     "> document.documentElement.clientWidth + 1 || e.scrollWidth > "
                     "e.clientWidth + 1).map(e => e.id || e.tagName))")
            res = dt.send("Runtime.evaluate", {"expression": probe, "returnByValue": True},
                          session=session)
            overflow[paper] = json.loads(res["result"]["value"])
            pdf = dt.send("Page.printToPDF", {"paperWidth": w_in, "paperHeight": h_in,
                                              "printBackground": True,
                                              "preferCSSPageSize": False},
                          session=session, timeout=120)
            pdfs[paper] = base64.b64decode(pdf["data"])
    finally:
        dt.close()
    rows_needed = [row[0] for tid in ("summary-table-cells", "data-table", "inputs-table")
                   for row in parsed.tables[tid][1:]]
    config = json.loads((fit_run / "config.resolved.json").read_text())
    for paper, data in pdfs.items():
        assert overflow[paper] == [], f"{paper}: wider than the page: {overflow[paper]}"
        reader = pypdf.PdfReader(io.BytesIO(data))
        assert len(reader.pages) > 3
        box = reader.pages[0].mediabox
        size = (float(box.width), float(box.height))
        assert size == pytest.approx(PAPERS[paper][1], abs=1.5), (paper, size)
        flat = re.sub(r"\s+", "", "".join(p.extract_text() for p in reader.pages))
        # collapsed sections are expanded: the per-cell variables, the data table
        # (40 rows, collapsed on screen) and the resolved configuration
        missing = [r for r in rows_needed if re.sub(r"\s+", "", html.unescape(r)) not in flat]
        assert not missing, f"{paper}: table rows not printed: {missing[:5]}"
        assert '"target_accept":' in flat and f'"seed":{config["sampler"]["seed"]}' in flat
        assert "Reportingchecklist(BARG)" in flat


def test_every_model_input_is_recorded_with_its_source(fit_run, fit_report):
    """run.json lists every input of the model, also those the user did not set, with
    the value the likelihood used; the report shows them all."""
    import tomllib

    from iongrad.models import quantities
    from iongrad.models.membrane import composition

    info = json.loads((fit_run / "run.json").read_text())
    inputs = {r["name"]: r for r in info["model"]["inputs"]}
    membrane = composition("pump_leak")
    assert list(inputs) == list(membrane.parameters)
    raw = tomllib.loads(resources.files("iongrad.workflows").joinpath(
        "examples/fit_vrest_ko.toml").read_text(encoding="utf-8"))
    for name, rec in inputs.items():
        assert rec["unit"] == quantities.unit_of(name)
        if name in raw["fit"]["parameters"]:
            assert rec["source"] == "fitted" and rec["value"] is None
        elif name == "k_o_mM":  # the condition the data vary
            assert rec["source"] == "data" and rec["value"] == [2.0, 4.0, 8.0, 16.0, 32.0]
        elif name in raw["fixed"]:
            assert rec["source"] == "fixed" and rec["value"] == raw["fixed"][name]
        elif rec["source"] == "default":
            assert rec["value"] == pytest.approx(membrane.defaults()[name], rel=1e-15)
    # the hidden ones the old report left out are there, from the registry
    for name in ("area_um2", "volume_pL", "turnover_max_per_s", "a_i_mM"):
        assert inputs[name]["source"] == "default"
    parsed = _parse(fit_report[0])
    shown = [r[0] for r in parsed.tables["inputs-table"][1:]]
    assert shown == list(inputs)
    # the fitted density per µm² is relative to the unset default area: said in words
    assert "inputs-area-warning" in parsed.ids


def test_checklist_links_every_item_to_a_section(fit_report):
    parsed = _parse(fit_report[0])
    rows = parsed.tables["checklist-table"][1:]
    assert len(rows) >= 14
    for _ref, item, where, status in rows:
        if status == "n/a":
            continue
        for anchor in re.findall(r"#([a-z-]+)", where):
            assert anchor in parsed.ids, (item, anchor)
        assert status in ("met", "missing")
    by_item = {r[1]: r[3] for r in rows}
    assert by_item["Prior predictive check"] == "met"
    assert by_item["Trace and rank plots"] == "met"
    # every section the checklist names is in the printed table of contents
    assert {"prior-predictive", "prior-sensitivity", "reporting-checklist"} <= parsed.ids


def test_prior_predictive_covers_the_data(fit_run, fit_report):
    """The prior predictive table counts observations inside the central 94% interval
    of the prior predictive draws, recomputed here from posterior.nc."""
    import arviz as az
    import numpy as np

    parsed = _parse(fit_report[0])
    table = {r[0]: r for r in parsed.tables["prior-pc-table"][1:]}
    idata = az.from_netcdf(fit_run / "posterior.nc")
    for o, row in table.items():
        pp = np.asarray(idata.prior_predictive[f"{o}_obs"].values, dtype=float)
        pp = pp.reshape(-1, pp.shape[-1])
        ok = np.isfinite(pp).all(axis=1)
        lo, hi = np.quantile(pp[ok], [0.03, 0.97], axis=0)
        y = np.asarray(idata.observed_data[f"{o}_obs"].values, dtype=float)
        assert int(row[1]) == int(((y >= lo) & (y <= hi)).sum())
        assert int(row[2]) == y.size and int(row[6]) == int((~ok).sum())


@pytest.mark.parametrize(("prior", "lik", "word"), [
    (0.10, 0.10, "prior-data conflict"), (0.10, 0.01, "prior-dominated"),
    (0.01, 0.01, "weak likelihood"), (0.01, 0.10, "data-dominated"),
    (0.05, 0.049, "prior-dominated")])
def test_psens_reading(prior, lik, word):
    from iongrad.workflows.report import psens_reading

    assert psens_reading(prior, lik).startswith(word)


def test_sensitivity_over_a_fit_keeps_its_context(fit_run, tmp_path):
    """A [posterior] sensitivity run keeps the fit's fixed values and reference condition,
    warns where it varies or changes one the fit held, carries the fit's failed verdict,
    and evaluates the model at the inherited values (checked against the solver)."""
    import numpy as np
    import xarray as xr

    from iongrad.models.membrane import composition
    from iongrad.models.steady_state import steady_state_of
    from iongrad.workflows.sensitivity import resolve_config, run_config

    raw = {"sensitivity": {"model": "pump_leak", "method": "sobol", "n": 16, "seed": 3,
                           "outputs": ["atp_per_s", "v_rest_mV"], "second_order": False},
           "fixed": {"cl_o_mM": 110.0},
           "posterior": {"path": str(fit_run / "posterior.nc"), "joint": False,
                         "variables": ["g_na_nS", "g_k_nS", "pump_density_per_um2"]},
           "inputs": {"k_na_mM": {"bounds": [8.0, 33.0]}}}
    resolved = resolve_config(raw, tmp_path)
    fc = resolved["fit_context"]
    fit_info = json.loads((fit_run / "run.json").read_text())
    held = {r["name"]: r["value"] for r in fit_info["model"]["inputs"]
            if r["source"] in ("fixed", "default")}
    held.update(fit_info["derived"]["reference"])
    # kept: every value the fit used and did not estimate, at its reference condition,
    # except what this config varies or fixes
    assert fc["inherited"] == {k: v for k, v in held.items()
                               if k not in ("k_na_mM", "cl_o_mM")}
    assert fc["inherited"]["k_o_mM"] == 4.0 and fc["inherited"]["area_um2"] > 0
    assert resolved["fixed"] == {**fc["inherited"], "cl_o_mM": 110.0}
    assert {o["name"]: o["now"] for o in fc["overridden"]} == {"k_na_mM": "varied",
                                                               "cl_o_mM": 110.0}
    assert any(w.startswith("inputs.k_na_mM varies k_na_mM over 8–33 mM, but the fit held "
                            "it at 12") for w in fc["warnings"])
    assert any(w.startswith("fixed.cl_o_mM = 110 differs from the fit's 123")
               for w in fc["warnings"])
    assert fc["fit_verdict"] == "fail" and fc["fit_failed_checks"]
    out = tmp_path / "run"
    run_config(resolved, out)
    info = json.loads((out / "run.json").read_text())
    assert any("FAILED its sampler diagnostics" in n for n in info["notes"])
    # the model was evaluated at the inherited values: re-solve a few rows directly
    ds = xr.open_dataset(out / "samples.nc")
    names = ["g_na_nS", "g_k_nS", "pump_density_per_um2", "k_na_mM"]
    rows = slice(0, 6)
    params = {n: ds[n].values[rows] for n in names}
    direct = steady_state_of(composition("pump_leak"), **resolved["fixed"], **params)
    np.testing.assert_allclose(ds["atp_per_s"].values[rows], direct["atp_per_s"], rtol=1e-10)
    ds.close()
    html_path, _ = write_report(out)
    parsed = _parse(html_path)
    assert {"fit-context", "fit-context-table", "fit-context-verdict"} <= parsed.ids
    kept = {r[0]: r[3] for r in parsed.tables["fit-context-table"][1:]}
    assert kept["g_cl_nS"] == "kept from the fit" and kept["k_na_mM"] == "varied here"


def test_prior_sensitivity_table_is_az_psens_of_the_stored_groups(fit_run, fit_report):
    """The power-scaling table is az.psens on the fit's own log_prior and pointwise
    log_likelihood groups, with the reading of each pair in words."""
    import arviz as az

    from iongrad.workflows.report import psens_reading

    idata = az.from_netcdf(fit_run / "posterior.nc")
    assert {"log_prior", "log_likelihood"} <= set(idata.groups())
    # the cell-level terms of the hierarchy are not power-scaled as priors
    assert not [v for v in idata.log_prior.data_vars if str(v).endswith("_log_cell")]
    parsed = _parse(fit_report[0])
    assert "psens-table" in parsed.tables and "psens-missing" not in parsed.ids
    rows = {r[0]: r for r in parsed.tables["psens-table"][1:]}
    # reference: az.psens itself summing every term (coordinates dropped so it can stack)
    plain = az.InferenceData(
        posterior=idata.posterior,
        log_prior=idata.log_prior.reset_coords(drop=True),
        log_likelihood=idata.log_likelihood.drop_vars(
            [c for c in idata.log_likelihood.coords if c not in ("chain", "draw")]))
    def psens(component, name):
        res = az.psens(plain, component=component, var_names=[name])
        return float(res[name] if hasattr(res, "data_vars") else res)

    for name in PARAMS:
        pri, lik = psens("prior", name), psens("likelihood", name)
        assert float(rows[name][1]) == pytest.approx(pri, rel=5e-3, abs=5e-4)
        assert float(rows[name][2]) == pytest.approx(lik, rel=5e-3, abs=5e-4)
        assert rows[name][3] == psens_reading(pri, lik)
    checklist = {r[1]: r[3] for r in parsed.tables["checklist-table"][1:]}
    assert checklist["Sensitivity of the results to the prior (power scaling)"] == "met"


def test_declutter_thins_crowded_ticks_and_leaves_placed_ticks():
    """A forest-plot axis of -82.5 .. -65 mV in 3 inches gets overlapping automatic tick
    labels at 9 bins; _declutter thins them until none overlap. Ticks a plot placed
    itself (cell names) are not moved."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    from iongrad.workflows.report.figures import FIGURE_STYLE, _declutter, _tick_overlaps

    with plt.rc_context(FIGURE_STYLE):
        fig, ax = plt.subplots(figsize=(2.2, 2.0))
        ax.plot([-82.5123, -65.0321], [0, 1])
        ax.xaxis.set_major_locator(MaxNLocator(nbins=12))
        ax.set_yticks([0, 0.5, 1], ["c01", "c02", "c03"])
        fig.canvas.draw()
        assert _tick_overlaps(ax.xaxis) > 0
        assert _declutter(fig) == 0 and _tick_overlaps(ax.xaxis) == 0
        assert [t.get_text() for t in ax.get_yticklabels()] == ["c01", "c02", "c03"]
        assert len(ax.get_xticks()) >= 2
        plt.close(fig)


def test_every_fit_report_figure_has_readable_ticks(fit_run):
    """No figure of the fit report keeps overlapping tick labels."""
    from iongrad.workflows.report.fit import _fit_doc

    doc = _fit_doc(fit_run, str(fit_run))
    figures = [b for sec in doc.sections for b in sec.blocks if b.get("kind") == "figure"]
    assert len(figures) >= 10
    crowded = {b["name"]: b["overlaps"] for b in figures if b["overlaps"]}
    assert not crowded, crowded
