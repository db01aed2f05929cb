"""``iongrad batch``: task expansion, validation, folders and manifest (serial executor).

The Dask executors are tested in ``test_batch_dask.py``, killed runs in
``test_batch_faults.py``. Tasks here are of the test-only ``selftest`` kind
(``_batch_selftest.py``).
"""

from __future__ import annotations

import importlib.util
import json
import sys
import types
from pathlib import Path

import pytest
from _batch_selftest import (
    KIND,
    MODULE,
    assert_manifest_matches_folders,
    log_lines,
    read_manifest,
    write_config,
)

from iongrad.models.errors import ConfigError
from iongrad.workflows import batch
from iongrad.workflows.cli import main


@pytest.fixture(autouse=True)
def selftest_kind(monkeypatch):
    monkeypatch.setitem(batch.KINDS, KIND, MODULE)


@pytest.fixture
def configs(tmp_path):
    cfg_dir = tmp_path / "cfg"
    cfg_dir.mkdir()
    return [write_config(cfg_dir, name, seed=i, log="calls.log")
            for i, name in enumerate(["a", "b", "c"])]


def _run(*argv) -> int:
    return main(["batch", *map(str, argv), "--workers", "0", "--no-progress"])


def _done_stamps(out: Path) -> dict[str, str]:
    return {p.name: json.loads((p / "DONE.json").read_text())["finished_at"]
            for p in (out / "tasks").iterdir()}


def test_all_tasks_complete_and_manifest_matches_folders(configs, tmp_path, capsys):
    out = tmp_path / "out"
    assert _run(*configs, "--out", out) == 0
    summary = capsys.readouterr().out.strip().splitlines()[-1]
    assert summary == f"iongrad batch: 3 task(s): 3 done, 0 skipped, 0 failed -> {out}"
    manifest = assert_manifest_matches_folders(out)
    assert manifest["counts"]["done"] == 3
    for entry in manifest["tasks"]:
        folder = out / entry["folder"]
        assert folder.name == f"selftest-{entry['hash']}" == entry["id"]
        done = json.loads((folder / "DONE.json").read_text())
        assert done["results"] == entry["results"]
        assert {f["path"] for f in done["files"]} == {
            "draws.npy", "result_0.json", "result_1.json", "token.txt"}
        assert entry["attempts"] == 1 and entry["error"] is None
        assert entry["duration_s"] >= 0 and entry["started_at"] <= entry["finished_at"]
    assert sorted(n for n, _ in log_lines(configs[0].parent / "calls.log")) == ["a", "b", "c"]


def test_same_config_same_folder(configs, tmp_path):
    """The folder is keyed by the resolved config: same file, same folder; the
    path of the config does not matter, its content does."""
    (a1,) = batch.expand_tasks([configs[0]])
    copy = tmp_path / "elsewhere" / "a.toml"
    copy.parent.mkdir()
    copy.write_text(configs[0].read_text().replace('log = "calls.log"', ""))
    (a2,) = batch.expand_tasks([copy])
    assert a1.hash != a2.hash  # the log path differs (resolved to an absolute path)
    copy.write_text(configs[0].read_text().replace("calls.log", "../cfg/calls.log"))
    (a3,) = batch.expand_tasks([copy])
    assert a3.hash == a1.hash and a3.id == f"selftest-{a1.hash}"


def test_rerun_skips_everything(configs, tmp_path, capsys):
    out = tmp_path / "out"
    assert _run(*configs, "--out", out) == 0
    stamps = _done_stamps(out)
    starts = log_lines(configs[0].parent / "calls.log")
    capsys.readouterr()
    assert _run(*configs, "--out", out) == 0
    assert "0 done, 3 skipped, 0 failed" in capsys.readouterr().out
    assert _done_stamps(out) == stamps
    assert log_lines(configs[0].parent / "calls.log") == starts  # nothing was invoked
    manifest = assert_manifest_matches_folders(out)
    assert {t["status"] for t in manifest["tasks"]} == {"skipped"}
    assert {t["attempts"] for t in manifest["tasks"]} == {1}
    assert all(t["results"]["name"] in "abc" for t in manifest["tasks"])


@pytest.mark.parametrize("damage", ["delete_folder", "remove_done", "truncate_file",
                                    "extra_file", "garbage_done"])
def test_only_the_damaged_task_is_redone(configs, tmp_path, damage):
    out = tmp_path / "out"
    assert _run(*configs, "--out", out) == 0
    stamps = _done_stamps(out)
    victim = sorted(stamps)[1]
    folder = out / "tasks" / victim
    if damage == "delete_folder":
        for p in sorted(folder.iterdir()):
            p.unlink()
        folder.rmdir()
    elif damage == "remove_done":
        (folder / "DONE.json").unlink()
    elif damage == "truncate_file":
        (folder / "draws.npy").write_bytes((folder / "draws.npy").read_bytes()[:-8])
    elif damage == "extra_file":
        (folder / "stray.txt").write_text("x")
    else:
        (folder / "DONE.json").write_text('{"schema": "iongrad.batch.done/1", "stat')
    assert batch.check_task_folder(folder) is not None or not folder.exists()
    starts_before = len(log_lines(configs[0].parent / "calls.log"))
    assert _run(*configs, "--out", out) == 0
    after = _done_stamps(out)
    assert after.keys() == stamps.keys()
    assert [k for k in stamps if after[k] != stamps[k]] == [victim]
    assert len(log_lines(configs[0].parent / "calls.log")) == starts_before + 1
    manifest = assert_manifest_matches_folders(out)
    status = {t["id"]: t["status"] for t in manifest["tasks"]}
    assert status.pop(victim) == "done"
    assert set(status.values()) == {"skipped"}


def test_leftover_tmp_folders_are_removed(configs, tmp_path):
    out = tmp_path / "out"
    assert _run(*configs[:1], "--out", out) == 0
    (task,) = batch.expand_tasks(configs[1:2])
    tmp = out / "tasks" / f".tmp-{task.hash}-deadbeef"
    tmp.mkdir()
    (tmp / batch.TASK_MARKER).write_text(task.hash + "\n")  # written by every attempt
    (tmp / "draws.npy").write_bytes(b"partial")
    empty = out / "tasks" / f".tmp-{task.hash}-0badc0de"  # killed before its marker
    empty.mkdir()
    assert _run(*configs[:2], "--out", out) == 0
    assert not tmp.exists() and not empty.exists()
    assert read_manifest(out)["counts"] == {"pending": 0, "running": 0, "done": 1,
                                            "failed": 0, "skipped": 1}


def test_failing_task_is_recorded_and_others_continue(tmp_path, capsys):
    cfg = tmp_path / "cfg"
    cfg.mkdir()
    paths = [write_config(cfg, "ok1", log="calls.log"),
             write_config(cfg, "bad", fail=True, log="calls.log"),
             write_config(cfg, "ok2", log="calls.log")]
    out = tmp_path / "out"
    assert _run(*paths, "--out", out) == 1
    captured = capsys.readouterr()
    assert "2 done, 0 skipped, 1 failed" in captured.out
    assert "RuntimeError: selftest task 'bad' failed as asked" in captured.err
    manifest = assert_manifest_matches_folders(out)
    (bad,) = [t for t in manifest["tasks"] if t["status"] == "failed"]
    assert bad["error"] == "RuntimeError: selftest task 'bad' failed as asked"
    assert bad["results"] is None and bad["attempts"] == 1
    text = (out / "failed" / bad["hash"] / "error.txt").read_text()
    assert "Traceback (most recent call last)" in text and "_batch_selftest.py" in text
    assert not (out / "tasks" / bad["id"]).exists()  # its partial files were discarded
    assert {t["status"] for t in manifest["tasks"] if t is not bad} == {"done"}

    # re-run: the failed task is retried (and fails again), the others are skipped
    assert _run(*paths, "--out", out) == 1
    manifest = assert_manifest_matches_folders(out)
    by_status = {t["status"]: t for t in manifest["tasks"]}
    assert by_status["failed"]["attempts"] == 2
    assert manifest["counts"]["skipped"] == 2
    assert [n for n, _ in log_lines(cfg / "calls.log")].count("bad") == 2


def test_grid_file_expands_cartesian_product(configs, tmp_path):
    grid = tmp_path / "grid.toml"
    grid.write_text('[grid]\n"selftest.param" = [0.5, 2.0]\n\n'
                    '[[grid.preset]]\nname = "lo"\nselftest.seed = 10\nselftest.n_files = 1\n\n'
                    '[[grid.preset]]\nname = "hi"\n"selftest.seed" = 20\n')
    tasks = batch.expand_tasks([configs[0]], grid=grid)
    assert len(tasks) == 4
    assert [t.overrides for t in tasks] == [
        {"selftest.param": 0.5, "selftest.seed": 10, "selftest.n_files": 1},
        {"selftest.param": 0.5, "selftest.seed": 20},
        {"selftest.param": 2.0, "selftest.seed": 10, "selftest.n_files": 1},
        {"selftest.param": 2.0, "selftest.seed": 20}]
    assert tasks[0].label == "a.toml [param=0.5, preset=lo]"
    assert tasks[3].resolved["selftest"]["param"] == 2.0
    assert tasks[3].resolved["selftest"]["seed"] == 20
    assert len({t.hash for t in tasks}) == 4
    out = tmp_path / "out"
    assert _run(configs[0], "--grid", grid, "--out", out) == 0
    manifest = assert_manifest_matches_folders(out)
    assert [t["overrides"] for t in manifest["tasks"]] == [t.overrides for t in tasks]


def test_batch_file_with_configs_and_grid(configs, tmp_path):
    batch_file = tmp_path / "batch_x.toml"
    batch_file.write_text('[batch]\ndescription = "two configs x two seeds"\n'
                          'configs = ["cfg/a.toml", "cfg/b.toml"]\n\n'
                          '[batch.grid]\n"selftest.seed" = [1, 2]\n')
    tasks = batch.expand_tasks([batch_file])
    assert [(Path(t.config_path).name, t.overrides["selftest.seed"]) for t in tasks] == [
        ("a.toml", 1), ("a.toml", 2), ("b.toml", 1), ("b.toml", 2)]
    flat = tmp_path / "batch_flat.toml"
    flat.write_text('configs = ["cfg/a.toml", "cfg/b.toml"]\n[grid]\n"selftest.seed" = [1, 2]\n')
    assert [t.hash for t in batch.expand_tasks([flat])] == [t.hash for t in tasks]


def test_duplicate_tasks_are_merged(configs, tmp_path, capsys):
    grid = tmp_path / "grid.toml"
    grid.write_text('"selftest.seed" = [0, 0, 1]\n')  # a.toml has seed 0
    tasks = batch.expand_tasks([configs[0], configs[0]], grid=grid)
    assert len(tasks) == 2
    assert "merged" in capsys.readouterr().err


BAD_CASES = {
    "unknown batch key": ('[batch]\nconfigs = ["cfg/a.toml"]\nconfig = 1\n', None,
                          r"unknown key\(s\) 'config'"),
    "missing config file": ('[batch]\nconfigs = ["cfg/nope.toml"]\n', None,
                            r"file 'cfg/nope.toml' does not exist"),
    "grid key that does not exist": (
        '[batch]\nconfigs = ["cfg/a.toml"]\n[batch.grid]\n"selftest.parm" = [1.0, 2.0]\n',
        None, r"grid key 'selftest.parm' does not exist in .*a.toml; keys there: "
              r"log, name, seed"),
    "grid key in a missing table": (
        '[batch]\nconfigs = ["cfg/a.toml"]\n[batch.grid]\n"fixed.k_o_mM" = [2.5, 4]\n',
        None, r"grid key 'fixed.k_o_mM' does not exist"),
    "empty grid axis": ('[batch]\nconfigs = ["cfg/a.toml"]\n[batch.grid]\n"selftest.seed" = []\n',
                        None, r"grid.selftest.seed: expected a non-empty array"),
    "mixed grid axis": ('[batch]\nconfigs = ["cfg/a.toml"]\n[batch.grid]\n'
                        'x = [1, {"selftest.seed" = 2}]\n', None, r"mixes tables and values"),
    "bad value from grid": ('[batch]\nconfigs = ["cfg/a.toml"]\n[batch.grid]\n'
                            '"selftest.seed" = [1, "two"]\n', None,
                            r"selftest\]\.seed: expected int, got 'two' "
                            r"\(grid point: seed=\"two\""),
    "two axes set one key": ('[batch]\nconfigs = ["cfg/a.toml"]\n[batch.grid]\n'
                             '"selftest.seed" = [1]\n[[batch.grid.p]]\n"selftest.seed" = 2\n',
                             None, r"key 'selftest.seed' is set by two grid axes"),
    "no kind section": ('[batch]\nconfigs = ["not_a_task.toml"]\n',
                        ("not_a_task.toml", "[other]\nx = 1\n"),
                        r"needs exactly one top-level section naming its kind"),
    "unknown key in one task config": (
        '[batch]\nconfigs = ["cfg/a.toml", "typo.toml"]\n',
        ("typo.toml", '[selftest]\nname = "t"\nsleep = 1\n'), r"unknown key\(s\) 'sleep'"),
    "nested batch file": ('[batch]\nconfigs = ["inner.toml"]\n',
                          ("inner.toml", 'configs = ["cfg/a.toml"]\n'), r"do not nest"),
    "kind module missing": ('[batch]\nconfigs = ["f.toml"]\n',
                            ("f.toml", "[fit]\nx = 1\n"), r"kind '(fit)' needs module"),
}


@pytest.mark.parametrize("case", list(BAD_CASES))
def test_bad_batch_config_fails_before_any_folder(case, configs, tmp_path, capsys,
                                                  monkeypatch):
    text, extra, pattern = BAD_CASES[case]
    if case == "kind module missing":
        monkeypatch.setitem(batch.KINDS, "fit", "iongrad.workflows._no_such_module")
        pattern = r"kind 'fit' needs module 'iongrad.workflows._no_such_module'"
    if extra is not None:
        (tmp_path / extra[0]).write_text(extra[1])
    batch_file = tmp_path / "batch_bad.toml"
    batch_file.write_text(text)
    out = tmp_path / "out"
    with pytest.raises(ConfigError, match=pattern):
        batch.expand_tasks([configs[1], batch_file])
    assert _run(configs[1], batch_file, "--out", out) == 2
    err = capsys.readouterr().err
    assert err.startswith("iongrad batch: error: ") and err.count("\n") == 1
    assert "batch_bad.toml" in err or (extra and extra[0] in err)
    assert not out.exists()
    assert log_lines(configs[0].parent / "calls.log") == []


def test_usage_errors(configs, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["batch", str(configs[0]), "--out", str(out), "--local",
                 "--workers", "3"]) == 2
    assert main(["batch", str(configs[0]), "--out", str(out), "--scheduler",
                 "tcp://127.0.0.1:1", "--workers", "2"]) == 2
    assert main(["batch", str(configs[0]), "--out", str(out), "--workers", "-1"]) == 2
    assert main(["batch", str(tmp_path / "missing.toml"), "--out", str(out)]) == 2
    (tmp_path / "file").write_text("")
    assert main(["batch", str(configs[0]), "--out", str(tmp_path / "file"), "--local"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 5 and all(line.startswith("iongrad batch: error: ") for line in err)
    assert not out.exists()


def test_dry_run_writes_nothing(configs, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["batch", *map(str, configs), "--out", str(out), "--dry-run"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4 and all("to run" in line for line in lines[:3])
    assert not out.exists()


def test_another_batch_in_the_same_folder_is_refused(configs, tmp_path):
    fcntl = pytest.importorskip("fcntl")
    out = tmp_path / "out"
    (out / "tasks").mkdir(parents=True)
    with open(out / ".batch.lock", "a+b") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(ConfigError, match="another 'iongrad batch' is running"):
            batch.run_batch(batch.expand_tasks(configs), out, workers=0, progress=False)


def test_report_hook_called_and_failures_become_warnings(configs, tmp_path, monkeypatch,
                                                         capsys):
    calls = []
    fake = types.ModuleType("iongrad.workflows.report")
    fake.write_batch_index = calls.append
    fake.add_arguments = lambda parser: None  # the CLI registers every subcommand
    fake.run = lambda args: 0
    monkeypatch.setitem(sys.modules, "iongrad.workflows.report", fake)
    out = tmp_path / "out"
    assert _run(*configs[:1], "--out", out) == 0
    assert calls == [out]
    assert read_manifest(out)["warnings"] == []

    def broken(batch_dir):
        raise OSError("disk full")

    fake.write_batch_index = broken
    assert _run(*configs[:1], "--out", out) == 0
    warning = "batch index report failed: OSError: disk full"
    assert read_manifest(out)["warnings"] == [warning]
    assert f"iongrad batch: warning: {warning}" in capsys.readouterr().err


def test_untracked_complete_folders_are_kept(configs, tmp_path):
    out = tmp_path / "out"
    assert _run(*configs, "--out", out) == 0
    assert _run(configs[0], "--out", out) == 0
    manifest = assert_manifest_matches_folders(out)
    assert len(manifest["tasks"]) == 1 and len(manifest["untracked_folders"]) == 2
    assert len(list((out / "tasks").iterdir())) == 3


def test_check_task_folder_rejects_a_folder_under_the_wrong_name(configs, tmp_path):
    out = tmp_path / "out"
    assert _run(*configs[:1], "--out", out) == 0
    (folder,) = (out / "tasks").iterdir()
    assert batch.check_task_folder(folder) is None
    assert "expected" in batch.check_task_folder(folder, expect_hash="0" * 16)
    moved = folder.rename(folder.with_name("selftest-" + "0" * 16))
    assert "belongs to" in batch.check_task_folder(moved)


def test_grid_key_must_have_an_effect(configs, tmp_path):
    """A key absent from the file is accepted only if the kind uses it."""
    grid = tmp_path / "grid.toml"
    grid.write_text('"notes.text" = ["x", "y"]\n')  # [notes] is ignored by selftest
    with pytest.raises(ConfigError, match=r"grid key 'notes.text' does not exist in .*a.toml"
                                          r".*\(setting it has no effect\)"):
        batch.expand_tasks([configs[0]], grid=grid)


EXAMPLES = Path(__file__).resolve().parents[2] / "workflows" / "examples"
needs_sensitivity = pytest.mark.skipif(
    importlib.util.find_spec("iongrad.workflows.sensitivity") is None
    or not (EXAMPLES / "sens_energy.toml").exists(),
    reason="iongrad.workflows.sensitivity or workflows/examples/sens_energy.toml not available")


@needs_sensitivity
def test_example_batch_cell_types_expands():
    tasks = batch.expand_tasks([EXAMPLES / "batch_cell_types.toml"])
    assert len(tasks) == 9 and {t.kind for t in tasks} == {"sensitivity"}
    by_label = {t.label: t for t in tasks}
    astro = by_label["sens_energy.toml [k_o_mM=10.0, cell_type=astrocyte]"]
    assert astro.resolved["fixed"] == {"k_o_mM": 10.0}
    bounds = {i["name"]: i["bounds"] for i in astro.resolved["inputs"]}
    assert bounds["g_k_nS"] == [10.0, 100.0]


@needs_sensitivity
def test_sensitivity_parameter_not_in_the_file_can_be_a_grid_key(tmp_path):
    grid = tmp_path / "grid.toml"
    grid.write_text('"fixed.g_cl_nS" = [0.2, 0.4]\n')  # a model parameter; [fixed] lacks it
    tasks = batch.expand_tasks([EXAMPLES / "sens_energy.toml"], grid=grid)
    assert [t.resolved["fixed"]["g_cl_nS"] for t in tasks] == [0.2, 0.4]
    grid.write_text('"fixed.g_cl_nSx" = [0.2, 0.4]\n')
    with pytest.raises(ConfigError, match=r"grid key 'fixed.g_cl_nSx' does not exist.*"
                                          r"unknown parameter 'g_cl_nSx'"):
        batch.expand_tasks([EXAMPLES / "sens_energy.toml"], grid=grid)
