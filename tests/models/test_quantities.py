"""The quantity registry is the single source of units, domains and defaults.

Every public default dict and unit lookup of the code base must agree with
:mod:`iongrad.models.quantities` — same names, same units, same defaults — and the
dataset vocabulary and the sensitivity parameters must use the registry domains.
"""

from __future__ import annotations

import inspect
import math

import numpy as np
import pytest

from iongrad.models import quantities as Q


def _same(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return (math.isnan(a) and math.isnan(b)) or a == b


# ---- the registry itself ----------------------------------------------------------------------
def test_every_default_lies_in_its_domain_or_is_a_computed_nan():
    for name, q in Q.QUANTITIES.items():
        if q.default is None or math.isnan(q.default):
            continue
        assert bool(q.contains(q.default)), (name, q.default, q.domain_text())


def test_violation_and_hint():
    assert Q.violation("temperature_K", 310.0) is None
    msg = Q.violation("temperature_K", 37.0)
    assert msg.startswith("temperature_K must be >= 250 and <= 350 K; got 37.0")
    assert "give kelvin (310.15 K)" in msg
    assert Q.violation("osm_o_mOsm", np.nan) is None  # computed default
    assert "got nan" in Q.violation("k_o_mM", np.nan)
    assert "at index (2,)" in Q.violation("k_o_mM", [4.0, 5.0, 5000.0])
    assert Q.hint_for("v_rest_mV", -0.07) == "-0.07 looks like volts; give mV (-70 mV)"


# ---- defaults and units of the model layer ----------------------------------------------------
def test_model_default_dicts_are_the_registry_defaults():
    from iongrad.models.energy import ATP_PER_O2_DEFAULT, DG_ATP_KJ_MOL_DEFAULT
    from iongrad.models.pump import PUMP_DEFAULTS
    from iongrad.models.rundown import _RUNDOWN_UNITS, RUNDOWN_DEFAULTS
    from iongrad.models.steady_state import DEFAULT_PARAMS, PARAM_UNITS

    for table in (DEFAULT_PARAMS, PUMP_DEFAULTS, RUNDOWN_DEFAULTS):
        for name, value in table.items():
            assert name in Q.QUANTITIES, name
            assert _same(value, Q.get(name).default), (name, value, Q.get(name).default)
    assert set(PARAM_UNITS) == set(DEFAULT_PARAMS)
    for table in (PARAM_UNITS, _RUNDOWN_UNITS):
        for name, unit in table.items():
            assert unit == Q.unit_of(name) != "", name
    assert ATP_PER_O2_DEFAULT == Q.get("atp_per_o2").default == DEFAULT_PARAMS["atp_per_o2"]
    assert DG_ATP_KJ_MOL_DEFAULT == Q.get("dg_atp_kJ_mol").default
    # a few values pinned against the literature defaults they encode
    assert DEFAULT_PARAMS["k_na_mM"] == 12.0 and DEFAULT_PARAMS["temperature_K"] == 310.0
    assert DEFAULT_PARAMS["area_um2"] == pytest.approx(4 * math.pi * 100.0)
    assert RUNDOWN_DEFAULTS["tau_atp_s"] == 45.0


def test_function_keyword_defaults_are_the_registry_defaults():
    from iongrad.models.pump import pump_turnover_per_s
    from iongrad.models.rundown import simulate_rundown

    for fn in (pump_turnover_per_s, simulate_rundown):
        for name, par in inspect.signature(fn).parameters.items():
            if name in Q.QUANTITIES and par.default is not inspect.Parameter.empty:
                # None is the API's spelling of a computed (nan) default
                default = math.nan if par.default is None else par.default
                assert _same(default, Q.get(name).default), (fn.__name__, name)


def test_domain_classes_of_the_solver_follow_the_registry():
    from iongrad.models.steady_state import _NONNEG, _POSITIVE, DEFAULT_PARAMS

    assert _POSITIVE | _NONNEG == set(DEFAULT_PARAMS)
    assert not _POSITIVE & _NONNEG
    for name in _NONNEG:
        assert Q.get(name).low == 0 and Q.get(name).low_inclusive, name
    assert {"temperature_K", "k_o_mM", "osm_o_mOsm"} <= _POSITIVE


# ---- inference and reports ---------------------------------------------------------------------
def test_inference_unit_tables_are_the_registry_units():
    from iongrad.infer.model import DERIVED_UNITS, unit_of
    from iongrad.infer.priors import DEFAULT_PRIORS, UNITS
    from iongrad.infer.rundown_model import _UNITS as RUNDOWN_FIT_UNITS

    for table in (UNITS, DERIVED_UNITS, RUNDOWN_FIT_UNITS):
        for name, unit in table.items():
            assert name in Q.QUANTITIES, name
            assert unit == Q.unit_of(name), (name, unit, Q.unit_of(name))
    for name, prior in DEFAULT_PRIORS.items():
        assert prior.unit == Q.unit_of(name), name
    assert unit_of("g_na_nS_cell[c01]") == "nS"
    assert unit_of("atp_per_s") == "ATP/s"
    assert unit_of("tau_block_s") == "s"  # falls back on the registry
    assert unit_of("sigma_r_in_MOhm") == "log units"


def test_report_unit_lookup_reads_the_registry():
    pytest.importorskip("jinja2")
    from iongrad.workflows.report import unit_of

    assert unit_of("r_in_MOhm") == Q.unit_of("r_in_MOhm") == "MOhm"
    assert unit_of("ouabain_ic50_uM") == "µM"


# ---- datasets ----------------------------------------------------------------------------------
def test_dataset_vocabulary_domains_are_registry_domains():
    from iongrad.data.vocabulary import CANONICAL_UNITS, QUANTITIES, UNITS, accepted_units

    numeric = {k: v for k, v in QUANTITIES.items() if v.dimension != "categorical"}
    assert set(numeric) == {"v_rest_mV", "r_in_MOhm", "na_i_mM", "k_i_mM", "pump_current_pA",
                            "o2_per_s", "atp_per_s", "k_na_mM", "k_o_mM", "na_o_mM",
                            "cl_o_mM", "temperature_K", "activity_load_pA", "time_s",
                            # chloride and calcium homeostasis
                            "cl_i_mM", "e_cl_mV", "e_gaba_mV", "ca_i_nM", "ncx_current_pA",
                            # the SGLT1 substrate of the enterocyte's baths
                            "glucose_o_mM",
                            # the NKCC1 blocker
                            "bumetanide_uM"}
    for name, vq in numeric.items():
        rq = Q.get(name)
        assert vq.role in rq.roles, name
        assert (vq.unit, vq.dimension, vq.low, vq.high, vq.low_inclusive, vq.high_inclusive) \
            == (rq.unit, rq.dimension, rq.low, rq.high, rq.low_inclusive, rq.high_inclusive), name
        assert vq.range_text() == rq.domain_text(), name
        assert CANONICAL_UNITS[name] == rq.unit
        assert rq.unit in accepted_units(name), name
        assert rq.dimension in UNITS


def test_loader_range_check_agrees_with_the_registry_at_the_bounds():
    from iongrad.data.loader import _in_range
    from iongrad.data.vocabulary import QUANTITIES

    for name in ("temperature_K", "activity_load_pA", "time_s", "k_o_mM", "v_rest_mV"):
        rq = Q.get(name)
        probes = np.array([rq.low, rq.high, 0.5 * (rq.low + rq.high)])
        np.testing.assert_array_equal(_in_range(probes, QUANTITIES[name]), rq.contains(probes),
                                      err_msg=name)


def test_synthetic_generator_units_are_accepted_registry_dimensions():
    from iongrad.data.generate_synthetic import _UNITS
    from iongrad.data.vocabulary import UNITS, accepted_units

    for name, unit in _UNITS.items():
        if name == "fxyd_state":
            assert unit == ""
            continue
        assert unit in accepted_units(name), name
        assert UNITS[Q.get(name).dimension][unit] == 1.0, name  # written in canonical scale


# ---- sensitivity parameters --------------------------------------------------------------------
def test_sensitivity_parameters_use_registry_units_defaults_and_domains():
    from iongrad.models.membrane import COMPOSITIONS, composition
    from iongrad.workflows.registry import MODELS

    overrides = {("fxyd_set_point", "hill_na"): 1.0}  # model-specific default (n = 1)
    # a composition's own defaults (a cardiac myocyte's area and bath)
    overrides.update({(c, k): v for c in COMPOSITIONS
                      for k, v in composition(c).default_values.items()})
    for mname, entry in MODELS.items():
        if mname == "ishigami":
            continue
        for p in entry.parameters:
            rq = Q.get(p.name)
            assert p.unit == rq.unit, (mname, p.name)
            assert _same(p.default, overrides.get((mname, p.name), rq.default)), (mname, p.name)
            assert (p.low, p.high, p.high_inclusive) == (rq.low, rq.high, rq.high_inclusive)
            assert p.contains(p.low) is p.low_inclusive
            assert p.contains(p.high) is p.high_inclusive
        for o in entry.outputs:
            if o.name != "feasible":
                assert o.unit == Q.unit_of(o.name), (mname, o.name)


def test_leak_model_rule_tightens_the_registry_domain():
    from iongrad.workflows.registry import MODELS

    ohmic, ghk = MODELS["pump_leak"], MODELS["pump_leak_ghk"]
    assert Q.get("g_na_nS").low_inclusive  # the registry allows 0 ...
    assert not ohmic.parameter("g_na_nS").contains(0.0)  # ... an ohmic leak model does not
    assert ohmic.parameter("g_cl_nS").contains(0.0)  # (no pump flux through the Cl- leak)
    assert "g_na_nS" not in ghk.parameter_names  # a model has the parameters of its membrane
    assert not ghk.parameter("p_k_cm_s").contains(0.0)
    assert not ohmic.parameter("temperature_K").contains(37.0, 310.0)
    assert ohmic.parameter("temperature_K").contains(300.0, 320.0)
    assert "<= 350" in ohmic.parameter("temperature_K").support_text()
