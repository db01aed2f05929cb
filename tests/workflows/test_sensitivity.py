"""End-to-end tests of the sensitivity workflow (resolve_config + run_config + CLI)."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest

from iongrad.workflows.registry import MODELS, ishigami_analytic
from iongrad.workflows.sensitivity import resolve_config, run_config

PI = math.pi

# Typical-neuron ranges for v_rest_mV (Hille Table 1.3 concentrations; leak
# conductances spanning a factor of ~3; pump values around iongrad.models.pump).
NEURON_INPUTS = {
    "g_k_nS": {"bounds": [0.4, 1.2]},
    "g_na_nS": {"bounds": [0.1, 0.2]},
    "k_o_mM": {"bounds": [2.5, 10.0]},
    "pump_density_per_um2": {"bounds": [800.0, 1200.0]},
    "turnover_max_per_s": {"bounds": [80.0, 120.0]},
    "k_na_mM": {"bounds": [10.0, 14.0]},
}


def _cfg(model, method, inputs, *, seed=0, **extra):
    return {"sensitivity": {"model": model, "method": method, "seed": seed, **extra},
            "inputs": inputs}


def _read(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    for r in rows:
        for k in ("value", "conf", "ci_low", "ci_high"):
            r[k] = float(r[k])
    return rows


def _idx(rows, output, index, method=None):
    return {r["parameter"]: r for r in rows if r["output"] == output and r["index"] == index
            and (method is None or r["method"] == method)}


@pytest.fixture(scope="module")
def ishigami_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("ishigami")
    cfg = _cfg("ishigami", "sobol", {f"x{i}": {"bounds": [-PI, PI]} for i in (1, 2, 3)},
               n=8192, outputs=["y"], num_resamples=100)
    res = run_config(resolve_config(cfg, out), out / "run")
    return out / "run", res


def test_ishigami_matches_analytic_indices(ishigami_run):
    # Reference: Ishigami & Homma (1990) closed form, a = 7, b = 0.1:
    # S1 = 0.3139, 0.4424, 0; ST = 0.5576, 0.4424, 0.2437.
    out, _ = ishigami_run
    ref = ishigami_analytic(7.0, 0.1)
    assert ref["S1"]["x1"] == pytest.approx(0.3139, abs=1e-4)
    assert ref["ST"]["x3"] == pytest.approx(0.2437, abs=1e-4)
    rows = _read(out / "indices.csv")
    for kind in ("S1", "ST"):
        est = _idx(rows, "y", kind)
        for p in ("x1", "x2", "x3"):
            # N = 8192 Saltelli design: absolute error 0.03, and the reported 95 % CI
            # (widened by 0.01 for the estimator's small bias) covers the truth.
            assert est[p]["value"] == pytest.approx(ref[kind][p], abs=0.03)
            assert est[p]["ci_low"] - 0.01 <= ref[kind][p] <= est[p]["ci_high"] + 0.01


def test_outputs_written_and_run_json(ishigami_run):
    out, res = ishigami_run
    for name in ("indices.csv", "samples.nc", "run.json", "sobol_y.png"):
        assert (out / name).is_file(), name
    info = json.loads((out / "run.json").read_text())
    assert info["kind"] == "sensitivity"
    assert info["seed"] == 0
    assert info["n_evaluations"] == 8192 * 5
    assert info["failures"]["n_infeasible"] == 0
    assert set(info["ci_halfwidths"]["y"]) == {"S1", "ST"}
    assert info["versions"]["SALib"]
    assert res["outputs"]["y"]["ranking"] == ["x1", "x2", "x3"]
    import xarray as xr

    with xr.open_dataset(out / "samples.nc") as ds:
        assert ds.sizes["sample"] == 8192 * 5
        assert ds["x1"].attrs["units"] == "dimensionless"
        assert float(ds["x1"].min()) >= -PI and float(ds["x1"].max()) <= PI


@pytest.fixture(scope="module")
def neuron_runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("neuron")
    runs = {}
    for method, extra in (("sobol", {"n": 2048}), ("morris", {"n": 60}),
                          ("efast", {"n": 520}), ("delta", {"n": 1024, "num_resamples": 10})):
        cfg = _cfg("pump_leak", method, NEURON_INPUTS, seed=1, outputs=["v_rest_mV"], **extra)
        run_config(resolve_config(cfg, base), base / method)
        runs[method] = _read(base / method / "indices.csv")
    return runs


def test_pump_leak_vrest_dominated_by_potassium(neuron_runs):
    # Physics: V_rest of a pump-leak cell sits near E_K, set by K_o and the K+ leak.
    st = _idx(neuron_runs["sobol"], "v_rest_mV", "ST")
    s1 = _idx(neuron_runs["sobol"], "v_rest_mV", "S1")
    top2 = sorted(st, key=lambda p: -st[p]["value"])[:2]
    assert set(top2) == {"k_o_mM", "g_k_nS"}
    for p in st:
        assert s1[p]["value"] <= st[p]["value"] + s1[p]["conf"] + st[p]["conf"]
    assert sum(r["value"] for r in s1.values()) <= 1.05


@pytest.mark.parametrize(("method", "index"), [("morris", "mu_star"), ("efast", "ST"),
                                               ("delta", "delta")])
def test_other_methods_rank_like_sobol(neuron_runs, method, index):
    est = _idx(neuron_runs[method], "v_rest_mV", index, method)
    top2 = sorted(est, key=lambda p: -est[p]["value"])[:2]
    assert set(top2) == {"k_o_mM", "g_k_nS"}
    st = _idx(neuron_runs["sobol"], "v_rest_mV", "ST")
    least_sobol = min(st, key=lambda p: st[p]["value"])
    assert least_sobol not in top2


def test_same_seed_gives_identical_indices(tmp_path):
    cfg = _cfg("pump_leak", "sobol", NEURON_INPUTS, seed=0, n=256,
               outputs=["v_rest_mV", "na_i_mM"])
    r1 = resolve_config(cfg, tmp_path)
    run_config(r1, tmp_path / "a")
    run_config(resolve_config(cfg, tmp_path), tmp_path / "b")
    a = (tmp_path / "a" / "indices.csv").read_bytes()
    assert a == (tmp_path / "b" / "indices.csv").read_bytes()
    cfg["sensitivity"]["seed"] = 1
    run_config(resolve_config(cfg, tmp_path), tmp_path / "c")
    assert a != (tmp_path / "c" / "indices.csv").read_bytes()


def test_resolved_config_is_json_and_complete(tmp_path):
    cfg = _cfg("pump_leak", "sobol", {"g_na_nS": {"bounds": [0.1, 0.2], "dist": "loguniform"},
                                      "k_na_mM": {"dist": "truncnorm", "mean": 12.0, "sd": 3.0,
                                                  "bounds": [6.0, 20.0]}})
    res = resolve_config(cfg, tmp_path)
    assert json.loads(json.dumps(res)) == res
    assert res["n"] == 1024 and res["failure_handling"] == "feasible_region"
    assert res["outputs"] == [o for o in MODELS["pump_leak"].output_names if o != "feasible"]


def test_failure_accounting_osmotic_weak_pumps(tmp_path):
    # Osmotic volume with a bath of 260 mOsm: pumps below ~8 sites/µm² cannot stop
    # the Donnan swelling, so those samples have no steady state.
    inputs = {"pump_density_per_um2": {"bounds": [1.0, 1000.0], "dist": "loguniform"},
              "g_na_nS": {"bounds": [0.1, 0.2]}}
    cfg = _cfg("pump_leak_osmotic", "sobol", inputs, seed=5, n=512, outputs=["v_rest_mV"],
               fallback_n=1024, num_resamples=20)
    cfg["fixed"] = {"osm_o_mOsm": 260.0}
    out = tmp_path / "osm"
    summary = run_config(resolve_config(cfg, tmp_path), out)
    info = json.loads((out / "run.json").read_text())
    import xarray as xr

    with xr.open_dataset(out / "samples.nc") as ds:
        feasible = ds["feasible"].values.astype(bool)
        dens = ds["pump_density_per_um2"].values
        v = ds["v_rest_mV"].values
    n_bad = int((~feasible).sum())
    assert 0 < n_bad < feasible.size
    assert np.isnan(v[~feasible]).all() and np.isfinite(v[feasible]).all()
    fail = info["failures"]
    assert fail["n_infeasible"] == n_bad
    assert fail["per_output"]["v_rest_mV"] == {"n_failed": n_bad,
                                               "fraction": n_bad / feasible.size}
    where = fail["where"]["pump_density_per_um2"]
    assert where["infeasible"]["mean"] == pytest.approx(dens[~feasible].mean())
    assert where["infeasible"]["median"] < where["feasible"]["q05"]
    assert dens[~feasible].max() < 20.0  # weak pumps only
    hnd = info["failure_handling"]["outputs"]
    assert hnd["v_rest_mV"]["status"] == "analysed_feasible_region"
    assert hnd["feasible"]["status"] == "analysed"
    rows = _read(out / "indices.csv")
    assert {r["method"] for r in rows if r["output"] == "v_rest_mV"} == {"delta", "pawn"}
    assert {r["design"] for r in rows if r["output"] == "v_rest_mV"} == {
        "fallback_feasible_rows"}
    feas_st = _idx(rows, "feasible", "ST")
    assert max(feas_st, key=lambda p: feas_st[p]["value"]) == "pump_density_per_um2"
    assert (out / "samples_fallback.nc").is_file()
    assert summary["infeasible_fraction"] == pytest.approx(n_bad / feasible.size)
    assert all(math.isfinite(r["value"]) for r in rows)

    # "indicator" mode: the output is skipped, not analysed on a subset.
    cfg["sensitivity"]["failure_handling"] = "indicator"
    run_config(resolve_config(cfg, tmp_path), tmp_path / "ind")
    info = json.loads((tmp_path / "ind" / "run.json").read_text())
    assert info["failure_handling"]["outputs"]["v_rest_mV"]["status"] == "skipped"
    rows = _read(tmp_path / "ind" / "indices.csv")
    assert {r["output"] for r in rows} == {"feasible"}


def test_posterior_inputs(tmp_path):
    import xarray as xr

    rng = np.random.default_rng(3)
    post = xr.Dataset({
        "g_k_nS": (("chain", "draw"), rng.lognormal(np.log(0.6), 0.2, (2, 200))),
        "g_na_nS": (("chain", "draw", "cell"), rng.lognormal(np.log(0.15), 0.2, (2, 200, 3))),
    })
    path = tmp_path / "fit" / "posterior.nc"
    path.parent.mkdir()
    post.to_netcdf(path, group="posterior")
    cfg = _cfg("pump_leak", "sobol", {"k_o_mM": {"bounds": [3.0, 6.0]}}, n=256,
               outputs=["v_rest_mV"])
    cfg["posterior"] = {"path": "fit/posterior.nc", "variables": ["g_k_nS", "g_na_nS"],
                        "cell": 1}
    res = resolve_config(cfg, tmp_path)
    assert res["inputs"][1]["path"] == str(path.resolve())
    run_config(res, tmp_path / "out")
    info = json.loads((tmp_path / "out" / "run.json").read_text())
    assert any("correlations" in n for n in info["notes"])
    with xr.open_dataset(tmp_path / "out" / "samples.nc") as ds:
        gk = ds["g_k_nS"].values
    draws = post["g_k_nS"].values
    assert draws.min() <= gk.min() and gk.max() <= draws.max()
    assert np.median(gk) == pytest.approx(np.median(draws), rel=0.05)


def test_cli_writes_the_report_and_prints_its_path(tmp_path, capsys):
    """``iongrad sensitivity`` on a shipped example writes report.html and report.md with
    one index table per output (the numbers of indices.csv) and prints both paths."""
    import html as html_lib
    import re
    import tomllib

    from iongrad.workflows.cli import main
    from iongrad.workflows.report.tables import _fmt

    example = Path(__file__).resolve().parents[2] / "workflows" / "examples" / "sens_energy.toml"
    text = example.read_text(encoding="utf-8")
    outputs = tomllib.loads(text)["sensitivity"]["outputs"]
    assert len(outputs) == 3
    cfg = tmp_path / "sens_energy.toml"
    cfg.write_text(re.sub(r"(?m)^n = \d+", "n = 64", text), encoding="utf-8")
    out = tmp_path / "energy"
    assert main(["sensitivity", str(cfg), "--out", str(out), "--no-progress"]) == 0
    stdout = capsys.readouterr().out
    report_html, report_md = out / "report.html", out / "report.md"
    assert f"HTML report: {report_html.resolve()}" in stdout.splitlines()
    assert f"Markdown report: {report_md.resolve()}" in stdout.splitlines()
    page = report_html.read_text(encoding="utf-8")
    md = report_md.read_text(encoding="utf-8")
    assert ".tmp-" not in page and ".tmp-" not in md  # names the final folder
    rows = _read(out / "indices.csv")
    for output in outputs:
        st = _idx(rows, output, "ST", "sobol")
        assert set(st) == set(tomllib.loads(text)["inputs"])
        assert f'id="indices-table-{output}"' in page
        top = max(st.values(), key=lambda r: r["value"])
        cell = f"{_fmt(top['value'])} ± {_fmt(top['conf'], 2)}"
        # the top input's row of this output's table, in both twins
        table = page.split(f'id="indices-table-{output}"', 1)[1].split("</table>", 1)[0]
        assert html_lib.escape(cell) in table and top["parameter"] in table
        assert re.search(rf"### {output} \(sobol, main design, \d+ rows\)", md)
        assert cell in md.split(f"### {output} (sobol", 1)[1].split("###", 1)[0]


def test_joint_posterior_indices_follow_the_posterior_ridge(tmp_path):
    """A posterior that identifies only g_Na/g_K (log-correlation 0.995) and leaves the pump
    density free: on the joint draws the ratio hardly varies, so the pump density carries
    most of the resting potential's variance (largest Shapley effect), while independent
    marginals break the ridge and rank a conductance first — and the notes say so. The
    joint sample is the posterior's own draws, row by row."""
    import xarray as xr

    rng = np.random.default_rng(7)
    z = rng.multivariate_normal([0, 0], [[1, 0.995], [0.995, 1]], (2, 1500))
    post = xr.Dataset({
        "g_k_nS": (("chain", "draw"), 0.6 * np.exp(0.25 * z[..., 0])),
        "g_na_nS": (("chain", "draw"), 0.15 * np.exp(0.25 * z[..., 1])),
        "pump_density_per_um2": (("chain", "draw"),
                                 1000 * np.exp(0.6 * rng.normal(size=(2, 1500)))),
    })
    path = tmp_path / "fit" / "posterior.nc"
    path.parent.mkdir()
    post.to_netcdf(path, group="posterior")
    cfg = _cfg("pump_leak", "sobol", {}, n=512, outputs=["v_rest_mV"], num_resamples=50)
    cfg["posterior"] = {"path": "fit/posterior.nc", "joint_n": 2000,
                        "joint_methods": ["shapley", "given_data", "pawn", "delta"],
                        "variables": ["g_k_nS", "g_na_nS", "pump_density_per_um2"]}
    res = resolve_config(cfg, tmp_path)
    assert res["joint"] == {"n": 2000, "methods": ["shapley", "given_data", "pawn", "delta"]}
    run_config(res, tmp_path / "out")
    rows = _read(tmp_path / "out" / "indices.csv")
    sh = _idx(rows, "v_rest_mV", "Sh", "shapley")
    st = _idx(rows, "v_rest_mV", "ST", "sobol")
    assert sum(r["value"] for r in sh.values()) == pytest.approx(1.0, abs=1e-9)
    assert max(sh, key=lambda k: sh[k]["value"]) == "pump_density_per_um2"
    assert max(st, key=lambda k: st[k]["value"]) in ("g_k_nS", "g_na_nS")
    s1 = _idx(rows, "v_rest_mV", "S1", "given_data")
    assert all(r["design"] == "joint_posterior" and r["ci_low"] <= r["value"] <= r["ci_high"]
               for r in (*sh.values(), *s1.values()))
    # moment-independent indices on the same joint draws agree on the ranking
    for index, method in (("PAWN", "pawn"), ("delta", "delta")):
        mi = {k: r for k, r in _idx(rows, "v_rest_mV", index, method).items()
              if r["design"] == "joint_posterior"}
        assert set(mi) == set(sh)
        assert max(mi, key=lambda k: mi[k]["value"]) == "pump_density_per_um2", (index, mi)
    info = json.loads((tmp_path / "out" / "run.json").read_text())
    assert any("on the joint posterior pump_density_per_um2 ranks first" in n
               for n in info["notes"])
    assert info["joint_posterior"]["n_rows"] == 2000
    with xr.open_dataset(tmp_path / "out" / "samples_joint.nc") as ds:
        gk, gna = ds["g_k_nS"].values, ds["g_na_nS"].values
    flat_k, flat_na = post["g_k_nS"].values.ravel(), post["g_na_nS"].values.ravel()
    where = {v: i for i, v in enumerate(flat_k)}
    assert all(flat_na[where[a]] == b for a, b in zip(gk, gna, strict=True))


def test_ranking_resolution_says_when_intervals_do_not_separate_the_top_inputs(tmp_path):
    """Ishigami ST: x1 (0.558) above x2 (0.442). At n = 64 the bootstrap intervals overlap,
    the run says the order is unresolved and how large n would need to be (half-widths
    shrinking as 1/sqrt(n)); at n = 8192 (the module's reference run) it is resolved."""
    from iongrad.workflows.sensitivity import ranking_resolution

    rows = [{"output": "y", "method": "sobol", "index": "ST", "parameter": p,
             "parameter2": "", "value": v, "ci_low": v - h, "ci_high": v + h,
             "design": "main"} for p, v, h in (("a", 0.5, 0.1), ("b", 0.4, 0.05),
                                              ("c", 0.1, 0.01))]
    (r,) = ranking_resolution(rows, {"main": 100})
    assert (r["first"], r["second"], r["resolved"]) == ("a", "b", False)
    assert r["n_needed"] == math.ceil(100 * (0.15 / 0.1) ** 2)
    rows[1]["value"], rows[1]["ci_low"], rows[1]["ci_high"] = 0.2, 0.15, 0.25
    assert ranking_resolution(rows, {"main": 100})[0]["resolved"]

    cfg = _cfg("ishigami", "sobol", {f"x{i}": {"bounds": [-PI, PI]} for i in (1, 2, 3)},
               n=64, outputs=["y"], num_resamples=100, seed=3)
    run_config(resolve_config(cfg, tmp_path), tmp_path / "small")
    info = json.loads((tmp_path / "small" / "run.json").read_text())
    (res,) = [x for x in info["ranking_resolution"] if x["method"] == "sobol"]
    assert {res["first"], res["second"]} == {"x1", "x2"}
    assert not res["resolved"] and res["n_needed"] > 64
    assert any("not resolved" in n and "x1" in n for n in info["notes"])


def test_ranking_resolution_of_the_reference_run(ishigami_run):
    info = json.loads((ishigami_run[0] / "run.json").read_text())
    (res,) = [x for x in info["ranking_resolution"] if x["method"] == "sobol"]
    assert (res["first"], res["second"], res["resolved"]) == ("x1", "x2", True)
