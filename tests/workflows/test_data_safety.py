"""iongrad never deletes, truncates or renames away what it did not write.

Batch folders (user folders and links in ``DIR/tasks``, a ``tasks`` symlink, user
files in finished task folders, ``DIR/failed``), ``--out`` of the single-run
commands (``--force`` on an input folder or a folder iongrad did not write), the
``DONE.json`` digest, file permissions under the user's umask, Markdown escaping
and ``--out`` problems (parent is a file, name too long, read-only file system, disk
full). Files are compared by SHA-256 before and after.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import stat
from pathlib import Path

import pytest
from _batch_selftest import KIND, MODULE, assert_manifest_matches_folders, write_config

from iongrad.workflows import batch
from iongrad.workflows.cli import main

SHIPPED = Path(__file__).resolve().parents[2] / "data" / "shipped"

ISHIGAMI = """
[sensitivity]
model = "ishigami"
n = 64
seed = 0
{extra}
[inputs.x1]
bounds = [-3.14159, 3.14159]
[inputs.x2]
bounds = [-3.14159, 3.14159]
"""


@pytest.fixture(autouse=True)
def selftest_kind(monkeypatch):
    monkeypatch.setitem(batch.KINDS, KIND, MODULE)


def _digests(root: Path) -> dict[str, str]:
    """``{relative path: sha256}`` of every file under ``root`` (links: their target
    text, never followed)."""
    out = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_symlink():
            out[rel] = "link:" + os.readlink(path)
        elif path.is_file():
            out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def _user_files(folder: Path) -> dict[str, str]:
    folder.mkdir(parents=True)
    (folder / "notes.txt").write_text("patient A, do not lose\n")
    (folder / "sub").mkdir()
    (folder / "sub" / "trace.csv").write_bytes(os.urandom(2048))
    return _digests(folder)


def _batch(*argv) -> int:
    return main(["batch", *map(str, argv), "--workers", "0", "--no-progress"])


@pytest.fixture
def configs(tmp_path):
    cfg = tmp_path / "cfg"
    cfg.mkdir()
    return [write_config(cfg, name, seed=i) for i, name in enumerate(["a", "b"])]


def _one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


# ---------------------------------------------------------------------------------------
# iongrad batch
# ---------------------------------------------------------------------------------------


def test_user_folder_in_tasks_survives_and_is_reported(configs, tmp_path, capsys):
    out = tmp_path / "out"
    assert _batch(*configs, "--out", out) == 0
    before = _user_files(out / "tasks" / "patient_A")
    link_target = tmp_path / "elsewhere"
    target_digests = _user_files(link_target)
    (out / "tasks" / "linked").symlink_to(link_target)
    (out / "tasks" / ".tmp-not-ours").mkdir()  # looks like an attempt, has no marker
    (out / "tasks" / ".tmp-not-ours" / "keep.txt").write_text("mine")
    capsys.readouterr()
    assert _batch(*configs, "--out", out) == 0
    err = capsys.readouterr().err
    assert "did not write" in err and "tasks/patient_A" in err
    assert _digests(out / "tasks" / "patient_A") == before
    assert _digests(link_target) == target_digests
    assert (out / "tasks" / "linked").is_symlink()
    assert (out / "tasks" / ".tmp-not-ours" / "keep.txt").read_text() == "mine"
    manifest = json.loads((out / "manifest.json").read_text())
    assert {"tasks/patient_A", "tasks/linked", "tasks/.tmp-not-ours"} <= set(
        manifest["foreign_folders"])
    assert manifest["counts"]["skipped"] == 2


def test_foreign_folder_under_a_task_name_is_kept_and_the_task_fails(configs, tmp_path,
                                                                    capsys):
    out = tmp_path / "out"
    (task,) = batch.expand_tasks(configs[:1])
    before = _user_files(out / "tasks" / task.id)
    (out / ".batch.lock").touch()
    assert _batch(configs[0], "--out", out) == 1
    assert _digests(out / "tasks" / task.id) == before
    entry = json.loads((out / "manifest.json").read_text())["tasks"][0]
    assert entry["status"] == "failed" and "not written by iongrad" in entry["error"]


@pytest.mark.parametrize("fresh", [True, False])
def test_tasks_symlink_is_refused_and_its_target_survives(configs, tmp_path, capsys, fresh):
    out = tmp_path / "out"
    if not fresh:
        assert _batch(*configs, "--out", out) == 0
        shutil.rmtree(out / "tasks")
    else:
        out.mkdir()
    target = tmp_path / "precious"
    digests = _user_files(target)
    (target / "selftest-0123456789abcdef").mkdir()  # even a task-like name inside
    (out / "tasks").symlink_to(target)
    capsys.readouterr()
    assert _batch(*configs, "--out", out) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert str(out) in line and ("symbolic link" in line or "not a batch folder" in line)
    assert _digests(target) == digests
    assert (target / "selftest-0123456789abcdef").is_dir()


def test_non_empty_folder_that_is_not_a_batch_folder_is_refused(configs, tmp_path, capsys):
    out = tmp_path / "thesis"
    digests = _user_files(out)
    assert _batch(*configs, "--out", out) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "not a batch folder" in line and str(out) in line
    assert _digests(out) == digests


def test_user_file_in_a_finished_task_folder_goes_to_untracked(configs, tmp_path, capsys):
    out = tmp_path / "out"
    assert _batch(*configs, "--out", out) == 0
    (task,) = batch.expand_tasks(configs[:1])
    folder = out / "tasks" / task.id
    (folder / "my_analysis.txt").write_text("hours of work\n")
    (folder / "deep" / "er").mkdir(parents=True)
    (folder / "deep" / "er" / "plot.png").write_bytes(os.urandom(512))
    outside = tmp_path / "outside.txt"
    outside.write_text("the link target")
    (folder / "link_to_outside").symlink_to(outside)
    wanted = {rel: d for rel, d in _digests(folder).items()
              if rel in ("my_analysis.txt", "deep/er/plot.png", "link_to_outside")}
    taken = out / "untracked" / task.id / "my_analysis.txt"
    taken.parent.mkdir(parents=True)
    taken.write_text("an earlier one")  # never overwritten
    assert batch.check_task_folder(folder) is not None
    capsys.readouterr()
    assert _batch(*configs, "--out", out) == 0
    err = capsys.readouterr().err
    assert f"untracked/{task.id}/" in err
    assert batch.check_task_folder(folder) is None
    aside = out / "untracked" / task.id
    assert taken.read_text() == "an earlier one"
    got = _digests(aside)
    assert got["my_analysis.txt.1"] == wanted["my_analysis.txt"]
    assert got["deep/er/plot.png"] == wanted["deep/er/plot.png"]
    assert got["link_to_outside"] == wanted["link_to_outside"]
    assert outside.read_text() == "the link target"
    manifest = assert_manifest_matches_folders(out)
    assert sorted(manifest["moved_aside"]) == sorted(
        f"untracked/{task.id}/{r}" for r in ("deep/er/plot.png", "link_to_outside",
                                            "my_analysis.txt.1"))


def test_user_file_in_a_failed_folder_survives(tmp_path, capsys):
    cfg = tmp_path / "cfg"
    cfg.mkdir()
    bad = write_config(cfg, "bad", fail=True)
    out = tmp_path / "out"
    assert _batch(bad, "--out", out) == 1
    (task,) = batch.expand_tasks([bad])
    failed = out / "failed" / task.hash
    assert (failed / "error.txt").is_file()
    (failed / "my_notes.txt").write_text("why it failed")
    bad.write_text(bad.read_text())  # same config: retried, and now it succeeds
    import _batch_selftest as st

    original = st.run_config

    def ok(resolved, out_dir, *, progress=False):
        return original({KIND: {**resolved[KIND], "fail": False}}, out_dir)

    st.run_config = ok
    try:
        assert _batch(bad, "--out", out) == 0
    finally:
        st.run_config = original
    assert not (failed / "error.txt").exists()
    assert (failed / "my_notes.txt").read_text() == "why it failed"


def test_edited_done_results_are_detected_and_redone(configs, tmp_path):
    out = tmp_path / "out"
    assert _batch(*configs, "--out", out) == 0
    (task,) = batch.expand_tasks(configs[:1])
    done_path = out / "tasks" / task.id / "DONE.json"
    done = json.loads(done_path.read_text())
    true_mean = done["results"]["mean"]
    done["results"]["mean"] = 42.0
    done_path.write_text(json.dumps(done))
    assert "digest" in batch.check_task_folder(done_path.parent)
    assert _batch(*configs, "--out", out) == 0
    manifest = assert_manifest_matches_folders(out)
    entry = next(e for e in manifest["tasks"] if e["id"] == task.id)
    assert entry["status"] == "done" and entry["results"]["mean"] == true_mean


# ---------------------------------------------------------------------------------------
# single runs: --out and --force
# ---------------------------------------------------------------------------------------


@pytest.fixture
def fit_inputs(tmp_path):
    """A fit config next to its own dataset (CSV + sidecar), in ``tmp_path/D``."""
    d = tmp_path / "D"
    d.mkdir()
    for suffix in (".csv", ".json"):
        shutil.copy(SHIPPED / f"literature_despa2005_plm{suffix}", d / f"plm{suffix}")
    (d / "fit.toml").write_text(
        '[fit]\ndataset = "plm.csv"\nparameters = ["k_na_mM"]\nobservables = ["k_na_mM"]\n'
        'pooling = "complete"\nselect = { preparation = "isolated ventricular myocytes" }\n'
        "[sampler]\nseed = 1\ndraws = 20\ntune = 20\nchains = 1\nprior_draws = 10\n")
    (d / "sens.toml").write_text(ISHIGAMI.format(extra=""))
    return d


@pytest.mark.parametrize("command", ["fit", "sensitivity"])
@pytest.mark.parametrize("where", ["same", "parent", "dot", "same-no-force"])
def test_force_never_replaces_the_folder_holding_the_inputs(fit_inputs, tmp_path, capsys,
                                                            monkeypatch, command, where):
    (tmp_path / "other.txt").write_text("next to D")
    before = _digests(tmp_path)
    config = fit_inputs / ("fit.toml" if command == "fit" else "sens.toml")
    out = {"same": fit_inputs, "parent": tmp_path, "dot": Path("."),
           "same-no-force": fit_inputs}[where]
    monkeypatch.chdir(fit_inputs)
    argv = [command, str(config), "--out", str(out), "--no-progress"]
    if where != "same-no-force":
        argv.append("--force")
    assert main(argv) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "input" in line or "not empty" in line
    assert _digests(tmp_path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["D", "other.txt"]


def test_force_replaces_only_an_iongrad_folder(fit_inputs, tmp_path, capsys):
    config = fit_inputs / "sens.toml"
    mine = tmp_path / "mine"
    digests = _user_files(mine)
    assert main(["sensitivity", str(config), "--out", str(mine), "--force",
                 "--no-progress"]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "not written by iongrad" in line
    assert _digests(mine) == digests
    out = tmp_path / "run"
    assert main(["sensitivity", str(config), "--out", str(out), "--no-progress"]) == 0
    assert (out / ".iongrad-run").is_file()
    first = (out / "indices.csv").read_bytes()
    assert main(["sensitivity", str(config), "--out", str(out), "--force",
                 "--no-progress"]) == 0
    assert (out / "indices.csv").read_bytes() == first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["D", "mine", "run"]


def test_out_inside_the_input_folder_is_allowed(fit_inputs, capsys):
    out = fit_inputs / "results"
    before = _digests(fit_inputs)
    assert main(["sensitivity", str(fit_inputs / "sens.toml"), "--out", str(out),
                 "--no-progress"]) == 0
    after = _digests(fit_inputs)
    assert {k: v for k, v in after.items() if not k.startswith("results/")} == before


@pytest.mark.parametrize("problem", ["parent_is_file", "name_too_long", "erofs_mkdtemp",
                                     "enospc_replace", "proc"])
def test_out_problems_are_one_line(fit_inputs, tmp_path, capsys, monkeypatch, problem):
    config = fit_inputs / "sens.toml"
    expect = 2
    if problem == "parent_is_file":
        (tmp_path / "afile").write_text("x")
        out = tmp_path / "afile" / "out"
    elif problem == "name_too_long":
        out = tmp_path / ("x" * 300)
    elif problem == "proc":
        out = Path("/proc/iongrad-out")
    else:
        out = tmp_path / "out"
        import tempfile

        if problem == "erofs_mkdtemp":
            def boom(*a, **k):
                raise OSError(errno.EROFS, os.strerror(errno.EROFS))

            monkeypatch.setattr(tempfile, "mkdtemp", boom)
        else:
            real = os.replace

            def full(src, dst, *a, **k):
                if Path(dst) == out:
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                return real(src, dst, *a, **k)

            monkeypatch.setattr(os, "replace", full)
            expect = 1  # a failure mid-run
    before = _digests(tmp_path)
    assert main(["sensitivity", str(config), "--out", str(out), "--no-progress"]) == expect
    line = _one_error_line(capsys.readouterr().err)
    assert line.startswith("iongrad sensitivity: ")
    assert not os.path.lexists(out)
    assert _digests(tmp_path) == before
    assert not [p for p in tmp_path.iterdir() if ".tmp" in p.name]


# ---------------------------------------------------------------------------------------
# permissions and report escaping
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_files_follow_the_umask(fit_inputs, configs, tmp_path, umask):
    old = os.umask(umask)
    try:
        out = tmp_path / "run"
        assert main(["sensitivity", str(fit_inputs / "sens.toml"), "--out", str(out),
                     "--no-progress"]) == 0
        bout = tmp_path / "batch"
        assert _batch(*configs, "--out", bout) == 0
    finally:
        os.umask(old)
    checked = 0
    for root in (out, bout):
        for path in [root, *root.rglob("*")]:
            mode = stat.S_IMODE(path.lstat().st_mode)
            want = (0o777 if path.is_dir() else 0o666) & ~umask
            assert mode == want, f"{path}: {oct(mode)} != {oct(want)}"
            checked += 1
    assert (out / "run.json").is_file() and (bout / "manifest.json").is_file()
    assert checked > 10


def test_description_cannot_inject_markdown(tmp_path):
    from iongrad.workflows.report import write_report
    from iongrad.workflows.report.document import _md_escape

    assert _md_escape("cells\n# Injected") == "cells # Injected"
    assert _md_escape("# top") == "\\# top"
    assert _md_escape("1. item") == "1\\. item"
    assert _md_escape("-72.5 mV") == "-72.5 mV"
    cfg = tmp_path / "s.toml"
    cfg.write_text(ISHIGAMI.format(extra='description = "ishigami\\n# Injected\\n- item"'))
    out = tmp_path / "out"
    assert main(["sensitivity", str(cfg), "--out", str(out), "--no-progress"]) == 0
    _html, md = write_report(out)
    lines = md.read_text().splitlines()
    assert not [line for line in lines if line.startswith("# Injected")]
    assert not [line for line in lines if line.startswith("- item")]
    assert any("ishigami # Injected - item" in line for line in lines)


def test_report_out_never_overwrites_a_users_report(fit_inputs, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["sensitivity", str(fit_inputs / "sens.toml"), "--out", str(out),
                 "--no-progress"]) == 0
    theirs = tmp_path / "notebook"
    theirs.mkdir()
    (theirs / "report.md").write_text("my own report\n")
    capsys.readouterr()
    assert main(["report", str(out), "--out", str(theirs)]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "report.md" in line and str(theirs) in line
    assert (theirs / "report.md").read_text() == "my own report\n"
    fresh = tmp_path / "fresh"
    assert main(["report", str(out), "--out", str(fresh)]) == 0
    assert (fresh / "report.md").is_file()


def test_out_symlink_is_refused_and_its_target_survives(fit_inputs, tmp_path, capsys):
    target = tmp_path / "target"
    digests = _user_files(target)
    (target / ".iongrad-run").write_text("even with a marker")
    link = tmp_path / "link"
    link.symlink_to(target)
    assert main(["sensitivity", str(fit_inputs / "sens.toml"), "--out", str(link), "--force",
                 "--no-progress"]) == 2
    assert "symbolic link" in _one_error_line(capsys.readouterr().err)
    assert link.is_symlink()
    assert {k: v for k, v in _digests(target).items() if k != ".iongrad-run"} == digests


def test_rebuilding_a_report_keeps_pngs_it_did_not_write(fit_inputs, tmp_path, capsys):
    """A re-built report replaces only its own figures: a PNG of yours in report_files/
    survives byte for byte; a figure the earlier report wrote and this one lacks goes."""
    out = tmp_path / "run"
    assert main(["sensitivity", str(fit_inputs / "sens.toml"), "--out", str(out),
                 "--no-progress"]) == 0
    assert main(["report", str(out)]) == 0
    files = out / "report_files"
    ours = sorted(p.name for p in files.glob("*.png"))
    assert ours, "the sensitivity report has figures"
    mine = files / "my_annotated_figure.png"
    mine.write_bytes(b"\x89PNG\r\n\x1a\n my own notes")
    listing = files / ".iongrad-figures.json"
    stale = files / "figure_of_an_older_version.png"
    stale.write_bytes(b"\x89PNG\r\n\x1a\n")
    listing.write_text(json.dumps([*ours, stale.name]))
    before = hashlib.sha256(mine.read_bytes()).hexdigest()
    capsys.readouterr()
    assert main(["report", str(out)]) == 0
    assert hashlib.sha256(mine.read_bytes()).hexdigest() == before
    assert not stale.exists()
    assert sorted(p.name for p in files.glob("*.png")) == sorted([*ours, mine.name])
    assert json.loads(listing.read_text()) == ours
