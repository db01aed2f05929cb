"""The declared config schema: every bad key, value, table name, size and file is one line.

Each case mutates a shipped example config (steady-state fit, run-down fit) or a small
sensitivity config and asserts a :class:`ConfigError` whose single-line message names
the section.key and shows the value given.
"""

from __future__ import annotations

import copy
import json
import os
import tomllib
from importlib.resources import files
from pathlib import Path

import pytest

from iongrad.models.errors import ConfigError, DataError
from iongrad.workflows import fit, schema, sensitivity
from iongrad.workflows.config import config_hash, load_toml

EXAMPLES = Path(str(files("iongrad.workflows") / "examples"))


def _example(name: str) -> dict:
    return tomllib.loads((EXAMPLES / name).read_text(encoding="utf-8"))


FIT = _example("fit_vrest_ko.toml")
RUNDOWN = _example("fit_rundown.toml")
SENS = {
    "sensitivity": {"model": "pump_leak", "method": "sobol", "n": 64, "seed": 0,
                    "outputs": ["v_rest_mV"]},
    "fixed": {"na_o_mM": 145.0},
    "inputs": {"g_na_nS": {"bounds": [0.1, 0.2], "dist": "loguniform"},
               "k_o_mM": {"bounds": [3.0, 6.0]}},
}
BASES = {"fit": FIT, "rundown": RUNDOWN, "sens": SENS}


def _set(path: str, value):
    """A mutation setting the dotted ``path`` (created if missing) to ``value``."""
    def mutate(cfg: dict) -> None:
        keys = path.split(".")
        node = cfg
        for k in keys[:-1]:
            node = node.setdefault(k, {})
        node[keys[-1]] = value
    return mutate


def _drop(path: str):
    def mutate(cfg: dict) -> None:
        keys = path.split(".")
        node = cfg
        for k in keys[:-1]:
            node = node[k]
        del node[keys[-1]]
    return mutate


def _both(*mutations):
    def mutate(cfg: dict) -> None:
        for m in mutations:
            m(cfg)
    return mutate


INF, NAN = float("inf"), float("nan")

# (id, base, mutation, fragments that must all be in the one-line message)
CASES = [
    # ---- types: no bool as a number, no string as a number, no list as a table ----------
    ("fit-fixed-bool", "fit", _set("fixed.k_o_mM", True), ("fixed.k_o_mM", "true", "mM")),
    ("fit-reference-string", "fit", _set("reference.k_o_mM", "4 mM"),
     ("reference.k_o_mM", '"4 mM"', "number")),
    ("fit-cell-sd-string", "fit", _set("fit.cell_sd_scale", "wide"),
     ("fit.cell_sd_scale", '"wide"', "number")),
    ("fit-prior-sigma-string", "fit", _set("noise.na_i_mM", {"prior_sigma": "3 mV"}),
     ("noise.na_i_mM.prior_sigma", '"3 mV"')),
    ("fit-fixed-list", "fit", _set("fixed", [1.0, 2.0]), ("fixed", "[1.0, 2.0]", "table")),
    ("fit-priors-not-table", "fit", _set("priors.g_na_nS", 0.15),
     ("priors.g_na_nS", "0.15", "table")),
    ("fit-draws-float", "fit", _set("sampler.draws", 1e308),
     ("sampler.draws", "1e+308", "integer")),
    ("fit-seed-bool", "fit", _set("sampler.seed", True), ("sampler.seed", "true", "integer")),
    ("fit-description-number", "fit", _set("description", 3), ("description", "3", "string")),
    ("fit-select-list-value", "fit", _set("fit.select", {"cell": [1, 2]}),
     ("fit.select.cell", "[1, 2]")),
    ("rundown-rtol-bool", "rundown", _set("fit.rtol", True), ("fit.rtol", "true")),
    ("rundown-fixed-string", "rundown", _set("fixed.p_cl_cm_s", "1e-7"),
     ("fixed.p_cl_cm_s", '"1e-7"', "cm/s")),
    ("sens-second-order-string", "sens", _set("sensitivity.second_order", "yes"),
     ("sensitivity.second_order", '"yes"', "true or false")),
    ("sens-bound-bool", "sens", _set("inputs.k_o_mM.bounds", [1.0, True]),
     ("inputs.k_o_mM.bounds[1]", "true")),
    ("sens-input-list", "sens", _set("inputs.k_o_mM", [1.0, 2.0]),
     ("inputs.k_o_mM", "[1.0, 2.0]", "table")),
    ("sens-fixed-bool", "sens", _set("fixed.na_o_mM", True), ("fixed.na_o_mM", "true")),
    # ---- ranges from the registry and the caps -------------------------------------------
    ("fit-reference-negative", "fit", _set("reference.k_o_mM", -4.0),
     ("reference.k_o_mM", "-4.0", "> 0 and < 2000 mM")),
    ("fit-fixed-celsius", "fit", _set("fixed.temperature_K", 37.0),
     ("fixed.temperature_K", "37.0", "°C")),
    ("fit-fixed-huge", "fit", _set("fixed.g_cl_nS", 1e308), ("fixed.g_cl_nS", "1e+308", "nS")),
    ("fit-fixed-inf", "fit", _set("fixed.g_cl_nS", INF), ("fixed.g_cl_nS", "inf", "finite")),
    ("fit-noise-sigma-inf", "fit", _set("noise.na_i_mM.sigma", INF),
     ("noise.na_i_mM.sigma", "inf", "finite")),
    ("fit-noise-nu-negative", "fit",
     _set("noise.v_rest_mV", {"family": "student_t", "nu": -4}),
     ("noise.v_rest_mV.nu", "-4", "> 0")),
    ("fit-cell-sd-negative", "fit", _set("fit.cell_sd_scale", -0.5),
     ("fit.cell_sd_scale", "-0.5", "> 0")),
    ("fit-prior-median-zero", "fit", _set("priors.g_na_nS", {"median": 0.0}),
     ("priors.g_na_nS.median", "0.0", "> 0")),
    ("fit-prior-sd-inf", "fit", _set("priors.g_na_nS", {"sd_log": INF}),
     ("priors.g_na_nS.sd_log", "inf")),
    ("fit-target-accept-nan", "fit", _set("sampler.target_accept", NAN),
     ("sampler.target_accept", "nan")),
    ("fit-draws-cap", "fit", _set("sampler.draws", 100_001),
     ("sampler.draws", "100001", "100000")),
    ("fit-tune-cap", "fit", _set("sampler.tune", 10**9), ("sampler.tune", "1000000000")),
    ("fit-chains-cap", "fit", _set("sampler.chains", 65), ("sampler.chains", "65", "64")),
    ("fit-prior-draws-cap", "fit", _set("sampler.prior_draws", 200_000),
     ("sampler.prior_draws", "200000")),
    ("fit-seed-cap", "fit", _set("sampler.seed", 2**32), ("sampler.seed", "4294967296")),
    ("fit-seed-negative", "fit", _set("sampler.seed", -1), ("sampler.seed", "-1")),
    ("rundown-ouabain-negative", "rundown", _set("fixed.ouabain_uM", -1.0),
     ("fixed.ouabain_uM", "-1.0", "µM")),
    ("rundown-threshold", "rundown", _set("fit.threshold_mV", -400.0),
     ("fit.threshold_mV", "-400.0", "mV")),
    ("rundown-ecs-median", "rundown", _set("priors.extracellular_fraction", {"median": 1.5}),
     ("priors.extracellular_fraction.median", "1.5", "< 1")),
    ("rundown-noise-negative", "rundown", _set("noise.v_rest_mV.prior_sigma", -3.0),
     ("noise.v_rest_mV.prior_sigma", "-3.0")),
    ("sens-bounds-outside-domain", "sens", _set("inputs.k_o_mM.bounds", [1.0, 3000.0]),
     ("inputs.k_o_mM.bounds", "3000.0", "< 2000 mM")),
    ("sens-bounds-negative", "sens", _set("inputs.k_o_mM.bounds", [-4.0, 10.0]),
     ("inputs.k_o_mM.bounds", "-4.0", "> 0")),
    ("sens-fixed-outside-domain", "sens", _set("fixed.na_o_mM", -1.0),
     ("fixed.na_o_mM", "-1.0", "mM")),
    ("sens-n-cap", "sens", _set("sensitivity.n", 2**25), ("sensitivity.n", "33554432")),
    ("sens-evaluations-cap", "sens", _set("sensitivity.n", 2**24),
     ("sensitivity.n", "16777216", "evaluations", str(schema.MAX_EVALUATIONS))),
    ("sens-max-n-evaluations", "sens",
     _both(_set("sensitivity.target_ci_halfwidth", 0.01),
           _set("sensitivity.max_n", 2**24)), ("sensitivity.max_n", "16777216", "evaluations")),
    ("sens-num-levels-odd", "sens",
     _both(_set("sensitivity.method", "morris"), _set("sensitivity.n", 10),
           _set("sensitivity.num_levels", 5)), ("sensitivity.num_levels", "5", "even")),
    ("sens-num-levels-cap", "sens", _set("sensitivity.num_levels", 102),
     ("sensitivity.num_levels", "102", "100")),
    ("sens-num-resamples-cap", "sens", _set("sensitivity.num_resamples", 10**6),
     ("sensitivity.num_resamples", "1000000")),
    ("sens-seed-cap", "sens", _set("sensitivity.seed", 2**40),
     ("sensitivity.seed", "1099511627776")),
    ("sens-chunk-zero", "sens", _set("sensitivity.chunk_size", 0),
     ("sensitivity.chunk_size", "0")),
    ("sens-fallback-cap", "sens", _set("sensitivity.fallback_n", 2**25),
     ("sensitivity.fallback_n", "33554432")),
    ("sens-conf-level-one", "sens", _set("sensitivity.conf_level", 1.0),
     ("sensitivity.conf_level", "1.0", "< 1")),
    ("sens-sd-inf", "sens", _set("inputs.k_o_mM", {"dist": "truncnorm", "mean": 4.0, "sd": INF,
                                                  "bounds": [1.0, 6.0]}),
     ("inputs.k_o_mM.sd", "inf")),
    # ---- table names checked against this fit -------------------------------------------
    ("fit-prior-misspelt", "fit", _set("priors.g_na", {"median": 0.2}),
     ("priors.g_na", "g_na_nS")),
    ("fit-prior-not-fitted", "fit", _set("priors.k_na_mM", {"median": 12.0}),
     ("priors.k_na_mM", "not a fitted parameter")),
    ("fit-noise-misspelt", "fit", _set("noise.v_rest_mv", {"sigma": 1.0}),
     ("noise.v_rest_mv", "v_rest_mV")),
    ("fit-noise-not-observed", "fit",
     _both(_set("fit.observables", ["v_rest_mV"]), _set("noise", {"na_i_mM": {"sigma": 0.5}})),
     ("noise.na_i_mM", "v_rest_mV")),
    ("fit-fixed-unknown", "fit", _set("fixed.flux_capacitor", 1.0),
     ("fixed.flux_capacitor", "unknown parameter")),
    ("fit-fixed-and-fitted", "fit", _set("fixed.g_na_nS", 0.1),
     ("fixed.g_na_nS", "0.1", "fitted")),
    ("fit-parameter-misspelt", "fit", _set("fit.parameters", ["g_na_ns", "g_k_nS"]),
     ("fit.parameters", "g_na_ns", "g_na_nS")),
    ("fit-unknown-key", "fit", _set("fit.likelihood", "x"), ("fit.likelihood", "allowed")),
    ("fit-unknown-section", "fit", _set("extra", {}), ("extra", "allowed")),
    ("fit-model-misspelt", "fit", _set("fit.model", "rundwn"), ("fit.model", '"rundwn"')),
    ("fit-pooling-unknown-parameter", "fit", _set("fit.pooling", {"g_na": "partial"}),
     ("fit.pooling.g_na", "g_na_nS")),
    ("fit-reference-not-condition", "fit", _set("reference.g_na_nS", 0.1),
     ("reference.g_na_nS", "unknown condition")),
    ("rundown-prior-not-fitted", "rundown", _set("priors.tau_block_s", {"median": 30.0}),
     ("priors.tau_block_s", "not a fitted parameter")),
    ("rundown-noise-misspelt", "rundown", _set("noise.v_rest_mv", {"prior_sigma": 3.0}),
     ("noise.v_rest_mv", "v_rest_mV")),
    ("rundown-noise-not-in-fit", "rundown",
     _both(_drop("fit.observables"), _set("noise.k_i_mM", {"prior_sigma": 3.0})),
     ("noise.k_i_mM", "not an observable of this fit")),
    ("rundown-sampler-init", "rundown", _set("sampler.init", "adapt_diag"),
     ("sampler.init", "unknown key")),
    ("rundown-mode-misspelt", "rundown", _set("fit.mode", "anoxic"),
     ("fit.mode", '"anoxic"', "anoxia")),
    ("sens-input-misspelt", "sens", _set("inputs.g_na", {"bounds": [0.1, 1.0]}),
     ("inputs.g_na", "g_na_nS")),
    ("sens-output-misspelt", "sens", _set("sensitivity.outputs", ["v_rest_mv"]),
     ("sensitivity.outputs", "v_rest_mv", "v_rest_mV")),
    ("sens-model-misspelt", "sens", _set("sensitivity.model", "pump_lek"),
     ("sensitivity.model", '"pump_lek"', "pump_leak")),
    ("sens-dist-key", "sens", _set("inputs.k_o_mM.mean", 4.0),
     ("inputs.k_o_mM.mean", "unknown key")),
    # ---- duplicates and combinations that make no sense ---------------------------------
    ("fit-duplicate-parameters", "fit", _set("fit.parameters", ["g_na_nS", "g_na_nS"]),
     ("fit.parameters", "duplicate", "g_na_nS")),
    ("fit-duplicate-observables", "fit", _set("fit.observables", ["v_rest_mV", "v_rest_mV"]),
     ("fit.observables", "duplicate")),
    ("fit-nu-without-student-t", "fit", _set("noise.na_i_mM.nu", 5.0),
     ("noise.na_i_mM.nu", "5.0", "student_t")),
    ("fit-prior-sigma-with-fixed-sigma", "fit", _set("noise.na_i_mM.prior_sigma", 2.0),
     ("noise.na_i_mM.prior_sigma", "2.0", "estimate")),
    ("rundown-duplicate-parameters", "rundown", _set("fit.parameters", ["tau_atp_s"] * 2),
     ("fit.parameters", "duplicate")),
    ("sens-duplicate-outputs", "sens", _set("sensitivity.outputs", ["v_rest_mV"] * 2),
     ("sensitivity.outputs", "duplicate")),
    ("sens-duplicate-variables", "sens",
     _set("posterior", {"path": "x.nc", "variables": ["g_k_nS", "g_k_nS"]}),
     ("posterior.variables", "duplicate")),
    ("sens-pawn-slices-over-n", "sens",
     _both(_set("sensitivity.method", "pawn"), _set("sensitivity.n", 200),
           _set("sensitivity.pawn_slices", 300)), ("sensitivity.pawn_slices", "300", "n = 200")),
    ("sens-target-without-sobol", "sens",
     _both(_set("sensitivity.method", "morris"), _set("sensitivity.n", 10),
           _set("sensitivity.target_ci_halfwidth", 0.05)),
     ("sensitivity.target_ci_halfwidth", "0.05", "morris")),
    ("sens-max-n-below-n", "sens",
     _both(_set("sensitivity.target_ci_halfwidth", 0.05), _set("sensitivity.max_n", 32)),
     ("sensitivity.max_n", "32", "n = 64")),
    ("sens-second-order-efast", "sens",
     _both(_set("sensitivity.method", "efast"), _set("sensitivity.n", 1000),
           _set("sensitivity.second_order", True)), ("sensitivity.second_order", "efast")),
    ("sens-min-feasible-over-fallback", "sens", _set("sensitivity.min_feasible_samples", 5000),
     ("sensitivity.min_feasible_samples", "5000", "fallback_n")),
    ("sens-fixed-and-input", "sens", _set("fixed.k_o_mM", 4.0), ("inputs.k_o_mM", "[fixed]")),
]


def test_table_is_large_and_unique():
    assert len(CASES) >= 40
    assert len({c[0] for c in CASES}) == len(CASES)
    assert {c[1] for c in CASES} == set(BASES)


@pytest.mark.parametrize(("base", "mutate", "fragments"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_bad_config_is_one_line_naming_key_and_value(tmp_path, base, mutate, fragments):
    cfg = copy.deepcopy(BASES[base])
    mutate(cfg)
    module = sensitivity if base == "sens" else fit
    with pytest.raises(ConfigError) as info:
        module.resolve_config(cfg, EXAMPLES if base != "sens" else tmp_path)
    msg = str(info.value)
    assert "\n" not in msg, msg
    for frag in fragments:
        assert frag in msg, (frag, msg)


def test_error_names_the_file(tmp_path):
    cfg = tmp_path / "my_fit.toml"
    cfg.write_text((EXAMPLES / "fit_vrest_ko.toml").read_text(encoding="utf-8")
                   .replace("k_o_mM = 4.0", "k_o_mM = true"), encoding="utf-8")
    raw = load_toml(cfg)
    with pytest.raises(ConfigError) as info:
        fit.resolve_config(raw, EXAMPLES)
    msg = str(info.value)
    assert msg.startswith(f"{cfg}: reference.k_o_mM = true: expected a number in mM"), msg
    assert msg.count(str(cfg)) == 1


def test_int_accepted_where_a_number_is_expected(tmp_path):
    cfg = copy.deepcopy(FIT)
    cfg["fixed"]["g_cl_nS"] = 1  # TOML 1 for 1.0
    cfg["reference"]["k_o_mM"] = 4
    assert fit.resolve_config(cfg, EXAMPLES)["fixed"]["g_cl_nS"] == 1
    s = copy.deepcopy(SENS)
    s["inputs"]["k_o_mM"]["bounds"] = [3, 6]
    s["fixed"]["na_o_mM"] = 145
    res = sensitivity.resolve_config(s, tmp_path)
    assert res["inputs"][1]["bounds"] == [3.0, 6.0] and res["fixed"]["na_o_mM"] == 145.0
    assert isinstance(res["fixed"]["na_o_mM"], float)


def test_caps_are_accepted_at_the_limit():
    cfg = copy.deepcopy(FIT)
    cfg["sampler"].update(draws=schema.MAX_DRAWS, chains=schema.MAX_CHAINS,
                          seed=schema.SEED_LIMIT - 1, cores=schema.MAX_CHAINS + 0)
    model = schema.validate(schema.FitConfig, cfg)
    assert model.sampler.draws == 100_000 and model.sampler.seed == 2**32 - 1


# ---- shipped examples -------------------------------------------------------------------------
def _resolve_example(path: Path) -> dict:
    raw = load_toml(path)
    module = sensitivity if "sensitivity" in raw else fit
    return module.resolve_config(raw, path.parent)


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.glob("*.toml")
                                        if not p.name.startswith("batch")))
def test_every_shipped_example_resolves(name):
    path = EXAMPLES / name
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    res = _resolve_example(path)
    # the resolved dict is a plain-JSON function of the raw config (what batch hashes)
    assert json.loads(json.dumps(res)) == res
    assert config_hash(res) == config_hash(copy.deepcopy(res))
    if "sensitivity" in raw:
        sec = raw["sensitivity"]
        # the model: [sensitivity] model, or the [model] table (a composition, named or
        # declared as data)
        model = sec["model"] if "model" in sec else (
            raw["model"].get("composition") or raw["model"]["name"])
        assert res["kind"] == "sensitivity" and res["model"] == model
        assert res["n"] == sec["n"] and res["seed"] == sec["seed"]
        assert res["method"] == sec.get("method", "sobol")
        assert [i["name"] for i in res["inputs"]] == list(raw.get("inputs", {}))
        for inp in res["inputs"]:
            given = raw["inputs"][inp["name"]]
            assert inp["dist"] == given.get("dist", "uniform")
            assert inp.get("bounds") == [float(b) for b in given["bounds"]]
        assert res["fixed"] == {k: float(v) for k, v in raw.get("fixed", {}).items()}
        assert res["second_order"] == sec.get("second_order", False)
        assert (res["chunk_size"], res["num_resamples"], res["fallback_n"],
                res["min_feasible_samples"], res["pawn_slices"], res["efast_m"]) == (
            50_000, 100, 2048, 200, 10, 4)
        assert res["num_levels"] == sec.get("num_levels", 4)
        assert res["outputs"] == sec.get("outputs", res["outputs"])
        assert res["target_ci_halfwidth"] is None and res["max_n"] is None
    elif raw["fit"].get("model") == "rundown":
        assert res["model"] == "rundown" and res["dataset"] == {"shipped": raw["fit"]["dataset"]}
        assert res["raw"] == {k: v for k, v in raw.items() if k != "sampler"}
        assert res["sampler"] == {"prior_draws": 200, **raw["sampler"]}
        assert set(res["sampler"]) == {"seed", "draws", "tune", "chains", "cores",
                                       "target_accept", "prior_draws"}
    else:
        f = raw["fit"]
        assert res["dataset"] == {"shipped": f["dataset"]}
        assert res["parameters"] == f["parameters"]
        assert res["pooling"] == f.get("pooling", "partial")
        assert res["fixed"] == raw.get("fixed", {}) and res["priors"] == raw.get("priors", {})
        assert res["noise"] == raw.get("noise", {})
        assert res["reference"] == raw.get("reference", {"k_o_mM": 4.0})
        assert res["sampler"] == {"init": "jitter+adapt_diag", "backend": "pymc", **raw["sampler"]}
        assert res["select"] == f.get("select", {}) and res["cell_sd_scale"] == 0.2


# ---- config files (load_toml) -----------------------------------------------------------------
def _load_error(path) -> str:
    with pytest.raises(ConfigError) as info:
        load_toml(path)
    msg = str(info.value)
    assert "\n" not in msg
    return msg


def test_fifo_device_and_symlink_loop_are_refused(tmp_path):
    fifo = tmp_path / "fifo.toml"
    os.mkfifo(fifo)
    assert "not a regular file" in _load_error(fifo)  # would block on open
    assert "not a regular file" in _load_error("/dev/zero")  # would never end
    (tmp_path / "a.toml").symlink_to(tmp_path / "b.toml")
    (tmp_path / "b.toml").symlink_to(tmp_path / "a.toml")
    assert "symlink loop" in _load_error(tmp_path / "a.toml")
    (tmp_path / "dangling.toml").symlink_to(tmp_path / "nowhere.toml")
    assert "dangling" in _load_error(tmp_path / "dangling.toml")


def test_huge_and_deep_configs_are_refused(tmp_path):
    big = tmp_path / "big.toml"
    big.write_text("# " + "x" * schema.MAX_CONFIG_BYTES + "\n")
    assert "1 MiB" in _load_error(big)
    deep = tmp_path / "deep.toml"
    deep.write_text("a = " + "[" * 100_000 + "]" * 100_000 + "\n")  # RecursionError today
    assert "nested more than 32" in _load_error(deep)
    tables = tmp_path / "tables.toml"
    tables.write_text("x = " + "{a = " * 40 + "1" + "}" * 40 + "\n")
    assert "nested more than 32" in _load_error(tables)
    ok = tmp_path / "ok.toml"
    ok.write_text("x = " + "[" * 30 + "]" * 30 + "\n")
    assert load_toml(ok)["x"] is not None and schema.source_of(load_toml(ok)) == str(ok)


# ---- dataset files (data/loader.py) -----------------------------------------------------------
SIDECAR = {
    "name": "t", "provenance": {"lab": "test lab", "date": "2025-01-01", "licence": "CC0-1.0"},
    "cell_column": "cell",
    "columns": {"cell": {"role": "id", "quantity": "cell"},
                "k_o": {"role": "condition", "quantity": "k_o_mM", "unit": "mM"},
                "v": {"role": "observable", "quantity": "v_rest_mV", "unit": "mV"}},
    "constants": {"temperature_K": {"value": 310.0, "unit": "K"}},
}
CSV = "cell,k_o,v\na,4,-70.1\nb,8,-61.0\n"


def _dataset_error(tmp_path, csv=CSV, sidecar=None) -> str:
    from iongrad.data import load_dataset

    c, s = tmp_path / "d.csv", tmp_path / "d.json"
    if not c.exists():
        c.write_bytes(csv.encode("utf-8") if isinstance(csv, str) else csv)
    if not s.exists():
        s.write_text(sidecar if sidecar is not None else json.dumps(SIDECAR))
    with pytest.raises(DataError) as info:
        load_dataset(c, s)
    msg = str(info.value)
    assert "\n" not in msg, msg
    return msg


def test_good_dataset_loads(tmp_path):
    from iongrad.data import load_dataset

    (tmp_path / "d.csv").write_text(CSV)
    (tmp_path / "d.json").write_text(json.dumps(SIDECAR))
    assert list(load_dataset(tmp_path / "d.csv").frame["v_rest_mV"]) == [-70.1, -61.0]


@pytest.mark.parametrize(("label", "csv", "sidecar", "fragment"), [
    ("cr-only", CSV.replace("\n", "\r"), None, "CR only"),
    ("huge-header-field", 'cell,k_o,"v' + "x" * 200_000 + '\n', None, "131072"),
    ("huge-data-field", "cell,k_o,v\n" + "a" * 200_000 + ",4,-70\n", None, "data row 1"),
    ("nul-in-id", "cell,k_o,v\na\x00b,4,-70.1\n", None, "line 2: contains a NUL"),
    ("sidecar-duplicate-key", CSV, json.dumps(SIDECAR)[:-1] + ', "name": "other"}',
     "duplicate key 'name'"),
    ("sidecar-deep", CSV, '{"name": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested"),
], ids=lambda v: v if isinstance(v, str) and len(v) < 30 else None)
def test_dataset_file_hazards_are_one_line(tmp_path, label, csv, sidecar, fragment):
    assert fragment in _dataset_error(tmp_path, csv, sidecar)


def test_fifo_as_csv_or_sidecar_is_refused(tmp_path):
    os.mkfifo(tmp_path / "d.csv")
    assert "not a regular file" in _dataset_error(tmp_path)
    (tmp_path / "d.csv").unlink()
    (tmp_path / "d.json").unlink()
    os.mkfifo(tmp_path / "d.json")
    msg = _dataset_error(tmp_path)
    assert "d.json" in msg and "not a regular file" in msg
