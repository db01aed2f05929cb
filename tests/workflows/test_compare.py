"""``iongrad compare``: PSIS-LOO of fits of the same data, and the pointwise
log-likelihood every fit stores.

Two quick fits of a small synthetic dataset (6 cells in two groups whose pump
densities differ four-fold, resting potential and Na_i at two [K]o, known noise):
pump density per cell (pooling "none", the structure that generated the data) and
one pump density for every cell (pooling "complete", a clearly wrong structure).
Only the pump density is free and the noise is known, so each fit samples in seconds.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import arviz as az
import numpy as np
import pandas as pd
import pytest
from scipy.special import logsumexp

from iongrad.models.steady_state import solve_steady_state
from iongrad.workflows import cli, fit
from iongrad.workflows.compare import PARETO_K_MAX, compare_runs

# two groups of cells: any one pump density misses every cell's Na_i by a similar amount
PUMP = {"a": 500.0, "b": 550.0, "c": 600.0, "d": 1800.0, "e": 2000.0, "f": 2200.0}
K_O = (4.0, 8.0)
SIGMA = {"v_rest_mV": 1.0, "na_i_mM": 0.5}

SIDECAR = {
    "name": "six_pumps",
    "description": "6 cells, two groups of pump densities (synthetic)",
    "provenance": {"lab": "synthetic", "date": "2025-01-01", "licence": "CC0-1.0"},
    "cell_column": "cell",
    "columns": {
        "cell": {"role": "id", "quantity": "cell"},
        "k_o": {"role": "condition", "quantity": "k_o_mM", "unit": "mM"},
        "v": {"role": "observable", "quantity": "v_rest_mV", "unit": "mV"},
        "na": {"role": "observable", "quantity": "na_i_mM", "unit": "mM"},
    },
}


def _write_dataset(folder: Path, shift_v: float = 0.0) -> Path:
    cells = [c for c in PUMP for _ in K_O]
    k_o = np.array([k for _ in PUMP for k in K_O])
    ss = solve_steady_state(pump_density_per_um2=np.array([PUMP[c] for c in cells]),
                            k_o_mM=k_o)
    rng = np.random.default_rng(7)
    v = ss.v_rest_mV + rng.normal(0, SIGMA["v_rest_mV"], k_o.size) + shift_v
    na = ss.na_i_mM + rng.normal(0, SIGMA["na_i_mM"], k_o.size)
    frame = pd.DataFrame({"cell": cells, "k_o": k_o, "v": np.round(v, 3),
                          "na": np.round(na, 3)})
    csv = folder / "six_pumps.csv"
    csv.write_text(frame.to_csv(index=False), encoding="utf-8")
    (folder / "six_pumps.json").write_text(json.dumps(SIDECAR), encoding="utf-8")
    return csv


def _config(csv: Path, pooling: str) -> dict:
    return {
        "fit": {"dataset": str(csv), "parameters": ["pump_density_per_um2"],
                "pooling": pooling},
        "noise": {o: {"sigma": s} for o, s in SIGMA.items()},
        "sampler": {"seed": 3, "draws": 200, "tune": 200, "chains": 2, "cores": 1,
                    "prior_draws": 20},
    }


def _fit(raw: dict, out: Path) -> Path:
    out.mkdir(parents=True)
    fit.run_config(fit.resolve_config(raw, out.parent), out, progress=False)
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("compare")
    csv = _write_dataset(base)
    return {"per_cell": _fit(_config(csv, "none"), base / "per_cell"),
            "pooled": _fit(_config(csv, "complete"), base / "pooled")}


@pytest.fixture(scope="module")
def compared(runs, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cmp_out") / "cmp"
    code = cli.main(["compare", str(runs["pooled"]), str(runs["per_cell"]), "--out",
                     str(out)])
    assert code == 0
    return out


def test_log_likelihood_has_named_row_dims_with_the_data_rows(runs):
    idata = az.from_netcdf(runs["per_cell"] / "posterior.nc")
    rows = json.loads((runs["per_cell"] / "run.json").read_text())["rows"]
    ll = idata.log_likelihood
    assert sorted(ll.data_vars) == ["na_i_mM_obs", "v_rest_mV_obs"]
    for o in ("v_rest_mV", "na_i_mM"):
        da = ll[f"{o}_obs"]
        assert da.dims == ("chain", "draw", f"{o}_obs_row")
        assert not any(d.endswith("_dim_0") for d in da.dims)
        want = [r for r in rows if r.get(o) is not None]
        assert da[f"{o}_obs_row"].values.tolist() == [r["data_row"] for r in want]
        assert da[f"{o}_obs_cell"].values.tolist() == [r["cell"] for r in want]
        assert da[f"{o}_obs_condition"].values.tolist() == [
            f"k_o_mM={r['k_o_mM']:g}" for r in want]
        # the observed data carry the same labels, and the values of the data
        obs = idata.observed_data[f"{o}_obs"]
        assert obs[f"{o}_obs_cell"].values.tolist() == [r["cell"] for r in want]
        np.testing.assert_array_equal(obs.values, [r[o] for r in want])
    # the pointwise values are the normal log-density of each observation at each draw
    post = idata.posterior["pump_density_per_um2_cell"]
    assert post.dims == ("chain", "draw", "cell")
    assert np.all(ll["v_rest_mV_obs"].values <= -0.5 * np.log(2 * np.pi * SIGMA["v_rest_mV"]
                                                               ** 2) + 1e-12)


def test_loo_elpd_is_the_sum_of_the_pointwise_values(runs, compared):
    result = compare_runs([runs["per_cell"], runs["pooled"]])
    for name, res in result["loo"].items():
        assert res.n_data_points == 24  # 12 rows x 2 observables
        np.testing.assert_allclose(float(res.elpd_loo), float(res.loo_i.sum()), rtol=1e-12)
        # and the LOO estimate is below the in-sample log predictive density
        ll = az.from_netcdf(Path(result["dirs"][result["names"].index(name)])
                            / "posterior.nc").log_likelihood
        lppd = sum(float((logsumexp(ll[v].values, axis=(0, 1))
                          - np.log(ll.sizes["chain"] * ll.sizes["draw"])).sum())
                   for v in ll.data_vars)
        assert float(res.elpd_loo) < lppd
    table = pd.read_csv(compared / "comparison.csv")
    point = pd.read_csv(compared / "pointwise.csv")
    for _, r in table.iterrows():
        np.testing.assert_allclose(point[f"elpd_loo_i[{r['run']}]"].sum(), r["elpd_loo"],
                                   rtol=1e-10)


def test_compare_table_is_ordered_by_elpd_and_the_wrong_structure_loses(compared):
    table = pd.read_csv(compared / "comparison.csv")
    assert table["rank"].tolist() == [1, 2]
    assert table["elpd_loo"].is_monotonic_decreasing
    np.testing.assert_allclose(table["elpd_diff"], table["elpd_loo"].iloc[0]
                               - table["elpd_loo"], rtol=1e-10, atol=1e-10)
    # one pump density for two groups of cells that differ four-fold cannot predict their
    # Na_i:
    # the structure that generated the data wins, by more than two standard errors
    assert table["run"].tolist() == ["per_cell", "pooled"]
    assert table["elpd_diff"].iloc[1] > 2 * table["dse"].iloc[1]
    assert table["weight"].iloc[0] > 0.9


def test_outputs_exist_and_run_json_records_the_comparison(compared, runs):
    for name in ("comparison.csv", "pointwise.csv", "report.html", "report.md"):
        assert (compared / name).stat().st_size > 0
    for stem in ("comparison", "pareto_k"):
        assert (compared / f"{stem}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert b"<svg" in (compared / f"{stem}.svg").read_bytes()[:2000]
    info = json.loads((compared / "run.json").read_text())
    assert info["kind"] == "compare" and info["n_observations"] == 24
    assert [r["name"] for r in info["runs"]] == ["pooled", "per_cell"]
    assert {r["run_dir"] for r in info["runs"]} == {str(p.resolve()) for p in runs.values()}
    assert [r["run"] for r in info["comparison"]] == ["per_cell", "pooled"]
    for r in info["runs"]:
        ks = r["pareto_k_above_0.7"]
        assert all(o["pareto_k"] > PARETO_K_MAX and o["cell"] in PUMP for o in ks)
    html = (compared / "report.html").read_text(encoding="utf-8")
    assert "per_cell" in html and "pooled" in html and "Pareto k" in html
    assert not list(compared.parent.glob(".cmp.tmp-*"))  # no temporary folder left


def _copy_run(src: Path, dst: Path, change) -> Path:
    shutil.copytree(src, dst)
    idata = az.from_netcdf(src / "posterior.nc")
    idata.load()
    change(idata)
    (dst / "posterior.nc").unlink()
    idata.to_netcdf(str(dst / "posterior.nc"))
    return dst


def test_refuses_runs_fitted_to_different_data(runs, tmp_path):
    def shift(idata):
        idata.observed_data["v_rest_mV_obs"] = idata.observed_data["v_rest_mV_obs"] + 1.0

    def drop_row(idata):
        for group in ("observed_data", "log_likelihood"):
            ds = getattr(idata, group)
            setattr(idata, group, ds.isel(na_i_mM_obs_row=slice(1, None)))

    other = _copy_run(runs["pooled"], tmp_path / "shifted", shift)
    with pytest.raises(Exception, match="not fitted to the same observations: the values "
                                        "of v_rest_mV_obs differ"):
        compare_runs([runs["per_cell"], other])
    fewer = _copy_run(runs["pooled"], tmp_path / "fewer", drop_row)
    with pytest.raises(Exception, match="na_i_mM_obs has 12 rows vs 11"):
        compare_runs([runs["per_cell"], fewer])


def _one_line_exit_2(capsys, argv) -> str:
    code = cli.main(argv)
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "Traceback" not in err
    return err


def test_bad_input_exits_2_with_one_line(runs, tmp_path, capsys):
    a = str(runs["per_cell"])
    out = str(tmp_path / "out")
    assert "at least two" in _one_line_exit_2(capsys, ["compare", a, "--out", out])
    assert "does not exist" in _one_line_exit_2(
        capsys, ["compare", a, str(tmp_path / "missing"), "--out", out])
    (tmp_path / "notarun").mkdir()
    assert "not a fit run folder" in _one_line_exit_2(
        capsys, ["compare", a, str(tmp_path / "notarun"), "--out", out])
    old = _copy_run(runs["pooled"], tmp_path / "old",
                    lambda idata: delattr(idata, "log_likelihood"))
    err = _one_line_exit_2(capsys, ["compare", a, str(old), "--out", out])
    assert "old" in err and "no log_likelihood group" in err
    assert not (tmp_path / "out").exists()


def test_refuses_existing_out_without_force(runs, tmp_path, capsys):
    a, b = str(runs["per_cell"]), str(runs["pooled"])
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    err = _one_line_exit_2(capsys, ["compare", a, b, "--out", str(mine)])
    assert "not empty" in err and "--force" in err
    # --force replaces only folders iongrad wrote: a user's folder is never deleted
    err = _one_line_exit_2(capsys, ["compare", a, b, "--out", str(mine), "--force"])
    assert "not written by iongrad" in err
    assert (mine / "notes.txt").read_text() == "keep me"
    out = tmp_path / "cmp"
    assert cli.main(["compare", a, b, "--out", str(out)]) == 0
    first = json.loads((out / "run.json").read_text())
    assert "already" not in capsys.readouterr().err
    _one_line_exit_2(capsys, ["compare", a, b, "--out", str(out)])
    assert cli.main(["compare", b, a, "--out", str(out), "--force"]) == 0
    second = json.loads((out / "run.json").read_text())
    assert [r["name"] for r in first["runs"]] == ["per_cell", "pooled"]
    assert [r["name"] for r in second["runs"]] == ["pooled", "per_cell"]
    np.testing.assert_allclose([r["elpd_loo"] for r in first["comparison"]],
                               [r["elpd_loo"] for r in second["comparison"]], rtol=1e-12)


def test_python_api_compare_equals_the_command(runs, compared, tmp_path):
    """iongrad.compare gives the table the command wrote, and refuses what it refuses."""
    import iongrad
    from iongrad.models.errors import ConfigError

    res = iongrad.compare([runs["pooled"], runs["per_cell"]], out=tmp_path / "api")
    cli_table = pd.read_csv(compared / "comparison.csv")
    pd.testing.assert_frame_equal(res.table, cli_table)
    assert res.run_dir == (tmp_path / "api").resolve() and (res.run_dir / "report.html").is_file()
    for name in cli_table["run"]:
        assert res.pointwise[f"elpd_loo_i[{name}]"].sum() == pytest.approx(
            float(cli_table.set_index("run").loc[name, "elpd_loo"]), rel=1e-9)
    with pytest.raises(ConfigError, match="at least two"):
        iongrad.compare([runs["pooled"]])
    with pytest.raises(ConfigError):
        iongrad.compare([runs["pooled"], runs["per_cell"]], out=tmp_path / "api")
